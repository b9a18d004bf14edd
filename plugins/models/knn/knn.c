/* The `knn` model plugin: k nearest neighbours on standardised features (NaN -> training mean),
 * by euclidean or cosine distance. Fit keeps an owned float32 copy of the standardised training
 * rows (for cosine, scaled to unit length once) and their squared norms. Predict works on blocks
 * of queries against tiles of training rows: distances come from sgemm (euclidean: ||x||^2 - 2 q.x,
 * ||q||^2 being the same for every candidate of a query; cosine: 1 - q.x on unit rows, queries
 * normalised per block), a bounded insertion keeps a few more than k candidates per query, and
 * those are re-ranked by exact distances, so the batch path and the single-row path agree. The full
 * query x train distance matrix never exists. A row with zero norm (every cell at the training
 * mean) has cosine similarity 0 with everything: distance 1, never NaN. */
#include "../common/model_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define KNN_MAGIC 0x4e4e4b4c4d41ULL /* "AMLKNN" little-endian */
#define KNN_FORMAT_VERSION 2u /* 2: the metric follows the header */
#define KNN_MAX_K 50
#define KNN_MAX_CLASSES (1 << 20)
#define KNN_EXTRA 8          /* candidates kept beyond k, re-ranked by exact distance */
#define QUERY_BLOCK 256
#define TRAIN_TILE 512     /* a 256 x 512 float distance tile: 512 KiB, stays in L2 */

enum { P_K, P_WEIGHTS, P_METRIC, N_PARAMS };
enum { W_UNIFORM = 0, W_DISTANCE = 1 };
enum { M_EUCLIDEAN = 0, M_COSINE = 1 };

static const char *const weight_choices[] = {"uniform", "distance"};
static const char *const metric_choices[] = {"euclidean", "cosine"};

static const aml_param_def params[N_PARAMS] = {
    [P_K] = {.name = "k", .type = AML_PARAM_INT, .lo = 1, .hi = KNN_MAX_K, .def = 5, .log_scale = 1,
             .help = "number of neighbours"},
    [P_WEIGHTS] = {.name = "weights", .type = AML_PARAM_CHOICE, .def = W_UNIFORM, .choices = weight_choices,
                   .n_choices = 2, .help = "uniform votes, or votes weighted by 1 / distance"},
    [P_METRIC] = {.name = "metric", .type = AML_PARAM_CHOICE, .def = M_EUCLIDEAN, .choices = metric_choices,
                  .n_choices = 2, .help = "euclidean, or cosine (1 - cosine similarity) on standardised features"},
};

struct aml_model {
    const aml_host *h;
    aml_task_kind kind;
    int n_classes;
    int k, weighting, metric;
    int fitted;
    int64_t n, d;
    double *mean, *inv_scale; /* d */
    float *mean_f, *inv_f;    /* d: float copies used to standardise queries */
    float *Xs;                /* n x d standardised training rows, owned */
    float *norm;              /* n: squared norms of Xs rows (euclidean); 1 (cosine: the distance's constant) */
    int32_t *label;           /* classification */
    double *value;            /* regression */
    float *weight;            /* sample weights or NULL */
};

static int n_outputs(const aml_model *m) { return m->kind == AML_TASK_CLASSIFICATION ? m->n_classes : 1; }

/* The standardised value of one cell; the batch and single-row paths share it bit for bit. */
static inline float std_cell(const aml_model *m, int64_t j, float v)
{
    float t = (v - m->mean_f[j]) * m->inv_f[j];
    return v == v ? t : 0.0f;
}

static void set_float_stats(aml_model *m)
{
    for (int64_t j = 0; j < m->d; j++)
        m->mean_f[j] = (float)m->mean[j], m->inv_f[j] = (float)m->inv_scale[j];
}

static double exact_d2(const float *q, const float *x, int64_t d)
{
    double s = 0;
    for (int64_t j = 0; j < d; j++) {
        double t = (double)q[j] - (double)x[j];
        s += t * t;
    }
    return s;
}

