/* The `linear` model plugin: ridge / elastic net regression and L2 or L1 + L2 logistic / softmax
 * regression, on features standardised inside the model, with unpenalised intercepts. Data passes
 * are blocked over rows: each block is standardised into a small per-thread scratch (NaN ->
 * training mean) and fed to BLAS level 3, so the training matrix is never copied and the float32
 * input is never converted as a whole.
 *
 * Objectives (Z = standardised X, sw = sum of the row weights w_i):
 *   classification  sum_i w_i loss_i + l2/2 ||W||^2 + l1 sw ||W||_1
 *                   l2 = 1/C of scikit-learn's LogisticRegression; l1 is per unit weight (the
 *                   mean loss plus l1 ||W||_1), so one search range suits every data set;
 *   regression      sum_i w_i (y_i - f_i)^2 + l2 ||beta||^2 + 2 sw sd(y) l1 ||beta||_1
 *                   l2 = Ridge's alpha; l1 = Lasso's alpha for standardised X and standardised y
 *                   (l1 >= max |corr(x_j, y)| gives the all-zero model).
 * l1 applies only with penalty = "elasticnet", so that the default (and half of the searched
 * configurations) stays plain ridge / L2 logistic. class_weight = "balanced" multiplies the row
 * weights by n / (n_classes * count(class)) (unweighted counts, as scikit-learn); regression
 * ignores it, since the search draws it for every task.
 *
 * Solver by shape (n rows, d features, l1 as above):
 *   regression, l1 = 0, n >= d   Cholesky on the d x d Gram matrix (blocked syrk; float32 blocks
 *                                summed in double when n (d+2)^2 >= 5e7, see ridge.c)
 *   regression, l1 = 0, d > n    the dual: Cholesky on the n x n kernel X X^T
 *   regression, l1 > 0, n >= d   coordinate descent with covariance updates on the Gram matrix
 *   regression, l1 > 0, d > n    coordinate descent with residual updates (no d x d matrix)
 *   classification, l1 = 0      L-BFGS on the blocked sgemm loss and gradient
 *   classification, l1 > 0      OWL-QN: the same evaluations, orthant-projected steps
 * Newton / IRLS for small d was not added: at the benchmark's 100 features one Hessian costs about
 * as much as the 20-60 gradient passes L-BFGS needs in all. */
#include "linear.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#define LINEAR_MAGIC 0x4e494c4c4d41ULL /* "AMLLIN" little-endian */
#define LINEAR_FORMAT_VERSION 2u /* 2: the penalty and class weight parameters follow the header */
#define LINEAR_MAX_CLASSES (1 << 20)

enum { P_L2, P_L1, P_MAX_ITER, P_TOL, P_PENALTY, P_CLASS_WEIGHT, N_PARAMS };

static const char *const penalty_choices[] = {"l2", "elasticnet"};
static const char *const class_weight_choices[] = {"none", "balanced"};

static const aml_param_def params[N_PARAMS] = {
    [P_L2] = {.name = "l2", .type = AML_PARAM_FLOAT, .lo = 1e-6, .hi = 1e3, .def = 1.0, .log_scale = 1,
              .help = "L2 penalty on standardised coefficients: 1/C (logistic), alpha (ridge)"},
    /* the search draws l1 log-uniformly; 0 (the default) is "no L1", and penalty = l2 switches it off */
    [P_L1] = {.name = "l1", .type = AML_PARAM_FLOAT, .lo = 1e-5, .hi = 1, .def = 0, .log_scale = 1,
              .help = "L1 penalty per unit weight when penalty = elasticnet (regression: in units of the "
                      "target's std, Lasso's alpha on standardised data); 0 = none"},
    [P_MAX_ITER] = {.name = "max_iter", .type = AML_PARAM_INT, .lo = 10, .hi = 2000, .def = 200, .log_scale = 1,
                    .help = "L-BFGS / OWL-QN iterations, or coordinate descent sweeps, at most", .cost = 1},
    [P_TOL] = {.name = "tol", .type = AML_PARAM_FLOAT, .lo = 1e-8, .hi = 1e-2, .def = 1e-4, .log_scale = 1,
               .help = "stop when max |gradient| of the summed objective is below tol (as scikit-learn); "
                       "coordinate descent: below tol times its value at 0"},
    [P_PENALTY] = {.name = "penalty", .type = AML_PARAM_CHOICE, .def = LIN_PENALTY_L2, .choices = penalty_choices,
                   .n_choices = 2, .help = "l2: ridge / L2 logistic; elasticnet: add the l1 penalty"},
    [P_CLASS_WEIGHT] = {.name = "class_weight", .type = AML_PARAM_CHOICE, .def = LIN_CLASS_WEIGHT_NONE,
                        .choices = class_weight_choices, .n_choices = 2,
                        .help = "balanced: weight classes by n / (n_classes n_class), times sample weights "
                                "(ignored for regression)"},
};

