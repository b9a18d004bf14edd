/* Fitting and applying a model's feature steps, and their place in the model blob. The
 * categorical flags of each step's output come from the step (its output_categorical), or, from
 * a plugin without one, the ABI's rule: the same column count keeps the flags, any other makes
 * every column numeric. */
#include "pipeline.h"

#include "config.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int native_missing(const aml_plugin *model) { return aml_plugin_has_flag(model->desc, AML_PLUGIN_NATIVE_MISSING); }

int aml_pipeline_auto_variants(const aml_plugin *model, int has_missing)
{
    return native_missing(model) && has_missing ? 2 : 1;
}

/* A tree's imputation: the mean lands between a column's values (a missing vote between no and
 * yes), and no indicator columns, which would hand the trees their own missing-value routing
 * back. */
static aml_param_range tree_impute_params[] = {
    {.name = "strategy", .kind = AML_RANGE_FIXED, .str = "mean"},
    {.name = "add_indicator", .kind = AML_RANGE_FIXED, .str = "false"},
};
static const aml_model_spec tree_impute = {.name = "impute", .ranges = tree_impute_params, .n_ranges = 2};

int aml_pipeline_auto(const aml_registry *reg, const aml_plugin *model, int variant, int has_missing, int has_categorical,
                      const aml_plugin **plugins, const aml_model_spec **params)
{
    int n = 0;
    const aml_plugin *p;
    if (native_missing(model)) {
        if (variant == 1 && has_missing && (p = aml_registry_find(reg, AML_PLUGIN_FEATURE, "impute")))
            params[n] = &tree_impute, plugins[n++] = p;
        return n;
    }
    if (has_missing && (p = aml_registry_find(reg, AML_PLUGIN_FEATURE, "impute")))
        params[n] = NULL, plugins[n++] = p;
    if (has_categorical && (p = aml_registry_find(reg, AML_PLUGIN_FEATURE, "onehot")))
        params[n] = NULL, plugins[n++] = p;
    return n;
}

static aml_status step_error(aml_ctx *c, aml_host_ctx *hc, aml_status st, const char *name, const char *what)
{
    return aml_fail(c, st, "feature step %s: %s failed: %s", name, what, hc->msg[0] ? hc->msg : "no reason given");
}

/* The categorical flags of fitted step i's output (see the file comment). */
static uint8_t *output_flags(const aml_pipeline *p, int i, int64_t n_in, const uint8_t *in_flags, int64_t n_out)
{
    uint8_t *out = aml_xcalloc((size_t)n_out + 1, 1);
    const aml_feature_vtable *v = p->plugins[i]->desc->feature;
    if (v->version >= 2 && v->output_categorical) { /* a version-1 vtable ends before it */
        v->output_categorical(p->steps[i], out);
        for (int64_t j = 0; j < n_out; j++)
            out[j] = out[j] != 0;
    } else if (n_out == n_in) {
        memcpy(out, in_flags, (size_t)n_in);
    }
    return out;
}

static aml_status run_step(aml_ctx *c, aml_host_ctx *hc, const aml_pipeline *p, int i, const aml_matrix *in,
                           float **buf, aml_matrix *out)
{
    const aml_feature_vtable *v = p->plugins[i]->desc->feature;
    int64_t cols = v->output_cols(p->steps[i]);
    float *next = aml_xmalloc(sizeof(float) * (size_t)(in->rows * cols + 1));
    hc->msg[0] = 0;
    aml_status st = v->transform(p->steps[i], hc, in, next);
    if (st != AML_OK) {
        free(next);
        return step_error(c, hc, st, p->plugins[i]->desc->name, "transform");
    }
    free(*buf);
    *buf = next;
    *out = (aml_matrix){next, in->rows, cols, cols};
    return AML_OK;
}