/* Cosine distance of unit (or zero) rows: 1 - q.x, never below 0 (rounding can push q.x past 1). */
static double exact_cos(const float *q, const float *x, int64_t d)
{
    double s = 0;
    for (int64_t j = 0; j < d; j++)
        s += (double)q[j] * (double)x[j];
    return s < 1 ? 1 - s : 0.0;
}

static double exact_dist(const aml_model *m, const float *q, const float *x)
{
    return m->metric == M_COSINE ? exact_cos(q, x, m->d) : exact_d2(q, x, m->d);
}

/* The factor that scales a standardised row to unit length; 0 for a zero row, so that it stays
 * zero (cosine similarity 0 with every row) instead of becoming NaN. */
static float unit_scale(const float *x, int64_t d)
{
    double s = 0;
    for (int64_t j = 0; j < d; j++)
        s += (double)x[j] * x[j];
    return s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
}

static void normalise_row(float *x, int64_t d)
{
    const float f = unit_scale(x, d);
    for (int64_t j = 0; j < d; j++)
        x[j] *= f;
}

static void row_norms(aml_model *m)
{
    if (m->metric == M_COSINE) {
        for (int64_t i = 0; i < m->n; i++)
            m->norm[i] = 1.0f;
        return;
    }
    for (int64_t i = 0; i < m->n; i++) {
        const float *x = m->Xs + i * m->d;
        double s = 0;
        for (int64_t j = 0; j < m->d; j++)
            s += (double)x[j] * x[j];
        m->norm[i] = (float)s;
    }
}

/* Inserts (dist, idx) into the ascending list of cap entries if it beats the last one. Ties keep
 * the lower index (candidates arrive in increasing index order). */
static inline void topk_insert(float *dist, int64_t *idx, int cap, float dv, int64_t iv)
{
    if (!(dv < dist[cap - 1]))
        return;
    int p = cap - 1;
    while (p > 0 && dist[p - 1] > dv) {
        dist[p] = dist[p - 1], idx[p] = idx[p - 1];
        p--;
    }
    dist[p] = dv, idx[p] = iv;
}

/* Given the exact squared distances cd of nc candidates ci, keeps the k nearest (ties: lower
 * index) and writes the model's outputs for one query. cd/ci are reordered in place. */
static void vote_ranked(const aml_model *m, double *cd, int64_t *ci, int nc, double *out)
{
    for (int a = 1; a < nc; a++) { /* insertion sort by (d2, index); nc <= KNN_MAX_K + KNN_EXTRA */
        double dv = cd[a];
        int64_t iv = ci[a];
        int p = a;
        while (p > 0 && (cd[p - 1] > dv || (cd[p - 1] == dv && ci[p - 1] > iv))) {
            cd[p] = cd[p - 1], ci[p] = ci[p - 1];
            p--;
        }
        cd[p] = dv, ci[p] = iv;
    }
    int k = m->k < nc ? m->k : nc;
    int exact_hits = 0;
    for (int a = 0; a < k; a++)
        exact_hits += cd[a] == 0.0;
    const int no = n_outputs(m);
    for (int pass = 0; pass < 2; pass++) {
        double total = 0;
        for (int o = 0; o < no; o++)
            out[o] = 0;
        for (int a = 0; a < k; a++) {
            double wt = 1.0;
            if (m->weighting == W_DISTANCE) /* cd: squared euclidean, or the cosine distance itself */
                wt = exact_hits ? (cd[a] == 0.0) : 1.0 / (m->metric == M_COSINE ? cd[a] : sqrt(cd[a]));
            if (pass == 0 && m->weight)
                wt *= m->weight[ci[a]];
            if (m->kind == AML_TASK_CLASSIFICATION)
                out[m->label[ci[a]]] += wt;
            else
                out[0] += wt * m->value[ci[a]];
            total += wt;
        }
        if (total > 0) {
            for (int o = 0; o < no; o++)
                out[o] /= total;
            return;
        }
        /* every neighbour has sample weight 0: vote without sample weights */
    }
}

