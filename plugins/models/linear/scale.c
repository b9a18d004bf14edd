/* Feature standardisation for the `linear` plugin: weighted statistics in one pass over X, and the
 * block standardisation every data pass uses. */
#include "linear.h"

#include <math.h>
#include <omp.h>
#include <string.h>

void lin_standardize_block(int64_t d, const float *mean, const float *inv, const aml_matrix *X, int64_t r0,
                           int64_t nb, float *dst)
{
    for (int64_t i = 0; i < nb; i++) {
        const float *x = X->data + (r0 + i) * X->ld;
        float *o = dst + i * d;
        for (int64_t j = 0; j < d; j++) {
            float v = x[j], t = (v - mean[j]) * inv[j];
            o[j] = v == v ? t : 0.0f;
        }
    }
}

void lin_standardize_block_d(const aml_model *m, const aml_matrix *X, int64_t r0, int64_t nb, double *dst)
{
    const int64_t d = m->d;
    const double *mean = m->mean, *inv = m->inv_scale;
    for (int64_t i = 0; i < nb; i++) {
        const float *x = X->data + (r0 + i) * X->ld;
        double *o = dst + i * d;
        for (int64_t j = 0; j < d; j++) {
            float v = x[j];
            double t = ((double)v - mean[j]) * inv[j];
            o[j] = v == v ? t : 0.0;
        }
    }
}

/* Weighted mean and std of each column over non-NaN cells, shifted by the first row for
 * accuracy. Per chunk sums in double, reduced in chunk order. */
aml_status lin_fit_scaler(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const float *w)
{
    const aml_host *h = m->h;
    const int64_t d = m->d, n = X->rows;
    lin_row_plan p = lin_plan_rows(n, 4096, MAX_CHUNKS);
    double *acc = mc_alloc(h, (size_t)p.n_chunks * 3 * (size_t)d * sizeof *acc);
    double *shift = mc_alloc(h, (size_t)d * sizeof *shift);
    if (!acc || !shift) {
        mc_free(h, acc), mc_free(h, shift);
        h->set_error(c, "linear: out of memory for feature statistics (%lld features)", (long long)d);
        return AML_ERR_NOMEM;
    }
    for (int64_t j = 0; j < d; j++)
        shift[j] = isfinite(X->data[j]) ? X->data[j] : 0.0;
    int nt = mc_threads(h, c, p.n_chunks);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int ch = 0; ch < p.n_chunks; ch++) {
        double *sw = acc + (size_t)ch * 3 * d, *s1 = sw + d, *s2 = s1 + d;
        memset(sw, 0, 3 * (size_t)d * sizeof *sw);
        int64_t r0, r1;
        lin_chunk_rows(&p, ch, &r0, &r1);
        for (int64_t i = r0; i < r1; i++) {
            const float *x = X->data + i * X->ld;
            const double wi = w ? w[i] : 1.0;
            for (int64_t j = 0; j < d; j++) {
                float v = x[j];
                double t = v == v ? (double)v - shift[j] : 0.0, wv = v == v ? wi : 0.0;
                sw[j] += wv, s1[j] += wv * t, s2[j] += wv * t * t;
            }
        }
    }
    for (int ch = 1; ch < p.n_chunks; ch++)
        for (int64_t j = 0; j < 3 * d; j++)
            acc[j] += acc[(size_t)ch * 3 * d + j];
    for (int64_t j = 0; j < d; j++) {
        if (isfinite(acc[2 * d + j]))
            continue;
        /* an infinity somewhere in column j (sums of finite floats stay finite in double) */
        mc_free(h, acc), mc_free(h, shift);
        const mc_call mc = mc_at(h, c, "linear");
        return mc_infinite_feature(&mc, X, j);
    }
    for (int64_t j = 0; j < d; j++) {
        double sw = acc[j], s1 = acc[d + j], s2 = acc[2 * d + j];
        if (sw <= 0) {
            m->mean[j] = 0, m->inv_scale[j] = 1;
            continue;
        }
        double mu = s1 / sw, var = s2 / sw - mu * mu;
        m->mean[j] = shift[j] + mu;
        double sd = var > 0 ? sqrt(var) : 0;
        m->inv_scale[j] = sd > 0 && sd > 1e-10 * fabs(m->mean[j]) ? 1.0 / sd : 1.0;
    }
    mc_free(h, acc), mc_free(h, shift);
    return AML_OK;
}
