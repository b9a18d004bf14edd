/* The knn model plugin, loaded as a .so through the registry: neighbours and votes against a
 * brute-force loop written here (euclidean and cosine), exact matches, distance weighting,
 * thread-count independence, exact save/load round trips (the metric included), corrupt blobs,
 * and held-out accuracy on digits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "host.h"
#include "plugin_loader.h"
#include "resample.h"

#define PLUGIN_PATH AML_PLUGIN_BUILD_DIR "/aml_model_knn.so"

#define assert_near(actual, expected, tol)                                                        \
    do {                                                                                          \
        double a_ = (actual), e_ = (expected);                                                    \
        if (!(fabs(a_ - e_) <= (tol))) {                                                          \
            print_error("%s = %.12g, expected %.12g (tolerance %g)\n", #actual, a_, e_, (double)(tol)); \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

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
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "knn");
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

typedef struct {
    double num[8];
    const char *str[8];
    aml_params p;
} param_set;

static const aml_params *params_metric(param_set *ps, int k, int distance, int cosine)
{
    assert_int_equal(desc->n_params, 3);
    ps->num[0] = k, ps->str[0] = NULL;
    ps->num[1] = distance, ps->str[1] = distance ? "distance" : "uniform";
    ps->num[2] = cosine, ps->str[2] = cosine ? "cosine" : "euclidean";
    ps->p.num = ps->num;
    ps->p.str = ps->str;
    return &ps->p;
}

static const aml_params *params_of(param_set *ps, int k, int distance) { return params_metric(ps, k, distance, 0); }

static aml_model *fit_model(int n_classes, const float *X, int64_t n, int64_t d, const int32_t *label,
                            const double *value, const float *w, const aml_params *p)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_task task = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                     .n_features = d, .seed = 1};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, p, &task, &m), AML_OK);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    aml_target t = {.label = label, .value = value, .weight = w};
    aml_status st = vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL);
    if (st != AML_OK)
        print_error("fit: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    return m;
}

static void predict_threads(const aml_model *m, const float *X, int64_t n, int64_t d, double *out, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    aml_status st = vt->predict(m, &hc, &mx, out);
    if (st != AML_OK)
        print_error("predict: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
}

static void predict(const aml_model *m, const float *X, int64_t n, int64_t d, double *out)
{
    predict_threads(m, X, n, d, out, 2);
}

/* Features on different scales and offsets, so standardisation matters. */
static void random_rows(int n, int d, unsigned seed, float *X)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            X[i * d + j] = (float)((aml_rng_uniform(&r) - 0.5) * (1 + 10 * (j % 3)) + 5 * j);
}

/* ---- the brute-force reference ------------------------------------------------------------ */

typedef struct {
    double mean[16], sd[16];
} scaler;

