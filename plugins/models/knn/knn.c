/* The `knn` model plugin: k nearest neighbours on standardised features (NaN -> training mean),
 * by euclidean or cosine distance. Fit keeps an owned float32 copy of the standardised training
 * rows (for cosine, scaled to unit length once) and their squared norms. Predict works on blocks
 * of queries against tiles of training rows: distances come from sgemm (euclidean: ||x||^2 - 2 q.x,
 * ||q||^2 being the same for every candidate of a query; cosine: 1 - q.x on unit rows, queries
 * normalised per block), a bounded insertion keeps a few more than k candidates per query, and
 * those are re-ranked by exact distances, so the batch path and the single-row path agree. The full
 * query x train distance matrix never exists. A row with zero norm (every cell at the training
 * mean) has cosine similarity 0 with everything: distance 1, never NaN. */
#include <automl/plugin.h>

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define KNN_MAGIC 0x4e4e4b4c4d41ULL /* "AMLKNN" little-endian */
#define KNN_FORMAT_VERSION 2u /* 2: the metric follows the header */
#define KNN_MAX_K 50
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

static void *xalloc(const aml_host *h, size_t n) { return h->alloc(n ? n : 1); }
static void xfree(const aml_host *h, void *p)
{
    if (p)
        h->dealloc(p);
}
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
    xfree(h, m->mean), xfree(h, m->inv_scale), xfree(h, m->mean_f), xfree(h, m->Xs), xfree(h, m->norm);
    xfree(h, m->label), xfree(h, m->value), xfree(h, m->weight);
    h->dealloc(m);
}

static void model_clear(aml_model *m)
{
    const aml_host *h = m->h;
    xfree(h, m->mean), xfree(h, m->inv_scale), xfree(h, m->mean_f), xfree(h, m->Xs), xfree(h, m->norm);
    xfree(h, m->label), xfree(h, m->value), xfree(h, m->weight);
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
    m->mean = xalloc(h, (size_t)d * sizeof(double));
    m->inv_scale = xalloc(h, (size_t)d * sizeof(double));
    m->mean_f = xalloc(h, (size_t)d * 2 * sizeof(float));
    m->inv_f = m->mean_f ? m->mean_f + d : NULL;
    m->Xs = xalloc(h, (size_t)n * d * sizeof(float));
    m->norm = xalloc(h, (size_t)n * sizeof(float));
    int ok = m->mean && m->inv_scale && m->mean_f && m->Xs && m->norm;
    if (m->kind == AML_TASK_CLASSIFICATION)
        ok = ok && (m->label = xalloc(h, (size_t)n * sizeof(int32_t)));
    else
        ok = ok && (m->value = xalloc(h, (size_t)n * sizeof(double)));
    if (with_weight)
        ok = ok && (m->weight = xalloc(h, (size_t)n * sizeof(float)));
    return ok ? AML_OK : AML_ERR_NOMEM;
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
    m->k = (int)params[P_K].def;
    m->weighting = W_UNIFORM;
    m->metric = M_EUCLIDEAN;
    return m;
}

static aml_status model_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_model **out)
{
    if (!task || (task->kind != AML_TASK_CLASSIFICATION && task->kind != AML_TASK_REGRESSION) ||
        (task->kind == AML_TASK_CLASSIFICATION && task->n_classes < 2)) {
        h->set_error(c, "knn: needs a regression task or a classification task with at least 2 classes");
        return AML_ERR_INPUT;
    }
    double k = p ? p->num[P_K] : params[P_K].def, wch = p ? p->num[P_WEIGHTS] : W_UNIFORM;
    double metric = p ? p->num[P_METRIC] : M_EUCLIDEAN;
    if (!(k >= 1 && k <= KNN_MAX_K) || k != floor(k)) {
        h->set_error(c, "knn: k = %g must be an integer in [1, %d]", k, KNN_MAX_K);
        return AML_ERR_INPUT;
    }
    if (wch != W_UNIFORM && wch != W_DISTANCE) {
        h->set_error(c, "knn: weights must be \"uniform\" or \"distance\"");
        return AML_ERR_INPUT;
    }
    if (metric != M_EUCLIDEAN && metric != M_COSINE) {
        h->set_error(c, "knn: metric must be \"euclidean\" or \"cosine\"");
        return AML_ERR_INPUT;
    }
    aml_model *m = model_new(h, task);
    if (!m) {
        h->set_error(c, "knn: out of memory");
        return AML_ERR_NOMEM;
    }
    m->k = (int)k, m->weighting = (int)wch, m->metric = (int)metric;
    *out = m;
    return AML_OK;
}

