/* Request decoding: KServe v2 inputs (one per feature, or one [n, d] tensor; FP32/FP64/INT64/
 * BYTES), TF Serving instances (rows as arrays or objects) and columns, all into float rows in
 * the model's feature order, categorical levels mapped through the schema as `automl predict`
 * maps CSV cells; and the prediction that feeds the drift window. */
#include "serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DT_ANY, DT_FP32, DT_FP64, DT_INT64, DT_BYTES };

static int datatype_of(const char *s)
{
    if (!strcmp(s, "FP32"))
        return DT_FP32;
    if (!strcmp(s, "FP64"))
        return DT_FP64;
    if (!strcmp(s, "INT64"))
        return DT_INT64;
    if (!strcmp(s, "BYTES"))
        return DT_BYTES;
    return -1;
}

static const char *dt_name[] = {"any", "FP32", "FP64", "INT64", "BYTES"};

/* Where a cell came from, formatted only when there is an error. */
typedef struct where {
    const char *kind; /* "inputs" or "instances" */
    int64_t a, b;     /* input index and element index, or row and column */
} where;

static int cell(const cJSON *v, const aml_dataset *s, int64_t j, int dt, float *out, const where *w,
                char *err, size_t n_err)
{
    const char *feature = s->feature_names[j];
    if (cJSON_IsNull(v)) {
        *out = NAN;
        return 0;
    }
    if (cJSON_IsString(v)) {
        if (dt != DT_ANY && dt != DT_BYTES) {
            snprintf(err, n_err, "%s[%lld]: datatype %s needs numbers, got the string \"%.40s\" at element %lld",
                     w->kind, (long long)w->a, dt_name[dt], v->valuestring, (long long)w->b);
            return 400;
        }
        if (!s->categorical[j]) {
            snprintf(err, n_err, "%s[%lld]: feature '%s' is numeric, got the string \"%.40s\" at element %lld",
                     w->kind, (long long)w->a, feature, v->valuestring, (long long)w->b);
            return 400;
        }
        /* An unknown level is missing, as in `automl predict` on a CSV. */
        *out = NAN;
        for (int k = 0; k < s->n_categories[j]; k++)
            if (!strcmp(s->categories[j][k], v->valuestring)) {
                *out = (float)k;
                break;
            }
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (!isfinite(x) || fabs(x) > 3.4028234663852886e38) {
            snprintf(err, n_err, "%s[%lld]: element %lld is out of range (send null for a missing value)", w->kind,
                     (long long)w->a, (long long)w->b);
            return 400;
        }
        if (dt == DT_INT64 && x != floor(x)) {
            snprintf(err, n_err, "%s[%lld]: datatype INT64 needs integers, got %.17g at element %lld", w->kind,
                     (long long)w->a, x, (long long)w->b);
            return 400;
        }
        if (s->categorical[j] && !(x >= 0 && x < s->n_categories[j] && x == floor(x))) {
            snprintf(err, n_err,
                     "%s[%lld]: feature '%s' is categorical: send a level string, or a level code in [0, %d), "
                     "got %.17g at element %lld",
                     w->kind, (long long)w->a, feature, s->n_categories[j], x, (long long)w->b);
            return 400;
        }
        *out = (float)x;
        return 0;
    }
    snprintf(err, n_err, "%s[%lld]: element %lld: expected a number, a string or null", w->kind, (long long)w->a,
             (long long)w->b);
    return 400;
}

/* Collects the leaves of a nested array (row-major) into *leaves, up to max; -1 when more. */
static int64_t flatten(const cJSON *data, const cJSON **leaves, int64_t n, int64_t max)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, data)
    {
        if (cJSON_IsArray(e)) {
            if ((n = flatten(e, leaves, n, max)) < 0)
                return -1;
        } else {
            if (n >= max)
                return -1;
            leaves[n++] = e;
        }
    }
    return n;
}