static void fit_scaler(const float *X, int n, int d, scaler *s)
{
    for (int j = 0; j < d; j++) {
        double sum = 0, ss = 0;
        int c = 0;
        for (int i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                sum += X[i * d + j], c++;
        s->mean[j] = sum / c;
        for (int i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                ss += (X[i * d + j] - s->mean[j]) * (X[i * d + j] - s->mean[j]);
        s->sd[j] = ss > 0 ? sqrt(ss / c) : 1;
    }
}

static double dist2(const scaler *s, const float *a, const float *b, int d)
{
    double t = 0;
    for (int j = 0; j < d; j++) {
        double u = isnan(a[j]) ? 0 : (a[j] - s->mean[j]) / s->sd[j];
        double v = isnan(b[j]) ? 0 : (b[j] - s->mean[j]) / s->sd[j];
        t += (u - v) * (u - v);
    }
    return t;
}

/* The k nearest training rows of q by a full scan (ties: lower index); returns 0 when the k-th
 * and (k+1)-th distances are too close to call at float32 precision. */
/* 1 - cos of the standardised rows; 1 when either has norm 0 (a row at the training mean). */
static double cos_dist(const scaler *s, const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; j++) {
        double u = isnan(a[j]) ? 0 : (a[j] - s->mean[j]) / s->sd[j];
        double v = isnan(b[j]) ? 0 : (b[j] - s->mean[j]) / s->sd[j];
        ab += u * v, aa += u * u, bb += v * v;
    }
    return aa > 0 && bb > 0 ? 1 - ab / sqrt(aa * bb) : 1.0;
}

static int use_cosine; /* brute_knn's metric */

static int brute_knn(const scaler *s, const float *X, int n, int d, const float *q, int k, int *idx, double *dd)
{
    double best[64];
    int bi[64], cap = k + 1 < n ? k + 1 : n;
    for (int a = 0; a < cap; a++)
        best[a] = HUGE_VAL, bi[a] = -1;
    for (int i = 0; i < n; i++) {
        double t = use_cosine ? cos_dist(s, q, X + i * d, d) : dist2(s, q, X + i * d, d);
        if (!(t < best[cap - 1]))
            continue;
        int p = cap - 1;
        while (p > 0 && best[p - 1] > t)
            best[p] = best[p - 1], bi[p] = bi[p - 1], p--;
        best[p] = t, bi[p] = i;
    }
    for (int a = 0; a < k && a < n; a++)
        idx[a] = bi[a], dd[a] = best[a];
    if (cap > k && best[k] - best[k - 1] < 1e-5 * (1 + best[k]))
        return 0;
    return 1;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "knn");
    assert_int_equal(desc->kind, AML_PLUGIN_MODEL);
    assert_string_equal(desc->params[0].name, "k");
    assert_int_equal(desc->params[0].type, AML_PARAM_INT);
    assert_true(desc->params[0].lo == 1 && desc->params[0].hi == 50 && desc->params[0].def == 5);
    assert_true(desc->params[0].log_scale);
    assert_string_equal(desc->params[1].name, "weights");
    assert_int_equal(desc->params[1].type, AML_PARAM_CHOICE);
    assert_int_equal(desc->params[1].n_choices, 2);
    assert_string_equal(desc->params[1].choices[0], "uniform");
    assert_string_equal(desc->params[1].choices[1], "distance");
    assert_true(desc->params[1].def == 0);
    assert_string_equal(desc->params[2].name, "metric");
    assert_int_equal(desc->params[2].type, AML_PARAM_CHOICE);
    assert_int_equal(desc->params[2].n_choices, 2);
    assert_string_equal(desc->params[2].choices[0], "euclidean");
    assert_string_equal(desc->params[2].choices[1], "cosine");
    assert_true(desc->params[2].def == 0);
}

/* Regression with y = row index: the prediction is the (weighted) mean of the neighbours'
 * indices, which the brute-force scan computes independently. 2500 training rows cross the
 * 512-row training tiles; 600 queries make several query blocks. */
static void check_regression_neighbours(int k, int distance)
{
    enum { N = 2500, Q = 600, D = 7 };
    static float X[N * D], Xq[Q * D];
    static double y[N], P[Q];
    random_rows(N, D, 1, X);
    random_rows(Q, D, 2, Xq);
    for (int i = 0; i < N; i++)
        y[i] = i;
    param_set ps;
    aml_model *m = fit_model(0, X, N, D, NULL, y, NULL, params_of(&ps, k, distance));
    predict(m, Xq, Q, D, P);
    scaler s;
    fit_scaler(X, N, D, &s);
    int checked = 0;
    for (int q = 0; q < Q; q++) {
        int idx[64];
        double dd[64], num = 0, den = 0;
        if (!brute_knn(&s, X, N, D, Xq + q * D, k, idx, dd))
            continue;
        for (int a = 0; a < k; a++) {
            double wt = distance ? 1.0 / sqrt(dd[a]) : 1.0;
            num += wt * idx[a], den += wt;
        }
        if (k == 1)
            assert_true(P[q] == idx[0]);
        else
            assert_near(P[q], num / den, 1e-4 * (1 + num / den));
        checked++;
    }
    assert_true(checked >= Q * 9 / 10);
    vt->free(m);
}

