/* The dataset unit (dataset.c, fingerprint.c, dataset_limits.c): allocation defaults, the
 * fingerprint's stability and sensitivity (it is the data version of every trial and artifact),
 * the description `automl info` prints, and the limits and UTF-8 check every reader applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA AML_SOURCE_DIR "/tests/data/"

static aml_dataset *open_h5(const char *path)
{
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    if (aml_dataset_open(c, path, &d))
        fail_msg("%s", aml_errmsg(c));
    aml_ctx_free(c);
    return d;
}

static aml_dataset *open_csv(const char *path)
{
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    if (aml_csv_read(c, path, NULL, &d))
        fail_msg("%s", aml_errmsg(c));
    aml_ctx_free(c);
    return d;
}

static char *describe(const aml_dataset *d)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    aml_dataset_describe(d, f);
    fclose(f);
    return text;
}

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("expected to find \"%s\" in:\n%s", needle, text);
}

static void test_alloc_defaults(void **state)
{
    (void)state;
    aml_dataset *d = aml_dataset_alloc(2, 3);
    assert_int_equal(d->n_rows, 2);
    assert_int_equal(d->n_features, 3);
    for (int i = 0; i < 6; i++)
        assert_true(d->X[i] == 0.0f);
    assert_string_equal(d->feature_names[2], "f2");
    assert_int_equal(d->categorical[1], 0);
    assert_null(d->categories[0]);
    assert_int_equal(d->n_categories[0], 0);
    assert_string_equal(d->target_name, "target");
    assert_int_equal(d->task, 0);
    assert_null(d->label);
    assert_null(d->value);
    assert_null(d->weight);
    aml_dataset_free(d);
    aml_dataset_free(NULL);
}

/* A tiny fixed table whose fingerprint is pinned: changing the serialization changes every
 * recorded data version, so it must be a deliberate change (bump FINGERPRINT_MAGIC). The value
 * was computed independently (Python: struct.pack of the documented serialization + hashlib). */
static aml_dataset *tiny(void)
{
    aml_dataset *d = aml_dataset_alloc(2, 2);
    const float X[4] = {1.5f, 0, NAN, 1};
    memcpy(d->X, X, sizeof X);
    d->categorical[1] = 1;
    d->n_categories[1] = 2;
    d->categories[1] = calloc(2, sizeof(char *));
    d->categories[1][0] = aml_xstrdup("a");
    d->categories[1][1] = aml_xstrdup("b");
    d->task = AML_TASK_CLASSIFICATION;
    d->n_classes = 2;
    d->class_names = calloc(2, sizeof(char *));
    d->class_names[0] = aml_xstrdup("no");
    d->class_names[1] = aml_xstrdup("yes");
    d->label = calloc(2, sizeof *d->label);
    d->label[1] = 1;
    aml_dataset_fingerprint(d);
    return d;
}

static void test_fingerprint_pinned(void **state)
{
    (void)state;
    aml_dataset *d = tiny();
    assert_int_equal(strlen(d->fingerprint), 64);
    assert_string_equal(d->fingerprint, "e92ecb9f3426c7ac9998d52949cb6861bc0aed24f9f6e85e792200995e0d75ab");
    aml_dataset_free(d);
}

