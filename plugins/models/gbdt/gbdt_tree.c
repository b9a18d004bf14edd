/* Leaf-wise growth of one tree: the leaf with the best split gain is split next, up to
 * max_leaves (and max_depth). A split builds the histogram of the smaller child only and gets
 * the larger one by subtraction from the parent's; histograms live in a bounded pool and a leaf
 * whose histogram was reclaimed simply has both children built. Rows stay partitioned so each
 * leaf owns a contiguous, ascending segment of the row list. */
#include "gbdt.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define POOL_BYTES ((size_t)256 << 20) /* histograms kept per grower, at most */
#define PAR_PARTITION_ROWS 65536
#define PART_CHUNK 8192

typedef struct leaf_info {
    int64_t begin, end;
    gb_stat tot;
    int depth;
    int hist;        /* pool slot, or -1 */
    gb_split best;   /* best.feature < 0: will not be split */
    int32_t parent;  /* node pointing here, -1 for the root */
    int side;
} leaf_info;

struct gb_grower {
    const gb_binned *B;
    gb_grow_params gp;
    int threads;
    leaf_info *leaves;
    int64_t *seg_begin, *seg_end;
    int n_leaves;
    size_t hist_len;      /* entries per histogram: the bins of every usable feature */
    gb_stat **pool;
    int n_pool, *free_slots, n_free;
    gb_stat *scratch;     /* per-thread histograms */
    int32_t *tmp;         /* partition buffer, n + 1 rows */
    int32_t *chunk_buf;   /* per thread: the right-going rows of one chunk */
    int64_t *part_count;  /* per-chunk counts */
};

aml_status gb_grower_new(const gb_binned *B, const gb_grow_params *gp, int threads, gb_grower **out)
{
    gb_grower *g = calloc(1, sizeof *g);
    if (!g)
        return AML_ERR_NOMEM;
    g->B = B, g->gp = *gp, g->threads = threads > 0 ? threads : 1;
    const int L = gp->max_leaves;
    g->hist_len = 1; /* the widest layout: every usable feature */
    for (int k = 0; k < B->n_usable; k++)
        g->hist_len += (size_t)B->n_value_bins[B->usable[k]] + 1;
    size_t per = g->hist_len * sizeof(gb_stat);
    int cap = (int)(POOL_BYTES / per);
    g->n_pool = L + 1 < cap ? L + 1 : (cap > 3 ? cap : 3);
    g->leaves = calloc((size_t)L, sizeof *g->leaves);
    g->seg_begin = malloc((size_t)L * sizeof(int64_t));
    g->seg_end = malloc((size_t)L * sizeof(int64_t));
    g->pool = calloc((size_t)g->n_pool, sizeof *g->pool);
    g->free_slots = malloc((size_t)g->n_pool * sizeof(int));
    g->scratch = g->threads > 1 ? malloc((size_t)g->threads * per) : NULL;
    g->tmp = malloc((size_t)(B->n + 1) * sizeof(int32_t));
    g->chunk_buf = malloc((size_t)g->threads * (PART_CHUNK + 1) * sizeof(int32_t));
    g->part_count = malloc((size_t)(B->n / PART_CHUNK + 2) * sizeof(int64_t));
    if (!g->leaves || !g->seg_begin || !g->seg_end || !g->pool || !g->free_slots || (g->threads > 1 && !g->scratch) ||
        !g->tmp || !g->chunk_buf || !g->part_count) {
        gb_grower_free(g);
        return AML_ERR_NOMEM;
    }
    for (int s = 0; s < g->n_pool; s++)
        g->free_slots[g->n_free++] = g->n_pool - 1 - s;
    *out = g;
    return AML_OK;
}

void gb_grower_free(gb_grower *g)
{
    if (!g)
        return;
    for (int s = 0; g->pool && s < g->n_pool; s++)
        free(g->pool[s]);
    free(g->pool), free(g->free_slots), free(g->scratch), free(g->tmp), free(g->chunk_buf), free(g->part_count);
    free(g->leaves), free(g->seg_begin), free(g->seg_end);
    free(g);
}

int gb_grower_leaves(const gb_grower *g, const int64_t **begin, const int64_t **end)
{
    *begin = g->seg_begin, *end = g->seg_end;
    return g->n_leaves;
}

void gb_grower_set_scales(gb_grower *g, double inv_sg, double inv_sh)
{
    g->gp.sp.inv_sg = inv_sg, g->gp.sp.inv_sh = inv_sh;
}

