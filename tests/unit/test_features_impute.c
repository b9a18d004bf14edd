/* The impute feature plugin, loaded as a .so: fill values by hand (median, mean, most frequent,
 * categorical mode), indicator columns, all-missing columns, unseen codes and infinities at
 * transform time, exact save/load round trips, thread-count independence, and input errors. */
#include "test_features_util.h"

#define N_ NAN

enum { S_MEAN, S_MEDIAN, S_MOST_FREQUENT };

static int setup(void **state) { return load_feature_plugin("impute"); }

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "impute");
    assert_int_equal(desc->kind, AML_PLUGIN_FEATURE);
    assert_int_equal(desc->n_params, 2);
    assert_string_equal(desc->params[0].name, "strategy");
    assert_true(desc->params[0].def == S_MEDIAN);
    assert_string_equal(desc->params[0].choices[2], "most_frequent");
    assert_string_equal(desc->params[1].name, "add_indicator");
    assert_true(desc->params[1].def == 1);
}

/* col 0 numeric with a NaN, col 1 categorical with a NaN, col 2 numeric complete, col 3 numeric
 * with values repeated (mode), col 4 numeric all missing. */
static const float X0[] = {
    1, 0,   5, 4,  N_,
    N_, 2,  6, 4,  N_,
    3, 2,   7, 9,  N_,
    10, N_, 8, N_, N_,
};
static const uint8_t cat0[] = {0, 1, 0, 0, 0};

static void check_strategy(int strategy, float fill0, float fill3)
{
    param_set ps;
    aml_task t = task_of(2, 5, cat0, 1);
    aml_matrix X = view(X0, 4, 5);
    aml_feature *f = fit_feature(params_of(&ps, "strategy", strategy, NULL, 0), &t, &X, NULL);
    /* indicators for columns 0, 1, 3, 4: every column with a NaN at fit time */
    assert_int_equal(vt->output_cols(f), 9);
    const float want[] = {
        1, 0, 5, 4, 0,         0, 0, 0, 1,
        fill0, 2, 6, 4, 0,     1, 0, 0, 1,
        3, 2, 7, 9, 0,         0, 0, 0, 1,
        10, 2, 8, fill3, 0,    0, 1, 1, 1,
    };
    float *out = transform(f, &X);
    expect_cells(out, want, 4, 9);
    free(out);
    uint8_t flags[9];
    vt->output_categorical(f, flags); /* the inputs' flags, then numeric indicators */
    assert_memory_equal(flags, ((const uint8_t[]){0, 1, 0, 0, 0, 0, 0, 0, 0}), 9);
    vt->free(f);
}

static void test_median(void **state) { check_strategy(S_MEDIAN, 3, 4); }
static void test_mean(void **state) { check_strategy(S_MEAN, (float)(14.0 / 3.0), (float)(17.0 / 3.0)); }
/* all distinct: the smallest value wins the tie; the categorical column is always the mode */
static void test_most_frequent(void **state) { check_strategy(S_MOST_FREQUENT, 1, 4); }

static void test_even_median_without_indicator(void **state)
{
    const float X[] = {4, N_, 1, 3, 2};
    param_set ps;
    aml_task t = task_of(0, 1, NULL, 1);
    aml_matrix mx = view(X, 5, 1);
    aml_feature *f = fit_feature(params_of(&ps, "add_indicator", 0, NULL, 0), &t, &mx, NULL);
    assert_int_equal(vt->output_cols(f), 1);
    const float want[] = {4, 2.5f, 1, 3, 2};
    float *out = transform(f, &mx);
    expect_cells(out, want, 5, 1);
    free(out);
    vt->free(f);
}

/* At predict time: NaN everywhere (the all-missing column fills 0, never NaN), an unseen level
 * code, a negative code and infinities pass through untouched. */
static void test_unseen_values_at_transform(void **state)
{
    param_set ps;
    aml_task t = task_of(2, 5, cat0, 1);
    aml_matrix X = view(X0, 4, 5);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &X, NULL);
    const float Q[] = {
        N_, N_, N_, N_, N_,
        INFINITY, 7, -INFINITY, 3, 1,
        -2, -1, 0.5f, N_, 2,
    };
    const float want[] = {
        3, 2, 6.5f, 4, 0,                 1, 1, 1, 1,
        INFINITY, 7, -INFINITY, 3, 1,     0, 0, 0, 0,
        -2, -1, 0.5f, 4, 2,               0, 0, 1, 0,
    };
    aml_matrix q = view(Q, 3, 5);
    float *out = transform(f, &q);
    expect_cells(out, want, 3, 9);
    free(out);
    aml_feature *g = roundtrip(f, &t, &q);
    out = transform(g, &q);
    expect_cells(out, want, 3, 9);
    free(out);
    vt->free(g);
    vt->free(f);
}

