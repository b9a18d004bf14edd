/* The mlp model plugin: its gradient against finite differences (the network arithmetic is
 * compiled in here), and, loaded as a .so through the registry, resume-by-epochs equal to one fit,
 * determinism, early stopping, exact save/load, corrupt blobs, bad parameters, missing values and
 * held-out accuracy on digits and breast_cancer. */
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

#include "../../plugins/models/mlp/mlp_net.c"
#include "../../plugins/models/common/model_common.c"
#include "../../plugins/common/param_check.c"

#define PLUGIN_PATH AML_PLUGIN_BUILD_DIR "/aml_model_mlp.so"

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
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "mlp");
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
    double num[16];
    const char *str[16];
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

/* Defaults, then name=value pairs: "hidden" takes a string, the others numbers. */
static const aml_params *params_of(param_set *ps, const char *hidden, ...)
{
    for (int i = 0; i < desc->n_params; i++) {
        ps->num[i] = desc->params[i].def;
        ps->str[i] = desc->params[i].type == AML_PARAM_STRING ? desc->params[i].def_str : NULL;
    }
    if (hidden)
        ps->str[param_index("hidden")] = hidden;
    va_list ap;
    va_start(ap, hidden);
    const char *name;
    while ((name = va_arg(ap, const char *)))
        ps->num[param_index(name)] = va_arg(ap, double);
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
} data;

static aml_model *create_model(int n_classes, int64_t d, uint64_t seed, const aml_params *p)
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

static void fit_to(aml_model *m, const data *tr, const data *va, double resource, int threads)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    omp_set_num_threads(threads); /* as the engine does before calling a plugin */
    aml_matrix X = {.data = tr->X, .rows = tr->n, .cols = tr->d, .ld = tr->d};
    aml_target y = {.label = tr->label, .value = tr->value, .weight = tr->w};
    aml_matrix VX;
    aml_target vy;
    if (va) {
        VX = (aml_matrix){.data = va->X, .rows = va->n, .cols = va->d, .ld = va->d};
        vy = (aml_target){.label = va->label, .value = va->value, .weight = va->w};
    }
    aml_fit_budget b = {.size = sizeof b, .resource = resource};
    aml_status st = vt->fit(m, &hc, &X, &y, va ? &VX : NULL, va ? &vy : NULL, &b);
    if (st != AML_OK)
        print_error("fit: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
}

static void predict(const aml_model *m, const float *X, int64_t n, int64_t d, double *out)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    omp_set_num_threads(2);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    aml_status st = vt->predict(m, &hc, &mx, out);
    if (st != AML_OK)
        print_error("predict: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
}

static void save(const aml_model *m, aml_writer *w)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_writer_init(w);
    assert_int_equal(vt->save(m, &hc, w), AML_OK);
}

/* Two noisy interleaved classes (or a smooth regression target) on features of mixed scales. */
static void make_data(int n, int d, int n_classes, unsigned seed, float *X, int32_t *label, double *value)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) {
            double u = aml_rng_uniform(&r) * 2 - 1;
            X[i * d + j] = (float)(u * (1 + 4 * (j % 3)) + 3 * j);
            s += sin(2.5 * u + j) * (j % 2 ? 1 : -0.5);
        }
        double noise = (aml_rng_uniform(&r) - 0.5) * 0.6;
        if (label) {
            int c = (int)floor((s + 0.2 * noise) / 1.4 + 0.5 * n_classes);
            label[i] = c < 0 ? 0 : c >= n_classes ? n_classes - 1 : c;
        }
        if (value)
            value[i] = 10 * s + noise + 100;
    }
}

/* ---- gradient against finite differences ---------------------------------------------------- */