static void vote(const aml_model *m, const float *q, double *cd, int64_t *ci, int nc, double *out)
{
    for (int a = 0; a < nc; a++)
        cd[a] = ci[a] >= 0 ? exact_dist(m, q, m->Xs + ci[a] * m->d) : HUGE_VAL;
    vote_ranked(m, cd, ci, nc, out);
}

/* ---- vtable ------------------------------------------------------------------------------- */

static void model_free(aml_model *m)
{
    if (!m)
        return;
    const aml_host *h = m->h;
    mc_free(h, m->mean), mc_free(h, m->inv_scale), mc_free(h, m->mean_f), mc_free(h, m->Xs), mc_free(h, m->norm);
    mc_free(h, m->label), mc_free(h, m->value), mc_free(h, m->weight);
    h->dealloc(m);
}

static void model_clear(aml_model *m)
{
    const aml_host *h = m->h;
    mc_free(h, m->mean), mc_free(h, m->inv_scale), mc_free(h, m->mean_f), mc_free(h, m->Xs), mc_free(h, m->norm);
    mc_free(h, m->label), mc_free(h, m->value), mc_free(h, m->weight);
    m->mean_f = m->inv_f = NULL;
    m->mean = m->inv_scale = NULL, m->Xs = m->norm = m->weight = NULL, m->label = NULL, m->value = NULL;
    m->fitted = 0;
}

/* Allocates storage for n rows of d features (weights when with_weight). */
static aml_status model_shape(aml_model *m, int64_t n, int64_t d, int with_weight)
{
    const aml_host *h = m->h;
    model_clear(m);
    m->n = n, m->d = d;
    m->mean = mc_alloc(h, (size_t)d * sizeof(double));
    m->inv_scale = mc_alloc(h, (size_t)d * sizeof(double));
    m->mean_f = mc_alloc(h, (size_t)d * 2 * sizeof(float));
    m->inv_f = m->mean_f ? m->mean_f + d : NULL;
    m->Xs = mc_alloc(h, (size_t)n * d * sizeof(float));
    m->norm = mc_alloc(h, (size_t)n * sizeof(float));
    int ok = m->mean && m->inv_scale && m->mean_f && m->Xs && m->norm;
    if (m->kind == AML_TASK_CLASSIFICATION)
        ok = ok && (m->label = mc_alloc(h, (size_t)n * sizeof(int32_t)));
    else
        ok = ok && (m->value = mc_alloc(h, (size_t)n * sizeof(double)));
    if (with_weight)
        ok = ok && (m->weight = mc_alloc(h, (size_t)n * sizeof(float)));
    return ok ? AML_OK : AML_ERR_NOMEM;
}

