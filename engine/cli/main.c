/* automl: the command-line entry point; dispatches to one file per subcommand. */
#include "cli.h"

#include <automl/automl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"import", cmd_import, "convert a CSV table into the HDF5 dataset schema"},
    {"info", cmd_info, "describe a dataset (.h5) or an exported artifact directory"},
    {"search", cmd_search, "search model families and hyperparameters as a Lua spec says"},
    {"train", cmd_train, "fit one given configuration on a dataset and export it"},
    {"predict", cmd_predict, "predict with an exported artifact, one row out per row in"},
    {"plugins", cmd_plugins, "list every plugin found: kind, name, version, ABI, path"},
    {"split", cmd_split, "split a dataset into training and held-out test files"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: automl COMMAND [OPTIONS]   (automl COMMAND --help for its options)\n\n"
               "Native AutoML engine %s: Lua specs, HDF5 datasets, plugin learners, versioned artifacts.\n\n"
               "commands:\n",
            AML_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit status: 0 ok, 1 runtime failure, 2 bad usage or bad input.\n"
               "environment: AML_PLUGIN_PATH=DIR[:DIR...] adds plugin directories.\n");
}

int cli_exit_for(int status)
{
    if (status == AML_OK)
        return EXIT_OK;
    return (status == AML_ERR_INPUT || status == AML_ERR_FORMAT) ? EXIT_USAGE : EXIT_RUNTIME;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("automl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("automl %s\n", AML_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (try automl --help)", argv[1]);
    return EXIT_USAGE;
}
