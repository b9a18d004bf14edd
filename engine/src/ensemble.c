/* Ensemble selection: start empty, repeatedly add the candidate whose addition improves the
 * averaged out-of-fold prediction most, allow repeats (so weights are counts), and keep the best
 * prefix of the sequence — Caruana et al., "Ensemble selection from libraries of models" (2004). */
#include "ensemble.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double aml_ensemble_select(aml_metric metric, const double *const *oof, int n_cand, int64_t n_rows,
                           int n_out, int n_classes, const int32_t *label, const double *value,
                           const float *weight, int rounds, int *counts)
{
    memset(counts, 0, sizeof(int) * (size_t)n_cand);
    /* The rows every candidate predicted (all rows under k-fold; the validation rows of a holdout). */
    int64_t *rows = aml_xmalloc(sizeof(int64_t) * (size_t)(n_rows + 1)), m = 0;
    for (int64_t i = 0; i < n_rows; i++) {
        int ok = 1;
        for (int c = 0; c < n_cand && ok; c++)
            ok = !isnan(oof[c][i * n_out]);
        if (ok)
            rows[m++] = i;
    }
    double best_score = NAN;
    if (m == 0 || n_cand == 0)
        goto done;
    /* Compact copies: truth, weights and each candidate's predictions on the usable rows. */
    int32_t *lab = label ? aml_xmalloc(sizeof(int32_t) * (size_t)m) : NULL;
    double *val = value ? aml_xmalloc(sizeof(double) * (size_t)m) : NULL;
    float *wt = weight ? aml_xmalloc(sizeof(float) * (size_t)m) : NULL;
    size_t block = (size_t)m * (size_t)n_out;
    double *pred = aml_xmalloc(sizeof(double) * block * (size_t)n_cand);
    for (int64_t r = 0; r < m; r++) {
        int64_t i = rows[r];
        if (lab)
            lab[r] = label[i];
        if (val)
            val[r] = value[i];
        if (wt)
            wt[r] = weight[i];
        for (int c = 0; c < n_cand; c++)
            memcpy(pred + (size_t)c * block + (size_t)r * n_out, oof[c] + i * n_out, sizeof(double) * (size_t)n_out);
    }
    double *sum = aml_xcalloc(block, sizeof(double));
    double *trial = aml_xmalloc(sizeof(double) * block);
    int *picked = aml_xmalloc(sizeof(int) * (size_t)rounds);
    int best_len = 0;
    for (int k = 0; k < rounds; k++) {
        int choice = -1;
        double choice_score = NAN;
        for (int c = 0; c < n_cand; c++) {
            const double *p = pred + (size_t)c * block;
            for (size_t q = 0; q < block; q++)
                trial[q] = (sum[q] + p[q]) / (k + 1);
            double sc = aml_metric_score(metric, m, n_classes, lab, val, wt, trial);
            if (choice < 0 || aml_metric_better(metric, sc, choice_score)) {
                choice = c;
                choice_score = sc;
            }
        }
        const double *p = pred + (size_t)choice * block;
        for (size_t q = 0; q < block; q++)
            sum[q] += p[q];
        picked[k] = choice;
        if (k == 0 || aml_metric_better(metric, choice_score, best_score)) {
            best_score = choice_score;
            best_len = k + 1;
        }
    }
    for (int k = 0; k < best_len; k++)
        counts[picked[k]]++;
    free(picked);
    free(trial);
    free(sum);
    free(pred);
    free(lab);
    free(val);
    free(wt);
done:
    free(rows);
    return best_score;
}

double aml_ensemble_score(aml_metric metric, const double *const *oof, int n_cand, int64_t n_rows, int n_out,
                          int n_classes, const int32_t *label, const double *value, const float *weight,
                          const int *counts)
{
    int total = 0;
    for (int c = 0; c < n_cand; c++)
        total += counts[c];
    int64_t m = 0;
    double *avg = aml_xmalloc(sizeof(double) * (size_t)(n_rows * n_out + 1));
    int32_t *lab = label ? aml_xmalloc(sizeof(int32_t) * (size_t)(n_rows + 1)) : NULL;
    double *val = value ? aml_xmalloc(sizeof(double) * (size_t)(n_rows + 1)) : NULL;
    float *wt = weight ? aml_xmalloc(sizeof(float) * (size_t)(n_rows + 1)) : NULL;
    for (int64_t i = 0; i < n_rows && total > 0; i++) {
        int ok = 1;
        for (int c = 0; c < n_cand && ok; c++)
            ok = !counts[c] || !isnan(oof[c][i * n_out]);
        if (!ok)
            continue;
        for (int q = 0; q < n_out; q++) {
            double sum = 0;
            for (int c = 0; c < n_cand; c++)
                if (counts[c])
                    sum += counts[c] * oof[c][i * n_out + q];
            avg[m * n_out + q] = sum / total;
        }
        if (lab)
            lab[m] = label[i];
        if (val)
            val[m] = value[i];
        if (wt)
            wt[m] = weight[i];
        m++;
    }
    double score = m > 0 ? aml_metric_score(metric, m, n_classes, lab, val, wt, avg) : NAN;
    free(avg);
    free(lab);
    free(val);
    free(wt);
    return score;
}

aml_metric aml_ensemble_selection_metric(aml_metric metric)
{
    if (metric == AML_METRIC_ACCURACY || metric == AML_METRIC_BALANCED_ACCURACY || metric == AML_METRIC_F1_MACRO)
        return AML_METRIC_LOG_LOSS;
    return metric;
}
