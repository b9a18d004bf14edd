/* The `linear` model plugin: ridge regression (normal equations + Cholesky) and L2-penalised
 * logistic / softmax regression (L-BFGS), both on features standardised inside the model, with an
 * unpenalised intercept. Data passes are blocked over rows: each block is standardised into a
 * small per-thread scratch (NaN -> training mean) and fed to BLAS level 3, so the training matrix
 * is never copied and the float32 input is never converted as a whole.
 *
 * Objective (classification): sum_i w_i loss_i + l2/2 ||W||^2, i.e. l2 = 1/C of scikit-learn's
 * LogisticRegression, but on standardised features. Regression: sum_i w_i (y_i - f_i)^2 +
 * l2 ||beta||^2, i.e. l2 = Ridge's alpha, on standardised features.
 * `l1` is reserved: only 0 is accepted until an L1 solver lands. */
#include <automl/plugin.h>

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                   const int *ldb, int *info);

#define LINEAR_MAGIC 0x4e494c4c4d41ULL /* "AMLLIN" little-endian */
#define LINEAR_FORMAT_VERSION 1u
#define LBFGS_MEMORY 10
#define FTOL 2.220446049250313e-09 /* scipy's L-BFGS-B default relative decrease test */
#define MAX_CHUNKS 64              /* fixed reduction slots: results do not depend on thread count */

enum { P_L2, P_L1, P_MAX_ITER, P_TOL, N_PARAMS };

static const aml_param_def params[N_PARAMS] = {
    [P_L2] = {.name = "l2", .type = AML_PARAM_FLOAT, .lo = 1e-6, .hi = 1e3, .def = 1.0, .log_scale = 1,
              .help = "L2 penalty on standardised coefficients: 1/C (logistic), alpha (ridge)"},
    [P_L1] = {.name = "l1", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 0, .def = 0,
              .help = "reserved: L1 penalty; only 0 is supported for now, so the search keeps it at 0"},
    [P_MAX_ITER] = {.name = "max_iter", .type = AML_PARAM_INT, .lo = 10, .hi = 2000, .def = 200, .log_scale = 1,
                    .help = "L-BFGS iterations at most (classification)", .cost = 1},
    [P_TOL] = {.name = "tol", .type = AML_PARAM_FLOAT, .lo = 1e-8, .hi = 1e-2, .def = 1e-4, .log_scale = 1,
               .help = "stop when max |gradient| of the summed objective is below tol (as scikit-learn)"},
};

struct aml_model {
    const aml_host *h;
    aml_task_kind kind;
    int n_classes;
    int k;          /* columns of W: 1 for regression and binary, n_classes for softmax */
    int64_t d;      /* features */
    double l2, tol;
    int max_iter;
    int fitted;
    int n_iter;     /* L-BFGS iterations of the last fit */
    double *mean;   /* d: training mean (weighted) */
    double *inv_scale; /* d: 1 / training std (1 for constant features) */
    double *coef;   /* d x k row-major, standardised space */
    double *bias;   /* k */
};

/* ---- small helpers ------------------------------------------------------------------------ */

static void *xalloc(const aml_host *h, size_t n) { return h->alloc(n ? n : 1); }
static void xfree(const aml_host *h, void *p)
{
    if (p)
        h->dealloc(p);
}

static int n_outputs(const aml_model *m) { return m->kind == AML_TASK_CLASSIFICATION ? m->n_classes : 1; }

/* Rows per block so that a float block of standardised rows stays around 256 KiB. */
static int64_t block_rows(int64_t d, size_t elem)
{
    int64_t b = (int64_t)(262144 / elem) / (d > 0 ? d : 1);
    if (b < 16)
        b = 16;
    if (b > 1024)
        b = 1024;
    return b;
}

/* Standardises rows [r0, r0 + nb) of X into dst (nb x d, ld d): (x - mean) * inv_scale, NaN -> 0.
 * Branch-free so the compiler vectorises it; the float version takes float copies of the stats. */
static void standardize_block(int64_t d, const float *mean, const float *inv, const aml_matrix *X, int64_t r0,
                              int64_t nb, float *dst)
{
    for (int64_t i = 0; i < nb; i++) {
        const float *x = X->data + (r0 + i) * X->ld;
        float *o = dst + i * d;
        for (int64_t j = 0; j < d; j++) {
            float v = x[j], t = (v - mean[j]) * inv[j];
            o[j] = v == v ? t : 0.0f;
        }
    }
}

static void standardize_block_d(const aml_model *m, const aml_matrix *X, int64_t r0, int64_t nb, double *dst)
{
    const int64_t d = m->d;
    const double *mean = m->mean, *inv = m->inv_scale;
    for (int64_t i = 0; i < nb; i++) {
        const float *x = X->data + (r0 + i) * X->ld;
        double *o = dst + i * d;
        for (int64_t j = 0; j < d; j++) {
            float v = x[j];
            double t = ((double)v - mean[j]) * inv[j];
            o[j] = v == v ? t : 0.0;
        }
    }
}

/* Blocks of rows grouped into at most MAX_CHUNKS contiguous chunks; each chunk is reduced in a
 * fixed order, then the chunks in order, so sums are the same for any thread count. */
typedef struct {
    int64_t n, bs, n_blocks;
    int n_chunks;
} row_plan;

