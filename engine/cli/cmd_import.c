/* automl import (not yet written). */
#include "cli.h"
#include <stdio.h>

int cmd_import(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("import: not available yet");
    return EXIT_RUNTIME;
}
