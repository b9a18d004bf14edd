/* gbdt benchmark driver: loads the gbdt plugin through the registry, fits it on DATA_train.h5
 * (cold: each fit gets its own copy of the rows, so binning is timed every time), scores
 * DATA_test.h5 (AUC for two classes, accuracy otherwise), and with --predict times batch
 * prediction of 100 000 rows on one thread and the single-row path. One JSON line per dataset.
 *
 *   bench_gbdt DATA_DIR NAME [--threads T] [--repeat R] [--trees N] [--depth D] [--leaves L] [--predict] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dataset.h"
#include "host.h"
#include "plugin_loader.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double rss_mb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * 4096.0 / (1 << 20);
}

typedef struct {
    double s;
    int y;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, z = ((const scored *)b)->s;
    return (x > z) - (x < z);
}

/* Rank AUC with ties averaged. */
static double auc(const double *p, const int32_t *y, int64_t n)
{
    scored *v = malloc(sizeof *v * n);
    for (int64_t i = 0; i < n; i++)
        v[i].s = p[2 * i + 1], v[i].y = y[i];
    qsort(v, n, sizeof *v, cmp_scored);
    double rank_pos = 0, npos = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        double r = 0.5 * (i + 1 + j);
        for (int64_t k = i; k < j; k++)
            if (v[k].y)
                rank_pos += r, npos++;
        i = j;
    }
    free(v);
    double nneg = n - npos;
    return (rank_pos - npos * (npos + 1) / 2) / (npos * nneg);
}

