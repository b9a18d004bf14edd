/* The gbdt model plugin. Its binning, bin cache and split finder are compiled into this test
 * from the plugin's sources and checked against brute force; the plugin itself is loaded as a
 * .so through the registry for everything a user sees: known splits, missing-value directions,
 * exact save/load, resumed fits equal to one fit, early stopping at the best round, thread-count
 * independence, bad input, and held-out accuracy on shipped datasets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "host.h"
#include "plugin_loader.h"
#include "resample.h"

#include "../../plugins/models/gbdt/gbdt_bin.c"
#include "../../plugins/models/gbdt/gbdt_hist.c"

#define PLUGIN_PATH AML_PLUGIN_BUILD_DIR "/aml_model_gbdt.so"

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
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "gbdt");
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

/* ---- parameters ---------------------------------------------------------------------------- */

typedef struct {
    double num[GB_N_PARAMS];
    const char *str[GB_N_PARAMS];
    aml_params p;
} param_set;

static int param_index(const char *name)
{
    for (int i = 0; i < desc->n_params; i++)
        if (!strcmp(desc->params[i].name, name))
            return i;
    fail_msg("no parameter %s", name);
    return -1;
}

/* Defaults, then "name", value pairs until NULL. */
static const aml_params *params_with(param_set *ps, ...)
{
    assert_int_equal(desc->n_params, GB_N_PARAMS);
    for (int i = 0; i < desc->n_params; i++) {
        ps->num[i] = desc->params[i].def;
        ps->str[i] = desc->params[i].type == AML_PARAM_CHOICE ? desc->params[i].choices[(int)desc->params[i].def]
                                                              : NULL;
    }
    va_list ap;
    va_start(ap, ps);
    for (const char *name; (name = va_arg(ap, const char *));) {
        int i = param_index(name);
        ps->num[i] = va_arg(ap, double);
        if (desc->params[i].type == AML_PARAM_CHOICE)
            ps->str[i] = desc->params[i].choices[(int)ps->num[i]];
    }
    va_end(ap);
    ps->p.num = ps->num, ps->p.str = ps->str;
    return &ps->p;
}

typedef struct {
    const float *X;
    int64_t n, d;
    const int32_t *label;
    const double *value;
    const float *w;
} table;

static aml_model *create(int n_classes, int64_t d, const aml_params *p, uint64_t seed)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_task task = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                     .n_features = d, .seed = seed};
    aml_model *m = NULL;
    aml_status st = vt->create(host, &hc, p, &task, &m);
    if (st != AML_OK)
        print_error("create: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    return m;
}

static void fit_to(aml_model *m, const table *tr, const table *va, double resource, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    aml_matrix X = {.data = tr->X, .rows = tr->n, .cols = tr->d, .ld = tr->d};
    aml_target y = {.label = tr->label, .value = tr->value, .weight = tr->w};
    aml_matrix vX = {0};
    aml_target vy = {0};
    if (va) {
        vX = (aml_matrix){.data = va->X, .rows = va->n, .cols = va->d, .ld = va->d};
        vy = (aml_target){.label = va->label, .value = va->value, .weight = va->w};
    }
    aml_fit_budget b = {.size = sizeof b, .resource = resource};
    aml_status st = vt->fit(m, &hc, &X, &y, va ? &vX : NULL, va ? &vy : NULL, &b);
    if (st != AML_OK)
        print_error("fit: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
}

static aml_model *fit_new(int n_classes, const table *tr, const table *va, const aml_params *p, int threads)
{
    aml_model *m = create(n_classes, tr->d, p, 7);
    fit_to(m, tr, va, 1.0, threads);
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

static void save_blob(const aml_model *m, aml_writer *w)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_writer_init(w);
    assert_int_equal(vt->save(m, &hc, w), AML_OK);
}

/* Trees in a saved blob (header: magic, version, kind, classes, K, objective, reserved, d, trees). */
static int64_t blob_trees(const aml_writer *w)
{
    int64_t t;
    memcpy(&t, w->buf + 40, sizeof t);
    return t;
}

static void random_matrix(float *X, int64_t n, int64_t d, unsigned seed)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    for (int64_t i = 0; i < n * d; i++)
        X[i] = (float)(aml_rng_uniform(&r) * 2 - 1);
}

/* ---- binning ------------------------------------------------------------------------------- */

static void check_bin_consistency(const float *cuts, int nc, const float *vals, int64_t n)
{
    for (int a = 1; a < nc; a++)
        assert_true(cuts[a - 1] < cuts[a]);
    for (int64_t i = 0; i < n; i++) {
        uint8_t b = gb_bin_value(cuts, nc, vals[i]);
        if (isnan(vals[i])) {
            assert_int_equal(b, GB_MISSING_BIN);
            continue;
        }
        assert_true(b >= 1 && b <= nc + 1);
        for (int t = 1; t <= nc; t++) /* "bin <= t" is exactly "value <= cut[t - 1]" */
            assert_int_equal(b <= t, vals[i] <= cuts[t - 1]);
    }
}

