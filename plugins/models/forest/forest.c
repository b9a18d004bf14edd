/* The `forest` model plugin: random forest and extra trees (classification by Gini or entropy,
 * regression by squared error) on quantile-binned features, trees grown in parallel with the
 * call's thread budget, out-of-bag score, impurity importance, and resumable fits: tree i depends
 * only on (seed, i, data, parameters), so a fit at resource r keeps trees [0, round(r n_trees)).
 * max_features 0 means auto: sqrt(d) features per split for classification, all d for regression
 * (scikit-learn's defaults). Categorical features are split as ordered codes. */
#include "forest.h"

#include <math.h>
#include <omp.h>
#include <string.h>

enum {
    P_N_TREES,
    P_MAX_FEATURES,
    P_MIN_SAMPLES_LEAF,
    P_BOOTSTRAP,
    P_EXTRA,
    P_MAX_DEPTH,
    P_CRITERION,
    P_CLASS_WEIGHT,
    N_PARAMS
};

#define MAX_TREES 100000 /* create accepts more than the search range (tests, --set is range-checked) */
#define OOB_BITS_BYTES ((size_t)32 << 20) /* in-bag bitmaps held at once by the OOB pass */
#define PREDICT_BLOCK 64 /* rows that walk the trees together, so each tree stays in cache */

static const char *const criterion_choices[] = {"gini", "entropy"};
static const char *const class_weight_choices[] = {"none", "balanced"};

static const aml_param_def params[N_PARAMS] = {
    [P_N_TREES] = {.name = "n_trees", .type = AML_PARAM_INT, .lo = 10, .hi = 1000, .def = 200, .log_scale = 1,
                   .cost = 1, .help = "trees in the forest (the resource of a resumable fit)"},
    [P_MAX_FEATURES] = {.name = "max_features", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 1, .def = 0,
                        .help = "fraction of features tried per split; 0 = auto: sqrt(d) features for "
                                "classification, all d for regression"},
    [P_MIN_SAMPLES_LEAF] = {.name = "min_samples_leaf", .type = AML_PARAM_INT, .lo = 1, .hi = 50, .def = 1,
                            .log_scale = 1, .help = "fewest training rows in a leaf"},
    [P_BOOTSTRAP] = {.name = "bootstrap", .type = AML_PARAM_BOOL, .lo = 0, .hi = 1, .def = 1,
                     .help = "grow each tree on a bootstrap sample (and report the out-of-bag score)"},
    [P_EXTRA] = {.name = "extra", .type = AML_PARAM_BOOL, .lo = 0, .hi = 1, .def = 0,
                 .help = "extremely randomised trees: one random threshold per tried feature"},
    [P_MAX_DEPTH] = {.name = "max_depth", .type = AML_PARAM_INT, .lo = 0, .hi = 40, .def = 0,
                     .help = "deepest level of a tree; 0 = unlimited"},
    [P_CRITERION] = {.name = "criterion", .type = AML_PARAM_CHOICE, .def = CRIT_GINI, .choices = criterion_choices,
                     .n_choices = 2, .help = "split criterion for classification (regression: squared error)"},
    [P_CLASS_WEIGHT] = {.name = "class_weight", .type = AML_PARAM_CHOICE, .def = CW_NONE,
                        .choices = class_weight_choices, .n_choices = 2,
                        .help = "balanced: weight classes by n / (n_classes n_class), times sample weights"},
};

/* ---- model lifetime ------------------------------------------------------------------------ */

aml_model *forest_model_new(const aml_host *h, const aml_task *task)
{
    aml_model *m = mc_alloc(h, sizeof *m);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->h = h;
    m->kind = task->kind;
    m->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    m->n_out = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 1;
    m->seed = task->seed;
    m->n_trees = (int)params[P_N_TREES].def;
    m->min_leaf = 1, m->bootstrap = 1;
    return m;
}

static void drop_trees(aml_model *m, int keep)
{
    for (int i = keep; i < m->n_fitted; i++)
        forest_tree_free(m->h, &m->trees[i]);
    if (m->n_fitted > keep)
        m->n_fitted = keep;
}

void forest_model_free(aml_model *m)
{
    if (!m)
        return;
    if (m->trees) {
        drop_trees(m, 0);
        m->h->dealloc(m->trees);
    }
    mc_free(m->h, m->importance);
    m->h->dealloc(m);
}

