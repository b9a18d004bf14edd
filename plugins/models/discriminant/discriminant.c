/* The `discriminant` model plugin: linear (LDA, pooled covariance) and quadratic (QDA, one
 * covariance per class) discriminant analysis on standardised features (NaN -> training mean),
 * with a fixed shrinkage of each covariance toward the scaled identity. Covariances come from dsyrk
 * over class-grouped row blocks, their eigendecompositions from LAPACK's dsyev; prediction is one
 * GEMM per block of rows (LDA: Z coef; QDA: Z [U_c diag(1/sqrt(lambda_c))] for every class). */
#include "../common/model_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                   double *work, const int *lwork, int *info);

#define DA_MAGIC 0x4353444c4d41ULL /* "AMLDSC" little-endian */
#define DA_FORMAT_VERSION 1u
#define BLOCK 256
#define MAX_CLASSES 4096
#define MAX_FEATURES 8192
#define LDA_RANK_TOL 1e-8   /* eigenvalues below this fraction of the largest are dropped (pseudo-inverse) */
#define QDA_FLOOR 1e-6      /* smallest class-covariance eigenvalue kept, in standardised units */

enum { P_KIND, P_SHRINKAGE, N_PARAMS };
enum { K_LDA = 0, K_QDA = 1 };

static const char *const kind_choices[] = {"lda", "qda"};

static const aml_param_def params[N_PARAMS] = {
    [P_KIND] = {.name = "kind", .type = AML_PARAM_CHOICE, .def = K_LDA, .choices = kind_choices, .n_choices = 2,
                .help = "lda: one pooled covariance (linear boundaries); qda: one per class (quadratic)"},
    [P_SHRINKAGE] = {.name = "shrinkage", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 1, .def = 0,
                     .help = "covariance -> (1 - s) covariance + s (trace / d) identity"},
};

struct aml_model {
    const aml_host *h;
    int k, kind;
    double shrinkage;
    int fitted;
    int64_t d;
    double *mean, *inv_scale; /* d: standardisation; a NaN cell is the mean */
    double *log_prior;        /* k: -inf for a class absent from the training rows */
    double *mu;               /* k x d class means, standardised */
    /* scoring: LDA: coef d x k and cst k (score = z coef + cst);
     * QDA: coef d x (k d) holding W_c = U_c diag(lambda^-1/2), mw k x d = mu_c W_c and cst k =
     * log prior - log|Sigma_c| / 2 (score = cst - ||z W_c - mw_c||^2 / 2) */
    double *coef, *mw, *cst;
};


static int64_t coef_cols(const aml_model *m) { return m->kind == K_QDA ? (int64_t)m->k * m->d : m->k; }

static void model_free(aml_model *m)
{
    if (!m)
        return;
    mc_free(m->h, m->mean), mc_free(m->h, m->coef);
    m->h->dealloc(m);
}

static aml_status model_shape(aml_model *m, int64_t d)
{
    const aml_host *h = m->h;
    mc_free(h, m->mean), mc_free(h, m->coef);
    m->mean = m->coef = NULL;
    m->d = d;
    const size_t k = (size_t)m->k, dd = (size_t)d;
    m->mean = mc_alloc(h, (2 * dd + k + k * dd) * sizeof(double));
    m->coef = mc_alloc(h, (dd * (size_t)coef_cols(m) + k * dd + k) * sizeof(double));
    if (!m->mean || !m->coef)
        return AML_ERR_NOMEM;
    /* zeroed: LDA leaves the QDA-only mw block unwritten, and save writes (and load checks) it all */
    memset(m->mean, 0, (2 * dd + k + k * dd) * sizeof(double));
    memset(m->coef, 0, (dd * (size_t)coef_cols(m) + k * dd + k) * sizeof(double));
    m->inv_scale = m->mean + dd, m->log_prior = m->inv_scale + dd, m->mu = m->log_prior + k;
    m->mw = m->coef + dd * (size_t)coef_cols(m), m->cst = m->mw + k * dd;
    return AML_OK;
}

