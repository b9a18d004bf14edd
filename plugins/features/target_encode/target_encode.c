/* The `target_encode` feature plugin: replaces each categorical column by the smoothed mean of the
 * target per level, (sum + m * prior) / (count + m) with m = `smoothing`; a level never seen (or
 * seen with m = 0 and no rows) gets the prior. NaN is a level of its own ("missing"), encoded from
 * the rows that were NaN at fit time (the prior when there were none).
 *
 * Encoded values: regression: one column, the mean target. Classification with 2 classes: one
 * column, P(class 1 | level); with K > 2 classes: K - 1 columns, P(class c | level) for c = 0..K-2.
 * Output columns, in input order ("in place"): a numeric column is passed through unchanged as one
 * column; a categorical column becomes its encoding column(s). Every output column is numeric.
 *
 * Out of fold: fit splits its rows into `folds` folds (a permutation drawn from the task seed;
 * fewer folds when there are fewer rows) and also learns, per fold, the encoding from the other
 * folds' rows only (prior included). The ABI's fit returns no rows, so: transform of the very
 * matrix given to fit (same data pointer, rows, cols, ld and the same cell contents, checked by a
 * hash) returns each row's out-of-fold encoding, so a training row never sees its own target.
 * Every other matrix, and every matrix after save/load (the out-of-fold tables are not saved), gets
 * the encoding learnt from all fit rows. Sample weights are ignored. */
#include "../common/feature_common.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define TE_MAGIC 0x4e45544745544c4dULL /* "MLTEGTEN" */
#define TE_FORMAT_VERSION 1u
#define TE_MAX_FOLDS 20
#define TE_MAX_CLASSES (1 << 16)

enum { P_SMOOTHING, P_FOLDS, N_PARAMS };

static const aml_param_def params[N_PARAMS] = {
    [P_SMOOTHING] = {.name = "smoothing", .type = AML_PARAM_FLOAT, .lo = 0, .hi = 100, .def = 10,
                     .help = "m: a level's mean is pulled towards the prior as if m prior rows were added"},
    [P_FOLDS] = {.name = "folds", .type = AML_PARAM_INT, .lo = 2, .hi = TE_MAX_FOLDS, .def = 5,
                 .help = "folds of the out-of-fold encoding seen by the training rows"},
};

struct aml_feature {
    fc_input in;
    aml_task_kind kind;
    int n_classes, n_enc; /* n_enc: encoding columns per categorical column */
    double smoothing;
    int folds;
    uint64_t seed;
    int fitted;
    int64_t n_out, n_slots;
    int64_t *L;        /* n_in: levels of column j (0 for numeric) */
    int64_t *base;     /* n_in: first slot of column j; its slots are levels 0..L-1, then missing */
    int64_t *first;    /* n_in: output column of column j */
    float *prior;      /* n_enc */
    float *table;      /* n_slots x n_enc: the encoding from every fit row */
    /* out of fold, only between fit and free (not saved) */
    int k_oof;
    float *oof_prior;  /* k_oof x n_enc */
    float *oof_table;  /* k_oof x n_slots x n_enc */
    uint8_t *fold_of;  /* fit rows */
    const float *fit_data;
    int64_t fit_rows, fit_ld;
    uint64_t fit_hash;
};

static void clear_fit(aml_feature *f)
{
    const aml_host *h = f->in.h;
    fc_free(h, f->L), fc_free(h, f->prior), fc_free(h, f->table);
    fc_free(h, f->oof_prior), fc_free(h, f->oof_table), fc_free(h, f->fold_of);
    f->L = f->base = f->first = NULL, f->prior = f->table = f->oof_prior = f->oof_table = NULL;
    f->fold_of = NULL, f->fit_data = NULL, f->k_oof = 0, f->fitted = 0, f->n_out = f->n_slots = 0;
}

static void te_free(aml_feature *f)
{
    if (!f)
        return;
    const aml_host *h = f->in.h;
    clear_fit(f);
    fc_input_release(&f->in);
    h->dealloc(f);
}

static aml_feature *te_new(const aml_host *h)
{
    aml_feature *f = h->alloc(sizeof *f);
    if (f)
        memset(f, 0, sizeof *f), f->in.h = h;
    return f;
}