static void random_matrix(float *X, int n, int d, unsigned seed)
{
    srand(seed);
    for (int a = 0; a < n * d; a++) {
        int r = rand();
        X[a] = r % 7 == 0 ? NAN : (float)(r % 1000) / 8.0f;
    }
}

static void test_roundtrip_and_threads(void **state)
{
    enum { n = 20000, d = 6 };
    float *X = malloc(sizeof(float) * n * d);
    random_matrix(X, n, d, 3);
    for (int i = 0; i < n; i++)
        X[i * d + 2] = X[i * d + 2] == X[i * d + 2] ? (float)(i % 5) : NAN; /* a categorical column */
    const uint8_t cat[d] = {0, 0, 1, 0, 0, 0};
    aml_task t = task_of(0, d, cat, 1);
    aml_matrix mx = view(X, n, d);
    for (int s = 0; s < 3; s++) {
        param_set ps;
        aml_feature *f1 = fit_threads(params_of(&ps, "strategy", s, NULL, 0), &t, &mx, NULL, 1);
        aml_feature *f4 = fit_threads(params_of(&ps, "strategy", s, NULL, 0), &t, &mx, NULL, 4);
        assert_int_equal(vt->output_cols(f1), 2 * d);
        float *a = transform_threads(f1, &mx, 1), *b = transform_threads(f4, &mx, 4);
        assert_memory_equal(a, b, sizeof(float) * n * 2 * d);
        for (int c = 0; c < n * 2 * d; c++)
            assert_false(isnan(a[c]));
        free(a), free(b);
        vt->free(roundtrip(f1, &t, &mx));
        vt->free(f1), vt->free(f4);
    }
    free(X);
}

static void test_errors(void **state)
{
    param_set ps;
    char msg[1024];
    const float X[] = {0, 1, 2, 1.5f};
    const uint8_t cat[] = {0, 1};
    aml_task t = task_of(0, 2, cat, 1);
    aml_matrix mx = view(X, 2, 2);
    assert_int_equal(fit_error(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL, msg, sizeof msg), AML_ERR_INPUT);
    assert_string_equal(msg, "impute: row 1, categorical column 1 holds 1.5, expected a level code in [0, 16777216) "
                             "or NaN");
    assert_int_equal(fit_error(params_of(&ps, "strategy", 3, NULL, 0), &t, &mx, NULL, msg, sizeof msg),
                     AML_ERR_INPUT);
    assert_string_equal(msg, "impute: strategy must be one of mean, median, most_frequent (got index 3)");
    aml_matrix wrong = view(X, 2, 1);
    assert_int_equal(fit_error(params_of(&ps, NULL, 0, NULL, 0), &t, &wrong, NULL, msg, sizeof msg), AML_ERR_INPUT);
    assert_string_equal(msg, "impute: fit on a 2 x 1 matrix, expected >= 1 rows x 2 columns");
    /* a blob of another plugin, and a newer format */
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    unsigned char junk[64] = {1, 2, 3};
    aml_reader r;
    aml_reader_init(&r, junk, sizeof junk);
    aml_feature *g = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &t, &g), AML_ERR_FORMAT);
    assert_string_equal(hc.msg, "impute: not a blob of this plugin (bad or truncated header)");
    aml_matrix ok = view((const float[]){0, 1, 2, 0}, 2, 2);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &ok, NULL);
    aml_writer w;
    aml_writer_init(&w);
    assert_int_equal(vt->save(f, &hc, &w), AML_OK);
    w.buf[8] = 9; /* format version */
    aml_reader_init(&r, w.buf, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &t, &g), AML_ERR_FORMAT);
    assert_string_equal(hc.msg, "impute: blob format version 9, this plugin reads up to 1");
    w.buf[8] = 1;
    aml_task other = task_of(0, 3, NULL, 1);
    aml_reader_init(&r, w.buf, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &other, &g), AML_ERR_FORMAT);
    assert_string_equal(hc.msg, "impute: blob is for 2 input columns, the task has 3");
    aml_writer_release(&w);
    float out[8];
    assert_int_equal(vt->transform(f, &hc, &wrong, out), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "impute: transform on a 2 x 1 matrix, expected >= 0 rows x 2 columns");
    vt->free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_median),
        cmocka_unit_test(test_mean),
        cmocka_unit_test(test_most_frequent),
        cmocka_unit_test(test_even_median_without_indicator),
        cmocka_unit_test(test_unseen_values_at_transform),
        cmocka_unit_test(test_roundtrip_and_threads),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, unload_feature_plugin);
}
