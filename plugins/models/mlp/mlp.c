/* The `mlp` model plugin: a dense ReLU network trained by minibatch Adam (scikit-learn's MLP
 * objective), with input standardisation and, for regression, target standardisation inside the
 * model. Fit is resumable by epochs: the optimiser, the RNG and the early-stopping record live in
 * the model, so fitting to resource r1 then r2 ends in the same bits as one fit to r2. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/model_common.h"
#include "mlp_net.h"

#define MLP_MAGIC 0x504c4d4c4d41ULL /* "AMLMLP" little-endian */
#define MLP_FORMAT_VERSION 1u
#define PREDICT_BLOCK 512

enum { P_HIDDEN, P_EPOCHS, P_LR, P_BATCH, P_L2, P_DROPOUT, P_PATIENCE, N_PARAMS };

static const aml_param_def params[N_PARAMS] = {
    [P_HIDDEN] = {.name = "hidden", .type = AML_PARAM_STRING, .def_str = "128:64",
                  .help = "hidden layer widths, e.g. \"256:128\"; empty = no hidden layer", .cost = 1},
    [P_EPOCHS] = {.name = "epochs", .type = AML_PARAM_INT, .lo = 5, .hi = 500, .def = 200, .log_scale = 1,
                  .help = "passes over the training rows at most (the resource of successive halving)", .cost = 1},
    [P_LR] = {.name = "learning_rate", .type = AML_PARAM_FLOAT, .lo = 1e-4, .hi = 1e-1, .def = 1e-3, .log_scale = 1,
              .help = "Adam step size"},
    [P_BATCH] = {.name = "batch", .type = AML_PARAM_INT, .lo = 16, .hi = 1024, .def = 128, .log_scale = 1,
                 .help = "rows per minibatch"},
    [P_L2] = {.name = "l2", .type = AML_PARAM_FLOAT, .lo = 1e-7, .hi = 1e-1, .def = 1e-4, .log_scale = 1,
              .help = "L2 penalty on the weights (scikit-learn's alpha)"},
    [P_DROPOUT] = {.name = "dropout", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 0.5, .def = 0,
                   .help = "probability of dropping a hidden unit while training (inverted dropout)"},
    [P_PATIENCE] = {.name = "patience", .type = AML_PARAM_INT, .lo = 3, .hi = 50, .def = 10, .log_scale = 1,
                    .help = "epochs without improvement (validation score; without a fold, training loss by 1e-4) before stopping"},
};

struct aml_model {
    const aml_host *h;
    aml_task_kind kind;
    int n_classes;
    uint64_t seed;
    /* hyperparameters */
    int hidden[MLP_MAX_HIDDEN], n_hidden;
    int epochs, batch, patience;
    float lr, l2, dropout;
    /* the fitted network */
    int fitted;
    int64_t d;
    mlp_net net;
    float *mean, *inv_scale; /* d: input standardisation (NaN -> mean) */
    double y_mean, y_scale;  /* regression target standardisation */
    float *theta;            /* current weights */
    float *best;             /* weights with the best validation score (when a fold was given) */
    /* training state: everything a resumed fit needs to continue bit for bit */
    float *adam_m, *adam_v;
    mlp_adam adam;
    mlp_rng rng;
    uint64_t data_key;   /* fingerprint of the training and validation data */
    int epochs_done, has_valid, stopped, resumable;
    int bad_epochs;
    double best_acc, best_loss;
};

/* ---- helpers ------------------------------------------------------------------------------ */

static int n_outputs(const aml_model *m) { return m->kind == AML_TASK_CLASSIFICATION ? m->n_classes : 1; }

/* The weights predictions use: the best validation snapshot when there was a fold. */
static const float *predict_theta(const aml_model *m) { return m->best ? m->best : m->theta; }

static void release_fit(aml_model *m)
{
    const aml_host *h = m->h;
    mc_free(h, m->mean), mc_free(h, m->theta), mc_free(h, m->best), mc_free(h, m->adam_m), mc_free(h, m->adam_v);
    m->mean = m->inv_scale = m->theta = m->best = m->adam_m = m->adam_v = NULL;
    m->fitted = m->resumable = 0;
}

static void model_free(aml_model *m)
{
    if (!m)
        return;
    release_fit(m);
    m->h->dealloc(m);
}

