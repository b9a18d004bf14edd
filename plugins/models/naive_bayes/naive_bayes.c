/* The `naive_bayes` model plugin: Gaussian naive Bayes (classification only), like scikit-learn's
 * GaussianNB: per-class means and variances, priors from the (weighted) class totals, variances
 * widened by var_smoothing * the largest feature variance. A missing (NaN) cell is left out of the
 * sums when fitting and out of the likelihood when predicting (the feature is marginalised).
 * Fit and predict are GEMMs: class sums are onehot^T [m z, m z^2, m], log-likelihoods [z^2, z] W. */
#include "../common/model_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define NB_MAGIC 0x42454e4c4d41ULL /* "AMLNBE" little-endian */
#define NB_FORMAT_VERSION 1u
#define BLOCK 256        /* rows per GEMM block */
#define MAX_CHUNKS 64    /* fixed reduction slots: sums do not depend on the thread count */
#define MAX_CLASSES 4096

enum { P_VAR_SMOOTHING, N_PARAMS };

static const aml_param_def params[N_PARAMS] = {
    [P_VAR_SMOOTHING] = {.name = "var_smoothing", .type = AML_PARAM_FLOAT, .lo = 1e-12, .hi = 1e-1, .def = 1e-9,
                         .log_scale = 1,
                         .help = "added to every variance, as a fraction of the largest feature variance"},
};

struct aml_model {
    const aml_host *h;
    int k; /* classes */
    double var_smoothing;
    int fitted;
    int64_t d;
    double *shift;     /* d: values are centred on it (the first finite value of each column) */
    double *log_prior; /* k: -inf for a class absent from the training rows */
    double *mu, *var;  /* k x d, in shifted units */
    /* derived: the quadratic form as a GEMM operand and per-cell constants */
    double *W;         /* 2d x k: rows j = -1/(2 var), rows d + j = mu / var */
    double *C;         /* k x d: -log(2 pi var)/2 - mu^2/(2 var), left out where a cell is missing */
    double *base;      /* k: log prior + sum_j C */
};


static void model_free(aml_model *m)
{
    if (!m)
        return;
    const aml_host *h = m->h;
    mc_free(h, m->shift), mc_free(h, m->log_prior), mc_free(h, m->mu), mc_free(h, m->W);
    h->dealloc(m);
}

/* One allocation for every array of a model with k classes and d features. */
static aml_status model_shape(aml_model *m, int64_t d)
{
    const aml_host *h = m->h;
    const size_t k = (size_t)m->k, dd = (size_t)d;
    mc_free(h, m->shift), mc_free(h, m->log_prior), mc_free(h, m->mu), mc_free(h, m->W);
    m->d = d;
    m->shift = mc_alloc(h, dd * sizeof(double));
    m->log_prior = mc_alloc(h, k * sizeof(double));
    m->mu = mc_alloc(h, 2 * k * dd * sizeof(double));
    m->W = mc_alloc(h, (2 * dd * k + k * dd + k) * sizeof(double));
    if (!m->shift || !m->log_prior || !m->mu || !m->W)
        return AML_ERR_NOMEM;
    m->var = m->mu + k * dd;
    m->C = m->W + 2 * dd * k;
    m->base = m->C + k * dd;
    return AML_OK;
}

/* The scoring operands from the statistics: a deterministic function of what save() stores. */
static void derive(aml_model *m)
{
    const int64_t d = m->d, k = m->k;
    for (int64_t c = 0; c < k; c++) {
        double base = m->log_prior[c];
        for (int64_t j = 0; j < d; j++) {
            const double v = m->var[c * d + j], mu = m->mu[c * d + j];
            m->W[j * k + c] = -0.5 / v;
            m->W[(d + j) * k + c] = mu / v;
            m->C[c * d + j] = -0.5 * log(2 * M_PI * v) - 0.5 * mu * mu / v;
            base += m->C[c * d + j];
        }
        m->base[c] = base;
    }
}

