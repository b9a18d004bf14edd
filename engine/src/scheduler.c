/* The scheduler behind the search loop. It hands out trial ids in order: first the warm start
 * (the portfolio for `auto`, each family's defaults otherwise), then draws. Random and TPE draws
 * never repeat a configuration. TPE draws use only trials at least LAG ids older, waiting for them
 * if needed, so the sequence does not depend on which worker finishes first.
 *
 * Halving has three rungs: 1/9 of the resource, 1/3, and all of it. Under a wall-clock budget it
 * is asynchronous (ASHA, Li et al. 2020): whenever a worker is free, the best not yet promoted
 * configuration in the top third of a rung's finished trials moves up one rung (the highest rung
 * first); with none to promote, a new configuration starts at 1/9. No worker ever waits for a
 * rung to fill. With a trial budget and no clock (the deterministic mode) the brackets are
 * synchronous instead — 9 configurations at 1/9, the best 3 at 1/3, the best at the full
 * resource, each rung promoted when all of it is done — because which trials an asynchronous
 * rung holds depends on which worker finished first. */
#include "scheduler.h"

#include "portfolio.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LAG 4
#define MAX_DRAWS 200

struct aml_scheduler {
    aml_strategy strategy;
    uint64_t seed;
    aml_space space;
    aml_metric metric;
    int timeless;
    aml_config *warm;          /* warm-start configurations */
    int n_warm;
    const aml_trial **by_id;   /* finished trials by id (NULL: not finished) */
    int64_t by_id_cap;
    int64_t next_id;
    uint64_t *seen;            /* hashes of drawn configurations (open addressing) */
    int64_t n_seen, seen_cap;
    /* halving */
    int in_bracket, rung;
    int64_t rung_start;        /* first id of the current rung */
    int rung_n, rung_emitted;
    aml_config *rung_cfgs;
    /* asynchronous halving: by id, 1 when that trial's configuration was promoted a rung */
    uint8_t *promoted;
    int64_t promoted_cap;
};

int aml_strategy_parse(const char *name)
{
    static const char *names[] = {"auto", "random", "tpe", "halving"};
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, names[i]))
            return i;
    return -1;
}

static uint64_t config_hash(const aml_config *cfg)
{
    cJSON *p = aml_config_to_json(cfg);
    char *text = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over "model params" */
    for (const char *k = cfg->plugin->desc->name; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    for (const char *k = text; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    if (cfg->pipeline > 0) /* the same parameters with another pipeline are another configuration */
        h = (h ^ (uint64_t)cfg->pipeline) * 1099511628211ULL;
    free(text);
    return h ? h : 1;
}

/* Adds h to the set of drawn configurations; 0 when it was there already. */
static int seen_add(aml_scheduler *s, uint64_t h)
{
    if (2 * (s->n_seen + 1) > s->seen_cap) {
        int64_t old_cap = s->seen_cap;
        uint64_t *old = s->seen;
        s->seen_cap = old_cap ? 2 * old_cap : 1024;
        s->seen = aml_xcalloc((size_t)s->seen_cap, sizeof(uint64_t));
        s->n_seen = 0;
        for (int64_t i = 0; i < old_cap; i++)
            if (old[i])
                seen_add(s, old[i]);
        free(old);
    }
    int64_t i = (int64_t)(h % (uint64_t)s->seen_cap);
    while (s->seen[i]) {
        if (s->seen[i] == h)
            return 0;
        i = (i + 1) % s->seen_cap;
    }
    s->seen[i] = h;
    s->n_seen++;
    return 1;
}

aml_scheduler *aml_scheduler_new(aml_strategy strategy, uint64_t seed, const aml_space *sp, aml_metric metric,
                                 int timeless)
{
    aml_scheduler *s = aml_xcalloc(1, sizeof *s);
    s->timeless = timeless;
    s->strategy = strategy;
    s->seed = seed;
    s->space = *sp;
    s->metric = metric;
    if (strategy == AML_STRATEGY_AUTO) {
        s->n_warm = aml_portfolio(sp, &s->warm);
    } else {
        s->warm = aml_xcalloc((size_t)sp->n_models, sizeof(aml_config));
        for (int m = 0; m < sp->n_models; m++)
            aml_config_base(&s->warm[s->n_warm++], sp->models[m], sp->specs[m]);
    }
    return s;
}

void aml_scheduler_prepend(aml_scheduler *s, const aml_config *cfgs, int n)
{
    aml_config *warm = aml_xcalloc((size_t)(s->n_warm + n + 1), sizeof(aml_config));
    for (int i = 0; i < n; i++)
        aml_config_copy(&warm[i], &cfgs[i]);
    memcpy(warm + n, s->warm, sizeof(aml_config) * (size_t)s->n_warm);
    free(s->warm);
    s->warm = warm;
    s->n_warm += n;
}

void aml_scheduler_free(aml_scheduler *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_warm; i++)
        aml_config_free(&s->warm[i]);
    for (int i = 0; s->rung_cfgs && i < s->rung_n; i++)
        aml_config_free(&s->rung_cfgs[i]);
    free(s->rung_cfgs);
    free(s->promoted);
    free(s->warm);
    free(s->by_id);
    free(s->seen);
    free(s);
}

void aml_scheduler_done(aml_scheduler *s, const aml_trial *t)
{
    if (t->id >= s->by_id_cap) {
        int64_t cap = s->by_id_cap ? s->by_id_cap : 256;
        while (cap <= t->id)
            cap *= 2;
        s->by_id = aml_xrealloc(s->by_id, sizeof(void *) * (size_t)cap);
        memset(s->by_id + s->by_id_cap, 0, sizeof(void *) * (size_t)(cap - s->by_id_cap));
        s->by_id_cap = cap;
    }
    s->by_id[t->id] = t;
}

static const aml_trial *finished(const aml_scheduler *s, int64_t id)
{
    return id < s->by_id_cap ? s->by_id[id] : NULL;
}

/* 1 when every id in [from, to) has finished. */
static int all_finished(const aml_scheduler *s, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i++)
        if (!finished(s, i))
            return 0;
    return 1;
}

