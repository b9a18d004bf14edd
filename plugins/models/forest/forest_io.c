/* Saving and loading a fitted forest: a little-endian header (magic, format version, task,
 * parameters, OOB score, data hash), then per tree its node count, leaf count, nodes, leaf values
 * and importances. Loading checks every node (features in range, children after their parent, leaf
 * indices in range), so a corrupt blob is refused instead of walked. */
#include "forest.h"

#include <math.h>
#include <string.h>

#define FOREST_MAGIC 0x545352464c4d41ULL /* "AMLFRST" little-endian */
#define FOREST_FORMAT_VERSION 1u

typedef struct {
    uint64_t magic;
    uint32_t version, kind;
    int32_t n_classes, n_trees, n_fitted, min_leaf, max_depth, extra, bootstrap, criterion, class_weight, has_oob;
    int64_t d, oob_rows;
    double max_features, oob_score;
    uint64_t seed, data_sig;
} blob_header;
MC_BLOB_HEADER_CHECK(blob_header);

aml_status forest_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const mc_call mc = mc_at(m->h, c, "forest");
    aml_status st = mc_check_save(&mc, m->n_fitted >= 1);
    if (st != AML_OK)
        return st;
    blob_header hd;
    memset(&hd, 0, sizeof hd); /* padding bytes too: the blob is checksummed */
    hd.kind = (uint32_t)m->kind;
    hd.n_classes = m->n_classes, hd.n_trees = m->n_trees, hd.n_fitted = m->n_fitted, hd.min_leaf = m->min_leaf;
    hd.max_depth = m->max_depth, hd.extra = m->extra, hd.bootstrap = m->bootstrap, hd.criterion = m->criterion;
    hd.class_weight = m->class_weight, hd.has_oob = m->has_oob, hd.d = m->d, hd.oob_rows = m->oob_rows;
    hd.max_features = m->max_features, hd.oob_score = m->oob_score, hd.seed = m->seed, hd.data_sig = m->data_sig;
    mc_put_header(&mc, w, &st, &hd, sizeof hd, FOREST_MAGIC, FOREST_FORMAT_VERSION);
    for (int i = 0; i < m->n_fitted && st == AML_OK; i++) {
        const forest_tree *t = &m->trees[i];
        int32_t counts[2] = {t->n_nodes, t->n_leaves};
        mc_put(&mc, w, &st, counts, sizeof counts);
        mc_put(&mc, w, &st, t->nodes, (size_t)t->n_nodes * sizeof *t->nodes);
        mc_put(&mc, w, &st, t->values, (size_t)t->n_leaves * (size_t)m->n_out * sizeof *t->values);
        mc_put(&mc, w, &st, t->importance, (size_t)m->d * sizeof *t->importance);
    }
    mc_put(&mc, w, &st, m->importance, (size_t)m->d * sizeof *m->importance);
    return st;
}

/* The nodes of a loaded tree must form a tree over [0, n_nodes): children strictly after their
 * parent (so every walk ends), features below d, leaves indexing the leaf values. */
static int tree_valid(const forest_tree *t, int64_t d)
{
    for (int32_t i = 0; i < t->n_nodes; i++) {
        const forest_node *nd = &t->nodes[i];
        if (nd->feat & FN_LEAF) {
            if (nd->feat != FN_LEAF || nd->child < 0 || nd->child >= t->n_leaves)
                return 0;
        } else if ((int64_t)(nd->feat & FN_FEATURE_MASK) >= d || nd->child <= i || nd->child > t->n_nodes - 2 ||
                   nd->thr != nd->thr) {
            return 0;
        }
    }
    return 1;
}

