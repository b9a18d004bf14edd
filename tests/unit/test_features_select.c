/* The select feature plugin, loaded as a .so: the spread test (variance threshold, categorical
 * levels, all-missing columns), ANOVA and correlation F scores with top-k and p-value selection
 * (p-values checked against closed forms for 1 x 2 and 1 x 3 degrees of freedom), the never-empty
 * fallback, the probe row, pass-through of NaN / inf / unseen codes, round trips and threads. */
#include "test_features_util.h"

#define N_ NAN

enum { M_VARIANCE, M_UNIVARIATE };

static int setup(void **state) { return load_feature_plugin("select"); }

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "select");
    assert_int_equal(desc->n_params, 4);
    const char *names[] = {"method", "threshold", "k", "alpha"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(desc->params[i].name, names[i]);
    assert_true(desc->params[0].def == M_VARIANCE && desc->params[1].def == 0 && desc->params[2].def == 0 &&
                desc->params[3].def == 0.05);
}

/* The kept columns, read through the probe row (0, 1, ..., d - 1). */
static int kept_columns(const aml_feature *f, int d, int *cols)
{
    float probe[32];
    for (int j = 0; j < d; j++)
        probe[j] = (float)j;
    aml_matrix p = view(probe, 1, d);
    float *out = transform(f, &p);
    int n = (int)vt->output_cols(f);
    for (int a = 0; a < n; a++)
        cols[a] = (int)out[a];
    free(out);
    return n;
}

static void expect_kept(const aml_feature *f, int d, const int *want, int n_want)
{
    int cols[32];
    int n = kept_columns(f, d, cols);
    if (n != n_want)
        print_error("%d columns kept, expected %d\n", n, n_want);
    assert_int_equal(n, n_want);
    assert_memory_equal(cols, want, sizeof(int) * n);
}

/* c0 constant; c1 variance 0.25; c2 categorical, one level; c3 categorical, two levels; c4 all
 * missing; c5 variance 0.25 over its finite cells. */
static const float XV[] = {
    2, 0, 3, 0, N_, 1,
    2, 1, 3, 1, N_, N_,
    2, 0, N_, 1, N_, 2,
    2, 1, 3, 0, N_, INFINITY,
};
static const uint8_t catv[] = {0, 0, 1, 1, 0, 0};

static void test_variance(void **state)
{
    param_set ps;
    aml_task t = task_of(0, 6, catv, 1);
    aml_matrix mx = view(XV, 4, 6);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &mx, NULL);
    expect_kept(f, 6, (const int[]){1, 3, 5}, 3);
    uint8_t flags[3];
    vt->output_categorical(f, flags); /* the kept columns keep their flags */
    assert_memory_equal(flags, ((const uint8_t[]){0, 1, 0}), 3);
    /* values pass through unchanged, unseen codes and non-finite cells included */
    const float Q[] = {N_, 7, 1, 42, 9, -INFINITY, 1, 2, 3, 4, 5, 6};
    const float want[] = {7, 42, -INFINITY, 2, 4, 6};
    aml_matrix q = view(Q, 2, 6);
    float *out = transform(f, &q);
    expect_cells(out, want, 2, 3);
    free(out);
    vt->free(roundtrip(f, &t, &q));
    vt->free(f);
    f = fit_feature(params_of(&ps, "threshold", 0.2, NULL, 0), &t, &mx, NULL);
    expect_kept(f, 6, (const int[]){1, 3, 5}, 3);
    vt->free(f);
    /* variance must exceed the threshold; categorical columns only need two levels */
    f = fit_feature(params_of(&ps, "threshold", 0.25, NULL, 0), &t, &mx, NULL);
    expect_kept(f, 6, (const int[]){3}, 1);
    vt->free(f);
}

static void test_never_empty(void **state)
{
    param_set ps;
    /* every column constant: the first numeric column stays */
    const float C[] = {1, 5, 1, 1, 5, 1};
    const uint8_t cat[] = {1, 0, 0};
    aml_task t = task_of(0, 3, cat, 1);
    aml_matrix mc = view(C, 2, 3);
    aml_feature *f = fit_feature(params_of(&ps, NULL, 0, NULL, 0), &t, &mc, NULL);
    expect_kept(f, 3, (const int[]){1}, 1);
    vt->free(f);
    /* below the threshold: the largest variance stays */
    const float V[] = {0, 0, 0, 1, 0, 2};
    aml_task t2 = task_of(0, 2, NULL, 1);
    aml_matrix mv = view(V, 3, 2);
    f = fit_feature(params_of(&ps, "threshold", 5, NULL, 0), &t2, &mv, NULL);
    expect_kept(f, 2, (const int[]){1}, 1);
    vt->free(f);
}

/* Classification: x F = 8 on (1, 2) df (p = 1 - sqrt(0.8) = 0.1055728), w F = 3200 (p ~ 3e-4),
 * z F = 0, c categorical with two levels. */
