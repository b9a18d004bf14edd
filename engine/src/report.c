/* Writing report.html. Everything is drawn here as inline SVG so the page opens anywhere, offline,
 * and can be mailed as one file. Scores are plotted so that up is better whatever the metric. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 640
#define H 260
#define PAD 44

static const char *palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* Distinct model families in rank order. */
static int families(const aml_report_input *in, const char **names, int cap)
{
    int n = 0;
    for (int64_t i = 0; i < in->n_trials; i++) {
        const char *name = in->ranked[i]->cfg.plugin->desc->name;
        int k = 0;
        while (k < n && strcmp(names[k], name) != 0)
            k++;
        if (k == n && n < cap)
            names[n++] = name;
    }
    return n;
}

static int family_index(const char **names, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (!strcmp(names[k], name))
            return k;
    return 0;
}

static int ok_full(const aml_trial *t) { return t->status == AML_TRIAL_OK && t->resource >= 1 && isfinite(t->score); }

/* The score range of ok trials, padded; lo == hi when there is one value. */
static void score_range(const aml_report_input *in, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < in->n_trials; i++) {
        const aml_trial *t = in->ranked[i];
        if (t->status != AML_TRIAL_OK || !isfinite(t->score))
            continue;
        *lo = fmin(*lo, t->score);
        *hi = fmax(*hi, t->score);
    }
    if (!(*hi >= *lo)) {
        *lo = 0;
        *hi = 1;
    }
    /* Zoom on the good end: the worst tenth of the range would flatten the interesting part. */
    double span = *hi - *lo;
    if (span <= 0)
        span = fabs(*hi) > 0 ? fabs(*hi) * 0.01 : 1;
    *lo -= 0.05 * span;
    *hi += 0.05 * span;
}

/* y pixel for a score: better is up. */
static double y_of(double score, double lo, double hi, int higher)
{
    double u = (score - lo) / (hi - lo);
    if (!higher)
        u = 1 - u;
    return H - PAD + 10 - u * (H - PAD - 10 - 10);
}

static void axes(FILE *f, const char *xlabel, const char *ylabel, double lo, double hi, int higher)
{
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#444'/>", PAD, H - PAD + 10, W - 10, H - PAD + 10);
    fprintf(f, "<line x1='%d' y1='10' x2='%d' y2='%d' stroke='#444'/>", PAD, PAD, H - PAD + 10);
    for (int k = 0; k <= 4; k++) {
        double v = lo + (hi - lo) * k / 4.0;
        double y = y_of(v, lo, hi, higher);
        fprintf(f, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.4g</text>", PAD - 4, y + 3, v);
        fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#eee'/>", PAD, y, W - 10, y);
    }
    fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>%s</text>", (W + PAD) / 2, H - 6, xlabel);
    fprintf(f, "<text x='12' y='%d' font-size='11' text-anchor='middle' transform='rotate(-90 12 %d)'>%s</text>",
            H / 2, H / 2, ylabel);
}

static void plot_score_vs_time(FILE *f, const aml_report_input *in, const char **fam, int n_fam)
{
    int higher = aml_metric_higher_is_better(in->metric);
    double lo, hi, tmax = 0;
    score_range(in, &lo, &hi);
    for (int64_t i = 0; i < in->n_trials; i++)
        tmax = fmax(tmax, in->ranked[i]->finished_at);
    if (in->budget_seconds > 0)
        tmax = fmax(tmax, in->budget_seconds);
    if (tmax <= 0)
        tmax = 1;
    fprintf(f, "<svg width='%d' height='%d' role='img' aria-label='best score against time'>", W, H);
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "%s (up is better)", aml_metric_name(in->metric));
    axes(f, "seconds since the search started", ylabel, lo, hi, higher);
    for (int k = 0; k <= 4; k++)
        fprintf(f, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%.3g</text>",
                PAD + (W - 10 - PAD) * k / 4.0, H - PAD + 22, tmax * k / 4.0);
    /* every ok trial as a dot, by finish time */
    for (int64_t i = 0; i < in->n_trials; i++) {
        const aml_trial *t = in->ranked[i];
        if (t->status != AML_TRIAL_OK || !isfinite(t->score))
            continue;
        double x = PAD + (W - 10 - PAD) * t->finished_at / tmax;
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='%s' fill='%s' fill-opacity='0.55'><title>trial %lld %s %.4f</title></circle>",
                x, y_of(t->score, lo, hi, higher), t->resource >= 1 ? "2.5" : "1.5",
                palette[family_index(fam, n_fam, t->cfg.plugin->desc->name) % 10], (long long)t->id,
                t->cfg.plugin->desc->name, t->score);
    }
    /* the running best of full-resource trials, as a step line in time order */
    int64_t n = 0;
    aml_trial **order = aml_xmalloc(sizeof(aml_trial *) * (size_t)(in->n_trials + 1));
    for (int64_t i = 0; i < in->n_trials; i++)
        if (ok_full(in->ranked[i]))
            order[n++] = in->ranked[i];
    for (int64_t i = 1; i < n; i++) /* insertion sort by finish time: n is small enough */
        for (int64_t j = i; j > 0 && order[j]->finished_at < order[j - 1]->finished_at; j--) {
            aml_trial *tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    fputs("<polyline fill='none' stroke='#000' stroke-width='1.5' points='", f);
    double best = NAN, last_y = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(best) || aml_metric_better(in->metric, order[i]->score, best)) {
            double x = PAD + (W - 10 - PAD) * order[i]->finished_at / tmax;
            if (!isnan(best))
                fprintf(f, "%.1f,%.1f ", x, last_y);
            best = order[i]->score;
            last_y = y_of(best, lo, hi, higher);
            fprintf(f, "%.1f,%.1f ", x, last_y);
        }
    }
    if (!isnan(best))
        fprintf(f, "%.1f,%.1f", PAD + (W - 10 - PAD) * (n ? order[n - 1]->finished_at : 0) / tmax, last_y);
    fputs("'/></svg>\n", f);
    free(order);
}

