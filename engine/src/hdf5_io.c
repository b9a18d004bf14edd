/* Reading the HDF5 dataset schema of DESIGN.md §4 with the libhdf5 C API (hdf5_write.c writes it).
 * The reader accepts what h5py users write (float64 X, int64 y, /categorical_idx, variable- or
 * fixed-length strings) and believes nothing a file declares: every dataset's size must be backed
 * by data in the file and fit in memory before it is read, values must fit float32, strings must
 * be UTF-8. */
#include "dataset.h"

#include <errno.h>
#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A categorical column without stored levels gets "0".."max"; bound max so a float column
 * flagged categorical by mistake fails clearly instead of allocating millions of levels. */
#define MAX_SYNTH_LEVELS 65536
/* A string attribute (target, task, labels) longer than this is not a name. */
#define MAX_ATTR_BYTES (1 << 20)
/* Rows of /X converted per block: float64 is read into a bounded buffer, checked, then narrowed. */
#define X_BLOCK_CELLS (1 << 18)

void aml_hdf5_quiet(void)
{
    /* The library would print its error stack on stderr; our messages say what went wrong. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static const char *class_name(H5T_class_t k)
{
    switch (k) {
    case H5T_INTEGER:
        return "integer";
    case H5T_FLOAT:
        return "float";
    case H5T_STRING:
        return "string";
    case H5T_COMPOUND:
        return "compound";
    case H5T_ENUM:
        return "enum";
    case H5T_OPAQUE:
        return "opaque";
    case H5T_ARRAY:
        return "array";
    case H5T_VLEN:
        return "variable-length";
    case H5T_REFERENCE:
        return "reference";
    case H5T_BITFIELD:
        return "bitfield";
    default:
        return "unknown";
    }
}

static int exists(hid_t loc, const char *name) { return H5Lexists(loc, name, H5P_DEFAULT) > 0; }

/* Group and dataset names cannot hold '/'; escape it (and the escape char) in /categories/<name>. */
char *aml_hdf5_escape_name(const char *s)
{
    if (!*s)
        return aml_xstrdup("%00");
    if (!strcmp(s, "."))
        return aml_xstrdup("%2E");
    char *o = aml_xmalloc(3 * strlen(s) + 1), *p = o;
    for (; *s; s++) {
        if (*s == '/' || *s == '%')
            p += sprintf(p, "%%%02X", (unsigned char)*s);
        else
            *p++ = *s;
    }
    *p = 0;
    return o;
}

/* "1000 x 13" for messages. */
static void dims_text(int nd, const hsize_t *dims, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < nd && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%llu", i ? " x " : "", (unsigned long long)dims[i]);
}

/* A dataset's declared size must be backed by data inside the file before anything is allocated
 * for it: contiguous (or compact) storage at least as large as the cells declare, every chunk of
 * a chunked one written (compression makes chunks smaller, never fewer), nothing stored in other
 * files. Unwritten data would read as the fill value: rows that were never in the file. */
static aml_status check_declared(aml_ctx *c, const char *path, const char *name, hid_t ds, int nd, const hsize_t *dims)
{
    aml_status st = AML_OK;
    hid_t type = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    size_t cell = H5Tget_size(type);
    char shape[128];
    dims_text(nd, dims, shape, sizeof shape);
    uint64_t cells = 1, bytes;
    int overflow = 0;
    for (int i = 0; i < nd; i++)
        overflow |= __builtin_mul_overflow(cells, (uint64_t)dims[i], &cells);
    overflow |= __builtin_mul_overflow(cells, (uint64_t)cell, &bytes);
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (type < 0 || dcpl < 0 || layout < 0) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: %s: cannot read its type or layout", path, name);
    } else if (overflow) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: %s: declares %s cells of %zu bytes, more than 2^64 bytes", path, name,
                      shape, cell);
    } else if (layout == H5D_VIRTUAL || (layout == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) > 0)) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: %s: its data is stored in other files; only data inside the file is read",
                      path, name);
    } else if (cells > 0 && layout == H5D_CHUNKED) {
        hsize_t chunk[H5S_MAX_RANK], written = 0;
        uint64_t expected = 1;
        int cr = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk);
        for (int i = 0; i < nd && cr == nd; i++)
            if (chunk[i] == 0 || __builtin_mul_overflow(expected, (dims[i] + chunk[i] - 1) / chunk[i], &expected))
                cr = -1;
        hid_t space = H5Dget_space(ds);
        herr_t rc = cr == nd ? H5Dget_num_chunks(ds, space, &written) : -1;
        H5Sclose(space);
        if (rc < 0)
            st = aml_fail(c, AML_ERR_INPUT, "%s: %s: cannot read its chunk layout", path, name);
        else if (written < expected)
            st = aml_fail(c, AML_ERR_INPUT,
                          "%s: %s: declares %s cells in %llu chunks but only %llu of them are in the file (the rest "
                          "would read as fill values, not data)",
                          path, name, shape, (unsigned long long)expected, (unsigned long long)written);
    } else if (cells > 0) {
        hsize_t stored = H5Dget_storage_size(ds);
        if (stored < bytes) {
            char need[32], have[32];
            aml_format_bytes((double)bytes, need);
            aml_format_bytes((double)stored, have);
            st = aml_fail(c, AML_ERR_INPUT,
                          "%s: %s: declares %s cells (%s) but the file holds %s of them (never written, or the file "
                          "is truncated)",
                          path, name, shape, need, have);
        }
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    return st;
}

