/* The portfolio. Ordered by expected cost on small and medium tables, so that a short budget
 * still gets a strong model: the closed-form and near-closed-form learners first, then the tree
 * ensembles, then the network. Each family's first entry is its defaults (tried with each of the
 * family's pipelines when it has several); the others are settings that do well across tabular
 * benchmarks (lower learning rates with more trees; extra trees grown on all rows, as Geurts et
 * al. define them — on bootstrap samples they scored 0.0035 lower on average over 80 splits of
 * the benchmark's tables; distance-weighted neighbours; stronger or weaker penalties). */
#include "portfolio.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *family;
    const char *settings; /* "k=v,k=v" or "" for the defaults */
} entries[] = {
    {"naive_bayes", ""},
    {"discriminant", ""},
    {"linear", ""},
    {"knn", ""},
    {"discriminant", "kind=qda,shrinkage=0.5"},
    {"linear", "l2=0.01"},
    {"knn", "k=15,weights=distance"},
    {"linear", "l2=30"},
    {"gbdt", ""},
    {"forest", ""},
    {"forest", "extra=1,bootstrap=0"},
    {"gbdt", "learning_rate=0.05,n_trees=300,max_leaves=15,min_samples_leaf=10"},
    {"gbdt", "learning_rate=0.1,n_trees=200,max_leaves=63,min_samples_leaf=5,colsample=0.5,subsample=0.8"},
    {"mlp", ""},
    {"forest", "max_features=0.5,min_samples_leaf=2"},
    {"gbdt", "learning_rate=0.03,n_trees=600,max_leaves=31,colsample=0.7,subsample=0.8,l2=3"},
    {"mlp", "hidden=256:128,dropout=0.1"},
};

/* The spec's value for parameter name, if it fixes one. */
static const aml_param_range *fixed_by_spec(const aml_model_spec *ms, const char *name)
{
    for (int i = 0; ms && i < ms->n_ranges; i++)
        if (!strcmp(ms->ranges[i].name, name))
            return &ms->ranges[i];
    return NULL;
}

/* Moves every parameter into the spec's range for it: a user who narrowed the space should not
 * see the portfolio step outside it. Choices outside the spec's list take its first entry. */
static void clip_to_spec(aml_config *cfg, const aml_model_spec *ms)
{
    const aml_plugin_descriptor *d = cfg->plugin->desc;
    for (int i = 0; i < d->n_params; i++) {
        const aml_param_range *r = fixed_by_spec(ms, d->params[i].name);
        if (!r || r->kind == AML_RANGE_DEFAULT || r->kind == AML_RANGE_FIXED)
            continue;
        if (r->kind == AML_RANGE_CHOICE) {
            int found = 0;
            for (int k = 0; k < r->n_choices && !found; k++)
                found = cfg->str[i] ? !strcmp(cfg->str[i], r->choices[k]) : strtod(r->choices[k], NULL) == cfg->num[i];
            if (!found && r->n_choices > 0)
                aml_config_set(NULL, cfg, d->params[i].name, r->choices[0]);
            continue;
        }
        if (cfg->num[i] < r->lo)
            cfg->num[i] = r->lo;
        if (cfg->num[i] > r->hi)
            cfg->num[i] = r->hi;
    }
}

static int pipelines_of(const aml_space *sp, int m) { return sp->n_pipelines ? sp->n_pipelines[m] : 1; }

/* Appends cfg (taking it over) with its pipeline 0, then copies of it with pipelines 1 ..
 * pipelines - 1: a family's defaults are tried with each pipeline the family may choose from. */
static void append(aml_config **list, int *n, int *cap, aml_config *cfg, int pipelines)
{
    if (*n + pipelines > *cap) {
        *cap = *n + pipelines;
        *list = aml_xrealloc(*list, sizeof(aml_config) * (size_t)*cap);
    }
    (*list)[(*n)++] = *cfg;
    for (int k = 1; k < pipelines; k++) {
        aml_config_copy(&(*list)[*n], cfg);
        (*list)[(*n)++].pipeline = k;
    }
}

int aml_portfolio(const aml_space *sp, aml_config **out)
{
    const int n_entries = (int)(sizeof entries / sizeof entries[0]);
    int n = 0, cap = n_entries;
    aml_config *list = aml_xcalloc((size_t)cap, sizeof(aml_config));
    for (int e = 0; e < n_entries; e++) {
        int m = 0;
        while (m < sp->n_models && strcmp(sp->models[m]->desc->name, entries[e].family) != 0)
            m++;
        if (m == sp->n_models)
            continue;
        aml_config cfg;
        aml_config_defaults(&cfg, sp->models[m]);
        int ok = !entries[e].settings[0] || aml_config_set_list(NULL, &cfg, entries[e].settings) == AML_OK;
        /* The spec's fixed values win over the portfolio's. */
        aml_config base;
        aml_config_base(&base, sp->models[m], sp->specs[m]);
        const aml_plugin_descriptor *d = sp->models[m]->desc;
        for (int i = 0; ok && i < d->n_params; i++) {
            const aml_param_range *r = fixed_by_spec(sp->specs[m], d->params[i].name);
            if (r && r->kind == AML_RANGE_FIXED) {
                cfg.num[i] = base.num[i];
                free(cfg.str[i]);
                cfg.str[i] = aml_xstrdup(base.str[i]);
            }
        }
        aml_config_free(&base);
        if (ok) {
            clip_to_spec(&cfg, sp->specs[m]);
            append(&list, &n, &cap, &cfg, entries[e].settings[0] ? 1 : pipelines_of(sp, m));
        } else {
            aml_config_free(&cfg);
        }
    }
    /* A family the portfolio does not know (a third-party plugin) still starts with its
     * defaults. */
    for (int m = 0; m < sp->n_models; m++) {
        int listed = 0;
        for (int e = 0; e < n && !listed; e++)
            listed = list[e].plugin == sp->models[m];
        if (listed)
            continue;
        aml_config cfg;
        aml_config_base(&cfg, sp->models[m], sp->specs[m]);
        clip_to_spec(&cfg, sp->specs[m]);
        append(&list, &n, &cap, &cfg, pipelines_of(sp, m));
    }
    *out = list;
    return n;
}
