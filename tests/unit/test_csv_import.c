/* CSV import (csv_import.c): quoting, embedded newlines, CRLF, missing markers, string
 * categoricals, task detection, forced column types, and the exact error messages users see.
 * Fixtures live in tests/data/csv/. */
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
#include <unistd.h>

#define CSV_DIR AML_SOURCE_DIR "/tests/data/csv/"

static aml_dataset *read_ok(const char *path, const aml_csv_options *opt)
{
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    aml_status st = aml_csv_read(c, path, opt, &d);
    if (st)
        fail_msg("%s", aml_errmsg(c));
    aml_ctx_free(c);
    return d;
}

/* Reads a file that must fail; checks the status and the exact message. */
static void read_fails(const char *path, const aml_csv_options *opt, const char *expected)
{
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    aml_status st = aml_csv_read(c, path, opt, &d);
    assert_int_equal(st, AML_ERR_INPUT);
    assert_null(d);
    assert_string_equal(aml_errmsg(c), expected);
    aml_ctx_free(c);
}

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/aml_csv_test_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static float cell(const aml_dataset *d, int64_t i, int64_t j) { return d->X[i * d->n_features + j]; }

static void test_mixed_quoting_crlf_missing(void **state)
{
    (void)state;
    aml_dataset *d = read_ok(CSV_DIR "mixed.csv", NULL);
    assert_int_equal(d->n_rows, 8);
    assert_int_equal(d->n_features, 3);
    assert_string_equal(d->feature_names[0], "size");
    assert_string_equal(d->feature_names[1], "color");
    assert_string_equal(d->feature_names[2], "note");
    assert_string_equal(d->target_name, "target");

    /* size: 1.5, 2, NA, ?, "", NaN, nan, " 4 " -> every missing marker is NaN */
    assert_false(d->categorical[0]);
    assert_true(cell(d, 0, 0) == 1.5f);
    assert_true(cell(d, 1, 0) == 2.0f);
    for (int i = 2; i <= 6; i++)
        assert_true(isnan(cell(d, i, 0)));
    assert_true(cell(d, 7, 0) == 4.0f);

    /* color: a quoted comma stays in the level; "" and "na" are missing; case matters */
    assert_true(d->categorical[1]);
    assert_int_equal(d->n_categories[1], 4);
    assert_string_equal(d->categories[1][0], "BLUE");
    assert_string_equal(d->categories[1][1], "blue");
    assert_string_equal(d->categories[1][2], "green");
    assert_string_equal(d->categories[1][3], "red, dark");
    const float color[8] = {3, 1, 3, 2, 1, NAN, NAN, 0};
    for (int i = 0; i < 8; i++) {
        if (isnan(color[i]))
            assert_true(isnan(cell(d, i, 1)));
        else
            assert_true(cell(d, i, 1) == color[i]);
    }

    /* note: an embedded CRLF and doubled quotes survive; surrounding spaces are trimmed */
    assert_true(d->categorical[2]);
    assert_int_equal(d->n_categories[2], 8);
    assert_string_equal(d->categories[2][(int)cell(d, 1, 2)], "two\r\nlines");
    assert_string_equal(d->categories[2][(int)cell(d, 3, 2)], "say \"hi\"");
    assert_string_equal(d->categories[2][(int)cell(d, 7, 2)], "v");

    assert_int_equal(d->task, AML_TASK_CLASSIFICATION);
    assert_int_equal(d->n_classes, 2);
    assert_string_equal(d->class_names[0], "cat");
    assert_string_equal(d->class_names[1], "dog");
    const int32_t labels[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    assert_memory_equal(d->label, labels, sizeof labels);
    assert_null(d->value);
    assert_int_equal(aml_dataset_missing(d, NULL), 7);
    aml_dataset_free(d);
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    read_fails(CSV_DIR "ragged.csv", NULL, CSV_DIR "ragged.csv:4: expected 3 fields, got 4");
    read_fails(CSV_DIR "ragged_after_multiline.csv", NULL, CSV_DIR "ragged_after_multiline.csv:7: expected 3 fields, got 2");
    read_fails(CSV_DIR "missing_target.csv", NULL, CSV_DIR "missing_target.csv:3: missing target value in column 'y'");
    read_fails(CSV_DIR "empty.csv", NULL, CSV_DIR "empty.csv: empty file; expected a header row naming the columns");
    read_fails(CSV_DIR "header_only.csv", NULL, CSV_DIR "header_only.csv: no data rows after the header");
    read_fails(CSV_DIR "unterminated.csv", NULL, CSV_DIR "unterminated.csv:3: unterminated quoted field (a '\"' is never closed)");
    read_fails(CSV_DIR "no_such_file.csv", NULL, CSV_DIR "no_such_file.csv: cannot open: No such file or directory");
}

static void test_target_option(void **state)
{
    (void)state;
    aml_csv_options opt = {.target = "nope"};
    read_fails(CSV_DIR "forced.csv", &opt,
               CSV_DIR "forced.csv: target column 'nope' is not in the header (columns: id, grade, score, target)");

    /* A target in the middle: the other columns keep their order. */
    opt.target = "grade";
    aml_dataset *d = read_ok(CSV_DIR "forced.csv", &opt);
    assert_string_equal(d->target_name, "grade");
    assert_int_equal(d->n_features, 3);
    assert_string_equal(d->feature_names[0], "id");
    assert_string_equal(d->feature_names[1], "score");
    assert_string_equal(d->feature_names[2], "target");
    /* grade 2,10,2,7,10: integers, 3 distinct, 3*2 >= 5 rows -> regression */
    assert_int_equal(d->task, AML_TASK_REGRESSION);
    const double v[5] = {2, 10, 2, 7, 10};
    assert_memory_equal(d->value, v, sizeof v);
    aml_dataset_free(d);
}

static void test_forced_types(void **state)
{
    (void)state;
    aml_csv_options opt = {.numeric = "score"};
    read_fails(CSV_DIR "forced.csv", &opt, CSV_DIR "forced.csv:4: column 'score' (column 3) is forced numeric but holds 'x'");
    opt = (aml_csv_options){.categorical = "grade,nope"};
    read_fails(CSV_DIR "forced.csv", &opt,
               CSV_DIR "forced.csv: --categorical: no column named 'nope' (columns: id, grade, score, target)");
    opt = (aml_csv_options){.categorical = "grade", .numeric = "grade"};
    read_fails(CSV_DIR "forced.csv", &opt, CSV_DIR "forced.csv: column 'grade' is named by both --categorical and --numeric");
    opt = (aml_csv_options){.categorical = "target"};
    read_fails(CSV_DIR "forced.csv", &opt,
               CSV_DIR "forced.csv: --categorical: 'target' is the target column (use --task to choose the task)");

    opt = (aml_csv_options){.categorical = "grade"};
    aml_dataset *d = read_ok(CSV_DIR "forced.csv", &opt);
    /* Numeric-looking levels sort by value: 2 < 7 < 10. */
    assert_true(d->categorical[1]);
    assert_int_equal(d->n_categories[1], 3);
    assert_string_equal(d->categories[1][0], "2");
    assert_string_equal(d->categories[1][1], "7");
    assert_string_equal(d->categories[1][2], "10");
    const float grade[5] = {0, 2, 0, 1, 2};
    for (int i = 0; i < 5; i++)
        assert_true(cell(d, i, 1) == grade[i]);
    /* score holds an 'x': categorical on its own, levels bytewise */
    assert_true(d->categorical[2]);
    assert_string_equal(d->categories[2][0], "0.5");
    assert_string_equal(d->categories[2][4], "x");
    /* target 10,2,2,10,2: 2 distinct integers -> classification, names in numeric order */
    assert_int_equal(d->task, AML_TASK_CLASSIFICATION);
    assert_int_equal(d->n_classes, 2);
    assert_string_equal(d->class_names[0], "2");
    assert_string_equal(d->class_names[1], "10");
    const int32_t labels[5] = {1, 0, 0, 1, 0};
    assert_memory_equal(d->label, labels, sizeof labels);
    aml_dataset_free(d);
}

static void test_task_option(void **state)
{
    (void)state;
    aml_dataset *d = read_ok(CSV_DIR "regression.csv", NULL);
    assert_int_equal(d->task, AML_TASK_REGRESSION);
    assert_int_equal(d->n_classes, 0);
    assert_null(d->label);
    const double v[4] = {1.5, 2.25, 3, 4.5};
    assert_memory_equal(d->value, v, sizeof v);
    aml_dataset_free(d);

    aml_csv_options opt = {.target = "x2", .task = AML_TASK_REGRESSION};
    read_fails(CSV_DIR "regression.csv", &opt,
               CSV_DIR "regression.csv:2: target 'x2' holds 'a'; a regression target must be numeric");

    /* Forced classification of a float target: classes are the distinct values. */
    opt = (aml_csv_options){.task = AML_TASK_CLASSIFICATION};
    d = read_ok(CSV_DIR "regression.csv", &opt);
    assert_int_equal(d->task, AML_TASK_CLASSIFICATION);
    assert_int_equal(d->n_classes, 4);
    assert_string_equal(d->class_names[1], "2.25");
    aml_dataset_free(d);
}

/* n rows "i,target(i)"; returns the detected task. */
static int detect(int n, const char *(*target)(int, char *))
{
    size_t cap = (size_t)n * 32 + 16;
    char *text = malloc(cap), buf[32];
    size_t len = (size_t)sprintf(text, "x,y\n");
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%d,%s\n", i, target(i, buf));
    char *path = write_temp(text);
    aml_dataset *d = read_ok(path, NULL);
    int task = d->task;
    aml_dataset_free(d);
    unlink(path);
    free(path);
    free(text);
    return task;
}

static const char *mod3(int i, char *b) { return sprintf(b, "%d", i % 3), b; }
static const char *mod50(int i, char *b) { return sprintf(b, "%d", i % 50), b; }
static const char *mod51(int i, char *b) { return sprintf(b, "%d", i % 51), b; }
static const char *half(int i, char *b) { return sprintf(b, "%d.5", i % 3), b; }
static const char *word(int i, char *b) { return sprintf(b, "w%d", i), b; }

static void test_task_detection(void **state)
{
    (void)state;
    assert_int_equal(detect(200, mod3), AML_TASK_CLASSIFICATION);
    assert_int_equal(detect(200, mod50), AML_TASK_CLASSIFICATION);
    assert_int_equal(detect(200, mod51), AML_TASK_REGRESSION);  /* more than 50 distinct */
    assert_int_equal(detect(100, mod50), AML_TASK_REGRESSION);  /* not fewer than half the rows */
    assert_int_equal(detect(101, mod50), AML_TASK_CLASSIFICATION);
    assert_int_equal(detect(200, half), AML_TASK_REGRESSION);   /* not integers */
    assert_int_equal(detect(20, word), AML_TASK_CLASSIFICATION); /* text: always classes */
}

static void test_header_edge_cases(void **state)
{
    (void)state;
    char *path = write_temp("a,b,a\n1,2,3\n");
    char *expected = aml_xasprintf("%s:1: duplicate column name 'a' (columns 1 and 3)", path);
    read_fails(path, NULL, expected);
    free(expected);
    unlink(path);
    free(path);

    /* A byte order mark is skipped; an unnamed first column (pandas' index) is "column1". */
    path = write_temp("\xEF\xBB\xBF,b,y\n0,2,3\n1,4,5\n");
    aml_dataset *d = read_ok(path, NULL);
    assert_string_equal(d->feature_names[0], "column1");
    assert_string_equal(d->feature_names[1], "b");
    assert_string_equal(d->target_name, "y");
    aml_dataset_free(d);
    unlink(path);
    free(path);

    path = write_temp("only\n1\n2\n");
    expected = aml_xasprintf("%s: only one column ('only'); expected feature columns and a target", path);
    read_fails(path, NULL, expected);
    free(expected);
    unlink(path);
    free(path);

    /* The last row may lack its newline; blank lines are skipped. */
    path = write_temp("a,y\n1,x\n\n2,y");
    d = read_ok(path, NULL);
    assert_int_equal(d->n_rows, 2);
    assert_true(d->X[1] == 2.0f);
    aml_dataset_free(d);
    unlink(path);
    free(path);
}

static void test_read_for_schema(void **state)
{
    (void)state;
    aml_dataset *schema = read_ok(CSV_DIR "mixed.csv", NULL);
    /* Columns reordered, one extra, an unknown level, a numeric feature written "1.50". */
    char *path = write_temp("note,extra,target,color,size\n"
                            "plain,9,dog,green,1.50\n"
                            "unseen,9,cat,purple,NA\n"
                            "v,9,cat,\"red, dark\",3\n");
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    char *extra = NULL;
    assert_int_equal(aml_csv_read_for_schema(c, path, schema, &d, &extra), AML_OK);
    assert_string_equal(extra, "extra");
    assert_int_equal(d->n_rows, 3);
    assert_int_equal(d->n_features, 3);
    assert_string_equal(d->feature_names[0], "size");
    assert_true(d->X[0] == 1.5f);
    assert_true(isnan(d->X[3]));
    assert_true(d->X[6] == 3.0f);
    assert_true(d->X[1] == 2.0f); /* green */
    assert_true(isnan(d->X[4])); /* purple: unknown level -> missing */
    assert_true(d->X[7] == 3.0f); /* "red, dark" */
    assert_true(isnan(d->X[5])); /* "unseen" note */
    assert_int_equal(d->n_categories[1], 4);
    assert_string_equal(d->categories[1][3], "red, dark");
    assert_int_equal(d->task, AML_TASK_CLASSIFICATION);
    const int32_t labels[3] = {1, 0, 0};
    assert_non_null(d->label);
    assert_memory_equal(d->label, labels, sizeof labels);
    aml_dataset_free(d);
    free(extra);
    unlink(path);
    free(path);

    /* Without the target column: features only. An unknown class also drops the target. */
    path = write_temp("size,color,note,target\n1,blue,x,bird\n");
    extra = (char *)"unchanged";
    assert_int_equal(aml_csv_read_for_schema(c, path, schema, &d, &extra), AML_OK);
    assert_null(extra);
    assert_null(d->label);
    assert_null(d->value);
    aml_dataset_free(d);
    unlink(path);
    free(path);

    path = write_temp("size,note\n1,x\n");
    d = NULL;
    assert_int_equal(aml_csv_read_for_schema(c, path, schema, &d, NULL), AML_ERR_INPUT);
    assert_null(d);
    char *expected = aml_xasprintf("%s: missing feature column 'color' (the model expects 3 features)", path);
    assert_string_equal(aml_errmsg(c), expected);
    free(expected);
    unlink(path);
    free(path);

    path = write_temp("size,color,note\n1,blue,x\nbig,blue,x\n");
    assert_int_equal(aml_csv_read_for_schema(c, path, schema, &d, NULL), AML_ERR_INPUT);
    expected = aml_xasprintf("%s:3: column 'size': expected a number, got 'big'", path);
    assert_string_equal(aml_errmsg(c), expected);
    free(expected);
    unlink(path);
    free(path);
    aml_ctx_free(c);
    aml_dataset_free(schema);
}

static void test_numeric_levels_match_by_value(void **state)
{
    (void)state;
    /* A schema with integer-coded levels (as h5py files give) matches "2.0" to level "2". */
    aml_dataset *schema = aml_dataset_alloc(1, 1);
    free(schema->feature_names[0]);
    schema->feature_names[0] = aml_xstrdup("k");
    schema->categorical[0] = 1;
    schema->n_categories[0] = 3;
    schema->categories[0] = calloc(3, sizeof(char *));
    for (int i = 0; i < 3; i++)
        schema->categories[0][i] = aml_xasprintf("%d", i);
    schema->task = AML_TASK_REGRESSION;
    char *path = write_temp("k,target\n2.0,1.5\n1,2\n7,3\n");
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    assert_int_equal(aml_csv_read_for_schema(c, path, schema, &d, NULL), AML_OK);
    assert_true(d->X[0] == 2.0f);
    assert_true(d->X[1] == 1.0f);
    assert_true(isnan(d->X[2]));
    const double v[3] = {1.5, 2, 3};
    assert_memory_equal(d->value, v, sizeof v);
    aml_dataset_free(d);
    aml_dataset_free(schema);
    aml_ctx_free(c);
    unlink(path);
    free(path);
}

/* No cell changes meaning silently: a NUL byte, an infinity or a number beyond float64 among
 * numbers, a feature beyond float32 are refused with file, line and column; every spelling of
 * NaN is missing; a number below float64's range rounds to 0 like any decimal. */
static void test_cells_never_silently_change(void **state)
{
    (void)state;
    read_fails(CSV_DIR "nul_in_cell.csv", NULL,
               CSV_DIR "nul_in_cell.csv:3: column 'x' (column 1): a NUL byte in the cell; a CSV file must be text "
                       "(a UTF-16 file: pass --encoding UTF-16)");
    read_fails(CSV_DIR "inf_in_numeric.csv", NULL,
               CSV_DIR "inf_in_numeric.csv:3: column 'z' (column 2): 'inf' is not a finite number (an infinity, or "
                       "beyond ±1.8e308); write a finite value, or leave the cell empty (or NA, NaN) for a missing one");
    read_fails(CSV_DIR "overflow_1e400.csv", NULL,
               CSV_DIR "overflow_1e400.csv:4: column 'z' (column 2): '-1e400' is not a finite number (an infinity, or "
                       "beyond ±1.8e308); write a finite value, or leave the cell empty (or NA, NaN) for a missing one");
    read_fails(CSV_DIR "beyond_float32.csv", NULL,
               CSV_DIR "beyond_float32.csv:2: column 'z' (column 2): 1e39 is beyond float32's range (±3.4e38); "
                       "rescale the column");
    /* An infinity in the target: refused as well (a regression target must be finite). */
    char *path = write_temp("x,y\n1,0.5\n2,-inf\n3,1.5\n4,2.5\n");
    char *expected = aml_xasprintf("%s:3: column 'y' (column 2): '-inf' is not a finite number (an infinity, or beyond "
                                   "±1.8e308); write a finite value, or leave the cell empty (or NA, NaN) for a missing one",
                                   path);
    read_fails(path, NULL, expected);
    free(expected);
    unlink(path);
    free(path);

    aml_dataset *d = read_ok(CSV_DIR "signed_nan.csv", NULL);
    assert_false(d->categorical[1]); /* -nan, NAN, +NaN: missing, the column stays numeric */
    assert_true(isnan(cell(d, 0, 1)) && isnan(cell(d, 1, 1)) && isnan(cell(d, 2, 1)));
    assert_true(cell(d, 3, 1) == 7.0f);
    aml_dataset_free(d);
    d = read_ok(CSV_DIR "underflow.csv", NULL);
    assert_false(d->categorical[1]);
    assert_true(cell(d, 0, 1) == 0.0f);
    aml_dataset_free(d);

    /* A column forced categorical keeps "inf" and "-Infinity" as the levels they are written as. */
    aml_csv_options opt = {.categorical = "z"};
    d = read_ok(CSV_DIR "inf_forced_categorical.csv", &opt);
    assert_true(d->categorical[1]);
    assert_int_equal(d->n_categories[1], 3);
    assert_string_equal(d->categories[1][0], "-Infinity");
    assert_string_equal(d->categories[1][1], "2");
    assert_string_equal(d->categories[1][2], "inf");
    aml_dataset_free(d);
}

/* Every string entering a dataset is UTF-8: Latin-1 bytes are refused with a hint, or converted
 * when the encoding is named; distinct levels stay distinct. */
static void test_text_must_be_utf8(void **state)
{
    (void)state;
    read_fails(CSV_DIR "latin1.csv", NULL,
               CSV_DIR "latin1.csv:1: header, column 1: 'caf\\xE9' is not UTF-8 (byte 0xE9); pass the file's encoding "
                       "with --encoding (e.g. --encoding latin1), or save it as UTF-8");
    read_fails(CSV_DIR "latin1_level.csv", NULL,
               CSV_DIR "latin1_level.csv:3: column 'couleur' (column 2): '\\xE9t\\xE9' is not UTF-8 (byte 0xE9); pass "
                       "the file's encoding with --encoding (e.g. --encoding latin1), or save it as UTF-8");
    read_fails(CSV_DIR "utf16.csv", NULL,
               CSV_DIR "utf16.csv:1: header, column 1: a NUL byte in the cell; a CSV file must be text (a UTF-16 "
                       "file: pass --encoding UTF-16)");
    aml_csv_options opt = {.encoding = "latin1"};
    aml_dataset *d = read_ok(CSV_DIR "latin1.csv", &opt);
    assert_string_equal(d->feature_names[0], "caf\xc3\xa9");
    assert_int_equal(d->n_categories[1], 3); /* rouge, été, eté: three levels, none merged */
    assert_string_equal(d->categories[1][0], "et\xc3\xa9");
    assert_string_equal(d->categories[1][1], "rouge");
    assert_string_equal(d->categories[1][2], "\xc3\xa9t\xc3\xa9");
    assert_string_equal(d->class_names[0], "non");
    aml_dataset_free(d);
    opt.encoding = "UTF-16";
    d = read_ok(CSV_DIR "utf16.csv", &opt);
    assert_int_equal(d->n_rows, 2);
    assert_string_equal(d->feature_names[1], "colour");
    assert_string_equal(d->categories[1][0], "blue");
    aml_dataset_free(d);
    opt.encoding = "no-such-encoding";
    read_fails(CSV_DIR "utf16.csv", &opt, "--encoding: unknown encoding 'no-such-encoding' (`iconv -l` lists them)");
    opt.encoding = "UTF-8"; /* named but nothing to convert: still checked */
    read_fails(CSV_DIR "latin1_level.csv", &opt,
               CSV_DIR "latin1_level.csv:3: column 'couleur' (column 2): '\\xE9t\\xE9' is not UTF-8 (byte 0xE9); pass "
                       "the file's encoding with --encoding (e.g. --encoding latin1), or save it as UTF-8");

    /* Rows to predict: the same checks, with a hint for a command that has no --encoding. */
    aml_dataset *schema = read_ok(CSV_DIR "mixed.csv", NULL);
    aml_ctx *c = aml_ctx_new();
    d = NULL;
    assert_int_equal(aml_csv_read_for_schema(c, CSV_DIR "nul_in_cell.csv", schema, &d, NULL), AML_ERR_INPUT);
    assert_null(d);
    char *path = write_temp("size,color,note\n1,r\xe9" "d,x\n");
    char *expected = aml_xasprintf("%s:2: column 'color' (column 2): 'r\\xE9d' is not UTF-8 (byte 0xE9); convert the "
                                   "file to UTF-8 first (e.g. iconv -f latin1 -t utf-8)", path);
    assert_int_equal(aml_csv_read_for_schema(c, path, schema, &d, NULL), AML_ERR_INPUT);
    assert_string_equal(aml_errmsg(c), expected);
    free(expected);
    unlink(path);
    free(path);
    aml_dataset_free(schema);
    aml_ctx_free(c);
}

/* A table (or a file) larger than the memory limit is refused before it is allocated. */
static void test_memory_limit(void **state)
{
    (void)state;
    setenv("AML_MAX_DATA_BYTES", "150", 1);
    read_fails(CSV_DIR "mixed.csv", NULL,
               CSV_DIR "mixed.csv: the file, read whole, needs 183 bytes of memory, more than the limit of 150 bytes "
                       "(AML_MAX_DATA_BYTES; set AML_MAX_DATA_BYTES to change it)");
    setenv("AML_MAX_DATA_BYTES", "200", 1);
    read_fails(CSV_DIR "mixed.csv", NULL,
               CSV_DIR "mixed.csv: the table: 8 x 3 cells need 224 bytes of memory, more than the limit of 200 bytes "
                       "(AML_MAX_DATA_BYTES; set AML_MAX_DATA_BYTES to change it)");
    unsetenv("AML_MAX_DATA_BYTES");
    aml_dataset *d = read_ok(CSV_DIR "mixed.csv", NULL);
    aml_dataset_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_quoting_crlf_missing),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_target_option),
        cmocka_unit_test(test_forced_types),
        cmocka_unit_test(test_task_option),
        cmocka_unit_test(test_task_detection),
        cmocka_unit_test(test_header_edge_cases),
        cmocka_unit_test(test_read_for_schema),
        cmocka_unit_test(test_numeric_levels_match_by_value),
        cmocka_unit_test(test_cells_never_silently_change),
        cmocka_unit_test(test_text_must_be_utf8),
        cmocka_unit_test(test_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