/* Opens dataset `name` and checks its rank (1 or 2), its type class and that its declared size
 * is backed by the file; dims gets the shape. */
static aml_status open_dataset(aml_ctx *c, const char *path, hid_t f, const char *name, int rank,
                               const char *expected, hid_t *ds_out, H5T_class_t *cls, hsize_t dims[2])
{
    hid_t obj = H5Oopen(f, name, H5P_DEFAULT);
    if (obj < 0)
        return aml_fail(c, AML_ERR_INPUT, "%s: %s: cannot open; expected %s", path, name, expected);
    if (H5Iget_type(obj) != H5I_DATASET) {
        H5Oclose(obj);
        return aml_fail(c, AML_ERR_INPUT, "%s: %s: is a group; expected %s", path, name, expected);
    }
    hid_t space = H5Dget_space(obj), type = H5Dget_type(obj);
    int nd = H5Sget_simple_extent_ndims(space), stored_rank = nd;
    hsize_t d[H5S_MAX_RANK] = {0};
    if (nd > 0)
        H5Sget_simple_extent_dims(space, d, NULL);
    *cls = H5Tget_class(type);
    H5Tclose(type);
    H5Sclose(space);
    /* A [n, 1] column is accepted where a vector is expected: some writers keep 2-D shapes. */
    if (rank == 1 && nd == 2 && d[1] == 1)
        nd = 1;
    if (nd != rank) {
        H5Dclose(obj);
        if (nd == 0)
            return aml_fail(c, AML_ERR_INPUT, "%s: %s: expected %s, got a scalar", path, name, expected);
        return aml_fail(c, AML_ERR_INPUT, "%s: %s: expected %s, got %d-D", path, name, expected, nd);
    }
    aml_status st = check_declared(c, path, name, obj, stored_rank, d);
    if (st) {
        H5Dclose(obj);
        return st;
    }
    dims[0] = d[0];
    dims[1] = rank == 2 ? d[1] : 1;
    *ds_out = obj;
    return AML_OK;
}

/* Strings enter manifests, JSON and /metrics: each must be UTF-8. `where` names it in the message. */
static aml_status check_text(aml_ctx *c, const char *path, const char *where, const char *s)
{
    int64_t bad = aml_utf8_invalid(s, strlen(s));
    if (bad < 0)
        return AML_OK;
    char *shown = aml_escape_bytes(s, strlen(s));
    aml_status st = aml_fail(c, AML_ERR_INPUT,
                             "%s: %s: '%s' is not UTF-8 (byte 0x%02X at offset %lld); names and levels must be UTF-8 text",
                             path, where, shown, (unsigned char)s[bad], (long long)bad);
    free(shown);
    return st;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    int r = strcmp(**(char *const *const *)a, **(char *const *const *)b);
    return r ? r : (*(char *const *const *)a > *(char *const *const *)b) - (*(char *const *const *)a < *(char *const *const *)b);
}

