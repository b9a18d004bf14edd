/* The search loop. Worker threads draw trial ids in order; trial i's configuration depends only
 * on (seed, i), so a trial budget gives the same leaderboard whatever the thread count. Finished
 * trials go to the journal under one lock; the winner is refitted on all rows and exported. */
#include "search.h"

#include "artifact.h"
#include "calibration.h"
#include "ensemble.h"
#include "journal.h"
#include "leaderboard.h"
#include "predictions.h"
#include "report.h"
#include "scheduler.h"
#include "reference.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Set by SIGINT's handler in one thread, read by every worker (and by the Lua hook, the plugins'
 * should_stop): atomic loads and stores, lock-free and so safe in a signal handler. */
static volatile int cancel_flag;

void aml_search_request_stop(void) { __atomic_store_n(&cancel_flag, 1, __ATOMIC_RELAXED); }

static int cancelled(void) { return __atomic_load_n(&cancel_flag, __ATOMIC_RELAXED); }

const volatile int *aml_search_stop_flag(void) { return &cancel_flag; }

typedef struct search {
    aml_search_spec *spec;
    aml_registry *reg;
    aml_dataset *data;
    aml_metric metric;
    aml_splits splits;
    const aml_plugin **models;
    const aml_model_spec **model_specs;
    int n_models;
    int *n_pipelines;          /* per family: its pipeline choices (sampler.h) */
    aml_journal journal;
    pthread_mutex_t lock;
    aml_trial **trials;        /* finished trials, resumed ones first */
    int64_t n_trials, cap;
    int64_t *done_ids;         /* ids read back from the journal, sorted */
    int64_t n_done;
    int64_t next_id, trial_limit;
    double t0, hard_end;       /* hard_end = 0: no wall-clock budget */
    int threads, workers, threads_per_trial;
    const aml_trial *best;
    const aml_trial *rung_best;   /* the best trial of the largest resource below the full one:
                                     the winner when no full-resource trial finished */
    const aml_trial **family_best; /* per family (models[]): its best full-resource trial */
    int stop;
    aml_status error;
    aml_ctx err;
    int64_t n_new, n_failed;
    int tty;
    const char *running;       /* model of the most recently started trial (progress line; under lock) */
    aml_scheduler *sched;
    pthread_cond_t finished;   /* signalled when a trial finishes (the scheduler may be waiting) */
    int exhausted;             /* no new configuration could be drawn */
    int on_trial_stopped;      /* the interrupt stopped on_trial once: it is not called again */
    int has_missing, has_categorical;
} search;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int is_done(const search *s, int64_t id)
{
    return s->n_done && bsearch(&id, s->done_ids, (size_t)s->n_done, sizeof(int64_t), cmp_i64);
}

/* Whether family's pipeline is "auto" alone (not one of several choices): then the variants of
 * pipeline.h are its choices. */
static int auto_only(const aml_features_spec *f) { return !f || (f->n_choices == 1 && f->choices[0].automatic); }

/* The feature steps of cfg's family: the spec's pipeline (the one cfg->pipeline picks among the
 * family's choices), or for "auto" what suits the family and this data (pipeline.h; the variant
 * cfg->pipeline picks when "auto" is the family's only pipeline). */
static void set_steps(const search *s, aml_config *cfg)
{
    const aml_features_spec *f = aml_spec_features_for(s->spec, cfg->plugin->desc->name);
    const aml_pipeline_spec *p = f ? &f->choices[cfg->pipeline < f->n_choices ? cfg->pipeline : 0] : NULL;
    memset(cfg->step_params, 0, sizeof cfg->step_params);
    if (!p || p->automatic) {
        cfg->n_steps = aml_pipeline_auto(s->reg, cfg->plugin, auto_only(f) ? cfg->pipeline : 0,
                                         s->has_missing, s->has_categorical, cfg->steps, cfg->step_params);
        return;
    }
    cfg->n_steps = 0;
    for (int i = 0; i < p->n_steps && i < AML_MAX_STEPS; i++) {
        cfg->steps[cfg->n_steps] = aml_registry_find(s->reg, AML_PLUGIN_FEATURE, p->steps[i].name);
        cfg->step_params[cfg->n_steps] = &p->steps[i];
        if (cfg->steps[cfg->n_steps]) /* checked when the spec was read */
            cfg->n_steps++;
    }
}

static uint64_t trial_seed(const search *s, int64_t id)
{
    return aml_mix64(s->spec->seed ^ 0x5eed5eed5eedULL, (uint64_t)id);
}

/* Rows t's fits trained on in the search (its share of a split's training rows). */
static double rows_trained(const search *s, const aml_trial *t)
{
    aml_matrix X, stop_X;
    aml_target y, stop_y;
    aml_split_fit_rows(&s->splits.split[0], &t->cfg, &X, &y, &stop_X, &stop_y);
    return X.rows > 0 ? (double)X.rows : 1;
}

/* Seconds a refit of t on every row should take. */
static double refit_estimate(const search *s, const aml_trial *t)
{
    return t->fit_seconds * (double)s->data->n_rows / rows_trained(s, t);
}

/* Seconds the export should spend on t's model: predicting every row (scaled from its validation
 * predictions, twice that: a refit on all rows, or one grown with the data, is a larger model);
 * the artifact's writing is in refit_end. */
static double export_estimate(const search *s, const aml_trial *t)
{
    double valid = (double)s->splits.split[0].valid_X.rows;
    return t && valid > 0 ? 2.0 * t->predict_seconds * (double)s->data->n_rows / valid : 0;
}

/* When the final refit must be done (hard_end > 0 only) for an export estimated at export
 * seconds: the budget's end plus part of its tolerance (3 % of the 5 %), less the export, less
 * what writing the artifact and the run's files takes (measured at 0.5-0.65 s on a busy 2-core
 * machine: fsyncs, hashing, the report). */
static double refit_end(const search *s, double export)
{
    return s->hard_end + 0.03 * s->spec->budget_seconds - 0.7 - export;
}

/* The time a trial may take under a clock budget: a fifth of the budget, shared by its splits,
 * so that no single configuration (a full-depth forest on a large table) eats the budget; forests
 * and boosting keep the trees grown by then, others are cancelled. */
static double trial_cap(const search *s) { return s->hard_end > 0 ? 0.2 * s->spec->budget_seconds : 0; }

/* When trials must be done so that the refit and export still fit in the budget: 1.5 times the
 * best trial's fit time scaled to all rows, and 1.2 times that of every other family's best (the
 * ensemble's likely members; choose_final shrinks an ensemble that still does not fit), plus the
 * export and a margin. A refit planned to take more than half the budget is not planned: the best
 * trial's fold model is published instead (refit_and_export), and trials run on. */
