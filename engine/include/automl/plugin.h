/* automl plugin ABI, version 1: the only header a feature, model or exporter plugin needs.
 * A plugin is a shared object exporting one symbol, AML_PLUGIN_ENTRY, that returns a constant
 * descriptor. Everything crosses the boundary as plain C data; nothing is freed across it. */
#ifndef AUTOML_PLUGIN_H
#define AUTOML_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI grows only at the end of its structs; the minor counts such additions. A host accepts a
 * plugin with the same major and a minor no newer than its own. */
#define AML_PLUGIN_ABI_MAJOR 1
#define AML_PLUGIN_ABI_MINOR 2

/* Type sizes the plugin was built with; a host built differently refuses it. */
#define AML_PLUGIN_SIGNATURE                                                                      \
    ((uint32_t)(sizeof(void *) | (sizeof(long) << 4) | (sizeof(size_t) << 8) |                   \
                (sizeof(double) << 12) | (sizeof(float) << 16) | (sizeof(int) << 20) |            \
                ((uint32_t)(sizeof(int64_t)) << 24)))

#define AML_PLUGIN_ENTRY_NAME "aml_plugin_entry"
#if defined(__GNUC__)
#define AML_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define AML_PLUGIN_EXPORT
#endif
/* Declares the entry point: AML_PLUGIN_ENTRY { return &my_descriptor; } */
#define AML_PLUGIN_ENTRY AML_PLUGIN_EXPORT const aml_plugin_descriptor *aml_plugin_entry(void)

typedef int aml_status; /* 0 ok, negative = error kind */
enum {
    AML_OK = 0,
    AML_ERR_INPUT = -1,     /* bad input from the user: data, spec, parameters */
    AML_ERR_RUNTIME = -2,   /* the computation failed (NaN loss, singular system, ...) */
    AML_ERR_NOMEM = -3,
    AML_ERR_IO = -4,
    AML_ERR_CANCELLED = -5, /* the deadline passed or the search was stopped */
    AML_ERR_FORMAT = -6,    /* a saved blob is corrupt, truncated or too new */
};

typedef enum { AML_PLUGIN_FEATURE = 1, AML_PLUGIN_MODEL = 2, AML_PLUGIN_EXPORTER = 3 } aml_plugin_kind;
typedef enum { AML_TASK_CLASSIFICATION = 1, AML_TASK_REGRESSION = 2 } aml_task_kind;

/* ---- hyperparameter space ---------------------------------------------------------------- */
typedef enum {
    AML_PARAM_FLOAT = 1,  /* real in [lo, hi] */
    AML_PARAM_INT = 2,    /* integer in [lo, hi] */
    AML_PARAM_CHOICE = 3, /* one of choices[]; the value is the index */
    AML_PARAM_BOOL = 4,   /* 0 or 1 */
    AML_PARAM_STRING = 5  /* free text (e.g. mlp "hidden" = "256:128"); default in def_str */
} aml_param_type;

typedef struct aml_param_def {
    const char *name;             /* canonical name (DESIGN.md §3) */
    aml_param_type type;
    double lo, hi;                /* range the search samples from (and --set must respect) */
    double def;                   /* default; for CHOICE the index of the default choice */
    int log_scale;                /* sample log-uniformly in [lo, hi] */
    const char *const *choices;   /* CHOICE only; n_choices entries */
    int n_choices;
    const char *def_str;          /* STRING only */
    const char *help;             /* one line for `automl plugins` and --help */
    double cost;                  /* relative cost hint: >0 means cost grows with the value */
} aml_param_def;

/* Resolved values, indexed like the descriptor's params[] (every entry filled, defaults included). */
typedef struct aml_params {
    const double *num;       /* FLOAT/INT/BOOL value, CHOICE index */
    const char *const *str;  /* CHOICE: the choice's text; STRING: the text; otherwise NULL */
} aml_params;

/* ---- data ---------------------------------------------------------------------------------- */
/* A row-major float32 matrix view; row i starts at data + i * ld. NaN = missing. */
typedef struct aml_matrix {
    const float *data;
    int64_t rows, cols, ld;
} aml_matrix;

typedef struct aml_target {
    const int32_t *label;  /* classification: class index in [0, n_classes) */
    const double *value;   /* regression: the value */
    const float *weight;   /* optional sample weights, NULL = all 1 */
} aml_target;

