/* The seven model plugins, loaded as .so files, make the same mistakes fail with the same words
 * (they share plugins/models/common): predict or save before fit, the wrong column count, bad
 * targets and weights, a truncated blob, another plugin's blob, a newer blob version, a blob for
 * another task. And a blob each plugin wrote before the shared helpers existed
 * (tests/data/model_blobs/) still loads and saves back to the same bytes.
 * AML_MC_WRITE_BLOBS=<plugin dir> rewrites those blobs with the plugins found there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "plugin_loader.h"

#define N_PLUGINS 7
#define ROWS 40
#define COLS 2
#define BLOB_DIR AML_SOURCE_DIR "/tests/data/model_blobs"

static const char *const names[N_PLUGINS] = {"linear", "gbdt", "forest", "mlp", "knn", "naive_bayes", "discriminant"};
/* each plugin's blob format version today: a blob above it is "from a newer plugin" */
static const unsigned versions[N_PLUGINS] = {2, 1, 1, 1, 2, 1, 1};

static aml_registry *reg;
static const aml_model_vtable *vts[N_PLUGINS];
static const aml_host *host;
static float X[ROWS * COLS];
static int32_t label[ROWS];

static int load_plugins(const char *dir)
{
    aml_ctx *c = aml_ctx_new();
    reg = aml_registry_new();
    for (int p = 0; p < N_PLUGINS; p++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/aml_model_%s.so", dir, names[p]);
        if (aml_registry_load_file(reg, c, path) != AML_OK) {
            fprintf(stderr, "cannot load %s: %s\n", path, aml_errmsg(c));
            aml_ctx_free(c);
            return -1;
        }
        vts[p] = aml_registry_find(reg, AML_PLUGIN_MODEL, names[p])->desc->model;
    }
    aml_ctx_free(c);
    host = aml_host_services();
    /* two classes, separable on the first feature */
    for (int i = 0; i < ROWS; i++) {
        label[i] = i % 2;
        X[i * COLS] = (float)(label[i] * 4) + (float)(i % 5) * 0.1f;
        X[i * COLS + 1] = (float)((i * 7) % 11);
    }
    return 0;
}

static int setup(void **state) { return load_plugins(AML_PLUGIN_BUILD_DIR); }

static int teardown(void **state)
{
    aml_registry_free(reg);
    return 0;
}

static const aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = COLS, .seed = 7};

static aml_model *create(int p)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_model *m = NULL;
    assert_int_equal(vts[p]->create(host, &hc, NULL, &task, &m), AML_OK);
    return m;
}

static aml_status fit(int p, aml_model *m, aml_host_ctx *hc, const int32_t *y, const float *w, int64_t rows)
{
    aml_matrix mx = {.data = X, .rows = rows, .cols = COLS, .ld = COLS};
    aml_target t = {.label = y, .weight = w};
    return vts[p]->fit(m, hc, &mx, &t, NULL, NULL, NULL);
}

static aml_model *fitted(int p)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_model *m = create(p);
    aml_status st = fit(p, m, &hc, label, NULL, ROWS);
    if (st != AML_OK)
        print_error("%s: %s\n", names[p], hc.msg);
    assert_int_equal(st, AML_OK);
    return m;
}

static void save(int p, const aml_model *m, aml_writer *w)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_writer_init(w);
    assert_int_equal(vts[p]->save(m, &hc, w), AML_OK);
}

/* Loads len bytes of buf with plugin p: the status, and the message in msg. */
static aml_status load(int p, const void *buf, size_t len, const aml_task *t, char *msg)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_reader r;
    aml_reader_init(&r, buf, len);
    aml_model *m = NULL;
    aml_status st = vts[p]->load(host, &hc, &r, t, &m);
    if (st == AML_OK)
        vts[p]->free(m);
    else
        assert_null(m);
    snprintf(msg, 1024, "%s", hc.msg);
    return st;
}

/* Checks that msg is "<plugin>: <what>". */
static void assert_said(int p, const char *msg, const char *what)
{
    char want[1024];
    snprintf(want, sizeof want, "%s: %s", names[p], what);
    assert_string_equal(msg, want);
}