static double trial_deadline(const search *s)
{
    if (s->hard_end <= 0)
        return 0;
    double reserve = 0.5 + export_estimate(s, s->best), half = 0.5 * s->spec->budget_seconds;
    if (!s->best)
        return s->hard_end - reserve;
    double best = 1.5 * refit_estimate(s, s->best), all = best;
    for (int m = 0; m < s->n_models; m++)
        if (s->family_best[m] && s->family_best[m] != s->best)
            all += 1.2 * refit_estimate(s, s->family_best[m]) + export_estimate(s, s->family_best[m]);
    if (all <= half)
        reserve += all;
    else if (best <= half || !s->best->fold_model)
        reserve += fmin(best, half);
    return s->hard_end - reserve;
}

static void print_progress(search *s, int final)
{
    if (!s->tty)
        return;
    double el = aml_now() - s->t0;
    char best[96] = "-";
    if (s->best)
        snprintf(best, sizeof best, "%.4f (%s)", s->best->score, s->best->cfg.plugin->desc->name);
    if (s->spec->budget_seconds > 0)
        fprintf(stderr, "\r[%6.1fs/%gs] trials %lld (%lld failed)  best %s %s  %s%-12s", el,
                s->spec->budget_seconds, (long long)s->n_new, (long long)s->n_failed,
                aml_metric_name(s->metric), best, final ? "" : "running ", final ? "" : s->running);
    else
        fprintf(stderr, "\r[%6.1fs] trials %lld/%lld (%lld failed)  best %s %s   ", el,
                (long long)s->n_new, (long long)s->trial_limit, (long long)s->n_failed,
                aml_metric_name(s->metric), best);
    if (final)
        fputc('\n', stderr);
}

static int ranks_before(const search *s, const aml_trial *a, const aml_trial *b)
{
    if (aml_metric_better(s->metric, a->score, b->score))
        return 1;
    if (aml_metric_better(s->metric, b->score, a->score))
        return 0;
    return a->id < b->id;
}

static void add_trial(search *s, aml_trial *t)
{
    if (s->n_trials == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->trials = aml_xrealloc(s->trials, sizeof(aml_trial *) * (size_t)s->cap);
    }
    s->trials[s->n_trials++] = t;
    if (t->status == AML_TRIAL_OK && t->resource < 1 &&
        (!s->rung_best || t->resource > s->rung_best->resource ||
         (t->resource == s->rung_best->resource && ranks_before(s, t, s->rung_best))))
        s->rung_best = t;
    if (t->status != AML_TRIAL_OK || t->resource < 1)
        return;
    /* Ties go to the lower id, as in the leaderboard. */
    if (!s->best || ranks_before(s, t, s->best))
        s->best = t;
    for (int m = 0; m < s->n_models; m++)
        if (s->models[m] == t->cfg.plugin && (!s->family_best[m] || ranks_before(s, t, s->family_best[m])))
            s->family_best[m] = t;
}

/* Ensemble candidates are each family's best few trials, ENSEMBLE_CANDIDATES shared out among
 * the families (at least 2 each): the library ensemble selection picks from stays diverse instead
 * of twenty variants of the cheapest family, whose many trials also make its best score the most
 * flattered by chance. Out-of-fold predictions of trials that can no longer be one are freed. */
#define ENSEMBLE_CANDIDATES 20

static int per_family(const search *s)
{
    int per = (ENSEMBLE_CANDIDATES + s->n_models - 1) / (s->n_models > 0 ? s->n_models : 1);
    return per > 2 ? per : 2;
}

/* After t is added: frees the out-of-fold predictions of the weakest trial of t's family once the
 * family holds more than its share. */
static void drop_weak_oof(search *s, const aml_trial *t)
{
    int kept = 0;
    aml_trial *worst = NULL;
    for (int64_t i = 0; i < s->n_trials; i++) {
        aml_trial *u = s->trials[i];
        if (!u->oof || u->cfg.plugin != t->cfg.plugin)
            continue;
        kept++;
        if (!worst || ranks_before(s, worst, u))
            worst = u;
    }
    if (kept > per_family(s)) {
        free(worst->oof);
        worst->oof = NULL;
    }
}

/* Called with the lock held. Takes ownership of t. Returns 1 when t was journaled (and needs
 * a sync). */
static int record(search *s, aml_trial *t)
{
    if (t->status == AML_TRIAL_CANCELLED) {
        /* Not finished: not journaled, so --resume runs it again. */
        aml_trial_clear(t);
        free(t);
        return 0;
    }
    aml_ctx c = {{0}};
    if (aml_journal_append(&c, &s->journal, t, aml_metric_name(s->metric), s->data->fingerprint) != AML_OK &&
        s->error == AML_OK) {
        s->error = AML_ERR_IO;
        s->err = c;
        s->stop = 1;
    }
    s->n_new++;
    if (t->status != AML_TRIAL_OK)
        s->n_failed++;
    const aml_trial *previous_best = s->best, *previous_keeper = s->best ? s->best : s->rung_best;
    add_trial(s, t);
    /* Only the would-be winner's fold model is kept: the one a refit that cannot fit falls back
     * on. */
    const aml_trial *keeper = s->best ? s->best : s->rung_best;
    if (keeper != t)
        aml_trial_drop_fold_model(t);
    if (previous_keeper && previous_keeper != keeper)
        aml_trial_drop_fold_model((aml_trial *)previous_keeper);
    aml_scheduler_done(s->sched, t);
    if (!s->tty && s->best != previous_best) /* plain log lines when stderr is not a terminal */
        fprintf(stderr, "automl: [%.1fs] trial %lld %s: %s %.4f (new best)\n", aml_now() - s->t0,
                (long long)t->id, t->cfg.plugin->desc->name, aml_metric_name(s->metric), t->score);
    if (t->resource < 1) { /* low-rung trials are not ensemble candidates */
        free(t->oof);
        t->oof = NULL;
    }
    drop_weak_oof(s, t);
    print_progress(s, 0);
    if (s->spec->lua && s->spec->on_trial_ref >= 0 && !s->on_trial_stopped) {
        cJSON *p = aml_config_to_json(&t->cfg);
        char *params = cJSON_PrintUnformatted(p);
        cJSON_Delete(p);
        aml_trial_summary sum = {.id = t->id,
                                 .model = t->cfg.plugin->desc->name,
                                 .status = t->status == AML_TRIAL_OK ? "ok" : "failed",
                                 .score = t->score,
                                 .seconds = t->seconds,
                                 .params_json = params};
        int r = aml_spec_on_trial(&c, s->spec, &sum);
        free(params);
        if (r == 1) {
            s->stop = 1;
        } else if (r == AML_ERR_CANCELLED) {
            /* SIGINT or the budget stopped a callback that did not return: the search stops as
             * it would have anyway, and exports what it has. */
            fprintf(stderr, "%sautoml: %s\n", s->tty ? "\n" : "", c.msg);
            s->on_trial_stopped = 1;
            s->stop = 1;
        } else if (r < 0 && s->error == AML_OK) {
            s->error = r;
            s->err = c;
            s->stop = 1;
        }
    }
    return 1;
}

