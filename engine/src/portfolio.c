/* The portfolio. Ordered by expected cost on small and medium tables, so that a short budget
 * still gets a strong model: the closed-form and near-closed-form learners first, then the tree
 * ensembles, then the network. Each family's first entry is its defaults; the others are
 * settings that do well across tabular benchmarks (lower learning rates with more trees, extra
 * trees, distance-weighted neighbours, stronger or weaker penalties). */
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
    {"forest", "extra=1"},
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

/* 1 when every parameter the entry sets lies inside the spec's range for it (a user who narrowed
 * the space should not see the portfolio step outside it). */
static int inside_spec(const aml_config *cfg, const aml_model_spec *ms)
{
    const aml_plugin_descriptor *d = cfg->plugin->desc;
    for (int i = 0; i < d->n_params; i++) {
        const aml_param_range *r = fixed_by_spec(ms, d->params[i].name);
        if (!r || r->kind == AML_RANGE_DEFAULT || r->kind == AML_RANGE_FIXED || r->kind == AML_RANGE_CHOICE)
            continue;
        if (cfg->num[i] < r->lo || cfg->num[i] > r->hi)
            return 0;
    }
    return 1;
}

int aml_portfolio(const aml_space *sp, aml_config **out)
{
    int n = 0, cap = (int)(sizeof entries / sizeof entries[0]);
    aml_config *list = aml_xcalloc((size_t)cap, sizeof(aml_config));
    for (int e = 0; e < cap; e++) {
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
        if (ok && inside_spec(&cfg, sp->specs[m]))
            list[n++] = cfg;
        else
            aml_config_free(&cfg);
    }
    *out = list;
    return n;
}
