/* Ridge regression for the `linear` plugin, by the solver the shape calls for (see linear.c):
 * n >= d: the Gram matrix from blocked syrk over row blocks and a Cholesky solve (LAPACK); d > n:
 * the n x n kernel X X^T from blocked syrk over feature blocks, a Cholesky solve for the dual
 * coefficients and one pass back. Elastic net takes the same Gram matrix to coordinate descent
 * (lasso.c). All on standardised features with an unpenalised intercept. */
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                   const int *ldb, int *info);

/* n * (d + 2)^2 from which the Gram matrix is built from float32 blocks (see gram_pass): the tests'
 * small problems stay on the exact double path. */
#define FLOAT_GRAM_MIN_WORK 5e7
#define FLOAT_GRAM_MIN_BLOCKS 16

/* Accumulates, over all rows, the upper triangle of A^T A for the row blocks A = [Z | sqrt(w) | r],
 * where row i of Z is sqrt(w_i) times either (x_i - shift) (NaN -> 0) or the standardised row
 * (NaN -> 0), and r_i = sqrt(w_i) (y_i - ybar). One syrk per block then yields the Gram matrix
 * G = Z^T Z, b = Z^T r and s1 = Z^T sqrt(w) together. out gets G (d x d, leading dimension d + 2),
 * b and s1 (views into *acc_out).
 *
 * The sums across blocks are always in double. Within a block of a few hundred rows the product
 * is in double for small problems and in float32 (ssyrk, twice the speed) for large ones: a
 * block's float sum has a relative error of about sqrt(rows) 6e-8, the blocks' errors average out
 * in the double total, and the result is as close to the exact Gram matrix as the float32 input's
 * own rounding (1 part in 1.7e7) puts it. test_ridge_float_gram_agrees bounds the difference. */
typedef struct {
    int64_t d, ld;
    double *G, *b, *s1, nan_cells;
    int in_float; /* built from float32 blocks */
} gram;

static aml_status gram_pass(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y, double ybar,
                            const double *shift, gram *out, double **acc_out)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d, ld = d + 2;
    const float *w = y->weight;
    const int64_t bs = lin_block_rows(ld, sizeof(double));
    const int in_float = (double)n * (double)ld * (double)ld >= FLOAT_GRAM_MIN_WORK && n >= FLOAT_GRAM_MIN_BLOCKS * bs;
    /* a slot per chunk; fewer chunks when d is large so the slots stay below ~64 MiB */
    const int64_t slot = ld * ld + 1;
    int max_chunks = (int)((64 << 20) / (8 * slot));
    max_chunks = max_chunks < 1 ? 1 : max_chunks > MAX_CHUNKS ? MAX_CHUNKS : max_chunks;
    lin_row_plan p = lin_plan_rows(n, bs, max_chunks);
    int nt = mc_threads(h, c, p.n_chunks);
    /* per thread: a block of rows (double or float), and in float mode the block's float Gram */
    const size_t per_thread = in_float ? (size_t)bs * ld * sizeof(float) + (size_t)ld * ld * sizeof(float)
                                       : (size_t)bs * ld * sizeof(double);
    double *acc = mc_alloc(h, ((size_t)p.n_chunks * (size_t)slot + 2 * (size_t)d) * sizeof *acc);
    char *scratch = mc_alloc(h, (size_t)nt * per_thread);
    if (!acc || !scratch) {
        mc_free(h, acc), mc_free(h, scratch);
        h->set_error(c, "linear: out of memory for the %lld x %lld Gram matrix", (long long)d, (long long)d);
        return AML_ERR_NOMEM;
    }
    const double *mean = shift ? shift : m->mean, *inv = m->inv_scale;