aml_status aml_pipeline_fit(aml_ctx *c, aml_host_ctx *hc, aml_pipeline *p, const aml_task *task,
                            const aml_matrix *X, const aml_target *y, float **buf, aml_matrix *out,
                            aml_task *out_task)
{
    *buf = NULL;
    *out = *X;
    *out_task = *task;
    if (p->n == 0)
        return AML_OK;
    p->steps = aml_xcalloc((size_t)p->n, sizeof(aml_feature *));
    p->tasks = aml_xcalloc((size_t)p->n, sizeof(aml_task));
    p->flags = aml_xcalloc((size_t)p->n, sizeof(uint8_t *));
    p->params_json = aml_xcalloc((size_t)p->n, sizeof(char *));
    aml_task cur = *task;
    uint8_t *cur_flags = aml_xcalloc((size_t)task->n_features + 1, 1);
    if (task->categorical)
        memcpy(cur_flags, task->categorical, (size_t)task->n_features);
    aml_matrix view = *X;
    aml_status st = AML_OK;
    for (int i = 0; i < p->n && st == AML_OK; i++) {
        const aml_feature_vtable *v = p->plugins[i]->desc->feature;
        p->flags[i] = cur_flags;
        cur.categorical = cur_flags;
        cur.n_features = view.cols;
        p->tasks[i] = cur;
        aml_config cfg;
        aml_config_base(&cfg, p->plugins[i], p->params ? p->params[i] : NULL);
        aml_params params = aml_config_params(&cfg);
        cJSON *json = aml_config_to_json(&cfg);
        p->params_json[i] = cJSON_PrintUnformatted(json);
        cJSON_Delete(json);
        hc->msg[0] = 0;
        st = v->create(aml_host_services(), hc, &params, &p->tasks[i], &p->steps[i]);
        aml_config_free(&cfg);
        if (st != AML_OK)
            return step_error(c, hc, st, p->plugins[i]->desc->name, "create");
        if ((st = v->fit(p->steps[i], hc, &view, y)) != AML_OK)
            return step_error(c, hc, st, p->plugins[i]->desc->name, "fit");
        int64_t n_in = view.cols;
        if ((st = run_step(c, hc, p, i, &view, buf, &view)) != AML_OK)
            return st;
        cur_flags = output_flags(p, i, n_in, p->flags[i], view.cols);
    }
    p->out_cols = view.cols;
    p->out_categorical = cur_flags;
    *out = view;
    out_task->n_features = view.cols;
    out_task->categorical = cur_flags;
    return AML_OK;
}

aml_status aml_pipeline_transform(aml_ctx *c, aml_host_ctx *hc, const aml_pipeline *p, const aml_matrix *X,
                                  float **buf, aml_matrix *out)
{
    *buf = NULL;
    *out = *X;
    for (int i = 0; i < p->n; i++) {
        aml_status st = run_step(c, hc, p, i, out, buf, out);
        if (st != AML_OK) {
            free(*buf);
            *buf = NULL;
            return st;
        }
    }
    return AML_OK;
}

void aml_pipeline_free(aml_pipeline *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        if (p->steps && p->steps[i])
            p->plugins[i]->desc->feature->free(p->steps[i]);
        if (p->flags)
            free(p->flags[i]);
        if (p->params_json)
            free(p->params_json[i]);
    }
    free(p->params_json);
    free(p->steps);
    free(p->tasks);
    free(p->flags);
    free(p->plugins);
    free(p->out_categorical);
    memset(p, 0, sizeof *p);
}

/* ---- blob section ---- */

static void put(aml_writer *w, const void *b, size_t n) { aml_host_services()->write(w, b, n); }
static void put_str(aml_writer *w, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    put(w, &n, 4);
    put(w, s, n);
}

aml_status aml_pipeline_save(aml_ctx *c, const aml_pipeline *p, aml_writer *w)
{
    uint32_t n = (uint32_t)p->n;
    put(w, &n, 4);
    for (int i = 0; i < p->n; i++) {
        put_str(w, p->plugins[i]->desc->name);
        put_str(w, p->plugins[i]->desc->version);
        int64_t cols = p->tasks[i].n_features;
        put(w, &cols, 8);
        put(w, p->flags[i], (size_t)cols);
        size_t at = w->len;
        uint64_t len = 0;
        put(w, &len, 8);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        aml_status st = p->plugins[i]->desc->feature->save(p->steps[i], &hc, w);
        if (st != AML_OK)
            return step_error(c, &hc, st, p->plugins[i]->desc->name, "save");
        len = (uint64_t)(w->len - at - 8);
        memcpy(w->buf + at, &len, 8);
    }
    if (p->n > 0) { /* what the model was fitted on */
        put(w, &p->out_cols, 8);
        put(w, p->out_categorical, (size_t)p->out_cols);
    }
    return AML_OK;
}

