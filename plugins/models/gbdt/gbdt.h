/* Internals of the gbdt plugin shared by its units: binning (+ the process-wide bin cache),
 * histograms and split finding, leaf-wise tree growth, the forest and its traversal, losses.
 * Nothing here crosses the plugin boundary; only gbdt.c exports the descriptor. */
#ifndef AML_GBDT_H
#define AML_GBDT_H

#include "../common/model_common.h"

#include <stdint.h>

#define GB_MAX_BINS 255   /* value bins per feature; bin 0 is the missing-value bin */
#define GB_STRIDE 256     /* histogram entries per feature (missing + up to 255 value bins) */
#define GB_MISSING_BIN 0
/* Loops over fewer rows run on one thread: a parallel region costs more than they do, and far
 * more when the machine is oversubscribed. */
#define GB_PAR_ROWS 16384
#define GB_MAX_CLASSES (1 << 20) /* as a saved blob may hold */

/* ---- binning (gbdt_bin.c) ------------------------------------------------------------------ */

/* A data view binned once: bins[i * d + j] is 0 for NaN, else 1 + the number of cuts of feature j
 * below the value, so "bin <= t" is exactly "value <= cut[t - 1]" and trees trained on bins
 * predict on raw floats with the same result. */
typedef struct gb_binned {
    int64_t n, d;
    int max_bins;
    uint8_t *bins;      /* n x d row-major: one row is one cache line for d <= 64 */
    float *cuts;        /* all features' cuts, feature j at cuts + cut_off[j] */
    int32_t *cut_off;   /* d + 1 */
    uint16_t *n_value_bins; /* d: value bins (cuts + 1, >= 1) */
    uint8_t *has_missing;   /* d: some row is NaN */
    int32_t *usable;    /* features that can split (not constant), n_usable of them */
    int n_usable;
} gb_binned;

/* Cuts for one feature from its (sampled) values, NaN ignored: at most max_bins - 1 ascending
 * cuts, each separating two neighbouring distinct values (lo <= cut < hi); returns their count.
 * work has room for 2 * n uint32. */
int gb_bin_cuts(const float *vals, int64_t n, int max_bins, uint32_t *work, float *cuts);
/* 1 + number of cuts < v, or 0 for NaN. */
uint8_t gb_bin_value(const float *cuts, int n_cuts, float v);
/* Bins X with `threads` threads. Errors: AML_ERR_NOMEM, AML_ERR_INPUT (infinite values are fine). */
aml_status gb_binned_build(const aml_matrix *X, int max_bins, int threads, gb_binned *out);
void gb_binned_release(gb_binned *b);
/* A content hash of the view's cells (independent of threads and ld). */
uint64_t gb_matrix_hash(const aml_matrix *X, int threads);

/* The process-wide cache: the same view (pointer, shape, ld, max_bins, content hash) fitted again
 * gets the same binned matrix. Acquire blocks while another fit bins the same view. Every
 * successful acquire is paired with one gb_cache_release. */
aml_status gb_cache_acquire(const aml_matrix *X, uint64_t hash, int max_bins, int threads,
                            const gb_binned **out);
void gb_cache_release(const gb_binned *b);
/* Entries currently cached (tests). */
int gb_cache_entries(void);

/* ---- histograms and split finding (gbdt_hist.c) -------------------------------------------- */

/* Sums over rows of quantised gradients: integer sums are exact, so a histogram (and the model)
 * does not depend on how rows were spread over threads. 16 bytes: the hessian sum and the row
 * count share one word, hn = (sum of hessians << count_bits) + rows, which the fit's choice of
 * count_bits and hessian scale keeps from overflowing; subtraction stays exact. */
typedef struct gb_stat {
    int64_t g, hn;
} gb_stat;

static inline int64_t gb_count(gb_stat s, int cb) { return s.hn & (((int64_t)1 << cb) - 1); }
static inline int64_t gb_hsum(gb_stat s, int cb) { return s.hn >> cb; }

typedef struct gb_split_params {
    double l2, min_gain, min_hess;  /* min_hess in real units */
    double inv_sg, inv_sh;          /* quantisation scales back to real units */
    int64_t min_leaf;               /* min_samples_leaf */
    int count_bits;                 /* rows of the fit < 2^count_bits */
} gb_split_params;

typedef struct gb_split {
    double gain;          /* <= 0: no valid split */
    int32_t feature;      /* column of X, -1 when none */
    int bin;              /* left: value bins 1..bin (bin == n_value_bins: every value left) */
    int default_left;     /* where missing values go */
    gb_stat left;
} gb_split;

/* The features of one tree and where each one's bins sit in its histograms: a feature with few
 * distinct values takes few entries, so small or low-cardinality data clears and scans little. */
typedef struct gb_layout {
    const int32_t *feats; /* columns of X, ascending */
    int nf;
    int all;              /* feats is every column 0..d-1 */
    const int32_t *off;   /* nf + 1: position k's bins start at off[k]; off[nf] entries in all */
} gb_layout;

