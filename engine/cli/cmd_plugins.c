/* automl plugins (not yet written). */
#include "cli.h"
#include <stdio.h>

int cmd_plugins(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("plugins: not available yet");
    return EXIT_RUNTIME;
}
