/* The tree-structured Parzen estimator over automl's conditional space: the model family is a
 * categorical choice, and each family's parameters are modelled independently (one dimension at a
 * time, as in Bergstra et al. 2011), with log-scale parameters in log space and a uniform prior
 * component so that every part of the range keeps some probability. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_STARTUP 8
#define N_CANDIDATES 24

static int n_pipelines(const aml_space *sp, int m) { return sp->n_pipelines ? sp->n_pipelines[m] : 1; }

void aml_sample_random(const aml_space *sp, aml_rng *rng, aml_config *out)
{
    int m = (int)aml_rng_below(rng, (uint64_t)sp->n_models);
    aml_config_sample(out, sp->models[m], sp->specs[m], rng);
    if (n_pipelines(sp, m) > 1) /* no draw otherwise: runs without choices keep their sequence */
        out->pipeline = (int)aml_rng_below(rng, (uint64_t)n_pipelines(sp, m));
}

/* The range TPE works in for parameter i of a family: the spec's, else the plugin's. */
typedef struct dim {
    int kind;       /* 0 skip, 1 numeric, 2 categorical */
    double lo, hi;  /* numeric: in model space (log applied when log) */
    int log, integer;
    int n_choices;  /* categorical: choices of the spec, else of the plugin */
    char **choices; /* the spec's choice texts, or NULL (then the plugin's, by index) */
} dim;

static dim dim_of(const aml_param_def *d, const aml_model_spec *ms)
{
    dim r = {0};
    const aml_param_range *pr = NULL;
    for (int i = 0; ms && i < ms->n_ranges; i++)
        if (!strcmp(ms->ranges[i].name, d->name))
            pr = &ms->ranges[i];
    if (pr && pr->kind == AML_RANGE_FIXED)
        return r;
    if (pr && pr->kind == AML_RANGE_CHOICE) {
        r.kind = 2;
        r.n_choices = pr->n_choices;
        r.choices = pr->choices;
        return r;
    }
    if (d->type == AML_PARAM_STRING)
        return r;
    if (d->type == AML_PARAM_CHOICE || d->type == AML_PARAM_BOOL) {
        r.kind = 2;
        r.n_choices = d->type == AML_PARAM_BOOL ? 2 : d->n_choices;
        return r;
    }
    r.kind = 1;
    r.lo = pr && pr->kind != AML_RANGE_DEFAULT ? pr->lo : d->lo;
    r.hi = pr && pr->kind != AML_RANGE_DEFAULT ? pr->hi : d->hi;
    r.log = (pr && (pr->kind == AML_RANGE_LOGUNIFORM || pr->log)) || (!pr && d->log_scale);
    r.integer = d->type == AML_PARAM_INT || (pr && pr->kind == AML_RANGE_INT);
    if (r.log && r.lo <= 0)
        r.log = 0;
    if (!(r.hi > r.lo))
        r.kind = 0;
    return r;
}

static double to_t(const dim *d, double x) { return d->log ? log(x) : x; }
static double from_t(const dim *d, double t)
{
    double x = d->log ? exp(t) : t;
    if (d->integer)
        x = floor(x + 0.5);
    return fmin(fmax(x, d->lo), d->hi);
}

/* Adaptive Parzen bandwidths as in Hyperopt: each point's sigma is the larger distance to its
 * neighbours (the range's ends count as neighbours), clipped to [width / min(100, n + 1), width].
 * pts is sorted in place (its order carries no meaning). */
static void bandwidths(double *pts, int n, double a, double b, double *sigma)
{
    for (int i = 1; i < n; i++) /* insertion sort: n <= a few hundred */
        for (int j = i; j > 0 && pts[j] < pts[j - 1]; j--) {
            double t = pts[j];
            pts[j] = pts[j - 1];
            pts[j - 1] = t;
        }
    double width = b - a, lo = width / fmin(100.0, n + 1.0);
    for (int i = 0; i < n; i++) {
        double left = pts[i] - (i > 0 ? pts[i - 1] : a), right = (i + 1 < n ? pts[i + 1] : b) - pts[i];
        sigma[i] = fmin(fmax(fmax(left, right), lo), width);
    }
}

/* log density at t of the mixture of Gaussians at pts (with sigmas) plus a uniform prior
 * component over [a, b], each of weight 1/(n+1). */
static double log_parzen(double t, const double *pts, const double *sigma, int n, double a, double b)
{
    double dens = 1.0 / (b - a);
    for (int i = 0; i < n; i++) {
        double z = (t - pts[i]) / sigma[i];
        dens += exp(-0.5 * z * z) / (sigma[i] * 2.5066282746310002);
    }
    return log(dens / (n + 1));
}

