/* The served models: refcounted version objects (a request holds a reference for its whole
 * life, so a swap never frees a model under it) and the table of models, whose version lists
 * the watcher replaces in one step under a short lock. */
#include "serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* reference.json holds a few histograms per feature: far below this. */

/* ---- versions ---- */

amld_version *amld_version_load(aml_ctx *c, aml_registry *plugins, const char *dir, const char *model,
                                int version, int drift_window)
{
    amld_version *v = aml_xcalloc(1, sizeof *v);
    atomic_init(&v->refs, 1);
    v->model = aml_xstrdup(model);
    v->version = version;
    v->dir = aml_xstrdup(dir);
    char why[256];
    aml_status st = aml_artifact_open(c, plugins, dir, &v->art);
    if (st != AML_OK)
        goto fail;
    if (amld_check_width(&v->art, why, sizeof why) != 0) {
        st = aml_fail(c, AML_ERR_FORMAT, "%s: %s", dir, why);
        goto fail;
    }
    /* Drift gauges come from reference.json as the artifact reader verified it (listed in the
     * manifest, checksummed, a regular file under its cap; an unlisted one refuses the artifact). */
    if (v->art.reference_json) {
        if ((st = aml_reference_parse(c, v->art.reference_json, v->art.schema->n_features, &v->ref)) != AML_OK) {
            aml_errprefix(c, "%s", dir);
            goto fail;
        }
        v->drift = amld_drift_new(v->ref, drift_window);
    }
    /* Warm-up: one prediction on a zero row, so the first request does not pay for lazy
     * initialisation and a model that cannot predict is refused before it is served. */
    int64_t nf = v->art.schema->n_features;
    float *zero = aml_xcalloc((size_t)nf + 1, sizeof(float));
    double *out = aml_xcalloc((size_t)v->art.model.n_outputs + 1, sizeof(double));
    aml_matrix X = {zero, 1, nf, nf};
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    st = aml_fitted_predict(c, &hc, &v->art.model, &X, out);
    int finite = 1;
    for (int k = 0; k < v->art.model.n_outputs; k++)
        finite &= isfinite(out[k]) != 0;
    free(zero);
    free(out);
    if (st != AML_OK) {
        aml_errprefix(c, "%s: warm-up prediction", dir);
        goto fail;
    }
    if (!finite) {
        aml_fail(c, AML_ERR_RUNTIME, "%s: warm-up prediction on a zero row is not finite", dir);
        goto fail;
    }
    return v;
fail:
    amld_version_release(v);
    return NULL;
}

void amld_version_retain(amld_version *v) { atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed); }

void amld_version_release(amld_version *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    amld_drift_free(v->drift);
    aml_reference_free(v->ref);
    aml_artifact_close(&v->art);
    free(v->model);
    free(v->dir);
    free(v);
}

void amld_versions_release(amld_version **v, int n)
{
    for (int i = 0; i < n; i++)
        amld_version_release(v[i]);
    free(v);
}

void amld_refusals_free(amld_refusal *r, int n)
{
    for (int i = 0; i < n; i++)
        free(r[i].reason);
    free(r);
}

/* ---- registry ---- */

typedef struct model_entry {
    char *name;
    amld_version **versions; /* descending */
    int n;
    amld_label *labels;
    int n_labels;
    amld_refusal *refused;
    int n_refused;
} model_entry;

struct amld_registry {
    pthread_mutex_t lock;
    model_entry *models;
    int n_models, cap;
    atomic_int ready;
};

