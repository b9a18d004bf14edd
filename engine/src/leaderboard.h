/* The leaderboard: finished trials ranked by score (ties by trial id, so the order is the same
 * whatever the thread count), printed as a table and written as CSV. */
#ifndef AML_LEADERBOARD_H
#define AML_LEADERBOARD_H

#include <stdio.h>
#include "trial.h"

/* The ensemble chosen at the end, shown above the trials (score NaN: none). */
typedef struct aml_leaderboard_ensemble {
    double score;        /* out-of-fold score of the ensemble */
    double best_single;  /* out-of-fold score of the best trial on the same rows */
    const char *members; /* "knn#12 x3 + linear#0 x2" */
} aml_leaderboard_ensemble;

/* Sorts ptrs (pointers into the trial list): ok trials best first, then failed ones by id. */
void aml_leaderboard_sort(aml_trial **ptrs, int64_t n, aml_metric metric);
void aml_leaderboard_print(FILE *f, aml_trial **ptrs, int64_t n, aml_metric metric, int top,
                           const aml_leaderboard_ensemble *ens);
aml_status aml_leaderboard_write_csv(aml_ctx *c, const char *path, aml_trial **ptrs, int64_t n,
                                     aml_metric metric, const aml_leaderboard_ensemble *ens);

#endif