/* Builds hist[off[k] + bin] over rows[0..m); gq holds (g, h) int32 pairs per row; cb:
 * count_bits. scratch: threads * off[nf] entries. */
void gb_hist_build(const gb_binned *B, const int32_t *rows, int64_t m, const int32_t *gq, int cb,
                   const gb_layout *lay, gb_stat *hist, gb_stat *scratch, int threads);
/* Adds rows[0..m) into hist (no clearing; one thread). */
void gb_hist_accumulate(const gb_binned *B, const int32_t *rows, int64_t m, const int32_t *gq, int cb,
                        const gb_layout *lay, gb_stat *hist);
/* a -= b over len entries. */
void gb_hist_subtract(gb_stat *a, const gb_stat *b, size_t len);
/* The best split of a node with totals `tot` from its histogram; deterministic: ties go to the
 * lower feature position, then the lower bin, then missing-right. */
void gb_split_find(const gb_binned *B, const gb_stat *hist, const gb_layout *lay, gb_stat tot,
                   const gb_split_params *sp, int threads, gb_split *best);
/* score of a node: G^2 / (H + l2) in real units */
double gb_leaf_score(gb_stat s, const gb_split_params *sp);

/* ---- the forest (gbdt_forest.c) ------------------------------------------------------------ */

/* 16 bytes: the traversal touches only these. feat's top bit is set when missing goes right. */
typedef struct gb_node {
    float thr;
    uint32_t feat;
    int32_t child[2]; /* >= 0: node index within the tree; < 0: ~leaf index within the tree */
} gb_node;
#define GB_DEFAULT_RIGHT 0x80000000u

typedef struct gb_forest {
    int K;                /* scores per row */
    int64_t d;
    int64_t n_trees, cap_trees;
    int64_t *node_off, *leaf_off; /* n_trees + 1 each */
    int32_t *depth;       /* n_trees: the deepest leaf (batch traversal runs that many steps) */
    gb_node *nodes;
    uint8_t *node_bin;    /* bin threshold (training-time traversal on bins) */
    float *node_gain;
    int64_t n_nodes, cap_nodes;
    double *leaf;         /* learning rate already applied */
    int64_t n_leaves, cap_leaves;
    double *base;         /* K initial scores */
} gb_forest;

aml_status gb_forest_init(gb_forest *f, int K, int64_t d);
void gb_forest_free(gb_forest *f);
/* Drops trees from n_trees on. */
void gb_forest_truncate(gb_forest *f, int64_t n_trees);
/* Recomputes depth[] from the nodes (after load). */
void gb_forest_depths(gb_forest *f);
/* Room for one more tree of up to max_leaves leaves. */
aml_status gb_forest_reserve(gb_forest *f, int max_leaves);

static inline double gb_tree_eval(const gb_forest *f, int64_t t, const float *x)
{
    const gb_node *nd = f->nodes + f->node_off[t];
    const double *lv = f->leaf + f->leaf_off[t];
    if (f->node_off[t + 1] == f->node_off[t])
        return lv[0];
    int32_t i = 0;
    do {
        const gb_node *p = nd + i;
        float v = x[p->feat & ~GB_DEFAULT_RIGHT];
        int right = (v > p->thr) | ((v != v) & (int)(p->feat >> 31));
        i = p->child[right];
    } while (i >= 0);
    return lv[~i];
}

static inline double gb_tree_eval_bins(const gb_forest *f, int64_t t, const uint8_t *b)
{
    const gb_node *nd = f->nodes + f->node_off[t];
    const uint8_t *nb = f->node_bin + f->node_off[t];
    const double *lv = f->leaf + f->leaf_off[t];
    if (f->node_off[t + 1] == f->node_off[t])
        return lv[0];
    int32_t i = 0;
    do {
        const gb_node *p = nd + i;
        uint8_t v = b[p->feat & ~GB_DEFAULT_RIGHT];
        int right = v == GB_MISSING_BIN ? (int)(p->feat >> 31) : v > nb[i];
        i = p->child[right];
    } while (i >= 0);
    return lv[~i];
}

#define GB_SCORE_BLOCK 64 /* rows scored together, tree by tree */
/* Raw scores of `rows` rows of X (at most a few blocks) for trees [0, n_trees) into out. */
void gb_forest_block(const gb_forest *f, int64_t n_trees, const float *X, int64_t rows, int64_t ld, double *out);
/* One row's raw scores (no allocation), bit for bit those of gb_forest_block. */
void gb_forest_row(const gb_forest *f, int64_t n_trees, const float *x, double *out);
/* Raw scores of rows [0, n) of X for trees [0, n_trees) into out (n x K, base included), with
 * `threads` threads; each row's sum runs in tree order, so threads never change a bit. */
void gb_forest_scores(const gb_forest *f, int64_t n_trees, const float *X, int64_t n, int64_t ld, double *out,
                      int threads);
