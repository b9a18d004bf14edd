/* The `gbdt` model plugin: histogram gradient boosting with leaf-wise trees, exact integer
 * histograms, early stopping on the validation fold, and resumable fits (more trees on the same
 * data continue from the trees already grown, bit for bit as one longer fit). Categorical features
 * are split as ordinal codes for now. This file holds the parameters, fit and predict. */
#include "gbdt.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define GB_VERSION "1.0.0"
#define QSCALE 1073741824.0 /* 2^30: gradients quantise to int32, sums stay far inside int64 */
#define MIN_HESS 1e-3

static const char *const loss_choices[] = {"auto", "squared", "absolute", "huber"};
static const char *const class_weight_choices[] = {"none", "balanced"};
enum { LOSS_AUTO, LOSS_SQUARED, LOSS_ABSOLUTE, LOSS_HUBER };

static const aml_param_def params[GB_N_PARAMS] = {
    [GB_P_N_TREES] = {.name = "n_trees", .type = AML_PARAM_INT, .lo = 10, .hi = 2000, .def = 100, .log_scale = 1,
                      .cost = 1, .help = "boosting rounds (one tree per class and round for multiclass)"},
    [GB_P_LEARNING_RATE] = {.name = "learning_rate", .type = AML_PARAM_FLOAT, .lo = 0.01, .hi = 0.3, .def = 0.1,
                            .log_scale = 1, .help = "shrinkage of each tree"},
    [GB_P_MAX_LEAVES] = {.name = "max_leaves", .type = AML_PARAM_INT, .lo = 4, .hi = 255, .def = 31, .log_scale = 1,
                         .cost = 0.5, .help = "leaves per tree (grown best-first)"},
    [GB_P_MAX_DEPTH] = {.name = "max_depth", .type = AML_PARAM_INT, .lo = 0, .hi = 16, .def = 0,
                        .help = "depth limit, 0 = none (max_leaves bounds the tree)"},
    [GB_P_MIN_SAMPLES_LEAF] = {.name = "min_samples_leaf", .type = AML_PARAM_INT, .lo = 1, .hi = 200, .def = 20,
                               .log_scale = 1, .help = "rows a leaf must keep"},
    [GB_P_L2] = {.name = "l2", .type = AML_PARAM_FLOAT, .lo = 1e-3, .hi = 100, .def = 1.0, .log_scale = 1,
                 .help = "L2 penalty on leaf values (lambda)"},
    [GB_P_MIN_GAIN] = {.name = "min_gain", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 1, .def = 0,
                       .help = "a split must improve the loss by more than this"},
    [GB_P_SUBSAMPLE] = {.name = "subsample", .type = AML_PARAM_FLOAT, .lo = 0.5, .hi = 1, .def = 1,
                        .help = "fraction of rows drawn for each round"},
    [GB_P_COLSAMPLE] = {.name = "colsample", .type = AML_PARAM_FLOAT, .lo = 0.3, .hi = 1, .def = 1,
                        .help = "fraction of features drawn for each tree"},
    [GB_P_MAX_BINS] = {.name = "max_bins", .type = AML_PARAM_INT, .lo = 16, .hi = 255, .def = 255,
                       .help = "quantile bins per feature (plus one for missing values)"},
    [GB_P_LOSS] = {.name = "loss", .type = AML_PARAM_CHOICE, .def = LOSS_AUTO, .choices = loss_choices,
                   .n_choices = 4, .help = "regression loss (auto = squared); classification uses log loss"},
    [GB_P_CLASS_WEIGHT] = {.name = "class_weight", .type = AML_PARAM_CHOICE, .def = 0,
                           .choices = class_weight_choices, .n_choices = 2,
                           .help = "balanced: weight classes inversely to their frequency"},
    [GB_P_EARLY_STOPPING] = {.name = "early_stopping_rounds", .type = AML_PARAM_INT, .lo = 0, .hi = 200, .def = 0,
                             .help = "stop after this many rounds without a better loss on held-out rows (0 = off, as scikit-learn's HGB below 10 000 rows)"},
};

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t draw(uint64_t seed, uint64_t a, uint64_t b)
{
    return mix64(seed ^ mix64(a * 0x9e3779b97f4a7c15ULL + b * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL));
}

