/* The linear model plugin, loaded as a .so through the registry: ridge against the closed-form
 * solution computed here, logistic and softmax regression against scikit-learn 1.2.1, exact
 * save/load round trips, corrupt blobs, cancellation, and held-out accuracy on real datasets.
 *
 * The scikit-learn references below come from /usr/bin/python3 (scikit-learn 1.2.1):
 *   Xs = StandardScaler().fit_transform(X.astype(float64))
 *   LogisticRegression(C=C, tol=1e-8, max_iter=10000).fit(Xs, y)
 * The plugin standardises internally and penalises the standardised coefficients with l2 = 1/C, so
 * its coefficients in standardised units must match those of sklearn on Xs. Data generation: see
 * the comment above each block (numpy RandomState(7), rounded to 3 decimals, float32). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "host.h"
#include "plugin_loader.h"
#include "resample.h"

#define PLUGIN_PATH AML_PLUGIN_BUILD_DIR "/aml_model_linear.so"

#define assert_near(actual, expected, tol)                                                        \
    do {                                                                                          \
        double a_ = (actual), e_ = (expected);                                                    \
        if (!(fabs(a_ - e_) <= (tol))) {                                                          \
            print_error("%s = %.12g, expected %.12g (tolerance %g)\n", #actual, a_, e_, (double)(tol)); \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

/* binary */
static const float bin_X[] = {
    3.691f, -2.398f, 10.016f, 2.408f, -3.367f, 10.001f, 1.999f, -6.264f, 10.509f, 2.600f, -2.876f, 9.914f,
    2.505f, -1.784f, 9.879f, 0.547f, 0.664f, 10.062f, 2.274f, -5.580f, 10.825f, 2.154f, -2.161f, 11.015f,
    1.955f, -5.352f, 9.797f, -0.288f, 2.148f, 9.792f, 1.257f, 2.217f, 9.174f, 2.535f, -7.193f, 9.669f,
    0.796f, 3.386f, 10.883f, 1.671f, 1.522f, 9.910f, 2.568f, -3.259f, 9.146f, 0.197f, 0.149f, 11.124f,
    2.269f, -2.574f, 10.956f, 2.237f, -0.696f, 10.126f, 1.868f, -1.928f, 9.283f, 2.502f, -1.284f, 10.597f,
    1.631f, -6.719f, 9.950f, 3.700f, -2.150f, 9.555f, 0.806f, -4.150f, 9.850f, 0.820f, 3.493f, 9.859f,
    2.109f, 3.315f, 10.752f, 1.787f, -0.004f, 10.368f, 1.807f, -6.334f, 10.327f, 2.894f, 0.247f, 9.538f,
    1.804f, -2.772f, 9.850f, 3.297f, 3.589f, 10.335f, 2.549f, 1.030f, 9.994f, 1.924f, -3.021f, 9.972f,
    4.260f, 1.607f, 9.829f, 1.528f, -3.593f, 10.187f, 2.392f, -5.329f, 10.243f, 1.431f, 3.280f, 10.078f,
    3.718f, -2.374f, 9.856f, 2.300f, 2.168f, 10.283f, 0.766f, -0.451f, 10.011f, 1.571f, -2.944f, 10.874f,
    1.610f, -3.538f, 10.319f, 2.131f, -1.227f, 10.391f, 2.489f, 0.087f, 10.482f, 2.284f, -2.851f, 9.819f,
    1.479f, -0.371f, 9.461f, 0.168f, -0.736f, 9.332f, 0.048f, 0.120f, 9.644f, 2.496f, -2.593f, 9.439f,
    0.756f, -2.545f, 9.863f, 1.177f, -1.843f, 9.232f, 2.014f, -6.381f, 9.903f, 2.697f, 2.276f, 10.857f,
    0.444f, 1.276f, 10.603f, 2.981f, -3.788f, 10.206f, 3.860f, -5.492f, 10.238f, 3.112f, -3.090f, 10.291f,
    0.929f, -3.437f, 9.591f, 2.192f, -1.273f, 10.477f, 1.060f, -1.394f, 10.481f, 2.561f, -4.974f, 10.333f
};
static const int32_t bin_y[] = {
    1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1,
    0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1
};
static const double bin_coef[] = { 1.8346124683384137, -1.295486090621059, 1.5454162964142153 };
static const double bin_intercept = 0.7610534602697128 ;
/* multinomial, C = 0.5; coef is classes x features */
static const float mn_X[] = {
    -0.266f, 3.100f, -2.617f, 20.097f, 1.473f, 3.827f, -2.614f, 17.059f, -0.215f, 3.599f, -3.050f, 18.851f,
    -0.371f, 5.439f, -2.982f, 24.879f, -0.936f, 4.004f, -3.006f, 23.142f, 2.489f, 5.814f, -3.530f, 21.885f,
    2.921f, 5.063f, -3.155f, 21.546f, -1.006f, 5.639f, -3.004f, 26.965f, 0.999f, 4.276f, -2.819f, 24.680f,
    -1.137f, 4.574f, -3.692f, 24.517f, -1.176f, 2.878f, -3.531f, 18.885f, 1.521f, 4.911f, -2.858f, 14.493f,
    -2.683f, 5.886f, -2.852f, 19.847f, 2.564f, 4.049f, -3.126f, 25.132f, 3.676f, 5.008f, -2.496f, 16.987f,
    0.659f, 4.826f, -3.476f, 21.290f, 1.865f, 4.852f, -3.021f, 26.965f, -2.499f, 3.502f, -3.196f, 14.017f,
    2.693f, 5.310f, -3.259f, 16.928f, 5.722f, 4.390f, -3.229f, 21.522f, 1.277f, 5.222f, -3.273f, 14.204f,
    1.192f, 4.946f, -3.492f, 25.855f, 1.551f, 4.759f, -3.078f, 21.157f, -1.374f, 3.652f, -2.903f, 12.805f,
    0.781f, 3.559f, -3.030f, 19.322f, 3.565f, 3.936f, -3.424f, 16.769f, -2.247f, 4.410f, -2.874f, 23.860f,
    3.319f, 4.263f, -2.208f, 29.911f, -0.407f, 2.709f, -3.025f, 20.363f, -4.598f, 5.074f, -3.060f, 16.071f,
    1.253f, 6.005f, -3.146f, 21.147f, -1.310f, 4.213f, -2.976f, 22.617f, -1.127f, 2.786f, -2.824f, 12.017f,
    0.244f, 6.779f, -3.005f, 14.051f, -2.922f, 6.170f, -3.005f, 22.699f, 1.853f, 4.951f, -3.093f, 15.263f,
    -6.165f, 3.482f, -3.021f, 19.124f, 0.807f, 4.873f, -2.952f, 23.939f, -1.770f, 4.713f, -3.482f, 24.864f,
    0.077f, 5.490f, -2.537f, 25.398f, -0.120f, 5.788f, -3.430f, 22.170f, 0.278f, 3.382f, -2.599f, 16.480f,
    1.366f, 4.580f, -2.702f, 26.561f, -1.660f, 3.470f, -3.039f, 24.245f, -0.743f, 4.386f, -2.854f, 6.192f,
    -1.329f, 3.616f, -2.912f, 16.319f, -2.230f, 4.646f, -3.441f, 19.934f, -1.365f, 4.623f, -3.215f, 24.561f,
    -0.218f, 5.525f, -2.856f, 15.969f, 1.140f, 5.349f, -2.906f, 18.007f, -0.854f, 5.786f, -2.345f, 15.849f,
    1.069f, 4.634f, -2.765f, 22.192f, 2.120f, 2.205f, -3.180f, 15.059f, -0.216f, 4.276f, -3.192f, 23.409f,
    3.804f, 2.176f, -3.093f, 21.560f, 0.009f, 4.655f, -3.406f, 15.287f, 1.450f, 6.076f, -2.971f, 15.819f,
    0.191f, 4.760f, -2.836f, 20.591f, -1.244f, 5.191f, -3.354f, 24.100f, 2.365f, 3.821f, -2.874f, 15.044f,
    2.143f, 5.904f, -3.069f, 24.975f, -0.862f, 4.357f, -3.171f, 19.296f, -0.647f, 5.154f, -3.185f, 23.823f,
    2.042f, 4.504f, -3.428f, 23.619f, 2.277f, 4.837f, -3.386f, 21.334f, 3.049f, 3.124f, -2.857f, 18.432f,
    -1.711f, 5.498f, -3.390f, 21.485f, 2.627f, 5.177f, -3.263f, 11.103f, -2.564f, 3.159f, -2.520f, 18.753f,
    -2.090f, 3.702f, -3.320f, 18.321f, -2.565f, 6.676f, -3.224f, 16.087f, 0.616f, 6.451f, -2.603f, 17.561f,
    0.511f, 5.149f, -2.841f, 21.279f, -1.888f, 3.740f, -2.947f, 14.082f, 2.726f, 5.040f, -3.308f, 18.392f,
    -1.015f, 4.869f, -2.716f, 12.778f, -3.735f, 5.338f, -3.053f, 20.816f, 0.889f, 4.819f, -2.760f, 15.535f,
    0.129f, 4.169f, -3.339f, 23.077f, 1.138f, 3.058f, -3.337f, 21.460f, 2.140f, 4.334f, -3.055f, 12.933f,
    5.022f, 5.475f, -2.732f, 23.290f, 1.866f, 5.608f, -3.101f, 23.720f, 0.158f, 6.297f, -3.221f, 17.294f,
    1.322f, 6.280f, -2.956f, 16.437f, -0.238f, 4.502f, -2.431f, 24.494f, 2.529f, 5.302f, -3.167f, 25.866f,
    3.308f, 5.582f, -3.007f, 25.405f, -0.742f, 5.765f, -3.213f, 15.148f, 1.133f, 5.338f, -2.429f, 18.599f
};
static const int32_t mn_y[] = {
    0, 0, 0, 0, 0, 2, 0, 1, 0, 2, 2, 1, 1, 0, 0, 2, 0, 2, 0, 0, 1, 2, 0, 2, 0, 0, 2, 0, 0, 2, 0, 2, 0, 1, 1,
    2, 2, 0, 2, 0, 2, 0, 0, 2, 1, 0, 2, 2, 1, 0, 1, 0, 0, 2, 0, 2, 1, 0, 2, 0, 0, 2, 2, 2, 0, 0, 2, 1, 0, 2,
    1, 1, 0, 2, 2, 1, 2, 1, 0, 0, 0, 0, 2, 1, 1, 0, 0, 0, 1, 1
};
static const double mn_coef[] = {
    1.0796402161100613, -1.0228307138380306, 0.5807139024863265, 0.6294531009347442, -0.28655079206730283,
    1.3907643522553963, 0.6011209311984183, -0.8857291395543188, -0.7930894240427586, -0.36793363841736554,
    -1.181834833684745, 0.25627603861957443
};
static const double mn_intercept[] = { 0.7353407825011049, -0.8586347040139887, 0.12329392151288444 };
/* train accuracy 0.8888888888888888 [42 19 29] */

