/* main.c - `petal <command>`: dispatches to the subcommands in src/cli/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

#define PETAL_VERSION "0.1.0"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"classify", petal_cmd_classify, "label photos with a TFLite classifier (label_image.py)"},
    {"train", petal_cmd_train, "retrain the last layer on a folder of photos (retrain.py)"},
    {"evaluate", petal_cmd_evaluate, "accuracy, per-class scores and confusion on a folder"},
    {"scrape", petal_cmd_scrape, "collect labelled, licensed photos from the web"},
    {"serve", petal_cmd_serve, "classify over HTTP, with a web page"},
    {"info", petal_cmd_info, "describe a .tflite model: tensors and operators"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: petal <command> [flags]   (petal <command> --help for its flags)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("petal %s\n", PETAL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "petal: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
