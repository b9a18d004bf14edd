/* Writing and reading versioned artifacts. The host builds the manifest (everything but the file
 * list) and hands it to an exporter plugin, which writes the files into a temporary directory;
 * the host then publishes that directory under the next free version number by rename. */
#include "artifact.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- export ---- */

typedef struct blob_source {
    aml_ctx *c;
    const aml_export_request *req;
} blob_source;

static int64_t write_model_blob(const aml_export_input *in, const char *path)
{
    const blob_source *src = in->host_data;
    aml_writer w;
    aml_writer_init(&w);
    aml_status st = aml_model_blob_write(src->c, src->req->model, src->req->cfg, &w);
    if (st == AML_OK)
        st = aml_write_file_atomic(src->c, path, w.buf, w.len);
    int64_t n = st == AML_OK ? (int64_t)w.len : st;
    aml_writer_release(&w);
    return n;
}

static aml_status sha256_file(const char *path, char hex[65]) { return aml_sha256_file(NULL, path, hex); }

static cJSON *string_array(char **items, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    return a;
}

static cJSON *input_schema(const aml_dataset *d)
{
    cJSON *features = cJSON_CreateArray();
    for (int64_t j = 0; j < d->n_features; j++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", d->feature_names[j]);
        cJSON_AddStringToObject(f, "type", d->categorical[j] ? "categorical" : "numeric");
        if (d->categorical[j] && d->categories && d->categories[j])
            cJSON_AddItemToObject(f, "categories", string_array(d->categories[j], d->n_categories[j]));
        cJSON_AddItemToArray(features, f);
    }
    cJSON *input = cJSON_CreateObject();
    cJSON_AddStringToObject(input, "dtype", "float32");
    cJSON_AddNumberToObject(input, "n_features", (double)d->n_features);
    cJSON_AddItemToObject(input, "features", features);
    return input;
}

/* The feature steps before the model: [{"plugin": "impute", "version": "1.0.0", "params": {...}}, ...]. */
static cJSON *pipeline_json(const aml_pipeline *p)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < p->n; i++) {
        cJSON *step = cJSON_CreateObject();
        cJSON_AddStringToObject(step, "plugin", p->plugins[i]->desc->name);
        cJSON_AddStringToObject(step, "version", p->plugins[i]->desc->version);
        cJSON *params = p->params_json && p->params_json[i] ? cJSON_Parse(p->params_json[i]) : NULL;
        if (params)
            cJSON_AddItemToObject(step, "params", params);
        cJSON_AddItemToArray(a, step);
    }
    return a;
}

