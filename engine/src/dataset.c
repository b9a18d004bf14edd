/* The in-memory dataset: allocation, freeing, the public open call, and the human-readable
 * description behind `automl info DATA.h5`. Readers and writers live in hdf5_io.c and
 * csv_import.c; the fingerprint in fingerprint.c. */
#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

aml_dataset *aml_dataset_alloc(int64_t n_rows, int64_t n_features)
{
    aml_dataset *d = aml_xcalloc(1, sizeof *d);
    d->n_rows = n_rows;
    d->n_features = n_features;
    /* calloc checks the product; readers bound the sizes first (aml_data_check_memory). */
    d->X = aml_xcalloc((size_t)n_rows, (size_t)n_features * sizeof(float));
    d->feature_names = aml_xcalloc((size_t)n_features, sizeof(char *));
    for (int64_t j = 0; j < n_features; j++)
        d->feature_names[j] = aml_xasprintf("f%lld", (long long)j);
    d->categorical = aml_xcalloc((size_t)n_features, 1);
    d->categories = aml_xcalloc((size_t)n_features, sizeof(char **));
    d->n_categories = aml_xcalloc((size_t)n_features, sizeof(int));
    d->target_name = aml_xstrdup("target");
    return d;
}

static void free_strings(char **s, int64_t n)
{
    if (!s)
        return;
    for (int64_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void aml_dataset_free(aml_dataset *d)
{
    if (!d)
        return;
    free(d->X);
    free(d->label);
    free(d->value);
    free(d->weight);
    free_strings(d->feature_names, d->n_features);
    if (d->categories)
        for (int64_t j = 0; j < d->n_features; j++)
            free_strings(d->categories[j], d->n_categories ? d->n_categories[j] : 0);
    free(d->categories);
    free(d->n_categories);
    free(d->categorical);
    free_strings(d->class_names, d->n_classes);
    free(d->target_name);
    free(d->path);
    free(d);
}

aml_status aml_dataset_open(aml_ctx *c, const char *path, aml_dataset **out)
{
    return aml_hdf5_read(c, path, out);
}

int64_t aml_dataset_missing(const aml_dataset *d, int64_t *per_feature)
{
    int64_t total = 0;
    if (per_feature)
        memset(per_feature, 0, (size_t)d->n_features * sizeof *per_feature);
    for (int64_t i = 0; i < d->n_rows; i++) {
        const float *row = d->X + i * d->n_features;
        for (int64_t j = 0; j < d->n_features; j++)
            if (isnan(row[j])) {
                total++;
                if (per_feature)
                    per_feature[j]++;
            }
    }
    return total;
}

int aml_dataset_n_categorical(const aml_dataset *d)
{
    int n = 0;
    for (int64_t j = 0; j < d->n_features; j++)
        n += d->categorical[j] != 0;
    return n;
}

const char *aml_dataset_task_name(int task)
{
    switch (task) {
    case AML_TASK_CLASSIFICATION:
        return "classification";
    case AML_TASK_REGRESSION:
        return "regression";
    default:
        return "none";
    }
}

static void describe_target(const aml_dataset *d, FILE *f)
{
    if (d->task == AML_TASK_CLASSIFICATION && d->label) {
        int64_t *count = aml_xcalloc((size_t)d->n_classes, sizeof *count);
        for (int64_t i = 0; i < d->n_rows; i++)
            count[d->label[i]]++;
        int w = 5;
        for (int k = 0; k < d->n_classes; k++)
            if ((int)strlen(d->class_names[k]) > w)
                w = (int)strlen(d->class_names[k]);
        fprintf(f, "\nclass balance:\n");
        for (int k = 0; k < d->n_classes; k++)
            fprintf(f, "  %3d  %-*s  %8lld  %5.1f%%\n", k, w, d->class_names[k], (long long)count[k],
                    d->n_rows ? 100.0 * (double)count[k] / (double)d->n_rows : 0.0);
        free(count);
    } else if (d->task == AML_TASK_REGRESSION && d->value && d->n_rows > 0) {
        /* Two passes: the mean first, then the spread around it (numerically steadier). */
        double sum = 0, lo = d->value[0], hi = d->value[0];
        for (int64_t i = 0; i < d->n_rows; i++) {
            sum += d->value[i];
            lo = d->value[i] < lo ? d->value[i] : lo;
            hi = d->value[i] > hi ? d->value[i] : hi;
        }
        double mean = sum / (double)d->n_rows, ss = 0;
        for (int64_t i = 0; i < d->n_rows; i++)
            ss += (d->value[i] - mean) * (d->value[i] - mean);
        double sd = d->n_rows > 1 ? sqrt(ss / (double)(d->n_rows - 1)) : 0.0;
        fprintf(f, "\ntarget: mean %.6g  std %.6g  min %.6g  max %.6g\n", mean, sd, lo, hi);
    }
}

void aml_dataset_describe(const aml_dataset *d, FILE *f)
{
    int64_t *miss = aml_xcalloc((size_t)d->n_features + 1, sizeof *miss);
    int64_t total = aml_dataset_missing(d, miss);
    int w = 4;
    for (int64_t j = 0; j < d->n_features; j++)
        if ((int)strlen(d->feature_names[j]) > w)
            w = (int)strlen(d->feature_names[j]);

    fprintf(f, "dataset      %s\n", d->path ? d->path : "(in memory)");
    fprintf(f, "shape        %lld rows x %lld features\n", (long long)d->n_rows, (long long)d->n_features);
    if (d->task == AML_TASK_CLASSIFICATION)
        fprintf(f, "task         classification (%d classes)\n", d->n_classes);
    else
        fprintf(f, "task         %s\n", aml_dataset_task_name(d->task));
    fprintf(f, "target       %s\n", d->target_name ? d->target_name : "(none)");
    fprintf(f, "weights      %s\n", d->weight ? "yes" : "no");
    fprintf(f, "categorical  %d of %lld features\n", aml_dataset_n_categorical(d), (long long)d->n_features);
    double cells = (double)d->n_rows * (double)d->n_features;
    fprintf(f, "missing      %lld cells (%.2f%%)\n", (long long)total, cells > 0 ? 100.0 * (double)total / cells : 0.0);
    fprintf(f, "fingerprint  %s\n", d->fingerprint);

    fprintf(f, "\nfeatures:\n  %4s  %-*s  %-18s  %8s\n", "#", w, "name", "type", "missing");
    for (int64_t j = 0; j < d->n_features; j++) {
        char type[48];
        if (d->categorical[j])
            snprintf(type, sizeof type, "categorical (%d)", d->n_categories[j]);
        else
            snprintf(type, sizeof type, "numeric");
        fprintf(f, "  %4lld  %-*s  %-18s  %8lld\n", (long long)j, w, d->feature_names[j], type, (long long)miss[j]);
    }
    describe_target(d, f);
    free(miss);
}
