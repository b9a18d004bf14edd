/* Resampling: each row validated exactly once, class balance per fold, exact holdout sizes,
 * determinism for a seed, the AUTO choice, and the exact error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "resample.h"

/* 103 rows of 3 classes, 50 / 33 / 20, interleaved so that row order says nothing about class. */
#define N_ROWS 103
static int32_t labels[N_ROWS];
static const int class_count[3] = {50, 33, 20};

static void fill_labels(void)
{
    int left[3] = {50, 33, 20}, c = 0;
    for (int i = 0; i < N_ROWS; i++) {
        while (left[c] == 0)
            c = (c + 1) % 3;
        labels[i] = c;
        left[c]--;
        c = (c + 1) % 3;
    }
}

static void test_stratified_kfold(void **state)
{
    fill_labels();
    aml_ctx *c = aml_ctx_new();
    aml_folds f;
    assert_int_equal(aml_folds_make(c, AML_RESAMPLE_KFOLD, 5, 0, 7, N_ROWS, labels, 3, &f), AML_OK);
    assert_int_equal(f.n_splits, 5);
    assert_int_equal(f.n_rows, N_ROWS);
    assert_int_equal(f.kind, AML_RESAMPLE_KFOLD);

    int per_fold[5] = {0}, per_class[5][3] = {{0}};
    for (int i = 0; i < N_ROWS; i++) {
        /* exactly one validation fold per row: a fold id in range, never "always train" */
        assert_in_range(f.fold_of_row[i], 0, 4);
        per_fold[f.fold_of_row[i]]++;
        per_class[f.fold_of_row[i]][labels[i]]++;
    }
    /* 103 = 5 * 20 + 3: three folds of 21, two of 20 */
    int of21 = 0;
    for (int k = 0; k < 5; k++) {
        assert_in_range(per_fold[k], 20, 21);
        of21 += per_fold[k] == 21;
        /* every class within one row of count / 5 in every fold */
        for (int y = 0; y < 3; y++)
            assert_in_range(per_class[k][y], class_count[y] / 5, (class_count[y] + 4) / 5);
    }
    assert_int_equal(of21, 3);
    aml_folds_free(&f);
    assert_null(f.fold_of_row);
    aml_folds_free(NULL);
    aml_ctx_free(c);
}

static void test_regression_kfold_sizes(void **state)
{
    aml_folds f;
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_KFOLD, 4, 0, 3, 10, NULL, 0, &f), AML_OK);
    int per_fold[4] = {0};
    for (int i = 0; i < 10; i++) {
        assert_in_range(f.fold_of_row[i], 0, 3);
        per_fold[f.fold_of_row[i]]++;
    }
    /* 10 rows in 4 folds: 3, 3, 2, 2 in dealing order */
    assert_int_equal(per_fold[0], 3);
    assert_int_equal(per_fold[1], 3);
    assert_int_equal(per_fold[2], 2);
    assert_int_equal(per_fold[3], 2);
    aml_folds_free(&f);
}

static void test_deterministic_for_a_seed(void **state)
{
    fill_labels();
    aml_folds a, b, other;
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_KFOLD, 5, 0, 42, N_ROWS, labels, 3, &a), AML_OK);
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_KFOLD, 5, 0, 42, N_ROWS, labels, 3, &b), AML_OK);
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_KFOLD, 5, 0, 43, N_ROWS, labels, 3, &other),
                     AML_OK);
    assert_memory_equal(a.fold_of_row, b.fold_of_row, N_ROWS * sizeof(int32_t));
    int differ = 0;
    for (int i = 0; i < N_ROWS; i++)
        differ += a.fold_of_row[i] != other.fold_of_row[i];
    /* a different shuffle moves most rows (4 in 5 by chance); far more than a handful */
    assert_true(differ > N_ROWS / 2);
    aml_folds_free(&a);
    aml_folds_free(&b);
    aml_folds_free(&other);
}