static row_plan plan_rows(int64_t n, int64_t bs, int max_chunks)
{
    row_plan p = {.n = n, .bs = bs};
    p.n_blocks = (n + bs - 1) / bs;
    p.n_chunks = (int)(p.n_blocks < max_chunks ? p.n_blocks : max_chunks);
    if (p.n_chunks < 1)
        p.n_chunks = 1;
    return p;
}
static void chunk_rows(const row_plan *p, int c, int64_t *r0, int64_t *r1)
{
    int64_t b0 = p->n_blocks * c / p->n_chunks, b1 = p->n_blocks * (c + 1) / p->n_chunks;
    *r0 = b0 * p->bs;
    *r1 = b1 * p->bs < p->n ? b1 * p->bs : p->n;
}

static int budget_threads(const aml_host *h, aml_host_ctx *c, int work_items)
{
    int t = h->threads(c);
    if (t < 1)
        t = 1;
    if (t > work_items)
        t = work_items > 0 ? work_items : 1;
    return t;
}

/* ---- standardisation statistics ---------------------------------------------------------- */

/* Weighted mean and std of each column over non-NaN cells, shifted by the first row for
 * accuracy. Per chunk sums in double, reduced in chunk order. */
static aml_status fit_scaler(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const float *w)
{
    const aml_host *h = m->h;
    const int64_t d = m->d, n = X->rows;
    row_plan p = plan_rows(n, 4096, MAX_CHUNKS);
    double *acc = xalloc(h, (size_t)p.n_chunks * 3 * (size_t)d * sizeof *acc);
    double *shift = xalloc(h, (size_t)d * sizeof *shift);
    if (!acc || !shift) {
        xfree(h, acc), xfree(h, shift);
        h->set_error(c, "linear: out of memory for feature statistics (%lld features)", (long long)d);
        return AML_ERR_NOMEM;
    }
    for (int64_t j = 0; j < d; j++)
        shift[j] = isfinite(X->data[j]) ? X->data[j] : 0.0;
    int nt = budget_threads(h, c, p.n_chunks);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int ch = 0; ch < p.n_chunks; ch++) {
        double *sw = acc + (size_t)ch * 3 * d, *s1 = sw + d, *s2 = s1 + d;
        memset(sw, 0, 3 * (size_t)d * sizeof *sw);
        int64_t r0, r1;
        chunk_rows(&p, ch, &r0, &r1);
        for (int64_t i = r0; i < r1; i++) {
            const float *x = X->data + i * X->ld;
            const double wi = w ? w[i] : 1.0;
            for (int64_t j = 0; j < d; j++) {
                float v = x[j];
                double t = v == v ? (double)v - shift[j] : 0.0, wv = v == v ? wi : 0.0;
                sw[j] += wv, s1[j] += wv * t, s2[j] += wv * t * t;
            }
        }
    }
    for (int ch = 1; ch < p.n_chunks; ch++)
        for (int64_t j = 0; j < 3 * d; j++)
            acc[j] += acc[(size_t)ch * 3 * d + j];
    for (int64_t j = 0; j < d; j++) {
        if (isfinite(acc[2 * d + j]))
            continue;
        /* an infinity somewhere in column j (sums of finite floats stay finite in double) */
        int64_t i = 0;
        while (i < X->rows && !isinf(X->data[i * X->ld + j]))
            i++;
        int64_t row = i, col = j;
        for (int64_t jj = 0; jj < d && row < X->rows; jj++) /* report the first bad cell of that row */
            if (isinf(X->data[row * X->ld + jj])) {
                col = jj;
                break;
            }
        h->set_error(c, "linear: row %lld, feature %lld is infinite (NaN marks a missing value)", (long long)row,
                     (long long)col);
        xfree(h, acc), xfree(h, shift);
        return AML_ERR_INPUT;
    }
    for (int64_t j = 0; j < d; j++) {
        double sw = acc[j], s1 = acc[d + j], s2 = acc[2 * d + j];
        if (sw <= 0) {
            m->mean[j] = 0, m->inv_scale[j] = 1;
            continue;
        }
        double mu = s1 / sw, var = s2 / sw - mu * mu;
        m->mean[j] = shift[j] + mu;
        double sd = var > 0 ? sqrt(var) : 0;
        m->inv_scale[j] = sd > 0 && sd > 1e-10 * fabs(m->mean[j]) ? 1.0 / sd : 1.0;
    }
    xfree(h, acc), xfree(h, shift);
    return AML_OK;
}

/* ---- ridge --------------------------------------------------------------------------------- */

/* Accumulates, over all rows, the upper triangle of A^T A for the row blocks A = [Z | sqrt(w) | r],
 * where row i of Z is sqrt(w_i) times either (x_i - shift) (NaN -> 0) or the standardised row
 * (NaN -> 0), and r_i = sqrt(w_i) (y_i - ybar). One dsyrk per block then yields the Gram matrix
 * G = Z^T Z, b = Z^T r and s1 = Z^T sqrt(w) together. In double: the normal equations square the
 * condition number. out gets G (d x d, leading dimension d + 2), b and s1 (views into *acc_out). */
typedef struct {
    int64_t d, ld;
    double *G, *b, *s1, nan_cells;
} gram;

