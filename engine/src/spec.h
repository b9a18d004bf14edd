/* A search, as the Lua spec (lua_host.c) and the command line describe it. */
#ifndef AML_SPEC_H
#define AML_SPEC_H

#include "core.h"
#include "resample.h"

/* The bounds on what a spec or the command line may ask for: beyond them a request is a mistake
 * (threads = 1e6 would start a million threads), refused with the field and the accepted range. */
#define AML_MAX_THREADS 1024           /* threads and parallel */
#define AML_MAX_TRIALS 1000000000LL    /* budget.trials, --trials */
#define AML_MAX_BUDGET_SECONDS 2592000 /* budget.seconds, --budget: 30 days */
#define AML_SPEC_MAX_MEMORY ((size_t)1 << 30) /* what a spec's Lua state may hold */
#define AML_SPEC_MAX_BYTES (16 << 20)          /* the spec file itself */

/* How one hyperparameter is searched. */
typedef enum {
    AML_RANGE_DEFAULT = 0, /* the plugin's own range */
    AML_RANGE_FIXED,       /* always num (or str) */
    AML_RANGE_UNIFORM,     /* [lo, hi] */
    AML_RANGE_LOGUNIFORM,  /* log-uniform in [lo, hi] */
    AML_RANGE_INT,         /* integer in [lo, hi] (log when log=1) */
    AML_RANGE_CHOICE       /* one of choices[] (strings or numbers as text) */
} aml_range_kind;

typedef struct aml_param_range {
    char *name;
    aml_range_kind kind;
    double lo, hi, num;
    int log;
    char *str;
    char **choices;
    int n_choices;
    int line; /* spec line where it was given (0 unknown) */
} aml_param_range;

typedef struct aml_model_spec {
    char *name;               /* plugin name */
    aml_param_range *ranges;  /* user overrides; the rest come from the plugin */
    int n_ranges;
    int line;
} aml_model_spec;

/* features = ...: the feature steps fitted before a model. One pipeline is "auto" (pipeline.h
 * chooses by family and data) or a list of steps, each a feature plugin with fixed parameters. */
typedef struct aml_pipeline_spec {
    int automatic;            /* "auto" */
    aml_model_spec *steps;    /* name: the feature plugin; ranges: its fixed parameter values */
    int n_steps;
} aml_pipeline_spec;

/* The pipelines one model family may get: one is fixed, several (automl.choice) are a
 * hyperparameter the search tunes like the family's own. */
typedef struct aml_features_spec {
    char *model;              /* the family; NULL: every family without an entry of its own */
    aml_pipeline_spec *choices;
    int n_choices;
    int line;
} aml_features_spec;

typedef struct aml_search_spec {
    char *spec_path;          /* the .lua file (NULL when built from the command line) */
    char spec_hash[65];       /* sha256 of the spec file's bytes */
    char *data_path;          /* HDF5 file; a relative path: under the working directory when the
                                 file is there, else under the spec's directory */
    char *data_target;        /* automl.dataset{target=...}: the target column (NULL: the file's /y) */
    char **data_drop;         /* automl.dataset{drop={...}}: feature columns to leave out */
    int n_data_drop;
    int task;                 /* 0 auto, AML_TASK_* */
    char *metric;             /* "auto" or a metric name */
    double budget_seconds;    /* 0 = no time limit */
    int budget_seconds_given; /* the spec set budget.seconds itself (not the default) */
    int64_t budget_trials;    /* 0 = no trial limit (at least one of the two is set) */
    aml_resample_kind resampling;
    int folds;                /* k-fold k (default 5) */
    int repeats;              /* k-fold repeats (0: automatic, resample.h) */
    double holdout_fraction;  /* validation share for holdout (default 0.2) */
    aml_model_spec *models;   /* empty = every model plugin found */
    int n_models;
    aml_features_spec *features; /* empty: "auto" for every family */
    int n_features;
    aml_model_spec *warm;     /* warm_start: the user's fixed configurations, tried first */
    int n_warm;
    char *strategy;           /* "random" for now */
    int threads;              /* total thread budget (0 = all cores) */
    int parallel_trials;      /* 0 = auto */
    uint64_t seed;
    int ensemble;
    char *export_to;          /* repository directory (default "models") */
    char *export_name;        /* model name in the repository (default: the data file's stem) */
    char **exporters;
    int n_exporters;
    char **plugin_paths;      /* extra plugin directories or files */
    int n_plugin_paths;
    char *out_dir;            /* run directory */
    int resume;
    int json;                 /* --json summary on stdout */
    /* on_trial callback: a registry ref in L, or LUA_NOREF (-2) when absent. */
    void *lua;                /* lua_State*, owned */
    int on_trial_ref;
    int on_trial_line;
} aml_search_spec;

