/* Temperature scaling of class probabilities (Guo et al., "On calibration of modern neural
 * networks", 2017): p_k -> p_k^(1/T) / sum_j p_j^(1/T), one T per model, fitted by log loss on
 * its out-of-fold predictions. T < 1 sharpens an under-confident model (a forest's averaged
 * votes), T > 1 softens an over-confident one; the ranking of classes never changes. */
#ifndef AML_CALIBRATION_H
#define AML_CALIBRATION_H

#include <stdint.h>

/* The temperature in [AML_TEMPERATURE_MIN, AML_TEMPERATURE_MAX] that minimises the (weighted)
 * log loss of prob (n_rows x n_classes; rows starting with NaN are skipped) against label; 1 when
 * no row is usable. Deterministic. */
#define AML_TEMPERATURE_MIN 0.05
#define AML_TEMPERATURE_MAX 20.0
double aml_temperature_fit(const double *prob, int64_t n_rows, int n_classes, const int32_t *label,
                           const float *weight);
/* Rescales prob in place at temperature t (NaN rows stay NaN; t = 1 changes nothing). */
void aml_temperature_apply(double *prob, int64_t n_rows, int n_classes, double t);

#endif
