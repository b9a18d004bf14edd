/* The mlp plugin's network arithmetic on row-major float32 batches: forward and backward passes
 * as one SGEMM per layer and direction, ReLU/dropout/softmax as elementwise loops, and the Adam
 * update. Every reduction runs in a fixed order, so results do not depend on the thread count. */
#include "mlp_net.h"

#include "../common/model_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* ---- random numbers ------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mlp_rng_seed(mlp_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mlp_rng_next(mlp_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float mlp_rng_unit(mlp_rng *r) { return (float)(mlp_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

/* ---- layout and buffers -------------------------------------------------------------------- */

void mlp_net_layout(mlp_net *net, int64_t n_in, const int *hidden, int n_hidden, int64_t n_out, int classification)
{
    memset(net, 0, sizeof *net);
    net->n_layers = n_hidden + 1;
    net->classification = classification;
    net->width[0] = n_in;
    for (int l = 0; l < n_hidden; l++)
        net->width[l + 1] = hidden[l];
    net->width[net->n_layers] = n_out;
    int64_t off = 0;
    for (int l = 0; l < net->n_layers; l++) {
        net->w_off[l] = off;
        off += net->width[l] * net->width[l + 1];
    }
    net->n_weights = off;
    for (int l = 0; l < net->n_layers; l++) {
        net->b_off[l] = off;
        off += net->width[l + 1];
    }
    net->n_params = off;
    for (int l = 0; l <= net->n_layers; l++)
        if (net->width[l] > net->max_width)
            net->max_width = net->width[l];
}

void mlp_net_init(const mlp_net *net, float *theta, mlp_rng *rng)
{
    for (int l = 0; l < net->n_layers; l++) {
        const int64_t fi = net->width[l], fo = net->width[l + 1];
        const float bound = (float)sqrt(6.0 / (double)(fi + fo));
        float *W = theta + net->w_off[l], *bias = theta + net->b_off[l];
        for (int64_t i = 0; i < fi * fo; i++)
            W[i] = (2.0f * mlp_rng_unit(rng) - 1.0f) * bound;
        for (int64_t i = 0; i < fo; i++)
            bias[i] = (2.0f * mlp_rng_unit(rng) - 1.0f) * bound;
    }
}

void mlp_buffers_free(const aml_host *h, mlp_buffers *b)
{
    for (int l = 0; l < MLP_MAX_HIDDEN + 2; l++) {
        if (b->act[l])
            h->dealloc(b->act[l]);
        if (b->drop[l])
            h->dealloc(b->drop[l]);
    }
    if (b->delta)
        h->dealloc(b->delta);
    if (b->delta2)
        h->dealloc(b->delta2);
    memset(b, 0, sizeof *b);
}

int mlp_buffers_alloc(const aml_host *h, mlp_buffers *b, const mlp_net *net, int64_t cap, int with_dropout)
{
    memset(b, 0, sizeof *b);
    b->cap = cap;
    int ok = 1;
    for (int l = 0; l <= net->n_layers; l++) {
        ok = ok && (b->act[l] = h->alloc((size_t)(cap * net->width[l]) * sizeof(float)));
        if (with_dropout && l > 0 && l < net->n_layers)
            ok = ok && (b->drop[l] = h->alloc((size_t)(cap * net->width[l]) * sizeof(float)));
    }
    ok = ok && (b->delta = h->alloc((size_t)(cap * net->max_width) * sizeof(float)));
    ok = ok && (b->delta2 = h->alloc((size_t)(cap * net->max_width) * sizeof(float)));
    if (!ok) {
        mlp_buffers_free(h, b);
        return -1;
    }
    return 0;
}

void mlp_draw_dropout(const mlp_net *net, mlp_buffers *b, int64_t nb, float p, mlp_rng *rng)
{
    const float keep = 1.0f - p, scale = 1.0f / keep;
    for (int l = 1; l < net->n_layers; l++) {
        float *d = b->drop[l];
        const int64_t n = nb * net->width[l];
        for (int64_t i = 0; i < n; i++)
            d[i] = mlp_rng_unit(rng) < keep ? scale : 0.0f;
    }
}

/* ---- forward ------------------------------------------------------------------------------- */

/* Splits n elementwise items over up to nt threads only when there is enough work to pay for it. */
static int threads_for(int64_t n, int nt) { return n >= 65536 && nt > 1 ? nt : 1; }

/* C = op(A) op(B) + beta C on row-major operands, with results that do not depend on the thread
 * count. OpenBLAS's own threading splits a product differently for each thread count, and its
 * single- and multi-threaded drivers block the sums differently, so the bits would change with
 * the trial's budget. Instead the output is cut into a fixed number of tiles (a function of the
 * shape only), each a single-threaded SGEMM (OpenBLAS runs single-threaded inside a parallel
 * region), and up to nt threads share the tiles. No tile splits the inner dimension, so every
 * element of C is the same sum whatever the thread count. A product too small to gain from
 * tiles is one single-threaded call. */