/* Cosine: the same neighbours and votes as a brute-force 1 - cos on the standardised rows, with a
 * training row and a query at the training mean (norm 0: distance 1 to everything, no NaN). */
static void check_cosine_neighbours(int k, int distance)
{
    enum { N = 2500, Q = 600, D = 7 };
    static float X[N * D], Xq[Q * D];
    static double y[N], P[Q];
    random_rows(N, D, 11, X);
    random_rows(Q, D, 12, Xq);
    for (int i = 0; i < N; i++)
        y[i] = i;
    for (int j = 0; j < D; j++)
        X[10 * D + j] = NAN, Xq[5 * D + j] = NAN; /* NaN cells standardise to 0 */
    param_set ps;
    aml_model *m = fit_model(0, X, N, D, NULL, y, NULL, params_metric(&ps, k, distance, 1));
    predict(m, Xq, Q, D, P);
    scaler s;
    fit_scaler(X, N, D, &s);
    use_cosine = 1;
    int checked = 0;
    for (int q = 0; q < Q; q++) {
        assert_true(isfinite(P[q]));
        int idx[64];
        double dd[64], num = 0, den = 0;
        if (!brute_knn(&s, X, N, D, Xq + q * D, k, idx, dd))
            continue;
        for (int a = 0; a < k; a++) {
            double wt = distance ? 1.0 / dd[a] : 1.0;
            num += wt * idx[a], den += wt;
        }
        if (k == 1)
            assert_true(P[q] == idx[0]);
        else
            assert_near(P[q], num / den, 1e-4 * (1 + num / den));
        checked++;
    }
    use_cosine = 0;
    assert_true(checked >= Q * 9 / 10);
    /* the query at the mean: every distance is 1, so the k lowest indices vote equally */
    double want = 0;
    for (int a = 0; a < k; a++)
        want += (double)a / k;
    assert_near(P[5], want, 1e-9);
    double row;
    assert_int_equal(vt->predict_row(m, Xq + 5 * D, &row), AML_OK);
    assert_true(row == P[5]);
    vt->free(m);
}

static void test_cosine_nearest_one(void **state) { check_cosine_neighbours(1, 0); }
static void test_cosine_nearest_seven_uniform(void **state) { check_cosine_neighbours(7, 0); }
static void test_cosine_nearest_seven_distance(void **state) { check_cosine_neighbours(7, 1); }

static void test_nearest_one(void **state) { check_regression_neighbours(1, 0); }
static void test_nearest_seven_uniform(void **state) { check_regression_neighbours(7, 0); }
static void test_nearest_seven_distance(void **state) { check_regression_neighbours(7, 1); }
static void test_nearest_fifty(void **state) { check_regression_neighbours(50, 1); }

/* Class probabilities are the vote shares of the brute-force neighbours and sum to 1. */
static void test_class_votes(void **state)
{
    enum { N = 1500, Q = 300, D = 5, C = 4, K = 9 };
    static float X[N * D], Xq[Q * D];
    static int32_t y[N];
    static double P[Q * C];
    random_rows(N, D, 3, X);
    random_rows(Q, D, 4, Xq);
    for (int i = 0; i < N; i++)
        y[i] = (X[i * D] > 0) + 2 * (X[i * D + 1] > 5.0f);
    param_set ps;
    aml_model *m = fit_model(C, X, N, D, y, NULL, NULL, params_of(&ps, K, 0));
    predict(m, Xq, Q, D, P);
    scaler s;
    fit_scaler(X, N, D, &s);
    for (int q = 0; q < Q; q++) {
        double sum = 0, votes[C] = {0};
        for (int c = 0; c < C; c++)
            sum += P[q * C + c];
        assert_near(sum, 1.0, 1e-12);
        int idx[64];
        double dd[64];
        if (!brute_knn(&s, X, N, D, Xq + q * D, K, idx, dd))
            continue;
        for (int a = 0; a < K; a++)
            votes[y[idx[a]]] += 1.0 / K;
        for (int c = 0; c < C; c++)
            assert_near(P[q * C + c], votes[c], 1e-12);
    }
    vt->free(m);
}