static aml_model *model_new(const mc_call *k, const aml_task *task)
{
    aml_model *m = mc_new_model(k, sizeof *m);
    if (!m)
        return NULL;
    m->h = k->h;
    m->kind = task->kind;
    m->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    m->k = (int)params[P_K].def;
    m->weighting = W_UNIFORM;
    m->metric = M_EUCLIDEAN;
    return m;
}

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    const mc_call mc = mc_at(h, c, "knn");
    aml_status st = mc_check_task(&mc, task, KNN_MAX_CLASSES, 1);
    if (st != AML_OK)
        return st;
    double v[N_PARAMS];
    for (int i = 0; i < N_PARAMS && st == AML_OK; i++)
        st = mc_param(&mc, params, i, p, &v[i]);
    if (st != AML_OK)
        return st;
    aml_model *m = model_new(&mc, task);
    if (!m)
        return AML_ERR_NOMEM;
    m->k = (int)v[P_K], m->weighting = (int)v[P_WEIGHTS], m->metric = (int)v[P_METRIC];
    *out = m;
    return AML_OK;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "knn");
    aml_status st = mc_check_fit(&mc, m->kind, m->n_classes, INT32_MAX / 2, X, y, NULL, NULL);
    if (st != AML_OK)
        return st;
    const int64_t n = X->rows, d = X->cols;
    if (model_shape(m, n, d, y->weight != NULL) != AML_OK) {
        model_clear(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory keeping %lld x %lld training rows", (long long)n,
                       (long long)d);
    }
    /* column mean and std over non-NaN cells: shifted sums in double, row by row */
    double *acc = mc_alloc(h, 4 * (size_t)d * sizeof *acc);
    if (!acc) {
        model_clear(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory");
    }
    double *shift = acc, *s0 = acc + d, *s1 = s0 + d, *s2 = s1 + d;
    for (int64_t j = 0; j < d; j++)
        shift[j] = isfinite(X->data[j]) ? X->data[j] : 0.0, s0[j] = s1[j] = s2[j] = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = X->data + i * X->ld;
        for (int64_t j = 0; j < d; j++) {
            float v = x[j];
            double t = v == v ? (double)v - shift[j] : 0.0;
            s0[j] += v == v, s1[j] += t, s2[j] += t * t;
        }
    }
    for (int64_t j = 0; j < d; j++) {
        if (!isfinite(s2[j])) {
            mc_free(h, acc);
            model_clear(m);
            return mc_infinite_feature(&mc, X, j);
        }
        double mu = s0[j] > 0 ? s1[j] / s0[j] : 0, var = s0[j] > 0 ? s2[j] / s0[j] - mu * mu : 0;
        double sd = var > 0 ? sqrt(var) : 0;
        m->mean[j] = s0[j] > 0 ? shift[j] + mu : 0;
        m->inv_scale[j] = sd > 0 && sd > 1e-10 * fabs(m->mean[j]) ? 1.0 / sd : 1.0;
    }
    mc_free(h, acc);
    set_float_stats(m);
    int nt = mc_threads(h, c, n);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *x = X->data + i * X->ld;
        float *o = m->Xs + i * d;
        for (int64_t j = 0; j < d; j++)
            o[j] = std_cell(m, j, x[j]);
        if (m->metric == M_COSINE)
            normalise_row(o, d);
    }
    row_norms(m);
    if (m->kind == AML_TASK_CLASSIFICATION)
        memcpy(m->label, y->label, (size_t)n * sizeof *m->label);
    else
        memcpy(m->value, y->value, (size_t)n * sizeof *m->value);
    if (y->weight)
        memcpy(m->weight, y->weight, (size_t)n * sizeof *m->weight);
    m->fitted = 1;
    return AML_OK;
}

/* Distance from a raw query row (standardised on the fly, times f for cosine) to training row x:
 * the wide-row path of predict_row, the same values as the buffered path. */
static double wide_dist(const aml_model *m, const float *row, float f, const float *x)
{
    double s = 0;
    if (m->metric == M_COSINE) {
        for (int64_t j = 0; j < m->d; j++)
            s += (double)(std_cell(m, j, row[j]) * f) * (double)x[j];
        return s < 1 ? 1 - s : 0.0;
    }
    for (int64_t j = 0; j < m->d; j++) {
        double t = (double)std_cell(m, j, row[j]) - (double)x[j];
        s += t * t;
    }
    return s;
}

