/* The discriminant model plugin (LDA / QDA), loaded as a .so through the registry: probabilities
 * against a direct computation written here (Cholesky solves on standardised, mean-imputed rows,
 * with weights and shrinkage), collinear features, thread-count independence, exact save/load
 * round trips, corrupt blobs, the regression refusal, and held-out accuracy on wine and digits. */
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

#define PLUGIN_PATH AML_PLUGIN_BUILD_DIR "/aml_model_discriminant.so"

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
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "discriminant");
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

enum { LDA = 0, QDA = 1 };

static aml_model *fit_model(int k, const float *X, int64_t n, int64_t d, const int32_t *y, const float *w, int kind,
                            double shrinkage, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    omp_set_num_threads(threads);
    double num[2] = {kind, shrinkage};
    const char *str[2] = {kind ? "qda" : "lda", NULL};
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

/* Correlated class-dependent Gaussian features on mixed scales. */
static void make_data(int n, int d, int k, unsigned seed, float *X, int32_t *y)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = (int)aml_rng_below(&r, (uint64_t)k);
        if (y)
            y[i] = c;
        double prev = 0;
        for (int j = 0; j < d; j++) {
            double u1 = aml_rng_uniform(&r) + 1e-12, u2 = aml_rng_uniform(&r);
            double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
            double v = g * (1 + 0.4 * c * (j % 2)) + 0.6 * prev + 0.9 * c * ((j + c) % 3 == 0);
            prev = v;
            X[i * d + j] = (float)(50 * (j == 1) + (1 + j % 4) * v);
        }
    }
}

/* ---- the direct computation, in standardised units ----------------------------------------- */

enum { RD = 6, RK = 3 };

/* Cholesky factor in place (lower); returns log det. */
static double cholesky(double *A, int d)
{
    double logdet = 0;
    for (int j = 0; j < d; j++) {
        double s = A[j * d + j];
        for (int t = 0; t < j; t++)
            s -= A[j * d + t] * A[j * d + t];
        assert_true(s > 0);
        A[j * d + j] = sqrt(s);
        logdet += 2 * log(A[j * d + j]);
        for (int i = j + 1; i < d; i++) {
            double v = A[i * d + j];
            for (int t = 0; t < j; t++)
                v -= A[i * d + t] * A[j * d + t];
            A[i * d + j] = v / A[j * d + j];
        }
    }
    return logdet;
}

/* x^T A^-1 x from the Cholesky factor L: ||L^-1 x||^2. */
static double mahalanobis(const double *L, int d, const double *x)
{
    double z[RD], s = 0;
    for (int i = 0; i < d; i++) {
        double v = x[i];
        for (int t = 0; t < i; t++)
            v -= L[i * d + t] * z[t];
        z[i] = v / L[i * d + i];
        s += z[i] * z[i];
    }
    return s;
}

