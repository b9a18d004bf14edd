/* The onehot feature plugin, loaded as a .so: the block layout in input order, the most frequent
 * levels with count ties to the smaller code, the "other" column for rare, unseen, negative,
 * fractional and infinite codes, all zeros for NaN, all-missing categorical columns, exact
 * save/load round trips and thread-count independence. */
#include "test_features_util.h"

#define N_ NAN

static int setup(void **state) { return load_feature_plugin("onehot"); }

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "onehot");
    assert_int_equal(desc->n_params, 1);
    assert_string_equal(desc->params[0].name, "max_levels");
    assert_int_equal(desc->params[0].type, AML_PARAM_INT);
    assert_true(desc->params[0].def == 16);
}

/* col 0 numeric; col 1 categorical, counts: 0 x1, 1 x2, 3 x2, 4 x1 (2 never seen); col 2
 * categorical all missing; col 3 numeric. */
static const float X0[] = {
    0.5f, 3,  N_, 10,
    1.5f, 1,  N_, 11,
    2.5f, 1,  N_, 12,
    N_,   0,  N_, 13,
    4.5f, 3,  N_, 14,
    5.5f, N_, N_, 15,
    6.5f, 4,  N_, 16,
};
static const uint8_t cat0[] = {0, 1, 1, 0};

static void test_all_levels(void **state)
{
    param_set ps;
    aml_task t = task_of(2, 4, cat0, 1);
    aml_matrix X = view(X0, 7, 4);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &X, NULL);
    /* x0 | levels 0 1 3 4, other | other (col 2) | x3 */
    assert_int_equal(vt->output_cols(f), 1 + 5 + 1 + 1);
    const float want[] = {
        0.5f, 0, 0, 1, 0, 0, 0, 10,
        1.5f, 0, 1, 0, 0, 0, 0, 11,
        2.5f, 0, 1, 0, 0, 0, 0, 12,
        N_,   1, 0, 0, 0, 0, 0, 13,
        4.5f, 0, 0, 1, 0, 0, 0, 14,
        5.5f, 0, 0, 0, 0, 0, 0, 15,
        6.5f, 0, 0, 0, 1, 0, 0, 16,
    };
    float *out = transform(f, &X);
    expect_cells(out, want, 7, 8);
    free(out);
    /* predict time: level 2 (never seen), 9 (>= L), -1, 1.5, inf all go to "other"; the column
     * that was all missing sends any code to its "other" column, NaN to nothing */
    const float Q[] = {
        0, 2,         7,  1,
        0, 9,         N_, 1,
        0, -1,        0,  1,
        0, 1.5f,      N_, 1,
        0, INFINITY,  N_, INFINITY,
        N_, N_,       N_, N_,
    };
    const float qwant[] = {
        0,  0, 0, 0, 0, 1, 1, 1,
        0,  0, 0, 0, 0, 1, 0, 1,
        0,  0, 0, 0, 0, 1, 1, 1,
        0,  0, 0, 0, 0, 1, 0, 1,
        0,  0, 0, 0, 0, 1, 0, INFINITY,
        N_, 0, 0, 0, 0, 0, 0, N_,
    };
    aml_matrix q = view(Q, 6, 4);
    out = transform(f, &q);
    expect_cells(out, qwant, 6, 8);
    free(out);
    aml_feature *g = roundtrip(f, &t, &q);
    out = transform(g, &q);
    expect_cells(out, qwant, 6, 8);
    free(out);
    vt->free(g);
    vt->free(f);
}