static void check_gradient(int classification, const int *hidden, int n_hidden, float dropout, int weighted)
{
    enum { NB = 9, D = 5, K = 3 };
    const aml_host *h = aml_host_services();
    mlp_net net;
    mlp_net_layout(&net, D, hidden, n_hidden, classification ? K : 1, classification);
    mlp_rng rng;
    mlp_rng_seed(&rng, 42);
    float *theta = malloc((size_t)net.n_params * sizeof *theta), *g = malloc((size_t)net.n_params * sizeof *g),
          *g2 = malloc((size_t)net.n_params * sizeof *g2);
    mlp_net_init(&net, theta, &rng);
    mlp_buffers b;
    assert_int_equal(mlp_buffers_alloc(h, &b, &net, NB, dropout > 0), 0);
    int32_t label[NB];
    float value[NB], w[NB];
    for (int i = 0; i < NB; i++) {
        for (int j = 0; j < D; j++)
            b.act[0][i * D + j] = 2.0f * mlp_rng_unit(&rng) - 1.0f;
        label[i] = i % K;
        value[i] = 2.0f * mlp_rng_unit(&rng) - 1.0f;
        w[i] = 0.5f + mlp_rng_unit(&rng);
    }
    float x0[NB * D];
    memcpy(x0, b.act[0], sizeof x0);
    if (dropout > 0)
        mlp_draw_dropout(&net, &b, NB, dropout, &rng); /* fixed masks: the loss is a function of theta */
    const float l2 = 0.3f;
    mlp_loss_grad(&net, theta, &b, NB, label, value, weighted ? w : NULL, l2, g, 1);
    const double eps = 1e-2;
    int checked = 0;
    for (int64_t p = 0; p < net.n_params; p++) {
        const float keep = theta[p];
        double f[2];
        for (int s = 0; s < 2; s++) {
            theta[p] = (float)(keep + (s ? -eps : eps));
            memcpy(b.act[0], x0, sizeof x0);
            f[s] = mlp_loss_grad(&net, theta, &b, NB, label, value, weighted ? w : NULL, l2, g2, 1);
        }
        theta[p] = keep;
        memcpy(b.act[0], x0, sizeof x0);
        const double fd = (f[0] - f[1]) / (2 * eps);
        if (fabs(fd - g[p]) > 2e-3 + 2e-2 * fabs(fd)) {
            print_error("parameter %lld: gradient %.6g, finite difference %.6g\n", (long long)p, (double)g[p], fd);
            fail();
        }
        checked += g[p] != 0.0f;
    }
    assert_true(checked > net.n_params / 2); /* the check covered real gradients, not zeros */
    mlp_buffers_free(h, &b);
    free(theta), free(g), free(g2);
}

static void test_gradient_softmax(void **state)
{
    int hidden[2] = {7, 4};
    check_gradient(1, hidden, 2, 0, 0);
    check_gradient(1, hidden, 2, 0, 1);
}

static void test_gradient_squared_error(void **state)
{
    int hidden[1] = {6};
    check_gradient(0, hidden, 1, 0, 1);
    check_gradient(0, NULL, 0, 0, 0);
}

static void test_gradient_dropout(void **state)
{
    int hidden[3] = {8, 6, 5};
    check_gradient(1, hidden, 3, 0.3f, 0);
    check_gradient(0, hidden, 3, 0.5f, 1);
}