static aml_model *model_new(const mc_call *mc, int k, int kind, double shrinkage)
{
    aml_model *m = mc_new_model(mc, sizeof *m);
    if (!m)
        return NULL;
    m->h = mc->h, m->k = k, m->kind = kind, m->shrinkage = shrinkage;
    return m;
}

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    const mc_call mc = mc_at(h, c, "discriminant");
    aml_status st = mc_check_task(&mc, task, MAX_CLASSES, 0);
    double v[N_PARAMS];
    for (int i = 0; i < N_PARAMS && st == AML_OK; i++)
        st = mc_param(&mc, params, i, p, &v[i]);
    if (st != AML_OK)
        return st;
    aml_model *m = model_new(&mc, task->n_classes, (int)v[P_KIND], v[P_SHRINKAGE]);
    if (!m)
        return AML_ERR_NOMEM;
    *out = m;
    return AML_OK;
}

/* The standardised value of one cell (NaN -> 0, the mean). */
static inline double std_cell(const aml_model *m, int64_t j, float v)
{
    return v == v ? ((double)v - m->mean[j]) * m->inv_scale[j] : 0.0;
}

/* Weighted mean and std of each column over its non-NaN cells (shifted sums in double). */
static aml_status fit_scaler(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const float *w)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = X->cols;
    const mc_call mc = mc_at(h, c, "discriminant");
    double *acc = mc_alloc(h, 4 * (size_t)d * sizeof(double));
    if (!acc)
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory");
    double *shift = acc, *s0 = acc + d, *s1 = s0 + d, *s2 = s1 + d;
    for (int64_t j = 0; j < d; j++) {
        shift[j] = s0[j] = s1[j] = s2[j] = 0;
        for (int64_t i = 0; i < n; i++)
            if (X->data[i * X->ld + j] == X->data[i * X->ld + j]) {
                shift[j] = X->data[i * X->ld + j];
                break;
            }
    }
    for (int64_t i = 0; i < n; i++) {
        const float *x = X->data + i * X->ld;
        const double wi = w ? w[i] : 1.0;
        for (int64_t j = 0; j < d; j++) {
            const float v = x[j];
            const double t = v == v ? (double)v - shift[j] : 0.0, wv = v == v ? wi : 0.0;
            s0[j] += wv, s1[j] += wv * t, s2[j] += wv * t * t;
        }
    }
    aml_status st = AML_OK;
    for (int64_t j = 0; j < d; j++) {
        if (!isfinite(s2[j])) {
            st = mc_infinite_feature(&mc, X, j);
            break;
        }
        const double mu = s0[j] > 0 ? s1[j] / s0[j] : 0, var = s0[j] > 0 ? s2[j] / s0[j] - mu * mu : 0;
        const double sd = var > 0 ? sqrt(var) : 0;
        m->mean[j] = shift[j] + mu;
        m->inv_scale[j] = sd > 0 && sd > 1e-10 * fabs(m->mean[j]) ? 1.0 / sd : 1.0;
    }
    mc_free(h, acc);
    return st;
}

/* Sigma <- (1 - s) Sigma + s (trace / d) I, then its eigenvalues (ascending) into lam and the
 * eigenvectors into the rows of S (dsyev on the symmetric matrix, column-major = transposed). */
