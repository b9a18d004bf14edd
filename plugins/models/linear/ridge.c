/* Ridge regression for the `linear` plugin: the Gram matrix in double from blocked dsyrk, and a
 * Cholesky solve (LAPACK) with an unpenalised intercept, on standardised features. */
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                   const int *ldb, int *info);

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
    const int64_t bs = lin_block_rows(ld, sizeof(double));
    /* a slot per chunk; fewer chunks when d is large so the slots stay below ~64 MiB */
    const int64_t slot = ld * ld + 1;
    int max_chunks = (int)((64 << 20) / (8 * slot));
    max_chunks = max_chunks < 1 ? 1 : max_chunks > MAX_CHUNKS ? MAX_CHUNKS : max_chunks;
    lin_row_plan p = lin_plan_rows(n, bs, max_chunks);
    int nt = lin_budget_threads(h, c, p.n_chunks);
    double *acc = lin_alloc(h, ((size_t)p.n_chunks * (size_t)slot + 2 * (size_t)d) * sizeof *acc);
    double *scratch = lin_alloc(h, (size_t)nt * (size_t)bs * ld * sizeof *scratch);
    if (!acc || !scratch) {
        lin_free(h, acc), lin_free(h, scratch);
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
            lin_chunk_rows(&p, ch, &r0, &r1);
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
    lin_free(h, scratch);
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
aml_status lin_fit_ridge(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
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
    double *shift = lin_alloc(h, (size_t)d * sizeof *shift), *acc = NULL;
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
            const double dj = g.s1[j] / sw;
            double *row = g.G + j * g.ld;
            for (int64_t k = j; k < d; k++)
                row[k] = (row[k] - sw * dj * (g.s1[k] / sw)) * m->inv_scale[j] * m->inv_scale[k];
            g.b[j] *= m->inv_scale[j];
        }
    } else {
        lin_free(h, acc), acc = NULL;
        if ((st = lin_fit_scaler(m, c, X, w)) != AML_OK)
            goto done;
        if ((st = gram_pass(m, c, X, y, ybar, NULL, &g, &acc)) != AML_OK)
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
    lin_free(h, acc), lin_free(h, shift);
    return st;
}
