/* The services table the engine hands to plugins (plugin.h's aml_host), the per-call context
 * behind it, and the memory/file writers and readers used for model blobs. */
#ifndef AML_HOST_H
#define AML_HOST_H

#include "core.h"
#include <stdio.h>

struct aml_host_ctx {
    char msg[1024];          /* set_error lands here */
    int threads;             /* thread budget of the call */
    double deadline;         /* aml_now() value after which should_stop is true; 0 = none */
    volatile int *cancel;    /* set non-zero to stop every trial (SIGINT, search end); may be NULL */
    int64_t trial_id;        /* for log lines; -1 outside trials */
    int verbose;             /* log level threshold: messages below it are dropped */
};

const aml_host *aml_host_services(void);
void aml_host_ctx_init(aml_host_ctx *hc, int threads);

/* A growable in-memory writer, and a reader over a memory span. */
struct aml_writer {
    unsigned char *buf;
    size_t len, cap;
};
struct aml_reader {
    const unsigned char *buf;
    size_t len, pos;
};
void aml_writer_init(aml_writer *w);
void aml_writer_release(aml_writer *w);
void aml_reader_init(aml_reader *r, const void *buf, size_t len);

/* A read position in a blob the engine parses itself (model and pipeline headers). */
typedef struct aml_cursor {
    const unsigned char *p;
    size_t left;
} aml_cursor;
/* Copies n bytes out and moves on; -1 (nothing moved) when fewer are left. */
int aml_cursor_take(aml_cursor *k, void *out, size_t n);
/* A u32 length then that many bytes, as a malloc'd string; NULL when truncated. */
char *aml_cursor_take_str(aml_cursor *k);

#endif