static void test_binning(void **state)
{
    enum { N = 5000 };
    static float v[N], cuts[GB_MAX_BINS];
    static uint32_t work[2 * N];
    /* fewer distinct values than bins: one bin each, cuts between neighbours; NaNs ignored */
    for (int i = 0; i < N; i++)
        v[i] = i % 7 == 3 ? NAN : (float)((i * 13) % 10) * 0.5f;
    int nc = gb_bin_cuts(v, N, 255, work, cuts);
    assert_int_equal(nc, 9);
    check_bin_consistency(cuts, nc, v, N);
    for (int i = 0; i < N; i++)
        if (!isnan(v[i]))
            assert_int_equal(gb_bin_value(cuts, nc, v[i]), 1 + (int)(v[i] * 2));
    /* constant feature: no cut, every value in bin 1 */
    for (int i = 0; i < N; i++)
        v[i] = 3.25f;
    assert_int_equal(gb_bin_cuts(v, N, 255, work, cuts), 0);
    assert_int_equal(gb_bin_value(cuts, 0, 3.25f), 1);
    assert_int_equal(gb_bin_value(cuts, 0, NAN), GB_MISSING_BIN);
    /* all missing */
    for (int i = 0; i < N; i++)
        v[i] = NAN;
    assert_int_equal(gb_bin_cuts(v, N, 255, work, cuts), 0);
    /* many distinct values: at most max_bins bins of roughly equal size */
    aml_rng r;
    aml_rng_seed(&r, 3);
    for (int i = 0; i < N; i++)
        v[i] = (float)exp(4 * aml_rng_uniform(&r));
    nc = gb_bin_cuts(v, N, 32, work, cuts);
    assert_true(nc >= 28 && nc <= 31);
    check_bin_consistency(cuts, nc, v, N);
    int count[32] = {0};
    for (int i = 0; i < N; i++)
        count[gb_bin_value(cuts, nc, v[i]) - 1]++;
    for (int b = 0; b <= nc; b++)
        assert_true(count[b] >= N / 32 / 2 && count[b] <= 2 * N / 32 + 2);
    /* heavy ties: a value holding half the rows gets a bin to itself */
    for (int i = 0; i < N; i++)
        v[i] = i % 2 ? 1.0f : (float)aml_rng_uniform(&r) * 3;
    nc = gb_bin_cuts(v, N, 16, work, cuts);
    check_bin_consistency(cuts, nc, v, N);
    int ones = 0;
    uint8_t b1 = gb_bin_value(cuts, nc, 1.0f);
    for (int i = 0; i < N; i++)
        ones += gb_bin_value(cuts, nc, v[i]) == b1;
    assert_true(ones >= N / 2 && ones < N / 2 + N / 16);
    /* adjacent floats still separate */
    v[0] = 1.0f, v[1] = nextafterf(1.0f, 2.0f), v[2] = NAN;
    nc = gb_bin_cuts(v, 3, 255, work, cuts);
    assert_int_equal(nc, 1);
    check_bin_consistency(cuts, nc, v, 3);
}

/* The binned matrix: NaN cells in bin 0 with has_missing set, constant columns not usable, the
 * same bins whatever the thread count. */
static void test_binned_matrix(void **state)
{
    enum { N = 3000, D = 4 };
    static float X[N * D];
    random_matrix(X, N, D, 11);
    for (int i = 0; i < N; i++) {
        X[i * D + 1] = 2.0f;                  /* constant */
        if (i % 10 == 0)
            X[i * D + 2] = NAN;               /* 10 % missing */
        X[i * D + 3] = (float)(i % 3);        /* three levels */
    }
    aml_matrix mx = {.data = X, .rows = N, .cols = D, .ld = D};
    gb_binned a = {0}, b = {0};
    assert_int_equal(gb_binned_build(&mx, 255, 1, &a), AML_OK);
    assert_int_equal(gb_binned_build(&mx, 255, 2, &b), AML_OK);
    assert_memory_equal(a.bins, b.bins, N * D);
    assert_int_equal(a.n_value_bins[1], 1);
    assert_int_equal(a.n_value_bins[3], 3);
    assert_true(a.has_missing[2] && !a.has_missing[0]);
    assert_int_equal(a.n_usable, 3);
    assert_int_equal(a.usable[0], 0), assert_int_equal(a.usable[1], 2), assert_int_equal(a.usable[2], 3);
    for (int i = 0; i < N; i++)
        assert_int_equal(a.bins[i * D + 2] == GB_MISSING_BIN, i % 10 == 0);
    gb_binned_release(&a), gb_binned_release(&b);
}

/* The cache hands the same binned matrix to the same view, a new one to changed contents, and
 * keeps at most CACHE_MAX_ENTRIES unreferenced entries. */
