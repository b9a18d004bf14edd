/* The trial journal: append-only JSON lines, each written with one write() and fsynced, read
 * back on --resume with a torn final line (from kill -9 mid-write) cut off. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *status_name(aml_trial_status s)
{
    return s == AML_TRIAL_OK ? "ok" : s == AML_TRIAL_FAILED ? "failed" : "cancelled";
}

static aml_status parse_line(aml_ctx *c, const char *path, int64_t line_no, const char *line,
                             const aml_registry *reg, const char *fingerprint, aml_trial *t)
{
    memset(t, 0, sizeof *t);
    cJSON *o = cJSON_Parse(line);
    aml_status st = AML_ERR_FORMAT;
    if (!o)
        return aml_fail(c, AML_ERR_FORMAT, "%s:%lld: not valid JSON", path, (long long)line_no);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "trial");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fingerprint");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (!cJSON_IsNumber(id) || !cJSON_IsString(model) || !cJSON_IsObject(params) ||
        !cJSON_IsString(status) || !cJSON_IsString(fp) || !cJSON_IsString(seed)) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s:%lld: expected fields trial, model, params, status, seed, fingerprint",
                      path, (long long)line_no);
        goto done;
    }
    if (strcmp(fp->valuestring, fingerprint) != 0) {
        st = aml_fail(c, AML_ERR_INPUT,
                      "%s:%lld: the journal belongs to another dataset (fingerprint %.12s..., this data has "
                      "%.12s...); use a new --out",
                      path, (long long)line_no, fp->valuestring, fingerprint);
        goto done;
    }
    const aml_plugin *p = aml_registry_find(reg, AML_PLUGIN_MODEL, model->valuestring);
    if (!p) {
        st = aml_fail(c, AML_ERR_INPUT, "%s:%lld: model plugin '%s' is not installed", path,
                      (long long)line_no, model->valuestring);
        goto done;
    }
    if ((st = aml_config_from_json(c, &t->cfg, p, params)) != AML_OK) {
        aml_errprefix(c, "%s:%lld", path, (long long)line_no);
        goto done;
    }
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(o, "pipeline_choice");
    t->cfg.pipeline = cJSON_IsNumber(choice) && choice->valuedouble >= 0 ? (int)choice->valuedouble : 0;
    t->id = (int64_t)id->valuedouble;
    t->seed = strtoull(seed->valuestring, NULL, 10);
    t->status = !strcmp(status->valuestring, "ok") ? AML_TRIAL_OK : AML_TRIAL_FAILED;
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(o, "score");
    t->score = cJSON_IsNumber(score) ? score->valuedouble : NAN;
    const cJSON *folds = cJSON_GetObjectItemCaseSensitive(o, "fold_scores");
    t->n_folds = cJSON_GetArraySize(folds);
    t->fold_scores = aml_xcalloc((size_t)t->n_folds + 1, sizeof(double));
    for (int k = 0; k < t->n_folds; k++) {
        const cJSON *v = cJSON_GetArrayItem(folds, k);
        t->fold_scores[k] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(o, "seconds");
    const cJSON *fit = cJSON_GetObjectItemCaseSensitive(o, "fit_seconds");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    t->seconds = cJSON_IsNumber(secs) ? secs->valuedouble : 0;
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "finished_at");
    t->finished_at = cJSON_IsNumber(at) ? at->valuedouble : 0;
    t->fit_seconds = cJSON_IsNumber(fit) ? fit->valuedouble : 0;
    t->error = cJSON_IsString(err) ? aml_xstrdup(err->valuestring) : NULL;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "resource");
    t->resource = cJSON_IsNumber(res) && res->valuedouble > 0 && res->valuedouble <= 1 ? res->valuedouble : 1;
    const cJSON *used = cJSON_GetObjectItemCaseSensitive(o, "used_resource");
    t->used_resource = cJSON_IsNumber(used) && used->valuedouble > 0 && used->valuedouble <= 1 ? used->valuedouble : 1;
    t->resumed = 1;
    st = AML_OK;
done:
    cJSON_Delete(o);
    if (st != AML_OK)
        aml_trial_clear(t);
    return st;
}

static aml_status read_journal(aml_ctx *c, const char *path, int fd, const aml_registry *reg,
                               const char *fingerprint, aml_trial **trials, int64_t *n_trials)
{
    char *text = NULL;
    size_t n = 0;
    aml_status st = aml_read_file(c, path, &text, &n);
    if (st != AML_OK)
        return st;
    aml_trial *list = NULL;
    int64_t count = 0, line_no = 0;
    size_t good_end = 0;
    for (size_t pos = 0; pos < n;) {
        char *nl = memchr(text + pos, '\n', n - pos);
        line_no++;
        if (!nl)
            break; /* torn last line: cut below */
        *nl = 0;
        if (nl > text + pos) {
            list = aml_xrealloc(list, sizeof(aml_trial) * (size_t)(count + 1));
            st = parse_line(c, path, line_no, text + pos, reg, fingerprint, &list[count]);
            if (st != AML_OK)
                goto fail;
            count++;
        }
        pos = (size_t)(nl - text) + 1;
        good_end = pos;
    }
    if (good_end < n && ftruncate(fd, (off_t)good_end) != 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: cannot cut the torn last line: %s", path, strerror(errno));
        goto fail;
    }
    free(text);
    *trials = list;
    *n_trials = count;
    return AML_OK;