static const float XC[] = {
    1, 1, 1,    0,
    3, 1.1f, 2, 1,
    5, 5, 1,    1,
    7, 5.1f, 2, 0,
};
static const int32_t labc[] = {0, 0, 1, 1};
static const uint8_t catc[] = {0, 0, 0, 1};

static void test_univariate_classification(void **state)
{
    aml_task t = task_of(2, 4, catc, 1);
    aml_matrix mx = view(XC, 4, 4);
    aml_target tg = {.label = labc};
    struct {
        double k, alpha;
        int n;
        int cols[4];
    } cases[] = {
        {0, 0.05, 2, {1, 3}},      {0, 0.2, 3, {0, 1, 3}},    {0, 0.10557, 2, {1, 3}},
        {0, 0.10558, 3, {0, 1, 3}}, {1, 0.05, 2, {1, 3}},      {2, 0.05, 3, {0, 1, 3}},
        {3, 0.05, 4, {0, 1, 2, 3}},
    };
    for (size_t a = 0; a < sizeof cases / sizeof cases[0]; a++) {
        double num[4] = {M_UNIVARIATE, 0, cases[a].k, cases[a].alpha};
        aml_params p = {.num = num, .str = (const char *const[]){"univariate", NULL, NULL, NULL}};
        aml_feature *f = fit_feature(&p, &t, &mx, &tg);
        expect_kept(f, 4, cases[a].cols, cases[a].n);
        if (a == 0)
            vt->free(roundtrip(f, &t, &mx));
        vt->free(f);
    }
    /* nothing passes alpha: the best F (9 against 4) stays */
    const float Y[] = {1, 3, 1, 5, 3, 6, 2, 6};
    aml_task t2 = task_of(2, 2, NULL, 1);
    aml_matrix my = view(Y, 4, 2);
    double num[4] = {M_UNIVARIATE, 0, 0, 1e-6};
    aml_params p = {.num = num, .str = (const char *const[]){"univariate", NULL, NULL, NULL}};
    aml_feature *f = fit_feature(&p, &t2, &my, &tg);
    expect_kept(f, 2, (const int[]){0}, 1);
    vt->free(f);
}

/* Regression: x1 = y (F infinite), x2 with r = 0.8 (F = 16/3 on (1, 3) df, p = 0.1040880),
 * x3 uncorrelated (r = 0). */
static void test_univariate_regression(void **state)
{
    const float X[] = {1, 2, 3, 2, 1, 1, 3, 4, 2, 4, 3, 1, 5, 5, 3};
    const double y[] = {1, 2, 3, 4, 5};
    aml_task t = task_of(0, 3, NULL, 1);
    aml_matrix mx = view(X, 5, 3);
    aml_target tg = {.value = y};
    const double alphas[] = {0.10408, 0.10409};
    for (int a = 0; a < 2; a++) {
        double num[4] = {M_UNIVARIATE, 0, 0, alphas[a]};
        aml_params p = {.num = num, .str = (const char *const[]){"univariate", NULL, NULL, NULL}};
        aml_feature *f = fit_feature(&p, &t, &mx, &tg);
        expect_kept(f, 3, (const int[]){0, 1}, 1 + a);
        vt->free(f);
    }
    param_set ps;
    aml_feature *f = fit_feature(params_of(&ps, "method", M_UNIVARIATE, "k", 2), &t, &mx, &tg);
    expect_kept(f, 3, (const int[]){0, 1}, 2);
    vt->free(f);
}

static void test_threads(void **state)
{
    enum { n = 30000, d = 8 };
    float *X = malloc(sizeof(float) * n * d);
    int32_t *lab = malloc(sizeof(int32_t) * n);
    srand(9);
    for (int i = 0; i < n; i++) {
        lab[i] = rand() % 3;
        for (int j = 0; j < d; j++)
            X[i * d + j] = (float)(rand() % 100) / 10.0f + (j < 3 ? (float)lab[i] : 0.0f);
    }
    param_set ps;
    aml_task t = task_of(3, d, NULL, 1);
    aml_matrix mx = view(X, n, d);
    aml_target tg = {.label = lab};
    aml_feature *f1 = fit_threads(params_of(&ps, "method", M_UNIVARIATE, NULL, 0), &t, &mx, &tg, 1);
    aml_feature *f4 = fit_threads(params_of(&ps, "method", M_UNIVARIATE, NULL, 0), &t, &mx, &tg, 4);
    /* the 3 informative columns pass alpha = 0.05; of 5 noise columns, some may */
    int cols[32];
    int nk = kept_columns(f1, d, cols);
    assert_true(nk >= 3 && cols[0] == 0 && cols[1] == 1 && cols[2] == 2);
    float *a = transform_threads(f1, &mx, 1), *b = transform_threads(f4, &mx, 4);
    assert_memory_equal(a, b, sizeof(float) * n * nk);
    free(a), free(b);
    vt->free(roundtrip(f1, &t, &mx));
    vt->free(f1), vt->free(f4);
    free(X), free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_variance),
        cmocka_unit_test(test_never_empty),
        cmocka_unit_test(test_univariate_classification),
        cmocka_unit_test(test_univariate_regression),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, unload_feature_plugin);
}
