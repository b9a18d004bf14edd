/* Fitting, predicting, saving and loading through a model plugin's vtable, with the plugin's
 * error messages carried into the engine context and the blob framed and checksummed. */
#include "model.h"

#include "calibration.h"
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
    return aml_fitted_fit_resource(c, hc, cfg, task, X, y, valid_X, valid_y, 1.0, out);
}

aml_status aml_fitted_fit_resource(aml_ctx *c, aml_host_ctx *hc, const aml_config *cfg,
                                   const aml_task *task, const aml_matrix *X, const aml_target *y,
                                   const aml_matrix *valid_X, const aml_target *valid_y,
                                   double resource, aml_fitted *out)
{
    const aml_model_vtable *v = cfg->plugin->desc->model;
    const char *name = cfg->plugin->desc->name;
    aml_fitted m = {.plugin = cfg->plugin, .resource = resource > 0 && resource < 1 ? resource : 1};
    copy_task(&m, task);
    omp_set_num_threads(hc->threads > 0 ? hc->threads : 1);
    /* The feature steps first: the model is fitted on their output. */
    float *train_buf = NULL, *valid_buf = NULL;
    aml_matrix train = *X, valid = valid_X ? *valid_X : (aml_matrix){0};
    aml_task model_task = m.task;
    aml_status st = AML_OK;
    m.pipeline.n = cfg->n_steps;
    m.pipeline.plugins = aml_xcalloc((size_t)cfg->n_steps + 1, sizeof(aml_plugin *));
    memcpy(m.pipeline.plugins, cfg->steps, sizeof(aml_plugin *) * (size_t)cfg->n_steps);
    m.pipeline.params = cfg->step_params; /* cleared below: only fit reads them */
    if (cfg->n_steps > 0) {
        if ((st = aml_pipeline_fit(c, hc, &m.pipeline, &m.task, X, y, &train_buf, &train, &model_task)) != AML_OK)
            goto fail;
        if (valid_X && (st = aml_pipeline_transform(c, hc, &m.pipeline, valid_X, &valid_buf, &valid)) != AML_OK)
            goto fail;
    }
    hc->msg[0] = 0;
    aml_params params = aml_config_params(cfg);
    st = v->create(aml_host_services(), hc, &params, &model_task, &m.model);
    if (st != AML_OK) {
        st = plugin_error(c, hc, st, name, "create");
        goto fail;
    }
    aml_fit_budget budget = {.size = sizeof budget, .resource = resource};
    st = v->fit(m.model, hc, &train, y, valid_X ? &valid : NULL, valid_y, &budget);
    if (st != AML_OK) {
        st = plugin_error(c, hc, st, name, "fit");
        goto fail;
    }
    free(train_buf);
    free(valid_buf);
    m.pipeline.params = NULL;
    *out = m;
    return AML_OK;
fail:
    free(train_buf);
    free(valid_buf);
    aml_fitted_free(&m);
    return st;
}

double aml_fitted_used_resource(const aml_fitted *m)
{
    if (m->n_members > 0 || !m->plugin || !m->model)
        return 1;
    const aml_model_vtable *v = m->plugin->desc->model;
    if (v->version < 2 || !v->used_resource) /* a version-1 vtable ends before used_resource */
        return 1;
    double u = v->used_resource(m->model);
    return u > 0 && u <= 1 ? u : 1;
}

int aml_model_stops_early(const aml_config *cfg)
{
    const aml_model_vtable *v = cfg->plugin->desc->model;
    if (v->version < 3 || !v->stops_early) /* older vtables end before stops_early */
        return 0;
    aml_params params = aml_config_params(cfg);
    return v->stops_early(&params) != 0;
}

void aml_fitted_ensemble_init(aml_fitted *out, const aml_task *task, int n)
{
    memset(out, 0, sizeof *out);
    copy_task(out, task);
    out->n_members = n;
    out->members = aml_xcalloc((size_t)n, sizeof(aml_fitted));
    out->member_cfgs = aml_xcalloc((size_t)n, sizeof(aml_config));
    out->weights = aml_xcalloc((size_t)n, sizeof(double));
}

