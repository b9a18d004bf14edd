/* One trial: a model configuration fitted and scored on every resampling split, and the
 * split data it runs on (materialised once per search and shared read-only by all trials). */
#ifndef AML_TRIAL_H
#define AML_TRIAL_H

#include "dataset.h"
#include "metrics.h"
#include "model.h"
#include "resample.h"

/* The rows of one split, copied once into contiguous float32 blocks so that every learner gets
 * BLAS-ready views without per-trial copies. */
typedef struct aml_split {
    aml_matrix train_X, valid_X;
    aml_target train_y, valid_y;
    int64_t n_stop;          /* the last n_stop training rows: what a model that early-stops
                                watches instead of training on (see aml_split_fit_rows) */
    int64_t *valid_rows;     /* the dataset rows of valid_X, in order */
    float *train_buf, *valid_buf;
    int32_t *label_buf;      /* train labels then valid labels */
    double *value_buf;
    float *weight_buf;
} aml_split;

typedef struct aml_splits {
    aml_split *split;
    int n;
    aml_folds folds;
} aml_splits;

aml_status aml_splits_make(aml_ctx *c, const aml_dataset *d, const aml_folds *folds, aml_splits *out);
void aml_splits_free(aml_splits *s);

/* The rows a fit of cfg sees on sp: one that stops early (aml_model_stops_early) trains on all
 * but the split's last n_stop training rows and stops on those (stop may come back empty on tiny
 * splits); any other trains on every training row and gets no stopping rows. No fit ever sees
 * the validation fold, so the fold's score is an honest estimate, also of when to stop. */
void aml_split_fit_rows(const aml_split *sp, const aml_config *cfg, aml_matrix *X, aml_target *y,
                        aml_matrix *stop_X, aml_target *stop_y);

typedef enum { AML_TRIAL_OK = 0, AML_TRIAL_FAILED = 1, AML_TRIAL_CANCELLED = 2 } aml_trial_status;

typedef struct aml_trial {
    int64_t id;
    uint64_t seed;
    aml_config cfg;
    aml_trial_status status;
    char *error;             /* why it failed */
    double score;            /* mean of the fold scores (NaN unless ok) */
    double *fold_scores;
    int n_folds;
    double seconds;          /* wall time of the whole trial */
    double finished_at;      /* seconds since the search started (report's time axis; journaled) */
    double fit_seconds;      /* mean fit time per split */
    int resumed;             /* read back from the journal */
    double resource;         /* fraction of the full resource it ran with (1 = full) */
    double used_resource;    /* mean over the splits of the share of the full resource the fitted
                                models kept (early stopping; 1 when the plugin does not say) */
    double max_seconds;      /* input: the most the trial may take under a clock budget, shared out
                                evenly among the splits (a fit that keeps a prefix of its trees or
                                rounds stops there, others are cancelled); 0 = no cap */
    int keep_fold_model;     /* input: keep the first split's fitted model in fold_model */
    aml_fitted *fold_model;  /* the first split's model (keep_fold_model): what a search publishes
                                when the winner's refit on all rows cannot fit in the budget */
    double predict_seconds;  /* mean time per split to predict its validation rows */
    double *oof;             /* out-of-fold predictions, n_rows x n_out (NaN where a row was never
                              * validated); NULL once dropped (only the best trials keep them) */
    int n_out;
} aml_trial;

/* Fits cfg on every split with t->resource (0 means 1) and scores the validation rows with metric,
 * keeping the out-of-fold predictions. Never fails as a call: failures are recorded in t->status /
 * t->error. */
void aml_trial_run(aml_trial *t, aml_host_ctx *hc, const aml_dataset *d, const aml_splits *s,
                   aml_metric metric);
/* Frees t's fold model, if it kept one. */
void aml_trial_drop_fold_model(aml_trial *t);
void aml_trial_clear(aml_trial *t);

#endif
