/* The error context, allocation that cannot fail silently, hashing, whole-file I/O and the
 * engine's deterministic RNG. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

aml_ctx *aml_ctx_new(void) { return aml_xcalloc(1, sizeof(aml_ctx)); }
void aml_ctx_free(aml_ctx *c) { free(c); }
const char *aml_errmsg(const aml_ctx *c) { return c ? c->msg : ""; }

aml_status aml_fail(aml_ctx *c, aml_status st, const char *fmt, ...)
{
    if (c) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, sizeof c->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

void aml_errprefix(aml_ctx *c, const char *fmt, ...)
{
    if (!c)
        return;
    char prefix[512], old[sizeof c->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, c->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof c->msg - 3)
        n = sizeof c->msg - 3;
    memcpy(c->msg, prefix, n);
    memcpy(c->msg + n, ": ", 2);
    size_t room = sizeof c->msg - n - 3, len = strlen(old);
    if (len > room)
        len = room;
    memcpy(c->msg + n + 2, old, len);
    c->msg[n + 2 + len] = 0;
}

static void out_of_memory(size_t n)
{
    fprintf(stderr, "automl: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *aml_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *aml_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *aml_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *aml_xstrdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(aml_xmalloc(n), s, n);
}

char *aml_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = aml_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

double aml_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void to_hex(const unsigned char *d, unsigned n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = 0;
}

void aml_sha256(const void *data, size_t n, unsigned char digest[32])
{
    unsigned len = 32;
    EVP_Digest(data, n, digest, &len, EVP_sha256(), NULL);
}

void aml_sha256_hex(const void *data, size_t n, char hex[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(data, n, d, &len, EVP_sha256(), NULL);
    to_hex(d, len, hex);
}

aml_status aml_sha256_file(aml_ctx *c, const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return aml_fail(c, AML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, got);
    int err = ferror(f);
    fclose(f);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(md, d, &len);
    EVP_MD_CTX_free(md);
    if (err)
        return aml_fail(c, AML_ERR_IO, "%s: read error", path);
    to_hex(d, len, hex);
    return AML_OK;
}

aml_status aml_write_file_atomic(aml_ctx *c, const char *path, const void *data, size_t n)
{
    char *tmp = aml_xasprintf("%s.tmp.%ld", path, (long)getpid());
    aml_status st = AML_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    const char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = aml_fail(c, AML_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (st == AML_OK && fsync(fd) != 0)
        st = aml_fail(c, AML_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    close(fd);
    if (st == AML_OK && rename(tmp, path) != 0)
        st = aml_fail(c, AML_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (st != AML_OK)
        unlink(tmp);
done:
    free(tmp);
    return st;
}

aml_status aml_read_file(aml_ctx *c, const char *path, char **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return aml_fail(c, AML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = aml_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0)
            buf = aml_xrealloc(buf, cap *= 2);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return aml_fail(c, AML_ERR_IO, "%s: read error", path);
    }
    buf[len] = 0;
    *out = buf;
    if (n)
        *n = len;
    return AML_OK;
}

aml_status aml_read_regular_file(aml_ctx *c, const char *path, size_t max, char **out, size_t *n)
{
    char *buf = NULL;
    aml_status st = AML_OK;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return aml_fail(c, AML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = aml_fail(c, AML_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: not a regular file (%s)", path,
                      S_ISDIR(sb.st_mode)    ? "a directory"
                      : S_ISFIFO(sb.st_mode) ? "a FIFO"
                      : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                                                                   : "a socket or other special file");
        goto done;
    }
    if (sb.st_size > 0 && (uint64_t)sb.st_size > max) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: %lld bytes, more than the limit of %zu", path,
                      (long long)sb.st_size, max);
        goto done;
    }
    /* st_size is a hint only: the file may grow, so read at most max + 1 bytes. */
    size_t cap = (size_t)sb.st_size < max ? (size_t)sb.st_size + 1 : max + 1, len = 0;
    buf = aml_xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > max)
                break;
            cap = cap > max / 2 ? max + 1 : 2 * cap;
            buf = aml_xrealloc(buf, cap + 1);
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            st = aml_fail(c, AML_ERR_IO, "%s: read error: %s", path, strerror(errno));
            goto done;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len > max) {
        st = aml_fail(c, AML_ERR_INPUT, "%s: more than the limit of %zu bytes", path, max);
        goto done;
    }
    buf[len] = 0;
    *out = buf;
    buf = NULL;
    if (n)
        *n = len;
done:
    free(buf);
    close(fd);
    return st;
}

aml_status aml_mkdirs(aml_ctx *c, const char *path)
{
    char *p = aml_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            aml_status st = aml_fail(c, AML_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return st;
        }
        *s = '/';
    }
    aml_status st = AML_OK;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        st = aml_fail(c, AML_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
    free(p);
    return st;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void aml_rng_seed(aml_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t aml_rng_next(aml_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double aml_rng_uniform(aml_rng *r) { return (double)(aml_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t aml_rng_below(aml_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Lemire's multiply-shift with rejection: unbiased. */
    for (;;) {
        uint64_t x = aml_rng_next(r);
        __uint128_t m = (__uint128_t)x * n;
        uint64_t lo = (uint64_t)m;
        if (lo >= n || lo >= (-n) % n)
            return (uint64_t)(m >> 64);
    }
}

uint64_t aml_mix64(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ULL);
    return splitmix64(&x);
}
