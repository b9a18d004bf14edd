/* Which trial runs next: the portfolio, then random, TPE or successive-halving brackets (with TPE
 * for `auto`). Trial ids are handed out in order, and trial i's configuration and resource depend
 * only on the seed and the results of trials before it, so a trial budget gives the same trials
 * whatever the thread count, and a resumed search replays the same sequence. */
#ifndef AML_SCHEDULER_H
#define AML_SCHEDULER_H

#include "sampler.h"
#include "trial.h"

typedef enum {
    AML_STRATEGY_AUTO = 0, /* portfolio, then TPE-drawn successive-halving brackets */
    AML_STRATEGY_RANDOM,   /* each family's defaults, then uniform draws */
    AML_STRATEGY_TPE,      /* each family's defaults, then TPE */
    AML_STRATEGY_HALVING   /* each family's defaults, then brackets of uniform draws */
} aml_strategy;

/* "auto" | "random" | "tpe" | "halving"; -1 when unknown. */
int aml_strategy_parse(const char *name);

typedef struct aml_scheduler aml_scheduler;

typedef struct aml_job {
    int64_t id;
    aml_config cfg;   /* owned by the receiver */
    double resource;  /* fraction of the full resource: 1, or a halving rung's 1/9, 1/3 */
} aml_job;

typedef enum { AML_SCHED_JOB = 0, AML_SCHED_WAIT = 1, AML_SCHED_DONE = 2 } aml_sched_state;

/* With timeless set (a trial budget and no clock), trial times are not used (TPE's cost
 * awareness would make the sequence depend on the machine's speed). */
aml_scheduler *aml_scheduler_new(aml_strategy strategy, uint64_t seed, const aml_space *sp, aml_metric metric,
                                 int timeless);
/* Puts the user's fixed configurations (the spec's warm_start; each family must be in the space)
 * before the warm start. Call before the first aml_scheduler_next. */
void aml_scheduler_prepend(aml_scheduler *s, const aml_config *cfgs, int n);
void aml_scheduler_free(aml_scheduler *s);
/* The next job, or WAIT (results of earlier trials are needed first), or DONE (the space is
 * exhausted). Not thread-safe: call under the search's lock. */
aml_sched_state aml_scheduler_next(aml_scheduler *s, aml_job *job);
/* Reports a finished (ok or failed) trial; t must stay alive while the scheduler lives. */
void aml_scheduler_done(aml_scheduler *s, const aml_trial *t);
/* Halving parameters, for tests and the report: rungs per bracket and reduction factor. */
#define AML_HALVING_ETA 3
#define AML_HALVING_RUNGS 3

#endif