static aml_status gram_pass(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y, double ybar,
                            const double *shift, gram *out, double **acc_out)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d, ld = d + 2;
    const float *w = y->weight;
    const int64_t bs = block_rows(ld, sizeof(double));
    /* a slot per chunk; fewer chunks when d is large so the slots stay below ~64 MiB */
    const int64_t slot = ld * ld + 1;
    int max_chunks = (int)((64 << 20) / (8 * slot));
    max_chunks = max_chunks < 1 ? 1 : max_chunks > MAX_CHUNKS ? MAX_CHUNKS : max_chunks;
    row_plan p = plan_rows(n, bs, max_chunks);
    int nt = budget_threads(h, c, p.n_chunks);
    double *acc = xalloc(h, ((size_t)p.n_chunks * (size_t)slot + 2 * (size_t)d) * sizeof *acc);
    double *scratch = xalloc(h, (size_t)nt * (size_t)bs * ld * sizeof *scratch);
    if (!acc || !scratch) {
        xfree(h, acc), xfree(h, scratch);
        h->set_error(c, "linear: out of memory for the %lld x %lld Gram matrix", (long long)d, (long long)d);
        return AML_ERR_NOMEM;
    }
    const double *mean = shift ? shift : m->mean, *inv = m->inv_scale;
#pragma omp parallel num_threads(nt)
    {
        double *A = scratch + (size_t)omp_get_thread_num() * bs * ld;
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < p.n_chunks; ch++) {
            double *G = acc + (size_t)ch * slot, *nans = G + ld * ld;
            memset(G, 0, (size_t)slot * sizeof *G);
            int64_t r0, r1;
            chunk_rows(&p, ch, &r0, &r1);
            for (int64_t i0 = r0; i0 < r1; i0 += bs) {
                const int64_t nb = r1 - i0 < bs ? r1 - i0 : bs;
                int64_t missing = 0; /* an integer reduction keeps the loop vectorisable */
                for (int64_t i = 0; i < nb; i++) {
                    const float *x = X->data + (i0 + i) * X->ld;
                    double *a = A + i * ld;
                    const double sq = w ? sqrt((double)w[i0 + i]) : 1.0;
                    if (shift) {
                        for (int64_t j = 0; j < d; j++) {
                            float v = x[j];
                            a[j] = v == v ? sq * ((double)v - mean[j]) : 0.0;
                            missing += v != v;
                        }
                    } else {
                        for (int64_t j = 0; j < d; j++) {
                            float v = x[j];
                            a[j] = v == v ? sq * (((double)v - mean[j]) * inv[j]) : 0.0;
                        }
                    }
                    a[d] = sq;
                    a[d + 1] = sq * (y->value[i0 + i] - ybar);
                }
                *nans += (double)missing;
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)ld, (int)nb, 1.0, A, (int)ld, 1.0, G,
                            (int)ld);
            }
        }
    }
    for (int ch = 1; ch < p.n_chunks; ch++)
        for (int64_t j = 0; j < slot; j++)
            acc[j] += acc[(size_t)ch * slot + j];
    xfree(h, scratch);
    out->d = d, out->ld = ld;
    out->G = acc;
    out->nan_cells = acc[ld * ld];
    out->b = acc + (size_t)p.n_chunks * slot, out->s1 = out->b + d;
    for (int64_t j = 0; j < d; j++)
        out->s1[j] = acc[j * ld + d], out->b[j] = acc[j * ld + d + 1];
    *acc_out = acc;
    return AML_OK;
}

/* Reports the first infinite cell of X (there is one when a Gram diagonal is not finite). */
static aml_status report_infinity(aml_model *m, aml_host_ctx *c, const aml_matrix *X)
{
    for (int64_t i = 0; i < X->rows; i++)
        for (int64_t j = 0; j < X->cols; j++)
            if (isinf(X->data[i * X->ld + j])) {
                m->h->set_error(c, "linear: row %lld, feature %lld is infinite (NaN marks a missing value)",
                                (long long)i, (long long)j);
                return AML_ERR_INPUT;
            }
    m->h->set_error(c, "linear: the Gram matrix is not finite (values too large?)");
    return AML_ERR_INPUT;
}

/* Ridge on standardised features with an unpenalised intercept:
 *   (Zs^T W Zs + l2 I) beta = Zs^T W (y - ybar), intercept ybar (Zs has weighted mean 0).
 * Complete data takes one pass over X: the Gram matrix of rows shifted by the first row gives the
 * weighted means and variances too (centred = shifted - sw delta delta^T, in double). Data with NaN
 * cells, or where that correction would cancel badly, take two passes (statistics, then Gram). */
