/* The pca feature plugin, loaded as a .so: axis-aligned data by hand (components, order, signs,
 * the variance rule, whitening), NaN / inf at transform time, constant data, an orthogonality and
 * norm check on random correlated data, exact save/load round trips and thread-count independence
 * (fit and transform). */
#include "test_features_util.h"

#define N_ NAN

static int setup(void **state) { return load_feature_plugin("pca"); }

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "pca");
    assert_int_equal(desc->n_params, 3);
    assert_string_equal(desc->params[0].name, "n_components");
    assert_true(desc->params[0].def == 0);
    assert_string_equal(desc->params[1].name, "variance");
    assert_true(desc->params[1].def == 0.95);
    assert_string_equal(desc->params[2].name, "whiten");
    assert_true(desc->params[2].def == 0);
}

/* Variance 1/3 along y, 16/3 along x: the first component is x (16/17 = 94.1 % of the variance). */
static const float XA[] = {0, 0, 4, 0, 0, 1, 4, 1};

static void test_axis_aligned(void **state)
{
    param_set ps;
    aml_task t = task_of(0, 2, NULL, 1);
    aml_matrix mx = view(XA, 4, 2);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL);
    assert_int_equal(vt->output_cols(f), 2); /* 94.1 % < 95 % */
    const float want[] = {-2, -0.5f, 2, -0.5f, -2, 0.5f, 2, 0.5f};
    float *out = transform(f, &mx);
    expect_cells(out, want, 4, 2);
    free(out);
    /* NaN and inf count as the column mean */
    const float Q[] = {N_, 3, 10, INFINITY, -INFINITY, N_};
    const float qwant[] = {0, 2.5f, 8, 0, 0, 0};
    aml_matrix q = view(Q, 3, 2);
    out = transform(f, &q);
    expect_cells(out, qwant, 3, 2);
    free(out);
    vt->free(roundtrip(f, &t, &q));
    vt->free(f);
    /* 90 % of the variance: one component; n_components = 1 likewise */
    f = fit_feature(params_of(&ps, "variance", 0.9, NULL, 0), &t, &mx, NULL);
    assert_int_equal(vt->output_cols(f), 1);
    const float want1[] = {-2, 2, -2, 2};
    out = transform(f, &mx);
    expect_cells(out, want1, 4, 1);
    free(out);
    vt->free(f);
    f = fit_feature(params_of(&ps, "n_components", 1, NULL, 0), &t, &mx, NULL);
    assert_int_equal(vt->output_cols(f), 1);
    vt->free(f);
    /* whitened: unit variance per component */
    f = fit_feature(params_of(&ps, "whiten", 1, NULL, 0), &t, &mx, NULL);
    out = transform(f, &mx);
    for (int i = 0; i < 4; i++) {
        assert_true(fabs(out[i * 2] - want[i * 2] / sqrt(16.0 / 3)) < 1e-6);
        assert_true(fabs(out[i * 2 + 1] - want[i * 2 + 1] / sqrt(1.0 / 3)) < 1e-6);
    }
    free(out);
    vt->free(f);
}

/* The sign rule: the largest loading is positive, whatever the data's orientation. */
static void test_sign(void **state)
{
    const float X[] = {0, 4, 0, 0, 1, 4, 1, 0}; /* x: 0 or 1, y: 0 or 4, column order swapped */
    param_set ps;
    aml_task t = task_of(0, 2, NULL, 1);
    aml_matrix mx = view(X, 4, 2);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL);
    const float want[] = {2, -0.5f, -2, -0.5f, 2, 0.5f, -2, 0.5f};
    float *out = transform(f, &mx);
    expect_cells(out, want, 4, 2);
    free(out);
    vt->free(f);
    /* constant data: one component, all zeros */
    const float C[] = {3, 3, 3, 3, 3, 3};
    aml_matrix mc = view(C, 3, 2);
    f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &mc, NULL);
    assert_int_equal(vt->output_cols(f), 1);
    out = transform(f, &mc);
    assert_true(out[0] == 0 && out[1] == 0 && out[2] == 0);
    free(out);
    vt->free(f);
}

