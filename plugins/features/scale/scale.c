/* The `scale` feature plugin: centres and scales numeric columns, standard (mean, population
 * standard deviation) or robust (median, interquartile range q75 - q25 with numpy's linear
 * interpolation), learnt from the finite cells at fit time.
 *
 * Output columns: exactly the input columns in input order, each keeping its categorical flag.
 * Numeric cell: (x - centre) / scale computed in double and rounded once to float; NaN stays NaN
 * and +-inf stay +-inf (scale does not impute). A column whose scale is 0 (constant) or that had no
 * finite cell gets scale 1 (and centre 0 when it had no finite cell). Categorical columns pass
 * through untouched. */
#include "../common/feature_common.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define SCALE_MAGIC 0x454c4143534c4d41ULL /* "AMLSCALE" */
#define SCALE_FORMAT_VERSION 1u

enum { P_METHOD, N_PARAMS };
enum { M_STANDARD, M_ROBUST };

static const char *const method_choices[] = {"standard", "robust"};

static const aml_param_def params[N_PARAMS] = {
    [P_METHOD] = {.name = "method", .type = AML_PARAM_CHOICE, .def = M_STANDARD, .choices = method_choices,
                  .n_choices = 2, .help = "standard: (x - mean) / std; robust: (x - median) / IQR"},
};

struct aml_feature {
    fc_input in;
    int method;
    int fitted;
    double *centre, *scale; /* n_in each; categorical columns: 0 and 1 (unused) */
};

static void clear_fit(aml_feature *f)
{
    fc_free(f->in.h, f->centre);
    f->centre = f->scale = NULL, f->fitted = 0;
}

static void scale_free(aml_feature *f)
{
    if (!f)
        return;
    const aml_host *h = f->in.h;
    clear_fit(f);
    fc_input_release(&f->in);
    h->dealloc(f);
}

static aml_feature *scale_new(const aml_host *h)
{
    aml_feature *f = h->alloc(sizeof *f);
    if (f)
        memset(f, 0, sizeof *f), f->in.h = h;
    return f;
}

static aml_status alloc_stats(aml_feature *f, aml_host_ctx *c)
{
    f->centre = fc_alloc(f->in.h, 2 * (size_t)f->in.n_in * sizeof(double));
    if (!f->centre) {
        f->in.h->set_error(c, "scale: out of memory");
        return AML_ERR_NOMEM;
    }
    f->scale = f->centre + f->in.n_in;
    return AML_OK;
}

static aml_status scale_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                               aml_feature **out)
{
    aml_feature *f = scale_new(h);
    if (!f) {
        h->set_error(c, "scale: out of memory");
        return AML_ERR_NOMEM;
    }
    double method;
    aml_status st = fc_input_init(&f->in, h, c, "scale", task);
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_METHOD, p, &method);
    if (st != AML_OK) {
        scale_free(f);
        return st;
    }
    f->method = (int)method;
    *out = f;
    return AML_OK;
}

static aml_status scale_fit(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = f->in.h;
    aml_status st = fc_check_matrix(&f->in, c, X, "fit", 1);
    if (st != AML_OK)
        return st;
    clear_fit(f);
    const int64_t n = X->rows, d = f->in.n_in;
    float *col = f->method == M_ROBUST ? fc_alloc(h, (size_t)n * sizeof *col) : NULL;
    if ((st = alloc_stats(f, c)) != AML_OK || (f->method == M_ROBUST && !col)) {
        h->set_error(c, "scale: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    for (int64_t j = 0; j < d; j++) {
        double centre = 0, scale = 1;
        if (f->in.cat[j]) {
            int64_t L;
            if ((st = fc_column_levels(&f->in, c, X, j, &L)) != AML_OK)
                goto fail;
        } else if (f->method == M_STANDARD) {
            /* two passes in double: exact for small integers, no cancellation */
            double sum = 0, ss = 0;
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++) {
                float v = X->data[i * X->ld + j];
                if (isfinite(v))
                    sum += v, m++;
            }
            if (m > 0) {
                centre = sum / (double)m;
                for (int64_t i = 0; i < n; i++) {
                    float v = X->data[i * X->ld + j];
                    if (isfinite(v))
                        ss += ((double)v - centre) * ((double)v - centre);
                }
                scale = sqrt(ss / (double)m);
            }
        } else {
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++) {
                float v = X->data[i * X->ld + j];
                if (isfinite(v))
                    col[m++] = v;
            }
            if (m > 0) {
                fc_sort_floats(col, m);
                centre = fc_quantile_sorted(col, m, 0.5);
                scale = fc_quantile_sorted(col, m, 0.75) - fc_quantile_sorted(col, m, 0.25);
            }
        }
        /* constant columns (and spreads lost in rounding) keep their unit */
        if (!(scale > 1e-12 * fabs(centre)) || !isfinite(scale))
            scale = 1;
        f->centre[j] = centre, f->scale[j] = scale;
    }
    fc_free(h, col);
    f->fitted = 1;
    return AML_OK;