static void reference(const float *X, int n, const int32_t *y, const float *w, int kind, double shrink,
                      const float *q, double *out)
{
    const int d = RD, k = RK;
    double mean[RD], sd[RD], wt = 0;
    for (int j = 0; j < d; j++) {
        double sw = 0, s1 = 0, s2 = 0;
        for (int i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                sw += w ? w[i] : 1, s1 += (w ? (double)w[i] : 1.0) * X[i * d + j];
        mean[j] = s1 / sw;
        for (int i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                s2 += (w ? (double)w[i] : 1.0) * (X[i * d + j] - mean[j]) * (X[i * d + j] - mean[j]);
        sd[j] = sqrt(s2 / sw);
    }
#define Z(i, j) (isnan(X[(i) * d + (j)]) ? 0.0 : (X[(i) * d + (j)] - mean[j]) / sd[j])
    double mu[RK][RD] = {{0}}, wc[RK] = {0}, S[RK][RD * RD] = {{0}};
    for (int i = 0; i < n; i++) {
        const double wi = w ? w[i] : 1;
        wc[y[i]] += wi, wt += wi;
        for (int j = 0; j < d; j++)
            mu[y[i]][j] += wi * Z(i, j);
    }
    for (int c = 0; c < k; c++)
        for (int j = 0; j < d; j++)
            mu[c][j] /= wc[c];
    for (int i = 0; i < n; i++) {
        const double wi = w ? w[i] : 1;
        double *Sc = S[kind == QDA ? y[i] : 0];
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++)
                Sc[a * d + b] += wi * (Z(i, a) - mu[y[i]][a]) * (Z(i, b) - mu[y[i]][b]);
    }
#undef Z
    double zq[RD];
    for (int j = 0; j < d; j++)
        zq[j] = isnan(q[j]) ? 0 : (q[j] - mean[j]) / sd[j];
    for (int c = 0; c < k; c++) {
        double *Sc = S[kind == QDA ? c : 0], A[RD * RD], tr = 0, diff[RD];
        const double denom = kind == QDA ? wc[c] : wt;
        for (int t = 0; t < d * d; t++)
            A[t] = Sc[t] / denom;
        for (int j = 0; j < d; j++)
            tr += A[j * d + j];
        for (int t = 0; t < d * d; t++)
            A[t] *= 1 - shrink;
        for (int j = 0; j < d; j++)
            A[j * d + j] += shrink * tr / d;
        double logdet = cholesky(A, d);
        for (int j = 0; j < d; j++)
            diff[j] = zq[j] - mu[c][j];
        out[c] = log(wc[c] / wt) - 0.5 * mahalanobis(A, d, diff) - (kind == QDA ? 0.5 * logdet : 0);
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
    assert_string_equal(desc->name, "discriminant");
    assert_int_equal(desc->n_params, 2);
    assert_string_equal(desc->params[0].name, "kind");
    assert_int_equal(desc->params[0].type, AML_PARAM_CHOICE);
    assert_string_equal(desc->params[0].choices[0], "lda");
    assert_string_equal(desc->params[0].choices[1], "qda");
    assert_true(desc->params[0].def == 0);
    assert_string_equal(desc->params[1].name, "shrinkage");
    assert_true(desc->params[1].lo == 0 && desc->params[1].hi == 1 && desc->params[1].def == 0);
}

static void test_regression_refused(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_REGRESSION, .n_features = 3};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_ERR_INPUT);
    assert_null(m);
    assert_string_equal(hc.msg, "discriminant: classification only; the task is regression");
}

/* LDA and QDA, with and without shrinkage and weights, NaN cells in training rows and queries:
 * probabilities equal the direct computation; the single-row path agrees. */
static void test_matches_reference(void **state)
{
    enum { N = 900, Q = 200 };
    static float X[N * RD], Xq[Q * RD], w[N];
    static int32_t y[N];
    static double P[Q * RK];
    make_data(N, RD, RK, 1, X, y);
    make_data(Q, RD, RK, 2, Xq, NULL);
    for (int i = 0; i < N; i++)
        w[i] = 0.25f + (float)(i % 4);
    for (int i = 0; i < N; i += 13)
        X[i * RD + (i % RD)] = NAN;
    for (int i = 0; i < Q; i += 9)
        Xq[i * RD + (i % RD)] = NAN;
    for (int kind = LDA; kind <= QDA; kind++)
        for (int variant = 0; variant < 3; variant++) {
            const double shrink = variant == 1 ? 0.3 : variant == 2 ? 1.0 : 0;
            const float *wt = variant == 1 ? w : NULL;
            aml_model *m = fit_model(RK, X, N, RD, y, wt, kind, shrink, 2);
            predict(m, Xq, Q, RD, P, 2);
            for (int q = 0; q < Q; q++) {
                double ref[RK], row[RK];
                reference(X, N, y, wt, kind, shrink, Xq + q * RD, ref);
                assert_int_equal(vt->predict_row(m, Xq + q * RD, row), AML_OK);
                for (int c = 0; c < RK; c++) {
                    if (!(fabs(P[q * RK + c] - ref[c]) <= 1e-8)) {
                        print_error("%s shrinkage %g, row %d class %d: %.15g, reference %.15g\n",
                                    kind ? "qda" : "lda", shrink, q, c, P[q * RK + c], ref[c]);
                        fail();
                    }
                    assert_true(fabs(row[c] - P[q * RK + c]) <= 1e-10);
                }
            }
            vt->free(m);
        }
}

/* A duplicated and a constant column make the pooled covariance singular: LDA uses its
 * pseudo-inverse and gives the same probabilities as without the redundant columns. */