static aml_status model_predict_row(const aml_model *m, const float *row, double *out)
{
    if (!m->fitted)
        return AML_ERR_INPUT;
    const int64_t d = m->d;
    float qbuf[1024];
    float cand_d[KNN_MAX_K + KNN_EXTRA];
    int64_t cand_i[KNN_MAX_K + KNN_EXTRA];
    double cd[KNN_MAX_K + KNN_EXTRA];
    int cap = m->k + KNN_EXTRA < m->n ? m->k + KNN_EXTRA : (int)m->n;
    /* Placeholders are real rows (a < cap <= n): any finite distance pushes them out, and when
     * none is finite (an overflowing query or model) the vote still reads valid rows. */
    for (int a = 0; a < cap; a++)
        cand_d[a] = HUGE_VALF, cand_i[a] = a;
    if (d <= 1024) {
        for (int64_t j = 0; j < d; j++)
            qbuf[j] = std_cell(m, j, row[j]);
        if (m->metric == M_COSINE)
            normalise_row(qbuf, d);
        for (int64_t i = 0; i < m->n; i++)
            topk_insert(cand_d, cand_i, cap, (float)exact_dist(m, qbuf, m->Xs + i * d), i);
        vote(m, qbuf, cd, cand_i, cap, out);
        return AML_OK;
    }
    /* wide rows: standardise on the fly (no allocation on this path) */
    float f = 1.0f;
    if (m->metric == M_COSINE) { /* unit_scale of the standardised row, in the same order */
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            float v = std_cell(m, j, row[j]);
            s += (double)v * v;
        }
        f = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    }
    for (int64_t i = 0; i < m->n; i++)
        topk_insert(cand_d, cand_i, cap, (float)wide_dist(m, row, f, m->Xs + i * d), i);
    /* exact re-ranking without a standardised query buffer */
    for (int a = 0; a < cap; a++)
        cd[a] = wide_dist(m, row, f, m->Xs + cand_i[a] * d);
    vote_ranked(m, cd, cand_i, cap, out);
    return AML_OK;
}

static aml_status model_predict(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out)
{
    const aml_host *h = m->h;
    const mc_call mc = mc_at(h, c, "knn");
    aml_status st = mc_check_predict(&mc, m->fitted, m->d, X);
    if (st != AML_OK || X->rows == 0)
        return st;
    const int64_t d = m->d, nq = X->rows;
    int nt = mc_threads(h, c, 0);
    /* enough query blocks for every thread, at most QUERY_BLOCK queries each */
    int64_t qb = (nq + nt - 1) / nt;
    if (qb > QUERY_BLOCK)
        qb = QUERY_BLOCK;
    if (qb < 1)
        qb = 1;
    const int64_t nblocks = (nq + qb - 1) / qb;
    if (nt > nblocks)
        nt = (int)nblocks;
    const int cap = m->k + KNN_EXTRA < m->n ? m->k + KNN_EXTRA : (int)m->n;
    const int64_t tile = TRAIN_TILE;
    /* per thread: queries, distance tile, candidates */
    const size_t per_thread = (size_t)qb * d + (size_t)qb * tile + (size_t)qb * cap;
    float *fs = mc_alloc(h, (size_t)nt * per_thread * sizeof *fs);
    int64_t *is = mc_alloc(h, (size_t)nt * qb * cap * sizeof *is);
    if (!fs || !is) {
        mc_free(h, fs), mc_free(h, is);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory for prediction scratch");
    }
    const int no = n_outputs(m);
    const float gemm_alpha = m->metric == M_COSINE ? -1.0f : -2.0f;
    /* Brute force costs queries x training rows: on a large table a search's deadline (or SIGINT)
     * must be able to stop it between blocks. */
    int stop = 0;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        float *Q = fs + (size_t)t * per_thread, *D = Q + qb * d, *cdist = D + qb * tile;
        int64_t *cidx = is + (size_t)t * qb * cap;
        double cd[KNN_MAX_K + KNN_EXTRA];
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            const int64_t q0 = blk * qb, nb = nq - q0 < qb ? nq - q0 : qb;
            if (mc_stopping(&stop, h, c))
                continue;
            for (int64_t i = 0; i < nb; i++) {
                const float *x = X->data + (q0 + i) * X->ld;
                for (int64_t j = 0; j < d; j++)
                    Q[i * d + j] = std_cell(m, j, x[j]);
                if (m->metric == M_COSINE)
                    normalise_row(Q + i * d, d);
            }
            for (int64_t a = 0; a < nb * cap; a++)
                cdist[a] = HUGE_VALF, cidx[a] = a % cap; /* real rows, as in model_predict_row */
            for (int64_t t0 = 0; t0 < m->n; t0 += tile) {
                const int64_t tb = m->n - t0 < tile ? m->n - t0 : tile;
                /* euclidean: ||x||^2 - 2 q.x; cosine: 1 - q.x (norm holds the 1s) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)tb, (int)d, gemm_alpha, Q, (int)d,
                            m->Xs + t0 * d, (int)d, 0.0f, D, (int)tb);
                const float *xn = m->norm + t0;
                for (int64_t i = 0; i < nb; i++) {
                    float *row = D + i * tb, *cdi = cdist + i * cap;
                    int64_t *cii = cidx + i * cap;
                    float worst = cdi[cap - 1];
                    /* 16 at a time: a vectorised test first, the insertion only where one beats the worst */
                    for (int64_t j0 = 0; j0 < tb; j0 += 16) {
                        const int64_t jn = tb - j0 < 16 ? tb - j0 : 16;
                        int any = 0;
                        for (int64_t j = 0; j < jn; j++) {
                            float dv = row[j0 + j] + xn[j0 + j];
                            row[j0 + j] = dv;
                            any |= dv < worst;
                        }
                        if (!any)
                            continue;
                        for (int64_t j = 0; j < jn; j++)
                            if (row[j0 + j] < worst) {
                                topk_insert(cdi, cii, cap, row[j0 + j], t0 + j0 + j);
                                worst = cdi[cap - 1];
                            }
                    }
                }
            }
            for (int64_t i = 0; i < nb; i++)
                vote(m, Q + i * d, cd, cidx + i * cap, cap, out + (q0 + i) * no);
        }
    }
    mc_free(h, fs), mc_free(h, is);
    if (stop) {
        h->set_error(c, "knn: prediction stopped (deadline)");
        return AML_ERR_CANCELLED;
    }
    return AML_OK;
}

