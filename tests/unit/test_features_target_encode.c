/* The target_encode feature plugin, loaded as a .so: smoothed encodings by hand (regression,
 * binary, multiclass, missing and unseen levels), the out-of-fold encoding of the fit matrix
 * (a training row's encoding never depends on its own target; an ID-like column shows the
 * leakage the full encoding would have), what counts as "the fit matrix", exact save/load round
 * trips, seeds and thread-count independence. */
#include "test_features_util.h"

#define N_ NAN

static int setup(void **state) { return load_feature_plugin("target_encode"); }

static double enc(double s, double n, double m, double prior) { return (s + m * prior) / (n + m); }

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "target_encode");
    assert_int_equal(desc->n_params, 2);
    assert_string_equal(desc->params[0].name, "smoothing");
    assert_true(desc->params[0].def == 10);
    assert_string_equal(desc->params[1].name, "folds");
    assert_true(desc->params[1].def == 5);
}

/* Regression; col 0 categorical (levels 0, 1, missing), col 1 numeric passed through. */
static void test_regression_by_hand(void **state)
{
    const float X[] = {0, 1.5f, 0, 2.5f, 1, 3.5f, 1, N_, N_, 5.5f};
    const double y[] = {1, 3, 10, 20, 5};
    const uint8_t cat[] = {1, 0};
    param_set ps;
    aml_task t = task_of(0, 2, cat, 7);
    aml_matrix mx = view(X, 5, 2);
    aml_target tg = {.value = y};
    aml_feature *f = fit_feature(params_of(&ps, "smoothing", 2, NULL, 0), &t, &mx, &tg);
    assert_int_equal(vt->output_cols(f), 2);
    uint8_t flags[2] = {9, 9};
    vt->output_categorical(f, flags); /* same column count, but the encodings are numeric */
    assert_memory_equal(flags, ((const uint8_t[]){0, 0}), 2);
    const double p = 39.0 / 5;
    const float Q[] = {0, 1, 1, 2, N_, 3, 2, 4, -1, N_, 0.5f, 6, INFINITY, 7};
    const float want[] = {
        (float)enc(4, 2, 2, p),  1,  (float)enc(30, 2, 2, p), 2, (float)enc(5, 1, 2, p), 3,
        (float)p, 4, (float)p, N_, (float)p, 6, (float)p, 7,
    };
    aml_matrix q = view(Q, 7, 2);
    float *out = transform(f, &q);
    expect_cells(out, want, 7, 2);
    free(out);
    aml_feature *g = roundtrip(f, &t, &q);
    out = transform(g, &q);
    expect_cells(out, want, 7, 2);
    free(out);
    vt->free(g);
    vt->free(f);
}

static void test_classification_by_hand(void **state)
{
    /* 3 classes: columns P(class 0 | level), P(class 1 | level) */
    const float X[] = {0, 0, 0, 1, 1, N_};
    const int32_t lab[] = {0, 1, 1, 2, 0, 2};
    const uint8_t cat[] = {1};
    param_set ps;
    aml_task t = task_of(3, 1, cat, 7);
    aml_matrix mx = view(X, 6, 1);
    aml_target tg = {.label = lab};
    aml_feature *f = fit_feature(params_of(&ps, "smoothing", 3, NULL, 0), &t, &mx, &tg);
    assert_int_equal(vt->output_cols(f), 2);
    const double p0 = 2.0 / 6, p1 = 2.0 / 6;
    const float Q[] = {0, 1, N_, 5};
    const float want[] = {
        (float)enc(1, 3, 3, p0), (float)enc(2, 3, 3, p1), (float)enc(1, 2, 3, p0), (float)enc(0, 2, 3, p1),
        (float)enc(0, 1, 3, p0), (float)enc(0, 1, 3, p1), (float)p0, (float)p1,
    };
    aml_matrix q = view(Q, 4, 1);
    float *out = transform(f, &q);
    expect_cells(out, want, 4, 2);
    free(out);
    vt->free(f);
    /* 2 classes: one column, P(class 1 | level); smoothing 0 gives the raw rates */
    aml_task t2 = task_of(2, 1, cat, 7);
    const int32_t lab2[] = {0, 1, 1, 1, 0, 0};
    aml_target tg2 = {.label = lab2};
    f = fit_feature(params_of(&ps, "smoothing", 0, NULL, 0), &t2, &mx, &tg2);
    assert_int_equal(vt->output_cols(f), 1);
    const float want2[] = {2.0f / 3.0f, 0.5f, 0.0f, 0.5f};
    out = transform(f, &q);
    expect_cells(out, want2, 4, 1);
    free(out);
    vt->free(f);
}

