/* Writing and reading versioned artifacts. The host builds the manifest (everything but the file
 * list) and hands it to an exporter plugin, which writes the files into a temporary directory;
 * the host then publishes that directory under the next free version number by rename. */
#include "artifact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
    if (st == AML_OK && w.len > AML_ARTIFACT_FILE_MAX) /* never write what the reader refuses */
        st = aml_fail(src->c, AML_ERR_INPUT, "%s: the model blob has %zu bytes, more than the artifact limit of %zu",
                      path, w.len, AML_ARTIFACT_FILE_MAX);
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

/* Removes the .tmp-PID directories under model_dir that a writer killed mid-export left behind.
 * One is stale only when its process is gone (no such pid) and nobody holds its lock (a live
 * writer in another pid namespace sharing the repository holds it): a live export is never
 * touched. Versions themselves are published by one rename, so none is ever half-visible. */
static void remove_stale_tmp(const char *model_dir)
{
    DIR *d = opendir(model_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, ".tmp-", 5) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + 5, &end, 10);
        if (e->d_name[5] < '0' || e->d_name[5] > '9' || *end || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to signal: EPERM means it exists) */
        char *p = aml_xasprintf("%s/%s", model_dir, e->d_name);
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
            remove_tree(p);
        if (fd >= 0)
            close(fd);
        free(p);
    }
    closedir(d);
}