static aml_status model_fit(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                            const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b)
{
    const aml_host *h = m->h;
    if (!X || !y || X->rows < 1 || X->cols < 1 || X->ld < X->cols || !X->data || X->cols > INT32_MAX / 2) {
        h->set_error(c, "knn: empty or malformed training matrix");
        return AML_ERR_INPUT;
    }
    const int64_t n = X->rows, d = X->cols;
    for (int64_t i = 0; i < n; i++) {
        if (m->kind == AML_TASK_CLASSIFICATION) {
            if (!y->label || y->label[i] < 0 || y->label[i] >= m->n_classes) {
                h->set_error(c, "knn: row %lld: class index %d outside [0, %d)", (long long)i,
                             y->label ? y->label[i] : -1, m->n_classes);
                return AML_ERR_INPUT;
            }
        } else if (!y->value || !isfinite(y->value[i])) {
            h->set_error(c, "knn: row %lld: target value is missing or not finite", (long long)i);
            return AML_ERR_INPUT;
        }
        if (y->weight && !(y->weight[i] >= 0 && isfinite(y->weight[i]))) {
            h->set_error(c, "knn: row %lld: sample weight %g must be finite and >= 0", (long long)i,
                         (double)y->weight[i]);
            return AML_ERR_INPUT;
        }
    }
    if (model_shape(m, n, d, y->weight != NULL) != AML_OK) {
        model_clear(m);
        h->set_error(c, "knn: out of memory keeping %lld x %lld training rows", (long long)n, (long long)d);
        return AML_ERR_NOMEM;
    }
    /* column mean and std over non-NaN cells: shifted sums in double, row by row */
    double *acc = xalloc(h, 4 * (size_t)d * sizeof *acc);
    if (!acc) {
        model_clear(m);
        h->set_error(c, "knn: out of memory");
        return AML_ERR_NOMEM;
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
            xfree(h, acc);
            model_clear(m);
            h->set_error(c, "knn: feature %lld has infinite values (NaN marks a missing value)", (long long)j);
            return AML_ERR_INPUT;
        }
        double mu = s0[j] > 0 ? s1[j] / s0[j] : 0, var = s0[j] > 0 ? s2[j] / s0[j] - mu * mu : 0;
        double sd = var > 0 ? sqrt(var) : 0;
        m->mean[j] = s0[j] > 0 ? shift[j] + mu : 0;
        m->inv_scale[j] = sd > 0 && sd > 1e-10 * fabs(m->mean[j]) ? 1.0 / sd : 1.0;
    }
    xfree(h, acc);
    set_float_stats(m);
    int nt = h->threads(c) > 0 ? h->threads(c) : 1;
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
    if (!m->fitted) {
        h->set_error(c, "knn: predict before fit");
        return AML_ERR_INPUT;
    }
    if (!X || X->cols != m->d || X->ld < X->cols || (X->rows > 0 && !X->data)) {
        h->set_error(c, "knn: predict on %lld columns, the model was fitted on %lld", X ? (long long)X->cols : 0LL,
                     (long long)m->d);
        return AML_ERR_INPUT;
    }
    if (X->rows == 0)
        return AML_OK;
    const int64_t d = m->d, nq = X->rows;
    int nt = h->threads(c) > 0 ? h->threads(c) : 1;
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
    float *fs = xalloc(h, (size_t)nt * per_thread * sizeof *fs);
    int64_t *is = xalloc(h, (size_t)nt * qb * cap * sizeof *is);
    if (!fs || !is) {
        xfree(h, fs), xfree(h, is);
        h->set_error(c, "knn: out of memory for prediction scratch");
        return AML_ERR_NOMEM;
    }
    const int no = n_outputs(m);
    const float gemm_alpha = m->metric == M_COSINE ? -1.0f : -2.0f;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        float *Q = fs + (size_t)t * per_thread, *D = Q + qb * d, *cdist = D + qb * tile;
        int64_t *cidx = is + (size_t)t * qb * cap;
        double cd[KNN_MAX_K + KNN_EXTRA];
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < nblocks; blk++) {
            const int64_t q0 = blk * qb, nb = nq - q0 < qb ? nq - q0 : qb;
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
    xfree(h, fs), xfree(h, is);
    return AML_OK;
}

/* ---- save / load: little-endian header, then raw arrays; norms are recomputed on load ------- */

typedef struct {
    uint64_t magic;
    uint32_t version, kind;
    int32_t n_classes, k, weighting, has_weight;
    int64_t n, d;
} blob_header;

/* Since version 2, after the header (a version 1 blob is euclidean). */
typedef struct {
    int32_t metric, reserved;
} blob_metric;

static aml_status model_save(const aml_model *m, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = m->h;
    if (!m->fitted) {
        h->set_error(c, "knn: save before fit");
        return AML_ERR_INPUT;
    }
    blob_header hd = {.magic = KNN_MAGIC, .version = KNN_FORMAT_VERSION, .kind = (uint32_t)m->kind,
                      .n_classes = m->n_classes, .k = m->k, .weighting = m->weighting,
                      .has_weight = m->weight != NULL, .n = m->n, .d = m->d};
    const size_t n = (size_t)m->n, d = (size_t)m->d;
    blob_metric bm = {.metric = m->metric};
    aml_status st = h->write(w, &hd, sizeof hd);
    if (st == AML_OK)
        st = h->write(w, &bm, sizeof bm);
    if (st == AML_OK)
        st = h->write(w, m->mean, d * sizeof(double));
    if (st == AML_OK)
        st = h->write(w, m->inv_scale, d * sizeof(double));
    if (st == AML_OK)
        st = h->write(w, m->Xs, n * d * sizeof(float));
    if (st == AML_OK)
        st = m->kind == AML_TASK_CLASSIFICATION ? h->write(w, m->label, n * sizeof(int32_t))
                                                : h->write(w, m->value, n * sizeof(double));
    if (st == AML_OK && m->weight)
        st = h->write(w, m->weight, n * sizeof(float));
    if (st != AML_OK)
        h->set_error(c, "knn: writing the model blob failed");
    return st;
}

