/* libautoml: the engine's public API. Opaque handles, status codes, one error message per context.
 * Fallible functions return aml_status (0 ok, negative error kind, see plugin.h) and write their
 * outputs only on success; the message is then in aml_errmsg(ctx). */
#ifndef AUTOML_AUTOML_H
#define AUTOML_AUTOML_H

#include <automl/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AML_API __attribute__((visibility("default")))
#else
#define AML_API
#endif

#define AML_VERSION "0.1.0"

/* Error context: holds the last error message. One per thread of control. */
typedef struct aml_ctx aml_ctx;
AML_API aml_ctx *aml_ctx_new(void);
AML_API void aml_ctx_free(aml_ctx *c); /* accepts NULL */
AML_API const char *aml_errmsg(const aml_ctx *c);

/* A table loaded into memory (X as float32, row-major). */
typedef struct aml_dataset aml_dataset;
/* Reads an HDF5 file in the schema of DESIGN.md §4. *out owned by the caller (aml_dataset_free). */
AML_API aml_status aml_dataset_open(aml_ctx *c, const char *path, aml_dataset **out);
AML_API void aml_dataset_free(aml_dataset *d);

#ifdef __cplusplus
}
#endif
#endif