/* Two entries with the same text would merge when a model reads text back: the index of the
 * first of a duplicated pair in *first and *second, or 0 when all differ. */
static int find_duplicate(char *const *v, int64_t n, int64_t *first, int64_t *second)
{
    char *const **order = aml_xcalloc((size_t)n + 1, sizeof *order);
    for (int64_t i = 0; i < n; i++)
        order[i] = &v[i];
    qsort(order, (size_t)n, sizeof *order, cmp_str_ptr);
    int found = 0;
    for (int64_t i = 1; i < n && !found; i++)
        if (!strcmp(*order[i - 1], *order[i])) {
            *first = order[i - 1] - v;
            *second = order[i] - v;
            found = 1;
        }
    free(order);
    return found;
}

/* Reads a 1-D string dataset (variable or fixed length, any padding) into malloc'd strings,
 * each checked to be UTF-8. expect >= 0 checks the count; `what` names what each entry stands for
 * in that message. */
static aml_status read_strings(aml_ctx *c, const char *path, hid_t f, const char *name, int64_t expect,
                               const char *what, char ***out, int64_t *count)
{
    hid_t ds;
    H5T_class_t cls;
    hsize_t dims[2];
    char **res = NULL;
    aml_status st = open_dataset(c, path, f, name, 1, "a 1-D array of strings", &ds, &cls, dims);
    if (st)
        return st;
    int64_t n = (int64_t)dims[0];
    if (cls != H5T_STRING) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: %s: expected a 1-D array of strings, got %s", path, name, class_name(cls));
        goto done;
    }
    if (expect >= 0 && n != expect) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: %s has %lld entries, expected %lld (one per %s)", path, name,
                      (long long)n, (long long)expect, what);
        goto done;
    }
    hid_t ftype = H5Dget_type(ds);
    int variable = H5Tis_variable_str(ftype) > 0;
    /* Variable-length text lives in the file's heap (bounded by the file); fixed-length cells are
     * allocated as declared. */
    if ((st = aml_data_check_memory(c, path, name, (uint64_t)n, 1, variable ? 1 : H5Tget_size(ftype) + 1,
                                    2 * sizeof(char *)))) {
        H5Tclose(ftype);
        goto done;
    }
    hid_t mtype = H5Tcopy(H5T_C_S1);
    /* HDF5 refuses to convert between ASCII and UTF-8 strings: read in the file's own set. */
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    res = aml_xcalloc((size_t)n + 1, sizeof *res);
    herr_t rc;
    if (variable) {
        H5Tset_size(mtype, H5T_VARIABLE);
        char **raw = aml_xcalloc((size_t)n + 1, sizeof *raw);
        rc = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
        if (rc >= 0) {
            for (int64_t i = 0; i < n; i++)
                res[i] = aml_xstrdup(raw[i] ? raw[i] : "");
            hid_t space = H5Dget_space(ds);
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
            H5Sclose(space);
        }
        free(raw);
    } else {
        size_t sz = H5Tget_size(ftype) + 1;
        H5Tset_size(mtype, sz);
        H5Tset_strpad(mtype, H5T_STR_NULLTERM);
        char *raw = aml_xcalloc((size_t)n + 1, sz);
        rc = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
        if (rc >= 0)
            for (int64_t i = 0; i < n; i++) {
                char *s = raw + (size_t)i * sz;
                s[sz - 1] = 0;
                size_t len = strlen(s);
                while (len > 0 && s[len - 1] == ' ') /* space-padded strings */
                    s[--len] = 0;
                res[i] = aml_xstrdup(s);
            }
        free(raw);
    }
    H5Tclose(mtype);
    H5Tclose(ftype);
    if (rc < 0) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: %s: cannot read the strings", path, name);
        goto done;
    }
    for (int64_t i = 0; i < n && !st; i++) {
        char *where = aml_xasprintf("%s[%lld]", name, (long long)i);
        st = check_text(c, path, where, res[i]);
        free(where);
    }
    if (st)
        goto done;
    *out = res;
    *count = n;
    res = NULL;
done:
    if (res) {
        for (int64_t i = 0; i < n; i++)
            free(res[i]);
        free(res);
    }
    H5Dclose(ds);
    return st;
}