/* A query equal to a training row: with distance weights only the exact matches vote. */
static void test_exact_match(void **state)
{
    enum { N = 200, D = 4 };
    static float X[N * D];
    static double y[N];
    static int32_t lab[N];
    random_rows(N, D, 5, X);
    for (int i = 0; i < N; i++)
        y[i] = 3.0 * i + 1, lab[i] = i % 3;
    param_set ps;
    aml_model *m = fit_model(0, X, N, D, NULL, y, NULL, params_of(&ps, 5, 1));
    aml_model *c = fit_model(3, X, N, D, lab, NULL, NULL, params_of(&ps, 5, 1));
    for (int i = 0; i < N; i += 17) {
        double out[3];
        predict(m, X + i * D, 1, D, out);
        assert_true(out[0] == y[i]);
        assert_int_equal(vt->predict_row(m, X + i * D, out), AML_OK);
        assert_true(out[0] == y[i]);
        predict(c, X + i * D, 1, D, out);
        for (int k = 0; k < 3; k++)
            assert_true(out[k] == (k == lab[i] ? 1.0 : 0.0));
    }
    vt->free(m), vt->free(c);
}

/* predict_row, 1 thread and 2 threads all give the same bits as the batch path. */
static void test_paths_agree(void **state)
{
    enum { N = 3000, Q = 700, D = 9, C = 3 };
    static float X[N * D], Xq[Q * D];
    static int32_t y[N];
    static double P1[Q * C], P2[Q * C];
    random_rows(N, D, 6, X);
    random_rows(Q, D, 7, Xq);
    for (int i = 0; i < N; i++)
        y[i] = (int32_t)(i % C);
    Xq[3 * D + 2] = NAN; /* a missing cell on the way */
    for (int cosine = 0; cosine < 2; cosine++) {
        param_set ps;
        aml_model *m = fit_model(C, X, N, D, y, NULL, NULL, params_metric(&ps, 6, 1, cosine));
        predict_threads(m, Xq, Q, D, P1, 1);
        predict_threads(m, Xq, Q, D, P2, 2);
        assert_memory_equal(P1, P2, sizeof P1);
        for (int q = 0; q < Q; q++) {
            double row[C];
            assert_int_equal(vt->predict_row(m, Xq + q * D, row), AML_OK);
            assert_memory_equal(row, P1 + q * C, sizeof row);
        }
        vt->free(m);
    }
}

/* Rows wider than predict_row's stack buffer standardise on the fly and still agree. */
static void test_wide_rows(void **state)
{
    enum { N = 60, Q = 20, D = 1100 };
    static float X[N * D], Xq[Q * D];
    static double y[N], P[Q];
    for (int i = 0; i < N * D; i++)
        X[i] = (float)sin(0.37 * i + 0.001 * (i % 97));
    for (int i = 0; i < Q * D; i++)
        Xq[i] = (float)cos(0.91 * i);
    for (int i = 0; i < N; i++)
        y[i] = i;
    for (int cosine = 0; cosine < 2; cosine++) {
        param_set ps;
        aml_model *m = fit_model(0, X, N, D, NULL, y, NULL, params_metric(&ps, 3, 1, cosine));
        predict(m, Xq, Q, D, P);
        for (int q = 0; q < Q; q++) {
            double row;
            assert_int_equal(vt->predict_row(m, Xq + q * D, &row), AML_OK);
            assert_near(row, P[q], 1e-12 * (1 + fabs(P[q])));
        }
        vt->free(m);
    }
}