static aml_status fit_ridge(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d;
    const float *w = y->weight;
    double sw = 0, sy = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi, sy += wi * y->value[i];
    }
    const double ybar = sy / sw;
    double *shift = xalloc(h, (size_t)d * sizeof *shift), *acc = NULL;
    if (!shift) {
        h->set_error(c, "linear: out of memory");
        return AML_ERR_NOMEM;
    }
    for (int64_t j = 0; j < d; j++)
        shift[j] = isfinite(X->data[j]) ? X->data[j] : 0.0;
    gram g;
    aml_status st = gram_pass(m, c, X, y, ybar, shift, &g, &acc);
    if (st != AML_OK)
        goto done;
    int one_pass = g.nan_cells == 0;
    for (int64_t j = 0; j < d && one_pass; j++) {
        double gjj = g.G[j * g.ld + j];
        if (!isfinite(gjj)) {
            st = report_infinity(m, c, X);
            goto done;
        }
        double delta = g.s1[j] / sw, var = gjj / sw - delta * delta;
        /* more than 10 of the 16 digits cancelled: recompute from centred data instead */
        if (var < 1e-10 * (gjj / sw) && gjj > 0)
            one_pass = 0;
        double sd = var > 0 ? sqrt(var) : 0;
        m->mean[j] = shift[j] + delta;
        m->inv_scale[j] = sd > 0 && sd > 1e-10 * fabs(m->mean[j]) ? 1.0 / sd : 1.0;
    }
    if (one_pass) {
        /* centre and scale the upper triangle in place; b is already centred (sum w (y - ybar) = 0) */
        for (int64_t j = 0; j < d; j++) {
            double dj = g.s1[j] / sw;
            for (int64_t k = j; k < d; k++)
                g.G[j * g.ld + k] = (g.G[j * g.ld + k] - sw * dj * (g.s1[k] / sw)) * m->inv_scale[j] * m->inv_scale[k];
            g.b[j] *= m->inv_scale[j];
        }
    } else {
        xfree(h, acc), acc = NULL;
        if ((st = fit_scaler(m, c, X, w)) != AML_OK || (st = gram_pass(m, c, X, y, ybar, NULL, &g, &acc)) != AML_OK)
            goto done;
    }
    double *G = g.G, *beta = g.b;
    for (int64_t j = 0; j < d; j++)
        G[j * g.ld + j] += m->l2;
    {
        int nn = (int)d, lda = (int)g.ld, nrhs = 1, info = 0;
        /* row-major upper == column-major lower */
        dposv_("L", &nn, &nrhs, G, &lda, beta, &nn, &info);
        if (info != 0) {
            h->set_error(c, "linear: ridge system is not positive definite (LAPACK dposv info %d); raise l2",
                         info);
            st = AML_ERR_RUNTIME;
            goto done;
        }
    }
    for (int64_t j = 0; j < d; j++) {
        if (!isfinite(beta[j])) {
            h->set_error(c, "linear: ridge coefficient %lld is not finite", (long long)j);
            st = AML_ERR_RUNTIME;
            goto done;
        }
        m->coef[j] = beta[j];
    }
    m->bias[0] = ybar; /* standardised features have weighted mean 0 */
    m->n_iter = 0;
done:
    xfree(h, acc), xfree(h, shift);
    return st;
}

/* ---- logistic / softmax loss and gradient -------------------------------------------------- */

typedef struct {
    aml_model *m;
    const aml_matrix *X;
    const aml_target *y;
    double sw_sum;
    row_plan p;
    int nt;
    int64_t bs;
    float *Wf;       /* d x k float copy of the coefficients for sgemm */
    float *mean_f, *inv_f; /* float copies of the standardisation */
    float *scratch;  /* per thread: bs x d block, bs x k logits, d x k block gradient */
    double *acc;     /* per chunk: d x k gradient, k bias gradient, 1 loss */
} logit_problem;

static size_t thread_scratch(const logit_problem *lp) { return (size_t)lp->bs * (lp->m->d + lp->m->k) + (size_t)lp->m->d * lp->m->k; }

/* f = (sum_i w_i loss_i + l2/2 ||W||^2) / sw_sum and its gradient at theta = [W (d x k), b (k)]. */
static double logit_eval(logit_problem *lp, const double *theta, double *grad)
{
    aml_model *m = lp->m;
    const int64_t d = m->d, bs = lp->bs;
    const int k = m->k;
    const int64_t nw = d * k, slot = nw + k + 1;
    const float *w = lp->y->weight;
    for (int64_t j = 0; j < nw; j++)
        lp->Wf[j] = (float)theta[j];
    const double *b = theta + nw;
#pragma omp parallel num_threads(lp->nt)
    {
        float *Z = lp->scratch + (size_t)omp_get_thread_num() * thread_scratch(lp);
        float *L = Z + bs * d, *Gb = L + bs * k;
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < lp->p.n_chunks; ch++) {
            double *G = lp->acc + (size_t)ch * slot, *gb = G + nw, *loss = gb + k;
            memset(G, 0, (size_t)slot * sizeof *G);
            int64_t r0, r1;
            chunk_rows(&lp->p, ch, &r0, &r1);
            for (int64_t i0 = r0; i0 < r1; i0 += bs) {
                int64_t nb = r1 - i0 < bs ? r1 - i0 : bs;
                standardize_block(d, lp->mean_f, lp->inv_f, lp->X, i0, nb, Z);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, k, (int)d, 1.0f, Z, (int)d,
                            lp->Wf, k, 0.0f, L, k);
                double lsum = 0;
                for (int64_t i = 0; i < nb; i++) {
                    double wi = w ? w[i0 + i] : 1.0;
                    int yi = lp->y->label[i0 + i];
                    float *li = L + i * k;
                    if (k == 1) {
                        /* loss log(1 + e^z) - y z and p = 1 / (1 + e^-z) from one exp */
                        double z = li[0] + b[0], e = exp(-fabs(z));
                        double l = (z > 0 ? z : 0.0) + log1p(e), pr = z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
                        lsum += wi * (l - (yi == 1 ? z : 0.0));
                        li[0] = (float)(wi * (pr - (yi == 1)));
                        gb[0] += li[0];
                    } else {
                        double zmax = -HUGE_VAL, se = 0;
                        for (int q = 0; q < k; q++)
                            zmax = li[q] + b[q] > zmax ? li[q] + b[q] : zmax;
                        const double zy = li[yi] + b[yi];
                        for (int q = 0; q < k; q++) {
                            float e = (float)exp(li[q] + b[q] - zmax); /* in (0, 1]: float is enough */
                            li[q] = e;
                            se += e;
                        }
                        lsum += wi * (zmax + log(se) - zy);
                        const double scale = wi / se;
                        for (int q = 0; q < k; q++) {
                            li[q] = (float)(scale * li[q] - (q == yi ? wi : 0.0));
                            gb[q] += li[q];
                        }
                    }
                }
                *loss += lsum;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, k, (int)nb, 1.0f, Z, (int)d, L, k,
                            0.0f, Gb, k);
                for (int64_t j = 0; j < nw; j++)
                    G[j] += Gb[j];
            }
        }
    }
    for (int ch = 1; ch < lp->p.n_chunks; ch++)
        for (int64_t j = 0; j < slot; j++)
            lp->acc[j] += lp->acc[(size_t)ch * slot + j];
    double f = lp->acc[nw + k], pen = 0;
    for (int64_t j = 0; j < nw; j++) {
        grad[j] = (lp->acc[j] + m->l2 * theta[j]) / lp->sw_sum;
        pen += theta[j] * theta[j];
    }
    for (int q = 0; q < k; q++)
        grad[nw + q] = lp->acc[nw + q] / lp->sw_sum;
    return (f + 0.5 * m->l2 * pen) / lp->sw_sum;
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}
static double max_abs(const double *a, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s = fabs(a[i]) > s ? fabs(a[i]) : s;
    return s;
}

