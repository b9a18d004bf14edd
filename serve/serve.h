/* automld's internals shared across its files: options, the string builder, the model
 * registry of refcounted versions, the repository watcher, the metrics registry, drift windows,
 * request decoding and the HTTP layer's handler interface. */
#ifndef AMLD_SERVE_H
#define AMLD_SERVE_H

#include "artifact.h"
#include "predictions.h"
#include "plugin_loader.h"
#include "reference.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

/* ---- options (main.c) ---- */
typedef struct amld_options {
    const char *repo;
    const char *host;
    int port;
    double poll_seconds;   /* 0 = SIGHUP only */
    const char *config;    /* the models config file (default REPO/automld.json, optional) */
    int config_explicit;   /* --config given: the file must exist */
    const char *token;     /* bearer token or NULL */
    const char *token_file; /* --token-file */
    char *token_buf;       /* the token read from token_file (malloc'd) */
    int max_client_connections; /* per client address */
    int client_timeout;    /* seconds a connection may stay silent (headers, body, keep-alive) */
    int load_timeout;      /* seconds one version's load may take */
    int load_threads;      /* versions loaded at once */
    size_t max_body;
    int64_t max_rows;
    int max_connections;
    int threads;           /* HTTP worker threads */
    int drift_window;      /* served rows per drift window */
    int drift_min_rows;    /* rows the window must hold before its PSI gauges are published */
} amld_options;

