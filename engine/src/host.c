/* The services table handed to plugins: logging, per-call errors, deadline and cancel checks,
 * the thread budget, and whole-buffer blob I/O over memory. */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *host_alloc(size_t n) { return malloc(n); }
static void host_dealloc(void *p) { free(p); }

static void host_log(aml_host_ctx *c, int level, const char *fmt, ...)
{
    if (c && level < c->verbose)
        return;
    static const char *names[] = {"debug", "info", "warning", "error"};
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (level < 0)
        level = 0;
    if (level > 3)
        level = 3;
    if (c && c->trial_id >= 0)
        fprintf(stderr, "automl: trial %lld: %s: %s\n", (long long)c->trial_id, names[level], line);
    else
        fprintf(stderr, "automl: %s: %s\n", names[level], line);
}

static void host_set_error(aml_host_ctx *c, const char *fmt, ...)
{
    if (!c)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
}

static int host_should_stop(aml_host_ctx *c)
{
    if (!c)
        return 0;
    if (c->cancel && __atomic_load_n(c->cancel, __ATOMIC_RELAXED)) /* set by a signal handler (search.c) */
        return 1;
    return c->deadline > 0 && aml_now() > c->deadline;
}

static int host_threads(aml_host_ctx *c) { return c && c->threads > 0 ? c->threads : 1; }
static void host_progress(aml_host_ctx *c, double fraction) { (void)c, (void)fraction; }

static aml_status host_write(aml_writer *w, const void *buf, size_t n)
{
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        w->buf = aml_xrealloc(w->buf, cap);
        w->cap = cap;
    }
    if (n)
        memcpy(w->buf + w->len, buf, n);
    w->len += n;
    return AML_OK;
}

static aml_status host_read(aml_reader *r, void *buf, size_t n)
{
    if (n > r->len - r->pos)
        return AML_ERR_FORMAT;
    if (n)
        memcpy(buf, r->buf + r->pos, n);
    r->pos += n;
    return AML_OK;
}

static const aml_host services = {
    .version = 1,
    .size = sizeof(aml_host),
    .alloc = host_alloc,
    .dealloc = host_dealloc,
    .log = host_log,
    .set_error = host_set_error,
    .should_stop = host_should_stop,
    .threads = host_threads,
    .progress = host_progress,
    .write = host_write,
    .read = host_read,
};

const aml_host *aml_host_services(void) { return &services; }

void aml_host_ctx_init(aml_host_ctx *hc, int threads)
{
    memset(hc, 0, sizeof *hc);
    hc->threads = threads > 0 ? threads : 1;
    hc->trial_id = -1;
    hc->verbose = 1;
}

void aml_writer_init(aml_writer *w) { memset(w, 0, sizeof *w); }
void aml_writer_release(aml_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}
void aml_reader_init(aml_reader *r, const void *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
}

int aml_cursor_take(aml_cursor *k, void *out, size_t n)
{
    if (n > k->left)
        return -1;
    memcpy(out, k->p, n);
    k->p += n;
    k->left -= n;
    return 0;
}

char *aml_cursor_take_str(aml_cursor *k)
{
    uint32_t n;
    if (aml_cursor_take(k, &n, 4) || n > k->left)
        return NULL;
    char *s = aml_xmalloc(n + 1u);
    aml_cursor_take(k, s, n);
    s[n] = 0;
    return s;
}
