/* The models config (REPO/automld.json or --config): per model a version policy (latest n, all,
 * specific versions) and labels such as stable and canary. Read at start and whenever the file
 * changes; a bad file is reported with the field and the previous config stays in force. */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *amld_policy_name(amld_policy_kind k)
{
    return k == AMLD_ALL ? "all" : k == AMLD_SPECIFIC ? "specific" : "latest";
}

static int as_version(const cJSON *v)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valuedouble < 1)
        return -1;
    return (int)v->valuedouble;
}

static aml_status parse_model(aml_ctx *c, const char *path, const cJSON *m, amld_model_policy *p)
{
    const char *name = m->string;
    if (!amld_valid_name(name))
        return aml_fail(c, AML_ERR_INPUT, "%s: models.%s: not a model name (letters, digits, '_', '-', '.')",
                        path, name);
    p->model = aml_xstrdup(name);
    p->kind = AMLD_LATEST;
    p->n = 1;
    if (!cJSON_IsObject(m))
        return aml_fail(c, AML_ERR_INPUT, "%s: models.%s: expected an object", path, name);
    const cJSON *f;
    cJSON_ArrayForEach(f, m)
    {
        if (!strcmp(f->string, "policy")) {
            if (!cJSON_IsString(f))
                return aml_fail(c, AML_ERR_INPUT, "%s: models.%s.policy: expected a string", path, name);
            if (!strcmp(f->valuestring, "latest"))
                p->kind = AMLD_LATEST;
            else if (!strcmp(f->valuestring, "all"))
                p->kind = AMLD_ALL;
            else if (!strcmp(f->valuestring, "specific"))
                p->kind = AMLD_SPECIFIC;
            else
                return aml_fail(c, AML_ERR_INPUT,
                                "%s: models.%s.policy: expected \"latest\", \"all\" or \"specific\", got \"%s\"",
                                path, name, f->valuestring);
        } else if (!strcmp(f->string, "n")) {
            if ((p->n = as_version(f)) < 1)
                return aml_fail(c, AML_ERR_INPUT, "%s: models.%s.n: expected an integer >= 1", path, name);
        } else if (!strcmp(f->string, "versions")) {
            int nv = cJSON_GetArraySize(f);
            if (!cJSON_IsArray(f) || nv == 0)
                return aml_fail(c, AML_ERR_INPUT, "%s: models.%s.versions: expected a list of versions", path, name);
            p->versions = aml_xcalloc((size_t)nv, sizeof(int));
            const cJSON *v;
            cJSON_ArrayForEach(v, f)
            {
                if ((p->versions[p->n_versions] = as_version(v)) < 1)
                    return aml_fail(c, AML_ERR_INPUT, "%s: models.%s.versions[%d]: expected an integer >= 1",
                                    path, name, p->n_versions);
                p->n_versions++;
            }
        } else if (!strcmp(f->string, "labels")) {
            if (!cJSON_IsObject(f))
                return aml_fail(c, AML_ERR_INPUT, "%s: models.%s.labels: expected an object {\"stable\": 1, ...}",
                                path, name);
            int nl = cJSON_GetArraySize(f);
            p->labels = aml_xcalloc((size_t)nl + 1, sizeof(amld_label));
            const cJSON *l;
            cJSON_ArrayForEach(l, f)
            {
                amld_label *lab = &p->labels[p->n_labels];
                if (!amld_valid_name(l->string))
                    return aml_fail(c, AML_ERR_INPUT, "%s: models.%s.labels: '%s' is not a label name", path,
                                    name, l->string);
                if ((lab->version = as_version(l)) < 1)
                    return aml_fail(c, AML_ERR_INPUT, "%s: models.%s.labels.%s: expected a version >= 1", path,
                                    name, l->string);
                lab->name = aml_xstrdup(l->string);
                p->n_labels++;
            }
        } else {
            return aml_fail(c, AML_ERR_INPUT,
                            "%s: models.%s: unknown field \"%s\" (expected policy, n, versions, labels)", path,
                            name, f->string);
        }
    }
    if (p->kind == AMLD_SPECIFIC && p->n_versions == 0)
        return aml_fail(c, AML_ERR_INPUT, "%s: models.%s: policy \"specific\" needs \"versions\": [...]", path, name);
    return AML_OK;
}

aml_status amld_read_regular_file(aml_ctx *c, const char *path, size_t max, char **text, size_t *n)
{
    *text = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return AML_OK;
    return aml_read_regular_file(c, path, max, text, n);
}

aml_status amld_config_load(aml_ctx *c, const char *path, int must_exist, amld_config *out)
{
    char *text = NULL;
    size_t n = 0;
    amld_config cfg = {0};
    cJSON *root = NULL;
    /* A regular file (a FIFO would block the watcher) of at most 1 MiB. */
    aml_status st = amld_read_regular_file(c, path, 1 << 20, &text, &n);
    if (st != AML_OK)
        goto fail;
    if (!text && !must_exist) {
        *out = cfg;
        return AML_OK;
    }
    if (!text) {
        st = aml_fail(c, AML_ERR_IO, "%s: cannot open: %s", path, strerror(ENOENT));
        goto fail;
    }
    root = cJSON_ParseWithLength(text, n);
    if (!root || !cJSON_IsObject(root)) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: not a JSON object", path);
        goto fail;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, root)
    {
        if (strcmp(f->string, "models") != 0) {
            st = aml_fail(c, AML_ERR_INPUT, "%s: unknown field \"%s\" (expected \"models\")", path, f->string);
            goto fail;
        }
    }
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (models && !cJSON_IsObject(models)) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: models: expected an object keyed by model name", path);
        goto fail;
    }
    int nm = cJSON_GetArraySize(models);
    cfg.models = aml_xcalloc((size_t)nm + 1, sizeof(amld_model_policy));
    const cJSON *m;
    cJSON_ArrayForEach(m, models)
    {
        st = parse_model(c, path, m, &cfg.models[cfg.n_models]);
        cfg.n_models++;
        if (st != AML_OK)
            goto fail;
    }
    cJSON_Delete(root);
    free(text);
    *out = cfg;
    return AML_OK;
fail:
    cJSON_Delete(root);
    free(text);
    amld_config_free(&cfg);
    return st;
}

void amld_config_free(amld_config *cfg)
{
    for (int i = 0; i < cfg->n_models; i++) {
        amld_model_policy *p = &cfg->models[i];
        free(p->model);
        free(p->versions);
        for (int k = 0; k < p->n_labels; k++)
            free(p->labels[k].name);
        free(p->labels);
    }
    free(cfg->models);
    memset(cfg, 0, sizeof *cfg);
}

amld_model_policy amld_config_policy(const amld_config *cfg, const char *model)
{
    for (int i = 0; i < cfg->n_models; i++)
        if (!strcmp(cfg->models[i].model, model))
            return cfg->models[i];
    amld_model_policy dflt = {.kind = AMLD_LATEST, .n = 1};
    return dflt;
}
