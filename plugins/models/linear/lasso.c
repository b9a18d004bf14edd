/* Elastic net regression for the `linear` plugin: cyclic coordinate descent with soft-thresholding
 * (so unused features get exact zeros), on the centred, standardised problem
 *     min_b  1/2 sum_i w_i (r_i - z_i.b)^2 + l2/2 ||b||^2 + lambda ||b||_1 .
 * Two forms of the same update, picked by shape (linear.c): covariance updates keep q = G b for the
 * Gram matrix G = Z^T W Z (cheap when n >= d: a sweep costs d per changed coefficient and the Gram
 * matrix comes from the ridge pass), residual updates keep r - Z b (d > n: no d x d matrix).
 * The intercept is never penalised: Z is weighted-centred, so it is the weighted mean of y. */
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define INNER_SWEEPS 1000 /* sweeps over the active set between two full sweeps, at most */

static inline double soft_threshold(double rho, double lambda)
{
    return rho > lambda ? rho - lambda : rho < -lambda ? rho + lambda : 0.0;
}

/* How far coefficient j is from optimality: the smallest |subgradient| of the objective in b_j,
 * given g = the gradient of the smooth part. */
static inline double kkt_violation(double g, double b, double lambda)
{
    if (b > 0)
        return fabs(g + lambda);
    if (b < 0)
        return fabs(g - lambda);
    return fabs(g) > lambda ? fabs(g) - lambda : 0.0;
}

/* ---- covariance updates ---------------------------------------------------------------------- */

typedef struct {
    const double *G, *r;
    int64_t d, ld;
    double l2, lambda;
    double *beta, *q; /* q = G beta, kept up to date */
} cov_problem;

/* One pass over the coordinates in idx (or all when idx is NULL); returns how many moved. */
static int64_t cov_sweep(cov_problem *p, const int64_t *idx, int64_t count)
{
    int64_t moved = 0;
    for (int64_t a = 0; a < count; a++) {
        const int64_t j = idx ? idx[a] : a;
        const double gjj = p->G[j * p->ld + j], h = gjj + p->l2;
        if (!(h > 0))
            continue; /* a constant feature: its coefficient stays 0 */
        const double rho = p->r[j] - p->q[j] + gjj * p->beta[j];
        const double nb = soft_threshold(rho, p->lambda) / h, delta = nb - p->beta[j];
        if (delta != 0) {
            cblas_daxpy((int)p->d, delta, p->G + j * p->ld, 1, p->q, 1); /* G is symmetric: row j = column j */
            p->beta[j] = nb;
            moved++;
        }
    }
    return moved;
}

static double cov_violation(const cov_problem *p, const int64_t *idx, int64_t count)
{
    double worst = 0;
    for (int64_t a = 0; a < count; a++) {
        const int64_t j = idx ? idx[a] : a;
        if (!(p->G[j * p->ld + j] + p->l2 > 0))
            continue;
        double v = kkt_violation(p->q[j] - p->r[j] + p->l2 * p->beta[j], p->beta[j], p->lambda);
        worst = v > worst ? v : worst;
    }
    return worst;
}

/* The active set: coordinates that are non-zero now. */
static int64_t active_set(const double *beta, int64_t d, int64_t *idx)
{
    int64_t na = 0;
    for (int64_t j = 0; j < d; j++)
        if (beta[j] != 0)
            idx[na++] = j;
    return na;
}

/* The stopping threshold: tol times the largest gradient at b = 0 (the lambda that zeroes every
 * coefficient), so that tol means the same on every data set, as scikit-learn's relative tol. */
static double stop_threshold(const aml_model *m, double grad0_max)
{
    return m->tol * (grad0_max > 0 ? grad0_max : 1.0);
}

aml_status lin_lasso_covariance(aml_model *m, aml_host_ctx *c, const double *G, int64_t ld, const double *r,
                                double lambda, double *beta)
{
    const aml_host *h = m->h;
    const int64_t d = m->d;
    double *q = mc_alloc(h, (size_t)d * sizeof *q);
    int64_t *idx = mc_alloc(h, (size_t)d * sizeof *idx);
    if (!q || !idx) {
        mc_free(h, q), mc_free(h, idx);
        h->set_error(c, "linear: out of memory for coordinate descent (%lld features)", (long long)d);
        return AML_ERR_NOMEM;
    }
    for (int64_t j = 0; j < d; j++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++)
            s += G[j * ld + k] * beta[k];
        q[j] = s;
    }
    cov_problem p = {.G = G, .r = r, .d = d, .ld = ld, .l2 = m->l2, .lambda = lambda, .beta = beta, .q = q};
    double grad0 = 0;
    for (int64_t j = 0; j < d; j++)
        grad0 = fabs(r[j]) > grad0 ? fabs(r[j]) : grad0;
    const double stop = stop_threshold(m, grad0);
    aml_status st = AML_OK;
    m->n_iter = 0;
    for (int sweep = 1; sweep <= m->max_iter; sweep++) {
        m->n_iter = sweep;
        int64_t moved = cov_sweep(&p, NULL, d);
        if (moved == 0 || cov_violation(&p, NULL, d) <= stop)
            break;
        /* converge on the non-zero coordinates first: most of the work once the support settles */
        int64_t na = active_set(beta, d, idx);
        for (int inner = 0; inner < INNER_SWEEPS && na > 0; inner++)
            if (cov_sweep(&p, idx, na) == 0 || cov_violation(&p, idx, na) <= stop)
                break;
        if (h->should_stop(c)) {
            h->set_error(c, "linear: stopped after %d coordinate descent sweeps (deadline or cancel)", sweep);
            st = AML_ERR_CANCELLED;
            break;
        }
    }
    mc_free(h, q), mc_free(h, idx);
    return st;
}