aml_status gb_model_new(const aml_host *h, const aml_task *task, aml_model **out)
{
    aml_model *m = mc_alloc(h, sizeof *m);
    if (!m)
        return AML_ERR_NOMEM;
    memset(m, 0, sizeof *m);
    m->h = h;
    m->kind = task->kind;
    m->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    m->d = task->n_features;
    m->seed = task->seed;
    m->K = m->n_classes > 2 ? m->n_classes : 1;
    m->obj = m->n_classes > 2 ? GB_OBJ_SOFTMAX : (m->n_classes == 2 ? GB_OBJ_BINARY : GB_OBJ_SQUARED);
    *out = m;
    return AML_OK;
}

void gb_model_free(aml_model *m)
{
    if (!m)
        return;
    gb_forest_free(&m->f);
    m->h->dealloc(m);
}

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    const mc_call mc = mc_at(h, c, "gbdt");
    aml_status st = mc_check_task(&mc, task, GB_MAX_CLASSES, 1);
    double v[GB_N_PARAMS];
    for (int i = 0; i < GB_N_PARAMS && st == AML_OK; i++)
        st = mc_param(&mc, params, i, p, &v[i]);
    if (st != AML_OK)
        return st;
    aml_model *m = NULL;
    if (gb_model_new(h, task, &m) != AML_OK)
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory");
    gb_config *g = &m->cfg;
    g->n_trees = (int64_t)v[GB_P_N_TREES], g->learning_rate = v[GB_P_LEARNING_RATE];
    g->max_leaves = (int)v[GB_P_MAX_LEAVES], g->max_depth = (int)v[GB_P_MAX_DEPTH];
    g->min_samples_leaf = (int)v[GB_P_MIN_SAMPLES_LEAF], g->l2 = v[GB_P_L2], g->min_gain = v[GB_P_MIN_GAIN];
    g->subsample = v[GB_P_SUBSAMPLE], g->colsample = v[GB_P_COLSAMPLE], g->max_bins = (int)v[GB_P_MAX_BINS];
    g->class_weight = (int)v[GB_P_CLASS_WEIGHT], g->early_stopping = (int)v[GB_P_EARLY_STOPPING];
    if (m->kind == AML_TASK_REGRESSION) {
        int loss = (int)v[GB_P_LOSS];
        m->obj = loss == LOSS_ABSOLUTE ? GB_OBJ_ABSOLUTE : (loss == LOSS_HUBER ? GB_OBJ_HUBER : GB_OBJ_SQUARED);
    }
    *out = m;
    return AML_OK;
}

static uint64_t target_hash(const aml_target *y, int64_t n)
{
    uint64_t s = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t v = 0;
        if (y->label)
            v = (uint64_t)(uint32_t)y->label[i];
        else if (y->value)
            memcpy(&v, &y->value[i], sizeof v);
        uint32_t w = 0;
        if (y->weight)
            memcpy(&w, &y->weight[i], sizeof w);
        s += mix64(v ^ mix64((uint64_t)i + ((uint64_t)w << 32)));
    }
    return s;
}

/* Per-row weights: sample weights times balanced class weights; NULL when all are 1. */
static float *row_weights(const aml_model *m, const aml_target *y, int64_t n, const double *class_w)
{
    if (!y->weight && !class_w)
        return NULL;
    float *w = malloc((size_t)n * sizeof *w);
    if (!w)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)((y->weight ? (double)y->weight[i] : 1.0) * (class_w ? class_w[y->label[i]] : 1.0));
    return w;
}

/* Scores of the training rows from the trees already grown, added in the order training added
 * them, so a resumed fit continues from exactly the same numbers. */
static void train_scores(const aml_model *m, const gb_binned *B, double *score, int threads)
{
    const int K = m->K;
    const gb_forest *f = &m->f;
#pragma omp parallel for num_threads(threads) schedule(static) if (B->n >= GB_PAR_ROWS)
    for (int64_t i = 0; i < B->n; i++) {
        double *s = score + i * K;
        for (int k = 0; k < K; k++)
            s[k] = f->base[k];
        for (int64_t t = 0; t < f->n_trees; t++)
            s[t % K] += gb_tree_eval_bins(f, t, B->bins + i * B->d);
    }
}

