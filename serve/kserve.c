/* The Open Inference Protocol (KServe v2) over REST: health, server and model metadata, model
 * readiness and inference with one input per feature or one [n, d] tensor; outputs `label` and
 * `probabilities` formatted with %.17g so they equal `automl predict` to the last digit. */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void amld_reply_error(amld_reply *r, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->code = code;
    r->body.len = 0;
    amld_buf_puts(&r->body, "{\"error\": ");
    amld_buf_json_string(&r->body, msg);
    amld_buf_puts(&r->body, "}");
}

int amld_valid_name(const char *name)
{
    if (!name || !*name || name[0] == '.' || strlen(name) > 100)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

amld_version *amld_resolve(amld_server *s, const char *model, amld_selector sel, amld_reply *r)
{
    char err[512];
    amld_version *v = NULL;
    int known = 0;
    int code = amld_registry_get(s->reg, model, sel, &v, &known, err, sizeof err);
    if (known)
        snprintf(r->model, sizeof r->model, "%s", model);
    if (code) {
        amld_reply_error(r, code, "%s", err);
        return NULL;
    }
    r->version = v->version;
    return v;
}

static void server_metadata(amld_reply *r)
{
    r->code = 200;
    amld_buf_puts(&r->body, "{\"name\": \"automld\", \"version\": \"" AML_VERSION "\", \"extensions\": []}");
}

static void model_metadata(amld_server *s, amld_version *v, int only_this, amld_reply *r)
{
    const aml_dataset *sc = v->art.schema;
    amld_buf *b = &r->body;
    amld_buf_puts(b, "{\"name\": ");
    amld_buf_json_string(b, v->model);
    amld_buf_puts(b, ", \"versions\": [");
    amld_version **all = NULL;
    int n = only_this ? -1 : amld_registry_versions(s->reg, v->model, &all, NULL, NULL);
    if (n < 0)
        amld_buf_printf(b, "\"%d\"", v->version);
    for (int i = 0; i < n; i++)
        amld_buf_printf(b, "%s\"%d\"", i ? ", " : "", all[i]->version);
    if (n >= 0)
        amld_versions_release(all, n);
    char platform[160];
    snprintf(platform, sizeof platform, "automl_%s", amld_model_kind(&v->art.model));
    amld_buf_puts(b, "], \"platform\": ");
    amld_buf_json_string(b, platform);
    amld_buf_puts(b, ", \"inputs\": [");
    for (int64_t j = 0; j < sc->n_features; j++) {
        amld_buf_puts(b, j ? ", {\"name\": " : "{\"name\": ");
        amld_buf_json_string(b, sc->feature_names[j]);
        if (sc->categorical[j]) {
            amld_buf_puts(b, ", \"datatype\": \"BYTES\", \"shape\": [-1], \"parameters\": {\"categories\": [");
            for (int k = 0; k < sc->n_categories[j]; k++) {
                if (k)
                    amld_buf_puts(b, ", ");
                amld_buf_json_string(b, sc->categories[j][k]);
            }
            amld_buf_puts(b, "]}}");
        } else {
            amld_buf_puts(b, ", \"datatype\": \"FP32\", \"shape\": [-1]}");
        }
    }
    if (sc->task == AML_TASK_CLASSIFICATION) {
        amld_buf_printf(b,
                        "], \"outputs\": [{\"name\": \"label\", \"datatype\": \"BYTES\", \"shape\": [-1]}, "
                        "{\"name\": \"probabilities\", \"datatype\": \"FP64\", \"shape\": [-1, %d]}], "
                        "\"parameters\": {\"task\": \"classification\", \"classes\": [",
                        sc->n_classes);
        for (int k = 0; k < sc->n_classes; k++) {
            if (k)
                amld_buf_puts(b, ", ");
            amld_buf_json_string(b, sc->class_names[k]);
        }
        amld_buf_puts(b, "]");
    } else {
        amld_buf_puts(b, "], \"outputs\": [{\"name\": \"label\", \"datatype\": \"FP64\", \"shape\": [-1]}], "
                         "\"parameters\": {\"task\": \"regression\"");
    }
    amld_buf_printf(b, ", \"n_features\": %lld, \"tensor_input\": {\"datatype\": \"FP32\", \"shape\": [-1, %lld]}}}",
                    (long long)sc->n_features, (long long)sc->n_features);
    r->code = 200;
}

/* Which outputs the request asks for (default: all the model has). */
static int requested_outputs(const cJSON *outputs, int classify, int *want_label, int *want_proba, amld_reply *r)
{
    *want_label = 1;
    *want_proba = classify;
    if (!outputs)
        return 0;
    if (!cJSON_IsArray(outputs)) {
        amld_reply_error(r, 400, "\"outputs\": expected a list of {\"name\": ...}");
        return 400;
    }
    *want_label = *want_proba = 0;
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, outputs)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        if (cJSON_IsString(name) && !strcmp(name->valuestring, "label"))
            *want_label = 1;
        else if (cJSON_IsString(name) && classify && !strcmp(name->valuestring, "probabilities"))
            *want_proba = 1;
        else {
            amld_reply_error(r, 400, "outputs[%d]: unknown output %s%.64s%s (this model has %s)", i,
                             cJSON_IsString(name) ? "'" : "", cJSON_IsString(name) ? name->valuestring : "without a name",
                             cJSON_IsString(name) ? "'" : "", classify ? "label, probabilities" : "label");
            return 400;
        }
        i++;
    }
    return 0;
}