static int check_kind(const aml_host *h, aml_host_ctx *c, aml_task_kind kind, int n_classes)
{
    if ((kind == AML_TASK_REGRESSION && n_classes == 0) ||
        (kind == AML_TASK_CLASSIFICATION && n_classes >= 2 && n_classes <= TE_MAX_CLASSES))
        return 1;
    h->set_error(c, "target_encode: needs a regression task or a classification task with 2 to %d classes",
                 TE_MAX_CLASSES);
    return 0;
}

static aml_status te_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                            aml_feature **out)
{
    aml_feature *f = te_new(h);
    if (!f) {
        h->set_error(c, "target_encode: out of memory");
        return AML_ERR_NOMEM;
    }
    double m, k;
    aml_status st = fc_input_init(&f->in, h, c, "target_encode", task);
    if (st == AML_OK && !check_kind(h, c, task->kind, task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0))
        st = AML_ERR_INPUT;
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_SMOOTHING, p, &m);
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_FOLDS, p, &k);
    if (st != AML_OK) {
        te_free(f);
        return st;
    }
    f->kind = task->kind;
    f->n_classes = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 0;
    f->n_enc = f->n_classes > 2 ? f->n_classes - 1 : 1;
    f->smoothing = m, f->folds = (int)k, f->seed = task->seed;
    *out = f;
    return AML_OK;
}

/* Column arrays and the output layout from L[]. */
static aml_status alloc_layout(aml_feature *f, aml_host_ctx *c)
{
    const int64_t d = f->in.n_in;
    int64_t *L = f->L ? f->L : fc_alloc(f->in.h, 3 * (size_t)d * sizeof(int64_t));
    if (!L) {
        f->in.h->set_error(c, "target_encode: out of memory");
        return AML_ERR_NOMEM;
    }
    if (!f->L)
        memset(L, 0, 3 * (size_t)d * sizeof(int64_t));
    f->L = L, f->base = L + d, f->first = L + 2 * d;
    int64_t slots = 0, pos = 0;
    for (int64_t j = 0; j < d; j++) {
        f->base[j] = slots, f->first[j] = pos;
        if (f->in.cat[j])
            slots += f->L[j] + 1, pos += f->n_enc;
        else
            pos++;
    }
    f->n_slots = slots, f->n_out = pos;
    return AML_OK;
}

/* The target of row i as n_enc components. */
static void target_row(const aml_feature *f, const aml_target *y, int64_t i, double *t)
{
    if (f->kind == AML_TASK_REGRESSION) {
        t[0] = y->value[i];
    } else if (f->n_classes == 2) {
        t[0] = y->label[i] == 1;
    } else {
        for (int e = 0; e < f->n_enc; e++)
            t[e] = y->label[i] == e;
    }
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* FNV-1a over the bits of every cell, row by row. */
static uint64_t matrix_hash(const aml_matrix *X)
{
    uint64_t hsh = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < X->rows; i++) {
        const uint32_t *x = (const uint32_t *)(const void *)(X->data + i * X->ld);
        for (int64_t j = 0; j < X->cols; j++)
            hsh = (hsh ^ x[j]) * 0x100000001b3ULL;
    }
    return hsh;
}

/* Slot of a cell: its level, the missing slot for NaN, or -1 (unseen: the prior). */
static inline int64_t cell_slot(const aml_feature *f, int64_t j, float v)
{
    if (v != v)
        return f->base[j] + f->L[j];
    int64_t k = fc_level(v, f->L[j]);
    return k >= 0 ? f->base[j] + k : -1;
}

/* Smoothed encodings of every slot from counts/sums (n_slots x (1 + n_enc)) and a prior. */
static void encode(const aml_feature *f, const double *stats, const double *prior, float *table)
{
    const int ne = f->n_enc;
    for (int64_t s = 0; s < f->n_slots; s++) {
        const double *st = stats + s * (1 + ne);
        const double denom = st[0] + f->smoothing;
        for (int e = 0; e < ne; e++)
            table[s * ne + e] = (float)(denom > 0 ? (st[1 + e] + f->smoothing * prior[e]) / denom : prior[e]);
    }
}

