/* HDF5 dataset I/O (hdf5_io.c): the h5py-written fixtures load as they are, a write -> read
 * round trip is exact, malformed files fail with messages naming the dataset path, and a
 * failed write leaves no file behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dataset.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA AML_SOURCE_DIR "/tests/data/"

static aml_dataset *read_ok(const char *path)
{
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    if (aml_hdf5_read(c, path, &d))
        fail_msg("%s", aml_errmsg(c));
    aml_ctx_free(c);
    return d;
}

static void read_fails(const char *path, const char *expected)
{
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    assert_int_equal(aml_hdf5_read(c, path, &d), AML_ERR_INPUT);
    assert_null(d);
    assert_string_equal(aml_errmsg(c), expected);
    aml_ctx_free(c);
}

static char *temp_dir(void)
{
    char *dir = strdup("/tmp/aml_h5_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = aml_xasprintf("%s/%s", dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
    free(dir);
}

static void test_iris_fixture(void **state)
{
    (void)state;
    aml_dataset *d = read_ok(DATA "iris.h5");
    assert_int_equal(d->n_rows, 150);
    assert_int_equal(d->n_features, 4);
    assert_int_equal(d->task, AML_TASK_CLASSIFICATION);
    assert_int_equal(d->n_classes, 3);
    /* class names come from the h5py fixtures' "labels" attribute */
    assert_string_equal(d->class_names[0], "setosa");
    assert_string_equal(d->class_names[2], "virginica");
    assert_string_equal(d->feature_names[0], "sepal_length_(cm)");
    assert_string_equal(d->feature_names[3], "petal_width_(cm)");
    assert_string_equal(d->target_name, "target");
    /* first row 5.1,3.5,1.4,0.2 (float64 in the file, float32 here) */
    assert_true(d->X[0] == 5.1f && d->X[1] == 3.5f && d->X[2] == 1.4f && d->X[3] == 0.2f);
    int count[3] = {0};
    for (int i = 0; i < 150; i++)
        count[d->label[i]]++;
    assert_int_equal(count[0], 50);
    assert_int_equal(count[1], 50);
    assert_int_equal(count[2], 50);
    assert_int_equal(d->label[149], 2);
    assert_int_equal(aml_dataset_n_categorical(d), 0);
    assert_null(d->weight);
    assert_string_equal(d->path, DATA "iris.h5");
    aml_dataset_free(d);
}

static void test_soybean_fixture(void **state)
{
    (void)state;
    aml_dataset *d = read_ok(DATA "Soybean.h5");
    assert_int_equal(d->n_rows, 683);
    assert_int_equal(d->n_features, 35);
    assert_int_equal(d->n_classes, 19);
    assert_string_equal(d->class_names[0], "2-4-d-injury");
    assert_string_equal(d->class_names[18], "rhizoctonia-root-rot");
    assert_string_equal(d->target_name, "Class");
    /* /categorical_idx = 0 5 6 7 8 12 13 17 20 21 23 25 27 28 34 */
    const int cat[] = {0, 5, 6, 7, 8, 12, 13, 17, 20, 21, 23, 25, 27, 28, 34};
    uint8_t expect[35] = {0};
    for (size_t k = 0; k < sizeof cat / sizeof cat[0]; k++)
        expect[cat[k]] = 1;
    assert_memory_equal(d->categorical, expect, 35);
    assert_int_equal(aml_dataset_n_categorical(d), 15);
    /* No stored levels: "0".."max code" (date 0..6; fruit.spots holds 0,1,2,4) */
    assert_int_equal(d->n_categories[0], 7);
    assert_string_equal(d->categories[0][6], "6");
    assert_int_equal(d->n_categories[28], 5);
    assert_int_equal(d->n_categories[1], 0);
    assert_null(d->categories[1]);
    /* Soybean.meta: missing_cells=2337 */
    int64_t per[35];
    assert_int_equal(aml_dataset_missing(d, per), 2337);
    assert_int_equal(per[0], 1);
    assert_int_equal(per[1], 36);
    aml_dataset_free(d);
}