/* Parses "256:128" into widths; "" (or only blanks) is no hidden layer. Returns the count or -1. */
static int parse_hidden(const char *s, int *out)
{
    int n = 0;
    if (!s)
        return 0;
    while (*s == ' ')
        s++;
    if (!*s)
        return 0;
    for (;;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > MLP_MAX_WIDTH || n == MLP_MAX_HIDDEN)
            return -1;
        out[n++] = (int)v;
        while (*end == ' ')
            end++;
        if (!*end)
            return n;
        if (*end != ':')
            return -1;
        s = end + 1;
    }
}

/* FNV-1a over the shape, a strided sample of rows and every target: a resumed fit must see the
 * data the first part saw. */
static uint64_t fnv(uint64_t hsh, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        hsh = (hsh ^ b[i]) * 0x100000001b3ULL;
    return hsh;
}

static uint64_t data_key(const aml_matrix *X, const aml_target *y, int classification, uint64_t hsh)
{
    hsh = fnv(hsh, &X->rows, sizeof X->rows);
    hsh = fnv(hsh, &X->cols, sizeof X->cols);
    const int64_t step = X->rows > 64 ? X->rows / 64 : 1;
    for (int64_t i = 0; i < X->rows; i += step)
        hsh = fnv(hsh, X->data + i * X->ld, (size_t)X->cols * sizeof(float));
    if (classification)
        hsh = fnv(hsh, y->label, (size_t)X->rows * sizeof(int32_t));
    else
        hsh = fnv(hsh, y->value, (size_t)X->rows * sizeof(double));
    if (y->weight)
        hsh = fnv(hsh, y->weight, (size_t)X->rows * sizeof(float));
    return hsh;
}

/* Standardises rows idx[0..nb) (or r0.. when idx is NULL) of X into dst (nb x d). */
static void gather_rows(const aml_model *m, const aml_matrix *X, const int64_t *idx, int64_t r0, int64_t nb,
                        float *dst, int nt)
{
    const int64_t d = m->d;
    const float *mean = m->mean, *inv = m->inv_scale;
    nt = nb * d >= 32768 ? nt : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < nb; i++) {
        const float *x = X->data + (idx ? idx[i] : r0 + i) * X->ld;
        float *o = dst + i * d;
        for (int64_t j = 0; j < d; j++) {
            const float v = x[j], t = (v - mean[j]) * inv[j];
            o[j] = v == v ? t : 0.0f;
        }
    }
}

/* ---- create ------------------------------------------------------------------------------- */

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    const mc_call mc = mc_at(h, c, "mlp");
    if (mc_check_task(&mc, task, MLP_MAX_WIDTH, 1) != AML_OK)
        return AML_ERR_INPUT;
    int hidden[MLP_MAX_HIDDEN];
    const char *hs = p ? p->str[P_HIDDEN] : params[P_HIDDEN].def_str;
    int n_hidden = parse_hidden(hs, hidden);
    if (n_hidden < 0) {
        h->set_error(c, "mlp: hidden = \"%s\": expected layer widths like \"256:128\" (each 1..%d, at most %d layers)",
                     hs, MLP_MAX_WIDTH, MLP_MAX_HIDDEN);
        return AML_ERR_INPUT;
    }
    double v[N_PARAMS];
    mc_param_values(params, N_PARAMS, p, v);
    if (!(v[P_EPOCHS] >= 1 && v[P_EPOCHS] <= 100000) || v[P_EPOCHS] != floor(v[P_EPOCHS])) {
        h->set_error(c, "mlp: epochs = %g must be an integer in [1, 100000]", v[P_EPOCHS]);
        return AML_ERR_INPUT;
    }
    if (!(v[P_BATCH] >= 1 && v[P_BATCH] <= 65536) || v[P_BATCH] != floor(v[P_BATCH])) {
        h->set_error(c, "mlp: batch = %g must be an integer in [1, 65536]", v[P_BATCH]);
        return AML_ERR_INPUT;
    }
    if (!(v[P_PATIENCE] >= 1 && v[P_PATIENCE] <= 100000) || v[P_PATIENCE] != floor(v[P_PATIENCE])) {
        h->set_error(c, "mlp: patience = %g must be an integer >= 1", v[P_PATIENCE]);
        return AML_ERR_INPUT;
    }
    if (!(v[P_LR] > 0 && v[P_LR] <= 10)) {
        h->set_error(c, "mlp: learning_rate = %g must be in (0, 10]", v[P_LR]);
        return AML_ERR_INPUT;
    }
    if (!(v[P_L2] >= 0 && v[P_L2] <= 1e4)) {
        h->set_error(c, "mlp: l2 = %g must be in [0, 1e4]", v[P_L2]);
        return AML_ERR_INPUT;
    }
    if (!(v[P_DROPOUT] >= 0 && v[P_DROPOUT] <= 0.9)) {
        h->set_error(c, "mlp: dropout = %g must be in [0, 0.9]", v[P_DROPOUT]);
        return AML_ERR_INPUT;
    }
    aml_model *m = mc_new_model(&mc, sizeof *m);
    if (!m)
        return AML_ERR_NOMEM;
    m->h = h;
    m->kind = task->kind;
    m->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    m->seed = task->seed;
    memcpy(m->hidden, hidden, sizeof hidden);
    m->n_hidden = n_hidden;
    m->epochs = (int)v[P_EPOCHS], m->batch = (int)v[P_BATCH], m->patience = (int)v[P_PATIENCE];
    m->lr = (float)v[P_LR], m->l2 = (float)v[P_L2], m->dropout = (float)v[P_DROPOUT];
    *out = m;
    return AML_OK;
}

