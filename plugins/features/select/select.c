/* The `select` feature plugin: keeps a subset of the input columns, learnt at fit time.
 *
 * Both methods first drop columns without spread: a numeric column whose population variance over
 * its finite cells is <= `threshold` (default 0: constant or all-missing columns), a categorical
 * column with fewer than 2 distinct levels. method = univariate then scores each remaining numeric
 * column against the target (over rows where the cell is finite): classification, the one-way ANOVA
 * F statistic of the column across classes; regression, F = r^2 / (1 - r^2) (N - 2) from the
 * correlation r; and keeps the `k` best (ties to the lower column), or with k = 0 those whose
 * F-test p-value is below `alpha`. Categorical columns that survive the spread test are always
 * kept by univariate (codes have no order to correlate) and do not count in k. If nothing is
 * left, the best column is kept: the highest score (F, or variance for method = variance) among
 * numeric columns, else column 0; select never outputs 0 columns.
 *
 * Output columns: the kept input columns in input order, values unchanged (NaN, inf and unseen
 * codes included), each keeping its categorical flag. So transform of the probe row
 * (0, 1, ..., n_in - 1) yields, per output column, the input column it comes from. */
#include "../common/feature_common.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define SELECT_MAGIC 0x5443454c45534c4dULL /* "MLSELECT" */
#define SELECT_FORMAT_VERSION 1u

enum { P_METHOD, P_THRESHOLD, P_K, P_ALPHA, N_PARAMS };
enum { M_VARIANCE, M_UNIVARIATE };

static const char *const method_choices[] = {"variance", "univariate"};

static const aml_param_def params[N_PARAMS] = {
    [P_METHOD] = {.name = "method", .type = AML_PARAM_CHOICE, .def = M_VARIANCE, .choices = method_choices,
                  .n_choices = 2,
                  .help = "variance: drop low-variance columns; univariate: also keep the best F scores"},
    [P_THRESHOLD] = {.name = "threshold", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 10, .def = 0,
                     .help = "numeric columns with variance <= threshold are dropped"},
    [P_K] = {.name = "k", .type = AML_PARAM_INT, .lo = 0, .hi = 100000, .def = 0,
             .help = "univariate: numeric columns kept (best F first); 0: those with p-value < alpha"},
    [P_ALPHA] = {.name = "alpha", .type = AML_PARAM_FLOAT, .lo = 1e-6, .hi = 1, .def = 0.05, .log_scale = 1,
                 .help = "univariate with k = 0: keep numeric columns whose F-test p-value is below alpha"},
};

struct aml_feature {
    fc_input in;
    aml_task_kind kind;
    int n_classes;
    int method;
    double threshold, alpha;
    int64_t k;
    int fitted;
    int64_t n_out;
    int64_t *kept; /* n_out input columns, ascending */
};

static void clear_fit(aml_feature *f)
{
    fc_free(f->in.h, f->kept);
    f->kept = NULL, f->n_out = 0, f->fitted = 0;
}

static void select_free(aml_feature *f)
{
    if (!f)
        return;
    const aml_host *h = f->in.h;
    clear_fit(f);
    fc_input_release(&f->in);
    h->dealloc(f);
}

static aml_feature *select_new(const aml_host *h)
{
    aml_feature *f = h->alloc(sizeof *f);
    if (f)
        memset(f, 0, sizeof *f), f->in.h = h;
    return f;
}

static aml_status select_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                                aml_feature **out)
{
    aml_feature *f = select_new(h);
    if (!f) {
        h->set_error(c, "select: out of memory");
        return AML_ERR_NOMEM;
    }
    double v[N_PARAMS];
    aml_status st = fc_input_init(&f->in, h, c, "select", task);
    for (int i = 0; i < N_PARAMS && st == AML_OK; i++)
        st = fc_param(&f->in, c, params, i, p, &v[i]);
    if (st == AML_OK && v[P_METHOD] == M_UNIVARIATE &&
        !(task->kind == AML_TASK_REGRESSION ||
          (task->kind == AML_TASK_CLASSIFICATION && task->n_classes >= 2 && task->n_classes <= (1 << 20)))) {
        h->set_error(c, "select: univariate needs a regression task or a classification task with >= 2 classes");
        st = AML_ERR_INPUT;
    }
    if (st != AML_OK) {
        select_free(f);
        return st;
    }
    f->kind = task->kind, f->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    f->method = (int)v[P_METHOD], f->threshold = v[P_THRESHOLD], f->k = (int64_t)v[P_K], f->alpha = v[P_ALPHA];
    *out = f;
    return AML_OK;
}

