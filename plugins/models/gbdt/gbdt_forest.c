/* The fitted forest: flat arrays of 16-byte nodes and leaf values, trees in round-major order
 * (round r holds trees r*K .. r*K+K-1, one per score), growth and truncation, and batch scoring
 * on raw floats: blocks of rows walk each tree while it is hot in cache. */
#include "gbdt.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

aml_status gb_forest_init(gb_forest *f, int K, int64_t d)
{
    memset(f, 0, sizeof *f);
    f->K = K, f->d = d;
    f->cap_trees = 64;
    f->node_off = malloc((size_t)(f->cap_trees + 1) * sizeof(int64_t));
    f->leaf_off = malloc((size_t)(f->cap_trees + 1) * sizeof(int64_t));
    f->depth = malloc((size_t)(f->cap_trees + 1) * sizeof(int32_t));
    f->base = calloc((size_t)K, sizeof(double));
    if (!f->node_off || !f->leaf_off || !f->depth || !f->base) {
        gb_forest_free(f);
        return AML_ERR_NOMEM;
    }
    f->node_off[0] = f->leaf_off[0] = 0;
    return AML_OK;
}

void gb_forest_free(gb_forest *f)
{
    free(f->node_off), free(f->leaf_off), free(f->nodes), free(f->node_bin), free(f->node_gain), free(f->leaf);
    free(f->base), free(f->depth);
    memset(f, 0, sizeof *f);
}

void gb_forest_truncate(gb_forest *f, int64_t n_trees)
{
    if (n_trees >= f->n_trees)
        return;
    f->n_trees = n_trees;
    f->n_nodes = f->node_off[n_trees];
    f->n_leaves = f->leaf_off[n_trees];
}

static int grow_array(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return 1;
    int64_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return 0;
    *p = q, *cap = c;
    return 1;
}

aml_status gb_forest_reserve(gb_forest *f, int max_leaves)
{
    if (f->n_trees + 1 > f->cap_trees) {
        int64_t c = f->cap_trees * 2;
        int64_t *a = realloc(f->node_off, (size_t)(c + 1) * sizeof *a);
        if (!a)
            return AML_ERR_NOMEM;
        f->node_off = a;
        int64_t *b = realloc(f->leaf_off, (size_t)(c + 1) * sizeof *b);
        if (!b)
            return AML_ERR_NOMEM;
        f->leaf_off = b;
        int32_t *dp = realloc(f->depth, (size_t)(c + 1) * sizeof *dp);
        if (!dp)
            return AML_ERR_NOMEM;
        f->depth = dp;
        f->cap_trees = c;
    }
    int64_t need_nodes = f->n_nodes + max_leaves, cap = f->cap_nodes;
    if (need_nodes > cap) {
        int64_t c1 = cap, c2 = cap, c3 = cap;
        if (!grow_array((void **)&f->nodes, &c1, need_nodes, sizeof(gb_node)) ||
            !grow_array((void **)&f->node_bin, &c2, need_nodes, 1) ||
            !grow_array((void **)&f->node_gain, &c3, need_nodes, sizeof(float)))
            return AML_ERR_NOMEM;
        f->cap_nodes = c1;
    }
    if (!grow_array((void **)&f->leaf, &f->cap_leaves, f->n_leaves + max_leaves + 1, sizeof(double)))
        return AML_ERR_NOMEM;
    return AML_OK;
}

void gb_forest_depths(gb_forest *f)
{
    int32_t dmax = 0, *dn = NULL;
    for (int64_t t = 0; t < f->n_trees; t++)
        dmax = f->node_off[t + 1] - f->node_off[t] > dmax ? (int32_t)(f->node_off[t + 1] - f->node_off[t]) : dmax;
    dn = malloc((size_t)(dmax + 1) * sizeof *dn);
    for (int64_t t = 0; t < f->n_trees; t++) {
        const gb_node *nd = f->nodes + f->node_off[t];
        const int64_t nn = f->node_off[t + 1] - f->node_off[t];
        int32_t depth = 0;
        if (dn && nn > 0) {
            dn[0] = 1; /* children come after their parent: one pass in index order */
            for (int64_t i = 0; i < nn; i++)
                for (int s = 0; s < 2; s++) {
                    if (nd[i].child[s] >= 0)
                        dn[nd[i].child[s]] = dn[i] + 1;
                    else
                        depth = dn[i] > depth ? dn[i] : depth;
                }
        } else if (nn > 0) {
            depth = (int32_t)nn; /* no memory for the pass: a bound that is always safe */
        }
        f->depth[t] = depth;
    }
    free(dn);
}

/* Eight rows walk one tree in lockstep for the tree's depth: eight independent chains of loads
 * keep the core busy where one row would wait on each load; a row that reached its leaf idles
 * on a harmless reload of the root without a branch. */