#pragma omp parallel num_threads(nt)
    {
        char *mine = scratch + (size_t)omp_get_thread_num() * per_thread;
        double *A = (double *)mine;
        float *Af = (float *)mine, *Gf = Af + bs * ld;
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
                    const double sq = w ? sqrt((double)w[i0 + i]) : 1.0;
                    if (in_float) {
                        float *a = Af + i * ld;
                        /* (x - shift) in double, rounded once to float */
                        if (shift) {
                            for (int64_t j = 0; j < d; j++) {
                                float v = x[j];
                                a[j] = v == v ? (float)(sq * ((double)v - mean[j])) : 0.0f;
                                missing += v != v;
                            }
                        } else {
                            for (int64_t j = 0; j < d; j++) {
                                float v = x[j];
                                a[j] = v == v ? (float)(sq * (((double)v - mean[j]) * inv[j])) : 0.0f;
                            }
                        }
                        a[d] = (float)sq;
                        a[d + 1] = (float)(sq * (y->value[i0 + i] - ybar));
                    } else {
                        double *a = A + i * ld;
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
                }
                *nans += (double)(shift ? missing : 0);
                if (in_float) {
                    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)ld, (int)nb, 1.0f, Af, (int)ld, 0.0f,
                                Gf, (int)ld);
                    for (int64_t j = 0; j < ld; j++)
                        for (int64_t k = j; k < ld; k++)
                            G[j * ld + k] += (double)Gf[j * ld + k];
                } else {
                    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)ld, (int)nb, 1.0, A, (int)ld, 1.0, G,
                                (int)ld);
                }
            }
        }
    }
    for (int ch = 1; ch < p.n_chunks; ch++)
        for (int64_t j = 0; j < slot; j++)
            acc[j] += acc[(size_t)ch * slot + j];
    mc_free(h, scratch);
    out->d = d, out->ld = ld;
    out->G = acc;
    out->nan_cells = acc[ld * ld];
    out->in_float = in_float;
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

/* Ridge for d > n through the dual: with A = W^1/2 Zs (n x d) and r = W^1/2 (y - ybar),
 *   beta = A^T (A A^T + l2 I)^-1 r ,
 * the same solution as the primal normal equations, from an n x n system. A is never held whole:
 * feature blocks of it are standardised in turn, their products added into K = A A^T (row tiles in
 * parallel, one thread per tile, so the sums do not depend on the thread count), and a second pass
 * maps the dual coefficients back. Needs the statistics. */
static aml_status ridge_dual(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y, double ybar)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d, tile = 256, n_tiles = (n + tile - 1) / tile;
    const float *w = y->weight;
    int64_t fb = ((int64_t)4 << 20) / n; /* a block of A: at most 32 MiB */
    fb = fb < 16 ? 16 : fb > d ? d : fb;
    aml_status st = AML_OK;
    double *K = mc_alloc(h, (size_t)n * (size_t)n * sizeof *K);
    double *A = mc_alloc(h, (size_t)n * (size_t)fb * sizeof *A), *alpha = mc_alloc(h, (size_t)n * sizeof *alpha);
    if (!K || !A || !alpha) {
        h->set_error(c, "linear: out of memory for the %lld x %lld dual ridge system", (long long)n, (long long)n);
        st = AML_ERR_NOMEM;
        goto done;
    }
    int nt = mc_threads(h, c, n_tiles > INT32_MAX ? INT32_MAX : (int)n_tiles);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t f0 = 0; f0 < d; f0 += fb) {
            const int64_t fw = d - f0 < fb ? d - f0 : fb;
#pragma omp parallel num_threads(nt)
            {
#pragma omp for schedule(static)
                for (int64_t i = 0; i < n; i++) {
                    const float *x = X->data + i * X->ld + f0;
                    const double sq = w ? sqrt((double)w[i]) : 1.0;
                    double *a = A + i * fw;
                    for (int64_t j = 0; j < fw; j++) {
                        float v = x[j];
                        a[j] = v == v ? sq * (((double)v - m->mean[f0 + j]) * m->inv_scale[f0 + j]) : 0.0;
                    }
                }
                if (pass == 0) {
                    /* K[I, I:] += A_I A_{I:}^T: the upper triangle by row tiles */
#pragma omp for schedule(dynamic, 1)
                    for (int64_t t = 0; t < n_tiles; t++) {
                        const int64_t i0 = t * tile, nb = n - i0 < tile ? n - i0 : tile;
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)(n - i0), (int)fw, 1.0,
                                    A + i0 * fw, (int)fw, A + i0 * fw, (int)fw, f0 == 0 ? 0.0 : 1.0,
                                    K + i0 * n + i0, (int)n);
                    }
                }
            }
            if (pass == 1) /* beta_F = A_F^T alpha */
                cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)fw, 1.0, A, (int)fw, alpha, 1, 0.0, m->coef + f0,
                            1);
        }
        if (pass == 0) {
            for (int64_t i = 0; i < n; i++) {
                if (!isfinite(K[i * n + i])) {
                    st = report_infinity(m, c, X);
                    goto done;
                }
                K[i * n + i] += m->l2;
                alpha[i] = (w ? sqrt((double)w[i]) : 1.0) * (y->value[i] - ybar);
            }
            int nn = (int)n, nrhs = 1, info = 0;
            dposv_("L", &nn, &nrhs, K, &nn, alpha, &nn, &info); /* row-major upper == column-major lower */
            if (info != 0) {
                h->set_error(c, "linear: dual ridge system (%lld features > %lld rows) is not positive definite "
                                "(LAPACK dposv info %d); raise l2", (long long)d, (long long)n, info);
                st = AML_ERR_RUNTIME;
                goto done;
            }
        }
    }
    for (int64_t j = 0; j < d; j++)
        if (!isfinite(m->coef[j])) {
            h->set_error(c, "linear: ridge coefficient %lld is not finite", (long long)j);
            st = AML_ERR_RUNTIME;
            goto done;
        }
    m->bias[0] = ybar;
    m->n_iter = 0;
