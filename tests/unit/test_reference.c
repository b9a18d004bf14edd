/* The drift reference: quantile edges and proportions computed by hand, categorical top levels
 * with "other" and missing, the prediction distribution, the JSON round trip through the reader,
 * binning of served values, PSI values checked against hand computation, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"

#define assert_close(actual, expected)                                                            \
    do {                                                                                          \
        double a_ = (actual), e_ = (expected);                                                    \
        if (!(fabs(a_ - e_) <= 1e-12 * fmax(1.0, fabs(e_)))) {                                    \
            print_error("%s = %.17g, expected %.17g\n", #actual, a_, e_);                         \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

/* 100 rows: f0 = 0..99; f1 = i % 25 as a categorical with 25 levels, except rows 0..3 missing;
 * f2 = 7 (constant) with every tenth row missing. Classification with 2 classes. */
static aml_dataset *make_data(void)
{
    aml_dataset *d = aml_dataset_alloc(100, 3);
    d->categorical[1] = 1;
    d->n_categories[1] = 25;
    d->categories[1] = calloc(25, sizeof(char *));
    for (int k = 0; k < 25; k++)
        d->categories[1][k] = aml_xasprintf("L%d", k);
    for (int i = 0; i < 100; i++) {
        d->X[i * 3 + 0] = (float)i;
        d->X[i * 3 + 1] = i < 4 ? NAN : (float)(i % 25);
        d->X[i * 3 + 2] = i % 10 == 0 ? NAN : 7.0f;
    }
    d->task = AML_TASK_CLASSIFICATION;
    d->n_classes = 2;
    d->class_names = calloc(3, sizeof(char *));
    d->class_names[0] = strdup("no");
    d->class_names[1] = strdup("yes");
    return d;
}

static aml_reference *round_trip(aml_dataset *d, const double *pred)
{
    char *json = aml_reference_json(d, pred, 2);
    assert_non_null(json);
    aml_ctx *c = aml_ctx_new();
    aml_reference *r = NULL;
    if (aml_reference_parse(c, json, d->n_features, &r) != AML_OK)
        print_error("%s\n", aml_errmsg(c));
    assert_non_null(r);
    aml_ctx_free(c);
    free(json);
    return r;
}

static void test_numeric_deciles(void **state)
{
    aml_dataset *d = make_data();
    double pred[200];
    for (int i = 0; i < 100; i++) {
        pred[2 * i] = i < 30 ? 0.9 : 0.2; /* 30 rows predict "no", 70 "yes" */
        pred[2 * i + 1] = 1 - pred[2 * i];
    }
    aml_reference *r = round_trip(d, pred);
    const aml_ref_hist *h = &r->features[0];
    assert_string_equal(h->name, "f0");
    assert_false(h->categorical);
    /* Edges at (n - 1) k / 10 = 9.9 k; each of the 10 bins holds 10 rows; 1 missing bin. */
    assert_int_equal(h->n_bins, 11);
    for (int k = 0; k < 9; k++)
        assert_close(h->edges[k], 9.9 * (k + 1));
    for (int b = 0; b < 10; b++)
        assert_close(h->expected[b], 0.1);
    assert_close(h->expected[10], 0.0);
    assert_int_equal(aml_ref_hist_bin(h, -5), 0);
    assert_int_equal(aml_ref_hist_bin(h, 9.9), 1); /* an edge belongs to the bin above it */
    assert_int_equal(aml_ref_hist_bin(h, 50), 5);
    assert_int_equal(aml_ref_hist_bin(h, 1e9), 9);
    assert_int_equal(aml_ref_hist_bin(h, NAN), 10);
    /* A constant feature has no edges: one bin plus missing. */
    const aml_ref_hist *c = &r->features[2];
    assert_int_equal(c->n_bins, 2);
    assert_close(c->expected[0], 0.9);
    assert_close(c->expected[1], 0.1);
    assert_int_equal(aml_ref_hist_bin(c, 123), 0);
    /* Thresholds and the prediction distribution. */
    assert_close(r->warn, 0.1);
    assert_close(r->alert, 0.25);
    assert_true(r->prediction_is_class);
    assert_close(r->prediction.expected[0], 0.3);
    assert_close(r->prediction.expected[1], 0.7);
    assert_int_equal(aml_ref_hist_bin(&r->prediction, 1), 1);
    aml_reference_free(r);
    aml_dataset_free(d);
}