/* A string attribute of the file (scalar or one element) into *out, NULL when absent or not a
 * string. Its text must be UTF-8, and short enough to be a name. */
static aml_status read_string_attr(aml_ctx *c, const char *path, hid_t f, const char *name, char **out)
{
    *out = NULL;
    if (H5Aexists(f, name) <= 0)
        return AML_OK;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0)
        return AML_OK;
    char *res = NULL;
    aml_status st = AML_OK;
    hid_t ftype = H5Aget_type(a), space = H5Aget_space(a);
    if (H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) <= 0 && H5Tget_size(ftype) > MAX_ATTR_BYTES) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: attribute '%s': a string of %zu bytes; expected a name under %d bytes", path,
                      name, H5Tget_size(ftype), MAX_ATTR_BYTES);
    } else if (H5Tget_class(ftype) == H5T_STRING && H5Sget_simple_extent_npoints(space) == 1) {
        hid_t mtype = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        if (H5Tis_variable_str(ftype) > 0) {
            char *raw = NULL;
            H5Tset_size(mtype, H5T_VARIABLE);
            if (H5Aread(a, mtype, &raw) >= 0 && raw) {
                res = aml_xstrdup(raw);
                H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &raw);
            }
        } else {
            size_t sz = H5Tget_size(ftype) + 1;
            char *raw = aml_xcalloc(sz, 1);
            H5Tset_size(mtype, sz);
            H5Tset_strpad(mtype, H5T_STR_NULLTERM);
            if (H5Aread(a, mtype, raw) >= 0)
                res = aml_xstrdup(raw);
            free(raw);
        }
        H5Tclose(mtype);
    }
    H5Sclose(space);
    H5Tclose(ftype);
    H5Aclose(a);
    if (!st && res && strlen(res) > MAX_ATTR_BYTES)
        st = aml_fail(c, AML_ERR_INPUT, "%s: attribute '%s': a string of %zu bytes; expected a name under %d bytes", path,
                      name, strlen(res), MAX_ATTR_BYTES);
    if (!st && res) {
        char *where = aml_xasprintf("attribute '%s'", name);
        st = check_text(c, path, where, res);
        free(where);
    }
    if (st) {
        free(res);
        return st;
    }
    *out = res;
    return AML_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Splits "a|b|c" (h5py fixtures' "labels" attribute) into n strings; returns the count. */
static int64_t split_labels(const char *s, char ***out)
{
    int64_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == '|';
    char **v = aml_xcalloc((size_t)n, sizeof *v);
    int64_t i = 0;
    for (const char *p = s;; i++) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        v[i] = aml_xmalloc(len + 1);
        memcpy(v[i], p, len);
        v[i][len] = 0;
        if (!e)
            break;
        p = e + 1;
    }
    *out = v;
    return n;
}