/* Features of one tree: all usable ones, or an ascending random subset of them. */
static int pick_features(const aml_model *m, const gb_binned *B, int64_t round, int k, int32_t *feats)
{
    if (m->cfg.colsample >= 1.0 && B->n_usable == B->d) {
        for (int a = 0; a < B->n_usable; a++)
            feats[a] = a;
        return B->n_usable;
    }
    int nu = B->n_usable;
    memcpy(feats, B->usable, (size_t)nu * sizeof *feats);
    if (m->cfg.colsample >= 1.0 || nu <= 1)
        return nu;
    int ns = (int)lround(m->cfg.colsample * nu);
    ns = ns < 1 ? 1 : ns;
    for (int a = 0; a < ns; a++) {
        int b = a + (int)(draw(m->seed, (uint64_t)round * 131 + (uint64_t)k, (uint64_t)a + 7) % (uint64_t)(nu - a));
        int32_t t = feats[a];
        feats[a] = feats[b], feats[b] = t;
    }
    for (int a = 1; a < ns; a++) { /* ascending: histogram rows are read in column order */
        int32_t v = feats[a];
        int p = a;
        while (p > 0 && feats[p - 1] > v)
            feats[p] = feats[p - 1], p--;
        feats[p] = v;
    }
    return ns;
}

typedef struct fit_work {
    const gb_binned *B;
    gb_grower *grower;
    double *score, *vscore, *median_buf;
    void *gh;              /* float (g, h) pairs, then the same cells as int32 */
    int32_t *bag, *rows, *feats, *off;
    float *w, *vw;
    double *class_w;
} fit_work;

static void fit_work_free(fit_work *fw)
{
    gb_cache_release(fw->B);
    gb_grower_free(fw->grower);
    free(fw->score), free(fw->vscore), free(fw->median_buf), free(fw->gh), free(fw->bag), free(fw->rows);
    free(fw->feats), free(fw->off), free(fw->w), free(fw->vw), free(fw->class_w);
}

/* Quantises class k's float gradients in place to int32 (hessians to at most hmax) and returns
 * the scales back. */