static int64_t feature_index(const aml_dataset *s, const char *name)
{
    for (int64_t j = 0; j < s->n_features; j++)
        if (!strcmp(s->feature_names[j], name))
            return j;
    return -1;
}

static int too_many_rows(int64_t n, int64_t max_rows, char *err, size_t n_err)
{
    snprintf(err, n_err, "request has %lld rows, the limit is %lld (--max-rows)", (long long)n, (long long)max_rows);
    return 413;
}

/* "inputs[i] 'name'" (or "inputs[i]" when the input has no string name), for error messages. */
static const char *input_label(char *buf, size_t n, int i, const cJSON *in)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    if (cJSON_IsString(name))
        snprintf(buf, n, "inputs[%d] '%.64s'", i, name->valuestring);
    else
        snprintf(buf, n, "inputs[%d]", i);
    return buf;
}

/* Reads shape (an array of non-negative integers, rank 1 or 2) into dims. */
static int read_shape(const cJSON *shape, const char *label, int64_t dims[2], int *rank, char *err, size_t n_err)
{
    int r = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || r < 1 || r > 2) {
        snprintf(err, n_err, "%s: shape: expected [n] or [n, d]", label);
        return 400;
    }
    for (int k = 0; k < r; k++) {
        const cJSON *d = cJSON_GetArrayItem(shape, k);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble != floor(d->valuedouble) ||
            d->valuedouble > 1e12) {
            snprintf(err, n_err, "%s: shape[%d]: expected a non-negative integer", label, k);
            return 400;
        }
        dims[k] = (int64_t)d->valuedouble;
    }
    *rank = r;
    return 0;
}

/* Counts the leaves of a nested array, stopping past max (then returns max + 1). */
static int64_t count_leaves(const cJSON *data, int64_t n, int64_t max)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, data)
    {
        if (n > max)
            return n;
        n = cJSON_IsArray(e) ? count_leaves(e, n, max) : n + 1;
    }
    return n;
}

/* One input's checked description: pass 1 checks every input before pass 2 allocates and converts,
 * so an input anywhere in the list is refused with its own error, and nothing is allocated for a
 * shape that the data does not back. */
typedef struct kinput {
    const cJSON *data;
    int dt, tensor;
    int64_t feature; /* the feature of a per-feature input */
    int64_t want;    /* values in data */
} kinput;