static void free_strv(char **v, int64_t n)
{
    if (!v)
        return;
    for (int64_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Class codes -> 0..K-1 in sorted order; names from /target_names, else the h5py "labels"
 * attribute, else the codes as text. Names are indexed by code (as scikit-learn's target_names). */
static aml_status read_classes(aml_ctx *c, const char *path, hid_t f, hid_t ds, H5T_class_t cls, aml_dataset *d)
{
    aml_status st = AML_OK;
    int64_t n = d->n_rows, *code = aml_xmalloc((size_t)(n ? n : 1) * sizeof *code), *uniq = NULL;
    char **names = NULL;
    int64_t n_names = 0;
    if (cls == H5T_INTEGER) {
        if (H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, code) < 0) {
            st = aml_fail(c, AML_ERR_INPUT, "%s: /y: cannot read the class codes", path);
            goto done;
        }
    } else {
        double *v = aml_xmalloc((size_t)(n ? n : 1) * sizeof *v);
        herr_t rc = H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        for (int64_t i = 0; rc >= 0 && i < n; i++) {
            if (isnan(v[i]) || v[i] != floor(v[i]) || fabs(v[i]) > 9e15) {
                st = aml_fail(c, AML_ERR_INPUT, "%s: /y: row %lld holds %g; class labels must be integers (no NaN)",
                              path, (long long)i, v[i]);
                break;
            }
            code[i] = (int64_t)v[i];
        }
        free(v);
        if (rc < 0)
            st = aml_fail(c, AML_ERR_INPUT, "%s: /y: cannot read the class labels", path);
        if (st)
            goto done;
    }
    uniq = aml_xmalloc((size_t)(n ? n : 1) * sizeof *uniq);
    memcpy(uniq, code, (size_t)n * sizeof *uniq);
    qsort(uniq, (size_t)n, sizeof *uniq, cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || uniq[i] != uniq[k - 1])
            uniq[k++] = uniq[i];
    if (k > 1000000) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /y: %lld distinct class codes; is this a regression target stored as integers?",
                      path, (long long)k);
        goto done;
    }
    d->task = AML_TASK_CLASSIFICATION;
    d->n_classes = (int)k;
    d->label = aml_xmalloc((size_t)(n ? n : 1) * sizeof *d->label);
    for (int64_t i = 0; i < n; i++) {
        const int64_t *hit = bsearch(&code[i], uniq, (size_t)k, sizeof *uniq, cmp_i64);
        d->label[i] = (int32_t)(hit - uniq);
    }

    int from_attr = 0;
    if (exists(f, "target_names")) {
        st = read_strings(c, path, f, "/target_names", -1, "class", &names, &n_names);
        if (st)
            goto done;
    } else {
        char *labels = NULL;
        if ((st = read_string_attr(c, path, f, "labels", &labels)))
            goto done;
        if (labels && *labels) {
            n_names = split_labels(labels, &names);
            from_attr = 1;
        }
        free(labels);
    }
    if (names && (uniq[0] < 0 || uniq[k - 1] >= n_names)) {
        if (!from_attr) {
            st = aml_fail(c, AML_ERR_INPUT, "%s: /target_names has %lld names but /y holds class code %lld",
                          path, (long long)n_names, (long long)(uniq[0] < 0 ? uniq[0] : uniq[k - 1]));
            goto done;
        }
        free_strv(names, n_names); /* an informal attribute that does not fit: fall back to codes */
        names = NULL;
    }
    d->class_names = aml_xcalloc((size_t)k + 1, sizeof(char *));
    for (int64_t j = 0; j < k; j++)
        d->class_names[j] = names ? aml_xstrdup(names[uniq[j]]) : aml_xasprintf("%lld", (long long)uniq[j]);
    int64_t a, b;
    if (names && find_duplicate(d->class_names, k, &a, &b))
        st = aml_fail(c, AML_ERR_INPUT, "%s: %s: class codes %lld and %lld have the same name '%s'", path,
                      from_attr ? "attribute 'labels'" : "/target_names", (long long)uniq[a < b ? a : b],
                      (long long)uniq[a < b ? b : a], d->class_names[a]);
done:
    free_strv(names, n_names);
    free(code);
    free(uniq);
    return st;
}

static aml_status read_target(aml_ctx *c, const char *path, hid_t f, aml_dataset *d)
{
    hid_t ds;
    H5T_class_t cls;
    hsize_t dims[2];
    static const char *expect = "a 1-D integer (class codes) or float (values) array";
    aml_status st = open_dataset(c, path, f, "/y", 1, expect, &ds, &cls, dims);
    if (st)
        return st;
    char *task = NULL;
    if ((st = read_string_attr(c, path, f, "task", &task))) {
        H5Dclose(ds);
        return st;
    }
    if ((int64_t)dims[0] != d->n_rows) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /y has %lld rows, /X has %lld", path, (long long)dims[0], (long long)d->n_rows);
    } else if (cls == H5T_INTEGER || (cls == H5T_FLOAT && task && !strcmp(task, "classification"))) {
        st = read_classes(c, path, f, ds, cls, d);
    } else if (cls == H5T_FLOAT) {
        d->task = AML_TASK_REGRESSION;
        d->value = aml_xmalloc((size_t)(d->n_rows ? d->n_rows : 1) * sizeof *d->value);
        if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->value) < 0)
            st = aml_fail(c, AML_ERR_INPUT, "%s: /y: cannot read the target values", path);
        for (int64_t i = 0; !st && i < d->n_rows; i++)
            if (!isfinite(d->value[i]))
                st = aml_fail(c, AML_ERR_INPUT, "%s: /y: row %lld is %g; target values must be finite (no missing targets)",
                              path, (long long)i, d->value[i]);
    } else {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /y: expected %s, got %s", path, expect, class_name(cls));
    }
    free(task);
    H5Dclose(ds);
    return st;
}

