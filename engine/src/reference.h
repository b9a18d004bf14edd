/* The drift reference stored in an artifact (reference.json): per feature the training
 * distribution over fixed bins, the prediction distribution and the PSI thresholds; the reader
 * the serving daemon uses to bin served rows the same way, and the PSI between two histograms. */
#ifndef AML_REFERENCE_H
#define AML_REFERENCE_H

#include "dataset.h"

#define AML_REFERENCE_FORMAT "automl-reference"
#define AML_REFERENCE_VERSION 1
#define AML_REFERENCE_BINS 10    /* quantile bins per numeric feature */
#define AML_REFERENCE_TOP 20     /* levels kept per categorical feature (the rest are "other") */
#define AML_PSI_WARN 0.1
#define AML_PSI_ALERT 0.25

/* Builds reference.json from the training rows and the model's predictions on them (pred:
 * n_rows x n_out; probabilities for classification, the value for regression). Returns a
 * malloc'd JSON text. Layout:
 * {"format": "automl-reference", "version": 1, "n_rows": N,
 *  "thresholds": {"statistic": "psi", "warn": 0.1, "alert": 0.25},
 *  "features": [{"name", "type": "numeric", "edges": [cut points, ascending, <= 9],
 *                "proportions": [one per bin, len(edges) + 1], "missing": p},
 *               {"name", "type": "categorical", "levels": [{"level": "a", "code": 0, "p": ...}],
 *                "other": p, "missing": p}, ...],
 *  "prediction": {"type": "class", "classes": [...], "proportions": [...]} |
 *                {"type": "numeric", "edges": [...], "proportions": [...], "missing": p}}
 * A numeric value x falls in bin #{edges e : e <= x}; proportions are shares of all rows, so
 * sum(proportions) + missing = 1. */
char *aml_reference_json(const aml_dataset *train, const double *pred, int n_out);

/* One histogram's layout, read back from the JSON: numeric (edges, + a missing bin) or
 * categorical (code -> bin; top levels, then "other", then missing). */
typedef struct aml_ref_hist {
    char *name;
    int categorical;
    int n_bins;          /* including the missing bin (always the last) */
    double *edges;       /* numeric: n_bins - 2 cut points */
    int n_codes;         /* categorical: size of code_bin */
    int *code_bin;       /* categorical: level code -> bin (codes past n_codes go to "other") */
    double *expected;    /* n_bins reference proportions */
} aml_ref_hist;

typedef struct aml_reference {
    int n_features;
    aml_ref_hist *features;  /* one per feature, in the schema's order */
    aml_ref_hist prediction; /* over predicted classes (one bin per class + missing) or values */
    int prediction_is_class;
    double warn, alert;
} aml_reference;

/* Parses reference.json for a model with n_features features. Errors: AML_ERR_FORMAT naming
 * the field. */
aml_status aml_reference_parse(aml_ctx *c, const char *json, int64_t n_features, aml_reference **out);
void aml_reference_free(aml_reference *r);
/* The bin of a value (NaN -> the missing bin; categorical values are level codes). */
int aml_ref_hist_bin(const aml_ref_hist *h, double x);
/* PSI = sum (p_ref - p_cur) ln(p_ref / p_cur) over bins; counts are turned into proportions of
 * total; empty bins on either side get 1e-4 (or min non-zero / 1e6 when that is smaller), as
 * Evidently does. Returns NaN when total is 0. */
double aml_psi(const double *expected, const int64_t *counts, int n_bins, int64_t total);

#endif
