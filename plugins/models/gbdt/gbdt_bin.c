/* Quantile binning of a float32 matrix into uint8 bins (bin 0 = missing), and the process-wide
 * cache that lets every trial and fold fitted on the same materialised view share one binned
 * matrix: keyed by pointer, shape, ld, max_bins and a content hash, refcounted, LRU-bounded. */
#include "gbdt.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_ROWS 200000  /* rows used to place the cuts (as LightGBM's bin_construct_sample_cnt) */
#define CACHE_MAX_ENTRIES 8
#define CACHE_MAX_IDLE_BYTES ((size_t)1 << 30) /* unreferenced entries beyond this are dropped */

/* Order-preserving map of a float to uint32 (NaN never reaches here). */
static inline uint32_t float_key(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float key_float(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* LSD radix sort of n keys, 3 passes of 11 bits; tmp has n entries. */
static void radix_sort(uint32_t *a, uint32_t *tmp, int64_t n)
{
    for (int pass = 0; pass < 3; pass++) {
        int shift = pass * 11;
        int64_t count[2049] = {0};
        for (int64_t i = 0; i < n; i++)
            count[((a[i] >> shift) & 2047) + 1]++;
        for (int b = 0; b < 2048; b++)
            count[b + 1] += count[b];
        for (int64_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & 2047]++] = a[i];
        uint32_t *t = a;
        a = tmp, tmp = t;
    }
    /* three passes: the sorted keys are in the original tmp; copy back */
    memcpy(tmp, a, (size_t)n * sizeof *a);
}

/* A cut strictly between distinct neighbours lo < hi: the float midpoint, or lo itself when the
 * midpoint rounds up to hi (adjacent floats). "v <= cut" then separates them exactly. */
static float cut_between(float lo, float hi)
{
    float mid = (float)(((double)lo + (double)hi) * 0.5);
    if (!(mid < hi) || !(mid >= lo) || isinf(mid))
        mid = lo;
    return mid;
}

int gb_bin_cuts(const float *vals, int64_t n, int max_bins, uint32_t *work, float *cuts)
{
    uint32_t *keys = work, *scratch = work + n;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = vals[i];
        if (v == v)
            keys[m++] = float_key(v);
    }
    if (m == 0)
        return 0;
    radix_sort(keys, scratch, m);
    /* distinct values and their counts, compacted: keys[0..nd) values, scratch[0..nd) counts */
    int64_t nd = 0;
    for (int64_t i = 0; i < m;) {
        int64_t j = i;
        while (j < m && keys[j] == keys[i])
            j++;
        keys[nd] = keys[i], scratch[nd] = (uint32_t)(j - i), nd++;
        i = j;
    }
    int nc = 0;
    if (nd <= max_bins) {
        for (int64_t k = 0; k + 1 < nd; k++)
            cuts[nc++] = cut_between(key_float(keys[k]), key_float(keys[k + 1]));
        return nc;
    }
    /* Equal-frequency bins, greedily over distinct values: a value heavier than a bin's share
     * gets a bin of its own, and the share is recomputed from what remains. */
    int64_t consumed = 0, acc = 0;
    int bins_left = max_bins;
    for (int64_t k = 0; k + 1 < nd && bins_left > 1; k++) {
        acc += scratch[k];
        double target = (double)(m - consumed) / bins_left;
        if (acc >= target || (double)scratch[k + 1] >= target) {
            cuts[nc++] = cut_between(key_float(keys[k]), key_float(keys[k + 1]));
            consumed += acc, acc = 0, bins_left--;
        }
    }
    return nc;
}

uint8_t gb_bin_value(const float *cuts, int n_cuts, float v)
{
    if (v != v)
        return GB_MISSING_BIN;
    /* branch-free lower bound: the count of cuts below v, one conditional move per step */
    int lo = 0;
    for (int step = 128; step > 0; step >>= 1) {
        int probe = lo + step;
        lo = probe <= n_cuts && cuts[probe - 1] < v ? probe : lo;
    }
    return (uint8_t)(1 + lo);
}

void gb_binned_release(gb_binned *b)
{
    if (!b)
        return;
    free(b->bins), free(b->cuts), free(b->cut_off), free(b->n_value_bins), free(b->has_missing), free(b->usable);
    memset(b, 0, sizeof *b);
}