typedef struct {
    CBLAS_TRANSPOSE opa, opb;
    int split_rows;
    int64_t M, N, K, dim, tiles, lda, ldb, ldc;
    const float *A, *B;
    float beta, *C;
} gemm_plan;

static void gemm_tile(const gemm_plan *g, int64_t t)
{
    const int64_t lo = (g->dim * t / g->tiles) & ~(int64_t)15;
    const int64_t hi = t == g->tiles - 1 ? g->dim : (g->dim * (t + 1) / g->tiles) & ~(int64_t)15;
    if (g->split_rows) /* rows lo..hi of op(A) and C */
        cblas_sgemm(CblasRowMajor, g->opa, g->opb, (int)(hi - lo), (int)g->N, (int)g->K, 1.0f,
                    g->A + (g->opa == CblasTrans ? lo : lo * g->lda), (int)g->lda, g->B, (int)g->ldb, g->beta,
                    g->C + lo * g->ldc, (int)g->ldc);
    else /* columns lo..hi of op(B) and C */
        cblas_sgemm(CblasRowMajor, g->opa, g->opb, (int)g->M, (int)(hi - lo), (int)g->K, 1.0f, g->A, (int)g->lda,
                    g->B + (g->opb == CblasTrans ? lo * g->ldb : lo), (int)g->ldb, g->beta, g->C + lo, (int)g->ldc);
}

static void gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                 int64_t ldb, float beta, float *C, int64_t ldc, int nt)
{
    gemm_plan g = {.opa = ta ? CblasTrans : CblasNoTrans, .opb = tb ? CblasTrans : CblasNoTrans,
                   .split_rows = M >= N, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                   .A = A, .B = B, .beta = beta, .C = C};
    g.dim = g.split_rows ? M : N;
    g.tiles = M * N * K / MLP_GEMM_SPLIT_MIN;
    g.tiles = g.tiles > MLP_GEMM_MAX_TILES ? MLP_GEMM_MAX_TILES : g.tiles;
    g.tiles = g.tiles > g.dim / 128 ? g.dim / 128 : g.tiles;
    g.tiles = g.tiles < 1 ? 1 : g.tiles;
    const int threads = nt < g.tiles ? (nt < 1 ? 1 : nt) : (int)g.tiles;
    if (threads == 1) { /* outside a parallel region OpenBLAS would thread: ask for one */
        const mc_blas_scope blas = mc_blas_single_begin();
        for (int64_t t = 0; t < g.tiles; t++)
            gemm_tile(&g, t);
        mc_blas_single_end(blas);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t t = 0; t < g.tiles; t++)
        gemm_tile(&g, t);
}

void mlp_softmax_rows(float *P, int64_t nb, int64_t k)
{
    for (int64_t i = 0; i < nb; i++) {
        float *p = P + i * k, mx = p[0];
        for (int64_t c = 1; c < k; c++)
            mx = p[c] > mx ? p[c] : mx;
        float s = 0;
        for (int64_t c = 0; c < k; c++) {
            p[c] = expf(p[c] - mx);
            s += p[c];
        }
        const float inv = 1.0f / s;
        for (int64_t c = 0; c < k; c++)
            p[c] *= inv;
    }
}

void mlp_forward(const mlp_net *net, const float *theta, mlp_buffers *b, int64_t nb, int train, int nt)
{
    for (int l = 0; l < net->n_layers; l++) {
        const int64_t fi = net->width[l], fo = net->width[l + 1];
        const float *bias = theta + net->b_off[l];
        float *out = b->act[l + 1];
        for (int64_t i = 0; i < nb; i++)
            memcpy(out + i * fo, bias, (size_t)fo * sizeof(float));
        gemm(0, 0, nb, fo, fi, b->act[l], fi, theta + net->w_off[l], fo, 1.0f, out, fo, nt);
        if (l == net->n_layers - 1)
            break;
        const int64_t n = nb * fo;
        const float *drop = train ? b->drop[l + 1] : NULL;
        if (drop) {
#pragma omp parallel for num_threads(threads_for(n, nt)) schedule(static)
            for (int64_t i = 0; i < n; i++)
                out[i] = (out[i] > 0.0f ? out[i] : 0.0f) * drop[i];
        } else {
#pragma omp parallel for num_threads(threads_for(n, nt)) schedule(static)
            for (int64_t i = 0; i < n; i++)
                out[i] = out[i] > 0.0f ? out[i] : 0.0f;
        }
    }
    if (net->classification)
        mlp_softmax_rows(b->act[net->n_layers], nb, net->width[net->n_layers]);
}

