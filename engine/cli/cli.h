/* The automl command: one file per subcommand, each `int cmd_NAME(int argc, char **argv)`
 * returning the process exit status (0 ok, 1 runtime failure, 2 bad usage or bad input). */
#ifndef AML_CLI_H
#define AML_CLI_H

#include <stdio.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

int cmd_import(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_split(int argc, char **argv);

/* `automl info ARTIFACT_DIR`: prints the manifest summary (cmd_predict.c). */
int cli_info_artifact(const char *dir);

/* ---- automl search DATA (search_data.c) ---- */
/* What the command line says when it names data instead of a spec. */
typedef struct cli_data_form {
    const char *data, *target, *task, *metric, *repo, *name, *strategy;
    double budget;
    long long trials, seed, threads, parallel;
} cli_data_form;
/* 1 when path names a Lua spec rather than data: a .lua file, or a regular file whose first
 * 64 KiB say automl.search; HDF5, gzip and everything else are data. */
int cli_is_spec_file(const char *path);
/* 1 when path is a regular file that starts with HDF5's signature. */
int cli_is_hdf5(const char *path);
/* The spec the command line describes, as Lua text (malloc'd). */
char *cli_spec_text(const cli_data_form *d);
struct aml_ctx;
struct aml_search_spec;
/* A spec whose data is a CSV: imported with the spec's target and task into RUN_DIR/<stem>.h5,
 * which spec->data_path then names; one line about it on human. An aml_status. */
int cli_import_search_data(struct aml_ctx *c, struct aml_search_spec *spec, FILE *human);

/* Exit status for an aml_status: AML_ERR_INPUT/FORMAT -> 2, others -> 1. */
int cli_exit_for(int status);
/* Prints "automl: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when argv[i] is -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