/* ---- save / load: little-endian header, then raw arrays; norms are recomputed on load ------- */

typedef struct {
    uint64_t magic;
    uint32_t version, kind;
    int32_t n_classes, k, weighting, has_weight;
    int64_t n, d;
} blob_header;
MC_BLOB_HEADER_CHECK(blob_header);

/* Since version 2, after the header (a version 1 blob is euclidean). */
typedef struct {
    int32_t metric, reserved;
} blob_metric;

static aml_status model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const mc_call mc = mc_at(m->h, c, "knn");
    aml_status st = mc_check_save(&mc, m->fitted);
    if (st != AML_OK)
        return st;
    blob_header hd = {.kind = (uint32_t)m->kind, .n_classes = m->n_classes, .k = m->k, .weighting = m->weighting,
                      .has_weight = m->weight != NULL, .n = m->n, .d = m->d};
    const size_t n = (size_t)m->n, d = (size_t)m->d;
    blob_metric bm = {.metric = m->metric};
    mc_put_header(&mc, w, &st, &hd, sizeof hd, KNN_MAGIC, KNN_FORMAT_VERSION);
    mc_put(&mc, w, &st, &bm, sizeof bm);
    mc_put(&mc, w, &st, m->mean, d * sizeof(double));
    mc_put(&mc, w, &st, m->inv_scale, d * sizeof(double));
    mc_put(&mc, w, &st, m->Xs, n * d * sizeof(float));
    if (m->kind == AML_TASK_CLASSIFICATION)
        mc_put(&mc, w, &st, m->label, n * sizeof(int32_t));
    else
        mc_put(&mc, w, &st, m->value, n * sizeof(double));
    if (m->weight)
        mc_put(&mc, w, &st, m->weight, n * sizeof(float));
    return st;
}