/* Random regression targets (so the fold priors differ); col 0 an ID (one level per row), col 1 a real categorical
 * column, col 2 numeric. */
enum { LN = 500 };
static void leak_data(float *X, double *lab)
{
    srand(21);
    for (int i = 0; i < LN; i++) {
        X[i * 3 + 0] = (float)i;
        X[i * 3 + 1] = (float)(rand() % 6);
        X[i * 3 + 2] = (float)i / 10.0f;
        lab[i] = (double)rand() / RAND_MAX;
    }
}

static void test_out_of_fold(void **state)
{
    float *X = malloc(sizeof(float) * LN * 3), *copy = malloc(sizeof(float) * LN * 3);
    double lab[LN], flipped[LN];
    leak_data(X, lab);
    memcpy(copy, X, sizeof(float) * LN * 3);
    const uint8_t cat[] = {1, 1, 0};
    param_set ps;
    aml_task t = task_of(0, 3, cat, 99);
    aml_matrix mx = view(X, LN, 3), mcopy = view(copy, LN, 3);
    aml_target tg = {.value = lab};
    aml_feature *f = fit_feature(params_of(&ps, "smoothing", 0, NULL, 0), &t, &mx, &tg);
    float *oof = transform(f, &mx), *full = transform(f, &mcopy);
    /* the full encoding of the ID column with m = 0 is the row's own target: total leakage */
    for (int i = 0; i < LN; i++)
        assert_true(full[i * 3] == (float)lab[i] && full[i * 3 + 2] == X[i * 3 + 2]);
    /* out of fold, an ID level is unseen in the other folds: it gets the fold's prior, the mean
     * target of the rows outside the fold: 5 distinct values, each the mean target of the rows
     * that do not carry it. */
    double vals[8];
    int nv = 0, match = 0;
    for (int i = 0; i < LN; i++) {
        int k = 0;
        while (k < nv && vals[k] != oof[i * 3])
            k++;
        if (k == nv) {
            assert_true(nv < 5);
            vals[nv++] = oof[i * 3];
        }
        match += oof[i * 3] == (float)lab[i];
    }
    assert_int_equal(nv, 5);
    assert_int_equal(match, 0); /* no longer the target */
    for (int k = 0; k < nv; k++) {
        double s = 0, c = 0, in = 0;
        for (int i = 0; i < LN; i++)
            if (oof[i * 3] != (float)vals[k])
                s += lab[i], c++;
            else
                in++;
        assert_true(in >= LN / 5 - 1 && in <= LN / 5 + 1);
        assert_true(fabs(vals[k] - s / c) < 1e-6);
    }
    /* changing one row's target changes its full encoding but not its out-of-fold encoding (all
     * columns), while other rows' out-of-fold encodings may change */
    for (int r = 0; r < LN; r += 37) {
        memcpy(flipped, lab, sizeof lab);
        flipped[r] = lab[r] + 1;
        aml_target tf = {.value = flipped};
        aml_feature *g = fit_feature(params_of(&ps, "smoothing", 0, NULL, 0), &t, &mx, &tf);
        float *oof2 = transform(g, &mx), *full2 = transform(g, &mcopy);
        assert_memory_equal(oof + r * 3, oof2 + r * 3, 3 * sizeof(float));
        assert_true(full2[r * 3] != full[r * 3]);
        int other_changed = 0;
        for (int i = 0; i < LN; i++)
            other_changed += i != r && oof2[i * 3 + 1] != oof[i * 3 + 1];
        assert_true(other_changed > 0);
        free(oof2), free(full2);
        vt->free(g);
    }
    /* thread counts: same out-of-fold rows */
    float *oof1 = transform_threads(f, &mx, 1), *oof4 = transform_threads(f, &mx, 4);
    assert_memory_equal(oof1, oof, sizeof(float) * LN * 3);
    assert_memory_equal(oof4, oof, sizeof(float) * LN * 3);
    free(oof1), free(oof4);
    /* the same seed gives the same folds, another seed other folds */
    aml_feature *same = fit_threads(params_of(&ps, "smoothing", 0, NULL, 0), &t, &mx, &tg, 1);
    float *o2 = transform(same, &mx);
    assert_memory_equal(o2, oof, sizeof(float) * LN * 3);
    free(o2);
    vt->free(same);
    aml_task t2 = task_of(0, 3, cat, 100);
    aml_feature *other = fit_feature(params_of(&ps, "smoothing", 0, NULL, 0), &t2, &mx, &tg);
    o2 = transform(other, &mx);
    assert_memory_not_equal(o2, oof, sizeof(float) * LN * 3);
    free(o2);
    vt->free(other);
    /* only the fit matrix itself gets out-of-fold rows: fewer rows, or changed contents, at the same
     * address get the full encoding */
    aml_matrix head = view(X, 100, 3);
    float *h = transform(f, &head);
    assert_memory_equal(h, full, sizeof(float) * 100 * 3);
    free(h);
    const float keep = X[7 * 3 + 2];
    X[7 * 3 + 2] = -1;
    float *changed = transform(f, &mx);
    assert_true(changed[0] == full[0] && changed[3] == full[3]);
    X[7 * 3 + 2] = keep;
    free(changed);
    /* after save/load every matrix gets the full encoding */
    aml_feature *g = roundtrip(f, &t, &mcopy);
    float *loaded = transform(g, &mx);
    assert_memory_equal(loaded, full, sizeof(float) * LN * 3);
    free(loaded);
    vt->free(g);
    free(oof), free(full);
    vt->free(f);
    free(X), free(copy);
}