static void *worker(void *arg)
{
    search *s = arg;
    for (;;) {
        double deadline = 0;
        aml_job job;
        int have = 0;
        pthread_mutex_lock(&s->lock);
        while (!s->stop && !cancelled() && !s->exhausted && s->next_id < s->trial_limit) {
            deadline = trial_deadline(s);
            if (deadline > 0 && aml_now() >= deadline)
                break;
            aml_sched_state st = aml_scheduler_next(s->sched, &job);
            if (st == AML_SCHED_DONE) {
                s->exhausted = 1;
                break;
            }
            if (st == AML_SCHED_WAIT) {
                /* Earlier trials must finish first; wake on each finished trial (or to recheck
                 * the deadline). */
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += 200000000L;
                if (until.tv_nsec >= 1000000000L) {
                    until.tv_sec++;
                    until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&s->finished, &s->lock, &until);
                continue;
            }
            s->next_id = job.id + 1;
            if (job.id >= s->trial_limit || is_done(s, job.id)) {
                aml_config_free(&job.cfg);
                continue;
            }
            have = 1;
            s->running = job.cfg.plugin->desc->name; /* print_progress reads it under the lock */
            break;
        }
        pthread_mutex_unlock(&s->lock);
        if (!have)
            break;
        aml_trial *t = aml_xcalloc(1, sizeof *t);
        t->id = job.id;
        t->seed = trial_seed(s, job.id);
        t->cfg = job.cfg;
        t->resource = job.resource;
        t->max_seconds = trial_cap(s);
        t->keep_fold_model = s->hard_end > 0;
        set_steps(s, &t->cfg);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, s->threads_per_trial);
        hc.deadline = deadline;
        hc.cancel = &cancel_flag;
        hc.trial_id = job.id;
        hc.verbose = 3; /* trials log only errors; failures are recorded in the journal */
        aml_trial_run(t, &hc, s->data, &s->splits, s->metric);
        t->finished_at = aml_now() - s->t0;
        pthread_mutex_lock(&s->lock);
        int journaled = record(s, t);
        pthread_cond_broadcast(&s->finished);
        pthread_mutex_unlock(&s->lock);
        aml_ctx c = {{0}};
        if (journaled && aml_journal_sync(&c, &s->journal) != AML_OK) {
            pthread_mutex_lock(&s->lock);
            if (s->error == AML_OK) {
                s->error = AML_ERR_IO;
                s->err = c;
            }
            s->stop = 1;
            pthread_mutex_unlock(&s->lock);
        }
    }
    return NULL;
}

/* ---- setup ---- */

/* The spec's data.drop: each named feature removed before anything else sees the table. */
static aml_status drop_columns(aml_ctx *c, aml_dataset *d, char **names, int n)
{
    for (int k = 0; k < n; k++) {
        int64_t j = 0;
        while (j < d->n_features && strcmp(d->feature_names[j], names[k]) != 0)
            j++;
        if (j == d->n_features)
            return aml_fail(c, AML_ERR_INPUT, "%s: data.drop: no feature named '%s'", d->path, names[k]);
        aml_dataset_drop_feature(d, j);
    }
    if (n > 0)
        aml_dataset_fingerprint(d);
    return AML_OK;
}

static aml_status resolve_models(aml_ctx *c, search *s)
{
    aml_search_spec *spec = s->spec;
    if (spec->n_models > 0) {
        s->n_models = spec->n_models;
        s->models = aml_xcalloc((size_t)s->n_models, sizeof *s->models);
        s->model_specs = aml_xcalloc((size_t)s->n_models, sizeof *s->model_specs);
        for (int i = 0; i < s->n_models; i++) {
            s->models[i] = aml_registry_find(s->reg, AML_PLUGIN_MODEL, spec->models[i].name);
            s->model_specs[i] = &spec->models[i];
            if (!s->models[i])
                return aml_fail(c, AML_ERR_INPUT, "%s: models: model plugin '%s' is not installed",
                                spec->spec_path ? spec->spec_path : "spec", spec->models[i].name);
        }
        return AML_OK;
    }
    /* Every model plugin found, but those that cannot take this task (naive_bayes and discriminant
     * refuse regression at create): trying them would only fill the leaderboard with failures. */
    int n = aml_registry_count(s->reg);
    s->models = aml_xcalloc((size_t)n + 1, sizeof *s->models);
    s->model_specs = aml_xcalloc((size_t)n + 1, sizeof *s->model_specs);
    aml_task task = {.kind = s->data->task, .n_classes = s->data->n_classes, .n_features = s->data->n_features,
                     .categorical = s->data->categorical};
    for (int i = 0; i < n; i++) {
        const aml_plugin *p = aml_registry_at(s->reg, i);
        if (p->desc->kind != AML_PLUGIN_MODEL)
            continue;
        aml_config cfg;
        aml_config_defaults(&cfg, p);
        aml_params params = aml_config_params(&cfg);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        aml_model *m = NULL;
        if (p->desc->model->create(aml_host_services(), &hc, &params, &task, &m) == AML_OK) {
            p->desc->model->free(m);
            s->models[s->n_models++] = p;
        }
        aml_config_free(&cfg);
    }
    if (s->n_models == 0)
        return aml_fail(c, AML_ERR_INPUT, "no model plugin takes this task (see automl plugins)");
    return AML_OK;
}