static cJSON *build_manifest(const aml_export_request *req, int version)
{
    const aml_dataset *d = req->data;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", AML_ARTIFACT_FORMAT);
    char fv[32];
    snprintf(fv, sizeof fv, "%d.%d", AML_ARTIFACT_FORMAT_MAJOR, AML_ARTIFACT_FORMAT_MINOR);
    cJSON_AddStringToObject(m, "format_version", fv);
    cJSON_AddStringToObject(m, "engine_version", AML_VERSION);
    cJSON_AddStringToObject(m, "name", req->name);
    cJSON_AddNumberToObject(m, "version", version);
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(m, "created", created);
    cJSON_AddStringToObject(m, "task", aml_dataset_task_name(d->task));
    cJSON_AddStringToObject(m, "target", d->target_name ? d->target_name : "target");
    if (d->task == AML_TASK_CLASSIFICATION)
        cJSON_AddItemToObject(m, "classes", string_array(d->class_names, d->n_classes));
    cJSON_AddItemToObject(m, "input", input_schema(d));
    cJSON *model = cJSON_CreateObject();
    const aml_fitted *f = req->model;
    if (f->n_members > 0) {
        cJSON_AddStringToObject(model, "plugin", AML_ENSEMBLE_NAME);
        cJSON *members = cJSON_AddArrayToObject(model, "members");
        for (int k = 0; k < f->n_members; k++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "plugin", f->members[k].plugin->desc->name);
            cJSON_AddStringToObject(e, "plugin_version", f->members[k].plugin->desc->version);
            cJSON_AddNumberToObject(e, "weight", f->weights[k]);
            if (f->temperatures)
                cJSON_AddNumberToObject(e, "temperature", f->temperatures[k]);
            cJSON_AddItemToObject(e, "params", aml_config_to_json(&f->member_cfgs[k]));
            if (f->members[k].resource > 0 && f->members[k].resource < 1) /* early stopping's share */
                cJSON_AddNumberToObject(e, "resource", f->members[k].resource);
            cJSON_AddItemToObject(e, "pipeline", pipeline_json(&f->members[k].pipeline));
            cJSON_AddItemToArray(members, e);
        }
    } else {
        cJSON_AddStringToObject(model, "plugin", f->plugin->desc->name);
        cJSON_AddStringToObject(model, "plugin_version", f->plugin->desc->version);
        cJSON_AddItemToObject(model, "params", aml_config_to_json(req->cfg));
        if (f->resource > 0 && f->resource < 1)
            cJSON_AddNumberToObject(model, "resource", f->resource);
    }
    cJSON_AddStringToObject(model, "blob", "model.bin");
    char bv[32];
    snprintf(bv, sizeof bv, "%d.%d", aml_model_blob_format(f), AML_BLOB_FORMAT_MINOR);
    cJSON_AddStringToObject(model, "blob_format_version", bv);
    cJSON_AddItemToObject(m, "model", model);
    /* Every model plugin the artifact needs, once each. */
    cJSON *plugins = cJSON_CreateArray();
    int n_models = f->n_members > 0 ? f->n_members : 1;
    for (int k = 0; k < n_models; k++) {
        const aml_plugin_descriptor *pd = f->n_members > 0 ? f->members[k].plugin->desc : f->plugin->desc;
        int seen = 0;
        for (int q = 0; q < k && !seen; q++)
            seen = f->members[q].plugin->desc == pd;
        if (seen)
            continue;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "kind", "model");
        cJSON_AddStringToObject(p, "name", pd->name);
        cJSON_AddStringToObject(p, "version", pd->version);
        cJSON_AddItemToArray(plugins, p);
    }
    cJSON_AddItemToObject(m, "plugins", plugins);
    cJSON_AddItemToObject(m, "pipeline", pipeline_json(&req->model->pipeline));
    cJSON *metrics = req->metrics ? cJSON_Duplicate(req->metrics, 1) : cJSON_CreateObject();
    if (req->metric)
        cJSON_AddStringToObject(metrics, "metric", req->metric);
    cJSON_AddItemToObject(m, "metrics", metrics);
    cJSON *lineage = req->lineage ? cJSON_Duplicate(req->lineage, 1) : cJSON_CreateObject();
    cJSON_AddStringToObject(lineage, "dataset_fingerprint", d->fingerprint);
    if (d->path)
        cJSON_AddStringToObject(lineage, "dataset_path", d->path);
    cJSON_AddItemToObject(m, "lineage", lineage);
    return m;
}

