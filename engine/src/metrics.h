/* Scores of predictions against the truth: every metric the search and the reports use. */
#ifndef AML_METRICS_H
#define AML_METRICS_H

#include "core.h"

typedef enum {
    AML_METRIC_ACCURACY = 0,
    AML_METRIC_BALANCED_ACCURACY,
    AML_METRIC_LOG_LOSS,
    AML_METRIC_ROC_AUC,      /* binary, or macro one-vs-rest for more classes */
    AML_METRIC_F1_MACRO,
    AML_METRIC_RMSE,
    AML_METRIC_MAE,
    AML_METRIC_R2,
    AML_METRIC_COUNT
} aml_metric;

/* Probabilities are clipped to [this, 1 - this] before a logarithm, as scikit-learn's log_loss
 * did before 1.2. */
#define AML_LOG_LOSS_EPS 1e-15
const char *aml_metric_name(aml_metric m);            /* "accuracy", "balanced_accuracy", "log_loss",
                                                          "roc_auc", "f1_macro", "rmse", "mae", "r2" */
int aml_metric_parse(const char *name, aml_metric *out); /* 0 ok, -1 unknown */
int aml_metric_higher_is_better(aml_metric m);
int aml_metric_for_task(aml_metric m, aml_task_kind t); /* 1 if m applies to the task */

/* pred: n x n_out doubles (class probabilities for classification, n_out = n_classes; the value
 * for regression, n_out = 1). label (classification) or value (regression) is the truth; weight
 * may be NULL. Returns NaN when the score is undefined (e.g. AUC with one class present). */
double aml_metric_score(aml_metric m, int64_t n, int n_classes, const int32_t *label,
                        const double *value, const float *weight, const double *pred);

/* "better than": a strictly better b under m's direction (NaN is never better). */
int aml_metric_better(aml_metric m, double a, double b);

#endif