static void test_fingerprint_sensitivity(void **state)
{
    (void)state;
    aml_dataset *d = tiny();
    char base[65];
    memcpy(base, d->fingerprint, sizeof base);

    /* Recomputing, or a NaN with another payload, changes nothing. */
    aml_dataset_fingerprint(d);
    assert_string_equal(d->fingerprint, base);
    uint32_t other_nan = 0x7fc00123u;
    memcpy(&d->X[2], &other_nan, 4);
    aml_dataset_fingerprint(d);
    assert_string_equal(d->fingerprint, base);

#define CHANGES(stmt, undo)                                                                       \
    do {                                                                                          \
        stmt;                                                                                     \
        aml_dataset_fingerprint(d);                                                               \
        assert_string_not_equal(d->fingerprint, base);                                            \
        undo;                                                                                     \
        aml_dataset_fingerprint(d);                                                               \
        assert_string_equal(d->fingerprint, base);                                                \
    } while (0)

    CHANGES(d->X[0] = 1.5000001f, d->X[0] = 1.5f);
    CHANGES(d->X[1] = -0.0f, d->X[1] = 0.0f);
    CHANGES(d->X[2] = 0, d->X[2] = NAN);
    CHANGES(d->label[0] = 1, d->label[0] = 0);
    CHANGES(d->feature_names[0][1] = '9', d->feature_names[0][1] = '0');
    CHANGES(d->categorical[0] = 1, d->categorical[0] = 0);
    CHANGES(d->categories[1][0][0] = 'z', d->categories[1][0][0] = 'a');
    CHANGES(d->class_names[1][0] = 'Y', d->class_names[1][0] = 'y');
    float w[2] = {1, 1};
    CHANGES(d->weight = w, d->weight = NULL);
    aml_dataset_free(d);
}

static void test_fingerprint_same_data_same_print(void **state)
{
    (void)state;
    aml_dataset *a = open_csv(DATA "csv/mixed.csv");
    aml_dataset *b = open_csv(DATA "csv/mixed.csv");
    assert_string_equal(a->fingerprint, b->fingerprint);
    aml_dataset_free(b);
    /* The same values through another route (forced categorical of an already categorical
     * column) hash the same; one changed cell in the file does not. */
    aml_ctx *c = aml_ctx_new();
    aml_csv_options opt = {.categorical = "color"};
    assert_int_equal(aml_csv_read(c, DATA "csv/mixed.csv", &opt, &b), AML_OK);
    assert_string_equal(a->fingerprint, b->fingerprint);
    aml_dataset_free(b);
    aml_dataset *iris1 = open_h5(DATA "iris.h5"), *iris2 = open_h5(DATA "iris.h5");
    assert_string_equal(iris1->fingerprint, iris2->fingerprint);
    assert_string_not_equal(iris1->fingerprint, a->fingerprint);
    aml_dataset_free(iris1);
    aml_dataset_free(iris2);
    aml_ctx_free(c);
    aml_dataset_free(a);
}

static void test_describe_classification(void **state)
{
    (void)state;
    aml_dataset *d = open_h5(DATA "iris.h5");
    char *text = describe(d);
    assert_contains(text, "dataset      " DATA "iris.h5\n");
    assert_contains(text, "shape        150 rows x 4 features\n");
    assert_contains(text, "task         classification (3 classes)\n");
    assert_contains(text, "missing      0 cells (0.00%)\n");
    assert_contains(text, "categorical  0 of 4 features\n");
    assert_contains(text, "     0  sepal_length_(cm)  numeric                    0\n");
    assert_contains(text, "    0  setosa            50   33.3%\n");
    assert_contains(text, "    2  virginica         50   33.3%\n");
    char line[100];
    snprintf(line, sizeof line, "fingerprint  %s\n", d->fingerprint);
    assert_contains(text, line);
    free(text);
    aml_dataset_free(d);

    d = open_h5(DATA "Soybean.h5");
    text = describe(d);
    assert_contains(text, "shape        683 rows x 35 features\n");
    assert_contains(text, "task         classification (19 classes)\n");
    assert_contains(text, "categorical  15 of 35 features\n");
    assert_contains(text, "missing      2337 cells (9.78%)\n");
    assert_contains(text, "     0  date             categorical (7)            1\n");
    assert_contains(text, "     1  plant.stand      numeric                   36\n");
    free(text);
    aml_dataset_free(d);
}

