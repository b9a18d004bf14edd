/* A model's feature pipeline: feature plugins fitted in order on the training rows, each feeding
 * the next, inside the fitted model (so trials, refits, ensembles, artifacts and the daemon all
 * carry it without knowing it is there). */
#ifndef AML_PIPELINE_H
#define AML_PIPELINE_H

#include "host.h"
#include "plugin_loader.h"
#include "spec.h"

typedef struct aml_pipeline {
    int n;
    const aml_plugin **plugins;
    const aml_model_spec *const *params; /* fixed parameter values per step (NULL, or NULL entries: defaults);
                                      read only while fitting */
    aml_feature **steps;       /* fitted steps (NULL before fit) */
    aml_task *tasks;           /* the input each step was fitted on */
    uint8_t **flags;           /* owned categorical flags behind tasks[i].categorical */
    char **params_json;        /* each step's parameters as JSON, kept from fit for the manifest
                                  (NULL after a blob load) */
    int64_t out_cols;
    uint8_t *out_categorical;  /* flags of the last step's output columns */
} aml_pipeline;

/* The pipelines `features = "auto"` gives a model family, the search choosing among them like any
 * other hyperparameter (aml_config.pipeline picks the variant):
 * - tree ensembles (AML_PLUGIN_NATIVE_MISSING) take missing values and category codes natively
 *   (variant 0, no steps); on data with missing cells they also get variant 1, mean imputation
 *   without indicators. Which one generalises better depends on the data: on HouseVotes84
 *   (missing votes) the imputed forest is ahead on held-out rows in four of five splits
 *   (bench/RESULTS.md) though out of fold it is ahead in only two, on BreastCancer the native one;
 * - the others get impute (with missing-value indicators) when the data has missing cells, then
 *   one-hot encoding when it has categorical columns. (Scaling is left to the learners, which
 *   standardise inside.)
 * Plugins not installed are skipped. */
int aml_pipeline_auto_variants(const aml_plugin *model, int has_missing);
/* Writes variant's steps to plugins[] and their fixed parameters to params[] (NULL: the step's
 * defaults); returns the number of steps (at most 4). */
int aml_pipeline_auto(const aml_registry *reg, const aml_plugin *model, int variant, int has_missing, int has_categorical,
                      const aml_plugin **plugins, const aml_model_spec **params);

/* Fits every step on X (task: its columns), writing the last output into a malloc'd buffer: *buf
 * and *out (a view of it), and *out_task (columns, categorical flags owned by p). With no steps,
 * *out is X itself and *buf NULL. */
aml_status aml_pipeline_fit(aml_ctx *c, aml_host_ctx *hc, aml_pipeline *p, const aml_task *task,
                            const aml_matrix *X, const aml_target *y, float **buf, aml_matrix *out,
                            aml_task *out_task);
/* Transforms rows through the fitted steps (same contract for *buf and *out). */
aml_status aml_pipeline_transform(aml_ctx *c, aml_host_ctx *hc, const aml_pipeline *p, const aml_matrix *X,
                                  float **buf, aml_matrix *out);
void aml_pipeline_free(aml_pipeline *p);

/* Blob section: u32 steps, then per step: name, version (u32 length + bytes), i64 input columns,
 * their categorical flags, u64 payload length, payload (the plugin's save). */
aml_status aml_pipeline_save(aml_ctx *c, const aml_pipeline *p, aml_writer *w);
/* what names the blob in messages; k: the cursor into the blob, moved past the section. */
aml_status aml_pipeline_load(aml_ctx *c, const aml_registry *reg, const char *what, const aml_task *task,
                             aml_cursor *k, aml_pipeline *p);

#endif