/* Prior (mean target) from totals: count and n_enc sums; with no rows, 0 or 1/K. */
static void prior_of(const aml_feature *f, const double *tot, double *prior)
{
    for (int e = 0; e < f->n_enc; e++)
        prior[e] = tot[0] > 0 ? tot[1 + e] / tot[0] : f->kind == AML_TASK_REGRESSION ? 0.0 : 1.0 / f->n_classes;
}

static aml_status te_fit(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = f->in.h;
    aml_status st = fc_check_matrix(&f->in, c, X, "fit", 1);
    if (st != AML_OK)
        return st;
    const int64_t n = X->rows, d = f->in.n_in;
    const int ne = f->n_enc;
    for (int64_t i = 0; i < n; i++) {
        int bad = f->kind == AML_TASK_REGRESSION
                      ? !y || !y->value || !isfinite(y->value[i])
                      : !y || !y->label || y->label[i] < 0 || y->label[i] >= f->n_classes;
        if (bad) {
            h->set_error(c, "target_encode: row %lld: %s", (long long)i,
                         f->kind == AML_TASK_REGRESSION ? "target value is missing or not finite"
                                                        : "class index outside [0, n_classes)");
            return AML_ERR_INPUT;
        }
    }
    clear_fit(f);
    double *stats = NULL, *acc = NULL, *tot = NULL, *pri = NULL, *t = NULL;
    int64_t *perm = NULL;
    if ((st = alloc_layout(f, c)) != AML_OK)
        goto fail;
    for (int64_t j = 0; j < d; j++)
        if (f->in.cat[j] && (st = fc_column_levels(&f->in, c, X, j, &f->L[j])) != AML_OK)
            goto fail;
    if ((st = alloc_layout(f, c)) != AML_OK)
        goto fail;
    const int k = n < f->folds ? (int)n : f->folds;
    const size_t row = 1 + (size_t)ne, per_fold = (size_t)f->n_slots * row;
    f->k_oof = k;
    stats = fc_alloc(h, (size_t)k * per_fold * sizeof *stats); /* per fold: count and sums per slot */
    acc = fc_alloc(h, per_fold * sizeof *acc);
    tot = fc_alloc(h, ((size_t)k + 1) * row * sizeof *tot);
    pri = fc_alloc(h, (size_t)ne * sizeof *pri);
    t = fc_alloc(h, (size_t)ne * sizeof *t);
    perm = fc_alloc(h, (size_t)n * sizeof *perm);
    f->prior = fc_alloc(h, (size_t)ne * sizeof *f->prior);
    f->table = fc_alloc(h, (size_t)f->n_slots * ne * sizeof *f->table);
    f->oof_prior = fc_alloc(h, (size_t)k * ne * sizeof *f->oof_prior);
    f->oof_table = fc_alloc(h, (size_t)k * f->n_slots * ne * sizeof *f->oof_table);
    f->fold_of = fc_alloc(h, (size_t)n);
    if (!stats || !acc || !tot || !pri || !t || !perm || !f->prior || !f->table || !f->oof_prior || !f->oof_table ||
        !f->fold_of) {
        h->set_error(c, "target_encode: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    /* folds: a seeded Fisher-Yates permutation dealt round-robin */
    uint64_t rs = f->seed ^ 0x7465656e636f6465ULL;
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t r = (int64_t)(splitmix(&rs) % (uint64_t)(i + 1)), tmp = perm[i];
        perm[i] = perm[r], perm[r] = tmp;
    }
    for (int64_t i = 0; i < n; i++)
        f->fold_of[perm[i]] = (uint8_t)(i % k);
    memset(stats, 0, (size_t)k * per_fold * sizeof *stats);
    memset(tot, 0, ((size_t)k + 1) * row * sizeof *tot);
    for (int64_t i = 0; i < n; i++) {
        double *fs = stats + f->fold_of[i] * per_fold, *ft = tot + f->fold_of[i] * row;
        target_row(f, y, i, t);
        ft[0] += 1;
        for (int e = 0; e < ne; e++)
            ft[1 + e] += t[e];
        for (int64_t j = 0; j < d; j++) {
            if (!f->in.cat[j])
                continue;
            double *s = fs + cell_slot(f, j, X->data[i * X->ld + j]) * row;
            s[0] += 1;
            for (int e = 0; e < ne; e++)
                s[1 + e] += t[e];
        }
    }
    /* out of fold b: the sum of the other folds, added in fold order (deterministic); b == k sums
     * every fold: the full encoding */
    for (int b = 0; b <= k; b++) {
        double *tt = tot + (size_t)k * row; /* scratch row after the per-fold totals */
        memset(acc, 0, per_fold * sizeof *acc);
        memset(tt, 0, row * sizeof *tt);
        for (int g = 0; g < k; g++) {
            if (g == b)
                continue;
            const double *gs = stats + g * per_fold, *gt = tot + g * row;
            for (size_t s = 0; s < per_fold; s++)
                acc[s] += gs[s];
            for (size_t e = 0; e < row; e++)
                tt[e] += gt[e];
        }
        prior_of(f, tt, pri);
        if (b < k) {
            encode(f, acc, pri, f->oof_table + (size_t)b * f->n_slots * ne);
            for (int e = 0; e < ne; e++)
                f->oof_prior[b * ne + e] = (float)pri[e];
        } else {
            encode(f, acc, pri, f->table);
            for (int e = 0; e < ne; e++)
                f->prior[e] = (float)pri[e];
        }
    }
    f->fit_data = X->data, f->fit_rows = n, f->fit_ld = X->ld, f->fit_hash = matrix_hash(X);
    fc_free(h, stats), fc_free(h, acc), fc_free(h, tot), fc_free(h, pri), fc_free(h, t), fc_free(h, perm);
    f->fitted = 1;
    return AML_OK;
fail:
    fc_free(h, stats), fc_free(h, acc), fc_free(h, tot), fc_free(h, pri), fc_free(h, t), fc_free(h, perm);
    clear_fit(f);
    return st;
}

static int64_t te_output_cols(const aml_feature *f) { return f->fitted ? f->n_out : 0; }

/* Whether X is the matrix fit was given (then its rows get their out-of-fold encoding). */
static int is_fit_matrix(const aml_feature *f, const aml_matrix *X)
{
    return f->fold_of && X->data == f->fit_data && X->rows == f->fit_rows && X->ld == f->fit_ld &&
           matrix_hash(X) == f->fit_hash;
}

static aml_status te_transform(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "target_encode: transform before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_check_matrix(&f->in, c, X, "transform", 0);
    if (st != AML_OK)
        return st;
    const int64_t d = f->in.n_in, oc = f->n_out;
    const int ne = f->n_enc;
    const int oof = is_fit_matrix(f, X);
    int nt = fc_threads(h, c, X->rows, 4096);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < X->rows; i++) {
        const float *x = X->data + i * X->ld;
        float *o = out + i * oc;
        const float *table = f->table, *prior = f->prior;
        if (oof) {
            table = f->oof_table + (size_t)f->fold_of[i] * f->n_slots * ne;
            prior = f->oof_prior + (size_t)f->fold_of[i] * ne;
        }
        for (int64_t j = 0; j < d; j++) {
            float *b = o + f->first[j];
            if (!f->in.cat[j]) {
                b[0] = x[j];
                continue;
            }
            int64_t s = cell_slot(f, j, x[j]);
            const float *enc = s >= 0 ? table + s * ne : prior;
            for (int e = 0; e < ne; e++)
                b[e] = enc[e];
        }
    }
    return AML_OK;
}

