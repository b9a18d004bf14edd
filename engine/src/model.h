/* A fitted model inside the engine: the plugin, its object and task, with error handling that
 * moves plugin messages into the engine's context, and the versioned, checksummed model blob. */
#ifndef AML_MODEL_H
#define AML_MODEL_H

#include "config.h"
#include "host.h"

typedef struct aml_fitted {
    const aml_plugin *plugin;
    aml_model *model;
    aml_task task;
    uint8_t *categorical;  /* owned copy behind task.categorical */
    int n_outputs;         /* n_classes or 1 */
} aml_fitted;

/* Creates the model for cfg and fits it. valid_X/valid_y may be NULL. Sets the calling thread's
 * OpenMP (and so OpenBLAS) thread count to the host context's budget. */
aml_status aml_fitted_fit(aml_ctx *c, aml_host_ctx *hc, const aml_config *cfg, const aml_task *task,
                          const aml_matrix *X, const aml_target *y, const aml_matrix *valid_X,
                          const aml_target *valid_y, aml_fitted *out);
/* out: X->rows x n_outputs. */
aml_status aml_fitted_predict(aml_ctx *c, aml_host_ctx *hc, const aml_fitted *m, const aml_matrix *X,
                              double *out);
void aml_fitted_free(aml_fitted *m);

/* Blob layout (little-endian): "AMLMODEL", u32 format major, u32 minor, u32 task, u32 n_classes,
 * i64 n_features, n_features categorical flags, strings (u32 length + bytes) plugin name, plugin
 * version, params JSON, u64 payload length, payload (the plugin's save), 32-byte sha256 of all
 * that precedes it. */
#define AML_BLOB_FORMAT_MAJOR 1
#define AML_BLOB_FORMAT_MINOR 0
aml_status aml_model_blob_write(aml_ctx *c, const aml_fitted *m, const aml_config *cfg, aml_writer *w);
/* Checks magic, size, checksum and version; finds the model plugin in reg and loads the model.
 * cfg (may be NULL) receives the stored parameters. what names the blob in messages. */
aml_status aml_model_blob_read(aml_ctx *c, aml_registry *reg, const char *what, const void *buf,
                               size_t n, aml_fitted *out, aml_config *cfg);

#endif
