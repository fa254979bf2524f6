/* cmd_serve.c - `petal serve`. */
#include <stdio.h>

#include "cli/commands.h"

int petal_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "petal: error: 'serve' is not built yet\n");
    return 1;
}