static void test_unfitted(void **state)
{
    for (int p = 0; p < N_PLUGINS; p++) {
        aml_model *m = create(p);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        aml_matrix mx = {.data = X, .rows = ROWS, .cols = COLS, .ld = COLS};
        double out[ROWS * 2];
        assert_int_equal(vts[p]->predict(m, &hc, &mx, out), AML_ERR_INPUT);
        assert_said(p, hc.msg, "predict before fit");
        aml_writer w;
        aml_writer_init(&w);
        assert_int_equal(vts[p]->save(m, &hc, &w), AML_ERR_INPUT);
        assert_said(p, hc.msg, "save before fit");
        assert_int_equal(vts[p]->predict_row(m, X, out), AML_ERR_INPUT);
        aml_writer_release(&w);
        vts[p]->free(m);
    }
}

static void test_bad_fit_input(void **state)
{
    for (int p = 0; p < N_PLUGINS; p++) {
        aml_model *m = create(p);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        assert_int_equal(fit(p, m, &hc, label, NULL, 0), AML_ERR_INPUT);
        assert_said(p, hc.msg, "empty or malformed training matrix");
        int32_t y[ROWS];
        memcpy(y, label, sizeof y);
        y[3] = 5;
        assert_int_equal(fit(p, m, &hc, y, NULL, ROWS), AML_ERR_INPUT);
        assert_said(p, hc.msg, "training row 3: class index 5 outside [0, 2)");
        assert_int_equal(fit(p, m, &hc, NULL, NULL, ROWS), AML_ERR_INPUT);
        assert_said(p, hc.msg, "the training rows have no class labels");
        float w[ROWS];
        for (int i = 0; i < ROWS; i++)
            w[i] = 1;
        w[4] = -1;
        assert_int_equal(fit(p, m, &hc, label, w, ROWS), AML_ERR_INPUT);
        assert_said(p, hc.msg, "training row 4: sample weight -1 must be finite and >= 0");
        memset(w, 0, sizeof w);
        assert_int_equal(fit(p, m, &hc, label, w, ROWS), AML_ERR_INPUT);
        assert_said(p, hc.msg, "the sample weights of the training rows sum to 0");
        vts[p]->free(m);
    }
}

static void test_bad_task(void **state)
{
    aml_task bad = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 1, .n_features = COLS};
    for (int p = 0; p < N_PLUGINS; p++) {
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        aml_model *m = NULL;
        assert_int_equal(vts[p]->create(host, &hc, NULL, &bad, &m), AML_ERR_INPUT);
        assert_null(m);
        char want[128];
        assert_true(strstr(hc.msg, "a classification task needs 2 to ") != NULL);
        snprintf(want, sizeof want, "classes, got 1");
        assert_true(strstr(hc.msg, want) != NULL);
    }
}

static void test_wrong_columns(void **state)
{
    for (int p = 0; p < N_PLUGINS; p++) {
        aml_model *m = fitted(p);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        aml_matrix mx = {.data = X, .rows = 4, .cols = 3, .ld = 3};
        double out[8];
        assert_int_equal(vts[p]->predict(m, &hc, &mx, out), AML_ERR_INPUT);
        assert_said(p, hc.msg, "predict on 3 columns, the model was fitted on 2");
        mx.cols = COLS, mx.ld = 1;
        assert_int_equal(vts[p]->predict(m, &hc, &mx, out), AML_ERR_INPUT);
        assert_said(p, hc.msg, "predict on a malformed matrix (4 rows, row stride 1)");
        vts[p]->free(m);
    }
}

