/* The `impute` feature plugin: fills missing (NaN) cells with a per-column value learnt at fit time
 * and optionally appends missing-indicator columns.
 *
 * Output columns: first the n_in input columns in input order, each keeping its categorical flag
 * (a cell is its input value, or the column's fill value when the input is NaN; non-NaN values,
 * unseen level codes and infinities included, pass through unchanged); then, with add_indicator,
 * one numeric 0/1 column per input column that had at least one NaN at fit time, in input order
 * (1 = the input cell was NaN). Fill values: numeric columns by `strategy` (mean, median with the
 * two middle values averaged, or most_frequent with ties to the smallest value) over the finite
 * cells; categorical columns always by the most frequent level code (ties to the smallest code);
 * a column with no finite cell at fit time is filled with 0. */
#include "../common/feature_common.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define IMPUTE_MAGIC 0x5455504d494c4d41ULL /* "AMLIMPUT" */
#define IMPUTE_FORMAT_VERSION 1u

enum { P_STRATEGY, P_ADD_INDICATOR, N_PARAMS };
enum { S_MEAN, S_MEDIAN, S_MOST_FREQUENT };

static const char *const strategy_choices[] = {"mean", "median", "most_frequent"};

static const aml_param_def params[N_PARAMS] = {
    [P_STRATEGY] = {.name = "strategy", .type = AML_PARAM_CHOICE, .def = S_MEDIAN, .choices = strategy_choices,
                    .n_choices = 3, .help = "fill value of numeric columns (categorical: always most_frequent)"},
    [P_ADD_INDICATOR] = {.name = "add_indicator", .type = AML_PARAM_BOOL, .lo = 0, .hi = 1, .def = 1,
                         .help = "append a 0/1 column per column that had missing values at fit time"},
};

struct aml_feature {
    fc_input in;
    int strategy, add_indicator;
    int fitted;
    float *fill;         /* n_in */
    int64_t n_ind;       /* indicator columns */
    int64_t *ind_col;    /* n_ind input columns, ascending */
};

static void clear_fit(aml_feature *f)
{
    fc_free(f->in.h, f->fill), fc_free(f->in.h, f->ind_col);
    f->fill = NULL, f->ind_col = NULL, f->n_ind = 0, f->fitted = 0;
}

static void impute_free(aml_feature *f)
{
    if (!f)
        return;
    const aml_host *h = f->in.h;
    clear_fit(f);
    fc_input_release(&f->in);
    h->dealloc(f);
}

static aml_feature *impute_new(const aml_host *h)
{
    aml_feature *f = h->alloc(sizeof *f);
    if (f)
        memset(f, 0, sizeof *f), f->in.h = h;
    return f;
}

static aml_status impute_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                                aml_feature **out)
{
    aml_feature *f = impute_new(h);
    if (!f) {
        h->set_error(c, "impute: out of memory");
        return AML_ERR_NOMEM;
    }
    double s, ind;
    aml_status st = fc_input_init(&f->in, h, c, "impute", task);
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_STRATEGY, p, &s);
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_ADD_INDICATOR, p, &ind);
    if (st != AML_OK) {
        impute_free(f);
        return st;
    }
    f->strategy = (int)s, f->add_indicator = (int)ind;
    *out = f;
    return AML_OK;
}

/* The most frequent value of sorted v[0..n); ties go to the smallest value. */
static float mode_sorted(const float *v, int64_t n)
{
    float best = v[0];
    int64_t best_run = 0;
    for (int64_t i = 0; i < n;) {
        int64_t k = i;
        while (k < n && v[k] == v[i])
            k++;
        if (k - i > best_run)
            best_run = k - i, best = v[i];
        i = k;
    }
    return best;
}

static aml_status impute_fit(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = f->in.h;
    aml_status st = fc_check_matrix(&f->in, c, X, "fit", 1);
    if (st != AML_OK)
        return st;
    clear_fit(f);
    const int64_t n = X->rows, d = f->in.n_in;
    float *col = fc_alloc(h, (size_t)n * sizeof *col);
    f->fill = fc_alloc(h, (size_t)d * sizeof *f->fill);
    f->ind_col = fc_alloc(h, (size_t)d * sizeof *f->ind_col);
    if (!col || !f->fill || !f->ind_col) {
        h->set_error(c, "impute: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    for (int64_t j = 0; j < d; j++) {
        if (f->in.cat[j]) {
            int64_t L;
            if ((st = fc_column_levels(&f->in, c, X, j, &L)) != AML_OK)
                goto fail;
        }
        int64_t m = 0, missing = 0;
        double sum = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = X->data[i * X->ld + j];
            missing += v != v;
            if (isfinite(v))
                col[m++] = v, sum += v;
        }
        if (missing > 0 && f->add_indicator)
            f->ind_col[f->n_ind++] = j;
        if (m == 0) {
            f->fill[j] = 0.0f; /* nothing to learn from: a neutral value, never NaN */
            continue;
        }
        int strategy = f->in.cat[j] ? S_MOST_FREQUENT : f->strategy;
        if (strategy == S_MEAN) {
            f->fill[j] = (float)(sum / (double)m);
        } else {
            fc_sort_floats(col, m);
            f->fill[j] = strategy == S_MEDIAN ? (float)fc_quantile_sorted(col, m, 0.5) : mode_sorted(col, m);
        }
    }
    fc_free(h, col);
    f->fitted = 1;
    return AML_OK;
fail:
    fc_free(h, col);
    clear_fit(f);
    return st;
}