typedef struct {
    int32_t kind, n_classes, n_enc, folds;
    double smoothing;
    uint64_t seed;
} te_blob;

static aml_status te_save(const aml_feature *f, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "target_encode: save before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_write_header(&f->in, c, w, TE_MAGIC, TE_FORMAT_VERSION);
    te_blob b = {.kind = (int32_t)f->kind, .n_classes = f->n_classes, .n_enc = f->n_enc, .folds = f->folds,
                 .smoothing = f->smoothing, .seed = f->seed};
    fc_put(h, w, &st, &b, sizeof b);
    fc_put(h, w, &st, f->L, (size_t)f->in.n_in * sizeof *f->L);
    fc_put(h, w, &st, f->prior, (size_t)f->n_enc * sizeof *f->prior);
    fc_put(h, w, &st, f->table, (size_t)f->n_slots * f->n_enc * sizeof *f->table);
    if (st != AML_OK)
        h->set_error(c, "target_encode: writing the blob failed");
    return st;
}

static aml_status te_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                          aml_feature **out)
{
    aml_feature *f = te_new(h);
    if (!f) {
        h->set_error(c, "target_encode: out of memory");
        return AML_ERR_NOMEM;
    }
    uint32_t version;
    te_blob b;
    aml_status st = fc_read_header(&f->in, h, c, r, "target_encode", TE_MAGIC, TE_FORMAT_VERSION, task, &version);
    if (st != AML_OK)
        goto fail;
    if (h->read(r, &b, sizeof b) != AML_OK)
        goto truncated;
    if (!check_kind(h, c, (aml_task_kind)b.kind, b.n_classes) || b.n_enc != (b.n_classes > 2 ? b.n_classes - 1 : 1) ||
        b.folds < 2 || b.folds > TE_MAX_FOLDS || !(b.smoothing >= 0 && b.smoothing <= 1e300)) {
        h->set_error(c, "target_encode: corrupt blob (task kind %d, %d classes)", b.kind, b.n_classes);
        st = AML_ERR_FORMAT;
        goto fail;
    }
    if (task && (task->kind != (aml_task_kind)b.kind ||
                 (task->kind == AML_TASK_CLASSIFICATION && task->n_classes != b.n_classes))) {
        h->set_error(c, "target_encode: blob is for a %s task with %d classes, not the given task",
                     b.kind == AML_TASK_CLASSIFICATION ? "classification" : "regression", b.n_classes);
        st = AML_ERR_FORMAT;
        goto fail;
    }
    f->kind = (aml_task_kind)b.kind, f->n_classes = b.n_classes, f->n_enc = b.n_enc, f->folds = b.folds;
    f->smoothing = b.smoothing, f->seed = b.seed;
    if ((st = alloc_layout(f, c)) != AML_OK)
        goto fail;
    fc_get(h, r, &st, f->L, (size_t)f->in.n_in * sizeof *f->L);
    if (st != AML_OK)
        goto truncated;
    for (int64_t j = 0; j < f->in.n_in; j++)
        if (f->L[j] < 0 || f->L[j] > FC_MAX_LEVEL || (!f->in.cat[j] && f->L[j])) {
            h->set_error(c, "target_encode: corrupt blob (levels of column %lld)", (long long)j);
            st = AML_ERR_FORMAT;
            goto fail;
        }
    if ((st = alloc_layout(f, c)) != AML_OK)
        goto fail;
    f->prior = fc_alloc(h, (size_t)f->n_enc * sizeof *f->prior);
    f->table = fc_alloc(h, (size_t)f->n_slots * f->n_enc * sizeof *f->table);
    if (!f->prior || !f->table) {
        h->set_error(c, "target_encode: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    fc_get(h, r, &st, f->prior, (size_t)f->n_enc * sizeof *f->prior);
    fc_get(h, r, &st, f->table, (size_t)f->n_slots * f->n_enc * sizeof *f->table);
    if (st != AML_OK)
        goto truncated;
    f->fitted = 1;
    *out = f;
    return AML_OK;
truncated:
    h->set_error(c, "target_encode: truncated blob");
    st = AML_ERR_FORMAT;
fail:
    te_free(f);
    return st;
}

/* Encodings and passed-through numeric columns: all numeric. */
static void te_output_categorical(const aml_feature *f, uint8_t *out) { memset(out, 0, (size_t)f->n_out); }

static const aml_feature_vtable vtable = {
    .version = 2,
    .create = te_create,
    .fit = te_fit,
    .output_cols = te_output_cols,
    .transform = te_transform,
    .save = te_save,
    .load = te_load,
    .free = te_free,
    .output_categorical = te_output_categorical,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_FEATURE,
    .name = "target_encode",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "smoothed mean-target encoding of categorical columns, out of fold for the training rows",
    .params = params,
    .n_params = N_PARAMS,
    .feature = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
