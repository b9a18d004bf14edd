/* Shared helpers of the feature plugins: allocation through the host, input checks with messages a
 * user can act on, level codes of categorical columns, parameter checks, and the common blob
 * header. Each plugin compiles its own copy; nothing here is exported. */
#include "feature_common.h"

#include "../../common/param_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *fc_alloc(const aml_host *h, size_t n) { return h->alloc(n ? n : 1); }

void fc_free(const aml_host *h, void *p)
{
    if (p)
        h->dealloc(p);
}

aml_status fc_input_init(fc_input *in, const aml_host *h, aml_host_ctx *c, const char *name, const aml_task *task)
{
    memset(in, 0, sizeof *in);
    in->h = h, in->name = name;
    if (!task || task->n_features < 1 || task->n_features > FC_MAX_COLS) {
        h->set_error(c, "%s: the task must give n_features >= 1 (got %lld)", name,
                     task ? (long long)task->n_features : 0LL);
        return AML_ERR_INPUT;
    }
    in->n_in = task->n_features;
    in->cat = fc_alloc(h, (size_t)in->n_in);
    if (!in->cat) {
        h->set_error(c, "%s: out of memory", name);
        return AML_ERR_NOMEM;
    }
    for (int64_t j = 0; j < in->n_in; j++)
        in->cat[j] = task->categorical ? task->categorical[j] != 0 : 0;
    return AML_OK;
}

void fc_input_release(fc_input *in)
{
    if (in->h)
        fc_free(in->h, in->cat);
    in->cat = NULL;
}

aml_status fc_check_matrix(const fc_input *in, aml_host_ctx *c, const aml_matrix *X, const char *what, int need_rows)
{
    if (!X || X->cols != in->n_in || X->ld < X->cols || X->rows < (need_rows ? 1 : 0) || (X->rows > 0 && !X->data)) {
        in->h->set_error(c, "%s: %s on a %lld x %lld matrix, expected %s rows x %lld columns", in->name, what,
                         X ? (long long)X->rows : 0LL, X ? (long long)X->cols : 0LL, need_rows ? ">= 1" : ">= 0",
                         (long long)in->n_in);
        return AML_ERR_INPUT;
    }
    return AML_OK;
}

aml_status fc_column_levels(const fc_input *in, aml_host_ctx *c, const aml_matrix *X, int64_t j, int64_t *L)
{
    float top = -1.0f;
    for (int64_t i = 0; i < X->rows; i++) {
        float v = X->data[i * X->ld + j];
        if (v != v)
            continue;
        if (!(v >= 0.0f && v < (float)FC_MAX_LEVEL && v == floorf(v))) {
            in->h->set_error(c, "%s: row %lld, categorical column %lld holds %g, expected a level code in [0, %d) "
                                "or NaN",
                             in->name, (long long)i, (long long)j, (double)v, FC_MAX_LEVEL);
            return AML_ERR_INPUT;
        }
        top = v > top ? v : top;
    }
    *L = (int64_t)top + 1;
    return AML_OK;
}

aml_status fc_param(const fc_input *in, aml_host_ctx *c, const aml_param_def *defs, int idx, const aml_params *p,
                    double *out)
{
    const aml_param_def *d = &defs[idx];
    double v = p && p->num ? p->num[idx] : d->def;
    char why[512];
    if (!aml_param_check(d, v, why, sizeof why)) {
        in->h->set_error(c, "%s: %s", in->name, why);
        return AML_ERR_INPUT;
    }
    *out = v;
    return AML_OK;
}

int fc_threads(const aml_host *h, aml_host_ctx *c, int64_t n, int64_t min_per_thread)
{
    int nt = h->threads(c);
    nt = nt > 0 ? nt : 1;
    int64_t most = n / (min_per_thread > 0 ? min_per_thread : 1);
    if (most < nt)
        nt = most < 1 ? 1 : (int)most;
    return nt;
}

void fc_put(const aml_host *h, aml_writer *w, aml_status *st, const void *buf, size_t n)
{
    if (*st == AML_OK && n > 0)
        *st = h->write(w, buf, n);
}

void fc_get(const aml_host *h, aml_reader *r, aml_status *st, void *buf, size_t n)
{
    if (*st == AML_OK && n > 0)
        *st = h->read(r, buf, n);
}

typedef struct {
    uint64_t magic;
    uint32_t version, reserved;
    int64_t n_in;
} blob_header;

aml_status fc_write_header(const fc_input *in, aml_host_ctx *c, aml_writer *w, uint64_t magic, uint32_t version)
{
    blob_header hd = {.magic = magic, .version = version, .n_in = in->n_in};
    aml_status st = AML_OK;
    fc_put(in->h, w, &st, &hd, sizeof hd);
    fc_put(in->h, w, &st, in->cat, (size_t)in->n_in);
    if (st != AML_OK)
        in->h->set_error(c, "%s: writing the blob failed", in->name);
    return st;
}

aml_status fc_read_header(fc_input *in, const aml_host *h, aml_host_ctx *c, aml_reader *r, const char *name,
                          uint64_t magic, uint32_t max_version, const aml_task *task, uint32_t *version)
{
    memset(in, 0, sizeof *in);
    in->h = h, in->name = name;
    blob_header hd;
    if (h->read(r, &hd, sizeof hd) != AML_OK || hd.magic != magic) {
        h->set_error(c, "%s: not a blob of this plugin (bad or truncated header)", name);
        return AML_ERR_FORMAT;
    }
    if (hd.version == 0 || hd.version > max_version) {
        h->set_error(c, "%s: blob format version %u, this plugin reads up to %u", name, hd.version, max_version);
        return AML_ERR_FORMAT;
    }
    if (hd.n_in < 1 || hd.n_in > FC_MAX_COLS) {
        h->set_error(c, "%s: corrupt blob header (%lld input columns)", name, (long long)hd.n_in);
        return AML_ERR_FORMAT;
    }
    if (task && task->n_features > 0 && task->n_features != hd.n_in) {
        h->set_error(c, "%s: blob is for %lld input columns, the task has %lld", name, (long long)hd.n_in,
                     (long long)task->n_features);
        return AML_ERR_FORMAT;
    }
    in->n_in = hd.n_in;
    in->cat = fc_alloc(h, (size_t)hd.n_in);
    if (!in->cat) {
        h->set_error(c, "%s: out of memory", name);
        return AML_ERR_NOMEM;
    }
    if (h->read(r, in->cat, (size_t)hd.n_in) != AML_OK) {
        fc_input_release(in);
        h->set_error(c, "%s: truncated blob", name);
        return AML_ERR_FORMAT;
    }
    for (int64_t j = 0; j < hd.n_in; j++) {
        int want = task && task->categorical && task->n_features == hd.n_in ? task->categorical[j] != 0 : in->cat[j];
        if (in->cat[j] > 1 || in->cat[j] != want) {
            fc_input_release(in);
            h->set_error(c, "%s: blob's categorical flag of column %lld does not match the task", name, (long long)j);
            return AML_ERR_FORMAT;
        }
    }
    *version = hd.version;
    return AML_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void fc_sort_floats(float *v, int64_t n) { qsort(v, (size_t)n, sizeof *v, cmp_float); }

double fc_quantile_sorted(const float *v, int64_t n, double q)
{
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1)
        return v[n - 1];
    double frac = pos - (double)lo;
    return (double)v[lo] + frac * ((double)v[lo + 1] - (double)v[lo]);
}
