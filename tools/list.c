/*
 * energymeter list: every energy source, usable or not, with the reason and
 * a safe fix; the library writes the listing (em_list_sources()).
 */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "energymeter/energymeter.h"
#include "options.h"

void help_list(FILE *f)
{
    fputs("Usage: energymeter list [--json]\n"
          "\n"
          "List every energy source energymeter knows, every zone or device it found,\n"
          "which one is used for each component, and for the others why not and a safe\n"
          "way to fix it.\n"
          "\n"
          "  -j, --json   machine-readable output (schema energymeter-list/1)\n"
          "  -h, --help   this help\n",
          f);
}

int cmd_list(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int json = 0, c;
    options_reset();
    while ((c = getopt_long(argc, argv, ":jh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'h':
            help_list(stdout);
            return 0;
        default:
            return option_error("list", c, argv);
        }
    }
    if (optind < argc)
        return operand_error("list", argv);
    char *text = NULL;
    int err = em_list_sources(json ? EM_FORMAT_JSON : EM_FORMAT_TEXT, &text);
    if (err) {
        fprintf(stderr, "energymeter: list: %s\n", em_strerror(err));
        return 1;
    }
    fputs(text, stdout);
    em_free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}
