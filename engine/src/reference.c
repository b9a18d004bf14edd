/* The drift reference (reference.json): written at export from the training rows and the refit
 * model's predictions on them, read by automld to bin served rows on the same fixed edges, and
 * the PSI that compares the two histograms. */
#include "reference.h"

#include "predictions.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Up to AML_REFERENCE_BINS - 1 distinct interior quantile cut points of the non-NaN values
 * (linear interpolation between order statistics). Returns how many; v is sorted in place. */
static int quantile_edges(double *v, int64_t n, double *edges)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int m = 0;
    if (n < 2)
        return 0;
    for (int k = 1; k < AML_REFERENCE_BINS; k++) {
        double h = (double)(n - 1) * k / AML_REFERENCE_BINS;
        int64_t lo = (int64_t)floor(h);
        double q = v[lo] + (lo + 1 < n ? (h - (double)lo) * (v[lo + 1] - v[lo]) : 0.0);
        /* An edge at or below the minimum would leave bin 0 empty in training: skip it. */
        if (q <= v[0] || (m > 0 && q <= edges[m - 1]))
            continue;
        edges[m++] = q;
    }
    return m;
}

static int bin_of(const double *edges, int n_edges, double x)
{
    int lo = 0, hi = n_edges; /* the number of edges <= x */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (edges[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Adds "edges", "proportions" and "missing" of values x[i * stride] to o. */
static void numeric_hist(cJSON *o, const float *xf, const double *xd, int64_t n, int64_t stride)
{
    double *v = aml_xmalloc(sizeof(double) * (size_t)(n + 1));
    int64_t m = 0, missing = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = xf ? (double)xf[i * stride] : xd[i * stride];
        if (isnan(x))
            missing++;
        else
            v[m++] = x;
    }
    double edges[AML_REFERENCE_BINS];
    int ne = quantile_edges(v, m, edges);
    int64_t counts[AML_REFERENCE_BINS] = {0};
    for (int64_t i = 0; i < m; i++)
        counts[bin_of(edges, ne, v[i])]++;
    cJSON_AddItemToObject(o, "edges", cJSON_CreateDoubleArray(edges, ne));
    cJSON *props = cJSON_AddArrayToObject(o, "proportions");
    for (int b = 0; b <= ne; b++)
        cJSON_AddItemToArray(props, cJSON_CreateNumber(n ? (double)counts[b] / (double)n : 0.0));
    cJSON_AddNumberToObject(o, "missing", n ? (double)missing / (double)n : 0.0);
    free(v);
}

static void categorical_hist(cJSON *o, const aml_dataset *d, int64_t j)
{
    int nl = d->n_categories ? d->n_categories[j] : 0;
    /* Codes beyond the known levels (none in a consistent file) count as "other". */
    int64_t *counts = aml_xcalloc((size_t)nl + 1, sizeof(int64_t));
    int64_t missing = 0, other = 0, n = d->n_rows;
    for (int64_t i = 0; i < n; i++) {
        float x = d->X[i * d->n_features + j];
        if (isnan(x))
            missing++;
        else if (x >= 0 && x < nl && x == floorf(x))
            counts[(int)x]++;
        else
            other++;
    }
    cJSON *levels = cJSON_AddArrayToObject(o, "levels");
    uint8_t *taken = aml_xcalloc((size_t)nl + 1, 1);
    for (int t = 0; t < AML_REFERENCE_TOP && t < nl; t++) {
        int best = -1;
        for (int k = 0; k < nl; k++)
            if (!taken[k] && (best < 0 || counts[k] > counts[best]))
                best = k;
        if (best < 0 || counts[best] == 0)
            break;
        taken[best] = 1;
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "level", d->categories && d->categories[j] ? d->categories[j][best] : "");
        cJSON_AddNumberToObject(l, "code", best);
        cJSON_AddNumberToObject(l, "p", (double)counts[best] / (double)n);
        cJSON_AddItemToArray(levels, l);
    }
    for (int k = 0; k < nl; k++)
        if (!taken[k])
            other += counts[k];
    cJSON_AddNumberToObject(o, "other", n ? (double)other / (double)n : 0.0);
    cJSON_AddNumberToObject(o, "missing", n ? (double)missing / (double)n : 0.0);
    free(taken);
    free(counts);
}

char *aml_reference_json(const aml_dataset *train, const double *pred, int n_out)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "format", AML_REFERENCE_FORMAT);
    cJSON_AddNumberToObject(r, "version", AML_REFERENCE_VERSION);
    cJSON_AddNumberToObject(r, "n_rows", (double)train->n_rows);
    cJSON *th = cJSON_AddObjectToObject(r, "thresholds");
    cJSON_AddStringToObject(th, "statistic", "psi");
    cJSON_AddNumberToObject(th, "warn", AML_PSI_WARN);
    cJSON_AddNumberToObject(th, "alert", AML_PSI_ALERT);
    cJSON *features = cJSON_AddArrayToObject(r, "features");
    for (int64_t j = 0; j < train->n_features; j++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", train->feature_names[j]);
        if (train->categorical[j]) {
            cJSON_AddStringToObject(f, "type", "categorical");
            categorical_hist(f, train, j);
        } else {
            cJSON_AddStringToObject(f, "type", "numeric");
            numeric_hist(f, train->X + j, NULL, train->n_rows, train->n_features);
        }
        cJSON_AddItemToArray(features, f);
    }
    cJSON *p = cJSON_AddObjectToObject(r, "prediction");
    if (train->task == AML_TASK_CLASSIFICATION && pred) {
        cJSON_AddStringToObject(p, "type", "class");
        cJSON *classes = cJSON_AddArrayToObject(p, "classes");
        int64_t *counts = aml_xcalloc((size_t)n_out + 1, sizeof(int64_t));
        for (int64_t i = 0; i < train->n_rows; i++)
            counts[aml_argmax(pred + i * n_out, n_out)]++;
        cJSON *props = cJSON_AddArrayToObject(p, "proportions");
        for (int k = 0; k < n_out; k++) {
            cJSON_AddItemToArray(classes, cJSON_CreateString(k < train->n_classes ? train->class_names[k] : ""));
            cJSON_AddItemToArray(props, cJSON_CreateNumber(train->n_rows ? (double)counts[k] / (double)train->n_rows : 0));
        }
        free(counts);
    } else if (pred) {
        cJSON_AddStringToObject(p, "type", "numeric");
        numeric_hist(p, NULL, pred, train->n_rows, n_out);
    }
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return text;
}