/* ---- fit ---------------------------------------------------------------------------------- */

/* Fresh start: statistics, layout, initial weights, optimiser and RNG from the seed. */
static aml_status start_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y, int has_valid)
{
    const aml_host *h = m->h;
    const int64_t n = X->rows, d = X->cols;
    release_fit(m);
    m->d = d;
    mlp_net_layout(&m->net, d, m->hidden, m->n_hidden, n_outputs(m), m->kind == AML_TASK_CLASSIFICATION);
    const size_t np = (size_t)m->net.n_params;
    m->mean = mc_alloc(h, 2 * (size_t)d * sizeof(float));
    m->theta = mc_alloc(h, np * sizeof(float));
    m->adam_m = mc_alloc(h, np * sizeof(float));
    m->adam_v = mc_alloc(h, np * sizeof(float));
    if (has_valid)
        m->best = mc_alloc(h, np * sizeof(float));
    double *acc = mc_alloc(h, 4 * (size_t)d * sizeof(double));
    if (!m->mean || !m->theta || !m->adam_m || !m->adam_v || (has_valid && !m->best) || !acc) {
        mc_free(h, acc);
        release_fit(m);
        h->set_error(c, "mlp: out of memory for %lld parameters", (long long)np);
        return AML_ERR_NOMEM;
    }
    m->inv_scale = m->mean + d;
    /* column mean and std over non-NaN cells: sums shifted by the first finite value, in double */
    double *shift = acc, *s0 = acc + d, *s1 = s0 + d, *s2 = s1 + d;
    for (int64_t j = 0; j < d; j++) {
        shift[j] = s0[j] = s1[j] = s2[j] = 0;
        for (int64_t i = 0; i < n; i++) {
            const float v = X->data[i * X->ld + j];
            if (v == v) {
                shift[j] = v;
                break;
            }
        }
    }
    aml_status st = AML_OK;
    for (int64_t i = 0; i < n; i++) {
        const float *x = X->data + i * X->ld;
        for (int64_t j = 0; j < d; j++) {
            const float v = x[j];
            const double t = v == v ? (double)v - shift[j] : 0.0;
            s0[j] += v == v, s1[j] += t, s2[j] += t * t;
        }
    }
    for (int64_t j = 0; j < d && st == AML_OK; j++) {
        if (!isfinite(s2[j])) {
            const mc_call mc = mc_at(h, c, "mlp");
            st = mc_infinite_feature(&mc, X, j);
            break;
        }
        const double mu = s0[j] > 0 ? s1[j] / s0[j] : 0, var = s0[j] > 0 ? s2[j] / s0[j] - mu * mu : 0;
        const double mean = shift[j] + mu, sd = var > 0 ? sqrt(var) : 0;
        m->mean[j] = (float)mean;
        m->inv_scale[j] = sd > 0 && sd > 1e-7 * fabs(mean) ? (float)(1.0 / sd) : 1.0f;
    }
    mc_free(h, acc);
    if (st != AML_OK) {
        release_fit(m);
        return st;
    }
    m->y_mean = 0, m->y_scale = 1;
    if (m->kind == AML_TASK_REGRESSION) {
        double s = 0, ss = 0;
        for (int64_t i = 0; i < n; i++)
            s += y->value[i];
        const double mu = s / (double)n;
        for (int64_t i = 0; i < n; i++)
            ss += (y->value[i] - mu) * (y->value[i] - mu);
        const double sd = sqrt(ss / (double)n);
        m->y_mean = mu, m->y_scale = sd > 0 && sd > 1e-12 * fabs(mu) ? sd : 1.0;
    }
    mlp_rng_seed(&m->rng, m->seed ^ 0x6d6c7000ULL);
    mlp_net_init(&m->net, m->theta, &m->rng);
    memset(m->adam_m, 0, np * sizeof(float));
    memset(m->adam_v, 0, np * sizeof(float));
    m->adam = (mlp_adam){.lr = m->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .t = 0};
    if (m->best)
        memcpy(m->best, m->theta, np * sizeof(float));
    m->epochs_done = 0, m->stopped = 0, m->bad_epochs = 0;
    m->best_acc = -1, m->best_loss = HUGE_VAL;
    m->has_valid = has_valid;
    m->fitted = 1;
    m->resumable = 1;
    return AML_OK;
}

