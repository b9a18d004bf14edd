/* The forest model plugin (random forest and extra trees), loaded as a .so through the registry:
 * held-out accuracy on breast_cancer and R^2 on diabetes, exact save/load round trips and refused
 * corrupt blobs, the same model whatever the thread count, a continued fit equal to one fit,
 * a sane out-of-bag score, missing values, weights, importance and bad input. */
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

#define PLUGIN_PATH AML_PLUGIN_BUILD_DIR "/aml_model_forest.so"

static aml_registry *reg;
static const aml_plugin_descriptor *desc;
static const aml_model_vtable *vt;
static aml_host host; /* the engine's services with a log that keeps the last line */
static char last_log[1024];

static void capture_log(aml_host_ctx *c, int level, const char *fmt, ...)
{
    (void)c, (void)level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_log, sizeof last_log, fmt, ap);
    va_end(ap);
}

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
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "forest");
    if (!p)
        return -1;
    desc = p->desc;
    vt = desc->model;
    host = *aml_host_services();
    host.log = capture_log;
    return 0;
}

static int teardown(void **state)
{
    aml_registry_free(reg);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

typedef struct {
    double num[16];
    const char *str[16];
    aml_params p;
} param_set;

/* The descriptor's defaults, then "name=value" overrides (NULL-terminated list of pairs). */
static const aml_params *params_of(param_set *ps, ...)
{
    assert_true(desc->n_params <= 16);
    for (int i = 0; i < desc->n_params; i++) {
        ps->num[i] = desc->params[i].def;
        ps->str[i] = desc->params[i].type == AML_PARAM_CHOICE ? desc->params[i].choices[(int)ps->num[i]] : NULL;
    }
    va_list ap;
    va_start(ap, ps);
    for (const char *name = va_arg(ap, const char *); name; name = va_arg(ap, const char *)) {
        double v = va_arg(ap, double);
        int found = 0;
        for (int i = 0; i < desc->n_params; i++)
            if (!strcmp(desc->params[i].name, name)) {
                ps->num[i] = v, found = 1;
                if (desc->params[i].type == AML_PARAM_CHOICE)
                    ps->str[i] = desc->params[i].choices[(int)v];
            }
        assert_true(found);
    }
    va_end(ap);
    ps->p.num = ps->num;
    ps->p.str = ps->str;
    return &ps->p;
}

typedef struct {
    int64_t ntr, nte, d;
    int k; /* classes; 0 = regression */
    float *Xtr, *Xte;
    int32_t *ytr, *yte;
    double *vtr, *vte;
} split_data;

static void split_free(split_data *s)
{
    free(s->Xtr), free(s->Xte), free(s->ytr), free(s->yte), free(s->vtr), free(s->vte);
}

/* The shipped CSV, split 75/25 (stratified for classification, seed 0). Returns 0 when the file
 * is not there (the test is then skipped). */
static int load_split(const char *name, split_data *s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/datasets/%s.csv", AML_SOURCE_DIR, name);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s is not there: skipped\n", path);
        return 0;
    }
    aml_ctx *c = aml_ctx_new();
    aml_dataset *ds = NULL;
    aml_csv_options opt = {0};
    aml_status st = aml_csv_read(c, path, &opt, &ds);
    if (st != AML_OK)
        print_error("%s\n", aml_errmsg(c));
    assert_int_equal(st, AML_OK);
    aml_ctx_free(c);
    const int64_t n = ds->n_rows, d = ds->n_features;
    memset(s, 0, sizeof *s);
    s->d = d;
    s->k = ds->task == AML_TASK_CLASSIFICATION ? ds->n_classes : 0;
    uint8_t *is_test = malloc((size_t)n);
    aml_split_holdout(n, s->k ? ds->label : NULL, s->k, 0.25, 0, is_test);
    s->Xtr = malloc((size_t)n * d * sizeof(float)), s->Xte = malloc((size_t)n * d * sizeof(float));
    if (s->k)
        s->ytr = malloc((size_t)n * sizeof(int32_t)), s->yte = malloc((size_t)n * sizeof(int32_t));
    else
        s->vtr = malloc((size_t)n * sizeof(double)), s->vte = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        int64_t *cnt = is_test[i] ? &s->nte : &s->ntr;
        float *X = is_test[i] ? s->Xte : s->Xtr;
        memcpy(X + *cnt * d, ds->X + i * d, (size_t)d * sizeof(float));
        if (s->k)
            (is_test[i] ? s->yte : s->ytr)[*cnt] = ds->label[i];
        else
            (is_test[i] ? s->vte : s->vtr)[*cnt] = ds->value[i];
        (*cnt)++;
    }
    free(is_test);
    aml_dataset_free(ds);
    return 1;
}

