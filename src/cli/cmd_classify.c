/* cmd_classify.c - `petal classify`. */
#include <stdio.h>

#include "cli/commands.h"

int petal_cmd_classify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "petal: error: 'classify' is not built yet\n");
    return 1;
}