amld_registry *amld_registry_new(void)
{
    amld_registry *r = aml_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void labels_free(amld_label *l, int n)
{
    for (int i = 0; i < n; i++)
        free(l[i].name);
    free(l);
}

static amld_label *labels_copy(const amld_label *l, int n)
{
    amld_label *c = aml_xcalloc((size_t)n + 1, sizeof *c);
    for (int i = 0; i < n; i++)
        c[i] = (amld_label){aml_xstrdup(l[i].name), l[i].version};
    return c;
}

static amld_refusal *refusals_copy(const amld_refusal *r, int n)
{
    amld_refusal *c = aml_xcalloc((size_t)n + 1, sizeof *c);
    for (int i = 0; i < n; i++)
        c[i] = (amld_refusal){r[i].version, aml_xstrdup(r[i].reason)};
    return c;
}

static void entry_clear(model_entry *e)
{
    free(e->name);
    amld_versions_release(e->versions, e->n);
    labels_free(e->labels, e->n_labels);
    amld_refusals_free(e->refused, e->n_refused);
    memset(e, 0, sizeof *e);
}

void amld_registry_free(amld_registry *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_models; i++)
        entry_clear(&r->models[i]);
    free(r->models);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static model_entry *find(amld_registry *r, const char *model)
{
    for (int i = 0; i < r->n_models; i++)
        if (!strcmp(r->models[i].name, model))
            return &r->models[i];
    return NULL;
}

void amld_registry_swap(amld_registry *r, const char *model, amld_version **versions, int n,
                        const amld_label *labels, int n_labels, const amld_refusal *refused,
                        int n_refused)
{
    model_entry old = {0};
    amld_label *new_labels = labels_copy(labels, n_labels);
    amld_refusal *new_refused = refusals_copy(refused, n_refused);
    pthread_mutex_lock(&r->lock);
    model_entry *e = find(r, model);
    if (!e && (n > 0 || n_refused > 0)) {
        if (r->n_models == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 8;
            r->models = aml_xrealloc(r->models, sizeof *r->models * (size_t)r->cap);
        }
        e = &r->models[r->n_models++];
        memset(e, 0, sizeof *e);
        e->name = aml_xstrdup(model);
    }
    if (e) {
        old = *e;
        old.name = NULL;
        e->versions = versions;
        e->n = n;
        e->labels = new_labels;
        e->n_labels = n_labels;
        e->refused = new_refused;
        e->n_refused = n_refused;
        new_labels = NULL;
        new_refused = NULL;
        versions = NULL;
        if (n == 0 && n_refused == 0) {
            old.name = e->name;
            free(e->versions);
            labels_free(e->labels, e->n_labels);
            amld_refusals_free(e->refused, 0);
            *e = r->models[--r->n_models];
        }
    }
    pthread_mutex_unlock(&r->lock);
    /* Releasing outside the lock: the last reference of an unloaded version frees its model,
     * which can take a while. */
    entry_clear(&old);
    amld_versions_release(versions, versions ? n : 0);
    labels_free(new_labels, new_labels ? n_labels : 0);
    amld_refusals_free(new_refused, new_refused ? n_refused : 0);
}

char **amld_registry_models(amld_registry *r, int *n)
{
    pthread_mutex_lock(&r->lock);
    char **names = aml_xcalloc((size_t)r->n_models + 1, sizeof(char *));
    for (int i = 0; i < r->n_models; i++)
        names[i] = aml_xstrdup(r->models[i].name);
    *n = r->n_models;
    pthread_mutex_unlock(&r->lock);
    return names;
}

void amld_registry_set_ready(amld_registry *r) { atomic_store(&r->ready, 1); }
int amld_registry_ready(amld_registry *r) { return atomic_load(&r->ready); }

static void served_list(const model_entry *e, char *out, size_t n)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < e->n && len + 16 < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%d", i ? ", " : "", e->versions[i]->version);
    if (e->n == 0)
        snprintf(out, n, "none");
}

int amld_registry_get(amld_registry *r, const char *model, amld_selector sel, amld_version **out,
                      int *model_known, char *err, size_t n_err)
{
    int want = 0;
    if (sel.version) {
        char *end;
        long v = strtol(sel.version, &end, 10);
        if (!*sel.version || *end || v < 1 || v > 999999999) {
            snprintf(err, n_err, "version '%.64s' is not a positive integer", sel.version);
            return 400;
        }
        want = (int)v;
    }
    int code = 404;
    char served[256];
    pthread_mutex_lock(&r->lock);
    model_entry *e = find(r, model);
    *model_known = e != NULL;
    if (!e) {
        snprintf(err, n_err, "model '%.100s' is not served", model);
        goto done;
    }
    if (sel.label) {
        int i = 0;
        while (i < e->n_labels && strcmp(e->labels[i].name, sel.label) != 0)
            i++;
        if (i == e->n_labels) {
            snprintf(err, n_err, "model '%.100s' has no label '%.64s'", model, sel.label);
            goto done;
        }
        want = e->labels[i].version;
    }
    for (int i = 0; i < e->n; i++) {
        if (want == 0 || e->versions[i]->version == want) {
            *out = e->versions[i];
            amld_version_retain(*out);
            code = 0;
            goto done;
        }
    }
    served_list(e, served, sizeof served);
    if (sel.label)
        snprintf(err, n_err, "label '%.64s' of model '%.100s' points to version %d, which is not loaded (serving %s)",
                 sel.label, model, want, served);
    else if (want)
        snprintf(err, n_err, "model '%.100s' has no version %d loaded (serving %s)", model, want, served);
    else
        snprintf(err, n_err, "model '%.100s' has no version loaded", model);
done:
    pthread_mutex_unlock(&r->lock);
    return code;
}

int amld_registry_versions(amld_registry *r, const char *model, amld_version ***out,
                           amld_refusal **refused, int *n_refused)
{
    pthread_mutex_lock(&r->lock);
    model_entry *e = find(r, model);
    int n = -1;
    if (e) {
        n = e->n;
        *out = aml_xcalloc((size_t)n + 1, sizeof(amld_version *));
        for (int i = 0; i < n; i++) {
            (*out)[i] = e->versions[i];
            amld_version_retain(e->versions[i]);
        }
        if (refused) {
            *refused = refusals_copy(e->refused, e->n_refused);
            *n_refused = e->n_refused;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}