/* Mean loss and accuracy (weighted) of the current weights on the validation fold. */
static void evaluate(const aml_model *m, const aml_matrix *X, const aml_target *y, mlp_buffers *b, int nt,
                     double *loss_out, double *acc_out)
{
    const int64_t k = m->net.width[m->net.n_layers];
    double loss = 0, hits = 0, wsum = 0;
    for (int64_t r0 = 0; r0 < X->rows; r0 += b->cap) {
        const int64_t nb = X->rows - r0 < b->cap ? X->rows - r0 : b->cap;
        gather_rows(m, X, NULL, r0, nb, b->act[0], nt);
        mlp_forward(&m->net, m->theta, b, nb, 0, nt);
        const float *P = b->act[m->net.n_layers];
        for (int64_t i = 0; i < nb; i++) {
            const double wi = y->weight ? y->weight[r0 + i] : 1.0;
            const float *p = P + i * k;
            wsum += wi;
            if (m->kind == AML_TASK_CLASSIFICATION) {
                const int32_t t = y->label[r0 + i];
                int64_t arg = 0;
                for (int64_t c = 1; c < k; c++)
                    arg = p[c] > p[arg] ? c : arg;
                hits += wi * (arg == t);
                loss -= wi * log(p[t] > 1e-7f ? (double)p[t] : 1e-7);
            } else {
                const double r = (double)p[0] - (y->value[r0 + i] - m->y_mean) / m->y_scale;
                loss += wi * 0.5 * r * r;
            }
        }
    }
    *loss_out = wsum > 0 ? loss / wsum : 0;
    *acc_out = wsum > 0 ? hits / wsum : 0;
}

/* Records the epoch's validation score; returns 1 when patience has run out. */
static int early_stopping(aml_model *m, double loss, double acc)
{
    int better;
    if (!isfinite(m->best_loss)) /* the first epoch */
        better = 1;
    else if (m->kind == AML_TASK_CLASSIFICATION)
        better = acc > m->best_acc || (acc == m->best_acc && loss < m->best_loss - 1e-4 * fabs(m->best_loss));
    else
        better = loss < m->best_loss - 1e-4 * fabs(m->best_loss);
    if (better) {
        m->best_acc = acc, m->best_loss = loss, m->bad_epochs = 0;
        memcpy(m->best, m->theta, (size_t)m->net.n_params * sizeof(float));
        return 0;
    }
    return ++m->bad_epochs >= m->patience;
}