/* A NaN cell is the training mean, in the training rows and in queries. */
static void test_missing_values(void **state)
{
    enum { N = 300, D = 3 };
    static float X[N * D];
    static double y[N];
    random_rows(N, D, 8, X);
    for (int i = 0; i < N; i++)
        y[i] = i;
    X[10 * D + 1] = NAN;
    param_set ps;
    aml_model *m = fit_model(0, X, N, D, NULL, y, NULL, params_of(&ps, 1, 0));
    scaler s;
    fit_scaler(X, N, D, &s);
    /* the training row with the NaN sits at the mean on that axis */
    float q[D] = {X[10 * D], (float)s.mean[1], X[10 * D + 2]};
    double out;
    predict(m, q, 1, D, &out);
    assert_true(out == 10);
    float qn[D] = {X[20 * D], NAN, X[20 * D + 2]};
    double a, b;
    float qm[D] = {X[20 * D], (float)s.mean[1], X[20 * D + 2]};
    predict(m, qn, 1, D, &a);
    predict(m, qm, 1, D, &b);
    assert_true(a == b);
    vt->free(m);
}

static void test_k_larger_than_training_set(void **state)
{
    float X[3] = {0, 1, 10};
    double y[3] = {1, 2, 6}, out;
    param_set ps;
    aml_model *m = fit_model(0, X, 3, 1, NULL, y, NULL, params_of(&ps, 5, 0));
    float q = 0.4f;
    predict(m, &q, 1, 1, &out);
    assert_near(out, 3.0, 1e-12);
    vt->free(m);
}

static void test_sample_weights_scale_votes(void **state)
{
    float X[4] = {0, 1, 2, 3};
    int32_t y[4] = {0, 0, 1, 1};
    float w[4] = {1, 1, 6, 0};
    param_set ps;
    aml_model *m = fit_model(2, X, 4, 1, y, NULL, w, params_of(&ps, 3, 0));
    float q = 0.9f;
    double out[2];
    predict(m, &q, 1, 1, out); /* neighbours 1, 0, 2 with weights 1, 1, 6 */
    assert_near(out[1], 6.0 / 8.0, 1e-12);
    vt->free(m);
}

static aml_model *roundtrip(const aml_model *m, aml_writer *w, int n_classes, int64_t d)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_writer_init(w);
    assert_int_equal(vt->save(m, &hc, w), AML_OK);
    aml_reader r;
    aml_reader_init(&r, w->buf, w->len);
    aml_task task = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                     .n_features = d};
    aml_model *back = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_OK);
    assert_int_equal(r.pos, r.len);
    return back;
}

static void test_save_load_exact(void **state)
{
    enum { N = 1200, Q = 300, D = 6, C = 3 };
    static float X[N * D], Xq[Q * D], w[N];
    static int32_t y[N];
    static double v[N], P1[Q * C], P2[Q * C];
    random_rows(N, D, 9, X);
    random_rows(Q, D, 10, Xq);
    for (int i = 0; i < N; i++)
        y[i] = (X[i * D] > 0) + (X[i * D + 3] > 15.0f), v[i] = X[i * D] * 2 - X[i * D + 4], w[i] = 1 + i % 4;
    param_set ps;
    aml_model *m = fit_model(C, X, N, D, y, NULL, w, params_of(&ps, 8, 1));
    aml_writer wr, wr2;
    aml_model *back = roundtrip(m, &wr, C, D);
    predict(m, Xq, Q, D, P1);
    predict(back, Xq, Q, D, P2);
    assert_memory_equal(P1, P2, sizeof(double) * Q * C);
    aml_model *again = roundtrip(back, &wr2, C, D);
    assert_int_equal(wr.len, wr2.len);
    assert_memory_equal(wr.buf, wr2.buf, wr.len);
    aml_writer_release(&wr), aml_writer_release(&wr2);
    vt->free(m), vt->free(back), vt->free(again);

    m = fit_model(0, X, N, D, NULL, v, NULL, params_of(&ps, 4, 0));
    back = roundtrip(m, &wr, 0, D);
    predict(m, Xq, Q, D, P1);
    predict(back, Xq, Q, D, P2);
    assert_memory_equal(P1, P2, sizeof(double) * Q);
    for (int q = 0; q < Q; q++) {
        double a, b;
        vt->predict_row(m, Xq + q * D, &a);
        vt->predict_row(back, Xq + q * D, &b);
        assert_memory_equal(&a, &b, sizeof a);
    }
    aml_writer_release(&wr);
    vt->free(m), vt->free(back);
}

