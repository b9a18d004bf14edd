/* Train/validation splits for the search: stratified k-fold and holdout, deterministic for a seed.
 * Rows are grouped by class (one group for regression), each group is shuffled with the engine's
 * RNG, then dealt into folds, so every fold sees each class in proportion. */
#include "resample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define AUTO_KFOLD_MAX_ROWS 20000
#define AUTO_N_FOLDS 5
#define AUTO_VALID_FRACTION 0.2
#define AUTO_REPEAT_MAX_ROWS 2000
#define AUTO_REPEATS 3

/* Counting sort of the rows by group, then a Fisher-Yates shuffle inside each group. Groups are
 * the classes 0..n_classes-1 plus a last one for labels out of range (only aml_split_holdout lets
 * those through); without labels everything is group 0. start gets n_groups + 1 offsets. */
static void group_and_shuffle(int64_t n_rows, const int32_t *label, int n_classes, uint64_t seed,
                              int64_t *order, int64_t *start, int n_groups)
{
    for (int g = 0; g <= n_groups; g++)
        start[g] = 0;
    for (int64_t i = 0; i < n_rows; i++) {
        int g = 0;
        if (label)
            g = (label[i] >= 0 && label[i] < n_classes) ? label[i] : n_classes;
        start[g + 1]++;
    }
    for (int g = 0; g < n_groups; g++)
        start[g + 1] += start[g];
    /* fill from a moving cursor per group; the cursors end where the next group starts */
    int64_t *cursor = aml_xmalloc((size_t)n_groups * sizeof *cursor);
    for (int g = 0; g < n_groups; g++)
        cursor[g] = start[g];
    for (int64_t i = 0; i < n_rows; i++) {
        int g = 0;
        if (label)
            g = (label[i] >= 0 && label[i] < n_classes) ? label[i] : n_classes;
        order[cursor[g]++] = i;
    }
    free(cursor);

    aml_rng rng;
    aml_rng_seed(&rng, seed);
    for (int g = 0; g < n_groups; g++) {
        int64_t *seg = order + start[g], len = start[g + 1] - start[g];
        for (int64_t i = len - 1; i > 0; i--) {
            int64_t j = (int64_t)aml_rng_below(&rng, (uint64_t)i + 1);
            int64_t t = seg[i];
            seg[i] = seg[j];
            seg[j] = t;
        }
    }
}

/* Round-robin dealing that carries on across groups: each class lands within one row of n_c / k
 * in every fold, and the folds' sizes differ by at most one row overall. */
static void deal_kfold(const int64_t *order, int64_t n_rows, int k, int32_t *fold_of_row)
{
    for (int64_t r = 0; r < n_rows; r++)
        fold_of_row[order[r]] = (int32_t)(r % k);
}

/* Per group: round(count * fraction) rows to validation (marked 0), keeping at least one training
 * row of every group. Returns how many rows went to validation. */
static int64_t deal_holdout(const int64_t *order, const int64_t *start, int n_groups, double fraction,
                            int32_t *fold_of_row)
{
    int64_t n_valid = 0;
    for (int g = 0; g < n_groups; g++) {
        int64_t len = start[g + 1] - start[g];
        if (len == 0)
            continue;
        int64_t take = (int64_t)floor((double)len * fraction + 0.5);
        if (take > len - 1)
            take = len - 1;
        for (int64_t r = 0; r < len; r++)
            fold_of_row[order[start[g] + r]] = r < take ? 0 : -1;
        n_valid += take;
    }
    return n_valid;
}

aml_status aml_folds_make(aml_ctx *c, aml_resample_kind kind, int n_folds, double valid_fraction,
                          uint64_t seed, int64_t n_rows, const int32_t *label, int n_classes,
                          aml_folds *out)
{
    return aml_folds_make_repeated(c, kind, n_folds, kind == AML_RESAMPLE_AUTO ? 0 : 1, valid_fraction, seed,
                                   n_rows, label, n_classes, out);
}

void aml_resampling_name(const aml_folds *f, char *buf, size_t n)
{
    int r = f->repeats > 1 ? f->repeats : 1;
    if (f->kind == AML_RESAMPLE_HOLDOUT)
        snprintf(buf, n, "holdout");
    else if (r > 1)
        snprintf(buf, n, "%d-fold CV x %d", f->n_splits / r, r);
    else
        snprintf(buf, n, "%d-fold CV", f->n_splits);
}

int aml_folds_validates(const aml_folds *f, int s, int64_t i)
{
    int k = f->n_splits / (f->repeats > 0 ? f->repeats : 1);
    return f->fold_of_row[(int64_t)(s / k) * f->n_rows + i] == s % k;
}

