/* libFuzzer target for the artifact reader (aml_artifact_open), the way `automl predict` and
 * automld reach it: the input becomes an artifact directory, which is opened and, when it loads,
 * asked for predictions on three rows, written as CSV.
 *
 * Container format of an input (and of every file in tests/fuzz/corpus/artifact/):
 *   <manifest.json bytes> 0x00 <model.bin bytes>
 * Everything before the first NUL byte is manifest.json, everything after it is model.bin (no NUL:
 * an empty model.bin). The harness then reseals what a mutation would otherwise only break, so
 * that the parsers behind the checksums are reached:
 *   - model.bin's trailing 32-byte sha256 is recomputed over the bytes before it (when it has
 *     at least 56 bytes, the smallest framed blob);
 *   - when manifest.json parses as a JSON object, files["model.bin"].sha256 is set to model.bin's
 *     sha256 (an object "files" is created if needed) and the manifest is printed back;
 *   - manifest.json.sha256 is written for the manifest as written.
 * Plugins come from the build's plugin directory (AML_PLUGIN_BUILD_DIR) and then the usual places
 * (AML_PLUGIN_PATH, beside the executable). Link: automl_static, cJSON, OpenSSL's libcrypto. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, open_memstream */
#endif
#include "artifact.h"
#include "fuzz_plugins.h"
#include "plugin_loader.h"
#include "predictions.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* The manifest with files["model.bin"].sha256 set to blob_hex, or NULL when text is not an object. */
static char *reseal_manifest(const char *text, size_t n, const char *blob_hex)
{
    cJSON *m = cJSON_ParseWithLength(text, n);
    if (!cJSON_IsObject(m)) {
        cJSON_Delete(m);
        return NULL;
    }
    cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
    if (!cJSON_IsObject(files)) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "files");
        files = cJSON_AddObjectToObject(m, "files");
    }
    cJSON *entry = cJSON_GetObjectItemCaseSensitive(files, "model.bin");
    if (!cJSON_IsObject(entry)) {
        cJSON_DeleteItemFromObjectCaseSensitive(files, "model.bin");
        entry = cJSON_AddObjectToObject(files, "model.bin");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(entry, "sha256");
    cJSON_AddStringToObject(entry, "sha256", blob_hex);
    char *out = cJSON_Print(m);
    cJSON_Delete(m);
    return out;
}

/* Predicts three rows (zeros, ones, missing) and writes them as CSV, as `automl predict` does. */
static void predict_rows(aml_ctx *c, const aml_artifact *a, const char *dir)
{
    int64_t nf = a->schema->n_features, rows = 3;
    int k = a->model.n_outputs;
    if (nf > 100000 || k < 1 || k > 100000)
        return;
    float *X = malloc(sizeof(float) * (size_t)(rows * nf + 1));
    double *pred = malloc(sizeof(double) * (size_t)(rows * k));
    for (int64_t j = 0; j < nf; j++) {
        X[j] = 0;
        X[nf + j] = 1;
        X[2 * nf + j] = (float)NAN;
    }
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_matrix m = {X, rows, nf, nf};
    if (aml_fitted_predict(c, &hc, &a->model, &m, pred) == AML_OK) {
        char *out = aml_xasprintf("%s/predictions.csv", dir);
        aml_predictions_write_csv(c, out, a->schema, rows, pred, 1);
        unlink(out);
        free(out);
    }
    free(X);
    free(pred);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t manifest_len = nul ? (size_t)(nul - data) : size;
    size_t blob_len = nul ? size - manifest_len - 1 : 0;
    unsigned char *blob = malloc(blob_len + 1);
    if (blob_len)
        memcpy(blob, nul + 1, blob_len);
    if (blob_len >= 56)
        aml_sha256(blob, blob_len - 32, blob + blob_len - 32);
    char blob_hex[65], manifest_hex[65];
    aml_sha256_hex(blob, blob_len, blob_hex);

    char dir[] = "/tmp/fuzz_artifact.XXXXXX";
    if (!mkdtemp(dir)) {
        free(blob);
        return 0;
    }
    char *manifest = aml_xasprintf("%s/manifest.json", dir), *sum = aml_xasprintf("%s/manifest.json.sha256", dir);
    char *model = aml_xasprintf("%s/model.bin", dir);
    char *resealed = reseal_manifest((const char *)data, manifest_len, blob_hex);
    const char *text = resealed ? resealed : (const char *)data;
    size_t text_len = resealed ? strlen(resealed) : manifest_len;
    aml_sha256_hex(text, text_len, manifest_hex);
    char *line = aml_xasprintf("%s  manifest.json\n", manifest_hex);
    if (write_file(manifest, text, text_len) == 0 && write_file(sum, line, strlen(line)) == 0 &&
        write_file(model, blob, blob_len) == 0) {
        aml_ctx *c = aml_ctx_new();
        aml_artifact a = {0};
        if (aml_artifact_open(c, fuzz_registry(), dir, &a) == AML_OK) {
            predict_rows(c, &a, dir);
            aml_artifact_close(&a);
        }
#ifdef FUZZ_VERBOSE /* -DFUZZ_VERBOSE: what each input came to, to check a corpus reaches deep */
        fprintf(stderr, "  -> %s\n", aml_errmsg(c)[0] ? aml_errmsg(c) : "loaded and predicted");
#endif
        aml_ctx_free(c);
    }
    unlink(manifest);
    unlink(sum);
    unlink(model);
    rmdir(dir);
    free(line);
    free(resealed);
    free(manifest);
    free(sum);
    free(model);
    free(blob);
    return 0;
}