static void plot_per_family(FILE *f, const aml_report_input *in, const char **fam, int n_fam)
{
    int higher = aml_metric_higher_is_better(in->metric);
    double lo, hi;
    score_range(in, &lo, &hi);
    int row = 26, height = 30 + row * n_fam;
    fprintf(f, "<svg width='%d' height='%d' role='img' aria-label='scores per family'>", W, height);
    for (int k = 0; k < n_fam; k++) {
        int y = 20 + row * k;
        fprintf(f, "<text x='96' y='%d' font-size='11' text-anchor='end'>%s</text>", y + 4, fam[k]);
        fprintf(f, "<line x1='100' y1='%d' x2='%d' y2='%d' stroke='#eee'/>", y, W - 10, y);
    }
    for (int64_t i = 0; i < in->n_trials; i++) {
        const aml_trial *t = in->ranked[i];
        if (t->status != AML_TRIAL_OK || !isfinite(t->score))
            continue;
        double u = (t->score - lo) / (hi - lo);
        if (!higher)
            u = 1 - u;
        int k = family_index(fam, n_fam, t->cfg.plugin->desc->name);
        fprintf(f, "<circle cx='%.1f' cy='%d' r='2.5' fill='%s' fill-opacity='0.5'><title>trial %lld: %.4f</title></circle>",
                100 + u * (W - 110), 20 + row * k, palette[k % 10], (long long)t->id, t->score);
    }
    fprintf(f, "<text x='100' y='%d' font-size='10'>worse</text><text x='%d' y='%d' font-size='10' "
               "text-anchor='end'>better</text></svg>\n", height - 4, W - 10, height - 4);
}

static void dataset_section(FILE *f, const aml_dataset *d)
{
    int64_t missing = aml_dataset_missing(d, NULL);
    fputs("<h2>Dataset</h2><table>", f);
    fputs("<tr><th>file</th><td>", f);
    html_text(f, d->path);
    fprintf(f, "</td></tr><tr><th>shape</th><td>%lld rows &times; %lld features (%d categorical)</td></tr>",
            (long long)d->n_rows, (long long)d->n_features, aml_dataset_n_categorical(d));
    fprintf(f, "<tr><th>task</th><td>%s</td></tr>", aml_dataset_task_name(d->task));
    fprintf(f, "<tr><th>missing cells</th><td>%lld</td></tr>", (long long)missing);
    if (d->task == AML_TASK_CLASSIFICATION) {
        fputs("<tr><th>classes</th><td>", f);
        int64_t *count = aml_xcalloc((size_t)d->n_classes + 1, sizeof(int64_t));
        for (int64_t i = 0; i < d->n_rows; i++)
            count[d->label[i]]++;
        for (int k = 0; k < d->n_classes; k++) {
            html_text(f, d->class_names[k]);
            fprintf(f, ": %lld (%.1f%%)%s", (long long)count[k], 100.0 * (double)count[k] / (double)d->n_rows,
                    k + 1 < d->n_classes ? ", " : "");
        }
        free(count);
        fputs("</td></tr>", f);
    }
    fprintf(f, "<tr><th>fingerprint</th><td><code>%s</code></td></tr></table>\n", d->fingerprint);
}