static int n_outputs(const aml_model *m) { return m->kind == AML_TASK_CLASSIFICATION ? m->n_classes : 1; }

/* ---- vtable ------------------------------------------------------------------------------- */

static void model_free(aml_model *m)
{
    if (!m)
        return;
    const aml_host *h = m->h;
    mc_free(h, m->mean), mc_free(h, m->inv_scale), mc_free(h, m->coef), mc_free(h, m->bias);
    h->dealloc(m);
}

/* Allocates the arrays for d features; the model is unfitted until fit/load fills them. */
static aml_status model_shape(aml_model *m, int64_t d)
{
    const aml_host *h = m->h;
    mc_free(h, m->mean), mc_free(h, m->inv_scale), mc_free(h, m->coef), mc_free(h, m->bias);
    m->d = d;
    m->mean = mc_alloc(h, (size_t)d * sizeof(double));
    m->inv_scale = mc_alloc(h, (size_t)d * sizeof(double));
    m->coef = mc_alloc(h, (size_t)d * m->k * sizeof(double));
    m->bias = mc_alloc(h, (size_t)m->k * sizeof(double));
    return m->mean && m->inv_scale && m->coef && m->bias ? AML_OK : AML_ERR_NOMEM;
}

static aml_model *model_new(const mc_call *k, const aml_task *task)
{
    aml_model *m = mc_new_model(k, sizeof *m);
    if (!m)
        return NULL;
    m->h = k->h;
    m->kind = task->kind;
    m->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    m->k = task->kind == AML_TASK_CLASSIFICATION && task->n_classes > 2 ? task->n_classes : 1;
    m->l2 = params[P_L2].def, m->tol = params[P_TOL].def, m->max_iter = (int)params[P_MAX_ITER].def;
    return m;
}

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    const mc_call mc = mc_at(h, c, "linear");
    aml_status st = mc_check_task(&mc, task, LINEAR_MAX_CLASSES, 1);
    if (st != AML_OK)
        return st;
    double v[N_PARAMS];
    mc_param_values(params, N_PARAMS, p, v);
    const double l2 = v[P_L2], l1 = v[P_L1], tol = v[P_TOL], it = v[P_MAX_ITER];
    if (!(l2 >= 0 && isfinite(l2)) || !(l1 >= 0 && isfinite(l1)) || !(tol > 0 && isfinite(tol)) ||
        !(it >= 1 && it <= 1e7)) {
        h->set_error(c, "linear: bad parameters l2 = %g, l1 = %g, tol = %g, max_iter = %g (need l2 >= 0, l1 >= 0, "
                        "tol > 0, max_iter >= 1)", l2, l1, tol, it);
        return AML_ERR_INPUT;
    }
    if ((v[P_PENALTY] != LIN_PENALTY_L2 && v[P_PENALTY] != LIN_PENALTY_ELASTICNET) ||
        (v[P_CLASS_WEIGHT] != LIN_CLASS_WEIGHT_NONE && v[P_CLASS_WEIGHT] != LIN_CLASS_WEIGHT_BALANCED)) {
        h->set_error(c, "linear: penalty must be \"l2\" or \"elasticnet\", class_weight \"none\" or \"balanced\"");
        return AML_ERR_INPUT;
    }
    aml_model *m = model_new(&mc, task);
    if (!m)
        return AML_ERR_NOMEM;
    m->l2 = l2, m->l1 = l1, m->tol = tol, m->max_iter = (int)it;
    m->penalty = (int)v[P_PENALTY], m->class_weight = (int)v[P_CLASS_WEIGHT];
    *out = m;
    return AML_OK;
}

