/* automl import DATA.csv DATA.h5: converts a CSV table into the HDF5 dataset schema
 * (DESIGN.md §4) and prints a one-line summary. The output appears only when complete. */
#include "cli.h"
#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fputs("usage: automl import DATA.csv DATA.h5 [--target COL] [--task classification|regression]\n"
          "                     [--categorical a,b] [--numeric c,d] [--encoding NAME]\n"
          "\n"
          "Converts a CSV table (header row, RFC 4180 quoting, CRLF or LF) into an HDF5 dataset.\n"
          "Missing cells: empty, NA, ?, NaN (any case, signed or not). A column whose cells are all numbers\n"
          "is numeric; any other column is categorical, its levels sorted (numerically when all are numbers).\n"
          "Refused, naming the line and column: a NUL byte; text that is not UTF-8 (see --encoding); inf,\n"
          "Infinity or a number beyond +-1.8e308 in a numeric column; a feature beyond float32's +-3.4e38.\n"
          "\n"
          "options:\n"
          "  --target COL        the target column (default: the last column)\n"
          "  --task TASK         classification or regression (default: auto: a non-numeric target, or an\n"
          "                      integer one with at most 50 distinct values and fewer than half the rows,\n"
          "                      is classification; otherwise regression)\n"
          "  --categorical LIST  comma-separated columns to treat as categorical even if numeric\n"
          "  --numeric LIST      comma-separated columns that must be numeric (a non-number is an error)\n"
          "  --encoding NAME     the file's text encoding, converted to UTF-8 with iconv (e.g. latin1,\n"
          "                      cp1252, UTF-16; `iconv -l` lists them; default UTF-8)\n"
          "  -h, --help          this help\n"
          "\n"
          "The output is written to a temporary file and renamed: no partial file is left on error.\n"
          "A table larger than AML_MAX_DATA_BYTES (default: this machine's memory) is refused.\n"
          "exit status: 0 ok, 1 runtime failure, 2 bad usage or bad input.\n",
          f);
}

/* "--name VALUE" or "--name=VALUE"; returns the value and advances *i, or NULL if not this option. */
static const char *option(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n])
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* 1 when name is one of the comma-separated names in list. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, name, n))
            return 1;
        p += k + (p[k] == ',');
    }
    return 0;
}

/* 1 when every class label reads as a number (the target column held numbers, not text). */
static int numeric_labels(const aml_dataset *d)
{
    for (int k = 0; k < d->n_classes; k++) {
        char *end;
        strtod(d->class_names[k], &end);
        if (end == d->class_names[k] || *end)
            return 0;
    }
    return 1;
}

/* printf's %-24s pads bytes; names are UTF-8 (checked at import), so pad characters instead. */
static int pad_for(const char *name, int width)
{
    int chars = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        chars += (*p & 0xC0) != 0x80;
    return width + (int)strlen(name) - chars;
}

/* What import decided for each column, and why: the type inferred from the values or forced by an
 * option, the levels of a categorical column, the missing cells, and the task from the target. */
static void print_decisions(const aml_dataset *d, const aml_csv_options *opt)
{
    int64_t *missing = calloc((size_t)d->n_features + 1, sizeof(int64_t));
    aml_dataset_missing(d, missing);
    printf("  %-24s %-11s %7s %8s  %s\n", "column", "type", "levels", "missing", "decided by");
    for (int64_t j = 0; j < d->n_features; j++) {
        const char *name = d->feature_names[j];
        int cat = d->categorical && d->categorical[j];
        char levels[32] = "-";
        if (cat)
            snprintf(levels, sizeof levels, "%d", d->n_categories ? d->n_categories[j] : 0);
        const char *why = in_list(opt->categorical, name) ? "--categorical"
                          : in_list(opt->numeric, name)   ? "--numeric"
                          : cat                            ? "text values"
                                                           : "every value a number";
        printf("  %-*s %-11s %7s %8lld  %s\n", pad_for(name, 24), name, cat ? "categorical" : "numeric", levels,
               (long long)missing[j], why);
    }
    free(missing);
    const char *why = opt->task ? "--task"
                      : d->task == AML_TASK_REGRESSION ? "numbers with many distinct values"
                      : numeric_labels(d) ? "integers with few distinct values (at most 50, under half the rows)"
                                          : "text values";
    char levels[32] = "-";
    if (d->task == AML_TASK_CLASSIFICATION)
        snprintf(levels, sizeof levels, "%d", d->n_classes);
    printf("  %-*s %-11s %7s %8s  target, %s by %s\n", pad_for(d->target_name, 24), d->target_name, d->task == AML_TASK_CLASSIFICATION
           ? "categorical" : "numeric", levels, "0", aml_dataset_task_name(d->task), why);
}

int cmd_import(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return EXIT_OK;
    }
    aml_csv_options opt = {0};
    const char *pos[2] = {NULL, NULL}, *task = NULL, *v;
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        if ((v = option(argc, argv, &i, "--target", &missing)))
            opt.target = v;
        else if ((v = option(argc, argv, &i, "--task", &missing)))
            task = v;
        else if ((v = option(argc, argv, &i, "--categorical", &missing)))
            opt.categorical = v;
        else if ((v = option(argc, argv, &i, "--numeric", &missing)))
            opt.numeric = v;
        else if ((v = option(argc, argv, &i, "--encoding", &missing)))
            opt.encoding = v;
        else if (missing) {
            cli_error("import: %s needs a value (see automl import --help)", argv[i]);
            return EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("import: unknown option '%s' (see automl import --help)", argv[i]);
            return EXIT_USAGE;
        } else if (n_pos < 2) {
            pos[n_pos++] = argv[i];
        } else {
            cli_error("import: unexpected argument '%s'; expected DATA.csv DATA.h5", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (n_pos != 2) {
        cli_error("import: expected DATA.csv DATA.h5 (see automl import --help)");
        return EXIT_USAGE;
    }
    if (task) {
        if (!strcmp(task, "classification"))
            opt.task = AML_TASK_CLASSIFICATION;
        else if (!strcmp(task, "regression"))
            opt.task = AML_TASK_REGRESSION;
        else if (strcmp(task, "auto")) {
            cli_error("import: --task: expected classification, regression or auto, got '%s'", task);
            return EXIT_USAGE;
        }
    }
    if (same_file(pos[0], pos[1])) {
        cli_error("import: the output %s is the input file; choose another path", pos[1]);
        return EXIT_USAGE;
    }

    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    aml_status st = aml_csv_read(c, pos[0], &opt, &d);
    if (!st)
        st = aml_hdf5_write(c, pos[1], d);
    if (st) {
        cli_error("%s", aml_errmsg(c));
    } else {
        char classes[32] = "";
        if (d->task == AML_TASK_CLASSIFICATION)
            snprintf(classes, sizeof classes, " (%d classes)", d->n_classes);
        printf("wrote %s: %lld rows x %lld features, %s%s, %d categorical columns, %lld missing cells\n", pos[1],
               (long long)d->n_rows, (long long)d->n_features, aml_dataset_task_name(d->task), classes,
               aml_dataset_n_categorical(d), (long long)aml_dataset_missing(d, NULL));
        print_decisions(d, &opt);
    }
    aml_dataset_free(d);
    aml_ctx_free(c);
    return cli_exit_for(st);
}
