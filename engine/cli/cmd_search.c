/* automl search (not yet written). */
#include "cli.h"
#include <stdio.h>

int cmd_search(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("search: not available yet");
    return EXIT_RUNTIME;
}