static aml_status resolve_metric(aml_ctx *c, search *s)
{
    aml_search_spec *spec = s->spec;
    if (!spec->metric || !strcmp(spec->metric, "auto")) {
        s->metric = s->data->task == AML_TASK_CLASSIFICATION ? AML_METRIC_ACCURACY : AML_METRIC_R2;
        return AML_OK;
    }
    if (aml_metric_parse(spec->metric, &s->metric) != 0)
        return aml_fail(c, AML_ERR_INPUT, "metric: unknown metric '%s'", spec->metric);
    if (!aml_metric_for_task(s->metric, s->data->task))
        return aml_fail(c, AML_ERR_INPUT, "metric: %s does not apply to %s (%s)", spec->metric,
                        aml_dataset_task_name(s->data->task), s->data->path);
    return AML_OK;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

char *aml_search_default_run_dir(void)
{
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
    return aml_xasprintf("runs/%s-%ld", stamp, (long)getpid());
}

/* ---- the final model: the best trial, or an ensemble of the best trials ---- */

typedef struct final_plan {
    aml_trial **members;   /* the best trial alone, or the ensemble's members */
    int *counts;           /* times each member was picked (weights = counts / total) */
    double *temperatures;  /* each member's calibration (classification ensembles; else NULL) */
    int n;
    double ensemble_score; /* out-of-fold score of the ensemble (NaN for a single model) */
    double single_score;   /* out-of-fold score of the best trial on the same rows */
} final_plan;

static int cmp_rank(const void *pa, const void *pb, void *ctx)
{
    const search *s = ctx;
    const aml_trial *a = *(aml_trial *const *)pa, *b = *(aml_trial *const *)pb;
    return ranks_before(s, a, b) ? -1 : ranks_before(s, b, a) ? 1 : 0;
}

/* The resource a winner is refitted with on all rows: what its validated fits kept (early
 * stopping has no validation rows to stop on in a refit), grown with the data — more rows carry
 * more rounds before overfitting — and never above the full resource. */
static double refit_resource(const search *s, const aml_trial *t)
{
    if (!(t->used_resource > 0 && t->used_resource < 1) || !aml_plugin_resumable(t->cfg.plugin->desc))
        return 1;
    return fmin(1.0, t->used_resource * (double)s->data->n_rows / rows_trained(s, t));
}

/* Each family's best full-resource trials (per_family of them), best first, with their
 * out-of-fold predictions (recomputed for trials read back from the journal, so a resumed search
 * ensembles like an uninterrupted one), at most cap of them. */
static int ensemble_candidates(search *s, aml_trial **cand, int cap)
{
    int n = 0;
    aml_trial **all = aml_xmalloc(sizeof(aml_trial *) * (size_t)(s->n_trials + 1));
    for (int64_t i = 0; i < s->n_trials; i++)
        if (s->trials[i]->status == AML_TRIAL_OK && s->trials[i]->resource >= 1)
            all[n++] = s->trials[i];
    qsort_r(all, (size_t)n, sizeof *all, cmp_rank, s);
    int chosen = 0, per = per_family(s);
    for (int i = 0; i < n && chosen < cap; i++) {
        int same = 0;
        for (int j = 0; j < chosen; j++)
            same += all[j]->cfg.plugin == all[i]->cfg.plugin;
        if (same < per)
            all[chosen++] = all[i]; /* rank order is kept */
    }
    n = chosen;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        cand[kept] = all[i];
        if (!cand[kept]->oof) {
            aml_trial again = {.id = cand[kept]->id, .seed = cand[kept]->seed, .resource = 1};
            aml_config_copy(&again.cfg, &cand[kept]->cfg);
            aml_host_ctx hc;
            aml_host_ctx_init(&hc, s->threads);
            hc.verbose = 3;
            aml_trial_run(&again, &hc, s->data, &s->splits, s->metric);
            cand[kept]->oof = again.oof;
            cand[kept]->n_out = again.n_out;
            again.oof = NULL;
            aml_trial_clear(&again);
        }
        kept += cand[kept]->oof != NULL; /* a rerun can fail (deadline): leave it out */
    }
    free(all);
    return kept;
}

static void plan_single(final_plan *p, aml_trial *best)
{
    p->members = aml_xmalloc(sizeof(aml_trial *));
    p->counts = aml_xmalloc(sizeof(int));
    p->members[0] = best;
    p->counts[0] = 1;
    p->n = 1;
    p->ensemble_score = NAN;
}

/* One trial in the library ensemble selection draws from. */
typedef struct {
    aml_trial *trial;
    double *calibrated; /* classification: its out-of-fold probabilities tempered (owned) */
    double temperature; /* 1 for regression */
} candidate;

/* The out-of-fold predictions selection reads: the calibrated ones where there are. */
static void candidate_oofs(const candidate *cand, int n, const double **oof)
{
    for (int i = 0; i < n; i++)
        oof[i] = cand[i].calibrated ? cand[i].calibrated : cand[i].trial->oof;
}

/* Ensemble selection over the candidates; the ensemble is kept only when it beats the best trial
 * out of fold and its refit fits in the time left. */
