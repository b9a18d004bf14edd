/* Helpers shared by the feature plugins (compiled into each .so, nothing exported): host
 * allocation, shape checks, categorical level codes, parameter checks, blob headers and thread
 * budgets. Conventions every feature plugin follows:
 *  - input: float32 rows, NaN = missing; task->categorical[j] marks a categorical column whose cell
 *    holds a level code 0..L-1 as a float; L = 1 + the largest code seen at fit time;
 *  - at fit, a categorical cell must be NaN or an integer code in [0, FC_MAX_LEVEL); anything else is
 *    an input error; at transform, any other value (unseen code >= L, negative, fractional, inf)
 *    is an "unseen" level and never an error;
 *  - statistics of numeric columns use the finite cells only; only NaN counts as missing;
 *  - sample weights are ignored by every feature fit. */
#ifndef AML_FEATURE_COMMON_H
#define AML_FEATURE_COMMON_H

#include <automl/plugin.h>

#include <stddef.h>
#include <stdint.h>

#define FC_MAX_LEVEL (1 << 24) /* codes stay exact in float32 below 2^24 */
#define FC_MAX_COLS ((int64_t)1 << 30)

/* What every feature plugin keeps about its input. */
typedef struct fc_input {
    const aml_host *h;
    const char *name;  /* plugin name, prefixes every message */
    int64_t n_in;      /* input columns */
    uint8_t *cat;      /* n_in flags, owned */
} fc_input;

void *fc_alloc(const aml_host *h, size_t n); /* n = 0 allocates 1 byte */
void fc_free(const aml_host *h, void *p);

/* Fills in from the task (copies the categorical flags); fails with a message on a bad task. */
aml_status fc_input_init(fc_input *in, const aml_host *h, aml_host_ctx *c, const char *name, const aml_task *task);
void fc_input_release(fc_input *in);

/* Checks that X is a well-formed view with n_in columns (and at least one row when need_rows). */
aml_status fc_check_matrix(const fc_input *in, aml_host_ctx *c, const aml_matrix *X, const char *what,
                           int need_rows);

/* The level of a categorical cell at transform time: its code in [0, L), or -1 (missing or unseen). */
static inline int64_t fc_level(float v, int64_t L)
{
    if (!(v >= 0.0f) || !(v < (float)L))
        return -1;
    int64_t k = (int64_t)v;
    return (float)k == v ? k : -1;
}

/* At fit time: checks every cell of categorical column j and sets *L = 1 + the largest code (0 when
 * the column has no code at all). */
aml_status fc_column_levels(const fc_input *in, aml_host_ctx *c, const aml_matrix *X, int64_t j, int64_t *L);

/* Parameter values (p may be NULL: defaults), checked against the definition's range. */
aml_status fc_param(const fc_input *in, aml_host_ctx *c, const aml_param_def *defs, int idx, const aml_params *p,
                    double *out);

/* Threads for work over n items: the call's budget, fewer for small inputs. */
int fc_threads(const aml_host *h, aml_host_ctx *c, int64_t n, int64_t min_per_thread);

/* Blob I/O that skips once *st is not AML_OK. */
void fc_put(const aml_host *h, aml_writer *w, aml_status *st, const void *buf, size_t n);
void fc_get(const aml_host *h, aml_reader *r, aml_status *st, void *buf, size_t n);

/* Header of every feature blob: magic, format version, n_in and the categorical flags. Reading
 * checks them, and against the task when it gives n_features / flags. */
aml_status fc_write_header(const fc_input *in, aml_host_ctx *c, aml_writer *w, uint64_t magic, uint32_t version);
aml_status fc_read_header(fc_input *in, const aml_host *h, aml_host_ctx *c, aml_reader *r, const char *name,
                          uint64_t magic, uint32_t max_version, const aml_task *task, uint32_t *version);

/* Sorting and order statistics of float samples. */
void fc_sort_floats(float *v, int64_t n);
/* Quantile q in [0, 1] of sorted v[0..n) by linear interpolation (numpy's default); n >= 1. */
double fc_quantile_sorted(const float *v, int64_t n, double q);

#endif