aml_status gb_binned_build(const aml_matrix *X, int max_bins, int threads, gb_binned *out)
{
    const int64_t n = X->rows, d = X->cols;
    gb_binned b = {.n = n, .d = d, .max_bins = max_bins};
    const int64_t s = n < SAMPLE_ROWS ? n : SAMPLE_ROWS;
    b.bins = malloc((size_t)n * (size_t)d);
    b.cuts = malloc((size_t)d * (size_t)max_bins * sizeof(float));
    b.cut_off = malloc((size_t)(d + 1) * sizeof(int32_t));
    b.n_value_bins = malloc((size_t)d * sizeof(uint16_t));
    b.has_missing = calloc((size_t)d, 1);
    b.usable = malloc((size_t)d * sizeof(int32_t));
    int32_t *ncut = malloc((size_t)d * sizeof(int32_t));
    float *work = malloc((size_t)threads * (size_t)(s + 1) * sizeof(float));
    uint32_t *kwork = malloc((size_t)threads * (size_t)(2 * s + 1) * sizeof(uint32_t));
    if (!b.bins || !b.cuts || !b.cut_off || !b.n_value_bins || !b.has_missing || !b.usable || !ncut || !work || !kwork)
        goto nomem;
    /* cuts per feature from evenly spaced sample rows; each feature first into its own max_bins slot */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (s * d >= 16 * GB_PAR_ROWS)
    for (int64_t j = 0; j < d; j++) {
        float *vals = work + (size_t)omp_get_thread_num() * (size_t)(s + 1);
        uint32_t *kw = kwork + (size_t)omp_get_thread_num() * (size_t)(2 * s + 1);
        for (int64_t i = 0; i < s; i++)
            vals[i] = X->data[(s == n ? i : (int64_t)((double)i * (double)n / (double)s)) * X->ld + j];
        ncut[j] = gb_bin_cuts(vals, s, max_bins, kw, b.cuts + j * max_bins);
    }
    /* compact the cuts */
    int32_t off = 0;
    for (int64_t j = 0; j < d; j++) {
        memmove(b.cuts + off, b.cuts + j * max_bins, (size_t)ncut[j] * sizeof(float));
        b.cut_off[j] = off, b.n_value_bins[j] = (uint16_t)(ncut[j] + 1);
        off += ncut[j];
    }
    b.cut_off[d] = off;
    int64_t nblk = (n + 4095) / 4096;
    uint8_t *miss = calloc((size_t)(nblk * d), 1); /* per block: so no two threads write one flag */
    if (!miss)
        goto nomem;
#pragma omp parallel for num_threads(threads) schedule(static) if (n * d >= 16 * GB_PAR_ROWS)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t i1 = (blk + 1) * 4096 < n ? (blk + 1) * 4096 : n;
        for (int64_t i = blk * 4096; i < i1; i++) {
            const float *x = X->data + i * X->ld;
            uint8_t *o = b.bins + i * d;
            for (int64_t j = 0; j < d; j++) {
                o[j] = gb_bin_value(b.cuts + b.cut_off[j], ncut[j], x[j]);
                miss[blk * d + j] |= o[j] == GB_MISSING_BIN;
            }
        }
    }
    for (int64_t blk = 0; blk < nblk; blk++)
        for (int64_t j = 0; j < d; j++)
            b.has_missing[j] |= miss[blk * d + j];
    free(miss);
    for (int64_t j = 0; j < d; j++)
        if (b.n_value_bins[j] > 1 || b.has_missing[j]) /* one value + NaNs still splits missing vs present */
            b.usable[b.n_usable++] = (int32_t)j;
    free(ncut), free(work), free(kwork);
    *out = b;
    return AML_OK;
nomem:
    free(ncut), free(work), free(kwork);
    gb_binned_release(&b);
    return AML_ERR_NOMEM;
}

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t gb_matrix_hash(const aml_matrix *X, int threads)
{
    const int64_t n = X->rows, d = X->cols;
    uint64_t total = mix64((uint64_t)n * 0x9e3779b97f4a7c15ULL ^ (uint64_t)d);
    /* a sum of per-row hashes: commutative, so any split over threads gives the same value */
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total) if (n * d >= 64 * GB_PAR_ROWS)
    for (int64_t i = 0; i < n; i++) {
        const float *x = X->data + i * X->ld;
        uint64_t h0 = 0x243f6a8885a308d3ULL, h1 = 0x13198a2e03707344ULL;
        int64_t j = 0;
        for (; j + 1 < d; j += 2) {
            uint32_t a, c;
            memcpy(&a, x + j, 4), memcpy(&c, x + j + 1, 4);
            h0 = (h0 ^ a) * 0x100000001b3ULL;
            h1 = (h1 ^ c) * 0x100000001b3ULL;
        }
        if (j < d) {
            uint32_t a;
            memcpy(&a, x + j, 4);
            h0 = (h0 ^ a) * 0x100000001b3ULL;
        }
        total += mix64(h0 ^ mix64(h1 + (uint64_t)i));
    }
    return total;
}

