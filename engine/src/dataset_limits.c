/* What a data file may declare before anything is allocated for it: the memory limit every
 * reader checks sizes against (AML_MAX_DATA_BYTES, else the machine's memory), and the UTF-8
 * check every string entering a dataset passes (names, levels, labels reach JSON and /metrics). */
#include "dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* "8G", "512M", "1000000": a byte count with an optional binary suffix; -1 when malformed. */
static int64_t parse_bytes(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-')
        return -1;
    int shift = 0;
    switch (*end) {
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    case 'T': case 't': shift = 40; end++; break;
    default: break;
    }
    if (*end || v > (unsigned long long)INT64_MAX >> shift)
        return -1;
    return (int64_t)(v << shift);
}

/* The cgroup v2 memory limit of this process's container, or -1 when there is none. */
static int64_t cgroup_limit(void)
{
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (!f)
        return -1;
    char line[64] = "";
    int64_t v = -1;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        v = parse_bytes(line); /* "max" reads as -1: no limit */
    }
    fclose(f);
    return v;
}

static int from_env; /* the last limit came from AML_MAX_DATA_BYTES */

int64_t aml_data_limit(void)
{
    const char *env = getenv("AML_MAX_DATA_BYTES");
    from_env = env && *env;
    if (from_env)
        return parse_bytes(env);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    int64_t limit = pages > 0 && page > 0 ? (int64_t)pages * page : INT64_MAX;
    int64_t cg = cgroup_limit();
    if (cg > 0 && cg < limit)
        limit = cg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur < limit)
        limit = (int64_t)rl.rlim_cur;
    return limit;
}

void aml_format_bytes(double bytes, char out[32])
{
    static const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, 32, "%.0f bytes", bytes);
    else
        snprintf(out, 32, bytes < 100000 ? "%.1f %s" : "%.3g %s", bytes, unit[u]);
}

aml_status aml_data_check_bytes(aml_ctx *c, uint64_t bytes, int overflow, const char *what)
{
    int64_t limit = aml_data_limit();
    if (limit < 0)
        return aml_fail(c, AML_ERR_INPUT, "AML_MAX_DATA_BYTES: expected a byte count such as 8G, 512M or 1000000, got '%s'",
                        getenv("AML_MAX_DATA_BYTES"));
    if (!overflow && bytes <= (uint64_t)limit)
        return AML_OK;
    char need[32], have[32];
    if (overflow)
        snprintf(need, sizeof need, "more than 2^64 bytes");
    else
        aml_format_bytes((double)bytes, need);
    aml_format_bytes((double)limit, have);
    return aml_fail(c, AML_ERR_INPUT, "%s %s of memory, more than the limit of %s (%s; set AML_MAX_DATA_BYTES to change it)",
                    what, need, have, from_env ? "AML_MAX_DATA_BYTES" : "this machine's memory");
}

aml_status aml_data_check_memory(aml_ctx *c, const char *path, const char *what, uint64_t n_rows, uint64_t n_cols,
                                 uint64_t cell_bytes, uint64_t row_bytes)
{
    uint64_t row, bytes = 0;
    int overflow = __builtin_mul_overflow(n_cols, cell_bytes, &row) || __builtin_add_overflow(row, row_bytes, &row) ||
                   __builtin_mul_overflow(n_rows, row, &bytes);
    char desc[512];
    snprintf(desc, sizeof desc, "%s: %s: %llu x %llu cells need", path, what, (unsigned long long)n_rows,
             (unsigned long long)n_cols);
    return aml_data_check_bytes(c, bytes, overflow, desc);
}

int64_t aml_utf8_invalid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (b >= 0xC2 && b <= 0xDF)
            len = 2;
        else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0)
                lo = 0xA0; /* no overlong forms */
            else if (b == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0)
                lo = 0x90;
            else if (b == 0xF4)
                hi = 0x8F; /* nothing past U+10FFFF */
        } else {
            return (int64_t)i;
        }
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi)
            return (int64_t)i;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return (int64_t)i;
        i += len;
    }
    return -1;
}

char *aml_escape_bytes(const char *s, size_t n)
{
    char *out = aml_xmalloc(4 * n + 1), *p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b >= 0x20 && b < 0x7F && b != '\\')
            *p++ = (char)b;
        else
            p += sprintf(p, "\\x%02X", b);
    }
    *p = 0;
    return out;
}
