/* Growing one tree of the forest plugin: bootstrap (or all rows), then depth first with an
 * explicit stack over one contiguous index array partitioned in place. Random forest splits scan
 * byte histograms of the bins (only the bin range present in the node, cleared sparsely);
 * extra-trees splits draw one threshold per feature uniformly between the node's min and max.
 * Missing values are counted apart and sent to whichever side scores better. Every buffer lives
 * in the per-thread scratch: nothing is allocated per node, and a tree depends only on its
 * index, the seed and the data, never on the thread that grows it. */
#include "forest.h"

#include <math.h>
#include <string.h>

#define HIST_BINS 256

void forest_bootstrap(forest_rng *r, int64_t n, int32_t *count)
{
    memset(count, 0, (size_t)n * sizeof *count);
    for (int64_t k = 0; k < n; k++)
        count[forest_below(r, (uint32_t)n)]++;
}

void forest_scratch_free(const aml_host *h, forest_scratch *s)
{
    mc_free(h, s->idx), mc_free(h, s->count), mc_free(h, s->w), mc_free(h, s->hist), mc_free(h, s->hcount);
    mc_free(h, s->feats), mc_free(h, s->stack), mc_free(h, s->nodes), mc_free(h, s->values), mc_free(h, s->imp);
    mc_free(h, s->stats);
    memset(s, 0, sizeof *s);
}

aml_status forest_scratch_init(const aml_host *h, const forest_train *t, forest_scratch *s)
{
    const size_t n = (size_t)t->n, d = (size_t)t->d, S = (size_t)t->n_stats;
    memset(s, 0, sizeof *s);
    s->idx = h->alloc(n * sizeof *s->idx);
    s->count = h->alloc(n * sizeof *s->count);
    s->w = h->alloc(n * sizeof *s->w);
    s->hist = h->alloc(HIST_BINS * S * sizeof *s->hist);
    s->hcount = h->alloc(HIST_BINS * sizeof *s->hcount);
    s->feats = h->alloc(d * sizeof *s->feats);
    s->stack = h->alloc(4 * (n + 1) * sizeof *s->stack);
    s->nodes = h->alloc(2 * n * sizeof *s->nodes);
    s->values = h->alloc(n * (size_t)t->n_out * sizeof *s->values);
    s->imp = h->alloc(d * sizeof *s->imp);
    s->stats = h->alloc(8 * S * sizeof *s->stats);
    if (!s->idx || !s->count || !s->w || !s->hist || !s->hcount || !s->feats || !s->stack || !s->nodes ||
        !s->values || !s->imp || !s->stats) {
        forest_scratch_free(h, s);
        return AML_ERR_NOMEM;
    }
    /* the histograms are kept all-zero between uses: each scan clears what it touched */
    memset(s->hist, 0, HIST_BINS * S * sizeof *s->hist);
    memset(s->hcount, 0, HIST_BINS * sizeof *s->hcount);
    return AML_OK;
}

void forest_tree_free(const aml_host *h, forest_tree *t)
{
    mc_free(h, t->nodes), mc_free(h, t->values), mc_free(h, t->importance);
    memset(t, 0, sizeof *t);
}

/* ---- split scores ------------------------------------------------------------------------- */
/* score(L) + score(R) - score(parent) is the weighted impurity decrease of a split, so the best
 * split maximises score(L) + score(R). Gini: sum c^2 / W; entropy: sum c ln c - W ln W;
 * squared error: (sum w y)^2 / W. */

static inline double xlogx(double x) { return x > 0 ? x * log(x) : 0.0; }

/* The score of a node given by its stats vector c; W its weight. */
static double side_score(const forest_train *t, const double *c, double W)
{
    if (!t->classification)
        return c[1] * c[1] / W;
    double s = 0;
    if (t->criterion == CRIT_GINI) {
        for (int k = 0; k < t->n_stats; k++)
            s += c[k] * c[k];
        return s / W;
    }
    for (int k = 0; k < t->n_stats; k++)
        s += xlogx(c[k]);
    return s - xlogx(W);
}

static inline double weight_of(const forest_train *t, const double *c)
{
    if (!t->classification)
        return c[0];
    double W = 0;
    for (int k = 0; k < t->n_stats; k++)
        W += c[k];
    return W;
}

/* Score of the split whose left side is L (+ M when M is not NULL), the right side the rest of
 * T, in one pass without temporaries; *wl / *wr get the sides' weights. -inf when a side has no
 * weight. This runs for every candidate boundary, so it is kept inline and branch-light. */
