/* cmd_train.c - `petal train`. */
#include <stdio.h>

#include "cli/commands.h"

int petal_cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "petal: error: 'train' is not built yet\n");
    return 1;
}