/* ---- fixture: the plugin from the build tree ----------------------------------------------- */

static aml_registry *reg;
static const aml_plugin_descriptor *desc;
static const aml_model_vtable *vt;
static const aml_host *host;

static int setup(void **state)
{
    aml_ctx *c = aml_ctx_new();
    reg = aml_registry_new();
    if (aml_registry_load_file(reg, c, PLUGIN_PATH) != AML_OK) {
        fprintf(stderr, "cannot load %s: %s\n", PLUGIN_PATH, aml_errmsg(c));
        aml_ctx_free(c);
        return -1;
    }
    aml_ctx_free(c);
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, "linear");
    if (!p)
        return -1;
    desc = p->desc;
    vt = desc->model;
    host = aml_host_services();
    return 0;
}

static int teardown(void **state)
{
    aml_registry_free(reg);
    return 0;
}

/* Parameter values: the descriptor's defaults, then name=value overrides. */
typedef struct {
    double num[16];
    const char *str[16];
    aml_params p;
} param_set;

static const aml_params *params_of(param_set *ps, const char *name, double v, const char *name2, double v2)
{
    assert_true(desc->n_params <= 16);
    for (int i = 0; i < desc->n_params; i++) {
        ps->num[i] = desc->params[i].def;
        ps->str[i] = NULL;
        if (name && !strcmp(desc->params[i].name, name))
            ps->num[i] = v;
        if (name2 && !strcmp(desc->params[i].name, name2))
            ps->num[i] = v2;
    }
    ps->p.num = ps->num;
    ps->p.str = ps->str;
    return &ps->p;
}

static aml_model *fit_model(aml_task_kind kind, int n_classes, const float *X, int64_t n, int64_t d,
                            const int32_t *label, const double *value, const float *w, const aml_params *p)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_task task = {.kind = kind, .n_classes = n_classes, .n_features = d, .seed = 1};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, p, &task, &m), AML_OK);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    aml_target t = {.label = label, .value = value, .weight = w};
    aml_fit_budget b = {.size = sizeof b, .resource = 1.0};
    aml_status st = vt->fit(m, &hc, &mx, &t, NULL, NULL, &b);
    if (st != AML_OK)
        print_error("fit: %s\n", hc.msg);
    assert_int_equal(st, AML_OK);
    return m;
}

static void predict(const aml_model *m, const float *X, int64_t n, int64_t d, double *out)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_matrix mx = {.data = X, .rows = n, .cols = d, .ld = d};
    assert_int_equal(vt->predict(m, &hc, &mx, out), AML_OK);
}

/* Weighted column mean and standard deviation (ddof 0) over the non-missing cells, in double. */
static void col_stats(const float *X, int64_t n, int64_t d, const float *w, double *mean, double *sd)
{
    for (int64_t j = 0; j < d; j++) {
        double sw = 0, s = 0, ss = 0;
        for (int64_t i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                sw += w ? w[i] : 1, s += (w ? w[i] : 1) * X[i * d + j];
        mean[j] = s / sw;
        for (int64_t i = 0; i < n; i++)
            if (!isnan(X[i * d + j]))
                ss += (w ? w[i] : 1) * (X[i * d + j] - mean[j]) * (X[i * d + j] - mean[j]);
        sd[j] = sqrt(ss / sw);
    }
}

/* ---- descriptor --------------------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    assert_string_equal(desc->name, "linear");
    assert_int_equal(desc->kind, AML_PLUGIN_MODEL);
    assert_int_equal(desc->n_params, 6);
    const char *names[] = {"l2", "l1", "max_iter", "tol", "penalty", "class_weight"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(desc->params[i].name, names[i]);
    assert_true(desc->params[0].log_scale);
    assert_true(desc->params[0].def == 1.0 && desc->params[0].lo == 1e-6 && desc->params[0].hi == 1e3);
    /* l1: searched log-uniformly, default 0 (and penalty = l2 by default) */
    assert_true(desc->params[1].def == 0.0 && desc->params[1].lo == 1e-5 && desc->params[1].hi == 1.0);
    assert_true(desc->params[1].log_scale);
    assert_true(desc->params[2].def == 200 && desc->params[3].def == 1e-4);
    assert_int_equal(desc->params[4].type, AML_PARAM_CHOICE);
    assert_int_equal(desc->params[4].n_choices, 2);
    assert_string_equal(desc->params[4].choices[0], "l2");
    assert_string_equal(desc->params[4].choices[1], "elasticnet");
    assert_true(desc->params[4].def == 0);
    assert_int_equal(desc->params[5].type, AML_PARAM_CHOICE);
    assert_string_equal(desc->params[5].choices[0], "none");
    assert_string_equal(desc->params[5].choices[1], "balanced");
    assert_true(desc->params[5].def == 0);
}

/* Parameter values: the defaults, then (name, value) pairs up to a NULL name. */
static const aml_params *params_list(param_set *ps, ...)
{
    params_of(ps, NULL, 0, NULL, 0);
    va_list ap;
    va_start(ap, ps);
    for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
        double v = va_arg(ap, double);
        int found = 0;
        for (int i = 0; i < desc->n_params; i++)
            if (!strcmp(desc->params[i].name, name))
                ps->num[i] = v, found = 1;
        assert_true(found);
    }
    va_end(ap);
    return &ps->p;
}