static aml_status model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_model **out)
{
    const mc_call mc = mc_at(h, c, "knn");
    blob_header hd;
    aml_status st = mc_get_header(&mc, r, &hd, sizeof hd, KNN_MAGIC, KNN_FORMAT_VERSION, NULL);
    blob_metric bm = {.metric = M_EUCLIDEAN};
    if (st == AML_OK && hd.version >= 2)
        mc_get(&mc, r, &st, &bm, sizeof bm);
    if (st != AML_OK)
        return st;
    if ((bm.metric != M_EUCLIDEAN && bm.metric != M_COSINE) || bm.reserved != 0)
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (metric %d)", bm.metric);
    int ok = ((hd.kind == AML_TASK_CLASSIFICATION && hd.n_classes >= 2 && hd.n_classes <= (1 << 20)) ||
              (hd.kind == AML_TASK_REGRESSION && hd.n_classes == 0)) &&
             hd.k >= 1 && hd.k <= KNN_MAX_K && (hd.weighting == W_UNIFORM || hd.weighting == W_DISTANCE) &&
             (hd.has_weight == 0 || hd.has_weight == 1) && hd.n >= 1 && hd.d >= 1 && hd.d <= INT32_MAX / 2 &&
             hd.n <= ((int64_t)1 << 40) / hd.d;
    if (!ok)
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt blob header (kind %u, k %d, %lld rows, %lld features)", hd.kind,
                       hd.k, (long long)hd.n, (long long)hd.d);
    if ((st = mc_check_blob_task(&mc, task, hd.kind, hd.n_classes, hd.d)) != AML_OK)
        return st;
    aml_task t = {.kind = (aml_task_kind)hd.kind, .n_classes = hd.n_classes, .n_features = hd.d};
    aml_model *m = model_new(&mc, &t);
    if (!m || model_shape(m, hd.n, hd.d, hd.has_weight) != AML_OK) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_NOMEM, "out of memory loading %lld x %lld training rows", (long long)hd.n,
                       (long long)hd.d);
    }
    m->k = hd.k, m->weighting = hd.weighting, m->metric = bm.metric;
    const size_t n = (size_t)m->n, d = (size_t)m->d;
    mc_get(&mc, r, &st, m->mean, d * sizeof(double));
    mc_get(&mc, r, &st, m->inv_scale, d * sizeof(double));
    mc_get(&mc, r, &st, m->Xs, n * d * sizeof(float));
    if (m->kind == AML_TASK_CLASSIFICATION)
        mc_get(&mc, r, &st, m->label, n * sizeof(int32_t));
    else
        mc_get(&mc, r, &st, m->value, n * sizeof(double));
    if (m->weight)
        mc_get(&mc, r, &st, m->weight, n * sizeof(float));
    for (size_t i = 0; i < n && st == AML_OK; i++)
        if (m->kind == AML_TASK_CLASSIFICATION ? (m->label[i] < 0 || m->label[i] >= m->n_classes)
                                               : !isfinite(m->value[i]))
            st = mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (target of stored row %zu)", i);
    if (st != AML_OK) {
        model_free(m);
        return st;
    }
    /* fit stores finite statistics and rows; a NaN here would make every distance NaN, no
     * neighbour would be ranked and the vote would read label[-1] */
    int finite = 1;
    for (size_t j = 0; j < d && finite; j++)
        finite = isfinite(m->mean[j]) && isfinite(m->inv_scale[j]);
    for (size_t i = 0; i < n * d && finite; i++)
        finite = isfinite(m->Xs[i]);
    if (!finite) {
        model_free(m);
        return mc_fail(&mc, AML_ERR_FORMAT, "corrupt model blob (a non-finite statistic or stored row)");
    }
    set_float_stats(m);
    row_norms(m);
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
    .name = "knn",
    .version = "1.1.0",
    .license = "MIT",
    .summary = "k nearest neighbours on standardised features, euclidean or cosine (BLAS-blocked distances)",
    .params = params,
    .n_params = N_PARAMS,
    .model = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
