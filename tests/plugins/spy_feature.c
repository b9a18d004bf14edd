/* A feature plugin that passes its input through and writes down which rows it saw: the leakage
 * test (tests/e2e/test_leakage.sh) puts the row number in column 0 and checks that no step was
 * ever fitted on a row it later transformed as validation data. Each call appends one line to
 * the file named by AML_SPY_LOG: "fit|transform INSTANCE row row ...". */
#include <automl/plugin.h>
#include <stdio.h>
#include <stdlib.h>

struct aml_feature {
    int64_t cols;
    unsigned id;
};

static unsigned next_id;

static void log_rows(const char *what, const aml_feature *f, const aml_matrix *X)
{
    const char *path = getenv("AML_SPY_LOG");
    FILE *fp = path ? fopen(path, "a") : NULL;
    if (!fp)
        return;
    /* one fprintf per line into a line-buffered stream: lines from parallel trials stay whole */
    size_t cap = 32 + (size_t)X->rows * 12, n = 0;
    char *line = malloc(cap);
    if (!line) {
        fclose(fp);
        return;
    }
    n += (size_t)snprintf(line + n, cap - n, "%s %u", what, f->id);
    for (int64_t i = 0; i < X->rows && n < cap; i++)
        n += (size_t)snprintf(line + n, cap - n, " %.0f", (double)X->data[i * X->ld]);
    fprintf(fp, "%s\n", line);
    free(line);
    fclose(fp);
}

static aml_status create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                         aml_feature **out)
{
    (void)h, (void)c, (void)p;
    aml_feature *f = calloc(1, sizeof *f);
    if (!f)
        return AML_ERR_NOMEM;
    f->cols = task->n_features;
    f->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    *out = f;
    return AML_OK;
}

static aml_status fit(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    (void)c, (void)y;
    log_rows("fit", f, X);
    return AML_OK;
}

static int64_t output_cols(const aml_feature *f) { return f->cols; }

static aml_status transform(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out)
{
    (void)c;
    if (X->rows > 1) /* not the pipeline's one-row probes */
        log_rows("transform", f, X);
    for (int64_t i = 0; i < X->rows; i++)
        for (int64_t j = 0; j < f->cols; j++)
            out[i * f->cols + j] = X->data[i * X->ld + j];
    return AML_OK;
}

static aml_status save(const aml_feature *f, aml_host_ctx *c, aml_writer *w)
{
    (void)f, (void)c, (void)w;
    return AML_OK;
}

static aml_status load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task, aml_feature **out)
{
    (void)r;
    return create(h, c, NULL, task, out);
}

static void feature_free(aml_feature *f) { free(f); }

static const aml_feature_vtable vtable = {
    .version = 1,
    .create = create,
    .fit = fit,
    .output_cols = output_cols,
    .transform = transform,
    .save = save,
    .load = load,
    .free = feature_free,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_FEATURE,
    .name = "spy",
    .version = "0.0.1",
    .license = "MIT",
    .summary = "test plugin: passes rows through and logs which rows it was fitted on and transformed",
    .feature = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