aml_status aml_folds_make_repeated(aml_ctx *c, aml_resample_kind kind, int n_folds, int repeats,
                                   double valid_fraction, uint64_t seed, int64_t n_rows,
                                   const int32_t *label, int n_classes, aml_folds *out)
{
    if (n_rows < 2)
        return aml_fail(c, AML_ERR_INPUT, "resampling: %lld rows are too few (need at least 2)",
                        (long long)n_rows);
    if (label && n_classes < 1)
        return aml_fail(c, AML_ERR_INPUT, "resampling: n_classes must be >= 1 with labels, got %d",
                        n_classes);
    if (kind == AML_RESAMPLE_AUTO) {
        if (n_rows <= AUTO_KFOLD_MAX_ROWS) {
            kind = AML_RESAMPLE_KFOLD;
            if (n_folds <= 0)
                n_folds = AUTO_N_FOLDS;
            if (n_folds > n_rows)
                n_folds = (int)n_rows; /* tiny data: leave-one-out rather than an error */
        } else {
            kind = AML_RESAMPLE_HOLDOUT;
            if (valid_fraction <= 0)
                valid_fraction = AUTO_VALID_FRACTION;
        }
    }
    if (kind == AML_RESAMPLE_HOLDOUT || (kind == AML_RESAMPLE_KFOLD && n_folds >= n_rows))
        repeats = 1; /* leave-one-out deals the same folds whatever the shuffle */
    else if (repeats <= 0)
        repeats = n_rows <= AUTO_REPEAT_MAX_ROWS ? AUTO_REPEATS : 1;
    if (repeats > AML_MAX_REPEATS)
        return aml_fail(c, AML_ERR_INPUT, "resampling: repeats must be between 1 and %d, got %d", AML_MAX_REPEATS,
                        repeats);
    if (kind == AML_RESAMPLE_KFOLD && (n_folds < 2 || n_folds > n_rows))
        return aml_fail(c, AML_ERR_INPUT,
                        "resampling: n_folds must be between 2 and the number of rows (%lld), got %d",
                        (long long)n_rows, n_folds);
    if (kind == AML_RESAMPLE_HOLDOUT && !(valid_fraction > 0 && valid_fraction < 1))
        return aml_fail(c, AML_ERR_INPUT, "resampling: valid_fraction must be in (0, 1), got %g",
                        valid_fraction);
    if (kind != AML_RESAMPLE_KFOLD && kind != AML_RESAMPLE_HOLDOUT)
        return aml_fail(c, AML_ERR_INPUT, "resampling: unknown kind %d", (int)kind);
    if (label) {
        for (int64_t i = 0; i < n_rows; i++)
            if (label[i] < 0 || label[i] >= n_classes)
                return aml_fail(c, AML_ERR_INPUT,
                                "resampling: row %lld has label %d, expected a class in [0, %d)",
                                (long long)i, label[i], n_classes);
    }

    int n_groups = label ? n_classes + 1 : 1;
    int64_t *order = aml_xmalloc((size_t)n_rows * sizeof *order);
    int64_t *start = aml_xmalloc(((size_t)n_groups + 1) * sizeof *start);
    int32_t *fold_of_row = aml_xmalloc((size_t)(n_rows * repeats) * sizeof *fold_of_row);
    group_and_shuffle(n_rows, label, n_classes, seed, order, start, n_groups);

    aml_status st = AML_OK;
    if (kind == AML_RESAMPLE_KFOLD) {
        deal_kfold(order, n_rows, n_folds, fold_of_row);
        for (int r = 1; r < repeats; r++) { /* the first repeat is the plain k-fold of this seed */
            group_and_shuffle(n_rows, label, n_classes, aml_mix64(seed, (uint64_t)r), order, start, n_groups);
            deal_kfold(order, n_rows, n_folds, fold_of_row + (int64_t)r * n_rows);
        }
    } else if (deal_holdout(order, start, n_groups, valid_fraction, fold_of_row) == 0) {
        st = aml_fail(c, AML_ERR_INPUT,
                      "resampling: holdout with valid_fraction %g leaves no validation row out of "
                      "%lld rows",
                      valid_fraction, (long long)n_rows);
        goto fail;
    }
    free(order);
    free(start);
    out->n_splits = kind == AML_RESAMPLE_KFOLD ? n_folds * repeats : 1;
    out->repeats = repeats;
    out->n_rows = n_rows;
    out->fold_of_row = fold_of_row;
    out->kind = kind;
    out->valid_fraction = kind == AML_RESAMPLE_KFOLD ? 1.0 / n_folds : valid_fraction;
    return AML_OK;

fail:
    free(order);
    free(start);
    free(fold_of_row);
    return st;
}

void aml_folds_free(aml_folds *f)
{
    if (!f)
        return;
    free(f->fold_of_row);
    f->fold_of_row = NULL;
    f->n_splits = 0;
    f->n_rows = 0;
}

void aml_split_holdout(int64_t n_rows, const int32_t *label, int n_classes, double test_fraction,
                       uint64_t seed, uint8_t *is_test)
{
    if (n_rows <= 0 || !is_test)
        return;
    if (!(test_fraction > 0 && test_fraction < 1))
        test_fraction = 0.25;
    if (label && n_classes < 0)
        n_classes = 0; /* every label is then out of range: one group */
    int n_groups = label ? n_classes + 1 : 1;
    int64_t *order = aml_xmalloc((size_t)n_rows * sizeof *order);
    int64_t *start = aml_xmalloc(((size_t)n_groups + 1) * sizeof *start);
    int32_t *fold_of_row = aml_xmalloc((size_t)n_rows * sizeof *fold_of_row);
    group_and_shuffle(n_rows, label, n_classes, seed, order, start, n_groups);
    deal_holdout(order, start, n_groups, test_fraction, fold_of_row);
    for (int64_t i = 0; i < n_rows; i++)
        is_test[i] = fold_of_row[i] == 0;
    free(order);
    free(start);
    free(fold_of_row);
}
