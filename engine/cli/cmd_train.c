/* automl train DATA.h5 --model NAME: fit one given configuration on every row and export it. */
#include "cli.h"

#include "artifact.h"
#include "metrics.h"
#include "reference.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: automl train DATA.h5 --model NAME [--set k=v,k=v] [--threads T] [--seed S]\n"
               "                   [--repo DIR] [--name NAME]\n\n"
               "Fits one configuration of a model plugin on every row of DATA and exports it as the\n"
               "next version of repo/<name>/ (see automl plugins --params for each model's parameters).\n"
               "  --model NAME   model plugin (linear, knn, ...)\n"
               "  --set k=v,...  hyperparameters; the rest keep the plugin's defaults\n"
               "  --threads T    threads (default: every core)\n"
               "  --seed S       the model's random seed (default 0)\n"
               "  --repo DIR     model repository (default models)\n"
               "  --name NAME    model name in the repository (default: the data file's stem)\n");
}

int cmd_train(int argc, char **argv)
{
    const char *data_path = NULL, *model = NULL, *set = NULL, *repo = "models", *name = NULL;
    int threads = 0;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        }
        int takes = !strcmp(a, "--model") || !strcmp(a, "--set") || !strcmp(a, "--threads") ||
                    !strcmp(a, "--repo") || !strcmp(a, "--name") || !strcmp(a, "--seed");
        if (takes && i + 1 >= argc) {
            cli_error("train: %s needs a value", a);
            return EXIT_USAGE;
        }
        if (!strcmp(a, "--model"))
            model = argv[++i];
        else if (!strcmp(a, "--set"))
            set = argv[++i];
        else if (!strcmp(a, "--repo"))
            repo = argv[++i];
        else if (!strcmp(a, "--name"))
            name = argv[++i];
        else if (!strcmp(a, "--seed"))
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--threads")) {
            if ((threads = atoi(argv[++i])) < 1) {
                cli_error("train: --threads: expected an integer >= 1, got '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if (a[0] == '-') {
            cli_error("train: unknown option '%s' (see automl train --help)", a);
            return EXIT_USAGE;
        } else if (!data_path) {
            data_path = a;
        } else {
            cli_error("train: unexpected argument '%s'", a);
            return EXIT_USAGE;
        }
    }
    if (!data_path || !model) {
        usage(stderr);
        return EXIT_USAGE;
    }
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    aml_registry_scan_defaults(reg);
    aml_dataset *d = NULL;
    aml_config cfg = {0};
    aml_fitted fitted = {0};
    double *pred = NULL;
    char *out_dir = NULL, *stem = NULL;
    cJSON *metrics = cJSON_CreateObject(), *lineage = cJSON_CreateObject();
    aml_status st;
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, model);
    if (!p) {
        st = aml_fail(c, AML_ERR_INPUT, "train: --model: no model plugin named '%s' (see automl plugins)", model);
        goto done;
    }
    aml_config_defaults(&cfg, p);
    if (set && (st = aml_config_set_list(c, &cfg, set)) != AML_OK)
        goto done;
    if ((st = aml_hdf5_read(c, data_path, &d)) != AML_OK)
        goto done;
    if (!d->label && !d->value) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: no target (/y) to train on", data_path);
        goto done;
    }
    /* features = "auto", as in a search */
    cfg.n_steps = aml_pipeline_auto(reg, p, 0, aml_dataset_missing(d, NULL) > 0, aml_dataset_n_categorical(d) > 0,
                                    cfg.steps, cfg.step_params);
    aml_task task = {.kind = d->task, .n_classes = d->n_classes, .n_features = d->n_features,
                     .categorical = d->categorical, .seed = seed};
    aml_matrix X = {d->X, d->n_rows, d->n_features, d->n_features};
    aml_target y = {.label = d->label, .value = d->value, .weight = d->weight};
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    double t0 = aml_now();
    if ((st = aml_fitted_fit(c, &hc, &cfg, &task, &X, &y, NULL, NULL, &fitted)) != AML_OK)
        goto done;
    double fit_seconds = aml_now() - t0;
    pred = aml_xmalloc(sizeof(double) * (size_t)(d->n_rows * fitted.n_outputs));
    if ((st = aml_fitted_predict(c, &hc, &fitted, &X, pred)) != AML_OK)
        goto done;
    aml_metric m = d->task == AML_TASK_CLASSIFICATION ? AML_METRIC_ACCURACY : AML_METRIC_R2;
    double score = aml_metric_score(m, d->n_rows, d->n_classes, d->label, d->value, d->weight, pred);
    cJSON_AddNumberToObject(metrics, "train_score", score);
    cJSON_AddNumberToObject(metrics, "fit_seconds", fit_seconds);
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu", seed);
    cJSON_AddStringToObject(lineage, "seed", seed_text);
    cJSON_AddStringToObject(lineage, "command", "train");
    if (!name) {
        char *copy = aml_xstrdup(data_path);
        stem = aml_xstrdup(basename(copy));
        free(copy);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem)
            *dot = 0;
        name = stem;
    }
    aml_export_request req = {.repo = repo, .name = name, .exporter = "native", .model = &fitted,
                              .cfg = &cfg, .data = d, .metric = aml_metric_name(m),
                              .metrics = metrics, .lineage = lineage};
    char *reference = aml_reference_json(d, pred, fitted.n_outputs);
    req.reference_json = reference;
    st = aml_artifact_export(c, reg, &req, &out_dir);
    free(reference);
    if (st != AML_OK)
        goto done;
    printf("trained %s on %s (%lld rows) in %.2f s: training %s %.4f\n", model, data_path,
           (long long)d->n_rows, fit_seconds, aml_metric_name(m), score);
    printf("artifact: %s\n", out_dir);
done:
    if (st != AML_OK)
        cli_error("%s", aml_errmsg(c));
    cJSON_Delete(metrics);
    cJSON_Delete(lineage);
    free(out_dir);
    free(stem);
    free(pred);
    aml_fitted_free(&fitted);
    aml_config_free(&cfg);
    aml_dataset_free(d);
    aml_registry_free(reg);
    aml_ctx_free(c);
    return cli_exit_for(st);
}