/* L-BFGS (Nocedal & Wright, alg. 7.4/7.5) with a backtracking Armijo line search. Stops when
 * max |g| * sw_sum <= tol (scikit-learn's gtol on the summed objective), when the relative
 * decrease falls below scipy's ftol, when no decrease is possible at float32 precision, or at
 * max_iter. work holds 2 * M * n + 4 * n doubles. */
static aml_status lbfgs(logit_problem *lp, aml_host_ctx *c, double *x, int64_t n, int max_iter, double *work)
{
    aml_model *m = lp->m;
    const aml_host *h = m->h;
    double *S = work, *Y = S + (size_t)LBFGS_MEMORY * n, *g = Y + (size_t)LBFGS_MEMORY * n;
    double *dir = g + n, *xn = dir + n, *gn = xn + n;
    double rho[LBFGS_MEMORY], alpha[LBFGS_MEMORY];
    int mem = 0, head = 0; /* pairs stored in a ring: newest at head - 1 */
    const double gscale = lp->sw_sum, fscale = 1.0 / lp->sw_sum;

    double f = logit_eval(lp, x, g);
    m->n_iter = 0;
    if (!isfinite(f)) {
        h->set_error(c, "linear: loss became NaN at iteration 0 (check the input for infinities)");
        return AML_ERR_RUNTIME;
    }
    for (int it = 1; it <= max_iter; it++) {
        if (max_abs(g, n) * gscale <= m->tol)
            break;
        if (h->should_stop(c)) {
            h->set_error(c, "linear: stopped after %d L-BFGS iterations (deadline or cancel)", it - 1);
            return AML_ERR_CANCELLED;
        }
        /* two-loop recursion: dir = -H g */
        for (int64_t i = 0; i < n; i++)
            dir[i] = -g[i];
        for (int t = 0; t < mem; t++) {
            int s = (head - 1 - t + LBFGS_MEMORY) % LBFGS_MEMORY;
            alpha[s] = rho[s] * dot(S + (size_t)s * n, dir, n);
            cblas_daxpy((int)n, -alpha[s], Y + (size_t)s * n, 1, dir, 1);
        }
        if (mem > 0) {
            int s = (head - 1 + LBFGS_MEMORY) % LBFGS_MEMORY;
            double gamma = dot(S + (size_t)s * n, Y + (size_t)s * n, n) / dot(Y + (size_t)s * n, Y + (size_t)s * n, n);
            cblas_dscal((int)n, gamma, dir, 1);
        }
        for (int t = mem - 1; t >= 0; t--) {
            int s = (head - 1 - t + LBFGS_MEMORY) % LBFGS_MEMORY;
            double beta = rho[s] * dot(Y + (size_t)s * n, dir, n);
            cblas_daxpy((int)n, alpha[s] - beta, S + (size_t)s * n, 1, dir, 1);
        }
        double gd = dot(g, dir, n);
        if (!(gd < 0)) { /* not a descent direction: forget the curvature pairs */
            mem = 0;
            for (int64_t i = 0; i < n; i++)
                dir[i] = -g[i];
            gd = dot(g, dir, n);
        }
        double step = mem == 0 ? fmin(1.0, 1.0 / sqrt(dot(dir, dir, n))) : 1.0, fn = f;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++) {
            for (int64_t i = 0; i < n; i++)
                xn[i] = x[i] + step * dir[i];
            fn = logit_eval(lp, xn, gn);
            if (isfinite(fn) && fn <= f + 1e-4 * step * gd) {
                ok = 1;
                break;
            }
            /* quadratic interpolation of the step, kept within [0.1, 0.5] of the last one */
            double den = 2.0 * (fn - f - gd * step);
            double next = isfinite(fn) && den > 0 ? -gd * step * step / den : 0.5 * step;
            step = fmin(fmax(next, 0.1 * step), 0.5 * step);
        }
        if (!ok) {
            if (mem > 0) { /* retry once along the gradient */
                mem = 0;
                it--;
                continue;
            }
            break; /* no decrease possible at this precision: converged as far as float32 allows */
        }
        m->n_iter = it;
        double fold = f;
        int s = head;
        for (int64_t i = 0; i < n; i++) {
            S[(size_t)s * n + i] = xn[i] - x[i];
            Y[(size_t)s * n + i] = gn[i] - g[i];
        }
        double sy = dot(S + (size_t)s * n, Y + (size_t)s * n, n);
        if (sy > 1e-12 * dot(Y + (size_t)s * n, Y + (size_t)s * n, n)) {
            rho[s] = 1.0 / sy;
            head = (head + 1) % LBFGS_MEMORY;
            if (mem < LBFGS_MEMORY)
                mem++;
        }
        memcpy(x, xn, (size_t)n * sizeof *x);
        memcpy(g, gn, (size_t)n * sizeof *g);
        f = fn;
        if (!isfinite(f)) {
            h->set_error(c, "linear: loss became NaN at iteration %d", it);
            return AML_ERR_RUNTIME;
        }
        if (fold - f <= FTOL * fmax(fmax(fabs(fold), fabs(f)), fscale))
            break;
    }
    return AML_OK;
}