static aml_status model_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_model **out)
{
    blob_header hd;
    if (h->read(r, &hd, sizeof hd) != AML_OK || hd.magic != KNN_MAGIC) {
        h->set_error(c, "knn: not a knn model blob (bad or truncated header)");
        return AML_ERR_FORMAT;
    }
    if (hd.version == 0 || hd.version > KNN_FORMAT_VERSION) {
        h->set_error(c, "knn: blob format version %u, this plugin reads up to %u", hd.version, KNN_FORMAT_VERSION);
        return AML_ERR_FORMAT;
    }
    blob_metric bm = {.metric = M_EUCLIDEAN};
    if (hd.version >= 2 && h->read(r, &bm, sizeof bm) != AML_OK) {
        h->set_error(c, "knn: truncated model blob (metric)");
        return AML_ERR_FORMAT;
    }
    if ((bm.metric != M_EUCLIDEAN && bm.metric != M_COSINE) || bm.reserved != 0) {
        h->set_error(c, "knn: corrupt blob (metric %d)", bm.metric);
        return AML_ERR_FORMAT;
    }
    int ok = ((hd.kind == AML_TASK_CLASSIFICATION && hd.n_classes >= 2 && hd.n_classes <= (1 << 20)) ||
              (hd.kind == AML_TASK_REGRESSION && hd.n_classes == 0)) &&
             hd.k >= 1 && hd.k <= KNN_MAX_K && (hd.weighting == W_UNIFORM || hd.weighting == W_DISTANCE) &&
             (hd.has_weight == 0 || hd.has_weight == 1) && hd.n >= 1 && hd.d >= 1 && hd.d <= INT32_MAX / 2 &&
             hd.n <= ((int64_t)1 << 40) / hd.d;
    if (!ok) {
        h->set_error(c, "knn: corrupt blob header (kind %u, k %d, %lld rows, %lld features)", hd.kind, hd.k,
                     (long long)hd.n, (long long)hd.d);
        return AML_ERR_FORMAT;
    }
    if (task && (task->kind != (aml_task_kind)hd.kind ||
                 (task->kind == AML_TASK_CLASSIFICATION && task->n_classes != hd.n_classes) ||
                 (task->n_features > 0 && task->n_features != hd.d))) {
        h->set_error(c, "knn: blob is for a %s task with %d classes and %lld features, not the given task",
                     hd.kind == AML_TASK_CLASSIFICATION ? "classification" : "regression", hd.n_classes,
                     (long long)hd.d);
        return AML_ERR_FORMAT;
    }
    aml_task t = {.kind = (aml_task_kind)hd.kind, .n_classes = hd.n_classes, .n_features = hd.d};
    aml_model *m = model_new(h, &t);
    if (!m || model_shape(m, hd.n, hd.d, hd.has_weight) != AML_OK) {
        model_free(m);
        h->set_error(c, "knn: out of memory loading %lld x %lld training rows", (long long)hd.n, (long long)hd.d);
        return AML_ERR_NOMEM;
    }
    m->k = hd.k, m->weighting = hd.weighting, m->metric = bm.metric;
    const size_t n = (size_t)m->n, d = (size_t)m->d;
    aml_status st = h->read(r, m->mean, d * sizeof(double));
    if (st == AML_OK)
        st = h->read(r, m->inv_scale, d * sizeof(double));
    if (st == AML_OK)
        st = h->read(r, m->Xs, n * d * sizeof(float));
    if (st == AML_OK)
        st = m->kind == AML_TASK_CLASSIFICATION ? h->read(r, m->label, n * sizeof(int32_t))
                                                : h->read(r, m->value, n * sizeof(double));
    if (st == AML_OK && m->weight)
        st = h->read(r, m->weight, n * sizeof(float));
    if (st != AML_OK) {
        model_free(m);
        h->set_error(c, "knn: truncated model blob");
        return AML_ERR_FORMAT;
    }
    for (size_t i = 0; i < n; i++)
        if (m->kind == AML_TASK_CLASSIFICATION ? (m->label[i] < 0 || m->label[i] >= m->n_classes)
                                               : !isfinite(m->value[i])) {
            model_free(m);
            h->set_error(c, "knn: corrupt model blob (target of stored row %zu)", i);
            return AML_ERR_FORMAT;
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
        h->set_error(c, "knn: corrupt model blob (a non-finite statistic or stored row)");
        return AML_ERR_FORMAT;
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
