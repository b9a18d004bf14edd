/* The `pca` feature plugin: principal components of the centred columns, from the covariance matrix
 * (blocked dsyrk in double, fixed row chunks summed in order, so the result does not depend on the
 * thread count) and LAPACK's dsyevr.
 *
 * Output columns: k numeric columns, the projections on the components in decreasing order of
 * explained variance. k = n_components when > 0 (at most the number of input columns), else the
 * fewest components whose explained variance reaches `variance` of the total (at least 1). Each
 * component's sign makes its largest-magnitude loading positive (the first one on ties). With
 * whiten, projections are divided by sqrt(eigenvalue) (components with eigenvalue <= 1e-12 of the
 * largest are not divided). Non-finite cells (NaN, +-inf) count as the column mean, at fit and at
 * transform. Categorical columns are treated as numeric codes: put onehot before pca. */
#include "../common/feature_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
                    const double *vl, const double *vu, const int *il, const int *iu, const double *abstol, int *m,
                    double *w, double *z, const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info);

#define PCA_MAGIC 0x4143504c4d414d41ULL /* "AMAMLPCA" */
#define PCA_FORMAT_VERSION 1u
#define PCA_BLOCK 256      /* rows per dsyrk / sgemm call */
#define PCA_MAX_CHUNKS 16  /* fixed row chunks of the covariance, whatever the thread count */
#define PCA_MAX_COLS 20000 /* the covariance is d x d doubles */

enum { P_N_COMPONENTS, P_VARIANCE, P_WHITEN, N_PARAMS };

static const aml_param_def params[N_PARAMS] = {
    [P_N_COMPONENTS] = {.name = "n_components", .type = AML_PARAM_INT, .lo = 0, .hi = 1024, .def = 0,
                        .help = "components kept; 0: as many as `variance` asks", .cost = 1},
    [P_VARIANCE] = {.name = "variance", .type = AML_PARAM_FLOAT, .lo = 0.5, .hi = 1.0, .def = 0.95,
                    .help = "with n_components = 0: fraction of the total variance the kept components explain"},
    [P_WHITEN] = {.name = "whiten", .type = AML_PARAM_BOOL, .lo = 0, .hi = 1, .def = 0,
                  .help = "divide each projection by the component's standard deviation"},
};

struct aml_feature {
    fc_input in;
    int n_components, whiten;
    double variance;
    int fitted;
    int64_t k;
    double *mean;   /* n_in */
    double *eigen;  /* k: variance along each kept component */
    float *W;       /* n_in x k, row-major: W[j * k + c] */
};

static void clear_fit(aml_feature *f)
{
    fc_free(f->in.h, f->mean), fc_free(f->in.h, f->eigen), fc_free(f->in.h, f->W);
    f->mean = f->eigen = NULL, f->W = NULL, f->k = 0, f->fitted = 0;
}

static void pca_free(aml_feature *f)
{
    if (!f)
        return;
    const aml_host *h = f->in.h;
    clear_fit(f);
    fc_input_release(&f->in);
    h->dealloc(f);
}

static aml_feature *pca_new(const aml_host *h)
{
    aml_feature *f = h->alloc(sizeof *f);
    if (f)
        memset(f, 0, sizeof *f), f->in.h = h;
    return f;
}

static aml_status pca_create(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                             aml_feature **out)
{
    aml_feature *f = pca_new(h);
    if (!f) {
        h->set_error(c, "pca: out of memory");
        return AML_ERR_NOMEM;
    }
    double nc, var, wh;
    aml_status st = fc_input_init(&f->in, h, c, "pca", task);
    if (st == AML_OK && f->in.n_in > PCA_MAX_COLS) {
        h->set_error(c, "pca: %lld input columns, at most %d", (long long)f->in.n_in, PCA_MAX_COLS);
        st = AML_ERR_INPUT;
    }
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_N_COMPONENTS, p, &nc);
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_VARIANCE, p, &var);
    if (st == AML_OK)
        st = fc_param(&f->in, c, params, P_WHITEN, p, &wh);
    if (st != AML_OK) {
        pca_free(f);
        return st;
    }
    f->n_components = (int)nc, f->variance = var, f->whiten = (int)wh;
    *out = f;
    return AML_OK;
}