static void test_bin_cache(void **state)
{
    enum { N = 500, D = 3, VIEWS = 12 };
    static float X[VIEWS][N * D];
    const gb_binned *held[VIEWS];
    for (int v = 0; v < VIEWS; v++)
        random_matrix(X[v], N, D, 100 + v);
    aml_matrix m0 = {.data = X[0], .rows = N, .cols = D, .ld = D};
    const gb_binned *a, *b, *c2;
    assert_int_equal(gb_cache_acquire(&m0, gb_matrix_hash(&m0, 2), 255, 2, &a), AML_OK);
    assert_int_equal(gb_cache_acquire(&m0, gb_matrix_hash(&m0, 1), 255, 1, &b), AML_OK);
    assert_ptr_equal(a, b);
    aml_matrix rows_view = {.data = X[0], .rows = N - 1, .cols = D, .ld = D};
    assert_int_equal(gb_cache_acquire(&rows_view, gb_matrix_hash(&rows_view, 1), 255, 1, &c2), AML_OK);
    assert_ptr_not_equal(a, c2);
    gb_cache_release(c2);
    uint64_t h0 = gb_matrix_hash(&m0, 2);
    X[0][5] += 1.0f; /* same pointer and shape, new contents */
    assert_true(gb_matrix_hash(&m0, 2) != h0);
    assert_int_equal(gb_cache_acquire(&m0, gb_matrix_hash(&m0, 2), 255, 2, &c2), AML_OK);
    assert_ptr_not_equal(a, c2);
    gb_cache_release(c2), gb_cache_release(a), gb_cache_release(b);
    for (int v = 0; v < VIEWS; v++) {
        aml_matrix mv = {.data = X[v], .rows = N, .cols = D, .ld = D};
        assert_int_equal(gb_cache_acquire(&mv, gb_matrix_hash(&mv, 1), 64, 1, &held[v]), AML_OK);
    }
    assert_int_equal(gb_cache_entries(), VIEWS); /* in use: kept beyond the bound, idle ones dropped */
    for (int v = 0; v < VIEWS; v++)
        gb_cache_release(held[v]);
    assert_int_equal(gb_cache_entries(), CACHE_MAX_ENTRIES);
}

/* ---- split finding against brute force ------------------------------------------------------ */

static void test_split_brute_force(void **state)
{
    enum { N = 20000, D = 5 };
    static float X[N * D];
    static int32_t gq[2 * N], rows[N];
    static gb_stat hist1[D * GB_STRIDE], hist2[D * GB_STRIDE], scratch[4 * D * GB_STRIDE];
    aml_rng r;
    for (int trial = 0; trial < 4; trial++) {
        aml_rng_seed(&r, 40 + trial);
        random_matrix(X, N, D, 50 + trial);
        for (int i = 0; i < N; i++) {
            X[i * D + 1] = floorf(X[i * D + 1] * 4);       /* few levels */
            if (aml_rng_uniform(&r) < 0.15)
                X[i * D + 2] = NAN;                        /* missing, informative below */
            float x0 = X[i * D], x2 = X[i * D + 2];
            double g = (x0 > 0.2f ? -1.0 : 0.5) + (isnan(x2) ? 0.8 * (trial - 1.5) : 0) + 0.3 * aml_rng_uniform(&r);
            gq[2 * i] = (int32_t)lrint(g * 1e6);
            gq[2 * i + 1] = (int32_t)lrint((0.5 + aml_rng_uniform(&r)) * 1e6);
            rows[i] = i;
        }
        aml_matrix mx = {.data = X, .rows = N, .cols = D, .ld = D};
        gb_binned B = {0};
        assert_int_equal(gb_binned_build(&mx, 64, 2, &B), AML_OK);
        /* a subset of rows, every other feature position */
        int64_t m = 0;
        for (int i = 0; i < N; i++)
            if (i % 3 != 1)
                rows[m++] = i;
        const int cb = 15; /* 20 000 rows < 2^15 */
        int32_t off[D + 1] = {0};
        for (int k = 0; k < B.n_usable; k++)
            off[k + 1] = off[k] + B.n_value_bins[B.usable[k]] + 1;
        const gb_layout lay = {.feats = B.usable, .nf = B.n_usable, .all = B.n_usable == D, .off = off};
        gb_hist_build(&B, rows, m, gq, cb, &lay, hist1, scratch, 1);
        gb_hist_build(&B, rows, m, gq, cb, &lay, hist2, scratch, 3);
        assert_memory_equal(hist1, hist2, sizeof(gb_stat) * off[B.n_usable]);
        gb_stat tot = {0, 0};
        for (int64_t i = 0; i < m; i++)
            tot.g += gq[2 * rows[i]], tot.hn += ((int64_t)gq[2 * rows[i] + 1] << cb) + 1;
        gb_split_params sp = {.l2 = 1.0, .min_gain = 0, .min_hess = 1e-3, .inv_sg = 1e-6, .inv_sh = 1e-6,
                              .min_leaf = 20 + 100 * trial, .count_bits = cb};
        gb_split best, best2;
        gb_split_find(&B, hist1, &lay, tot, &sp, 1, &best);
        gb_split_find(&B, hist1, &lay, tot, &sp, 2, &best2);
        assert_memory_equal(&best, &best2, sizeof best);
        /* brute force: every feature, threshold and missing direction, straight from the rows */
        double bg = 0;
        int bf = -1, bb = 0, bdl = 0;
        double parent = gb_leaf_score(tot, &sp);
        for (int k = 0; k < B.n_usable; k++) {
            int f = B.usable[k], nv = B.n_value_bins[f];
            for (int t = 1; t <= nv; t++)
                for (int dl = 0; dl < 2; dl++) {
                    int64_t Lg = 0, Lh = 0, Ln = 0;
                    for (int64_t i = 0; i < m; i++) {
                        float v = X[rows[i] * D + f];
                        int left = isnan(v) ? dl : (t == nv || v <= B.cuts[B.cut_off[f] + t - 1]);
                        if (left)
                            Lg += gq[2 * rows[i]], Lh += gq[2 * rows[i] + 1], Ln++;
                    }
                    if (Ln < sp.min_leaf || m - Ln < sp.min_leaf)
                        continue;
                    gb_stat L = {Lg, (Lh << cb) + Ln}, R = {tot.g - L.g, tot.hn - L.hn};
                    double gain = gb_leaf_score(L, &sp) + gb_leaf_score(R, &sp) - parent;
                    if (gain > bg + 1e-9 * fabs(bg))
                        bg = gain, bf = f, bb = t, bdl = dl;
                }
        }
        assert_true(bf >= 0);
        assert_int_equal(best.feature, bf);
        assert_true(fabs(best.gain - bg) <= 1e-9 * bg);
        assert_int_equal(best.bin, bb);
        if (B.has_missing[bf]) /* without NaNs both directions are one partition; the majority side is kept */
            assert_int_equal(best.default_left, bdl);
        assert_true(gb_count(best.left, cb) >= sp.min_leaf && m - gb_count(best.left, cb) >= sp.min_leaf);
        gb_binned_release(&B);
    }
}