/* Row weights times the balanced class weights n / (n_classes count_c), as float like the host's
 * row weights; NULL (and AML_OK) when class weights are off. */
static aml_status balanced_weights(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                                   float **out)
{
    const aml_host *h = m->h;
    *out = NULL;
    if (m->kind != AML_TASK_CLASSIFICATION || m->class_weight != LIN_CLASS_WEIGHT_BALANCED)
        return AML_OK;
    double *cw = mc_alloc(h, (size_t)m->n_classes * sizeof *cw);
    float *w = mc_alloc(h, (size_t)X->rows * sizeof *w);
    if (!cw || !w) {
        mc_free(h, cw), mc_free(h, w);
        h->set_error(c, "linear: out of memory for class weights");
        return AML_ERR_NOMEM;
    }
    for (int q = 0; q < m->n_classes; q++)
        cw[q] = 0;
    for (int64_t i = 0; i < X->rows; i++)
        cw[y->label[i]] += 1;
    for (int q = 0; q < m->n_classes; q++)
        cw[q] = cw[q] > 0 ? (double)X->rows / ((double)m->n_classes * cw[q]) : 0;
    for (int64_t i = 0; i < X->rows; i++)
        w[i] = (float)((y->weight ? (double)y->weight[i] : 1.0) * cw[y->label[i]]);
    mc_free(h, cw);
    *out = w;
    return AML_OK;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const mc_call mc = mc_at(m->h, c, "linear");
    aml_status st = mc_check_fit(&mc, m->kind, m->n_classes, INT32_MAX / 2, X, y, NULL, NULL);
    if (st != AML_OK)
        return st;
    if (X->rows > (int64_t)INT32_MAX * 1024)
        return mc_fail(&mc, AML_ERR_INPUT, "the training matrix has %lld rows, at most %lld", (long long)X->rows,
                       (long long)INT32_MAX * 1024);
    const aml_host *h = m->h;
    int warm = m->fitted && m->d == X->cols && m->kind == AML_TASK_CLASSIFICATION;
    if (!warm && model_shape(m, X->cols) != AML_OK) {
        m->fitted = 0;
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for %lld features", (long long)X->cols);
    }
    float *class_w = NULL;
    if (m->kind == AML_TASK_REGRESSION) {
        st = lin_fit_ridge(m, c, X, y); /* computes the feature statistics itself */
    } else if ((st = balanced_weights(m, c, X, y, &class_w)) == AML_OK) {
        aml_target yw = *y;
        if (class_w)
            yw.weight = class_w;
        int max_iter = m->max_iter;
        if (b && b->resource > 0 && b->resource < 1)
            max_iter = (int)ceil(max_iter * b->resource);
        if ((st = lin_fit_scaler(m, c, X, yw.weight)) == AML_OK)
            st = lin_fit_logistic(m, c, X, &yw, max_iter, warm);
    }
    mc_free(h, class_w);
    if (st != AML_OK)
        goto fail;
    m->fitted = 1;
    return AML_OK;
fail:
    m->fitted = 0;
    return st;
}

/* Turns the k scores of a row into the model's outputs (in place for softmax). */
static void finish_row(const aml_model *m, const double *z, double *out)
{
    if (m->kind == AML_TASK_REGRESSION) {
        out[0] = z[0];
    } else if (m->k == 1) {
        double p1 = 1.0 / (1.0 + exp(-z[0]));
        out[0] = 1.0 - p1, out[1] = p1;
    } else {
        double zmax = -HUGE_VAL, se = 0;
        for (int q = 0; q < m->k; q++)
            zmax = z[q] > zmax ? z[q] : zmax;
        for (int q = 0; q < m->k; q++)
            se += (out[q] = exp(z[q] - zmax));
        for (int q = 0; q < m->k; q++)
            out[q] /= se;
    }
}