/* Upper triangle (row-major) of sum_i (x_i - mean)(x_i - mean)^T, non-finite cells -> 0, into G. */
static aml_status covariance(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, double *G)
{
    const aml_host *h = f->in.h;
    const int64_t n = X->rows, d = f->in.n_in, slot = d * d;
    int64_t chunks = (n + PCA_BLOCK - 1) / PCA_BLOCK;
    int64_t by_memory = ((int64_t)64 << 20) / (8 * slot);
    chunks = chunks < PCA_MAX_CHUNKS ? chunks : PCA_MAX_CHUNKS;
    chunks = chunks < by_memory ? chunks : by_memory < 1 ? 1 : by_memory;
    const int64_t per_chunk = (n + chunks - 1) / chunks;
    int nt = fc_threads(h, c, chunks, 1);
    double *acc = chunks > 1 ? fc_alloc(h, (size_t)(chunks - 1) * slot * sizeof *acc) : NULL;
    double *scratch = fc_alloc(h, (size_t)nt * PCA_BLOCK * d * sizeof *scratch);
    if ((chunks > 1 && !acc) || !scratch) {
        fc_free(h, acc), fc_free(h, scratch);
        h->set_error(c, "pca: out of memory for the %lld x %lld covariance", (long long)d, (long long)d);
        return AML_ERR_NOMEM;
    }
    const double *mean = f->mean;
#pragma omp parallel num_threads(nt)
    {
        double *A = scratch + (size_t)omp_get_thread_num() * PCA_BLOCK * d;
#pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < chunks; ch++) {
            double *S = ch == 0 ? G : acc + (size_t)(ch - 1) * slot;
            memset(S, 0, (size_t)slot * sizeof *S);
            const int64_t r1 = (ch + 1) * per_chunk < n ? (ch + 1) * per_chunk : n;
            for (int64_t i0 = ch * per_chunk; i0 < r1; i0 += PCA_BLOCK) {
                const int64_t nb = r1 - i0 < PCA_BLOCK ? r1 - i0 : PCA_BLOCK;
                for (int64_t i = 0; i < nb; i++) {
                    const float *x = X->data + (i0 + i) * X->ld;
                    for (int64_t j = 0; j < d; j++)
                        A[i * d + j] = isfinite(x[j]) ? (double)x[j] - mean[j] : 0.0;
                }
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, A, (int)d, 1.0, S, (int)d);
            }
        }
    }
    for (int64_t ch = 1; ch < chunks; ch++)
        for (int64_t a = 0; a < slot; a++)
            G[a] += acc[(size_t)(ch - 1) * slot + a];
    fc_free(h, acc), fc_free(h, scratch);
    return AML_OK;
}

/* Eigenvalues (ascending) and eigenvectors (columns of Z, column-major) of the symmetric G. */
static aml_status eigen_all(aml_feature *f, aml_host_ctx *c, double *G, double *w, double *Z)
{
    const aml_host *h = f->in.h;
    const int d = (int)f->in.n_in, il = 1, iu = d;
    const double vl = 0, vu = 0, abstol = 0;
    int m = 0, info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0;
    int *isuppz = fc_alloc(h, 2 * (size_t)d * sizeof *isuppz);
    if (!isuppz)
        goto nomem;
    /* G is the row-major upper triangle, i.e. the column-major lower one */
    dsyevr_("V", "A", "L", &d, G, &d, &vl, &vu, &il, &iu, &abstol, &m, w, Z, &d, isuppz, &wq, &lwork, &iwq, &liwork,
            &info);
    lwork = (int)wq, liwork = iwq;
    double *work = fc_alloc(h, (size_t)lwork * sizeof *work);
    int *iwork = fc_alloc(h, (size_t)liwork * sizeof *iwork);
    if (!work || !iwork) {
        fc_free(h, work), fc_free(h, iwork), fc_free(h, isuppz);
        goto nomem;
    }
    dsyevr_("V", "A", "L", &d, G, &d, &vl, &vu, &il, &iu, &abstol, &m, w, Z, &d, isuppz, work, &lwork, iwork, &liwork,
            &info);
    fc_free(h, work), fc_free(h, iwork), fc_free(h, isuppz);
    if (info != 0 || m != d) {
        h->set_error(c, "pca: the eigendecomposition failed (dsyevr info %d)", info);
        return AML_ERR_RUNTIME;
    }
    return AML_OK;
nomem:
    h->set_error(c, "pca: out of memory for the eigendecomposition");
    return AML_ERR_NOMEM;
}

