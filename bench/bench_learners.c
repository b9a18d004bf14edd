/* Times the BLAS-backed model plugins on the benchmark datasets written by bench/make_data.py and
 * prints one JSON line per measurement (bench/run_learners.sh pairs them with the scikit-learn
 * peers from bench/peers.py). The plugins are loaded from the build tree through the registry,
 * exactly as the engine loads them.
 *
 *   bench_learners DATA_DIR [--threads T] [--repeat R] [--knn-queries Q] [--plugins DIR]
 *                  [--only DATASET/LEARNER]
 *
 * Each time is the best of R runs of the timed call alone (fit, or predict for knn); scores are
 * held-out accuracy (classification) or R^2 (regression) on the dataset's test file. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset.h"
#include "host.h"
#include "metrics.h"
#include "plugin_loader.h"

typedef struct {
    aml_dataset *train, *test;
} split;

static const aml_host *host;

/* CPU seconds of the whole process (every thread): less sensitive than wall time to other
 * processes on a shared machine. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int load_split(aml_ctx *c, const char *dir, const char *name, split *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_train.h5", dir, name);
    if (aml_hdf5_read(c, path, &s->train) != AML_OK)
        return -1;
    snprintf(path, sizeof path, "%s/%s_test.h5", dir, name);
    if (aml_hdf5_read(c, path, &s->test) != AML_OK)
        return -1;
    return 0;
}

static aml_task task_of(const aml_dataset *d)
{
    aml_task t = {.kind = d->task, .n_classes = d->n_classes, .n_features = d->n_features, .seed = 1};
    return t;
}

static aml_matrix view(const aml_dataset *d, int64_t rows)
{
    aml_matrix m = {.data = d->X, .rows = rows, .cols = d->n_features, .ld = d->n_features};
    return m;
}

/* Creates a model with the descriptor's defaults overridden by name=value pairs (NULL-ended). */
static aml_model *create(const aml_plugin *p, aml_host_ctx *hc, const aml_task *task, const char *name, double v,
                         const char *name2, double v2)
{
    double num[16];
    const char *str[16];
    const aml_plugin_descriptor *d = p->desc;
    for (int i = 0; i < d->n_params && i < 16; i++) {
        num[i] = d->params[i].def;
        str[i] = d->params[i].type == AML_PARAM_CHOICE ? d->params[i].choices[(int)num[i]] : NULL;
        if (name && !strcmp(d->params[i].name, name))
            num[i] = v;
        if (name2 && !strcmp(d->params[i].name, name2))
            num[i] = v2;
    }
    aml_params params = {.num = num, .str = str};
    aml_model *m = NULL;
    if (d->model->create(host, hc, &params, task, &m) != AML_OK) {
        fprintf(stderr, "bench_learners: create %s: %s\n", d->name, hc->msg);
        exit(1);
    }
    return m;
}

static double score(const aml_dataset *test, int64_t rows, const double *pred)
{
    if (test->task == AML_TASK_CLASSIFICATION)
        return aml_metric_score(AML_METRIC_ACCURACY, rows, test->n_classes, test->label, NULL, NULL, pred);
    return aml_metric_score(AML_METRIC_R2, rows, 0, NULL, test->value, NULL, pred);
}

static void report(const char *dataset, const char *learner, const char *phase, const split *s, int64_t rows,
                   int threads, double best, double best_cpu, double sc)
{
    printf("{\"side\": \"automl\", \"dataset\": \"%s\", \"learner\": \"%s\", \"phase\": \"%s\", "
           "\"train_rows\": %lld, \"eval_rows\": %lld, \"features\": %lld, \"threads\": %d, "
           "\"seconds\": %.6f, \"cpu_seconds\": %.6f, \"score\": %.6f}\n",
           dataset, learner, phase, (long long)s->train->n_rows, (long long)rows, (long long)s->train->n_features,
           threads, best, best_cpu, sc);
    fflush(stdout);
}

/* Fits R times (timing each fit), predicts the test set with the last model. */
static void bench_fit(const aml_plugin *p, const char *dataset, const char *learner, const split *s, int threads,
                      int repeat, const char *pname, double pval, const char *pname2, double pval2)
{
    const aml_model_vtable *vt = p->desc->model;
    aml_task task = task_of(s->train);
    aml_matrix X = view(s->train, s->train->n_rows), Xt = view(s->test, s->test->n_rows);
    aml_target y = {.label = s->train->label, .value = s->train->value, .weight = NULL};
    const int no = task.kind == AML_TASK_CLASSIFICATION ? task.n_classes : 1;
    double *pred = malloc((size_t)s->test->n_rows * no * sizeof *pred);
    double best = HUGE_VAL, best_cpu = HUGE_VAL, sc = NAN;
    for (int r = 0; r < repeat; r++) {
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, threads);
        omp_set_num_threads(threads); /* as the engine does before a trial */
        aml_model *m = create(p, &hc, &task, pname, pval, pname2, pval2);
        double t0 = aml_now(), c0 = cpu_now();
        if (vt->fit(m, &hc, &X, &y, NULL, NULL, NULL) != AML_OK) {
            fprintf(stderr, "bench_learners: fit %s on %s: %s\n", learner, dataset, hc.msg);
            exit(1);
        }
        double t = aml_now() - t0, tc = cpu_now() - c0;
        best = t < best ? t : best;
        best_cpu = tc < best_cpu ? tc : best_cpu;
        if (r == repeat - 1) {
            if (vt->predict(m, &hc, &Xt, pred) != AML_OK) {
                fprintf(stderr, "bench_learners: predict %s on %s: %s\n", learner, dataset, hc.msg);
                exit(1);
            }
            sc = score(s->test, s->test->n_rows, pred);
        }
        vt->free(m);
    }
    report(dataset, learner, "fit", s, s->test->n_rows, threads, best, best_cpu, sc);
    free(pred);
}

