/* Fitting, predicting, saving and loading through a model plugin's vtable, with the plugin's
 * error messages carried into the engine context and the blob framed and checksummed. */
#include "model.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static aml_status plugin_error(aml_ctx *c, aml_host_ctx *hc, aml_status st, const char *model,
                               const char *what)
{
    if (st == AML_ERR_CANCELLED)
        return aml_fail(c, st, "%s: %s cancelled (deadline)", model, what);
    return aml_fail(c, st, "%s: %s failed: %s", model, what, hc->msg[0] ? hc->msg : "no reason given");
}

static void copy_task(aml_fitted *m, const aml_task *task)
{
    m->task = *task;
    if (task->categorical) {
        m->categorical = aml_xmalloc((size_t)task->n_features);
        memcpy(m->categorical, task->categorical, (size_t)task->n_features);
        m->task.categorical = m->categorical;
    }
    m->n_outputs = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 1;
}

aml_status aml_fitted_fit(aml_ctx *c, aml_host_ctx *hc, const aml_config *cfg, const aml_task *task,
                          const aml_matrix *X, const aml_target *y, const aml_matrix *valid_X,
                          const aml_target *valid_y, aml_fitted *out)
{
    const aml_model_vtable *v = cfg->plugin->desc->model;
    const char *name = cfg->plugin->desc->name;
    aml_fitted m = {.plugin = cfg->plugin};
    copy_task(&m, task);
    omp_set_num_threads(hc->threads > 0 ? hc->threads : 1);
    hc->msg[0] = 0;
    aml_params params = aml_config_params(cfg);
    aml_status st = v->create(aml_host_services(), hc, &params, &m.task, &m.model);
    if (st != AML_OK) {
        st = plugin_error(c, hc, st, name, "create");
        goto fail;
    }
    aml_fit_budget budget = {.size = sizeof budget, .resource = 1.0};
    st = v->fit(m.model, hc, X, y, valid_X, valid_y, &budget);
    if (st != AML_OK) {
        st = plugin_error(c, hc, st, name, "fit");
        goto fail;
    }
    *out = m;
    return AML_OK;
fail:
    aml_fitted_free(&m);
    return st;
}

aml_status aml_fitted_predict(aml_ctx *c, aml_host_ctx *hc, const aml_fitted *m, const aml_matrix *X,
                              double *out)
{
    omp_set_num_threads(hc->threads > 0 ? hc->threads : 1);
    hc->msg[0] = 0;
    aml_status st = m->plugin->desc->model->predict(m->model, hc, X, out);
    if (st != AML_OK)
        return plugin_error(c, hc, st, m->plugin->desc->name, "predict");
    return AML_OK;
}

void aml_fitted_free(aml_fitted *m)
{
    if (!m)
        return;
    if (m->model)
        m->plugin->desc->model->free(m->model);
    free(m->categorical);
    memset(m, 0, sizeof *m);
}

/* ---- blob ---- */
static const char magic[8] = {'A', 'M', 'L', 'M', 'O', 'D', 'E', 'L'};