static void test_stratified_holdout_sizes(void **state)
{
    fill_labels();
    aml_folds f;
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_HOLDOUT, 0, 0.25, 1, N_ROWS, labels, 3, &f),
                     AML_OK);
    assert_int_equal(f.n_splits, 1);
    assert_int_equal(f.kind, AML_RESAMPLE_HOLDOUT);
    int valid[3] = {0};
    for (int i = 0; i < N_ROWS; i++) {
        assert_true(f.fold_of_row[i] == 0 || f.fold_of_row[i] == -1);
        valid[labels[i]] += f.fold_of_row[i] == 0;
    }
    /* round(50 * .25) = round(12.5) = 13 (halves round up), round(8.25) = 8, round(5) = 5 */
    assert_int_equal(valid[0], 13);
    assert_int_equal(valid[1], 8);
    assert_int_equal(valid[2], 5);
    aml_folds_free(&f);

    /* a class of one row stays in training; a class of two gives one to validation at 0.5 */
    const int32_t y[7] = {0, 0, 0, 0, 1, 2, 2};
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_HOLDOUT, 0, 0.5, 9, 7, y, 3, &f), AML_OK);
    int v[3] = {0};
    for (int i = 0; i < 7; i++)
        v[y[i]] += f.fold_of_row[i] == 0;
    assert_int_equal(v[0], 2);
    assert_int_equal(v[1], 0);
    assert_int_equal(v[2], 1);
    aml_folds_free(&f);

    /* high fraction: still one training row per class */
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_HOLDOUT, 0, 0.99, 9, 7, y, 3, &f), AML_OK);
    memset(v, 0, sizeof v);
    for (int i = 0; i < 7; i++)
        v[y[i]] += f.fold_of_row[i] == -1;
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 1);
    assert_int_equal(v[2], 1);
    aml_folds_free(&f);
}

static void test_auto_choice(void **state)
{
    int32_t *y = malloc(20001 * sizeof *y);
    for (int i = 0; i < 20001; i++)
        y[i] = i % 4 == 0; /* 5001 of class 1, 15000 of class 0 */
    aml_folds f;

    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_AUTO, 0, 0, 5, 20000, y, 2, &f), AML_OK);
    assert_int_equal(f.kind, AML_RESAMPLE_KFOLD);
    assert_int_equal(f.n_splits, 5);
    aml_folds_free(&f);

    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_AUTO, 0, 0, 5, 20001, y, 2, &f), AML_OK);
    assert_int_equal(f.kind, AML_RESAMPLE_HOLDOUT);
    assert_int_equal(f.n_splits, 1);
    assert_true(f.valid_fraction == 0.2);
    int n_valid = 0;
    for (int i = 0; i < 20001; i++)
        n_valid += f.fold_of_row[i] == 0;
    /* round(15000 * .2) + round(5001 * .2) = 3000 + 1000 */
    assert_int_equal(n_valid, 4000);
    aml_folds_free(&f);

    /* regression, and a tiny table gets as many folds as rows */
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_AUTO, 0, 0, 5, 3, NULL, 0, &f), AML_OK);
    assert_int_equal(f.kind, AML_RESAMPLE_KFOLD);
    assert_int_equal(f.n_splits, 3);
    aml_folds_free(&f);
    free(y);
}

/* Repeated k-fold: every row validated exactly once per repeat, the first repeat is the plain
 * k-fold of the seed, later repeats deal differently; automatic repeats only for small tables. */
static void test_repeated_kfold(void **state)
{
    (void)state;
    enum { N = 300 };
    int32_t y[N];
    for (int i = 0; i < N; i++)
        y[i] = i % 3;
    aml_folds plain, rep;
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_KFOLD, 5, 0, 11, N, y, 3, &plain), AML_OK);
    assert_int_equal(plain.repeats, 1);
    assert_int_equal(aml_folds_make_repeated(NULL, AML_RESAMPLE_KFOLD, 5, 3, 0, 11, N, y, 3, &rep), AML_OK);
    assert_int_equal(rep.n_splits, 15);
    assert_int_equal(rep.repeats, 3);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        for (int r = 0; r < 3; r++) {
            int times = 0;
            for (int f = 0; f < 5; f++)
                times += aml_folds_validates(&rep, r * 5 + f, i);
            assert_int_equal(times, 1);
        }
        for (int f = 0; f < 5; f++)
            assert_int_equal(aml_folds_validates(&rep, f, i), aml_folds_validates(&plain, f, i));
        differ += aml_folds_validates(&rep, 5, i) != aml_folds_validates(&rep, 0, i);
    }
    assert_true(differ > N / 4);
    char name[48];
    aml_resampling_name(&rep, name, sizeof name);
    assert_string_equal(name, "5-fold CV x 3");
    aml_folds_free(&plain);
    aml_folds_free(&rep);
    /* automatic: 3 repeats up to 2 000 rows, 1 above; holdout never repeats */
    int32_t *many = calloc(2001, sizeof *many);
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_AUTO, 0, 0, 5, 2000, many, 1, &rep), AML_OK);
    assert_int_equal(rep.n_splits, 15);
    aml_folds_free(&rep);
    assert_int_equal(aml_folds_make(NULL, AML_RESAMPLE_AUTO, 0, 0, 5, 2001, many, 1, &rep), AML_OK);
    assert_int_equal(rep.n_splits, 5);
    aml_folds_free(&rep);
    assert_int_equal(aml_folds_make_repeated(NULL, AML_RESAMPLE_HOLDOUT, 0, 3, 0.2, 5, 2001, many, 1, &rep), AML_OK);
    assert_int_equal(rep.n_splits, 1);
    aml_folds_free(&rep);
    free(many);
}