static void release_slot(gb_grower *g, leaf_info *l)
{
    if (l->hist >= 0) {
        g->free_slots[g->n_free++] = l->hist;
        l->hist = -1;
    }
}

/* A free histogram slot; when none is free, takes the one of the leaf least likely to be split
 * (lowest gain), never from leaves a or b. Slot memory is allocated on first use. */
static int take_slot(gb_grower *g, int a, int b)
{
    int s = -1;
    if (g->n_free > 0) {
        s = g->free_slots[--g->n_free];
    } else {
        int victim = -1;
        for (int l = 0; l < g->n_leaves; l++)
            if (l != a && l != b && g->leaves[l].hist >= 0 &&
                (victim < 0 || g->leaves[l].best.gain < g->leaves[victim].best.gain))
                victim = l;
        if (victim < 0)
            return -1;
        s = g->leaves[victim].hist;
        g->leaves[victim].hist = -1;
    }
    if (!g->pool[s] && !(g->pool[s] = malloc(g->hist_len * sizeof(gb_stat)))) {
        g->free_slots[g->n_free++] = s;
        return -1;
    }
    return s;
}

static inline int goes_left(const uint8_t *b, int32_t f, int bin, int dl)
{
    uint8_t v = b[f];
    const int miss = v == GB_MISSING_BIN;
    return (miss & dl) | (!miss & (v <= bin));
}

/* Stable partition of rows[begin, end) by the split, lefts first; returns the boundary. With
 * hist, the same pass also builds the histogram of one side (side 0: left, 1: right) from each
 * chunk's rows while their bins are still in cache. The row moves are branch-free: a row is
 * written to both candidate places and only one cursor advances. */
static int64_t partition(gb_grower *g, int32_t *rows, int64_t begin, int64_t end, const gb_split *s, int side,
                         const int32_t *gq, const gb_layout *lay, gb_stat *hist)
{
    const gb_binned *B = g->B;
    const uint8_t *bins = B->bins;
    const int64_t d = B->d, m = end - begin;
    const int32_t f = s->feature;
    const int bin = s->bin, dl = s->default_left, cb = g->gp.sp.count_bits;
    const size_t len = (size_t)lay->off[lay->nf];
    if (g->threads <= 1 || m < PAR_PARTITION_ROWS) {
        if (hist)
            memset(hist, 0, len * sizeof *hist);
        int64_t l = begin, nr = 0;
        for (int64_t c0 = begin; c0 < end; c0 += PART_CHUNK) {
            const int64_t c1 = c0 + PART_CHUNK < end ? c0 + PART_CHUNK : end, l0 = l, r0 = nr;
            for (int64_t i = c0; i < c1; i++) {
                if (i + 16 < c1) /* rows ascend with gaps: the hardware prefetcher misses them */
                    __builtin_prefetch(bins + (int64_t)rows[i + 16] * d + f);
                const int32_t r = rows[i];
                const int left = goes_left(bins + (int64_t)r * d, f, bin, dl);
                rows[l] = r, g->tmp[nr] = r; /* l <= i: only consumed places are overwritten */
                l += left, nr += !left;
            }
            if (hist)
                gb_hist_accumulate(B, side ? g->tmp + r0 : rows + l0, side ? nr - r0 : l - l0, gq, cb, lay, hist);
        }
        memcpy(rows + l, g->tmp, (size_t)nr * sizeof *rows);
        return l;
    }
    /* Each fixed chunk is split into its own range of tmp (lefts, then rights); the chunks' left
     * counts then place every row, in the serial order, whatever thread ran which chunk. */
    const int64_t nch = (m + PART_CHUNK - 1) / PART_CHUNK;
    int64_t *cnt = g->part_count, n_left = 0;
#pragma omp parallel num_threads(g->threads)
    {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        gb_stat *own = hist ? (t == 0 ? hist : g->scratch + (size_t)t * len) : NULL;
        int32_t *rb = g->chunk_buf + (size_t)t * (PART_CHUNK + 1);
        if (own)
            memset(own, 0, len * sizeof *own);
#pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < nch; ch++) {
            const int64_t i0 = begin + ch * PART_CHUNK, i1 = i0 + PART_CHUNK < end ? i0 + PART_CHUNK : end;
            int32_t *lb = g->tmp + i0;
            int64_t nl = 0, nr = 0;
            for (int64_t i = i0; i < i1; i++) {
                if (i + 16 < i1)
                    __builtin_prefetch(bins + (int64_t)rows[i + 16] * d + f);
                const int32_t r = rows[i];
                const int left = goes_left(bins + (int64_t)r * d, f, bin, dl);
                lb[nl] = r, rb[nr] = r;
                nl += left, nr += !left;
            }
            memcpy(lb + nl, rb, (size_t)nr * sizeof *rb);
            if (own)
                gb_hist_accumulate(B, side ? rb : lb, side ? nr : nl, gq, cb, lay, own);
            cnt[ch] = nl;
        }
#pragma omp single
        {
            int64_t acc = 0;
            for (int64_t ch = 0; ch < nch; ch++) {
                int64_t c = cnt[ch];
                cnt[ch] = acc, acc += c;
            }
            n_left = acc;
        }
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t ch = 0; ch < nch; ch++) {
            const int64_t i0 = begin + ch * PART_CHUNK, i1 = i0 + PART_CHUNK < end ? i0 + PART_CHUNK : end;
            const int64_t nl = (ch + 1 < nch ? cnt[ch + 1] : n_left) - cnt[ch];
            memcpy(rows + begin + cnt[ch], g->tmp + i0, (size_t)nl * sizeof *rows);
            memcpy(rows + begin + n_left + (ch * PART_CHUNK - cnt[ch]), g->tmp + i0 + nl,
                   (size_t)(i1 - i0 - nl) * sizeof *rows);
        }
        if (hist) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t e0 = 0; e0 < (int64_t)len; e0 += GB_STRIDE)
                for (int u = 1; u < T; u++)
                    for (int64_t e = e0; e < e0 + GB_STRIDE && e < (int64_t)len; e++) {
                        const gb_stat *o = g->scratch + (size_t)u * len + e;
                        hist[e].g += o->g, hist[e].hn += o->hn;
                    }
        }
    }
    return begin + n_left;
}