/* ---- the plugin -------------------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    static const char *const names[] = {"n_trees", "learning_rate", "max_leaves", "max_depth", "min_samples_leaf",
                                        "l2", "subsample", "colsample", "max_bins", "min_gain", "loss",
                                        "class_weight", "early_stopping_rounds"};
    assert_string_equal(desc->name, "gbdt");
    assert_true(desc->flags & AML_PLUGIN_RESUMABLE);
    assert_non_null(vt->importance);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        (void)param_index(names[i]);
    const aml_param_def *p = &desc->params[param_index("n_trees")];
    assert_true(p->def == 100 && p->lo == 10 && p->hi == 2000 && p->log_scale);
    p = &desc->params[param_index("max_bins")];
    assert_true(p->def == 255 && p->hi == 255);
    assert_true(desc->params[param_index("learning_rate")].def == 0.1);
    assert_true(desc->params[param_index("max_leaves")].def == 31);
    assert_true(desc->params[param_index("min_samples_leaf")].def == 20);
    assert_true(desc->params[param_index("early_stopping_rounds")].def == 0);
}

/* y is a step in x0 (at 0.3125, between lattice points) and missing x1 means "high": the model
 * must put the split exactly there, send NaNs of x1 the learned way, and send a NaN never seen in
 * training (x2) to the larger side. */
static void test_known_structure(void **state)
{
    enum { N = 4000, D = 3 };
    static float X[N * D];
    static double y[N];
    random_matrix(X, N, D, 5);
    for (int i = 0; i < N; i++) {
        X[i * D] = (float)((i * 7) % 40 / 40.0 - 0.5); /* a lattice: the step falls between two bins */
        if (i % 5 == 0)
            X[i * D + 1] = NAN;
        y[i] = (X[i * D] > 0.3f ? 10.0 : -10.0) + (isnan(X[i * D + 1]) ? 5.0 : 0.0);
    }
    table tr = {X, N, D, NULL, y, NULL};
    param_set ps;
    aml_model *m = fit_new(0, &tr, NULL, params_with(&ps, "n_trees", 50.0, "learning_rate", 0.3, NULL), 2);
    float q[6][D] = {{0.3f, 0.0f, 0.0f}, {0.31f, 0.0f, 0.0f}, {0.32f, 0.0f, 0.0f},
                     {0.325f, 0.0f, 0.0f}, {0.4f, NAN, 0.5f}, {-0.45f, 0.5f, NAN}};
    const double want[6] = {-10, -10, 10, 10, 15, -10};
    double out[6];
    predict_threads(m, &q[0][0], 6, D, out, 1);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(out[i] - want[i]) < 1e-3);
    double imp[D];
    assert_int_equal(vt->importance(m, imp), AML_OK);
    assert_true(imp[0] > imp[1] && imp[1] > 100 * imp[2]);
    vt->free(m);
}

/* Too few rows to split: every tree is a single leaf, and the model predicts the mean (the
 * single-row path walks such trees in its lockstep lanes too). */
static void test_single_leaf_trees(void **state)
{
    enum { N = 150, D = 3 };
    static float X[N * D];
    static double y[N], P[N];
    random_matrix(X, N, D, 91);
    double mean = 0;
    for (int i = 0; i < N; i++)
        y[i] = 3 * X[i * D] + (i % 7), mean += y[i] / N;
    table tr = {X, N, D, NULL, y, NULL};
    param_set ps;
    aml_model *m = fit_new(0, &tr, NULL, params_with(&ps, "min_samples_leaf", 100.0, "n_trees", 20.0, NULL), 2);
    predict_threads(m, X, N, D, P, 1);
    for (int i = 0; i < N; i++) {
        double row;
        assert_int_equal(vt->predict_row(m, X + i * D, &row), AML_OK);
        assert_memory_equal(&row, &P[i], sizeof row);
        assert_true(fabs(P[i] - mean) < 1e-9 * (1 + fabs(mean)));
    }
    vt->free(m);
}