static aml_status pca_fit(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y)
{
    const aml_host *h = f->in.h;
    aml_status st = fc_check_matrix(&f->in, c, X, "fit", 1);
    if (st != AML_OK)
        return st;
    clear_fit(f);
    /* BLAS and LAPACK on one thread each: OpenBLAS's own threading (which it uses outside an
     * active parallel region) adds partial sums in a thread-count-dependent order, and dsyevr's
     * symv would too; the row chunks below bring the parallelism instead */
    const int keep_threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const int64_t n = X->rows, d = f->in.n_in;
    double *G = fc_alloc(h, (size_t)d * d * sizeof *G), *Z = fc_alloc(h, (size_t)d * d * sizeof *Z);
    double *w = fc_alloc(h, (size_t)d * sizeof *w), *cnt = fc_alloc(h, (size_t)d * sizeof *cnt);
    f->mean = fc_alloc(h, (size_t)d * sizeof *f->mean);
    if (!G || !Z || !w || !cnt || !f->mean) {
        h->set_error(c, "pca: out of memory for %lld columns", (long long)d);
        st = AML_ERR_NOMEM;
        goto fail;
    }
    memset(f->mean, 0, (size_t)d * sizeof *f->mean);
    memset(cnt, 0, (size_t)d * sizeof *cnt);
    for (int64_t i = 0; i < n; i++) {
        const float *x = X->data + i * X->ld;
        for (int64_t j = 0; j < d; j++)
            if (isfinite(x[j]))
                f->mean[j] += x[j], cnt[j] += 1;
    }
    for (int64_t j = 0; j < d; j++)
        f->mean[j] = cnt[j] > 0 ? f->mean[j] / cnt[j] : 0.0;
    if ((st = covariance(f, c, X, G)) != AML_OK)
        goto fail;
    const double denom = n > 1 ? (double)(n - 1) : 1.0;
    for (int64_t a = 0; a < d * d; a++)
        G[a] /= denom;
    for (int64_t a = 0; a < d * d; a++)
        if (!isfinite(G[a])) {
            h->set_error(c, "pca: the covariance is not finite (values too large?)");
            st = AML_ERR_INPUT;
            goto fail;
        }
    if ((st = eigen_all(f, c, G, w, Z)) != AML_OK)
        goto fail;
    /* components in decreasing order: eigenvalue index d - 1 - c */
    double total = 0;
    for (int64_t a = 0; a < d; a++)
        total += w[a] > 0 ? w[a] : 0;
    int64_t k = f->n_components > 0 ? (f->n_components < d ? f->n_components : d) : 0;
    if (k == 0) {
        double cum = 0;
        k = d;
        for (int64_t cc = 0; cc < d && total > 0; cc++) {
            cum += w[d - 1 - cc] > 0 ? w[d - 1 - cc] : 0;
            if (cum >= f->variance * total * (1 - 1e-12)) {
                k = cc + 1;
                break;
            }
        }
        if (!(total > 0))
            k = 1;
    }
    f->k = k;
    f->eigen = fc_alloc(h, (size_t)k * sizeof *f->eigen);
    f->W = fc_alloc(h, (size_t)d * k * sizeof *f->W);
    if (!f->eigen || !f->W) {
        h->set_error(c, "pca: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    const double top = w[d - 1] > 0 ? w[d - 1] : 0;
    for (int64_t cc = 0; cc < k; cc++) {
        const double *v = Z + (size_t)(d - 1 - cc) * d;
        const double lambda = w[d - 1 - cc] > 0 ? w[d - 1 - cc] : 0;
        int64_t arg = 0;
        for (int64_t j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[arg]))
                arg = j;
        double sign = v[arg] < 0 ? -1.0 : 1.0;
        double s = f->whiten && lambda > 1e-12 * top ? sign / sqrt(lambda) : sign;
        for (int64_t j = 0; j < d; j++)
            f->W[j * k + cc] = (float)(v[j] * s);
        f->eigen[cc] = lambda;
    }
    fc_free(h, G), fc_free(h, Z), fc_free(h, w), fc_free(h, cnt);
    omp_set_num_threads(keep_threads);
    f->fitted = 1;
    return AML_OK;
fail:
    fc_free(h, G), fc_free(h, Z), fc_free(h, w), fc_free(h, cnt);
    omp_set_num_threads(keep_threads);
    clear_fit(f);
    return st;
}

static int64_t pca_output_cols(const aml_feature *f) { return f->fitted ? f->k : 0; }

static aml_status pca_transform(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "pca: transform before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_check_matrix(&f->in, c, X, "transform", 0);
    if (st != AML_OK || X->rows == 0)
        return st;
    const int64_t d = f->in.n_in, k = f->k, blocks = (X->rows + PCA_BLOCK - 1) / PCA_BLOCK;
    int nt = fc_threads(h, c, blocks, 1);
    float *scratch = fc_alloc(h, (size_t)nt * PCA_BLOCK * d * sizeof *scratch);
    if (!scratch) {
        h->set_error(c, "pca: out of memory");
        return AML_ERR_NOMEM;
    }
    const double *mean = f->mean;
    /* fixed blocks, one single-threaded sgemm each (also with nt = 1, where OpenBLAS would thread
     * on its own): a row's result does not depend on the thread count */
    const int keep_threads = omp_get_max_threads();
    omp_set_num_threads(1);
#pragma omp parallel num_threads(nt)
    {
        float *A = scratch + (size_t)omp_get_thread_num() * PCA_BLOCK * d;
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t i0 = b * PCA_BLOCK, nb = X->rows - i0 < PCA_BLOCK ? X->rows - i0 : PCA_BLOCK;
            for (int64_t i = 0; i < nb; i++) {
                const float *x = X->data + (i0 + i) * X->ld;
                for (int64_t j = 0; j < d; j++)
                    A[i * d + j] = isfinite(x[j]) ? (float)((double)x[j] - mean[j]) : 0.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)k, (int)d, 1.0f, A, (int)d, f->W,
                        (int)k, 0.0f, out + i0 * k, (int)k);
        }
    }
    omp_set_num_threads(keep_threads);
    fc_free(h, scratch);
    return AML_OK;
}