static aml_model *model_new(const mc_call *mc, int k)
{
    aml_model *m = mc_new_model(mc, sizeof *m);
    if (!m)
        return NULL;
    m->h = mc->h;
    m->k = k;
    m->var_smoothing = params[P_VAR_SMOOTHING].def;
    return m;
}

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    const mc_call mc = mc_at(h, c, "naive_bayes");
    aml_status st = mc_check_task(&mc, task, MAX_CLASSES, 0);
    if (st != AML_OK)
        return st;
    double vs;
    mc_param_values(params, N_PARAMS, p, &vs);
    if (!(vs >= 0 && vs <= 1))
        return mc_fail(&mc, AML_ERR_INPUT, "var_smoothing = %g must be a number in [0, 1]", vs);
    aml_model *m = model_new(&mc, task->n_classes);
    if (!m)
        return AML_ERR_NOMEM;
    m->var_smoothing = vs;
    *out = m;
    return AML_OK;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "naive_bayes");
    double wtot = 0;
    aml_status st = mc_check_matrix(&mc, X, 1 << 24, "training");
    if (st == AML_OK)
        st = mc_check_target(&mc, AML_TASK_CLASSIFICATION, m->k, y, X->rows, "training", &wtot);
    if (st != AML_OK)
        return st;
    const int64_t n = X->rows, d = X->cols, k = m->k;
    m->fitted = 0;
    if (model_shape(m, d) != AML_OK)
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for %d classes x %lld features", (int)k, (long long)d);
    for (int64_t j = 0; j < d; j++) {
        m->shift[j] = 0;
        for (int64_t i = 0; i < n; i++) {
            const float v = X->data[i * X->ld + j];
            if (v == v) {
                m->shift[j] = v;
                break;
            }
        }
    }
    /* class sums: rows 0..k-1 weighted by class, row k unweighted over all rows (for the global
     * variance that scales var_smoothing, as scikit-learn's unweighted np.var) */
    const int64_t nblocks = (n + BLOCK - 1) / BLOCK;
    const int nchunks = (int)(nblocks < MAX_CHUNKS ? nblocks : MAX_CHUNKS);
    const int64_t slot = (k + 1) * 3 * d;
    const int nt = mc_threads(h, c, nchunks);
    double *acc = mc_alloc(h, (size_t)nchunks * slot * sizeof(double));
    double *scratch = mc_alloc(h, (size_t)nt * BLOCK * (3 * d + k + 1) * sizeof(double));
    if (!acc || !scratch) {
        mc_free(h, acc), mc_free(h, scratch);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory");
    }
    const double *shift = m->shift;
#pragma omp parallel num_threads(nt)
    {
        double *Z = scratch + (size_t)omp_get_thread_num() * BLOCK * (3 * d + k + 1), *Y = Z + BLOCK * 3 * d;
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < nchunks; ch++) {
            double *A = acc + (size_t)ch * slot;
            memset(A, 0, (size_t)slot * sizeof(double));
            const int64_t b0 = nblocks * ch / nchunks, b1 = nblocks * (ch + 1) / nchunks;
            for (int64_t blk = b0; blk < b1; blk++) {
                const int64_t r0 = blk * BLOCK, nb = n - r0 < BLOCK ? n - r0 : BLOCK;
                for (int64_t i = 0; i < nb; i++) {
                    const float *x = X->data + (r0 + i) * X->ld;
                    double *z = Z + i * 3 * d;
                    for (int64_t j = 0; j < d; j++) {
                        const float v = x[j];
                        const double t = v == v ? (double)v - shift[j] : 0.0;
                        z[j] = t, z[d + j] = t * t, z[2 * d + j] = v == v;
                    }
                    double *yy = Y + i * (k + 1);
                    memset(yy, 0, (size_t)k * sizeof(double));
                    yy[y->label[r0 + i]] = y->weight ? y->weight[r0 + i] : 1.0;
                    yy[k] = 1.0;
                }
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(k + 1), (int)(3 * d), (int)nb, 1.0, Y,
                            (int)(k + 1), Z, (int)(3 * d), 1.0, A, (int)(3 * d));
            }
        }
    }
    for (int ch = 1; ch < nchunks; ch++)
        for (int64_t t = 0; t < slot; t++)
            acc[t] += acc[(size_t)ch * slot + t];
    mc_free(h, scratch);
    /* the global (unweighted) statistics: the fallback of a class without values, and epsilon */
    const double *g = acc + k * 3 * d;
    double max_var = 0;
    for (int64_t j = 0; j < d; j++) {
        if (!isfinite(g[d + j])) {
            mc_free(h, acc);
            return mc_infinite_feature(&mc, X, j);
        }
        const double cnt = g[2 * d + j], mu = cnt > 0 ? g[j] / cnt : 0;
        const double var = cnt > 0 ? fmax(g[d + j] / cnt - mu * mu, 0) : 0;
        max_var = fmax(max_var, var);
    }
    const double eps = m->var_smoothing * (max_var > 0 ? max_var : 1.0) + 1e-300;
    for (int64_t cl = 0; cl < k; cl++) {
        const double *a = acc + cl * 3 * d;
        for (int64_t j = 0; j < d; j++) {
            double sw = a[2 * d + j], mu, var;
            if (sw > 0) {
                mu = a[j] / sw;
                var = fmax(a[d + j] / sw - mu * mu, 0);
            } else { /* no value of feature j in this class: the global distribution */
                const double cnt = g[2 * d + j];
                mu = cnt > 0 ? g[j] / cnt : 0;
                var = cnt > 0 ? fmax(g[d + j] / cnt - mu * mu, 0) : 0;
            }
            m->mu[cl * d + j] = mu, m->var[cl * d + j] = var + eps;
        }
    }
    mc_free(h, acc);
    /* priors: the weighted class totals, whatever cells are missing */
    for (int64_t cl = 0; cl < k; cl++)
        m->log_prior[cl] = 0;
    for (int64_t i = 0; i < n; i++)
        m->log_prior[y->label[i]] += y->weight ? y->weight[i] : 1.0;
    for (int64_t cl = 0; cl < k; cl++)
        m->log_prior[cl] = m->log_prior[cl] > 0 ? log(m->log_prior[cl] / wtot) : -HUGE_VAL;
    derive(m);
    m->fitted = 1;
    return AML_OK;
}