/* The metric survives save/load: a cosine model reloads bit for bit (and re-saves to the same
 * bytes), its neighbours differ from the euclidean model's, and a version 1 blob (no metric) loads
 * as euclidean. */
static void test_save_load_metric(void **state)
{
    enum { N = 800, Q = 200, D = 5 };
    static float X[N * D], Xq[Q * D];
    static double v[N], P1[Q], P2[Q], Pe[Q];
    random_rows(N, D, 13, X);
    random_rows(Q, D, 14, Xq);
    for (int i = 0; i < N; i++)
        v[i] = i;
    param_set ps;
    aml_model *cos_m = fit_model(0, X, N, D, NULL, v, NULL, params_metric(&ps, 3, 1, 1));
    aml_model *euc_m = fit_model(0, X, N, D, NULL, v, NULL, params_metric(&ps, 3, 1, 0));
    aml_writer w, w2;
    aml_model *back = roundtrip(cos_m, &w, 0, D);
    predict(cos_m, Xq, Q, D, P1);
    predict(back, Xq, Q, D, P2);
    predict(euc_m, Xq, Q, D, Pe);
    assert_memory_equal(P1, P2, sizeof P1);
    assert_true(memcmp(P1, Pe, sizeof P1) != 0);
    for (int q = 0; q < Q; q++) {
        double a, b;
        vt->predict_row(cos_m, Xq + q * D, &a);
        vt->predict_row(back, Xq + q * D, &b);
        assert_memory_equal(&a, &b, sizeof a);
    }
    aml_model *again = roundtrip(back, &w2, 0, D);
    assert_int_equal(w.len, w2.len);
    assert_memory_equal(w.buf, w2.buf, w.len);
    aml_writer_release(&w), aml_writer_release(&w2);
    vt->free(back), vt->free(again);

    /* version 1: the euclidean model's blob without the 8-byte metric block after the 48-byte header */
    aml_writer_init(&w);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    assert_int_equal(vt->save(euc_m, &hc, &w), AML_OK);
    assert_int_equal(w.buf[8], 2);
    unsigned char *v1 = malloc(w.len - 8);
    memcpy(v1, w.buf, 48);
    memcpy(v1 + 48, w.buf + 56, w.len - 56);
    v1[8] = 1;
    aml_reader r;
    aml_reader_init(&r, v1, w.len - 8);
    aml_task task = {.kind = AML_TASK_REGRESSION, .n_features = D};
    assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_OK);
    predict(back, Xq, Q, D, P2);
    assert_memory_equal(Pe, P2, sizeof Pe);
    vt->free(back), vt->free(cos_m), vt->free(euc_m);
    free(v1);
    aml_writer_release(&w);
}