/* fsync a directory so that its entries survive a crash; 0, or -1 with errno. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
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
    int lock_fd = -1;
    aml_status st = aml_mkdirs(c, model_dir);
    if (st != AML_OK)
        goto fail;
    remove_stale_tmp(model_dir);
    for (int attempt = 0; attempt < 100; attempt++) {
        /* The next free version; if another process publishes it first, rename fails and we
         * write again under the following number (the manifest records the version). */
        int version = latest_version(model_dir) + 1;
        cJSON_Delete(manifest);
        free(manifest_text);
        manifest = build_manifest(req, version);
        manifest_text = cJSON_Print(manifest);
        if (strlen(manifest_text) + 4096 > AML_ARTIFACT_MANIFEST_MAX) { /* + the "files" the exporter adds */
            st = aml_fail(c, AML_ERR_INPUT, "%s: the manifest would have %zu bytes, more than the artifact limit of %zu",
                          model_dir, strlen(manifest_text), AML_ARTIFACT_MANIFEST_MAX);
            goto fail;
        }
        blob_source src = {c, req};
        aml_export_input in = {.size = sizeof in,
                               .manifest_json = manifest_text,
                               .write_model_blob = write_model_blob,
                               .sha256_file = sha256_file,
                               .reference_json = req->reference_json,
                               .host_data = &src};
        aml_host_ctx hc;
        aml_host_ctx_init(&hc, 1);
        if (lock_fd >= 0)
            close(lock_fd);
        lock_fd = -1;
        remove_tree(tmp);
        if (mkdir(tmp, 0755) != 0) {
            st = aml_fail(c, AML_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
            goto fail;
        }
        /* Held until the end: tells remove_stale_tmp in another process that this one is live. */
        lock_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lock_fd >= 0)
            flock(lock_fd, LOCK_EX | LOCK_NB);
        st = exp->desc->exporter->export_artifact(aml_host_services(), &hc, &in, tmp);
        if (st != AML_OK) {
            if (hc.msg[0])
                aml_fail(c, st, "exporter %s: %s", exporter_name, hc.msg);
            goto fail;
        }
        free(final);
        final = aml_xasprintf("%s/%d", model_dir, version);
        if (fsync_dir(tmp) != 0) { /* its entries durable before the rename makes it visible */
            st = aml_fail(c, AML_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
            goto fail;
        }
        if (rename(tmp, final) == 0) {
            /* Make the publication durable: fsync the model directory. The version is whole
             * either way; a failure here only means a crash could forget it, and is said. */
            if (fsync_dir(model_dir) != 0) {
                st = aml_fail(c, AML_ERR_IO, "%s: fsync failed: %s (%s was published but may not survive a crash)",
                              model_dir, strerror(errno), final);
                goto done;
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
    if (lock_fd >= 0)
        close(lock_fd);
    cJSON_Delete(manifest);
    free(manifest_text);
    free(final);
    free(tmp);
    free(model_dir);
    return st;
}

/* ---- read ---- */

/* "MAJOR.MINOR", each 1 to 9 decimal digits, nothing else (no sign, space or suffix). */
static int parse_version(const char *s, int *major, int *minor)
{
    int parts[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        int digits = 0;
        for (; *s >= '0' && *s <= '9'; s++, digits++) {
            if (digits == 9)
                return -1;
            parts[i] = parts[i] * 10 + (*s - '0');
        }
        if (digits == 0 || *s != (i == 0 ? '.' : '\0'))
            return -1;
        s++;
    }
    *major = parts[0];
    *minor = parts[1];
    return 0;
}

/* Reads dir/name as an artifact file: a regular file of at most max bytes. */
static aml_status read_member(aml_ctx *c, const char *dir, const char *name, size_t max, char **out,
                              size_t *n)
{
    char *path = aml_xasprintf("%s/%s", dir, name);
    aml_status st = aml_read_regular_file(c, path, max, out, n);
    if (st == AML_ERR_IO)
        st = AML_ERR_FORMAT; /* a listed file that cannot be read: the artifact is incomplete */
    free(path);
    return st;
}

/* manifest.json.sha256 holds "<64 hex>  manifest.json\n" (sha256sum's format). A format 1.1+
 * artifact must have it; a 1.0 one has none. */
static aml_status verify_manifest_sum(aml_ctx *c, const char *dir, const char *text, size_t n,
                                      int major, int minor, int *verified)
{
    char *path = aml_xasprintf("%s/%s", dir, AML_ARTIFACT_MANIFEST_SUM), *sum = NULL;
    size_t len = 0;
    aml_status st = AML_OK;
    struct stat sb;
    *verified = 0;
    if (lstat(path, &sb) != 0 && errno == ENOENT) {
        if (major > 1 || minor >= 1)
            st = aml_fail(c, AML_ERR_FORMAT,
                          "%s: missing (a format %d.%d artifact has one): the artifact is incomplete or "
                          "was modified",
                          path, major, minor);
        goto done;
    }
    if ((st = aml_read_regular_file(c, path, 4096, &sum, &len)) != AML_OK) {
        st = AML_ERR_FORMAT;
        goto done;
    }
    static const char tail[] = "  manifest.json";
    size_t want = 64 + sizeof tail - 1;
    int ok = (len == want || (len == want + 1 && sum[want] == '\n')) && !memcmp(sum + 64, tail, sizeof tail - 1);
    for (int i = 0; ok && i < 64; i++)
        ok = (sum[i] >= '0' && sum[i] <= '9') || (sum[i] >= 'a' && sum[i] <= 'f');
    if (!ok) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: expected \"<64 hex digits>  manifest.json\" (sha256sum's format)",
                      path);
        goto done;
    }
    char hex[65];
    aml_sha256_hex(text, n, hex);
    if (memcmp(hex, sum, 64) != 0) {
        st = aml_fail(c, AML_ERR_FORMAT,
                      "%s/manifest.json: checksum mismatch (%s has %.12s..., file has %.12s...): the "
                      "manifest is corrupt or was modified",
                      dir, AML_ARTIFACT_MANIFEST_SUM, sum, hex);
        goto done;
    }
    *verified = 1;
done:
    free(sum);
    free(path);
    return st;
}

/* Checks every file the manifest lists against its sha256, reading each once (a regular file within
 * AML_ARTIFACT_FILE_MAX); the model blob's bytes, which must be among them, go to *blob. */