/* ---- the plugin ----------------------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "mlp");
    assert_int_equal(desc->kind, AML_PLUGIN_MODEL);
    assert_true(desc->flags & AML_PLUGIN_RESUMABLE);
    const aml_param_def *p = &desc->params[param_index("hidden")];
    assert_int_equal(p->type, AML_PARAM_STRING);
    assert_string_equal(p->def_str, "128:64");
    p = &desc->params[param_index("epochs")];
    assert_true(p->type == AML_PARAM_INT && p->lo == 5 && p->hi == 500 && p->def == 200 && p->log_scale);
    p = &desc->params[param_index("learning_rate")];
    assert_true(p->lo == 1e-4 && p->hi == 1e-1 && p->def == 1e-3 && p->log_scale);
    p = &desc->params[param_index("batch")];
    assert_true(p->type == AML_PARAM_INT && p->def == 128);
    assert_true(desc->params[param_index("l2")].def == 1e-4);
    p = &desc->params[param_index("dropout")];
    assert_true(p->lo == 0 && p->hi == 0.5 && p->def == 0);
}

enum { RN = 600, RV = 200, RD = 6, RK = 3 };
static float rX[RN * RD], rVX[RV * RD], rQ[RV * RD];
static int32_t rY[RN], rVY[RV];
static double rYv[RN], rVYv[RV];

static void resume_data(data *tr, data *va, int classification)
{
    make_data(RN, RD, RK, 11, rX, rY, rYv);
    make_data(RV, RD, RK, 12, rVX, rVY, rVYv);
    make_data(RV, RD, RK, 13, rQ, NULL, NULL);
    *tr = (data){.X = rX, .n = RN, .d = RD, .label = classification ? rY : NULL, .value = classification ? NULL : rYv};
    *va = (data){.X = rVX, .n = RV, .d = RD, .label = classification ? rVY : NULL,
                 .value = classification ? NULL : rVYv};
}

static void assert_same_model(const aml_model *a, const aml_model *b, int n_out)
{
    aml_writer wa, wb;
    save(a, &wa), save(b, &wb);
    assert_int_equal(wa.len, wb.len);
    assert_memory_equal(wa.buf, wb.buf, wa.len);
    aml_writer_release(&wa), aml_writer_release(&wb);
    double *pa = malloc(sizeof(double) * RV * n_out), *pb = malloc(sizeof(double) * RV * n_out);
    predict(a, rQ, RV, RD, pa), predict(b, rQ, RV, RD, pb);
    assert_memory_equal(pa, pb, sizeof(double) * RV * n_out);
    free(pa), free(pb);
}

/* Fitting to 30 %, then 70 %, then 100 % of the epochs ends in the bits of one fit to 100 %:
 * with a validation fold (early stopping, best weights), dropout masks and shuffles in between. */
static void test_resume_equals_one_go(void **state)
{
    data tr, va;
    for (int cls = 1; cls >= 0; cls--) {
        resume_data(&tr, &va, cls);
        param_set ps;
        const aml_params *p = params_of(&ps, "16:8", "epochs", 40.0, "dropout", 0.2, "batch", 64.0, "patience",
                                        50.0, NULL);
        aml_model *one = create_model(cls ? RK : 0, RD, 5, p), *steps = create_model(cls ? RK : 0, RD, 5, p);
        fit_to(one, &tr, &va, 1.0, 2);
        fit_to(steps, &tr, &va, 0.3, 2);
        aml_writer w30;
        save(steps, &w30);
        fit_to(steps, &tr, &va, 0.7, 1); /* a different thread count on the way changes nothing */
        fit_to(steps, &tr, &va, 1.0, 2);
        assert_same_model(one, steps, cls ? RK : 1);
        /* and the 30 % model really was a different (earlier) model */
        aml_writer w100;
        save(one, &w100);
        assert_int_equal(w30.len, w100.len);
        assert_true(memcmp(w30.buf, w100.buf, w30.len) != 0);
        aml_writer_release(&w30), aml_writer_release(&w100);
        vt->free(one), vt->free(steps);
    }
    /* without a validation fold too */
    resume_data(&tr, &va, 1);
    param_set ps;
    const aml_params *p = params_of(&ps, "12", "epochs", 20.0, NULL);
    aml_model *one = create_model(RK, RD, 9, p), *steps = create_model(RK, RD, 9, p);
    fit_to(one, &tr, NULL, 1.0, 2);
    fit_to(steps, &tr, NULL, 0.5, 2);
    fit_to(steps, &tr, NULL, 1.0, 2);
    assert_same_model(one, steps, RK);
    vt->free(one), vt->free(steps);
}

/* Different data on a resumed fit starts over: the result is one fit on the new data. */
static void test_resume_other_data_restarts(void **state)
{
    data tr, va;
    resume_data(&tr, &va, 1);
    param_set ps;
    const aml_params *p = params_of(&ps, "10", "epochs", 10.0, NULL);
    aml_model *a = create_model(RK, RD, 3, p), *b = create_model(RK, RD, 3, p);
    fit_to(a, &va, NULL, 0.5, 2); /* the validation rows as training data first */
    fit_to(a, &tr, NULL, 1.0, 2);
    fit_to(b, &tr, NULL, 1.0, 2);
    assert_same_model(a, b, RK);
    vt->free(a), vt->free(b);
}