static double betacf(double a, double b, double x)
{
    /* continued fraction of the incomplete beta function (modified Lentz) */
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1, cc = 1, dd = 1 - qab * x / qap;
    if (fabs(dd) < tiny)
        dd = tiny;
    dd = 1 / dd;
    double hh = dd;
    for (int m = 1; m <= 300; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        dd = 1 + aa * dd, cc = 1 + aa / cc;
        dd = fabs(dd) < tiny ? tiny : dd, cc = fabs(cc) < tiny ? tiny : cc;
        dd = 1 / dd, hh *= dd * cc;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        dd = 1 + aa * dd, cc = 1 + aa / cc;
        dd = fabs(dd) < tiny ? tiny : dd, cc = fabs(cc) < tiny ? tiny : cc;
        dd = 1 / dd;
        double del = dd * cc;
        hh *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return hh;
}

/* Regularised incomplete beta I_x(a, b). */
static double betai(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lbt) * betacf(a, b, x) / a;
    return 1 - exp(lbt) * betacf(b, a, 1 - x) / b;
}

/* Upper tail P(F(d1, d2) > F). */
static double f_pvalue(double F, double d1, double d2)
{
    if (!(F > 0))
        return 1;
    if (isinf(F))
        return 0;
    return betai(d2 / 2, d1 / 2, d2 / (d2 + d1 * F));
}

/* F statistic of column j against the target and its degrees of freedom; 0 when undefined. sums is
 * scratch for 2 * n_classes doubles. */
static double f_score(const aml_feature *f, const aml_matrix *X, const aml_target *y, int64_t j, double *sums,
                      double *d1, double *d2)
{
    const int64_t n = X->rows;
    *d1 = *d2 = 0;
    if (f->kind == AML_TASK_CLASSIFICATION) {
        const int K = f->n_classes;
        double *cnt = sums, *mean = sums + K;
        memset(sums, 0, 2 * (size_t)K * sizeof *sums);
        double N = 0, all = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = X->data[i * X->ld + j];
            if (isfinite(v))
                cnt[y->label[i]] += 1, mean[y->label[i]] += v, N += 1, all += v;
        }
        int G = 0;
        for (int a = 0; a < K; a++)
            if (cnt[a] > 0)
                mean[a] /= cnt[a], G++;
        if (G < 2 || N - G < 1)
            return 0;
        all /= N;
        double SSW = 0, SSB = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = X->data[i * X->ld + j];
            if (isfinite(v))
                SSW += ((double)v - mean[y->label[i]]) * ((double)v - mean[y->label[i]]);
        }
        for (int a = 0; a < K; a++)
            if (cnt[a] > 0)
                SSB += cnt[a] * (mean[a] - all) * (mean[a] - all);
        *d1 = G - 1, *d2 = N - G;
        if (!(SSB > 0))
            return 0;
        return SSW > 0 ? (SSB / *d1) / (SSW / *d2) : INFINITY;
    }
    double N = 0, mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = X->data[i * X->ld + j];
        if (isfinite(v))
            N += 1, mx += v, my += y->value[i];
    }
    if (N < 3)
        return 0;
    mx /= N, my /= N;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = X->data[i * X->ld + j];
        if (isfinite(v)) {
            double a = (double)v - mx, b = y->value[i] - my;
            sxy += a * b, sxx += a * a, syy += b * b;
        }
    }
    *d1 = 1, *d2 = N - 2;
    if (!(sxx > 0 && syy > 0) || sxy == 0)
        return 0;
    double r2 = sxy * sxy / (sxx * syy);
    return r2 < 1 ? r2 / (1 - r2) * (N - 2) : INFINITY;
}

