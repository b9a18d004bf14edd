/* automl info DATA.h5 | ARTIFACT_DIR: describes a dataset (shape, types, missing cells, class
 * balance, fingerprint), or hands a directory to the artifact summary. */
#include "cli.h"
#include "dataset.h"

#include <stdio.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fputs("usage: automl info DATA.h5 | ARTIFACT_DIR\n"
          "\n"
          "DATA.h5:      prints the path, rows x features, task and target, each feature's name, type\n"
          "              (numeric, or categorical with its level count) and missing cells, the class\n"
          "              balance (count and % per class) or the target's mean/std/min/max, the total\n"
          "              missing cells and the dataset fingerprint (the data version in every trial).\n"
          "              A file is refused when its declared sizes are not backed by data in it or\n"
          "              exceed AML_MAX_DATA_BYTES (default: this machine's memory).\n"
          "ARTIFACT_DIR: an exported model version directory: prints its manifest summary.\n"
          "\n"
          "options:\n"
          "  -h, --help    this help\n"
          "\n"
          "exit status: 0 ok, 1 runtime failure, 2 bad usage or bad input.\n",
          f);
}

int cmd_info(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return EXIT_OK;
    }
    if (argc != 2 || (argv[1][0] == '-' && argv[1][1])) {
        if (argc == 2)
            cli_error("info: unknown option '%s' (see automl info --help)", argv[1]);
        else
            cli_error("info: expected one DATA.h5 or ARTIFACT_DIR (see automl info --help)");
        return EXIT_USAGE;
    }
    struct stat sb;
    if (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_info_artifact(argv[1]);
    aml_ctx *c = aml_ctx_new();
    aml_dataset *d = NULL;
    aml_status st = aml_dataset_open(c, argv[1], &d);
    if (st)
        cli_error("%s", aml_errmsg(c));
    else
        aml_dataset_describe(d, stdout);
    aml_dataset_free(d);
    aml_ctx_free(c);
    return cli_exit_for(st);
}
