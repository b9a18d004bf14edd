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
    f->base = calloc((size_t)K, sizeof(double));
    if (!f->node_off || !f->leaf_off || !f->base) {
        gb_forest_free(f);
        return AML_ERR_NOMEM;
    }
    f->node_off[0] = f->leaf_off[0] = 0;
    return AML_OK;
}

void gb_forest_free(gb_forest *f)
{
    free(f->node_off), free(f->leaf_off), free(f->nodes), free(f->node_bin), free(f->node_gain), free(f->leaf);
    free(f->base);
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

void gb_forest_block(const gb_forest *f, int64_t n_trees, const float *X, int64_t rows, int64_t ld, double *out)
{
    const int K = f->K;
    for (int64_t i = 0; i < rows; i++)
        for (int k = 0; k < K; k++)
            out[i * K + k] = f->base[k];
    for (int64_t t = 0; t < n_trees; t++) {
        const int k = (int)(t % K);
        for (int64_t i = 0; i < rows; i++)
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
