/* Engine internals shared by every unit: the error context and small utilities. */
#ifndef AML_CORE_H
#define AML_CORE_H

#include <automl/automl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>

struct aml_ctx {
    char msg[1024];
};

/* Formats the message into c (when c is non-NULL) and returns st. */
aml_status aml_fail(aml_ctx *c, aml_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the current message: "prefix: old message". */
void aml_errprefix(aml_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that never returns NULL for n > 0 (aborts with a message on exhaustion). */
void *aml_xmalloc(size_t n);
void *aml_xcalloc(size_t n, size_t size);
void *aml_xrealloc(void *p, size_t n);
char *aml_xstrdup(const char *s);
char *aml_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

double aml_now(void); /* monotonic seconds */

/* SHA-256 (libcrypto). hex gets 64 lowercase hex digits and a NUL. */
void aml_sha256(const void *data, size_t n, unsigned char digest[32]);
void aml_sha256_hex(const void *data, size_t n, char hex[65]);
aml_status aml_sha256_file(aml_ctx *c, const char *path, char hex[65]);

/* Writes a whole file atomically: tmp file in the same directory, fsync, rename. */
aml_status aml_write_file_atomic(aml_ctx *c, const char *path, const void *data, size_t n);
/* Reads a whole file; *out is NUL-terminated (malloc'd, caller frees). */
aml_status aml_read_file(aml_ctx *c, const char *path, char **out, size_t *n);
/* Reads a regular file of at most max bytes, for inputs that must not wedge or flood the
 * process: opened non-blocking (a FIFO cannot block the open), refused unless fstat says it is a
 * regular file (a FIFO, a device such as /dev/zero, a directory), and read up to max + 1 bytes so
 * a file larger than max (or one that grows while read) is refused without reading it all.
 * *out is NUL-terminated (malloc'd, caller frees). Errors: AML_ERR_INPUT (not a regular file,
 * larger than max), AML_ERR_IO (cannot open or read); the message names the path. */
aml_status aml_read_regular_file(aml_ctx *c, const char *path, size_t max, char **out, size_t *n);
/* mkdir -p */
aml_status aml_mkdirs(aml_ctx *c, const char *path);

/* Deterministic RNG (splitmix64 seeding + xoshiro256**), per trial / per fold. */
typedef struct aml_rng {
    uint64_t s[4];
} aml_rng;
void aml_rng_seed(aml_rng *r, uint64_t seed);
uint64_t aml_rng_next(aml_rng *r);
double aml_rng_uniform(aml_rng *r);               /* [0, 1) */
uint64_t aml_rng_below(aml_rng *r, uint64_t n);   /* [0, n) */
uint64_t aml_mix64(uint64_t a, uint64_t b);       /* hash two words into a seed */

#endif
