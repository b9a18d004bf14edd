/* Greedy ensemble selection with replacement (Caruana et al., 2004) over the out-of-fold
 * predictions of the best trials. */
#ifndef AML_ENSEMBLE_H
#define AML_ENSEMBLE_H

#include "metrics.h"

/* oof[c] is candidate c's n_rows x n_out out-of-fold prediction (NaN rows are skipped: only rows
 * every candidate predicted are used). Runs `rounds` greedy steps, each adding (with replacement)
 * the candidate whose addition scores best (ties: the lower index), and keeps the best prefix.
 * counts[c] receives how often c was picked; returns that ensemble's score (NaN when no row is
 * usable). Deterministic. */
double aml_ensemble_select(aml_metric metric, const double *const *oof, int n_cand, int64_t n_rows,
                           int n_out, int n_classes, const int32_t *label, const double *value,
                           const float *weight, int rounds, int *counts);

/* The score under metric of the weighted ensemble counts[] (the candidates' predictions averaged
 * with weights counts[c] / sum) on the rows every candidate predicted; NaN when none is. */
double aml_ensemble_score(aml_metric metric, const double *const *oof, int n_cand, int64_t n_rows, int n_out,
                          int n_classes, const int32_t *label, const double *value, const float *weight,
                          const int *counts);

/* The metric ensemble selection optimises for a search scored by metric: a count of right answers
 * (accuracy, balanced accuracy, macro F1) moves in steps that hundreds of validation rows cannot
 * rank finely, so those select by log loss, a proper score of the same probabilities; the
 * others select by the metric itself. */
aml_metric aml_ensemble_selection_metric(aml_metric metric);

#endif