static int shrink_eigen(double *S, int64_t d, double s, double *lam, double *work, int lwork)
{
    double tr = 0;
    for (int64_t j = 0; j < d; j++)
        tr += S[j * d + j];
    for (int64_t t = 0; t < d * d; t++)
        S[t] *= 1 - s;
    for (int64_t j = 0; j < d; j++)
        S[j * d + j] += s * tr / (double)d;
    const int n = (int)d;
    int info = 0;
    dsyev_("V", "U", &n, S, &n, lam, work, &lwork, &info);
    return info;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "discriminant");
    /* MAX_FEATURES: the covariance is d x d */
    aml_status st = mc_check_fit(&mc, AML_TASK_CLASSIFICATION, m->k, MAX_FEATURES, X, y, NULL, NULL);
    if (st != AML_OK)
        return st;
    const int64_t n = X->rows, d = X->cols, k = m->k;
    const float *w = y->weight;
    m->fitted = 0;
    if (model_shape(m, d) != AML_OK)
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for %d classes x %lld features", (int)k, (long long)d);
    if ((st = fit_scaler(m, c, X, w)) != AML_OK)
        return st;
    /* BLAS and LAPACK run on one thread here: OpenBLAS's threaded syrk/symv add partial sums in an
     * order that depends on the thread count, and the model must not (the fit is O(n d^2 + d^3),
     * small next to the trials around it). Predict uses the trial's threads. */
    const mc_blas_scope blas = mc_blas_single_begin();
    const int nS = m->kind == K_QDA ? (int)k : 1;
    double *wc = mc_alloc(h, (size_t)k * sizeof(double));
    int64_t *start = mc_alloc(h, ((size_t)k + 1) * sizeof(int64_t)), *idx = mc_alloc(h, (size_t)n * sizeof(int64_t));
    double *S = mc_alloc(h, (size_t)nS * d * d * sizeof(double)), *G = mc_alloc(h, (size_t)BLOCK * d * sizeof(double));
    double *lam = mc_alloc(h, (size_t)d * sizeof(double)), *P = mc_alloc(h, (size_t)d * k * sizeof(double));
    double *work = NULL, wq = 0;
    int lwork = -1, info = 0, nn = (int)d;
    if (S && lam)
        dsyev_("V", "U", &nn, S, &nn, lam, &wq, &lwork, &info); /* workspace query */
    lwork = info == 0 && wq >= 3 * d ? (int)wq : 3 * (int)d;
    work = mc_alloc(h, (size_t)lwork * sizeof(double));
    if (!wc || !start || !idx || !S || !G || !lam || !P || !work) {
        st = mc_fail(&mc, AML_ERR_NOMEM, "out of memory for %d covariance matrices of %lld x %lld", nS, (long long)d,
                     (long long)d);
        goto done;
    }
    /* class totals, means and row indices grouped by class */
    double wtot = 0;
    memset(wc, 0, (size_t)k * sizeof(double));
    memset(m->mu, 0, (size_t)(k * d) * sizeof(double));
    memset(start, 0, ((size_t)k + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        const int32_t cl = y->label[i];
        const double wi = w ? w[i] : 1.0;
        const float *x = X->data + i * X->ld;
        double *mu = m->mu + cl * d;
        for (int64_t j = 0; j < d; j++)
            mu[j] += wi * std_cell(m, j, x[j]);
        wc[cl] += wi, wtot += wi;
        start[cl + 1]++;
    }
    for (int64_t cl = 0; cl < k; cl++) {
        for (int64_t j = 0; j < d; j++)
            m->mu[cl * d + j] = wc[cl] > 0 ? m->mu[cl * d + j] / wc[cl] : 0;
        m->log_prior[cl] = wc[cl] > 0 ? log(wc[cl] / wtot) : -HUGE_VAL;
        start[cl + 1] += start[cl];
    }
    {
        int64_t *fill = (int64_t *)P; /* k slots of scratch, P is not used yet */
        memcpy(fill, start, (size_t)k * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++)
            idx[fill[y->label[i]]++] = i;
    }
    /* scatter matrices: dsyrk over blocks of centred rows, each scaled by sqrt(w), one class at a time */
    memset(S, 0, (size_t)nS * d * d * sizeof(double));
    for (int64_t cl = 0; cl < k; cl++) {
        double *Sc = S + (m->kind == K_QDA ? cl * d * d : 0);
        for (int64_t r0 = start[cl]; r0 < start[cl + 1]; r0 += BLOCK) {
            const int64_t nb = start[cl + 1] - r0 < BLOCK ? start[cl + 1] - r0 : BLOCK;
            for (int64_t i = 0; i < nb; i++) {
                const int64_t row = idx[r0 + i];
                const float *x = X->data + row * X->ld;
                const double sq = w ? sqrt((double)w[row]) : 1.0;
                for (int64_t j = 0; j < d; j++)
                    G[i * d + j] = sq * (std_cell(m, j, x[j]) - m->mu[cl * d + j]);
            }
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, G, (int)d, 1.0, Sc, (int)d);
        }
    }
    for (int s = 0; s < nS; s++) { /* covariance = scatter / weight, both triangles */
        double *Sc = S + (size_t)s * d * d;
        const double denom = m->kind == K_QDA ? wc[s] : wtot;
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = i; j < d; j++) {
                const double v = denom > 0 ? Sc[i * d + j] / denom : 0;
                Sc[i * d + j] = Sc[j * d + i] = v;
            }
    }
    if (m->kind == K_LDA) {
        /* coef = pinv(Sigma) mu^T via the eigenvectors E (rows): E^T diag(1/lambda) E mu^T */
        if ((info = shrink_eigen(S, d, m->shrinkage, lam, work, lwork)) != 0) {
            st = AML_ERR_RUNTIME;
            h->set_error(c, "discriminant: the eigendecomposition of the covariance failed (dsyev info %d)", info);
            goto done;
        }
        const double tol = LDA_RANK_TOL * fmax(lam[d - 1], 0);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)k, (int)d, 1.0, S, (int)d, m->mu, (int)d,
                    0.0, P, (int)k);
        for (int64_t i = 0; i < d; i++)
            for (int64_t cl = 0; cl < k; cl++)
                P[i * k + cl] = lam[i] > tol && lam[i] > 0 ? P[i * k + cl] / lam[i] : 0.0;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)k, (int)d, 1.0, S, (int)d, P, (int)k, 0.0,
                    m->coef, (int)k);
        for (int64_t cl = 0; cl < k; cl++) {
            double dot = 0;
            for (int64_t j = 0; j < d; j++)
                dot += m->mu[cl * d + j] * m->coef[j * k + cl];
            m->cst[cl] = m->log_prior[cl] - 0.5 * dot;
        }
    } else {
        const int64_t kd = k * d;
        for (int64_t cl = 0; cl < k; cl++) {
            double *Sc = S + cl * d * d, *mw = m->mw + cl * d;
            if ((info = shrink_eigen(Sc, d, m->shrinkage, lam, work, lwork)) != 0) {
                st = AML_ERR_RUNTIME;
                h->set_error(c, "discriminant: the eigendecomposition of class %d's covariance failed (info %d)",
                             (int)cl, info);
                goto done;
            }
            const double floor = fmax(QDA_FLOOR, 1e-9 * lam[d - 1]);
            double logdet = 0;
            for (int64_t i = 0; i < d; i++) {
                const double l = lam[i] > floor ? lam[i] : floor, s = 1.0 / sqrt(l);
                logdet += log(l);
                for (int64_t j = 0; j < d; j++) /* W_c[j][i] = E[i][j] / sqrt(lambda_i) */
                    m->coef[j * kd + cl * d + i] = Sc[i * d + j] * s;
            }
            for (int64_t i = 0; i < d; i++) {
                double t = 0;
                for (int64_t j = 0; j < d; j++)
                    t += m->mu[cl * d + j] * m->coef[j * kd + cl * d + i];
                mw[i] = t;
            }
            m->cst[cl] = m->log_prior[cl] - 0.5 * logdet;
        }
    }
    m->fitted = 1;
