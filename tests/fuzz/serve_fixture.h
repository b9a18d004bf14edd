/* The model the request-decoder harnesses (fuzz_kserve.c, fuzz_tfserving.c) serve: a real
 * artifact, trained and exported once per process as `automl train --model linear` does, on a
 * small table with two numeric features and a categorical one (so BYTES levels and level codes
 * are decoded too), loaded by amld_version_load and registered as model "shades" version 1. */
#ifndef AML_FUZZ_SERVE_FIXTURE_H
#define AML_FUZZ_SERVE_FIXTURE_H

#include "config.h"
#include "dataset.h"
#include "fuzz_util.h"
#include "host.h"
#include "model.h"
#include "pipeline.h"
#include "serve.h"

static inline void fixture_fail(aml_ctx *c, const char *what)
{
    fprintf(stderr, "fuzz: serve fixture: %s: %s\n", what, aml_errmsg(c));
    abort();
}

static inline amld_server *fixture_server(void)
{
    static amld_options opt = {.max_rows = 10000, .max_body = 8u << 20, .drift_window = 1000};
    static amld_server server;
    static aml_registry *plugins;
    if (server.reg)
        return &server;
    /* The table of tests/e2e/test_automld.sh's categorical model, 60 rows. */
    char *csv = fuzz_path("shades.csv");
    FILE *f = fopen(csv, "w");
    if (!f)
        abort();
    static const char *const colors[] = {"red", "blue", "green"};
    fputs("x1,color,x2,target\n", f);
    for (int i = 0; i < 60; i++) {
        double x = (i % 13) / 6.0 - 1.0, z = (i % 7) / 7.0;
        int k = i % 3;
        fprintf(f, "%.3f,%s,%.2f,%s\n", x, colors[k], z, x + (k == 1 ? 1 : k == 2 ? -1 : 0) + z * 0.3 > 0.2 ? "yes" : "no");
    }
    fclose(f);

    aml_ctx *c = aml_ctx_new();
    plugins = aml_registry_new();
    aml_registry_scan_dir(plugins, AML_PLUGIN_BUILD_DIR);
    aml_csv_options copt = {0};
    aml_dataset *d = NULL;
    if (aml_csv_read(c, csv, &copt, &d) != AML_OK)
        fixture_fail(c, "import");
    const aml_plugin *p = aml_registry_find(plugins, AML_PLUGIN_MODEL, "linear");
    if (!p) {
        fprintf(stderr, "fuzz: serve fixture: no linear model plugin in %s\n", AML_PLUGIN_BUILD_DIR);
        abort();
    }
    aml_config cfg = {0};
    aml_config_defaults(&cfg, p);
    cfg.n_steps = aml_pipeline_auto(plugins, p, 0, aml_dataset_missing(d, NULL) > 0, aml_dataset_n_categorical(d) > 0,
                                    cfg.steps, cfg.step_params);
    aml_task task = {.kind = d->task, .n_classes = d->n_classes, .n_features = d->n_features,
                     .categorical = d->categorical, .seed = 1};
    aml_matrix X = {d->X, d->n_rows, d->n_features, d->n_features};
    aml_target y = {.label = d->label, .value = d->value, .weight = d->weight};
    aml_host_ctx hc;
    aml_host_ctx_init(&hc, 1);
    aml_fitted fitted = {0};
    if (aml_fitted_fit(c, &hc, &cfg, &task, &X, &y, NULL, NULL, &fitted) != AML_OK)
        fixture_fail(c, "fit");
    double *pred = malloc(sizeof(double) * (size_t)(d->n_rows * fitted.n_outputs));
    if (aml_fitted_predict(c, &hc, &fitted, &X, pred) != AML_OK)
        fixture_fail(c, "predict");
    char *repo = fuzz_path("repo"), *out_dir = NULL, *reference = aml_reference_json(d, pred, fitted.n_outputs);
    aml_export_request req = {.repo = repo, .name = "shades", .exporter = "native", .model = &fitted,
                              .cfg = &cfg, .data = d, .metric = "accuracy", .reference_json = reference};
    if (aml_artifact_export(c, plugins, &req, &out_dir) != AML_OK)
        fixture_fail(c, "export");
    amld_version *v = amld_version_load(c, plugins, out_dir, "shades", 1, opt.drift_window);
    if (!v)
        fixture_fail(c, "load");
    server.opt = &opt;
    server.reg = amld_registry_new();
    server.metrics = amld_metrics_new(AMLD_DRIFT_MIN_ROWS);
    amld_version **versions = malloc(sizeof *versions); /* taken over by the registry */
    versions[0] = v;
    amld_registry_swap(server.reg, "shades", versions, 1, NULL, 0, NULL, 0);
    amld_registry_set_ready(server.reg);
    /* The registry and the plugins live until the process exits, as in automld. */
    free(reference);
    free(out_dir);
    free(repo);
    free(pred);
    aml_fitted_free(&fitted);
    aml_config_free(&cfg);
    aml_dataset_free(d);
    aml_ctx_free(c);
    free(csv);
    return &server;
}

/* Runs one request through a handler as http.c does: the body in an amld_buf (NUL-terminated
 * past its length, as libmicrohttpd's uploads end up), the reply freed. */
static inline void fixture_request(void (*handle)(amld_server *, const char *, const char *, const char *, size_t,
                                           amld_reply *),
                            const char *method, const char *path, const uint8_t *data, size_t size)
{
    amld_server *s = fixture_server();
    amld_buf body = {0};
    amld_buf_put(&body, (const char *)data, size);
    amld_reply r = {.version = -1};
    handle(s, method, path, body.s ? body.s : "", body.len, &r);
    if (r.code < 200 || r.code > 599) {
        fprintf(stderr, "fuzz: %s %s answered status %d\n", method, path, r.code);
        abort();
    }
    fuzz_note("fuzz: %s", r.body.s ? r.body.s : "(no body)");
    amld_buf_free(&r.body);
    amld_buf_free(&body);
}

#endif
