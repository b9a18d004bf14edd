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

/* The length of the well-formed UTF-8 sequence at p (1 to 4 bytes), or 0 when the bytes there are
 * not one: a stray continuation byte, a truncated sequence, an overlong form, a surrogate or a
 * code point past U+10FFFF. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1fu;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0fu;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Strings in answers come from artifacts and requests, and need not be UTF-8: each byte that does
 * not start a well-formed sequence is written as U+FFFD, so JSON and Prometheus parsers always
 * get valid text (this is output, not data). */
#define REPLACEMENT "\xef\xbf\xbd"

void amld_buf_json_string(amld_buf *b, const char *s)
{
    reserve(b, strlen(s) + 2);
    amld_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (n == 0) {
            amld_buf_puts(b, REPLACEMENT);
            p++;
        } else if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            amld_buf_put(b, e, 2);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            amld_buf_printf(b, "\\u%04x", *p);
            p++;
        } else {
            amld_buf_put(b, (const char *)p, n);
            p += n;
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
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (n == 0)
            amld_buf_puts(b, REPLACEMENT);
        else if (*p == '\\')
            amld_buf_puts(b, "\\\\");
        else if (*p == '"')
            amld_buf_puts(b, "\\\"");
        else if (*p == '\n')
            amld_buf_puts(b, "\\n");
        else
            amld_buf_put(b, (const char *)p, n);
        p += n ? n : 1;
    }
}

void amld_buf_free(amld_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}
