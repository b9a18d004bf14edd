/* The plugin loader admits a good plugin and refuses each broken variant with an exact message
 * naming the file and the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "plugin_loader.h"

#define DIR AML_TEST_PLUGIN_DIR

static void expect_refusal(const char *file, const char *reason)
{
    char path[1024], want[2048];
    snprintf(path, sizeof path, "%s/%s", DIR, file);
    snprintf(want, sizeof want, "%s: %s", path, reason);
    aml_registry *r = aml_registry_new();
    aml_ctx *c = aml_ctx_new();
    assert_int_equal(aml_registry_load_file(r, c, path), AML_ERR_INPUT);
    assert_string_equal(aml_errmsg(c), want);
    assert_int_equal(aml_registry_count(r), 0);
    assert_int_equal(aml_registry_refusal_count(r), 1);
    assert_string_equal(aml_registry_refusal(r, 0), want);
    aml_ctx_free(c);
    aml_registry_free(r);
}

static void good_plugin_loads(void **state)
{
    (void)state;
    aml_registry *r = aml_registry_new();
    aml_ctx *c = aml_ctx_new();
    assert_int_equal(aml_registry_load_file(r, c, DIR "/good.so"), AML_OK);
    const aml_plugin *p = aml_registry_find(r, AML_PLUGIN_MODEL, "test_constant");
    assert_non_null(p);
    assert_string_equal(p->desc->version, "0.0.1");
    assert_string_equal(p->path, DIR "/good.so");
    /* Loading it again keeps the first registration. */
    assert_int_equal(aml_registry_load_file(r, c, DIR "/good.so"), AML_OK);
    assert_int_equal(aml_registry_count(r), 1);
    aml_ctx_free(c);
    aml_registry_free(r);
}

static void wrong_major_refused(void **state)
{
    (void)state;
    char reason[128];
    snprintf(reason, sizeof reason, "plugin ABI major version %d, this automl speaks %d",
             AML_PLUGIN_ABI_MAJOR + 1, AML_PLUGIN_ABI_MAJOR);
    expect_refusal("wrong_major.so", reason);
}

static void newer_minor_refused(void **state)
{
    (void)state;
    char reason[128];
    snprintf(reason, sizeof reason, "plugin needs ABI %d.%d, newer than this automl's %d.%d",
             AML_PLUGIN_ABI_MAJOR, AML_PLUGIN_ABI_MINOR + 1, AML_PLUGIN_ABI_MAJOR, AML_PLUGIN_ABI_MINOR);
    expect_refusal("newer_minor.so", reason);
}

static void missing_symbol_refused(void **state)
{
    (void)state;
    expect_refusal("missing_symbol.so", "cannot load: undefined symbol: aml_test_symbol_that_does_not_exist");
}

static void no_entry_refused(void **state)
{
    (void)state;
    expect_refusal("no_entry.so", "not an automl plugin: no symbol 'aml_plugin_entry'");
}

static void bad_signature_refused(void **state)
{
    (void)state;
    char reason[128];
    snprintf(reason, sizeof reason, "built with different type sizes (signature 0x%08x, host 0x%08x)",
             (unsigned)(AML_PLUGIN_SIGNATURE ^ 0xF), (unsigned)AML_PLUGIN_SIGNATURE);
    expect_refusal("bad_signature.so", reason);
}

static void incomplete_vtable_refused(void **state)
{
    (void)state;
    expect_refusal("incomplete_vtable.so", "model plugin 'test_constant' has an incomplete vtable");
}

static void not_a_shared_object_refused(void **state)
{
    (void)state;
    char path[] = "/tmp/aml_not_a_plugin_XXXXXX.so";
    int fd = mkstemps(path, 3);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    aml_registry *r = aml_registry_new();
    aml_ctx *c = aml_ctx_new();
    assert_int_equal(aml_registry_load_file(r, c, path), AML_ERR_INPUT);
    char want[1024];
    snprintf(want, sizeof want, "%s: cannot load: file too short", path);
    assert_string_equal(aml_errmsg(c), want);
    unlink(path);
    aml_ctx_free(c);
    aml_registry_free(r);
}

static void scan_dir_keeps_good_and_lists_refusals(void **state)
{
    (void)state;
    aml_registry *r = aml_registry_new();
    aml_registry_scan_dir(r, DIR);
    /* good.so and spy.so (the leakage test's feature step) load */
    assert_int_equal(aml_registry_count(r), 2);
    assert_non_null(aml_registry_find(r, AML_PLUGIN_MODEL, "test_constant"));
    assert_non_null(aml_registry_find(r, AML_PLUGIN_FEATURE, "spy"));
    assert_int_equal(aml_registry_refusal_count(r), 6);
    /* Sorted by file name: bad_signature.so comes first. */
    assert_non_null(strstr(aml_registry_refusal(r, 0), "/bad_signature.so: built with different type sizes"));
    aml_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_plugin_loads),
        cmocka_unit_test(wrong_major_refused),
        cmocka_unit_test(newer_minor_refused),
        cmocka_unit_test(missing_symbol_refused),
        cmocka_unit_test(no_entry_refused),
        cmocka_unit_test(bad_signature_refused),
        cmocka_unit_test(incomplete_vtable_refused),
        cmocka_unit_test(not_a_shared_object_refused),
        cmocka_unit_test(scan_dir_keeps_good_and_lists_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
