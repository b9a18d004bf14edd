/* libFuzzer target for every model and feature plugin's blob loader: the bytes a plugin's save
 * wrote (the payload inside model.bin, past the engine's checksummed framing) go to its load, and
 * a loaded model or feature step then predicts or transforms three tiny rows.
 *
 * Input format (and of every file in tests/fuzz/corpus/blob/):
 *   byte 0      the plugin: PLUGINS[byte % N_PLUGINS] (the table below; fixed, so a corpus file
 *               keeps meaning the same plugin whatever else is installed)
 *   byte 1      the task kind: even = classification, odd = regression
 *   byte 2      n_classes (classification; 0 reads as 2)
 *   byte 3      n_features - 1 (1 to 256 features)
 *   n_features  bytes, one per feature: non-zero = categorical
 *   the rest    the plugin's blob, handed to its load as the engine does
 * The task stands in for what the engine's framing (model.h, pipeline.h) records beside the payload.
 * Plugins come from the build's plugin directory (AML_PLUGIN_BUILD_DIR) and then the usual places.
 * Link: automl_static. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, open_memstream */
#endif
#include "host.h"
#include "fuzz_plugins.h"
#include "plugin_loader.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    aml_plugin_kind kind;
    const char *name;
} PLUGINS[] = {
    {AML_PLUGIN_MODEL, "linear"},     {AML_PLUGIN_MODEL, "knn"},           {AML_PLUGIN_MODEL, "forest"},
    {AML_PLUGIN_MODEL, "gbdt"},       {AML_PLUGIN_MODEL, "mlp"},           {AML_PLUGIN_MODEL, "naive_bayes"},
    {AML_PLUGIN_MODEL, "discriminant"}, {AML_PLUGIN_FEATURE, "impute"},    {AML_PLUGIN_FEATURE, "scale"},
    {AML_PLUGIN_FEATURE, "onehot"},   {AML_PLUGIN_FEATURE, "pca"},         {AML_PLUGIN_FEATURE, "select"},
    {AML_PLUGIN_FEATURE, "target_encode"},
};
#define N_PLUGINS (sizeof PLUGINS / sizeof PLUGINS[0])
#define ROWS 3

/* -DFUZZ_VERBOSE: what each input came to, to check that a corpus reaches past load. */
static void report(const aml_host_ctx *hc, const char *failed)
{
#ifdef FUZZ_VERBOSE
    fprintf(stderr, "  -> %s%s%s\n", failed ? failed : "loaded and ran", failed ? " failed: " : "", failed ? hc->msg : "");
#else
    (void)hc;
    (void)failed;
#endif
}

static void run_model(const aml_plugin *p, aml_reader *r, const aml_task *task, const float *X)
{
    const aml_model_vtable *v = p->desc->model;
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_model *m = NULL;
    if (v->load(aml_host_services(), &hc, r, task, &m) != AML_OK) {
        report(&hc, "load");
        return;
    }
    int k = task->kind == AML_TASK_CLASSIFICATION ? task->n_classes : 1;
    double *out = malloc(sizeof(double) * ROWS * (size_t)k);
    aml_matrix rows = {X, ROWS, task->n_features, task->n_features};
    report(&hc, v->predict(m, &hc, &rows, out) == AML_OK ? NULL : "predict");
    if (v->predict_row)
        v->predict_row(m, X, out);
    free(out);
    v->free(m);
}

static void run_feature(const aml_plugin *p, aml_reader *r, const aml_task *task, const float *X)
{
    const aml_feature_vtable *v = p->desc->feature;
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_feature *f = NULL;
    if (v->load(aml_host_services(), &hc, r, task, &f) != AML_OK) {
        report(&hc, "load");
        return;
    }
    int64_t cols = v->output_cols(f);
    if (cols > 0 && cols <= (1 << 20)) { /* the engine checks this against the recorded flags */
        float *out = malloc(sizeof(float) * ROWS * (size_t)cols);
        aml_matrix rows = {X, ROWS, task->n_features, task->n_features};
        report(&hc, v->transform(f, &hc, &rows, out) == AML_OK ? NULL : "transform");
        if (v->version >= 2 && v->output_categorical) {
            uint8_t *flags = malloc((size_t)cols);
            v->output_categorical(f, flags);
            free(flags);
        }
        free(out);
    }
    v->free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    int64_t nf = (int64_t)data[3] + 1;
    if (size < 4 + (size_t)nf)
        return 0;
    const aml_plugin *p = aml_registry_find(fuzz_registry(), PLUGINS[data[0] % N_PLUGINS].kind,
                                            PLUGINS[data[0] % N_PLUGINS].name);
    if (!p)
        return 0;
    uint8_t categorical[256];
    for (int64_t j = 0; j < nf; j++)
        categorical[j] = data[4 + j] != 0;
    aml_task task = {.kind = (data[1] & 1) ? AML_TASK_REGRESSION : AML_TASK_CLASSIFICATION,
                     .n_classes = (data[1] & 1) ? 0 : (data[2] ? data[2] : 2),
                     .n_features = nf,
                     .categorical = categorical};
    /* Rows: zeros, ones (category code 1), missing. */
    float X[ROWS * 256];
    for (int64_t j = 0; j < nf; j++) {
        X[j] = 0;
        X[nf + j] = 1;
        X[2 * nf + j] = (float)NAN;
    }
    aml_reader r;
    aml_reader_init(&r, data + 4 + nf, size - 4 - (size_t)nf);
    if (p->desc->kind == AML_PLUGIN_MODEL)
        run_model(p, &r, &task, X);
    else
        run_feature(p, &r, &task, X);
    return 0;
}
