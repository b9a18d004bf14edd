/* The scale feature plugin, loaded as a .so: standard and robust scaling by hand, constant and
 * all-missing columns, categorical pass-through, NaN / inf / unseen codes at transform time, exact
 * save/load round trips and thread-count independence. */
#include "test_features_util.h"

#define N_ NAN

static int setup(void **state) { return load_feature_plugin("scale"); }

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "scale");
    assert_int_equal(desc->n_params, 1);
    assert_string_equal(desc->params[0].name, "method");
    assert_string_equal(desc->params[0].choices[0], "standard");
    assert_string_equal(desc->params[0].choices[1], "robust");
    assert_true(desc->params[0].def == 0);
}

/* col 0: mean 3, std 3; col 1 categorical; col 2 constant; col 3: finite cells 1, 3 (mean 2,
 * std 1), NaN and inf ignored; col 4 all missing. */
static const float X0[] = {
    0, 0, 5, 1,        N_,
    0, 1, 5, N_,       N_,
    6, 2, 5, 3,        N_,
    6, 1, 5, INFINITY, N_,
};
static const uint8_t cat0[] = {0, 1, 0, 0, 0};

static void test_standard(void **state)
{
    param_set ps;
    aml_task t = task_of(0, 5, cat0, 1);
    aml_matrix X = view(X0, 4, 5);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &X, NULL);
    assert_int_equal(vt->output_cols(f), 5);
    const float want[] = {
        -1, 0, 0, -1,       N_,
        -1, 1, 0, N_,       N_,
        1,  2, 0, 1,        N_,
        1,  1, 0, INFINITY, N_,
    };
    float *out = transform(f, &X);
    expect_cells(out, want, 4, 5);
    free(out);
    /* at predict time: an unseen code and a negative code pass through; the all-missing column
     * keeps its values (centre 0, scale 1); a constant column is only shifted */
    const float Q[] = {9, 17, 6, -INFINITY, 2.5f, N_, -1, 4, 2, -3};
    const float qwant[] = {2, 17, 1, -INFINITY, 2.5f, N_, -1, -1, 0, -3};
    aml_matrix q = view(Q, 2, 5);
    out = transform(f, &q);
    expect_cells(out, qwant, 2, 5);
    free(out);
    vt->free(roundtrip(f, &t, &q));
    vt->free(f);
}

static void test_robust(void **state)
{
    const float X[] = {1, 7, 2, 7, 3, 7, 4, 7, 100, 7};
    param_set ps;
    aml_task t = task_of(0, 2, NULL, 1);
    aml_matrix mx = view(X, 5, 2);
    aml_feature *f = fit_feature(params_of(&ps, "method", 1, NULL, 0), &t, &mx, NULL);
    /* median 3, q25 2, q75 4: IQR 2; the constant column has IQR 0 -> scale 1 */
    const float want[] = {-1, 0, -0.5f, 0, 0, 0, 0.5f, 0, 48.5f, 0};
    float *out = transform(f, &mx);
    expect_cells(out, want, 5, 2);
    free(out);
    /* interpolated quartiles: 0, 1, 2, 3, 5, 8 -> q25 at 1.25 = 1.25, q75 at 3.75 = 4.5, median 2.5 */
    const float Y[] = {8, 0, 5, 1, 3, 2};
    aml_task t1 = task_of(0, 1, NULL, 1);
    aml_matrix my = view(Y, 6, 1);
    aml_feature *g = fit_feature(params_of(&ps, "method", 1, NULL, 0), &t1, &my, NULL);
    const float ywant[] = {5.5f / 3.25f, -2.5f / 3.25f, 2.5f / 3.25f, -1.5f / 3.25f, 0.5f / 3.25f, -0.5f / 3.25f};
    out = transform(g, &my);
    expect_cells(out, ywant, 6, 1);
    free(out);
    vt->free(roundtrip(g, &t1, &my));
    vt->free(g);
    vt->free(f);
}

static void test_roundtrip_and_threads(void **state)
{
    enum { n = 30000, d = 5 };
    float *X = malloc(sizeof(float) * n * d);
    srand(11);
    for (int a = 0; a < n * d; a++)
        X[a] = rand() % 9 == 0 ? NAN : (float)(rand() % 10000) / 7.0f - 300.0f;
    for (int i = 0; i < n; i++)
        X[i * d + 1] = (float)(i % 4);
    const uint8_t cat[d] = {0, 1, 0, 0, 0};
    aml_task t = task_of(0, d, cat, 1);
    aml_matrix mx = view(X, n, d);
    for (int m = 0; m < 2; m++) {
        param_set ps;
        aml_feature *f1 = fit_threads(params_of(&ps, "method", m, NULL, 0), &t, &mx, NULL, 1);
        aml_feature *f4 = fit_threads(params_of(&ps, "method", m, NULL, 0), &t, &mx, NULL, 4);
        float *a = transform_threads(f1, &mx, 1), *b = transform_threads(f4, &mx, 4);
        assert_memory_equal(a, b, sizeof(float) * n * d);
        /* standard: every numeric column ends with mean ~0 and std ~1 */
        if (m == 0)
            for (int j = 0; j < d; j += 2) {
                double s = 0, ss = 0, c = 0;
                for (int i = 0; i < n; i++)
                    if (!isnan(a[i * d + j]))
                        s += a[i * d + j], ss += (double)a[i * d + j] * a[i * d + j], c++;
                assert_true(fabs(s / c) < 1e-5 && fabs(ss / c - 1) < 1e-5);
            }
        free(a), free(b);
        vt->free(roundtrip(f1, &t, &mx));
        vt->free(f1), vt->free(f4);
    }
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_standard),
        cmocka_unit_test(test_robust),
        cmocka_unit_test(test_roundtrip_and_threads),
    };
    return cmocka_run_group_tests(tests, setup, unload_feature_plugin);
}
