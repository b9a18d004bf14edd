/* Temperature scaling: a one-parameter fit by golden-section search on log T, where the log loss
 * of tempered probabilities is smooth and unimodal in practice. */
#include "calibration.h"

#include <math.h>

#define EPS 1e-15 /* probabilities are clipped here before the logarithm, as the log loss does */

/* Row r tempered into out (n_classes values). */
static void temper_row(const double *p, int n_classes, double inv_t, double *out)
{
    double top = -INFINITY;
    for (int k = 0; k < n_classes; k++) {
        out[k] = inv_t * log(fmax(p[k], EPS));
        top = fmax(top, out[k]);
    }
    double sum = 0;
    for (int k = 0; k < n_classes; k++)
        sum += out[k] = exp(out[k] - top); /* shifted by the largest: no overflow at small T */
    for (int k = 0; k < n_classes; k++)
        out[k] /= sum;
}

static double tempered_log_loss(const double *prob, int64_t n_rows, int n_classes, const int32_t *label,
                                const float *weight, double t)
{
    double loss = 0, total = 0, q[n_classes];
    for (int64_t r = 0; r < n_rows; r++) {
        const double *p = prob + r * n_classes;
        if (isnan(p[0]))
            continue;
        temper_row(p, n_classes, 1 / t, q);
        double w = weight ? weight[r] : 1;
        loss -= w * log(fmax(q[label[r]], EPS));
        total += w;
    }
    return total > 0 ? loss / total : NAN;
}

double aml_temperature_fit(const double *prob, int64_t n_rows, int n_classes, const int32_t *label,
                           const float *weight)
{
    if (n_classes < 2 || isnan(tempered_log_loss(prob, n_rows, n_classes, label, weight, 1)))
        return 1;
    const double phi = (sqrt(5) - 1) / 2;
    double a = log(AML_TEMPERATURE_MIN), b = log(AML_TEMPERATURE_MAX);
    double x1 = b - phi * (b - a), x2 = a + phi * (b - a);
    double f1 = tempered_log_loss(prob, n_rows, n_classes, label, weight, exp(x1));
    double f2 = tempered_log_loss(prob, n_rows, n_classes, label, weight, exp(x2));
    for (int i = 0; i < 40; i++) { /* the bracket shrinks to 1e-8 of its width */
        if (f1 <= f2) {
            b = x2, x2 = x1, f2 = f1;
            x1 = b - phi * (b - a);
            f1 = tempered_log_loss(prob, n_rows, n_classes, label, weight, exp(x1));
        } else {
            a = x1, x1 = x2, f1 = f2;
            x2 = a + phi * (b - a);
            f2 = tempered_log_loss(prob, n_rows, n_classes, label, weight, exp(x2));
        }
    }
    return exp((a + b) / 2);
}

void aml_temperature_apply(double *prob, int64_t n_rows, int n_classes, double t)
{
    if (t == 1 || n_classes < 2)
        return;
    double q[n_classes];
    for (int64_t r = 0; r < n_rows; r++) {
        double *p = prob + r * n_classes;
        if (isnan(p[0]))
            continue;
        temper_row(p, n_classes, 1 / t, q);
        for (int k = 0; k < n_classes; k++)
            p[k] = q[k];
    }
}