static void quantise(void *gh, int64_t n, double hmax, int threads, double *inv_sg, double *inv_sh)
{
    unsigned char *p = gh;
    float mg = 0, mh = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(max : mg, mh) if (n >= GB_PAR_ROWS)
    for (int64_t i = 0; i < n; i++) {
        float g, h;
        memcpy(&g, p + 8 * i, 4), memcpy(&h, p + 8 * i + 4, 4);
        mg = fabsf(g) > mg ? fabsf(g) : mg, mh = h > mh ? h : mh;
    }
    double sg = mg > 0 ? QSCALE / mg : 0, sh = mh > 0 ? hmax / mh : 0;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= GB_PAR_ROWS)
    for (int64_t i = 0; i < n; i++) {
        float g, h;
        memcpy(&g, p + 8 * i, 4), memcpy(&h, p + 8 * i + 4, 4);
        int32_t q[2] = {(int32_t)lrint(g * sg), (int32_t)lrint(h * sh)};
        memcpy(p + 8 * i, q, 8);
    }
    *inv_sg = mg > 0 ? mg / QSCALE : 1, *inv_sh = mh > 0 ? mh / hmax : 1;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "gbdt");
    aml_status st = mc_check_fit(&mc, m->kind, m->n_classes, INT32_MAX - 1, X, y, valid_X, valid_y);
    if (st != AML_OK)
        return st;
    if (X->rows > INT32_MAX || (m->d > 0 && X->cols != m->d))
        return mc_fail(&mc, AML_ERR_INPUT, "the training matrix is %lld x %lld, the task has %lld features (and at "
                       "most %d rows)", (long long)X->rows, (long long)X->cols, (long long)m->d, INT32_MAX);
    const int64_t n = X->rows;
    const int K = m->K, T = mc_threads(h, c, 0);
    const int has_valid = valid_X && valid_y && valid_X->rows > 0;
    double r = b && b->resource > 0 && b->resource < 1 ? b->resource : 1.0;
    int64_t target = llround(r * (double)m->cfg.n_trees);
    target = target < 1 ? 1 : target;

    const uint64_t xh = gb_matrix_hash(X, T), th = xh ^ target_hash(y, n);
    const uint64_t vh = has_valid ? gb_matrix_hash(valid_X, T) ^ target_hash(valid_y, valid_X->rows) : 0;
    const int resume = m->has_state && m->d == X->cols && m->train_hash == th && m->valid_hash == vh &&
                       m->rounds_fit <= target;
    fit_work fw = {0};
    st = AML_OK;
    if (!resume) {
        gb_forest_free(&m->f);
        m->d = X->cols;
        m->has_state = 0, m->stopped = 0, m->rounds_fit = m->best_rounds = m->since_best = 0;
        m->best_loss = HUGE_VAL, m->fitted = 0, m->used_trees = 0;
        if ((st = gb_forest_init(&m->f, K, X->cols)) != AML_OK)
            goto nomem;
    }
    m->train_hash = th, m->valid_hash = vh;
    if ((st = gb_cache_acquire(X, xh, m->cfg.max_bins, T, &fw.B)) != AML_OK)
        goto nomem;
    const gb_binned *B = fw.B;
    if (m->kind == AML_TASK_CLASSIFICATION && m->cfg.class_weight == 1) {
        fw.class_w = calloc((size_t)m->n_classes, sizeof(double));
        if (!fw.class_w)
            goto nomem;
        double total = 0;
        for (int64_t i = 0; i < n; i++)
            fw.class_w[y->label[i]] += y->weight ? y->weight[i] : 1.0, total += y->weight ? y->weight[i] : 1.0;
        for (int k = 0; k < m->n_classes; k++)
            fw.class_w[k] = fw.class_w[k] > 0 ? total / (m->n_classes * fw.class_w[k]) : 0;
    }
    fw.w = row_weights(m, y, n, fw.class_w);
    fw.vw = has_valid ? row_weights(m, valid_y, valid_X->rows, fw.class_w) : NULL;
    fw.score = malloc((size_t)n * K * sizeof(double));
    fw.gh = malloc((size_t)n * K * 8);
    fw.bag = m->cfg.subsample < 1.0 ? malloc((size_t)n * sizeof(int32_t)) : NULL; /* else: every row */
    fw.rows = malloc((size_t)n * sizeof(int32_t));
    fw.feats = malloc((size_t)(B->d > 0 ? B->d : 1) * sizeof(int32_t));
    fw.off = malloc((size_t)(B->d + 1) * sizeof(int32_t));
    fw.vscore = has_valid ? malloc((size_t)valid_X->rows * K * sizeof(double)) : NULL;
    if (m->obj == GB_OBJ_ABSOLUTE || m->obj == GB_OBJ_HUBER)
        fw.median_buf = malloc((size_t)(2 * n) * sizeof(double));
    if (!fw.score || !fw.gh || (m->cfg.subsample < 1.0 && !fw.bag) || !fw.rows || !fw.feats || !fw.off ||
        (has_valid && !fw.vscore) ||
        ((y->weight || fw.class_w) && !fw.w) || (has_valid && (valid_y->weight || fw.class_w) && !fw.vw) ||
        ((m->obj == GB_OBJ_ABSOLUTE || m->obj == GB_OBJ_HUBER) && !fw.median_buf))
        goto nomem;
    gb_targets ty = {.n = n, .label = y->label, .value = y->value, .w = fw.w};
    gb_targets vy = {.n = has_valid ? valid_X->rows : 0, .label = has_valid ? valid_y->label : NULL,
                     .value = has_valid ? valid_y->value : NULL, .w = fw.vw};
    if (!resume && (st = gb_base_score(m->obj, K, &ty, m->f.base)) != AML_OK)
        goto nomem;
    train_scores(m, B, fw.score, T);
    if (has_valid)
        gb_forest_scores(&m->f, m->f.n_trees, valid_X->data, valid_X->rows, valid_X->ld, fw.vscore, T);
    /* rows < 2^cb; hessians quantised so that (sum of n of them) << cb stays below 2^62 */
    int cb = 1;
    while (((int64_t)1 << cb) <= n)
        cb++;
    const double hmax = 2 * cb >= 32 ? ldexp(1.0, 62 - 2 * cb) : QSCALE;
    gb_grow_params gp = {.max_leaves = m->cfg.max_leaves, .max_depth = m->cfg.max_depth,
                         .learning_rate = m->cfg.learning_rate,
                         .sp = {.l2 = m->cfg.l2, .min_gain = m->cfg.min_gain, .min_hess = MIN_HESS, .inv_sg = 1,
                                .inv_sh = 1, .min_leaf = m->cfg.min_samples_leaf,
                                .count_bits = cb}};
    if ((st = gb_grower_new(B, &gp, T, &fw.grower)) != AML_OK)
        goto nomem;
    const int es = has_valid && m->cfg.early_stopping > 0;
    while (!m->stopped && m->rounds_fit < target) {
        if (h->should_stop(c)) {
            if (m->rounds_fit == 0) {
                fit_work_free(&fw);
                h->set_error(c, "gbdt: stopped before the first round");
                return AML_ERR_CANCELLED;
            }
            break;
        }
        const int64_t round = m->rounds_fit;
        /* the round's rows: in-bag first, out-of-bag after */
        int64_t nb = 0;
        if (m->cfg.subsample < 1.0) {
            int64_t no = n;
            for (int64_t i = 0; i < n; i++) {
                double u = (double)(draw(m->seed, (uint64_t)round + 1, (uint64_t)i) >> 11) * 0x1.0p-53;
                if (u < m->cfg.subsample)
                    fw.bag[nb++] = (int32_t)i;
                else
                    fw.bag[--no] = (int32_t)i;
            }
        } else {
            nb = n;
        }
        double delta = m->obj == GB_OBJ_HUBER ? gb_huber_delta(&ty, fw.score, K, fw.median_buf) : 0;
        gb_gradients(m->obj, K, &ty, fw.score, delta, fw.gh, T);
        for (int k = 0; k < K; k++) {
            void *ghk = (unsigned char *)fw.gh + (size_t)8 * n * k;
            double inv_sg, inv_sh;
            quantise(ghk, n, hmax < QSCALE ? hmax : QSCALE, T, &inv_sg, &inv_sh);
            gb_grower_set_scales(fw.grower, inv_sg, inv_sh);
            const int nf = pick_features(m, B, round, k, fw.feats);
            fw.off[0] = 0;
            for (int a = 0; a < nf; a++)
                fw.off[a + 1] = fw.off[a] + B->n_value_bins[fw.feats[a]] + 1;
            const gb_layout lay = {.feats = fw.feats, .nf = nf, .all = nf == B->d, .off = fw.off};
            if (fw.bag)
                memcpy(fw.rows, fw.bag, (size_t)nb * sizeof *fw.rows);
            else
                for (int64_t i = 0; i < n; i++)
                    fw.rows[i] = (int32_t)i;
            if ((st = gb_grower_grow(fw.grower, fw.rows, nb, ghk, &lay, &m->f)) != AML_OK)
                goto nomem;
            const int64_t t = m->f.n_trees - 1;
            const int64_t *sb, *se;
            const int nl = gb_grower_leaves(fw.grower, &sb, &se);
            double *lv = m->f.leaf + m->f.leaf_off[t];
            if (m->obj == GB_OBJ_ABSOLUTE)
                for (int l = 0; l < nl; l++)
                    if (se[l] > sb[l])
                        lv[l] = m->cfg.learning_rate *
                                gb_leaf_median(&ty, fw.score, K, fw.rows + sb[l], se[l] - sb[l], fw.median_buf);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1) if (nb >= GB_PAR_ROWS)
            for (int l = 0; l < nl; l++)
                for (int64_t i = sb[l]; i < se[l]; i++)
                    fw.score[(int64_t)fw.rows[i] * K + k] += lv[l];
#pragma omp parallel for num_threads(T) schedule(static) if (n - nb >= GB_PAR_ROWS)
            for (int64_t i = nb; i < n; i++)
                fw.score[(int64_t)fw.bag[i] * K + k] +=
                    gb_tree_eval_bins(&m->f, t, B->bins + (int64_t)fw.bag[i] * B->d);
            if (has_valid)
#pragma omp parallel for num_threads(T) schedule(static) if (vy.n >= GB_PAR_ROWS / 4)
                for (int64_t i = 0; i < vy.n; i++)
                    fw.vscore[i * K + k] += gb_tree_eval(&m->f, t, valid_X->data + i * valid_X->ld);
        }
        m->rounds_fit++;
        if (has_valid) {
            double loss = gb_loss_mean(m->obj, K, &vy, fw.vscore, delta, T);
            if (loss < m->best_loss) {
                m->best_loss = loss, m->best_rounds = m->rounds_fit, m->since_best = 0;
            } else if (++m->since_best >= m->cfg.early_stopping && es) {
                m->stopped = 1;
            }
        }
        h->progress(c, (double)m->rounds_fit / (double)target);
    }
    m->has_state = 1;
    m->used_trees = (es && m->best_rounds > 0 ? m->best_rounds : m->rounds_fit) * K;
    m->fitted = m->used_trees > 0;
    fit_work_free(&fw);
    return AML_OK;
