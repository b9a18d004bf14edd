/* Where new trial configurations come from: uniform random draws, and the tree-structured Parzen
 * estimator (TPE, Bergstra et al. 2011) over the conditional space family -> its parameters. */
#ifndef AML_SAMPLER_H
#define AML_SAMPLER_H

#include "config.h"
#include "metrics.h"

/* One finished trial as the sampler sees it. */
typedef struct aml_observation {
    const aml_config *cfg;
    double score;    /* NaN for a failed trial (counts as the worst) */
    double seconds;  /* wall time, for cost awareness */
} aml_observation;

/* The families to choose from, with the spec's search space for each (specs[i] may be NULL). */
typedef struct aml_space {
    const aml_plugin **models;
    const aml_model_spec **specs;
    const int *n_pipelines; /* per family: how many pipelines the spec lets it choose from (NULL: 1) */
    int n_models;
} aml_space;

/* A uniform draw: a family, then each parameter in its range (the spec's or the plugin's), then
 * its pipeline when it has a choice of several. */
void aml_sample_random(const aml_space *sp, aml_rng *rng, aml_config *out);

/* TPE: split the observations at the best fraction into good and bad, choose the family by the
 * ratio of its good to bad share (divided by the square root of its relative cost, so slow
 * families earn their budget by results), then each parameter (and the pipeline, when the family
 * has a choice) by maximising l(x)/g(x) over candidates drawn from l. Falls back to a random draw while there are fewer than 8
 * observations. Deterministic for a given rng state and observation order. */
void aml_sample_tpe(const aml_space *sp, aml_metric metric, const aml_observation *obs, int64_t n_obs,
                    aml_rng *rng, aml_config *out);

#endif