/* Which features are categorical, and their levels. */
static aml_status read_schema(aml_ctx *c, const char *path, hid_t f, aml_dataset *d)
{
    aml_status st = AML_OK;
    int64_t p = d->n_features, n = 0;
    char **v = NULL;
    if (exists(f, "feature_names")) {
        if ((st = read_strings(c, path, f, "/feature_names", p, "column of /X", &v, &n)))
            return st;
        for (int64_t j = 0; j < p; j++) {
            free(d->feature_names[j]);
            d->feature_names[j] = v[j];
        }
        free(v);
        v = NULL;
        for (int64_t j = 0; j < p; j++)
            for (int64_t i = 0; i < j; i++)
                if (!strcmp(d->feature_names[i], d->feature_names[j]))
                    return aml_fail(c, AML_ERR_INPUT, "%s: /feature_names: duplicate name '%s' (columns %lld and %lld)",
                                    path, d->feature_names[j], (long long)i, (long long)j);
    }
    if (exists(f, "feature_types")) {
        if ((st = read_strings(c, path, f, "/feature_types", p, "column of /X", &v, &n)))
            return st;
        for (int64_t j = 0; j < p && !st; j++) {
            if (!strcmp(v[j], "categorical"))
                d->categorical[j] = 1;
            else if (strcmp(v[j], "numeric"))
                st = aml_fail(c, AML_ERR_INPUT, "%s: /feature_types[%lld]: expected \"numeric\" or \"categorical\", got \"%s\"",
                              path, (long long)j, v[j]);
        }
        free_strv(v, n);
        if (st)
            return st;
    }
    if (exists(f, "categorical_idx")) {
        hid_t ds;
        H5T_class_t cls;
        hsize_t dims[2];
        if ((st = open_dataset(c, path, f, "/categorical_idx", 1, "a 1-D integer array of column indices", &ds, &cls, dims)))
            return st;
        if ((st = aml_data_check_memory(c, path, "/categorical_idx", dims[0], 1, sizeof(int64_t), 0))) {
            H5Dclose(ds);
            return st;
        }
        int64_t *idx = aml_xmalloc((size_t)(dims[0] + 1) * sizeof *idx);
        if (cls != H5T_INTEGER)
            st = aml_fail(c, AML_ERR_INPUT, "%s: /categorical_idx: expected a 1-D integer array of column indices, got %s",
                          path, class_name(cls));
        else if (dims[0] > 0 && H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx) < 0)
            st = aml_fail(c, AML_ERR_INPUT, "%s: /categorical_idx: cannot read", path);
        for (hsize_t i = 0; !st && i < dims[0]; i++) {
            if (idx[i] < 0 || idx[i] >= p)
                st = aml_fail(c, AML_ERR_INPUT, "%s: /categorical_idx[%llu] = %lld; expected a column index in 0..%lld",
                              path, (unsigned long long)i, (long long)idx[i], (long long)(p - 1));
            else
                d->categorical[idx[i]] = 1;
        }
        free(idx);
        H5Dclose(ds);
        if (st)
            return st;
    }
    if (exists(f, "categories")) {
        for (int64_t j = 0; j < p && !st; j++) {
            char *esc = aml_hdf5_escape_name(d->feature_names[j]);
            char *name = aml_xasprintf("/categories/%s", esc);
            free(esc);
            if (exists(f, name)) {
                st = read_strings(c, path, f, name, -1, "level", &v, &n);
                int64_t a, b;
                if (!st && n > INT32_MAX) {
                    st = aml_fail(c, AML_ERR_INPUT, "%s: %s: %lld levels; expected at most %d", path, name, (long long)n,
                                  INT32_MAX);
                    free_strv(v, n);
                } else if (!st && find_duplicate(v, n, &a, &b)) {
                    st = aml_fail(c, AML_ERR_INPUT, "%s: %s: levels %lld and %lld are both '%s'", path, name,
                                  (long long)(a < b ? a : b), (long long)(a < b ? b : a), v[a]);
                    free_strv(v, n);
                } else if (!st) {
                    d->categorical[j] = 1;
                    d->categories[j] = v;
                    d->n_categories[j] = (int)n;
                }
            }
            free(name);
        }
    }
    return st;
}

