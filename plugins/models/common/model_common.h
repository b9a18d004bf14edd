/* Helpers shared by the model plugins (compiled into each .so, nothing exported), as
 * features/common serves the feature plugins: host allocation, task / input / target checks,
 * predict-before-fit and column checks, parameter reading, thread budgets and scopes, and blob
 * I/O with the magic-and-version header. Every check fails through the host's set_error with one
 * wording for all seven plugins, prefixed by the plugin's name ("knn: predict before fit"), so a
 * user reads the same sentence for the same mistake whichever model made it. */
#ifndef AML_MODEL_COMMON_H
#define AML_MODEL_COMMON_H

#include <automl/plugin.h>

#include <stddef.h>
#include <stdint.h>

/* Where a message goes: the host, the call's context and the plugin's name (a string literal that
 * outlives the call). Built on the stack at the top of each vtable entry:
 *     const mc_call mc = mc_at(m->h, c, "knn"); */
typedef struct mc_call {
    const aml_host *h;
    aml_host_ctx *c;
    const char *name;
} mc_call;

static inline mc_call mc_at(const aml_host *h, aml_host_ctx *c, const char *name)
{
    mc_call k = {h, c, name};
    return k;
}

/* Records "<plugin>: <message>" as the call's error and returns st, for a plugin's own checks. */
aml_status mc_fail(const mc_call *k, aml_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- allocation ---------------------------------------------------------------------------- */
/* Through the host (so fault tests reach every allocation); n = 0 allocates 1 byte, so NULL
 * always means out of memory. mc_free takes NULL. The caller owns what mc_alloc returns. */
void *mc_alloc(const aml_host *h, size_t n);
void mc_free(const aml_host *h, void *p);
/* A zeroed model struct of n bytes (NULL when out of memory, with the error recorded). */
void *mc_new_model(const mc_call *k, size_t n);

/* ---- task, parameters ---------------------------------------------------------------------- */
/* Checks the task a model is created for: a known kind, 2 to max_classes classes for
 * classification, and regression only when regression_ok. AML_ERR_INPUT otherwise. */
aml_status mc_check_task(const mc_call *k, const aml_task *task, int max_classes, int regression_ok);

/* Parameter values indexed like defs (p may be NULL: the defaults), without checks. */
void mc_param_values(const aml_param_def *defs, int n, const aml_params *p, double *out);
/* The value of parameter idx, checked against its definition: a number in [lo, hi], an integer
 * in [lo, hi], a choice index or a bool. AML_ERR_INPUT with the parameter's name otherwise. */
aml_status mc_param(const mc_call *k, const aml_param_def *defs, int idx, const aml_params *p, double *out);

/* ---- fit inputs ---------------------------------------------------------------------------- */
/* Checks a fit's matrix: at least one row and one column, a row stride >= cols, data present,
 * and at most max_cols columns (what names it in messages: "training", "validation"). */
aml_status mc_check_matrix(const mc_call *k, const aml_matrix *X, int64_t max_cols, const char *what);
/* Checks n targets of a task kind with n_classes classes: class indices in [0, n_classes) or
 * finite values, finite non-negative weights that do not all sum to 0. *weight_sum (may be
 * NULL) gets their sum (n when y has no weights). */
aml_status mc_check_target(const mc_call *k, aml_task_kind kind, int n_classes, const aml_target *y, int64_t n,
                           const char *what, double *weight_sum);
/* Both checks for the training rows, and for the validation rows when valid_X has rows (then also
 * the same column count). */
aml_status mc_check_fit(const mc_call *k, aml_task_kind kind, int n_classes, int64_t max_cols, const aml_matrix *X,
                        const aml_target *y, const aml_matrix *valid_X, const aml_target *valid_y);
/* The error for an infinite cell found in column j of X: names the first row holding one there,
 * and that row's first infinite cell. Returns AML_ERR_INPUT. */
aml_status mc_infinite_feature(const mc_call *k, const aml_matrix *X, int64_t j);

/* ---- predict and save ---------------------------------------------------------------------- */
/* predict on an unfitted model, or on a matrix that is not d columns wide: AML_ERR_INPUT. */
aml_status mc_check_predict(const mc_call *k, int fitted, int64_t d, const aml_matrix *X);
/* save on an unfitted model: AML_ERR_INPUT. */
aml_status mc_check_save(const mc_call *k, int fitted);

/* ---- threads --------------------------------------------------------------------------------- */
/* The call's thread budget (at least 1), no more than work_items (when work_items >= 1). */
int mc_threads(const aml_host *h, aml_host_ctx *c, int64_t work_items);
/* Runs BLAS single-threaded between begin and end outside a parallel region (OpenBLAS's own
 * threads would split sums differently for each budget), then gives the caller's OpenMP thread
 * count back: the plugin never changes it behind the caller's back. */
typedef struct mc_blas_scope {
    int keep_threads;
} mc_blas_scope;
mc_blas_scope mc_blas_single_begin(void);
void mc_blas_single_end(mc_blas_scope s);

/* ---- blob I/O -------------------------------------------------------------------------------- */
/* Every model blob starts with a plugin-specific header struct whose first fields are
 * `uint64_t magic; uint32_t version;` (MC_BLOB_HEADER_CHECK asserts it at compile time); the rest
 * of the header and what follows belong to the plugin. Bytes are written as the struct lies in
 * memory (little-endian hosts only, as every blob since version 1). */
#define MC_BLOB_HEADER_CHECK(type)                                                                \
    _Static_assert(offsetof(type, magic) == 0 && sizeof(((type *)0)->magic) == 8 &&                \
                       offsetof(type, version) == 8 && sizeof(((type *)0)->version) == 4,          \
                   #type " must start with uint64_t magic, uint32_t version")

/* Writes and reads that skip once *st is not AML_OK; the first failure records the error:
 * "writing the model blob failed" (the writer's status), "truncated model blob" (AML_ERR_FORMAT). */
void mc_put(const mc_call *k, aml_writer *w, aml_status *st, const void *buf, size_t n);
void mc_get(const mc_call *k, aml_reader *r, aml_status *st, void *buf, size_t n);

/* Stamps magic and version into the header (size bytes at hd) and writes it (as mc_put). */
void mc_put_header(const mc_call *k, aml_writer *w, aml_status *st, void *hd, size_t size, uint64_t magic,
                   uint32_t version);
/* Reads a header of size bytes into hd: AML_ERR_FORMAT for a short blob, another magic (another
 * plugin's blob, or not a blob), or a version of 0 or above max_version (a newer plugin wrote it).
 * *version (may be NULL) gets the blob's version. */
aml_status mc_get_header(const mc_call *k, aml_reader *r, void *hd, size_t size, uint64_t magic,
                         uint32_t max_version, uint32_t *version);
/* Checks a loaded blob's task against the task the caller gives (may be NULL: anything goes; a
 * task with n_features 0 leaves the features unchecked). AML_ERR_FORMAT when they differ. */
aml_status mc_check_blob_task(const mc_call *k, const aml_task *task, uint32_t kind, int n_classes, int64_t d);

/* For a parallel loop over trees or row blocks: 1 once the host has asked to stop, remembered in
 * *stop (shared by the loop's threads) so that every later iteration is skipped at once. */
static inline int mc_stopping(int *stop, const aml_host *h, aml_host_ctx *c)
{
    if (__atomic_load_n(stop, __ATOMIC_RELAXED) || h->should_stop(c)) {
        __atomic_store_n(stop, 1, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

#endif