static int check_input(const cJSON *in, int i, int n_in, const aml_dataset *s, int64_t max_rows, int64_t *n,
                       int64_t *seen, kinput *k, char *err, size_t n_err)
{
    int64_t nf = s->n_features;
    char label[96];
    input_label(label, sizeof label, i, in);
    if (!cJSON_IsObject(in)) {
        snprintf(err, n_err, "%s: expected an object {\"name\", \"datatype\", \"shape\", \"data\"}", label);
        return 400;
    }
    const char *fields[] = {"name", "datatype", "shape", "data"};
    for (int f = 0; f < 4; f++)
        if (!cJSON_GetObjectItemCaseSensitive(in, fields[f])) {
            snprintf(err, n_err, "%s: \"%s\" is missing (an input is {\"name\", \"datatype\", \"shape\", \"data\"})",
                     label, fields[f]);
            return 400;
        }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(in, "datatype");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
    if (!cJSON_IsString(name)) {
        snprintf(err, n_err, "%s: name: expected a string", label);
        return 400;
    }
    if (!cJSON_IsString(dtype)) {
        snprintf(err, n_err, "%s: datatype: expected a string (FP32, FP64, INT64 or BYTES)", label);
        return 400;
    }
    int dt = datatype_of(dtype->valuestring);
    if (dt < 0) {
        snprintf(err, n_err, "%s: datatype \"%.32s\" is not supported (FP32, FP64, INT64 or BYTES)", label,
                 dtype->valuestring);
        return 400;
    }
    int64_t dims[2] = {0, 1};
    int rank = 0;
    if (read_shape(cJSON_GetObjectItemCaseSensitive(in, "shape"), label, dims, &rank, err, n_err) != 0)
        return 400;
    if (!cJSON_IsArray(data)) {
        snprintf(err, n_err, "%s: data: expected a list", label);
        return 400;
    }
    int64_t j = feature_index(s, name->valuestring);
    int tensor = n_in == 1 && rank == 2 && dims[1] == nf && (j < 0 || nf == 1);
    if (!tensor) {
        if (j < 0) {
            snprintf(err, n_err,
                     "inputs[%d]: unknown input '%.64s' (send one input per feature, named as in the model's "
                     "metadata, or one [n, %lld] tensor)",
                     i, name->valuestring, (long long)nf);
            return 400;
        }
        if (rank == 2 && dims[1] != 1) {
            snprintf(err, n_err, "%s: shape [%lld, %lld]: a feature input has shape [n] or [n, 1]", label,
                     (long long)dims[0], (long long)dims[1]);
            return 400;
        }
        if (seen[j]) {
            snprintf(err, n_err, "inputs[%d]: feature '%s' is given twice", i, s->feature_names[j]);
            return 400;
        }
        if (dt == DT_BYTES && !s->categorical[j]) {
            snprintf(err, n_err, "inputs[%d]: datatype BYTES is for categorical features; '%s' is numeric", i,
                     s->feature_names[j]);
            return 400;
        }
        seen[j] = 1;
    } else {
        for (int64_t q = 0; q < nf; q++)
            seen[q] = 1;
    }
    if (*n < 0) {
        if (dims[0] > max_rows)
            return too_many_rows(dims[0], max_rows, err, n_err);
        if (dims[0] == 0) {
            snprintf(err, n_err, "%s: no rows (shape[0] is 0)", label);
            return 400;
        }
        *n = dims[0];
    } else if (dims[0] != *n) {
        snprintf(err, n_err, "%s: shape[0] is %lld, inputs[0] has %lld rows", label, (long long)dims[0],
                 (long long)*n);
        return 400;
    }
    int64_t want = dims[0] * dims[1];
    int64_t got = count_leaves(data, 0, want);
    if (got != want) {
        char shp[64], have[32] = "more";
        if (rank == 2)
            snprintf(shp, sizeof shp, "[%lld, %lld]", (long long)dims[0], (long long)dims[1]);
        else
            snprintf(shp, sizeof shp, "[%lld]", (long long)dims[0]);
        if (got <= want)
            snprintf(have, sizeof have, "%lld", (long long)got);
        snprintf(err, n_err, "%s: shape %s needs %lld values, data has %s", label, shp, (long long)want, have);
        return 400;
    }
    *k = (kinput){.data = data, .dt = dt, .tensor = tensor, .feature = j, .want = want};
    return 0;
}