done:
    mc_blas_single_end(blas);
    mc_free(h, wc), mc_free(h, start), mc_free(h, idx), mc_free(h, S), mc_free(h, G), mc_free(h, lam), mc_free(h, P);
    mc_free(h, work);
    return st;
}

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

/* Rows per block: QDA's block of projections (rows x k d) stays around 2 MiB. */
static int64_t block_rows(const aml_model *m)
{
    if (m->kind == K_LDA)
        return BLOCK;
    int64_t b = (int64_t)(1 << 18) / coef_cols(m);
    return b < 8 ? 8 : b > BLOCK ? BLOCK : b;
}

static aml_status model_predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "discriminant");
    aml_status st = mc_check_predict(&mc, m->fitted, m->d, X);
    if (st != AML_OK || X->rows == 0)
        return st;
    const int64_t n = X->rows, d = m->d, k = m->k, nc = coef_cols(m), bs = block_rows(m);
    const int64_t nblocks = (n + bs - 1) / bs;
    const int nt = mc_threads(h, c, nblocks);
    const size_t per_thread = (size_t)bs * d + (m->kind == K_QDA ? (size_t)bs * nc : 0);
    double *scratch = mc_alloc(h, (size_t)nt * per_thread * sizeof(double));
    if (!scratch) {
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for prediction scratch");
    }