/* Same seed, same bits (1 or 2 threads); another seed, other weights. */
static void test_deterministic(void **state)
{
    data tr, va;
    resume_data(&tr, &va, 1);
    param_set ps;
    const aml_params *p = params_of(&ps, "32:16", "epochs", 8.0, "dropout", 0.1, NULL);
    aml_model *a = create_model(RK, RD, 21, p), *b = create_model(RK, RD, 21, p), *c = create_model(RK, RD, 22, p);
    fit_to(a, &tr, &va, 1.0, 1);
    fit_to(b, &tr, &va, 1.0, 2);
    fit_to(c, &tr, &va, 1.0, 2);
    assert_same_model(a, b, RK);
    double pa[RV * RK], pc[RV * RK];
    predict(a, rQ, RV, RD, pa), predict(c, rQ, RV, RD, pc);
    assert_true(memcmp(pa, pc, sizeof pa) != 0);
    vt->free(a), vt->free(b), vt->free(c);
}

/* Products big enough for OpenBLAS to split over 2 threads (>= 2^21 multiply-adds) still give
 * the bits of 1 thread: the split is over rows and columns of the output, never over the sums. */
static void test_threads_large_shapes(void **state)
{
    enum { N = 1024, D = 96, K = 4 };
    static float X[N * D];
    static int32_t y[N];
    make_data(N, D, K, 41, X, y, NULL);
    data tr = {.X = X, .n = N, .d = D, .label = y};
    param_set ps;
    const aml_params *p = params_of(&ps, "256:128", "epochs", 2.0, "batch", 256.0, NULL);
    aml_model *a = create_model(K, D, 3, p), *b = create_model(K, D, 3, p);
    fit_to(a, &tr, NULL, 1.0, 1);
    fit_to(b, &tr, NULL, 1.0, 2);
    aml_writer wa, wb;
    save(a, &wa), save(b, &wb);
    assert_int_equal(wa.len, wb.len);
    assert_memory_equal(wa.buf, wb.buf, wa.len);
    aml_writer_release(&wa), aml_writer_release(&wb);
    vt->free(a), vt->free(b);
}

/* Pure-noise labels: the validation score stops improving early, so a model allowed 60 epochs and
 * one allowed 120 stop at the same epoch and keep the same best weights. Without a validation
 * fold the training loss decides, the same way. */
static void test_early_stopping(void **state)
{
    data tr, va;
    resume_data(&tr, &va, 1);
    static int32_t noise_tr[RN], noise_va[RV];
    aml_rng r;
    aml_rng_seed(&r, 77);
    for (int i = 0; i < RN; i++)
        noise_tr[i] = (int32_t)aml_rng_below(&r, RK);
    for (int i = 0; i < RV; i++)
        noise_va[i] = (int32_t)aml_rng_below(&r, RK);
    tr.label = noise_tr, va.label = noise_va;
    param_set ps;
    aml_model *a = create_model(RK, RD, 4, params_of(&ps, "64:64", "epochs", 60.0, "patience", 5.0,
                                                     "learning_rate", 0.01, NULL));
    aml_model *b = create_model(RK, RD, 4, params_of(&ps, "64:64", "epochs", 120.0, "patience", 5.0,
                                                     "learning_rate", 0.01, NULL));
    fit_to(a, &tr, &va, 1.0, 2);
    fit_to(b, &tr, &va, 1.0, 2);
    double pa[RV * RK], pb[RV * RK];
    predict(a, rQ, RV, RD, pa), predict(b, rQ, RV, RD, pb);
    assert_memory_equal(pa, pb, sizeof pa);
    vt->free(a), vt->free(b);

    /* without a fold: two far-apart clusters, whose training loss soon stops improving by 1e-4 */
    static int32_t sep[RN];
    static float Xs[RN * RD];
    for (int i = 0; i < RN; i++) {
        sep[i] = i % 2;
        for (int j = 0; j < RD; j++)
            Xs[i * RD + j] = (float)((sep[i] ? 5 : -5) + 0.01 * ((i * 7 + j * 3) % 11));
    }
    data st = {.X = Xs, .n = RN, .d = RD, .label = sep};
    a = create_model(2, RD, 4, params_of(&ps, "8", "epochs", 300.0, "patience", 3.0, "learning_rate", 0.05, NULL));
    b = create_model(2, RD, 4, params_of(&ps, "8", "epochs", 500.0, "patience", 3.0, "learning_rate", 0.05, NULL));
    fit_to(a, &st, NULL, 1.0, 2);
    fit_to(b, &st, NULL, 1.0, 2);
    double sa[2 * 8], sb[2 * 8];
    predict(a, Xs, 8, RD, sa), predict(b, Xs, 8, RD, sb);
    assert_memory_equal(sa, sb, sizeof sa);
    for (int i = 0; i < 8; i++)
        assert_true(sa[i * 2 + sep[i]] > 0.99);
    vt->free(a), vt->free(b);
}