static void infer(amld_server *s, amld_version *v, const char *body, size_t len, amld_reply *r)
{
    const aml_dataset *sc = v->art.schema;
    int classify = sc->task == AML_TASK_CLASSIFICATION;
    int k = v->art.model.n_outputs;
    char err[512];
    amld_rows rows = {0};
    double *pred = NULL;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        amld_reply_error(r, 400, "request body is not a JSON object%s", len ? "" : " (empty body)");
        goto done;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id && !cJSON_IsString(id)) {
        amld_reply_error(r, 400, "\"id\": expected a string");
        goto done;
    }
    int want_label, want_proba;
    if (requested_outputs(cJSON_GetObjectItemCaseSensitive(root, "outputs"), classify, &want_label, &want_proba, r))
        goto done;
    int code = amld_decode_kserve_inputs(cJSON_GetObjectItemCaseSensitive(root, "inputs"), sc, s->opt->max_rows,
                                         &rows, err, sizeof err);
    if (code || (code = amld_predict(v, &rows, &pred, err, sizeof err)) != 0) {
        amld_reply_error(r, code, "%s", err);
        goto done;
    }
    r->rows = rows.n;
    amld_buf *b = &r->body;
    amld_buf_puts(b, "{\"model_name\": ");
    amld_buf_json_string(b, v->model);
    amld_buf_printf(b, ", \"model_version\": \"%d\"", v->version);
    if (id) {
        amld_buf_puts(b, ", \"id\": ");
        amld_buf_json_string(b, id->valuestring);
    }
    amld_buf_puts(b, ", \"outputs\": [");
    if (want_label) {
        amld_buf_printf(b, "{\"name\": \"label\", \"datatype\": \"%s\", \"shape\": [%lld], \"data\": [",
                        classify ? "BYTES" : "FP64", (long long)rows.n);
        for (int64_t i = 0; i < rows.n; i++) {
            if (i)
                amld_buf_puts(b, ", ");
            if (classify)
                amld_buf_json_string(b, amld_class_name(sc, pred + i * k, k));
            else
                amld_buf_json_double(b, pred[i]);
        }
        amld_buf_puts(b, "]}");
    }
    if (want_proba) {
        amld_buf_printf(b, "%s{\"name\": \"probabilities\", \"datatype\": \"FP64\", \"shape\": [%lld, %d], \"data\": [",
                        want_label ? ", " : "", (long long)rows.n, k);
        for (int64_t i = 0; i < rows.n * k; i++) {
            if (i)
                amld_buf_puts(b, ", ");
            amld_buf_json_double(b, pred[i]);
        }
        amld_buf_puts(b, "]}");
    }
    amld_buf_puts(b, "]}");
    r->code = 200;
done:
    cJSON_Delete(root);
    free(rows.X);
    free(pred);
}

static int method_is(const char *method, const char *want, amld_reply *r, const char *path)
{
    if (!strcmp(method, want))
        return 1;
    amld_reply_error(r, 405, "%s %s: method not allowed (use %s)", method, path, want);
    return 0;
}

void amld_kserve_handle(amld_server *s, const char *method, const char *path, const char *body, size_t body_len,
                        amld_reply *r)
{
    if (!strcmp(path, "/v2") || !strcmp(path, "/v2/")) {
        if (method_is(method, "GET", r, path))
            server_metadata(r);
        return;
    }
    if (!strcmp(path, "/v2/health/live")) {
        if (method_is(method, "GET", r, path))
            r->code = 200;
        return;
    }
    if (!strcmp(path, "/v2/health/ready")) {
        if (!method_is(method, "GET", r, path))
            return;
        if (amld_registry_ready(s->reg))
            r->code = 200;
        else
            amld_reply_error(r, 503, "the first scan of the repository is still loading");
        return;
    }
    if (strncmp(path, "/v2/models/", 11) != 0)
        goto no_route;
    /* {m}[/versions/{v}][/ready|/infer] */
    char copy[512];
    if (strlen(path + 11) >= sizeof copy)
        goto no_route;
    strcpy(copy, path + 11);
    char *seg[5] = {0};
    int ns = 0;
    for (char *save = NULL, *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (ns == 4)
            goto no_route;
        seg[ns++] = t;
    }
    if (ns == 0)
        goto no_route;
    amld_selector sel = {0};
    int next = 1;
    if (ns >= 3 && !strcmp(seg[1], "versions")) {
        sel.version = seg[2];
        next = 3;
    }
    const char *action = next < ns ? seg[next] : "";
    if (next + 1 < ns || (next < ns && strcmp(action, "ready") && strcmp(action, "infer")))
        goto no_route;
    if (!method_is(method, !strcmp(action, "infer") ? "POST" : "GET", r, path))
        return;
    amld_version *v = amld_resolve(s, seg[0], sel, r);
    if (!v)
        return;
    if (!strcmp(action, "infer"))
        infer(s, v, body, body_len, r);
    else if (!strcmp(action, "ready"))
        r->code = 200;
    else
        model_metadata(s, v, sel.version != NULL, r);
    amld_version_release(v);
    return;
no_route:
    amld_reply_error(r, 404, "no route for %s %s", method, path);
}
