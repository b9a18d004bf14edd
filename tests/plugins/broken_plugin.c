/* One small model plugin source compiled into several variants, each broken in one way the
 * loader must refuse (wrong ABI major, newer minor, unresolved symbol, no entry point, different
 * type sizes, incomplete vtable) — and one good variant. */
#include <automl/plugin.h>
#include <stdlib.h>

struct aml_model {
    int n_outputs;
};

#ifdef VARIANT_missing_symbol
/* Never defined anywhere: dlopen(RTLD_NOW) must fail on it. */
extern int aml_test_symbol_that_does_not_exist(void);
#endif

static aml_status create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                         aml_model **out)
{
    (void)h, (void)c, (void)p;
#ifdef VARIANT_missing_symbol
    if (aml_test_symbol_that_does_not_exist())
        return AML_ERR_RUNTIME;
#endif
    aml_model *m = calloc(1, sizeof *m);
    if (!m)
        return AML_ERR_NOMEM;
    m->n_outputs = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 1;
    *out = m;
    return AML_OK;
}

static aml_status fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                      const aml_matrix *vX, const aml_target *vy, const aml_fit_budget *b)
{
    (void)m, (void)c, (void)X, (void)y, (void)vX, (void)vy, (void)b;
    return AML_OK;
}

/* Predicts the uniform distribution (or 0): a model that knows nothing. */
static aml_status predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    (void)c;
    for (int64_t i = 0; i < X->rows * m->n_outputs; i++)
        out[i] = m->n_outputs > 1 ? 1.0 / m->n_outputs : 0.0;
    return AML_OK;
}

static aml_status save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    (void)m, (void)c, (void)w;
    return AML_OK;
}

static aml_status load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                       aml_model **out)
{
    (void)r;
    return create(h, c, NULL, task, out);
}

static void model_free(aml_model *m) { free(m); }

static const aml_model_vtable vtable = {
    .version = 1,
    .create = create,
    .fit = fit,
    .predict = predict,
#ifndef VARIANT_incomplete_vtable
    .save = save,
#endif
    .load = load,
    .free = model_free,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
#ifdef VARIANT_wrong_major
    .abi_major = AML_PLUGIN_ABI_MAJOR + 1,
#endif
#ifdef VARIANT_newer_minor
    .abi_minor = AML_PLUGIN_ABI_MINOR + 1,
#endif
#ifdef VARIANT_bad_signature
    .signature = AML_PLUGIN_SIGNATURE ^ 0xF,
#endif
    .kind = AML_PLUGIN_MODEL,
    .name = "test_constant",
    .version = "0.0.1",
    .license = "MIT",
    .summary = "test plugin: predicts the uniform distribution",
    .model = &vtable,
};

#ifndef VARIANT_no_entry
AML_PLUGIN_ENTRY { return &descriptor; }
#else
/* Exports something, but not the entry point. */
AML_PLUGIN_EXPORT const aml_plugin_descriptor *some_other_symbol(void) { return &descriptor; }
#endif