/* Binary, multiclass and regression data with NaNs, categorical-looking codes and noise. */
static void make_task(int n_classes, int64_t n, int64_t d, unsigned seed, float *X, int32_t *label, double *value)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    random_matrix(X, n, d, seed + 1);
    for (int64_t i = 0; i < n; i++) {
        float *x = X + i * d;
        x[d - 1] = (float)aml_rng_below(&r, 5);
        if (aml_rng_uniform(&r) < 0.1)
            x[1] = NAN;
        double s = 2 * x[0] - x[2] * x[3] + (isnan(x[1]) ? 1 : x[1]) + 0.3 * x[d - 1] + aml_rng_uniform(&r) - 0.5;
        if (n_classes == 0)
            value[i] = 3 * s;
        else if (n_classes == 2)
            label[i] = s + 0.5 * (aml_rng_uniform(&r) - 0.5) > 0.4;
        else
            label[i] = (int32_t)((s > -0.5) + (s > 0.3) + (s > 1.2));
    }
}

static void check_round_trip(int n_classes, const aml_params *p)
{
    enum { N = 3000, NV = 600, D = 6 };
    static float X[N * D], V[NV * D];
    static int32_t lab[N], vlab[NV];
    static double val[N], vval[NV], P1[NV * 4], P2[NV * 4], P3[NV * 4];
    make_task(n_classes, N, D, 21, X, lab, val);
    make_task(n_classes, NV, D, 22, V, vlab, vval);
    table tr = {X, N, D, n_classes ? lab : NULL, n_classes ? NULL : val, NULL};
    table va = {V, NV, D, n_classes ? vlab : NULL, n_classes ? NULL : vval, NULL};
    const int no = n_classes ? n_classes : 1;
    aml_model *m1 = fit_new(n_classes, &tr, &va, p, 1);
    aml_model *m2 = fit_new(n_classes, &tr, &va, p, 2);
    aml_writer w1, w2;
    save_blob(m1, &w1), save_blob(m2, &w2);
    assert_int_equal(w1.len, w2.len); /* the model does not depend on the thread count */
    assert_memory_equal(w1.buf, w2.buf, w1.len);
    predict_threads(m1, V, NV, D, P1, 1);
    predict_threads(m1, V, NV, D, P2, 2);
    assert_memory_equal(P1, P2, sizeof(double) * NV * no);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_reader rd;
    aml_reader_init(&rd, w1.buf, w1.len);
    aml_task task = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                     .n_features = D};
    aml_model *m3 = NULL;
    assert_int_equal(vt->load(host, &hc, &rd, &task, &m3), AML_OK);
    predict_threads(m3, V, NV, D, P3, 2);
    assert_memory_equal(P1, P3, sizeof(double) * NV * no);
    for (int i = 0; i < NV; i++) {
        double row[4];
        assert_int_equal(vt->predict_row(m3, V + i * D, row), AML_OK);
        assert_memory_equal(row, P1 + i * no, sizeof(double) * no);
    }
    double s = 0;
    for (int i = 0; i < NV && n_classes; i++) {
        double t = 0;
        for (int k = 0; k < no; k++)
            t += P1[i * no + k];
        s = fabs(t - 1) > s ? fabs(t - 1) : s;
    }
    assert_true(s < 1e-12);
    /* truncated anywhere and garbage: refused with a message */
    for (size_t cut = 0; cut < w1.len; cut += 1 + w1.len / 37) {
        aml_model *bad = NULL;
        aml_reader_init(&rd, w1.buf, cut);
        hc.msg[0] = 0;
        assert_int_equal(vt->load(host, &hc, &rd, &task, &bad), AML_ERR_FORMAT);
        assert_true(strlen(hc.msg) > 10);
    }
    unsigned char *g = malloc(w1.len);
    memcpy(g, w1.buf, w1.len);
    memset(g + 120, 0xff, 64); /* nodes and offsets scrambled */
    aml_model *bad = NULL;
    aml_reader_init(&rd, g, w1.len);
    assert_int_equal(vt->load(host, &hc, &rd, &task, &bad), AML_ERR_FORMAT);
    g[8] = 9; /* a newer format */
    aml_reader_init(&rd, g, w1.len);
    assert_int_equal(vt->load(host, &hc, &rd, &task, &bad), AML_ERR_FORMAT);
    assert_non_null(strstr(hc.msg, "version 9"));
    free(g);
    aml_writer_release(&w1), aml_writer_release(&w2);
    vt->free(m1), vt->free(m2), vt->free(m3);
}

static void test_round_trip_binary(void **state)
{
    param_set ps;
    check_round_trip(2, params_with(&ps, "subsample", 0.8, "colsample", 0.6, NULL));
}

static void test_round_trip_multiclass(void **state)
{
    param_set ps;
    check_round_trip(4, params_with(&ps, "max_depth", 4.0, "class_weight", 1.0, NULL));
}

static void test_round_trip_regression(void **state)
{
    param_set ps;
    for (int loss = 1; loss <= 3; loss++)
        check_round_trip(0, params_with(&ps, "loss", (double)loss, "n_trees", 60.0, NULL));
}

/* Large enough for the threaded paths (histograms in chunks, partition, scoring): one thread and
 * three give the same bytes. */