static void choose_final(search *s, final_plan *p)
{
    memset(p, 0, sizeof *p);
    p->single_score = NAN;
    const int cap = per_family(s) * s->n_models; /* every family's share */
    aml_trial **trials = aml_xmalloc(sizeof(aml_trial *) * (size_t)cap);
    int n = s->spec->ensemble ? ensemble_candidates(s, trials, cap) : 0;
    if (n < 2 || cancelled()) {
        free(trials);
        plan_single(p, (aml_trial *)s->best);
        return;
    }
    const aml_dataset *d = s->data;
    const int n_out = trials[0]->n_out;
    /* Classification: each candidate's probabilities calibrated by its own temperature first, so
     * that selection by log loss weighs a forest's soft votes and a sharp model's alike. */
    const int calibrate = d->task == AML_TASK_CLASSIFICATION;
    candidate *cand = aml_xcalloc((size_t)n, sizeof *cand);
    for (int i = 0; i < n; i++) {
        cand[i] = (candidate){.trial = trials[i], .temperature = 1};
        if (!calibrate)
            continue;
        size_t len = (size_t)d->n_rows * (size_t)n_out;
        cand[i].calibrated = aml_xmalloc(sizeof(double) * len);
        memcpy(cand[i].calibrated, trials[i]->oof, sizeof(double) * len);
        cand[i].temperature = aml_temperature_fit(cand[i].calibrated, d->n_rows, d->n_classes, d->label, d->weight);
        aml_temperature_apply(cand[i].calibrated, d->n_rows, d->n_classes, cand[i].temperature);
    }
    free(trials);
    const double **oof = aml_xmalloc(sizeof(double *) * (size_t)n);
    int *counts = aml_xmalloc(sizeof(int) * (size_t)n), one = 1; /* the best candidate alone */
    aml_metric by = aml_ensemble_selection_metric(s->metric);
    double by_score, by_single, score;
    int members, fits, left_out = 0;
    /* An ensemble whose refit would overrun the budget loses its costliest member other than the
     * best trial from the library, and selection runs again: a smaller ensemble beats none. */
    for (;;) {
        candidate_oofs(cand, n, oof);
        by_score = aml_ensemble_select(by, oof, n, d->n_rows, n_out, d->n_classes, d->label, d->value, d->weight,
                                       40, counts);
        members = 0;
        double refit = 0, export = 0, costliest = -1;
        int drop = -1;
        for (int i = 0; i < n; i++)
            if (counts[i]) {
                members++;
                double r = refit_estimate(s, cand[i].trial);
                refit += r;
                export += export_estimate(s, cand[i].trial);
                if (i > 0 && r > costliest)
                    costliest = r, drop = i;
            }
        fits = s->hard_end <= 0 || aml_now() + 1.5 * refit + 0.3 < refit_end(s, export);
        if (fits || members < 2 || drop < 0 || n <= 2)
            break;
        free(cand[drop].calibrated);
        memmove(cand + drop, cand + drop + 1, sizeof *cand * (size_t)(n - drop - 1));
        n--;
        left_out++;
    }
    if (left_out && fits && members >= 2)
        fprintf(stderr, "automl: %d costly candidate%s left out of the ensemble to refit it in the time left\n",
                left_out, left_out == 1 ? "" : "s");
    by_single = aml_ensemble_score(by, oof, 1, d->n_rows, n_out, d->n_classes, d->label, d->value, d->weight, &one);
    /* what the leaderboard and the manifest show: the search's own metric */
    score = aml_ensemble_score(s->metric, oof, n, d->n_rows, n_out, d->n_classes, d->label, d->value, d->weight,
                               counts);
    p->single_score = aml_ensemble_score(s->metric, oof, 1, d->n_rows, n_out, d->n_classes, d->label, d->value,
                                         d->weight, &one);
    /* kept when it is better by the selection metric and, selected by another one, not worse by
     * the search's own beyond the noise of a share on these rows (one standard error) */
    double slack = 0;
    if (by != s->metric && p->single_score >= 0 && p->single_score <= 1)
        slack = sqrt(p->single_score * (1 - p->single_score) / (double)d->n_rows);
    int better = aml_metric_better(by, by_score, by_single) &&
                 !aml_metric_better(s->metric, p->single_score - slack, score);
    if (members < 2 || !better || !fits) {
        if (members >= 2 && !fits)
            fprintf(stderr, "automl: no time left to refit a %d-model ensemble; exporting the best trial\n", members);
        plan_single(p, (aml_trial *)s->best);
    } else {
        p->members = aml_xmalloc(sizeof(aml_trial *) * (size_t)members);
        p->counts = aml_xmalloc(sizeof(int) * (size_t)members);
        p->temperatures = calibrate ? aml_xmalloc(sizeof(double) * (size_t)members) : NULL;
        for (int i = 0; i < n; i++)
            if (counts[i]) {
                p->members[p->n] = cand[i].trial;
                if (calibrate)
                    p->temperatures[p->n] = cand[i].temperature;
                p->counts[p->n++] = counts[i];
            }
        p->ensemble_score = score;
    }
    for (int i = 0; i < n; i++)
        free(cand[i].calibrated);
    free(cand);
    free(oof);
    free(counts);
}

static void plan_free(final_plan *p)
{
    free(p->members);
    free(p->counts);
    free(p->temperatures);
}

/* Refits the plan's models on every row: one model, or an ensemble of them. */
static aml_status fit_final(aml_ctx *c, search *s, const final_plan *p, aml_fitted *out)
{
    aml_dataset *d = s->data;
    aml_task task = {.kind = d->task, .n_classes = d->n_classes, .n_features = d->n_features,
                     .categorical = d->categorical};
    aml_matrix X = {d->X, d->n_rows, d->n_features, d->n_features};
    aml_target y = {.label = d->label, .value = d->value, .weight = d->weight};
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, s->threads);
    hc.verbose = 2; /* plugins' warnings and errors only */
    /* The refit may run a little past the trial deadline but not past the budget's tolerance. */
    /* ... and, for a model that keeps what it fitted by its deadline (trees, rounds, epochs), not
     * much longer than planned: a trial cut short by its time cap is refitted about as large, so
     * the export's prediction costs what was planned too. */
    if (s->hard_end > 0) {
        double export = 0, refit = 0;
        for (int i = 0; i < p->n; i++) {
            export += export_estimate(s, p->members[i]);
            refit += refit_estimate(s, p->members[i]);
        }
        hc.deadline = fmin(refit_end(s, export), aml_now() + 2 * refit + 0.2);
    }
    if (p->n == 1) {
        task.seed = p->members[0]->seed;
        aml_status st = aml_fitted_fit_resource(c, &hc, &p->members[0]->cfg, &task, &X, &y, NULL, NULL,
                                                refit_resource(s, p->members[0]), out);
        if (st != AML_OK)
            aml_errprefix(c, "refit of trial %lld on all rows", (long long)p->members[0]->id);
        return st;
    }
    int total = 0;
    for (int i = 0; i < p->n; i++)
        total += p->counts[i];
    aml_fitted_ensemble_init(out, &task, p->n);
    if (p->temperatures) {
        out->temperatures = aml_xmalloc(sizeof(double) * (size_t)p->n);
        memcpy(out->temperatures, p->temperatures, sizeof(double) * (size_t)p->n);
    }
    for (int i = 0; i < p->n; i++) {
        task.seed = p->members[i]->seed;
        aml_status st = aml_fitted_fit_resource(c, &hc, &p->members[i]->cfg, &task, &X, &y, NULL, NULL,
                                                refit_resource(s, p->members[i]), &out->members[i]);
        if (st != AML_OK) {
            aml_errprefix(c, "refit of ensemble member trial %lld on all rows", (long long)p->members[i]->id);
            aml_fitted_free(out);
            return st;
        }
        aml_config_copy(&out->member_cfgs[i], &p->members[i]->cfg);
        out->weights[i] = (double)p->counts[i] / total;
    }
    return AML_OK;
}