#pragma omp parallel num_threads(nt)
    {
        double *Z = scratch + (size_t)omp_get_thread_num() * per_thread, *Pj = Z + bs * d;
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            const int64_t r0 = blk * bs, nb = n - r0 < bs ? n - r0 : bs;
            double *S = out + r0 * k;
            for (int64_t i = 0; i < nb; i++) {
                const float *x = X->data + (r0 + i) * X->ld;
                for (int64_t j = 0; j < d; j++)
                    Z[i * d + j] = std_cell(m, j, x[j]);
            }
            if (m->kind == K_LDA) {
                for (int64_t i = 0; i < nb; i++)
                    memcpy(S + i * k, m->cst, (size_t)k * sizeof(double));
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)k, (int)d, 1.0, Z, (int)d,
                            m->coef, (int)k, 1.0, S, (int)k);
            } else {
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)nc, (int)d, 1.0, Z, (int)d,
                            m->coef, (int)nc, 0.0, Pj, (int)nc);
                for (int64_t i = 0; i < nb; i++)
                    for (int64_t cl = 0; cl < k; cl++) {
                        const double *p = Pj + i * nc + cl * d, *mw = m->mw + cl * d;
                        double q = 0;
                        for (int64_t t = 0; t < d; t++)
                            q += (p[t] - mw[t]) * (p[t] - mw[t]);
                        S[i * k + cl] = m->cst[cl] - 0.5 * q;
                    }
            }
            for (int64_t i = 0; i < nb; i++)
                normalise(S + i * k, k);
        }
    }
    mc_free(h, scratch);
    return AML_OK;
}

/* One row without allocation: the same sums, in another order. */
static aml_status model_predict_row(const aml_model *m, const float *row, double *out)
{
    if (!m->fitted)
        return AML_ERR_INPUT;
    const int64_t d = m->d, k = m->k;
    if (m->kind == K_LDA) {
        memcpy(out, m->cst, (size_t)k * sizeof(double));
        for (int64_t j = 0; j < d; j++) {
            const double z = std_cell(m, j, row[j]);
            for (int64_t cl = 0; cl < k; cl++)
                out[cl] += z * m->coef[j * k + cl];
        }
    } else {
        const int64_t kd = k * d;
        for (int64_t cl = 0; cl < k; cl++) {
            double q = 0;
            for (int64_t i = 0; i < d; i++) {
                double t = -m->mw[cl * d + i];
                for (int64_t j = 0; j < d; j++)
                    t += std_cell(m, j, row[j]) * m->coef[j * kd + cl * d + i];
                q += t * t;
            }
            out[cl] = m->cst[cl] - 0.5 * q;
        }
    }
    normalise(out, k);
    return AML_OK;
}