static void test_threads_large(void **state)
{
    enum { N = 90000, D = 4 };
    float *X = malloc(sizeof(float) * N * D);
    int32_t *lab = malloc(sizeof(int32_t) * N);
    make_task(2, N, D, 81, X, lab, NULL);
    table tr = {X, N, D, lab, NULL, NULL};
    param_set ps;
    const aml_params *p = params_with(&ps, "n_trees", 10.0, "subsample", 0.9, "max_leaves", 63.0, NULL);
    aml_model *a = fit_new(2, &tr, NULL, p, 1), *b = fit_new(2, &tr, NULL, p, 3);
    aml_writer wa, wb;
    save_blob(a, &wa), save_blob(b, &wb);
    assert_int_equal(wa.len, wb.len);
    assert_memory_equal(wa.buf, wb.buf, wa.len);
    aml_writer_release(&wa), aml_writer_release(&wb);
    vt->free(a), vt->free(b);
    free(X), free(lab);
}

/* Fitting at resource 0.3, then 0.55, then 1 gives byte for byte the model one fit at 1 gives,
 * with row and feature sampling and early stopping in play. */
static void check_resume(int n_classes, const aml_params *p)
{
    enum { N = 2500, NV = 500, D = 6 };
    static float X[N * D], V[NV * D];
    static int32_t lab[N], vlab[NV];
    static double val[N], vval[NV];
    make_task(n_classes, N, D, 31, X, lab, val);
    make_task(n_classes, NV, D, 32, V, vlab, vval);
    table tr = {X, N, D, n_classes ? lab : NULL, n_classes ? NULL : val, NULL};
    table va = {V, NV, D, n_classes ? vlab : NULL, n_classes ? NULL : vval, NULL};
    aml_model *once = create(n_classes, D, p, 9), *steps = create(n_classes, D, p, 9);
    fit_to(once, &tr, &va, 1.0, 2);
    fit_to(steps, &tr, &va, 0.3, 2);
    aml_writer a, b;
    save_blob(steps, &a);
    fit_to(steps, &tr, &va, 0.55, 1);
    aml_writer_release(&a);
    fit_to(steps, &tr, &va, 1.0, 2);
    save_blob(once, &a), save_blob(steps, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    /* other data: a fresh fit, not a continuation of the old trees */
    table tr2 = tr;
    tr2.n = N - 100;
    fit_to(steps, &tr2, &va, 1.0, 2);
    aml_model *fresh = create(n_classes, D, p, 9);
    fit_to(fresh, &tr2, &va, 1.0, 2);
    aml_writer c, e;
    save_blob(steps, &c), save_blob(fresh, &e);
    assert_int_equal(c.len, e.len);
    assert_memory_equal(c.buf, e.buf, c.len);
    aml_writer_release(&a), aml_writer_release(&b), aml_writer_release(&c), aml_writer_release(&e);
    vt->free(once), vt->free(steps), vt->free(fresh);
}

static void test_resume_equals_one_fit(void **state)
{
    param_set ps;
    check_resume(2, params_with(&ps, "n_trees", 80.0, "subsample", 0.7, "colsample", 0.5, NULL));
    check_resume(4, params_with(&ps, "n_trees", 40.0, "subsample", 0.8, NULL));
    check_resume(0, params_with(&ps, "n_trees", 60.0, "loss", 3.0, "colsample", 0.7, NULL));
}

static double log_loss(const double *P, const int32_t *y, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s -= log(P[2 * i + y[i]] > 1e-15 ? P[2 * i + y[i]] : 1e-15);
    return s / n;
}

/* Noisy labels and a high learning rate overfit: the validation loss has a minimum. The model
 * fitted with the validation fold keeps exactly the round where it is lowest. */
static void test_early_stopping_best_round(void **state)
{
    enum { N = 600, NV = 400, D = 5, ROUNDS = 120 };
    static float X[N * D], V[NV * D];
    static int32_t lab[N], vlab[NV];
    static double P[NV * 2];
    make_task(2, N, D, 41, X, lab, NULL);
    make_task(2, NV, D, 42, V, vlab, NULL);
    aml_rng r;
    aml_rng_seed(&r, 43);
    for (int i = 0; i < N; i++)
        if (aml_rng_uniform(&r) < 0.25)
            lab[i] = 1 - lab[i];
    table tr = {X, N, D, lab, NULL, NULL}, va = {V, NV, D, vlab, NULL, NULL};
    param_set ps;
    /* the loss after every round, by growing one model a round at a time without the fold */
    aml_model *grow = create(2, D, params_with(&ps, "n_trees", (double)ROUNDS, "learning_rate", 0.3,
                                               "min_samples_leaf", 5.0, NULL), 7);
    double best = HUGE_VAL, loss[ROUNDS + 1];
    int best_round = 0;
    for (int k = 1; k <= ROUNDS; k++) {
        fit_to(grow, &tr, NULL, (double)k / ROUNDS, 1);
        predict_threads(grow, V, NV, D, P, 1);
        loss[k] = log_loss(P, vlab, NV);
        if (loss[k] < best)
            best = loss[k], best_round = k;
    }
    assert_true(best_round > 3 && best_round < ROUNDS - 20);
    assert_true(loss[ROUNDS] > best + 0.05);
    /* patience covering every round: the kept model is the best round */
    aml_model *m = fit_new(2, &tr, &va, params_with(&ps, "n_trees", (double)ROUNDS, "learning_rate", 0.3,
                                                    "min_samples_leaf", 5.0, "early_stopping_rounds", 200.0, NULL),
                           2);
    aml_writer w;
    save_blob(m, &w);
    assert_int_equal(blob_trees(&w), best_round);
    predict_threads(m, V, NV, D, P, 2);
    assert_true(fabs(log_loss(P, vlab, NV) - best) < 1e-12);
    aml_writer_release(&w);
    vt->free(m);
    /* patience 10: stops at the first round 10 rounds past a minimum so far, keeps that minimum */
    int stop_best = 1;
    for (int k = 1; k <= ROUNDS; k++) {
        if (loss[k] < loss[stop_best])
            stop_best = k;
        if (k - stop_best >= 10)
            break;
    }
    m = fit_new(2, &tr, &va, params_with(&ps, "n_trees", (double)ROUNDS, "learning_rate", 0.3,
                                         "min_samples_leaf", 5.0, "early_stopping_rounds", 10.0, NULL), 2);
    save_blob(m, &w);
    assert_int_equal(blob_trees(&w), stop_best);
    aml_writer_release(&w);
    vt->free(m);
    vt->free(grow);
}

/* Balanced class weights raise the predicted probability of a rare class. */
static void test_class_weight(void **state)
{
    enum { N = 4000, D = 4 };
    static float X[N * D];
    static int32_t lab[N];
    static double P1[N * 2], P2[N * 2];
    random_matrix(X, N, D, 61);
    aml_rng r;
    aml_rng_seed(&r, 62);
    for (int i = 0; i < N; i++)
        lab[i] = X[i * D] + 0.8 * aml_rng_uniform(&r) > 1.2;
    table tr = {X, N, D, lab, NULL, NULL};
    param_set ps;
    aml_model *a = fit_new(2, &tr, NULL, params_with(&ps, NULL), 2);
    aml_model *b = fit_new(2, &tr, NULL, params_with(&ps, "class_weight", 1.0, NULL), 2);
    predict_threads(a, X, N, D, P1, 2), predict_threads(b, X, N, D, P2, 2);
    double ma = 0, mb = 0, pos = 0;
    for (int i = 0; i < N; i++)
        ma += P1[2 * i + 1] / N, mb += P2[2 * i + 1] / N, pos += lab[i] / (double)N;
    assert_true(pos < 0.15 && fabs(ma - pos) < 0.02);
    /* fitted to the reweighted classes: calibrated where both classes weigh the same */
    double wp = 0, wsum = 0;
    for (int i = 0; i < N; i++) {
        double cw = lab[i] ? 0.5 / pos : 0.5 / (1 - pos);
        wp += cw * P2[2 * i + 1], wsum += cw;
    }
    assert_true(fabs(wp / wsum - 0.5) < 0.03);
    assert_true(mb > ma + 0.03);
    /* sample weights: the same, by hand */
    static float w[N];
    for (int i = 0; i < N; i++)
        w[i] = lab[i] ? (float)(0.5 / pos) : (float)(0.5 / (1 - pos));
    table tw = tr;
    tw.w = w;
    aml_model *c = fit_new(2, &tw, NULL, params_with(&ps, NULL), 2);
    predict_threads(c, X, N, D, P1, 2);
    double mc = 0;
    for (int i = 0; i < N; i++)
        mc += P1[2 * i + 1] / N;
    assert_true(fabs(mc - mb) < 0.02);
    vt->free(a), vt->free(b), vt->free(c);
}

static void test_bad_input(void **state)
{
    enum { N = 100, D = 3 };
    static float X[N * D];
    static int32_t lab[N];
    static double val[N];
    random_matrix(X, N, D, 71);
    for (int i = 0; i < N; i++)
        lab[i] = i % 2, val[i] = i;
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = D};
    param_set ps;
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, params_with(&ps, "max_leaves", 1.0, NULL), &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "gbdt: max_leaves = 1 must be an integer in [4, 255]");
    assert_int_equal(vt->create(host, &hc, params_with(&ps, NULL), &task, &m), AML_OK);
    aml_matrix mx = {.data = X, .rows = N, .cols = D, .ld = D};
    lab[7] = 2;
    aml_target y = {.label = lab};
    assert_int_equal(vt->fit(m, &hc, &mx, &y, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "gbdt: training row 7: class index 2 outside [0, 2)");
    lab[7] = 1;
    double out[2];
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "gbdt: predict before fit");
    assert_int_equal(vt->fit(m, &hc, &mx, &y, NULL, NULL, NULL), AML_OK);
    aml_matrix narrow = {.data = X, .rows = N, .cols = D - 1, .ld = D};
    assert_int_equal(vt->predict(m, &hc, &narrow, out), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "gbdt: predict on 2 columns, the model was fitted on 3");
    vt->free(m);
    task = (aml_task){.kind = AML_TASK_REGRESSION, .n_features = D};
    assert_int_equal(vt->create(host, &hc, params_with(&ps, NULL), &task, &m), AML_OK);
    val[3] = NAN;
    aml_target yv = {.value = val};
    assert_int_equal(vt->fit(m, &hc, &mx, &yv, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "gbdt: training row 3: target value is missing or not finite");
    /* a cancelled fit before the first round */
    val[3] = 3;
    volatile int cancel = 1;
    hc.cancel = &cancel;
    assert_int_equal(vt->fit(m, &hc, &mx, &yv, NULL, NULL, NULL), AML_ERR_CANCELLED);
    vt->free(m);
}