/* Fewer rows than folds: one row per fold (leave one out); a single row sees the default prior. */
static void test_few_rows(void **state)
{
    const float X[] = {0, 0, 0};
    const double y[] = {3, 6, 12};
    const uint8_t cat[] = {1};
    param_set ps;
    aml_task t = task_of(0, 1, cat, 1);
    aml_matrix mx = view(X, 3, 1);
    aml_target tg = {.value = y};
    aml_feature *f = fit_feature(params_of(&ps, "smoothing", 1, NULL, 0), &t, &mx, &tg);
    float *out = transform(f, &mx);
    /* row 0 sees rows 1, 2: prior 9, level 0 (n 2, sum 18) -> (18 + 9) / 3 = 9; and so on */
    const float want[] = {9, 7.5f, 4.5f};
    expect_cells(out, want, 3, 1);
    free(out);
    vt->free(f);
    aml_matrix one = view(X, 1, 1);
    f = fit_feature(params_of(&ps, "smoothing", 1, NULL, 0), &t, &one, &tg);
    out = transform(f, &one);
    assert_true(out[0] == 0.0f);
    free(out);
    vt->free(f);
}

static void test_errors(void **state)
{
    param_set ps;
    char msg[1024];
    const float X[] = {0, 1};
    const uint8_t cat[] = {1};
    aml_task t = task_of(0, 1, cat, 1);
    aml_matrix mx = view(X, 2, 1);
    const double y[] = {1, NAN};
    aml_target tg = {.value = y};
    assert_int_equal(fit_error(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, &tg, msg, sizeof msg), AML_ERR_INPUT);
    assert_string_equal(msg, "target_encode: row 1: target value is missing or not finite");
    const int32_t lab[] = {0, 2};
    aml_task tc = task_of(2, 1, cat, 1);
    aml_target tl = {.label = lab};
    assert_int_equal(fit_error(params_of(&ps, NULL, 0, NULL, 0), &tc, &mx, &tl, msg, sizeof msg), AML_ERR_INPUT);
    assert_string_equal(msg, "target_encode: row 1: class index outside [0, n_classes)");
    aml_task bad = task_of(1, 1, cat, 1);
    assert_int_equal(fit_error(params_of(&ps, NULL, 0, NULL, 0), &bad, &mx, &tl, msg, sizeof msg), AML_ERR_INPUT);
    assert_string_equal(msg, "target_encode: needs a regression task or a classification task with 2 to 65536 "
                             "classes");
    /* a blob for a regression task does not load for a classification task */
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    const double yv[] = {1, 2};
    aml_target tv = {.value = yv};
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, &tv), *g = NULL;
    aml_writer w;
    aml_writer_init(&w);
    assert_int_equal(vt->save(f, &hc, &w), AML_OK);
    aml_reader r;
    aml_reader_init(&r, w.buf, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &tc, &g), AML_ERR_FORMAT);
    assert_string_equal(hc.msg, "target_encode: blob is for a regression task with 0 classes, not the given task");
    aml_writer_release(&w);
    vt->free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_regression_by_hand),
        cmocka_unit_test(test_classification_by_hand),
        cmocka_unit_test(test_out_of_fold),
        cmocka_unit_test(test_few_rows),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, unload_feature_plugin);
}