static aml_model *create_model(int k, int64_t d, uint64_t seed, const aml_params *p)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_task task = {.kind = k ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = k, .n_features = d,
                     .seed = seed};
    aml_model *m = NULL;
    aml_status st = vt->create(&host, &hc, p, &task, &m);
    if (st != AML_OK)
        print_error("create: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    return m;
}

static aml_status fit_with(aml_model *m, int threads, double resource, const float *X, int64_t n, int64_t d,
                           const int32_t *label, const double *value, const float *w, char *msg)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    aml_target t = {.label = label, .value = value, .weight = w};
    aml_fit_budget b = {.size = sizeof b, .resource = resource};
    aml_status st = vt->fit(m, &hc, &mx, &t, NULL, NULL, &b);
    if (msg)
        snprintf(msg, 1024, "%s", hc.msg);
    else if (st != AML_OK)
        print_error("fit: %s\n", hc.msg);
    return st;
}

static aml_model *fit_split(const split_data *s, uint64_t seed, int threads, const aml_params *p)
{
    aml_model *m = create_model(s->k, s->d, seed, p);
    assert_int_equal(fit_with(m, threads, 1.0, s->Xtr, s->ntr, s->d, s->ytr, s->vtr, NULL, NULL), AML_OK);
    return m;
}

static double *predict_all(const aml_model *m, const float *X, int64_t n, int64_t d, int no, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    double *P = malloc((size_t)n * no * sizeof *P);
    aml_status st = vt->predict(m, &hc, &mx, P);
    if (st != AML_OK)
        print_error("predict: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    return P;
}

static double accuracy(const double *P, const int32_t *y, int64_t n, int k)
{
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int q = 1; q < k; q++)
            best = P[i * k + q] > P[i * k + best] ? q : best;
        right += best == y[i];
    }
    return (double)right / (double)n;
}

static double r2(const double *P, const double *y, int64_t n)
{
    double mean = 0, sse = 0, sst = 0;
    for (int64_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++)
        sse += (y[i] - P[i]) * (y[i] - P[i]), sst += (y[i] - mean) * (y[i] - mean);
    return 1 - sse / sst;
}

static aml_writer save_model(const aml_model *m)
{
    aml_writer w;
    aml_writer_init(&w);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    assert_int_equal(vt->save(m, &hc, &w), AML_OK);
    return w;
}

static aml_status load_blob(const void *buf, size_t len, const aml_task *task, aml_model **out, char *msg)
{
    aml_reader r;
    aml_reader_init(&r, buf, len);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    *out = NULL;
    aml_status st = vt->load(&host, &hc, &r, task, out);
    if (msg)
        snprintf(msg, 1024, "%s", hc.msg);
    return st;
}

/* The two models serialise to the same bytes (every tree, value and importance identical). */
static void assert_same_model(const aml_model *a, const aml_model *b)
{
    aml_writer wa = save_model(a), wb = save_model(b);
    assert_int_equal(wa.len, wb.len);
    assert_memory_equal(wa.buf, wb.buf, wa.len);
    aml_writer_release(&wa);
    aml_writer_release(&wb);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "forest");
    assert_int_equal(desc->kind, AML_PLUGIN_MODEL);
    assert_true(desc->flags & AML_PLUGIN_RESUMABLE);
    assert_non_null(vt->importance);
    const char *names[] = {"n_trees", "max_features", "min_samples_leaf", "bootstrap", "extra", "max_depth",
                           "criterion", "class_weight"};
    assert_int_equal(desc->n_params, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(desc->params[i].name, names[i]);
    assert_true(desc->params[0].def == 200 && desc->params[0].lo == 10 && desc->params[0].hi == 1000);
    assert_true(desc->params[0].log_scale);
    assert_true(desc->params[3].def == 1 && desc->params[4].def == 0 && desc->params[2].def == 1);
    assert_string_equal(desc->params[6].choices[desc->params[6].n_choices - 1], "entropy");
    assert_string_equal(desc->params[7].choices[1], "balanced");
}

/* The bar: the default forest on breast_cancer's stratified 25 % held-out split. Its OOB score
 * (logged at info level) is within a few per cent of the held-out accuracy. */