static void expect_error(aml_resample_kind kind, int n_folds, double fraction, int64_t n_rows,
                         const int32_t *y, int n_classes, const char *message)
{
    aml_ctx *c = aml_ctx_new();
    aml_folds f = {.n_splits = -7};
    assert_int_equal(aml_folds_make(c, kind, n_folds, fraction, 1, n_rows, y, n_classes, &f),
                     AML_ERR_INPUT);
    assert_string_equal(aml_errmsg(c), message);
    assert_int_equal(f.n_splits, -7); /* output untouched on error */
    aml_ctx_free(c);
}

static void test_errors(void **state)
{
    const int32_t y[4] = {0, 1, 0, 3};
    expect_error(AML_RESAMPLE_KFOLD, 1, 0, 10, NULL, 0,
                 "resampling: n_folds must be between 2 and the number of rows (10), got 1");
    expect_error(AML_RESAMPLE_KFOLD, 11, 0, 10, NULL, 0,
                 "resampling: n_folds must be between 2 and the number of rows (10), got 11");
    expect_error(AML_RESAMPLE_HOLDOUT, 0, 0, 10, NULL, 0,
                 "resampling: valid_fraction must be in (0, 1), got 0");
    expect_error(AML_RESAMPLE_HOLDOUT, 0, 1, 10, NULL, 0,
                 "resampling: valid_fraction must be in (0, 1), got 1");
    expect_error(AML_RESAMPLE_AUTO, 0, 0, 1, NULL, 0,
                 "resampling: 1 rows are too few (need at least 2)");
    expect_error(AML_RESAMPLE_HOLDOUT, 0, 0.2, 2, NULL, 0,
                 "resampling: holdout with valid_fraction 0.2 leaves no validation row out of 2 rows");
    expect_error(AML_RESAMPLE_KFOLD, 2, 0, 4, y, 2,
                 "resampling: row 3 has label 3, expected a class in [0, 2)");
    expect_error(AML_RESAMPLE_KFOLD, 2, 0, 4, y, 0,
                 "resampling: n_classes must be >= 1 with labels, got 0");
    expect_error((aml_resample_kind)9, 2, 0.5, 4, NULL, 0, "resampling: unknown kind 9");
}

static void test_split_holdout(void **state)
{
    fill_labels();
    uint8_t a[N_ROWS], b[N_ROWS], other[N_ROWS];
    aml_split_holdout(N_ROWS, labels, 3, 0.25, 11, a);
    aml_split_holdout(N_ROWS, labels, 3, 0.25, 11, b);
    aml_split_holdout(N_ROWS, labels, 3, 0.25, 12, other);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, other, sizeof a);
    int test[3] = {0}, differ = 0;
    for (int i = 0; i < N_ROWS; i++) {
        assert_true(a[i] <= 1);
        test[labels[i]] += a[i];
        differ += a[i] != other[i];
    }
    assert_int_equal(test[0], 13);
    assert_int_equal(test[1], 8);
    assert_int_equal(test[2], 5);
    assert_true(differ >= 10);

    /* regression: round(40 * .25) = 10 test rows */
    uint8_t r[40];
    aml_split_holdout(40, NULL, 0, 0.25, 3, r);
    int n_test = 0;
    for (int i = 0; i < 40; i++)
        n_test += r[i];
    assert_int_equal(n_test, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stratified_kfold),
        cmocka_unit_test(test_regression_kfold_sizes),
        cmocka_unit_test(test_deterministic_for_a_seed),
        cmocka_unit_test(test_stratified_holdout_sizes),
        cmocka_unit_test(test_auto_choice),
        cmocka_unit_test(test_repeated_kfold),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_split_holdout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