/* ---- reading ---- */

static double number_or(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static aml_status parse_numeric(aml_ctx *c, const cJSON *o, const char *what, aml_ref_hist *h)
{
    const cJSON *edges = cJSON_GetObjectItemCaseSensitive(o, "edges");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "proportions");
    int ne = cJSON_GetArraySize(edges);
    if (!cJSON_IsArray(edges) || !cJSON_IsArray(props) || cJSON_GetArraySize(props) != ne + 1)
        return aml_fail(c, AML_ERR_FORMAT, "%s: expected \"edges\" and len(edges) + 1 \"proportions\"", what);
    h->n_bins = ne + 2;
    h->edges = aml_xcalloc((size_t)ne + 1, sizeof(double));
    h->expected = aml_xcalloc((size_t)h->n_bins, sizeof(double));
    for (int b = 0; b < ne; b++) {
        const cJSON *e = cJSON_GetArrayItem(edges, b);
        if (!cJSON_IsNumber(e) || (b > 0 && e->valuedouble <= h->edges[b - 1]))
            return aml_fail(c, AML_ERR_FORMAT, "%s: edges[%d]: expected an ascending number", what, b);
        h->edges[b] = e->valuedouble;
    }
    for (int b = 0; b <= ne; b++) {
        const cJSON *p = cJSON_GetArrayItem(props, b);
        if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble > 1)
            return aml_fail(c, AML_ERR_FORMAT, "%s: proportions[%d]: expected a number in [0, 1]", what, b);
        h->expected[b] = p->valuedouble;
    }
    h->expected[ne + 1] = number_or(o, "missing", 0.0);
    return AML_OK;
}

static aml_status parse_categorical(aml_ctx *c, const cJSON *o, const char *what, aml_ref_hist *h)
{
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(o, "levels");
    int nl = cJSON_GetArraySize(levels);
    if (!cJSON_IsArray(levels))
        return aml_fail(c, AML_ERR_FORMAT, "%s: expected \"levels\"", what);
    h->categorical = 1;
    h->n_bins = nl + 2;
    h->expected = aml_xcalloc((size_t)h->n_bins, sizeof(double));
    int max_code = -1;
    const cJSON *l;
    cJSON_ArrayForEach(l, levels)
    {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(l, "code");
        if (!cJSON_IsNumber(code) || code->valueint < 0 || code->valueint > 1 << 24)
            return aml_fail(c, AML_ERR_FORMAT, "%s: levels[].code: expected an integer >= 0", what);
        if (code->valueint > max_code)
            max_code = code->valueint;
    }
    h->n_codes = max_code + 1;
    h->code_bin = aml_xmalloc(sizeof(int) * (size_t)(h->n_codes + 1));
    for (int k = 0; k < h->n_codes; k++)
        h->code_bin[k] = nl; /* "other" */
    int b = 0;
    cJSON_ArrayForEach(l, levels)
    {
        h->code_bin[cJSON_GetObjectItemCaseSensitive(l, "code")->valueint] = b;
        h->expected[b++] = number_or(l, "p", 0.0);
    }
    h->expected[nl] = number_or(o, "other", 0.0);
    h->expected[nl + 1] = number_or(o, "missing", 0.0);
    return AML_OK;
}

static void hist_clear(aml_ref_hist *h)
{
    free(h->name);
    free(h->edges);
    free(h->code_bin);
    free(h->expected);
    memset(h, 0, sizeof *h);
}

