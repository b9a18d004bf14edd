/* A growable string for response bodies and the metrics exposition, with JSON and Prometheus
 * escaping; and the daemon's log line. */
#include "serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void amld_log(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "automld: %s\n", line);
}

static void reserve(amld_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->s = aml_xrealloc(b->s, cap);
    b->cap = cap;
}

void amld_buf_put(amld_buf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void amld_buf_puts(amld_buf *b, const char *s) { amld_buf_put(b, s, strlen(s)); }

void amld_buf_printf(amld_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        amld_buf_put(b, small, (size_t)n);
        return;
    }
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void amld_buf_json_string(amld_buf *b, const char *s)
{
    reserve(b, strlen(s) + 2);
    amld_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            amld_buf_put(b, e, 2);
        } else if (*p < 0x20) {
            amld_buf_printf(b, "\\u%04x", *p);
        } else {
            amld_buf_put(b, (const char *)p, 1);
        }
    }
    amld_buf_put(b, "\"", 1);
}

void amld_buf_json_double(amld_buf *b, double x)
{
    if (!isfinite(x))
        amld_buf_puts(b, "null");
    else
        amld_buf_printf(b, "%.17g", x);
}

void amld_buf_label(amld_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            amld_buf_puts(b, "\\\\");
        else if (*s == '"')
            amld_buf_puts(b, "\\\"");
        else if (*s == '\n')
            amld_buf_puts(b, "\\n");
        else
            amld_buf_put(b, s, 1);
    }
}

void amld_buf_free(amld_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}
