/* Versioned artifacts: repo/<name>/<version>/ with manifest.json (checksums of every file) and
 * the model blob, written by an exporter plugin into a temporary directory and published by
 * rename; and the reader that verifies and loads them. */
#ifndef AML_ARTIFACT_H
#define AML_ARTIFACT_H

#include "dataset.h"
#include "model.h"

#define AML_ARTIFACT_FORMAT "automl-artifact"
#define AML_ARTIFACT_FORMAT_MAJOR 1
#define AML_ARTIFACT_FORMAT_MINOR 0

typedef struct aml_export_request {
    const char *repo;          /* repository directory */
    const char *name;          /* model name: repo/<name>/<version> */
    const char *exporter;      /* exporter plugin name, "native" */
    const aml_fitted *model;
    const aml_config *cfg;
    const aml_dataset *data;   /* schema, fingerprint and path of the training data */
    const char *metric;        /* the search metric's name */
    cJSON *metrics;            /* scores to record (borrowed) */
    cJSON *lineage;            /* extra lineage fields: spec hash, seed, run dir ... (borrowed) */
    const char *reference_json; /* drift reference (reference.h) written as reference.json, or NULL */
} aml_export_request;

/* Publishes the next version; *out_dir (malloc'd) is the published directory. */
aml_status aml_artifact_export(aml_ctx *c, aml_registry *reg, const aml_export_request *req,
                               char **out_dir);

typedef struct aml_artifact {
    char *dir;
    cJSON *manifest;
    aml_fitted model;
    aml_config cfg;
    aml_dataset *schema;   /* no rows: names, types, levels, task, class names, target name */
} aml_artifact;

/* Verifies the manifest's format and every file's sha256, then loads the model. */
aml_status aml_artifact_open(aml_ctx *c, aml_registry *reg, const char *dir, aml_artifact *out);
void aml_artifact_close(aml_artifact *a);

/* Checks that data has the artifact's features (count and names). */
aml_status aml_artifact_check_input(aml_ctx *c, const aml_artifact *a, const aml_dataset *data);

#endif