static aml_status verify_files(aml_ctx *c, const char *dir, const cJSON *files, const char *blob_name,
                               char **blob, size_t *blob_len, char **reference)
{
    if (!cJSON_IsObject(files) || !files->child)
        return aml_fail(c, AML_ERR_FORMAT, "%s/manifest.json: no \"files\" with checksums", dir);
    const cJSON *f;
    int count = 0;
    aml_status st = AML_OK;
    cJSON_ArrayForEach(f, files)
    {
        const cJSON *sum = cJSON_GetObjectItemCaseSensitive(f, "sha256");
        const char *name = f->string;
        int dup = 0;
        for (const cJSON *g = files->child; g != f && !dup; g = g->next)
            dup = !strcmp(g->string, name);
        if (++count > AML_ARTIFACT_MAX_FILES)
            return aml_fail(c, AML_ERR_FORMAT, "%s/manifest.json: files: more than %d entries", dir,
                            AML_ARTIFACT_MAX_FILES);
        if (!cJSON_IsString(sum) || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
            !strcmp(name, "manifest.json") || !strcmp(name, AML_ARTIFACT_MANIFEST_SUM) || dup)
            return aml_fail(c, AML_ERR_FORMAT,
                            "%s/manifest.json: files.%s: expected a file name, once, with {\"sha256\": ...}",
                            dir, name);
        char *data = NULL, hex[65];
        size_t n = 0;
        if ((st = read_member(c, dir, name, AML_ARTIFACT_FILE_MAX, &data, &n)) != AML_OK)
            return st;
        aml_sha256_hex(data, n, hex);
        if (strcmp(hex, sum->valuestring) != 0) {
            free(data);
            return aml_fail(c, AML_ERR_FORMAT,
                            "%s/%s: checksum mismatch (manifest has %.12s..., file has %.12s...): the "
                            "artifact is corrupt or was modified",
                            dir, name, sum->valuestring, hex);
        }
        if (!strcmp(name, blob_name) && !*blob) {
            *blob = data;
            *blob_len = n;
        } else if (!strcmp(name, "reference.json") && !*reference) {
            *reference = data;
        } else {
            free(data);
        }
    }
    if (!*blob)
        return aml_fail(c, AML_ERR_FORMAT, "%s/manifest.json: files: the model blob '%s' is not listed", dir,
                        blob_name);
    /* Readers (automld's drift gauges) take reference.json from here, checked; one the manifest
     * does not list is not a file of this artifact but a stranger, maybe a FIFO: refused. */
    char *ref_path = aml_xasprintf("%s/reference.json", dir);
    struct stat sb;
    int stranger = !*reference && lstat(ref_path, &sb) == 0;
    free(ref_path);
    if (stranger)
        return aml_fail(c, AML_ERR_FORMAT,
                        "%s/reference.json: not listed in the manifest's files, so not covered by a checksum", dir);
    return AML_OK;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The first name that occurs twice among n, or NULL (sorted copy: n log n). */
static const char *duplicate_name(char **names, int64_t n)
{
    char **sorted = aml_xmalloc(sizeof(char *) * (size_t)(n + 1));
    memcpy(sorted, names, sizeof(char *) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(char *), cmp_name);
    const char *dup = NULL;
    for (int64_t i = 1; i < n && !dup; i++)
        if (!strcmp(sorted[i - 1], sorted[i]))
            dup = sorted[i];
    free(sorted);
    return dup;
}

/* A malloc'd copy of an array of strings (n entries + a NULL), or NULL when arr is not an array of
 * strings. Walks the list once: cJSON_GetArrayItem would make it quadratic. */
static char **strings_of(const cJSON *arr, int *n)
{
    if (!cJSON_IsArray(arr))
        return NULL;
    int count = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, arr)
    {
        if (!cJSON_IsString(s))
            return NULL;
        count++;
    }
    char **out = aml_xcalloc((size_t)count + 1, sizeof(char *));
    int k = 0;
    cJSON_ArrayForEach(s, arr)
        out[k++] = aml_xstrdup(s->valuestring);
    *n = count;
    return out;
}

/* The manifest's input signature, task and classes as a schema (no rows), each checked against
 * the model blob m: the blob is checksummed and is what predicts, so the manifest must agree with
 * it or the artifact is refused. path names manifest.json in messages. */