/* Turns joint log-likelihoods into probabilities (log-sum-exp). */
static void normalise(double *s, int64_t k)
{
    double mx = -HUGE_VAL, sum = 0;
    for (int64_t c = 0; c < k; c++)
        mx = s[c] > mx ? s[c] : mx;
    for (int64_t c = 0; c < k; c++) {
        s[c] = exp(s[c] - mx);
        sum += s[c];
    }
    for (int64_t c = 0; c < k; c++)
        s[c] /= sum;
}

static aml_status model_predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "naive_bayes");
    aml_status st = mc_check_predict(&mc, m->fitted, m->d, X);
    if (st != AML_OK || X->rows == 0)
        return st;
    const int64_t n = X->rows, d = m->d, k = m->k;
    const int64_t nblocks = (n + BLOCK - 1) / BLOCK;
    const int nt = mc_threads(h, c, nblocks);
    double *scratch = mc_alloc(h, (size_t)nt * BLOCK * 2 * d * sizeof(double));
    if (!scratch) {
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for prediction scratch");
    }
#pragma omp parallel num_threads(nt)
    {
        double *Z = scratch + (size_t)omp_get_thread_num() * BLOCK * 2 * d;
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            const int64_t r0 = blk * BLOCK, nb = n - r0 < BLOCK ? n - r0 : BLOCK;
            double *S = out + r0 * k;
            for (int64_t i = 0; i < nb; i++) {
                const float *x = X->data + (r0 + i) * X->ld;
                double *z = Z + i * 2 * d;
                for (int64_t j = 0; j < d; j++) {
                    const float v = x[j];
                    const double t = v == v ? (double)v - m->shift[j] : 0.0;
                    z[j] = t * t, z[d + j] = t;
                }
                memcpy(S + i * k, m->base, (size_t)k * sizeof(double));
            }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)k, (int)(2 * d), 1.0, Z,
                        (int)(2 * d), m->W, (int)k, 1.0, S, (int)k);
            for (int64_t i = 0; i < nb; i++) {
                const float *x = X->data + (r0 + i) * X->ld;
                double *s = S + i * k;
                for (int64_t j = 0; j < d; j++)
                    if (x[j] != x[j]) /* marginalised: take the cell's constant back out */
                        for (int64_t cl = 0; cl < k; cl++)
                            s[cl] -= m->C[cl * d + j];
                normalise(s, k);
            }
        }
    }
    mc_free(h, scratch);
    return AML_OK;
}