aml_status aml_reference_parse(aml_ctx *c, const char *json, int64_t n_features, aml_reference **out)
{
    cJSON *root = cJSON_Parse(json);
    aml_reference *r = aml_xcalloc(1, sizeof *r);
    aml_status st = AML_OK;
    char what[160];
    if (!root) {
        st = aml_fail(c, AML_ERR_FORMAT, "reference.json: not valid JSON");
        goto fail;
    }
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, AML_REFERENCE_FORMAT) != 0 ||
        number_or(root, "version", 0) < 1) {
        st = aml_fail(c, AML_ERR_FORMAT, "reference.json: format: expected \"%s\" with a version",
                      AML_REFERENCE_FORMAT);
        goto fail;
    }
    if (number_or(root, "version", 0) >= AML_REFERENCE_VERSION + 1) {
        st = aml_fail(c, AML_ERR_FORMAT, "reference.json: version %g is newer than this automl reads (%d)",
                      number_or(root, "version", 0), AML_REFERENCE_VERSION);
        goto fail;
    }
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "thresholds");
    r->warn = number_or(th, "warn", AML_PSI_WARN);
    r->alert = number_or(th, "alert", AML_PSI_ALERT);
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(root, "features");
    if (!cJSON_IsArray(features) || cJSON_GetArraySize(features) != n_features) {
        st = aml_fail(c, AML_ERR_FORMAT, "reference.json: features: expected %lld entries, got %d",
                      (long long)n_features, cJSON_GetArraySize(features));
        goto fail;
    }
    r->n_features = (int)n_features;
    r->features = aml_xcalloc((size_t)n_features + 1, sizeof(aml_ref_hist));
    int j = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, features)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
        snprintf(what, sizeof what, "reference.json: features[%d]", j);
        r->features[j].name = aml_xstrdup(cJSON_IsString(name) ? name->valuestring : "");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "categorical"))
            st = parse_categorical(c, f, what, &r->features[j]);
        else
            st = parse_numeric(c, f, what, &r->features[j]);
        if (st != AML_OK)
            goto fail;
        j++;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prediction");
    const cJSON *ptype = cJSON_GetObjectItemCaseSensitive(p, "type");
    r->prediction.name = aml_xstrdup("prediction");
    if (cJSON_IsString(ptype) && !strcmp(ptype->valuestring, "class")) {
        /* One bin per class (codes are class indices), then the unused other/missing bins. */
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(p, "proportions");
        int k = cJSON_GetArraySize(props);
        aml_ref_hist *h = &r->prediction;
        r->prediction_is_class = 1;
        h->categorical = 1;
        h->n_bins = k + 2;
        h->n_codes = k;
        h->code_bin = aml_xmalloc(sizeof(int) * (size_t)(k + 1));
        h->expected = aml_xcalloc((size_t)h->n_bins, sizeof(double));
        for (int q = 0; q < k; q++) {
            h->code_bin[q] = q;
            h->expected[q] = cJSON_IsNumber(cJSON_GetArrayItem(props, q)) ? cJSON_GetArrayItem(props, q)->valuedouble : 0;
        }
    } else if (cJSON_IsString(ptype) && !strcmp(ptype->valuestring, "numeric")) {
        if ((st = parse_numeric(c, p, "reference.json: prediction", &r->prediction)) != AML_OK)
            goto fail;
    }
    cJSON_Delete(root);
    *out = r;
    return AML_OK;
fail:
    cJSON_Delete(root);
    aml_reference_free(r);
    return st;
}

void aml_reference_free(aml_reference *r)
{
    if (!r)
        return;
    for (int j = 0; j < r->n_features; j++)
        hist_clear(&r->features[j]);
    free(r->features);
    hist_clear(&r->prediction);
    free(r);
}

int aml_ref_hist_bin(const aml_ref_hist *h, double x)
{
    if (isnan(x))
        return h->n_bins - 1;
    if (!h->categorical)
        return bin_of(h->edges, h->n_bins - 2, x);
    if (x >= 0 && x < h->n_codes && x == floor(x))
        return h->code_bin[(int)x];
    return h->n_bins - 2;
}

/* The value empty bins take: 1e-4, or the smallest non-zero share / 1e6 when that is <= 1e-4. */
static double empty_share(const double *p, int n)
{
    double min_nz = 1.0;
    for (int b = 0; b < n; b++)
        if (p[b] > 0 && p[b] < min_nz)
            min_nz = p[b];
    return min_nz <= 1e-4 ? min_nz / 1e6 : 1e-4;
}

double aml_psi(const double *expected, const int64_t *counts, int n_bins, int64_t total)
{
    if (total <= 0 || n_bins <= 0)
        return NAN;
    double cur[256];
    double *q = n_bins <= 256 ? cur : aml_xmalloc(sizeof(double) * (size_t)n_bins);
    for (int b = 0; b < n_bins; b++)
        q[b] = (double)counts[b] / (double)total;
    double eps_ref = empty_share(expected, n_bins), eps_cur = empty_share(q, n_bins);
    double psi = 0;
    for (int b = 0; b < n_bins; b++) {
        double pr = expected[b] > 0 ? expected[b] : eps_ref;
        double pc = q[b] > 0 ? q[b] : eps_cur;
        psi += (pr - pc) * log(pr / pc);
    }
    if (q != cur)
        free(q);
    return psi;
}