static aml_status schema_from_manifest(aml_ctx *c, const char *path, const cJSON *manifest,
                                       const aml_fitted *m, aml_dataset **out)
{
    aml_dataset *d = NULL;
    aml_status st = AML_ERR_FORMAT;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(manifest, "input");
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(input, "features");
    const cJSON *declared = cJSON_GetObjectItemCaseSensitive(input, "n_features");
    if (!cJSON_IsArray(features))
        return aml_fail(c, st, "%s: input.features: expected an array", path);
    int64_t nf = cJSON_GetArraySize(features);
    if (nf != m->task.n_features)
        return aml_fail(c, st, "%s: input.features: lists %lld features, the model blob has %lld", path,
                        (long long)nf, (long long)m->task.n_features);
    if (declared && (!cJSON_IsNumber(declared) || declared->valuedouble != (double)nf))
        return aml_fail(c, st, "%s: input.n_features: expected %lld (the features listed)", path, (long long)nf);
    d = aml_dataset_alloc(0, nf);
    int64_t j = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, features)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
        const cJSON *levels = cJSON_GetObjectItemCaseSensitive(f, "categories");
        int categorical = cJSON_IsString(type) && !strcmp(type->valuestring, "categorical");
        if (!cJSON_IsString(name) || !*name->valuestring) {
            aml_fail(c, st, "%s: input.features[%lld].name: expected a non-empty string", path, (long long)j);
            goto fail;
        }
        if (!categorical && !(cJSON_IsString(type) && !strcmp(type->valuestring, "numeric"))) {
            aml_fail(c, st, "%s: input.features[%lld] ('%s').type: expected \"numeric\" or \"categorical\"", path,
                     (long long)j, name->valuestring);
            goto fail;
        }
        int blob_categorical = m->task.categorical && m->task.categorical[j];
        if (categorical != blob_categorical) {
            aml_fail(c, st, "%s: input.features[%lld] ('%s').type: \"%s\", the model blob has it %s", path,
                     (long long)j, name->valuestring, type->valuestring,
                     blob_categorical ? "categorical" : "numeric");
            goto fail;
        }
        free(d->feature_names[j]);
        d->feature_names[j] = aml_xstrdup(name->valuestring);
        d->categorical[j] = (uint8_t)categorical;
        if (levels) {
            int nl = 0;
            char **copy = categorical ? strings_of(levels, &nl) : NULL;
            if (!copy) {
                aml_fail(c, st, "%s: input.features[%lld] ('%s').categories: expected %s", path, (long long)j,
                         name->valuestring, categorical ? "an array of strings" : "none on a numeric feature");
                goto fail;
            }
            if (nl > 0) {
                d->categories[j] = copy;
                d->n_categories[j] = nl;
            } else {
                free(copy);
            }
        }
        j++;
    }
    const char *dup = duplicate_name(d->feature_names, nf);
    if (dup) {
        aml_fail(c, st, "%s: input.features: the name '%s' occurs twice", path, dup);
        goto fail;
    }
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(manifest, "task");
    int kind = !cJSON_IsString(task)                          ? 0
               : !strcmp(task->valuestring, "classification") ? AML_TASK_CLASSIFICATION
               : !strcmp(task->valuestring, "regression")     ? AML_TASK_REGRESSION
                                                              : 0;
    if (!kind) {
        aml_fail(c, st, "%s: task: expected \"classification\" or \"regression\"", path);
        goto fail;
    }
    if (kind != (int)m->task.kind) {
        aml_fail(c, st, "%s: task: \"%s\", the model blob is a %s model", path, task->valuestring,
                 aml_dataset_task_name((int)m->task.kind));
        goto fail;
    }
    d->task = (aml_task_kind)kind;
    if (kind == AML_TASK_CLASSIFICATION) {
        int nc = 0;
        d->class_names = strings_of(cJSON_GetObjectItemCaseSensitive(manifest, "classes"), &nc);
        if (!d->class_names) {
            aml_fail(c, st, "%s: classes: expected an array of %d class labels (strings)", path, m->n_outputs);
            goto fail;
        }
        d->n_classes = nc;
        if (nc != m->n_outputs) {
            aml_fail(c, st, "%s: classes: lists %d classes, the model blob has %d", path, nc, m->n_outputs);
            goto fail;
        }
    }
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(manifest, "target");
    if (cJSON_IsString(target)) {
        free(d->target_name);
        d->target_name = aml_xstrdup(target->valuestring);
    }
    *out = d;
    return AML_OK;
