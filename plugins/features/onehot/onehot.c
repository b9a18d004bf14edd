/* The `onehot` feature plugin: replaces each categorical column by 0/1 indicator columns for its
 * most frequent levels at fit time plus one "other" column.
 *
 * Output columns, in input order ("in place"): a numeric input column is passed through unchanged
 * as one numeric column; a categorical column j becomes K_j + 1 numeric 0/1 columns: one per kept
 * level in ascending code order, then "other". The kept levels are the (at most) max_levels most
 * frequent codes seen at fit time (count ties go to the smaller code). At transform time a kept
 * code sets its column to 1; any other code (rare at fit time, unseen >= L, negative, fractional,
 * infinite) sets "other" to 1; NaN (missing) gives all zeros. A categorical column with no code at
 * fit time has K_j = 0 (its block is the "other" column alone). Every output column is numeric. */
#include "../common/feature_common.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ONEHOT_MAGIC 0x544f48454e4f4c4dULL /* "MLONEHOT" */
#define ONEHOT_FORMAT_VERSION 1u
#define ONEHOT_MAX_LEVELS 1024

enum { P_MAX_LEVELS, N_PARAMS };

static const aml_param_def params[N_PARAMS] = {
    [P_MAX_LEVELS] = {.name = "max_levels", .type = AML_PARAM_INT, .lo = 1, .hi = ONEHOT_MAX_LEVELS, .def = 16,
                      .log_scale = 1, .cost = 1,
                      .help = "indicator columns per categorical column (its most frequent levels) before \"other\""},
};

struct aml_feature {
    fc_input in;
    int max_levels;
    int fitted;
    int64_t n_out;
    int64_t *n_kept;    /* n_in: K_j (0 for numeric columns) */
    int64_t *first;     /* n_in: output column of column j's block */
    int32_t *kept;      /* sum K_j kept level codes, column by column, ascending */
    int64_t *kept_at;   /* n_in: offset of column j's codes in kept[] */
    int64_t *L;         /* n_in: lookup size of column j (1 + largest kept code) */
    int32_t **slot;     /* n_in: code -> position in the block, or -1 (other); NULL for numeric */
};

static void clear_fit(aml_feature *f)
{
    const aml_host *h = f->in.h;
    if (f->slot)
        for (int64_t j = 0; j < f->in.n_in; j++)
            fc_free(h, f->slot[j]);
    fc_free(h, f->slot), fc_free(h, f->n_kept), fc_free(h, f->kept);
    f->slot = NULL, f->n_kept = NULL, f->kept = NULL;
    f->first = f->kept_at = f->L = NULL, f->n_out = 0, f->fitted = 0;
}

static void onehot_free(aml_feature *f)
{
    if (!f)
        return;
    const aml_host *h = f->in.h;
    clear_fit(f);
    fc_input_release(&f->in);
    h->dealloc(f);
}

static aml_feature *onehot_new(const aml_host *h)
{
    aml_feature *f = h->alloc(sizeof *f);
    if (f)
        memset(f, 0, sizeof *f), f->in.h = h;
    return f;
}

static aml_status onehot_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                                aml_feature **out)
{
    aml_feature *f = onehot_new(h);
    if (!f) {
        h->set_error(c, "onehot: out of memory");
        return AML_ERR_NOMEM;
    }
    double ml;
    aml_status st = fc_input_init(&f->in, h, c, "onehot", task);
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_MAX_LEVELS, p, &ml);
    if (st != AML_OK) {
        onehot_free(f);
        return st;
    }
    f->max_levels = (int)ml;
    *out = f;
    return AML_OK;
}

/* Per-column arrays (the kept codes come later, once their total is known). */
static aml_status alloc_columns(aml_feature *f, aml_host_ctx *c)
{
    const int64_t d = f->in.n_in;
    f->n_kept = fc_alloc(f->in.h, 4 * (size_t)d * sizeof(int64_t));
    f->slot = fc_alloc(f->in.h, (size_t)d * sizeof *f->slot);
    if (!f->n_kept || !f->slot) {
        f->in.h->set_error(c, "onehot: out of memory");
        return AML_ERR_NOMEM;
    }
    memset(f->n_kept, 0, 4 * (size_t)d * sizeof(int64_t));
    memset(f->slot, 0, (size_t)d * sizeof *f->slot);
    f->first = f->n_kept + d, f->kept_at = f->first + d, f->L = f->kept_at + d;
    return AML_OK;
}