/* Categorical cells must be level codes; columns without stored levels get "0".."max". */
static aml_status check_codes(aml_ctx *c, const char *path, aml_dataset *d)
{
    for (int64_t j = 0; j < d->n_features; j++) {
        if (!d->categorical[j])
            continue;
        double max = -1;
        int64_t limit = d->categories[j] ? d->n_categories[j] : MAX_SYNTH_LEVELS;
        for (int64_t i = 0; i < d->n_rows; i++) {
            float v = d->X[i * d->n_features + j];
            if (isnan(v))
                continue;
            if (v < 0 || v != floorf(v) || v >= (float)limit) {
                char expected[64];
                if (d->categories[j])
                    snprintf(expected, sizeof expected, "a level code 0..%lld", (long long)limit - 1);
                else
                    snprintf(expected, sizeof expected, "an integer level code 0..%d", MAX_SYNTH_LEVELS - 1);
                return aml_fail(c, AML_ERR_INPUT, "%s: /X: row %lld, column %lld ('%s') is categorical but holds %g; expected %s",
                                path, (long long)i, (long long)j, d->feature_names[j], (double)v, expected);
            }
            if (v > max)
                max = v;
        }
        if (!d->categories[j]) {
            int nl = (int)max + 1;
            d->n_categories[j] = nl;
            d->categories[j] = aml_xcalloc((size_t)nl + 1, sizeof(char *));
            for (int k = 0; k < nl; k++)
                d->categories[j][k] = aml_xasprintf("%d", k);
        }
    }
    return AML_OK;
}

/* Reads /X into d->X a block of rows at a time through a float64 buffer, so that a value float32
 * cannot hold is refused (HDF5 would turn 1e300 into inf without a word) and so is an infinity. */
static aml_status read_x(aml_ctx *c, const char *path, hid_t ds, aml_dataset *d)
{
    aml_status st = AML_OK;
    int64_t n = d->n_rows, p = d->n_features;
    int64_t rows = X_BLOCK_CELLS / p > 0 ? X_BLOCK_CELLS / p : 1;
    double *buf = aml_xmalloc((size_t)rows * (size_t)p * sizeof *buf);
    hid_t file_space = H5Dget_space(ds);
    for (int64_t r0 = 0; r0 < n && !st; r0 += rows) {
        hsize_t start[2] = {(hsize_t)r0, 0}, count[2] = {(hsize_t)(n - r0 < rows ? n - r0 : rows), (hsize_t)p};
        hid_t mem_space = H5Screate_simple(2, count, NULL);
        if (H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(ds, H5T_NATIVE_DOUBLE, mem_space, file_space, H5P_DEFAULT, buf) < 0)
            st = aml_fail(c, AML_ERR_INPUT, "%s: /X: cannot read the data (rows %lld..%lld)", path, (long long)r0,
                          (long long)(r0 + (int64_t)count[0] - 1));
        H5Sclose(mem_space);
        int64_t cells = (int64_t)count[0] * p;
        for (int64_t k = 0; k < cells && !st; k++) {
            double v = buf[k];
            if (isinf(v) || (!isnan(v) && fabs(v) > FLT_MAX))
                st = aml_fail(c, AML_ERR_INPUT,
                              "%s: /X: row %lld, column %lld ('%s') holds %g; expected a finite number within float32's "
                              "range (±3.4e38), or NaN for a missing value",
                              path, (long long)(r0 + k / p), (long long)(k % p), d->feature_names[k % p], v);
            else
                d->X[r0 * p + k] = (float)v;
        }
    }
    H5Sclose(file_space);
    free(buf);
    return st;
}