/* The largest integer-named entry under dir, or 0. */
static int latest_version(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int best = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end != e->d_name && !*end && v > best && v < 1000000000)
            best = (int)v;
    }
    closedir(d);
    return best;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char *p = aml_xasprintf("%s/%s", dir, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(p);
            else
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

aml_status aml_artifact_export(aml_ctx *c, aml_registry *reg, const aml_export_request *req,
                               char **out_dir)
{
    const char *exporter_name = req->exporter ? req->exporter : "native";
    const aml_plugin *exp = aml_registry_find(reg, AML_PLUGIN_EXPORTER, exporter_name);
    if (!exp)
        return aml_fail(c, AML_ERR_INPUT, "exporter plugin '%s' is not installed", exporter_name);
    char *model_dir = aml_xasprintf("%s/%s", req->repo, req->name);
    char *tmp = aml_xasprintf("%s/.tmp-%ld", model_dir, (long)getpid());
    char *final = NULL, *manifest_text = NULL;
    cJSON *manifest = NULL;
    aml_status st = aml_mkdirs(c, model_dir);
    if (st != AML_OK)
        goto fail;
    for (int attempt = 0; attempt < 100; attempt++) {
        /* The next free version; if another process publishes it first, rename fails and we
         * write again under the following number (the manifest records the version). */
        int version = latest_version(model_dir) + 1;
        cJSON_Delete(manifest);
        free(manifest_text);
        manifest = build_manifest(req, version);
        manifest_text = cJSON_Print(manifest);
        blob_source src = {c, req};
        aml_export_input in = {.size = sizeof in,
                               .manifest_json = manifest_text,
                               .write_model_blob = write_model_blob,
                               .sha256_file = sha256_file,
                               .reference_json = req->reference_json,
                               .host_data = &src};
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        remove_tree(tmp);
        if (mkdir(tmp, 0755) != 0) {
            st = aml_fail(c, AML_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
            goto fail;
        }
        st = exp->desc->exporter->export_artifact(aml_host_services(), &hc, &in, tmp);
        if (st != AML_OK) {
            if (hc.msg[0])
                aml_fail(c, st, "exporter %s: %s", exporter_name, hc.msg);
            goto fail;
        }
        free(final);
        final = aml_xasprintf("%s/%d", model_dir, version);
        if (rename(tmp, final) == 0) {
            /* Make the publication durable: fsync the model directory. */
            DIR *d = opendir(model_dir);
            if (d) {
                fsync(dirfd(d));
                closedir(d);
            }
            *out_dir = final;
            final = NULL;
            st = AML_OK;
            goto done;
        }
        if (errno != EEXIST && errno != ENOTEMPTY) {
            st = aml_fail(c, AML_ERR_IO, "%s: cannot publish: %s", final, strerror(errno));
            goto fail;
        }
    }
    st = aml_fail(c, AML_ERR_IO, "%s: could not find a free version number", model_dir);
fail:
    remove_tree(tmp);
done:
    cJSON_Delete(manifest);
    free(manifest_text);
    free(final);
    free(tmp);
    free(model_dir);
    return st;
}

/* ---- read ---- */

static aml_status verify_files(aml_ctx *c, const char *dir, const cJSON *files)
{
    if (!cJSON_IsObject(files) || !files->child)
        return aml_fail(c, AML_ERR_FORMAT, "%s/manifest.json: no \"files\" with checksums", dir);
    const cJSON *f;
    cJSON_ArrayForEach(f, files)
    {
        const cJSON *sum = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        if (!cJSON_IsString(sum) || strchr(f->string, '/'))
            return aml_fail(c, AML_ERR_FORMAT, "%s/manifest.json: files.%s: expected {\"sha256\": ...}",
                            dir, f->string);
        char *path = aml_xasprintf("%s/%s", dir, f->string);
        char hex[65];
        aml_status st = aml_sha256_file(c, path, hex);
        if (st == AML_OK && strcmp(hex, sum->valuestring) != 0)
            st = aml_fail(c, AML_ERR_FORMAT,
                          "%s: checksum mismatch (manifest has %.12s..., file has %.12s...): the "
                          "artifact is corrupt or was modified",
                          path, sum->valuestring, hex);
        else if (st != AML_OK)
            st = AML_ERR_FORMAT;
        free(path);
        if (st != AML_OK)
            return st;
    }
    return AML_OK;
}

static aml_dataset *schema_from_manifest(const cJSON *m)
{
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(m, "input");
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(input, "features");
    int nf = cJSON_GetArraySize(features);
    aml_dataset *d = aml_dataset_alloc(0, nf);
    int j = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, features)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
        const cJSON *levels = cJSON_GetObjectItemCaseSensitive(f, "categories");
        if (cJSON_IsString(name)) {
            free(d->feature_names[j]);
            d->feature_names[j] = aml_xstrdup(name->valuestring);
        }
        d->categorical[j] = cJSON_IsString(type) && !strcmp(type->valuestring, "categorical");
        int nl = cJSON_GetArraySize(levels);
        if (nl > 0) {
            d->categories[j] = aml_xcalloc((size_t)nl, sizeof(char *));
            d->n_categories[j] = nl;
            for (int k = 0; k < nl; k++) {
                const cJSON *s = cJSON_GetArrayItem(levels, k);
                d->categories[j][k] = aml_xstrdup(cJSON_IsString(s) ? s->valuestring : "");
            }
        }
        j++;
    }
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(m, "task");
    d->task = cJSON_IsString(task) && !strcmp(task->valuestring, "regression") ? AML_TASK_REGRESSION
                                                                                : AML_TASK_CLASSIFICATION;
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(m, "classes");
    if (d->task == AML_TASK_CLASSIFICATION) {
        d->n_classes = cJSON_GetArraySize(classes);
        d->class_names = aml_xcalloc((size_t)d->n_classes + 1, sizeof(char *));
        for (int k = 0; k < d->n_classes; k++) {
            const cJSON *s = cJSON_GetArrayItem(classes, k);
            d->class_names[k] = aml_xstrdup(cJSON_IsString(s) ? s->valuestring : "");
        }
    }
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(m, "target");
    if (cJSON_IsString(target)) {
        free(d->target_name);
        d->target_name = aml_xstrdup(target->valuestring);
    }
    return d;
}