static int64_t impute_output_cols(const aml_feature *f) { return f->fitted ? f->in.n_in + f->n_ind : 0; }

static aml_status impute_transform(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "impute: transform before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_check_matrix(&f->in, c, X, "transform", 0);
    if (st != AML_OK)
        return st;
    const int64_t d = f->in.n_in, oc = d + f->n_ind;
    const float *fill = f->fill;
    int nt = fc_threads(h, c, X->rows, 4096);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < X->rows; i++) {
        const float *x = X->data + i * X->ld;
        float *o = out + i * oc;
        for (int64_t j = 0; j < d; j++)
            o[j] = x[j] == x[j] ? x[j] : fill[j];
        for (int64_t k = 0; k < f->n_ind; k++)
            o[d + k] = x[f->ind_col[k]] != x[f->ind_col[k]] ? 1.0f : 0.0f;
    }
    return AML_OK;
}

typedef struct {
    int32_t strategy, add_indicator;
    int64_t n_ind;
} impute_blob;

static aml_status impute_save(const aml_feature *f, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "impute: save before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_write_header(&f->in, c, w, IMPUTE_MAGIC, IMPUTE_FORMAT_VERSION);
    if (st != AML_OK)
        return st;
    impute_blob b = {.strategy = f->strategy, .add_indicator = f->add_indicator, .n_ind = f->n_ind};
    fc_put(h, w, &st, &b, sizeof b);
    fc_put(h, w, &st, f->fill, (size_t)f->in.n_in * sizeof *f->fill);
    fc_put(h, w, &st, f->ind_col, (size_t)f->n_ind * sizeof *f->ind_col);
    if (st != AML_OK)
        h->set_error(c, "impute: writing the blob failed");
    return st;
}

static aml_status impute_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                              aml_feature **out)
{
    aml_feature *f = impute_new(h);
    if (!f) {
        h->set_error(c, "impute: out of memory");
        return AML_ERR_NOMEM;
    }
    uint32_t version;
    aml_status st = fc_read_header(&f->in, h, c, r, "impute", IMPUTE_MAGIC, IMPUTE_FORMAT_VERSION, task, &version);
    if (st != AML_OK)
        goto fail;
    const int64_t d = f->in.n_in;
    impute_blob b;
    if (h->read(r, &b, sizeof b) != AML_OK)
        goto truncated;
    if (b.strategy < 0 || b.strategy > S_MOST_FREQUENT || (b.add_indicator != 0 && b.add_indicator != 1) ||
        b.n_ind < 0 || b.n_ind > d || (!b.add_indicator && b.n_ind)) {
        h->set_error(c, "impute: corrupt blob (strategy %d, %lld indicator columns)", b.strategy, (long long)b.n_ind);
        st = AML_ERR_FORMAT;
        goto fail;
    }
    f->strategy = b.strategy, f->add_indicator = b.add_indicator, f->n_ind = b.n_ind;
    f->fill = fc_alloc(h, (size_t)d * sizeof *f->fill);
    f->ind_col = fc_alloc(h, (size_t)(b.n_ind ? b.n_ind : 1) * sizeof *f->ind_col);
    if (!f->fill || !f->ind_col) {
        h->set_error(c, "impute: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    st = AML_OK;
    fc_get(h, r, &st, f->fill, (size_t)d * sizeof *f->fill);
    fc_get(h, r, &st, f->ind_col, (size_t)b.n_ind * sizeof *f->ind_col);
    if (st != AML_OK)
        goto truncated;
    for (int64_t k = 0; k < b.n_ind; k++)
        if (f->ind_col[k] < 0 || f->ind_col[k] >= d || (k > 0 && f->ind_col[k] <= f->ind_col[k - 1])) {
            h->set_error(c, "impute: corrupt blob (indicator column %lld)", (long long)k);
            st = AML_ERR_FORMAT;
            goto fail;
        }
    for (int64_t j = 0; j < d; j++)
        if (!isfinite(f->fill[j])) {
            h->set_error(c, "impute: corrupt blob (fill value of column %lld)", (long long)j);
            st = AML_ERR_FORMAT;
            goto fail;
        }
    f->fitted = 1;
    *out = f;
    return AML_OK;
truncated:
    h->set_error(c, "impute: truncated blob");
    st = AML_ERR_FORMAT;
fail:
    impute_free(f);
    return st;
}

/* The inputs keep their flags; the indicator columns are numeric. */
static void impute_output_categorical(const aml_feature *f, uint8_t *out)
{
    memcpy(out, f->in.cat, (size_t)f->in.n_in);
    memset(out + f->in.n_in, 0, (size_t)f->n_ind);
}

static const aml_feature_vtable vtable = {
    .version = 2,
    .create = impute_create,
    .fit = impute_fit,
    .output_cols = impute_output_cols,
    .transform = impute_transform,
    .save = impute_save,
    .load = impute_load,
    .free = impute_free,
    .output_categorical = impute_output_categorical,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_FEATURE,
    .name = "impute",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "fills missing cells (mean / median / most frequent) and adds missing-indicator columns",
    .params = params,
    .n_params = N_PARAMS,
    .feature = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
