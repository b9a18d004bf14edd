/* Quantile binning for the forest plugin: per feature, up to 255 bins cut at changes of value in
 * the sorted non-missing values (one bin per distinct value when there are at most 255), then
 * every cell coded as one byte, column by column, so split finding works on byte histograms. */
#include "forest.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define EDGE_SAMPLE 200000 /* rows used to place the edges of one feature on large data */

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Edges from the sorted values v[0..k); returns the number of bins (>= 1). */
static int feature_edges(const float *v, int64_t k, float *edges)
{
    int nb = 0;
    int64_t distinct = k > 0;
    for (int64_t i = 1; i < k; i++)
        distinct += v[i] != v[i - 1];
    if (distinct <= FOREST_MAX_BINS) {
        for (int64_t i = 1; i < k; i++)
            if (v[i] != v[i - 1])
                edges[nb++] = forest_midpoint(v[i - 1], v[i]);
        return nb + 1;
    }
    /* about k / 255 values per bin, each cut moved forward to the next change of value, so a
     * value that fills several shares gets a bin of its own */
    int64_t start = 0;
    while (nb < FOREST_MAX_BINS - 1) {
        int64_t pos = (int64_t)((double)(nb + 1) * (double)k / FOREST_MAX_BINS + 0.5);
        if (pos <= start)
            pos = start + 1;
        while (pos < k && v[pos] == v[pos - 1])
            pos++;
        if (pos >= k)
            break;
        edges[nb++] = forest_midpoint(v[pos - 1], v[pos]);
        start = pos;
    }
    return nb + 1;
}

/* The bin of x: the first b with x <= edges[b], else the last bin; NaN -> the missing code. */
static inline uint8_t bin_of(const float *edges, int n_edges, float x)
{
    if (x != x)
        return FOREST_MISSING_BIN;
    int lo = 0, hi = n_edges; /* answer in [lo, hi] */
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (x <= edges[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint8_t)lo;
}

void forest_bins_free(const aml_host *h, forest_bins *fb)
{
    if (fb->n_bins)
        h->dealloc(fb->n_bins);
    if (fb->edges)
        h->dealloc(fb->edges);
    if (fb->lo)
        h->dealloc(fb->lo);
    memset(fb, 0, sizeof *fb);
}

aml_status forest_bins_fit(const aml_host *h, const aml_matrix *X, int nt, forest_bins *fb, uint8_t *codes)
{
    const int64_t n = X->rows, d = X->cols;
    const int64_t ns = n > EDGE_SAMPLE ? EDGE_SAMPLE : n;
    memset(fb, 0, sizeof *fb);
    fb->d = d;
    fb->n_bins = h->alloc((size_t)d * sizeof(int32_t));
    fb->edges = h->alloc((size_t)d * FOREST_MAX_BINS * sizeof(float));
    fb->lo = h->alloc((size_t)d * FOREST_MAX_BINS * 2 * sizeof(float));
    if (nt > d)
        nt = (int)d;
    if (nt < 1)
        nt = 1;
    float *buf = h->alloc((size_t)nt * (size_t)ns * sizeof(float));
    if (!fb->n_bins || !fb->edges || !fb->lo || !buf) {
        if (buf)
            h->dealloc(buf);
        forest_bins_free(h, fb);
        return AML_ERR_NOMEM;
    }
    fb->hi = fb->lo + d * FOREST_MAX_BINS;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t f = 0; f < d; f++) {
        float *v = buf + (size_t)omp_get_thread_num() * (size_t)ns;
        int64_t k = 0;
        for (int64_t s = 0; s < ns; s++) {
            const int64_t r = ns == n ? s : (int64_t)((double)s * (double)n / (double)ns);
            const float x = X->data[r * X->ld + f];
            if (x == x)
                v[k++] = x;
        }
        qsort(v, (size_t)k, sizeof *v, cmp_float);
        float *edges = fb->edges + f * FOREST_MAX_BINS;
        const int nb = feature_edges(v, k, edges);
        fb->n_bins[f] = nb;
        float *lo = fb->lo + f * FOREST_MAX_BINS, *hi = fb->hi + f * FOREST_MAX_BINS;
        for (int b = 0; b < FOREST_MAX_BINS; b++)
            lo[b] = HUGE_VALF, hi[b] = -HUGE_VALF;
        uint8_t *col = codes + f * n;
        for (int64_t r = 0; r < n; r++) {
            const float x = X->data[r * X->ld + f];
            const uint8_t b = bin_of(edges, nb - 1, x);
            col[r] = b;
            if (b != FOREST_MISSING_BIN) {
                lo[b] = x < lo[b] ? x : lo[b];
                hi[b] = x > hi[b] ? x : hi[b];
            }
        }
        /* an empty bin (edges placed on a sample) takes its upper edge, keeping lo and hi
         * non-decreasing across bins for the extra-trees threshold search */
        for (int b = 0; b < nb; b++)
            if (lo[b] > hi[b]) {
                float e = b < nb - 1 ? edges[b] : (b > 0 ? hi[b - 1] : 0.0f);
                lo[b] = hi[b] = e;
            }
    }
    h->dealloc(buf);
    return AML_OK;
}
