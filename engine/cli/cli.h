/* The automl command: one file per subcommand, each `int cmd_NAME(int argc, char **argv)`
 * returning the process exit status (0 ok, 1 runtime failure, 2 bad usage or bad input). */
#ifndef AML_CLI_H
#define AML_CLI_H

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

/* Exit status for an aml_status: AML_ERR_INPUT/FORMAT -> 2, others -> 1. */
int cli_exit_for(int status);
/* Prints "automl: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when argv[i] is -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