/* ---- ridge ---------------------------------------------------------------------------------- */

/* Solves the d x d system A x = b in place by Gaussian elimination with partial pivoting. */
static void solve(double *A, double *b, int d)
{
    for (int c = 0; c < d; c++) {
        int piv = c;
        for (int r = c + 1; r < d; r++)
            if (fabs(A[r * d + c]) > fabs(A[piv * d + c]))
                piv = r;
        for (int k = 0; k < d; k++) {
            double t = A[c * d + k];
            A[c * d + k] = A[piv * d + k], A[piv * d + k] = t;
        }
        double t = b[c];
        b[c] = b[piv], b[piv] = t;
        for (int r = c + 1; r < d; r++) {
            double f = A[r * d + c] / A[c * d + c];
            for (int k = c; k < d; k++)
                A[r * d + k] -= f * A[c * d + k];
            b[r] -= f * b[c];
        }
    }
    for (int c = d - 1; c >= 0; c--) {
        for (int k = c + 1; k < d; k++)
            b[c] -= A[c * d + k] * b[k];
        b[c] /= A[c * d + c];
    }
}

/* min sum_i w_i (y_i - b - z_i.beta)^2 + alpha ||beta||^2 with z the weighted-standardised rows
 * (a missing cell standardises to 0); returns beta in raw units (beta_j / sd_j) and the raw
 * intercept. */
static void ridge_reference(const float *X, const double *y, const float *w, int n, int d, double alpha,
                            double *coef_raw, double *intercept)
{
    double *mean = malloc(sizeof(double) * d), *sd = malloc(sizeof(double) * d), *z = malloc(sizeof(double) * d);
    double *A = calloc((size_t)d * d, sizeof(double)), *b = calloc((size_t)d, sizeof(double)), sw = 0, ybar = 0;
    col_stats(X, n, d, w, mean, sd);
    for (int i = 0; i < n; i++)
        sw += w ? w[i] : 1, ybar += (w ? w[i] : 1) * y[i];
    ybar /= sw;
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        for (int j = 0; j < d; j++)
            z[j] = isnan(X[(size_t)i * d + j]) ? 0.0 : (X[(size_t)i * d + j] - mean[j]) / sd[j];
        for (int j = 0; j < d; j++) {
            b[j] += wi * z[j] * (y[i] - ybar);
            for (int k = 0; k < d; k++)
                A[(size_t)j * d + k] += wi * z[j] * z[k];
        }
    }
    for (int j = 0; j < d; j++)
        A[(size_t)j * d + j] += alpha;
    solve(A, b, d);
    *intercept = ybar;
    for (int j = 0; j < d; j++) {
        coef_raw[j] = b[j] / sd[j];
        *intercept -= coef_raw[j] * mean[j];
    }
    free(mean), free(sd), free(z), free(A), free(b);
}

/* Raw-unit coefficients of a fitted regression model, read back through predict_row:
 * f(0) is the intercept and f(e_j) - f(0) the j-th coefficient. */
static void probe_regression(const aml_model *m, int d, double *coef, double *intercept)
{
    float *x = calloc((size_t)d, sizeof *x);
    double f0, fj;
    assert_int_equal(vt->predict_row(m, x, &f0), AML_OK);
    for (int j = 0; j < d; j++) {
        x[j] = 1.0f;
        assert_int_equal(vt->predict_row(m, x, &fj), AML_OK);
        coef[j] = fj - f0;
        x[j] = 0.0f;
    }
    *intercept = f0;
    free(x);
}

/* n x d rows: features on different scales, y linear + noise. */
static void ridge_data(int n, int d, unsigned seed, float *X, double *y, float *w)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        double t = 0;
        for (int j = 0; j < d; j++) {
            X[i * d + j] = (float)((aml_rng_uniform(&r) - 0.5) * (j + 1) * 3 + j * 2);
            t += (j % 2 ? -1.0 : 1.5) * X[i * d + j];
        }
        y[i] = t + 4.0 + (aml_rng_uniform(&r) - 0.5);
        if (w)
            w[i] = (float)(0.25 + 2 * aml_rng_uniform(&r));
    }
}

static void check_ridge(const float *w, double alpha, int missing)
{
    enum { N = 300, D = 6 };
    static float X[N * D], W[N];
    static double y[N];
    ridge_data(N, D, 11, X, y, w ? W : NULL);
    for (int i = 0; i < missing; i++) /* NaN cells: the plugin's two-pass path */
        X[(i * 37 % N) * D + i % D] = NAN;
    param_set ps;
    aml_model *m = fit_model(AML_TASK_REGRESSION, 0, X, N, D, NULL, y, w ? W : NULL,
                             params_of(&ps, "l2", alpha, NULL, 0));
    double ref[D], ref_b, got[D], got_b, scale = 0;
    ridge_reference(X, y, w ? W : NULL, N, D, alpha, ref, &ref_b);
    probe_regression(m, D, got, &got_b);
    for (int j = 0; j < D; j++)
        scale = fmax(scale, fabs(ref[j]));
    for (int j = 0; j < D; j++)
        assert_near(got[j], ref[j], 1e-6 * scale);
    assert_near(got_b, ref_b, 1e-6 * fmax(1.0, fabs(ref_b)));
    vt->free(m);
}

static void test_ridge_closed_form(void **state)
{
    check_ridge(NULL, 1.0, 0);
    check_ridge(NULL, 250.0, 0); /* strong shrinkage: far from least squares */
}

static void test_ridge_weighted_closed_form(void **state)
{
    check_ridge((const float *)1, 3.0, 0); /* any non-NULL: weights are generated */
}

static void test_ridge_missing_closed_form(void **state)
{
    check_ridge(NULL, 1.0, 20);
    check_ridge((const float *)1, 3.0, 20);
}

/* Integer weights equal duplicated rows. */
static void test_ridge_weights_are_repeats(void **state)
{
    enum { N = 50, D = 3 };
    float X[N * D], Xr[3 * N * D], w[N];
    double y[N], yr[3 * N];
    ridge_data(N, D, 5, X, y, NULL);
    int nr = 0;
    for (int i = 0; i < N; i++) {
        w[i] = (float)(1 + i % 3);
        for (int r = 0; r < 1 + i % 3; r++, nr++) {
            memcpy(Xr + nr * D, X + i * D, D * sizeof(float));
            yr[nr] = y[i];
        }
    }
    param_set ps;
    aml_model *a = fit_model(AML_TASK_REGRESSION, 0, X, N, D, NULL, y, w, params_of(&ps, "l2", 2.0, NULL, 0));
    aml_model *b = fit_model(AML_TASK_REGRESSION, 0, Xr, nr, D, NULL, yr, NULL, params_of(&ps, "l2", 2.0, NULL, 0));
    double pa[N], pb[N];
    predict(a, X, N, D, pa);
    predict(b, X, N, D, pb);
    for (int i = 0; i < N; i++)
        assert_near(pa[i], pb[i], 1e-9 * fmax(1.0, fabs(pb[i])));
    vt->free(a), vt->free(b);
}

/* ---- logistic / softmax against scikit-learn ------------------------------------------------ */

static void test_logistic_binary_matches_sklearn(void **state)
{
    enum { N = 60, D = 3 };
    param_set ps;
    aml_model *m = fit_model(AML_TASK_CLASSIFICATION, 2, bin_X, N, D, bin_y, NULL, NULL,
                             params_of(&ps, "l2", 1.0, "tol", 1e-8));
    double mean[D], sd[D], p[2];
    col_stats(bin_X, N, D, NULL, mean, sd);
    /* logit at the mean is the intercept; one std further along j adds coef_j */
    float x[D];
    for (int j = 0; j < D; j++)
        x[j] = (float)mean[j];
    assert_int_equal(vt->predict_row(m, x, p), AML_OK);
    double b0 = log(p[1] / p[0]);
    assert_near(b0, bin_intercept, 1e-3);
    for (int j = 0; j < D; j++) {
        float xj[D];
        memcpy(xj, x, sizeof x);
        xj[j] = (float)(mean[j] + sd[j]);
        double step = ((double)xj[j] - (double)x[j]) / sd[j]; /* 1 up to float rounding */
        assert_int_equal(vt->predict_row(m, xj, p), AML_OK);
        assert_near((log(p[1] / p[0]) - b0) / step, bin_coef[j], 1e-3);
    }
    vt->free(m);
}