/* ---- the cache ---------------------------------------------------------------------------- */

typedef struct cache_entry {
    const float *data;
    int64_t rows, cols, ld;
    int max_bins;
    uint64_t hash;
    int refs, building, failed;
    uint64_t last_use;
    gb_binned b;
    struct cache_entry *next;
} cache_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cond = PTHREAD_COND_INITIALIZER;
static cache_entry *cache_head;
static uint64_t cache_tick;

static size_t entry_bytes(const cache_entry *e) { return (size_t)e->b.n * (size_t)e->b.d + 64 * (size_t)e->b.d; }

/* Drops unreferenced entries, least recently used first, while over the bounds. Lock held. */
static void cache_trim(void)
{
    for (;;) {
        int count = 0;
        size_t idle = 0;
        cache_entry *victim = NULL, **victim_link = NULL;
        for (cache_entry **link = &cache_head; *link; link = &(*link)->next) {
            cache_entry *e = *link;
            count++;
            if (e->refs == 0 && !e->building) {
                idle += entry_bytes(e);
                if (!victim || e->last_use < victim->last_use)
                    victim = e, victim_link = link;
            }
        }
        if (!victim || (count <= CACHE_MAX_ENTRIES && idle <= CACHE_MAX_IDLE_BYTES))
            return;
        *victim_link = victim->next;
        gb_binned_release(&victim->b);
        free(victim);
    }
}

aml_status gb_cache_acquire(const aml_matrix *X, uint64_t hash, int max_bins, int threads, const gb_binned **out)
{
    pthread_mutex_lock(&cache_lock);
    cache_entry *e;
    for (;;) {
        for (e = cache_head; e; e = e->next)
            if (e->data == X->data && e->rows == X->rows && e->cols == X->cols && e->ld == X->ld &&
                e->max_bins == max_bins && e->hash == hash && !e->failed)
                break;
        if (!e || !e->building)
            break;
        pthread_cond_wait(&cache_cond, &cache_lock); /* another fit is binning this view */
    }
    if (e) {
        e->refs++, e->last_use = ++cache_tick;
        pthread_mutex_unlock(&cache_lock);
        *out = &e->b;
        return AML_OK;
    }
    e = calloc(1, sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&cache_lock);
        return AML_ERR_NOMEM;
    }
    e->data = X->data, e->rows = X->rows, e->cols = X->cols, e->ld = X->ld, e->max_bins = max_bins;
    e->hash = hash, e->refs = 1, e->building = 1, e->last_use = ++cache_tick;
    e->next = cache_head, cache_head = e;
    pthread_mutex_unlock(&cache_lock);

    aml_status st = gb_binned_build(X, max_bins, threads, &e->b);

    pthread_mutex_lock(&cache_lock);
    e->building = 0;
    if (st != AML_OK) {
        e->failed = 1, e->refs = 0;
        for (cache_entry **link = &cache_head; *link; link = &(*link)->next)
            if (*link == e) {
                *link = e->next;
                break;
            }
        free(e);
    }
    cache_trim();
    pthread_cond_broadcast(&cache_cond);
    pthread_mutex_unlock(&cache_lock);
    if (st == AML_OK)
        *out = &e->b;
    return st;
}

void gb_cache_release(const gb_binned *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&cache_lock);
    for (cache_entry *e = cache_head; e; e = e->next)
        if (&e->b == b) {
            e->refs--;
            break;
        }
    cache_trim();
    pthread_mutex_unlock(&cache_lock);
}

int gb_cache_entries(void)
{
    pthread_mutex_lock(&cache_lock);
    int count = 0;
    for (cache_entry *e = cache_head; e; e = e->next)
        count++;
    pthread_mutex_unlock(&cache_lock);
    return count;
}