static void test_describe_regression(void **state)
{
    (void)state;
    aml_dataset *d = open_csv(DATA "csv/regression.csv");
    char *text = describe(d);
    assert_contains(text, "shape        4 rows x 2 features\n");
    assert_contains(text, "task         regression\n");
    assert_contains(text, "target       price\n");
    assert_contains(text, "     1  x2    categorical (2)            0\n");
    /* 1.5 2.25 3 4.5: mean 2.8125, sample std 1.28087 */
    assert_contains(text, "target: mean 2.8125  std 1.28087  min 1.5  max 4.5\n");
    free(text);
    aml_dataset_free(d);
}

static int64_t invalid_at(const char *s) { return aml_utf8_invalid(s, strlen(s)); }

static void test_utf8_check(void **state)
{
    (void)state;
    assert_int_equal(invalid_at(""), -1);
    assert_int_equal(invalid_at("plain"), -1);
    assert_int_equal(invalid_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), -1); /* é € 😀 */
    assert_int_equal(invalid_at("caf\xe9"), 3);                                   /* Latin-1 é */
    assert_int_equal(invalid_at("ab\xc3"), 2);                                    /* cut short */
    assert_int_equal(invalid_at("\xc0\xaf"), 0);                                  /* overlong '/' */
    assert_int_equal(invalid_at("\xe0\x80\xaf"), 0);                              /* overlong, 3 bytes */
    assert_int_equal(invalid_at("x\xed\xa0\x80"), 1);                             /* a surrogate */
    assert_int_equal(invalid_at("\xf4\x90\x80\x80"), 0);                          /* past U+10FFFF */
    assert_int_equal(invalid_at("\xff"), 0);
    assert_int_equal(invalid_at("\xe2\x82"), 0);
    char *e = aml_escape_bytes("a\xe9\\\n", 4);
    assert_string_equal(e, "a\\xE9\\x5C\\x0A");
    free(e);
}

static void test_data_limit(void **state)
{
    (void)state;
    setenv("AML_MAX_DATA_BYTES", "3G", 1);
    assert_int_equal(aml_data_limit(), (int64_t)3 << 30);
    setenv("AML_MAX_DATA_BYTES", "1000", 1);
    assert_int_equal(aml_data_limit(), 1000);
    setenv("AML_MAX_DATA_BYTES", "-5", 1);
    assert_int_equal(aml_data_limit(), -1);
    setenv("AML_MAX_DATA_BYTES", "99999999999T", 1);
    assert_int_equal(aml_data_limit(), -1);
    aml_ctx *c = aml_ctx_new();
    setenv("AML_MAX_DATA_BYTES", "1M", 1);
    assert_int_equal(aml_data_check_memory(c, "d.h5", "/X", 1000, 100, 4, 16), AML_OK);
    assert_int_equal(aml_data_check_memory(c, "d.h5", "/X", 1000, 1000, 4, 16), AML_ERR_INPUT);
    assert_string_equal(aml_errmsg(c), "d.h5: /X: 1000 x 1000 cells need 3.8 MiB of memory, more than the limit of "
                                       "1.0 MiB (AML_MAX_DATA_BYTES; set AML_MAX_DATA_BYTES to change it)");
    /* Products past 64 bits are refused, not wrapped. */
    assert_int_equal(aml_data_check_memory(c, "d.h5", "/X", (uint64_t)1 << 62, 4, 4, 0), AML_ERR_INPUT);
    assert_non_null(strstr(aml_errmsg(c), "cells need more than 2^64 bytes of memory"));
    unsetenv("AML_MAX_DATA_BYTES");
    assert_true(aml_data_limit() > 0);
    aml_ctx_free(c);
    char b[32];
    aml_format_bytes(52e9, b);
    assert_string_equal(b, "48.4 GiB");
    aml_format_bytes(12, b);
    assert_string_equal(b, "12 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_defaults),
        cmocka_unit_test(test_fingerprint_pinned),
        cmocka_unit_test(test_fingerprint_sensitivity),
        cmocka_unit_test(test_fingerprint_same_data_same_print),
        cmocka_unit_test(test_describe_classification),
        cmocka_unit_test(test_describe_regression),
        cmocka_unit_test(test_utf8_check),
        cmocka_unit_test(test_data_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