/* ---- held-out accuracy on shipped data ---------------------------------------------------- */

static double holdout_score(const char *name, const aml_params *p)
{
    char path[512];
    snprintf(path, sizeof path, "%s/datasets/%s.csv", AML_SOURCE_DIR, name);
    aml_ctx *c = aml_ctx_new();
    aml_dataset *ds = NULL;
    aml_csv_options opt = {0};
    if (aml_csv_read(c, path, &opt, &ds) != AML_OK)
        fail_msg("%s: %s", path, aml_errmsg(c));
    aml_ctx_free(c);
    const int64_t n = ds->n_rows, d = ds->n_features;
    const int k = ds->n_classes;
    uint8_t *is_test = malloc((size_t)n);
    aml_split_holdout(n, ds->label, k, 0.25, 0, is_test);
    float *Xtr = malloc(sizeof(float) * n * d), *Xte = malloc(sizeof(float) * n * d);
    int32_t *ltr = malloc(sizeof(int32_t) * n), *lte = malloc(sizeof(int32_t) * n);
    double *vtr = malloc(sizeof(double) * n), *vte = malloc(sizeof(double) * n);
    int64_t ntr = 0, nte = 0;
    for (int64_t i = 0; i < n; i++) {
        float *dst = is_test[i] ? Xte + nte * d : Xtr + ntr * d;
        memcpy(dst, ds->X + i * d, sizeof(float) * d);
        if (is_test[i]) {
            if (k)
                lte[nte] = ds->label[i];
            else
                vte[nte] = ds->value[i];
            nte++;
        } else {
            if (k)
                ltr[ntr] = ds->label[i];
            else
                vtr[ntr] = ds->value[i];
            ntr++;
        }
    }
    table tr = {Xtr, ntr, d, k ? ltr : NULL, k ? NULL : vtr, NULL};
    aml_model *m = fit_new(k, &tr, NULL, p, 2);
    const int no = k ? k : 1;
    double *P = malloc(sizeof(double) * nte * no);
    predict_threads(m, Xte, nte, d, P, 2);
    double score = 0;
    if (k) {
        for (int64_t i = 0; i < nte; i++) {
            int arg = 0;
            for (int c2 = 1; c2 < k; c2++)
                if (P[i * k + c2] > P[i * k + arg])
                    arg = c2;
            score += arg == lte[i];
        }
        score /= nte;
    } else { /* r2 */
        double mean = 0, ss = 0, se = 0;
        for (int64_t i = 0; i < nte; i++)
            mean += vte[i] / nte;
        for (int64_t i = 0; i < nte; i++)
            ss += (vte[i] - mean) * (vte[i] - mean), se += (vte[i] - P[i]) * (vte[i] - P[i]);
        score = 1 - se / ss;
    }
    vt->free(m);
    free(P), free(is_test), free(Xtr), free(Xte), free(ltr), free(lte), free(vtr), free(vte);
    aml_dataset_free(ds);
    return score;
}

