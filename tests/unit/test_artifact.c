/* The pieces under the artifact reader: aml_read_regular_file's size cap at its exact boundary and
 * its refusal of FIFOs, devices and directories (without blocking), the model blob header's bounds
 * on the task kind and class count, an ensemble nested in an ensemble, and the predictions writer
 * refusing a classification schema without class labels. The whole reader is exercised end to
 * end by tests/e2e/test_artifact_tamper.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "plugin_loader.h"
#include "predictions.h"

static char dir[] = "/tmp/test_artifact.XXXXXX";

static char *make_file(const char *name, size_t n)
{
    char *path = aml_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc('a' + (int)(i % 26), f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_size_cap(void **state)
{
    (void)state;
    aml_ctx *c = aml_ctx_new();
    char *path = make_file("exact", 100), *text = NULL;
    size_t n = 0;
    /* exactly the cap: read whole and NUL-terminated */
    assert_int_equal(aml_read_regular_file(c, path, 100, &text, &n), AML_OK);
    assert_int_equal(n, 100);
    assert_int_equal(text[100], 0);
    assert_memory_equal(text, "abcdefghij", 10);
    free(text);
    /* one byte over: refused, nothing returned */
    text = NULL;
    assert_int_equal(aml_read_regular_file(c, path, 99, &text, &n), AML_ERR_INPUT);
    assert_null(text);
    char *want = aml_xasprintf("%s: 100 bytes, more than the limit of 99", path);
    assert_string_equal(aml_errmsg(c), want);
    free(want);
    free(path);
    /* empty */
    path = make_file("empty", 0);
    assert_int_equal(aml_read_regular_file(c, path, 10, &text, &n), AML_OK);
    assert_int_equal(n, 0);
    assert_string_equal(text, "");
    free(text);
    free(path);
    aml_ctx_free(c);
}