static void test_fixed_length_strings_and_options(void **state)
{
    (void)state;
    aml_dataset *d = read_ok(DATA "h5/full_fixed.h5");
    assert_int_equal(d->n_rows, 4);
    assert_string_equal(d->feature_names[1], "colour");
    assert_string_equal(d->target_name, "kind");
    assert_false(d->categorical[0]);
    assert_true(d->categorical[1]);
    assert_int_equal(d->n_categories[1], 3);
    assert_string_equal(d->categories[1][2], "blue");
    /* y = 3,1,3,7 with target_names c0..c7: classes c1 c3 c7, indexed by code */
    assert_int_equal(d->n_classes, 3);
    assert_string_equal(d->class_names[0], "c1");
    assert_string_equal(d->class_names[1], "c3");
    assert_string_equal(d->class_names[2], "c7");
    const int32_t labels[4] = {1, 0, 1, 2};
    assert_memory_equal(d->label, labels, sizeof labels);
    const float w[4] = {1, 2, 0.5f, 1};
    assert_memory_equal(d->weight, w, sizeof w);
    assert_int_equal(aml_dataset_missing(d, NULL), 3);
    aml_dataset_free(d);

    d = read_ok(DATA "h5/minimal_regression.h5");
    assert_int_equal(d->task, AML_TASK_REGRESSION);
    const double v[3] = {0.25, -1.5, 3.0};
    assert_memory_equal(d->value, v, sizeof v);
    assert_string_equal(d->feature_names[1], "f1");
    aml_dataset_free(d);

    d = read_ok(DATA "h5/no_target.h5");
    assert_int_equal(d->task, 0);
    assert_null(d->label);
    assert_null(d->value);
    assert_string_equal(d->feature_names[1], "b");
    aml_dataset_free(d);
}

static void test_malformed_files(void **state)
{
    (void)state;
    read_fails(DATA "h5/x_1d.h5", DATA "h5/x_1d.h5: /X: expected a 2-D float32 or float64 array, got 1-D");
    read_fails(DATA "h5/x_string.h5", DATA "h5/x_string.h5: /X: expected a 2-D float32 or float64 array, got string");
    read_fails(DATA "h5/no_x.h5", DATA "h5/no_x.h5: /X: missing; expected a 2-D float32 or float64 array [rows, features]");
    read_fails(DATA "h5/y_mismatch.h5", DATA "h5/y_mismatch.h5: /y has 10 rows, /X has 12");
    read_fails(DATA "h5/y_nan_class.h5",
               DATA "h5/y_nan_class.h5: /y: row 1 holds nan; class labels must be integers (no NaN)");
    read_fails(DATA "h5/bad_feature_types.h5",
               DATA "h5/bad_feature_types.h5: /feature_types[1]: expected \"numeric\" or \"categorical\", got \"numerical\"");
    read_fails(DATA "h5/bad_categorical_idx.h5",
               DATA "h5/bad_categorical_idx.h5: /categorical_idx[1] = 2; expected a column index in 0..1");
    read_fails(DATA "h5/categorical_fraction.h5",
               DATA "h5/categorical_fraction.h5: /X: row 1, column 0 ('f0') is categorical but holds 0.5; "
                    "expected an integer level code 0..65535");
    read_fails(DATA "h5/target_names_short.h5",
               DATA "h5/target_names_short.h5: /target_names has 2 names but /y holds class code 5");
    read_fails(DATA "h5/not_hdf5.h5", DATA "h5/not_hdf5.h5: not an HDF5 file (convert a CSV with `automl import`)");
    read_fails(DATA "h5/absent.h5", DATA "h5/absent.h5: cannot open: No such file or directory");
}

