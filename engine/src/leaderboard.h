/* The leaderboard: finished trials ranked by score (ties by trial id, so the order is the same
 * whatever the thread count), printed as a table and written as CSV. */
#ifndef AML_LEADERBOARD_H
#define AML_LEADERBOARD_H

#include <stdio.h>
#include "trial.h"

/* Sorts ptrs (pointers into the trial list): ok trials best first, then failed ones by id. */
void aml_leaderboard_sort(aml_trial **ptrs, int64_t n, aml_metric metric);
void aml_leaderboard_print(FILE *f, aml_trial **ptrs, int64_t n, aml_metric metric, int top);
aml_status aml_leaderboard_write_csv(aml_ctx *c, const char *path, aml_trial **ptrs, int64_t n,
                                     aml_metric metric);

#endif