/* Observations for TPE: the finished trials with id < before. With halving, those at the full
 * resource once there are enough of them, else all (low-rung scores are a noisier signal). */
static int64_t observations(const aml_scheduler *s, int64_t before, aml_observation *obs)
{
    int64_t n = 0, full = 0;
    for (int64_t i = 0; i < before; i++) {
        const aml_trial *t = finished(s, i);
        full += t && t->resource >= 1;
    }
    int only_full = full >= 8;
    for (int64_t i = 0; i < before; i++) {
        const aml_trial *t = finished(s, i);
        if (!t || (only_full && t->resource < 1))
            continue;
        obs[n++] = (aml_observation){.cfg = &t->cfg,
                                     .score = t->status == AML_TRIAL_OK ? t->score : NAN,
                                     .seconds = s->timeless ? 1.0 : t->seconds};
    }
    return n;
}

/* A configuration not drawn before, for trial id; history = trials with id < before (TPE). */
static int draw_new(aml_scheduler *s, int64_t id, int use_tpe, int64_t before, aml_config *out)
{
    aml_rng rng;
    aml_rng_seed(&rng, aml_mix64(s->seed, (uint64_t)id));
    aml_observation *obs = NULL;
    int64_t n_obs = 0;
    if (use_tpe) {
        obs = aml_xmalloc(sizeof(aml_observation) * (size_t)(before + 1));
        n_obs = observations(s, before, obs);
    }
    int ok = 0;
    /* TPE may keep proposing the same point (good points at a range's bound, a small integer or
     * choice space): after half the attempts, uniform draws take over */
    for (int attempt = 0; attempt < MAX_DRAWS && !ok; attempt++) {
        if (use_tpe && attempt < MAX_DRAWS / 2)
            aml_sample_tpe(&s->space, s->metric, obs, n_obs, &rng, out);
        else
            aml_sample_random(&s->space, &rng, out);
        ok = seen_add(s, config_hash(out));
        if (!ok)
            aml_config_free(out);
    }
    free(obs);
    return ok;
}

static double rung_resource(int rung)
{
    return pow(AML_HALVING_ETA, rung - (AML_HALVING_RUNGS - 1));
}

typedef struct scored {
    int64_t id;
    double value;
} scored;

static int cmp_scored(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->value != b->value)
        return a->value > b->value ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* Moves the bracket on when its rung is complete: promote the best 1/eta, or end the bracket.
 * Returns 0 when the rung is still running. */
static int advance_bracket(aml_scheduler *s)
{
    if (!all_finished(s, s->rung_start, s->rung_start + s->rung_n))
        return 0;
    int higher = aml_metric_higher_is_better(s->metric);
    scored *sc = aml_xmalloc(sizeof(scored) * (size_t)s->rung_n);
    int n_ok = 0;
    for (int i = 0; i < s->rung_n; i++) {
        const aml_trial *t = finished(s, s->rung_start + i);
        if (t->status == AML_TRIAL_OK)
            sc[n_ok++] = (scored){t->id, higher ? t->score : -t->score};
    }
    qsort(sc, (size_t)n_ok, sizeof *sc, cmp_scored);
    int keep = (int)ceil((double)s->rung_n / AML_HALVING_ETA);
    if (keep > n_ok)
        keep = n_ok;
    aml_config *next = aml_xcalloc((size_t)(keep + 1), sizeof(aml_config));
    for (int i = 0; i < keep; i++)
        aml_config_copy(&next[i], &finished(s, sc[i].id)->cfg);
    free(sc);
    for (int i = 0; i < s->rung_n; i++)
        aml_config_free(&s->rung_cfgs[i]);
    free(s->rung_cfgs);
    s->rung_cfgs = next;
    s->rung_n = keep;
    s->rung_emitted = 0;
    s->rung_start = s->next_id;
    s->rung++;
    if (s->rung >= AML_HALVING_RUNGS || keep == 0)
        s->in_bracket = 0;
    return 1;
}