static aml_status fit_rows(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                           const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "mlp");
    aml_status st;
    int has_valid = valid_X && valid_y && valid_X->rows > 0;
    const double r = b && b->size >= sizeof *b ? b->resource : 1.0;
    if (!(r > 0 && r <= 1))
        return mc_fail(&mc, AML_ERR_INPUT, "resource %g outside (0, 1]", r);
    int target = (int)lround(r * m->epochs);
    target = target < 1 ? 1 : target;
    const int cls = m->kind == AML_TASK_CLASSIFICATION;
    uint64_t key = data_key(X, y, cls, 0xcbf29ce484222325ULL);
    if (has_valid)
        key = data_key(valid_X, valid_y, cls, key);
    /* continue only what one fit to this resource would have passed through */
    if (!(m->resumable && m->data_key == key && m->has_valid == has_valid && m->d == X->cols &&
          m->epochs_done <= target)) {
        if ((st = start_fit(m, c, X, y, has_valid)) != AML_OK)
            return st;
        m->data_key = key;
    }
    if (m->stopped || m->epochs_done >= target)
        return AML_OK;

    const int nt = mc_threads(h, c, 0);
    const int64_t n = X->rows, bs = m->batch < n ? m->batch : n;
    mlp_buffers buf;
    int64_t *perm = mc_alloc(h, (size_t)n * sizeof *perm);
    float *grad = mc_alloc(h, (size_t)m->net.n_params * sizeof *grad);
    float *yv = mc_alloc(h, (size_t)bs * sizeof *yv), *wv = mc_alloc(h, (size_t)bs * sizeof *wv);
    int32_t *yl = mc_alloc(h, (size_t)bs * sizeof *yl);
    if (!perm || !grad || !yv || !wv || !yl || mlp_buffers_alloc(h, &buf, &m->net, bs, m->dropout > 0) != 0) {
        mc_free(h, perm), mc_free(h, grad), mc_free(h, yv), mc_free(h, wv), mc_free(h, yl);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for a %lld-row batch", (long long)bs);
    }
    st = AML_OK;
    while (m->epochs_done < target && !m->stopped) {
        double epoch_loss = 0;
        for (int64_t i = 0; i < n; i++)
            perm[i] = i;
        for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates from the model's RNG */
            const int64_t j = (int64_t)(mlp_rng_next(&m->rng) % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        for (int64_t b0 = 0; b0 < n; b0 += bs) {
            if (h->should_stop(c)) {
                st = AML_ERR_CANCELLED;
                break;
            }
            const int64_t nb = n - b0 < bs ? n - b0 : bs;
            const int64_t *idx = perm + b0;
            gather_rows(m, X, idx, 0, nb, buf.act[0], nt);
            for (int64_t i = 0; i < nb; i++) {
                if (cls)
                    yl[i] = y->label[idx[i]];
                else
                    yv[i] = (float)((y->value[idx[i]] - m->y_mean) / m->y_scale);
                wv[i] = y->weight ? y->weight[idx[i]] : 1.0f;
            }
            if (m->dropout > 0)
                mlp_draw_dropout(&m->net, &buf, nb, m->dropout, &m->rng);
            mlp_forward(&m->net, m->theta, &buf, nb, 1, nt);
            double loss = mlp_backward(&m->net, m->theta, &buf, nb, yl, yv, y->weight ? wv : NULL, grad, nt);
            if (!isfinite(loss)) {
                h->set_error(c, "mlp: the training loss became %g in epoch %d (learning_rate %g too large?)", loss,
                             m->epochs_done + 1, (double)m->lr);
                st = AML_ERR_RUNTIME;
                break;
            }
            mlp_adam_step(&m->net, &m->adam, m->theta, m->adam_m, m->adam_v, grad, m->l2, nb, nt);
            epoch_loss += loss * (double)nb;
        }
        if (st != AML_OK)
            break;
        m->epochs_done++;
        if (has_valid) {
            double vl, va;
            evaluate(m, valid_X, valid_y, &buf, nt, &vl, &va);
            if (!isfinite(vl)) {
                h->set_error(c, "mlp: the validation loss became %g in epoch %d", vl, m->epochs_done);
                st = AML_ERR_RUNTIME;
                break;
            }
            m->stopped = early_stopping(m, vl, va);
        } else {
            /* no validation fold (a refit): stop as scikit-learn's MLP does, once the epoch's mean
             * training loss has not improved by 1e-4 for `patience` epochs */
            const double tl = epoch_loss / (double)n;
            if (tl < m->best_loss - 1e-4)
                m->best_loss = tl, m->bad_epochs = 0;
            else
                m->stopped = ++m->bad_epochs >= m->patience;
        }
        h->progress(c, (double)m->epochs_done / (double)target);
    }
    mlp_buffers_free(h, &buf);
    mc_free(h, perm), mc_free(h, grad), mc_free(h, yv), mc_free(h, wv), mc_free(h, yl);
    if (st == AML_ERR_CANCELLED && m->epochs_done > 0) {
        /* keep what is fitted (the last whole epoch's weights live on in best/theta), but a
         * half-run epoch cannot be resumed exactly */
        m->resumable = 0;
        return AML_OK;
    }
    if (st != AML_OK) {
        release_fit(m);
        if (st == AML_ERR_CANCELLED)
            h->set_error(c, "mlp: cancelled before the first epoch ended");
    }
    return st;
}

