/* Helpers shared by the fuzz harnesses (header only: each harness is one executable): a private
 * temporary directory per process, and writing an input there as a file, since the engine reads
 * its inputs (CSV, HDF5, specs, configs) by path as the CLI and the daemon do. */
#ifndef AML_FUZZ_UTIL_H
#define AML_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The process's temporary directory (removed at exit with what is left in it). */
static char fuzz_tmp_dir[64];

static inline void fuzz_tmp_cleanup(void)
{
    if (!fuzz_tmp_dir[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_tmp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_tmp_dir);
}

static inline const char *fuzz_tmp(void)
{
    if (!fuzz_tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(fuzz_tmp_dir, sizeof fuzz_tmp_dir, "%.40s/amlfuzz.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(fuzz_tmp_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_tmp_cleanup);
    }
    return fuzz_tmp_dir;
}

/* TMP/name, malloc'd. */
static inline char *fuzz_path(const char *name)
{
    size_t n = strlen(fuzz_tmp()) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", fuzz_tmp(), name);
    return p;
}

/* Writes the input to TMP/name (replacing it); returns the path (malloc'd). */
static inline char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    char *p = fuzz_path(name);
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

/* AML_FUZZ_VERBOSE=1 in the environment: each harness prints what an input came to (the status
 * code or the error message), to see what a corpus file exercises. */
static inline void fuzz_note(const char *fmt, const char *arg)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("AML_FUZZ_VERBOSE") && *getenv("AML_FUZZ_VERBOSE") == '1';
    if (verbose) {
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
    }
}

/* A failed call must say why: a message that names the input file (the house rule: errors name
 * the file, row, column or field). Aborts, so that the fuzzer keeps the input, otherwise. */
static inline void fuzz_check_message(const char *what, const char *msg, const char *path)
{
    fuzz_note("fuzz: refused: %s", msg);
    if (!msg || !*msg || !strstr(msg, path)) {
        fprintf(stderr, "fuzz: %s failed with the message '%s', which does not name %s\n", what, msg ? msg : "(null)",
                path);
        abort();
    }
}

#endif