static aml_status fit_logistic(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                               int max_iter, int warm)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d;
    const int k = m->k;
    const int64_t nx = d * k + k;
    aml_status st = AML_OK;
    logit_problem lp = {.m = m, .X = X, .y = y};
    lp.bs = block_rows(d + k, sizeof(float));
    lp.p = plan_rows(n, lp.bs, MAX_CHUNKS);
    lp.nt = budget_threads(h, c, lp.p.n_chunks);
    double *theta = xalloc(h, (size_t)nx * sizeof *theta);
    double *work = xalloc(h, ((size_t)2 * LBFGS_MEMORY + 4) * (size_t)nx * sizeof *work);
    double *count = xalloc(h, (size_t)k * sizeof *count);
    lp.Wf = xalloc(h, (size_t)d * k * sizeof *lp.Wf);
    lp.mean_f = xalloc(h, (size_t)d * 2 * sizeof *lp.mean_f);
    lp.scratch = xalloc(h, (size_t)lp.nt * thread_scratch(&lp) * sizeof *lp.scratch);
    lp.acc = xalloc(h, (size_t)lp.p.n_chunks * (size_t)(nx + 1) * sizeof *lp.acc);
    if (!theta || !work || !count || !lp.Wf || !lp.mean_f || !lp.scratch || !lp.acc) {
        h->set_error(c, "linear: out of memory for the L-BFGS state (%lld parameters)", (long long)nx);
        st = AML_ERR_NOMEM;
        goto done;
    }
    lp.inv_f = lp.mean_f + d;
    for (int64_t j = 0; j < d; j++)
        lp.mean_f[j] = (float)m->mean[j], lp.inv_f[j] = (float)m->inv_scale[j];
    /* class weights for the starting intercept: log prior odds */
    double cls[2] = {0, 0};
    for (int q = 0; q < k; q++)
        count[q] = 0;
    lp.sw_sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = y->weight ? y->weight[i] : 1.0;
        lp.sw_sum += wi;
        if (k == 1)
            cls[y->label[i] == 1] += wi;
        else
            count[y->label[i]] += wi;
    }
    if (warm) {
        memcpy(theta, m->coef, (size_t)d * k * sizeof *theta);
        memcpy(theta + d * k, m->bias, (size_t)k * sizeof *theta);
    } else {
        memset(theta, 0, (size_t)nx * sizeof *theta);
        if (k == 1) {
            theta[d] = log((cls[1] + 0.5) / (cls[0] + 0.5));
        } else {
            double mean_log = 0;
            for (int q = 0; q < k; q++)
                mean_log += log(count[q] + 0.5) / k;
            for (int q = 0; q < k; q++)
                theta[d * k + q] = log(count[q] + 0.5) - mean_log;
        }
    }
    st = lbfgs(&lp, c, theta, nx, max_iter, work);
    if (st == AML_OK) {
        memcpy(m->coef, theta, (size_t)d * k * sizeof *theta);
        memcpy(m->bias, theta + d * k, (size_t)k * sizeof *theta);
    }
done:
    xfree(h, theta), xfree(h, work), xfree(h, count);
    xfree(h, lp.Wf), xfree(h, lp.mean_f), xfree(h, lp.scratch), xfree(h, lp.acc);
    return st;
}

/* ---- vtable ------------------------------------------------------------------------------- */

static void model_free(aml_model *m)
{
    if (!m)
        return;
    const aml_host *h = m->h;
    xfree(h, m->mean), xfree(h, m->inv_scale), xfree(h, m->coef), xfree(h, m->bias);
    h->dealloc(m);
}

/* Allocates the arrays for d features; the model is unfitted until fit/load fills them. */
static aml_status model_shape(aml_model *m, int64_t d)
{
    const aml_host *h = m->h;
    xfree(h, m->mean), xfree(h, m->inv_scale), xfree(h, m->coef), xfree(h, m->bias);
    m->d = d;
    m->mean = xalloc(h, (size_t)d * sizeof(double));
    m->inv_scale = xalloc(h, (size_t)d * sizeof(double));
    m->coef = xalloc(h, (size_t)d * m->k * sizeof(double));
    m->bias = xalloc(h, (size_t)m->k * sizeof(double));
    return m->mean && m->inv_scale && m->coef && m->bias ? AML_OK : AML_ERR_NOMEM;
}

static aml_status task_check(const aml_host *h, aml_host_ctx *c, const aml_task *task)
{
    if (!task || (task->kind != AML_TASK_CLASSIFICATION && task->kind != AML_TASK_REGRESSION)) {
        h->set_error(c, "linear: unknown task kind");
        return AML_ERR_INPUT;
    }
    if (task->kind == AML_TASK_CLASSIFICATION && task->n_classes < 2) {
        h->set_error(c, "linear: classification needs at least 2 classes, got %d", task->n_classes);
        return AML_ERR_INPUT;
    }
    return AML_OK;
}