static aml_sched_state next_halving(aml_scheduler *s, aml_job *job)
{
    for (;;) {
        if (!s->in_bracket) {
            /* A new bracket draws from everything finished so far: wait for all of it. */
            if (!all_finished(s, 0, s->next_id))
                return AML_SCHED_WAIT;
            for (int i = 0; s->rung_cfgs && i < s->rung_n; i++)
                aml_config_free(&s->rung_cfgs[i]);
            free(s->rung_cfgs);
            int n0 = (int)pow(AML_HALVING_ETA, AML_HALVING_RUNGS - 1);
            s->rung_cfgs = aml_xcalloc((size_t)n0, sizeof(aml_config));
            int use_tpe = s->strategy == AML_STRATEGY_AUTO;
            int drawn = 0;
            for (int i = 0; i < n0; i++)
                if (draw_new(s, s->next_id + i, use_tpe, s->next_id, &s->rung_cfgs[drawn]))
                    drawn++;
            if (drawn == 0)
                return AML_SCHED_DONE;
            s->rung_n = drawn;
            s->rung_emitted = 0;
            s->rung = 0;
            s->rung_start = s->next_id;
            s->in_bracket = 1;
        }
        if (s->rung_emitted < s->rung_n) {
            job->id = s->next_id++;
            aml_config_copy(&job->cfg, &s->rung_cfgs[s->rung_emitted++]);
            job->resource = rung_resource(s->rung);
            return AML_SCHED_JOB;
        }
        if (!advance_bracket(s))
            return AML_SCHED_WAIT;
    }
}

/* The rung a finished trial ran at (-1: the warm start at the full resource, not in a rung). */
static int rung_of(const aml_trial *t, int64_t id, int64_t n_warm)
{
    if (id < n_warm)
        return -1;
    for (int k = 0; k < AML_HALVING_RUNGS; k++)
        if (fabs(t->resource - rung_resource(k)) < 1e-9)
            return k;
    return -1;
}

static int was_promoted(const aml_scheduler *s, int64_t id) { return id < s->promoted_cap && s->promoted[id]; }

static void mark_promoted(aml_scheduler *s, int64_t id)
{
    if (id >= s->promoted_cap) {
        int64_t cap = s->promoted_cap ? s->promoted_cap : 256;
        while (cap <= id)
            cap *= 2;
        s->promoted = aml_xrealloc(s->promoted, (size_t)cap);
        memset(s->promoted + s->promoted_cap, 0, (size_t)(cap - s->promoted_cap));
        s->promoted_cap = cap;
    }
    s->promoted[id] = 1;
}

/* ASHA: a promotion from the highest rung that has one, else a new configuration at rung 0. */
static aml_sched_state next_async_halving(aml_scheduler *s, aml_job *job)
{
    int higher = aml_metric_higher_is_better(s->metric);
    scored *sc = aml_xmalloc(sizeof(scored) * (size_t)(s->next_id + 1));
    for (int k = AML_HALVING_RUNGS - 2; k >= 0; k--) {
        int64_t n = 0;
        for (int64_t id = s->n_warm; id < s->next_id; id++) {
            const aml_trial *t = finished(s, id);
            if (t && rung_of(t, id, s->n_warm) == k)
                sc[n++] = (scored){id, t->status == AML_TRIAL_OK ? (higher ? t->score : -t->score) : -INFINITY};
        }
        qsort(sc, (size_t)n, sizeof *sc, cmp_scored);
        int64_t top = n / AML_HALVING_ETA;
        for (int64_t i = 0; i < top; i++) {
            if (was_promoted(s, sc[i].id) || sc[i].value == -INFINITY)
                continue;
            mark_promoted(s, sc[i].id);
            job->id = s->next_id++;
            aml_config_copy(&job->cfg, &finished(s, sc[i].id)->cfg);
            job->resource = rung_resource(k + 1);
            free(sc);
            return AML_SCHED_JOB;
        }
    }
    free(sc);
    if (!draw_new(s, s->next_id, s->strategy == AML_STRATEGY_AUTO, s->next_id, &job->cfg))
        return AML_SCHED_DONE;
    job->id = s->next_id++;
    job->resource = rung_resource(0);
    return AML_SCHED_JOB;
}

aml_sched_state aml_scheduler_next(aml_scheduler *s, aml_job *job)
{
    memset(job, 0, sizeof *job);
    if (s->next_id < s->n_warm) {
        job->id = s->next_id;
        aml_config_copy(&job->cfg, &s->warm[s->next_id]);
        seen_add(s, config_hash(&job->cfg));
        job->resource = 1;
        s->next_id++;
        return AML_SCHED_JOB;
    }
    switch (s->strategy) {
    case AML_STRATEGY_RANDOM:
    case AML_STRATEGY_TPE: {
        int use_tpe = s->strategy == AML_STRATEGY_TPE;
        int64_t before = s->next_id - LAG;
        if (use_tpe && before > 0 && !all_finished(s, 0, before))
            return AML_SCHED_WAIT;
        if (!draw_new(s, s->next_id, use_tpe, before > 0 ? before : 0, &job->cfg))
            return AML_SCHED_DONE;
        job->id = s->next_id++;
        job->resource = 1;
        return AML_SCHED_JOB;
    }
    default:
        return s->timeless ? next_halving(s, job) : next_async_halving(s, job);
    }
}