static aml_model *roundtrip(const aml_model *m, aml_writer *w, int n_classes, int64_t d)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    save(m, w);
    aml_reader r;
    aml_reader_init(&r, w->buf, w->len);
    aml_task task = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                     .n_features = d};
    aml_model *back = NULL;
    aml_status st = vt->load(host, &hc, &r, &task, &back);
    if (st != AML_OK)
        print_error("load: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    assert_int_equal(r.pos, r.len);
    return back;
}

static void test_save_load_exact(void **state)
{
    data tr, va;
    for (int cls = 1; cls >= 0; cls--) {
        resume_data(&tr, &va, cls);
        const int no = cls ? RK : 1;
        param_set ps;
        aml_model *m = create_model(cls ? RK : 0, RD, 8, params_of(&ps, "24:12", "epochs", 15.0, NULL));
        fit_to(m, &tr, &va, 1.0, 2);
        aml_writer w1, w2;
        aml_model *back = roundtrip(m, &w1, cls ? RK : 0, RD);
        aml_model *again = roundtrip(back, &w2, cls ? RK : 0, RD);
        assert_int_equal(w1.len, w2.len);
        assert_memory_equal(w1.buf, w2.buf, w1.len);
        double *p1 = malloc(sizeof(double) * RV * no), *p2 = malloc(sizeof(double) * RV * no);
        predict(m, rQ, RV, RD, p1), predict(back, rQ, RV, RD, p2);
        assert_memory_equal(p1, p2, sizeof(double) * RV * no);
        for (int q = 0; q < RV; q++) { /* the single-row path: the same network, summed in another order */
            double row[RK];
            assert_int_equal(vt->predict_row(back, rQ + q * RD, row), AML_OK);
            for (int k = 0; k < no; k++)
                assert_true(fabs(row[k] - p1[q * no + k]) <= 1e-5 * (1 + fabs(p1[q * no + k])));
        }
        if (!cls) { /* regression predictions are on the target's scale */
            double mean = 0;
            for (int q = 0; q < RV; q++)
                mean += p1[q] / RV;
            assert_true(mean > 80 && mean < 120);
        }
        free(p1), free(p2);
        aml_writer_release(&w1), aml_writer_release(&w2);
        vt->free(m), vt->free(back), vt->free(again);
    }
}

static void test_garbage_blob_rejected(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = RK, .n_features = RD};
    unsigned char junk[300];
    for (int i = 0; i < 300; i++)
        junk[i] = (unsigned char)(i * 91 + 7);
    aml_reader r;
    aml_reader_init(&r, junk, sizeof junk);
    aml_model *m = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
    assert_null(m);
    assert_string_equal(hc.msg, "mlp: not a model blob of this plugin (wrong magic number)");

    data tr, va;
    resume_data(&tr, &va, 1);
    param_set ps;
    aml_model *fitted = create_model(RK, RD, 1, params_of(&ps, "5", "epochs", 5.0, NULL));
    fit_to(fitted, &tr, NULL, 1.0, 1);
    aml_writer w;
    save(fitted, &w);
    for (size_t cut = 0; cut < w.len; cut += (cut < 200 ? 1 : 7)) {
        aml_reader_init(&r, w.buf, cut);
        hc.msg[0] = 0;
        assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
        assert_true(hc.msg[0] != 0);
    }
    /* a layer width that does not match the stored weights is corruption */
    unsigned char *copy = malloc(w.len);
    memcpy(copy, w.buf, w.len);
    copy[24] = 6; /* hidden[0]: 5 -> 6 */
    aml_reader_init(&r, copy, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
    assert_non_null(strstr(hc.msg, "corrupt"));
    /* a NaN weight is corruption too */
    memcpy(copy, w.buf, w.len);
    const float nan = NAN;
    memcpy(copy + w.len - 4, &nan, 4);
    aml_reader_init(&r, copy, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
    assert_non_null(strstr(hc.msg, "corrupt"));
    /* a blob for another task */
    aml_task other = {.kind = AML_TASK_CLASSIFICATION, .n_classes = RK + 1, .n_features = RD};
    aml_reader_init(&r, w.buf, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &other, &m), AML_ERR_FORMAT);
    free(copy);
    aml_writer_release(&w);
    vt->free(fitted);
}