static aml_status model_predict_row(const aml_model *m, const float *row, double *out)
{
    if (!m->fitted)
        return AML_ERR_INPUT;
    /* scores into out (n_outputs >= k doubles), then in place to probabilities */
    double z[2];
    double *s = m->k <= 2 ? z : out;
    for (int q = 0; q < m->k; q++)
        s[q] = m->bias[q];
    for (int64_t j = 0; j < m->d; j++) {
        if (isnan(row[j]))
            continue;
        double v = ((double)row[j] - m->mean[j]) * m->inv_scale[j];
        const double *wj = m->coef + j * m->k;
        for (int q = 0; q < m->k; q++)
            s[q] += v * wj[q];
    }
    if (s == out) {
        double zmax = -HUGE_VAL, se = 0;
        for (int q = 0; q < m->k; q++)
            zmax = out[q] > zmax ? out[q] : zmax;
        for (int q = 0; q < m->k; q++)
            se += (out[q] = exp(out[q] - zmax));
        for (int q = 0; q < m->k; q++)
            out[q] /= se;
    } else {
        finish_row(m, z, out);
    }
    return AML_OK;
}

static aml_status model_predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "linear");
    aml_status st = mc_check_predict(&mc, m->fitted, m->d, X);
    if (st != AML_OK)
        return st;
    const int64_t d = m->d, bs = lin_block_rows(d, sizeof(double)), nblocks = (X->rows + bs - 1) / bs;
    const int k = m->k, no = n_outputs(m);
    int nt = mc_threads(h, c, nblocks > INT32_MAX ? INT32_MAX : (int)nblocks);
    double *scratch = mc_alloc(h, (size_t)nt * (size_t)bs * (d + k) * sizeof *scratch);
    if (!scratch) {
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for prediction scratch");
    }
#pragma omp parallel num_threads(nt)
    {
        double *Z = scratch + (size_t)omp_get_thread_num() * bs * (d + k), *S = Z + bs * d;
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            int64_t i0 = blk * bs, nb = X->rows - i0 < bs ? X->rows - i0 : bs;
            lin_standardize_block_d(m, X, i0, nb, Z);
            for (int64_t i = 0; i < nb; i++)
                memcpy(S + i * k, m->bias, (size_t)k * sizeof *S);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, k, (int)d, 1.0, Z, (int)d, m->coef, k,
                        1.0, S, k);
            for (int64_t i = 0; i < nb; i++)
                finish_row(m, S + i * k, out + (i0 + i) * no);
        }
    }
    mc_free(h, scratch);
    return AML_OK;
}

/* ---- save / load: little-endian header, then raw doubles ------------------------------------ */

typedef struct {
    uint64_t magic;
    uint32_t version, kind;
    int32_t n_classes, k;
    int64_t d;
    double l2, tol;
    int32_t max_iter, n_iter;
} blob_header;
MC_BLOB_HEADER_CHECK(blob_header);

/* Since version 2, after the header (a version 1 blob is an L2 model without class weights). */
typedef struct {
    double l1;
    int32_t penalty, class_weight;
} blob_params;

static aml_status model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const mc_call mc = mc_at(m->h, c, "linear");
    aml_status st = mc_check_save(&mc, m->fitted);
    if (st != AML_OK)
        return st;
    blob_header hd = {.kind = (uint32_t)m->kind,
                      .n_classes = m->n_classes, .k = m->k, .d = m->d, .l2 = m->l2, .tol = m->tol,
                      .max_iter = m->max_iter, .n_iter = m->n_iter};
    blob_params bp = {.l1 = m->l1, .penalty = m->penalty, .class_weight = m->class_weight};
    mc_put_header(&mc, w, &st, &hd, sizeof hd, LINEAR_MAGIC, LINEAR_FORMAT_VERSION);
    mc_put(&mc, w, &st, &bp, sizeof bp);
    mc_put(&mc, w, &st, m->mean, (size_t)m->d * 8);
    mc_put(&mc, w, &st, m->inv_scale, (size_t)m->d * 8);
    mc_put(&mc, w, &st, m->coef, (size_t)m->d * m->k * 8);
    mc_put(&mc, w, &st, m->bias, (size_t)m->k * 8);
    return st;
}