static void put(aml_writer *w, const void *p, size_t n) { aml_host_services()->write(w, p, n); }
static void put_u32(aml_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_str(aml_writer *w, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    put_u32(w, n);
    put(w, s, n);
}

aml_status aml_model_blob_write(aml_ctx *c, const aml_fitted *m, const aml_config *cfg, aml_writer *w)
{
    const aml_plugin_descriptor *d = m->plugin->desc;
    put(w, magic, 8);
    put_u32(w, AML_BLOB_FORMAT_MAJOR);
    put_u32(w, AML_BLOB_FORMAT_MINOR);
    put_u32(w, (uint32_t)m->task.kind);
    put_u32(w, (uint32_t)m->task.n_classes);
    int64_t nf = m->task.n_features;
    put(w, &nf, 8);
    for (int64_t j = 0; j < nf; j++) {
        uint8_t flag = m->task.categorical ? m->task.categorical[j] : 0;
        put(w, &flag, 1);
    }
    put_str(w, d->name);
    put_str(w, d->version);
    cJSON *params = aml_config_to_json(cfg);
    char *text = cJSON_PrintUnformatted(params);
    put_str(w, text);
    free(text);
    cJSON_Delete(params);
    size_t len_at = w->len;
    uint64_t payload = 0;
    put(w, &payload, 8);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_status st = d->model->save(m->model, &hc, w);
    if (st != AML_OK)
        return plugin_error(c, &hc, st, d->name, "save");
    payload = (uint64_t)(w->len - len_at - 8);
    memcpy(w->buf + len_at, &payload, 8);
    unsigned char digest[32];
    aml_sha256(w->buf, w->len, digest);
    put(w, digest, 32);
    return AML_OK;
}

typedef struct cursor {
    const unsigned char *p;
    size_t left;
} cursor;

static int take(cursor *k, void *out, size_t n)
{
    if (n > k->left)
        return -1;
    memcpy(out, k->p, n);
    k->p += n;
    k->left -= n;
    return 0;
}

static char *take_str(cursor *k)
{
    uint32_t n;
    if (take(k, &n, 4) || n > k->left)
        return NULL;
    char *s = aml_xmalloc(n + 1u);
    take(k, s, n);
    s[n] = 0;
    return s;
}

aml_status aml_model_blob_read(aml_ctx *c, aml_registry *reg, const char *what, const void *buf,
                               size_t n, aml_fitted *out, aml_config *cfg)
{
    const unsigned char *b = buf;
    aml_fitted m = {0};
    char *name = NULL, *version = NULL, *params_text = NULL;
    cJSON *params = NULL;
    aml_status st = AML_ERR_FORMAT;
    if (n < 8 || memcmp(b, magic, 8) != 0)
        return aml_fail(c, AML_ERR_FORMAT, "%s: not an automl model blob (bad magic)", what);
    if (n < 8 + 4 * 4 + 8 + 32)
        return aml_fail(c, AML_ERR_FORMAT, "%s: truncated (%zu bytes)", what, n);
    unsigned char digest[32];
    aml_sha256(b, n - 32, digest);
    cursor k = {b + 8, n - 8 - 32};
    uint32_t major, minor, kind, n_classes;
    take(&k, &major, 4);
    take(&k, &minor, 4);
    if (major > AML_BLOB_FORMAT_MAJOR)
        return aml_fail(c, AML_ERR_FORMAT, "%s: model format %u.%u is newer than this automl reads (%d.x)",
                        what, major, minor, AML_BLOB_FORMAT_MAJOR);
    if (memcmp(digest, b + n - 32, 32) != 0)
        return aml_fail(c, AML_ERR_FORMAT, "%s: checksum mismatch: the blob is corrupt or truncated", what);
    take(&k, &kind, 4);
    take(&k, &n_classes, 4);
    int64_t nf;
    if (take(&k, &nf, 8) || nf < 0 || (uint64_t)nf > k.left)
        goto corrupt;
    m.task.kind = (aml_task_kind)kind;
    m.task.n_classes = (int)n_classes;
    m.task.n_features = nf;
    m.categorical = aml_xmalloc((size_t)nf + 1);
    take(&k, m.categorical, (size_t)nf);
    m.task.categorical = m.categorical;
    m.n_outputs = kind == AML_TASK_CLASSIFICATION ? (int)n_classes : 1;
    if (!(name = take_str(&k)) || !(version = take_str(&k)) || !(params_text = take_str(&k)))
        goto corrupt;
    uint64_t payload;
    if (take(&k, &payload, 8) || payload != k.left)
        goto corrupt;
    m.plugin = aml_registry_find(reg, AML_PLUGIN_MODEL, name);
    if (!m.plugin) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: needs model plugin '%s' (version %s), which is not installed",
                      what, name, version);
        goto fail;
    }
    params = cJSON_Parse(params_text);
    if (!params)
        goto corrupt;
    if (cfg && (st = aml_config_from_json(c, cfg, m.plugin, params)) != AML_OK) {
        aml_errprefix(c, "%s", what);
        goto fail;
    }
    aml_reader r;
    aml_reader_init(&r, k.p, k.left);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    st = m.plugin->desc->model->load(aml_host_services(), &hc, &r, &m.task, &m.model);
    if (st != AML_OK) {
        if (cfg)
            aml_config_free(cfg);
        st = plugin_error(c, &hc, st == AML_ERR_FORMAT ? st : AML_ERR_FORMAT, name, "load");
        aml_errprefix(c, "%s", what);
        goto fail;
    }
    free(name);
    free(version);
    free(params_text);
    cJSON_Delete(params);
    *out = m;
    return AML_OK;
corrupt:
    st = aml_fail(c, AML_ERR_FORMAT, "%s: corrupt model blob header", what);
fail:
    free(name);
    free(version);
    free(params_text);
    cJSON_Delete(params);
    aml_fitted_free(&m);
    return st;
}
