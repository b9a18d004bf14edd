/* Ensemble selection: start empty, repeatedly add the candidate whose addition improves the
 * averaged out-of-fold prediction most, allow repeats (so weights are counts), and keep the best
 * prefix of the sequence — Caruana et al., "Ensemble selection from libraries of models" (2004). */
#include "ensemble.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The rows where every candidate c with use[c] (all when use is NULL) has a prediction, with
 * their truth and weights copied compactly. */
typedef struct usable {
    int64_t m, *rows;
    int32_t *lab;
    double *val;
    float *wt;
} usable;

static usable usable_rows(const double *const *oof, int n_cand, const int *use, int64_t n_rows, int n_out,
                          const int32_t *label, const double *value, const float *weight)
{
    usable u = {0};
    u.rows = aml_xmalloc(sizeof(int64_t) * (size_t)(n_rows + 1));
    for (int64_t i = 0; i < n_rows; i++) {
        int ok = 1;
        for (int c = 0; c < n_cand && ok; c++)
            ok = (use && !use[c]) || !isnan(oof[c][i * n_out]);
        if (ok)
            u.rows[u.m++] = i;
    }
    u.lab = label ? aml_xmalloc(sizeof(int32_t) * (size_t)(u.m + 1)) : NULL;
    u.val = value ? aml_xmalloc(sizeof(double) * (size_t)(u.m + 1)) : NULL;
    u.wt = weight ? aml_xmalloc(sizeof(float) * (size_t)(u.m + 1)) : NULL;
    for (int64_t r = 0; r < u.m; r++) {
        if (u.lab)
            u.lab[r] = label[u.rows[r]];
        if (u.val)
            u.val[r] = value[u.rows[r]];
        if (u.wt)
            u.wt[r] = weight[u.rows[r]];
    }
    return u;
}

static void usable_free(usable *u)
{
    free(u->rows);
    free(u->lab);
    free(u->val);
    free(u->wt);
}

double aml_ensemble_select(aml_metric metric, const double *const *oof, int n_cand, int64_t n_rows,
                           int n_out, int n_classes, const int32_t *label, const double *value,
                           const float *weight, int rounds, int *counts)
{
    memset(counts, 0, sizeof(int) * (size_t)n_cand);
    usable u = usable_rows(oof, n_cand, NULL, n_rows, n_out, label, value, weight);
    const int64_t m = u.m;
    double best_score = NAN;
    if (m == 0 || n_cand == 0) {
        usable_free(&u);
        return best_score;
    }
    /* Each candidate's predictions on the usable rows, compact. */
    size_t block = (size_t)m * (size_t)n_out;
    double *pred = aml_xmalloc(sizeof(double) * block * (size_t)n_cand);
    for (int64_t r = 0; r < m; r++)
        for (int c = 0; c < n_cand; c++)
            memcpy(pred + (size_t)c * block + (size_t)r * n_out, oof[c] + u.rows[r] * n_out,
                   sizeof(double) * (size_t)n_out);
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
            double sc = aml_metric_score(metric, m, n_classes, u.lab, u.val, u.wt, trial);
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
    usable_free(&u);
    return best_score;
}

double aml_ensemble_score(aml_metric metric, const double *const *oof, int n_cand, int64_t n_rows, int n_out,
                          int n_classes, const int32_t *label, const double *value, const float *weight,
                          const int *counts)
{
    int total = 0;
    for (int c = 0; c < n_cand; c++)
        total += counts[c];
    usable u = usable_rows(oof, n_cand, counts, n_rows, n_out, label, value, weight);
    double *avg = aml_xmalloc(sizeof(double) * (size_t)(u.m * n_out + 1));
    for (int64_t r = 0; r < u.m; r++)
        for (int q = 0; q < n_out; q++) {
            double sum = 0;
            for (int c = 0; c < n_cand; c++)
                if (counts[c])
                    sum += counts[c] * oof[c][u.rows[r] * n_out + q];
            avg[r * n_out + q] = sum / total;
        }
    double score = u.m > 0 && total > 0 ? aml_metric_score(metric, u.m, n_classes, u.lab, u.val, u.wt, avg) : NAN;
    free(avg);
    usable_free(&u);
    return score;
}

aml_metric aml_ensemble_selection_metric(aml_metric metric)
{
    if (metric == AML_METRIC_ACCURACY || metric == AML_METRIC_BALANCED_ACCURACY || metric == AML_METRIC_F1_MACRO)
        return AML_METRIC_LOG_LOSS;
    return metric;
}