static void test_bad_input_rejected(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 2};
    param_set ps;
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, params_of(&ps, "64:x", NULL), &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg,
                        "mlp: hidden = \"64:x\": expected layer widths like \"256:128\" (each 1..4096, at most 8 layers)");
    assert_int_equal(vt->create(host, &hc, params_of(&ps, "0", NULL), &task, &m), AML_ERR_INPUT);
    assert_int_equal(vt->create(host, &hc, params_of(&ps, "1:2:3:4:5:6:7:8:9", NULL), &task, &m), AML_ERR_INPUT);
    assert_int_equal(vt->create(host, &hc, params_of(&ps, NULL, "dropout", 0.95, NULL), &task, &m), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "mlp: dropout = 0.95 must be in [0, 0.9]");
    assert_int_equal(vt->create(host, &hc, params_of(&ps, NULL, "learning_rate", 0.0, NULL), &task, &m),
                     AML_ERR_INPUT);
    assert_null(m);
    /* an empty hidden string is a valid model: softmax regression */
    assert_int_equal(vt->create(host, &hc, params_of(&ps, "", NULL), &task, &m), AML_OK);
    float X[8] = {0, 1, 2, 3, 4, INFINITY, 6, 7};
    int32_t y[4] = {0, 1, 0, 5};
    aml_matrix mx = {.data = X, .rows = 4, .cols = 2, .ld = 2};
    aml_target t = {.label = y};
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "mlp: training row 3: class index 5 outside [0, 2)");
    y[3] = 1;
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "mlp: row 2, feature 1 is infinite (NaN marks a missing value)");
    X[5] = 5;
    aml_fit_budget b = {.size = sizeof b, .resource = 1.5};
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, &b), AML_ERR_INPUT);
    double out[2];
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_ERR_INPUT); /* never fitted */
    assert_string_equal(hc.msg, "mlp: predict before fit");
    vt->free(m);
}

/* A NaN cell is the training mean, in training rows and in queries. */
static void test_missing_values(void **state)
{
    data tr, va;
    resume_data(&tr, &va, 1);
    static float X[RN * RD];
    memcpy(X, rX, sizeof X);
    for (int i = 0; i < RN; i += 7)
        X[i * RD + (i % RD)] = NAN;
    tr.X = X;
    param_set ps;
    aml_model *m = create_model(RK, RD, 2, params_of(&ps, "16", "epochs", 10.0, NULL));
    fit_to(m, &tr, NULL, 1.0, 2);
    double mean1 = 0;
    int cnt = 0;
    /* without a validation fold the model holds out every 10th row for early stopping, so its
     * statistics come from the others */
    for (int i = 0; i < RN; i++)
        if (!isnan(X[i * RD + 1]) && !(RN >= 50 && i % 10 == 9))
            mean1 += X[i * RD + 1], cnt++;
    mean1 /= cnt;
    float qn[RD], qm[RD];
    memcpy(qn, rQ, sizeof qn);
    memcpy(qm, rQ, sizeof qm);
    qn[1] = NAN;
    double a[RK], b[RK];
    predict(m, qn, 1, RD, a);
    for (int k = 0; k < RK; k++)
        assert_false(isnan(a[k]));
    /* the model's float mean may round differently from this double mean: predictions agree closely */
    qm[1] = (float)mean1;
    predict(m, qm, 1, RD, b);
    for (int k = 0; k < RK; k++)
        assert_true(fabs(a[k] - b[k]) < 1e-4);
    vt->free(m);
}