aml_status aml_pipeline_load(aml_ctx *c, const aml_registry *reg, const char *what, const aml_task *task,
                             aml_cursor *k, aml_pipeline *p)
{
    memset(p, 0, sizeof *p);
    uint32_t n;
    if (aml_cursor_take(k, &n, 4) || n > 64)
        return aml_fail(c, AML_ERR_FORMAT, "%s: corrupt pipeline section", what);
    if (n == 0)
        return AML_OK;
    p->n = (int)n;
    p->plugins = aml_xcalloc((size_t)n + 1, sizeof(aml_plugin *));
    p->steps = aml_xcalloc((size_t)n + 1, sizeof(aml_feature *));
    p->tasks = aml_xcalloc((size_t)n + 1, sizeof(aml_task));
    p->flags = aml_xcalloc((size_t)n + 1, sizeof(uint8_t *));
    aml_status st = AML_OK;
    for (uint32_t i = 0; i < n && st == AML_OK; i++) {
        char *name = aml_cursor_take_str(k), *version = aml_cursor_take_str(k);
        int64_t cols;
        uint64_t len;
        if (!name || !version || aml_cursor_take(k, &cols, 8) || cols < 0 || (uint64_t)cols > k->left) {
            st = aml_fail(c, AML_ERR_FORMAT, "%s: corrupt pipeline step %u", what, i);
        } else {
            p->flags[i] = aml_xmalloc((size_t)cols + 1);
            aml_cursor_take(k, p->flags[i], (size_t)cols);
            p->tasks[i] = *task;
            p->tasks[i].n_features = cols;
            p->tasks[i].categorical = p->flags[i];
            p->plugins[i] = aml_registry_find(reg, AML_PLUGIN_FEATURE, name);
            if (!p->plugins[i])
                st = aml_fail(c, AML_ERR_INPUT, "%s: needs feature plugin '%s' (version %s), which is not installed",
                              what, name, version);
            else if (aml_cursor_take(k, &len, 8) || len > k->left)
                st = aml_fail(c, AML_ERR_FORMAT, "%s: pipeline step %s is truncated", what, name);
            else {
                aml_reader r;
                aml_reader_init(&r, k->p, (size_t)len);
                aml_host_ctx hc;
                aml_host_ctx_init(&hc, 1);
                st = p->plugins[i]->desc->feature->load(aml_host_services(), &hc, &r, &p->tasks[i], &p->steps[i]);
                if (st != AML_OK)
                    st = aml_fail(c, AML_ERR_FORMAT, "%s: feature step %s: %s", what, name, hc.msg[0] ? hc.msg : "load failed");
                k->p += len;
                k->left -= len;
            }
        }
        free(name);
        free(version);
    }
    if (st == AML_OK && n > 0) {
        int64_t out;
        if (aml_cursor_take(k, &out, 8) || out < 0 || (uint64_t)out > k->left ||
            out != p->plugins[n - 1]->desc->feature->output_cols(p->steps[n - 1])) {
            st = aml_fail(c, AML_ERR_FORMAT, "%s: corrupt pipeline output schema", what);
        } else {
            p->out_cols = out;
            p->out_categorical = aml_xmalloc((size_t)out + 1);
            aml_cursor_take(k, p->out_categorical, (size_t)out);
        }
    }
    if (st != AML_OK) {
        for (uint32_t i = 0; i < n; i++)
            if (!p->plugins[i]) /* free() below must not call into a missing plugin */
                p->steps[i] = NULL;
        aml_pipeline_free(p);
    }
    return st;
}