static aml_model *model_new(const aml_host *h, const aml_task *task)
{
    aml_model *m = h->alloc(sizeof *m);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->h = h;
    m->kind = task->kind;
    m->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    m->k = task->kind == AML_TASK_CLASSIFICATION && task->n_classes > 2 ? task->n_classes : 1;
    m->l2 = params[P_L2].def, m->tol = params[P_TOL].def, m->max_iter = (int)params[P_MAX_ITER].def;
    return m;
}

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    aml_status st = task_check(h, c, task);
    if (st != AML_OK)
        return st;
    double l2 = p ? p->num[P_L2] : params[P_L2].def, l1 = p ? p->num[P_L1] : 0;
    double tol = p ? p->num[P_TOL] : params[P_TOL].def, it = p ? p->num[P_MAX_ITER] : params[P_MAX_ITER].def;
    if (l1 != 0) {
        h->set_error(c, "linear: l1 = %g is not supported yet (only l1 = 0: L2-penalised models)", l1);
        return AML_ERR_INPUT;
    }
    if (!(l2 >= 0 && isfinite(l2)) || !(tol > 0 && isfinite(tol)) || !(it >= 1 && it <= 1e7)) {
        h->set_error(c, "linear: bad parameters l2 = %g, tol = %g, max_iter = %g (need l2 >= 0, tol > 0, "
                        "max_iter >= 1)", l2, tol, it);
        return AML_ERR_INPUT;
    }
    aml_model *m = model_new(h, task);
    if (!m) {
        h->set_error(c, "linear: out of memory");
        return AML_ERR_NOMEM;
    }
    m->l2 = l2, m->tol = tol, m->max_iter = (int)it;
    *out = m;
    return AML_OK;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    if (!X || !y || X->rows < 1 || X->cols < 1 || X->ld < X->cols || !X->data) {
        h->set_error(c, "linear: empty or malformed training matrix");
        return AML_ERR_INPUT;
    }
    if (X->cols > INT32_MAX / 2 || X->rows > (int64_t)INT32_MAX * 1024) {
        h->set_error(c, "linear: matrix too large (%lld x %lld)", (long long)X->rows, (long long)X->cols);
        return AML_ERR_INPUT;
    }
    double sw = 0;
    for (int64_t i = 0; i < X->rows; i++) {
        if (m->kind == AML_TASK_CLASSIFICATION) {
            if (!y->label || y->label[i] < 0 || y->label[i] >= m->n_classes) {
                h->set_error(c, "linear: row %lld: class index %d outside [0, %d)", (long long)i,
                             y->label ? y->label[i] : -1, m->n_classes);
                return AML_ERR_INPUT;
            }
        } else if (!y->value || !isfinite(y->value[i])) {
            h->set_error(c, "linear: row %lld: target value is missing or not finite", (long long)i);
            return AML_ERR_INPUT;
        }
        double wi = y->weight ? y->weight[i] : 1.0;
        if (!(wi >= 0 && isfinite(wi))) {
            h->set_error(c, "linear: row %lld: sample weight %g must be finite and >= 0", (long long)i, wi);
            return AML_ERR_INPUT;
        }
        sw += wi;
    }
    if (!(sw > 0)) {
        h->set_error(c, "linear: sample weights sum to zero");
        return AML_ERR_INPUT;
    }
    int warm = m->fitted && m->d == X->cols && m->kind == AML_TASK_CLASSIFICATION;
    if (!warm && model_shape(m, X->cols) != AML_OK) {
        m->fitted = 0;
        h->set_error(c, "linear: out of memory for %lld features", (long long)X->cols);
        return AML_ERR_NOMEM;
    }
    aml_status st;
    if (m->kind == AML_TASK_REGRESSION) {
        st = fit_ridge(m, c, X, y); /* computes the feature statistics itself */
    } else if ((st = fit_scaler(m, c, X, y->weight)) == AML_OK) {
        int max_iter = m->max_iter;
        if (b && b->resource > 0 && b->resource < 1)
            max_iter = (int)ceil(max_iter * b->resource);
        st = fit_logistic(m, c, X, y, max_iter, warm);
    }
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
    if (!m->fitted) {
        h->set_error(c, "linear: predict before fit");
        return AML_ERR_INPUT;
    }
    if (!X || X->cols != m->d || X->ld < X->cols || (X->rows > 0 && !X->data)) {
        h->set_error(c, "linear: predict on %lld columns, the model was fitted on %lld", X ? (long long)X->cols : 0LL,
                     (long long)m->d);
        return AML_ERR_INPUT;
    }
    const int64_t d = m->d, bs = block_rows(d, sizeof(double)), nblocks = (X->rows + bs - 1) / bs;
    const int k = m->k, no = n_outputs(m);
    int nt = budget_threads(h, c, nblocks > INT32_MAX ? INT32_MAX : (int)nblocks);
    double *scratch = xalloc(h, (size_t)nt * (size_t)bs * (d + k) * sizeof *scratch);
    if (!scratch) {
        h->set_error(c, "linear: out of memory for prediction scratch");
        return AML_ERR_NOMEM;
    }
