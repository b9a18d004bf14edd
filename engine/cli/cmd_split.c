/* automl split DATA.h5 TRAIN.h5 TEST.h5: a held-out split (stratified for classification),
 * deterministic for a seed, for judging an exported model on rows the search never saw. */
#include "cli.h"

#include "dataset.h"
#include "resample.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: automl split DATA.h5 TRAIN.h5 TEST.h5 [--test FRACTION] [--seed S]\n\n"
               "Splits the rows of DATA into a training file and a held-out test file, stratified by\n"
               "class for classification, the same way for the same seed.\n"
               "  --test FRACTION   share of rows held out, in (0, 1) (default 0.25)\n"
               "  --seed S          random seed (default 0)\n");
}

int cmd_split(int argc, char **argv)
{
    const char *paths[3] = {NULL, NULL, NULL};
    int n_paths = 0;
    double fraction = 0.25;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--test") || !strcmp(argv[i], "--seed")) {
            if (i + 1 >= argc) {
                cli_error("split: %s needs a value", argv[i]);
                return EXIT_USAGE;
            }
            char *end;
            errno = 0;
            const char *v = argv[++i];
            if (!strcmp(argv[i - 1], "--test")) {
                fraction = strtod(v, &end);
                if (end == v || *end || !(fraction > 0 && fraction < 1)) {
                    cli_error("split: --test: expected a fraction in (0, 1), got '%s'", v);
                    return EXIT_USAGE;
                }
            } else {
                seed = strtoull(v, &end, 10);
                if (end == v || *end || errno || v[0] == '-') {
                    cli_error("split: --seed: expected an integer >= 0, got '%s'", v);
                    return EXIT_USAGE;
                }
            }
        } else if (argv[i][0] == '-') {
            cli_error("split: unknown option '%s' (see automl split --help)", argv[i]);
            return EXIT_USAGE;
        } else if (n_paths < 3) {
            paths[n_paths++] = argv[i];
        } else {
            cli_error("split: unexpected argument '%s'", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (n_paths != 3) {
        usage(stderr);
        return EXIT_USAGE;
    }
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL, *train = NULL, *test = NULL;
    uint8_t *is_test = NULL;
    char *tmp[2] = {NULL, NULL};
    aml_status st = aml_hdf5_read(c, paths[0], &d);
    if (st != AML_OK)
        goto done;
    is_test = aml_xcalloc((size_t)d->n_rows + 1, 1);
    aml_split_holdout(d->n_rows, d->task == AML_TASK_CLASSIFICATION ? d->label : NULL, d->n_classes,
                      fraction, seed, is_test);
    train = aml_dataset_select_rows(d, is_test, 0);
    test = aml_dataset_select_rows(d, is_test, 1);
    /* Both files are written before either appears: a failure leaves neither, and no old file
     * is replaced by half of a new split. */
    if ((st = aml_hdf5_write_temp(c, paths[1], train, &tmp[0])) != AML_OK ||
        (st = aml_hdf5_write_temp(c, paths[2], test, &tmp[1])) != AML_OK ||
        (st = aml_hdf5_commit(c, tmp[0], paths[1])) != AML_OK) {
        if (tmp[0])
            unlink(tmp[0]);
        if (tmp[1])
            unlink(tmp[1]);
        goto done;
    }
    if ((st = aml_hdf5_commit(c, tmp[1], paths[2])) != AML_OK) {
        /* The train file has already appeared: take it back, so that a failure leaves neither. */
        unlink(paths[1]);
        char *why = aml_xstrdup(aml_errmsg(c));
        st = aml_fail(c, st, "%s (%s was removed again: both files appear or neither)", why, paths[1]);
        free(why);
        goto done;
    }
    printf("wrote %s (%lld rows) and %s (%lld rows)\n", paths[1], (long long)train->n_rows, paths[2],
           (long long)test->n_rows);
done:
    if (st != AML_OK)
        cli_error("%s", aml_errmsg(c));
    free(tmp[0]);
    free(tmp[1]);
    free(is_test);
    aml_dataset_free(train);
    aml_dataset_free(test);
    aml_dataset_free(d);
    aml_ctx_free(c);
    return cli_exit_for(st);
}
