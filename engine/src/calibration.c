/* Temperature scaling: a one-parameter fit by golden-section search on log T, where the log loss
 * of tempered probabilities is smooth and unimodal in practice. The logarithms of the
 * probabilities are taken once; each step of the search then costs one exp per entry. */
#include "calibration.h"

#include "core.h"
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

/* The usable rows (those with a prediction), as clipped log-probabilities with truth and weight. */
typedef struct log_probs {
    double *logp;
    int32_t *label;
    double *weight;
    int64_t m;
    int k;
} log_probs;

/* log sum_c exp(inv_t z_c), shifted by the largest term: no overflow at small T. A row z of
 * log-probabilities tempered by 1 / inv_t is exp(inv_t z_c - this). */
static double log_normaliser(const double *z, int k, double inv_t)
{
    double top = -INFINITY, sum = 0;
    for (int c = 0; c < k; c++)
        top = fmax(top, inv_t * z[c]);
    for (int c = 0; c < k; c++)
        sum += exp(inv_t * z[c] - top);
    return top + log(sum);
}

/* Mean (weighted) log loss of the rows tempered by 1 / inv_t. */
static double tempered_log_loss(const log_probs *lp, double inv_t)
{
    double loss = 0, total = 0;
    for (int64_t r = 0; r < lp->m; r++) {
        const double *z = lp->logp + r * lp->k;
        loss -= lp->weight[r] * (inv_t * z[lp->label[r]] - log_normaliser(z, lp->k, inv_t));
        total += lp->weight[r];
    }
    return total > 0 ? loss / total : NAN;
}

double aml_temperature_fit(const double *prob, int64_t n_rows, int n_classes, const int32_t *label,
                           const float *weight)
{
    if (n_classes < 2)
        return 1;
    log_probs lp = {.k = n_classes};
    lp.logp = aml_xmalloc(sizeof(double) * (size_t)(n_rows * n_classes + 1));
    lp.label = aml_xmalloc(sizeof(int32_t) * (size_t)(n_rows + 1));
    lp.weight = aml_xmalloc(sizeof(double) * (size_t)(n_rows + 1));
    for (int64_t r = 0; r < n_rows; r++) {
        const double *p = prob + r * n_classes;
        if (isnan(p[0]))
            continue;
        for (int c = 0; c < n_classes; c++)
            lp.logp[lp.m * n_classes + c] = log(fmax(p[c], AML_LOG_LOSS_EPS));
        lp.label[lp.m] = label[r];
        lp.weight[lp.m++] = weight ? weight[r] : 1;
    }
    double t = 1;
    if (!isnan(tempered_log_loss(&lp, 1))) {
        const double phi = (sqrt(5) - 1) / 2;
        double a = log(AML_TEMPERATURE_MIN), b = log(AML_TEMPERATURE_MAX);
        double x1 = b - phi * (b - a), x2 = a + phi * (b - a);
        double f1 = tempered_log_loss(&lp, exp(-x1)), f2 = tempered_log_loss(&lp, exp(-x2));
        for (int i = 0; i < 40; i++) { /* the bracket shrinks to 1e-8 of its width */
            if (f1 <= f2) {
                b = x2, x2 = x1, f2 = f1;
                x1 = b - phi * (b - a);
                f1 = tempered_log_loss(&lp, exp(-x1));
            } else {
                a = x1, x1 = x2, f1 = f2;
                x2 = a + phi * (b - a);
                f2 = tempered_log_loss(&lp, exp(-x2));
            }
        }
        t = exp((a + b) / 2);
    }
    free(lp.logp);
    free(lp.label);
    free(lp.weight);
    return t;
}

void aml_temperature_apply(double *prob, int64_t n_rows, int n_classes, double t)
{
    if (t == 1 || n_classes < 2)
        return;
    for (int64_t r = 0; r < n_rows; r++) {
        double *p = prob + r * n_classes;
        if (isnan(p[0]))
            continue;
        for (int c = 0; c < n_classes; c++)
            p[c] = log(fmax(p[c], AML_LOG_LOSS_EPS));
        double norm = log_normaliser(p, n_classes, 1 / t);
        for (int c = 0; c < n_classes; c++)
            p[c] = exp(1 / t * p[c] - norm);
    }
}