static void winners_section(FILE *f, const aml_report_input *in)
{
    fprintf(f, "<h2>Best trials</h2><table><tr><th>rank</th><th>trial</th><th>model</th><th>%s</th>"
               "<th>resource</th><th>seconds</th><th>hyperparameters</th></tr>",
            aml_metric_name(in->metric));
    for (int64_t i = 0; i < in->n_trials && i < 15; i++) {
        const aml_trial *t = in->ranked[i];
        fprintf(f, "<tr><td>%lld</td><td>%lld</td><td>%s</td>", (long long)i + 1, (long long)t->id,
                t->cfg.plugin->desc->name);
        if (t->status == AML_TRIAL_OK)
            fprintf(f, "<td>%.4f</td>", t->score);
        else
            fputs("<td>failed</td>", f);
        fprintf(f, "<td>%.3g</td><td>%.2f</td><td><code>", t->resource, t->seconds);
        cJSON *p = aml_config_to_json(&t->cfg);
        char *text = cJSON_PrintUnformatted(p);
        html_text(f, text);
        free(text);
        cJSON_Delete(p);
        fputs("</code></td></tr>", f);
    }
    fputs("</table>\n", f);
}

static void ensemble_section(FILE *f, const aml_report_input *in)
{
    fputs("<h2>Ensemble</h2>", f);
    if (!in->ensemble || isnan(in->ensemble->score) || in->n_members < 2) {
        fputs("<p>No ensemble: none beat the best single trial out of fold (or ensembling was off).</p>\n", f);
        return;
    }
    fprintf(f, "<p>Greedy ensemble selection (Caruana et al. 2004) over the out-of-fold predictions of "
               "the best trials: %s %.4f out of fold, against %.4f for the best trial alone.</p>",
            aml_metric_name(in->metric), in->ensemble->score, in->ensemble->best_single);
    int height = 20 + 24 * in->n_members;
    fprintf(f, "<svg width='%d' height='%d' role='img' aria-label='ensemble weights'>", W, height);
    for (int k = 0; k < in->n_members; k++) {
        int y = 10 + 24 * k;
        fprintf(f, "<text x='116' y='%d' font-size='11' text-anchor='end'>", y + 13);
        html_text(f, in->ensemble_members[k]);
        fprintf(f, "</text><rect x='120' y='%d' width='%.1f' height='16' fill='%s'/>"
                   "<text x='%.1f' y='%d' font-size='11'>%.3f</text>",
                y, in->ensemble_weights[k] * (W - 200), palette[k % 10],
                126 + in->ensemble_weights[k] * (W - 200), y + 13, in->ensemble_weights[k]);
    }
    fputs("</svg>\n", f);
}

aml_status aml_report_write(aml_ctx *c, const char *path, const aml_report_input *in)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *fam[32];
    int n_fam = families(in, fam, 32);
    fputs("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>automl report</title>"
          "<style>body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;"
          "text-align:left;vertical-align:top}code{font-size:12px}h2{margin-top:1.6em}</style></head><body>\n", f);
    fputs("<h1>automl search report</h1><p>", f);
    const aml_trial *best = in->n_trials ? in->ranked[0] : NULL;
    if (best && best->status == AML_TRIAL_OK)
        fprintf(f, "Best trial: <b>%s</b>, %s <b id='best-score'>%.4f</b> (%s). ", best->cfg.plugin->desc->name,
                aml_metric_name(in->metric), best->score, in->resampling);
    fprintf(f, "%lld trials in %.1f s", (long long)in->n_trials, in->seconds);
    if (in->budget_seconds > 0)
        fprintf(f, " of a %.4g s budget", in->budget_seconds);
    fputs(", strategy ", f);
    html_text(f, in->strategy);
    fputs(".", f);
    if (in->artifact) {
        fputs(" Exported: <code>", f);
        html_text(f, in->artifact);
        fputs("</code>.", f);
    }
    fputs("</p>\n", f);
    dataset_section(f, in->data);
    fputs("<h2>Best score against time</h2><p>Each dot is a trial (small: a reduced-resource halving "
          "trial); the line is the best full trial so far.</p>", f);
    plot_score_vs_time(f, in, fam, n_fam);
    fputs("<h2>Scores per model family</h2>", f);
    plot_per_family(f, in, fam, n_fam);
    winners_section(f, in);
    ensemble_section(f, in);
    fputs("</body></html>\n", f);
    fclose(f);
    aml_status st = aml_write_file_atomic(c, path, buf, len);
    free(buf);
    return st;
}
