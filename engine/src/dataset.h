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

/* ---- limits on what an input may declare (dataset.c) ---- */
/* The most bytes one dataset may take in memory: AML_MAX_DATA_BYTES when set (a byte count,
 * optionally with a K, M, G or T suffix, powers of 1024), else the machine's memory (the least of
 * the physical memory, the cgroup's memory.max and RLIMIT_AS). -1 when AML_MAX_DATA_BYTES is not
 * a byte count. */
int64_t aml_data_limit(void);
/* AML_OK when a table of n_rows x n_cols cells of cell_bytes each, plus row_bytes per row (target,
 * weights), fits under aml_data_limit(), computed without overflow. Otherwise AML_ERR_INPUT,
 * "PATH: WHAT: R x C cells need SIZE of memory, more than the limit of LIMIT (...)". */
aml_status aml_data_check_memory(aml_ctx *c, const char *path, const char *what, uint64_t n_rows, uint64_t n_cols,
                                 uint64_t cell_bytes, uint64_t row_bytes);
/* The same for a plain byte count (overflow set: beyond 64 bits): "WHAT SIZE of memory, ...", where
 * WHAT ends with its verb ("data.csv: the file needs"). */
aml_status aml_data_check_bytes(aml_ctx *c, uint64_t bytes, int overflow, const char *what);
/* "12.5 MiB": a byte count for messages. */
void aml_format_bytes(double bytes, char out[32]);
/* The offset of the first byte of s[0..n) that is not part of valid UTF-8 (no overlong forms,
 * surrogates or code points past U+10FFFF), or -1 when all of it is valid. */
int64_t aml_utf8_invalid(const char *s, size_t n);
/* s with every byte outside printable ASCII written as \xHH, for messages (malloc'd). */
char *aml_escape_bytes(const char *s, size_t n);

/* Computes d->fingerprint from the schema and the contents. */
void aml_dataset_fingerprint(aml_dataset *d);

/* ---- HDF5 (hdf5_io.c) ---- */
/* Reads DESIGN.md §4; accepts float32/float64 X, integer (classification) or float (regression) y,
 * h5py's /categorical_idx, /feature_types, /categories/<name>, /target_names, /weights.
 * A file without /y gives task 0 (label and value NULL), e.g. rows to predict.
 * Nothing declared is believed: each dataset's size must be backed by data in the file (not
 * external, every chunk written) and fit under aml_data_limit() before it is read; X cells must be
 * finite within float32 (NaN = missing); names, levels and labels must be UTF-8 and distinct.
 * Errors: AML_ERR_INPUT, message "FILE: /PATH: what was expected". */
aml_status aml_hdf5_read(aml_ctx *c, const char *path, aml_dataset **out);
/* Shared by the reader and the writer (hdf5_io.c): silences libhdf5's own error stack (our
 * messages say what went wrong); escapes '/' and '%' in a feature name for /categories/<name>. */
void aml_hdf5_quiet(void);
char *aml_hdf5_escape_name(const char *s);
/* ---- HDF5 writing (hdf5_write.c) ---- */
/* Writes the same schema (X as float32); written to a temporary file and renamed. On error
 * (AML_ERR_IO, "PATH: writing the HDF5 file failed: No space left on device") nothing is left. */
aml_status aml_hdf5_write(aml_ctx *c, const char *path, const aml_dataset *d);
/* The two halves of aml_hdf5_write, for commands writing several files that should all appear or
 * none: writes and fsyncs "PATH.tmp.PID" (*tmp gets its malloc'd name; nothing is left on error),
 * then renames it into place (the temporary is removed on error). */
aml_status aml_hdf5_write_temp(aml_ctx *c, const char *path, const aml_dataset *d, char **tmp);
aml_status aml_hdf5_commit(aml_ctx *c, const char *tmp, const char *path);

/* ---- CSV (csv_import.c, libcsv) ---- */
typedef struct aml_csv_options {
    const char *target;        /* target column name; NULL = last column */
    int task;                  /* 0 auto, or AML_TASK_* */
    const char *categorical;   /* comma-separated names forced categorical, or NULL */
    const char *numeric;       /* comma-separated names forced numeric, or NULL */
    const char *encoding;      /* the file's text encoding for iconv ("latin1"); NULL = UTF-8 */
} aml_csv_options;
/* Reads a CSV table with a header row. Missing markers: empty, NA, ?, NaN (any case, with or
 * without a sign). Refused, naming file, line and column: a NUL byte; text that is not UTF-8
 * (after converting from opt->encoding when set); an infinity ("inf", "-Infinity") or a number
 * beyond float64 in a column whose other cells are numbers (unless forced categorical); a
 * feature value beyond float32 (±3.4e38). Sizes are checked against aml_data_limit(). */
aml_status aml_csv_read(aml_ctx *c, const char *path, const aml_csv_options *opt, aml_dataset **out);

/* Reads the feature columns of a CSV by header name in the order of `schema` (a dataset whose
 * schema, not contents, is used: names, categorical flags, levels; unknown levels become NaN).
 * The header and the cells read must be UTF-8 without NUL bytes, as for aml_csv_read.
 * A missing column is an error naming it; extra columns are reported through *extra (malloc'd
 * comma-separated names, or NULL). If the target column is present and schema has classes or is a
 * regression, *out gets it too (label/value non-NULL), otherwise label/value stay NULL. */
aml_status aml_csv_read_for_schema(aml_ctx *c, const char *path, const aml_dataset *schema,
                                   aml_dataset **out, char **extra);

/* Prints shape, types, missing counts, class balance and fingerprint (for `automl info`). */
void aml_dataset_describe(const aml_dataset *d, FILE *f);

#endif