aml_status forest_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task, aml_model **out)
{
    const mc_call mc = mc_at(h, c, "forest");
    blob_header hd;
    aml_status st = mc_get_header(&mc, r, &hd, sizeof hd, FOREST_MAGIC, FOREST_FORMAT_VERSION, NULL);
    if (st != AML_OK)
        return st;
    int ok = ((hd.kind == AML_TASK_CLASSIFICATION && hd.n_classes >= 2 && hd.n_classes <= FOREST_MAX_CLASSES) ||
              (hd.kind == AML_TASK_REGRESSION && hd.n_classes == 0)) &&
             hd.n_trees >= 1 && hd.n_trees <= 100000 && hd.n_fitted >= 1 && hd.n_fitted <= hd.n_trees &&
             hd.min_leaf >= 1 && hd.max_depth >= 0 && (hd.extra | 1) == 1 && (hd.bootstrap | 1) == 1 &&
             (hd.criterion | 1) == 1 && (hd.class_weight | 1) == 1 && (hd.has_oob | 1) == 1 && hd.d >= 1 &&
             hd.d <= (int64_t)FN_FEATURE_MASK && hd.max_features >= 0 && hd.max_features <= 1;
    if (!ok)
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (kind %u, %d of %d trees, %lld features)", hd.kind,
                       hd.n_fitted, hd.n_trees, (long long)hd.d);
    if ((st = mc_check_blob_task(&mc, task, hd.kind, hd.n_classes, hd.d)) != AML_OK)
        return st;
    aml_task t = {.kind = (aml_task_kind)hd.kind, .n_classes = hd.n_classes, .n_features = hd.d, .seed = hd.seed};
    aml_model *m = forest_model_new(h, &t);
    if (m) {
        m->trees = mc_alloc(h, (size_t)hd.n_trees * sizeof *m->trees);
        m->importance = mc_alloc(h, (size_t)hd.d * sizeof *m->importance);
    }
    if (!m || !m->trees || !m->importance) {
        forest_model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading a forest of %d trees", hd.n_fitted);
    }
    m->n_trees = hd.n_trees, m->min_leaf = hd.min_leaf, m->max_depth = hd.max_depth, m->extra = hd.extra;
    m->bootstrap = hd.bootstrap, m->criterion = hd.criterion, m->class_weight = hd.class_weight;
    m->max_features = hd.max_features, m->d = hd.d, m->data_sig = hd.data_sig;
    m->has_oob = hd.has_oob, m->oob_score = hd.oob_score, m->oob_rows = hd.oob_rows;
    for (int i = 0; i < hd.n_fitted && st == AML_OK; i++) {
        forest_tree *tr = &m->trees[i];
        int32_t counts[2] = {0, 0};
        mc_get(&mc, r, &st, counts, sizeof counts);
        if (st != AML_OK)
            break;
        /* a tree of n_nodes nodes has (n_nodes + 1) / 2 leaves */
        if (counts[0] < 1 || counts[0] > (1 << 30) || counts[1] != (counts[0] + 1) / 2 || !(counts[0] & 1)) {
            st = mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (tree size)");
            break;
        }
        tr->n_nodes = counts[0], tr->n_leaves = counts[1];
        tr->nodes = mc_alloc(h, (size_t)tr->n_nodes * sizeof *tr->nodes);
        tr->values = mc_alloc(h, (size_t)tr->n_leaves * (size_t)m->n_out * sizeof *tr->values);
        tr->importance = mc_alloc(h, (size_t)m->d * sizeof *tr->importance);
        m->n_fitted = i + 1; /* so that free releases this tree */
        if (!tr->nodes || !tr->values || !tr->importance) {
            st = mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading the trees");
            break;
        }
        mc_get(&mc, r, &st, tr->nodes, (size_t)tr->n_nodes * sizeof *tr->nodes);
        mc_get(&mc, r, &st, tr->values, (size_t)tr->n_leaves * (size_t)m->n_out * sizeof *tr->values);
        mc_get(&mc, r, &st, tr->importance, (size_t)m->d * sizeof *tr->importance);
        if (st == AML_OK && !tree_valid(tr, m->d))
            st = mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (tree nodes)");
    }
    mc_get(&mc, r, &st, m->importance, (size_t)m->d * sizeof *m->importance);
    if (st != AML_OK) {
        forest_model_free(m);
        return st;
    }
    *out = m;
    return AML_OK;
}