static inline double split_score(const forest_train *t, const double *T, const double *L, const double *M,
                                 double *wl_out, double *wr_out)
{
    if (!t->classification) {
        const double wl = L[0] + (M ? M[0] : 0.0), sl = L[1] + (M ? M[1] : 0.0);
        const double wr = T[0] - wl, sr = T[1] - sl;
        *wl_out = wl, *wr_out = wr;
        return wl > 0 && wr > 0 ? sl * sl / wl + sr * sr / wr : -HUGE_VAL;
    }
    const int S = t->n_stats;
    double wl = 0, wr = 0, ql = 0, qr = 0;
    if (t->criterion == CRIT_GINI) {
        if (M) {
            for (int k = 0; k < S; k++) {
                const double l = L[k] + M[k], r = T[k] - l;
                wl += l, wr += r, ql += l * l, qr += r * r;
            }
        } else {
            for (int k = 0; k < S; k++) {
                const double l = L[k], r = T[k] - l;
                wl += l, wr += r, ql += l * l, qr += r * r;
            }
        }
        *wl_out = wl, *wr_out = wr;
        return wl > 0 && wr > 0 ? ql / wl + qr / wr : -HUGE_VAL;
    }
    for (int k = 0; k < S; k++) {
        const double l = M ? L[k] + M[k] : L[k], r = T[k] - l;
        wl += l, wr += r, ql += xlogx(l), qr += xlogx(r);
    }
    *wl_out = wl, *wr_out = wr;
    return wl > 0 && wr > 0 ? ql - xlogx(wl) + qr - xlogx(wr) : -HUGE_VAL;
}

typedef struct {
    double score;
    int feature, bin, missing_left;
    float thr;     /* the threshold prediction uses: between the node's values left and right */
} best_split;

/* Offers the split "bin <= b" (threshold thr) of feature f with L / M stats and counts; keeps it
 * if it beats best. Missing values go to the better side; when the node has none, later ones
 * follow the heavier side. */
static inline void offer(const forest_train *t, const double *T, const double *L, const double *M, int64_t nL,
                         int64_t nM, int64_t cnt, int f, int b, float thr, best_split *best)
{
    const int64_t nR = cnt - nL - nM, msl = t->min_leaf;
    double wl, wr;
    if (nL >= msl && nR + nM >= msl) { /* missing values go right */
        const double sc = split_score(t, T, L, NULL, &wl, &wr);
        if (sc > best->score) {
            best->score = sc, best->feature = f, best->bin = b, best->thr = thr;
            best->missing_left = nM > 0 ? 0 : wl >= wr;
        }
    }
    if (nM > 0 && nL + nM >= msl && nR >= msl) { /* missing values go left */
        const double sc = split_score(t, T, L, M, &wl, &wr);
        if (sc > best->score)
            best->score = sc, best->feature = f, best->bin = b, best->thr = thr, best->missing_left = 1;
    }
}

/* Fills the histogram of feature f over idx[st..en): per bin the stats and the row count (the
 * missing code 255 included); *bmin / *bmax get the smallest and largest non-missing bin (bmax
 * -1 when every value is missing). Updates land on different bins row after row, so they rarely
 * wait on each other. */
static void build_histogram(const forest_train *t, forest_scratch *s, int32_t st, int32_t en, int f, int *bmin_out,
                            int *bmax_out)
{
    const int S = t->n_stats;
    const uint8_t *col = t->bins + (int64_t)f * t->n;
    const int32_t *idx = s->idx;
    const double *w = s->w;
    double *hist = s->hist;
    int32_t *hc = s->hcount;
    int bmin = FOREST_MISSING_BIN, bmax = -1;
    if (t->classification) {
        const int32_t *label = t->label;
        for (int32_t i = st; i < en; i++) {
            const int32_t r = idx[i];
            const int b = col[r];
            hist[b * S + label[r]] += w[r];
            hc[b]++;
            bmin = b < bmin ? b : bmin;
            bmax = b != FOREST_MISSING_BIN && b > bmax ? b : bmax;
        }
    } else {
        const double *y = t->value;
        for (int32_t i = st; i < en; i++) {
            const int32_t r = idx[i];
            const int b = col[r];
            hist[2 * b] += w[r];
            hist[2 * b + 1] += w[r] * y[r];
            hc[b]++;
            bmin = b < bmin ? b : bmin;
            bmax = b != FOREST_MISSING_BIN && b > bmax ? b : bmax;
        }
    }
    *bmin_out = bmin, *bmax_out = bmax;
}

