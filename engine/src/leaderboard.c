/* Ranking finished trials and showing them: a terminal table and leaderboard.csv. */
#include "leaderboard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static aml_metric sort_metric;

static int cmp_trials(const void *pa, const void *pb)
{
    const aml_trial *a = *(aml_trial *const *)pa, *b = *(aml_trial *const *)pb;
    /* Full-resource trials first: a halving trial on a fraction of the trees or rows is not
     * comparable (nor a candidate for export). */
    int oka = (a->status == AML_TRIAL_OK) + (a->status == AML_TRIAL_OK && a->resource >= 1);
    int okb = (b->status == AML_TRIAL_OK) + (b->status == AML_TRIAL_OK && b->resource >= 1);
    if (oka != okb)
        return okb - oka;
    if (oka) { /* equal tiers */
        if (aml_metric_better(sort_metric, a->score, b->score))
            return -1;
        if (aml_metric_better(sort_metric, b->score, a->score))
            return 1;
    }
    return (a->id > b->id) - (a->id < b->id);
}

void aml_leaderboard_sort(aml_trial **ptrs, int64_t n, aml_metric metric)
{
    sort_metric = metric; /* qsort has no context argument; sorting happens on one thread */
    qsort(ptrs, (size_t)n, sizeof *ptrs, cmp_trials);
}

static double fold_std(const aml_trial *t)
{
    if (t->n_folds < 2)
        return 0;
    double s = 0;
    for (int k = 0; k < t->n_folds; k++)
        s += (t->fold_scores[k] - t->score) * (t->fold_scores[k] - t->score);
    return sqrt(s / (t->n_folds - 1));
}

static char *params_text(const aml_trial *t)
{
    cJSON *p = aml_config_to_json(&t->cfg);
    char *s = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return s;
}

/* The trial's feature steps, "impute+onehot" ("" without any). */
static void steps_text(const aml_trial *t, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < t->cfg.n_steps && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? "+" : "", t->cfg.steps[i]->desc->name);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* "k=v k=v" with 4 significant digits, then "features=..." when the trial has feature steps:
 * for the terminal (leaderboard.csv keeps exact values). */
static void params_short(const aml_trial *t, char *buf, size_t n)
{
    const aml_plugin_descriptor *d = t->cfg.plugin->desc;
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < d->n_params && used < n; i++) {
        const char *sep = i ? " " : "";
        int w = t->cfg.str[i] ? snprintf(buf + used, n - used, "%s%s=%s", sep, d->params[i].name, t->cfg.str[i])
                              : snprintf(buf + used, n - used, "%s%s=%.4g", sep, d->params[i].name, t->cfg.num[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    char steps[128];
    steps_text(t, steps, sizeof steps);
    if (steps[0] && used < n)
        snprintf(buf + used, n - used, "%sfeatures=%s", used ? " " : "", steps);
}

void aml_leaderboard_print(FILE *f, aml_trial **ptrs, int64_t n, aml_metric metric, int top,
                           const aml_leaderboard_ensemble *ens)
{
    fprintf(f, "%-5s %-6s %-12s %-18s %8s  %s\n", "rank", "trial", "model", aml_metric_name(metric),
            "seconds", "params");
    if (ens && !isnan(ens->score))
        fprintf(f, "%-5s %-6s %-12s %-18.4f %8s  %s (out of fold; best trial %.4f)\n", "-", "-", "ensemble",
                ens->score, "", ens->members, ens->best_single);
    for (int64_t i = 0; i < n && i < top; i++) {
        const aml_trial *t = ptrs[i];
        char score[64];
        if (t->status == AML_TRIAL_OK)
            snprintf(score, sizeof score, "%.4f ± %.4f", t->score, fold_std(t));
        else
            snprintf(score, sizeof score, "failed");
        char params[384];
        params_short(t, params, sizeof params);
        fprintf(f, "%-5lld %-6lld %-12s %-18s %8.2f  %s\n", (long long)i + 1, (long long)t->id,
                t->cfg.plugin->desc->name, score, t->seconds, params);
    }
    if (n > top)
        fprintf(f, "... %lld more in leaderboard.csv\n", (long long)(n - top));
}

/* CSV field: quoted, with inner quotes doubled. */
static void put_field(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

aml_status aml_leaderboard_write_csv(aml_ctx *c, const char *path, aml_trial **ptrs, int64_t n,
                                     aml_metric metric, const aml_leaderboard_ensemble *ens)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "rank,trial,model,status,%s,%s_std,folds,seconds,fit_seconds,params,error,resource,features\n",
            aml_metric_name(metric), aml_metric_name(metric));
    if (ens && !isnan(ens->score)) {
        fprintf(f, "0,,ensemble,ok,%.17g,,,,,", ens->score);
        put_field(f, ens->members);
        fputs(",,1,\n", f);
    }
    for (int64_t i = 0; i < n; i++) {
        const aml_trial *t = ptrs[i];
        fprintf(f, "%lld,%lld,%s,%s,", (long long)i + 1, (long long)t->id, t->cfg.plugin->desc->name,
                t->status == AML_TRIAL_OK ? "ok" : "failed");
        if (t->status == AML_TRIAL_OK)
            fprintf(f, "%.17g,%.17g,", t->score, fold_std(t));
        else
            fputs(",,", f);
        fprintf(f, "%d,%.3f,%.3f,", t->n_folds, t->seconds, t->fit_seconds);
        char *params = params_text(t);
        put_field(f, params);
        free(params);
        fputc(',', f);
        put_field(f, t->error ? t->error : "");
        char steps[128];
        steps_text(t, steps, sizeof steps);
        fprintf(f, ",%.6g,%s\n", t->resource, steps);
    }
    fclose(f);
    aml_status st = aml_write_file_atomic(c, path, buf, len);
    free(buf);
    return st;
}