/* One row's scores to its outputs: the value (regression), sigmoid (K = 1, two outputs) or
 * softmax; out may be score itself. */
void gb_scores_to_proba(int K, int n_classes, const double *score, double *out);

/* ---- tree growth (gbdt_tree.c) ------------------------------------------------------------- */

typedef struct gb_grow_params {
    int max_leaves, max_depth;  /* max_depth <= 0: unlimited */
    double learning_rate;
    gb_split_params sp;
} gb_grow_params;

typedef struct gb_grower gb_grower;

/* Workspace for growing trees on n rows of B with up to nf features per tree. */
aml_status gb_grower_new(const gb_binned *B, const gb_grow_params *gp, int threads, gb_grower **out);
void gb_grower_free(gb_grower *g);
/* Grows one tree on rows[0..m) (rows ascending, reordered: afterwards leaf l owns
 * rows[leaf_begin[l] .. leaf_end[l])) with quantised gradients gq; appends it to f with leaf
 * values -G / (H + l2) * learning_rate. The leaf segments stay readable through
 * gb_grower_leaves until the next grow. */
aml_status gb_grower_grow(gb_grower *g, int32_t *rows, int64_t m, const int32_t *gq, const gb_layout *lay,
                          gb_forest *f);
int gb_grower_leaves(const gb_grower *g, const int64_t **begin, const int64_t **end);
/* The quantisation scales of the gradients of the next tree. */
void gb_grower_set_scales(gb_grower *g, double inv_sg, double inv_sh);

/* ---- losses (gbdt_loss.c) ------------------------------------------------------------------ */

typedef enum {
    GB_OBJ_BINARY = 1,   /* log loss on one score */
    GB_OBJ_SOFTMAX = 2,  /* multiclass log loss, one score (tree) per class */
    GB_OBJ_SQUARED = 3,
    GB_OBJ_ABSOLUTE = 4, /* leaves renewed to the weighted median residual */
    GB_OBJ_HUBER = 5     /* delta = 0.9 quantile of |residual|, per round */
} gb_objective;

/* The targets of one fit: labels or values, per-row weights (NULL = 1). */
typedef struct gb_targets {
    int64_t n;
    const int32_t *label;
    const double *value;
    const float *w;
} gb_targets;

/* Initial scores: log-odds / log priors, the weighted mean, or the weighted median. */
aml_status gb_base_score(gb_objective obj, int K, const gb_targets *y, double *base);
/* Gradients and hessians of every row and class at score (n x K) into gh, class k at
 * gh + 2 n k as (g, h) float pairs. */
void gb_gradients(gb_objective obj, int K, const gb_targets *y, const double *score, double delta, float *gh,
                  int threads);
/* Weighted mean validation loss (log loss, squared or absolute error); summed in fixed chunks so
 * the value does not depend on threads. */
double gb_loss_mean(gb_objective obj, int K, const gb_targets *y, const double *score, double delta, int threads);
/* Huber's delta for this round. buf: room for min(n, 100000) doubles. */
double gb_huber_delta(const gb_targets *y, const double *score, int K, double *buf);
/* Weighted median of residuals (value - score) over rows[0..m); buf: 2 * m doubles. */
double gb_leaf_median(const gb_targets *y, const double *score, int K, const int32_t *rows, int64_t m, double *buf);

/* ---- the model (gbdt.c: fit and predict; gbdt_io.c: save and load) ------------------------- */

enum { GB_P_N_TREES, GB_P_LEARNING_RATE, GB_P_MAX_LEAVES, GB_P_MAX_DEPTH, GB_P_MIN_SAMPLES_LEAF, GB_P_L2,
       GB_P_MIN_GAIN, GB_P_SUBSAMPLE, GB_P_COLSAMPLE, GB_P_MAX_BINS, GB_P_LOSS, GB_P_CLASS_WEIGHT,
       GB_P_EARLY_STOPPING, GB_N_PARAMS };

typedef struct gb_config {
    int64_t n_trees;
    double learning_rate, l2, min_gain, subsample, colsample;
    int max_leaves, max_depth, min_samples_leaf, max_bins, class_weight, early_stopping;
} gb_config;

struct aml_model {
    const aml_host *h;
    aml_task_kind kind;
    int n_classes;
    int64_t d;
    uint64_t seed;
    gb_config cfg;
    gb_objective obj;
    int K;
    gb_forest f;          /* every fitted tree; predictions use the first used_trees */
    int fitted;
    int64_t used_trees;
    /* resumable state: what the last fit saw and where it stands */
    int has_state, stopped;
    uint64_t train_hash, valid_hash;
    int64_t rounds_fit, best_rounds, since_best;
    double best_loss;
};

aml_status gb_model_new(const aml_host *h, const aml_task *task, aml_model **out);
void gb_model_free(aml_model *m);
aml_status gb_model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w);
aml_status gb_model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task, aml_model **out);

#endif
