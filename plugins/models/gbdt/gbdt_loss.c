/* The objectives: initial scores, gradients/hessians per row, the validation loss that drives
 * early stopping, and the order statistics of the robust regression losses (Huber's delta, the
 * absolute loss's median leaves). */
#include "gbdt.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#define LOSS_CHUNK 4096
#define HUBER_SAMPLE 100000
#define HUBER_ALPHA 0.9

static inline double wt(const gb_targets *y, int64_t i) { return y->w ? (double)y->w[i] : 1.0; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, z = *(const double *)b;
    return (x > z) - (x < z);
}

/* Weighted median of pairs (value, weight), sorted in place by value. */
static double weighted_median(double *pairs, int64_t m)
{
    qsort(pairs, (size_t)m, 2 * sizeof(double), cmp_double);
    double total = 0, acc = 0;
    for (int64_t i = 0; i < m; i++)
        total += pairs[2 * i + 1];
    if (!(total > 0))
        return m > 0 ? pairs[2 * (m / 2)] : 0.0;
    for (int64_t i = 0; i < m; i++) {
        acc += pairs[2 * i + 1];
        if (acc >= 0.5 * total)
            return pairs[2 * i];
    }
    return pairs[2 * (m - 1)];
}

aml_status gb_base_score(gb_objective obj, int K, const gb_targets *y, double *base)
{
    const int64_t n = y->n;
    if (obj == GB_OBJ_BINARY || obj == GB_OBJ_SOFTMAX) {
        int C = obj == GB_OBJ_BINARY ? 2 : K;
        double *cw = calloc((size_t)C, sizeof *cw), total = 0;
        if (!cw)
            return AML_ERR_NOMEM;
        for (int64_t i = 0; i < n; i++)
            cw[y->label[i]] += wt(y, i);
        for (int c = 0; c < C; c++)
            total += cw[c];
        for (int c = 0; c < C; c++) {
            double p = total > 0 ? cw[c] / total : 1.0 / C;
            cw[c] = p < 1e-12 ? 1e-12 : (p > 1 - 1e-12 ? 1 - 1e-12 : p);
        }
        if (obj == GB_OBJ_BINARY)
            base[0] = log(cw[1] / cw[0]);
        else
            for (int k = 0; k < K; k++)
                base[k] = log(cw[k]);
        free(cw);
        return AML_OK;
    }
    if (obj == GB_OBJ_SQUARED) {
        double s = 0, sw = 0;
        for (int64_t i = 0; i < n; i++)
            s += wt(y, i) * y->value[i], sw += wt(y, i);
        base[0] = sw > 0 ? s / sw : 0;
        return AML_OK;
    }
    double *pairs = malloc((size_t)(2 * n) * sizeof *pairs);
    if (!pairs)
        return AML_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++)
        pairs[2 * i] = y->value[i], pairs[2 * i + 1] = wt(y, i);
    base[0] = weighted_median(pairs, n);
    free(pairs);
    return AML_OK;
}

void gb_gradients(gb_objective obj, int K, const gb_targets *y, const double *score, double delta, float *gh,
                  int threads)
{
    const int64_t n = y->n;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= GB_PAR_ROWS)
    for (int64_t i = 0; i < n; i++) {
        const double w = wt(y, i);
        const double *s = score + i * K;
        switch (obj) {
        case GB_OBJ_BINARY: {
            double p = 1.0 / (1.0 + exp(-s[0])), h = p * (1 - p);
            gh[2 * i] = (float)(w * (p - (y->label[i] == 1)));
            gh[2 * i + 1] = (float)(w * (h > 1e-16 ? h : 1e-16));
            break;
        }
        case GB_OBJ_SOFTMAX: {
            double mx = s[0], z = 0;
            for (int k = 1; k < K; k++)
                mx = s[k] > mx ? s[k] : mx;
            for (int k = 0; k < K; k++)
                z += exp(s[k] - mx);
            const double factor = (double)K / (K - 1);
            for (int k = 0; k < K; k++) {
                double p = exp(s[k] - mx) / z, h = factor * p * (1 - p);
                float *o = gh + 2 * (n * k + i);
                o[0] = (float)(w * (p - (y->label[i] == k)));
                o[1] = (float)(w * (h > 1e-16 ? h : 1e-16));
            }
            break;
        }
        case GB_OBJ_SQUARED:
            gh[2 * i] = (float)(w * (s[0] - y->value[i])), gh[2 * i + 1] = (float)w;
            break;
        case GB_OBJ_ABSOLUTE: {
            double r = s[0] - y->value[i];
            gh[2 * i] = (float)(w * ((r > 0) - (r < 0))), gh[2 * i + 1] = (float)w;
            break;
        }
        case GB_OBJ_HUBER: {
            double r = s[0] - y->value[i];
            r = r > delta ? delta : (r < -delta ? -delta : r);
            gh[2 * i] = (float)(w * r), gh[2 * i + 1] = (float)w;
            break;
        }
        }
    }
}

