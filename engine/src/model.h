/* A fitted model inside the engine: the plugin, its object and task, with error handling that
 * moves plugin messages into the engine's context, and the versioned, checksummed model blob. */
#ifndef AML_MODEL_H
#define AML_MODEL_H

#include "config.h"
#include "host.h"
#include "pipeline.h"

/* A single plugin model, or an ensemble (plugin NULL, n_members > 0) whose prediction is the
 * weighted mean of its members' (class probabilities, or values). */
typedef struct aml_fitted {
    const aml_plugin *plugin;
    aml_model *model;
    aml_pipeline pipeline; /* feature steps before the model (n = 0: none) */
    aml_task task;         /* the raw input: the pipeline's, or the model's when there is none */
    uint8_t *categorical;  /* owned copy behind task.categorical */
    int n_outputs;         /* n_classes or 1 */
    double resource;       /* the share of the full resource it was fitted with (1 after a load) */
    int n_members;
    struct aml_fitted *members;
    aml_config *member_cfgs;
    double *weights;       /* sum to 1 */
    double *temperatures;  /* classification: each member's probabilities are tempered by this
                              before averaging (calibration.h); NULL = all 1 */
} aml_fitted;

/* Makes *out an empty ensemble of n members for task (members[i], member_cfgs[i] and weights[i]
 * are then filled by the caller). */
void aml_fitted_ensemble_init(aml_fitted *out, const aml_task *task, int n);

/* Creates the model for cfg and fits it. valid_X/valid_y may be NULL. Sets the calling thread's
 * OpenMP (and so OpenBLAS) thread count to the host context's budget. */
aml_status aml_fitted_fit(aml_ctx *c, aml_host_ctx *hc, const aml_config *cfg, const aml_task *task,
                          const aml_matrix *X, const aml_target *y, const aml_matrix *valid_X,
                          const aml_target *valid_y, aml_fitted *out);
/* The same, with a fraction of the full resource (trees, epochs) for resumable plugins; other
 * plugins fit fully whatever resource says. */
aml_status aml_fitted_fit_resource(aml_ctx *c, aml_host_ctx *hc, const aml_config *cfg,
                                   const aml_task *task, const aml_matrix *X, const aml_target *y,
                                   const aml_matrix *valid_X, const aml_target *valid_y,
                                   double resource, aml_fitted *out);
/* The share of its full resource the fitted model uses (the plugin's used_resource: early
 * stopping), 1 when the plugin does not say or for an ensemble. */
double aml_fitted_used_resource(const aml_fitted *m);
/* 1 when a fit of cfg stops early on valid rows (the plugin's stops_early). */
int aml_model_stops_early(const aml_config *cfg);
/* out: X->rows x n_outputs. */
aml_status aml_fitted_predict(aml_ctx *c, aml_host_ctx *hc, const aml_fitted *m, const aml_matrix *X,
                              double *out);
void aml_fitted_free(aml_fitted *m);

/* Blob layout (little-endian): "AMLMODEL", u32 format major, u32 minor, u32 task, u32 n_classes,
 * i64 n_features, n_features categorical flags, strings (u32 length + bytes) plugin name, plugin
 * version, params JSON, the pipeline section (pipeline.h; u32 0 when there are no steps), u64
 * payload length, payload (the plugin's save), 32-byte sha256 of all that precedes it. */
/* An ensemble's blob has plugin name "ensemble", params {"weights": [...]} (and "temperatures":
 * [...] when a member is tempered), and a payload of u32 member count then each member's own blob
 * (u64 length + blob). */
#define AML_ENSEMBLE_NAME "ensemble"
/* The newest format this build reads and writes. 2.0: an ensemble with "temperatures", which a
 * 1.x reader would ignore and so predict differently: it must refuse instead. Every other blob is
 * still written as 1.0 (aml_model_blob_format). */
#define AML_BLOB_FORMAT_MAJOR 2
#define AML_BLOB_FORMAT_MINOR 0
/* A blob declaring more classes is refused (the HDF5 reader's bound on distinct class codes). */
#define AML_BLOB_MAX_CLASSES 1000000
/* The major format version m's blob is written with. */
int aml_model_blob_format(const aml_fitted *m);
aml_status aml_model_blob_write(aml_ctx *c, const aml_fitted *m, const aml_config *cfg, aml_writer *w);
/* Checks magic, size, checksum and version; finds the model plugin in reg and loads the model.
 * cfg (may be NULL) receives the stored parameters (left zeroed for an ensemble). what names the
 * blob in messages. */
aml_status aml_model_blob_read(aml_ctx *c, aml_registry *reg, const char *what, const void *buf,
                               size_t n, aml_fitted *out, aml_config *cfg);

#endif