static void test_collinear_features(void **state)
{
    enum { N = 600, Q = 100, D = 4, D2 = 6, K = 3 };
    static float X[N * D], X2[N * D2], Xq[Q * D], Xq2[Q * D2];
    static int32_t y[N];
    static double P[Q * K], P2[Q * K];
    make_data(N, D, K, 3, X, y);
    make_data(Q, D, K, 4, Xq, NULL);
    for (int pass = 0; pass < 2; pass++) {
        const float *src = pass ? Xq : X;
        float *dst = pass ? Xq2 : X2;
        for (int i = 0; i < (pass ? Q : N); i++) {
            memcpy(dst + i * D2, src + i * D, D * sizeof(float));
            dst[i * D2 + D] = src[i * D + 2]; /* a copy of column 2 */
            dst[i * D2 + D + 1] = 7.0f;       /* a constant */
        }
    }
    aml_model *a = fit_model(K, X, N, D, y, NULL, LDA, 0, 2), *b = fit_model(K, X2, N, D2, y, NULL, LDA, 0, 2);
    predict(a, Xq, Q, D, P, 2);
    predict(b, Xq2, Q, D2, P2, 2);
    for (int t = 0; t < Q * K; t++)
        assert_true(fabs(P[t] - P2[t]) < 1e-6);
    vt->free(a), vt->free(b);
    /* QDA on the singular covariances still predicts finite probabilities */
    aml_model *q = fit_model(K, X2, N, D2, y, NULL, QDA, 0, 2);
    predict(q, Xq2, Q, D2, P2, 2);
    for (int t = 0; t < Q * K; t++)
        assert_true(P2[t] >= 0 && P2[t] <= 1);
    vt->free(q);
}

static void test_threads_agree(void **state)
{
    enum { N = 3000, Q = 1500, D = 160, K = 4 }; /* wide enough for OpenBLAS to thread a product */
    static float X[N * D], Xq[Q * D];
    static int32_t y[N];
    static double P1[Q * K], P2[Q * K];
    make_data(N, D, K, 5, X, y);
    make_data(Q, D, K, 6, Xq, NULL);
    for (int kind = LDA; kind <= QDA; kind++) {
        aml_model *a = fit_model(K, X, N, D, y, NULL, kind, 0.1, 1), *b = fit_model(K, X, N, D, y, NULL, kind, 0.1, 2);
        predict(a, Xq, Q, D, P1, 1);
        predict(b, Xq, Q, D, P2, 2);
        assert_memory_equal(P1, P2, sizeof P1);
        vt->free(a), vt->free(b);
    }
}

static void test_save_load_exact(void **state)
{
    enum { N = 500, Q = 200 };
    static float X[N * RD], Xq[Q * RD];
    static int32_t y[N];
    static double P1[Q * RK], P2[Q * RK];
    make_data(N, RD, RK, 7, X, y);
    make_data(Q, RD, RK, 8, Xq, NULL);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = RK, .n_features = RD};
    for (int kind = LDA; kind <= QDA; kind++) {
        aml_model *m = fit_model(RK, X, N, RD, y, NULL, kind, 0.2, 2);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        aml_writer w1, w2;
        aml_writer_init(&w1), aml_writer_init(&w2);
        assert_int_equal(vt->save(m, &hc, &w1), AML_OK);
        aml_reader r;
        aml_reader_init(&r, w1.buf, w1.len);
        aml_model *back = NULL;
        assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_OK);
        assert_int_equal(r.pos, r.len);
        assert_int_equal(vt->save(back, &hc, &w2), AML_OK);
        assert_int_equal(w1.len, w2.len);
        assert_memory_equal(w1.buf, w2.buf, w1.len);
        predict(m, Xq, Q, RD, P1, 2), predict(back, Xq, Q, RD, P2, 2);
        assert_memory_equal(P1, P2, sizeof P1);
        for (size_t cut = 0; cut < w1.len; cut += 3) {
            aml_reader_init(&r, w1.buf, cut);
            hc.msg[0] = 0;
            aml_model *x = NULL;
            assert_int_equal(vt->load(host, &hc, &r, &task, &x), AML_ERR_FORMAT);
            assert_null(x);
            assert_true(hc.msg[0] != 0);
        }
        const double nan = NAN;
        memcpy(w1.buf + w1.len - 8 * (RK + 1), &nan, 8); /* a coefficient */
        aml_reader_init(&r, w1.buf, w1.len);
        aml_model *x = NULL;
        assert_int_equal(vt->load(host, &hc, &r, &task, &x), AML_ERR_FORMAT);
        assert_non_null(strstr(hc.msg, "corrupt"));
        aml_writer_release(&w1), aml_writer_release(&w2);
        vt->free(m), vt->free(back);
    }
    unsigned char junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (unsigned char)(i * 53 + 3);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_reader r;
    aml_reader_init(&r, junk, sizeof junk);
    aml_model *x = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &x), AML_ERR_FORMAT);
    assert_string_equal(hc.msg, "discriminant: not a model blob of this plugin (wrong magic number)");
}

