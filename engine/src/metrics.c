/* Scores of predictions against the truth, matching scikit-learn 1.2's definitions (weighted when
 * weights are given) so leaderboards read the same as a Python user's. One pass over the rows per
 * metric (O(n*k)); ROC AUC sorts once per class (O(k n log n)). Nothing is allocated per row. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const metric_names[AML_METRIC_COUNT] = {
    "accuracy", "balanced_accuracy", "log_loss", "roc_auc", "f1_macro", "rmse", "mae", "r2",
};

const char *aml_metric_name(aml_metric m)
{
    return (unsigned)m < AML_METRIC_COUNT ? metric_names[m] : "unknown";
}

int aml_metric_parse(const char *name, aml_metric *out)
{
    /* Short aliases a user types in a spec (DESIGN.md §5 says "auc"). */
    static const struct {
        const char *alias;
        aml_metric m;
    } aliases[] = {{"auc", AML_METRIC_ROC_AUC},
                   {"logloss", AML_METRIC_LOG_LOSS},
                   {"f1", AML_METRIC_F1_MACRO}};
    if (!name)
        return -1;
    for (int i = 0; i < AML_METRIC_COUNT; i++) {
        if (strcmp(name, metric_names[i]) == 0) {
            if (out)
                *out = (aml_metric)i;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(name, aliases[i].alias) == 0) {
            if (out)
                *out = aliases[i].m;
            return 0;
        }
    }
    return -1;
}

int aml_metric_higher_is_better(aml_metric m)
{
    switch (m) {
    case AML_METRIC_ACCURACY:
    case AML_METRIC_BALANCED_ACCURACY:
    case AML_METRIC_ROC_AUC:
    case AML_METRIC_F1_MACRO:
    case AML_METRIC_R2:
        return 1;
    default:
        return 0;
    }
}

int aml_metric_for_task(aml_metric m, aml_task_kind t)
{
    switch (m) {
    case AML_METRIC_ACCURACY:
    case AML_METRIC_BALANCED_ACCURACY:
    case AML_METRIC_LOG_LOSS:
    case AML_METRIC_ROC_AUC:
    case AML_METRIC_F1_MACRO:
        return t == AML_TASK_CLASSIFICATION;
    case AML_METRIC_RMSE:
    case AML_METRIC_MAE:
    case AML_METRIC_R2:
        return t == AML_TASK_REGRESSION;
    default:
        return 0;
    }
}

int aml_metric_better(aml_metric m, double a, double b)
{
    if (isnan(a))
        return 0;
    if (isnan(b))
        return 1;
    return aml_metric_higher_is_better(m) ? a > b : a < b;
}

/* ---- classification ------------------------------------------------------------------------ */

/* Ties go to the lowest index, as numpy's argmax does; a NaN probability is never the maximum
 * unless the whole row is NaN. */
static int argmax_row(const double *p, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (p[j] > p[best] || (isnan(p[best]) && !isnan(p[j])))
            best = j;
    return best;
}

static double row_weight(const float *weight, int64_t i) { return weight ? (double)weight[i] : 1.0; }

/* Labels come from the dataset, so a bad one is a caller bug; refusing to score beats reading out
 * of bounds. */
static int labels_valid(int64_t n, int k, const int32_t *label)
{
    for (int64_t i = 0; i < n; i++)
        if (label[i] < 0 || label[i] >= k)
            return 0;
    return 1;
}

static double accuracy(int64_t n, int k, const int32_t *label, const float *weight, const double *pred)
{
    double hit = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = row_weight(weight, i);
        total += w;
        if (argmax_row(pred + i * k, k) == label[i])
            hit += w;
    }
    return total > 0 ? hit / total : NAN;
}

/* Per-class weighted true positives, predicted mass and true mass, plus plain presence counts
 * (sklearn decides which labels exist from the labels themselves, not from their weights). */
typedef struct class_tally {
    double tp, pred_w, true_w;
    int64_t pred_n, true_n;
} class_tally;