static aml_status refit_and_export(aml_ctx *c, search *s, const final_plan *plan, aml_search_result *out)
{
    aml_trial *best = (aml_trial *)s->best;
    aml_dataset *d = s->data;
    aml_fitted model;
    aml_status st = AML_OK;
    /* A refit planned to overrun the budget is not started: the best trial's model from its first
     * split is published (trained on fewer rows, but validated as it is). */
    int use_fold = plan->n == 1 && s->hard_end > 0 && best->fold_model &&
                   aml_now() + 1.5 * refit_estimate(s, best) > refit_end(s, export_estimate(s, best));
    if (use_fold)
        fprintf(stderr, "automl: no time left to refit trial %lld on all %lld rows (about %.1f s)\n",
                (long long)best->id, (long long)d->n_rows, refit_estimate(s, best));
    else
        st = fit_final(c, s, plan, &model);
    if (st == AML_ERR_CANCELLED && best->fold_model) {
        /* Out of time all the same (a busy machine, an estimate too low). */
        fprintf(stderr, "automl: %s\n", aml_errmsg(c));
        use_fold = 1;
        st = AML_OK;
    } else if (st == AML_ERR_CANCELLED) {
        /* No fold model to fall back on (the best trial was read back from the journal): the best
         * trial alone, without a deadline. A run a little over budget beats one with nothing. */
        fprintf(stderr, "automl: %s; refitting the best trial alone\n", aml_errmsg(c));
        final_plan single = {0};
        plan_single(&single, best);
        double hard_end = s->hard_end;
        s->hard_end = 0;
        st = fit_final(c, s, &single, &model);
        s->hard_end = hard_end;
        plan_free(&single);
        plan = NULL;
    }
    free(out->refit);
    if (use_fold) {
        model = *best->fold_model;
        free(best->fold_model);
        best->fold_model = NULL;
        plan = NULL;
        out->refit = aml_xasprintf("fold model: trial %lld's model of split 1, fitted on %.0f of %lld rows (no time "
                                   "to refit on all rows)", (long long)best->id, rows_trained(s, best),
                                   (long long)d->n_rows);
        fprintf(stderr, "automl: publishing the %s\n", out->refit);
    } else {
        out->refit = aml_xstrdup("all rows");
    }
    if (st != AML_OK)
        return st;
    free(out->best_model);
    out->best_model = aml_xstrdup(model.n_members > 0 ? AML_ENSEMBLE_NAME : model.plugin->desc->name);
    if (model.n_members == 0)
        out->best_score = best->score;
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, s->threads);
    aml_matrix X = {d->X, d->n_rows, d->n_features, d->n_features};
    int n_out = model.n_outputs;
    double *pred = aml_xmalloc(sizeof(double) * (size_t)(d->n_rows * n_out));
    char *pred_path = aml_xasprintf("%s/refit_predictions.csv", out->run_dir);
    cJSON *metrics = cJSON_CreateObject(), *lineage = cJSON_CreateObject();
    if ((st = aml_fitted_predict(c, &hc, &model, &X, pred)) != AML_OK)
        goto done;
    if ((st = aml_predictions_write_csv(c, pred_path, d, d->n_rows, pred, 1)) != AML_OK)
        goto done;
    double train_score = aml_metric_score(s->metric, d->n_rows, d->n_classes, d->label, d->value,
                                          d->weight, pred);
    cJSON_AddNumberToObject(metrics, "cv_score", best->score);
    if (plan && plan->n > 1) {
        cJSON_AddNumberToObject(metrics, "ensemble_oof_score", plan->ensemble_score);
        cJSON_AddNumberToObject(metrics, "best_trial_oof_score", plan->single_score);
    }
    cJSON *folds = cJSON_CreateArray();
    for (int k = 0; k < best->n_folds; k++)
        cJSON_AddItemToArray(folds, cJSON_CreateNumber(best->fold_scores[k]));
    cJSON_AddItemToObject(metrics, "fold_scores", folds);
    cJSON_AddStringToObject(metrics, "resampling",
                            s->splits.folds.kind == AML_RESAMPLE_HOLDOUT ? "holdout" : "kfold");
    cJSON_AddNumberToObject(metrics, "train_score", train_score);
    cJSON_AddNumberToObject(metrics, "trials", (double)s->n_trials);
    if (s->spec->spec_path)
        cJSON_AddStringToObject(lineage, "spec_path", s->spec->spec_path);
    cJSON_AddStringToObject(lineage, "spec_hash", s->spec->spec_hash);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->spec->seed);
    cJSON_AddStringToObject(lineage, "seed", seed);
    cJSON_AddStringToObject(lineage, "run_dir", out->run_dir);
    cJSON_AddNumberToObject(lineage, "trial", (double)best->id);
    cJSON_AddStringToObject(lineage, "refit", out->refit);
    if (plan && plan->n > 1) {
        cJSON *ids = cJSON_AddArrayToObject(lineage, "ensemble_trials");
        for (int i = 0; i < plan->n; i++)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)plan->members[i]->id));
    }
    aml_export_request req = {.repo = s->spec->export_to ? s->spec->export_to : "models",
                              .name = s->spec->export_name,
                              .exporter = s->spec->n_exporters ? s->spec->exporters[0] : "native",
                              .model = &model,
                              .cfg = &best->cfg,
                              .data = d,
                              .metric = aml_metric_name(s->metric),
                              .metrics = metrics,
                              .lineage = lineage};
    char *reference = aml_reference_json(d, pred, n_out);
    req.reference_json = reference;
    st = aml_artifact_export(c, s->reg, &req, &out->artifact_dir);
    free(reference);
done:
    cJSON_Delete(metrics);
    cJSON_Delete(lineage);
    free(pred);
    free(pred_path);
    aml_fitted_free(&model);
    return st;
}

static aml_status write_report(aml_ctx *c, search *s, aml_search_result *r, aml_trial **ranked,
                               const final_plan *plan, const aml_leaderboard_ensemble *ens)
{
    char resampling[48];
    aml_resampling_name(&s->splits.folds, resampling, sizeof resampling);
    char **names = aml_xcalloc((size_t)plan->n + 1, sizeof(char *));
    double *weights = aml_xcalloc((size_t)plan->n + 1, sizeof(double));
    int total = 0;
    for (int i = 0; i < plan->n; i++)
        total += plan->counts[i];
    for (int i = 0; i < plan->n; i++) {
        names[i] = aml_xasprintf("%s#%lld", plan->members[i]->cfg.plugin->desc->name, (long long)plan->members[i]->id);
        weights[i] = (double)plan->counts[i] / total;
    }
    aml_report_input in = {.data = s->data,
                           .metric = s->metric,
                           .ranked = ranked,
                           .n_trials = s->n_trials,
                           .resampling = resampling,
                           .strategy = s->spec->strategy ? s->spec->strategy : "auto",
                           .budget_seconds = s->spec->budget_seconds,
                           .seconds = aml_now() - s->t0,
                           .ensemble = ens,
                           .ensemble_members = (const char *const *)names,
                           .ensemble_weights = weights,
                           .n_members = plan->n,
                           .artifact = r->artifact_dir};
    char *path = aml_xasprintf("%s/report.html", r->run_dir);
    aml_status st = aml_report_write(c, path, &in);
    free(path);
    for (int i = 0; i < plan->n; i++)
        free(names[i]);
    free(names);
    free(weights);
    return st;
}