static void test_softmax_matches_sklearn(void **state)
{
    enum { N = 90, D = 4, K = 3 };
    param_set ps;
    aml_model *m = fit_model(AML_TASK_CLASSIFICATION, K, mn_X, N, D, mn_y, NULL, NULL,
                             params_of(&ps, "l2", 2.0, "tol", 1e-8)); /* C = 0.5 */
    double mean[D], sd[D], p0[K], p[K];
    col_stats(mn_X, N, D, NULL, mean, sd);
    float x[D];
    for (int j = 0; j < D; j++)
        x[j] = (float)mean[j];
    assert_int_equal(vt->predict_row(m, x, p0), AML_OK);
    /* softmax scores are identified up to a constant: compare differences to class 0 */
    for (int q = 1; q < K; q++)
        assert_near(log(p0[q] / p0[0]), mn_intercept[q] - mn_intercept[0], 1e-3);
    for (int j = 0; j < D; j++) {
        float xj[D];
        memcpy(xj, x, sizeof x);
        xj[j] = (float)(mean[j] + sd[j]);
        double step = ((double)xj[j] - (double)x[j]) / sd[j];
        assert_int_equal(vt->predict_row(m, xj, p), AML_OK);
        for (int q = 1; q < K; q++) {
            double got = (log(p[q] / p[0]) - log(p0[q] / p0[0])) / step;
            assert_near(got, mn_coef[q * D + j] - mn_coef[0 * D + j], 1e-3);
        }
    }
    vt->free(m);
}

/* ---- separable data, probabilities, NaN, predict_row ------------------------------------------ */

/* Two classes split by x0 + x1 > 0 with a margin of 0.5; K = 3 splits x0 into bands. */
static void separable(int n, int k, unsigned seed, float *X, int32_t *y)
{
    aml_rng r;
    aml_rng_seed(&r, seed);
    for (int i = 0; i < n;) {
        float a = (float)(aml_rng_uniform(&r) * 8 - 4), b = (float)(aml_rng_uniform(&r) * 8 - 4);
        float c = (float)(aml_rng_uniform(&r) * 100); /* noise feature on another scale */
        int cls;
        if (k == 2) {
            if (fabsf(a + b) < 0.5f)
                continue;
            cls = a + b > 0;
        } else {
            if (fabsf(a - 1.5f) < 0.3f || fabsf(a + 1.5f) < 0.3f)
                continue;
            cls = a < -1.5f ? 0 : a < 1.5f ? 1 : 2;
        }
        X[i * 3] = a, X[i * 3 + 1] = b, X[i * 3 + 2] = c, y[i] = cls;
        i++;
    }
}

static void check_separable(int k)
{
    enum { N = 400, T = 200 };
    static float X[N * 3], Xt[T * 3];
    static int32_t y[N], yt[T];
    static double P[T * 3], row[3];
    separable(N, k, 3, X, y);
    separable(T, k, 4, Xt, yt);
    param_set ps;
    aml_model *m = fit_model(AML_TASK_CLASSIFICATION, k, X, N, 3, y, NULL, NULL,
                             params_of(&ps, "l2", 1e-3, NULL, 0));
    predict(m, Xt, T, 3, P);
    int correct = 0;
    for (int i = 0; i < T; i++) {
        double s = 0;
        int best = 0;
        for (int q = 0; q < k; q++) {
            assert_true(P[i * k + q] >= 0 && P[i * k + q] <= 1);
            s += P[i * k + q];
            best = P[i * k + q] > P[i * k + best] ? q : best;
        }
        assert_near(s, 1.0, 1e-12);
        correct += best == yt[i];
        assert_int_equal(vt->predict_row(m, Xt + i * 3, row), AML_OK);
        for (int q = 0; q < k; q++)
            assert_near(row[q], P[i * k + q], 1e-9);
    }
    assert_int_equal(correct, T);
    vt->free(m);
}

static void test_separable_binary(void **state) { check_separable(2); }
static void test_separable_softmax(void **state) { check_separable(3); }

/* A NaN cell stands for the training mean, at fit and at predict. */
static void test_missing_values(void **state)
{
    enum { N = 400 };
    static float X[N * 3];
    static int32_t y[N];
    separable(N, 2, 9, X, y);
    X[5 * 3 + 2] = NAN, X[17 * 3 + 0] = NAN;
    param_set ps;
    aml_model *m = fit_model(AML_TASK_CLASSIFICATION, 2, X, N, 3, y, NULL, NULL, params_of(&ps, NULL, 0, NULL, 0));
    double mean[3], sd[3];
    float Xc[N * 3];
    /* the mean over the non-missing cells, as the plugin computes it */
    memcpy(Xc, X, sizeof Xc);
    for (int j = 0; j < 3; j++) {
        double s = 0;
        int c = 0;
        for (int i = 0; i < N; i++)
            if (!isnan(X[i * 3 + j]))
                s += X[i * 3 + j], c++;
        mean[j] = s / c;
    }
    (void)sd;
    float q_nan[3] = {1.0f, NAN, 2.0f}, q_mean[3] = {1.0f, (float)mean[1], 2.0f};
    double a[2], b[2];
    assert_int_equal(vt->predict_row(m, q_nan, a), AML_OK);
    assert_int_equal(vt->predict_row(m, q_mean, b), AML_OK);
    assert_near(a[1], b[1], 1e-6);
    predict(m, q_nan, 1, 3, b);
    assert_near(a[1], b[1], 1e-9);
    assert_true(isfinite(a[1]));
    vt->free(m);
}

/* The fit reduces over fixed row chunks: the model does not depend on the thread count. */
static void test_thread_count_independent(void **state)
{
    enum { N = 5000, T = 64 };
    static float X[N * 3];
    static int32_t y[N];
    static double P1[T * 3], P4[T * 3];
    separable(N, 3, 51, X, y);
    X[40] = NAN;
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 3, .n_features = 3};
    aml_matrix mx = {.data = X, .rows = N, .cols = 3, .ld = 3};
    aml_target t = {.label = y};
    aml_model *m[2];
    const int threads[2] = {1, 4};
    for (int r = 0; r < 2; r++) {
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, threads[r]);
        assert_int_equal(vt->create(host, &hc, NULL, &task, &m[r]), AML_OK);
        assert_int_equal(vt->fit(m[r], &hc, &mx, &t, NULL, NULL, NULL), AML_OK);
    }
    predict(m[0], X, T, 3, P1);
    predict(m[1], X, T, 3, P4);
    assert_memory_equal(P1, P4, sizeof P1);
    vt->free(m[0]), vt->free(m[1]);
}

/* ---- save / load -------------------------------------------------------------------------- */

static aml_model *roundtrip(const aml_model *m, aml_writer *w, int n_classes, int64_t d)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_writer_init(w);
    assert_int_equal(vt->save(m, &hc, w), AML_OK);
    aml_reader r;
    aml_reader_init(&r, w->buf, w->len);
    aml_task task = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                     .n_features = d};
    aml_model *back = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_OK);
    assert_int_equal(r.pos, r.len); /* the whole blob, nothing more */
    return back;
}