#pragma omp parallel num_threads(nt)
    {
        double *Z = scratch + (size_t)omp_get_thread_num() * bs * (d + k), *S = Z + bs * d;
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            int64_t i0 = blk * bs, nb = X->rows - i0 < bs ? X->rows - i0 : bs;
            standardize_block_d(m, X, i0, nb, Z);
            for (int64_t i = 0; i < nb; i++)
                memcpy(S + i * k, m->bias, (size_t)k * sizeof *S);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, k, (int)d, 1.0, Z, (int)d, m->coef, k,
                        1.0, S, k);
            for (int64_t i = 0; i < nb; i++)
                finish_row(m, S + i * k, out + (i0 + i) * no);
        }
    }
    xfree(h, scratch);
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

static aml_status model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = m->h;
    if (!m->fitted) {
        h->set_error(c, "linear: save before fit");
        return AML_ERR_INPUT;
    }
    blob_header hd = {.magic = LINEAR_MAGIC, .version = LINEAR_FORMAT_VERSION, .kind = (uint32_t)m->kind,
                      .n_classes = m->n_classes, .k = m->k, .d = m->d, .l2 = m->l2, .tol = m->tol,
                      .max_iter = m->max_iter, .n_iter = m->n_iter};
    aml_status st;
    if ((st = h->write(w, &hd, sizeof hd)) != AML_OK || (st = h->write(w, m->mean, (size_t)m->d * 8)) != AML_OK ||
        (st = h->write(w, m->inv_scale, (size_t)m->d * 8)) != AML_OK ||
        (st = h->write(w, m->coef, (size_t)m->d * m->k * 8)) != AML_OK ||
        (st = h->write(w, m->bias, (size_t)m->k * 8)) != AML_OK) {
        h->set_error(c, "linear: writing the model blob failed");
        return st;
    }
    return AML_OK;
}

static aml_status model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_model **out)
{
    blob_header hd;
    if (h->read(r, &hd, sizeof hd) != AML_OK || hd.magic != LINEAR_MAGIC) {
        h->set_error(c, "linear: not a linear model blob (bad or truncated header)");
        return AML_ERR_FORMAT;
    }
    if (hd.version > LINEAR_FORMAT_VERSION || hd.version == 0) {
        h->set_error(c, "linear: blob format version %u, this plugin reads up to %u", hd.version,
                     LINEAR_FORMAT_VERSION);
        return AML_ERR_FORMAT;
    }
    int ok = (hd.kind == AML_TASK_CLASSIFICATION && hd.n_classes >= 2 && hd.n_classes <= (1 << 20) &&
              hd.k == (hd.n_classes > 2 ? hd.n_classes : 1)) ||
             (hd.kind == AML_TASK_REGRESSION && hd.n_classes == 0 && hd.k == 1);
    ok = ok && hd.d >= 1 && hd.d <= (int64_t)INT32_MAX / 2 && hd.d * (int64_t)hd.k <= ((int64_t)1 << 32);
    if (!ok) {
        h->set_error(c, "linear: corrupt blob header (kind %u, classes %d, features %lld)", hd.kind, hd.n_classes,
                     (long long)hd.d);
        return AML_ERR_FORMAT;
    }
    if (task && (task->kind != (aml_task_kind)hd.kind || (task->kind == AML_TASK_CLASSIFICATION &&
                                                           task->n_classes != hd.n_classes) ||
                 (task->n_features > 0 && task->n_features != hd.d))) {
        h->set_error(c, "linear: blob is for a %s task with %d classes and %lld features, not the given task",
                     hd.kind == AML_TASK_CLASSIFICATION ? "classification" : "regression", hd.n_classes,
                     (long long)hd.d);
        return AML_ERR_FORMAT;
    }
    aml_task t = {.kind = (aml_task_kind)hd.kind, .n_classes = hd.n_classes, .n_features = hd.d};
    aml_model *m = model_new(h, &t);
    if (!m || model_shape(m, hd.d) != AML_OK) {
        model_free(m);
        h->set_error(c, "linear: out of memory loading a model with %lld features", (long long)hd.d);
        return AML_ERR_NOMEM;
    }
    m->l2 = hd.l2, m->tol = hd.tol, m->max_iter = hd.max_iter, m->n_iter = hd.n_iter;
    if (h->read(r, m->mean, (size_t)m->d * 8) != AML_OK || h->read(r, m->inv_scale, (size_t)m->d * 8) != AML_OK ||
        h->read(r, m->coef, (size_t)m->d * m->k * 8) != AML_OK || h->read(r, m->bias, (size_t)m->k * 8) != AML_OK) {
        model_free(m);
        h->set_error(c, "linear: truncated model blob");
        return AML_ERR_FORMAT;
    }
    for (int64_t j = 0; j < m->d * m->k + m->k; j++) {
        double v = j < m->d * m->k ? m->coef[j] : m->bias[j - m->d * m->k];
        if (!isfinite(v)) {
            model_free(m);
            h->set_error(c, "linear: corrupt model blob (non-finite coefficient)");
            return AML_ERR_FORMAT;
        }
    }
    for (int64_t j = 0; j < m->d; j++)
        if (!isfinite(m->mean[j]) || !(m->inv_scale[j] > 0 && isfinite(m->inv_scale[j]))) {
            model_free(m);
            h->set_error(c, "linear: corrupt model blob (bad scaling of feature %lld)", (long long)j);
            return AML_ERR_FORMAT;
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
    .version = "1.0.0",
    .license = "MIT",
    .summary = "ridge regression and L2 logistic/softmax regression (L-BFGS) on standardised features",
    .params = params,
    .n_params = N_PARAMS,
    .model = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
