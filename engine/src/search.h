/* The search: trials drawn from the spec's space and run in parallel within a wall-clock and/or
 * trial budget, journaled, ranked; the winner refitted on all rows and exported. */
#ifndef AML_SEARCH_H
#define AML_SEARCH_H

#include "spec.h"
#include "plugin_loader.h"

typedef struct aml_search_result {
    char *run_dir;
    char *artifact_dir;     /* the published artifact */
    char *best_model;
    char *refit;            /* "all rows", or which already fitted model was published instead
                               (a fold model, when the refit could not fit in the budget) */
    double best_score;
    int64_t n_trials;       /* finished in this run, resumed ones excluded */
    int64_t n_resumed;
    int64_t n_failed;
    double seconds;
    char *summary_json;     /* summary.json's text when spec->json (the caller prints it), else NULL */
} aml_search_result;

/* Runs spec (CLI overrides already applied). t0 is when the command started (aml_now()), so the
 * budget covers loading, search, refit and export. */
/* runs/<date>-<time>-<pid>: the run directory when the spec and the command line name none
 * (malloc'd). */
char *aml_search_default_run_dir(void);
aml_status aml_search_run(aml_ctx *c, aml_search_spec *spec, aml_registry *reg, double t0,
                          aml_search_result *out);
void aml_search_result_free(aml_search_result *r);

/* Asks a running search to stop soon and export what it has (async-signal-safe). */
void aml_search_request_stop(void);
/* The flag aml_search_request_stop sets, for what must stop with the search (the spec's Lua code
 * while it is read: aml_spec_options.cancel). aml_search_run clears it when it starts. */
const volatile int *aml_search_stop_flag(void);

#endif
