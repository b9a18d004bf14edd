/* Times the `mlp` plugin on the MNIST-like set written by bench/mlp/make_data.py and measures, in
 * the same run and with the same threads, the SGEMM throughput of exactly the products one training
 * step makes (forward, weight gradients, input gradients at batch x width shapes). Prints one JSON
 * line per measurement; bench/mlp/run.sh pairs them with scikit-learn's MLPClassifier.
 *
 *   bench_mlp DATA_DIR [--threads T] [--epochs E] [--repeat R] [--hidden 256:128] [--batch B]
 *
 * fit: best wall time of R fits (fresh model each), plus process CPU time; achieved GFLOP/s =
 * the GEMM flops of E epochs / fit time; peak = the same flops / the summed best time of each
 * product shape alone (each shape on 1 or T threads, whichever is faster). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset.h"
#include "host.h"
#include "plugin_loader.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int ta, tb;
    int64_t M, N, K;
} shape;

/* The products of one training step on a batch of nb rows through widths w[0..L]. */
static int step_shapes(const int64_t *w, int L, int64_t nb, shape *s)
{
    int n = 0;
    for (int l = 0; l < L; l++)
        s[n++] = (shape){0, 0, nb, w[l + 1], w[l]}; /* forward: act W */
    for (int l = L - 1; l >= 0; l--) {
        s[n++] = (shape){1, 0, w[l], w[l + 1], nb}; /* dW = act^T delta */
        if (l > 0)
            s[n++] = (shape){0, 1, nb, w[l], w[l + 1]}; /* delta W^T */
    }
    return n;
}

static double shape_flops(const shape *s) { return 2.0 * (double)s->M * (double)s->N * (double)s->K; }

/* Best seconds per call of one product shape with t threads. */
static double time_shape(const shape *s, int t, float *A, float *B, float *C)
{
    omp_set_num_threads(t);
    const int lda = (int)(s->ta ? s->M : s->K), ldb = (int)(s->tb ? s->K : s->N);
    int reps = (int)(2e8 / shape_flops(s)) + 1;
    reps = reps > 2000 ? 2000 : reps;
    double best = HUGE_VAL;
    for (int trial = 0; trial < 7; trial++) {
        double t0 = wall_now();
        for (int r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                        (int)s->M, (int)s->N, (int)s->K, 1.0f, A, lda, B, ldb, 0.0f, C, (int)s->N);
        double dt = (wall_now() - t0) / reps;
        best = dt < best ? dt : best;
    }
    return best;
}