/* ---- residual updates ------------------------------------------------------------------------ */

/* Column-major sqrt(w) * standardised X (n x d, double), column blocks in parallel so that each
 * thread writes whole columns. */
static void weighted_columns(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, const float *w, double *Zc)
{
    const int64_t n = X->rows, d = m->d, cb = 64, nblk = (d + cb - 1) / cb;
    int nt = mc_threads(m->h, c, nblk > INT32_MAX ? INT32_MAX : (int)nblk);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t j0 = b * cb, j1 = j0 + cb < d ? j0 + cb : d;
        for (int64_t i = 0; i < n; i++) {
            const float *x = X->data + i * X->ld;
            const double sq = w ? sqrt((double)w[i]) : 1.0;
            for (int64_t j = j0; j < j1; j++) {
                float v = x[j];
                Zc[j * n + i] = v == v ? sq * (((double)v - m->mean[j]) * m->inv_scale[j]) : 0.0;
            }
        }
    }
}

typedef struct {
    const double *Zc, *colsq;
    int64_t n, d;
    double l2, lambda;
    double *beta, *res; /* res = sqrt(w) (y - ybar) - Zc beta, kept up to date */
} res_problem;

static int64_t res_sweep(res_problem *p, const int64_t *idx, int64_t count)
{
    int64_t moved = 0;
    for (int64_t a = 0; a < count; a++) {
        const int64_t j = idx ? idx[a] : a;
        const double h = p->colsq[j] + p->l2;
        if (!(h > 0))
            continue;
        const double *z = p->Zc + j * p->n;
        const double rho = cblas_ddot((int)p->n, z, 1, p->res, 1) + p->colsq[j] * p->beta[j];
        const double nb = soft_threshold(rho, p->lambda) / h, delta = nb - p->beta[j];
        if (delta != 0) {
            cblas_daxpy((int)p->n, -delta, z, 1, p->res, 1);
            p->beta[j] = nb;
            moved++;
        }
    }
    return moved;
}

static double res_violation(const res_problem *p, const int64_t *idx, int64_t count)
{
    double worst = 0;
    for (int64_t a = 0; a < count; a++) {
        const int64_t j = idx ? idx[a] : a;
        if (!(p->colsq[j] + p->l2 > 0))
            continue;
        double g = -cblas_ddot((int)p->n, p->Zc + j * p->n, 1, p->res, 1) + p->l2 * p->beta[j];
        double v = kkt_violation(g, p->beta[j], p->lambda);
        worst = v > worst ? v : worst;
    }
    return worst;
}

aml_status lin_lasso_residual(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                              double ybar, double lambda)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d;
    const float *w = y->weight;
    if ((double)n * (double)d > (double)INT64_MAX / 16) {
        h->set_error(c, "linear: %lld x %lld is too large for coordinate descent", (long long)n, (long long)d);
        return AML_ERR_INPUT;
    }
    double *Zc = mc_alloc(h, (size_t)n * (size_t)d * sizeof *Zc);
    double *colsq = mc_alloc(h, (size_t)d * sizeof *colsq), *res = mc_alloc(h, (size_t)n * sizeof *res);
    int64_t *idx = mc_alloc(h, (size_t)d * sizeof *idx);
    aml_status st = AML_OK;
    if (!Zc || !colsq || !res || !idx) {
        h->set_error(c, "linear: out of memory for coordinate descent on %lld x %lld", (long long)n, (long long)d);
        st = AML_ERR_NOMEM;
        goto done;
    }
    weighted_columns(m, c, X, w, Zc);
    for (int64_t i = 0; i < n; i++)
        res[i] = (w ? sqrt((double)w[i]) : 1.0) * (y->value[i] - ybar);
    double grad0 = 0;
    for (int64_t j = 0; j < d; j++) {
        colsq[j] = cblas_ddot((int)n, Zc + j * n, 1, Zc + j * n, 1);
        double g = fabs(cblas_ddot((int)n, Zc + j * n, 1, res, 1));
        grad0 = g > grad0 ? g : grad0;
    }
    memset(m->coef, 0, (size_t)d * sizeof *m->coef);
    res_problem p = {.Zc = Zc, .colsq = colsq, .n = n, .d = d, .l2 = m->l2, .lambda = lambda, .beta = m->coef,
                     .res = res};
    const double stop = stop_threshold(m, grad0);
    m->n_iter = 0;
    for (int sweep = 1; sweep <= m->max_iter; sweep++) {
        m->n_iter = sweep;
        if (res_sweep(&p, NULL, d) == 0 || res_violation(&p, NULL, d) <= stop)
            break;
        int64_t na = active_set(m->coef, d, idx);
        for (int inner = 0; inner < INNER_SWEEPS && na > 0; inner++)
            if (res_sweep(&p, idx, na) == 0 || res_violation(&p, idx, na) <= stop)
                break;
        if (h->should_stop(c)) {
            h->set_error(c, "linear: stopped after %d coordinate descent sweeps (deadline or cancel)", sweep);
            st = AML_ERR_CANCELLED;
            goto done;
        }
    }
    m->bias[0] = ybar;
done:
    mc_free(h, Zc), mc_free(h, colsq), mc_free(h, res), mc_free(h, idx);
    return st;
}