static int choice_of(const aml_config *cfg, int i, const dim *d)
{
    if (!d->choices)
        return (int)cfg->num[i];
    for (int k = 0; k < d->n_choices; k++) {
        const char *s = cfg->str[i];
        if (s ? !strcmp(s, d->choices[k]) : strtod(d->choices[k], NULL) == cfg->num[i])
            return k;
    }
    return 0;
}

static void set_choice(aml_config *cfg, int i, const dim *d, int k)
{
    if (d->choices) {
        aml_config_set(NULL, cfg, cfg->plugin->desc->params[i].name, d->choices[k]);
        return;
    }
    const aml_param_def *p = &cfg->plugin->desc->params[i];
    cfg->num[i] = k;
    if (p->type == AML_PARAM_CHOICE) {
        free(cfg->str[i]);
        cfg->str[i] = aml_xstrdup(p->choices[k]);
    }
}

/* One numeric dimension: candidates from l (a good point plus its kernel's noise, or the prior),
 * keep the one with the best log l - log g. */
static double pick_numeric(const dim *d, double *good, int ng, double *bad, int nb, aml_rng *rng)
{
    double a = to_t(d, d->lo), b = to_t(d, d->hi);
    double *gs = aml_xmalloc(sizeof(double) * (size_t)(ng + 1)), *bs = aml_xmalloc(sizeof(double) * (size_t)(nb + 1));
    bandwidths(good, ng, a, b, gs);
    bandwidths(bad, nb, a, b, bs);
    double best_t = a, best = -INFINITY;
    for (int c = 0; c < N_CANDIDATES; c++) {
        double t;
        uint64_t k = aml_rng_below(rng, (uint64_t)ng + 1);
        if (k == (uint64_t)ng) {
            t = a + aml_rng_uniform(rng) * (b - a);
        } else {
            /* Box-Muller, truncated by clipping */
            double u1 = aml_rng_uniform(rng), u2 = aml_rng_uniform(rng);
            t = good[k] + gs[k] * sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2);
            t = fmin(fmax(t, a), b);
        }
        double score = log_parzen(t, good, gs, ng, a, b) - log_parzen(t, bad, bs, nb, a, b);
        if (score > best) {
            best = score;
            best_t = t;
        }
    }
    free(gs);
    free(bs);
    return from_t(d, best_t);
}

static int pick_choice(const dim *d, const int *good_counts, int ng, const int *bad_counts, int nb, aml_rng *rng)
{
    int K = d->n_choices, best_k = 0;
    double best = -INFINITY;
    for (int c = 0; c < N_CANDIDATES; c++) {
        /* draw k from l: the good counts smoothed by one pseudo-count per choice */
        uint64_t r = aml_rng_below(rng, (uint64_t)(ng + K));
        int k = 0;
        for (uint64_t acc = 0; k < K; k++) {
            acc += (uint64_t)good_counts[k] + 1;
            if (r < acc)
                break;
        }
        if (k >= K)
            k = K - 1;
        double l = (good_counts[k] + 1.0) / (ng + K), g = (bad_counts[k] + 1.0) / (nb + K);
        if (log(l) - log(g) > best) {
            best = log(l) - log(g);
            best_k = k;
        }
    }
    return best_k;
}

typedef struct ranked {
    const aml_observation *o;
    double value; /* higher is better; failed trials -inf */
    int64_t order; /* position in the observations: breaks ties */
} ranked;

static int cmp_ranked(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->value != b->value)
        return a->value > b->value ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

static double family_cost(const aml_observation *obs, int64_t n, const aml_plugin *p, double fallback)
{
    double sum = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++)
        if (obs[i].cfg->plugin == p) {
            sum += obs[i].seconds;
            count++;
        }
    return count ? sum / count : fallback;
}