/* Classification with categorical levels (one feature name holding '/'), NaN, weights. */
static aml_dataset *sample(void)
{
    aml_dataset *d = aml_dataset_alloc(5, 3);
    const float X[15] = {0.1f, 0, -3e-8f, NAN, 2, 1e30f, 7, 1, -0.0f, 3.25f, NAN, 123456.789f, -1, 0, 0.5f};
    memcpy(d->X, X, sizeof X);
    free(d->feature_names[1]);
    d->feature_names[1] = aml_xstrdup("a/b %2F");
    d->categorical[1] = 1;
    d->n_categories[1] = 3;
    d->categories[1] = calloc(3, sizeof(char *));
    d->categories[1][0] = aml_xstrdup("low");
    d->categories[1][1] = aml_xstrdup("mid, quoted \"x\"");
    d->categories[1][2] = aml_xstrdup("h\xc3\xb6\x63h"); /* UTF-8 */
    d->task = AML_TASK_CLASSIFICATION;
    d->n_classes = 2;
    d->class_names = calloc(2, sizeof(char *));
    d->class_names[0] = aml_xstrdup("no");
    d->class_names[1] = aml_xstrdup("yes");
    d->label = malloc(5 * sizeof *d->label);
    const int32_t y[5] = {1, 0, 0, 1, 1};
    memcpy(d->label, y, sizeof y);
    d->weight = malloc(5 * sizeof *d->weight);
    const float w[5] = {1, 0.5f, 2, 0, 1};
    memcpy(d->weight, w, sizeof w);
    free(d->target_name);
    d->target_name = aml_xstrdup("answer");
    aml_dataset_fingerprint(d);
    return d;
}

static void test_round_trip_exact(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *path = aml_xasprintf("%s/rt.h5", dir);
    aml_dataset *a = sample();
    aml_ctx *c = aml_ctx_new();
    assert_int_equal(aml_hdf5_write(c, path, a), AML_OK);
    assert_int_equal(count_entries(dir), 1); /* no temporary file left */
    aml_dataset *b = read_ok(path);
    assert_int_equal(b->n_rows, 5);
    assert_int_equal(b->n_features, 3);
    assert_memory_equal(b->X, a->X, 15 * sizeof(float)); /* bit for bit, NaN and -0 included */
    assert_int_equal(b->task, AML_TASK_CLASSIFICATION);
    assert_int_equal(b->n_classes, 2);
    assert_memory_equal(b->label, a->label, 5 * sizeof(int32_t));
    assert_string_equal(b->class_names[1], "yes");
    for (int j = 0; j < 3; j++)
        assert_string_equal(b->feature_names[j], a->feature_names[j]);
    assert_memory_equal(b->categorical, a->categorical, 3);
    assert_int_equal(b->n_categories[1], 3);
    for (int k = 0; k < 3; k++)
        assert_string_equal(b->categories[1][k], a->categories[1][k]);
    assert_null(b->categories[0]);
    assert_memory_equal(b->weight, a->weight, 5 * sizeof(float));
    assert_string_equal(b->target_name, "answer");
    assert_string_equal(b->fingerprint, a->fingerprint);
    aml_dataset_free(b);

    /* Regression, no weights, overwriting the same path. */
    aml_dataset *r = aml_dataset_alloc(2, 1);
    r->X[0] = 1;
    r->X[1] = 2;
    r->task = AML_TASK_REGRESSION;
    r->value = malloc(2 * sizeof *r->value);
    r->value[0] = 0.1;
    r->value[1] = -1e300;
    aml_dataset_fingerprint(r);
    assert_int_equal(aml_hdf5_write(c, path, r), AML_OK);
    b = read_ok(path);
    assert_int_equal(b->task, AML_TASK_REGRESSION);
    assert_memory_equal(b->value, r->value, 2 * sizeof(double));
    assert_null(b->weight);
    assert_null(b->label);
    assert_string_equal(b->fingerprint, r->fingerprint);
    aml_dataset_free(b);
    aml_dataset_free(r);
    assert_int_equal(count_entries(dir), 1);

    /* A write that cannot happen leaves nothing and says where. */
    char *bad = aml_xasprintf("%s/missing_dir/x.h5", dir);
    assert_int_equal(aml_hdf5_write(c, bad, a), AML_ERR_IO);
    assert_non_null(strstr(aml_errmsg(c), "/missing_dir/x.h5.tmp."));
    assert_non_null(strstr(aml_errmsg(c), ": cannot create: No such file or directory"));
    struct stat sb;
    assert_int_not_equal(stat(bad, &sb), 0);
    free(bad);

    aml_ctx_free(c);
    aml_dataset_free(a);
    free(path);
    remove_dir(dir);
}

