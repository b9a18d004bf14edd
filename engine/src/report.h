/* report.html: one self-contained page per run (inline SVG and CSS, no scripts, no network):
 * the dataset, best score against time, scores per family, the winners' hyperparameters and the
 * ensemble's weights. */
#ifndef AML_REPORT_H
#define AML_REPORT_H

#include "dataset.h"
#include "leaderboard.h"

typedef struct aml_report_input {
    const aml_dataset *data;
    aml_metric metric;
    aml_trial **ranked;        /* every finished trial, best first */
    int64_t n_trials;
    const char *resampling;    /* "5-fold CV" ... */
    const char *strategy;
    double budget_seconds;     /* 0: none */
    double seconds;            /* the search's wall time so far */
    const aml_leaderboard_ensemble *ensemble; /* score NaN: none */
    const char *const *ensemble_members;      /* "knn#12" per member */
    const double *ensemble_weights;
    int n_members;
    const char *artifact;      /* may be NULL */
} aml_report_input;

aml_status aml_report_write(aml_ctx *c, const char *path, const aml_report_input *in);

#endif
