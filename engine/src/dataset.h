/* The in-memory table every other unit works on: float32 features (NaN = missing), the target,
 * and the schema (names, types, category levels, class labels). Loaded once, shared read-only. */
#ifndef AML_DATASET_H
#define AML_DATASET_H

#include "core.h"
#include <stdio.h>

struct aml_dataset {
    int64_t n_rows, n_features;
    float *X;                 /* n_rows x n_features, row-major */
    aml_task_kind task;
    int n_classes;            /* classification: number of classes; 0 for regression */
    int32_t *label;           /* classification: class index per row, in [0, n_classes) */
    double *value;            /* regression: target value per row (NULL for classification) */
    float *weight;            /* optional, NULL = unweighted */
    char **feature_names;     /* n_features */
    uint8_t *categorical;     /* n_features flags */
    char ***categories;       /* per feature: level strings (NULL when none); code k -> categories[j][k] */
    int *n_categories;        /* per feature */
    char **class_names;       /* n_classes labels ("0", "1" or the target names) */
    char *target_name;        /* the target column's name ("target" when unknown) */
    char fingerprint[65];     /* sha256 of schema + contents (fingerprint.c) */
    char *path;               /* the file it came from */
};

/* An empty dataset with n_rows x n_features allocated (X zeroed), names "f0".., all numeric,
 * categories/n_categories zeroed, target_name "target", task 0 (no target: label and value NULL;
 * the caller sets task, n_classes, class_names and label or value). Freed by aml_dataset_free.
 * Categorical features hold level codes 0..n_categories-1 as floats in X (NaN = missing). */
aml_dataset *aml_dataset_alloc(int64_t n_rows, int64_t n_features);

/* Missing (NaN) cells in X: the total, and per feature into per_feature[n_features] when non-NULL. */
int64_t aml_dataset_missing(const aml_dataset *d, int64_t *per_feature);
/* Number of features flagged categorical. */
int aml_dataset_n_categorical(const aml_dataset *d);
/* "classification", "regression" or "none" (task 0: a table without a target). */
const char *aml_dataset_task_name(int task);

/* A new dataset with the rows i where mask[i] == want, the same schema and a new fingerprint
 * (dataset_select.c). */
aml_dataset *aml_dataset_select_rows(const aml_dataset *d, const uint8_t *mask, uint8_t want);
/* Removes feature j (its column, name and levels) in place; the caller refreshes the fingerprint
 * (dataset_select.c). */
void aml_dataset_drop_feature(aml_dataset *d, int64_t j);

/* Computes d->fingerprint from the schema and the contents. */
void aml_dataset_fingerprint(aml_dataset *d);

/* ---- HDF5 (hdf5_io.c) ---- */
/* Reads DESIGN.md §4; accepts float32/float64 X, integer (classification) or float (regression) y,
 * h5py's /categorical_idx, /feature_types, /categories/<name>, /target_names, /weights.
 * A file without /y gives task 0 (label and value NULL), e.g. rows to predict.
 * Errors: AML_ERR_INPUT, message "FILE: /PATH: what was expected". */
aml_status aml_hdf5_read(aml_ctx *c, const char *path, aml_dataset **out);
/* Writes the same schema (X as float32); written to a temporary file and renamed. */
aml_status aml_hdf5_write(aml_ctx *c, const char *path, const aml_dataset *d);

/* ---- CSV (csv_import.c, libcsv) ---- */
typedef struct aml_csv_options {
    const char *target;        /* target column name; NULL = last column */
    int task;                  /* 0 auto, or AML_TASK_* */
    const char *categorical;   /* comma-separated names forced categorical, or NULL */
    const char *numeric;       /* comma-separated names forced numeric, or NULL */
} aml_csv_options;
/* Reads a CSV table with a header row. Missing markers: empty, NA, ?, NaN (any case).
 * Errors name the file, line and column. */
aml_status aml_csv_read(aml_ctx *c, const char *path, const aml_csv_options *opt, aml_dataset **out);

/* Reads the feature columns of a CSV by header name in the order of `schema` (a dataset whose
 * schema, not contents, is used: names, categorical flags, levels; unknown levels become NaN).
 * A missing column is an error naming it; extra columns are reported through *extra (malloc'd
 * comma-separated names, or NULL). If the target column is present and schema has classes or is a
 * regression, *out gets it too (label/value non-NULL), otherwise label/value stay NULL. */
aml_status aml_csv_read_for_schema(aml_ctx *c, const char *path, const aml_dataset *schema,
                                   aml_dataset **out, char **extra);

/* Prints shape, types, missing counts, class balance and fingerprint (for `automl info`). */
void aml_dataset_describe(const aml_dataset *d, FILE *f);

#endif