static aml_status write_summary(aml_ctx *c, search *s, aml_search_result *out, int print_json)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run_dir", out->run_dir);
    cJSON_AddStringToObject(o, "artifact", out->artifact_dir ? out->artifact_dir : "");
    cJSON_AddStringToObject(o, "dataset", s->data->path);
    cJSON_AddStringToObject(o, "fingerprint", s->data->fingerprint);
    cJSON_AddStringToObject(o, "task", aml_dataset_task_name(s->data->task));
    cJSON_AddStringToObject(o, "metric", aml_metric_name(s->metric));
    cJSON_AddStringToObject(o, "best_model", out->best_model ? out->best_model : "");
    cJSON_AddNumberToObject(o, "best_score", out->best_score);
    cJSON_AddNumberToObject(o, "best_trial", s->best ? (double)s->best->id : -1);
    cJSON_AddNumberToObject(o, "trials", (double)out->n_trials);
    cJSON_AddNumberToObject(o, "resumed", (double)out->n_resumed);
    cJSON_AddNumberToObject(o, "failed", (double)out->n_failed);
    cJSON_AddNumberToObject(o, "seconds", out->seconds);
    cJSON_AddStringToObject(o, "refit", out->refit ? out->refit : "");
    cJSON_AddNumberToObject(o, "threads", s->threads);
    cJSON_AddNumberToObject(o, "parallel_trials", s->workers);
    char *text = cJSON_Print(o);
    char *path = aml_xasprintf("%s/summary.json", out->run_dir);
    aml_status st = aml_write_file_atomic(c, path, text, strlen(text));
    if (st == AML_OK && print_json) { /* the caller prints it: stdout then holds this document alone */
        out->summary_json = text;
        text = NULL;
    }
    free(path);
    free(text);
    cJSON_Delete(o);
    return st;
}

