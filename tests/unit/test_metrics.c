/* Metrics against scikit-learn 1.2.1: every reference value below was computed with /usr/bin/python3
 * on the same inputs (sklearn.metrics accuracy_score, balanced_accuracy_score, log_loss,
 * roc_auc_score, f1_score(average='macro'), mean_squared_error(squared=False), mean_absolute_error,
 * r2_score, each with and without sample_weight) and pasted here with 17 significant digits.
 * log_loss was called with eps=1e-15: sklearn 1.2 defaults to eps="auto" (float64 machine epsilon),
 * the engine keeps the classic 1e-15 clip; they differ only when a true class gets p < 1e-15. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "metrics.h"

/* cmocka's assert_float_equal works in float; these references need double. */
#define assert_close(actual, expected)                                                            \
    do {                                                                                          \
        double a_ = (actual), e_ = (expected);                                                    \
        if (!(fabs(a_ - e_) <= 1e-12 * fmax(1.0, fabs(e_)))) {                                    \
            print_error("%s = %.17g, expected %.17g\n", #actual, a_, e_);                         \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

#define assert_nan(actual)                                                                        \
    do {                                                                                          \
        double a_ = (actual);                                                                     \
        if (!isnan(a_)) {                                                                         \
            print_error("%s = %.17g, expected NaN\n", #actual, a_);                               \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

/* ---- binary: ties in the scores (three rows at 0.4, two at 0.6), one p=0 on a positive ---- */
/* y  = [0,1,1,0,1,0,1,0,1,1]
 * p1 = [0.1,0.8,0.4,0.4,0.9,0.6,0.4,0.2,0.6,0.0]; proba = column_stack([1-p1, p1])
 * w  = [1,2,0.5,1,1.5,1,3,2,1,0.5] */
static const int32_t bin_y[10] = {0, 1, 1, 0, 1, 0, 1, 0, 1, 1};
static const float bin_w[10] = {1.0f, 2.0f, 0.5f, 1.0f, 1.5f, 1.0f, 3.0f, 2.0f, 1.0f, 0.5f};
static double bin_pred[20];

static void fill_binary(void)
{
    static const double p1[10] = {0.1, 0.8, 0.4, 0.4, 0.9, 0.6, 0.4, 0.2, 0.6, 0.0};
    for (int i = 0; i < 10; i++) {
        bin_pred[2 * i] = 1.0 - p1[i];
        bin_pred[2 * i + 1] = p1[i];
    }
}

static double bin(aml_metric m, const float *w)
{
    return aml_metric_score(m, 10, 2, bin_y, NULL, w, bin_pred);
}

static void test_binary_unweighted(void **state)
{
    fill_binary();
    assert_close(bin(AML_METRIC_ACCURACY, NULL), 0.6);
    assert_close(bin(AML_METRIC_BALANCED_ACCURACY, NULL), 0.625);
    assert_close(bin(AML_METRIC_LOG_LOSS, NULL), 3.8966307972009204);
    assert_close(bin(AML_METRIC_ROC_AUC, NULL), 0.6875);
    assert_close(bin(AML_METRIC_F1_MACRO, NULL), 0.6);
}

static void test_binary_weighted(void **state)
{
    fill_binary();
    assert_close(bin(AML_METRIC_ACCURACY, bin_w), 0.6296296296296297);
    assert_close(bin(AML_METRIC_BALANCED_ACCURACY, bin_w), 0.6647058823529413);
    assert_close(bin(AML_METRIC_LOG_LOSS, bin_w), 1.7459498690979574);
    assert_close(bin(AML_METRIC_ROC_AUC, bin_w), 0.8058823529411765);
    assert_close(bin(AML_METRIC_F1_MACRO, bin_w), 0.6291208791208791);
}

/* ---- 3 classes: rows 3, 4 and 7 tie on their top probabilities (argmax takes the lowest) ---- */
/* y3 = [0,1,2,2,1,0,2,1,0]; P3 as below; w3 = [1,0.5,2,1,1.5,1,0.5,2,1];
 * numpy's argmax gives [0,1,2,0,2,1,2,2,0]. AUC: roc_auc_score(multi_class='ovr', average='macro') */
static const int32_t mc_y[9] = {0, 1, 2, 2, 1, 0, 2, 1, 0};
static const double mc_pred[27] = {0.5, 0.3, 0.2, 0.2, 0.5, 0.3, 0.1, 0.2, 0.7, 0.4, 0.4, 0.2, 0.3, 0.3,
                                   0.4, 0.2, 0.5, 0.3, 0.2, 0.2, 0.6, 0.3, 0.3, 0.4, 0.6, 0.2, 0.2};
static const float mc_w[9] = {1.0f, 0.5f, 2.0f, 1.0f, 1.5f, 1.0f, 0.5f, 2.0f, 1.0f};

static double mc(aml_metric m, const float *w)
{
    return aml_metric_score(m, 9, 3, mc_y, NULL, w, mc_pred);
}

static void test_multiclass_unweighted(void **state)
{
    assert_close(mc(AML_METRIC_ACCURACY, NULL), 0.5555555555555556);
    assert_close(mc(AML_METRIC_BALANCED_ACCURACY, NULL), 0.5555555555555555);
    assert_close(mc(AML_METRIC_LOG_LOSS, NULL), 0.9323824429011864);
    assert_close(mc(AML_METRIC_ROC_AUC, NULL), 0.7314814814814815);
    assert_close(mc(AML_METRIC_F1_MACRO, NULL), 0.546031746031746);
}

static void test_multiclass_weighted(void **state)
{
    assert_close(mc(AML_METRIC_ACCURACY, mc_w), 0.47619047619047616);
    assert_close(mc(AML_METRIC_BALANCED_ACCURACY, mc_w), 0.501984126984127);
    assert_close(mc(AML_METRIC_LOG_LOSS, mc_w), 0.9478180699405091);
    assert_close(mc(AML_METRIC_ROC_AUC, mc_w), 0.728908657480086);
    assert_close(mc(AML_METRIC_F1_MACRO, mc_w), 0.4582668793195109);
}

/* Class 1 never occurs in the truth: sklearn refuses ovr AUC there, we average the present classes.
 * Reference: mean(roc_auc_score(y==0, P[:,0]), roc_auc_score(y==2, P[:,2])) = 0.9444444444444444 */
static void test_multiclass_auc_absent_class(void **state)
{
    const int32_t y[6] = {0, 2, 2, 0, 2, 0};
    const double p[18] = {0.7, 0.2, 0.1, 0.3, 0.3, 0.4, 0.4, 0.1, 0.5,
                          0.4, 0.4, 0.2, 0.2, 0.1, 0.7, 0.5, 0.1, 0.4};
    assert_close(aml_metric_score(AML_METRIC_ROC_AUC, 6, 3, y, NULL, NULL, p), 0.9444444444444444);
}

/* Classes present only in the truth or only in the predictions score 0; absent from both: left out.
 * f1_score([0,1,1,0,0], [0,1,0,0,1], average='macro') = 0.5833333333333333 (class 2 of 3 unused)
 * f1_score([0,0,1,1], [0,2,1,1], average='macro') = 0.5555555555555555
 * balanced_accuracy_score([0,0,1,1], [0,2,1,1]) = 0.75 */
static void test_f1_and_balanced_class_presence(void **state)
{
    const int32_t ya[5] = {0, 1, 1, 0, 0};
    const double pa[15] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0};
    assert_close(aml_metric_score(AML_METRIC_F1_MACRO, 5, 3, ya, NULL, NULL, pa), 0.5833333333333333);

    const int32_t yb[4] = {0, 0, 1, 1};
    const double pb[12] = {0.8, 0.1, 0.1, 0.2, 0.2, 0.6, 0.1, 0.8, 0.1, 0.3, 0.4, 0.3};
    assert_close(aml_metric_score(AML_METRIC_F1_MACRO, 4, 3, yb, NULL, NULL, pb), 0.5555555555555555);
    assert_close(aml_metric_score(AML_METRIC_BALANCED_ACCURACY, 4, 3, yb, NULL, NULL, pb), 0.75);
}

/* log_loss([0,1,1], [[1,0],[0,1],[1,0]]) = 11.512925464970229 (eps=1e-15: clipped at 1e-15)
 * log_loss([0,1,1], [[0.6,0.6],[0.2,0.3],[0.5,0.1]]) = 0.9985774245179969 (rows renormalised) */
static void test_log_loss_clip_and_renormalise(void **state)
{
    const int32_t y[3] = {0, 1, 1};
    const double hard[6] = {1, 0, 0, 1, 1, 0};
    const double loose[6] = {0.6, 0.6, 0.2, 0.3, 0.5, 0.1};
    assert_close(aml_metric_score(AML_METRIC_LOG_LOSS, 3, 2, y, NULL, NULL, hard), 11.512925464970229);
    assert_close(aml_metric_score(AML_METRIC_LOG_LOSS, 3, 2, y, NULL, NULL, loose), 0.9985774245179969);
}

static void test_argmax_ties_to_lowest_index(void **state)
{
    const int32_t y[2] = {0, 1};
    const double p[4] = {0.5, 0.5, 0.5, 0.5};
    /* both rows predict class 0: one right, one wrong */
    assert_close(aml_metric_score(AML_METRIC_ACCURACY, 2, 2, y, NULL, NULL, p), 0.5);
    /* and every score ties, so AUC is exactly one half */
    assert_close(aml_metric_score(AML_METRIC_ROC_AUC, 2, 2, y, NULL, NULL, p), 0.5);
}

static void test_degenerate_classification(void **state)
{
    /* one class present: AUC undefined */
    const int32_t one[3] = {1, 1, 1};
    const double p[6] = {0.2, 0.8, 0.6, 0.4, 0.5, 0.5};
    assert_nan(aml_metric_score(AML_METRIC_ROC_AUC, 3, 2, one, NULL, NULL, p));
    const int32_t one3[2] = {2, 2};
    const double p3[6] = {0.2, 0.3, 0.5, 0.1, 0.1, 0.8};
    assert_nan(aml_metric_score(AML_METRIC_ROC_AUC, 2, 3, one3, NULL, NULL, p3));
    /* positives carrying no weight: undefined too */
    const int32_t y[3] = {0, 1, 0};
    const float w[3] = {1, 0, 1};
    assert_nan(aml_metric_score(AML_METRIC_ROC_AUC, 3, 2, y, NULL, w, p));

    /* perfect predictions */
    const int32_t yp[4] = {0, 1, 1, 0};
    const double pp[8] = {1, 0, 0.1, 0.9, 0, 1, 0.7, 0.3};
    assert_close(aml_metric_score(AML_METRIC_ACCURACY, 4, 2, yp, NULL, NULL, pp), 1.0);
    assert_close(aml_metric_score(AML_METRIC_BALANCED_ACCURACY, 4, 2, yp, NULL, NULL, pp), 1.0);
    assert_close(aml_metric_score(AML_METRIC_F1_MACRO, 4, 2, yp, NULL, NULL, pp), 1.0);
    assert_close(aml_metric_score(AML_METRIC_ROC_AUC, 4, 2, yp, NULL, NULL, pp), 1.0);
    /* log_loss([0,1,1,0], pp) = 0.11550886489914018 (sklearn) */
    assert_close(aml_metric_score(AML_METRIC_LOG_LOSS, 4, 2, yp, NULL, NULL, pp), 0.11550886489914018);

    /* no rows, no labels, a label out of range, all weights zero: NaN, never a made-up score */
    assert_nan(aml_metric_score(AML_METRIC_ACCURACY, 0, 2, yp, NULL, NULL, pp));
    assert_nan(aml_metric_score(AML_METRIC_ACCURACY, 4, 2, NULL, NULL, NULL, pp));
    const int32_t bad[2] = {0, 2};
    assert_nan(aml_metric_score(AML_METRIC_ACCURACY, 2, 2, bad, NULL, NULL, pp));
    const float zero[4] = {0, 0, 0, 0};
    assert_nan(aml_metric_score(AML_METRIC_ACCURACY, 4, 2, yp, NULL, zero, pp));
}

/* ---- regression ---- */
/* y = [3,-0.5,2,7,4.2,1.1], pred = [2.5,0,2,8,3.9,1.5], w = [1,2,0.5,1,3,1.5] */
static const double reg_y[6] = {3.0, -0.5, 2.0, 7.0, 4.2, 1.1};
static const double reg_p[6] = {2.5, 0.0, 2.0, 8.0, 3.9, 1.5};
static const float reg_w[6] = {1.0f, 2.0f, 0.5f, 1.0f, 3.0f, 1.5f};

static void test_regression(void **state)
{
    assert_close(aml_metric_score(AML_METRIC_RMSE, 6, 0, NULL, reg_y, NULL, reg_p), 0.5400617248673217);
    assert_close(aml_metric_score(AML_METRIC_MAE, 6, 0, NULL, reg_y, NULL, reg_p), 0.45);
    assert_close(aml_metric_score(AML_METRIC_R2, 6, 0, NULL, reg_y, NULL, reg_p), 0.9486200822078684);
    assert_close(aml_metric_score(AML_METRIC_RMSE, 6, 0, NULL, reg_y, reg_w, reg_p), 0.501109879279097);
    assert_close(aml_metric_score(AML_METRIC_MAE, 6, 0, NULL, reg_y, reg_w, reg_p), 0.44444444444444453);
    assert_close(aml_metric_score(AML_METRIC_R2, 6, 0, NULL, reg_y, reg_w, reg_p), 0.9547046280780087);
}

static void test_regression_degenerate(void **state)
{
    assert_close(aml_metric_score(AML_METRIC_RMSE, 6, 0, NULL, reg_y, NULL, reg_y), 0.0);
    assert_close(aml_metric_score(AML_METRIC_R2, 6, 0, NULL, reg_y, NULL, reg_y), 1.0);
    /* constant truth: SST = 0, R2 undefined (sklearn would say 1.0 or 0.0) */
    const double c[3] = {2, 2, 2}, p[3] = {2, 2, 2.5};
    assert_nan(aml_metric_score(AML_METRIC_R2, 3, 0, NULL, c, NULL, p));
    assert_nan(aml_metric_score(AML_METRIC_R2, 3, 0, NULL, c, NULL, c));
    /* a classification metric on regression data and the reverse */
    assert_nan(aml_metric_score(AML_METRIC_RMSE, 6, 0, NULL, NULL, NULL, reg_p));
    assert_nan(aml_metric_score(AML_METRIC_ACCURACY, 6, 1, NULL, reg_y, NULL, reg_p));
}

static void test_names_and_direction(void **state)
{
    for (int i = 0; i < AML_METRIC_COUNT; i++) {
        aml_metric m = AML_METRIC_COUNT;
        assert_int_equal(aml_metric_parse(aml_metric_name((aml_metric)i), &m), 0);
        assert_int_equal(m, i);
    }
    assert_string_equal(aml_metric_name(AML_METRIC_BALANCED_ACCURACY), "balanced_accuracy");
    aml_metric m = AML_METRIC_COUNT;
    assert_int_equal(aml_metric_parse("auc", &m), 0);
    assert_int_equal(m, AML_METRIC_ROC_AUC);
    assert_int_equal(aml_metric_parse("precision", &m), -1);
    assert_int_equal(aml_metric_parse(NULL, &m), -1);
    assert_int_equal(aml_metric_parse("RMSE", &m), -1);

    assert_true(aml_metric_better(AML_METRIC_ACCURACY, 0.9, 0.8));
    assert_false(aml_metric_better(AML_METRIC_ACCURACY, 0.8, 0.8));
    assert_true(aml_metric_better(AML_METRIC_LOG_LOSS, 0.2, 0.3));
    assert_false(aml_metric_better(AML_METRIC_RMSE, 0.3, 0.2));
    assert_true(aml_metric_better(AML_METRIC_R2, 0.1, NAN));
    assert_false(aml_metric_better(AML_METRIC_R2, NAN, 0.1));
    assert_false(aml_metric_better(AML_METRIC_MAE, NAN, NAN));

    assert_true(aml_metric_for_task(AML_METRIC_ROC_AUC, AML_TASK_CLASSIFICATION));
    assert_false(aml_metric_for_task(AML_METRIC_ROC_AUC, AML_TASK_REGRESSION));
    assert_true(aml_metric_for_task(AML_METRIC_R2, AML_TASK_REGRESSION));
    assert_false(aml_metric_for_task(AML_METRIC_MAE, AML_TASK_CLASSIFICATION));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_unweighted),
        cmocka_unit_test(test_binary_weighted),
        cmocka_unit_test(test_multiclass_unweighted),
        cmocka_unit_test(test_multiclass_weighted),
        cmocka_unit_test(test_multiclass_auc_absent_class),
        cmocka_unit_test(test_f1_and_balanced_class_presence),
        cmocka_unit_test(test_log_loss_clip_and_renormalise),
        cmocka_unit_test(test_argmax_ties_to_lowest_index),
        cmocka_unit_test(test_degenerate_classification),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_regression_degenerate),
        cmocka_unit_test(test_names_and_direction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