static aml_status model_predict_row(const aml_model *m, const float *row, double *out)
{
    if (!m->fitted)
        return AML_ERR_INPUT;
    const int64_t d = m->d, k = m->k;
    memcpy(out, m->base, (size_t)k * sizeof(double));
    for (int64_t j = 0; j < d; j++) {
        const float v = row[j];
        if (v != v) {
            for (int64_t cl = 0; cl < k; cl++)
                out[cl] -= m->C[cl * d + j];
            continue;
        }
        const double t = (double)v - m->shift[j], t2 = t * t;
        const double *wa = m->W + j * k, *wb = m->W + (d + j) * k;
        for (int64_t cl = 0; cl < k; cl++)
            out[cl] += t2 * wa[cl] + t * wb[cl];
    }
    normalise(out, k);
    return AML_OK;
}

/* ---- save / load: header, then shift, log priors, means and variances ------------------------ */

typedef struct {
    uint64_t magic;
    uint32_t version;
    int32_t k;
    int64_t d;
    double var_smoothing;
} blob_header;
MC_BLOB_HEADER_CHECK(blob_header);

static aml_status model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const mc_call mc = mc_at(m->h, c, "naive_bayes");
    aml_status st = mc_check_save(&mc, m->fitted);
    if (st != AML_OK)
        return st;
    blob_header hd = {.k = m->k, .d = m->d, .var_smoothing = m->var_smoothing};
    const size_t k = (size_t)m->k, d = (size_t)m->d;
    mc_put_header(&mc, w, &st, &hd, sizeof hd, NB_MAGIC, NB_FORMAT_VERSION);
    mc_put(&mc, w, &st, m->shift, d * sizeof(double));
    mc_put(&mc, w, &st, m->log_prior, k * sizeof(double));
    mc_put(&mc, w, &st, m->mu, 2 * k * d * sizeof(double)); /* mu, then var */
    return st;
}

static aml_status model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_model **out)
{
    const mc_call mc = mc_at(h, c, "naive_bayes");
    blob_header hd;
    aml_status st = mc_get_header(&mc, r, &hd, sizeof hd, NB_MAGIC, NB_FORMAT_VERSION, NULL);
    if (st != AML_OK)
        return st;
    if (hd.k < 2 || hd.k > MAX_CLASSES || hd.d < 1 || hd.d > (1 << 24) ||
        !(hd.var_smoothing >= 0 && hd.var_smoothing <= 1))
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (%d classes, %lld features)", hd.k, (long long)hd.d);
    if ((st = mc_check_blob_task(&mc, task, AML_TASK_CLASSIFICATION, hd.k, hd.d)) != AML_OK)
        return st;
    aml_model *m = model_new(&mc, hd.k);
    if (!m || model_shape(m, hd.d) != AML_OK) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading %d classes x %lld features", hd.k, (long long)hd.d);
    }
    m->var_smoothing = hd.var_smoothing;
    const size_t k = (size_t)hd.k, d = (size_t)hd.d;
    mc_get(&mc, r, &st, m->shift, d * sizeof(double));
    mc_get(&mc, r, &st, m->log_prior, k * sizeof(double));
    mc_get(&mc, r, &st, m->mu, 2 * k * d * sizeof(double));
    if (st != AML_OK) {
        model_free(m);
        return st;
    }
    int ok = 0;
    for (size_t cl = 0; cl < k; cl++) /* at least one class with a finite prior */
        ok |= isfinite(m->log_prior[cl]) && m->log_prior[cl] <= 0;
    for (size_t cl = 0; cl < k; cl++)
        ok &= (isfinite(m->log_prior[cl]) && m->log_prior[cl] <= 0) || m->log_prior[cl] == -HUGE_VAL;
    for (size_t t = 0; t < d; t++)
        ok &= isfinite(m->shift[t]) != 0;
    for (size_t t = 0; t < k * d; t++)
        ok &= isfinite(m->mu[t]) && isfinite(m->var[t]) && m->var[t] > 0;
    if (!ok) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (priors, means or variances out of range)");
    }
    derive(m);
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
    .name = "naive_bayes",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "Gaussian naive Bayes (classification; missing cells marginalised)",
    .params = params,
    .n_params = N_PARAMS,
    .model = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
