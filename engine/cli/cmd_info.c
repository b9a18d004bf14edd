/* automl info (not yet written). */
#include "cli.h"
#include <stdio.h>

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("info: not available yet");
    return EXIT_RUNTIME;
}
