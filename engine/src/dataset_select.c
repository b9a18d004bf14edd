/* Taking a subset of a dataset's rows into a new dataset with the same schema (the train/test
 * split behind `automl split` and the held-out checks of tests and benchmarks), and dropping a
 * feature in place (the spec's data.drop). */
#include "dataset.h"

#include <stdlib.h>
#include <string.h>

static char **copy_strings(char *const *s, int64_t n)
{
    if (!s)
        return NULL;
    char **out = aml_xcalloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; i < n; i++)
        out[i] = aml_xstrdup(s[i]);
    return out;
}

aml_dataset *aml_dataset_select_rows(const aml_dataset *d, const uint8_t *mask, uint8_t want)
{
    int64_t n = 0;
    for (int64_t i = 0; i < d->n_rows; i++)
        n += mask[i] == want;
    aml_dataset *s = aml_dataset_alloc(n, d->n_features);
    int64_t nf = d->n_features;
    for (int64_t j = 0; j < nf; j++) {
        free(s->feature_names[j]);
        s->feature_names[j] = aml_xstrdup(d->feature_names[j]);
        s->categorical[j] = d->categorical[j];
        s->n_categories[j] = d->n_categories[j];
        s->categories[j] = copy_strings(d->categories[j], d->n_categories[j]);
    }
    s->task = d->task;
    s->n_classes = d->n_classes;
    s->class_names = copy_strings(d->class_names, d->n_classes);
    free(s->target_name);
    s->target_name = aml_xstrdup(d->target_name);
    if (d->label)
        s->label = aml_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    if (d->value)
        s->value = aml_xmalloc(sizeof(double) * (size_t)(n + 1));
    if (d->weight)
        s->weight = aml_xmalloc(sizeof(float) * (size_t)(n + 1));
    int64_t k = 0;
    for (int64_t i = 0; i < d->n_rows; i++) {
        if (mask[i] != want)
            continue;
        memcpy(s->X + k * nf, d->X + i * nf, sizeof(float) * (size_t)nf);
        if (d->label)
            s->label[k] = d->label[i];
        if (d->value)
            s->value[k] = d->value[i];
        if (d->weight)
            s->weight[k] = d->weight[i];
        k++;
    }
    aml_dataset_fingerprint(s);
    return s;
}

void aml_dataset_drop_feature(aml_dataset *d, int64_t j)
{
    int64_t nf = d->n_features;
    for (int64_t i = 0; i < d->n_rows; i++) /* compact row by row, in place */
        for (int64_t q = 0; q < nf; q++)
            if (q != j)
                d->X[i * (nf - 1) + q - (q > j)] = d->X[i * nf + q];
    free(d->feature_names[j]);
    if (d->categories[j]) {
        for (int l = 0; l < d->n_categories[j]; l++)
            free(d->categories[j][l]);
        free(d->categories[j]);
    }
    memmove(d->feature_names + j, d->feature_names + j + 1, sizeof(char *) * (size_t)(nf - j - 1));
    memmove(d->categorical + j, d->categorical + j + 1, (size_t)(nf - j - 1));
    memmove(d->categories + j, d->categories + j + 1, sizeof(char **) * (size_t)(nf - j - 1));
    memmove(d->n_categories + j, d->n_categories + j + 1, sizeof(int) * (size_t)(nf - j - 1));
    d->n_features--;
}