static void test_save_load_exact(void **state)
{
    enum { N = 400, T = 100 };
    static float X[N * 3], Xt[T * 3];
    static int32_t y[N], yt[T];
    static double P1[T * 3], P2[T * 3], y_reg[N];
    for (int k = 2; k <= 3; k++) {
        separable(N, k, 21, X, y);
        separable(T, k, 22, Xt, yt);
        param_set ps;
        aml_model *m = fit_model(AML_TASK_CLASSIFICATION, k, X, N, 3, y, NULL, NULL, params_of(&ps, NULL, 0, NULL, 0));
        aml_writer w;
        aml_model *back = roundtrip(m, &w, k, 3);
        predict(m, Xt, T, 3, P1);
        predict(back, Xt, T, 3, P2);
        assert_memory_equal(P1, P2, sizeof(double) * T * k);
        for (int i = 0; i < T; i++) {
            double r1[3], r2[3];
            vt->predict_row(m, Xt + i * 3, r1);
            vt->predict_row(back, Xt + i * 3, r2);
            assert_memory_equal(r1, r2, sizeof(double) * k);
        }
        /* saving the loaded model gives the same bytes */
        aml_writer w2;
        aml_model *again = roundtrip(back, &w2, k, 3);
        assert_int_equal(w.len, w2.len);
        assert_memory_equal(w.buf, w2.buf, w.len);
        aml_writer_release(&w), aml_writer_release(&w2);
        vt->free(m), vt->free(back), vt->free(again);
    }
    /* regression */
    for (int i = 0; i < N; i++)
        y_reg[i] = X[i * 3] * 2.0 - X[i * 3 + 2] * 0.01;
    param_set ps;
    aml_model *m = fit_model(AML_TASK_REGRESSION, 0, X, N, 3, NULL, y_reg, NULL, params_of(&ps, NULL, 0, NULL, 0));
    aml_writer w;
    aml_model *back = roundtrip(m, &w, 0, 3);
    predict(m, Xt, T, 3, P1);
    predict(back, Xt, T, 3, P2);
    assert_memory_equal(P1, P2, sizeof(double) * T);
    aml_writer_release(&w);
    vt->free(m), vt->free(back);
}

static void test_garbage_blob_rejected(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 3};
    unsigned char junk[256];
    for (int i = 0; i < 256; i++)
        junk[i] = (unsigned char)(i * 37 + 11);
    aml_reader r;
    aml_reader_init(&r, junk, sizeof junk);
    aml_model *m = NULL;
    assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
    assert_null(m);
    assert_string_equal(hc.msg, "linear: not a model blob of this plugin (wrong magic number)");

    /* a real blob cut short, and one for another task */
    enum { N = 400 };
    static float X[N * 3];
    static int32_t y[N];
    separable(N, 2, 23, X, y);
    param_set ps;
    aml_model *fitted = fit_model(AML_TASK_CLASSIFICATION, 2, X, N, 3, y, NULL, NULL, params_of(&ps, NULL, 0, NULL, 0));
    aml_writer w;
    aml_writer_init(&w);
    assert_int_equal(vt->save(fitted, &hc, &w), AML_OK);
    for (size_t cut = 0; cut < w.len; cut += 7) {
        aml_reader_init(&r, w.buf, cut);
        hc.msg[0] = 0;
        assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
        assert_true(hc.msg[0] != 0);
    }
    aml_task other = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 4, .n_features = 3};
    aml_reader_init(&r, w.buf, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &other, &m), AML_ERR_FORMAT);
    /* a newer format version is refused with a message naming it */
    w.buf[8] = 99;
    aml_reader_init(&r, w.buf, w.len);
    assert_int_equal(vt->load(host, &hc, &r, &task, &m), AML_ERR_FORMAT);
    assert_non_null(strstr(hc.msg, "format version 99"));
    aml_writer_release(&w);
    vt->free(fitted);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void test_bad_params_rejected(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 3};
    param_set ps;
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, params_list(&ps, "l1", -0.5, NULL), &task, &m), AML_ERR_INPUT);
    assert_null(m);
    assert_non_null(strstr(hc.msg, "l1 = -0.5"));
    assert_int_equal(vt->create(host, &hc, params_list(&ps, "penalty", 2.0, NULL), &task, &m), AML_ERR_INPUT);
    assert_int_equal(vt->create(host, &hc, params_list(&ps, "class_weight", 3.0, NULL), &task, &m), AML_ERR_INPUT);
    assert_non_null(strstr(hc.msg, "class_weight"));
    assert_null(m);
}

static void test_bad_labels_rejected(void **state)
{
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 1};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_OK);
    float X[3] = {1, 2, 3};
    int32_t y[3] = {0, 1, 2};
    aml_matrix mx = {.data = X, .rows = 3, .cols = 1, .ld = 1};
    aml_target t = {.label = y};
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "linear: training row 2: class index 2 outside [0, 2)");
    vt->free(m);
}

static void test_cancel(void **state)
{
    enum { N = 400 };
    static float X[N * 3];
    static int32_t y[N];
    separable(N, 2, 31, X, y);
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    volatile int stop = 1;
    hc.cancel = &stop;
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 3};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_OK);
    aml_matrix mx = {.data = X, .rows = N, .cols = 3, .ld = 3};
    aml_target t = {.label = y};
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_CANCELLED);
    assert_non_null(strstr(hc.msg, "stopped"));
    double out[2];
    assert_int_equal(vt->predict_row(m, X, out), AML_ERR_INPUT); /* not fitted */
    vt->free(m);
}

static void test_infinite_input_rejected(void **state)
{
    enum { N = 400 };
    static float X[N * 3];
    static int32_t y[N];
    separable(N, 2, 41, X, y);
    X[7 * 3 + 1] = INFINITY;
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 2);
    aml_task task = {.kind = AML_TASK_CLASSIFICATION, .n_classes = 2, .n_features = 3};
    aml_model *m = NULL;
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_OK);
    aml_matrix mx = {.data = X, .rows = N, .cols = 3, .ld = 3};
    aml_target t = {.label = y};
    assert_int_equal(vt->fit(m, &hc, &mx, &t, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "linear: row 7, feature 1 is infinite (NaN marks a missing value)");
    vt->free(m);

    /* ridge finds it from the Gram diagonal */
    static double v[N];
    for (int i = 0; i < N; i++)
        v[i] = i;
    task.kind = AML_TASK_REGRESSION, task.n_classes = 0;
    assert_int_equal(vt->create(host, &hc, NULL, &task, &m), AML_OK);
    aml_target tv = {.value = v};
    assert_int_equal(vt->fit(m, &hc, &mx, &tv, NULL, NULL, NULL), AML_ERR_INPUT);
    assert_string_equal(hc.msg, "linear: row 7, feature 1 is infinite (NaN marks a missing value)");
    vt->free(m);
}

/* ---- solver by shape: the dual (d > n) and the float32 Gram matrix (large n d^2) ------------- */

/* d > n: the dual solution equals the primal normal equations solved here in double. */
static void test_ridge_dual_matches_primal(void **state)
{
    enum { N = 40, D = 90 };
    static float X[N * D], W[N];
    static double y[N], ref[D], got[D];
    aml_rng r;
    aml_rng_seed(&r, 17);
    for (int i = 0; i < N; i++) {
        y[i] = 2.0;
        for (int j = 0; j < D; j++) {
            X[i * D + j] = (float)((aml_rng_uniform(&r) - 0.5) * (1 + j % 5) + j);
            y[i] += (j % 7 == 0 ? 0.3 : 0.0) * X[i * D + j];
        }
        y[i] += aml_rng_uniform(&r);
        W[i] = (float)(0.5 + aml_rng_uniform(&r));
    }
    X[3 * D + 5] = NAN;
    for (int weighted = 0; weighted < 2; weighted++) {
        param_set ps;
        const float *w = weighted ? W : NULL;
        aml_model *m = fit_model(AML_TASK_REGRESSION, 0, X, N, D, NULL, y, w, params_list(&ps, "l2", 0.7, NULL));
        double ref_b, got_b, scale = 0;
        ridge_reference(X, y, w, N, D, 0.7, ref, &ref_b);
        probe_regression(m, D, got, &got_b);
        for (int j = 0; j < D; j++)
            scale = fmax(scale, fabs(ref[j]));
        for (int j = 0; j < D; j++)
            assert_near(got[j], ref[j], 1e-8 * scale);
        assert_near(got_b, ref_b, 1e-8 * fmax(1.0, fabs(ref_b)));
        vt->free(m);
    }
}

/* Large shapes build the Gram matrix from float32 blocks summed in double: the coefficients stay
 * within 1e-5 of the double solution, relative to the largest, and the predictions within 1e-5 of
 * the target's std (features with offsets and scales that differ by 10^3, so the centring in the
 * one-pass path is exercised). */