/* max_levels = 2: levels 1 and 3 (count 2 each) are kept; 0 and 4 (count 1) go to "other". */
static void test_max_levels(void **state)
{
    param_set ps;
    aml_task t = task_of(2, 4, cat0, 1);
    aml_matrix X = view(X0, 7, 4);
    aml_feature *f = fit_feature(params_of(&ps, "max_levels", 2, NULL, 0), &t, &X, NULL);
    assert_int_equal(vt->output_cols(f), 1 + 3 + 1 + 1);
    const float want[] = {
        0.5f, 0, 1, 0, 0, 10,
        1.5f, 1, 0, 0, 0, 11,
        2.5f, 1, 0, 0, 0, 12,
        N_,   0, 0, 1, 0, 13,
        4.5f, 0, 1, 0, 0, 14,
        5.5f, 0, 0, 0, 0, 15,
        6.5f, 0, 0, 1, 0, 16,
    };
    float *out = transform(f, &X);
    expect_cells(out, want, 7, 6);
    free(out);
    vt->free(f);
    /* a count tie at the cut goes to the smaller code: 0 and 4 both have count 1 */
    f = fit_feature(params_of(&ps, "max_levels", 3, NULL, 0), &t, &X, NULL);
    const float Q[] = {0, 0, N_, 0, 0, 4, N_, 0};
    const float qwant[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(vt->output_cols(f), 7);
    aml_matrix q = view(Q, 2, 4);
    out = transform(f, &q);
    expect_cells(out, qwant, 2, 7);
    free(out);
    vt->free(f);
}

static void test_roundtrip_and_threads(void **state)
{
    enum { n = 30000, d = 4 };
    float *X = malloc(sizeof(float) * n * d);
    srand(5);
    for (int i = 0; i < n; i++) {
        X[i * d + 0] = (float)(rand() % 1000);
        X[i * d + 1] = rand() % 10 == 0 ? NAN : (float)(rand() % 40); /* more levels than max_levels */
        X[i * d + 2] = (float)(rand() % 3);
        X[i * d + 3] = rand() % 10 == 0 ? NAN : (float)(rand() % 100) / 3.0f;
    }
    const uint8_t cat[d] = {0, 1, 1, 0};
    aml_task t = task_of(0, d, cat, 1);
    aml_matrix mx = view(X, n, d);
    param_set ps;
    aml_feature *f1 = fit_threads(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL, 1);
    aml_feature *f4 = fit_threads(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL, 4);
    const int64_t oc = vt->output_cols(f1);
    assert_int_equal(oc, 1 + 17 + 4 + 1);
    float *a = transform_threads(f1, &mx, 1), *b = transform_threads(f4, &mx, 4);
    assert_memory_equal(a, b, sizeof(float) * n * oc);
    /* each categorical block holds exactly one 1, except NaN rows (none) */
    for (int i = 0; i < n; i++) {
        float s1 = 0, s2 = 0;
        for (int k = 1; k < 18; k++)
            s1 += a[i * oc + k];
        for (int k = 18; k < 22; k++)
            s2 += a[i * oc + k];
        assert_true(s1 == (isnan(X[i * d + 1]) ? 0.0f : 1.0f));
        assert_true(s2 == 1.0f);
    }
    free(a), free(b);
    vt->free(roundtrip(f1, &t, &mx));
    vt->free(f1), vt->free(f4);
    free(X);
}

static void test_errors(void **state)
{
    param_set ps;
    char msg[1024];
    const float X[] = {0, 16777216.0f};
    const uint8_t cat[] = {1};
    aml_task t = task_of(0, 1, cat, 1);
    aml_matrix mx = view(X, 2, 1);
    assert_int_equal(fit_error(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL, msg, sizeof msg), AML_ERR_INPUT);
    assert_string_equal(msg, "onehot: row 1, categorical column 0 holds 1.67772e+07, expected a level code in "
                             "[0, 16777216) or NaN");
    assert_int_equal(fit_error(params_of(&ps, "max_levels", 0, NULL, 0), &t, &mx, NULL, msg, sizeof msg),
                     AML_ERR_INPUT);
    assert_string_equal(msg, "onehot: max_levels = 0 must be an integer in [1, 1024]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_all_levels),
        cmocka_unit_test(test_max_levels),
        cmocka_unit_test(test_roundtrip_and_threads),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, unload_feature_plugin);
}
