/* The mlp plugin's network arithmetic, kept apart from the plugin glue so the unit test can
 * compile it in and check the gradient against finite differences. Internal to plugins/models/mlp:
 * not part of the plugin ABI. */
#ifndef AML_MLP_NET_H
#define AML_MLP_NET_H

#include <automl/plugin.h>

#include <stdint.h>

#define MLP_MAX_HIDDEN 8
#define MLP_MAX_WIDTH 4096
/* Products are cut into tiles of at least this many multiply-adds (M * N * K), at most
 * MLP_GEMM_MAX_TILES of them, whatever the thread count. */
#define MLP_GEMM_SPLIT_MIN ((int64_t)1 << 21)
#define MLP_GEMM_MAX_TILES 4

/* Dense layers l = 0 .. n_layers-1 map width[l] inputs to width[l+1] outputs: ReLU after every
 * layer but the last, then softmax (classification) or identity (regression). All parameters live
 * in one float array: every layer's weights first (width[l] x width[l+1], row-major, so a batch
 * forward is act[l] * W_l), then every layer's biases, so the L2 penalty covers [0, n_weights). */
typedef struct mlp_net {
    int n_layers;
    int classification;
    int64_t width[MLP_MAX_HIDDEN + 2];
    int64_t w_off[MLP_MAX_HIDDEN + 1], b_off[MLP_MAX_HIDDEN + 1];
    int64_t n_weights, n_params, max_width;
} mlp_net;

/* Activations and deltas for a batch of up to cap rows. act[0] is the (standardised) input batch,
 * act[l] the output of layer l; drop[l] (hidden layers, training with dropout only) holds the
 * inverted-dropout scale of each unit: 0 or 1 / (1 - p). */
typedef struct mlp_buffers {
    int64_t cap;
    float *act[MLP_MAX_HIDDEN + 2];
    float *drop[MLP_MAX_HIDDEN + 2];
    float *delta, *delta2;
} mlp_buffers;

/* xoshiro256**: the plugin's only source of randomness (weights, shuffles, dropout masks). */
typedef struct mlp_rng {
    uint64_t s[4];
} mlp_rng;

void mlp_rng_seed(mlp_rng *r, uint64_t seed);
uint64_t mlp_rng_next(mlp_rng *r);
/* Uniform in [0, 1) with 24 bits. */
float mlp_rng_unit(mlp_rng *r);

void mlp_net_layout(mlp_net *net, int64_t n_in, const int *hidden, int n_hidden, int64_t n_out, int classification);
/* Glorot-uniform weights and biases (as scikit-learn's MLP). */
void mlp_net_init(const mlp_net *net, float *theta, mlp_rng *rng);

/* 0 on success, -1 out of memory (nothing left allocated). */
int mlp_buffers_alloc(const aml_host *h, mlp_buffers *b, const mlp_net *net, int64_t cap, int with_dropout);
void mlp_buffers_free(const aml_host *h, mlp_buffers *b);

/* Draws the dropout scales of nb rows for every hidden layer (keep probability 1 - p). */
void mlp_draw_dropout(const mlp_net *net, mlp_buffers *b, int64_t nb, float p, mlp_rng *rng);

/* Forward pass of the nb rows in b->act[0]; with train set, hidden units are scaled by
 * b->drop[l]. The last act holds probabilities (classification) or predictions. nt is the thread
 * budget, which the caller has also set with omp_set_num_threads (BLAS follows it). */
void mlp_forward(const mlp_net *net, const float *theta, mlp_buffers *b, int64_t nb, int train, int nt);

/* Replaces each of nb rows of k logits by its softmax. */
void mlp_softmax_rows(float *P, int64_t nb, int64_t k);

/* After mlp_forward(train): the mean (weighted by w when given) data loss of the batch, in double,
 * and its gradient with respect to theta in grad (n_params floats): cross-entropy on label, or half
 * the squared error on value. act and delta buffers are overwritten. */
double mlp_backward(const mlp_net *net, const float *theta, mlp_buffers *b, int64_t nb, const int32_t *label,
                    const float *value, const float *w, float *grad, int nt);

/* The full minibatch objective scikit-learn's MLP minimises, and its gradient:
 * data loss + l2 / (2 nb) ||W||^2 (biases unpenalised). Runs forward and backward. */
double mlp_loss_grad(const mlp_net *net, const float *theta, mlp_buffers *b, int64_t nb, const int32_t *label,
                     const float *value, const float *w, float l2, float *grad, int nt);

typedef struct mlp_adam {
    float lr, beta1, beta2, eps;
    int64_t t; /* steps taken */
} mlp_adam;

/* One Adam step on theta with the data gradient grad plus l2 / nb * W (scikit-learn's update). */
void mlp_adam_step(const mlp_net *net, mlp_adam *a, float *theta, float *m, float *v, const float *grad, float l2,
                   int64_t nb, int nt);

#endif