static void test_csv_to_hdf5_keeps_fingerprint(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *path = aml_xasprintf("%s/mixed.h5", dir);
    aml_ctx *c = aml_ctx_new();
    aml_dataset *csv = NULL;
    assert_int_equal(aml_csv_read(c, DATA "csv/mixed.csv", NULL, &csv), AML_OK);
    assert_int_equal(aml_hdf5_write(c, path, csv), AML_OK);
    aml_dataset *h5 = read_ok(path);
    assert_string_equal(h5->fingerprint, csv->fingerprint);
    assert_string_equal(h5->categories[2][(int)h5->X[1 * 3 + 2]], "two\r\nlines");
    assert_int_equal(aml_dataset_missing(h5, NULL), 7);
    aml_dataset_free(h5);
    aml_dataset_free(csv);
    aml_ctx_free(c);
    free(path);
    remove_dir(dir);
}

/* What a file declares is believed only when the file backs it: sizes beyond 2^64 bytes, data
 * never written (contiguous or chunked), data in other files. A compressed file still loads. */
static void test_declared_sizes_must_be_in_the_file(void **state)
{
    (void)state;
    read_fails(DATA "h5/huge_declared.h5",
               DATA "h5/huge_declared.h5: /X: declares 4611686018427387904 x 4 cells of 4 bytes, more than 2^64 bytes");
    read_fails(DATA "h5/unwritten_1e9.h5",
               DATA "h5/unwritten_1e9.h5: /X: declares 1000000000 x 13 cells (48.4 GiB) but the file holds 0 bytes of "
                    "them (never written, or the file is truncated)");
    read_fails(DATA "h5/unwritten_3e8.h5",
               DATA "h5/unwritten_3e8.h5: /X: declares 300000000 x 13 cells (29.1 GiB) but the file holds 0 bytes of "
                    "them (never written, or the file is truncated)");
    read_fails(DATA "h5/partial_chunks.h5",
               DATA "h5/partial_chunks.h5: /X: declares 100 x 2 cells in 10 chunks but only 1 of them are in the file "
                    "(the rest would read as fill values, not data)");
    read_fails(DATA "h5/unwritten_y.h5",
               DATA "h5/unwritten_y.h5: /y: declares 3 cells (24 bytes) but the file holds 0 bytes of them (never "
                    "written, or the file is truncated)");
    read_fails(DATA "h5/unwritten_weights.h5",
               DATA "h5/unwritten_weights.h5: /weights: declares 3 cells (24 bytes) but the file holds 0 bytes of them "
                    "(never written, or the file is truncated)");
    read_fails(DATA "h5/huge_categories.h5",
               DATA "h5/huge_categories.h5: /categories/a: declares 1099511627776 cells in 1073741824 chunks but only "
                    "0 of them are in the file (the rest would read as fill values, not data)");
    read_fails(DATA "h5/huge_target_names.h5",
               DATA "h5/huge_target_names.h5: /target_names: declares 1099511627776 cells in 1073741824 chunks but "
                    "only 0 of them are in the file (the rest would read as fill values, not data)");
    read_fails(DATA "h5/external_x.h5",
               DATA "h5/external_x.h5: /X: its data is stored in other files; only data inside the file is read");
    read_fails("/dev/zero", "/dev/zero: not a regular file; expected an HDF5 file");
    aml_dataset *d = read_ok(DATA "h5/gzip_zeros.h5"); /* 1.6 MB of cells in an 8 KB file, every chunk written */
    assert_int_equal(d->n_rows, 20000);
    assert_int_equal(d->n_features, 5);
    assert_int_equal(d->task, AML_TASK_REGRESSION);
    assert_true(d->X[20000 * 5 - 1] == 0.0f);
    aml_dataset_free(d);
}

/* A file that holds its data must still fit under the memory limit, which AML_MAX_DATA_BYTES sets. */
static void test_memory_limit(void **state)
{
    (void)state;
    setenv("AML_MAX_DATA_BYTES", "1K", 1);
    read_fails(DATA "iris.h5", DATA "iris.h5: /X: 150 x 4 cells need 4.7 KiB of memory, more than the limit of 1.0 KiB "
                               "(AML_MAX_DATA_BYTES; set AML_MAX_DATA_BYTES to change it)");
    setenv("AML_MAX_DATA_BYTES", "lots", 1);
    read_fails(DATA "iris.h5", "AML_MAX_DATA_BYTES: expected a byte count such as 8G, 512M or 1000000, got 'lots'");
    setenv("AML_MAX_DATA_BYTES", "5K", 1);
    aml_dataset_free(read_ok(DATA "iris.h5"));
    unsetenv("AML_MAX_DATA_BYTES");
    assert_true(aml_data_limit() > (int64_t)1 << 26); /* the machine's memory */
}

