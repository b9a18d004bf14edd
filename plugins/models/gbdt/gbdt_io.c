/* Model blob of the gbdt plugin: a little-endian header with the format version, then the used
 * trees as raw arrays. Load checks every index (features, children only ever point forward, leaf
 * counts) so a corrupt blob is refused rather than walked. */
#include "gbdt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GB_MAGIC 0x5444424742414d4cULL /* "LMABGBDT" */
#define GB_FORMAT_VERSION 1u
#define MAX_TREES ((int64_t)1 << 24)
#define MAX_NODES ((int64_t)1 << 31)

typedef struct blob_header {
    uint64_t magic;
    uint32_t version, kind;
    int32_t n_classes, K, objective, reserved;
    int64_t d, n_trees, n_nodes, n_leaves;
} blob_header;
MC_BLOB_HEADER_CHECK(blob_header);

aml_status gb_model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const mc_call mc = mc_at(m->h, c, "gbdt");
    aml_status st = mc_check_save(&mc, m->fitted);
    if (st != AML_OK)
        return st;
    const gb_forest *f = &m->f;
    const int64_t nt = m->used_trees, nn = f->node_off[nt], nl = f->leaf_off[nt];
    blob_header hd = {.kind = (uint32_t)m->kind, .n_classes = m->n_classes, .K = m->K, .objective = (int32_t)m->obj,
                      .d = m->d, .n_trees = nt, .n_nodes = nn, .n_leaves = nl};
    mc_put_header(&mc, w, &st, &hd, sizeof hd, GB_MAGIC, GB_FORMAT_VERSION);
    mc_put(&mc, w, &st, f->base, (size_t)m->K * sizeof(double));
    mc_put(&mc, w, &st, f->node_off, (size_t)(nt + 1) * sizeof(int64_t));
    mc_put(&mc, w, &st, f->leaf_off, (size_t)(nt + 1) * sizeof(int64_t));
    mc_put(&mc, w, &st, f->nodes, (size_t)nn * sizeof(gb_node));
    mc_put(&mc, w, &st, f->node_bin, (size_t)nn);
    mc_put(&mc, w, &st, f->node_gain, (size_t)nn * sizeof(float));
    mc_put(&mc, w, &st, f->leaf, (size_t)nl * sizeof(double));
    return st;
}

/* Every tree: offsets consistent, one more leaf than nodes, children inside the tree and after
 * their parent (so a walk ends), features inside the row, finite values. */
static int forest_valid(const gb_forest *f, int64_t nt, int64_t nn, int64_t nl)
{
    if (f->node_off[0] != 0 || f->leaf_off[0] != 0 || f->node_off[nt] != nn || f->leaf_off[nt] != nl)
        return 0;
    for (int k = 0; k < f->K; k++)
        if (!isfinite(f->base[k]))
            return 0;
    for (int64_t t = 0; t < nt; t++) {
        int64_t a = f->node_off[t], b = f->node_off[t + 1], la = f->leaf_off[t], lb = f->leaf_off[t + 1];
        if (b < a || lb < la || b > nn || lb > nl || lb - la != b - a + 1)
            return 0;
        for (int64_t i = a; i < b; i++) {
            const gb_node *p = f->nodes + i;
            if ((int64_t)(p->feat & ~GB_DEFAULT_RIGHT) >= f->d || p->thr != p->thr)
                return 0;
            for (int s = 0; s < 2; s++) {
                int32_t ch = p->child[s];
                if (ch >= 0 ? (ch <= i - a || ch >= b - a) : ((int64_t)~ch >= lb - la))
                    return 0;
            }
        }
        for (int64_t l = la; l < lb; l++)
            if (!isfinite(f->leaf[l]))
                return 0;
    }
    return 1;
}