int amld_decode_kserve_inputs(const cJSON *inputs, const aml_dataset *s, int64_t max_rows, amld_rows *out,
                              char *err, size_t n_err)
{
    int64_t nf = s->n_features;
    int n_in = cJSON_GetArraySize(inputs);
    if (!cJSON_IsArray(inputs) || n_in == 0) {
        snprintf(err, n_err, "\"inputs\": expected a non-empty list of tensors");
        return 400;
    }
    if (n_in > nf) {
        snprintf(err, n_err, "\"inputs\": %d inputs, the model has %lld features (send one input per feature, "
                 "or one [n, %lld] tensor)", n_in, (long long)nf, (long long)nf);
        return 400;
    }
    const cJSON **leaves = NULL;
    float *X = NULL;
    int64_t *seen = aml_xcalloc((size_t)nf + 1, sizeof(int64_t));
    kinput *ks = aml_xcalloc((size_t)n_in, sizeof *ks);
    int64_t n = -1, most = 0;
    int code = 0, i = 0;
    const cJSON *in;
    cJSON_ArrayForEach(in, inputs)
    {
        if ((code = check_input(in, i, n_in, s, max_rows, &n, seen, &ks[i], err, n_err)) != 0)
            goto fail;
        if (ks[i].want > most)
            most = ks[i].want;
        i++;
    }
    for (int64_t j = 0; j < nf; j++)
        if (!seen[j]) {
            snprintf(err, n_err, "missing input '%s' (send one input per feature, or one [n, %lld] tensor)",
                     s->feature_names[j], (long long)nf);
            code = 400;
            goto fail;
        }
    /* Every input is well formed and together they hold exactly n x nf values. */
    X = aml_xmalloc(sizeof(float) * (size_t)(n * nf));
    leaves = aml_xmalloc(sizeof(*leaves) * (size_t)(most + 1));
    for (i = 0; i < n_in; i++) {
        const kinput *k = &ks[i];
        flatten(k->data, leaves, 0, k->want);
        for (int64_t e = 0; e < k->want; e++) {
            int64_t row = k->tensor ? e / nf : e, col = k->tensor ? e % nf : k->feature;
            where w = {"inputs", i, e};
            if ((code = cell(leaves[e], s, col, k->dt, &X[row * nf + col], &w, err, n_err)) != 0)
                goto fail;
        }
    }
    free(ks);
    free(seen);
    free(leaves);
    out->X = X;
    out->n = n;
    return 0;
fail:
    free(ks);
    free(seen);
    free(leaves);
    free(X);
    return code ? code : 400;
}

int amld_decode_instances(const cJSON *instances, const aml_dataset *s, int64_t max_rows, amld_rows *out,
                          char *err, size_t n_err)
{
    int64_t nf = s->n_features;
    if (!cJSON_IsArray(instances)) {
        snprintf(err, n_err, "\"instances\": expected a list of rows");
        return 400;
    }
    int64_t n = cJSON_GetArraySize(instances);
    if (n == 0) {
        snprintf(err, n_err, "\"instances\": no rows");
        return 400;
    }
    if (n > max_rows)
        return too_many_rows(n, max_rows, err, n_err);
    float *X = aml_xmalloc(sizeof(float) * (size_t)(n * nf));
    int64_t i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, instances)
    {
        if (cJSON_IsArray(row)) {
            if (cJSON_GetArraySize(row) != nf) {
                snprintf(err, n_err, "instances[%lld]: expected %lld values (one per feature), got %d",
                         (long long)i, (long long)nf, cJSON_GetArraySize(row));
                goto fail;
            }
            int64_t j = 0;
            const cJSON *v;
            cJSON_ArrayForEach(v, row)
            {
                where w = {"instances", i, j};
                if (cell(v, s, j, DT_ANY, &X[i * nf + j], &w, err, n_err) != 0)
                    goto fail;
                j++;
            }
        } else if (cJSON_IsObject(row)) {
            /* Unknown keys first, then duplicates: the lookups below then walk at most nf keys. */
            const cJSON *v;
            cJSON_ArrayForEach(v, row)
            {
                if (feature_index(s, v->string) < 0) {
                    snprintf(err, n_err, "instances[%lld]: unknown feature '%.64s'", (long long)i, v->string);
                    goto fail;
                }
            }
            if (cJSON_GetArraySize(row) > nf) {
                snprintf(err, n_err, "instances[%lld]: a feature is given twice (%d fields, %lld features)",
                         (long long)i, cJSON_GetArraySize(row), (long long)nf);
                goto fail;
            }
            for (int64_t j = 0; j < nf; j++) {
                v = cJSON_GetObjectItemCaseSensitive(row, s->feature_names[j]);
                if (!v) {
                    snprintf(err, n_err, "instances[%lld]: missing feature '%s'", (long long)i, s->feature_names[j]);
                    goto fail;
                }
                where w = {"instances", i, j};
                if (cell(v, s, j, DT_ANY, &X[i * nf + j], &w, err, n_err) != 0)
                    goto fail;
            }
        } else {
            snprintf(err, n_err, "instances[%lld]: expected a list of %lld values or an object keyed by feature name",
                     (long long)i, (long long)nf);
            goto fail;
        }
        i++;
    }
    out->X = X;
    out->n = n;
    return 0;