/* Population variance over the finite cells (two passes in double); 0 without finite cells. */
static double variance(const aml_matrix *X, int64_t j)
{
    double sum = 0, ss = 0, m = 0;
    for (int64_t i = 0; i < X->rows; i++) {
        float v = X->data[i * X->ld + j];
        if (isfinite(v))
            sum += v, m += 1;
    }
    if (m == 0)
        return 0;
    double mean = sum / m;
    for (int64_t i = 0; i < X->rows; i++) {
        float v = X->data[i * X->ld + j];
        if (isfinite(v))
            ss += ((double)v - mean) * ((double)v - mean);
    }
    return ss / m;
}

/* Whether categorical column j has at least two distinct codes. */
static int two_levels(const aml_matrix *X, int64_t j)
{
    float first = NAN;
    for (int64_t i = 0; i < X->rows; i++) {
        float v = X->data[i * X->ld + j];
        if (v != v)
            continue;
        if (first != first)
            first = v;
        else if (v != first)
            return 1;
    }
    return 0;
}

typedef struct {
    double score;
    int64_t col;
} ranked;

static int by_score(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->col > y->col) - (x->col < y->col);
}

static aml_status select_fit(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = f->in.h;
    aml_status st = fc_check_matrix(&f->in, c, X, "fit", 1);
    if (st != AML_OK)
        return st;
    const int64_t n = X->rows, d = f->in.n_in;
    const int uni = f->method == M_UNIVARIATE;
    for (int64_t i = 0; uni && i < n; i++) {
        int bad = f->kind == AML_TASK_REGRESSION ? !y || !y->value || !isfinite(y->value[i])
                                                 : !y || !y->label || y->label[i] < 0 || y->label[i] >= f->n_classes;
        if (bad) {
            h->set_error(c, "select: row %lld: %s", (long long)i,
                         f->kind == AML_TASK_REGRESSION ? "target value is missing or not finite"
                                                        : "class index outside [0, n_classes)");
            return AML_ERR_INPUT;
        }
    }
    clear_fit(f);
    uint8_t *keep = fc_alloc(h, (size_t)d), *spread = fc_alloc(h, (size_t)d);
    ranked *rank = fc_alloc(h, (size_t)d * sizeof *rank);
    double *score = fc_alloc(h, (size_t)d * sizeof *score);
    double *sums = fc_alloc(h, 2 * (size_t)(f->n_classes > 0 ? f->n_classes : 1) * sizeof *sums);
    f->kept = fc_alloc(h, (size_t)d * sizeof *f->kept);
    if (!keep || !spread || !rank || !score || !sums || !f->kept) {
        h->set_error(c, "select: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    int64_t n_rank = 0;
    for (int64_t j = 0; j < d; j++) {
        if (f->in.cat[j]) {
            int64_t L;
            if ((st = fc_column_levels(&f->in, c, X, j, &L)) != AML_OK)
                goto fail;
            spread[j] = keep[j] = (uint8_t)two_levels(X, j);
            score[j] = 0;
            continue;
        }
        score[j] = variance(X, j);
        spread[j] = keep[j] = score[j] > f->threshold;
        if (uni && spread[j]) {
            double d1, d2;
            score[j] = f_score(f, X, y, j, sums, &d1, &d2);
            if (f->k > 0)
                rank[n_rank].score = score[j], rank[n_rank++].col = j;
            else
                keep[j] = f_pvalue(score[j], d1, d2) < f->alpha;
        }
    }
    if (uni && f->k > 0) {
        qsort(rank, (size_t)n_rank, sizeof *rank, by_score);
        for (int64_t a = f->k; a < n_rank; a++)
            keep[rank[a].col] = 0;
    }
    for (int64_t j = 0; j < d; j++)
        if (keep[j])
            f->kept[f->n_out++] = j;
    if (f->n_out == 0) {
        /* the best numeric column: spread first, then score */
        int64_t best = -1;
        for (int64_t j = 0; j < d; j++)
            if (!f->in.cat[j] && (best < 0 || spread[j] > spread[best] ||
                                  (spread[j] == spread[best] && score[j] > score[best])))
                best = j;
        f->kept[f->n_out++] = best >= 0 ? best : 0;
    }
    fc_free(h, keep), fc_free(h, spread), fc_free(h, rank), fc_free(h, score), fc_free(h, sums);
    f->fitted = 1;
    return AML_OK;
fail:
    fc_free(h, keep), fc_free(h, spread), fc_free(h, rank), fc_free(h, score), fc_free(h, sums);
    clear_fit(f);
    return st;
}

static int64_t select_output_cols(const aml_feature *f) { return f->fitted ? f->n_out : 0; }

static aml_status select_transform(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "select: transform before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_check_matrix(&f->in, c, X, "transform", 0);
    if (st != AML_OK)
        return st;
    const int64_t oc = f->n_out;
    const int64_t *kept = f->kept;
    int nt = fc_threads(h, c, X->rows, 4096);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < X->rows; i++) {
        const float *x = X->data + i * X->ld;
        float *o = out + i * oc;
        for (int64_t a = 0; a < oc; a++)
            o[a] = x[kept[a]];
    }
    return AML_OK;
}

typedef struct {
    int32_t kind, n_classes, method, reserved;
    double threshold, alpha;
    int64_t k, n_out;
} select_blob;

static aml_status select_save(const aml_feature *f, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "select: save before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_write_header(&f->in, c, w, SELECT_MAGIC, SELECT_FORMAT_VERSION);
    select_blob b = {.kind = (int32_t)f->kind, .n_classes = f->n_classes, .method = f->method,
                     .threshold = f->threshold, .alpha = f->alpha, .k = f->k, .n_out = f->n_out};
    fc_put(h, w, &st, &b, sizeof b);
    fc_put(h, w, &st, f->kept, (size_t)f->n_out * sizeof *f->kept);
    if (st != AML_OK)
        h->set_error(c, "select: writing the blob failed");
    return st;
}

static aml_status select_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                              aml_feature **out)
{
    aml_feature *f = select_new(h);
    if (!f) {
        h->set_error(c, "select: out of memory");
        return AML_ERR_NOMEM;
    }
    uint32_t version;
    select_blob b;
    aml_status st = fc_read_header(&f->in, h, c, r, "select", SELECT_MAGIC, SELECT_FORMAT_VERSION, task, &version);
    if (st != AML_OK)
        goto fail;
    const int64_t d = f->in.n_in;
    if (h->read(r, &b, sizeof b) != AML_OK)
        goto truncated;
    if ((b.method != M_VARIANCE && b.method != M_UNIVARIATE) || b.n_out < 1 || b.n_out > d || b.k < 0 ||
        !(b.threshold >= 0) || !(b.alpha > 0 && b.alpha <= 1)) {
        h->set_error(c, "select: corrupt blob (method %d, %lld columns kept)", b.method, (long long)b.n_out);
        st = AML_ERR_FORMAT;
        goto fail;
    }
    f->kind = (aml_task_kind)b.kind, f->n_classes = b.n_classes, f->method = b.method;
    f->threshold = b.threshold, f->alpha = b.alpha, f->k = b.k, f->n_out = b.n_out;
    if (!(f->kept = fc_alloc(h, (size_t)b.n_out * sizeof *f->kept))) {
        h->set_error(c, "select: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    fc_get(h, r, &st, f->kept, (size_t)b.n_out * sizeof *f->kept);
    if (st != AML_OK)
        goto truncated;
    for (int64_t a = 0; a < b.n_out; a++)
        if (f->kept[a] < 0 || f->kept[a] >= d || (a > 0 && f->kept[a] <= f->kept[a - 1])) {
            h->set_error(c, "select: corrupt blob (kept column %lld)", (long long)a);
            st = AML_ERR_FORMAT;
            goto fail;
        }
    f->fitted = 1;
    *out = f;
    return AML_OK;
truncated:
    h->set_error(c, "select: truncated blob");
    st = AML_ERR_FORMAT;
fail:
    select_free(f);
    return st;
}

/* The kept columns keep their flags. */
static void select_output_categorical(const aml_feature *f, uint8_t *out)
{
    for (int64_t i = 0; i < f->n_out; i++)
        out[i] = f->in.cat[f->kept[i]];
}

static const aml_feature_vtable vtable = {
    .version = 2,
    .create = select_create,
    .fit = select_fit,
    .output_cols = select_output_cols,
    .transform = select_transform,
    .save = select_save,
    .load = select_load,
    .free = select_free,
    .output_categorical = select_output_categorical,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_FEATURE,
    .name = "select",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "keeps columns with spread, optionally the best univariate F scores (top k or p < alpha)",
    .params = params,
    .n_params = N_PARAMS,
    .feature = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