static aml_status ensemble_predict(aml_ctx *c, aml_host_ctx *hc, const aml_fitted *m,
                                   const aml_matrix *X, double *out)
{
    size_t n = (size_t)(X->rows * m->n_outputs);
    double *part = aml_xmalloc(sizeof(double) * (n + 1));
    memset(out, 0, sizeof(double) * n);
    aml_status st = AML_OK;
    for (int k = 0; k < m->n_members && st == AML_OK; k++) {
        st = aml_fitted_predict(c, hc, &m->members[k], X, part);
        if (st == AML_OK && m->temperatures)
            aml_temperature_apply(part, X->rows, m->n_outputs, m->temperatures[k]);
        for (size_t i = 0; st == AML_OK && i < n; i++)
            out[i] += m->weights[k] * part[i];
    }
    free(part);
    return st;
}

aml_status aml_fitted_predict(aml_ctx *c, aml_host_ctx *hc, const aml_fitted *m, const aml_matrix *X,
                              double *out)
{
    if (m->n_members > 0)
        return ensemble_predict(c, hc, m, X, out);
    omp_set_num_threads(hc->threads > 0 ? hc->threads : 1);
    float *buf = NULL;
    aml_matrix rows = *X;
    aml_status st = aml_pipeline_transform(c, hc, &m->pipeline, X, &buf, &rows);
    if (st != AML_OK)
        return st;
    hc->msg[0] = 0;
    st = m->plugin->desc->model->predict(m->model, hc, &rows, out);
    free(buf);
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
    aml_pipeline_free(&m->pipeline);
    for (int k = 0; k < m->n_members; k++) {
        aml_fitted_free(&m->members[k]);
        aml_config_free(&m->member_cfgs[k]);
    }
    free(m->members);
    free(m->member_cfgs);
    free(m->weights);
    free(m->temperatures);
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

static aml_status ensemble_payload_write(aml_ctx *c, const aml_fitted *m, aml_writer *w)
{
    put_u32(w, (uint32_t)m->n_members);
    for (int k = 0; k < m->n_members; k++) {
        aml_writer member;
        aml_writer_init(&member);
        aml_status st = aml_model_blob_write(c, &m->members[k], &m->member_cfgs[k], &member);
        uint64_t len = member.len;
        if (st == AML_OK) {
            put(w, &len, 8);
            put(w, member.buf, member.len);
        }
        aml_writer_release(&member);
        if (st != AML_OK)
            return st;
    }
    return AML_OK;
}

static char *ensemble_params_text(const aml_fitted *m)
{
    cJSON *o = cJSON_CreateObject();
    /* exact: the loaded weights and temperatures (and so the predictions) must not differ in the
     * last bit */
    cJSON *wts = cJSON_AddArrayToObject(o, "weights");
    for (int k = 0; k < m->n_members; k++)
        cJSON_AddItemToArray(wts, aml_json_exact(m->weights[k]));
    if (m->temperatures) {
        cJSON *ts = cJSON_AddArrayToObject(o, "temperatures");
        for (int k = 0; k < m->n_members; k++)
            cJSON_AddItemToArray(ts, aml_json_exact(m->temperatures[k]));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

int aml_model_blob_format(const aml_fitted *m) { return m->n_members > 0 && m->temperatures ? 2 : 1; }

aml_status aml_model_blob_write(aml_ctx *c, const aml_fitted *m, const aml_config *cfg, aml_writer *w)
{
    int ensemble = m->n_members > 0;
    put(w, magic, 8);
    put_u32(w, (uint32_t)aml_model_blob_format(m));
    put_u32(w, AML_BLOB_FORMAT_MINOR);
    put_u32(w, (uint32_t)m->task.kind);
    put_u32(w, (uint32_t)m->task.n_classes);
    int64_t nf = m->task.n_features;
    put(w, &nf, 8);
    for (int64_t j = 0; j < nf; j++) {
        uint8_t flag = m->task.categorical ? m->task.categorical[j] : 0;
        put(w, &flag, 1);
    }
    put_str(w, ensemble ? AML_ENSEMBLE_NAME : m->plugin->desc->name);
    put_str(w, ensemble ? AML_VERSION : m->plugin->desc->version);
    char *text;
    if (ensemble) {
        text = ensemble_params_text(m);
    } else {
        cJSON *params = aml_config_to_json(cfg);
        text = cJSON_PrintUnformatted(params);
        cJSON_Delete(params);
    }
    put_str(w, text);
    free(text);
    aml_status pst = ensemble ? AML_OK : aml_pipeline_save(c, &m->pipeline, w);
    if (ensemble)
        put_u32(w, 0);
    if (pst != AML_OK)
        return pst;
    size_t len_at = w->len;
    uint64_t payload = 0;
    put(w, &payload, 8);
    aml_status st;
    if (ensemble) {
        st = ensemble_payload_write(c, m, w);
        if (st != AML_OK)
            return st;
    } else {
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        st = m->plugin->desc->model->save(m->model, &hc, w);
        if (st != AML_OK)
            return plugin_error(c, &hc, st, m->plugin->desc->name, "save");
    }
    payload = (uint64_t)(w->len - len_at - 8);
    memcpy(w->buf + len_at, &payload, 8);
    unsigned char digest[32];
    aml_sha256(w->buf, w->len, digest);
    put(w, digest, 32);
    return AML_OK;
}

static aml_status blob_read(aml_ctx *c, aml_registry *reg, const char *what, const void *buf, size_t n,
                            aml_fitted *out, aml_config *cfg, int in_ensemble);

/* Reads an ensemble's weights and members into m (which holds the task already). */
static aml_status ensemble_read(aml_ctx *c, aml_registry *reg, const char *what, aml_cursor *k,
                                const char *params_text, aml_fitted *m)
{
    cJSON *params = cJSON_Parse(params_text);
    const cJSON *wts = cJSON_GetObjectItemCaseSensitive(params, "weights");
    const cJSON *temps = cJSON_GetObjectItemCaseSensitive(params, "temperatures"); /* optional */
    uint32_t n;
    aml_status st = AML_OK;
    if (!cJSON_IsArray(wts) || aml_cursor_take(k, &n, 4) || n == 0 || (int)n != cJSON_GetArraySize(wts) || n > 100000 ||
        (temps && (!cJSON_IsArray(temps) || (int)n != cJSON_GetArraySize(temps)))) {
        cJSON_Delete(params);
        return aml_fail(c, AML_ERR_FORMAT, "%s: corrupt ensemble header", what);
    }
    aml_task task = m->task;
    uint8_t *categorical = m->categorical;
    m->categorical = NULL;
    aml_fitted_ensemble_init(m, &task, (int)n);
    free(categorical);
    if (temps)
        m->temperatures = aml_xmalloc(sizeof(double) * n);
    /* Walked in step with the members (cJSON_GetArrayItem per member would be quadratic). */
    const cJSON *wt = wts->child, *t = temps ? temps->child : NULL;
    for (uint32_t i = 0; i < n && st == AML_OK; i++, wt = wt->next, t = t ? t->next : NULL) {
        m->weights[i] = cJSON_IsNumber(wt) ? wt->valuedouble : 0;
        if (temps) {
            if (!cJSON_IsNumber(t) || !(t->valuedouble >= AML_TEMPERATURE_MIN && t->valuedouble <= AML_TEMPERATURE_MAX)) {
                st = aml_fail(c, AML_ERR_FORMAT, "%s: ensemble member %u: temperature must be a number in [%g, %g]",
                              what, i, AML_TEMPERATURE_MIN, AML_TEMPERATURE_MAX);
                break;
            }
            m->temperatures[i] = t->valuedouble;
        }
        uint64_t len;
        if (aml_cursor_take(k, &len, 8) || len > k->left) {
            st = aml_fail(c, AML_ERR_FORMAT, "%s: ensemble member %u is truncated", what, i);
            break;
        }
        char member_what[512];
        snprintf(member_what, sizeof member_what, "%s (ensemble member %u)", what, i);
        st = blob_read(c, reg, member_what, k->p, (size_t)len, &m->members[i], &m->member_cfgs[i], 1);
        /* Members predict into buffers sized for the ensemble: their task must be its task. */
        const aml_task *mt = &m->members[i].task;
        if (st == AML_OK && (mt->kind != task.kind || mt->n_classes != task.n_classes || mt->n_features != task.n_features ||
                             memcmp(mt->categorical, m->categorical, (size_t)task.n_features) != 0))
            st = aml_fail(c, AML_ERR_FORMAT, "%s: its task (kind, classes, features) differs from the ensemble's",
                          member_what);
        k->p += len;
        k->left -= len;
    }
    cJSON_Delete(params);
    return st;
}

aml_status aml_model_blob_read(aml_ctx *c, aml_registry *reg, const char *what, const void *buf,
                               size_t n, aml_fitted *out, aml_config *cfg)
{
    return blob_read(c, reg, what, buf, n, out, cfg, 0);
}

/* in_ensemble: a member's blob, which may not be an ensemble itself (the nesting would recurse as
 * deep as the bytes allow). */
static aml_status blob_read(aml_ctx *c, aml_registry *reg, const char *what, const void *buf, size_t n,
                            aml_fitted *out, aml_config *cfg, int in_ensemble)
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
    aml_cursor k = {b + 8, n - 8 - 32};
    uint32_t major, minor, kind, n_classes;
    aml_cursor_take(&k, &major, 4);
    aml_cursor_take(&k, &minor, 4);
    if (major > AML_BLOB_FORMAT_MAJOR)
        return aml_fail(c, AML_ERR_FORMAT, "%s: model format %u.%u is newer than this automl reads (%d.x)",
                        what, major, minor, AML_BLOB_FORMAT_MAJOR);
    if (memcmp(digest, b + n - 32, 32) != 0)
        return aml_fail(c, AML_ERR_FORMAT, "%s: checksum mismatch: the blob is corrupt or truncated", what);
    aml_cursor_take(&k, &kind, 4);
    aml_cursor_take(&k, &n_classes, 4);
    if (kind != AML_TASK_CLASSIFICATION && kind != AML_TASK_REGRESSION)
        return aml_fail(c, AML_ERR_FORMAT, "%s: task %u: expected 1 (classification) or 2 (regression)", what, kind);
    if (kind == AML_TASK_CLASSIFICATION && (n_classes < 1 || n_classes > AML_BLOB_MAX_CLASSES))
        return aml_fail(c, AML_ERR_FORMAT, "%s: %u classes: expected 1 to %d", what, n_classes, AML_BLOB_MAX_CLASSES);
    int64_t nf;
    if (aml_cursor_take(&k, &nf, 8) || nf < 0 || (uint64_t)nf > k.left)
        goto corrupt;
    m.task.kind = (aml_task_kind)kind;
    m.task.n_classes = kind == AML_TASK_CLASSIFICATION ? (int)n_classes : 0;
    m.task.n_features = nf;
    m.categorical = aml_xmalloc((size_t)nf + 1);
    aml_cursor_take(&k, m.categorical, (size_t)nf);
    m.task.categorical = m.categorical;
    m.n_outputs = kind == AML_TASK_CLASSIFICATION ? (int)n_classes : 1;
    if (!(name = aml_cursor_take_str(&k)) || !(version = aml_cursor_take_str(&k)) || !(params_text = aml_cursor_take_str(&k)))
        goto corrupt;
    if ((st = aml_pipeline_load(c, reg, what, &m.task, &k, &m.pipeline)) != AML_OK)
        goto fail;
    uint64_t payload;
    if (aml_cursor_take(&k, &payload, 8) || payload != k.left)
        goto corrupt;
    if (!strcmp(name, AML_ENSEMBLE_NAME)) {
        if (in_ensemble || m.pipeline.n > 0) {
            st = aml_fail(c, AML_ERR_FORMAT, "%s: %s", what,
                          in_ensemble ? "an ensemble inside an ensemble" : "an ensemble with its own feature steps");
            goto fail;
        }
        st = ensemble_read(c, reg, what, &k, params_text, &m);
        if (st != AML_OK)
            goto fail;
        free(name);
        free(version);
        free(params_text);
        *out = m;
        return AML_OK;
    }
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
    aml_task model_task = m.task;
    if (m.pipeline.n > 0) {
        model_task.n_features = m.pipeline.out_cols;
        model_task.categorical = m.pipeline.out_categorical;
    }
    st = m.plugin->desc->model->load(aml_host_services(), &hc, &r, &model_task, &m.model);
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
