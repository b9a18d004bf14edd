/* Versioned artifacts: repo/<name>/<version>/ with manifest.json (checksums of every file),
 * manifest.json.sha256 (the manifest's own checksum) and the model blob, written by an exporter
 * plugin into a temporary directory and published by rename; and the reader that verifies them,
 * checks the manifest against the model blob, and loads them. */
#ifndef AML_ARTIFACT_H
#define AML_ARTIFACT_H

#include "dataset.h"
#include "model.h"

#define AML_ARTIFACT_FORMAT "automl-artifact"
/* 1.1: manifest.json.sha256 covers the manifest. A 1.1+ artifact without it is refused; a 1.0
 * artifact (written before) is read, its manifest checked against the model blob only. */
#define AML_ARTIFACT_FORMAT_MAJOR 1
#define AML_ARTIFACT_FORMAT_MINOR 1
/* The file beside manifest.json holding its sha256, as `sha256sum manifest.json` prints it (so
 * `sha256sum -c manifest.json.sha256` checks it by hand). */
#define AML_ARTIFACT_MANIFEST_SUM "manifest.json.sha256"

/* Size limits of the files an artifact reader reads (whole, into memory), and that the writer
 * refuses to exceed. Change them at build time, e.g. -DAML_ARTIFACT_FILE_MAX=... in CFLAGS. */
#ifndef AML_ARTIFACT_MANIFEST_MAX
#define AML_ARTIFACT_MANIFEST_MAX ((size_t)64 << 20) /* manifest.json: 64 MiB */
#endif
#ifndef AML_ARTIFACT_FILE_MAX
#define AML_ARTIFACT_FILE_MAX ((size_t)2 << 30) /* model.bin, reference.json ...: 2 GiB each */
#endif
#define AML_ARTIFACT_MAX_FILES 16 /* entries in the manifest's "files" */

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
    int manifest_verified; /* 1: manifest.json.sha256 matched; 0: a format 1.0 artifact (none) */
    char *reference_json;  /* reference.json's text as verified (NUL-terminated), or NULL: none */
} aml_artifact;

/* Verifies the manifest's format, its own checksum (manifest.json.sha256) and every listed file's
 * sha256, loads the model blob and checks the manifest against it (task, classes, features and
 * their types, model plugin). Every file is read only when it is a regular file within the limits
 * above. Errors: AML_ERR_FORMAT or AML_ERR_INPUT with one line naming the file and the field. */
aml_status aml_artifact_open(aml_ctx *c, aml_registry *reg, const char *dir, aml_artifact *out);
void aml_artifact_close(aml_artifact *a);

/* Checks that data has the artifact's features (count and names). */
aml_status aml_artifact_check_input(aml_ctx *c, const aml_artifact *a, const aml_dataset *data);

#endif
