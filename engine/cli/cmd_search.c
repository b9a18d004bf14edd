/* automl search SPEC.lua: run the spec's search; command-line options win over the spec.
 * automl search DATA --target COL: the same without a spec file: the command line becomes a spec
 * (printed, and saved in the run directory, so it can be edited and run again). */
#include "cli.h"

#include "search.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: automl search SPEC.lua [--budget SEC] [--trials N] [--seed S] [--threads T]\n"
            "                     [--parallel P] [--strategy S] [--out RUN_DIR] [--resume] [--json]\n"
            "                     [--unsafe-spec]\n"
            "       automl search DATA [--target COL] [--task TASK] [--metric M] [--repo DIR]\n"
            "                     [--name NAME] [--print-spec] [the options above]\n\n"
            "Runs the search a Lua spec describes (see scripts/*.lua): trials of model families and\n"
            "hyperparameters in parallel, a leaderboard, and the winner refitted on all rows and\n"
            "exported as repo/<name>/<version>/.\n\n"
            "Without a spec (DATA: a CSV table, or an HDF5 dataset from automl import), the command\n"
            "line is the spec: every model family, a 60 s budget unless --budget or --trials, the CSV\n"
            "imported into the run directory, the model exported to models/<DATA's stem>. The spec it\n"
            "runs is printed and saved as RUN_DIR/spec.lua; `automl search FILE.lua` runs it again.\n"
            "  --target COL   the CSV's target column (default: the last one)\n"
            "  --task TASK    auto, classification or regression (default auto)\n"
            "  --metric M     auto, accuracy, balanced_accuracy, log_loss, roc_auc, f1_macro, rmse, mae, r2\n"
            "  --repo DIR     model repository to export to (default models)\n"
            "  --name NAME    model name in the repository (default: DATA's file name without extension)\n"
            "  --print-spec   print the spec and exit without searching (save it, edit it, run it)\n"
            "A .lua file is a spec; so is a file that says automl.search in its first 64 KiB; any\n"
            "other file is data. Options override the spec:\n"
            "  --budget SEC   wall-clock budget in seconds (budget.seconds), covering refit and export\n"
            "  --trials N     stop after N trials (budget.trials)\n"
            "  --seed S       random seed (seed); trial configurations depend only on seed and trial id\n"
            "  --threads T    total threads (threads); default: every core\n"
            "  --parallel P   trials run at once (parallel); threads per trial = T / P\n"
            "  --strategy S   auto (portfolio, then TPE with successive halving), random, tpe, halving\n"
            "  --out DIR      run directory (out): trials.jsonl, leaderboard.csv, summary.json,\n"
            "                 refit_predictions.csv, artifact.txt; default runs/<time>-<pid>\n"
            "  --resume       continue the search in --out DIR: finished trials are reused, not rerun\n"
            "  --json         stdout holds only the summary (summary.json), printed at the end;\n"
            "                 every human line (table, progress, spec) goes to stderr\n"
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
    const char *target = NULL, *task = NULL, *metric = NULL, *repo = NULL, *name = NULL;
    const char *data_opt = NULL; /* the first option only the data form takes */
    double budget = -1;
    long long trials = -1, seed = -1, threads = -1, parallel = -1;
    int resume = 0, json = 0, unsafe = 0, print_spec = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long *count = !strcmp(a, "--trials")     ? &trials
                           : !strcmp(a, "--seed")     ? &seed
                           : !strcmp(a, "--threads")  ? &threads
                           : !strcmp(a, "--parallel") ? &parallel
                                                      : NULL;
        const char **text = !strcmp(a, "--target")   ? &target
                            : !strcmp(a, "--task")   ? &task
                            : !strcmp(a, "--metric") ? &metric
                            : !strcmp(a, "--repo")   ? &repo
                            : !strcmp(a, "--name")   ? &name
                                                     : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (text || count || !strcmp(a, "--budget") || !strcmp(a, "--out") || !strcmp(a, "--strategy")) {
            if (i + 1 >= argc) {
                cli_error("search: %s needs a value", a);
                return EXIT_USAGE;
            }
            const char *v = argv[++i];
            long long hi = count == &trials ? AML_MAX_TRIALS : count == &seed ? INT64_MAX : AML_MAX_THREADS;
            if (text) {
                *text = v;
                data_opt = data_opt ? data_opt : a;
            } else if (!strcmp(a, "--strategy"))
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
        } else if (!strcmp(a, "--print-spec")) {
            print_spec = 1;
            data_opt = data_opt ? data_opt : a;
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
    int data_form = !cli_is_spec_file(spec_path);
    if (!data_form && data_opt) {
        cli_error("search: %s is for `automl search DATA` (no spec); %s is a spec, which says it itself", data_opt,
                  spec_path);
        return EXIT_USAGE;
    }
    if (data_form && access(spec_path, R_OK) != 0) {
        cli_error("search: %s: %s (expected a spec .lua, a CSV table or an HDF5 dataset)", spec_path,
                  strerror(errno));
        return EXIT_USAGE;
    }
    if (data_form && task && strcmp(task, "auto") && strcmp(task, "classification") && strcmp(task, "regression")) {
        cli_error("search: --task: expected auto, classification or regression, got '%s'", task);
        return EXIT_USAGE;
    }
    if (data_form && target && cli_is_hdf5(spec_path)) {
        cli_error("search: --target: %s is an HDF5 dataset, whose target was chosen at import (automl import "
                  "--target); give the CSV instead",
                  spec_path);
        return EXIT_USAGE;
    }

    aml_ctx *c = aml_ctx_new();
    aml_registry *reg = aml_registry_new();
    aml_registry_scan_defaults(reg);
    aml_search_spec spec;
    aml_search_result res = {0};
    char *generated = NULL, *saved_spec = NULL, *run_dir = NULL;
    int rc, json_fd = -1;
    aml_status st;
    if (print_spec)
        json = 0; /* the spec is the output */
    FILE *human = json ? stderr : stdout;
    if (json) {
        /* stdout is the summary's alone: every other line, whoever writes it (the search, a spec's
         * print(), a plugin), goes to stderr until the summary is printed. */
        fflush(stdout);
        json_fd = dup(STDOUT_FILENO);
        if (json_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
            cli_error("search: --json: cannot set stdout aside: %s", strerror(errno));
            rc = EXIT_RUNTIME;
            goto done_nospec;
        }
    }
    /* SIGINT, and a --budget given here, stop a spec that loops before it returns its search. */
    signal(SIGINT, on_sigint);
    aml_spec_options opt = {.unsafe = unsafe, .cancel = aml_search_stop_flag(), .deadline = budget > 0 ? t0 + budget : 0};
    if (data_form) {
        cli_data_form d = {.data = spec_path, .target = target, .task = task, .metric = metric, .repo = repo,
                           .name = name, .strategy = strategy, .budget = budget, .trials = trials,
                           .seed = seed, .threads = threads, .parallel = parallel};
        generated = cli_spec_text(&d);
        run_dir = aml_xstrdup(out_dir ? out_dir : NULL);
        if (!run_dir)
            run_dir = aml_search_default_run_dir();
        out_dir = run_dir;
        /* Loaded from the text (--print-spec: checked, then printed): what is printed runs. It
         * is saved as RUN_DIR/spec.lua once the data is in. */
        saved_spec = aml_xasprintf("%s/spec.lua", run_dir);
        opt.unsafe = 0;
        st = aml_spec_load_buffer(c, "automl search", generated, strlen(generated), reg, &opt, &spec);
        if (st == AML_OK && print_spec) {
            aml_spec_free(&spec);
            signal(SIGINT, SIG_DFL);
            fputs(generated, stdout);
            rc = EXIT_OK;
            goto done_nospec;
        }
        /* The spec says all of these now: the overrides below must not apply them twice. */
        budget = -1;
        trials = seed = threads = parallel = -1;
        strategy = NULL;
    } else {
        st = aml_spec_load_with(c, spec_path, reg, &opt, &spec);
    }
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
    if (!spec.out_dir)
        spec.out_dir = aml_search_default_run_dir(); /* decided here: a CSV is imported into it */
    spec.resume = resume;
    spec.json = json;
    struct stat sb;
    int made_run_dir = stat(spec.out_dir, &sb) != 0;
    st = aml_mkdirs(c, spec.out_dir);
    if (st == AML_OK)
        st = cli_import_search_data(c, &spec, human);
    if (st == AML_OK && saved_spec) {
        st = aml_write_file_atomic(c, saved_spec, generated, strlen(generated));
        free(spec.spec_path); /* the manifest names the spec file the search ran */
        spec.spec_path = aml_xstrdup(saved_spec);
        if (st == AML_OK)
            fprintf(human, "spec (saved as %s; edit it, run it again with automl search %s):\n%s", saved_spec,
                    saved_spec, generated);
        fflush(human);
    }
    if (st != AML_OK && made_run_dir)
        rmdir(spec.out_dir); /* made for nothing (and still empty: rmdir removes nothing else) */
    if (st == AML_OK)
        st = aml_search_run(c, &spec, reg, t0, &res);
    signal(SIGINT, SIG_DFL);
    if (st != AML_OK) {
        cli_error("%s", aml_errmsg(c));
        rc = cli_exit_for(st);
        goto done;
    }
    fprintf(human, "best: %s %.4f (%lld trials, %lld failed, %lld resumed) in %.1f s\n", res.best_model,
            res.best_score, (long long)res.n_trials, (long long)res.n_failed, (long long)res.n_resumed,
            res.seconds);
    fprintf(human, "run: %s\n", res.run_dir);
    fprintf(human, "artifact: %s\n", res.artifact_dir);
    if (res.refit && strcmp(res.refit, "all rows") != 0) /* the budget left no time to refit */
        fprintf(human, "refit: %s\n", res.refit);
    rc = EXIT_OK;
done:
    aml_spec_free(&spec);
done_nospec:
    if (json_fd >= 0) {
        fflush(stdout);
        dup2(json_fd, STDOUT_FILENO);
        close(json_fd);
        if (rc == EXIT_OK && res.summary_json) {
            printf("%s\n", res.summary_json);
            if (fflush(stdout) != 0) {
                cli_error("search: --json: writing the summary to stdout failed");
                rc = EXIT_RUNTIME;
            }
        }
    }
    aml_search_result_free(&res);
    free(generated);
    free(saved_spec);
    free(run_dir);
    aml_registry_free(reg);
    aml_ctx_free(c);
    return rc;
}
