/* automl train (not yet written). */
#include "cli.h"
#include <stdio.h>

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("train: not available yet");
    return EXIT_RUNTIME;
}