static int is_int(double v, double lo, double hi) { return v >= lo && v <= hi && v == floor(v); }

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    const mc_call mc = mc_at(h, c, "forest");
    if (mc_check_task(&mc, task, FOREST_MAX_CLASSES, 1) != AML_OK)
        return AML_ERR_INPUT;
    double v[N_PARAMS];
    mc_param_values(params, N_PARAMS, p, v);
    const char *bad = NULL;
    if (!is_int(v[P_N_TREES], 1, MAX_TREES))
        bad = "n_trees must be an integer in [1, 100000]";
    else if (!(v[P_MAX_FEATURES] >= 0 && v[P_MAX_FEATURES] <= 1))
        bad = "max_features must be a fraction in (0, 1], or 0 for auto";
    else if (!is_int(v[P_MIN_SAMPLES_LEAF], 1, 1e9))
        bad = "min_samples_leaf must be an integer >= 1";
    else if (!is_int(v[P_BOOTSTRAP], 0, 1) || !is_int(v[P_EXTRA], 0, 1))
        bad = "bootstrap and extra must be true or false";
    else if (!is_int(v[P_MAX_DEPTH], 0, 1e9))
        bad = "max_depth must be an integer >= 0 (0 = unlimited)";
    else if (!is_int(v[P_CRITERION], 0, 1))
        bad = "criterion must be \"gini\" or \"entropy\"";
    else if (!is_int(v[P_CLASS_WEIGHT], 0, 1))
        bad = "class_weight must be \"none\" or \"balanced\"";
    if (bad)
        return mc_fail(&mc, AML_ERR_INPUT, "%s", bad);
    aml_model *m = forest_model_new(h, task);
    if (m)
        m->trees = mc_alloc(h, (size_t)v[P_N_TREES] * sizeof *m->trees);
    if (!m || !m->trees) {
        forest_model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory");
    }
    m->n_trees = (int)v[P_N_TREES], m->max_features = v[P_MAX_FEATURES];
    m->min_leaf = (int)v[P_MIN_SAMPLES_LEAF], m->bootstrap = (int)v[P_BOOTSTRAP], m->extra = (int)v[P_EXTRA];
    m->max_depth = (int)v[P_MAX_DEPTH], m->criterion = (int)v[P_CRITERION];
    m->class_weight = (int)v[P_CLASS_WEIGHT];
    *out = m;
    return AML_OK;
}

/* ---- fit ------------------------------------------------------------------------------------- */

/* A hash of the training data: a later fit continues the forest only on the very same data. */
static uint64_t data_signature(const aml_matrix *X, const aml_target *y, int classification)
{
    uint64_t hs = forest_mix((uint64_t)X->rows * 0x9e3779b97f4a7c15ULL ^ (uint64_t)X->cols);
    for (int64_t i = 0; i < X->rows; i++) {
        const uint32_t *row = (const uint32_t *)(const void *)(X->data + i * X->ld);
        uint64_t a = 0;
        for (int64_t j = 0; j < X->cols; j++)
            a = (a ^ row[j]) * 0x100000001b3ULL;
        uint64_t t;
        if (classification)
            t = (uint64_t)(uint32_t)y->label[i];
        else
            memcpy(&t, &y->value[i], sizeof t);
        uint32_t wb = 0x3f800000u;
        if (y->weight)
            memcpy(&wb, &y->weight[i], sizeof wb);
        hs = forest_mix(hs ^ a) ^ forest_mix(t + ((uint64_t)wb << 1));
    }
    return hs;
}

/* Sample weight x class weight ("balanced": n / (n_classes n_k), from the full training set). */
static void base_weights(const aml_model *m, const aml_target *y, int64_t n, double *w, double *cw)
{
    if (m->kind == AML_TASK_CLASSIFICATION && m->class_weight == CW_BALANCED) {
        for (int k = 0; k < m->n_classes; k++)
            cw[k] = 0;
        for (int64_t i = 0; i < n; i++)
            cw[y->label[i]] += 1;
        for (int k = 0; k < m->n_classes; k++)
            cw[k] = cw[k] > 0 ? (double)n / ((double)m->n_classes * cw[k]) : 0;
    }
    for (int64_t i = 0; i < n; i++) {
        double wi = y->weight ? y->weight[i] : 1.0;
        if (m->kind == AML_TASK_CLASSIFICATION && m->class_weight == CW_BALANCED)
            wi *= cw[y->label[i]];
        w[i] = wi;
    }
}

/* Grows trees [from, to) in parallel; on return trees [0, m->n_fitted) are complete. Stops early
 * (keeping the completed prefix) when the host says so. */