/* Leaves the histogram all-zero for the next scan: only the range the node touched. */
static void clear_histogram(const forest_train *t, forest_scratch *s, int bmin, int bmax)
{
    const int S = t->n_stats;
    if (bmin <= bmax) {
        memset(s->hist + bmin * S, 0, (size_t)(bmax - bmin + 1) * (size_t)S * sizeof *s->hist);
        memset(s->hcount + bmin, 0, (size_t)(bmax - bmin + 1) * sizeof *s->hcount);
    }
    memset(s->hist + FOREST_MISSING_BIN * S, 0, (size_t)S * sizeof *s->hist);
    s->hcount[FOREST_MISSING_BIN] = 0;
}

/* Random forest: every boundary between the node's values of f. Returns 0 when f is constant
 * in the node (and has no missing values to split off). */
static int scan_histogram(const forest_train *t, forest_scratch *s, int32_t st, int32_t en, int f,
                          const double *T, best_split *best)
{
    const int S = t->n_stats;
    int bmin, bmax;
    build_histogram(t, s, st, en, f, &bmin, &bmax);
    const double *hist = s->hist;
    const int32_t *hc = s->hcount;
    const double *M = hist + FOREST_MISSING_BIN * S;
    const int64_t nM = hc[FOREST_MISSING_BIN], cnt = en - st;
    /* values to split between, or values and missing ones to tell apart */
    const int varies = bmin < bmax || (bmax >= 0 && nM > 0);
    if (varies) {
        /* split after each non-empty bin `prev`, with the threshold halfway to the next non-empty
         * bin b of the node (as an exact splitter would place it), not at prev's upper edge */
        const float *lo = t->fb->lo + (int64_t)f * FOREST_MAX_BINS, *hi = t->fb->hi + (int64_t)f * FOREST_MAX_BINS;
        double *L = s->stats + S;
        const double *h0 = hist + bmin * S;
        for (int k = 0; k < S; k++)
            L[k] = h0[k];
        int64_t nL = hc[bmin];
        int prev = bmin;
        for (int b = bmin + 1; b <= bmax; b++) {
            if (!hc[b])
                continue;
            offer(t, T, L, M, nL, nM, cnt, f, prev, forest_midpoint(hi[prev], lo[b]), best);
            const double *hb = hist + b * S;
            for (int k = 0; k < S; k++)
                L[k] += hb[k];
            nL += hc[b];
            prev = b;
        }
        /* every value left, the missing ones right: missingness itself as the split */
        if (nM > 0)
            offer(t, T, L, M, nL, nM, cnt, f, bmax, HUGE_VALF, best);
    }
    clear_histogram(t, s, bmin, bmax);
    return varies;
}

/* Extra trees: one threshold drawn uniformly in [min, max) of the node's values of f; the
 * histogram gives min, max and the left side's stats in one pass over the rows. */