/* ---- save / load: header, then every array predict reads ------------------------------------ */

typedef struct {
    uint64_t magic;
    uint32_t version;
    int32_t k, kind, pad;
    int64_t d;
    double shrinkage;
} blob_header;
MC_BLOB_HEADER_CHECK(blob_header);

static size_t stat_len(const aml_model *m) { return (2 * (size_t)m->d + (size_t)m->k * (1 + (size_t)m->d)); }
static size_t coef_len(const aml_model *m)
{
    return (size_t)m->d * (size_t)coef_cols(m) + (size_t)m->k * (size_t)m->d + (size_t)m->k;
}

static aml_status model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const mc_call mc = mc_at(m->h, c, "discriminant");
    aml_status st = mc_check_save(&mc, m->fitted);
    if (st != AML_OK)
        return st;
    blob_header hd = {.k = m->k, .kind = m->kind, .pad = 0, .d = m->d, .shrinkage = m->shrinkage};
    mc_put_header(&mc, w, &st, &hd, sizeof hd, DA_MAGIC, DA_FORMAT_VERSION);
    mc_put(&mc, w, &st, m->mean, stat_len(m) * sizeof(double)); /* mean, inv_scale, log_prior, mu */
    mc_put(&mc, w, &st, m->coef, coef_len(m) * sizeof(double)); /* coef, mw, cst */
    return st;
}

static aml_status model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_model **out)
{
    const mc_call mc = mc_at(h, c, "discriminant");
    blob_header hd;
    aml_status st = mc_get_header(&mc, r, &hd, sizeof hd, DA_MAGIC, DA_FORMAT_VERSION, NULL);
    if (st != AML_OK)
        return st;
    if (hd.k < 2 || hd.k > MAX_CLASSES || (hd.kind != K_LDA && hd.kind != K_QDA) || hd.d < 1 ||
        hd.d > MAX_FEATURES || !(hd.shrinkage >= 0 && hd.shrinkage <= 1) ||
        (hd.kind == K_QDA && (int64_t)hd.k * hd.d * hd.d > ((int64_t)1 << 32)))
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (%d classes, kind %d, %lld features)", hd.k, hd.kind,
                       (long long)hd.d);
    if ((st = mc_check_blob_task(&mc, task, AML_TASK_CLASSIFICATION, hd.k, hd.d)) != AML_OK)
        return st;
    aml_model *m = model_new(&mc, hd.k, hd.kind, hd.shrinkage);
    if (!m || model_shape(m, hd.d) != AML_OK) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading %d classes x %lld features", hd.k,
                       (long long)hd.d);
    }
    mc_get(&mc, r, &st, m->mean, stat_len(m) * sizeof(double));
    mc_get(&mc, r, &st, m->coef, coef_len(m) * sizeof(double));
    if (st != AML_OK) {
        model_free(m);
        return st;
    }
    int ok = 0;
    for (int cl = 0; cl < m->k; cl++) /* at least one class with a finite prior, none above 1 */
        ok |= isfinite(m->log_prior[cl]) != 0;
    for (int cl = 0; cl < m->k; cl++)
        ok &= m->log_prior[cl] <= 0 && (isfinite(m->cst[cl]) || m->log_prior[cl] == -HUGE_VAL);
    for (int64_t j = 0; j < m->d; j++)
        ok &= isfinite(m->mean[j]) && isfinite(m->inv_scale[j]) && m->inv_scale[j] > 0;
    const size_t nfin = (size_t)m->d * (size_t)coef_cols(m) + (size_t)m->k * (size_t)m->d;
    for (size_t t = 0; t < nfin; t++)
        ok &= isfinite(m->coef[t]) != 0;
    if (!ok) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (statistics or coefficients out of range)");
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
    .name = "discriminant",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "linear / quadratic discriminant analysis with covariance shrinkage (LAPACK)",
    .params = params,
    .n_params = N_PARAMS,
    .model = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