/* Log line on stderr, "automld: ..." (one fprintf, so lines from threads do not interleave). */
void amld_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- string builder (buf.c) ---- */
typedef struct amld_buf {
    char *s;
    size_t len, cap;
} amld_buf;
void amld_buf_put(amld_buf *b, const char *s, size_t n);
void amld_buf_puts(amld_buf *b, const char *s);
void amld_buf_printf(amld_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal, quotes included; always valid UTF-8 (invalid bytes become U+FFFD). */
void amld_buf_json_string(amld_buf *b, const char *s);
/* A JSON number (%.17g, so it reads back to the same double); null for NaN and infinities. */
void amld_buf_json_double(amld_buf *b, double x);
/* A Prometheus label value (backslash, quote and newline escaped; invalid UTF-8 bytes become
 * U+FFFD), without quotes. */
void amld_buf_label(amld_buf *b, const char *s);
void amld_buf_free(amld_buf *b);

/* ---- files the daemon reads itself (config.c) ---- */
/* Reads path if it is a regular file of at most max bytes (opened without blocking: a FIFO is
 * refused, not waited on). *text (malloc'd, NUL-terminated) is NULL when the file does not exist.
 * Errors name the file. */
aml_status amld_read_regular_file(aml_ctx *c, const char *path, size_t max, char **text, size_t *n);

/* ---- config: version policies and labels (config.c) ---- */
typedef enum { AMLD_LATEST, AMLD_ALL, AMLD_SPECIFIC } amld_policy_kind;
typedef struct amld_label {
    char *name;
    int version;
} amld_label;
typedef struct amld_model_policy {
    char *model;
    amld_policy_kind kind;
    int n;                 /* latest: how many */
    int *versions;         /* specific */
    int n_versions;
    amld_label *labels;
    int n_labels;
} amld_model_policy;
typedef struct amld_config {
    amld_model_policy *models;
    int n_models;
} amld_config;
/* Reads the config; a missing file gives an empty config unless must_exist. Errors name the
 * file and the field. */
aml_status amld_config_load(aml_ctx *c, const char *path, int must_exist, amld_config *out);
void amld_config_free(amld_config *cfg);
/* The model's policy (latest 1 with no labels when the config does not name it). */
amld_model_policy amld_config_policy(const amld_config *cfg, const char *model);
const char *amld_policy_name(amld_policy_kind k);

/* ---- drift windows (drift.c) ---- */
/* The default --drift-min-rows. PSI of n rows drawn from the reference distribution itself is
 * about (B - 1) / n (B: the bins training filled, 10 quantile bins for a numeric feature), as
 * n * PSI is close to a chi-square with B - 1 degrees of freedom; an empty bin adds about 0.7 on
 * its own, and 14 rows leave several empty (such a window read PSI ~ 6). On 500 rows the noise
 * is 0.018 on average and under 0.06 in 999 windows of 1000: well below 0.1 (warn) and 0.25. */
#define AMLD_DRIFT_MIN_ROWS 500
typedef struct amld_drift amld_drift;
/* A sliding window of the last `window` served rows, binned on ref's edges (ref borrowed: it
 * must outlive the window). */
amld_drift *amld_drift_new(const aml_reference *ref, int window);
void amld_drift_free(amld_drift *d);
/* Adds n rows (X: n x n_features) and their predictions (n x n_out). */
void amld_drift_add(amld_drift *d, const float *X, int64_t n, const double *pred, int n_out);
/* Appends the PSI gauges of this window in Prometheus text (no HELP/TYPE lines) per metric
 * family; fam selects 0 = feature PSI, 1 = prediction PSI, 2 = window rows, 3 = warn threshold,
 * 4 = alert threshold, 5 = min_rows. The PSI series (0, 1) appear only once the window holds
 * min_rows rows: on fewer, sampling noise alone reads as drift. */
void amld_drift_expose(amld_drift *d, int fam, const char *model, int version, int min_rows, amld_buf *out);

/* ---- versions and the registry (registry.c) ---- */
typedef struct amld_version {
    atomic_int refs;
    char *model;
    int version;
    char *dir;
    aml_artifact art;
    aml_reference *ref;   /* NULL when the artifact has no reference.json */
    amld_drift *drift;    /* NULL with ref */
    int64_t mtime_ns;     /* of manifest.json when loaded */
} amld_version;

/* The model's plugin name, or "ensemble" for an ensemble artifact (which has no plugin). */
static inline const char *amld_model_kind(const aml_fitted *m)
{
    return m->plugin ? m->plugin->desc->name : AML_ENSEMBLE_NAME;
}

/* Loads dir with aml_artifact_open (checksums verified), reads its reference.json and warms
 * it up with one predict on a zero row. Returns NULL with the reason in c. refs = 1. */
amld_version *amld_version_load(aml_ctx *c, aml_registry *plugins, const char *dir, const char *model,
                                int version, int drift_window);
void amld_version_retain(amld_version *v);
/* Drops a reference; the last one frees the version (and its model). */
void amld_version_release(amld_version *v);

typedef struct amld_refusal {
    int version;
    char *reason;
} amld_refusal;

typedef struct amld_registry amld_registry;
amld_registry *amld_registry_new(void);
void amld_registry_free(amld_registry *r);
/* Replaces a model's served versions (descending version order; the array and its references
 * are taken over), labels and refusals (copied) in one step under the lock: requests that
 * already hold an old version finish on it. n == 0 and no refusals removes the model. */
void amld_registry_swap(amld_registry *r, const char *model, amld_version **versions, int n,
                        const amld_label *labels, int n_labels, const amld_refusal *refused,
                        int n_refused);
/* Names of every model (malloc'd array of malloc'd strings). */
char **amld_registry_models(amld_registry *r, int *n);
void amld_registry_set_ready(amld_registry *r);
int amld_registry_ready(amld_registry *r);

/* How a request names a version: none (the latest served), a number, or a label. */
typedef struct amld_selector {
    const char *version; /* digits, or NULL */
    const char *label;   /* or NULL */
} amld_selector;
/* Finds and retains the version; on failure returns the HTTP status (400/404) with a message
 * in err. *model_known tells whether the model exists (for metric labels). */
int amld_registry_get(amld_registry *r, const char *model, amld_selector sel, amld_version **out,
                      int *model_known, char *err, size_t n_err);
/* The served versions (retained; release each and free the array), descending. Returns -1 when
 * the model is unknown. refused/n_refused (optional) get a copy of the refusals (free with
 * amld_refusals_free). */
int amld_registry_versions(amld_registry *r, const char *model, amld_version ***out,
                           amld_refusal **refused, int *n_refused);
void amld_refusals_free(amld_refusal *r, int n);
void amld_versions_release(amld_version **v, int n);

/* ---- version loads in threads with a time limit (loader.c) ---- */
typedef struct amld_loader amld_loader;
/* One finished load: the version (a reference, or NULL with reason), or a refusal at the time
 * limit (timed_out). id is what amld_loader_submit returned. */
typedef struct amld_load {
    char *model;
    int version;
    int64_t mtime_ns;
    uint64_t id;
    amld_version *loaded;
    char *reason;
    double seconds;
    int timed_out;
} amld_load;
/* At most max_active loads run at once, each for at most timeout seconds; notify(arg) is called
 * from a loader thread when a load finishes (the caller then collects). plugins are borrowed. */
amld_loader *amld_loader_new(aml_registry *plugins, int drift_window, int max_active, double timeout,
                             void (*notify)(void *), void *arg);
/* Queues a load of dir; returns its id (never 0). */
uint64_t amld_loader_submit(amld_loader *l, const char *dir, const char *model, int version, int64_t mtime_ns);
/* Starts queued loads, refuses those past their time limit and hands over every finished one
 * (malloc'd array, free with amld_loads_free); *next_deadline is the earliest time limit of the
 * loads running (aml_now() clock), 0 when none runs. */
int amld_loader_collect(amld_loader *l, amld_load **out, double *next_deadline);
/* Loads queued, running or finished but not collected. */
int amld_loader_pending(amld_loader *l);
void amld_loads_free(amld_load *r, int n);
/* Abandons every load and waits up to grace seconds for the threads. Returns the number of threads
 * still running: then nothing is freed (they use l and the plugins) and the process must exit
 * without freeing the plugins. */
int amld_loader_free(amld_loader *l, double grace);

/* ---- repository watcher (repo.c) ---- */
typedef struct amld_watcher amld_watcher;
struct amld_metrics;
/* Starts the background thread that scans opt->repo now and every poll interval, loads new
 * versions with the plugins (borrowed: they must outlive every version, so free them after the
 * registry) and swaps them into reg. Takes over cfg. Errors (thread creation) in c. */
aml_status amld_watcher_start(aml_ctx *c, const amld_options *opt, amld_config *cfg, aml_registry *plugins,
                              amld_registry *reg, struct amld_metrics *metrics, amld_watcher **out);
/* Asks for a rescan now (SIGHUP). */
void amld_watcher_kick(amld_watcher *w);
/* Stops the watcher and its loads. Returns the number of loads still running after a short grace:
 * when it is not 0 the process must exit without freeing the plugins (see amld_loader_free). */
int amld_watcher_stop(amld_watcher *w);

/* ---- metrics registry (metrics.c) ---- */
typedef struct amld_metrics amld_metrics;
amld_metrics *amld_metrics_new(int drift_min_rows);
void amld_metrics_free(amld_metrics *m);
/* One finished request: model "" and version -1 when the request named no known model. */
void amld_metrics_request(amld_metrics *m, const char *model, int version, int code, double seconds,
                          int64_t rows);
void amld_metrics_load_failure(amld_metrics *m, const char *model);
/* The whole exposition (Prometheus text format 0.0.4). */
void amld_metrics_expose(amld_metrics *m, amld_registry *reg, amld_buf *out);

/* ---- request decoding (decode.c) ---- */
/* Decoded rows in the schema's feature order: n x n_features floats (NaN = missing). Returns 0
 * or an HTTP status (400, 413) with the message in err. */
typedef struct amld_rows {
    float *X;
    int64_t n;
} amld_rows;
int amld_decode_kserve_inputs(const cJSON *inputs, const aml_dataset *schema, int64_t max_rows,
                              amld_rows *out, char *err, size_t n_err);
int amld_decode_instances(const cJSON *instances, const aml_dataset *schema, int64_t max_rows,
                          amld_rows *out, char *err, size_t n_err);
int amld_decode_columns(const cJSON *inputs, const aml_dataset *schema, int64_t max_rows,
                        amld_rows *out, char *err, size_t n_err);
/* Is the model's prediction width the class count (classification) or 1 (regression)? Returns 0,
 * or 500 with the message in err. */
int amld_check_width(const aml_artifact *a, char *err, size_t n_err);
/* Predicts the rows with v (threads 1), feeds the drift window; pred: n x n_outputs (malloc'd).
 * Returns 0 or 500 with the message in err. */
int amld_predict(amld_version *v, const amld_rows *rows, double **pred, char *err, size_t n_err);

/* The class predicted by one row's k probabilities; "" if the argmax is not a listed class (never
 * indexes past the class names, whatever the model outputs). */
static inline const char *amld_class_name(const aml_dataset *sc, const double *p, int k)
{
    int c = aml_argmax(p, k);
    return c >= 0 && c < sc->n_classes ? sc->class_names[c] : "";
}

/* ---- HTTP handlers (http.c, kserve.c, tfserving.c) ---- */
typedef struct amld_server {
    const amld_options *opt;
    amld_registry *reg;
    amld_metrics *metrics;
} amld_server;

typedef struct amld_reply {
    int code;
    amld_buf body;
    const char *content_type; /* default application/json */
    char model[128];          /* for metric labels: the model when it exists, else "" */
    int version;              /* -1 when none */
    int64_t rows;             /* rows predicted */
} amld_reply;
/* Sets code and a {"error": "..."} body. */
void amld_reply_error(amld_reply *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Routes under /v2 and /v1; path is the URL's path. */
void amld_kserve_handle(amld_server *s, const char *method, const char *path, const char *body,
                        size_t body_len, amld_reply *r);
void amld_tfserving_handle(amld_server *s, const char *method, const char *path, const char *body,
                           size_t body_len, amld_reply *r);
/* Looks up model[/versions/v|/labels/l] for a handler and fills r's labels; on failure sets
 * the error reply and returns NULL. */
amld_version *amld_resolve(amld_server *s, const char *model, amld_selector sel, amld_reply *r);
/* Is name a model name (letters, digits, '_', '-', '.'; not starting with '.'). */
int amld_valid_name(const char *name);

typedef struct amld_http amld_http;
/* Starts listening (prints the bound address); errors in c. */
aml_status amld_http_start(aml_ctx *c, amld_server *s, amld_http **out);
/* Stops accepting, waits up to grace seconds for requests in flight, then stops. */
void amld_http_drain(amld_http *h, double grace);

#endif
