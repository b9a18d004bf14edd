/* I/O fault injection for the fault tests (tests/e2e/test_fault_io.sh), as SQLite's tests inject
 * I/O errors: an LD_PRELOAD library that makes the Nth write, fsync or rename on a file under a
 * given directory fail with a chosen errno, so that every call site of the journal, the artifact
 * writer and the HDF5 writer can be made to fail in turn.
 *
 *   AML_FAULT_PATH=DIR      only calls on files under DIR count (everything else passes through)
 *   AML_FAULT_OP=OP         write | fsync | rename   (write also covers pwrite, fwrite, fflush, fclose)
 *   AML_FAULT_N=N           the Nth counted call of OP fails; 0 or unset: none fails
 *   AML_FAULT_ERRNO=E       ENOSPC (default) | EIO | EFBIG
 *   AML_FAULT_SHORT=1       a failing write writes half its bytes and returns that count instead
 *   AML_FAULT_LOG=FILE      every counted call appends "OP PATH" to FILE (to learn how many there are)
 *
 * Built only for the tests; never installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef size_t (*fwrite_fn)(const void *, size_t, size_t, FILE *);
typedef int (*stream_fn)(FILE *);
typedef int (*fd_fn)(int);
typedef int (*rename_fn)(const char *, const char *);

/* The next definition of NAME (libc's, or a sanitizer's interceptor), looked up once. */
#define REAL(name, type)                                                                           \
    static type real_##name;                                                                       \
    if (!real_##name)                                                                              \
        real_##name = (type)dlsym(RTLD_NEXT, #name)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counted[3];
enum { OP_WRITE, OP_FSYNC, OP_RENAME };
static const char *const op_names[] = {"write", "fsync", "rename"};

static const char *env(const char *name) { return getenv(name); }

static int under_prefix(const char *path)
{
    const char *prefix = env("AML_FAULT_PATH");
    if (!prefix || !*prefix || !path)
        return 0;
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0' || prefix[n - 1] == '/');
}

/* The path behind fd when it lies under AML_FAULT_PATH (in a per-thread buffer), else NULL. */
static const char *fd_under_prefix(int fd)
{
    static __thread char path[PATH_MAX];
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    return under_prefix(path) ? path : NULL;
}

static int fault_errno(void)
{
    const char *e = env("AML_FAULT_ERRNO");
    if (e && strcmp(e, "EIO") == 0)
        return EIO;
    if (e && strcmp(e, "EFBIG") == 0)
        return EFBIG;
    return ENOSPC;
}

/* Counts one call of op on a file under the prefix; 1 when this is the call that must fail. */
static int should_fail(int op, const char *path)
{
    pthread_mutex_lock(&lock);
    long n = ++counted[op];
    pthread_mutex_unlock(&lock);
    const char *log = env("AML_FAULT_LOG");
    if (log && *log) {
        REAL(write, write_fn);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            char line[PATH_MAX + 16];
            int len = snprintf(line, sizeof line, "%s %s\n", op_names[op], path);
            (void)real_write(fd, line, (size_t)len);
            close(fd);
        }
    }
    const char *want = env("AML_FAULT_OP"), *nth = env("AML_FAULT_N");
    if (!want || !nth || strcmp(want, op_names[op]) != 0)
        return 0;
    return atol(nth) == n;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    REAL(write, write_fn);
    const char *p;
    if (count > 0 && (p = fd_under_prefix(fd)) && should_fail(OP_WRITE, p)) {
        if (env("AML_FAULT_SHORT") && count > 1)
            return real_write(fd, buf, count / 2);
        errno = fault_errno();
        return -1;
    }
    return real_write(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    REAL(pwrite, pwrite_fn);
    const char *p;
    if (count > 0 && (p = fd_under_prefix(fd)) && should_fail(OP_WRITE, p)) {
        if (env("AML_FAULT_SHORT") && count > 1)
            return real_pwrite(fd, buf, count / 2, offset);
        errno = fault_errno();
        return -1;
    }
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite(fd, buf, count, offset);
}

/* The path behind a stream open for writing when it lies under AML_FAULT_PATH, else NULL: closing
 * a stream that was only read cannot lose data. */
static const char *stream_under_prefix(FILE *f)
{
    int fd = fileno(f);
    if (fd < 0 || (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        return NULL;
    return fd_under_prefix(fd);
}

/* stdio: the bytes reach the file through glibc's internal write, which no preload sees, so a
 * stream's failure is injected where the program learns of it: fwrite, fflush, fclose. */
size_t fwrite(const void *ptr, size_t size, size_t n, FILE *f)
{
    REAL(fwrite, fwrite_fn);
    const char *p;
    if (size * n > 0 && (p = stream_under_prefix(f)) && should_fail(OP_WRITE, p)) {
        errno = fault_errno();
        return 0;
    }
    return real_fwrite(ptr, size, n, f);
}

int fflush(FILE *f)
{
    REAL(fflush, stream_fn);
    const char *p;
    if (f && (p = stream_under_prefix(f)) && should_fail(OP_WRITE, p)) {
        errno = fault_errno();
        return EOF;
    }
    return real_fflush(f);
}

int fclose(FILE *f)
{
    REAL(fclose, stream_fn);
    const char *p;
    int failing = (p = stream_under_prefix(f)) && should_fail(OP_WRITE, p);
    int rc = real_fclose(f);
    if (failing) {
        errno = fault_errno();
        return EOF;
    }
    return rc;
}

int fsync(int fd)
{
    REAL(fsync, fd_fn);
    const char *p;
    if ((p = fd_under_prefix(fd)) && should_fail(OP_FSYNC, p)) {
        errno = fault_errno();
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync, fd_fn);
    const char *p;
    if ((p = fd_under_prefix(fd)) && should_fail(OP_FSYNC, p)) {
        errno = fault_errno();
        return -1;
    }
    return real_fdatasync(fd);
}

int rename(const char *from, const char *to)
{
    REAL(rename, rename_fn);
    if ((under_prefix(to) || under_prefix(from)) && should_fail(OP_RENAME, to)) {
        errno = fault_errno();
        return -1;
    }
    return real_rename(from, to);
}
