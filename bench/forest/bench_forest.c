/* Times the forest plugin (random forest and extra trees, 200 trees) on the files written by
 * bench/forest/make_data.py and prints one JSON line per measurement; bench/forest/run.sh pairs
 * them with the scikit-learn peers of bench/forest/peers.py. The plugin is loaded from the build
 * tree through the registry, exactly as the engine loads it.
 *
 *   bench_forest DATA_DIR [--threads T] [--repeat R] [--plugins DIR] [--only DATASET/LEARNER]
 *
 * Each time is the best of R fits (wall clock, and the process CPU time of that fit); the score
 * is the test accuracy of the last fit. Extra trees run without bootstrap, as scikit-learn's
 * ExtraTreesClassifier does by default. */
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

static const aml_host *host;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_forest: %s: %s\n", what, msg);
    exit(1);
}

/* The descriptor's defaults with n_trees = 200, extra and bootstrap set. */
static aml_model *create(const aml_plugin *p, aml_host_ctx *hc, const aml_task *task, int extra)
{
    double num[32];
    const char *str[32];
    const aml_plugin_descriptor *d = p->desc;
    if (d->n_params > 32)
        die("create", "too many parameters");
    for (int i = 0; i < d->n_params; i++) {
        num[i] = d->params[i].def;
        str[i] = d->params[i].type == AML_PARAM_CHOICE ? d->params[i].choices[(int)num[i]] : NULL;
        if (!strcmp(d->params[i].name, "n_trees"))
            num[i] = 200;
        if (!strcmp(d->params[i].name, "extra"))
            num[i] = extra;
        if (!strcmp(d->params[i].name, "bootstrap"))
            num[i] = !extra;
    }
    aml_params params = {.num = num, .str = str};
    aml_model *m = NULL;
    if (d->model->create(host, hc, &params, task, &m) != AML_OK)
        die("create", hc->msg);
    return m;
}

static void bench(const aml_plugin *p, const char *dataset, const char *learner, const aml_dataset *train,
                  const aml_dataset *test, int threads, int repeat)
{
    const aml_model_vtable *vt = p->desc->model;
    aml_task task = {.kind = train->task, .n_classes = train->n_classes, .n_features = train->n_features};
    aml_matrix X = {.data = train->X, .rows = train->n_rows, .cols = train->n_features, .ld = train->n_features};
    aml_matrix Xt = {.data = test->X, .rows = test->n_rows, .cols = test->n_features, .ld = test->n_features};
    aml_target y = {.label = train->label};
    double *pred = malloc((size_t)test->n_rows * (size_t)train->n_classes * sizeof *pred);
    double best = HUGE_VAL, best_cpu = HUGE_VAL, best_pred = HUGE_VAL, sc = NAN;
    for (int r = 0; r < repeat; r++) {
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, threads);
        hc.verbose = 2; /* no OOB info line per fit */
        omp_set_num_threads(threads);
        task.seed = (uint64_t)r + 1;
        aml_model *m = create(p, &hc, &task, !strcmp(learner, "et"));
        double t0 = aml_now(), c0 = cpu_now();
        if (vt->fit(m, &hc, &X, &y, NULL, NULL, NULL) != AML_OK)
            die("fit", hc.msg);
        double t = aml_now() - t0, tc = cpu_now() - c0;
        if (t < best)
            best = t, best_cpu = tc;
        t0 = aml_now();
        if (vt->predict(m, &hc, &Xt, pred) != AML_OK)
            die("predict", hc.msg);
        t = aml_now() - t0;
        best_pred = t < best_pred ? t : best_pred;
        sc = aml_metric_score(AML_METRIC_ACCURACY, test->n_rows, test->n_classes, test->label, NULL, NULL, pred);
        vt->free(m);
    }
    printf("{\"side\": \"automl\", \"dataset\": \"%s\", \"learner\": \"%s\", \"train_rows\": %lld, "
           "\"eval_rows\": %lld, \"features\": %lld, \"threads\": %d, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
           "\"predict_seconds\": %.6f, \"score\": %.6f}\n",
           dataset, learner, (long long)train->n_rows, (long long)test->n_rows, (long long)train->n_features,
           threads, best, best_cpu, best_pred, sc);
    fflush(stdout);
    free(pred);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *plugins = AML_PLUGIN_BUILD_DIR, *only = NULL;
    int threads = 2, repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--plugins") && i + 1 < argc)
            plugins = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            dir = NULL, i = argc;
    }
    if (!dir || threads < 1 || repeat < 1) {
        fprintf(stderr, "usage: bench_forest DATA_DIR [--threads T] [--repeat R] [--plugins DIR] "
                        "[--only DATASET/LEARNER]\n");
        return 2;
    }
    host = aml_host_services();
    printf("{\"side\": \"automl\", \"compiler\": \"gcc %d.%d.%d\"}\n", __GNUC__, __GNUC_MINOR__,
           __GNUC_PATCHLEVEL__);
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    char path[4096];
    snprintf(path, sizeof path, "%s/aml_model_forest.so", plugins);
    if (aml_registry_load_file(reg, c, path) != AML_OK)
        die("plugin", aml_errmsg(c));
    const aml_plugin *forest = aml_registry_find(reg, AML_PLUGIN_MODEL, "forest");
    const char *datasets[] = {"satellite", "digits"}, *learners[] = {"rf", "et"};
    for (int k = 0; k < 2; k++) {
        aml_dataset *train = NULL, *test = NULL;
        snprintf(path, sizeof path, "%s/%s_train.h5", dir, datasets[k]);
        if (aml_hdf5_read(c, path, &train) != AML_OK)
            die("data", aml_errmsg(c));
        snprintf(path, sizeof path, "%s/%s_test.h5", dir, datasets[k]);
        if (aml_hdf5_read(c, path, &test) != AML_OK)
            die("data", aml_errmsg(c));
        for (int l = 0; l < 2; l++) {
            char name[64];
            snprintf(name, sizeof name, "%s/%s", datasets[k], learners[l]);
            if (!only || !strcmp(only, name))
                bench(forest, datasets[k], learners[l], train, test, threads, repeat);
        }
        aml_dataset_free(train);
        aml_dataset_free(test);
    }
    aml_registry_free(reg);
    aml_ctx_free(c);
    return 0;
}
