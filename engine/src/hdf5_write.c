/* Writing the HDF5 dataset schema of DESIGN.md §4 (what hdf5_io.c reads): X as float32, the
 * target, names, types, levels and weights, as h5py-based tools expect them. The file is built
 * in memory and written with plain write/fsync/rename, atomically: no partial file on error. */
#include "dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static herr_t write_array(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
                          const void *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(f, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(space);
    return rc;
}

/* Variable-length UTF-8 strings, as h5py writes str arrays. */
static herr_t write_strings(hid_t f, const char *name, char *const *s, int64_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dim = (hsize_t)n;
    const char *empty = "";
    herr_t rc = write_array(f, name, t, t, 1, &dim, n ? (const void *)s : (const void *)&empty);
    H5Tclose(t);
    return rc;
}

static herr_t write_string_attr(hid_t f, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    H5Tclose(t);
    return rc;
}

static herr_t write_body(hid_t f, const aml_dataset *d)
{
    int64_t n = d->n_rows, p = d->n_features;
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)p};
    if (write_array(f, "/X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, d->X) < 0)
        return -1;
    if (d->task == AML_TASK_CLASSIFICATION && d->label) {
        int64_t *y = aml_xmalloc((size_t)(n ? n : 1) * sizeof *y);
        for (int64_t i = 0; i < n; i++)
            y[i] = d->label[i];
        herr_t rc = write_array(f, "/y", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, y);
        free(y);
        if (rc < 0 || write_strings(f, "/target_names", d->class_names, d->n_classes) < 0)
            return -1;
    } else if (d->task == AML_TASK_REGRESSION && d->value) {
        if (write_array(f, "/y", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, d->value) < 0)
            return -1;
    }
    if (write_strings(f, "/feature_names", d->feature_names, p) < 0)
        return -1;
    char **types = aml_xcalloc((size_t)p + 1, sizeof *types);
    int64_t *idx = aml_xcalloc((size_t)p + 1, sizeof *idx), n_idx = 0;
    for (int64_t j = 0; j < p; j++) {
        types[j] = d->categorical[j] ? "categorical" : "numeric";
        if (d->categorical[j])
            idx[n_idx++] = j;
    }
    hsize_t ni = (hsize_t)n_idx;
    herr_t rc = write_strings(f, "/feature_types", types, p);
    if (rc >= 0) /* also what h5py-based tools expect */
        rc = write_array(f, "/categorical_idx", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &ni, idx);
    free(types);
    free(idx);
    if (rc < 0)
        return -1;
    if (aml_dataset_n_categorical(d) > 0) {
        hid_t g = H5Gcreate2(f, "/categories", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0)
            return -1;
        H5Gclose(g);
        for (int64_t j = 0; j < p && rc >= 0; j++) {
            if (!d->categorical[j])
                continue;
            char *esc = aml_hdf5_escape_name(d->feature_names[j]);
            char *name = aml_xasprintf("/categories/%s", esc);
            rc = write_strings(f, name, d->categories[j], d->categories[j] ? d->n_categories[j] : 0);
            free(name);
            free(esc);
        }
        if (rc < 0)
            return -1;
    }
    if (d->weight && write_array(f, "/weights", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, d->weight) < 0)
        return -1;
    if (write_string_attr(f, "target", d->target_name ? d->target_name : "target") < 0)
        return -1;
    if (d->task && write_string_attr(f, "task", aml_dataset_task_name(d->task)) < 0)
        return -1;
    return 0;
}

/* The HDF5 file as bytes: built with the core (memory) driver, so that no HDF5 call touches the
 * disk. A write that fails inside libhdf5 leaves its file id half-closed, and the library's exit
 * handler then crashes on it (H5F__close_cb); our own write() calls fail cleanly with errno. */
static aml_status build_image(aml_ctx *c, const char *path, const aml_dataset *d, void **image, size_t *size)
{
    aml_status st = AML_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    if (fapl < 0 || H5Pset_fapl_core(fapl, 4 << 20, 0) < 0 ||
        (f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: cannot create an HDF5 file in memory", path);
        goto done;
    }
    ssize_t n = -1;
    if (write_body(f, d) < 0 || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(f, NULL, 0)) <= 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: building the HDF5 file failed", path);
        goto done;
    }
    *image = aml_xmalloc((size_t)n);
    if (H5Fget_file_image(f, *image, (size_t)n) != n) {
        free(*image);
        *image = NULL;
        st = aml_fail(c, AML_ERR_IO, "%s: building the HDF5 file failed", path);
        goto done;
    }
    *size = (size_t)n;
done:
    if (f >= 0)
        H5Fclose(f);
    if (fapl >= 0)
        H5Pclose(fapl);
    return st;
}

/* Writes all of buf to fd, through short writes and EINTR; -1 with errno on failure. */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

aml_status aml_hdf5_write_temp(aml_ctx *c, const char *path, const aml_dataset *d, char **tmp_out)
{
    aml_hdf5_quiet();
    void *image = NULL;
    size_t size = 0;
    aml_status st = build_image(c, path, d, &image, &size);
    if (st)
        return st;
    char *tmp = aml_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(image);
        free(tmp);
        return st;
    }
    /* Durable before it can become visible under the final name; close can report a late error. */
    if (write_all(fd, image, size) != 0 || fsync(fd) != 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: writing the HDF5 file failed: %s", path, strerror(errno));
        close(fd);
    } else if (close(fd) != 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: writing the HDF5 file failed: %s", path, strerror(errno));
    }
    free(image);
    if (st) {
        unlink(tmp);
        free(tmp);
        return st;
    }
    *tmp_out = tmp;
    return AML_OK;
}

aml_status aml_hdf5_commit(aml_ctx *c, const char *tmp, const char *path)
{
    if (rename(tmp, path) == 0)
        return AML_OK;
    aml_status st = aml_fail(c, AML_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    unlink(tmp);
    return st;
}

aml_status aml_hdf5_write(aml_ctx *c, const char *path, const aml_dataset *d)
{
    char *tmp = NULL;
    aml_status st = aml_hdf5_write_temp(c, path, d, &tmp);
    if (!st)
        st = aml_hdf5_commit(c, tmp, path);
    free(tmp);
    return st;
}