static void test_garbage_blob_rejected(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 2};
    unsigned char junk[300];
    for (int i = 0; i < 300; i++)
        junk[i] = (unsigned char)(i * 91 + 7);
    aml_reader r;
    aml_reader_init(&r, junk, sizeof junk);
    aml_model *m = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
    assert_null(m);
    assert_string_equal(hc.msg, "knn: not a model blob of this plugin (wrong magic number)");

    float X[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t y[4] = {0, 1, 0, 1};
    param_set ps;
    aml_model *fitted = fit_model(2, X, 4, 2, y, NULL, NULL, params_of(&ps, 2, 0));
    aml_writer w;
    aml_writer_init(&w);
    assert_int_equal(vt->save(fitted, &hc, &w), AML_OK);
    for (size_t cut = 0; cut < w.len; cut++) {
        aml_reader_init(&r, w.buf, cut);
        hc.msg[0] = 0;
        assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
        assert_true(hc.msg[0] != 0);
    }
    /* a stored label out of range is corruption, not a crash later */
    w.buf[w.len - 4] = 9;
    aml_reader_init(&r, w.buf, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
    assert_non_null(strstr(hc.msg, "corrupt"));
    aml_writer_release(&w);
    vt->free(fitted);
}

static void test_bad_params_rejected(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 2};
    param_set ps;
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, params_of(&ps, 0, 0), &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "knn: k = 0 must be an integer in [1, 50]");
    assert_int_equal(vt->create(host, &hc, params_of(&ps, 3, 2), &task, &m), AML_ERR_INPUT);
    assert_null(m);
    assert_int_equal(vt->create(host, &hc, params_metric(&ps, 3, 0, 2), &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "knn: metric must be one of euclidean, cosine (got index 2)");
    assert_null(m);
}

static aml_dataset *load_csv(const char *name)
{
    char path[1024];
    const char *dir = getenv("AML_DATASETS_DIR");
    snprintf(path, sizeof path, "%s/%s.csv", dir ? dir : AML_SOURCE_DIR "/datasets", name);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s is not there yet: skipped\n", path);
        return NULL;
    }
    aml_ctx *c = aml_ctx_new();
    aml_dataset *ds = NULL;
    aml_csv_options opt = {0};
    aml_status st = aml_csv_read(c, path, &opt, &ds);
    if (st != AML_OK)
        print_error("%s\n", aml_errmsg(c));
    assert_int_equal(st, AML_OK);
    aml_ctx_free(c);
    return ds;
}

static void test_digits_accuracy(void **state)
{
    aml_dataset *ds = load_csv("digits");
    if (!ds)
        skip();
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
    param_set ps;
    aml_model *m = fit_model(k, Xtr, ntr, d, ytr, NULL, NULL, params_of(&ps, 5, 0));
    double *P = malloc((size_t)nte * k * sizeof *P);
    predict(m, Xte, nte, d, P);
    int64_t correct = 0;
    for (int64_t i = 0; i < nte; i++) {
        int best = 0;
        for (int q = 1; q < k; q++)
            best = P[i * k + q] > P[i * k + best] ? q : best;
        correct += best == yte[i];
    }
    double acc = (double)correct / (double)nte;
    fprintf(stderr, "knn on digits: held-out accuracy %.4f (bar 0.95)\n", acc);
    assert_true(acc >= 0.95);
    vt->free(m);
    free(is_test), free(Xtr), free(Xte), free(ytr), free(yte), free(P);
    aml_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_nearest_one),
        cmocka_unit_test(test_cosine_nearest_one),
        cmocka_unit_test(test_cosine_nearest_seven_uniform),
        cmocka_unit_test(test_cosine_nearest_seven_distance),
        cmocka_unit_test(test_nearest_seven_uniform),
        cmocka_unit_test(test_nearest_seven_distance),
        cmocka_unit_test(test_nearest_fifty),
        cmocka_unit_test(test_class_votes),
        cmocka_unit_test(test_exact_match),
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_wide_rows),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_k_larger_than_training_set),
        cmocka_unit_test(test_sample_weights_scale_votes),
        cmocka_unit_test(test_save_load_exact),
        cmocka_unit_test(test_save_load_metric),
        cmocka_unit_test(test_garbage_blob_rejected),
        cmocka_unit_test(test_bad_params_rejected),
        cmocka_unit_test(test_digits_accuracy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