typedef struct {
    int32_t n_components, whiten;
    double variance;
    int64_t k;
} pca_blob;

static aml_status pca_save(const aml_feature *f, aml_host_ctx *c, aml_writer *w)
{
    const aml_host *h = f->in.h;
    if (!f->fitted) {
        h->set_error(c, "pca: save before fit");
        return AML_ERR_INPUT;
    }
    aml_status st = fc_write_header(&f->in, c, w, PCA_MAGIC, PCA_FORMAT_VERSION);
    pca_blob b = {.n_components = f->n_components, .whiten = f->whiten, .variance = f->variance, .k = f->k};
    fc_put(h, w, &st, &b, sizeof b);
    fc_put(h, w, &st, f->mean, (size_t)f->in.n_in * sizeof *f->mean);
    fc_put(h, w, &st, f->eigen, (size_t)f->k * sizeof *f->eigen);
    fc_put(h, w, &st, f->W, (size_t)f->in.n_in * f->k * sizeof *f->W);
    if (st != AML_OK)
        h->set_error(c, "pca: writing the blob failed");
    return st;
}

static aml_status pca_load(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task, aml_feature **out)
{
    aml_feature *f = pca_new(h);
    if (!f) {
        h->set_error(c, "pca: out of memory");
        return AML_ERR_NOMEM;
    }
    uint32_t version;
    pca_blob b;
    aml_status st = fc_read_header(&f->in, h, c, r, "pca", PCA_MAGIC, PCA_FORMAT_VERSION, task, &version);
    if (st != AML_OK)
        goto fail;
    const int64_t d = f->in.n_in;
    if (h->read(r, &b, sizeof b) != AML_OK)
        goto truncated;
    if (d > PCA_MAX_COLS || b.k < 1 || b.k > d || b.n_components < 0 || b.n_components > 1024 ||
        (b.whiten != 0 && b.whiten != 1) || !(b.variance >= 0.5 && b.variance <= 1.0)) {
        h->set_error(c, "pca: corrupt blob (%lld components of %lld columns)", (long long)b.k, (long long)d);
        st = AML_ERR_FORMAT;
        goto fail;
    }
    f->n_components = b.n_components, f->whiten = b.whiten, f->variance = b.variance, f->k = b.k;
    f->mean = fc_alloc(h, (size_t)d * sizeof *f->mean);
    f->eigen = fc_alloc(h, (size_t)b.k * sizeof *f->eigen);
    f->W = fc_alloc(h, (size_t)d * b.k * sizeof *f->W);
    if (!f->mean || !f->eigen || !f->W) {
        h->set_error(c, "pca: out of memory");
        st = AML_ERR_NOMEM;
        goto fail;
    }
    fc_get(h, r, &st, f->mean, (size_t)d * sizeof *f->mean);
    fc_get(h, r, &st, f->eigen, (size_t)b.k * sizeof *f->eigen);
    fc_get(h, r, &st, f->W, (size_t)d * b.k * sizeof *f->W);
    if (st != AML_OK)
        goto truncated;
    for (int64_t j = 0; j < d; j++)
        if (!isfinite(f->mean[j])) {
            h->set_error(c, "pca: corrupt blob (mean of column %lld)", (long long)j);
            st = AML_ERR_FORMAT;
            goto fail;
        }
    f->fitted = 1;
    *out = f;
    return AML_OK;
truncated:
    h->set_error(c, "pca: truncated blob");
    st = AML_ERR_FORMAT;
fail:
    pca_free(f);
    return st;
}

/* Projections are numeric. */
static void pca_output_categorical(const aml_feature *f, uint8_t *out) { memset(out, 0, (size_t)f->k); }

static const aml_feature_vtable vtable = {
    .version = 2,
    .create = pca_create,
    .fit = pca_fit,
    .output_cols = pca_output_cols,
    .transform = pca_transform,
    .save = pca_save,
    .load = pca_load,
    .free = pca_free,
    .output_categorical = pca_output_categorical,
};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_FEATURE,
    .name = "pca",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "projections on the principal components (LAPACK dsyevr of the covariance)",
    .params = params,
    .n_params = N_PARAMS,
    .feature = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