/* ---- held-out quality ------------------------------------------------------------------------ */

static aml_dataset *load_csv(const char *name)
{
    char path[1024];
    const char *dir = getenv("AML_DATASETS_DIR");
    snprintf(path, sizeof path, "%s/%s.csv", dir ? dir : AML_SOURCE_DIR "/datasets", name);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s is not there: skipped\n", path);
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

/* Held-out accuracy on the 25 % stratified split (seed 0) with the default parameters. */
static double heldout_accuracy(const char *name)
{
    aml_dataset *ds = load_csv(name);
    if (!ds)
        return -1;
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
    aml_model *m = create_model(k, d, 1, params_of(&ps, NULL, NULL));
    data tr = {.X = Xtr, .n = ntr, .d = d, .label = ytr};
    fit_to(m, &tr, NULL, 1.0, 2);
    double *P = malloc((size_t)nte * k * sizeof *P);
    predict(m, Xte, nte, d, P);
    int64_t correct = 0;
    for (int64_t i = 0; i < nte; i++) {
        int best = 0;
        for (int q = 1; q < k; q++)
            best = P[i * k + q] > P[i * k + best] ? q : best;
        correct += best == yte[i];
    }
    vt->free(m);
    free(is_test), free(Xtr), free(Xte), free(ytr), free(yte), free(P);
    aml_dataset_free(ds);
    return (double)correct / (double)nte;
}

static void test_digits_accuracy(void **state)
{
    double acc = heldout_accuracy("digits");
    if (acc < 0)
        skip();
    fprintf(stderr, "mlp on digits: held-out accuracy %.4f (bar 0.96)\n", acc);
    assert_true(acc >= 0.96);
}

static void test_breast_cancer_accuracy(void **state)
{
    double acc = heldout_accuracy("breast_cancer");
    if (acc < 0)
        skip();
    fprintf(stderr, "mlp on breast_cancer: held-out accuracy %.4f (bar 0.95)\n", acc);
    assert_true(acc >= 0.95);
}

/* Regression: a smooth target on held-out rows, R^2 well above a linear fit's reach. */
static void test_regression_fit(void **state)
{
    enum { N = 2000, Q = 500, D = 4 };
    static float X[N * D], Xq[Q * D];
    static double y[N], yq[Q], P[Q];
    make_data(N, D, 2, 31, X, NULL, y);
    make_data(Q, D, 2, 32, Xq, NULL, yq);
    param_set ps;
    aml_model *m = create_model(0, D, 6, params_of(&ps, "64:32", "epochs", 100.0, NULL));
    data tr = {.X = X, .n = N, .d = D, .value = y};
    fit_to(m, &tr, NULL, 1.0, 2);
    predict(m, Xq, Q, D, P);
    double mean = 0, ss = 0, sr = 0;
    for (int i = 0; i < Q; i++)
        mean += yq[i] / Q;
    for (int i = 0; i < Q; i++)
        ss += (yq[i] - mean) * (yq[i] - mean), sr += (yq[i] - P[i]) * (yq[i] - P[i]);
    fprintf(stderr, "mlp regression: held-out R^2 %.4f (bar 0.95)\n", 1 - sr / ss);
    assert_true(1 - sr / ss >= 0.95);
    vt->free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_softmax),
        cmocka_unit_test(test_gradient_squared_error),
        cmocka_unit_test(test_gradient_dropout),
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_resume_equals_one_go),
        cmocka_unit_test(test_resume_other_data_restarts),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_threads_large_shapes),
        cmocka_unit_test(test_early_stopping),
        cmocka_unit_test(test_save_load_exact),
        cmocka_unit_test(test_garbage_blob_rejected),
        cmocka_unit_test(test_bad_input_rejected),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_regression_fit),
        cmocka_unit_test(test_digits_accuracy),
        cmocka_unit_test(test_breast_cancer_accuracy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