/* How a spec is run (NULL: the defaults below, all zero). */
typedef struct aml_spec_options {
    int unsafe;                 /* 1: the full Lua standard library (automl search --unsafe-spec);
                                   0: the sandbox, with no process, file or library access */
    const volatile int *cancel; /* the spec stops with AML_ERR_CANCELLED once *cancel is set (SIGINT) */
    double deadline;            /* aml_now() at which a still running spec stops (AML_ERR_CANCELLED); 0: none */
    int64_t max_instructions;   /* Lua instructions the spec may run, about (AML_ERR_INPUT past it); 0: no limit */
    size_t max_memory;          /* bytes its Lua state may hold; 0: AML_SPEC_MAX_MEMORY */
    int trust_paths;            /* 1: data and plugin paths are taken as written, neither looked for
                                   nor loaded (the fuzz target, which has no files) */
} aml_spec_options;

/* Runs the spec file and fills *out. Every mistake is AML_ERR_INPUT with one line
 * "FILE:LINE: field: what was expected" in c; a spec stopped by opt->cancel or opt->deadline is
 * AML_ERR_CANCELLED. Binary (precompiled) chunks are refused, the spec file and load() alike. */
struct aml_registry;
/* Plugin paths the spec names are loaded into reg before its models and parameters are checked. */
aml_status aml_spec_load(aml_ctx *c, const char *path, struct aml_registry *reg, aml_search_spec *out);
aml_status aml_spec_load_with(aml_ctx *c, const char *path, struct aml_registry *reg, const aml_spec_options *opt,
                              aml_search_spec *out);
/* The same with the spec's text given in text[0..n): name stands for its path (messages, and the
 * directory relative paths start from). For the fuzz target: no file is read but the data and
 * plugin paths the spec names. */
aml_status aml_spec_load_buffer(aml_ctx *c, const char *name, const char *text, size_t n, struct aml_registry *reg,
                                const aml_spec_options *opt, aml_search_spec *out);
void aml_spec_free(aml_search_spec *s);
/* The features entry for a family: its own, else the default one, else NULL ("auto"). */
const aml_features_spec *aml_spec_features_for(const aml_search_spec *s, const char *model);

/* Calls the spec's on_trial(t) with a table describing a finished trial (fields: id, model,
 * score, status, seconds, params). Returns 1 when the callback asks to stop (returns false or
 * "stop"), 0 to go on, and AML_ERR_INPUT with "FILE:LINE: on_trial: message" when it raises. */
typedef struct aml_trial_summary {
    int64_t id;
    const char *model;
    const char *status;   /* "ok" | "failed" | "cancelled" */
    double score;
    double seconds;
    const char *params_json;
} aml_trial_summary;
/* The Lua state is single-threaded: call from one thread at a time (e.g. the scheduler's).
 * A callback stopped by the interrupt (aml_spec_set_interrupt) returns AML_ERR_CANCELLED with
 * "FILE:LINE: on_trial: interrupted (SIGINT)" or "...: stopped: the search's time budget ran out
 * while Lua code was running" in c. */
int aml_spec_on_trial(aml_ctx *c, aml_search_spec *s, const aml_trial_summary *t);
/* From now on on_trial stops once *cancel is set or aml_now() reaches deadline (0: never). */
void aml_spec_set_interrupt(aml_search_spec *s, const volatile int *cancel, double deadline);

#endif
