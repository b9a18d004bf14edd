/* Train/validation splits: holdout and (stratified) k-fold, deterministic for a seed. */
#ifndef AML_RESAMPLE_H
#define AML_RESAMPLE_H

#include "core.h"

typedef enum { AML_RESAMPLE_AUTO = 0, AML_RESAMPLE_HOLDOUT = 1, AML_RESAMPLE_KFOLD = 2 } aml_resample_kind;

typedef struct aml_folds {
    int n_splits;        /* holdout: 1; k-fold: k */
    int64_t n_rows;
    int32_t *fold_of_row; /* split s validates on rows with fold_of_row == s; -1 = always train */
} aml_folds;

/* Auto: k-fold (5) below 10 000 rows... see resample.c; kind/n_folds/valid_fraction resolved in *out.
 * label is NULL for regression (then no stratification). */
aml_status aml_folds_make(aml_ctx *c, aml_resample_kind kind, int n_folds, double valid_fraction,
                          uint64_t seed, int64_t n_rows, const int32_t *label, int n_classes,
                          aml_folds *out);
void aml_folds_free(aml_folds *f);

/* A 75/25 split like scikit-learn's train_test_split(stratify=y) in spirit (not bit-identical):
 * is_test[i] = 1 for test rows. Used by tests and `automl info --split`. */
void aml_split_holdout(int64_t n_rows, const int32_t *label, int n_classes, double test_fraction,
                       uint64_t seed, uint8_t *is_test);

#endif