static void test_breast_cancer_accuracy_and_oob(void **state)
{
    split_data s;
    if (!load_split("breast_cancer", &s))
        skip();
    param_set ps;
    last_log[0] = 0;
    aml_model *m = fit_split(&s, 1, 2, params_of(&ps, NULL));
    double oob = -1;
    const char *at = strstr(last_log, "out-of-bag accuracy ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "out-of-bag accuracy %lf", &oob), 1);
    double *P = predict_all(m, s.Xte, s.nte, s.d, s.k, 2);
    double acc = accuracy(P, s.yte, s.nte, s.k);
    fprintf(stderr, "forest on breast_cancer: held-out accuracy %.4f (bar 0.95), OOB %.4f\n", acc, oob);
    assert_true(acc >= 0.95);
    assert_true(fabs(oob - acc) <= 0.04);
    for (int64_t i = 0; i < s.nte; i++)
        assert_true(fabs(P[2 * i] + P[2 * i + 1] - 1) < 1e-9);
    /* extra trees are as good here */
    vt->free(m);
    free(P);
    m = fit_split(&s, 1, 2, params_of(&ps, "extra", 1.0, "bootstrap", 0.0, NULL));
    P = predict_all(m, s.Xte, s.nte, s.d, s.k, 2);
    acc = accuracy(P, s.yte, s.nte, s.k);
    fprintf(stderr, "extra trees on breast_cancer: held-out accuracy %.4f (bar 0.94)\n", acc);
    assert_true(acc >= 0.94);
    vt->free(m);
    free(P);
    split_free(&s);
}

static void test_diabetes_regression(void **state)
{
    split_data s;
    if (!load_split("diabetes", &s))
        skip();
    param_set ps;
    last_log[0] = 0;
    aml_model *m = fit_split(&s, 1, 2, params_of(&ps, "n_trees", 100.0, NULL));
    double oob = -1;
    const char *at = strstr(last_log, "out-of-bag r2 ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "out-of-bag r2 %lf", &oob), 1);
    double *P = predict_all(m, s.Xte, s.nte, s.d, 1, 2);
    double score = r2(P, s.vte, s.nte);
    fprintf(stderr, "forest on diabetes: held-out R^2 %.4f (bar 0.35), OOB R^2 %.4f\n", score, oob);
    assert_true(score > 0.35);
    assert_true(oob > 0.3 && oob < 0.6);
    vt->free(m);
    free(P);
    m = fit_split(&s, 1, 2, params_of(&ps, "n_trees", 100.0, "extra", 1.0, NULL));
    P = predict_all(m, s.Xte, s.nte, s.d, 1, 2);
    score = r2(P, s.vte, s.nte);
    fprintf(stderr, "extra trees on diabetes: held-out R^2 %.4f (bar 0.35)\n", score);
    assert_true(score > 0.35);
    vt->free(m);
    free(P);
    split_free(&s);
}

/* save -> load gives bit-identical predictions (batch and single row); the blob is refused
 * when truncated anywhere, when its magic or version is wrong, or when a node points backwards. */
static void test_save_load_exact(void **state)
{
    split_data s;
    if (!load_split("wine", &s))
        skip();
    for (int variant = 0; variant < 2; variant++) {
        param_set ps;
        aml_model *m = fit_split(&s, 7, 2, variant ? params_of(&ps, "n_trees", 30.0, "extra", 1.0, NULL)
                                                    : params_of(&ps, "n_trees", 30.0, NULL));
        aml_writer w = save_model(m);
        aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = s.k, .n_features = s.d};
        aml_model *m2 = NULL;
        char msg[1024];
        assert_int_equal(load_blob(w.buf, w.len, &task, &m2, msg), AML_OK);
        double *P = predict_all(m, s.Xte, s.nte, s.d, s.k, 2), *Q = predict_all(m2, s.Xte, s.nte, s.d, s.k, 1);
        assert_memory_equal(P, Q, (size_t)s.nte * s.k * sizeof *P);
        double row[16];
        for (int64_t i = 0; i < s.nte; i++) {
            assert_int_equal(vt->predict_row(m2, s.Xte + i * s.d, row), AML_OK);
            assert_memory_equal(row, P + i * s.k, (size_t)s.k * sizeof *row);
        }
        double ia[64], ib[64];
        assert_int_equal(vt->importance(m, ia), AML_OK);
        assert_int_equal(vt->importance(m2, ib), AML_OK);
        assert_memory_equal(ia, ib, (size_t)s.d * sizeof *ia);
        assert_same_model(m, m2);
        /* truncated at many places, including inside the header and inside the last tree */
        for (size_t cut = 0; cut < w.len; cut += cut < 200 ? 1 : 997) {
            aml_model *bad = NULL;
            assert_int_equal(load_blob(w.buf, cut, &task, &bad, msg), AML_ERR_FORMAT);
            assert_null(bad);
            assert_true(strstr(msg, "forest: ") == msg);
        }
        aml_model *bad = NULL;
        assert_int_equal(load_blob(w.buf, w.len - 1, &task, &bad, msg), AML_ERR_FORMAT);
        assert_string_equal(msg, "forest: truncated model blob");
        unsigned char *copy = malloc(w.len);
        memcpy(copy, w.buf, w.len);
        copy[0] ^= 0xff;
        assert_int_equal(load_blob(copy, w.len, &task, &bad, msg), AML_ERR_FORMAT);
        assert_string_equal(msg, "forest: not a model blob of this plugin (wrong magic number)");
        memcpy(copy, w.buf, w.len);
        copy[8] = 99; /* format version */
        assert_int_equal(load_blob(copy, w.len, &task, &bad, msg), AML_ERR_FORMAT);
        assert_string_equal(msg, "forest: blob format version 99, this plugin reads up to 1");
        /* the root of the first tree points at itself: the header is 104 bytes (forest_io.c's
         * blob_header), then the tree's node and leaf counts, then node 0 (thr, feat, child) */
        memcpy(copy, w.buf, w.len);
        const size_t hdr = 104;
        int32_t counts[2];
        memcpy(counts, w.buf + hdr, 8);
        assert_true(counts[0] >= 3 && (counts[0] & 1) && counts[1] == (counts[0] + 1) / 2);
        int32_t self = 0; /* child index of node 0 (thr, feat, child) */
        memcpy(copy + hdr + 8 + 8, &self, 4);
        assert_int_equal(load_blob(copy, w.len, &task, &bad, msg), AML_ERR_FORMAT);
        assert_string_equal(msg, "forest: corrupt model blob (tree nodes)");
        /* a blob for another task */
        aml_task other = {.kind = AML_TASK_CLASSIFICATION, .n_classes = s.k + 1, .n_features = s.d};
        assert_int_equal(load_blob(w.buf, w.len, &other, &bad, msg), AML_ERR_FORMAT);
        /* random bytes */
        for (size_t i = 0; i < w.len; i++)
            copy[i] = (unsigned char)(i * 131 + 7);
        assert_int_equal(load_blob(copy, w.len, &task, &bad, msg), AML_ERR_FORMAT);
        free(copy);
        free(P), free(Q);
        aml_writer_release(&w);
        vt->free(m), vt->free(m2);
    }
    split_free(&s);
}

/* Trees depend on (seed, index) only: 1, 2 and 3 threads give the same bytes, for random
 * forest, extra trees and regression. */
static void test_thread_count_independent(void **state)
{
    split_data s, r;
    if (!load_split("wine", &s) || !load_split("diabetes", &r))
        skip();
    param_set ps;
    for (int variant = 0; variant < 3; variant++) {
        const split_data *d = variant == 2 ? &r : &s;
        const aml_params *p = variant == 1 ? params_of(&ps, "n_trees", 24.0, "extra", 1.0, NULL)
                                           : params_of(&ps, "n_trees", 24.0, NULL);
        aml_model *a = create_model(d->k, d->d, 3, p), *b = create_model(d->k, d->d, 3, p),
                  *c = create_model(d->k, d->d, 3, p);
        assert_int_equal(fit_with(a, 1, 1.0, d->Xtr, d->ntr, d->d, d->ytr, d->vtr, NULL, NULL), AML_OK);
        assert_int_equal(fit_with(b, 2, 1.0, d->Xtr, d->ntr, d->d, d->ytr, d->vtr, NULL, NULL), AML_OK);
        assert_int_equal(fit_with(c, 3, 1.0, d->Xtr, d->ntr, d->d, d->ytr, d->vtr, NULL, NULL), AML_OK);
        assert_same_model(a, b);
        assert_same_model(a, c);
        int no = d->k ? d->k : 1;
        double *P = predict_all(a, d->Xte, d->nte, d->d, no, 1), *Q = predict_all(b, d->Xte, d->nte, d->d, no, 3);
        assert_memory_equal(P, Q, (size_t)d->nte * no * sizeof *P);
        free(P), free(Q);
        /* another seed is another forest */
        aml_model *e = create_model(d->k, d->d, 4, p);
        assert_int_equal(fit_with(e, 2, 1.0, d->Xtr, d->ntr, d->d, d->ytr, d->vtr, NULL, NULL), AML_OK);
        aml_writer wa = save_model(a), we = save_model(e);
        assert_true(wa.len != we.len || memcmp(wa.buf, we.buf, wa.len) != 0);
        aml_writer_release(&wa), aml_writer_release(&we);
        vt->free(a), vt->free(b), vt->free(c), vt->free(e);
    }
    split_free(&s), split_free(&r);
}

/* Resource r grows round(r n_trees) trees; continuing with a larger r (or going back to a
 * smaller one) on the same data ends exactly where one fit at that r would. */
static void test_continue_equals_one_fit(void **state)
{
    split_data s;
    if (!load_split("breast_cancer", &s))
        skip();
    param_set ps;
    const aml_params *p = params_of(&ps, "n_trees", 40.0, NULL);
    aml_model *inc = create_model(s.k, s.d, 5, p), *once = create_model(s.k, s.d, 5, p),
              *half = create_model(s.k, s.d, 5, p);
    assert_int_equal(fit_with(inc, 2, 0.25, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_int_equal(fit_with(half, 1, 0.5, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    aml_writer w1 = save_model(inc), w2 = save_model(half);
    assert_true(w1.len < w2.len); /* 10 trees, then 20 */
    aml_writer_release(&w1), aml_writer_release(&w2);
    assert_int_equal(fit_with(inc, 2, 0.5, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_same_model(inc, half);
    assert_int_equal(fit_with(inc, 1, 1.0, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_int_equal(fit_with(once, 2, 1.0, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_same_model(inc, once);
    assert_int_equal(fit_with(once, 2, 0.5, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_same_model(once, half);
    /* other data: the model starts over instead of continuing */
    assert_int_equal(fit_with(half, 2, 1.0, s.Xtr, s.ntr - 1, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_int_equal(fit_with(half, 2, 0.5, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_same_model(once, half);
    vt->free(inc), vt->free(once), vt->free(half);
    split_free(&s);
}

static int stop_calls, stop_after;
static int stop_after_some(aml_host_ctx *c)
{
    (void)c;
    return ++stop_calls > stop_after;
}

/* A host that says stop after 5 trees (1 thread: one check per tree, in order): the fit keeps
 * those 5 and succeeds, exactly the forest of resource 5/20, and a later fit continues it. */
static void test_stop_keeps_prefix(void **state)
{
    split_data s;
    if (!load_split("wine", &s))
        skip();
    param_set ps;
    const aml_params *p = params_of(&ps, "n_trees", 20.0, NULL);
    aml_model *a = create_model(s.k, s.d, 3, p), *b = create_model(s.k, s.d, 3, p);
    stop_calls = 0, stop_after = 5;
    host.should_stop = stop_after_some;
    aml_status st = fit_with(a, 1, 1.0, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL);
    host.should_stop = aml_host_services()->should_stop;
    assert_int_equal(st, AML_OK);
    assert_non_null(strstr(last_log, "(5 trees)")); /* the OOB line after the stop */
    assert_int_equal(fit_with(b, 2, 0.25, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_same_model(a, b);
    assert_int_equal(fit_with(a, 2, 1.0, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_int_equal(fit_with(b, 1, 1.0, s.Xtr, s.ntr, s.d, s.ytr, NULL, NULL, NULL), AML_OK);
    assert_same_model(a, b);
    vt->free(a), vt->free(b);
    split_free(&s);
}

/* NaN cells: training and prediction go on, accuracy holds, and a value that is missing exactly
 * when the class is 1 is learned as a signal (the default direction follows the missing rows). */
static void test_missing_values(void **state)
{
    split_data s;
    if (!load_split("breast_cancer", &s))
        skip();
    aml_rng rng;
    aml_rng_seed(&rng, 11);
    for (int64_t i = 0; i < s.ntr * s.d; i++)
        if (aml_rng_uniform(&rng) < 0.15)
            s.Xtr[i] = NAN;
    for (int64_t i = 0; i < s.nte * s.d; i++)
        if (aml_rng_uniform(&rng) < 0.15)
            s.Xte[i] = NAN;
    for (int64_t i = 0; i < s.ntr; i++)
        s.Xtr[i * s.d + 3] = NAN; /* a feature missing everywhere in training */
    param_set ps;
    for (int extra = 0; extra < 2; extra++) {
        aml_model *m = fit_split(&s, 2, 2, params_of(&ps, "n_trees", 100.0, "extra", (double)extra, NULL));
        double *P = predict_all(m, s.Xte, s.nte, s.d, s.k, 2);
        for (int64_t i = 0; i < s.nte * s.k; i++)
            assert_true(P[i] >= 0 && P[i] <= 1);
        double acc = accuracy(P, s.yte, s.nte, s.k);
        fprintf(stderr, "%s with 15 %% missing cells: held-out accuracy %.4f (bar 0.9)\n",
                extra ? "extra trees" : "forest", acc);
        assert_true(acc >= 0.9);
        /* a row with every cell missing still gets probabilities */
        float allnan[64];
        for (int j = 0; j < s.d; j++)
            allnan[j] = NAN;
        double row[2];
        assert_int_equal(vt->predict_row(m, allnan, row), AML_OK);
        assert_true(fabs(row[0] + row[1] - 1) < 1e-9);
        vt->free(m), free(P);
    }
    /* informative missingness: x0 is NaN exactly for class 1; x1 is noise */
    enum { N = 400 };
    float X[N * 2];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 2;
        X[2 * i] = y[i] ? NAN : (float)aml_rng_uniform(&rng);
        X[2 * i + 1] = (float)aml_rng_uniform(&rng);
    }
    for (int extra = 0; extra < 2; extra++) {
        aml_model *m = create_model(
            2, 2, 1, params_of(&ps, "n_trees", 20.0, "extra", (double)extra, "max_features", 1.0, NULL));
        assert_int_equal(fit_with(m, 2, 1.0, X, N, 2, y, NULL, NULL, NULL), AML_OK);
        float q[2] = {NAN, 0.5f}, q2[2] = {0.5f, 0.5f};
        double p1[2], p2[2];
        assert_int_equal(vt->predict_row(m, q, p1), AML_OK);
        assert_int_equal(vt->predict_row(m, q2, p2), AML_OK);
        assert_true(p1[1] > 0.95);
        assert_true(p2[0] > 0.95);
        vt->free(m);
    }
    split_free(&s);
}

/* An integer sample weight is the same as repeating the row (no bootstrap, every feature tried,
 * shallow trees so that leaves mix classes and the weights show in the probabilities);
 * zero weights drop rows; "balanced" lifts the rare class. */
static void test_weights(void **state)
{
    enum { N = 300, D = 3 };
    float X[N * D], Xd[2 * N * D];
    int32_t y[N], yd[2 * N];
    float w[N];
    aml_rng rng;
    aml_rng_seed(&rng, 3);
    int64_t nd = 0;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            X[i * D + j] = (float)(int)(aml_rng_uniform(&rng) * 20); /* few distinct values */
        y[i] = X[i * D] + X[i * D + 1] + 6 * aml_rng_uniform(&rng) > 22;
        w[i] = (float)(1 + (i % 3 == 0));
        for (int rep = 0; rep < (int)w[i]; rep++) {
            memcpy(Xd + nd * D, X + i * D, sizeof(float) * D);
            yd[nd++] = y[i];
        }
    }
    param_set ps;
    const aml_params *p =
        params_of(&ps, "n_trees", 10.0, "bootstrap", 0.0, "max_features", 1.0, "max_depth", 3.0, NULL);
    aml_model *a = create_model(2, D, 1, p), *b = create_model(2, D, 1, p);
    assert_int_equal(fit_with(a, 2, 1.0, X, N, D, y, NULL, w, NULL), AML_OK);
    assert_int_equal(fit_with(b, 2, 1.0, Xd, nd, D, yd, NULL, NULL, NULL), AML_OK);
    double *P = predict_all(a, X, N, D, 2, 2), *Q = predict_all(b, X, N, D, 2, 2);
    for (int i = 0; i < 2 * N; i++)
        assert_true(fabs(P[i] - Q[i]) < 1e-6);
    free(P), free(Q);
    vt->free(a), vt->free(b);

    /* imbalanced and noisy: balanced class weights raise the mean probability of the rare class */
    int32_t yi[N];
    int rare = 0;
    for (int i = 0; i < N; i++) {
        yi[i] = X[i * D] + 8 * aml_rng_uniform(&rng) > 21;
        rare += yi[i];
    }
    assert_true(rare > 5 && rare < N / 4);
    a = create_model(2, D, 1, params_of(&ps, "n_trees", 50.0, "min_samples_leaf", 5.0, NULL));
    b = create_model(2, D, 1, params_of(&ps, "n_trees", 50.0, "min_samples_leaf", 5.0, "class_weight", 1.0, NULL));
    assert_int_equal(fit_with(a, 2, 1.0, X, N, D, yi, NULL, NULL, NULL), AML_OK);
    assert_int_equal(fit_with(b, 2, 1.0, X, N, D, yi, NULL, NULL, NULL), AML_OK);
    P = predict_all(a, X, N, D, 2, 2), Q = predict_all(b, X, N, D, 2, 2);
    double pa = 0, pb = 0;
    for (int i = 0; i < N; i++)
        pa += P[2 * i + 1], pb += Q[2 * i + 1];
    fprintf(stderr, "mean P(rare): %.3f unweighted, %.3f balanced\n", pa / N, pb / N);
    assert_true(pb > pa + 0.05 * N);
    free(P), free(Q);
    vt->free(a), vt->free(b);
}

/* Only feature 2 carries the target: it gets most of the impurity decrease; all sum to 1. */
static void test_importance(void **state)
{
    enum { N = 500, D = 5 };
    float X[N * D];
    double v[N];
    aml_rng rng;
    aml_rng_seed(&rng, 9);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            X[i * D + j] = (float)aml_rng_uniform(&rng);
        v[i] = 10 * X[i * D + 2] + 0.1 * aml_rng_uniform(&rng);
    }
    param_set ps;
    aml_model *m = create_model(0, D, 1, params_of(&ps, "n_trees", 20.0, NULL));
    assert_int_equal(fit_with(m, 2, 1.0, X, N, D, NULL, v, NULL, NULL), AML_OK);
    double imp[D], total = 0;
    assert_int_equal(vt->importance(m, imp), AML_OK);
    for (int j = 0; j < D; j++) {
        assert_true(imp[j] >= 0);
        total += imp[j];
    }
    assert_true(fabs(total - 1) < 1e-9);
    assert_true(imp[2] > 0.9);
    vt->free(m);
}

/* Small and degenerate inputs: one row, constant features, a constant target; max_depth and
 * min_samples_leaf bound the leaves; a feature with 2000 distinct values (quantile bins) still
 * fits y = x closely. */
static void test_edge_cases(void **state)
{
    param_set ps;
    /* one row */
    float x1[2] = {1, 2};
    int32_t y1[1] = {1};
    aml_model *m = create_model(3, 2, 1, params_of(&ps, "n_trees", 10.0, NULL));
    assert_int_equal(fit_with(m, 2, 1.0, x1, 1, 2, y1, NULL, NULL, NULL), AML_OK);
    double p3[3];
    assert_int_equal(vt->predict_row(m, x1, p3), AML_OK);
    assert_true(p3[1] == 1.0 && p3[0] == 0.0 && p3[2] == 0.0);
    vt->free(m);
    /* constant features: every tree is one leaf holding the class fractions */
    enum { N = 200 };
    float X[N * 2], Xs[N];
    int32_t y[N];
    double v[N];
    for (int i = 0; i < N; i++) {
        X[2 * i] = 3, X[2 * i + 1] = -1, y[i] = i < N / 4, v[i] = 7.5;
        Xs[i] = (float)i;
    }
    m = create_model(2, 2, 1, params_of(&ps, "n_trees", 1.0, "bootstrap", 0.0, NULL));
    assert_int_equal(fit_with(m, 2, 1.0, X, N, 2, y, NULL, NULL, NULL), AML_OK);
    double p2[2];
    assert_int_equal(vt->predict_row(m, X, p2), AML_OK);
    assert_true(fabs(p2[1] - 0.25) < 1e-7 && fabs(p2[0] - 0.75) < 1e-7);
    vt->free(m);
    /* a constant target */
    m = create_model(0, 1, 1, params_of(&ps, "n_trees", 10.0, NULL));
    assert_int_equal(fit_with(m, 2, 1.0, Xs, N, 1, NULL, v, NULL, NULL), AML_OK);
    double p1;
    assert_int_equal(vt->predict_row(m, Xs + 17, &p1), AML_OK);
    assert_true(p1 == 7.5);
    vt->free(m);
    /* depth 1: a stump gives at most two values; min_samples_leaf 60 of 200 rows: at most 3 */
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < N; i++)
            v[i] = sin(i * 0.1) * 10 + i * 0.05;
        m = create_model(0, 1, 1, c ? params_of(&ps, "n_trees", 1.0, "bootstrap", 0.0, "min_samples_leaf", 60.0, NULL)
                                    : params_of(&ps, "n_trees", 1.0, "bootstrap", 0.0, "max_depth", 1.0, NULL));
        assert_int_equal(fit_with(m, 2, 1.0, Xs, N, 1, NULL, v, NULL, NULL), AML_OK);
        double *P = predict_all(m, Xs, N, 1, 1, 2), seen[8];
        int distinct = 0;
        for (int i = 0; i < N; i++) {
            int known = 0;
            for (int k = 0; k < distinct; k++)
                known |= seen[k] == P[i];
            if (!known && distinct < 8)
                seen[distinct++] = P[i];
        }
        assert_int_equal(distinct, c ? 3 : 2);
        free(P);
        vt->free(m);
    }
    /* 2000 distinct values, some missing: quantile bins, y = x learned to within a bin */
    enum { M = 2000 };
    float *Xq = malloc(M * sizeof *Xq);
    double *vq = malloc(M * sizeof *vq);
    for (int i = 0; i < M; i++)
        Xq[i] = (float)(i * 0.37), vq[i] = i * 0.37;
    for (int i = 0; i < M; i += 50)
        Xq[i] = NAN;
    m = create_model(0, 1, 1, params_of(&ps, "n_trees", 10.0, NULL));
    assert_int_equal(fit_with(m, 2, 1.0, Xq, M, 1, NULL, vq, NULL, NULL), AML_OK);
    double *P = predict_all(m, Xq, M, 1, 1, 2);
    double sse = 0, sst = 0;
    for (int i = 1; i < M; i++)
        if (i % 50)
            sse += (P[i] - vq[i]) * (P[i] - vq[i]), sst += (vq[i] - 370) * (vq[i] - 370);
    fprintf(stderr, "y = x with 2000 distinct values: training R^2 %.5f\n", 1 - sse / sst);
    assert_true(1 - sse / sst > 0.999);
    free(P), free(Xq), free(vq);
    vt->free(m);
}

static void test_bad_input(void **state)
{
    param_set ps;
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 2};
    aml_model *m = NULL;
    assert_int_equal(vt->create(&host, &hc, params_of(&ps, "n_trees", 0.0, NULL), &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "forest: n_trees must be an integer in [1, 100000]");
    assert_int_equal(vt->create(&host, &hc, params_of(&ps, "max_features", 1.5, NULL), &task, &m), AML_ERR_INPUT);
    assert_int_equal(vt->create(&host, &hc, params_of(&ps, "min_samples_leaf", 0.0, NULL), &task, &m),
                     AML_ERR_INPUT);
    task.n_classes = 1;
    assert_int_equal(vt->create(&host, &hc, params_of(&ps, NULL), &task, &m), AML_ERR_INPUT);
    assert_null(m);

    m = create_model(2, 2, 1, params_of(&ps, "n_trees", 10.0, NULL));
    float X[8] = {0, 1, 1, 0, 2, 2, 3, 1};
    int32_t y[4] = {0, 1, 2, 0};
    float w[4] = {1, 1, -1, 1};
    char msg[1024];
    assert_int_equal(fit_with(m, 1, 1.0, X, 4, 2, y, NULL, NULL, msg), AML_ERR_INPUT);
    assert_string_equal(msg, "forest: training row 2: class index 2 outside [0, 2)");
    y[2] = 1;
    assert_int_equal(fit_with(m, 1, 1.0, X, 4, 2, y, NULL, w, msg), AML_ERR_INPUT);
    assert_string_equal(msg, "forest: training row 2: sample weight -1 must be finite and >= 0");
    float zero[4] = {0};
    assert_int_equal(fit_with(m, 1, 1.0, X, 4, 2, y, NULL, zero, msg), AML_ERR_INPUT);
    assert_string_equal(msg, "forest: the sample weights of the training rows sum to 0");
    double out[8];
    aml_matrix mx = {.data = X, .rows = 4, .cols = 2, .ld = 2};
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "forest: predict before fit");
    assert_int_equal(fit_with(m, 1, 1.0, X, 4, 2, y, NULL, NULL, NULL), AML_OK);
    mx.cols = 1, mx.ld = 2;
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "forest: predict on 1 columns, the model was fitted on 2");
    /* infinities are ordinary (extreme) values */
    float Xi[8] = {-INFINITY, 1, INFINITY, 0, 2, INFINITY, 3, 1};
    assert_int_equal(fit_with(m, 1, 1.0, Xi, 4, 2, y, NULL, NULL, NULL), AML_OK);
    mx.cols = 2;
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_OK);
    vt->free(m);

    /* a deadline already passed: cancelled, nothing kept */
    m = create_model(2, 2, 1, params_of(&ps, "n_trees", 10.0, NULL));
    aml_host_ctx late;
    aml_host_ctx_init(&late, 2);
    late.deadline = 1e-9;
    aml_matrix mx2 = {.data = X, .rows = 4, .cols = 2, .ld = 2};
    aml_target t = {.label = y};
    assert_int_equal(vt->fit(m, &late, &mx2, &t, NULL, NULL, NULL), AML_ERR_CANCELLED);
    assert_int_equal(vt->predict(m, &hc, &mx2, out), AML_ERR_INPUT);
    vt->free(m);
    vt->free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_breast_cancer_accuracy_and_oob),
        cmocka_unit_test(test_diabetes_regression),
        cmocka_unit_test(test_save_load_exact),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_continue_equals_one_fit),
        cmocka_unit_test(test_stop_keeps_prefix),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_importance),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