aml_status aml_artifact_open(aml_ctx *c, aml_registry *reg, const char *dir, aml_artifact *out)
{
    aml_artifact a = {.dir = aml_xstrdup(dir)};
    char *path = aml_xasprintf("%s/manifest.json", dir), *text = NULL, *blob = NULL, *blob_path = NULL;
    size_t n = 0;
    struct stat st_dir;
    aml_status st;
    if (stat(dir, &st_dir) != 0 || !S_ISDIR(st_dir.st_mode)) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: not an artifact directory", dir);
        goto fail;
    }
    if (aml_read_file(NULL, path, &text, &n) != AML_OK) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: not an artifact: no readable manifest.json", dir);
        goto fail;
    }
    a.manifest = cJSON_Parse(text);
    if (!a.manifest) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: not valid JSON (truncated or corrupt manifest)", path);
        goto fail;
    }
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(a.manifest, "format");
    const cJSON *fv = cJSON_GetObjectItemCaseSensitive(a.manifest, "format_version");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, AML_ARTIFACT_FORMAT) != 0 ||
        !cJSON_IsString(fv)) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: format: expected \"%s\" with a format_version", path,
                      AML_ARTIFACT_FORMAT);
        goto fail;
    }
    if (atoi(fv->valuestring) > AML_ARTIFACT_FORMAT_MAJOR) {
        st = aml_fail(c, AML_ERR_FORMAT,
                      "%s: artifact format %s is newer than this automl reads (%d.x); upgrade automl",
                      path, fv->valuestring, AML_ARTIFACT_FORMAT_MAJOR);
        goto fail;
    }
    if ((st = verify_files(c, dir, cJSON_GetObjectItemCaseSensitive(a.manifest, "files"))) != AML_OK)
        goto fail;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(a.manifest, "model");
    const cJSON *blob_name = cJSON_GetObjectItemCaseSensitive(model, "blob");
    if (!cJSON_IsString(blob_name) || strchr(blob_name->valuestring, '/')) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: model.blob: expected a file name", path);
        goto fail;
    }
    blob_path = aml_xasprintf("%s/%s", dir, blob_name->valuestring);
    if ((st = aml_read_file(c, blob_path, &blob, &n)) != AML_OK)
        goto fail;
    if ((st = aml_model_blob_read(c, reg, blob_path, blob, n, &a.model, &a.cfg)) != AML_OK)
        goto fail;
    a.schema = schema_from_manifest(a.manifest);
    if (a.schema->n_features != a.model.task.n_features) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: manifest lists %lld features, the model has %lld", path,
                      (long long)a.schema->n_features, (long long)a.model.task.n_features);
        goto fail;
    }
    free(path);
    free(text);
    free(blob);
    free(blob_path);
    *out = a;
    return AML_OK;
fail:
    free(path);
    free(text);
    free(blob);
    free(blob_path);
    aml_artifact_close(&a);
    return st;
}

void aml_artifact_close(aml_artifact *a)
{
    if (!a)
        return;
    free(a->dir);
    cJSON_Delete(a->manifest);
    aml_fitted_free(&a->model);
    aml_config_free(&a->cfg);
    aml_dataset_free(a->schema);
    memset(a, 0, sizeof *a);
}

aml_status aml_artifact_check_input(aml_ctx *c, const aml_artifact *a, const aml_dataset *data)
{
    if (data->n_features != a->schema->n_features)
        return aml_fail(c, AML_ERR_INPUT, "%s: has %lld features, the model expects %lld (%s ...)",
                        data->path ? data->path : "input", (long long)data->n_features,
                        (long long)a->schema->n_features, a->schema->feature_names[0]);
    for (int64_t j = 0; j < data->n_features; j++)
        if (strcmp(data->feature_names[j], a->schema->feature_names[j]) != 0)
            return aml_fail(c, AML_ERR_INPUT, "%s: column %lld is '%s', the model expects '%s'",
                            data->path ? data->path : "input", (long long)j + 1,
                            data->feature_names[j], a->schema->feature_names[j]);
    return AML_OK;
}