static void block_tree8(const gb_forest *f, int64_t t, const float *X, int64_t ld, double *out, int K)
{
    const gb_node *nd = f->nodes + f->node_off[t];
    const double *lv = f->leaf + f->leaf_off[t];
    const int32_t depth = f->depth[t];
    int32_t idx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int32_t s = 0; s < depth; s++)
        for (int r = 0; r < 8; r++) {
            const int32_t cur = idx[r], at = cur < 0 ? 0 : cur;
            const gb_node *p = nd + at;
            const float v = X[r * ld + (p->feat & ~GB_DEFAULT_RIGHT)];
            const int32_t next = p->child[(v > p->thr) | ((v != v) & (int)(p->feat >> 31))];
            idx[r] = cur < 0 ? cur : next;
        }
    for (int r = 0; r < 8; r++)
        out[r * K] += lv[~idx[r]];
}

/* One row, eight trees in lockstep (the single-row path's version of the same idea); the leaf
 * values are added in tree order, as the batch path adds them. */
static void row_trees8(const gb_forest *f, int64_t t0, const float *x, double *out, int K)
{
    int32_t idx[8], depth = 0;
    const gb_node *nd[8];
    static const gb_node stump = {0.0f, 0u, {-1, -1}}; /* a lane whose tree is a single leaf */
    for (int r = 0; r < 8; r++) {
        const int has_nodes = f->node_off[t0 + r + 1] > f->node_off[t0 + r];
        nd[r] = has_nodes ? f->nodes + f->node_off[t0 + r] : &stump;
        idx[r] = has_nodes ? 0 : -1;
        depth = f->depth[t0 + r] > depth ? f->depth[t0 + r] : depth;
    }
    for (int32_t s = 0; s < depth; s++)
        for (int r = 0; r < 8; r++) {
            const int32_t cur = idx[r], at = cur < 0 ? 0 : cur;
            const gb_node *p = nd[r] + at;
            const float v = x[p->feat & ~GB_DEFAULT_RIGHT];
            const int32_t next = p->child[(v > p->thr) | ((v != v) & (int)(p->feat >> 31))];
            idx[r] = cur < 0 ? cur : next;
        }
    for (int r = 0; r < 8; r++)
        out[(t0 + r) % K] += f->leaf[f->leaf_off[t0 + r] + ~idx[r]];
}

void gb_forest_row(const gb_forest *f, int64_t n_trees, const float *x, double *out)
{
    const int K = f->K;
    for (int k = 0; k < K; k++)
        out[k] = f->base[k];
    int64_t t = 0;
    for (; t + 8 <= n_trees; t += 8)
        row_trees8(f, t, x, out, K);
    for (; t < n_trees; t++)
        out[t % K] += gb_tree_eval(f, t, x);
}

void gb_forest_block(const gb_forest *f, int64_t n_trees, const float *X, int64_t rows, int64_t ld, double *out)
{
    const int K = f->K;
    for (int64_t i = 0; i < rows; i++)
        for (int k = 0; k < K; k++)
            out[i * K + k] = f->base[k];
    for (int64_t t = 0; t < n_trees; t++) {
        const int k = (int)(t % K);
        int64_t i = 0;
        if (f->node_off[t + 1] > f->node_off[t])
            for (; i + 8 <= rows; i += 8)
                block_tree8(f, t, X + i * ld, ld, out + i * K + k, K);
        for (; i < rows; i++)
            out[i * K + k] += gb_tree_eval(f, t, X + i * ld);
    }
}

void gb_forest_scores(const gb_forest *f, int64_t n_trees, const float *X, int64_t n, int64_t ld, double *out,
                      int threads)
{
    const int64_t nblk = (n + GB_SCORE_BLOCK - 1) / GB_SCORE_BLOCK;
    if (nblk < threads)
        threads = nblk > 0 ? (int)nblk : 1;
    if (n < GB_PAR_ROWS / 16)
        threads = 1;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        const int64_t i0 = blk * GB_SCORE_BLOCK, i1 = i0 + GB_SCORE_BLOCK < n ? i0 + GB_SCORE_BLOCK : n;
        gb_forest_block(f, n_trees, X + i0 * ld, i1 - i0, ld, out + i0 * f->K);
    }
}

void gb_scores_to_proba(int K, int n_classes, const double *score, double *out)
{
    if (n_classes == 0) {
        out[0] = score[0];
    } else if (K == 1) {
        double p = 1.0 / (1.0 + exp(-score[0]));
        out[0] = 1.0 - p, out[1] = p;
    } else {
        double mx = score[0], s = 0;
        for (int k = 1; k < K; k++)
            mx = score[k] > mx ? score[k] : mx;
        for (int k = 0; k < K; k++)
            s += out[k] = exp(score[k] - mx);
        for (int k = 0; k < K; k++)
            out[k] /= s;
    }
}