nomem:
    fit_work_free(&fw);
    m->has_state = 0, m->fitted = 0;
    return mc_fail(&mc, AML_ERR_NOMEM, "out of memory fitting %lld x %lld rows", (long long)n, (long long)X->cols);
}

static aml_status model_predict_row(const aml_model *m, const float *row, double *out)
{
    if (!m->fitted)
        return AML_ERR_INPUT;
    gb_forest_row(&m->f, m->used_trees, row, out);
    gb_scores_to_proba(m->K, m->n_classes, out, out);
    return AML_OK;
}

static aml_status model_predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    const mc_call mc = mc_at(m->h, c, "gbdt");
    aml_status st = mc_check_predict(&mc, m->fitted, m->d, X);
    if (st != AML_OK)
        return st;
    const int K = m->K, no = m->n_classes ? m->n_classes : 1;
    const int64_t n = X->rows, nblk = (n + GB_SCORE_BLOCK - 1) / GB_SCORE_BLOCK;
    const int T = n < GB_PAR_ROWS / 16 ? 1 : mc_threads(m->h, c, nblk);
    double *scratch = malloc((size_t)T * GB_SCORE_BLOCK * K * sizeof(double));
    if (!scratch) {
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for prediction scratch");
    }
#pragma omp parallel num_threads(T)
    {
        double *sc = scratch + (size_t)omp_get_thread_num() * GB_SCORE_BLOCK * K;
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblk; blk++) {
            const int64_t i0 = blk * GB_SCORE_BLOCK, rows = n - i0 < GB_SCORE_BLOCK ? n - i0 : GB_SCORE_BLOCK;
            gb_forest_block(&m->f, m->used_trees, X->data + i0 * X->ld, rows, X->ld, sc);
            for (int64_t i = 0; i < rows; i++)
                gb_scores_to_proba(K, m->n_classes, sc + i * K, out + (i0 + i) * no);
        }
    }
    free(scratch);
    return AML_OK;
}

