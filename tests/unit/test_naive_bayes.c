/* The naive_bayes model plugin, loaded as a .so through the registry: probabilities against a
 * direct computation written here (weights, missing cells, var_smoothing), thread-count
 * independence, exact save/load round trips, corrupt blobs, the regression refusal, and held-out
 * accuracy on wine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "host.h"
#include "plugin_loader.h"
#include "resample.h"

#define PLUGIN_PATH AML_PLUGIN_BUILD_DIR "/aml_model_naive_bayes.so"

static aml_registry *reg;
static const aml_plugin_descriptor *desc;
static const aml_model_vtable *vt;
static const aml_host *host;

static int setup(void **state)
{
    aml_ctx *c = aml_ctx_new();
    reg = aml_registry_new();
    if (aml_registry_load_file(reg, c, PLUGIN_PATH) != AML_OK) {
        fprintf(stderr, "cannot load %s: %s\n", PLUGIN_PATH, aml_errmsg(c));
        aml_ctx_free(c);
        return -1;
    }
    aml_ctx_free(c);
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "naive_bayes");
    if (!p)
        return -1;
    desc = p->desc;
    vt = desc->model;
    host = aml_host_services();
    return 0;
}

static int teardown(void **state)
{
    aml_registry_free(reg);
    return 0;
}

static aml_model *fit_model(int k, const float *X, int64_t n, int64_t d, const int32_t *y, const float *w,
                            double var_smoothing, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    omp_set_num_threads(threads);
    double num[1] = {var_smoothing};
    const char *str[1] = {NULL};
    aml_params p = {.num = num, .str = str};
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = k, .n_features = d, .seed = 1};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, &p, &task, &m), AML_OK);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    aml_target t = {.label = y, .weight = w};
    aml_status st = vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL);
    if (st != AML_OK)
        print_error("fit: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    return m;
}

static void predict(const aml_model *m, const float *X, int64_t n, int64_t d, double *out, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    omp_set_num_threads(threads);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    aml_status st = vt->predict(m, &hc, &mx, out);
    if (st != AML_OK)
        print_error("predict: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
}

/* Class-dependent Gaussian features on mixed scales and offsets. */
static void make_data(int n, int d, int k, unsigned seed, float *X, int32_t *y)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = (int)aml_rng_below(&r, (uint64_t)k);
        if (y)
            y[i] = c;
        for (int j = 0; j < d; j++) {
            double u1 = aml_rng_uniform(&r) + 1e-12, u2 = aml_rng_uniform(&r);
            double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
            X[i * d + j] = (float)(1000 * (j == 0) + (1 + j % 3) * (g * (1 + 0.3 * c) + 0.8 * c * ((j + c) % 2)));
        }
    }
}

/* ---- the direct computation --------------------------------------------------------------- */

static void reference(int k, const float *X, int n, int d, const int32_t *y, const float *w, double vs,
                      const float *q, double *out)
{
    double max_var = 0;
    for (int j = 0; j < d; j++) {
        double s = 0, ss = 0;
        int cnt = 0;
        for (int i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                s += X[i * d + j], cnt++;
        for (int i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                ss += (X[i * d + j] - s / cnt) * (X[i * d + j] - s / cnt);
        max_var = fmax(max_var, ss / cnt);
    }
    double wtot = 0, lp[16];
    for (int c = 0; c < k; c++)
        lp[c] = 0;
    for (int i = 0; i < n; i++)
        lp[y[i]] += w ? w[i] : 1, wtot += w ? w[i] : 1;
    for (int c = 0; c < k; c++) {
        double s = log(lp[c] / wtot);
        for (int j = 0; j < d; j++) {
            double sw = 0, s1 = 0, s2 = 0;
            for (int i = 0; i < n; i++)
                if (y[i] == c && !isnan(X[i * d + j]))
                    sw += w ? w[i] : 1, s1 += (w ? (double)w[i] : 1.0) * X[i * d + j];
            const double mu = s1 / sw;
            for (int i = 0; i < n; i++)
                if (y[i] == c && !isnan(X[i * d + j]))
                    s2 += (w ? (double)w[i] : 1.0) * (X[i * d + j] - mu) * (X[i * d + j] - mu);
            const double var = s2 / sw + vs * max_var;
            if (!isnan(q[j]))
                s += -0.5 * log(2 * M_PI * var) - 0.5 * (q[j] - mu) * (q[j] - mu) / var;
        }
        out[c] = s;
    }
    double mx = out[0], sum = 0;
    for (int c = 1; c < k; c++)
        mx = fmax(mx, out[c]);
    for (int c = 0; c < k; c++)
        sum += (out[c] = exp(out[c] - mx));
    for (int c = 0; c < k; c++)
        out[c] /= sum;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "naive_bayes");
    assert_int_equal(desc->kind, AML_PLUGIN_MODEL);
    assert_int_equal(desc->n_params, 1);
    assert_string_equal(desc->params[0].name, "var_smoothing");
    assert_true(desc->params[0].def == 1e-9 && desc->params[0].log_scale);
}

static void test_regression_refused(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_REGRESSION, .n_features = 3};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_ERR_INPUT);
    assert_null(m);
    assert_string_equal(hc.msg, "naive_bayes: classification only; the task is regression");
}