aml_status aml_search_run(aml_ctx *c, aml_search_spec *spec, aml_registry *reg, double t0,
                          aml_search_result *out)
{
    search s = {.spec = spec, .reg = reg, .t0 = t0, .trial_limit = INT64_MAX};
    aml_search_result r = {0};
    aml_trial *resumed = NULL;
    int64_t n_resumed = 0;
    aml_status st;
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.finished, NULL);
    __atomic_store_n(&cancel_flag, 0, __ATOMIC_RELAXED);
    if (spec->budget_seconds > 0)
        s.hard_end = t0 + spec->budget_seconds;
    if (spec->budget_trials > 0)
        s.trial_limit = spec->budget_trials;
    if ((st = aml_hdf5_read(c, spec->data_path, &s.data)) != AML_OK)
        goto done;
    if ((st = drop_columns(c, s.data, spec->data_drop, spec->n_data_drop)) != AML_OK)
        goto done;
    s.has_missing = aml_dataset_missing(s.data, NULL) > 0;
    s.has_categorical = aml_dataset_n_categorical(s.data) > 0;
    if (spec->task && spec->task != (int)s.data->task) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: task: the spec asks for %s, but the data's target is for %s",
                      spec->data_path, aml_dataset_task_name(spec->task),
                      aml_dataset_task_name(s.data->task));
        goto done;
    }
    if ((st = resolve_metric(c, &s)) != AML_OK || (st = resolve_models(c, &s)) != AML_OK)
        goto done;
    int strategy = aml_strategy_parse(spec->strategy ? spec->strategy : "auto");
    if (strategy < 0) {
        st = aml_fail(c, AML_ERR_INPUT, "strategy: expected auto, random, tpe or halving, got '%s'", spec->strategy);
        goto done;
    }
    s.n_pipelines = aml_xcalloc((size_t)s.n_models + 1, sizeof(int));
    s.family_best = aml_xcalloc((size_t)s.n_models + 1, sizeof *s.family_best);
    for (int m = 0; m < s.n_models; m++) {
        const aml_features_spec *f = aml_spec_features_for(spec, s.models[m]->desc->name);
        s.n_pipelines[m] = auto_only(f) ? aml_pipeline_auto_variants(s.models[m], s.has_missing)
                                        : f->n_choices;
    }
    aml_space space = {.models = s.models, .specs = s.model_specs, .n_pipelines = s.n_pipelines, .n_models = s.n_models};
    s.sched = aml_scheduler_new((aml_strategy)strategy, spec->seed, &space, s.metric, s.hard_end <= 0);
    if (spec->n_warm > 0) { /* the user's own configurations come first */
        aml_config *cfgs = aml_xcalloc((size_t)spec->n_warm, sizeof(aml_config));
        int n = 0;
        for (int i = 0; i < spec->n_warm && st == AML_OK; i++) {
            int m = 0;
            while (m < s.n_models && strcmp(s.models[m]->desc->name, spec->warm[i].name) != 0)
                m++;
            if (m == s.n_models)
                st = aml_fail(c, AML_ERR_INPUT, "%s: warm_start[%d]: model '%s' is not among the models searched",
                              spec->spec_path ? spec->spec_path : "spec", i + 1, spec->warm[i].name);
            else
                aml_config_base(&cfgs[n++], s.models[m], &spec->warm[i]);
        }
        if (st == AML_OK)
            aml_scheduler_prepend(s.sched, cfgs, n);
        for (int i = 0; i < n; i++)
            aml_config_free(&cfgs[i]);
        free(cfgs);
        if (st != AML_OK)
            goto done;
    }
    aml_folds folds;
    if ((st = aml_folds_make_repeated(c, spec->resampling, spec->folds, spec->repeats, spec->holdout_fraction,
                                      spec->seed, s.data->n_rows, s.data->label, s.data->n_classes, &folds)) != AML_OK)
        goto done;
    aml_splits_make(c, s.data, &folds, &s.splits);

    s.threads = spec->threads > 0 ? spec->threads : default_threads();
    if (spec->parallel_trials > 0)
        s.workers = spec->parallel_trials;
    else /* small data: one trial per core; large data: one trial using every core */
        s.workers = (double)s.data->n_rows * (double)s.data->n_features <= 2e6 ? s.threads : 1;
    if (s.workers > s.threads)
        s.workers = s.threads;
    s.threads_per_trial = s.threads / s.workers;
    s.tty = isatty(2);

    r.run_dir = aml_xstrdup(spec->out_dir ? spec->out_dir : NULL);
    if (!r.run_dir)
        r.run_dir = aml_search_default_run_dir();
    if ((st = aml_mkdirs(c, r.run_dir)) != AML_OK)
        goto done;
    char *journal_path = aml_xasprintf("%s/trials.jsonl", r.run_dir);
    st = aml_journal_open(c, journal_path, spec->resume, reg, s.data->fingerprint, &resumed,
                          &n_resumed, &s.journal);
    free(journal_path);
    if (st != AML_OK)
        goto done;
    s.done_ids = aml_xmalloc(sizeof(int64_t) * (size_t)(n_resumed + 1));
    for (int64_t i = 0; i < n_resumed; i++) {
        aml_trial *t = aml_xmalloc(sizeof *t);
        *t = resumed[i];
        set_steps(&s, &t->cfg);
        s.done_ids[s.n_done++] = t->id;
        add_trial(&s, t);
        aml_scheduler_done(s.sched, t);
    }
    free(resumed);
    qsort(s.done_ids, (size_t)s.n_done, sizeof(int64_t), cmp_i64);
    r.n_resumed = n_resumed;

    char classes[32] = "", resampling[48], resuming[64] = "";
    if (s.data->task == AML_TASK_CLASSIFICATION)
        snprintf(classes, sizeof classes, " (%d classes)", s.data->n_classes);
    aml_resampling_name(&folds, resampling, sizeof resampling);
    if (n_resumed)
        snprintf(resuming, sizeof resuming, ", resuming %lld finished trials", (long long)n_resumed);
    /* With --json, stdout is the summary's alone: the human lines go to stderr. */
    FILE *human = spec->json ? stderr : stdout;
    fprintf(human, "search: %s: %lld rows x %lld features, %s%s, metric %s, %s; %d parallel trial%s x %d thread%s%s\n",
            s.data->path, (long long)s.data->n_rows, (long long)s.data->n_features,
            aml_dataset_task_name(s.data->task), classes, aml_metric_name(s.metric), resampling,
            s.workers, s.workers == 1 ? "" : "s", s.threads_per_trial, s.threads_per_trial == 1 ? "" : "s",
            resuming);
    fflush(human);

    /* From here on SIGINT and the budget reach on_trial too, however long it runs. */
    aml_spec_set_interrupt(spec, &cancel_flag, s.hard_end);
    pthread_t *tids = aml_xcalloc((size_t)s.workers, sizeof(pthread_t));
    int started = 0;
    for (int w = 0; w < s.workers; w++) {
        int err = pthread_create(&tids[started], NULL, worker, &s);
        if (err == 0) {
            started++;
            continue;
        }
        /* The system's thread limit: run with the workers started, if any. */
        fprintf(stderr, "automl: warning: could start only %d of %d parallel trials: %s\n", started, s.workers,
                strerror(err));
        break;
    }
    for (int w = 0; w < started; w++)
        pthread_join(tids[w], NULL);
    free(tids);
    aml_spec_set_interrupt(spec, NULL, 0);
    if (started == 0) {
        st = aml_fail(c, AML_ERR_RUNTIME, "cannot start a thread for the search");
        goto done;
    }
    print_progress(&s, 1);
    if (cancelled())
        fprintf(stderr, "automl: interrupted: exporting the best trial so far\n");
    if (s.exhausted)
        fprintf(stderr, "automl: every configuration of the search space has been tried; stopping early\n");
    if (s.error != AML_OK) {
        st = aml_fail(c, s.error, "%s", s.err.msg);
        goto done;
    }

    r.n_trials = s.n_new;
    r.n_failed = s.n_failed;
    if (!s.best) /* a budget too small for any full-resource trial: the best of the largest rung */
        s.best = s.rung_best;
    if (!s.best) {
        const char *why = s.n_trials ? s.trials[0]->error : NULL;
        st = aml_fail(c, AML_ERR_RUNTIME, "no trial succeeded (%lld finished%s%s)", (long long)s.n_trials,
                      why ? "; first error: " : "", why ? why : "");
        goto done;
    }
    final_plan plan;
    choose_final(&s, &plan);
    aml_leaderboard_ensemble ens = {.score = NAN};
    char members[512] = "";
    if (plan.n > 1) {
        size_t used = 0;
        for (int i = 0; i < plan.n && used < sizeof members; i++)
            used += (size_t)snprintf(members + used, sizeof members - used, "%s%s#%lld x%d", i ? " + " : "",
                                     plan.members[i]->cfg.plugin->desc->name, (long long)plan.members[i]->id,
                                     plan.counts[i]);
        ens = (aml_leaderboard_ensemble){.score = plan.ensemble_score, .best_single = plan.single_score,
                                         .members = members};
    }
    aml_trial **ranked = aml_xmalloc(sizeof(aml_trial *) * (size_t)(s.n_trials + 1));
    memcpy(ranked, s.trials, sizeof(aml_trial *) * (size_t)s.n_trials);
    aml_leaderboard_sort(ranked, s.n_trials, s.metric);
    char *csv = aml_xasprintf("%s/leaderboard.csv", r.run_dir);
    st = aml_leaderboard_write_csv(c, csv, ranked, s.n_trials, s.metric, &ens);
    free(csv);
    if (st == AML_OK)
        aml_leaderboard_print(human, ranked, s.n_trials, s.metric, 10, &ens);
    if (st == AML_OK) {
        r.best_model = aml_xstrdup(plan.n > 1 ? AML_ENSEMBLE_NAME : s.best->cfg.plugin->desc->name);
        r.best_score = plan.n > 1 ? plan.ensemble_score : s.best->score;
        st = refit_and_export(c, &s, &plan, &r);
    }
    /* The model is published; the run directory's report, artifact.txt and summary.json are
     * promised too, so failing to write one fails the command (the message says what was
     * published, and --resume writes them again). */
    if (st == AML_OK)
        st = write_report(c, &s, &r, ranked, &plan, &ens);
    free(ranked);
    plan_free(&plan);
    if (st == AML_OK) {
        char *artifact_txt = aml_xasprintf("%s/artifact.txt", r.run_dir);
        char *line = aml_xasprintf("%s\n", r.artifact_dir);
        st = aml_write_file_atomic(c, artifact_txt, line, strlen(line));
        free(artifact_txt);
        free(line);
    }
    if (st == AML_OK) {
        r.seconds = aml_now() - t0;
        st = write_summary(c, &s, &r, spec->json);
    }
    if (st != AML_OK && r.artifact_dir) {
        char *why = aml_xstrdup(aml_errmsg(c));
        st = aml_fail(c, st, "%s (the model was published as %s)", why, r.artifact_dir);
        free(why);
    }
    if (st != AML_OK)
        goto done;
    *out = r;
    memset(&r, 0, sizeof r);
done:
    aml_search_result_free(&r);
    for (int64_t i = 0; i < s.n_trials; i++) {
        aml_trial_clear(s.trials[i]);
        free(s.trials[i]);
    }
    free(s.trials);
    free(s.done_ids);
    aml_scheduler_free(s.sched);
    pthread_cond_destroy(&s.finished);
    free(s.models);
    free(s.model_specs);
    free(s.n_pipelines);
    free(s.family_best);
    aml_journal_close(&s.journal);
    aml_splits_free(&s.splits);
    aml_dataset_free(s.data);
    pthread_mutex_destroy(&s.lock);
    return st;
}

void aml_search_result_free(aml_search_result *r)
{
    if (!r)
        return;
    free(r->run_dir);
    free(r->artifact_dir);
    free(r->best_model);
    free(r->summary_json);
    free(r->refit);
    memset(r, 0, sizeof *r);
}