/* ---- predict ------------------------------------------------------------------------------ */

static void write_outputs(const aml_model *m, const float *P, int64_t nb, double *out)
{
    const int no = n_outputs(m);
    if (m->kind == AML_TASK_CLASSIFICATION)
        for (int64_t i = 0; i < nb * no; i++)
            out[i] = P[i];
    else
        for (int64_t i = 0; i < nb; i++)
            out[i] = (double)P[i] * m->y_scale + m->y_mean;
}

static aml_status model_predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "mlp");
    aml_status st = mc_check_predict(&mc, m->fitted, m->d, X);
    if (st != AML_OK || X->rows == 0)
        return st;
    const int nt = mc_threads(h, c, 0);
    const int64_t cap = X->rows < PREDICT_BLOCK ? X->rows : PREDICT_BLOCK;
    mlp_buffers buf;
    if (mlp_buffers_alloc(h, &buf, &m->net, cap, 0) != 0) {
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for prediction scratch");
    }
    const float *theta = predict_theta(m);
    for (int64_t r0 = 0; r0 < X->rows; r0 += cap) {
        const int64_t nb = X->rows - r0 < cap ? X->rows - r0 : cap;
        gather_rows(m, X, NULL, r0, nb, buf.act[0], nt);
        mlp_forward(&m->net, theta, &buf, nb, 0, nt);
        write_outputs(m, buf.act[m->net.n_layers], nb, out + r0 * n_outputs(m));
    }
    mlp_buffers_free(h, &buf);
    return AML_OK;
}

/* One row without allocation: each layer as a sum of weight rows scaled by the inputs. */
static aml_status model_predict_row(const aml_model *m, const float *row, double *out)
{
    if (!m->fitted)
        return AML_ERR_INPUT;
    float a[MLP_MAX_WIDTH], z[MLP_MAX_WIDTH];
    const mlp_net *net = &m->net;
    const float *theta = predict_theta(m);
    for (int l = 0; l < net->n_layers; l++) {
        const int64_t fi = net->width[l], fo = net->width[l + 1];
        const float *W = theta + net->w_off[l];
        memcpy(z, theta + net->b_off[l], (size_t)fo * sizeof(float));
        for (int64_t j = 0; j < fi; j++) {
            float v;
            if (l == 0) {
                const float x = row[j];
                v = x == x ? (x - m->mean[j]) * m->inv_scale[j] : 0.0f;
            } else {
                v = a[j];
            }
            if (v == 0.0f)
                continue;
            const float *w = W + j * fo;
            for (int64_t k = 0; k < fo; k++)
                z[k] += v * w[k];
        }
        if (l < net->n_layers - 1)
            for (int64_t k = 0; k < fo; k++)
                a[k] = z[k] > 0.0f ? z[k] : 0.0f;
    }
    if (net->classification)
        mlp_softmax_rows(z, 1, net->width[net->n_layers]);
    write_outputs(m, z, 1, out);
    return AML_OK;
}

/* ---- save / load: a fixed little-endian header, then the statistics and the weights ---------- */

typedef struct {
    uint64_t magic;
    uint32_t version, kind;
    int32_t n_classes, n_hidden, hidden[MLP_MAX_HIDDEN];
    int32_t epochs, batch, patience;
    float lr, l2, dropout;
    uint64_t seed;
    int64_t d, n_params;
    double y_mean, y_scale;
} blob_header;
MC_BLOB_HEADER_CHECK(blob_header);