static double accuracy(const double *p, const int32_t *y, int64_t n, int k)
{
    double hit = 0;
    for (int64_t i = 0; i < n; i++) {
        int arg = 0;
        for (int c = 1; c < k; c++)
            if (p[i * k + c] > p[i * k + arg])
                arg = c;
        hit += arg == y[i];
    }
    return hit / n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_gbdt DATA_DIR NAME [--threads T] [--repeat R] [--trees N] [--depth D] "
                        "[--leaves L] [--predict] [--plugins DIR]\n");
        return 2;
    }
    const char *dir = argv[1], *name = argv[2], *plugins = AML_PLUGIN_BUILD_DIR;
    int threads = 2, repeat = 1, trees = 100, depth = 6, leaves = 63, do_predict = 0;
    for (int a = 3; a < argc; a++) {
        if (!strcmp(argv[a], "--predict"))
            do_predict = 1;
        else if (a + 1 < argc && !strcmp(argv[a], "--threads"))
            threads = atoi(argv[++a]);
        else if (a + 1 < argc && !strcmp(argv[a], "--repeat"))
            repeat = atoi(argv[++a]);
        else if (a + 1 < argc && !strcmp(argv[a], "--trees"))
            trees = atoi(argv[++a]);
        else if (a + 1 < argc && !strcmp(argv[a], "--depth"))
            depth = atoi(argv[++a]);
        else if (a + 1 < argc && !strcmp(argv[a], "--leaves"))
            leaves = atoi(argv[++a]);
        else if (a + 1 < argc && !strcmp(argv[a], "--plugins"))
            plugins = argv[++a];
        else {
            fprintf(stderr, "bench_gbdt: unknown option %s\n", argv[a]);
            return 2;
        }
    }
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    char path[4096];
    snprintf(path, sizeof path, "%s/aml_model_gbdt.so", plugins);
    if (aml_registry_load_file(reg, c, path) != AML_OK) {
        fprintf(stderr, "bench_gbdt: %s\n", aml_errmsg(c));
        return 1;
    }
    const aml_plugin_descriptor *desc = aml_registry_find(reg, AML_PLUGIN_MODEL, "gbdt")->desc;
    const aml_model_vtable *vt = desc->model;
    const aml_host *host = aml_host_services();
    aml_dataset *tr = NULL, *te = NULL;
    snprintf(path, sizeof path, "%s/%s_train.h5", dir, name);
    if (aml_hdf5_read(c, path, &tr) != AML_OK) {
        fprintf(stderr, "bench_gbdt: %s\n", aml_errmsg(c));
        return 1;
    }
    const int64_t n = tr->n_rows, d = tr->n_features;
    const int k = tr->n_classes;
    double x_mb = (double)n * d * sizeof(float) / (1 << 20), rss_loaded = rss_mb();

    double num[32];
    const char *str[32];
    for (int i = 0; i < desc->n_params; i++) {
        const aml_param_def *pd = &desc->params[i];
        num[i] = pd->def, str[i] = pd->type == AML_PARAM_CHOICE ? pd->choices[(int)pd->def] : NULL;
        if (!strcmp(pd->name, "n_trees"))
            num[i] = trees;
        else if (!strcmp(pd->name, "max_depth"))
            num[i] = depth;
        else if (!strcmp(pd->name, "max_leaves"))
            num[i] = leaves;
        else if (!strcmp(pd->name, "early_stopping_rounds"))
            num[i] = 0;
    }
    aml_params params = {num, str};
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = k, .n_features = d, .seed = 1};
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    aml_target y = {.label = tr->label};
    double best = HUGE_VAL, best_cpu = HUGE_VAL, peak_fit = 0;
    aml_model *m = NULL;
    for (int r = 0; r < repeat; r++) {
        /* a fresh copy of the rows (after the first fit) so the bin cache cannot help */
        float *X = tr->X;
        if (r > 0) {
            X = malloc(sizeof(float) * n * d);
            memcpy(X, tr->X, sizeof(float) * n * d);
        }
        aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
        if (m)
            vt->free(m), m = NULL;
        if (vt->create(host, &hc, &params, &task, &m) != AML_OK) {
            fprintf(stderr, "bench_gbdt: create: %s\n", hc.msg);
            return 1;
        }
        double t0 = now(), c0 = cpu_now();
        if (vt->fit(m, &hc, &mx, &y, NULL, NULL, NULL) != AML_OK) {
            fprintf(stderr, "bench_gbdt: fit: %s\n", hc.msg);
            return 1;
        }
        double t = now() - t0, ct = cpu_now() - c0;
        if (r == 0)
            peak_fit = maxrss_mb();
        best = t < best ? t : best, best_cpu = ct < best_cpu ? ct : best_cpu;
        if (X != tr->X)
            free(X);
    }
    aml_writer w;
    aml_writer_init(&w);
    vt->save(m, &hc, &w);
    double model_mb = w.len / (double)(1 << 20);
    aml_writer_release(&w);

    snprintf(path, sizeof path, "%s/%s_test.h5", dir, name);
    if (aml_hdf5_read(c, path, &te) != AML_OK) {
        fprintf(stderr, "bench_gbdt: %s\n", aml_errmsg(c));
        return 1;
    }
    double *P = malloc(sizeof(double) * te->n_rows * k);
    aml_matrix mt = {.data = te->X, .rows = te->n_rows, .cols = d, .ld = d};
    if (vt->predict(m, &hc, &mt, P) != AML_OK) {
        fprintf(stderr, "bench_gbdt: predict: %s\n", hc.msg);
        return 1;
    }
    double score = k == 2 ? auc(P, te->label, te->n_rows) : accuracy(P, te->label, te->n_rows, k);
    printf("{\"dataset\": \"%s\", \"side\": \"automl\", \"rows\": %lld, \"features\": %lld, \"classes\": %d, "
           "\"trees\": %d, \"threads\": %d, \"fit_s\": %.4f, \"fit_cpu_s\": %.4f, \"metric\": \"%s\", "
           "\"score\": %.6f, \"x_mb\": %.1f, \"rss_loaded_mb\": %.1f, \"peak_fit_mb\": %.1f, \"model_mb\": %.3f",
           name, (long long)n, (long long)d, k, trees, threads, best, best_cpu, k == 2 ? "auc" : "accuracy", score,
           x_mb, rss_loaded, peak_fit, model_mb);
    if (do_predict) {
        /* 100 000 rows (the test rows, repeated if fewer), one thread, best of 3 */
        const int64_t nq = 100000;
        float *Q = malloc(sizeof(float) * nq * d);
        for (int64_t i = 0; i < nq; i++)
            memcpy(Q + i * d, te->X + (i % te->n_rows) * d, sizeof(float) * d);
        double *out = malloc(sizeof(double) * nq * k);
        aml_host_ctx h1;
        aml_host_ctx_init(&h1, 1);
        aml_matrix mq = {.data = Q, .rows = nq, .cols = d, .ld = d};
        double bt = HUGE_VAL, rt = HUGE_VAL, sink = 0;
        for (int r = 0; r < 3; r++) {
            double t0 = now();
            vt->predict(m, &h1, &mq, out);
            double t = now() - t0;
            bt = t < bt ? t : bt;
            t0 = now();
            for (int64_t i = 0; i < nq; i++) {
                vt->predict_row(m, Q + i * d, out + i * k);
                sink += out[i * k];
            }
            t = now() - t0;
            rt = t < rt ? t : rt;
        }
        printf(", \"predict_batch_us_row\": %.4f, \"predict_row_us\": %.4f, \"sink\": %.3f", 1e6 * bt / nq,
               1e6 * rt / nq, sink);
        free(Q), free(out);
    }
    printf("}\n");
    free(P);
    vt->free(m);
    aml_dataset_free(tr), aml_dataset_free(te);
    aml_registry_free(reg);
    aml_ctx_free(c);
    return 0;
}
