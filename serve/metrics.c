/* The metrics registry: request counters, latency histograms and rows by model and version,
 * load failures by model; and /metrics, the Prometheus text exposition (format 0.0.4) of those
 * plus the loaded versions and each version's drift gauges. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_le[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                   0.01,    0.025,  0.05,    0.1,    0.25,  0.5,   1,     2.5};
#define N_BUCKETS ((int)(sizeof bucket_le / sizeof bucket_le[0]))

typedef struct code_series {
    char model[128];
    int version, code;
    int64_t count;
} code_series;

typedef struct latency_series {
    char model[128];
    int version;
    int64_t buckets[N_BUCKETS]; /* non-cumulative; summed at exposition */
    int64_t count, rows;
    double sum;
} latency_series;

typedef struct failure_series {
    char model[128];
    int64_t count;
} failure_series;

struct amld_metrics {
    pthread_mutex_t lock;
    code_series *codes;
    int n_codes, cap_codes;
    latency_series *lat;
    int n_lat, cap_lat;
    failure_series *fail;
    int n_fail, cap_fail;
    int drift_min_rows; /* PSI gauges wait for this many rows in the window */
};

amld_metrics *amld_metrics_new(int drift_min_rows)
{
    amld_metrics *m = aml_xcalloc(1, sizeof *m);
    m->drift_min_rows = drift_min_rows > 0 ? drift_min_rows : 1;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void amld_metrics_free(amld_metrics *m)
{
    if (!m)
        return;
    free(m->codes);
    free(m->lat);
    free(m->fail);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

#define GROW(arr, n, cap)                                                         \
    do {                                                                          \
        if ((n) == (cap)) {                                                       \
            (cap) = (cap) ? 2 * (cap) : 16;                                       \
            (arr) = aml_xrealloc((arr), sizeof *(arr) * (size_t)(cap));           \
        }                                                                         \
    } while (0)

void amld_metrics_request(amld_metrics *m, const char *model, int version, int code, double seconds,
                          int64_t rows)
{
    pthread_mutex_lock(&m->lock);
    code_series *cs = NULL;
    for (int i = 0; i < m->n_codes && !cs; i++)
        if (m->codes[i].version == version && m->codes[i].code == code && !strcmp(m->codes[i].model, model))
            cs = &m->codes[i];
    if (!cs) {
        GROW(m->codes, m->n_codes, m->cap_codes);
        cs = &m->codes[m->n_codes++];
        memset(cs, 0, sizeof *cs);
        snprintf(cs->model, sizeof cs->model, "%s", model);
        cs->version = version;
        cs->code = code;
    }
    cs->count++;
    latency_series *ls = NULL;
    for (int i = 0; i < m->n_lat && !ls; i++)
        if (m->lat[i].version == version && !strcmp(m->lat[i].model, model))
            ls = &m->lat[i];
    if (!ls) {
        GROW(m->lat, m->n_lat, m->cap_lat);
        ls = &m->lat[m->n_lat++];
        memset(ls, 0, sizeof *ls);
        snprintf(ls->model, sizeof ls->model, "%s", model);
        ls->version = version;
    }
    int b = 0;
    while (b < N_BUCKETS && seconds > bucket_le[b])
        b++;
    if (b < N_BUCKETS)
        ls->buckets[b]++;
    ls->count++;
    ls->sum += seconds;
    ls->rows += rows;
    pthread_mutex_unlock(&m->lock);
}

void amld_metrics_load_failure(amld_metrics *m, const char *model)
{
    pthread_mutex_lock(&m->lock);
    failure_series *fs = NULL;
    for (int i = 0; i < m->n_fail && !fs; i++)
        if (!strcmp(m->fail[i].model, model))
            fs = &m->fail[i];
    if (!fs) {
        GROW(m->fail, m->n_fail, m->cap_fail);
        fs = &m->fail[m->n_fail++];
        memset(fs, 0, sizeof *fs);
        snprintf(fs->model, sizeof fs->model, "%s", model);
    }
    fs->count++;
    pthread_mutex_unlock(&m->lock);
}

static void family(amld_buf *out, const char *name, const char *type, const char *help)
{
    amld_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {model="m",version="v" (no closing brace: callers add more labels) */
static void labels(amld_buf *out, const char *model, int version)
{
    amld_buf_puts(out, "{model=\"");
    amld_buf_label(out, model);
    if (version >= 0)
        amld_buf_printf(out, "\",version=\"%d\"", version);
    else
        amld_buf_puts(out, "\",version=\"\"");
}

static void expose_requests(amld_metrics *m, amld_buf *out)
{
    family(out, "automld_requests_total", "counter", "Requests by model, version and HTTP status code.");
    for (int i = 0; i < m->n_codes; i++) {
        amld_buf_puts(out, "automld_requests_total");
        labels(out, m->codes[i].model, m->codes[i].version);
        amld_buf_printf(out, ",code=\"%d\"} %lld\n", m->codes[i].code, (long long)m->codes[i].count);
    }
    family(out, "automld_request_errors_total", "counter",
           "Requests answered with a 4xx or 5xx status, by model, version and code.");
    for (int i = 0; i < m->n_codes; i++) {
        if (m->codes[i].code < 400)
            continue;
        amld_buf_puts(out, "automld_request_errors_total");
        labels(out, m->codes[i].model, m->codes[i].version);
        amld_buf_printf(out, ",code=\"%d\"} %lld\n", m->codes[i].code, (long long)m->codes[i].count);
    }
    family(out, "automld_request_duration_seconds", "histogram",
           "Time from the first byte of a request to its response, by model and version.");
    for (int i = 0; i < m->n_lat; i++) {
        const latency_series *ls = &m->lat[i];
        int64_t cum = 0;
        for (int b = 0; b < N_BUCKETS; b++) {
            cum += ls->buckets[b];
            amld_buf_puts(out, "automld_request_duration_seconds_bucket");
            labels(out, ls->model, ls->version);
            amld_buf_printf(out, ",le=\"%g\"} %lld\n", bucket_le[b], (long long)cum);
        }
        amld_buf_puts(out, "automld_request_duration_seconds_bucket");
        labels(out, ls->model, ls->version);
        amld_buf_printf(out, ",le=\"+Inf\"} %lld\n", (long long)ls->count);
        amld_buf_puts(out, "automld_request_duration_seconds_sum");
        labels(out, ls->model, ls->version);
        amld_buf_printf(out, "} %.9g\n", ls->sum);
        amld_buf_puts(out, "automld_request_duration_seconds_count");
        labels(out, ls->model, ls->version);
        amld_buf_printf(out, "} %lld\n", (long long)ls->count);
    }
    family(out, "automld_rows_predicted_total", "counter", "Rows predicted, by model and version.");
    for (int i = 0; i < m->n_lat; i++) {
        if (!m->lat[i].model[0] || m->lat[i].version < 0)
            continue;
        amld_buf_puts(out, "automld_rows_predicted_total");
        labels(out, m->lat[i].model, m->lat[i].version);
        amld_buf_printf(out, "} %lld\n", (long long)m->lat[i].rows);
    }
    family(out, "automld_model_load_failures_total", "counter",
           "Versions refused at load (checksum, format, plugin, warm-up), by model.");
    for (int i = 0; i < m->n_fail; i++) {
        amld_buf_puts(out, "automld_model_load_failures_total{model=\"");
        amld_buf_label(out, m->fail[i].model);
        amld_buf_printf(out, "\"} %lld\n", (long long)m->fail[i].count);
    }
}

static const char *drift_family[6][2] = {
    {"automld_feature_psi", "PSI of the feature over the drift window against the training reference "
                            "(absent until the window holds automld_drift_min_rows rows)."},
    {"automld_prediction_psi", "PSI of the predicted classes or values over the drift window against training "
                               "(absent until the window holds automld_drift_min_rows rows)."},
    {"automld_drift_window_rows", "Served rows in the drift window."},
    {"automld_drift_psi_warn_threshold", "PSI above which drift is moderate (from reference.json)."},
    {"automld_drift_psi_alert_threshold", "PSI above which drift is significant (from reference.json)."},
    {"automld_drift_min_rows", "Rows the drift window must hold before its PSI is published (--drift-min-rows)."},
};

void amld_metrics_expose(amld_metrics *m, amld_registry *reg, amld_buf *out)
{
    pthread_mutex_lock(&m->lock);
    expose_requests(m, out);
    pthread_mutex_unlock(&m->lock);

    int n_models = 0;
    char **names = amld_registry_models(reg, &n_models);
    amld_version ***versions = aml_xcalloc((size_t)n_models + 1, sizeof *versions);
    int *counts = aml_xcalloc((size_t)n_models + 1, sizeof(int));
    for (int i = 0; i < n_models; i++)
        counts[i] = amld_registry_versions(reg, names[i], &versions[i], NULL, NULL);
    family(out, "automld_model_versions_loaded", "gauge", "Versions of the model being served.");
    for (int i = 0; i < n_models; i++) {
        amld_buf_puts(out, "automld_model_versions_loaded{model=\"");
        amld_buf_label(out, names[i]);
        amld_buf_printf(out, "\"} %d\n", counts[i] < 0 ? 0 : counts[i]);
    }
    for (int f = 0; f < 6; f++) {
        family(out, drift_family[f][0], "gauge", drift_family[f][1]);
        for (int i = 0; i < n_models; i++)
            for (int k = 0; k < counts[i]; k++)
                amld_drift_expose(versions[i][k]->drift, f, names[i], versions[i][k]->version, m->drift_min_rows,
                                  out);
    }
    for (int i = 0; i < n_models; i++) {
        if (counts[i] >= 0)
            amld_versions_release(versions[i], counts[i]);
        free(names[i]);
    }
    free(versions);
    free(counts);
    free(names);
}
