/* Internals shared by the files of the `forest` model plugin (random forest and extra trees):
 * the quantile bins of a fit, the tree layout used for prediction and storage, and the per-fit
 * training context handed to the tree grower. Not part of any public interface. */
#ifndef AML_FOREST_H
#define AML_FOREST_H

#include "../common/model_common.h"

#include <stdint.h>

#define FOREST_MAX_BINS 255     /* real bins per feature; code 255 marks a missing value */
#define FOREST_MISSING_BIN 255
#define FOREST_MAX_ROWS ((int64_t)INT32_MAX - 1)
#define FOREST_MAX_CLASSES (1 << 16)

enum { CRIT_GINI = 0, CRIT_ENTROPY = 1 };
enum { CW_NONE = 0, CW_BALANCED = 1 };

/* Quantile bins shared by every tree of a fit. Bin b of feature f holds the values x with
 * edges[b-1] < x <= edges[b]; the last real bin has no upper edge. Because a split "bin <= b" is
 * the same test as "x <= edges[b]", trees store float thresholds and predict on raw rows. */
typedef struct forest_bins {
    int64_t d;
    int32_t *n_bins; /* d: real bins of each feature, 1..255 */
    float *edges;    /* d x 255 (254 used at most) */
    float *lo, *hi;  /* d x 255: smallest and largest training value in each bin (extra trees) */
} forest_bins;

/* A tree node: 12 bytes, children of a split stored next to each other (right = left + 1).
 * feat holds the feature index and two flag bits. */
#define FN_LEAF 0x80000000u
#define FN_MISSING_LEFT 0x40000000u
#define FN_FEATURE_MASK 0x3fffffffu
typedef struct forest_node {
    float thr;     /* internal: go left when x <= thr */
    uint32_t feat; /* feature | FN_MISSING_LEFT, or FN_LEAF */
    int32_t child; /* internal: left child index; leaf: leaf index (values at child * n_out) */
} forest_node;

typedef struct forest_tree {
    int32_t n_nodes, n_leaves;
    forest_node *nodes;
    float *values;      /* n_leaves x n_out: class fractions, or the leaf mean */
    double *importance; /* d: impurity decrease per feature over the root's weight */
} forest_tree;

/* Everything a tree grower reads; shared read-only by all threads of a fit. */
typedef struct forest_train {
    int64_t n, d;
    const uint8_t *bins;     /* d x n, column-major bin codes */
    const forest_bins *fb;
    const int32_t *label;    /* classification */
    const double *value;     /* regression */
    const double *base_w;    /* n: sample weight x class weight */
    int classification;
    int n_stats;             /* classification: n_classes weights; regression: (w, w*y) */
    int n_out;               /* classification: n_classes; regression: 1 */
    int mtry, min_leaf, max_depth; /* max_depth 0 = unlimited */
    int extra, bootstrap, criterion;
    uint64_t seed;
} forest_train;

/* Per-thread buffers of the grower, sized once per fit: nothing is allocated per node. */
typedef struct forest_scratch {
    int32_t *idx;       /* n: rows of the tree, partitioned node by node */
    int32_t *count;     /* n: bootstrap multiplicity */
    double *w;          /* n: weight of each row in this tree */
    double *hist;       /* 256 x n_stats */
    int32_t *hcount;    /* 256 */
    int32_t *feats;     /* d: feature permutation */
    int32_t *stack;     /* 4 x (n + 1): start, end, depth, node */
    forest_node *nodes; /* 2 n */
    float *values;      /* n x n_out */
    double *imp;        /* d */
    double *stats;      /* 8 x n_stats: node total, left, missing, best left, ... */
} forest_scratch;

/* A small deterministic generator (splitmix64): each tree's stream comes from (seed, tree). */
typedef struct forest_rng {
    uint64_t s;
} forest_rng;

