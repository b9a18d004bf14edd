/* The `native` exporter: the artifact automl's own readers (automl predict, automld) load —
 * model.bin (the checksummed blob), optional reference.json, manifest.json listing the sha256 of
 * every other file, and manifest.json.sha256 covering the manifest itself (sha256sum's format). */
#include <automl/plugin.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_text(const aml_host *h, aml_host_ctx *c, const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        h->set_error(c, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok)
        h->set_error(c, "%s: write failed: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

static int add_file(const aml_host *h, aml_host_ctx *c, const aml_export_input *in, cJSON *files,
                    const char *dir, const char *name, double bytes)
{
    char path[4096], hex[65];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (in->sha256_file(path, hex) != AML_OK) {
        h->set_error(c, "%s: cannot checksum", path);
        return -1;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "sha256", hex);
    cJSON_AddNumberToObject(f, "bytes", bytes);
    cJSON_AddItemToObject(files, name, f);
    return 0;
}

static aml_status export_artifact(const aml_host *h, aml_host_ctx *c, const aml_export_input *in,
                                  const char *dir)
{
    char path[4096];
    aml_status st = AML_ERR_IO;
    cJSON *manifest = cJSON_Parse(in->manifest_json);
    char *text = NULL;
    if (!manifest) {
        h->set_error(c, "the host's manifest is not valid JSON");
        return AML_ERR_RUNTIME;
    }
    cJSON *files = cJSON_CreateObject();
    snprintf(path, sizeof path, "%s/model.bin", dir);
    int64_t bytes = in->write_model_blob(in, path);
    if (bytes < 0) {
        h->set_error(c, "%s: the model blob could not be written", path);
        st = (aml_status)bytes;
        goto done;
    }
    if (add_file(h, c, in, files, dir, "model.bin", (double)bytes) != 0)
        goto done;
    if (in->reference_json) {
        snprintf(path, sizeof path, "%s/reference.json", dir);
        if (write_text(h, c, path, in->reference_json) != 0 ||
            add_file(h, c, in, files, dir, "reference.json", (double)strlen(in->reference_json)) != 0)
            goto done;
    }
    cJSON_AddItemToObject(manifest, "files", files);
    files = NULL;
    cJSON_AddStringToObject(manifest, "exporter", "native");
    text = cJSON_Print(manifest);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (write_text(h, c, path, text) != 0)
        goto done;
    /* The manifest's own checksum, of the bytes just written, so that no field of it can change
     * unnoticed; written last: an artifact without it is incomplete. */
    char hex[65], line[128];
    if (in->sha256_file(path, hex) != AML_OK) {
        h->set_error(c, "%s: cannot checksum", path);
        goto done;
    }
    snprintf(line, sizeof line, "%s  manifest.json\n", hex);
    snprintf(path, sizeof path, "%s/manifest.json.sha256", dir);
    if (write_text(h, c, path, line) != 0)
        goto done;
    st = AML_OK;
done:
    cJSON_Delete(files);
    cJSON_Delete(manifest);
    free(text);
    return st;
}

static const aml_exporter_vtable vtable = {.version = 1, .export_artifact = export_artifact};

static const aml_plugin_descriptor descriptor = {
    AML_PLUGIN_DESCRIPTOR_INIT,
    .kind = AML_PLUGIN_EXPORTER,
    .name = "native",
    .version = "1.0.0",
    .license = "MIT",
    .summary = "automl's own artifact: manifest.json + checksummed model.bin",
    .exporter = &vtable,
};

AML_PLUGIN_ENTRY { return &descriptor; }
