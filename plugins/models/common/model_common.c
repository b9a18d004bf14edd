/* Shared helpers of the model plugins: allocation through the host, the checks every model makes
 * on its task, inputs and targets, and the blob header, each failing with the one wording all
 * model plugins use. Each plugin compiles its own copy; nothing here is exported. */
#include "model_common.h"

#include "../../common/param_check.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

aml_status mc_fail(const mc_call *k, aml_status st, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    k->h->set_error(k->c, "%s: %s", k->name, msg);
    return st;
}

void *mc_alloc(const aml_host *h, size_t n) { return h->alloc(n ? n : 1); }

void mc_free(const aml_host *h, void *p)
{
    if (p)
        h->dealloc(p);
}

void *mc_new_model(const mc_call *k, size_t n)
{
    void *m = mc_alloc(k->h, n);
    if (!m) {
        mc_fail(k, AML_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memset(m, 0, n);
    return m;
}

aml_status mc_check_task(const mc_call *k, const aml_task *task, int max_classes, int regression_ok)
{
    if (!task || (task->kind != AML_TASK_CLASSIFICATION && task->kind != AML_TASK_REGRESSION))
        return mc_fail(k, AML_ERR_INPUT, "unknown task kind %d", task ? (int)task->kind : 0);
    if (task->kind == AML_TASK_REGRESSION && !regression_ok)
        return mc_fail(k, AML_ERR_INPUT, "classification only; the task is regression");
    if (task->kind == AML_TASK_CLASSIFICATION && (task->n_classes < 2 || task->n_classes > max_classes))
        return mc_fail(k, AML_ERR_INPUT, "a classification task needs 2 to %d classes, got %d", max_classes,
                       task->n_classes);
    return AML_OK;
}

void mc_param_values(const aml_param_def *defs, int n, const aml_params *p, double *out)
{
    for (int i = 0; i < n; i++)
        out[i] = p && p->num ? p->num[i] : defs[i].def;
}

aml_status mc_param(const mc_call *k, const aml_param_def *defs, int idx, const aml_params *p, double *out)
{
    const aml_param_def *d = &defs[idx];
    double v = p && p->num ? p->num[idx] : d->def;
    char why[512];
    if (!aml_param_check(d, v, why, sizeof why))
        return mc_fail(k, AML_ERR_INPUT, "%s", why);
    *out = v;
    return AML_OK;
}

aml_status mc_check_matrix(const mc_call *k, const aml_matrix *X, int64_t max_cols, const char *what)
{
    if (!X || X->rows < 1 || X->cols < 1 || X->ld < X->cols || !X->data)
        return mc_fail(k, AML_ERR_INPUT, "empty or malformed %s matrix", what);
    if (X->cols > max_cols)
        return mc_fail(k, AML_ERR_INPUT, "the %s matrix has %lld features, at most %lld", what, (long long)X->cols,
                       (long long)max_cols);
    return AML_OK;
}

aml_status mc_check_target(const mc_call *k, aml_task_kind kind, int n_classes, const aml_target *y, int64_t n,
                           const char *what, double *weight_sum)
{
    const int classification = kind == AML_TASK_CLASSIFICATION;
    if (!y || (classification ? !y->label : !y->value))
        return mc_fail(k, AML_ERR_INPUT, "the %s rows have no %s", what,
                       classification ? "class labels" : "target values");
    double sw = 0;
    for (int64_t i = 0; i < n; i++) {
        if (classification && (y->label[i] < 0 || y->label[i] >= n_classes))
            return mc_fail(k, AML_ERR_INPUT, "%s row %lld: class index %d outside [0, %d)", what, (long long)i,
                           y->label[i], n_classes);
        if (!classification && !isfinite(y->value[i]))
            return mc_fail(k, AML_ERR_INPUT, "%s row %lld: target value is missing or not finite", what, (long long)i);
        const double wi = y->weight ? y->weight[i] : 1.0;
        if (!(wi >= 0 && isfinite(wi)))
            return mc_fail(k, AML_ERR_INPUT, "%s row %lld: sample weight %g must be finite and >= 0", what,
                           (long long)i, wi);
        sw += wi;
    }
    if (n > 0 && !(sw > 0))
        return mc_fail(k, AML_ERR_INPUT, "the sample weights of the %s rows sum to 0", what);
    if (weight_sum)
        *weight_sum = sw;
    return AML_OK;
}

aml_status mc_check_fit(const mc_call *k, aml_task_kind kind, int n_classes, int64_t max_cols, const aml_matrix *X,
                        const aml_target *y, const aml_matrix *valid_X, const aml_target *valid_y)
{
    aml_status st = mc_check_matrix(k, X, max_cols, "training");
    if (st == AML_OK)
        st = mc_check_target(k, kind, n_classes, y, X->rows, "training", NULL);
    if (st != AML_OK || !valid_X || valid_X->rows < 1)
        return st;
    if ((st = mc_check_matrix(k, valid_X, max_cols, "validation")) != AML_OK)
        return st;
    if (valid_X->cols != X->cols)
        return mc_fail(k, AML_ERR_INPUT, "the validation matrix has %lld columns, the training one %lld",
                       (long long)valid_X->cols, (long long)X->cols);
    return mc_check_target(k, kind, n_classes, valid_y, valid_X->rows, "validation", NULL);
}

aml_status mc_infinite_feature(const mc_call *k, const aml_matrix *X, int64_t j)
{
    int64_t row = 0;
    while (row < X->rows - 1 && !isinf(X->data[row * X->ld + j]))
        row++;
    for (int64_t q = 0; q < j; q++) /* the first bad cell of that row */
        if (isinf(X->data[row * X->ld + q])) {
            j = q;
            break;
        }
    return mc_fail(k, AML_ERR_INPUT, "row %lld, feature %lld is infinite (NaN marks a missing value)", (long long)row,
                   (long long)j);
}

aml_status mc_check_predict(const mc_call *k, int fitted, int64_t d, const aml_matrix *X)
{
    if (!fitted)
        return mc_fail(k, AML_ERR_INPUT, "predict before fit");
    if (!X || X->cols != d)
        return mc_fail(k, AML_ERR_INPUT, "predict on %lld columns, the model was fitted on %lld",
                       X ? (long long)X->cols : 0LL, (long long)d);
    if (X->rows < 0 || X->ld < X->cols || (X->rows > 0 && !X->data))
        return mc_fail(k, AML_ERR_INPUT, "predict on a malformed matrix (%lld rows, row stride %lld)",
                       (long long)X->rows, (long long)X->ld);
    return AML_OK;
}

aml_status mc_check_save(const mc_call *k, int fitted)
{
    return fitted ? AML_OK : mc_fail(k, AML_ERR_INPUT, "save before fit");
}

int mc_threads(const aml_host *h, aml_host_ctx *c, int64_t work_items)
{
    int t = h->threads(c);
    t = t < 1 ? 1 : t;
    return work_items >= 1 && work_items < t ? (int)work_items : t;
}

mc_blas_scope mc_blas_single_begin(void)
{
    mc_blas_scope s = {omp_get_max_threads()};
    omp_set_num_threads(1);
    return s;
}

void mc_blas_single_end(mc_blas_scope s) { omp_set_num_threads(s.keep_threads); }

void mc_put(const mc_call *k, aml_writer *w, aml_status *st, const void *buf, size_t n)
{
    if (*st != AML_OK || n == 0)
        return;
    if ((*st = k->h->write(w, buf, n)) != AML_OK)
        mc_fail(k, *st, "writing the model blob failed");
}

void mc_get(const mc_call *k, aml_reader *r, aml_status *st, void *buf, size_t n)
{
    if (*st != AML_OK || n == 0)
        return;
    if (k->h->read(r, buf, n) != AML_OK)
        *st = mc_fail(k, AML_ERR_FORMAT, "truncated model blob");
}

/* The two leading fields of every header, as they lie in it. */
typedef struct {
    uint64_t magic;
    uint32_t version;
} blob_id;
#define BLOB_ID_BYTES (sizeof(uint64_t) + sizeof(uint32_t))

void mc_put_header(const mc_call *k, aml_writer *w, aml_status *st, void *hd, size_t size, uint64_t magic,
                   uint32_t version)
{
    memcpy(hd, &magic, sizeof magic);
    memcpy((char *)hd + sizeof magic, &version, sizeof version);
    mc_put(k, w, st, hd, size);
}

aml_status mc_get_header(const mc_call *k, aml_reader *r, void *hd, size_t size, uint64_t magic,
                         uint32_t max_version, uint32_t *version)
{
    aml_status st = AML_OK;
    mc_get(k, r, &st, hd, BLOB_ID_BYTES);
    if (st != AML_OK)
        return st;
    blob_id id;
    memcpy(&id.magic, hd, sizeof id.magic);
    memcpy(&id.version, (const char *)hd + sizeof id.magic, sizeof id.version);
    if (id.magic != magic)
        return mc_fail(k, AML_ERR_FORMAT, "not a model blob of this plugin (wrong magic number)");
    if (id.version == 0 || id.version > max_version)
        return mc_fail(k, AML_ERR_FORMAT, "blob format version %u, this plugin reads up to %u", id.version,
                       max_version);
    mc_get(k, r, &st, (char *)hd + BLOB_ID_BYTES, size - BLOB_ID_BYTES);
    if (st == AML_OK && version)
        *version = id.version;
    return st;
}

aml_status mc_check_blob_task(const mc_call *k, const aml_task *task, uint32_t kind, int n_classes, int64_t d)
{
    if (!task || (task->kind == (aml_task_kind)kind &&
                  (task->kind != AML_TASK_CLASSIFICATION || task->n_classes == n_classes) &&
                  (task->n_features <= 0 || task->n_features == d)))
        return AML_OK;
    return mc_fail(k, AML_ERR_FORMAT, "blob is for a %s task with %d classes and %lld features, not the given task",
                   kind == AML_TASK_CLASSIFICATION ? "classification" : "regression", n_classes, (long long)d);
}