static aml_model *create(const aml_plugin *p, aml_host_ctx *hc, const aml_task *task, const char *hidden, int epochs,
                         int batch)
{
    const aml_plugin_descriptor *d = p->desc;
    double num[16];
    const char *str[16];
    for (int i = 0; i < d->n_params && i < 16; i++) {
        num[i] = d->params[i].def;
        str[i] = d->params[i].type == AML_PARAM_STRING ? d->params[i].def_str : NULL;
        if (!strcmp(d->params[i].name, "hidden"))
            str[i] = hidden;
        if (!strcmp(d->params[i].name, "epochs"))
            num[i] = epochs;
        if (!strcmp(d->params[i].name, "batch"))
            num[i] = batch;
        if (!strcmp(d->params[i].name, "patience")) /* never stop early: every epoch runs, as the peer's */
            num[i] = epochs + 1;
    }
    aml_params params = {.num = num, .str = str};
    aml_model *m = NULL;
    if (d->model->create(aml_host_services(), hc, &params, task, &m) != AML_OK) {
        fprintf(stderr, "bench_mlp: create: %s\n", hc->msg);
        exit(1);
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_mlp DATA_DIR [--threads T] [--epochs E] [--repeat R] [--hidden H] [--batch B]\n");
        return 2;
    }
    const char *dir = argv[1], *hidden = "256:128";
    int threads = 2, epochs = 10, repeat = 2, batch = 256;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--epochs"))
            epochs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat"))
            repeat = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--hidden"))
            hidden = argv[i + 1];
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_mlp: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    aml_ctx *c = aml_ctx_new();
    aml_dataset *tr = NULL, *te = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/mnistlike_train.h5", dir);
    if (aml_hdf5_read(c, path, &tr) != AML_OK) {
        fprintf(stderr, "bench_mlp: %s\n", aml_errmsg(c));
        return 1;
    }
    snprintf(path, sizeof path, "%s/mnistlike_test.h5", dir);
    if (aml_hdf5_read(c, path, &te) != AML_OK) {
        fprintf(stderr, "bench_mlp: %s\n", aml_errmsg(c));
        return 1;
    }
    aml_registry *reg = aml_registry_new();
    if (aml_registry_load_file(reg, c, AML_PLUGIN_BUILD_DIR "/aml_model_mlp.so") != AML_OK) {
        fprintf(stderr, "bench_mlp: %s\n", aml_errmsg(c));
        return 1;
    }
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "mlp");
    const aml_model_vtable *vt = p->desc->model;

    /* widths and the GEMM flops of one epoch (the last batch is smaller) */
    int64_t w[16];
    int L = 0;
    w[L++] = tr->n_features;
    for (const char *s = hidden; *s;) {
        char *end;
        w[L++] = strtol(s, &end, 10);
        s = *end == ':' ? end + 1 : end;
    }
    w[L] = tr->n_classes;
    const int layers = L;
    shape sh[64];
    const int n_shapes = step_shapes(w, layers, batch, sh);
    const int64_t n = tr->n_rows, full = n / batch, rest = n % batch;
    double step_flops = 0;
    for (int i = 0; i < n_shapes; i++)
        step_flops += shape_flops(&sh[i]);
    const double epoch_flops = step_flops * ((double)full + (double)rest / (double)batch);

    /* SGEMM at the same shapes, alone */
    int64_t maxw = 0;
    for (int l = 0; l <= layers; l++)
        maxw = w[l] > maxw ? w[l] : maxw;
    const size_t big = (size_t)(maxw > batch ? maxw : batch) * (size_t)maxw;
    float *A = malloc(big * sizeof *A), *B = malloc(big * sizeof *B), *C = malloc(big * sizeof *C);
    for (size_t i = 0; i < big; i++)
        A[i] = (float)((i * 7919) % 1000) * 1e-3f, B[i] = (float)((i * 104729) % 997) * 1e-3f, C[i] = 0;
    double step_time = 0;
    for (int i = 0; i < n_shapes; i++) {
        double t1 = time_shape(&sh[i], 1, A, B, C), tt = threads > 1 ? time_shape(&sh[i], threads, A, B, C) : t1;
        double best = t1 < tt ? t1 : tt;
        step_time += best;
        printf("{\"what\": \"sgemm_shape\", \"op\": \"%s%s\", \"M\": %lld, \"N\": %lld, \"K\": %lld, "
               "\"gflops_1t\": %.2f, \"gflops_%dt\": %.2f}\n",
               sh[i].ta ? "T" : "N", sh[i].tb ? "T" : "N", (long long)sh[i].M, (long long)sh[i].N,
               (long long)sh[i].K, shape_flops(&sh[i]) / t1 * 1e-9, threads, shape_flops(&sh[i]) / tt * 1e-9);
    }
    const double peak = step_flops / step_time * 1e-9;
    shape sq = {0, 0, 1024, 1024, 1024};
    float *A2 = malloc(1024 * 1024 * sizeof *A2), *B2 = malloc(1024 * 1024 * sizeof *B2),
          *C2 = malloc(1024 * 1024 * sizeof *C2);
    for (size_t i = 0; i < 1024 * 1024; i++)
        A2[i] = A[i % big], B2[i] = B[i % big];
    const double square = shape_flops(&sq) / time_shape(&sq, threads, A2, B2, C2) * 1e-9;
    printf("{\"what\": \"sgemm_peak\", \"threads\": %d, \"step_gflops\": %.2f, \"square1024_gflops\": %.2f}\n",
           threads, peak, square);
    free(A), free(B), free(C), free(A2), free(B2), free(C2);

    /* the plugin's fit, as the engine calls it */
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = tr->n_classes, .n_features = tr->n_features,
                     .seed = 1};
    aml_matrix X = {.data = tr->X, .rows = tr->n_rows, .cols = tr->n_features, .ld = tr->n_features};
    aml_target y = {.label = tr->label};
    double best = HUGE_VAL, best_cpu = HUGE_VAL, acc = 0;
    for (int r = 0; r < repeat; r++) {
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, threads);
        omp_set_num_threads(threads);
        aml_model *m = create(p, &hc, &task, hidden, epochs, batch);
        double t0 = wall_now(), c0 = cpu_now();
        if (vt->fit(m, &hc, &X, &y, NULL, NULL, NULL) != AML_OK) {
            fprintf(stderr, "bench_mlp: fit: %s\n", hc.msg);
            return 1;
        }
        double dt = wall_now() - t0, dc = cpu_now() - c0;
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
        double *P = malloc(sizeof(double) * (size_t)te->n_rows * (size_t)te->n_classes);
        aml_matrix T = {.data = te->X, .rows = te->n_rows, .cols = te->n_features, .ld = te->n_features};
        if (vt->predict(m, &hc, &T, P) != AML_OK) {
            fprintf(stderr, "bench_mlp: predict: %s\n", hc.msg);
            return 1;
        }
        int64_t hits = 0;
        for (int64_t i = 0; i < te->n_rows; i++) {
            int arg = 0;
            for (int k = 1; k < te->n_classes; k++)
                arg = P[i * te->n_classes + k] > P[i * te->n_classes + arg] ? k : arg;
            hits += arg == te->label[i];
        }
        acc = (double)hits / (double)te->n_rows;
        free(P);
        vt->free(m);
        fprintf(stderr, "automl mlp fit %d/%d: %.3f s, %.3f s CPU, test accuracy %.4f\n", r + 1, repeat, dt, dc, acc);
    }
    const double achieved = epoch_flops * epochs / best * 1e-9;
    printf("{\"what\": \"mlp_fit\", \"side\": \"automl\", \"threads\": %d, \"hidden\": \"%s\", \"batch\": %d, "
           "\"epochs\": %d, \"rows\": %lld, \"features\": %lld, \"seconds\": %.4f, \"cpu_seconds\": %.4f, "
           "\"seconds_per_epoch\": %.4f, \"gemm_gflop_per_epoch\": %.3f, \"achieved_gflops\": %.2f, "
           "\"peak_gflops\": %.2f, \"fraction_of_peak\": %.4f, \"accuracy\": %.4f}\n",
           threads, hidden, batch, epochs, (long long)n, (long long)tr->n_features, best, best_cpu, best / epochs,
           epoch_flops * 1e-9, achieved, peak, achieved / peak, acc);
    aml_registry_free(reg);
    aml_dataset_free(tr), aml_dataset_free(te);
    aml_ctx_free(c);
    return 0;
}
