/* Shared by the feature plugin tests (tests/unit/test_features_*.c): load one feature plugin as a
 * .so through the registry, build parameter sets from the descriptor's defaults, and run fit /
 * transform / save + load with the engine's host services. Each helper asserts success. */
#ifndef AML_TEST_FEATURES_UTIL_H
#define AML_TEST_FEATURES_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "plugin_loader.h"

static aml_registry *reg;
static const aml_plugin_descriptor *desc;
static const aml_feature_vtable *vt;
static const aml_host *host;

/* Loads AML_PLUGIN_BUILD_DIR/aml_feature_<name>.so; for cmocka group setup. */
static inline int load_feature_plugin(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/aml_feature_%s.so", AML_PLUGIN_BUILD_DIR, name);
    aml_ctx *c = aml_ctx_new();
    reg = aml_registry_new();
    if (aml_registry_load_file(reg, c, path) != AML_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, aml_errmsg(c));
        aml_ctx_free(c);
        return -1;
    }
    aml_ctx_free(c);
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_FEATURE, name);
    if (!p)
        return -1;
    desc = p->desc;
    vt = desc->feature;
    host = aml_host_services();
    return 0;
}

static inline int unload_feature_plugin(void **state)
{
    aml_registry_free(reg);
    return 0;
}

typedef struct {
    double num[16];
    const char *str[16];
    aml_params p;
} param_set;

/* Defaults, then up to two overrides by name (CHOICE values by index). */
static inline const aml_params *params_of(param_set *ps, const char *name, double v, const char *name2, double v2)
{
    assert_true(desc->n_params <= 16);
    for (int i = 0; i < desc->n_params; i++) {
        const aml_param_def *d = &desc->params[i];
        ps->num[i] = d->def;
        if (name && !strcmp(d->name, name))
            ps->num[i] = v;
        if (name2 && !strcmp(d->name, name2))
            ps->num[i] = v2;
        ps->str[i] = d->type == AML_PARAM_CHOICE && ps->num[i] >= 0 && ps->num[i] < d->n_choices
                         ? d->choices[(int)ps->num[i]]
                         : NULL;
    }
    ps->p.num = ps->num, ps->p.str = ps->str;
    return &ps->p;
}

static inline aml_task task_of(int n_classes, int64_t d, const uint8_t *cat, uint64_t seed)
{
    aml_task t = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                  .n_features = d, .categorical = cat, .seed = seed};
    return t;
}

static inline aml_matrix view(const float *X, int64_t n, int64_t d)
{
    aml_matrix m = {.data = X, .rows = n, .cols = d, .ld = d};
    return m;
}

/* Creates and fits; y may be NULL for plugins that ignore the target. */
static inline aml_feature *fit_threads(const aml_params *p, const aml_task *task, const aml_matrix *X,
                                       const aml_target *y, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    aml_feature *f = NULL;
    aml_status st = vt->create(host, &hc, p, task, &f);
    if (st != AML_OK)
        print_error("create: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    aml_target none = {0};
    st = vt->fit(f, &hc, X, y ? y : &none);
    if (st != AML_OK)
        print_error("fit: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    return f;
}

static inline aml_feature *fit_feature(const aml_params *p, const aml_task *task, const aml_matrix *X,
                                       const aml_target *y)
{
    return fit_threads(p, task, X, y, 2);
}

/* Transforms X into a fresh rows x output_cols array (caller frees). */
static inline float *transform_threads(const aml_feature *f, const aml_matrix *X, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    int64_t oc = vt->output_cols(f);
    assert_true(oc >= 1);
    float *out = malloc((size_t)(X->rows * oc + 1) * sizeof *out);
    for (int64_t a = 0; a < X->rows * oc; a++)
        out[a] = -12345.0f; /* every cell must be written */
    aml_status st = vt->transform(f, &hc, X, out);
    if (st != AML_OK)
        print_error("transform: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    for (int64_t a = 0; a < X->rows * oc; a++)
        assert_true(out[a] != -12345.0f);
    return out;
}

static inline float *transform(const aml_feature *f, const aml_matrix *X) { return transform_threads(f, X, 2); }

/* Saves f, loads it back (with task), and checks that the loaded copy has the same output columns
 * and transforms X bit-identically; returns the loaded copy. */
static inline aml_feature *roundtrip(const aml_feature *f, const aml_task *task, const aml_matrix *X)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_writer w;
    aml_writer_init(&w);
    assert_int_equal(vt->save(f, &hc, &w), AML_OK);
    aml_reader r;
    aml_reader_init(&r, w.buf, w.len);
    aml_feature *g = NULL;
    aml_status st = vt->load(host, &hc, &r, task, &g);
    if (st != AML_OK)
        print_error("load: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    assert_int_equal(r.pos, w.len); /* the whole blob is read */
    /* every truncation is refused with a message */
    for (size_t cut = 0; cut < w.len; cut += 1 + w.len / 64) {
        aml_reader_init(&r, w.buf, cut);
        aml_feature *bad = NULL;
        hc.msg[0] = 0;
        assert_int_equal(vt->load(host, &hc, &r, task, &bad), AML_ERR_FORMAT);
        assert_null(bad);
        assert_true(strlen(hc.msg) > 0);
    }
    aml_writer_release(&w);
    assert_int_equal(vt->output_cols(g), vt->output_cols(f));
    float *a = transform(f, X), *b = transform(g, X);
    assert_memory_equal(a, b, (size_t)(X->rows * vt->output_cols(f)) * sizeof *a);
    free(a), free(b);
    return g;
}

/* Exact float comparison that prints both values and the cell. */
static inline void expect_cells(const float *got, const float *want, int64_t n, int64_t cols)
{
    for (int64_t a = 0; a < n * cols; a++) {
        int same = (isnan(got[a]) && isnan(want[a])) || got[a] == want[a];
        if (!same) {
            print_error("row %lld col %lld: got %.9g, expected %.9g\n", (long long)(a / cols), (long long)(a % cols),
                        (double)got[a], (double)want[a]);
            fail();
        }
    }
}

/* The message of a failing call, for exact-message assertions. */
static inline aml_status fit_error(const aml_params *p, const aml_task *task, const aml_matrix *X, const aml_target *y,
                            char *msg, size_t n)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_feature *f = NULL;
    aml_status st = vt->create(host, &hc, p, task, &f);
    if (st == AML_OK) {
        aml_target none = {0};
        st = vt->fit(f, &hc, X, y ? y : &none);
        vt->free(f);
    }
    snprintf(msg, n, "%s", hc.msg);
    return st;
}

#endif
