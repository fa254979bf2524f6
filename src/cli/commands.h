/* commands.h - the petal subcommands; each takes the arguments after its name and returns
 * the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef PETAL_CLI_COMMANDS_H
#define PETAL_CLI_COMMANDS_H

int petal_cmd_classify(int argc, char **argv);
int petal_cmd_train(int argc, char **argv);
int petal_cmd_evaluate(int argc, char **argv);
int petal_cmd_scrape(int argc, char **argv);
int petal_cmd_serve(int argc, char **argv);
int petal_cmd_info(int argc, char **argv);

#endif