static int scan_extra(const forest_train *t, forest_scratch *s, forest_rng *rng, int32_t st, int32_t en, int f,
                      const double *T, best_split *best)
{
    const int S = t->n_stats;
    int bmin, bmax;
    build_histogram(t, s, st, en, f, &bmin, &bmax);
    const double *hist = s->hist;
    const int32_t *hc = s->hcount;
    const double *M = hist + FOREST_MISSING_BIN * S;
    const int64_t nM = hc[FOREST_MISSING_BIN];
    const int varies = bmin < bmax || (bmax >= 0 && nM > 0);
    if (!varies) {
        clear_histogram(t, s, bmin, bmax);
        return 0;
    }
    const float *lo = t->fb->lo + (int64_t)f * FOREST_MAX_BINS, *hi = t->fb->hi + (int64_t)f * FOREST_MAX_BINS;
    const double vlo = lo[bmin], vhi = hi[bmax];
    const double thr = bmin < bmax ? vlo + forest_uniform(rng) * (vhi - vlo) : 0;
    int cut;
    if (!(bmin < bmax)) { /* one value and missing ones: split on missingness */
        cut = bmax;
    } else if (!isfinite(thr)) {
        cut = bmin + (int)forest_below(rng, (uint32_t)(bmax - bmin));
    } else { /* the last bin whose smallest value is <= thr (lo[bmin] is): x <= thr <=> bin <= cut;
              * a branch-free search, since where thr falls is random by design */
        int a = bmin, len = bmax - bmin + 1;
        while (len > 1) {
            const int half = len >> 1;
            a = lo[a + half] <= thr ? a + half : a;
            len -= half;
        }
        cut = a < bmax ? a : bmax - 1;
    }
    double *L = s->stats + S;
    for (int k = 0; k < S; k++)
        L[k] = 0;
    int64_t nL = 0;
    if (en - st < cut - bmin + 1) { /* a small node over a wide range: its rows are fewer than the bins */
        const uint8_t *col = t->bins + (int64_t)f * t->n;
        for (int32_t i = st; i < en; i++) {
            const int32_t r = s->idx[i];
            const int b = col[r];
            if (b > cut) /* the missing code included */
                continue;
            nL++;
            if (t->classification)
                L[t->label[r]] += s->w[r];
            else
                L[0] += s->w[r], L[1] += s->w[r] * t->value[r];
        }
    } else if (cut - bmin <= bmax - cut) {
        for (int b = bmin; b <= cut; b++) {
            const double *hb = hist + b * S; /* empty bins add zeros: cheaper than a branch */
            for (int k = 0; k < S; k++)
                L[k] += hb[k];
            nL += hc[b];
        }
    } else { /* fewer bins on the right: left = total - missing - right */
        double *R = s->stats + 6 * S;
        for (int k = 0; k < S; k++)
            R[k] = 0;
        int64_t nR = 0;
        for (int b = cut + 1; b <= bmax; b++) {
            const double *hb = hist + b * S;
            for (int k = 0; k < S; k++)
                R[k] += hb[k];
            nR += hc[b];
        }
        for (int k = 0; k < S; k++)
            L[k] = T[k] - M[k] - R[k];
        nL = (en - st) - nM - nR;
    }
    /* the drawn threshold itself when it separates the bins as partitioned (always so when a
     * bin holds one value), else the middle of the gap after bin `cut` */
    float fthr = (float)thr;
    if (cut == bmax)
        fthr = HUGE_VALF;
    else if (!(fthr >= hi[cut] && fthr < lo[cut + 1]))
        fthr = forest_midpoint(hi[cut], lo[cut + 1]);
    offer(t, T, L, M, nL, nM, en - st, f, cut, fthr, best);
    clear_histogram(t, s, bmin, bmax);
    return 1;
}

/* Partitions idx[st..en) by the split, stably and without branches (the side of a row is
 * unpredictable): left rows compacted in place, right rows through tmp. Returns the first row of
 * the right side. */
static int32_t partition(const forest_train *t, int32_t *idx, int32_t *tmp, int32_t st, int32_t en, int f, int cut,
                         int mleft)
{
    const uint8_t *col = t->bins + (int64_t)f * t->n;
    const int ml = mleft != 0;
    int32_t nl = st, nr = 0;
    for (int32_t i = st; i < en; i++) {
        const int32_t r = idx[i];
        const int b = col[r];
        const int left = (b <= cut) | (ml & (b == FOREST_MISSING_BIN)); /* cut < the missing code */
        idx[nl] = r, tmp[nr] = r;
        nl += left, nr += !left;
    }
    memcpy(idx + nl, tmp, (size_t)nr * sizeof *idx);
    return nl;
}