static void test_random_and_threads(void **state)
{
    enum { n = 6000, d = 7 };
    float *X = malloc(sizeof(float) * n * d);
    srand(17);
    for (int i = 0; i < n; i++) {
        double a = (double)rand() / RAND_MAX - 0.5, b = (double)rand() / RAND_MAX - 0.5;
        for (int j = 0; j < d; j++)
            X[i * d + j] = (float)(a * (j + 1) + 3 * b * (j % 3) + 0.01 * ((double)rand() / RAND_MAX) + 10 * j);
    }
    param_set ps;
    aml_task t = task_of(0, d, NULL, 1);
    aml_matrix mx = view(X, n, d);
    aml_feature *f1 = fit_threads(params_of(&ps, "n_components", d, NULL, 0), &t, &mx, NULL, 1);
    aml_feature *f4 = fit_threads(params_of(&ps, "n_components", d, NULL, 0), &t, &mx, NULL, 4);
    float *a = transform_threads(f1, &mx, 1), *b = transform_threads(f4, &mx, 4);
    assert_memory_equal(a, b, sizeof(float) * n * d);
    /* all components: an orthogonal map, so each row keeps its centred norm; the projections are
     * uncorrelated with decreasing variances */
    double mean[d] = {0}, var[d] = {0}, cov01 = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            mean[j] += X[i * d + j] / (double)n;
    for (int i = 0; i < n; i++) {
        double nx = 0, ny = 0;
        for (int j = 0; j < d; j++) {
            nx += (X[i * d + j] - mean[j]) * (X[i * d + j] - mean[j]);
            ny += (double)a[i * d + j] * a[i * d + j];
            var[j] += (double)a[i * d + j] * a[i * d + j] / (n - 1);
        }
        cov01 += (double)a[i * d] * a[i * d + 1] / (n - 1);
        assert_true(fabs(sqrt(nx) - sqrt(ny)) < 1e-3 * (1 + sqrt(nx)));
    }
    for (int j = 1; j < d; j++)
        assert_true(var[j] <= var[j - 1] * (1 + 1e-6));
    assert_true(fabs(cov01) < 1e-4 * var[0]);
    /* the default keeps the fewest leading components that explain 95 % of the variance */
    double total = 0, cum = 0;
    int k95 = 0;
    for (int j = 0; j < d; j++)
        total += var[j];
    while (cum < 0.95 * total)
        cum += var[k95++];
    assert_true(k95 >= 2 && k95 < d);
    aml_feature *g = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL);
    assert_int_equal(vt->output_cols(g), k95);
    vt->free(roundtrip(g, &t, &mx));
    vt->free(g);
    free(a), free(b);
    vt->free(roundtrip(f1, &t, &mx));
    vt->free(f1), vt->free(f4);
    free(X);
}

/* Wide enough that OpenBLAS would split the covariance and projection products over threads
 * (>= 2^21 multiply-adds per call): the bits still do not depend on the thread budget. */
static void test_wide_threads(void **state)
{
    enum { n = 3000, d = 160 };
    float *X = malloc(sizeof(float) * n * d);
    srand(23);
    for (int a = 0; a < n * d; a++)
        X[a] = (float)(rand() % 1000) / 100.0f + (float)(a % d) * (float)(a / d % 7);
    param_set ps;
    aml_task t = task_of(0, d, NULL, 1);
    aml_matrix mx = view(X, n, d);
    aml_feature *f1 = fit_threads(params_of(&ps, "n_components", d, NULL, 0), &t, &mx, NULL, 1);
    aml_feature *f4 = fit_threads(params_of(&ps, "n_components", d, NULL, 0), &t, &mx, NULL, 4);
    assert_int_equal(vt->output_cols(f1), d);
    float *a = transform_threads(f1, &mx, 1), *b = transform_threads(f4, &mx, 4), *c = transform_threads(f4, &mx, 1);
    assert_memory_equal(a, b, sizeof(float) * n * d);
    assert_memory_equal(a, c, sizeof(float) * n * d);
    free(a), free(b), free(c);
    vt->free(f1), vt->free(f4);
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_axis_aligned),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_random_and_threads),
        cmocka_unit_test(test_wide_threads),
    };
    return cmocka_run_group_tests(tests, setup, unload_feature_plugin);
}