static void test_ridge_float_gram_agrees(void **state)
{
    enum { N = 30000, D = 40 };
    float *X = malloc(sizeof(float) * N * D);
    double *y = malloc(sizeof(double) * N), ref[D], got[D], ref_b, got_b, scale = 0, worst = 0;
    aml_rng r;
    aml_rng_seed(&r, 23);
    for (int i = 0; i < N; i++) {
        y[i] = 1.0;
        for (int j = 0; j < D; j++) {
            X[(size_t)i * D + j] = (float)((aml_rng_uniform(&r) - 0.5) * pow(10.0, j % 4) + 50.0 * (j % 3));
            y[i] += (j % 2 ? 1.0 : -0.5) * X[(size_t)i * D + j] / pow(10.0, j % 4);
        }
        y[i] += aml_rng_uniform(&r) - 0.5;
    }
    param_set ps;
    aml_model *m = fit_model(AML_TASK_REGRESSION, 0, X, N, D, NULL, y, NULL, params_list(&ps, "l2", 1.0, NULL));
    ridge_reference(X, y, NULL, N, D, 1.0, ref, &ref_b);
    probe_regression(m, D, got, &got_b);
    for (int j = 0; j < D; j++)
        scale = fmax(scale, fabs(ref[j]));
    for (int j = 0; j < D; j++)
        worst = fmax(worst, fabs(got[j] - ref[j]) / scale);
    fprintf(stderr, "float32 Gram: largest coefficient difference %.3g of the largest coefficient\n", worst);
    assert_true(worst <= 1e-5);
    /* predictions within 1e-5 of the target's spread (the intercept alone absorbs the means) */
    double ybar = 0, var = 0, far = 0;
    for (int i = 0; i < N; i++)
        ybar += y[i] / N;
    for (int i = 0; i < N; i++)
        var += (y[i] - ybar) * (y[i] - ybar) / N;
    for (int i = 0; i < N; i++) {
        double f_ref = ref_b, f_got = got_b;
        for (int j = 0; j < D; j++)
            f_ref += ref[j] * X[(size_t)i * D + j], f_got += got[j] * X[(size_t)i * D + j];
        far = fmax(far, fabs(f_got - f_ref));
    }
    fprintf(stderr, "float32 Gram: largest prediction difference %.3g of the target's std\n", far / sqrt(var));
    assert_true(far <= 1e-5 * sqrt(var));
    vt->free(m);
    free(X), free(y);
}

/* ---- elastic net regression ----------------------------------------------------------------- */

static int hadamard(int i, int j) { return __builtin_popcount((unsigned)(i & j)) % 2 ? -1 : 1; }

/* Orthogonal standardised columns (Hadamard patterns, offsets and scales exact in float): the
 * elastic net solution is the soft-threshold closed form b_j = S(z_j.(y - ybar), lambda) / (n + l2)
 * with lambda = n sd(y) l1, and l1 is ignored under penalty = l2. */
static void test_lasso_orthonormal_closed_form(void **state)
{
    enum { N = 16, D = 5 };
    const int cols[D] = {1, 2, 3, 4, 8};
    const double offset[D] = {3, -1, 10, 0.5, 100}, scl[D] = {2, 0.5, 4, 1, 8}, c[D] = {3, -1, 0.2, 0.05, 0.5};
    float X[N * D];
    double y[N], ybar = 0, var = 0;
    for (int i = 0; i < N; i++) {
        y[i] = 1 + 0.1 * hadamard(i, 15); /* a part of y no feature explains */
        for (int a = 0; a < D; a++) {
            X[i * D + a] = (float)(offset[a] + scl[a] * hadamard(i, cols[a]));
            y[i] += c[a] * hadamard(i, cols[a]);
        }
    }
    for (int i = 0; i < N; i++)
        ybar += y[i] / N;
    for (int i = 0; i < N; i++)
        var += (y[i] - ybar) * (y[i] - ybar) / N;
    const double l1 = 0.03, l2 = 0.5, lambda = N * sqrt(var) * l1;
    for (int pen = 0; pen < 2; pen++) {
        param_set ps;
        aml_model *m = fit_model(AML_TASK_REGRESSION, 0, X, N, D, NULL, y, NULL,
                                 params_list(&ps, "l1", l1, "l2", l2, "penalty", (double)pen, "tol", 1e-12, NULL));
        double got[D], got_b, want_b = ybar;
        probe_regression(m, D, got, &got_b);
        for (int a = 0; a < D; a++) {
            double rho = 0;
            for (int i = 0; i < N; i++)
                rho += hadamard(i, cols[a]) * (y[i] - ybar);
            double t = pen ? (rho > lambda ? rho - lambda : rho < -lambda ? rho + lambda : 0.0) : rho;
            double want = t / (N + l2) / scl[a];
            want_b -= want * offset[a];
            assert_near(got[a], want, 1e-9 * fmax(1.0, fabs(want)));
        }
        assert_near(got_b, want_b, 1e-9 * fmax(1.0, fabs(want_b)));
        if (pen)
            assert_true(got[3] == 0.0); /* 0.05 < lambda / n: an exact zero */
        else
            assert_true(got[3] != 0.0);
        vt->free(m);
    }
}

/* Checks the optimality conditions of the elastic net at the fitted model, in standardised units:
 * g_j = sum_i w_i z_ij (y_i - f_i); |g_j| <= lambda where b_j = 0, g_j - l2 b_j = lambda sign(b_j)
 * elsewhere, with lambda = sw sd(y) l1. */
static void check_regression_kkt(const aml_model *m, const float *X, const double *y, const float *w, int n, int d,
                                 double l1, double l2, const double *coef_raw)
{
    double *mean = malloc(sizeof(double) * d), *sd = malloc(sizeof(double) * d), *f = malloc(sizeof(double) * n);
    double sw = 0, ybar = 0, var = 0, g0 = 0;
    col_stats(X, n, d, w, mean, sd);
    predict(m, X, n, d, f);
    for (int i = 0; i < n; i++)
        sw += w ? w[i] : 1, ybar += (w ? w[i] : 1) * y[i];
    ybar /= sw;
    for (int i = 0; i < n; i++)
        var += (w ? w[i] : 1) * (y[i] - ybar) * (y[i] - ybar) / sw;
    const double lambda = sw * sqrt(var) * l1;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < d; j++) {
            double g = 0, gz = 0;
            for (int i = 0; i < n; i++) {
                double z = isnan(X[(size_t)i * d + j]) ? 0 : (X[(size_t)i * d + j] - mean[j]) / sd[j];
                g += (w ? w[i] : 1) * z * (y[i] - f[i]);
                gz += (w ? w[i] : 1) * z * (y[i] - ybar);
            }
            if (pass == 0) {
                g0 = fmax(g0, fabs(gz)); /* the scale: the gradient at b = 0 */
                continue;
            }
            double b = coef_raw[j] * sd[j];
            if (b == 0)
                assert_true(fabs(g) <= lambda + 1e-6 * g0);
            else
                assert_near(g - l2 * b, b > 0 ? lambda : -lambda, 1e-6 * g0);
        }
    free(mean), free(sd), free(f);
}

/* y depends on 3 of d features: the L1 fit keeps exactly those (exact zeros elsewhere), with the
 * right signs, and satisfies the optimality conditions. n > d takes coordinate descent on the
 * Gram matrix, d > n coordinate descent on residuals. */
static void check_lasso_support(int n, int d, double l1, int weighted)
{
    float *X = malloc(sizeof(float) * n * d), *w = weighted ? malloc(sizeof(float) * n) : NULL;
    double *y = malloc(sizeof(double) * n), *coef = malloc(sizeof(double) * d), b0;
    aml_rng r;
    aml_rng_seed(&r, (uint64_t)(n * 1000 + d));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            X[(size_t)i * d + j] = (float)((aml_rng_uniform(&r) - 0.5) * (1 + j % 4) + 3 * (j % 5));
        y[i] = 7 + 4 * X[(size_t)i * d] - 3 * X[(size_t)i * d + 1] / 2 + 2 * X[(size_t)i * d + 2] / 3 +
               0.05 * (aml_rng_uniform(&r) - 0.5);
        if (w)
            w[i] = (float)(0.5 + aml_rng_uniform(&r));
    }
    param_set ps;
    const double l2 = 1e-3;
    aml_model *m = fit_model(AML_TASK_REGRESSION, 0, X, n, d, NULL, y, w,
                             params_list(&ps, "l1", l1, "l2", l2, "penalty", 1.0, "tol", 1e-10, "max_iter", 2000.0,
                                         NULL));
    probe_regression(m, d, coef, &b0);
    assert_true(coef[0] > 0 && coef[1] < 0 && coef[2] > 0);
    for (int j = 3; j < d; j++)
        if (coef[j] != 0.0) {
            print_error("feature %d: coefficient %g, expected exactly 0\n", j, coef[j]);
            fail();
        }
    check_regression_kkt(m, X, y, w, n, d, l1, l2, coef);
    vt->free(m);
    free(X), free(w), free(y), free(coef);
}