done:
    mc_free(h, K), mc_free(h, A), mc_free(h, alpha);
    return st;
}

/* Ridge or elastic net on standardised features with an unpenalised intercept:
 *   ridge:       (Zs^T W Zs + l2 I) beta = Zs^T W (y - ybar), intercept ybar (Zs has weighted mean 0);
 *   elastic net: coordinate descent on the same Gram matrix (lasso.c).
 * Complete data takes one pass over X: the Gram matrix of rows shifted by the first row gives the
 * weighted means and variances too (centred = shifted - sw delta delta^T, in double). Data with NaN
 * cells, or where that correction would cancel badly, take two passes (statistics, then Gram).
 * d > n goes to the dual (ridge) or to residual coordinate descent (elastic net) instead. */
aml_status lin_fit_ridge(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d;
    const float *w = y->weight;
    double sw = 0, sy = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        sw += wi, sy += wi * y->value[i];
    }
    const double ybar = sy / sw;
    for (int64_t i = 0; i < n; i++)
        syy += (w ? w[i] : 1.0) * (y->value[i] - ybar) * (y->value[i] - ybar);
    /* the L1 weight of the halved summed objective: l1 is per unit weight and per target std */
    const double l1 = lin_l1(m), lambda = sw * sqrt(syy / sw) * l1;
    if (d > n) {
        aml_status st = lin_fit_scaler(m, c, X, w);
        if (st != AML_OK)
            return st;
        m->solver = l1 > 0 ? LIN_SOLVER_CD_RESIDUAL : LIN_SOLVER_DUAL;
        return l1 > 0 ? lin_lasso_residual(m, c, X, y, ybar, lambda) : ridge_dual(m, c, X, y, ybar);
    }
    double *shift = mc_alloc(h, (size_t)d * sizeof *shift), *acc = NULL;
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
    /* the fraction of a diagonal that may cancel in the centring: a float Gram matrix has fewer
     * digits to lose (a shift more than ~10 std from the mean takes the two-pass path) */
    const double cancel_limit = g.in_float ? 1e-2 : 1e-10;
    for (int64_t j = 0; j < d && one_pass; j++) {
        double gjj = g.G[j * g.ld + j];
        if (!isfinite(gjj)) {
            st = report_infinity(m, c, X);
            goto done;
        }
        double delta = g.s1[j] / sw, var = gjj / sw - delta * delta;
        if (var < cancel_limit * (gjj / sw) && gjj > 0)
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
        mc_free(h, acc), acc = NULL;
        if ((st = lin_fit_scaler(m, c, X, w)) != AML_OK)
            goto done;
        if ((st = gram_pass(m, c, X, y, ybar, NULL, &g, &acc)) != AML_OK)
            goto done;
    }
    double *G = g.G, *beta = g.b;
    if (l1 > 0) {
        for (int64_t j = 0; j < d; j++) /* coordinate descent reads whole rows: mirror the upper triangle */
            for (int64_t k = 0; k < j; k++)
                G[j * g.ld + k] = G[k * g.ld + j];
        memset(m->coef, 0, (size_t)d * sizeof *m->coef);
        m->solver = LIN_SOLVER_CD_COVARIANCE;
        if ((st = lin_lasso_covariance(m, c, G, g.ld, g.b, lambda, m->coef)) != AML_OK)
            goto done;
        m->bias[0] = ybar;
        goto done;
    }
    m->solver = LIN_SOLVER_CHOLESKY;
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
    mc_free(h, acc), mc_free(h, shift);
    return st;
}
