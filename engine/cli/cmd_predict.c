/* automl predict ARTIFACT DATA: one prediction per input row, in order; and `automl info` on an
 * artifact directory. */
#include "cli.h"

#include "artifact.h"
#include "metrics.h"
#include "predictions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: automl predict ARTIFACT_DIR DATA.h5|DATA.csv [-o OUT.csv] [--proba] [--threads T]\n\n"
               "Loads an exported artifact (verifying its checksums) and predicts every row of DATA, in\n"
               "order. CSV input is matched to the model's features by header name.\n"
               "  -o OUT.csv     write the predictions there (atomically) instead of stdout\n"
               "  --proba        add a p_<class> column per class (classification)\n"
               "  --threads T    threads for prediction (default 1)\n"
               "Output: a header, then `prediction` (class label or value) per row. When DATA holds the\n"
               "target, the score on it is printed on stderr.\n");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

/* The data's class indices mapped onto the artifact's classes by name; -1 when unknown. */
static int32_t *map_labels(const aml_dataset *d, const aml_dataset *schema)
{
    int32_t *map = aml_xmalloc(sizeof(int32_t) * (size_t)(d->n_classes + 1));
    for (int k = 0; k < d->n_classes; k++) {
        map[k] = -1;
        for (int q = 0; q < schema->n_classes; q++)
            if (!strcmp(d->class_names[k], schema->class_names[q]))
                map[k] = q;
    }
    int32_t *labels = aml_xmalloc(sizeof(int32_t) * (size_t)(d->n_rows + 1));
    for (int64_t i = 0; i < d->n_rows; i++)
        labels[i] = map[d->label[i]];
    free(map);
    return labels;
}

static void report_score(const aml_artifact *a, const aml_dataset *d, const double *pred)
{
    const cJSON *metric = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(a->manifest, "metrics"), "metric");
    aml_metric m;
    if (!cJSON_IsString(metric) || aml_metric_parse(metric->valuestring, &m) != 0)
        m = a->schema->task == AML_TASK_CLASSIFICATION ? AML_METRIC_ACCURACY : AML_METRIC_R2;
    if (a->schema->task == AML_TASK_CLASSIFICATION && d->label) {
        int32_t *labels = map_labels(d, a->schema);
        int64_t unknown = 0;
        for (int64_t i = 0; i < d->n_rows; i++)
            unknown += labels[i] < 0;
        if (unknown)
            fprintf(stderr, "automl: %lld rows have a class the model does not know; no score\n",
                    (long long)unknown);
        else
            fprintf(stderr, "%s on %s: %.6f\n", aml_metric_name(m), d->path,
                    aml_metric_score(m, d->n_rows, a->schema->n_classes, labels, NULL, d->weight, pred));
        free(labels);
    } else if (a->schema->task == AML_TASK_REGRESSION && d->value) {
        fprintf(stderr, "%s on %s: %.6f\n", aml_metric_name(m), d->path,
                aml_metric_score(m, d->n_rows, 0, NULL, d->value, d->weight, pred));
    }
}

