/*
 * energymeter: the command line tool. main() only dispatches: each
 * subcommand lives in its own file (tools/commands.h), and what they share
 * for options and errors in tools/options.c.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "energymeter/energymeter.h"
#include "options.h"

/* One row per subcommand: "energymeter NAME" and "energymeter help NAME". */
static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *f);
} commands[] = {
    {"stat", cmd_stat, help_stat},
    {"list", cmd_list, help_list},
    {"calibrate", cmd_calibrate, help_calibrate},
    {"monitor", cmd_monitor, help_monitor},
    {"serve", cmd_serve, help_serve},
};

static void help_main(FILE *f)
{
    fputs("Usage: energymeter [--version] [--help] COMMAND [ARGS]\n"
          "\n"
          "Measure the energy a program costs, per component (CPU packages, DRAM, GPUs,\n"
          "storage) and per device, in joules.\n"
          "\n"
          "Commands:\n"
          "  stat [OPTIONS] -- CMD [ARGS...]  run CMD and report the energy it cost\n"
          "  list [--json]                    show every energy source, usable or not, and why\n"
          "  calibrate [--duration S]         measure and store idle power (idle/dynamic split)\n"
          "  monitor [--interval MS] [--duration S] [--json|--csv]\n"
          "                                   live power per component and device\n"
          "  serve [--listen ADDR:PORT] [--interval MS]\n"
          "                                   Prometheus exporter (/metrics, loopback by default)\n"
          "\n"
          "'energymeter COMMAND --help' describes a command; 'man energymeter' has more.\n"
          "Environment: ENERGYMETER_SYSFS_ROOT, ENERGYMETER_LOG (see the README).\n",
          f);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help_main(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("energymeter %s\n", em_version());
        return 0;
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        help_main(stdout);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        /* An unknown topic gets the overview, which lists the known ones. */
        const struct command *topic = find_command(argc > 2 ? argv[2] : "");
        if (topic)
            topic->help(stdout);
        else
            help_main(stdout);
        return 0;
    }
    const struct command *cmd = find_command(name);
    if (cmd)
        return cmd->run(argc - 1, argv + 1);
    if (name[0] == '-')
        return usage_error(NULL, "unknown option '%s'", name);
    return usage_error(NULL, "unknown command '%s'", name);
}