/* Builds the output layout and the code -> slot lookups from n_kept[] and kept[]. */
static aml_status build_layout(aml_feature *f, aml_host_ctx *c)
{
    int64_t at = 0, pos = 0;
    for (int64_t j = 0; j < f->in.n_in; j++) {
        f->first[j] = pos, f->kept_at[j] = at;
        if (!f->in.cat[j]) {
            pos++;
            continue;
        }
        const int64_t K = f->n_kept[j];
        f->L[j] = K > 0 ? (int64_t)f->kept[at + K - 1] + 1 : 0;
        f->slot[j] = fc_alloc(f->in.h, (size_t)f->L[j] * sizeof(int32_t));
        if (!f->slot[j]) {
            f->in.h->set_error(c, "onehot: out of memory");
            return AML_ERR_NOMEM;
        }
        for (int64_t k = 0; k < f->L[j]; k++)
            f->slot[j][k] = -1;
        for (int64_t k = 0; k < K; k++)
            f->slot[j][f->kept[at + k]] = (int32_t)k;
        at += K, pos += K + 1;
    }
    f->n_out = pos;
    return AML_OK;
}

typedef struct {
    int64_t count;
    int32_t code;
} level_count;

static int by_count_then_code(const void *a, const void *b)
{
    const level_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->code > y->code) - (x->code < y->code);
}