typedef struct aml_task {
    aml_task_kind kind;
    int n_classes;         /* classification; 0 for regression */
    int64_t n_features;
    const uint8_t *categorical; /* n_features flags, 1 = categorical codes (may be NULL) */
    uint64_t seed;         /* the trial's seed: a plugin's randomness comes from here only */
} aml_task;

/* ---- host services ------------------------------------------------------------------------- */
typedef struct aml_host_ctx aml_host_ctx; /* per call site (trial, refit, predict); opaque */
typedef struct aml_writer aml_writer;
typedef struct aml_reader aml_reader;

typedef struct aml_host {
    uint32_t version;   /* grows at the end; check before using later fields */
    uint32_t size;      /* sizeof(aml_host) as the host built it */
    void *(*alloc)(size_t n);            /* plugins may use malloc instead; these exist for fault tests */
    void (*dealloc)(void *p);
    void (*log)(aml_host_ctx *c, int level, const char *fmt, ...); /* level 0 debug .. 3 error */
    /* Records why the current call failed; the plugin then returns a negative status. */
    void (*set_error)(aml_host_ctx *c, const char *fmt, ...);
    /* Non-zero when the trial must stop now (deadline passed, search cancelled): return
     * AML_ERR_CANCELLED promptly, or, when a fit can stop early, keep what is fitted. */
    int (*should_stop)(aml_host_ctx *c);
    int (*threads)(aml_host_ctx *c);     /* the thread budget of this call (>= 1) */
    void (*progress)(aml_host_ctx *c, double fraction);
    /* Blob I/O for save/load: whole-buffer writes and reads; a short read is AML_ERR_FORMAT. */
    aml_status (*write)(aml_writer *w, const void *buf, size_t n);
    aml_status (*read)(aml_reader *r, void *buf, size_t n);
} aml_host;

/* ---- per-kind vtables ---------------------------------------------------------------------- */
typedef struct aml_model aml_model; /* defined by each model plugin */

/* Multi-fidelity: resource is the fraction of the model's full resource (n_trees for tree
 * ensembles, epochs for networks) to fit now, in (0, 1]. A plugin with AML_PLUGIN_RESUMABLE may be
 * handed the same fitted model again with the same data and a larger resource: it continues
 * (adds trees, runs more epochs) and must end in the state one fit at that resource would give.
 * Others ignore resource and fit fully. */
typedef struct aml_fit_budget {
    uint32_t size;
    double resource;
} aml_fit_budget;

typedef struct aml_model_vtable {
    uint32_t version; /* 3 (2: without stops_early; 1: without used_resource either) */
    /* Creates an unfitted model. task and params are copied; they need not outlive the call. */
    aml_status (*create)(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                         aml_model **out);
    /* Fits on X/y. valid (may be NULL): rows held out of the training data, for early stopping
     * only (see stops_early); never the rows the fit is scored on. */
    aml_status (*fit)(aml_model *m, aml_host_ctx *c, const aml_matrix *X, const aml_target *y,
                      const aml_matrix *valid_X, const aml_target *valid_y, const aml_fit_budget *b);
    /* out: rows x n_outputs doubles: class probabilities, or the predicted value. */
    aml_status (*predict)(const aml_model *m, aml_host_ctx *c, const aml_matrix *X, double *out);
    /* One row, no allocation: out has n_outputs doubles. */
    aml_status (*predict_row)(const aml_model *m, const float *row, double *out);
    aml_status (*save)(const aml_model *m, aml_host_ctx *c, aml_writer *w);
    aml_status (*load)(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                       aml_model **out);
    void (*free)(aml_model *m);
    /* Optional (may be NULL): per-feature importance (e.g. total split gain), n_features doubles,
     * for the manifest and the report. */
    aml_status (*importance)(const aml_model *m, double *out);
    /* Version >= 2, optional (may be NULL): the share of the configured full resource the fitted
     * model uses, in (0, 1] — below 1 when early stopping on the validation fold kept fewer trees
     * or epochs. The search refits its winners on all rows with that share, so the exported model
     * is the one the validation scores describe. */
    double (*used_resource)(const aml_model *m);
    /* Version >= 3, optional (may be NULL = never): 1 when a fit with these parameters stops
     * early on valid rows. The search then holds a tenth of each training fold out as those rows;
     * other models train on the whole fold and get none. No fit sees the fold it is scored on. */
    int (*stops_early)(const aml_params *p);
} aml_model_vtable;

