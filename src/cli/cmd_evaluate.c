/* cmd_evaluate.c - `petal evaluate`. */
#include <stdio.h>

#include "cli/commands.h"

int petal_cmd_evaluate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "petal: error: 'evaluate' is not built yet\n");
    return 1;
}