aml_status forest_grow(const aml_host *h, const forest_train *t, forest_scratch *s, int tree, forest_tree *out)
{
    const int64_t n = t->n, d = t->d;
    const int S = t->n_stats, n_out = t->n_out;
    forest_rng rng;
    forest_rng_tree(&rng, t->seed, tree);
    int32_t m = 0;
    if (t->bootstrap) {
        forest_bootstrap(&rng, n, s->count);
        for (int64_t r = 0; r < n; r++)
            if (s->count[r] > 0 && t->base_w[r] > 0)
                s->idx[m++] = (int32_t)r, s->w[r] = t->base_w[r] * s->count[r];
    } else {
        for (int64_t r = 0; r < n; r++)
            if (t->base_w[r] > 0)
                s->idx[m++] = (int32_t)r, s->w[r] = t->base_w[r];
    }
    for (int64_t f = 0; f < d; f++)
        s->feats[f] = (int32_t)f, s->imp[f] = 0;
    double *T = s->stats;
    double root_w = 0;
    int32_t n_nodes = 1, n_leaves = 0, sp = 0;
    int32_t *stack = s->stack;
    stack[0] = 0, stack[1] = m, stack[2] = 0, stack[3] = 0, sp = 1;
    while (sp > 0) {
        sp--;
        const int32_t st = stack[4 * sp], en = stack[4 * sp + 1], depth = stack[4 * sp + 2], node = stack[4 * sp + 3];
        const int32_t cnt = en - st;
        /* node totals */
        for (int k = 0; k < S; k++)
            T[k] = 0;
        int pure;
        if (t->classification) {
            /* rows of a node mostly share a class: four accumulators keep the sums independent */
            double *T2 = s->stats + 4 * S, *T3 = s->stats + 5 * S, *T4 = s->stats + 6 * S;
            for (int k = 0; k < S; k++)
                T2[k] = T3[k] = T4[k] = 0;
            const int32_t *idx = s->idx, *label = t->label;
            const double *w = s->w;
            int32_t i = st;
            for (; i + 3 < en; i += 4) {
                T[label[idx[i]]] += w[idx[i]];
                T2[label[idx[i + 1]]] += w[idx[i + 1]];
                T3[label[idx[i + 2]]] += w[idx[i + 2]];
                T4[label[idx[i + 3]]] += w[idx[i + 3]];
            }
            for (; i < en; i++)
                T[label[idx[i]]] += w[idx[i]];
            for (int k = 0; k < S; k++)
                T[k] += (T2[k] + T3[k]) + T4[k];
            int present = 0;
            for (int k = 0; k < S; k++)
                present += T[k] > 0;
            pure = present <= 1;
        } else {
            double ymin = HUGE_VAL, ymax = -HUGE_VAL;
            for (int32_t i = st; i < en; i++) {
                const int32_t r = s->idx[i];
                const double y = t->value[r];
                T[0] += s->w[r], T[1] += s->w[r] * y;
                ymin = y < ymin ? y : ymin, ymax = y > ymax ? y : ymax;
            }
            pure = !(ymin < ymax);
        }
        const double W = weight_of(t, T);
        if (node == 0)
            root_w = W;
        best_split best = {.score = -HUGE_VAL, .feature = -1};
        if (!pure && cnt >= 2 && cnt >= 2 * t->min_leaf && (t->max_depth <= 0 || depth < t->max_depth)) {
            int tried = 0;
            for (int64_t k = 0; k < d && tried < t->mtry; k++) {
                const int64_t j = k + forest_below(&rng, (uint32_t)(d - k));
                const int32_t f = s->feats[j];
                s->feats[j] = s->feats[k], s->feats[k] = f;
                tried += t->extra ? scan_extra(t, s, &rng, st, en, f, T, &best)
                                  : scan_histogram(t, s, st, en, f, T, &best);
            }
        }
        if (best.feature < 0) {
            s->nodes[node] = (forest_node){.thr = 0, .feat = FN_LEAF, .child = n_leaves};
            float *v = s->values + (int64_t)n_leaves * n_out;
            if (t->classification) {
                for (int k = 0; k < S; k++)
                    v[k] = W > 0 ? (float)(T[k] / W) : 1.0f / (float)S;
            } else {
                v[0] = W > 0 ? (float)(T[1] / W) : 0.0f;
            }
            n_leaves++;
            continue;
        }
        /* s->count is free once the tree's rows are chosen: it serves as the partition buffer */
        const int32_t mid = partition(t, s->idx, s->count, st, en, best.feature, best.bin, best.missing_left);
        const double decrease = best.score - side_score(t, T, W);
        s->imp[best.feature] += decrease > 0 ? decrease : 0;
        uint32_t feat = (uint32_t)best.feature | (best.missing_left ? FN_MISSING_LEFT : 0u);
        s->nodes[node] = (forest_node){.thr = best.thr, .feat = feat, .child = n_nodes};
        /* right first, so the left child is grown next (depth first) */
        stack[4 * sp] = mid, stack[4 * sp + 1] = en, stack[4 * sp + 2] = depth + 1, stack[4 * sp + 3] = n_nodes + 1;
        sp++;
        stack[4 * sp] = st, stack[4 * sp + 1] = mid, stack[4 * sp + 2] = depth + 1, stack[4 * sp + 3] = n_nodes;
        sp++;
        n_nodes += 2;
    }
    memset(out, 0, sizeof *out);
    out->nodes = h->alloc((size_t)n_nodes * sizeof *out->nodes);
    out->values = h->alloc((size_t)n_leaves * (size_t)n_out * sizeof *out->values);
    out->importance = h->alloc((size_t)d * sizeof *out->importance);
    if (!out->nodes || !out->values || !out->importance) {
        forest_tree_free(h, out);
        return AML_ERR_NOMEM;
    }
    out->n_nodes = n_nodes, out->n_leaves = n_leaves;
    memcpy(out->nodes, s->nodes, (size_t)n_nodes * sizeof *out->nodes);
    memcpy(out->values, s->values, (size_t)n_leaves * (size_t)n_out * sizeof *out->values);
    for (int64_t f = 0; f < d; f++)
        out->importance[f] = root_w > 0 ? s->imp[f] / root_w : 0;
    return AML_OK;
}