static inline uint64_t forest_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline uint64_t forest_next(forest_rng *r) { return forest_mix(r->s += 0x9e3779b97f4a7c15ULL); }
static inline double forest_uniform(forest_rng *r) { return (double)(forest_next(r) >> 11) * 0x1.0p-53; }
/* Uniform in [0, n) for n < 2^32. */
static inline uint32_t forest_below(forest_rng *r, uint32_t n)
{
    return (uint32_t)(((forest_next(r) >> 32) * (uint64_t)n) >> 32);
}
static inline void forest_rng_tree(forest_rng *r, uint64_t seed, int tree)
{
    r->s = forest_mix(seed ^ forest_mix(0x243f6a8885a308d3ULL + (uint64_t)tree));
}

/* A threshold strictly between a < b, at their midpoint when float precision allows: values
 * <= a must test "x <= t" true and b false, the same test prediction applies later. */
static inline float forest_midpoint(float a, float b)
{
    float e = (float)(((double)a + (double)b) / 2);
    if (!(e < b) || e < a)
        e = a;
    return e;
}

/* Bootstrap multiplicities of tree `tree` (n draws with replacement) into count; the stream is
 * left where the grower continues with it, so the OOB pass can redraw exactly the same sample. */
void forest_bootstrap(forest_rng *r, int64_t n, int32_t *count);

/* The model: parameters, the fitted trees, and what fit learned about the data. */
struct aml_model {
    const aml_host *h;
    aml_task_kind kind;
    int n_classes, n_out;
    int64_t d;                 /* features of the fitted data (0 before fit) */
    /* parameters (DESIGN.md section 3 names) */
    int n_trees, min_leaf, max_depth, extra, bootstrap, criterion, class_weight;
    double max_features;       /* 0 = auto: sqrt(d) for classification, d for regression */
    uint64_t seed;
    /* fitted state */
    int n_fitted;              /* trees grown so far: trees[0 .. n_fitted) */
    forest_tree *trees;        /* n_trees slots */
    uint64_t data_sig;         /* hash of the training data, to tell a continued fit from a new one */
    int has_oob;
    double oob_score;          /* accuracy or R^2 of the out-of-bag predictions */
    int64_t oob_rows;          /* rows with at least one out-of-bag tree */
    double *importance;        /* d: impurity decrease per feature, summing to 1 */
};

/* ---- forest_io.c ---- */
aml_status forest_save(const aml_model *m, aml_host_ctx *c, aml_writer *w);
aml_status forest_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task, aml_model **out);
/* Shared with forest.c: an empty model of the task, and its release. */
aml_model *forest_model_new(const aml_host *h, const aml_task *task);
void forest_model_free(aml_model *m);

/* ---- forest_bins.c ---- */
/* Fits quantile bins on X (NaN skipped; at most 255 bins; exact when a feature has <= 255
 * distinct values) and writes codes (d x n, column-major). Uses nt threads. AML_ERR_NOMEM only. */
aml_status forest_bins_fit(const aml_host *h, const aml_matrix *X, int nt, forest_bins *fb, uint8_t *codes);
void forest_bins_free(const aml_host *h, forest_bins *fb);

/* ---- forest_grow.c ---- */
aml_status forest_scratch_init(const aml_host *h, const forest_train *t, forest_scratch *s);
void forest_scratch_free(const aml_host *h, forest_scratch *s);
/* Grows tree number `tree` into *out (owning its arrays). AML_ERR_NOMEM only. */
aml_status forest_grow(const aml_host *h, const forest_train *t, forest_scratch *s, int tree, forest_tree *out);
void forest_tree_free(const aml_host *h, forest_tree *t);

/* The leaf values a row reaches; NaN follows the node's learned default direction. */
static inline const float *forest_leaf(const forest_tree *t, const float *x, int n_out)
{
    const forest_node *nd = t->nodes;
    int32_t i = 0;
    while (!(nd[i].feat & FN_LEAF)) {
        const float v = x[nd[i].feat & FN_FEATURE_MASK];
        const int left = v <= nd[i].thr || (v != v && (nd[i].feat & FN_MISSING_LEFT));
        i = nd[i].child + !left;
    }
    return t->values + (int64_t)nd[i].child * n_out;
}

#endif