static aml_status grow_trees(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y, int from,
                             int to)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = X->cols;
    const int nt = mc_threads(h, c, to - from);
    aml_status st = AML_OK;
    forest_bins fb = {0};
    forest_scratch *scratch = NULL;
    uint8_t *codes = h->alloc((size_t)n * (size_t)d);
    double *base_w = h->alloc((size_t)n * sizeof *base_w + (size_t)(m->n_classes + 1) * sizeof(double));
    signed char *done = h->alloc((size_t)(to - from));
    if (!codes || !base_w || !done)
        goto nomem;
    memset(done, 0, (size_t)(to - from));
    base_weights(m, y, n, base_w, base_w + n);
    if (forest_bins_fit(h, X, h->threads(c), &fb, codes) != AML_OK)
        goto nomem;
    forest_train t = {.n = n, .d = d, .bins = codes, .fb = &fb, .label = y->label, .value = y->value,
                      .base_w = base_w, .classification = m->kind == AML_TASK_CLASSIFICATION,
                      .n_stats = m->kind == AML_TASK_CLASSIFICATION ? m->n_classes : 2, .n_out = m->n_out,
                      .min_leaf = m->min_leaf, .max_depth = m->max_depth, .extra = m->extra,
                      .bootstrap = m->bootstrap, .criterion = m->criterion, .seed = m->seed};
    if (m->max_features > 0)
        t.mtry = (int)(m->max_features * (double)d);
    else
        t.mtry = t.classification ? (int)sqrt((double)d) : (int)d;
    if (t.mtry < 1)
        t.mtry = 1;
    scratch = h->alloc((size_t)nt * sizeof *scratch);
    if (!scratch)
        goto nomem;
    memset(scratch, 0, (size_t)nt * sizeof *scratch);
    for (int k = 0; k < nt; k++)
        if (forest_scratch_init(h, &t, &scratch[k]) != AML_OK)
            goto nomem;
    int stop = 0; /* once the host says stop, the remaining trees are skipped */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int i = from; i < to; i++) {
        if (mc_stopping(&stop, h, c))
            continue;
        forest_scratch *s = &scratch[omp_get_thread_num()];
        done[i - from] = forest_grow(h, &t, s, i, &m->trees[i]) == AML_OK ? 1 : -1;
    }
    /* keep the completed prefix: the forest is then exactly a smaller fit, and can continue */
    int prefix = from;
    while (prefix < to && done[prefix - from] == 1)
        prefix++;
    for (int i = prefix; i < to; i++)
        if (done[i - from] == 1)
            forest_tree_free(h, &m->trees[i]);
    m->n_fitted = prefix;
    for (int i = from; i < to; i++)
        if (done[i - from] < 0)
            st = AML_ERR_NOMEM;
    if (st != AML_OK)
        h->set_error(c, "forest: out of memory growing trees on %lld x %lld rows", (long long)n, (long long)d);
    else if (prefix < to && prefix == 0)
        st = AML_ERR_CANCELLED;
    else if (prefix < to)
        h->log(c, 2, "forest: stopped after %d of %d trees (deadline)", prefix, to);
    goto done_;
nomem:
    st = AML_ERR_NOMEM;
    h->set_error(c, "forest: out of memory for %lld x %lld training rows", (long long)n, (long long)d);
done_:
    if (scratch)
        for (int k = 0; k < nt; k++)
            forest_scratch_free(h, &scratch[k]);
    mc_free(h, scratch);
    forest_bins_free(h, &fb);
    mc_free(h, codes), mc_free(h, base_w), mc_free(h, done);
    return st;
}

/* Out-of-bag predictions: each tree's bootstrap is redrawn from its stream (batches of 64 trees,
 * one bit per row and tree), then each row sums, in tree order, the trees that did not see it. */