static void test_lasso_support_covariance(void **state)
{
    check_lasso_support(400, 20, 0.05, 0);
    check_lasso_support(400, 20, 0.05, 1);
}
static void test_lasso_support_residual(void **state)
{
    check_lasso_support(60, 200, 0.05, 0);
    check_lasso_support(60, 200, 0.05, 1);
}

/* ---- L1 logistic / softmax ------------------------------------------------------------------- */

/* Binary labels from 3 of 10 features: OWL-QN gives exact zeros on most of the others, and every
 * zero coefficient satisfies |gradient_j| <= l1 (the mean log loss's gradient in standardised
 * units); non-zero ones gradient_j + l2/sw b_j + l1 sign(b_j) = 0, both to 2e-5 (the loss is
 * evaluated in float32). */
static void test_logistic_l1_kkt(void **state)
{
    enum { N = 600, D = 10 };
    static float X[N * D];
    static int32_t y[N];
    static double P[N * 2];
    aml_rng r;
    aml_rng_seed(&r, 29);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            X[i * D + j] = (float)((aml_rng_uniform(&r) - 0.5) * (1 + j % 3) * 3.4 + j);
        double z = 2 * (X[i * D] - 0) - 1.5 * (X[i * D + 1] - 1) / 2 + (X[i * D + 2] - 2) / 3;
        y[i] = aml_rng_uniform(&r) < 1 / (1 + exp(-z));
    }
    const double l1 = 0.03, l2 = 1e-4;
    param_set ps;
    aml_model *m = fit_model(AML_TASK_CLASSIFICATION, 2, X, N, D, y, NULL, NULL,
                             params_list(&ps, "l1", l1, "l2", l2, "penalty", 1.0, "tol", 1e-9, "max_iter", 2000.0,
                                         NULL));
    double mean[D], sd[D], p0[2], pj[2];
    col_stats(X, N, D, NULL, mean, sd);
    predict(m, X, N, D, P);
    float x[D] = {0};
    assert_int_equal(vt->predict_row(m, x, p0), AML_OK);
    int zeros = 0;
    for (int j = 0; j < D; j++) {
        x[j] = 1;
        assert_int_equal(vt->predict_row(m, x, pj), AML_OK);
        x[j] = 0;
        double b = (log(pj[1] / pj[0]) - log(p0[1] / p0[0])) * sd[j], g = 0;
        for (int i = 0; i < N; i++)
            g += (P[i * 2 + 1] - y[i]) * (X[i * D + j] - mean[j]) / sd[j] / N;
        if (j < 3)
            assert_true(b != 0);
        if (b == 0) {
            zeros++;
            assert_true(fabs(g) <= l1 + 2e-5);
        } else {
            assert_near(g + l2 / N * b + (b > 0 ? l1 : -l1), 0.0, 2e-5);
        }
    }
    fprintf(stderr, "L1 logistic: %d of %d coefficients exactly 0\n", zeros, D);
    assert_true(zeros >= 5);
    vt->free(m);
}

/* Softmax: a feature no class depends on gets exactly zero coefficients for every class. */
static void test_softmax_l1_zeros(void **state)
{
    enum { N = 900, D = 6, K = 3 };
    static float X[N * D];
    static int32_t y[N];
    aml_rng r;
    aml_rng_seed(&r, 31);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            X[i * D + j] = (float)(aml_rng_uniform(&r) * 4 - 2);
        double s[K] = {2 * X[i * D], -2 * X[i * D], 1.5 * X[i * D + 1]}, u = aml_rng_uniform(&r), tot = 0, acc = 0;
        for (int q = 0; q < K; q++)
            tot += exp(s[q]);
        y[i] = K - 1;
        for (int q = 0; q < K; q++)
            if ((acc += exp(s[q]) / tot) > u) {
                y[i] = q;
                break;
            }
    }
    param_set ps;
    aml_model *m = fit_model(AML_TASK_CLASSIFICATION, K, X, N, D, y, NULL, NULL,
                             params_list(&ps, "l1", 0.05, "penalty", 1.0, "tol", 1e-8, "max_iter", 1000.0, NULL));
    float x[D] = {0};
    double p0[K], pj[K];
    assert_int_equal(vt->predict_row(m, x, p0), AML_OK);
    int zero_features = 0;
    for (int j = 0; j < D; j++) {
        x[j] = 1;
        assert_int_equal(vt->predict_row(m, x, pj), AML_OK);
        x[j] = 0;
        int all_zero = 1;
        for (int q = 0; q < K; q++)
            all_zero &= pj[q] == p0[q];
        if (j < 2)
            assert_false(all_zero);
        zero_features += all_zero;
    }
    assert_true(zero_features >= 3); /* of the 4 irrelevant ones */
    vt->free(m);
}

/* ---- class weights ---------------------------------------------------------------------------- */

/* 8 rows of class 0, 32 of class 1: balanced weights are 2.5 and 0.625. They equal passing those
 * weights (bit for bit), and repeating each class-0 row 4 times with l2 scaled by 64 / 40 (the
 * objective is then the same up to that factor; equal to the optimiser's tolerance). Regression
 * ignores class_weight. */
static void test_balanced_class_weights(void **state)
{
    enum { N = 40, N0 = 8, R = 4 };
    static float X[N * 2], Xr[(N + (R - 1) * N0) * 2], w[N];
    static int32_t y[N], yr[N + (R - 1) * N0];
    static double Pa[N * 2], Pb[N * 2], Pc[N * 2], v[N];
    aml_rng r;
    aml_rng_seed(&r, 37);
    int nr = 0;
    for (int i = 0; i < N; i++) {
        y[i] = i >= N0;
        X[i * 2] = (float)(aml_rng_uniform(&r) * 2 + (y[i] ? 0.0 : 0.8));
        X[i * 2 + 1] = (float)(aml_rng_uniform(&r) * 3);
        w[i] = y[i] ? 0.625f : 2.5f;
        v[i] = X[i * 2] - 2 * X[i * 2 + 1];
        for (int k = 0; k < (y[i] ? 1 : R); k++, nr++)
            Xr[nr * 2] = X[i * 2], Xr[nr * 2 + 1] = X[i * 2 + 1], yr[nr] = y[i];
    }
    param_set ps;
    aml_model *a = fit_model(AML_TASK_CLASSIFICATION, 2, X, N, 2, y, NULL, NULL,
                             params_list(&ps, "class_weight", 1.0, "tol", 1e-10, NULL));
    aml_model *b = fit_model(AML_TASK_CLASSIFICATION, 2, X, N, 2, y, NULL, w, params_list(&ps, "tol", 1e-10, NULL));
    aml_model *c = fit_model(AML_TASK_CLASSIFICATION, 2, Xr, nr, 2, yr, NULL, NULL,
                             params_list(&ps, "l2", 64.0 / 40.0, "tol", 1e-10, NULL));
    /* to 1e-4: each fit stops at scipy's relative decrease of 2.2e-9, not at the exact optimum */
    predict(a, X, N, 2, Pa);
    predict(b, X, N, 2, Pb);
    predict(c, X, N, 2, Pc);
    assert_memory_equal(Pa, Pb, sizeof Pa);
    for (int i = 0; i < 2 * N; i++)
        assert_near(Pa[i], Pc[i], 1e-4);
    /* and balancing moves the class-0 probabilities up */
    aml_model *none = fit_model(AML_TASK_CLASSIFICATION, 2, X, N, 2, y, NULL, NULL, params_list(&ps, NULL));
    predict(none, X, N, 2, Pb);
    for (int i = 0; i < N; i++)
        assert_true(Pa[i * 2] > Pb[i * 2]);
    vt->free(a), vt->free(b), vt->free(c), vt->free(none);

    a = fit_model(AML_TASK_REGRESSION, 0, X, N, 2, NULL, v, NULL, params_list(&ps, "class_weight", 1.0, NULL));
    b = fit_model(AML_TASK_REGRESSION, 0, X, N, 2, NULL, v, NULL, params_list(&ps, NULL));
    predict(a, X, N, 2, Pa);
    predict(b, X, N, 2, Pb);
    assert_memory_equal(Pa, Pb, sizeof(double) * N);
    vt->free(a), vt->free(b);
}