static void test_bad_blobs(void **state)
{
    aml_writer blobs[N_PLUGINS];
    aml_model *models[N_PLUGINS];
    for (int p = 0; p < N_PLUGINS; p++) {
        models[p] = fitted(p);
        save(p, models[p], &blobs[p]);
    }
    char msg[1024];
    for (int p = 0; p < N_PLUGINS; p++) {
        const aml_writer *w = &blobs[p];
        assert_int_equal(load(p, w->buf, w->len, &task, msg), AML_OK);
        /* cut inside the magic, inside the header, and one byte short of the end */
        const size_t cuts[] = {0, 5, 20, w->len / 2, w->len - 1};
        for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
            assert_int_equal(load(p, w->buf, cuts[i], &task, msg), AML_ERR_FORMAT);
            assert_said(p, msg, "truncated model blob");
        }
        /* every other plugin's blob */
        for (int q = 0; q < N_PLUGINS; q++) {
            if (q == p)
                continue;
            assert_int_equal(load(p, blobs[q].buf, blobs[q].len, &task, msg), AML_ERR_FORMAT);
            assert_said(p, msg, "not a model blob of this plugin (wrong magic number)");
        }
        /* a newer version, and version 0 */
        unsigned char *copy = malloc(w->len);
        memcpy(copy, w->buf, w->len);
        const uint32_t newer = versions[p] + 1, zero = 0;
        memcpy(copy + 8, &newer, 4);
        assert_int_equal(load(p, copy, w->len, &task, msg), AML_ERR_FORMAT);
        char want[128];
        snprintf(want, sizeof want, "blob format version %u, this plugin reads up to %u", newer, versions[p]);
        assert_said(p, msg, want);
        memcpy(copy + 8, &zero, 4);
        assert_int_equal(load(p, copy, w->len, &task, msg), AML_ERR_FORMAT);
        snprintf(want, sizeof want, "blob format version 0, this plugin reads up to %u", versions[p]);
        assert_said(p, msg, want);
        free(copy);
        /* a blob for another task */
        const aml_task wider = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 5};
        assert_int_equal(load(p, w->buf, w->len, &wider, msg), AML_ERR_FORMAT);
        assert_said(p, msg, "blob is for a classification task with 2 classes and 2 features, not the given task");
    }
    for (int p = 0; p < N_PLUGINS; p++) {
        aml_writer_release(&blobs[p]);
        vts[p]->free(models[p]);
    }
}

static void blob_path(int p, char *path, size_t n) { snprintf(path, n, "%s/%s.blob", BLOB_DIR, names[p]); }

/* A blob written by the plugins before they shared plugins/models/common loads, predicts, and
 * saves back to the very same bytes. */
static void test_old_blobs_load(void **state)
{
    for (int p = 0; p < N_PLUGINS; p++) {
        char path[1024];
        blob_path(p, path, sizeof path);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static unsigned char old[1 << 20];
        const size_t len = fread(old, 1, sizeof old, f);
        fclose(f);
        assert_true(len > 12 && len < sizeof old);
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        aml_reader r;
        aml_reader_init(&r, old, len);
        aml_model *m = NULL;
        aml_status st = vts[p]->load(host, &hc, &r, &task, &m);
        if (st != AML_OK)
            print_error("%s: %s\n", names[p], hc.msg);
        assert_int_equal(st, AML_OK);
        aml_matrix mx = {.data = X, .rows = ROWS, .cols = COLS, .ld = COLS};
        double out[ROWS * 2];
        assert_int_equal(vts[p]->predict(m, &hc, &mx, out), AML_OK);
        int right = 0;
        for (int i = 0; i < ROWS; i++)
            right += (out[i * 2 + 1] > 0.5) == (label[i] == 1);
        assert_true(right >= ROWS * 9 / 10);
        aml_writer w;
        save(p, m, &w);
        assert_int_equal(w.len, len);
        assert_memory_equal(w.buf, old, len);
        aml_writer_release(&w);
        vts[p]->free(m);
    }
}

/* AML_MC_WRITE_BLOBS=<dir>: writes tests/data/model_blobs/ with the plugins in dir. */
static int write_blobs(const char *dir)
{
    if (load_plugins(dir) != 0)
        return 1;
    for (int p = 0; p < N_PLUGINS; p++) {
        aml_model *m = fitted(p);
        aml_writer w;
        save(p, m, &w);
        char path[1024];
        blob_path(p, path, sizeof path);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(w.buf, 1, w.len, f) != w.len || fclose(f) != 0) {
            fprintf(stderr, "cannot write %s\n", path);
            return 1;
        }
        printf("wrote %s (%zu bytes)\n", path, w.len);
        aml_writer_release(&w);
        vts[p]->free(m);
    }
    aml_registry_free(reg);
    return 0;
}

int main(void)
{
    const char *dir = getenv("AML_MC_WRITE_BLOBS");
    if (dir && *dir)
        return write_blobs(dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unfitted),       cmocka_unit_test(test_bad_fit_input),
        cmocka_unit_test(test_bad_task),       cmocka_unit_test(test_wrong_columns),
        cmocka_unit_test(test_bad_blobs),      cmocka_unit_test(test_old_blobs_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
