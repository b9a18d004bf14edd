/* TensorFlow Serving's REST API for drop-in clients: GET /v1/models/{m}[/versions/{v}|/labels/{l}]
 * (model status) and POST ...:predict with "instances" (rows as lists or objects keyed by
 * feature name) or columnar "inputs". */
#include "serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void status_entry(amld_buf *b, int first, int version, const char *state, const char *code, const char *msg)
{
    amld_buf_printf(b, "%s{\"version\": \"%d\", \"state\": \"%s\", \"status\": {\"error_code\": \"%s\", \"error_message\": ",
                    first ? "" : ", ", version, state, code);
    amld_buf_json_string(b, msg);
    amld_buf_puts(b, "}}");
}

/* Every served version (AVAILABLE) and every refused one (END, with the reason); or only the
 * selected one. */
static void model_status(amld_server *s, const char *model, amld_selector sel, amld_reply *r)
{
    amld_version **vs = NULL;
    amld_refusal *refused = NULL;
    int n_refused = 0;
    int n = amld_registry_versions(s->reg, model, &vs, &refused, &n_refused);
    if (n < 0) {
        amld_reply_error(r, 404, "model '%.100s' is not served", model);
        return;
    }
    snprintf(r->model, sizeof r->model, "%s", model);
    int want = 0;
    if (sel.version) {
        char *end;
        long v = strtol(sel.version, &end, 10);
        want = *end || v < 1 || v > 999999999 ? -1 : (int)v;
    }
    if (sel.label || want < 0) {
        amld_version *v = amld_resolve(s, model, sel, r);
        if (!v)
            goto done;
        want = v->version;
        amld_version_release(v);
    }
    amld_buf *b = &r->body;
    amld_buf_puts(b, "{\"model_version_status\": [");
    int count = 0;
    for (int i = 0; i < n; i++)
        if (!want || vs[i]->version == want)
            status_entry(b, count++ == 0, vs[i]->version, "AVAILABLE", "OK", "");
    for (int i = 0; i < n_refused; i++)
        if (!want || refused[i].version == want)
            status_entry(b, count++ == 0, refused[i].version, "END", "UNKNOWN", refused[i].reason);
    amld_buf_puts(b, "]}");
    if (count == 0)
        amld_reply_error(r, 404, "model '%.100s' has no version %d", model, want);
    else
        r->code = 200;
done:
    amld_versions_release(vs, n);
    amld_refusals_free(refused, n_refused);
}

static void predict(amld_server *s, amld_version *v, const char *body, size_t len, amld_reply *r)
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
    const cJSON *instances = cJSON_GetObjectItemCaseSensitive(root, "instances");
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    int code;
    if (instances && inputs) {
        amld_reply_error(r, 400, "send \"instances\" or \"inputs\", not both");
        goto done;
    } else if (instances) {
        code = amld_decode_instances(instances, sc, s->opt->max_rows, &rows, err, sizeof err);
    } else if (inputs) {
        code = amld_decode_columns(inputs, sc, s->opt->max_rows, &rows, err, sizeof err);
    } else {
        amld_reply_error(r, 400, "expected \"instances\" (a list of rows) or \"inputs\" (columns)");
        goto done;
    }
    if (code || (code = amld_predict(v, &rows, &pred, err, sizeof err)) != 0) {
        amld_reply_error(r, code, "%s", err);
        goto done;
    }
    r->rows = rows.n;
    amld_buf *b = &r->body;
    amld_buf_puts(b, instances ? "{\"predictions\": [" : "{\"outputs\": [");
    for (int64_t i = 0; i < rows.n; i++) {
        if (i)
            amld_buf_puts(b, ", ");
        if (!classify) {
            amld_buf_json_double(b, pred[i]);
            continue;
        }
        amld_buf_puts(b, "{\"label\": ");
        amld_buf_json_string(b, amld_class_name(sc, pred + i * k, k));
        amld_buf_puts(b, ", \"probabilities\": [");
        for (int q = 0; q < k; q++) {
            if (q)
                amld_buf_puts(b, ", ");
            amld_buf_json_double(b, pred[i * k + q]);
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

void amld_tfserving_handle(amld_server *s, const char *method, const char *path, const char *body, size_t body_len,
                           amld_reply *r)
{
    char copy[512];
    if (strncmp(path, "/v1/models/", 11) != 0 || strlen(path + 11) >= sizeof copy)
        goto no_route;
    strcpy(copy, path + 11);
    /* Model names cannot hold ':', so the first one starts the verb. */
    char *verb = strchr(copy, ':');
    if (verb)
        *verb++ = 0;
    char *seg[4] = {0};
    int ns = 0;
    for (char *save = NULL, *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (ns == 3)
            goto no_route;
        seg[ns++] = t;
    }
    amld_selector sel = {0};
    if (ns == 3 && !strcmp(seg[1], "versions"))
        sel.version = seg[2];
    else if (ns == 3 && !strcmp(seg[1], "labels"))
        sel.label = seg[2];
    else if (ns != 1)
        goto no_route;
    if (verb && strcmp(verb, "predict") != 0) {
        amld_reply_error(r, 404, "%s: ':%s' is not supported (use ':predict')", path, verb);
        return;
    }
    const char *want = verb ? "POST" : "GET";
    if (strcmp(method, want) != 0) {
        amld_reply_error(r, 405, "%s %s: method not allowed (use %s)", method, path, want);
        return;
    }
    if (!verb) {
        model_status(s, seg[0], sel, r);
        return;
    }
    amld_version *v = amld_resolve(s, seg[0], sel, r);
    if (!v)
        return;
    predict(s, v, body, body_len, r);
    amld_version_release(v);
    return;
no_route:
    amld_reply_error(r, 404, "no route for %s %s", method, path);
}
