/* Train/validation splits: holdout and (stratified) k-fold, deterministic for a seed. */
#ifndef AML_RESAMPLE_H
#define AML_RESAMPLE_H

#include "core.h"

typedef enum { AML_RESAMPLE_AUTO = 0, AML_RESAMPLE_HOLDOUT = 1, AML_RESAMPLE_KFOLD = 2 } aml_resample_kind;

#define AML_MAX_REPEATS 20 /* k-fold deals at most this many times */

typedef struct aml_folds {
    int n_splits;        /* holdout: 1; k-fold: k * repeats */
    int repeats;         /* k-fold: how many times the rows were shuffled and dealt (1: plain) */
    int64_t n_rows;
    int32_t *fold_of_row; /* n_rows per repeat: split r * k + f validates the rows i with
                             fold_of_row[r * n_rows + i] == f; -1 = always train */
    aml_resample_kind kind; /* what was resolved: HOLDOUT or KFOLD, never AUTO */
    double valid_fraction;  /* holdout: the fraction asked for; k-fold: 1 / k */
} aml_folds;

/* AUTO: k-fold (n_folds, default 5, at most n_rows) up to 20 000 rows, else holdout
 * (valid_fraction, default 0.2); n_folds <= 0 / valid_fraction <= 0 mean "default" for AUTO only.
 * repeats (k-fold only; <= 0: automatic): k-fold is dealt that many times, each with a new
 * shuffle, so every row is validated once per repeat. Automatic is 3 repeats up to 2 000 rows
 * (where one k-fold estimate is too noisy to choose among many trials) and 1 above.
 * KFOLD needs 2 <= n_folds <= n_rows; HOLDOUT needs valid_fraction in (0, 1).
 * Stratified by class when label is given (label is NULL for regression). Deterministic for a seed.
 * On success *out owns fold_of_row (aml_folds_free); on error (AML_ERR_INPUT) *out is untouched. */
aml_status aml_folds_make(aml_ctx *c, aml_resample_kind kind, int n_folds, double valid_fraction,
                          uint64_t seed, int64_t n_rows, const int32_t *label, int n_classes,
                          aml_folds *out);
aml_status aml_folds_make_repeated(aml_ctx *c, aml_resample_kind kind, int n_folds, int repeats,
                                   double valid_fraction, uint64_t seed, int64_t n_rows,
                                   const int32_t *label, int n_classes, aml_folds *out);
/* "holdout", "5-fold CV" or "5-fold CV x 3" (repeats), into buf. */
void aml_resampling_name(const aml_folds *f, char *buf, size_t n);
/* 1 when split s validates on row i. */
int aml_folds_validates(const aml_folds *f, int s, int64_t i);
void aml_folds_free(aml_folds *f);

/* A 75/25 split like scikit-learn's train_test_split(stratify=y) in spirit (not bit-identical):
 * is_test[i] = 1 for test rows. Used by tests and `automl info --split`. */
void aml_split_holdout(int64_t n_rows, const int32_t *label, int n_classes, double test_fraction,
                       uint64_t seed, uint8_t *is_test);

#endif
