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

#endif
