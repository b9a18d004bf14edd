/* automl search SPEC.lua: run the spec's search; command-line options win over the spec. */
#include "cli.h"

#include "search.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: automl search SPEC.lua [--budget SEC] [--trials N] [--seed S] [--threads T]\n"
            "                     [--parallel P] [--strategy S] [--out RUN_DIR] [--resume] [--json]\n"
            "                     [--unsafe-spec]\n\n"
            "Runs the search a Lua spec describes (see scripts/*.lua): trials of model families and\n"
            "hyperparameters in parallel, a leaderboard, and the winner refitted on all rows and\n"
            "exported as repo/<name>/<version>/. Options override the spec:\n"
            "  --budget SEC   wall-clock budget in seconds (budget.seconds), covering refit and export\n"
            "  --trials N     stop after N trials (budget.trials)\n"
            "  --seed S       random seed (seed); trial configurations depend only on seed and trial id\n"
            "  --threads T    total threads (threads); default: every core\n"
            "  --parallel P   trials run at once (parallel); threads per trial = T / P\n"
            "  --strategy S   auto (portfolio, then TPE with successive halving), random, tpe, halving\n"
            "  --out DIR      run directory (out): trials.jsonl, leaderboard.csv, summary.json,\n"
            "                 refit_predictions.csv, artifact.txt; default runs/<time>-<pid>\n"
            "  --resume       continue the search in --out DIR: finished trials are reused, not rerun\n"
            "  --json         print a machine-readable summary on stdout at the end\n"
            "  --unsafe-spec  give the spec the full Lua standard library (files, processes, C\n"
            "                 modules); by default it runs in a sandbox with none of them\n\n"
            "Ctrl-C stops the search and still exports the best trial so far.\n"
            "Exit status: 0 ok, 1 runtime failure, 2 bad usage or a mistake in the spec or data.\n");
}

static void on_sigint(int sig)
{
    (void)sig;
    int saved = errno; /* the interrupted code may be about to read it */
    aml_search_request_stop();
    errno = saved;
}

static int parse_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !(v >= lo && v <= hi)) {
        cli_error("search: %s: expected a number in [%.10g, %.10g], got '%s'", opt, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* A decimal integer in [lo, hi]: counts must not wrap or be rounded on their way to an int. */
static int parse_integer(const char *opt, const char *text, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno || v < lo || v > hi) {
        cli_error("search: %s: expected an integer in [%lld, %lld], got '%s'", opt, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_search(int argc, char **argv)
{
    double t0 = aml_now();
    const char *spec_path = NULL, *out_dir = NULL, *strategy = NULL;
    double budget = -1;
    long long trials = -1, seed = -1, threads = -1, parallel = -1;
    int resume = 0, json = 0, unsafe = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long *count = !strcmp(a, "--trials")     ? &trials
                           : !strcmp(a, "--seed")     ? &seed
                           : !strcmp(a, "--threads")  ? &threads
                           : !strcmp(a, "--parallel") ? &parallel
                                                      : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (count || !strcmp(a, "--budget") || !strcmp(a, "--out") || !strcmp(a, "--strategy")) {
            if (i + 1 >= argc) {
                cli_error("search: %s needs a value", a);
                return EXIT_USAGE;
            }
            const char *v = argv[++i];
            long long hi = count == &trials ? AML_MAX_TRIALS : count == &seed ? INT64_MAX : AML_MAX_THREADS;
            if (!strcmp(a, "--strategy"))
                strategy = v;
            else if (!strcmp(a, "--out"))
                out_dir = v;
            else if (!count && parse_number(a, v, 0.001, AML_MAX_BUDGET_SECONDS, &budget) != 0)
                return EXIT_USAGE;
            else if (count && parse_integer(a, v, count == &seed ? 0 : 1, hi, count) != 0)
                return EXIT_USAGE;
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--unsafe-spec")) {
            unsafe = 1;
        } else if (a[0] == '-') {
            cli_error("search: unknown option '%s' (see automl search --help)", a);
            return EXIT_USAGE;
        } else if (!spec_path) {
            spec_path = a;
        } else {
            cli_error("search: one spec file expected, got '%s' too", a);
            return EXIT_USAGE;
        }
    }
    if (!spec_path) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (resume && !out_dir) {
        cli_error("search: --resume needs --out RUN_DIR (the run to continue)");
        return EXIT_USAGE;
    }
    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    aml_registry_scan_defaults(reg);
    aml_search_spec spec;
    aml_search_result res = {0};
    int rc;
    /* SIGINT, and a --budget given here, stop a spec that loops before it returns its search. */
    signal(SIGINT, on_sigint);
    aml_spec_options opt = {.unsafe = unsafe, .cancel = aml_search_stop_flag(), .deadline = budget > 0 ? t0 + budget : 0};
    aml_status st = aml_spec_load_with(c, spec_path, reg, &opt, &spec);
    if (st != AML_OK) {
        signal(SIGINT, SIG_DFL);
        fprintf(stderr, "%s\n", aml_errmsg(c));
        rc = st == AML_ERR_CANCELLED ? EXIT_RUNTIME : EXIT_USAGE;
        goto done_nospec;
    }
    if (budget > 0)
        spec.budget_seconds = budget;
    if (trials > 0) {
        spec.budget_trials = trials;
        if (budget <= 0 && !spec.budget_seconds_given)
            spec.budget_seconds = 0; /* --trials alone: no clock unless the spec sets one */
    }
    if (seed >= 0)
        spec.seed = (uint64_t)seed;
    if (threads > 0)
        spec.threads = (int)threads;
    if (parallel > 0)
        spec.parallel_trials = (int)parallel;
    if (strategy) {
        free(spec.strategy);
        spec.strategy = aml_xstrdup(strategy);
    }
    if (out_dir) {
        free(spec.out_dir);
        spec.out_dir = aml_xstrdup(out_dir);
    }
    spec.resume = resume;
    spec.json = json;
    st = aml_search_run(c, &spec, reg, t0, &res);
    signal(SIGINT, SIG_DFL);
    if (st != AML_OK) {
        cli_error("%s", aml_errmsg(c));
        rc = cli_exit_for(st);
        goto done;
    }
    printf("best: %s %.4f (%lld trials, %lld failed, %lld resumed) in %.1f s\n", res.best_model,
           res.best_score, (long long)res.n_trials, (long long)res.n_failed, (long long)res.n_resumed,
           res.seconds);
    printf("run: %s\n", res.run_dir);
    printf("artifact: %s\n", res.artifact_dir);
    rc = EXIT_OK;
done:
    aml_search_result_free(&res);
    aml_spec_free(&spec);
done_nospec:
    aml_registry_free(reg);
    aml_ctx_free(c);
    return rc;
}
