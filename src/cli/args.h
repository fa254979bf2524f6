/* args.h - command-line flag parsing in the style of retrain.py / label_image.py:
 * `--name value`, `--name=value`, booleans as `--name`, `--name=true|false` or `--noname`. */
#ifndef PETAL_CLI_ARGS_H
#define PETAL_CLI_ARGS_H

/* If argv[*i] is the flag --name (or -name), stores its value (the text after '=' or the
 * next argument, advancing *i) and returns 1; returns 0 if it is another flag; returns -1
 * after printing an error if the value is missing. */
int petal_flag_value(int argc, char **argv, int *i, const char *name, const char **value);

/* Boolean flag: --name / --name=true|1 set 1, --noname / --name=false|0 set 0. Returns 1 if
 * matched, 0 if not, -1 on a bad value (error printed). */
int petal_flag_bool(int argc, char **argv, int *i, const char *name, int *out);

/* Strict number parsing of a flag's value; on failure prints "petal: error: --name: ..."
 * and returns -1, else 0. */
int petal_parse_int(const char *flag, const char *text, long min, long max, long *out);
int petal_parse_float(const char *flag, const char *text, double *out);

/* Prints "petal: error: unknown flag X for 'petal cmd' (see petal cmd --help)" and returns -1. */
int petal_flag_unknown(const char *command, const char *arg);

#endif
