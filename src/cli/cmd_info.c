/* cmd_info.c - `petal info`. */
#include <stdio.h>

#include "cli/commands.h"

int petal_cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "petal: error: 'info' is not built yet\n");
    return 1;
}