static void test_not_regular(void **state)
{
    (void)state;
    aml_ctx *c = aml_ctx_new();
    char *text = NULL, *want;
    size_t n = 0;
    /* a FIFO with no writer: refused at once (a blocking open would wait forever) */
    char *fifo = aml_xasprintf("%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(aml_read_regular_file(c, fifo, 1 << 20, &text, &n), AML_ERR_INPUT);
    want = aml_xasprintf("%s: not a regular file (a FIFO)", fifo);
    assert_string_equal(aml_errmsg(c), want);
    free(want);
    /* a link to /dev/zero: refused, not read until memory runs out */
    char *zero = aml_xasprintf("%s/zero", dir);
    assert_int_equal(symlink("/dev/zero", zero), 0);
    assert_int_equal(aml_read_regular_file(c, zero, 1 << 20, &text, &n), AML_ERR_INPUT);
    want = aml_xasprintf("%s: not a regular file (a device)", zero);
    assert_string_equal(aml_errmsg(c), want);
    free(want);
    assert_int_equal(aml_read_regular_file(c, dir, 1 << 20, &text, &n), AML_ERR_INPUT);
    want = aml_xasprintf("%s: not a regular file (a directory)", dir);
    assert_string_equal(aml_errmsg(c), want);
    free(want);
    char *missing = aml_xasprintf("%s/missing", dir);
    assert_int_equal(aml_read_regular_file(c, missing, 1 << 20, &text, &n), AML_ERR_IO);
    want = aml_xasprintf("%s: cannot open: No such file or directory", missing);
    assert_string_equal(aml_errmsg(c), want);
    free(want);
    assert_null(text);
    unlink(fifo);
    unlink(zero);
    free(fifo);
    free(zero);
    free(missing);
    aml_ctx_free(c);
}

/* A blob (model.h) with no features and no pipeline steps, sealed with its sha256. */
static size_t blob(unsigned char *b, uint32_t kind, uint32_t n_classes, const char *name, const char *params,
                   const void *payload, uint64_t payload_len)
{
    uint32_t head[4] = {1, 0, kind, n_classes}, len, steps = 0;
    int64_t nf = 0;
    size_t n = 0;
    memcpy(b, "AMLMODEL", 8), n = 8;
    memcpy(b + n, head, 16), n += 16;
    memcpy(b + n, &nf, 8), n += 8;
    const char *strings[3] = {name, "1.0", params};
    for (int i = 0; i < 3; i++) {
        len = (uint32_t)strlen(strings[i]);
        memcpy(b + n, &len, 4), n += 4;
        memcpy(b + n, strings[i], len), n += len;
    }
    memcpy(b + n, &steps, 4), n += 4;
    memcpy(b + n, &payload_len, 8), n += 8;
    memcpy(b + n, payload, payload_len), n += payload_len;
    aml_sha256(b, n, b + n);
    return n + 32;
}

static size_t tiny_blob(unsigned char *b, uint32_t kind, uint32_t n_classes)
{
    return blob(b, kind, n_classes, "", "", "", 0);
}

static void test_blob_header_bounds(void **state)
{
    (void)state;
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    unsigned char b[256];
    aml_fitted m;
    size_t n = tiny_blob(b, 7, 3);
    assert_int_equal(aml_model_blob_read(c, reg, "m.bin", b, n, &m, NULL), AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "m.bin: task 7: expected 1 (classification) or 2 (regression)");
    n = tiny_blob(b, AML_TASK_CLASSIFICATION, 0);
    assert_int_equal(aml_model_blob_read(c, reg, "m.bin", b, n, &m, NULL), AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "m.bin: 0 classes: expected 1 to 1000000");
    n = tiny_blob(b, AML_TASK_CLASSIFICATION, 0x80000001u); /* was n_outputs < 0 */
    assert_int_equal(aml_model_blob_read(c, reg, "m.bin", b, n, &m, NULL), AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "m.bin: 2147483649 classes: expected 1 to 1000000");
    /* within bounds, the header is read on to the plugin name */
    n = tiny_blob(b, AML_TASK_REGRESSION, 0);
    assert_int_equal(aml_model_blob_read(c, reg, "m.bin", b, n, &m, NULL), AML_ERR_INPUT);
    assert_string_equal(aml_errmsg(c), "m.bin: needs model plugin '' (version 1.0), which is not installed");
    /* an ensemble whose member is an ensemble: refused before recursing (nesting could go as deep
     * as the bytes allow) */
    unsigned char inner[256], payload[512];
    size_t inner_n = blob(inner, AML_TASK_CLASSIFICATION, 3, AML_ENSEMBLE_NAME, "{\"weights\":[1]}", "", 0);
    uint32_t count = 1;
    uint64_t len = inner_n;
    memcpy(payload, &count, 4);
    memcpy(payload + 4, &len, 8);
    memcpy(payload + 12, inner, inner_n);
    unsigned char outer[1024];
    n = blob(outer, AML_TASK_CLASSIFICATION, 3, AML_ENSEMBLE_NAME, "{\"weights\":[1]}", payload, 12 + inner_n);
    assert_int_equal(aml_model_blob_read(c, reg, "m.bin", outer, n, &m, NULL), AML_ERR_FORMAT);
    assert_string_equal(aml_errmsg(c), "m.bin (ensemble member 0): an ensemble inside an ensemble");
    aml_registry_free(reg);
    aml_ctx_free(c);
}

static void test_predictions_without_classes(void **state)
{
    (void)state;
    aml_ctx *c = aml_ctx_new();
    aml_dataset *schema = aml_dataset_alloc(0, 1);
    schema->task = AML_TASK_CLASSIFICATION; /* n_classes 0, class_names NULL: was fputs(NULL) */
    double pred[2] = {0.5, 0.5};
    char *out = aml_xasprintf("%s/pred.csv", dir);
    assert_int_equal(aml_predictions_write_csv(c, out, schema, 1, pred, 0), AML_ERR_INPUT);
    char *want = aml_xasprintf("%s: the model has no class labels to write", out);
    assert_string_equal(aml_errmsg(c), want);
    assert_int_equal(access(out, F_OK), -1);
    free(want);
    free(out);
    aml_dataset_free(schema);
    aml_ctx_free(c);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_blob_header_bounds),
        cmocka_unit_test(test_predictions_without_classes),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char *cmd = aml_xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        failed++;
    free(cmd);
    return failed;
}