static aml_status model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const mc_call mc = mc_at(m->h, c, "mlp");
    aml_status st = mc_check_save(&mc, m->fitted);
    if (st != AML_OK)
        return st;
    blob_header hd;
    memset(&hd, 0, sizeof hd); /* padding bytes too: the blob is checksummed */
    hd.kind = (uint32_t)m->kind;
    hd.n_classes = m->n_classes, hd.n_hidden = m->n_hidden;
    for (int l = 0; l < m->n_hidden; l++)
        hd.hidden[l] = m->hidden[l];
    hd.epochs = m->epochs, hd.batch = m->batch, hd.patience = m->patience;
    hd.lr = m->lr, hd.l2 = m->l2, hd.dropout = m->dropout, hd.seed = m->seed;
    hd.d = m->d, hd.n_params = m->net.n_params, hd.y_mean = m->y_mean, hd.y_scale = m->y_scale;
    mc_put_header(&mc, w, &st, &hd, sizeof hd, MLP_MAGIC, MLP_FORMAT_VERSION);
    mc_put(&mc, w, &st, m->mean, 2 * (size_t)m->d * sizeof(float));
    mc_put(&mc, w, &st, predict_theta(m), (size_t)m->net.n_params * sizeof(float));
    return st;
}

static int all_finite(const float *p, int64_t n)
{
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= isfinite(p[i]) != 0;
    return ok;
}

static aml_status model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_model **out)
{
    const mc_call mc = mc_at(h, c, "mlp");
    blob_header hd;
    aml_status st = mc_get_header(&mc, r, &hd, sizeof hd, MLP_MAGIC, MLP_FORMAT_VERSION, NULL);
    if (st != AML_OK)
        return st;
    int ok = ((hd.kind == AML_TASK_CLASSIFICATION && hd.n_classes >= 2 && hd.n_classes <= MLP_MAX_WIDTH) ||
              (hd.kind == AML_TASK_REGRESSION && hd.n_classes == 0)) &&
             hd.n_hidden >= 0 && hd.n_hidden <= MLP_MAX_HIDDEN && hd.d >= 1 && hd.d <= (1 << 24) &&
             hd.epochs >= 1 && hd.batch >= 1 && hd.patience >= 1 && hd.lr > 0 && hd.l2 >= 0 && hd.dropout >= 0 &&
             hd.dropout <= 0.9f && isfinite(hd.y_mean) && isfinite(hd.y_scale) && hd.y_scale > 0;
    for (int l = 0; ok && l < hd.n_hidden; l++)
        ok = hd.hidden[l] >= 1 && hd.hidden[l] <= MLP_MAX_WIDTH;
    mlp_net net;
    if (ok) {
        mlp_net_layout(&net, hd.d, hd.hidden, hd.n_hidden, hd.kind == AML_TASK_CLASSIFICATION ? hd.n_classes : 1,
                       hd.kind == AML_TASK_CLASSIFICATION);
        ok = net.n_params == hd.n_params;
    }
    if (!ok)
        return mc_fail(&mc, AML_ERR_FORMAT,
                       "corrupt blob header (kind %u, %d classes, %lld features, %d hidden layers)", hd.kind,
                       hd.n_classes, (long long)hd.d, hd.n_hidden);
    if ((st = mc_check_blob_task(&mc, task, hd.kind, hd.n_classes, hd.d)) != AML_OK)
        return st;
    aml_model *m = mc_new_model(&mc, sizeof *m);
    if (!m)
        return AML_ERR_NOMEM;
    m->h = h;
    m->kind = (aml_task_kind)hd.kind, m->n_classes = hd.n_classes, m->seed = hd.seed;
    m->n_hidden = hd.n_hidden;
    for (int l = 0; l < hd.n_hidden; l++)
        m->hidden[l] = hd.hidden[l];
    m->epochs = hd.epochs, m->batch = hd.batch, m->patience = hd.patience;
    m->lr = hd.lr, m->l2 = hd.l2, m->dropout = hd.dropout;
    m->d = hd.d, m->net = net, m->y_mean = hd.y_mean, m->y_scale = hd.y_scale;
    m->mean = mc_alloc(h, 2 * (size_t)hd.d * sizeof(float));
    m->theta = mc_alloc(h, (size_t)hd.n_params * sizeof(float));
    if (!m->mean || !m->theta) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading %lld parameters", (long long)hd.n_params);
    }
    m->inv_scale = m->mean + hd.d;
    mc_get(&mc, r, &st, m->mean, 2 * (size_t)hd.d * sizeof(float));
    mc_get(&mc, r, &st, m->theta, (size_t)hd.n_params * sizeof(float));
    if (st == AML_OK && (!all_finite(m->mean, 2 * hd.d) || !all_finite(m->theta, hd.n_params)))
        st = mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (non-finite statistics or weights)");
    if (st != AML_OK) {
        model_free(m);
        return st;
    }
    m->fitted = 1; /* not resumable: the optimiser state is not saved; a fit starts afresh */
    *out = m;
    return AML_OK;
}