/* Probabilities equal the direct computation, with weights, NaN cells in training rows and queries,
 * and a var_smoothing large enough to matter. Batch and single-row paths agree. */
static void test_matches_reference(void **state)
{
    enum { N = 700, Q = 300, D = 5, K = 3 };
    static float X[N * D], Xq[Q * D], w[N];
    static int32_t y[N];
    static double P[Q * K];
    make_data(N, D, K, 1, X, y);
    make_data(Q, D, K, 2, Xq, NULL);
    for (int i = 0; i < N; i++)
        w[i] = 0.5f + (float)(i % 5);
    for (int i = 0; i < N; i += 11)
        X[i * D + (i % D)] = NAN;
    for (int i = 0; i < Q; i += 7)
        Xq[i * D + (i % D)] = NAN;
    for (int pass = 0; pass < 2; pass++) {
        const double vs = pass ? 1e-3 : 1e-9;
        const float *wt = pass ? w : NULL;
        aml_model *m = fit_model(K, X, N, D, y, wt, vs, 2);
        predict(m, Xq, Q, D, P, 2);
        for (int q = 0; q < Q; q++) {
            double ref[K], row[K];
            reference(K, X, N, D, y, wt, vs, Xq + q * D, ref);
            assert_int_equal(vt->predict_row(m, Xq + q * D, row), AML_OK);
            double sum = 0;
            for (int c = 0; c < K; c++) {
                if (!(fabs(P[q * K + c] - ref[c]) <= 1e-9)) {
                    print_error("row %d class %d: %.15g, reference %.15g\n", q, c, P[q * K + c], ref[c]);
                    fail();
                }
                assert_true(fabs(row[c] - P[q * K + c]) <= 1e-12);
                sum += P[q * K + c];
            }
            assert_true(fabs(sum - 1) < 1e-12);
        }
        vt->free(m);
    }
}

/* A class present in the task but absent from the rows gets probability 0, not NaN. */
static void test_absent_class(void **state)
{
    enum { N = 200, D = 3 };
    static float X[N * D];
    static int32_t y[N];
    make_data(N, D, 2, 3, X, y);
    aml_model *m = fit_model(4, X, N, D, y, NULL, 1e-9, 1);
    double P[4 * 10];
    predict(m, X, 10, D, P, 1);
    for (int i = 0; i < 10; i++) {
        assert_true(P[i * 4 + 2] == 0 && P[i * 4 + 3] == 0);
        assert_true(fabs(P[i * 4] + P[i * 4 + 1] - 1) < 1e-12);
    }
    vt->free(m);
}

static void test_threads_agree(void **state)
{
    enum { N = 3000, Q = 1000, D = 20, K = 4 };
    static float X[N * D], Xq[Q * D];
    static int32_t y[N];
    static double P1[Q * K], P2[Q * K];
    make_data(N, D, K, 4, X, y);
    make_data(Q, D, K, 5, Xq, NULL);
    aml_model *a = fit_model(K, X, N, D, y, NULL, 1e-9, 1), *b = fit_model(K, X, N, D, y, NULL, 1e-9, 2);
    predict(a, Xq, Q, D, P1, 1);
    predict(b, Xq, Q, D, P2, 2);
    assert_memory_equal(P1, P2, sizeof P1);
    vt->free(a), vt->free(b);
}

