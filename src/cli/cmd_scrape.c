/* cmd_scrape.c - `petal scrape`. */
#include <stdio.h>

#include "cli/commands.h"

int petal_cmd_scrape(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "petal: error: 'scrape' is not built yet\n");
    return 1;
}