aml_status gb_model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task, aml_model **out)
{
    const mc_call mc = mc_at(h, c, "gbdt");
    blob_header hd;
    aml_status st = mc_get_header(&mc, r, &hd, sizeof hd, GB_MAGIC, GB_FORMAT_VERSION, NULL);
    if (st != AML_OK)
        return st;
    int ok = ((hd.kind == AML_TASK_CLASSIFICATION && hd.n_classes >= 2 && hd.n_classes <= GB_MAX_CLASSES &&
               hd.K == (hd.n_classes > 2 ? hd.n_classes : 1) &&
               hd.objective == (hd.n_classes > 2 ? GB_OBJ_SOFTMAX : GB_OBJ_BINARY)) ||
              (hd.kind == AML_TASK_REGRESSION && hd.n_classes == 0 && hd.K == 1 && hd.objective >= GB_OBJ_SQUARED &&
               hd.objective <= GB_OBJ_HUBER)) &&
             hd.d >= 1 && hd.d < INT32_MAX && hd.n_trees >= 1 && hd.n_trees <= MAX_TREES && hd.n_trees % hd.K == 0 &&
             hd.n_nodes >= 0 && hd.n_nodes < MAX_NODES && hd.n_leaves >= hd.n_trees && hd.n_leaves < MAX_NODES;
    if (!ok)
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (kind %u, %d classes, %lld features, %lld trees)",
                       hd.kind, hd.n_classes, (long long)hd.d, (long long)hd.n_trees);
    if ((st = mc_check_blob_task(&mc, task, hd.kind, hd.n_classes, hd.d)) != AML_OK)
        return st;
    aml_task t = {.kind = (aml_task_kind)hd.kind, .n_classes = hd.n_classes, .n_features = hd.d};
    aml_model *m = NULL;
    if (gb_model_new(h, &t, &m) != AML_OK)
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory");
    m->obj = (gb_objective)hd.objective;
    gb_forest *f = &m->f;
    st = gb_forest_init(f, hd.K, hd.d);
    if (st == AML_OK) {
        free(f->node_off), free(f->leaf_off), free(f->depth);
        f->depth = malloc((size_t)(hd.n_trees + 1) * sizeof(int32_t));
        f->node_off = malloc((size_t)(hd.n_trees + 1) * sizeof(int64_t));
        f->leaf_off = malloc((size_t)(hd.n_trees + 1) * sizeof(int64_t));
        f->nodes = malloc((size_t)(hd.n_nodes + 1) * sizeof(gb_node));
        f->node_bin = malloc((size_t)(hd.n_nodes + 1));
        f->node_gain = malloc((size_t)(hd.n_nodes + 1) * sizeof(float));
        f->leaf = malloc((size_t)hd.n_leaves * sizeof(double));
        if (!f->node_off || !f->leaf_off || !f->depth || !f->nodes || !f->node_bin || !f->node_gain || !f->leaf)
            st = AML_ERR_NOMEM;
        f->cap_trees = hd.n_trees, f->cap_nodes = hd.n_nodes + 1, f->cap_leaves = hd.n_leaves;
    }
    if (st != AML_OK) {
        gb_model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading %lld trees", (long long)hd.n_trees);
    }
    const size_t nt1 = (size_t)hd.n_trees + 1, nn = (size_t)hd.n_nodes, nl = (size_t)hd.n_leaves;
    mc_get(&mc, r, &st, f->base, (size_t)hd.K * sizeof(double));
    mc_get(&mc, r, &st, f->node_off, nt1 * sizeof(int64_t));
    mc_get(&mc, r, &st, f->leaf_off, nt1 * sizeof(int64_t));
    mc_get(&mc, r, &st, f->nodes, nn * sizeof(gb_node));
    mc_get(&mc, r, &st, f->node_bin, nn);
    mc_get(&mc, r, &st, f->node_gain, nn * sizeof(float));
    mc_get(&mc, r, &st, f->leaf, nl * sizeof(double));
    f->n_trees = hd.n_trees, f->n_nodes = hd.n_nodes, f->n_leaves = hd.n_leaves;
    if (st == AML_OK && !forest_valid(f, hd.n_trees, hd.n_nodes, hd.n_leaves))
        st = mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (tree structure)");
    if (st != AML_OK) {
        gb_model_free(m);
        return st;
    }
    gb_forest_depths(f);
    m->used_trees = hd.n_trees, m->rounds_fit = m->best_rounds = hd.n_trees / hd.K;
    m->fitted = 1;
    *out = m;
    return AML_OK;
}