typedef struct aml_feature aml_feature; /* defined by each feature plugin */
typedef struct aml_feature_vtable {
    uint32_t version; /* 2 (1: without output_categorical) */
    aml_status (*create)(const aml_host *h, aml_host_ctx *c, const aml_params *p, const aml_task *task,
                         aml_feature **out);
    aml_status (*fit)(aml_feature *f, aml_host_ctx *c, const aml_matrix *X, const aml_target *y);
    int64_t (*output_cols)(const aml_feature *f);
    /* out: rows x output_cols floats, row-major. */
    aml_status (*transform)(const aml_feature *f, aml_host_ctx *c, const aml_matrix *X, float *out);
    aml_status (*save)(const aml_feature *f, aml_host_ctx *c, aml_writer *w);
    aml_status (*load)(const aml_host *h, aml_host_ctx *c, aml_reader *r, const aml_task *task,
                       aml_feature **out);
    void (*free)(aml_feature *f);
    /* Version >= 2, optional (may be NULL): after fit, out[j] = 1 for each of the output_cols
     * columns that holds category codes (a passed-through categorical input), 0 for numeric
     * ones. Without it the host assumes a step that keeps the column count keeps the flags and
     * any other makes every column numeric. */
    void (*output_categorical)(const aml_feature *f, uint8_t *out);
} aml_feature_vtable;

/* What an exporter is given: the artifact's manifest so far and a way to write the model blob. */
typedef struct aml_export_input {
    uint32_t size;
    const char *manifest_json; /* the manifest without "files": the exporter adds them */
    /* Writes the checksummed model blob (pipeline + model) to path; returns its byte size or < 0. */
    int64_t (*write_model_blob)(const struct aml_export_input *in, const char *path);
    /* Computes the lowercase hex sha256 of a file into hex[65]. */
    aml_status (*sha256_file)(const char *path, char hex[65]);
    const char *reference_json; /* drift reference or NULL */
    void *host_data;            /* for the host's callbacks */
} aml_export_input;

typedef struct aml_exporter_vtable {
    uint32_t version; /* 1 */
    /* Writes every file of the artifact into dir (an empty temporary directory the host renames
     * into place when this returns AML_OK). */
    aml_status (*export_artifact)(const aml_host *h, aml_host_ctx *c, const aml_export_input *in,
                                  const char *dir);
} aml_exporter_vtable;

/* ---- the descriptor ------------------------------------------------------------------------ */
typedef struct aml_plugin_descriptor {
    uint32_t abi_major, abi_minor;
    uint32_t struct_size;  /* sizeof(aml_plugin_descriptor) as the plugin built it */
    uint32_t signature;    /* AML_PLUGIN_SIGNATURE */
    aml_plugin_kind kind;
    const char *name;      /* unique per kind: "linear", "knn", "native" */
    const char *version;   /* the plugin's own version, "1.0.0" */
    const char *license;
    const char *summary;   /* one line */
    const aml_param_def *params;
    int n_params;
    /* Exactly one is set, matching kind. */
    const aml_model_vtable *model;
    const aml_feature_vtable *feature;
    const aml_exporter_vtable *exporter;
    uint32_t flags; /* AML_PLUGIN_* capability bits */
} aml_plugin_descriptor;

/* The model can continue a fit with a larger aml_fit_budget.resource (see above). */
#define AML_PLUGIN_RESUMABLE 1u
/* The model takes missing values (NaN) and categorical codes as they are, as tree ensembles do:
 * features = "auto" gives it no feature steps (or, on data with missing cells, the choice of mean
 * imputation). Without it, "auto" imputes and one-hot encodes for the model. */
#define AML_PLUGIN_NATIVE_MISSING 2u

#define AML_PLUGIN_DESCRIPTOR_INIT                                                                 \
    .abi_major = AML_PLUGIN_ABI_MAJOR, .abi_minor = AML_PLUGIN_ABI_MINOR,                          \
    .struct_size = sizeof(aml_plugin_descriptor), .signature = AML_PLUGIN_SIGNATURE

#ifdef __cplusplus
}
#endif
#endif
