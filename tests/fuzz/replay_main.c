/* The replay driver: a plain main() that feeds every file of the given corpus directories (or
 * files) to one fuzz target's LLVMFuzzerTestOneInput, in name order, so that every build (gcc
 * included, without libFuzzer) runs each harness on its committed seeds and reproducers.
 *
 * Each input is bounded:
 * - time: alarm(AML_FUZZ_TIMEOUT seconds, default 20) before each input; when it fires the
 *   driver names the input and exits 1 (the sanitizers' reports need no signal handler for this).
 * - memory: in a build without AddressSanitizer, RLIMIT_AS (AML_FUZZ_RSS_MB, default 8192) for the
 *   whole process; inputs run one after the other and free what they allocate, so that is a
 *   bound per input. Under ASan an address-space limit cannot work (the shadow memory alone
 *   reserves terabytes), so ASan's own limits are compiled in below: a background thread kills
 *   the process above hard_rss_limit_mb, and one allocation above max_allocation_size_mb is a
 *   reported error: an input must not make the engine allocate what it merely declares.
 * Exit status: 0 when every input returned, 1 otherwise (a sanitizer report aborts first). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a harness, as in libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

#ifdef REPLAY_ASAN
/* Read before ASAN_OPTIONS, which can still override each of them. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "hard_rss_limit_mb=4096:max_allocation_size_mb=2048";
}
#endif

static const char *current = "(none)";

static void on_alarm(int sig)
{
    (void)sig;
    /* Only async-signal-safe calls here. */
    const char *a = "replay: ", *b = ": timed out (AML_FUZZ_TIMEOUT)\n";
    ssize_t r = write(2, a, strlen(a));
    r = write(2, current, strlen(current));
    r = write(2, b, strlen(b));
    (void)r;
    _exit(1);
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    char *end;
    long v = s ? strtol(s, &end, 10) : dflt;
    return s && (end == s || *end || v <= 0) ? dflt : v;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs one file; returns 0, or 1 when it cannot be read. */
static int run_file(const char *path, unsigned timeout)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fprintf(stderr, "replay: %s: cannot stat\n", path);
        fclose(f);
        return 1;
    }
    size_t n = (size_t)st.st_size;
    /* A copy of exactly n bytes, so that ASan catches a harness or parser reading past the end. */
    uint8_t *data = malloc(n ? n : 1);
    if (!data || fread(data, 1, n, f) != n) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        free(data);
        fclose(f);
        return 1;
    }
    fclose(f);
    current = path;
    alarm(timeout);
    LLVMFuzzerTestOneInput(data, n);
    alarm(0);
    current = "(none)";
    free(data);
    return 0;
}

/* Runs every regular file of dir in name order; *count gets how many. */
static int run_dir(const char *dir, unsigned timeout, int *count)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s (every target needs a committed seed corpus)\n", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            bad |= run_file(names[i], timeout);
            ++*count;
        }
        free(names[i]);
    }
    free(names);
    if (*count == 0) {
        fprintf(stderr, "replay: %s: no inputs (every target needs a committed seed corpus)\n", dir);
        return 1;
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n(env: AML_FUZZ_TIMEOUT seconds per input, "
                        "AML_FUZZ_RSS_MB memory without ASan)\n",
                argv[0]);
        return 2;
    }
    unsigned timeout = (unsigned)env_long("AML_FUZZ_TIMEOUT", 20);
#ifndef REPLAY_ASAN
    rlim_t mb = (rlim_t)env_long("AML_FUZZ_RSS_MB", 8192);
    struct rlimit rl = {mb << 20, mb << 20};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        fprintf(stderr, "replay: cannot limit memory: %s\n", strerror(errno));
#endif
    signal(SIGALRM, on_alarm);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int count = 0;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            bad |= run_dir(argv[i], timeout, &count);
        } else {
            bad |= run_file(argv[i], timeout);
            count = 1;
        }
        fprintf(stderr, "replay: %s: %d input%s\n", argv[i], count, count == 1 ? "" : "s");
    }
    return bad;
}