/* The rounds early stopping kept, as a share of n_trees. */
static double model_used_resource(const aml_model *m)
{
    if (!m->fitted || m->cfg.n_trees <= 0)
        return 1;
    double used = (double)(m->used_trees / m->K) / (double)m->cfg.n_trees;
    return used > 0 && used < 1 ? used : 1;
}

static aml_status model_importance(const aml_model *m, double *out)
{
    if (!m->fitted)
        return AML_ERR_INPUT;
    for (int64_t j = 0; j < m->d; j++)
        out[j] = 0;
    const gb_forest *f = &m->f;
    for (int64_t i = 0; i < f->node_off[m->used_trees]; i++)
        out[f->nodes[i].feat & ~GB_DEFAULT_RIGHT] += f->node_gain[i];
    return AML_OK;
}

static int model_stops_early(const aml_params *p) { return p->num[GB_P_EARLY_STOPPING] > 0; }

static const aml_model_vtable vtable = {
    .version = 3,
    .create = model_create,
    .fit = model_fit,
    .predict = model_predict,
    .predict_row = model_predict_row,
    .save = gb_model_save,
    .load = gb_model_load,
    .free = gb_model_free,
    .importance = model_importance,
    .used_resource = model_used_resource,
    .stops_early = model_stops_early,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_MODEL,
    .name = "gbdt",
    .version = GB_VERSION,
    .license = "MIT",
    .summary = "histogram gradient boosting: leaf-wise trees, missing-value directions, early stopping",
    .params = params,
    .n_params = GB_N_PARAMS,
    .model = &vtable,
    .flags = AML_PLUGIN_RESUMABLE | AML_PLUGIN_NATIVE_MISSING,
};

AML_PLUGIN_ENTRY { return &descriptor; }