static aml_status model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_model **out)
{
    const mc_call mc = mc_at(h, c, "linear");
    blob_header hd;
    aml_status st = mc_get_header(&mc, r, &hd, sizeof hd, LINEAR_MAGIC, LINEAR_FORMAT_VERSION, NULL);
    blob_params bp = {.l1 = 0, .penalty = LIN_PENALTY_L2, .class_weight = LIN_CLASS_WEIGHT_NONE};
    if (st == AML_OK && hd.version >= 2)
        mc_get(&mc, r, &st, &bp, sizeof bp);
    if (st != AML_OK)
        return st;
    if (!(bp.l1 >= 0 && isfinite(bp.l1)) || (bp.penalty != LIN_PENALTY_L2 && bp.penalty != LIN_PENALTY_ELASTICNET) ||
        (bp.class_weight != LIN_CLASS_WEIGHT_NONE && bp.class_weight != LIN_CLASS_WEIGHT_BALANCED))
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (l1 %g, penalty %d, class_weight %d)", bp.l1,
                       bp.penalty, bp.class_weight);
    int ok = (hd.kind == AML_TASK_CLASSIFICATION && hd.n_classes >= 2 && hd.n_classes <= LINEAR_MAX_CLASSES &&
              hd.k == (hd.n_classes > 2 ? hd.n_classes : 1)) ||
             (hd.kind == AML_TASK_REGRESSION && hd.n_classes == 0 && hd.k == 1);
    ok = ok && hd.d >= 1 && hd.d <= (int64_t)INT32_MAX / 2 && hd.d * (int64_t)hd.k <= ((int64_t)1 << 32);
    if (!ok)
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (kind %u, classes %d, features %lld)", hd.kind,
                       hd.n_classes, (long long)hd.d);
    if ((st = mc_check_blob_task(&mc, task, hd.kind, hd.n_classes, hd.d)) != AML_OK)
        return st;
    aml_task t = {.kind = (aml_task_kind)hd.kind, .n_classes = hd.n_classes, .n_features = hd.d};
    aml_model *m = model_new(&mc, &t);
    if (!m || model_shape(m, hd.d) != AML_OK) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading a model with %lld features", (long long)hd.d);
    }
    m->l2 = hd.l2, m->tol = hd.tol, m->max_iter = hd.max_iter, m->n_iter = hd.n_iter;
    m->l1 = bp.l1, m->penalty = bp.penalty, m->class_weight = bp.class_weight;
    mc_get(&mc, r, &st, m->mean, (size_t)m->d * 8);
    mc_get(&mc, r, &st, m->inv_scale, (size_t)m->d * 8);
    mc_get(&mc, r, &st, m->coef, (size_t)m->d * m->k * 8);
    mc_get(&mc, r, &st, m->bias, (size_t)m->k * 8);
    for (int64_t j = 0; j < m->d * m->k + m->k && st == AML_OK; j++)
        if (!isfinite(j < m->d * m->k ? m->coef[j] : m->bias[j - m->d * m->k]))
            st = mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (non-finite coefficient)");
    for (int64_t j = 0; j < m->d && st == AML_OK; j++)
        if (!isfinite(m->mean[j]) || !(m->inv_scale[j] > 0 && isfinite(m->inv_scale[j])))
            st = mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (bad scaling of feature %lld)", (long long)j);
    if (st != AML_OK) {
        model_free(m);
        return st;
    }
    m->fitted = 1;
    *out = m;
    return AML_OK;
}

static const aml_model_vtable vtable = {
    .version = 1,
    .create = model_create,
    .fit = model_fit,
    .predict = model_predict,
    .predict_row = model_predict_row,
    .save = model_save,
    .load = model_load,
    .free = model_free,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_MODEL,
    .name = "linear",
    .version = "1.1.0",
    .license = "MIT",
    .summary = "ridge / elastic net regression and L2 / L1 logistic and softmax regression on standardised features",
    .params = params,
    .n_params = N_PARAMS,
    .model = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