fail:
    free(X);
    return 400;
}

int amld_decode_columns(const cJSON *inputs, const aml_dataset *s, int64_t max_rows, amld_rows *out,
                        char *err, size_t n_err)
{
    int64_t nf = s->n_features;
    if (!cJSON_IsObject(inputs)) {
        snprintf(err, n_err, "\"inputs\": expected an object keyed by feature name");
        return 400;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, inputs)
    {
        if (feature_index(s, v->string) < 0) {
            snprintf(err, n_err, "inputs: unknown feature '%.64s'", v->string);
            return 400;
        }
    }
    if (cJSON_GetArraySize(inputs) > nf) {
        snprintf(err, n_err, "inputs: a feature is given twice (%d columns, %lld features)", cJSON_GetArraySize(inputs),
                 (long long)nf);
        return 400;
    }
    int64_t n = -1;
    float *X = NULL;
    for (int64_t j = 0; j < nf; j++) {
        const cJSON *col = cJSON_GetObjectItemCaseSensitive(inputs, s->feature_names[j]);
        if (!cJSON_IsArray(col)) {
            snprintf(err, n_err, "inputs: missing feature '%s' (a list of values per feature)", s->feature_names[j]);
            goto fail;
        }
        int64_t m = cJSON_GetArraySize(col);
        if (n < 0) {
            if ((n = m) > max_rows) {
                free(X);
                return too_many_rows(n, max_rows, err, n_err);
            }
            if (n == 0) {
                snprintf(err, n_err, "inputs: no rows");
                goto fail;
            }
            X = aml_xmalloc(sizeof(float) * (size_t)(n * nf));
        } else if (m != n) {
            snprintf(err, n_err, "inputs: '%s' has %lld values, '%s' has %lld", s->feature_names[j], (long long)m,
                     s->feature_names[0], (long long)n);
            goto fail;
        }
        int64_t i = 0;
        cJSON_ArrayForEach(v, col)
        {
            where w = {"inputs", j, i};
            if (cell(v, s, j, DT_ANY, &X[i * nf + j], &w, err, n_err) != 0)
                goto fail;
            i++;
        }
    }
    out->X = X;
    out->n = n;
    return 0;
fail:
    free(X);
    return 400;
}

int amld_check_width(const aml_artifact *a, char *err, size_t n_err)
{
    int k = a->model.n_outputs;
    int classes = a->schema->task == AML_TASK_CLASSIFICATION ? a->schema->n_classes : 1;
    if (k >= 1 && k == classes)
        return 0;
    snprintf(err, n_err, "the model predicts %d value(s) per row, the manifest lists %d %s", k, classes,
             a->schema->task == AML_TASK_CLASSIFICATION ? "class(es)" : "target (regression)");
    return 500;
}

int amld_predict(amld_version *v, const amld_rows *rows, double **pred, char *err, size_t n_err)
{
    int64_t nf = v->art.schema->n_features;
    int k = v->art.model.n_outputs;
    /* The handlers index class names by argmax: never past the list, whatever the artifact says
     * (the version was checked at load; this guards the invariant where it is used). */
    char why[256];
    if (amld_check_width(&v->art, why, sizeof why) != 0) {
        snprintf(err, n_err, "model '%s' version %d: %s", v->model, v->version, why);
        return 500;
    }
    double *out = aml_xmalloc(sizeof(double) * (size_t)(rows->n * k + 1));
    aml_matrix X = {rows->X, rows->n, nf, nf};
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_ctx c = {{0}};
    if (aml_fitted_predict(&c, &hc, &v->art.model, &X, out) != AML_OK) {
        snprintf(err, n_err, "model '%s' version %d: %s", v->model, v->version, c.msg);
        free(out);
        return 500;
    }
    amld_drift_add(v->drift, rows->X, rows->n, out, k);
    *pred = out;
    return 0;
}