static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static double row_loss(gb_objective obj, int K, const gb_targets *y, const double *s, int64_t i)
{
    switch (obj) {
    case GB_OBJ_BINARY:
        return y->label[i] == 1 ? softplus(-s[0]) : softplus(s[0]);
    case GB_OBJ_SOFTMAX: {
        double mx = s[0], z = 0;
        for (int k = 1; k < K; k++)
            mx = s[k] > mx ? s[k] : mx;
        for (int k = 0; k < K; k++)
            z += exp(s[k] - mx);
        return mx + log(z) - s[y->label[i]];
    }
    case GB_OBJ_SQUARED:
        return (s[0] - y->value[i]) * (s[0] - y->value[i]);
    default: /* absolute, and Huber: judged on absolute error, which its delta does not move */
        return fabs(s[0] - y->value[i]);
    }
}

double gb_loss_mean(gb_objective obj, int K, const gb_targets *y, const double *score, double delta, int threads)
{
    (void)delta;
    const int64_t n = y->n, nch = (n + LOSS_CHUNK - 1) / LOSS_CHUNK;
    double *part = malloc((size_t)(2 * (nch > 0 ? nch : 1)) * sizeof *part);
    if (!part)
        return NAN;
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= GB_PAR_ROWS)
    for (int64_t c = 0; c < nch; c++) {
        double sl = 0, sw = 0;
        const int64_t i1 = (c + 1) * LOSS_CHUNK < n ? (c + 1) * LOSS_CHUNK : n;
        for (int64_t i = c * LOSS_CHUNK; i < i1; i++) {
            double w = wt(y, i);
            sl += w * row_loss(obj, K, y, score + i * K, i), sw += w;
        }
        part[2 * c] = sl, part[2 * c + 1] = sw;
    }
    double sl = 0, sw = 0;
    for (int64_t c = 0; c < nch; c++)
        sl += part[2 * c], sw += part[2 * c + 1];
    free(part);
    return sw > 0 ? sl / sw : 0;
}

/* k-th smallest of a[0..n) (reorders a). */
static double select_kth(double *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j], a[j] = t;
                i++, j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

double gb_huber_delta(const gb_targets *y, const double *score, int K, double *buf)
{
    const int64_t n = y->n, step = (n + HUBER_SAMPLE - 1) / HUBER_SAMPLE;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i += step)
        buf[m++] = fabs(y->value[i] - score[i * K]);
    if (m == 0)
        return 1.0;
    double d = select_kth(buf, m, (int64_t)(HUBER_ALPHA * (double)(m - 1)));
    return d > 0 ? d : 1e-12;
}

double gb_leaf_median(const gb_targets *y, const double *score, int K, const int32_t *rows, int64_t m, double *buf)
{
    for (int64_t i = 0; i < m; i++) {
        int64_t r = rows[i];
        buf[2 * i] = y->value[r] - score[r * K], buf[2 * i + 1] = wt(y, r);
    }
    return weighted_median(buf, m);
}