fail:
    aml_dataset_free(d);
    return st;
}

/* model.plugin must name the plugin the blob loads ("ensemble" for an ensemble). */
static aml_status check_model_plugin(aml_ctx *c, const char *path, const cJSON *model, const aml_fitted *m)
{
    const cJSON *plugin = cJSON_GetObjectItemCaseSensitive(model, "plugin");
    const char *want = m->n_members > 0 ? AML_ENSEMBLE_NAME : m->plugin->desc->name;
    if (!cJSON_IsString(plugin) || strcmp(plugin->valuestring, want) != 0)
        return aml_fail(c, AML_ERR_FORMAT, "%s: model.plugin: expected \"%s\" (the model blob's)", path, want);
    return AML_OK;
}

aml_status aml_artifact_open(aml_ctx *c, aml_registry *reg, const char *dir, aml_artifact *out)
{
    aml_artifact a = {.dir = aml_xstrdup(dir)};
    char *path = aml_xasprintf("%s/manifest.json", dir), *text = NULL, *blob = NULL, *blob_path = NULL;
    size_t n = 0, blob_len = 0;
    struct stat st_dir;
    aml_status st;
    int major = 0, minor = 0;
    if (stat(dir, &st_dir) != 0 || !S_ISDIR(st_dir.st_mode)) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: not an artifact directory", dir);
        goto fail;
    }
    if (lstat(path, &st_dir) != 0) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: not an artifact: no readable manifest.json", dir);
        goto fail;
    }
    if ((st = aml_read_regular_file(c, path, AML_ARTIFACT_MANIFEST_MAX, &text, &n)) != AML_OK) {
        st = AML_ERR_FORMAT;
        goto fail;
    }
    /* The length includes the NUL: cJSON then refuses anything after the value. */
    a.manifest = memchr(text, 0, n) ? NULL : cJSON_ParseWithLengthOpts(text, n + 1, NULL, 1);
    if (!cJSON_IsObject(a.manifest)) {
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
    if (parse_version(fv->valuestring, &major, &minor) != 0 || major < 1) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: format_version: expected \"MAJOR.MINOR\" (e.g. \"%d.%d\"), got \"%.40s\"",
                      path, AML_ARTIFACT_FORMAT_MAJOR, AML_ARTIFACT_FORMAT_MINOR, fv->valuestring);
        goto fail;
    }
    /* Before the checksum: a newer major may cover its manifest differently. */
    if (major > AML_ARTIFACT_FORMAT_MAJOR) {
        st = aml_fail(c, AML_ERR_FORMAT,
                      "%s: artifact format %s is newer than this automl reads (%d.x); upgrade automl",
                      path, fv->valuestring, AML_ARTIFACT_FORMAT_MAJOR);
        goto fail;
    }
    if ((st = verify_manifest_sum(c, dir, text, n, major, minor, &a.manifest_verified)) != AML_OK)
        goto fail;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(a.manifest, "model");
    const cJSON *blob_name = cJSON_GetObjectItemCaseSensitive(model, "blob");
    if (!cJSON_IsString(blob_name) || !*blob_name->valuestring || strchr(blob_name->valuestring, '/')) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: model.blob: expected a file name", path);
        goto fail;
    }
    st = verify_files(c, dir, cJSON_GetObjectItemCaseSensitive(a.manifest, "files"), blob_name->valuestring,
                      &blob, &blob_len, &a.reference_json);
    if (st != AML_OK)
        goto fail;
    blob_path = aml_xasprintf("%s/%s", dir, blob_name->valuestring);
    if ((st = aml_model_blob_read(c, reg, blob_path, blob, blob_len, &a.model, &a.cfg)) != AML_OK)
        goto fail;
    if ((st = check_model_plugin(c, path, model, &a.model)) != AML_OK ||
        (st = schema_from_manifest(c, path, a.manifest, &a.model, &a.schema)) != AML_OK)
        goto fail;
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
    free(a->reference_json);
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