void aml_sample_tpe(const aml_space *sp, aml_metric metric, const aml_observation *obs, int64_t n_obs,
                    aml_rng *rng, aml_config *out)
{
    if (n_obs < N_STARTUP) {
        aml_sample_random(sp, rng, out);
        return;
    }
    ranked *r = aml_xmalloc(sizeof(ranked) * (size_t)n_obs);
    int higher = aml_metric_higher_is_better(metric);
    double mean_cost = 0;
    for (int64_t i = 0; i < n_obs; i++) {
        r[i].o = &obs[i];
        r[i].order = i;
        r[i].value = isnan(obs[i].score) ? -INFINITY : higher ? obs[i].score : -obs[i].score;
        mean_cost += obs[i].seconds;
    }
    mean_cost = mean_cost / (double)n_obs + 1e-6;
    qsort(r, (size_t)n_obs, sizeof *r, cmp_ranked);
    int64_t n_good = (int64_t)ceil(0.15 * (double)n_obs);
    if (n_good > 25)
        n_good = 25;
    if (n_good < 1)
        n_good = 1;

    /* The family: good share over bad share, discounted by relative cost. */
    double *w = aml_xmalloc(sizeof(double) * (size_t)sp->n_models), total = 0;
    for (int m = 0; m < sp->n_models; m++) {
        int64_t g = 0, b = 0;
        for (int64_t i = 0; i < n_obs; i++)
            if (r[i].o->cfg->plugin == sp->models[m]) {
                if (i < n_good)
                    g++;
                else
                    b++;
            }
        double lg = (g + 1.0) / (double)(n_good + sp->n_models);
        double lb = (b + 1.0) / (double)(n_obs - n_good + sp->n_models);
        double cost = family_cost(obs, n_obs, sp->models[m], mean_cost) + 1e-6;
        w[m] = (lg / lb) / sqrt(cost / mean_cost);
        total += w[m];
    }
    double u = aml_rng_uniform(rng) * total;
    int fam = 0;
    for (double acc = w[0]; fam < sp->n_models - 1 && u >= acc; acc += w[++fam])
        ;
    free(w);
    const aml_plugin *p = sp->models[fam];
    const aml_model_spec *ms = sp->specs[fam];

    /* That family's good and bad observations. */
    const aml_config **good = aml_xmalloc(sizeof(void *) * (size_t)n_obs);
    const aml_config **bad = aml_xmalloc(sizeof(void *) * (size_t)n_obs);
    int ng = 0, nb = 0;
    for (int64_t i = 0; i < n_obs; i++) {
        if (r[i].o->cfg->plugin != p)
            continue;
        if (i < n_good && r[i].value > -INFINITY)
            good[ng++] = r[i].o->cfg;
        else
            bad[nb++] = r[i].o->cfg;
    }
    aml_config_sample(out, p, ms, rng); /* fixed values, strings, and the draws for ng == 0 */
    int n_pipe = n_pipelines(sp, fam);
    if (n_pipe > 1 && ng == 0)
        out->pipeline = (int)aml_rng_below(rng, (uint64_t)n_pipe);
    if (ng > 0) {
        double *gt = aml_xmalloc(sizeof(double) * (size_t)(ng + 1)), *bt = aml_xmalloc(sizeof(double) * (size_t)(nb + 1));
        for (int i = 0; i < p->desc->n_params; i++) {
            dim d = dim_of(&p->desc->params[i], ms);
            if (d.kind == 1) {
                for (int k = 0; k < ng; k++)
                    gt[k] = to_t(&d, fmin(fmax(good[k]->num[i], d.lo), d.hi));
                for (int k = 0; k < nb; k++)
                    bt[k] = to_t(&d, fmin(fmax(bad[k]->num[i], d.lo), d.hi));
                out->num[i] = pick_numeric(&d, gt, ng, bt, nb, rng);
            } else if (d.kind == 2) {
                int *gc = aml_xcalloc((size_t)d.n_choices, sizeof(int)), *bc = aml_xcalloc((size_t)d.n_choices, sizeof(int));
                for (int k = 0; k < ng; k++)
                    gc[choice_of(good[k], i, &d)]++;
                for (int k = 0; k < nb; k++)
                    bc[choice_of(bad[k], i, &d)]++;
                set_choice(out, i, &d, pick_choice(&d, gc, ng, bc, nb, rng));
                free(gc);
                free(bc);
            }
        }
        if (n_pipe > 1) {
            dim d = {.kind = 2, .n_choices = n_pipe};
            int *gc = aml_xcalloc((size_t)n_pipe, sizeof(int)), *bc = aml_xcalloc((size_t)n_pipe, sizeof(int));
            for (int k = 0; k < ng; k++)
                gc[good[k]->pipeline < n_pipe ? good[k]->pipeline : 0]++;
            for (int k = 0; k < nb; k++)
                bc[bad[k]->pipeline < n_pipe ? bad[k]->pipeline : 0]++;
            out->pipeline = pick_choice(&d, gc, ng, bc, nb, rng);
            free(gc);
            free(bc);
        }
        free(gt);
        free(bt);
    }
    free(good);
    free(bad);
    free(r);
}