static aml_status oob_score(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, words = (n + 63) / 64;
    const int no = m->n_out, T = m->n_fitted;
    const int nt = mc_threads(h, c, 0);
    double *acc = h->alloc((size_t)n * (size_t)no * sizeof *acc);
    int32_t *hits = h->alloc((size_t)n * sizeof *hits);
    /* as many trees per batch as 32 MiB of bitmaps hold (all of them on small data): each batch
     * is two parallel regions, and fewer of them wait less on a busy machine */
    int batch = (int)(OOB_BITS_BYTES / ((size_t)words * sizeof(uint64_t)));
    batch = batch < 8 ? 8 : batch > T ? T : batch;
    uint64_t *inbag = h->alloc((size_t)batch * (size_t)words * sizeof *inbag);
    int32_t *counts = h->alloc((size_t)nt * (size_t)n * sizeof *counts);
    if (!acc || !hits || !inbag || !counts) {
        mc_free(h, acc), mc_free(h, hits), mc_free(h, inbag), mc_free(h, counts);
        h->set_error(c, "forest: out of memory for the out-of-bag score");
        return AML_ERR_NOMEM;
    }
    memset(acc, 0, (size_t)n * (size_t)no * sizeof *acc);
    memset(hits, 0, (size_t)n * sizeof *hits);
    for (int t0 = 0; t0 < T; t0 += batch) {
        const int nb = T - t0 < batch ? T - t0 : batch;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int b = 0; b < nb; b++) {
            int32_t *cnt = counts + (size_t)omp_get_thread_num() * (size_t)n;
            uint64_t *bits = inbag + (size_t)b * (size_t)words;
            forest_rng r;
            forest_rng_tree(&r, m->seed, t0 + b);
            forest_bootstrap(&r, n, cnt);
            memset(bits, 0, (size_t)words * sizeof *bits);
            for (int64_t i = 0; i < n; i++)
                bits[i >> 6] |= (uint64_t)(cnt[i] > 0) << (i & 63);
        }
        /* blocks of rows walk one tree after another, so each tree stays in cache; a row still
         * sums its trees in tree order */
        const int64_t nblocks = (n + PREDICT_BLOCK - 1) / PREDICT_BLOCK;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            const int64_t r0 = blk * PREDICT_BLOCK, r1 = r0 + PREDICT_BLOCK < n ? r0 + PREDICT_BLOCK : n;
            for (int b = 0; b < nb; b++) {
                const uint64_t *bits = inbag + (size_t)b * (size_t)words;
                const forest_tree *tr = &m->trees[t0 + b];
                for (int64_t i = r0; i < r1; i++) {
                    if (bits[i >> 6] >> (i & 63) & 1)
                        continue;
                    const float *v = forest_leaf(tr, X->data + i * X->ld, no);
                    double *a = acc + i * no;
                    for (int k = 0; k < no; k++)
                        a[k] += v[k];
                    hits[i]++;
                }
            }
        }
    }
    int64_t rows = 0, right = 0;
    double ymean = 0, sse = 0, sst = 0;
    if (m->kind == AML_TASK_REGRESSION) {
        for (int64_t i = 0; i < n; i++)
            if (hits[i])
                ymean += y->value[i], rows++;
        ymean = rows ? ymean / (double)rows : 0;
    }
    rows = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!hits[i])
            continue;
        rows++;
        const double *a = acc + i * no;
        if (m->kind == AML_TASK_CLASSIFICATION) {
            int best = 0;
            for (int k = 1; k < no; k++)
                best = a[k] > a[best] ? k : best;
            right += best == y->label[i];
        } else {
            const double p = a[0] / hits[i], e = y->value[i] - p, u = y->value[i] - ymean;
            sse += e * e, sst += u * u;
        }
    }
    m->has_oob = rows > 0;
    m->oob_rows = rows;
    if (m->kind == AML_TASK_CLASSIFICATION)
        m->oob_score = rows ? (double)right / (double)rows : 0;
    else
        m->oob_score = sst > 0 ? 1 - sse / sst : 0;
    if (m->has_oob)
        h->log(c, 1, "forest: out-of-bag %s %.4f on %lld of %lld rows (%d trees)",
               m->kind == AML_TASK_CLASSIFICATION ? "accuracy" : "r2", m->oob_score, (long long)rows, (long long)n,
               T);
    mc_free(h, acc), mc_free(h, hits), mc_free(h, inbag), mc_free(h, counts);
    return AML_OK;
}