static int by_code(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static aml_status onehot_fit(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = f->in.h;
    aml_status st = fc_check_matrix(&f->in, c, X, "fit", 1);
    if (st != AML_OK)
        return st;
    clear_fit(f);
    const int64_t n = X->rows, d = f->in.n_in;
    level_count *counts = NULL;
    int64_t max_L = 0, total = 0;
    if ((st = alloc_columns(f, c)) != AML_OK)
        goto fail;
    for (int64_t j = 0; j < d; j++)
        if (f->in.cat[j]) {
            if ((st = fc_column_levels(&f->in, c, X, j, &f->L[j])) != AML_OK)
                goto fail;
            max_L = f->L[j] > max_L ? f->L[j] : max_L;
            total += f->L[j] < f->max_levels ? f->L[j] : f->max_levels;
        }
    counts = fc_alloc(h, (size_t)max_L * sizeof *counts);
    f->kept = fc_alloc(h, (size_t)total * sizeof *f->kept);
    if (!counts || !f->kept) {
        h->set_error(c, "onehot: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    int64_t at = 0;
    for (int64_t j = 0; j < d; j++) {
        if (!f->in.cat[j])
            continue;
        const int64_t L = f->L[j];
        for (int64_t k = 0; k < L; k++)
            counts[k].count = 0, counts[k].code = (int32_t)k;
        for (int64_t i = 0; i < n; i++) {
            float v = X->data[i * X->ld + j];
            if (v == v)
                counts[(int64_t)v].count++;
        }
        qsort(counts, (size_t)L, sizeof *counts, by_count_then_code);
        int64_t K = 0;
        while (K < L && K < f->max_levels && counts[K].count > 0)
            f->kept[at + K] = counts[K].code, K++;
        qsort(f->kept + at, (size_t)K, sizeof *f->kept, by_code);
        f->n_kept[j] = K, at += K;
    }
    if ((st = build_layout(f, c)) != AML_OK)
        goto fail;
    fc_free(h, counts);
    f->fitted = 1;
    return AML_OK;
fail:
    fc_free(h, counts);
    clear_fit(f);
    return st;
}

static int64_t onehot_output_cols(const aml_feature *f) { return f->fitted ? f->n_out : 0; }

static aml_status onehot_transform(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "onehot: transform before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_check_matrix(&f->in, c, X, "transform", 0);
    if (st != AML_OK)
        return st;
    const int64_t d = f->in.n_in, oc = f->n_out;
    int nt = fc_threads(h, c, X->rows, 4096);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < X->rows; i++) {
        const float *x = X->data + i * X->ld;
        float *o = out + i * oc;
        for (int64_t j = 0; j < d; j++) {
            float *b = o + f->first[j];
            if (!f->in.cat[j]) {
                b[0] = x[j];
                continue;
            }
            const int64_t K = f->n_kept[j];
            for (int64_t k = 0; k <= K; k++)
                b[k] = 0.0f;
            if (x[j] != x[j])
                continue;
            int64_t code = fc_level(x[j], f->L[j]);
            int32_t s = code >= 0 ? f->slot[j][code] : -1;
            b[s >= 0 ? s : K] = 1.0f;
        }
    }
    return AML_OK;
}

static aml_status onehot_save(const aml_feature *f, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "onehot: save before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_write_header(&f->in, c, w, ONEHOT_MAGIC, ONEHOT_FORMAT_VERSION);
    int32_t ml = f->max_levels;
    int64_t total = 0;
    for (int64_t j = 0; j < f->in.n_in; j++)
        total += f->n_kept[j];
    fc_put(h, w, &st, &ml, sizeof ml);
    fc_put(h, w, &st, f->n_kept, (size_t)f->in.n_in * sizeof *f->n_kept);
    fc_put(h, w, &st, f->kept, (size_t)total * sizeof *f->kept);
    if (st != AML_OK)
        h->set_error(c, "onehot: writing the blob failed");
    return st;
}

static aml_status onehot_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                              aml_feature **out)
{
    aml_feature *f = onehot_new(h);
    if (!f) {
        h->set_error(c, "onehot: out of memory");
        return AML_ERR_NOMEM;
    }
    uint32_t version;
    int32_t ml;
    aml_status st = fc_read_header(&f->in, h, c, r, "onehot", ONEHOT_MAGIC, ONEHOT_FORMAT_VERSION, task, &version);
    if (st != AML_OK || (st = alloc_columns(f, c)) != AML_OK)
        goto fail;
    const int64_t d = f->in.n_in;
    fc_get(h, r, &st, &ml, sizeof ml);
    fc_get(h, r, &st, f->n_kept, (size_t)d * sizeof *f->n_kept);
    if (st != AML_OK)
        goto truncated;
    int64_t total = 0;
    for (int64_t j = 0; j < d; j++) {
        if (ml < 1 || ml > ONEHOT_MAX_LEVELS || f->n_kept[j] < 0 || f->n_kept[j] > ml ||
            (!f->in.cat[j] && f->n_kept[j])) {
            h->set_error(c, "onehot: corrupt blob (levels of column %lld)", (long long)j);
            st = AML_ERR_FORMAT;
            goto fail;
        }
        total += f->n_kept[j];
    }
    f->max_levels = ml;
    if (!(f->kept = fc_alloc(h, (size_t)total * sizeof *f->kept))) {
        h->set_error(c, "onehot: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    fc_get(h, r, &st, f->kept, (size_t)total * sizeof *f->kept);
    if (st != AML_OK)
        goto truncated;
    for (int64_t j = 0, at = 0; j < d; at += f->n_kept[j], j++)
        for (int64_t k = 0; k < f->n_kept[j]; k++) {
            int32_t v = f->kept[at + k];
            if (v < 0 || v >= FC_MAX_LEVEL || (k > 0 && v <= f->kept[at + k - 1])) {
                h->set_error(c, "onehot: corrupt blob (level code of column %lld)", (long long)j);
                st = AML_ERR_FORMAT;
                goto fail;
            }
        }
    if ((st = build_layout(f, c)) != AML_OK)
        goto fail;
    f->fitted = 1;
    *out = f;
    return AML_OK;
truncated:
    h->set_error(c, "onehot: truncated blob");
    st = AML_ERR_FORMAT;
fail:
    onehot_free(f);
    return st;
}

/* Indicator columns and passed-through numeric ones: all numeric. */
static void onehot_output_categorical(const aml_feature *f, uint8_t *out) { memset(out, 0, (size_t)f->n_out); }

static const aml_feature_vtable vtable = {
    .version = 2,
    .create = onehot_create,
    .fit = onehot_fit,
    .output_cols = onehot_output_cols,
    .transform = onehot_transform,
    .save = onehot_save,
    .load = onehot_load,
    .free = onehot_free,
    .output_categorical = onehot_output_categorical,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_FEATURE,
    .name = "onehot",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "0/1 columns for the most frequent levels of each categorical column, plus \"other\"",
    .params = params,
    .n_params = N_PARAMS,
    .feature = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