/* ---- backward ------------------------------------------------------------------------------ */

double mlp_backward(const mlp_net *net, const float *theta, mlp_buffers *b, int64_t nb, const int32_t *label,
                    const float *value, const float *w, float *grad, int nt)
{
    const int L = net->n_layers;
    const int64_t k = net->width[L];
    const float *P = b->act[L];
    float *delta = b->delta, *next = b->delta2;
    const float inv_nb = 1.0f / (float)nb;
    double loss = 0;
    /* output delta: d(mean loss)/d(logits) = w_i (p_i - onehot_i) / nb, or w_i (f_i - y_i) / nb */
    for (int64_t i = 0; i < nb; i++) {
        const float wi = (w ? w[i] : 1.0f) * inv_nb;
        const float *p = P + i * k;
        float *d = delta + i * k;
        if (net->classification) {
            const int32_t y = label[i];
            for (int64_t c = 0; c < k; c++)
                d[c] = wi * p[c];
            d[y] -= wi;
            /* probabilities below float's reach would give log(0): clip as scikit-learn does */
            const float py = p[y] > 1e-7f ? p[y] : 1e-7f;
            loss -= (double)wi * log((double)py);
        } else {
            const float r = p[0] - value[i];
            d[0] = wi * r;
            loss += 0.5 * (double)wi * (double)r * (double)r;
        }
    }
    for (int l = L - 1; l >= 0; l--) {
        const int64_t fi = net->width[l], fo = net->width[l + 1];
        /* dW_l = act[l]^T delta, db_l = column sums of delta */
        gemm(1, 0, fi, fo, nb, b->act[l], fi, delta, fo, 0.0f, grad + net->w_off[l], fo, nt);
        float *gb = grad + net->b_off[l];
        memcpy(gb, delta, (size_t)fo * sizeof(float));
        for (int64_t i = 1; i < nb; i++) {
            const float *d = delta + i * fo;
            for (int64_t j = 0; j < fo; j++)
                gb[j] += d[j];
        }
        if (l == 0)
            break;
        /* delta for layer l's output: (delta W_l^T) through dropout and ReLU. A unit with output
         * > 0 was active and kept; its stored output is relu * scale, so the test on it suffices. */
        gemm(0, 1, nb, fi, fo, delta, fo, theta + net->w_off[l], fo, 0.0f, next, fi, nt);
        const float *a = b->act[l], *drop = b->drop[l];
        const int64_t n = nb * fi;
        if (drop) {
#pragma omp parallel for num_threads(threads_for(n, nt)) schedule(static)
            for (int64_t i = 0; i < n; i++)
                next[i] = a[i] > 0.0f ? next[i] * drop[i] : 0.0f;
        } else {
#pragma omp parallel for num_threads(threads_for(n, nt)) schedule(static)
            for (int64_t i = 0; i < n; i++)
                next[i] = a[i] > 0.0f ? next[i] : 0.0f;
        }
        float *t = delta;
        delta = next, next = t;
    }
    return loss;
}

double mlp_loss_grad(const mlp_net *net, const float *theta, mlp_buffers *b, int64_t nb, const int32_t *label,
                     const float *value, const float *w, float l2, float *grad, int nt)
{
    mlp_forward(net, theta, b, nb, 1, nt);
    double loss = mlp_backward(net, theta, b, nb, label, value, w, grad, nt);
    double sq = 0;
    const float c = l2 / (float)nb;
    for (int64_t i = 0; i < net->n_weights; i++) {
        sq += (double)theta[i] * theta[i];
        grad[i] += c * theta[i];
    }
    return loss + 0.5 * (double)l2 / (double)nb * sq;
}

/* ---- Adam ---------------------------------------------------------------------------------- */

void mlp_adam_step(const mlp_net *net, mlp_adam *a, float *theta, float *m, float *v, const float *grad, float l2,
                   int64_t nb, int nt)
{
    a->t++;
    const double t = (double)a->t;
    const float lr_t = (float)(a->lr * sqrt(1.0 - pow(a->beta2, t)) / (1.0 - pow(a->beta1, t)));
    const float b1 = a->beta1, b2 = a->beta2, c1 = 1.0f - b1, c2 = 1.0f - b2, eps = a->eps;
    const float decay = l2 / (float)nb;
    const int64_t nw = net->n_weights, np = net->n_params;
#pragma omp parallel for num_threads(threads_for(np, nt)) schedule(static)
    for (int64_t i = 0; i < np; i++) {
        const float g = grad[i] + (i < nw ? decay * theta[i] : 0.0f);
        const float mi = b1 * m[i] + c1 * g, vi = b2 * v[i] + c2 * g * g;
        m[i] = mi, v[i] = vi;
        theta[i] -= lr_t * mi / (sqrtf(vi) + eps);
    }
}