fail:
    for (int64_t i = 0; i < count; i++)
        aml_trial_clear(&list[i]);
    free(list);
    free(text);
    return st;
}

aml_status aml_journal_open(aml_ctx *c, const char *path, int resume, const aml_registry *reg,
                            const char *fingerprint, aml_trial **trials, int64_t *n_trials,
                            aml_journal *out)
{
    *trials = NULL;
    *n_trials = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return aml_fail(c, AML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    off_t size = lseek(fd, 0, SEEK_END);
    if (size > 0 && !resume) {
        close(fd);
        return aml_fail(c, AML_ERR_INPUT,
                        "%s: a journal of an earlier search is there; pass --resume to continue it or "
                        "choose another --out",
                        path);
    }
    if (size > 0) {
        aml_status st = read_journal(c, path, fd, reg, fingerprint, trials, n_trials);
        if (st != AML_OK) {
            close(fd);
            return st;
        }
    }
    out->fd = fd;
    out->path = aml_xstrdup(path);
    out->broken = 0;
    return AML_OK;
}

aml_status aml_journal_append(aml_ctx *c, aml_journal *j, const aml_trial *t, const char *metric,
                              const char *fingerprint)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "trial", (double)t->id);
    cJSON_AddStringToObject(o, "model", t->cfg.plugin->desc->name);
    cJSON_AddItemToObject(o, "params", aml_config_to_json(&t->cfg));
    if (t->cfg.pipeline > 0)
        cJSON_AddNumberToObject(o, "pipeline_choice", t->cfg.pipeline);
    if (t->cfg.n_steps > 0) {
        cJSON *steps = cJSON_AddArrayToObject(o, "pipeline");
        for (int i = 0; i < t->cfg.n_steps; i++)
            cJSON_AddItemToArray(steps, cJSON_CreateString(t->cfg.steps[i]->desc->name));
    }
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->seed);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "status", status_name(t->status));
    cJSON_AddStringToObject(o, "metric", metric);
    if (t->status == AML_TRIAL_OK) {
        /* exact scores, so that a resumed search ranks exactly as the first one did */
        cJSON_AddItemToObject(o, "score", aml_json_exact(t->score));
        cJSON *folds = cJSON_CreateArray();
        for (int k = 0; k < t->n_folds; k++)
            cJSON_AddItemToArray(folds, aml_json_exact(t->fold_scores[k]));
        cJSON_AddItemToObject(o, "fold_scores", folds);
    } else {
        cJSON_AddStringToObject(o, "error", t->error ? t->error : "");
    }
    cJSON_AddNumberToObject(o, "resource", t->resource);
    if (t->status == AML_TRIAL_OK && t->used_resource > 0 && t->used_resource < 1) /* exact: the refit's */
        cJSON_AddItemToObject(o, "used_resource", aml_json_exact(t->used_resource));
    cJSON_AddNumberToObject(o, "seconds", t->seconds);
    cJSON_AddNumberToObject(o, "finished_at", t->finished_at);
    cJSON_AddNumberToObject(o, "fit_seconds", t->fit_seconds);
    cJSON_AddStringToObject(o, "fingerprint", fingerprint);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL: one write() per line */
    aml_status st = AML_OK;
    if (j->broken) {
        st = aml_fail(c, AML_ERR_IO, "%s: not written: an earlier write left the journal's end damaged", j->path);
        goto done;
    }
    off_t end = lseek(j->fd, 0, SEEK_END); /* appends are serialised by the caller */
    errno = 0;
    ssize_t w = write(j->fd, line, n + 1);
    if (w != (ssize_t)(n + 1)) {
        int err = w < 0 ? errno : 0;
        /* A short write (a full disk, a file size limit) leaves half a line: cut it, so that the
         * journal ends with a whole line and --resume reads every trial written before. */
        if (w > 0 && (end < 0 || ftruncate(j->fd, end) != 0))
            j->broken = 1; /* --resume cuts a torn last line; a line after it would be lost */
        if (err)
            st = aml_fail(c, AML_ERR_IO, "%s: write failed: %s", j->path, strerror(err));
        else
            st = aml_fail(c, AML_ERR_IO, "%s: write failed: short write, %zd of %zu bytes (disk full?)", j->path,
                          w, n + 1);
    }
done:
    free(line);
    return st;
}

aml_status aml_journal_sync(aml_ctx *c, aml_journal *j)
{
    if (fdatasync(j->fd) != 0)
        return aml_fail(c, AML_ERR_IO, "%s: fsync failed: %s", j->path, strerror(errno));
    return AML_OK;
}

void aml_journal_close(aml_journal *j)
{
    if (!j || !j->path)
        return;
    close(j->fd);
    free(j->path);
    memset(j, 0, sizeof *j);
}