static void test_accuracy_breast_cancer(void **state)
{
    param_set ps;
    double acc = holdout_score("breast_cancer", params_with(&ps, NULL));
    fprintf(stderr, "gbdt on breast_cancer: held-out accuracy %.4f (bar 0.95)\n", acc);
    assert_true(acc >= 0.95);
}

static void test_accuracy_digits(void **state)
{
    param_set ps;
    double acc = holdout_score("digits", params_with(&ps, NULL));
    fprintf(stderr, "gbdt on digits: held-out accuracy %.4f (bar 0.96)\n", acc);
    assert_true(acc >= 0.96);
}

static void test_regression_losses(void **state)
{
    param_set ps;
    for (int loss = 1; loss <= 3; loss++) {
        double r2 = holdout_score("BostonHousing", params_with(&ps, "loss", (double)loss, NULL));
        fprintf(stderr, "gbdt on BostonHousing, loss %s: held-out r2 %.4f (bar 0.75)\n",
                desc->params[param_index("loss")].choices[loss], r2);
        assert_true(r2 >= 0.75);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binning),
        cmocka_unit_test(test_binned_matrix),
        cmocka_unit_test(test_bin_cache),
        cmocka_unit_test(test_split_brute_force),
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_known_structure),
        cmocka_unit_test(test_single_leaf_trees),
        cmocka_unit_test(test_round_trip_binary),
        cmocka_unit_test(test_round_trip_multiclass),
        cmocka_unit_test(test_round_trip_regression),
        cmocka_unit_test(test_threads_large),
        cmocka_unit_test(test_resume_equals_one_fit),
        cmocka_unit_test(test_early_stopping_best_round),
        cmocka_unit_test(test_class_weight),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_accuracy_breast_cancer),
        cmocka_unit_test(test_accuracy_digits),
        cmocka_unit_test(test_regression_losses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
