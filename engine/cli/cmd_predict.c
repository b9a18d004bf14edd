/* automl predict (not yet written). */
#include "cli.h"
#include <stdio.h>

int cli_info_artifact(const char *dir)
{
    (void)dir;
    return EXIT_RUNTIME;
}

int cmd_predict(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("predict: not available yet");
    return EXIT_RUNTIME;
}
