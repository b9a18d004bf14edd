/* Prediction output as CSV: `prediction` (class label or value), then p_<class> columns. Shared
 * by `automl predict` and the search's record of the refit model's predictions, so both write
 * byte-identical files for identical predictions. */
#ifndef AML_PREDICTIONS_H
#define AML_PREDICTIONS_H

#include "dataset.h"

/* pred: n x n_out (probabilities for classification). schema gives task and class names. */
aml_status aml_predictions_write_csv(aml_ctx *c, const char *path, const aml_dataset *schema,
                                     int64_t n, const double *pred, int proba);
/* Index of the largest probability (ties to the lowest index). */
int aml_argmax(const double *p, int n);

#endif
