/* args: a small table-driven command-line parser, and the options part of --help, both
 * from the same tables.
 *
 *     static const gq_arg_spec FLAGS[] = {{"model", "DIR", "the checkpoint"}, {"json", NULL, "print JSON"}, {0}};
 *     static const gq_arg_group GROUPS[] = {{"options", FLAGS}, {0}};
 *     gq_args a;
 *     if (gq_args_parse(&a, GROUPS, argc, argv, &err) != GQ_OK) ... usage error ...
 *     const char *model = gq_args_get(&a, "model");   // NULL when absent
 *
 * Accepts `--name value` and `--name=value`; flags (value NULL) take no value.
 * Positional arguments are kept in order. Nothing is allocated. */
#ifndef GQ_ARGS_H
#define GQ_ARGS_H

#include <stdio.h>

#include "common.h"

typedef struct {
    const char *name;  /* without the leading "--" */
    const char *value; /* placeholder of its value in --help ("DIR"); NULL: takes no value */
    const char *help;  /* its --help text, word-wrapped when printed */
    /* writes the accepted values, comma-separated, into buf (shown as {a,b,c} in --help,
     * where the shell completion reads them); NULL when the value is free-form */
    void (*choices)(char *buf, size_t n);
} gq_arg_spec;

/* A titled list of specs ending in {NULL}; a command's groups end in {NULL, NULL}. */
typedef struct {
    const char *title;
    const gq_arg_spec *specs;
} gq_arg_group;

typedef struct {
    int n, npos;
    const char *name[128];
    const char *value[128]; /* "" for flags */
    const char *pos[32];
} gq_args;

gq_status gq_args_parse(gq_args *a, const gq_arg_group *groups, int argc, char **argv, gq_err *err);
/* Whether groups accept option name. */
int gq_args_accepts(const gq_arg_group *groups, const char *name);
/* Prints each group: its title, then "  --name VALUE  help" per spec. */
void gq_args_print_help(FILE *f, const gq_arg_group *groups);
/* Last value of an option (NULL if absent); flags return "" when present. */
const char *gq_args_get(const gq_args *a, const char *name);
int gq_args_has(const gq_args *a, const char *name);
/* i-th value of a repeatable option, NULL past the end. */
const char *gq_args_get_nth(const gq_args *a, const char *name, int i);
/* Parses an option as an integer in [lo, hi] (absent: def). */
gq_status gq_args_int(const gq_args *a, const char *name, long lo, long hi, long def, long *out, gq_err *err);
gq_status gq_args_double(const gq_args *a, const char *name, double lo, double hi, double def, double *out,
                         gq_err *err);

#endif