static void test_save_load_exact(void **state)
{
    enum { N = 500, Q = 200, D = 6, K = 3 };
    static float X[N * D], Xq[Q * D];
    static int32_t y[N];
    static double P1[Q * K], P2[Q * K];
    make_data(N, D, K, 6, X, y);
    make_data(Q, D, K, 7, Xq, NULL);
    aml_model *m = fit_model(K, X, N, D, y, NULL, 1e-9, 2);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_writer w1, w2;
    aml_writer_init(&w1), aml_writer_init(&w2);
    assert_int_equal(vt->save(m, &hc, &w1), AML_OK);
    aml_reader r;
    aml_reader_init(&r, w1.buf, w1.len);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = K, .n_features = D};
    aml_model *back = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_OK);
    assert_int_equal(r.pos, r.len);
    assert_int_equal(vt->save(back, &hc, &w2), AML_OK);
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.buf, w2.buf, w1.len);
    predict(m, Xq, Q, D, P1, 2), predict(back, Xq, Q, D, P2, 2);
    assert_memory_equal(P1, P2, sizeof P1);

    /* truncated anywhere, garbage, a negative variance, another task: AML_ERR_FORMAT with a message */
    for (size_t cut = 0; cut < w1.len; cut++) {
        aml_reader_init(&r, w1.buf, cut);
        hc.msg[0] = 0;
        aml_model *x = NULL;
        assert_int_equal(vt->load(host, &hc, &r, &task, &x), AML_ERR_FORMAT);
        assert_null(x);
        assert_true(hc.msg[0] != 0);
    }
    unsigned char junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (unsigned char)(i * 37 + 1);
    aml_reader_init(&r, junk, sizeof junk);
    assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_ERR_FORMAT);
    assert_string_equal(hc.msg, "naive_bayes: not a model blob of this plugin (wrong magic number)");
    const double neg = -1;
    memcpy(w1.buf + w1.len - 8, &neg, 8); /* the last variance */
    aml_reader_init(&r, w1.buf, w1.len);
    aml_model *x = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &x), AML_ERR_FORMAT);
    assert_non_null(strstr(hc.msg, "corrupt"));
    aml_task other = {.kind = AML_TASK_CLASSIFICATION, .n_classes = K + 1, .n_features = D};
    aml_reader_init(&r, w2.buf, w2.len);
    assert_int_equal(vt->load(host, &hc, &r, &other, &x), AML_ERR_FORMAT);
    aml_writer_release(&w1), aml_writer_release(&w2);
    vt->free(m), vt->free(back);
}

static void test_bad_input(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 2};
    double num[1] = {-1};
    const char *str[1] = {NULL};
    aml_params p = {.num = num, .str = str};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, &p, &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "naive_bayes: var_smoothing = -1 must be a number in [0, 1]");
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_OK);
    float X[4] = {0, 1, INFINITY, 2};
    int32_t y[2] = {0, 1};
    aml_matrix mx = {.data = X, .rows = 2, .cols = 2, .ld = 2};
    aml_target t = {.label = y};
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "naive_bayes: row 1, feature 0 is infinite (NaN marks a missing value)");
    y[1] = 2;
    X[2] = 3;
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "naive_bayes: training row 1: class index 2 outside [0, 2)");
    double out[4];
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_ERR_INPUT);
    vt->free(m);
}

static double heldout_accuracy(const char *name, double bar)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/datasets/%s.csv", AML_SOURCE_DIR, name);
    if (access(path, R_OK) != 0)
        return -1;
    aml_ctx *c = aml_ctx_new();
    aml_dataset *ds = NULL;
    aml_csv_options opt = {0};
    assert_int_equal(aml_csv_read(c, path, &opt, &ds), AML_OK);
    aml_ctx_free(c);
    const int64_t n = ds->n_rows, d = ds->n_features;
    const int k = ds->n_classes;
    uint8_t *is_test = malloc((size_t)n);
    aml_split_holdout(n, ds->label, k, 0.25, 0, is_test);
    float *Xtr = malloc((size_t)n * d * sizeof *Xtr), *Xte = malloc((size_t)n * d * sizeof *Xte);
    int32_t *ytr = malloc((size_t)n * sizeof *ytr), *yte = malloc((size_t)n * sizeof *yte);
    int64_t ntr = 0, nte = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_test[i]) {
            memcpy(Xte + nte * d, ds->X + i * d, (size_t)d * sizeof(float));
            yte[nte++] = ds->label[i];
        } else {
            memcpy(Xtr + ntr * d, ds->X + i * d, (size_t)d * sizeof(float));
            ytr[ntr++] = ds->label[i];
        }
    }
    aml_model *m = fit_model(k, Xtr, ntr, d, ytr, NULL, 1e-9, 2);
    double *P = malloc((size_t)nte * k * sizeof *P);
    predict(m, Xte, nte, d, P, 2);
    int64_t correct = 0;
    for (int64_t i = 0; i < nte; i++) {
        int best = 0;
        for (int q = 1; q < k; q++)
            best = P[i * k + q] > P[i * k + best] ? q : best;
        correct += best == yte[i];
    }
    double acc = (double)correct / (double)nte;
    fprintf(stderr, "naive_bayes on %s: held-out accuracy %.4f (bar %.2f)\n", name, acc, bar);
    vt->free(m);
    free(is_test), free(Xtr), free(Xte), free(ytr), free(yte), free(P);
    aml_dataset_free(ds);
    return acc;
}

static void test_heldout_accuracy(void **state)
{
    double acc = heldout_accuracy("wine", 0.90);
    if (acc < 0)
        skip();
    assert_true(acc >= 0.90);
    assert_true(heldout_accuracy("breast_cancer", 0.90) >= 0.90);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_regression_refused),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_absent_class),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_save_load_exact),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_heldout_accuracy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