fail:
    fc_free(h, col);
    clear_fit(f);
    return st;
}

static int64_t scale_output_cols(const aml_feature *f) { return f->fitted ? f->in.n_in : 0; }

static aml_status scale_transform(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "scale: transform before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_check_matrix(&f->in, c, X, "transform", 0);
    if (st != AML_OK)
        return st;
    const int64_t d = f->in.n_in;
    const double *centre = f->centre, *scl = f->scale;
    const uint8_t *cat = f->in.cat;
    int nt = fc_threads(h, c, X->rows, 4096);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < X->rows; i++) {
        const float *x = X->data + i * X->ld;
        float *o = out + i * d;
        for (int64_t j = 0; j < d; j++)
            o[j] = cat[j] ? x[j] : (float)(((double)x[j] - centre[j]) / scl[j]);
    }
    return AML_OK;
}

static aml_status scale_save(const aml_feature *f, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "scale: save before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_write_header(&f->in, c, w, SCALE_MAGIC, SCALE_FORMAT_VERSION);
    int32_t method = f->method;
    fc_put(h, w, &st, &method, sizeof method);
    fc_put(h, w, &st, f->centre, 2 * (size_t)f->in.n_in * sizeof(double));
    if (st != AML_OK)
        h->set_error(c, "scale: writing the blob failed");
    return st;
}

static aml_status scale_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                             aml_feature **out)
{
    aml_feature *f = scale_new(h);
    if (!f) {
        h->set_error(c, "scale: out of memory");
        return AML_ERR_NOMEM;
    }
    uint32_t version;
    int32_t method;
    aml_status st = fc_read_header(&f->in, h, c, r, "scale", SCALE_MAGIC, SCALE_FORMAT_VERSION, task, &version);
    if (st != AML_OK || (st = alloc_stats(f, c)) != AML_OK)
        goto fail;
    fc_get(h, r, &st, &method, sizeof method);
    fc_get(h, r, &st, f->centre, 2 * (size_t)f->in.n_in * sizeof(double));
    if (st != AML_OK) {
        h->set_error(c, "scale: truncated blob");
        st = AML_ERR_FORMAT;
        goto fail;
    }
    int ok = method == M_STANDARD || method == M_ROBUST;
    for (int64_t j = 0; j < f->in.n_in; j++)
        ok = ok && isfinite(f->centre[j]) && isfinite(f->scale[j]) && f->scale[j] > 0;
    if (!ok) {
        h->set_error(c, "scale: corrupt blob (method or column statistics)");
        st = AML_ERR_FORMAT;
        goto fail;
    }
    f->method = method;
    f->fitted = 1;
    *out = f;
    return AML_OK;
fail:
    scale_free(f);
    return st;
}

/* Every column passes through in place (categorical ones untouched): the flags are kept. */
static void scale_output_categorical(const aml_feature *f, uint8_t *out) { memcpy(out, f->in.cat, (size_t)f->in.n_in); }

static const aml_feature_vtable vtable = {
    .version = 2,
    .create = scale_create,
    .fit = scale_fit,
    .output_cols = scale_output_cols,
    .transform = scale_transform,
    .save = scale_save,
    .load = scale_load,
    .free = scale_free,
    .output_categorical = scale_output_categorical,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_FEATURE,
    .name = "scale",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "centres and scales numeric columns (standard or robust); categorical columns pass through",
    .params = params,
    .n_params = N_PARAMS,
    .feature = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