static void test_categorical_top_levels(void **state)
{
    aml_dataset *d = make_data();
    aml_reference *r = round_trip(d, NULL);
    const aml_ref_hist *h = &r->features[1];
    assert_true(h->categorical);
    /* 25 levels, 4 rows each except levels 0..3 (rows 0..3 are missing): the top 20 are levels
     * 4..23 (count 4, ties to the lower code), then "other" = levels 0..3 (3 rows each) and 24. */
    assert_int_equal(h->n_bins, 22);
    assert_int_equal(h->code_bin[4], 0);
    assert_int_equal(h->code_bin[23], 19);
    assert_close(h->expected[0], 0.04);
    assert_close(h->expected[20], (4 * 3 + 4) / 100.0); /* other */
    assert_close(h->expected[21], 0.04);                /* missing */
    assert_int_equal(aml_ref_hist_bin(h, 0), 20);
    assert_int_equal(aml_ref_hist_bin(h, 24), 20);
    assert_int_equal(aml_ref_hist_bin(h, 99), 20);
    assert_int_equal(aml_ref_hist_bin(h, NAN), 21);
    double sum = 0;
    for (int b = 0; b < h->n_bins; b++)
        sum += h->expected[b];
    assert_close(sum, 1.0);
    /* Without predictions the reference has no prediction histogram. */
    assert_int_equal(r->prediction.n_bins, 0);
    aml_reference_free(r);
    aml_dataset_free(d);
}

static void test_regression_prediction(void **state)
{
    aml_dataset *d = make_data();
    d->task = AML_TASK_REGRESSION;
    double pred[100];
    for (int i = 0; i < 100; i++)
        pred[i] = 2.0 * i;
    char *json = aml_reference_json(d, pred, 1);
    aml_reference *r = NULL;
    assert_int_equal(aml_reference_parse(NULL, json, 3, &r), AML_OK);
    assert_false(r->prediction_is_class);
    assert_int_equal(r->prediction.n_bins, 11);
    assert_close(r->prediction.edges[0], 19.8);
    assert_int_equal(aml_ref_hist_bin(&r->prediction, 100), 5);
    aml_reference_free(r);
    free(json);
    aml_dataset_free(d);
}

static void test_psi(void **state)
{
    const double half[2] = {0.5, 0.5};
    const int64_t same[2] = {7, 7}, skew[2] = {1, 3};
    assert_close(aml_psi(half, same, 2, 14), 0.0);
    /* (0.5 - 0.25) ln 2 + (0.5 - 0.75) ln(0.5 / 0.75) */
    assert_close(aml_psi(half, skew, 2, 4), 0.25 * log(2.0) + 0.25 * log(1.5));
    /* Empty bins take 1e-4 on both sides: 2 (1 - 1e-4) ln(1e4). */
    const double one[2] = {1.0, 0.0};
    const int64_t other[2] = {0, 5};
    assert_close(aml_psi(one, other, 2, 5), 2 * (1 - 1e-4) * log(1e4));
    /* A non-zero share below 1e-4 sets the empty-bin share to it / 1e6. */
    const double tiny[3] = {0.99995, 0.00005, 0.0};
    const int64_t cur[3] = {1, 0, 1};
    double e = 0.00005 / 1e6, q = 1e-4;
    double want = (0.99995 - 0.5) * log(0.99995 / 0.5) + (0.00005 - q) * log(0.00005 / q) + (e - 0.5) * log(e / 0.5);
    assert_close(aml_psi(tiny, cur, 3, 2), want);
    assert_true(isnan(aml_psi(half, same, 2, 0)));
}

static void test_refusals(void **state)
{
    aml_ctx *c = aml_ctx_new();
    aml_reference *r = NULL;
    assert_int_equal(aml_reference_parse(c, "{", 3, &r), AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "reference.json: not valid JSON");
    assert_int_equal(aml_reference_parse(c, "{\"format\": \"automl-reference\", \"version\": 2}", 3, &r),
                     AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "reference.json: version 2 is newer than this automl reads (1)");
    aml_dataset *d = make_data();
    char *json = aml_reference_json(d, NULL, 2);
    assert_int_equal(aml_reference_parse(c, json, 4, &r), AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "reference.json: features: expected 4 entries, got 3");
    assert_null(r);
    free(json);
    const char *bad = "{\"format\": \"automl-reference\", \"version\": 1, \"features\": "
                      "[{\"name\": \"a\", \"type\": \"numeric\", \"edges\": [2, 1], \"proportions\": [0.3, 0.3, 0.4]}]}";
    assert_int_equal(aml_reference_parse(c, bad, 1, &r), AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "reference.json: features[0]: edges[1]: expected an ascending number");
    aml_dataset_free(d);
    aml_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_deciles),
        cmocka_unit_test(test_categorical_top_levels),
        cmocka_unit_test(test_regression_prediction),
        cmocka_unit_test(test_psi),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
