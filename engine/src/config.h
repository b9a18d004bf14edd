/* A model configuration: one value per hyperparameter of a model plugin, drawn from the spec's
 * search space or given on the command line, and its JSON form for the journal and manifests. */
#ifndef AML_CONFIG_H
#define AML_CONFIG_H

#include "core.h"
#include "plugin_loader.h"
#include "spec.h"
#include <cjson/cJSON.h>

#define AML_MAX_STEPS 8

typedef struct aml_config {
    const aml_plugin *plugin;
    double *num;  /* n_params values (CHOICE: index) */
    char **str;   /* n_params texts (CHOICE: the choice, STRING: the text), NULL otherwise */
    /* Feature steps fitted before the model, in order; each with its default parameters, or
     * with the fixed values of step_params[i] (a spec's step, NULL: defaults). */
    const aml_plugin *steps[AML_MAX_STEPS];
    const aml_model_spec *step_params[AML_MAX_STEPS];
    int n_steps;
    /* Which of the family's pipelines (the spec's features = automl.choice{...}; 0 otherwise). */
    int pipeline;
} aml_config;

/* Whether v is an allowed number for d: inside [lo, hi], or the default, which is always allowed
 * (linear's l1 = 0 means off, below the range the search draws from). */
int aml_param_allows(const aml_param_def *d, double v);
/* Every parameter at the plugin's default. */
void aml_config_defaults(aml_config *cfg, const aml_plugin *p);
/* The defaults, with the fixed values of the model spec applied (ms may be NULL). */
void aml_config_base(aml_config *cfg, const aml_plugin *p, const aml_model_spec *ms);
/* Draws every parameter: the spec's range where it gives one, else the plugin's own range. */
void aml_config_sample(aml_config *cfg, const aml_plugin *p, const aml_model_spec *ms, aml_rng *rng);
/* Sets one parameter from text ("l2=0.5" style values); errors name the parameter and its range. */
aml_status aml_config_set(aml_ctx *c, aml_config *cfg, const char *name, const char *value);
/* Applies "k=v,k=v". */
aml_status aml_config_set_list(aml_ctx *c, aml_config *cfg, const char *list);
aml_params aml_config_params(const aml_config *cfg);
cJSON *aml_config_to_json(const aml_config *cfg);
/* A JSON number that reads back as exactly v: 17 significant digits (cJSON's own printing may
 * round to 15), for values a later run must reproduce bit for bit (parameters, scores, weights). */
cJSON *aml_json_exact(double v);
/* Reads {"name": value, ...} (every parameter the plugin has, unknown ones are an error). */
aml_status aml_config_from_json(aml_ctx *c, aml_config *cfg, const aml_plugin *p, const cJSON *obj);
void aml_config_copy(aml_config *dst, const aml_config *src);
void aml_config_free(aml_config *cfg);

#endif