static int can_split_n(const gb_grower *g, int64_t rows, int depth, int nf)
{
    return nf > 0 && (g->gp.max_depth <= 0 || depth < g->gp.max_depth) && rows >= 2 * g->gp.sp.min_leaf;
}

static int can_split(const gb_grower *g, const leaf_info *l, int nf)
{
    return can_split_n(g, gb_count(l->tot, g->gp.sp.count_bits), l->depth, nf);
}

/* Finds the leaf's best split from its histogram; releases the histogram when it will not split. */
static void settle(gb_grower *g, leaf_info *l, const gb_layout *lay)
{
    gb_split_find(g->B, g->pool[l->hist], lay, l->tot, &g->gp.sp, g->threads, &l->best);
    if (l->best.feature < 0)
        release_slot(g, l);
}

aml_status gb_grower_grow(gb_grower *g, int32_t *rows, int64_t m, const int32_t *gq, const gb_layout *lay,
                          gb_forest *f)
{
    const int nf = lay->nf;
    const gb_binned *B = g->B;
    const gb_grow_params *gp = &g->gp;
    if (gb_forest_reserve(f, gp->max_leaves) != AML_OK)
        return AML_ERR_NOMEM;
    const int64_t node_base = f->n_nodes, leaf_base = f->n_leaves;
    int n_nodes = 0;
    int64_t sg = 0, sh = 0;
#pragma omp parallel for num_threads(g->threads) schedule(static) reduction(+ : sg, sh) if (m >= PAR_PARTITION_ROWS)
    for (int64_t i = 0; i < m; i++)
        sg += gq[2 * (int64_t)rows[i]], sh += gq[2 * (int64_t)rows[i] + 1];
    leaf_info *lv = g->leaves;
    lv[0] = (leaf_info){.begin = 0, .end = m, .tot = {sg, (sh << g->gp.sp.count_bits) + m}, .depth = 0, .hist = -1,
                        .parent = -1};
    lv[0].best.feature = -1, lv[0].best.gain = 0;
    g->n_leaves = 1;
    if (can_split(g, &lv[0], nf)) {
        if ((lv[0].hist = take_slot(g, -1, -1)) < 0)
            return AML_ERR_NOMEM;
        gb_hist_build(B, rows, m, gq, g->gp.sp.count_bits, lay, g->pool[lv[0].hist], g->scratch,
                      g->threads);
        settle(g, &lv[0], lay);
    }
    aml_status st = AML_OK;
    while (g->n_leaves < gp->max_leaves) {
        int pick = -1;
        for (int l = 0; l < g->n_leaves; l++)
            if (lv[l].best.feature >= 0 && (pick < 0 || lv[l].best.gain > lv[pick].best.gain))
                pick = l;
        if (pick < 0)
            break;
        leaf_info *L = &lv[pick];
        const gb_split s = L->best;
        const int node = n_nodes++;
        gb_node *nd = f->nodes + node_base + node;
        const int nvb = B->n_value_bins[s.feature];
        nd->thr = s.bin >= nvb ? INFINITY : B->cuts[B->cut_off[s.feature] + s.bin - 1];
        nd->feat = (uint32_t)s.feature | (s.default_left ? 0u : GB_DEFAULT_RIGHT);
        f->node_bin[node_base + node] = (uint8_t)s.bin;
        f->node_gain[node_base + node] = (float)s.gain;
        if (L->parent >= 0)
            f->nodes[node_base + L->parent].child[L->side] = node;
        /* what the children will need, known before the rows move: the split gives the counts */
        const int64_t n_l = gb_count(s.left, g->gp.sp.count_bits), n_r = L->end - L->begin - n_l;
        const int last = g->n_leaves + 1 >= gp->max_leaves;
        const int cl = !last && can_split_n(g, n_l, L->depth + 1, nf);
        const int cr = !last && can_split_n(g, n_r, L->depth + 1, nf);
        const int small_left = n_l <= n_r, small_splits = small_left ? cl : cr, large_splits = small_left ? cr : cl;
        const int parent_hist = L->hist;
        const int need_small = small_splits || (large_splits && parent_hist >= 0);
        int sslot = -1;
        if (need_small && (sslot = take_slot(g, pick, -1)) < 0) {
            st = AML_ERR_NOMEM;
            break;
        }
        const int64_t mid = partition(g, rows, L->begin, L->end, &s, small_left ? 0 : 1, gq, lay,
                                      need_small ? g->pool[sslot] : NULL);
        const int r = g->n_leaves++;
        leaf_info *R = &lv[r];
        gb_stat rt = {L->tot.g - s.left.g, L->tot.hn - s.left.hn};
        *R = (leaf_info){.begin = mid, .end = L->end, .tot = rt, .depth = L->depth + 1, .hist = -1,
                         .parent = node, .side = 1};
        R->best.feature = -1;
        L->end = mid, L->tot = s.left, L->depth++, L->parent = node, L->side = 0;
        L->best.feature = -1, L->hist = -1;
        nd->child[0] = ~pick, nd->child[1] = ~r;
        if (!cl && !cr) {
            if (parent_hist >= 0)
                g->free_slots[g->n_free++] = parent_hist;
            if (g->n_leaves >= gp->max_leaves)
                break;
            continue;
        }
        leaf_info *S = small_left ? L : R, *Lg = small_left ? R : L;
        S->hist = sslot;
        if (large_splits) {
            if (parent_hist >= 0) {
                Lg->hist = parent_hist;
                gb_hist_subtract(g->pool[parent_hist], g->pool[sslot], (size_t)lay->off[nf]);
            } else {
                int lslot = take_slot(g, pick, r);
                if (lslot < 0) {
                    st = AML_ERR_NOMEM;
                    break;
                }
                Lg->hist = lslot;
                gb_hist_build(B, rows + Lg->begin, Lg->end - Lg->begin, gq, g->gp.sp.count_bits, lay,
                              g->pool[lslot], g->scratch, g->threads);
            }
            settle(g, Lg, lay);
        } else if (parent_hist >= 0) {
            g->free_slots[g->n_free++] = parent_hist;
        }
        if (S == L ? cl : cr)
            settle(g, S, lay);
        else
            release_slot(g, S);
    }
    for (int l = 0; l < g->n_leaves; l++) {
        release_slot(g, &lv[l]);
        double G = (double)lv[l].tot.g * g->gp.sp.inv_sg,
               H = (double)gb_hsum(lv[l].tot, g->gp.sp.count_bits) * g->gp.sp.inv_sh;
        f->leaf[leaf_base + l] = -G / (H + gp->sp.l2) * gp->learning_rate;
        g->seg_begin[l] = lv[l].begin, g->seg_end[l] = lv[l].end;
    }
    if (st != AML_OK)
        return st;
    int32_t depth = 0;
    for (int l = 0; l < g->n_leaves; l++)
        depth = lv[l].depth > depth ? lv[l].depth : depth;
    f->depth[f->n_trees] = depth;
    f->n_nodes += n_nodes, f->n_leaves += g->n_leaves;
    f->n_trees++;
    f->node_off[f->n_trees] = f->n_nodes, f->leaf_off[f->n_trees] = f->n_leaves;
    return AML_OK;
}