/* ---- save / load of the new parameters --------------------------------------------------------- */

static void check_roundtrip(const aml_model *m, int n_classes, const float *X, int64_t n, int64_t d)
{
    const int no = n_classes ? n_classes : 1;
    double *P1 = malloc(sizeof(double) * n * no), *P2 = malloc(sizeof(double) * n * no);
    aml_writer w, w2;
    aml_model *back = roundtrip(m, &w, n_classes, d);
    assert_int_equal(w.buf[8], 2); /* format version 2: the penalty and class weights are stored */
    predict(m, X, n, d, P1);
    predict(back, X, n, d, P2);
    assert_memory_equal(P1, P2, sizeof(double) * n * no);
    aml_model *again = roundtrip(back, &w2, n_classes, d);
    assert_int_equal(w.len, w2.len);
    assert_memory_equal(w.buf, w2.buf, w.len);
    vt->free(back), vt->free(again);
    aml_writer_release(&w2);
    /* the same blob as version 1 (no parameter block) still loads, as an L2 model */
    const size_t header = 56, params = 16; /* sizes of the header and the parameter block */
    unsigned char *v1 = malloc(w.len - params);
    memcpy(v1, w.buf, header);
    memcpy(v1 + header, w.buf + header + params, w.len - header - params);
    v1[8] = 1;
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_reader r;
    aml_reader_init(&r, v1, w.len - params);
    aml_task task = {.kind = n_classes ? AML_TASK_CLASSIFICATION : AML_TASK_REGRESSION, .n_classes = n_classes,
                     .n_features = d};
    assert_int_equal(vt->load(host, &hc, &r, &task, &back), AML_OK);
    predict(back, X, n, d, P2);
    assert_memory_equal(P1, P2, sizeof(double) * n * no);
    vt->free(back);
    free(v1), free(P1), free(P2);
    aml_writer_release(&w);
}

static void test_save_load_l1_and_class_weights(void **state)
{
    enum { N = 400 };
    static float X[N * 3];
    static int32_t y[N];
    static double v[N];
    param_set ps;
    for (int k = 2; k <= 3; k++) {
        separable(N, k, 43, X, y);
        aml_model *m = fit_model(AML_TASK_CLASSIFICATION, k, X, N, 3, y, NULL, NULL,
                                 params_list(&ps, "l1", 0.01, "penalty", 1.0, "class_weight", 1.0, NULL));
        check_roundtrip(m, k, X, N, 3);
        vt->free(m);
    }
    for (int i = 0; i < N; i++)
        v[i] = X[i * 3] * 2.0 - X[i * 3 + 2] * 0.01;
    aml_model *m = fit_model(AML_TASK_REGRESSION, 0, X, N, 3, NULL, v, NULL,
                             params_list(&ps, "l1", 0.1, "penalty", 1.0, NULL));
    check_roundtrip(m, 0, X, N, 3);
    vt->free(m);
}

/* ---- real data ---------------------------------------------------------------------------- */

/* datasets/NAME.csv of the repository; AML_DATASETS_DIR overrides the directory. */
static aml_dataset *load_csv(const char *name)
{
    char path[1024];
    const char *dir = getenv("AML_DATASETS_DIR");
    snprintf(path, sizeof path, "%s/%s.csv", dir ? dir : AML_SOURCE_DIR "/datasets", name);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s is not there yet: skipped\n", path);
        return NULL;
    }
    aml_ctx *c = aml_ctx_new();
    aml_dataset *ds = NULL;
    aml_csv_options opt = {0};
    aml_status st = aml_csv_read(c, path, &opt, &ds);
    if (st != AML_OK)
        print_error("%s\n", aml_errmsg(c));
    assert_int_equal(st, AML_OK);
    aml_ctx_free(c);
    return ds;
}

/* Stratified 75/25 holdout; fits on the train rows, returns the test accuracy. */
static double holdout_accuracy(const aml_dataset *ds, const aml_params *p)
{
    const int64_t n = ds->n_rows, d = ds->n_features;
    uint8_t *is_test = malloc((size_t)n);
    aml_split_holdout(n, ds->label, ds->n_classes, 0.25, 0, is_test);
    float *Xtr = malloc((size_t)n * d * sizeof *Xtr), *Xte = malloc((size_t)n * d * sizeof *Xte);
    int32_t *ytr = malloc((size_t)n * sizeof *ytr), *yte = malloc((size_t)n * sizeof *yte);
    int64_t ntr = 0, nte = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_test[i]) {
            memcpy(Xte + nte * d, ds->X + i * d, (size_t)d * sizeof(float));
            yte[nte++] = ds->label[i];
        } else {
            memcpy(Xtr + ntr * d, ds->X + i * d, (size_t)d * sizeof(float));
            ytr[ntr++] = ds->label[i];
        }
    }
    aml_model *m = fit_model(AML_TASK_CLASSIFICATION, ds->n_classes, Xtr, ntr, d, ytr, NULL, NULL, p);
    const int k = ds->n_classes;
    double *P = malloc((size_t)nte * k * sizeof *P);
    predict(m, Xte, nte, d, P);
    int64_t correct = 0;
    for (int64_t i = 0; i < nte; i++) {
        int best = 0;
        for (int q = 1; q < k; q++)
            best = P[i * k + q] > P[i * k + best] ? q : best;
        correct += best == yte[i];
    }
    vt->free(m);
    free(is_test), free(Xtr), free(Xte), free(ytr), free(yte), free(P);
    return (double)correct / (double)nte;
}

static void check_accuracy(const char *name, double bar)
{
    aml_dataset *ds = load_csv(name);
    if (!ds)
        skip();
    assert_int_equal(ds->task, AML_TASK_CLASSIFICATION);
    param_set ps;
    double acc = holdout_accuracy(ds, params_of(&ps, NULL, 0, NULL, 0));
    fprintf(stderr, "linear on %s: held-out accuracy %.4f (bar %.2f)\n", name, acc, bar);
    assert_true(acc >= bar);
    aml_dataset_free(ds);
}

static void test_digits_accuracy(void **state) { check_accuracy("digits", 0.95); }
static void test_breast_cancer_accuracy(void **state) { check_accuracy("breast_cancer", 0.95); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_ridge_closed_form),
        cmocka_unit_test(test_ridge_weighted_closed_form),
        cmocka_unit_test(test_ridge_missing_closed_form),
        cmocka_unit_test(test_ridge_weights_are_repeats),
        cmocka_unit_test(test_logistic_binary_matches_sklearn),
        cmocka_unit_test(test_softmax_matches_sklearn),
        cmocka_unit_test(test_separable_binary),
        cmocka_unit_test(test_separable_softmax),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_save_load_exact),
        cmocka_unit_test(test_garbage_blob_rejected),
        cmocka_unit_test(test_bad_params_rejected),
        cmocka_unit_test(test_ridge_dual_matches_primal),
        cmocka_unit_test(test_ridge_float_gram_agrees),
        cmocka_unit_test(test_lasso_orthonormal_closed_form),
        cmocka_unit_test(test_lasso_support_covariance),
        cmocka_unit_test(test_lasso_support_residual),
        cmocka_unit_test(test_logistic_l1_kkt),
        cmocka_unit_test(test_softmax_l1_zeros),
        cmocka_unit_test(test_balanced_class_weights),
        cmocka_unit_test(test_save_load_l1_and_class_weights),
        cmocka_unit_test(test_bad_labels_rejected),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_infinite_input_rejected),
        cmocka_unit_test(test_digits_accuracy),
        cmocka_unit_test(test_breast_cancer_accuracy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