static class_tally *tally_classes(int64_t n, int k, const int32_t *label, const float *weight,
                                  const double *pred)
{
    class_tally *t = aml_xcalloc((size_t)k, sizeof *t);
    for (int64_t i = 0; i < n; i++) {
        double w = row_weight(weight, i);
        int p = argmax_row(pred + i * k, k), y = label[i];
        t[y].true_w += w;
        t[y].true_n++;
        t[p].pred_w += w;
        t[p].pred_n++;
        if (p == y)
            t[y].tp += w;
    }
    return t;
}

/* sklearn's balanced_accuracy_score: mean recall over the classes present in the truth. */
static double balanced_accuracy(int64_t n, int k, const int32_t *label, const float *weight,
                                const double *pred)
{
    class_tally *t = tally_classes(n, k, label, weight, pred);
    double sum = 0;
    int used = 0;
    for (int j = 0; j < k; j++) {
        if (t[j].true_n == 0 || t[j].true_w <= 0)
            continue;
        sum += t[j].tp / t[j].true_w;
        used++;
    }
    free(t);
    return used ? sum / used : NAN;
}

/* sklearn's f1_score(average='macro') with labels=None: the mean over classes present in the truth
 * or in the predictions; a class present only on one side scores 0, and a class absent from both
 * is left out of the mean. A class whose weighted tp+fp+fn is 0 scores 0 (zero_division=0). */
static double f1_macro(int64_t n, int k, const int32_t *label, const float *weight, const double *pred)
{
    class_tally *t = tally_classes(n, k, label, weight, pred);
    double sum = 0;
    int used = 0;
    for (int j = 0; j < k; j++) {
        if (t[j].true_n == 0 && t[j].pred_n == 0)
            continue;
        /* 2tp / (2tp + fp + fn) = 2tp / (pred mass + true mass) */
        double denom = t[j].pred_w + t[j].true_w;
        sum += denom > 0 ? 2.0 * t[j].tp / denom : 0.0;
        used++;
    }
    free(t);
    return used ? sum / used : NAN;
}

/* sklearn's log_loss with eps=1e-15 (its default before 1.2; 1.2 clips at machine epsilon): clip to
 * [1e-15, 1-1e-15], renormalise each row, weighted mean of -log p. */
static double log_loss(int64_t n, int k, const int32_t *label, const float *weight, const double *pred)
{
    const double eps = AML_LOG_LOSS_EPS;
    double loss = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *p = pred + i * k;
        double row_sum = 0, py = 0;
        for (int j = 0; j < k; j++) {
            double q = p[j] < eps ? eps : (p[j] > 1 - eps ? 1 - eps : p[j]);
            row_sum += q;
            if (j == label[i])
                py = q;
        }
        double w = row_weight(weight, i);
        total += w;
        loss -= w * log(py / row_sum);
    }
    return total > 0 ? loss / total : NAN;
}

typedef struct scored_row {
    double score;
    double w;
    int pos;
} scored_row;

static int by_score(const void *a, const void *b)
{
    double x = ((const scored_row *)a)->score, y = ((const scored_row *)b)->score;
    return (x > y) - (x < y);
}

/* Weighted AUC = P(score+ > score-) + P(tie)/2, with pairs weighted by w+ * w-: what sklearn's
 * trapezoidal area under roc_curve equals, ties included. rows is sorted in place; NaN when one
 * side has no weight. */
static double auc_sorted(scored_row *rows, int64_t n)
{
    qsort(rows, (size_t)n, sizeof *rows, by_score);
    double area = 0, neg_below = 0, pos_total = 0;
    for (int64_t i = 0; i < n;) {
        double gp = 0, gn = 0;
        int64_t g = i;
        for (; g < n && rows[g].score == rows[i].score; g++) {
            if (rows[g].pos)
                gp += rows[g].w;
            else
                gn += rows[g].w;
        }
        area += gp * (neg_below + 0.5 * gn);
        neg_below += gn;
        pos_total += gp;
        i = g;
    }
    double pairs = pos_total * neg_below;
    return pairs > 0 ? area / pairs : NAN;
}