/* Fits once, times R predictions of the first `queries` test rows. */
static void bench_predict(const aml_plugin *p, const char *dataset, const char *learner, const split *s,
                          int threads, int repeat, int64_t queries)
{
    const aml_model_vtable *vt = p->desc->model;
    aml_task task = task_of(s->train);
    if (queries <= 0 || queries > s->test->n_rows)
        queries = s->test->n_rows;
    aml_matrix X = view(s->train, s->train->n_rows), Xq = view(s->test, queries);
    aml_target y = {.label = s->train->label, .value = s->train->value, .weight = NULL};
    const int no = task.kind == AML_TASK_CLASSIFICATION ? task.n_classes : 1;
    double *pred = malloc((size_t)queries * no * sizeof *pred);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    omp_set_num_threads(threads);
    aml_model *m = create(p, &hc, &task, NULL, 0, NULL, 0);
    if (vt->fit(m, &hc, &X, &y, NULL, NULL, NULL) != AML_OK) {
        fprintf(stderr, "bench_learners: fit %s on %s: %s\n", learner, dataset, hc.msg);
        exit(1);
    }
    double best = HUGE_VAL, best_cpu = HUGE_VAL;
    for (int r = 0; r < repeat; r++) {
        double t0 = aml_now(), c0 = cpu_now();
        if (vt->predict(m, &hc, &Xq, pred) != AML_OK) {
            fprintf(stderr, "bench_learners: predict %s on %s: %s\n", learner, dataset, hc.msg);
            exit(1);
        }
        double t = aml_now() - t0, tc = cpu_now() - c0;
        best = t < best ? t : best;
        best_cpu = tc < best_cpu ? tc : best_cpu;
    }
    report(dataset, learner, "predict", s, queries, threads, best, best_cpu, score(s->test, queries, pred));
    vt->free(m);
    free(pred);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *plugins = AML_PLUGIN_BUILD_DIR;
    int threads = 2, repeat = 3;
    int64_t knn_queries = 10000;
    const char *only = NULL; /* "dataset/learner": run that case alone */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--knn-queries") && i + 1 < argc)
            knn_queries = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--plugins") && i + 1 < argc)
            plugins = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: bench_learners DATA_DIR [--threads T] [--repeat R] [--knn-queries Q] "
                            "[--plugins DIR]\n");
            return 2;
        }
    }
    if (!dir || threads < 1 || repeat < 1) {
        fprintf(stderr, "usage: bench_learners DATA_DIR [--threads T] [--repeat R] [--knn-queries Q]\n");
        return 2;
    }
    host = aml_host_services();
    printf("{\"side\": \"automl\", \"openblas\": \"%s\", \"compiler\": \"gcc %d.%d.%d\"}\n", openblas_get_config(),
           __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    char path[4096];
    const char *names[] = {"linear", "knn"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/aml_model_%s.so", plugins, names[i]);
        if (aml_registry_load_file(reg, c, path) != AML_OK) {
            fprintf(stderr, "bench_learners: %s\n", aml_errmsg(c));
            return 1;
        }
    }
    const aml_plugin *linear = aml_registry_find(reg, AML_PLUGIN_MODEL, "linear");
    const aml_plugin *knn = aml_registry_find(reg, AML_PLUGIN_MODEL, "knn");

    split clf = {0}, reg_data = {0}, digits = {0};
    if (load_split(c, dir, "synth_clf", &clf) || load_split(c, dir, "synth_reg", &reg_data) ||
        load_split(c, dir, "digits", &digits)) {
        fprintf(stderr, "bench_learners: %s\n", aml_errmsg(c));
        return 1;
    }
    /* same settings as the peers: C = 1 (l2 = 1), tol = 1e-4, max_iter = 200; Ridge alpha = 1 */
#define WANT(name) (!only || !strcmp(only, name))
    if (WANT("synth_clf/logistic"))
        bench_fit(linear, "synth_clf", "logistic", &clf, threads, repeat, "l2", 1.0, "tol", 1e-4);
    if (WANT("synth_reg/ridge"))
        bench_fit(linear, "synth_reg", "ridge", &reg_data, threads, repeat, "l2", 1.0, NULL, 0);
    if (WANT("synth_clf/knn"))
        bench_predict(knn, "synth_clf", "knn", &clf, threads, repeat > 2 ? 2 : repeat, knn_queries);
    if (WANT("digits/logistic"))
        bench_fit(linear, "digits", "logistic", &digits, threads, repeat * 3, "l2", 1.0, "tol", 1e-4);
    if (WANT("digits/knn"))
        bench_predict(knn, "digits", "knn", &digits, threads, repeat * 3, 0);

    aml_dataset_free(clf.train), aml_dataset_free(clf.test);
    aml_dataset_free(reg_data.train), aml_dataset_free(reg_data.test);
    aml_dataset_free(digits.train), aml_dataset_free(digits.test);
    aml_registry_free(reg);
    aml_ctx_free(c);
    return 0;
}