/* Without a validation fold (the refit on every row), early stopping would have nothing to watch
 * and the network would train far past the epoch the search's folds stopped at: hold out every
 * 10th row (a fixed choice, so a continued fit sees the same rows) and stop on those, as
 * scikit-learn's early_stopping does with validation_fraction = 0.1. */
static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const mc_call mc = mc_at(m->h, c, "mlp");
    aml_status st = mc_check_fit(&mc, m->kind, m->n_classes, 1 << 24, X, y, valid_X, valid_y);
    if (st != AML_OK)
        return st;
    if ((valid_X && valid_X->rows > 0) || X->rows < 50)
        return fit_rows(m, c, X, y, valid_X, valid_y, b);
    const int64_t n = X->rows, d = X->cols, nv = n / 10, nt = n - nv;
    float *tx = malloc(sizeof(float) * (size_t)(nt * d)), *vx = malloc(sizeof(float) * (size_t)(nv * d));
    int32_t *tl = y->label ? malloc(sizeof(int32_t) * (size_t)n) : NULL;
    double *tv = y->value ? malloc(sizeof(double) * (size_t)n) : NULL;
    float *tw = y->weight ? malloc(sizeof(float) * (size_t)n) : NULL;
    if (!tx || !vx || (y->label && !tl) || (y->value && !tv) || (y->weight && !tw)) {
        free(tx), free(vx), free(tl), free(tv), free(tw);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory holding out rows for early stopping");
    }
    int64_t it = 0, iv = 0;
    for (int64_t i = 0; i < n; i++) {
        int held = i % 10 == 9 && iv < nv;
        int64_t at = held ? nt + iv : it;
        memcpy(held ? vx + iv * d : tx + it * d, X->data + i * X->ld, sizeof(float) * (size_t)d);
        if (tl)
            tl[at] = y->label[i];
        if (tv)
            tv[at] = y->value[i];
        if (tw)
            tw[at] = y->weight[i];
        held ? iv++ : it++;
    }
    aml_matrix train = {tx, nt, d, d}, valid = {vx, nv, d, d};
    aml_target ty = {.label = tl, .value = tv, .weight = tw};
    aml_target vy = {.label = tl ? tl + nt : NULL, .value = tv ? tv + nt : NULL, .weight = tw ? tw + nt : NULL};
    st = fit_rows(m, c, &train, &ty, &valid, &vy, b);
    free(tx), free(vx), free(tl), free(tv), free(tw);
    return st;
}

/* Every fit watches held-out rows (patience >= 1): the search's, or its own tenth in a refit. */
static int model_stops_early(const aml_params *p)
{
    (void)p;
    return 1;
}

static const aml_model_vtable vtable = {
    .version = 3,
    .create = model_create,
    .fit = model_fit,
    .predict = model_predict,
    .predict_row = model_predict_row,
    .save = model_save,
    .load = model_load,
    .free = model_free,
    .stops_early = model_stops_early,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_MODEL,
    .name = "mlp",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "dense ReLU network, minibatch Adam on SGEMM, early stopping, resumable by epochs",
    .params = params,
    .n_params = N_PARAMS,
    .model = &vtable,
    .flags = AML_PLUGIN_RESUMABLE,
};

AML_PLUGIN_ENTRY { return &descriptor; }
