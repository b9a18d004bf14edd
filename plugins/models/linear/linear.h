/* Internals shared by the `linear` plugin's files: the model, row blocking with thread-count
 * independent reductions, and the standardisation helpers. Not part of any public interface. */
#ifndef AML_PLUGIN_LINEAR_H
#define AML_PLUGIN_LINEAR_H

#include "../common/model_common.h"

#include <stddef.h>
#include <stdint.h>

#define MAX_CHUNKS 64 /* fixed reduction slots: results do not depend on thread count */

enum { LIN_PENALTY_L2 = 0, LIN_PENALTY_ELASTICNET = 1 };
enum { LIN_CLASS_WEIGHT_NONE = 0, LIN_CLASS_WEIGHT_BALANCED = 1 };
typedef enum {
    LIN_SOLVER_CHOLESKY = 1,   /* ridge, n >= d: Gram X^T X (d x d) */
    LIN_SOLVER_DUAL,           /* ridge, d > n: kernel X X^T (n x n) */
    LIN_SOLVER_CD_COVARIANCE,  /* elastic net, n >= d: coordinate descent on the Gram matrix */
    LIN_SOLVER_CD_RESIDUAL,    /* elastic net, d > n: coordinate descent on residuals */
    LIN_SOLVER_LBFGS,          /* L2 logistic / softmax */
    LIN_SOLVER_OWLQN,          /* L1 + L2 logistic / softmax */
} lin_solver;

struct aml_model {
    const aml_host *h;
    aml_task_kind kind;
    int n_classes;
    int k;          /* columns of W: 1 for regression and binary, n_classes for softmax */
    int64_t d;      /* features */
    double l2, tol;
    double l1;      /* L1 strength as given (per unit weight; see linear.c); 0 = none */
    int penalty;    /* LIN_PENALTY_*: l1 applies only with elastic net */
    int class_weight; /* LIN_CLASS_WEIGHT_*: classification only */
    int max_iter;
    int fitted;
    int n_iter;     /* iterations of the last fit (L-BFGS/OWL-QN steps, coordinate descent sweeps) */
    int solver;     /* LIN_SOLVER_* of the last fit (for the log and the tests' debug output) */
    double *mean;   /* d: training mean (weighted) */
    double *inv_scale; /* d: 1 / training std (1 for constant features) */
    double *coef;   /* d x k row-major, standardised space */
    double *bias;   /* k */
};

/* Rows per block so that a float block of standardised rows stays around 256 KiB. */
static inline int64_t lin_block_rows(int64_t d, size_t elem)
{
    int64_t b = (int64_t)(262144 / elem) / (d > 0 ? d : 1);
    if (b < 16)
        b = 16;
    if (b > 1024)
        b = 1024;
    return b;
}

/* Blocks of rows grouped into at most MAX_CHUNKS contiguous chunks; each chunk is reduced in a
 * fixed order, then the chunks in order, so sums are the same for any thread count. */
typedef struct {
    int64_t n, bs, n_blocks;
    int n_chunks;
} lin_row_plan;

static inline lin_row_plan lin_plan_rows(int64_t n, int64_t bs, int max_chunks)
{
    lin_row_plan p = {.n = n, .bs = bs};
    p.n_blocks = (n + bs - 1) / bs;
    p.n_chunks = (int)(p.n_blocks < max_chunks ? p.n_blocks : max_chunks);
    if (p.n_chunks < 1)
        p.n_chunks = 1;
    return p;
}
static inline void lin_chunk_rows(const lin_row_plan *p, int c, int64_t *r0, int64_t *r1)
{
    int64_t b0 = p->n_blocks * c / p->n_chunks, b1 = p->n_blocks * (c + 1) / p->n_chunks;
    *r0 = b0 * p->bs;
    *r1 = b1 * p->bs < p->n ? b1 * p->bs : p->n;
}

/* Standardises rows [r0, r0 + nb) of X into dst (nb x d, ld d): (x - mean) * inv_scale, NaN -> 0.
 * Branch-free so the compiler vectorises it; the float version takes float copies of the stats. */
void lin_standardize_block(int64_t d, const float *mean, const float *inv, const aml_matrix *X, int64_t r0,
                           int64_t nb, float *dst);
void lin_standardize_block_d(const aml_model *m, const aml_matrix *X, int64_t r0, int64_t nb, double *dst);

/* Weighted mean and 1/std of each feature over its non-missing cells into m->mean, m->inv_scale;
 * an infinite cell is AML_ERR_INPUT naming it (scale.c). */
aml_status lin_fit_scaler(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const float *w);
/* The effective L1 strength: l1 under elastic net, else 0. */
static inline double lin_l1(const aml_model *m) { return m->penalty == LIN_PENALTY_ELASTICNET ? m->l1 : 0.0; }

/* Ridge or elastic net regression on standardised features, by the solver the shape calls for;
 * computes the statistics itself (ridge.c). */
aml_status lin_fit_ridge(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y);
/* Elastic net by coordinate descent with covariance updates, on the centred, standardised
 * problem  min 1/2 b'(G + l2 I)b - r'b + lambda |b|_1  given G (d x d, full, leading dimension
 * ld) and r; beta holds the start and gets the solution (lasso.c). */
aml_status lin_lasso_covariance(aml_model *m, aml_host_ctx *c, const double *G, int64_t ld, const double *r,
                                double lambda, double *beta);
/* Elastic net by coordinate descent with residual updates, for d > n: needs the statistics; the
 * intercept is the weighted mean of y (lasso.c). */
aml_status lin_lasso_residual(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                              double ybar, double lambda);
/* Logistic (binary) or softmax regression by L-BFGS, or OWL-QN when the L1 penalty is on; needs
 * the statistics; warm starts from the current coefficients when warm (logistic.c). */
aml_status lin_fit_logistic(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y, int max_iter,
                            int warm);

#endif
