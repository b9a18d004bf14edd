/* Gradient histograms over uint8 bins (exact integer sums: per-thread histograms merge to the
 * same bits whatever the thread count) and the best split of a node from its histogram, with a
 * learned direction for missing values. */
#include "gbdt.h"

#include <omp.h>
#include <string.h>

#define PAR_MIN_ROWS 16384  /* below this a node's histogram is built by one thread */
#define ROW_CHUNK 4096      /* rows per work item: a thread the OS delays leaves its items to the others */
#define MAX_SPLIT_THREADS 64

static void build_range(const gb_binned *B, const int32_t *rows, int64_t i0, int64_t i1, const int32_t *gq,
                        int cb, const gb_layout *lay, gb_stat *hist)
{
    const int64_t d = B->d;
    const uint8_t *bins = B->bins;
    const int32_t *feats = lay->feats, *off = lay->off;
    const int nf = lay->nf, all = lay->all; /* every column, in order: no indirection */
    for (int64_t i = i0; i < i1; i++) {
        const int64_t r = rows[i];
        if (i + 12 < i1) {
            __builtin_prefetch(bins + (int64_t)rows[i + 12] * d);
            __builtin_prefetch(gq + 2 * (int64_t)rows[i + 12]);
        }
        const uint8_t *b = bins + r * d;
        const int64_t g = gq[2 * r], hn = ((int64_t)gq[2 * r + 1] << cb) + 1;
        if (all) {
            for (int k = 0; k < nf; k++) {
                gb_stat *s = hist + off[k] + b[k];
                s->g += g, s->hn += hn;
            }
        } else {
            for (int k = 0; k < nf; k++) {
                gb_stat *s = hist + off[k] + b[feats[k]];
                s->g += g, s->hn += hn;
            }
        }
    }
}

void gb_hist_accumulate(const gb_binned *B, const int32_t *rows, int64_t m, const int32_t *gq, int cb,
                        const gb_layout *lay, gb_stat *hist)
{
    build_range(B, rows, 0, m, gq, cb, lay, hist);
}

void gb_hist_build(const gb_binned *B, const int32_t *rows, int64_t m, const int32_t *gq, int cb,
                   const gb_layout *lay, gb_stat *hist, gb_stat *scratch, int threads)
{
    const size_t len = (size_t)lay->off[lay->nf];
    if (threads <= 1 || m < PAR_MIN_ROWS) {
        memset(hist, 0, len * sizeof *hist);
        build_range(B, rows, 0, m, gq, cb, lay, hist);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        gb_stat *own = t == 0 ? hist : scratch + (size_t)t * len;
        memset(own, 0, len * sizeof *own);
        const int64_t nch = (m + ROW_CHUNK - 1) / ROW_CHUNK;
#pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < nch; ch++)
            build_range(B, rows, ch * ROW_CHUNK, ch + 1 < nch ? (ch + 1) * ROW_CHUNK : m, gq, cb, lay, own);
#pragma omp for schedule(dynamic, 1)
        for (int64_t e0 = 0; e0 < (int64_t)len; e0 += GB_STRIDE)
            for (int u = 1; u < T; u++)
                for (int64_t e = e0; e < e0 + GB_STRIDE && e < (int64_t)len; e++) {
                    const gb_stat *o = scratch + (size_t)u * len + e;
                    hist[e].g += o->g, hist[e].hn += o->hn;
                }
    }
}

void gb_hist_subtract(gb_stat *a, const gb_stat *b, size_t len)
{
    for (size_t e = 0; e < len; e++)
        a[e].g -= b[e].g, a[e].hn -= b[e].hn;
}

double gb_leaf_score(gb_stat s, const gb_split_params *sp)
{
    double G = (double)s.g * sp->inv_sg, H = (double)gb_hsum(s, sp->count_bits) * sp->inv_sh;
    return G * G / (H + sp->l2);
}

static inline void try_split(gb_stat L, gb_stat tot, const gb_split_params *sp, double parent, int32_t feature,
                             int bin, int default_left, gb_split *best)
{
    const int cb = sp->count_bits;
    gb_stat R = {tot.g - L.g, tot.hn - L.hn};
    if (gb_count(L, cb) < sp->min_leaf || gb_count(R, cb) < sp->min_leaf)
        return;
    if ((double)gb_hsum(L, cb) * sp->inv_sh < sp->min_hess || (double)gb_hsum(R, cb) * sp->inv_sh < sp->min_hess)
        return;
    double gain = gb_leaf_score(L, sp) + gb_leaf_score(R, sp) - parent;
    if (gain > best->gain) {
        best->gain = gain, best->feature = feature, best->bin = bin, best->default_left = default_left;
        best->left = L;
    }
}

/* Best split over feature positions [k0, k1). */
static void find_range(const gb_binned *B, const gb_stat *hist, const gb_layout *lay, int k0, int k1, gb_stat tot,
                       const gb_split_params *sp, double parent, gb_split *best)
{
    for (int k = k0; k < k1; k++) {
        const int32_t f = lay->feats[k];
        const gb_stat *hh = hist + lay->off[k];
        const int nv = B->n_value_bins[f];
        const gb_stat miss = hh[GB_MISSING_BIN];
        gb_stat L = {0, 0};
        const double before = best->gain;
        for (int t = 1; t <= nv; t++) {
            L.g += hh[t].g, L.hn += hh[t].hn;
            if (t < nv)
                try_split(L, tot, sp, parent, f, t, 0, best);
            if (miss.hn != 0) {
                if (t < nv) {
                    gb_stat LM = {L.g + miss.g, L.hn + miss.hn};
                    try_split(LM, tot, sp, parent, f, t, 1, best);
                } else {
                    try_split(L, tot, sp, parent, f, t, 0, best); /* every value left, missing right */
                }
            }
        }
        /* no missing value reached this node on this feature: unseen NaNs follow the majority */
        if (best->gain != before && miss.hn == 0)
            best->default_left = 2 * gb_count(best->left, sp->count_bits) >= gb_count(tot, sp->count_bits);
    }
}

void gb_split_find(const gb_binned *B, const gb_stat *hist, const gb_layout *lay, gb_stat tot,
                   const gb_split_params *sp, int threads, gb_split *best)
{
    const double parent = gb_leaf_score(tot, sp);
    const int nf = lay->nf;
    gb_split none = {.gain = sp->min_gain, .feature = -1, .bin = 0, .default_left = 0};
    if (threads > MAX_SPLIT_THREADS)
        threads = MAX_SPLIT_THREADS;
    if (threads <= 1 || nf < 512) { /* a feature costs ~ a microsecond: threads pay off only when wide */
        *best = none;
        find_range(B, hist, lay, 0, nf, tot, sp, parent, best);
        return;
    }
    gb_split part[MAX_SPLIT_THREADS];
    int used = 1;
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        part[t] = none;
        find_range(B, hist, lay, (int)((int64_t)nf * t / T), (int)((int64_t)nf * (t + 1) / T), tot, sp, parent,
                   &part[t]);
        if (t == 0)
            used = T;
    }
    /* in feature order with a strict comparison: the same winner as one thread */
    *best = none;
    for (int t = 0; t < used; t++)
        if (part[t].gain > best->gain)
            *best = part[t];
}