int cmd_predict(int argc, char **argv)
{
    const char *dir = NULL, *data_path = NULL, *out = "-";
    int proba = 0, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--threads")) {
            if (i + 1 >= argc) {
                cli_error("predict: %s needs a value", argv[i]);
                return EXIT_USAGE;
            }
            if (!strcmp(argv[i], "-o"))
                out = argv[++i];
            else if ((threads = atoi(argv[++i])) < 1) {
                cli_error("predict: --threads: expected an integer >= 1, got '%s'", argv[i]);
                return EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--proba")) {
            proba = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("predict: unknown option '%s' (see automl predict --help)", argv[i]);
            return EXIT_USAGE;
        } else if (!dir) {
            dir = argv[i];
        } else if (!data_path) {
            data_path = argv[i];
        } else {
            cli_error("predict: unexpected argument '%s'", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!dir || !data_path) {
        usage(stderr);
        return EXIT_USAGE;
    }
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    aml_registry_scan_defaults(reg);
    aml_artifact a = {0};
    aml_dataset *d = NULL;
    double *pred = NULL;
    char *extra = NULL;
    aml_status st = aml_artifact_open(c, reg, dir, &a);
    if (st != AML_OK)
        goto done;
    if (ends_with(data_path, ".csv")) {
        st = aml_csv_read_for_schema(c, data_path, a.schema, &d, &extra);
        if (st == AML_OK && extra)
            fprintf(stderr, "automl: warning: %s: ignoring columns the model does not use: %s\n",
                    data_path, extra);
    } else {
        st = aml_hdf5_read(c, data_path, &d);
        if (st == AML_OK)
            st = aml_artifact_check_input(c, &a, d);
    }
    if (st != AML_OK)
        goto done;
    pred = aml_xmalloc(sizeof(double) * (size_t)(d->n_rows * a.model.n_outputs + 1));
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, threads);
    aml_matrix X = {d->X, d->n_rows, d->n_features, d->n_features};
    if ((st = aml_fitted_predict(c, &hc, &a.model, &X, pred)) != AML_OK)
        goto done;
    if ((st = aml_predictions_write_csv(c, out, a.schema, d->n_rows, pred, proba)) != AML_OK)
        goto done;
    report_score(&a, d, pred);
done:
    if (st != AML_OK)
        cli_error("%s", aml_errmsg(c));
    free(extra);
    free(pred);
    aml_dataset_free(d);
    aml_artifact_close(&a);
    aml_registry_free(reg);
    aml_ctx_free(c);
    return cli_exit_for(st);
}

static void print_json_field(const char *label, const cJSON *v)
{
    if (!v)
        return;
    char *text = cJSON_PrintUnformatted(v);
    printf("%-14s %s\n", label, text);
    free(text);
}

int cli_info_artifact(const char *dir)
{
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    aml_registry_scan_defaults(reg);
    aml_artifact a = {0};
    aml_status st = aml_artifact_open(c, reg, dir, &a);
    if (st != AML_OK) {
        cli_error("%s", aml_errmsg(c));
    } else {
        const cJSON *m = a.manifest;
        if (a.manifest_verified)
            printf("artifact       %s (checksums verified)\n", dir);
        else /* an older artifact: its manifest was checked against the model blob only */
            printf("artifact       %s (files verified; format 1.0: manifest.json has no checksum)\n", dir);
        print_json_field("name", cJSON_GetObjectItemCaseSensitive(m, "name"));
        print_json_field("version", cJSON_GetObjectItemCaseSensitive(m, "version"));
        print_json_field("format", cJSON_GetObjectItemCaseSensitive(m, "format_version"));
        print_json_field("created", cJSON_GetObjectItemCaseSensitive(m, "created"));
        print_json_field("task", cJSON_GetObjectItemCaseSensitive(m, "task"));
        print_json_field("classes", cJSON_GetObjectItemCaseSensitive(m, "classes"));
        printf("%-14s %lld (%d categorical)\n", "features", (long long)a.schema->n_features,
               aml_dataset_n_categorical(a.schema));
        if (a.model.n_members > 0) {
            printf("%-14s ensemble of %d:", "model", a.model.n_members);
            for (int k = 0; k < a.model.n_members; k++)
                printf(" %s%s %.3f", k ? "+ " : "", a.model.members[k].plugin->desc->name, a.model.weights[k]);
            printf("\n");
        } else {
            printf("%-14s %s %s\n", "model", a.model.plugin->desc->name, a.model.plugin->desc->version);
        }
        print_json_field("params", cJSON_GetObjectItemCaseSensitive(
                                       cJSON_GetObjectItemCaseSensitive(m, "model"), "params"));
        print_json_field("metrics", cJSON_GetObjectItemCaseSensitive(m, "metrics"));
        print_json_field("lineage", cJSON_GetObjectItemCaseSensitive(m, "lineage"));
    }
    aml_artifact_close(&a);
    aml_registry_free(reg);
    aml_ctx_free(c);
    return cli_exit_for(st);
}
