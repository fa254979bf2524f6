/* args.c - retrain.py-style flag parsing for the petal commands. */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns the flag's name with one or two leading dashes removed, or NULL if not a flag. */
static const char *flag_body(const char *arg)
{
    if (arg[0] != '-')
        return NULL;
    return arg[1] == '-' ? arg + 2 : arg + 1;
}

int petal_flag_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *body = flag_body(argv[*i]);
    size_t n = strlen(name);
    if (body == NULL || strncmp(body, name, n) != 0)
        return 0;
    if (body[n] == '=') {
        *value = body + n + 1;
        return 1;
    }
    if (body[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "petal: error: --%s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int petal_flag_bool(int argc, char **argv, int *i, const char *name, int *out)
{
    (void)argc;
    const char *body = flag_body(argv[*i]);
    size_t n = strlen(name);
    if (body == NULL)
        return 0;
    if (strncmp(body, "no", 2) == 0 && strcmp(body + 2, name) == 0) {
        *out = 0;
        return 1;
    }
    if (strncmp(body, name, n) != 0)
        return 0;
    if (body[n] == '\0') {
        *out = 1;
        return 1;
    }
    if (body[n] != '=')
        return 0;
    const char *v = body + n + 1;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1")) {
        *out = 1;
        return 1;
    }
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0")) {
        *out = 0;
        return 1;
    }
    fprintf(stderr, "petal: error: --%s takes true or false, not '%s'\n", name, v);
    return -1;
}

int petal_parse_int(const char *flag, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0') {
        fprintf(stderr, "petal: error: --%s: '%s' is not a whole number\n", flag, text);
        return -1;
    }
    if (v < min || v > max) {
        fprintf(stderr, "petal: error: --%s: %ld is outside %ld..%ld\n", flag, v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int petal_parse_float(const char *flag, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v)) {
        fprintf(stderr, "petal: error: --%s: '%s' is not a number\n", flag, text);
        return -1;
    }
    *out = v;
    return 0;
}

int petal_flag_unknown(const char *command, const char *arg)
{
    fprintf(stderr, "petal: error: unknown argument '%s' for 'petal %s' (see petal %s --help)\n",
            arg, command, command);
    return -1;
}
