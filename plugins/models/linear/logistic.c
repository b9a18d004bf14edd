/* Logistic (binary) and softmax regression for the `linear` plugin: the mean log loss with an L2
 * penalty, its gradient from two sgemm per row block on the same cached standardised block, and
 * L-BFGS with scikit-learn's stopping rule, or OWL-QN when an L1 penalty is on. */
#include "linear.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define LBFGS_MEMORY 10
#define FTOL 2.220446049250313e-09 /* scipy's L-BFGS-B default relative decrease test */

typedef struct {
    aml_model *m;
    const aml_matrix *X;
    const aml_target *y;
    double sw_sum;
    lin_row_plan p;
    int nt;
    int64_t bs;
    float *Wf;       /* d x k float copy of the coefficients for sgemm */
    float *mean_f, *inv_f; /* float copies of the standardisation */
    float *scratch;  /* per thread: bs x d block, bs x k logits, d x k block gradient */
    double *acc;     /* per chunk: d x k gradient, k bias gradient, 1 loss */
} logit_problem;

/* Floats per thread: a block of standardised rows, its scores, and the block's gradient. */
static size_t thread_scratch(const logit_problem *lp)
{
    return (size_t)lp->bs * (lp->m->d + lp->m->k) + (size_t)lp->m->d * lp->m->k;
}

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
            lin_chunk_rows(&lp->p, ch, &r0, &r1);
            for (int64_t i0 = r0; i0 < r1; i0 += bs) {
                int64_t nb = r1 - i0 < bs ? r1 - i0 : bs;
                lin_standardize_block(d, lp->mean_f, lp->inv_f, lp->X, i0, nb, Z);
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

static double l1_norm(const double *a, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += fabs(a[i]);
    return s;
}

/* OWL-QN's pseudo-gradient of f + l1 |x[0:n_pen]|_1: the gradient on the unpenalised tail (the
 * intercepts), and on the penalised head the one-sided derivative that points downhill, or 0 where
 * neither side does (the coordinate is optimal at 0). */
static void pseudo_gradient(const double *x, const double *g, int64_t n, int64_t n_pen, double l1, double *pg)
{
    for (int64_t i = 0; i < n; i++) {
        if (i >= n_pen || l1 == 0)
            pg[i] = g[i];
        else if (x[i] > 0)
            pg[i] = g[i] + l1;
        else if (x[i] < 0)
            pg[i] = g[i] - l1;
        else
            pg[i] = g[i] + l1 < 0 ? g[i] + l1 : g[i] - l1 > 0 ? g[i] - l1 : 0.0;
    }
}

/* L-BFGS (Nocedal & Wright, alg. 7.4/7.5) with a backtracking Armijo line search; with an L1
 * penalty it is OWL-QN (Andrew & Gao 2007): the quasi-Newton direction of the pseudo-gradient, kept
 * in the orthant it points to, and every trial point projected onto that orthant, so coefficients
 * that cross zero stop at exactly zero. The curvature pairs use the smooth part's gradient only.
 * Stops when max |pseudo-gradient| * sw_sum <= tol (scikit-learn's gtol on the summed objective),
 * when the relative decrease falls below scipy's ftol, when no decrease is possible at float32
 * precision, or at max_iter. work holds 2 * M * n + 5 * n doubles. */
static aml_status lbfgs(logit_problem *lp, aml_host_ctx *c, double *x, int64_t n, int max_iter, double *work)
{
    aml_model *m = lp->m;
    const aml_host *h = m->h;
    double *S = work, *Y = S + (size_t)LBFGS_MEMORY * n, *g = Y + (size_t)LBFGS_MEMORY * n;
    double *dir = g + n, *xn = dir + n, *gn = xn + n, *pg = gn + n;
    double rho[LBFGS_MEMORY], alpha[LBFGS_MEMORY];
    int mem = 0, head = 0; /* pairs stored in a ring: newest at head - 1 */
    const double gscale = lp->sw_sum, fscale = 1.0 / lp->sw_sum;
    const double l1 = lin_l1(m);
    const int64_t n_pen = m->d * m->k; /* the coefficients; the intercepts are not penalised */

    double f = logit_eval(lp, x, g) + l1 * l1_norm(x, n_pen);
    m->n_iter = 0;
    if (!isfinite(f)) {
        h->set_error(c, "linear: loss became NaN at iteration 0 (check the input for infinities)");
        return AML_ERR_RUNTIME;
    }
    for (int it = 1; it <= max_iter; it++) {
        pseudo_gradient(x, g, n, n_pen, l1, pg);
        if (max_abs(pg, n) * gscale <= m->tol)
            break;
        if (h->should_stop(c)) {
            h->set_error(c, "linear: stopped after %d L-BFGS iterations (deadline or cancel)", it - 1);
            return AML_ERR_CANCELLED;
        }
        /* two-loop recursion: dir = -H pg */
        for (int64_t i = 0; i < n; i++)
            dir[i] = -pg[i];
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
        if (l1 > 0) /* OWL-QN: no move against the pseudo-gradient's sign */
            for (int64_t i = 0; i < n_pen; i++)
                if (dir[i] * pg[i] >= 0)
                    dir[i] = 0;
        double gd = dot(pg, dir, n);
        if (!(gd < 0)) { /* not a descent direction: forget the curvature pairs */
            mem = 0;
            for (int64_t i = 0; i < n; i++)
                dir[i] = -pg[i];
            gd = dot(pg, dir, n);
        }
        double step = mem == 0 ? fmin(1.0, 1.0 / sqrt(dot(dir, dir, n))) : 1.0, fn = f;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++) {
            for (int64_t i = 0; i < n; i++)
                xn[i] = x[i] + step * dir[i];
            double decrease = gd * step; /* the model's decrease, pg . (xn - x) */
            if (l1 > 0) {
                /* project onto the orthant of x (of -pg where x is 0) */
                decrease = 0;
                for (int64_t i = 0; i < n_pen; i++) {
                    double orthant = x[i] != 0 ? x[i] : -pg[i];
                    if (xn[i] * orthant <= 0)
                        xn[i] = 0;
                }
                for (int64_t i = 0; i < n; i++)
                    decrease += pg[i] * (xn[i] - x[i]);
            }
            fn = logit_eval(lp, xn, gn) + l1 * l1_norm(xn, n_pen);
            if (isfinite(fn) && fn <= f + 1e-4 * decrease) {
                ok = 1;
                break;
            }
            /* quadratic interpolation of the step, kept within [0.1, 0.5] of the last one */
            double den = 2.0 * (fn - f - gd * step);
            double next = isfinite(fn) && den > 0 ? -gd * step * step / den : 0.5 * step;
            step = fmin(fmax(next, 0.1 * step), 0.5 * step);
        }
        if (!ok) {
            if (mem > 0) { /* retry once along the (pseudo-)gradient */
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

aml_status lin_fit_logistic(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                               int max_iter, int warm)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = m->d;
    const int k = m->k;
    const int64_t nx = d * k + k;
    aml_status st = AML_OK;
    logit_problem lp = {.m = m, .X = X, .y = y};
    lp.bs = lin_block_rows(d + k, sizeof(float));
    lp.p = lin_plan_rows(n, lp.bs, MAX_CHUNKS);
    lp.nt = mc_threads(h, c, lp.p.n_chunks);
    double *theta = mc_alloc(h, (size_t)nx * sizeof *theta);
    double *work = mc_alloc(h, ((size_t)2 * LBFGS_MEMORY + 5) * (size_t)nx * sizeof *work);
    double *count = mc_alloc(h, (size_t)k * sizeof *count);
    lp.Wf = mc_alloc(h, (size_t)d * k * sizeof *lp.Wf);
    lp.mean_f = mc_alloc(h, (size_t)d * 2 * sizeof *lp.mean_f);
    lp.scratch = mc_alloc(h, (size_t)lp.nt * thread_scratch(&lp) * sizeof *lp.scratch);
    lp.acc = mc_alloc(h, (size_t)lp.p.n_chunks * (size_t)(nx + 1) * sizeof *lp.acc);
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
    m->solver = lin_l1(m) > 0 ? LIN_SOLVER_OWLQN : LIN_SOLVER_LBFGS;
    st = lbfgs(&lp, c, theta, nx, max_iter, work);
    if (st == AML_OK) {
        memcpy(m->coef, theta, (size_t)d * k * sizeof *theta);
        memcpy(m->bias, theta + d * k, (size_t)k * sizeof *theta);
    }
done:
    mc_free(h, theta), mc_free(h, work), mc_free(h, count);
    mc_free(h, lp.Wf), mc_free(h, lp.mean_f), mc_free(h, lp.scratch), mc_free(h, lp.acc);
    return st;
}