/* Binary: positive class 1 scored by its probability. More classes: sklearn's
 * roc_auc_score(multi_class='ovr', average='macro'), an unweighted mean of one-vs-rest AUCs over the
 * classes that have both positives and negatives (sklearn refuses data missing a class; we skip it
 * instead), NaN when fewer than two classes are present. */
static double roc_auc(int64_t n, int k, const int32_t *label, const float *weight, const double *pred)
{
    if (k < 2)
        return NAN;
    for (int64_t i = 0; i < n * k; i++)
        if (isnan(pred[i]))
            return NAN;
    scored_row *rows = aml_xmalloc((size_t)n * sizeof *rows);
    double result;
    if (k == 2) {
        for (int64_t i = 0; i < n; i++)
            rows[i] = (scored_row){pred[i * 2 + 1], row_weight(weight, i), label[i] == 1};
        result = auc_sorted(rows, n);
    } else {
        double sum = 0;
        int used = 0;
        for (int c = 0; c < k; c++) {
            for (int64_t i = 0; i < n; i++)
                rows[i] = (scored_row){pred[i * k + c], row_weight(weight, i), label[i] == c};
            double a = auc_sorted(rows, n);
            if (!isnan(a)) {
                sum += a;
                used++;
            }
        }
        result = used ? sum / used : NAN;
    }
    free(rows);
    return result;
}

/* ---- regression ---------------------------------------------------------------------------- */

static double rmse_or_mae(int64_t n, const double *value, const float *weight, const double *pred,
                          int squared)
{
    double err = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = row_weight(weight, i), d = value[i] - pred[i];
        total += w;
        err += w * (squared ? d * d : fabs(d));
    }
    if (!(total > 0))
        return NAN;
    return squared ? sqrt(err / total) : err / total;
}

/* 1 - SSE/SST around the weighted mean. sklearn returns 1 or 0 when SST == 0 (constant truth);
 * we return NaN: the score is undefined there and must not win a comparison. */
static double r2(int64_t n, const double *value, const float *weight, const double *pred)
{
    double total = 0, mean = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = row_weight(weight, i);
        total += w;
        mean += w * value[i];
    }
    if (!(total > 0))
        return NAN;
    mean /= total;
    double sse = 0, sst = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = row_weight(weight, i), d = value[i] - pred[i], e = value[i] - mean;
        sse += w * d * d;
        sst += w * e * e;
    }
    return sst > 0 ? 1.0 - sse / sst : NAN;
}

double aml_metric_score(aml_metric m, int64_t n, int n_classes, const int32_t *label,
                        const double *value, const float *weight, const double *pred)
{
    if (n <= 0 || !pred)
        return NAN;
    if (aml_metric_for_task(m, AML_TASK_CLASSIFICATION)) {
        if (!label || n_classes < 1 || !labels_valid(n, n_classes, label))
            return NAN;
        switch (m) {
        case AML_METRIC_ACCURACY:
            return accuracy(n, n_classes, label, weight, pred);
        case AML_METRIC_BALANCED_ACCURACY:
            return balanced_accuracy(n, n_classes, label, weight, pred);
        case AML_METRIC_LOG_LOSS:
            return log_loss(n, n_classes, label, weight, pred);
        case AML_METRIC_ROC_AUC:
            return roc_auc(n, n_classes, label, weight, pred);
        default:
            return f1_macro(n, n_classes, label, weight, pred);
        }
    }
    if (!value)
        return NAN;
    switch (m) {
    case AML_METRIC_RMSE:
        return rmse_or_mae(n, value, weight, pred, 1);
    case AML_METRIC_MAE:
        return rmse_or_mae(n, value, weight, pred, 0);
    case AML_METRIC_R2:
        return r2(n, value, weight, pred);
    default:
        return NAN;
    }
}
