/* Drift windows: the last W served rows of a version, binned on the reference's fixed edges as
 * they arrive (a ring of bin indices plus running counts), so a scrape computes each feature's
 * PSI against the training distribution from counts alone. */
#include "serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct amld_drift {
    pthread_mutex_t lock;
    const aml_reference *ref;
    int n_hist;          /* features + 1 (the prediction) */
    int window;
    int64_t filled, next;
    uint16_t *ring;      /* window x n_hist bin indices */
    int64_t **counts;    /* per histogram, per bin */
};

static const aml_ref_hist *hist(const amld_drift *d, int h)
{
    return h < d->ref->n_features ? &d->ref->features[h] : &d->ref->prediction;
}

amld_drift *amld_drift_new(const aml_reference *ref, int window)
{
    amld_drift *d = aml_xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->lock, NULL);
    d->ref = ref;
    d->n_hist = ref->n_features + 1;
    d->window = window > 0 ? window : 1;
    d->ring = aml_xcalloc((size_t)d->window * (size_t)d->n_hist, sizeof(uint16_t));
    d->counts = aml_xcalloc((size_t)d->n_hist, sizeof(int64_t *));
    for (int h = 0; h < d->n_hist; h++)
        d->counts[h] = aml_xcalloc((size_t)hist(d, h)->n_bins + 1, sizeof(int64_t));
    return d;
}

void amld_drift_free(amld_drift *d)
{
    if (!d)
        return;
    for (int h = 0; h < d->n_hist; h++)
        free(d->counts[h]);
    free(d->counts);
    free(d->ring);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void amld_drift_add(amld_drift *d, const float *X, int64_t n, const double *pred, int n_out)
{
    if (!d)
        return;
    int nf = d->ref->n_features;
    /* Bin outside the lock; only the ring and the counts are shared. */
    uint16_t stack[512];
    uint16_t *bins = (size_t)n * (size_t)d->n_hist <= 512 ? stack
                                                          : aml_xmalloc(sizeof(uint16_t) * (size_t)n * (size_t)d->n_hist);
    const aml_ref_hist *ph = &d->ref->prediction;
    for (int64_t i = 0; i < n; i++) {
        uint16_t *b = bins + i * d->n_hist;
        for (int j = 0; j < nf; j++)
            b[j] = (uint16_t)aml_ref_hist_bin(&d->ref->features[j], X[i * nf + j]);
        double p;
        if (d->ref->prediction_is_class) {
            int best = 0;
            for (int k = 1; k < n_out; k++)
                if (pred[i * n_out + k] > pred[i * n_out + best])
                    best = k;
            p = best;
        } else {
            p = pred[i * n_out];
        }
        b[nf] = ph->n_bins > 0 ? (uint16_t)aml_ref_hist_bin(ph, p) : 0;
    }
    pthread_mutex_lock(&d->lock);
    for (int64_t i = 0; i < n; i++) {
        uint16_t *slot = d->ring + d->next * d->n_hist;
        if (d->filled == d->window) {
            for (int h = 0; h < d->n_hist; h++)
                d->counts[h][slot[h]]--;
        } else {
            d->filled++;
        }
        memcpy(slot, bins + i * d->n_hist, sizeof(uint16_t) * (size_t)d->n_hist);
        for (int h = 0; h < d->n_hist; h++)
            d->counts[h][slot[h]]++;
        d->next = (d->next + 1) % d->window;
    }
    pthread_mutex_unlock(&d->lock);
    if (bins != stack)
        free(bins);
}

static void series(amld_buf *out, const char *family, const char *model, int version, const char *feature,
                   double value)
{
    amld_buf_printf(out, "%s{model=\"", family);
    amld_buf_label(out, model);
    amld_buf_printf(out, "\",version=\"%d\"", version);
    if (feature) {
        amld_buf_puts(out, ",feature=\"");
        amld_buf_label(out, feature);
        amld_buf_puts(out, "\"");
    }
    amld_buf_puts(out, "} ");
    if (isnan(value))
        amld_buf_puts(out, "NaN");
    else
        amld_buf_printf(out, "%.15g", value);
    amld_buf_puts(out, "\n");
}

void amld_drift_expose(amld_drift *d, int fam, const char *model, int version, int min_rows, amld_buf *out)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    int nf = d->ref->n_features;
    /* Fewer rows: no PSI series at all (absent, not a number an alert rule would compare). */
    int ready = d->filled > 0 && d->filled >= min_rows;
    switch (fam) {
    case 0:
        if (ready)
            for (int j = 0; j < nf; j++)
                series(out, "automld_feature_psi", model, version, d->ref->features[j].name,
                       aml_psi(d->ref->features[j].expected, d->counts[j], d->ref->features[j].n_bins, d->filled));
        break;
    case 1:
        if (ready && d->ref->prediction.n_bins > 0)
            series(out, "automld_prediction_psi", model, version, NULL,
                   aml_psi(d->ref->prediction.expected, d->counts[nf], d->ref->prediction.n_bins, d->filled));
        break;
    case 2:
        series(out, "automld_drift_window_rows", model, version, NULL, (double)d->filled);
        break;
    case 3:
        series(out, "automld_drift_psi_warn_threshold", model, version, NULL, d->ref->warn);
        break;
    case 4:
        series(out, "automld_drift_psi_alert_threshold", model, version, NULL, d->ref->alert);
        break;
    default:
        series(out, "automld_drift_min_rows", model, version, NULL, (double)min_rows);
        break;
    }
    pthread_mutex_unlock(&d->lock);
}