/* /weights, read as float64 so the message shows the file's value, checked, then narrowed. */
static aml_status read_weights(aml_ctx *c, const char *path, hid_t f, aml_dataset *d)
{
    hid_t ds;
    H5T_class_t cls;
    hsize_t dims[2];
    aml_status st = open_dataset(c, path, f, "/weights", 1, "a 1-D float array", &ds, &cls, dims);
    if (st)
        return st;
    double *w = NULL;
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /weights: expected a 1-D float array, got %s", path, class_name(cls));
        goto done;
    }
    if ((int64_t)dims[0] != d->n_rows) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /weights has %lld rows, /X has %lld", path, (long long)dims[0],
                      (long long)d->n_rows);
        goto done;
    }
    w = aml_xmalloc((size_t)d->n_rows * sizeof *w);
    if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) < 0) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /weights: cannot read", path);
        goto done;
    }
    for (int64_t i = 0; i < d->n_rows; i++)
        if (!(w[i] >= 0) || w[i] > FLT_MAX) {
            st = aml_fail(c, AML_ERR_INPUT, "%s: /weights: row %lld is %g; expected a finite weight >= 0 (at most 3.4e38)",
                          path, (long long)i, w[i]);
            goto done;
        }
    d->weight = aml_xmalloc((size_t)d->n_rows * sizeof *d->weight);
    for (int64_t i = 0; i < d->n_rows; i++)
        d->weight[i] = (float)w[i];
done:
    free(w);
    H5Dclose(ds);
    return st;
}

aml_status aml_hdf5_read(aml_ctx *c, const char *path, aml_dataset **out)
{
    aml_hdf5_quiet();
    aml_status st = AML_OK;
    aml_dataset *d = NULL;
    hid_t f = -1, ds = -1;
    /* A FIFO would block the open, a device would be read without end: only regular files. */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return aml_fail(c, AML_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return aml_fail(c, AML_ERR_INPUT, "%s: not a regular file; expected an HDF5 file", path);
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return aml_fail(c, AML_ERR_INPUT, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0)
        return aml_fail(c, AML_ERR_INPUT, "%s: not an HDF5 file (convert a CSV with `automl import`)", path);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return aml_fail(c, AML_ERR_INPUT, "%s: cannot open as HDF5 (truncated or corrupt?)", path);

    static const char *expect_x = "a 2-D float32 or float64 array";
    if (!exists(f, "X")) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /X: missing; expected %s [rows, features]", path, expect_x);
        goto fail;
    }
    H5T_class_t cls;
    hsize_t dims[2];
    if ((st = open_dataset(c, path, f, "/X", 2, expect_x, &ds, &cls, dims)))
        goto fail;
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /X: expected %s, got %s", path, expect_x, class_name(cls));
        goto fail;
    }
    if (dims[0] == 0 || dims[1] == 0) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: /X: is empty (%llu x %llu); expected at least one row and one feature",
                      path, (unsigned long long)dims[0], (unsigned long long)dims[1]);
        goto fail;
    }
    /* X as float32 and per row a target (8 bytes), a weight (4) and room for a label: believed
     * only once the file backs the cells (open_dataset) and memory holds them. */
    if ((st = aml_data_check_memory(c, path, "/X", dims[0], dims[1], sizeof(float), 16)))
        goto fail;
    d = aml_dataset_alloc((int64_t)dims[0], (int64_t)dims[1]);

    /* The names first, so that a refused cell of /X can be named. */
    if ((st = read_schema(c, path, f, d)) || (st = read_x(c, path, ds, d)))
        goto fail;
    H5Dclose(ds);
    ds = -1;
    if (exists(f, "y") && (st = read_target(c, path, f, d)))
        goto fail;
    if ((st = check_codes(c, path, d)))
        goto fail;
    if (exists(f, "weights") && (st = read_weights(c, path, f, d)))
        goto fail;
    char *target = NULL;
    if ((st = read_string_attr(c, path, f, "target", &target)))
        goto fail;
    if (!target && (st = read_string_attr(c, path, f, "original_target", &target))) /* the h5py fixtures' attribute */
        goto fail;
    if (target) {
        free(d->target_name);
        d->target_name = target;
    }
    H5Fclose(f);
    d->path = aml_xstrdup(path);
    aml_dataset_fingerprint(d);
    *out = d;
    return AML_OK;
fail:
    if (ds >= 0)
        H5Dclose(ds);
    H5Fclose(f);
    aml_dataset_free(d);
    return st;
}