/* Mean over trees of each tree's importance (impurity decrease over root weight), summing to 1. */
static void set_importance(aml_model *m)
{
    double total = 0;
    for (int64_t f = 0; f < m->d; f++) {
        double s = 0;
        for (int i = 0; i < m->n_fitted; i++)
            s += m->trees[i].importance[f];
        m->importance[f] = s;
        total += s;
    }
    for (int64_t f = 0; f < m->d; f++)
        m->importance[f] = total > 0 ? m->importance[f] / total : 0;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "forest");
    aml_status st = mc_check_fit(&mc, m->kind, m->n_classes, (int64_t)FN_FEATURE_MASK, X, y, NULL, NULL);
    if (st != AML_OK)
        return st;
    if (X->rows > FOREST_MAX_ROWS)
        return mc_fail(&mc, AML_ERR_INPUT, "the training matrix has %lld rows, at most %lld", (long long)X->rows,
                       (long long)FOREST_MAX_ROWS);
    double r = b && b->size >= sizeof *b && b->resource > 0 && b->resource <= 1 ? b->resource : 1.0;
    int target = (int)lround(r * m->n_trees);
    target = target < 1 ? 1 : target > m->n_trees ? m->n_trees : target;
    const uint64_t sig = data_signature(X, y, m->kind == AML_TASK_CLASSIFICATION);
    if (m->n_fitted > 0 && (sig != m->data_sig || X->cols != m->d))
        drop_trees(m, 0); /* other data: start over */
    drop_trees(m, target);
    if (m->d != X->cols) {
        mc_free(h, m->importance);
        m->importance = mc_alloc(h, (size_t)X->cols * sizeof *m->importance);
        if (!m->importance) {
            m->d = 0;
            return mc_fail(&mc, AML_ERR_NOMEM, "out of memory");
        }
        m->d = X->cols;
    }
    m->data_sig = sig;
    m->has_oob = 0;
    if (m->n_fitted < target) {
        st = grow_trees(m, c, X, y, m->n_fitted, target);
        if (st != AML_OK) {
            drop_trees(m, 0);
            return st;
        }
    }
    set_importance(m);
    if (m->bootstrap)
        st = oob_score(m, c, X, y);
    if (st != AML_OK)
        drop_trees(m, 0);
    return st;
}

/* ---- predict -------------------------------------------------------------------------------- */

static void predict_rows(const aml_model *m, const float *X, int64_t ld, int64_t rows, double *out)
{
    const int no = m->n_out;
    for (int64_t i = 0; i < rows * no; i++)
        out[i] = 0;
    for (int t = 0; t < m->n_fitted; t++) {
        const forest_tree *tr = &m->trees[t];
        for (int64_t i = 0; i < rows; i++) {
            const float *v = forest_leaf(tr, X + i * ld, no);
            double *o = out + i * no;
            for (int k = 0; k < no; k++)
                o[k] += v[k];
        }
    }
    const double T = (double)m->n_fitted;
    for (int64_t i = 0; i < rows * no; i++)
        out[i] /= T;
}

static aml_status model_predict_row(const aml_model *m, const float *row, double *out)
{
    if (!m || m->n_fitted < 1 || !row || !out)
        return AML_ERR_INPUT;
    predict_rows(m, row, 0, 1, out);
    return AML_OK;
}

static aml_status model_predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    const mc_call mc = mc_at(m->h, c, "forest");
    aml_status st = mc_check_predict(&mc, m->n_fitted >= 1, m->d, X);
    if (st != AML_OK)
        return st;
    const int64_t nblocks = (X->rows + PREDICT_BLOCK - 1) / PREDICT_BLOCK;
    const int nt = mc_threads(m->h, c, nblocks);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4) /* a busy machine may stall one thread */
    for (int64_t blk = 0; blk < nblocks; blk++) {
        const int64_t r0 = blk * PREDICT_BLOCK, nr = X->rows - r0 < PREDICT_BLOCK ? X->rows - r0 : PREDICT_BLOCK;
        predict_rows(m, X->data + r0 * X->ld, X->ld, nr, out + r0 * m->n_out);
    }
    return AML_OK;
}

static aml_status model_importance(const aml_model *m, double *out)
{
    if (!m || m->n_fitted < 1 || !m->importance || !out)
        return AML_ERR_INPUT;
    memcpy(out, m->importance, (size_t)m->d * sizeof *out);
    return AML_OK;
}

static const aml_model_vtable vtable = {
    .version = 1,
    .create = model_create,
    .fit = model_fit,
    .predict = model_predict,
    .predict_row = model_predict_row,
    .save = forest_save,
    .load = forest_load,
    .free = forest_model_free,
    .importance = model_importance,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_MODEL,
    .name = "forest",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "random forest and extra trees on 255 quantile bins (Gini/entropy, squared error), OOB score",
    .params = params,
    .n_params = N_PARAMS,
    .model = &vtable,
    .flags = AML_PLUGIN_RESUMABLE | AML_PLUGIN_NATIVE_MISSING,
};

AML_PLUGIN_ENTRY { return &descriptor; }