/* float64 cells float32 cannot hold are refused, not turned into inf; so are infinities. */
static void test_values_must_fit_float32(void **state)
{
    (void)state;
    read_fails(DATA "h5/x_1e300.h5",
               DATA "h5/x_1e300.h5: /X: row 2, column 1 ('b') holds 1e+300; expected a finite number within float32's "
                    "range (±3.4e38), or NaN for a missing value");
    read_fails(DATA "h5/x_inf.h5",
               DATA "h5/x_inf.h5: /X: row 0, column 1 ('f1') holds -inf; expected a finite number within float32's "
                    "range (±3.4e38), or NaN for a missing value");
    read_fails(DATA "h5/weights_1e300.h5",
               DATA "h5/weights_1e300.h5: /weights: row 1 is 1e+300; expected a finite weight >= 0 (at most 3.4e38)");
}

/* Names, levels and labels reach manifests, JSON and /metrics: they must be UTF-8, and distinct. */
static void test_strings_must_be_utf8_and_distinct(void **state)
{
    (void)state;
    read_fails(DATA "h5/latin1_feature_name.h5",
               DATA "h5/latin1_feature_name.h5: /feature_names[0]: 'caf\\xE9' is not UTF-8 (byte 0xE9 at offset 3); "
                    "names and levels must be UTF-8 text");
    read_fails(DATA "h5/latin1_level.h5",
               DATA "h5/latin1_level.h5: /categories/colour[1]: '\\xE9t\\xE9' is not UTF-8 (byte 0xE9 at offset 0); "
                    "names and levels must be UTF-8 text");
    read_fails(DATA "h5/latin1_target_names.h5",
               DATA "h5/latin1_target_names.h5: /target_names[1]: '\\xE9t\\xE9' is not UTF-8 (byte 0xE9 at offset 0); "
                    "names and levels must be UTF-8 text");
    read_fails(DATA "h5/latin1_target_attr.h5",
               DATA "h5/latin1_target_attr.h5: attribute 'target': 'r\\xE9sultat' is not UTF-8 (byte 0xE9 at offset 1); "
                    "names and levels must be UTF-8 text");
    read_fails(DATA "h5/duplicate_levels.h5", DATA "h5/duplicate_levels.h5: /categories/colour: levels 0 and 1 are both 'red'");
}

/* A disk that fills up (here a file size limit: writes fail with EFBIG) gives a clean error and
 * leaves nothing; libhdf5 used to crash at exit on the file it could not close. */
static void test_failed_write_leaves_nothing(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char *path = aml_xasprintf("%s/full.h5", dir);
    aml_dataset *d = read_ok(DATA "Soybean.h5");
    aml_ctx *c = aml_ctx_new();
    struct rlimit old, small = {.rlim_cur = 8192, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    aml_status st = aml_hdf5_write(c, path, d);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    assert_int_equal(st, AML_ERR_IO);
    char *expected = aml_xasprintf("%s: writing the HDF5 file failed: File too large", path);
    assert_string_equal(aml_errmsg(c), expected);
    assert_int_equal(count_entries(dir), 0);
    /* The library is still usable: the same write now succeeds. */
    assert_int_equal(aml_hdf5_write(c, path, d), AML_OK);
    aml_dataset *back = read_ok(path);
    assert_string_equal(back->fingerprint, d->fingerprint);
    aml_dataset_free(back);
    free(expected);
    aml_ctx_free(c);
    aml_dataset_free(d);
    free(path);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iris_fixture),
        cmocka_unit_test(test_soybean_fixture),
        cmocka_unit_test(test_fixed_length_strings_and_options),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_round_trip_exact),
        cmocka_unit_test(test_csv_to_hdf5_keeps_fingerprint),
        cmocka_unit_test(test_declared_sizes_must_be_in_the_file),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_values_must_fit_float32),
        cmocka_unit_test(test_strings_must_be_utf8_and_distinct),
        cmocka_unit_test(test_failed_write_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