/* Frees blocks of many sizes filled with pattern, so the next mallocs reuse dirty memory. */
static void dirty_heap(unsigned char pattern)
{
    void *blocks[512];
    for (int i = 0; i < 512; i++) {
        blocks[i] = malloc((size_t)(16 + 8 * i));
        memset(blocks[i], pattern, (size_t)(16 + 8 * i));
    }
    for (int i = 0; i < 512; i++)
        free(blocks[i]);
}

/* Every byte save writes comes from the fit, whatever the heap held before: LDA leaves the
 * QDA-only block unused, and it once went out as garbage that load then refused. */
static void test_blob_independent_of_heap(void **state)
{
    (void)state;
    enum { N = 300 };
    static float X[N * RD];
    static int32_t y[N];
    make_data(N, RD, RK, 5, X, y);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = RK, .n_features = RD};
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    for (int kind = LDA; kind <= QDA; kind++) {
        aml_writer w[2];
        for (int t = 0; t < 2; t++) {
            dirty_heap(t ? 0xff : 0x00);
            aml_model *m = fit_model(RK, X, N, RD, y, NULL, kind, 0.1, 1);
            aml_writer_init(&w[t]);
            assert_int_equal(vt->save(m, &hc, &w[t]), AML_OK);
            vt->free(m);
        }
        assert_int_equal(w[0].len, w[1].len);
        assert_memory_equal(w[0].buf, w[1].buf, w[0].len);
        aml_reader r;
        aml_reader_init(&r, w[1].buf, w[1].len);
        aml_model *back = NULL;
        assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_OK);
        vt->free(back);
        aml_writer_release(&w[0]), aml_writer_release(&w[1]);
    }
}

static void test_bad_input(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 2};
    double num[2] = {0, 1.5};
    const char *str[2] = {"lda", NULL};
    aml_params p = {.num = num, .str = str};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, &p, &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "discriminant: shrinkage = 1.5 must be a number in [0, 1]");
    num[0] = 2, num[1] = 0;
    assert_int_equal(vt->create(host, &hc, &p, &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "discriminant: kind must be one of lda, qda (got index 2)");
    assert_null(m);
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_OK);
    float X[4] = {0, 1, 2, -INFINITY};
    int32_t y[2] = {0, 1};
    aml_matrix mx = {.data = X, .rows = 2, .cols = 2, .ld = 2};
    aml_target t = {.label = y};
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "discriminant: row 1, feature 1 is infinite (NaN marks a missing value)");
    double out[4];
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_ERR_INPUT);
    vt->free(m);
}

static double heldout_accuracy(const char *name, int kind, double shrinkage)
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
    aml_model *m = fit_model(k, Xtr, ntr, d, ytr, NULL, kind, shrinkage, 2);
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
    fprintf(stderr, "discriminant %s (shrinkage %g) on %s: held-out accuracy %.4f\n", kind ? "qda" : "lda",
            shrinkage, name, acc);
    vt->free(m);
    free(is_test), free(Xtr), free(Xte), free(ytr), free(yte), free(P);
    aml_dataset_free(ds);
    return acc;
}

static void test_heldout_accuracy(void **state)
{
    double acc = heldout_accuracy("wine", LDA, 0);
    if (acc < 0)
        skip();
    assert_true(acc >= 0.95);                                  /* the bar */
    assert_true(heldout_accuracy("wine", QDA, 0) >= 0.90);
    assert_true(heldout_accuracy("digits", LDA, 0) >= 0.90);   /* 64 pixels, several always 0: pseudo-inverse */
    assert_true(heldout_accuracy("digits", QDA, 0.1) >= 0.90); /* QDA needs shrinkage there */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_regression_refused),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_collinear_features),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_save_load_exact),
        cmocka_unit_test(test_blob_independent_of_heap),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_heldout_accuracy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
