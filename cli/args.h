/* args: a small table-driven command-line parser shared by the subcommands.
 *
 *     static const gq_arg_spec SPEC[] = {{"model", 1}, {"json", 0}, {NULL, 0}};
 *     gq_args a;
 *     if (gq_args_parse(&a, SPEC, argc, argv, &err) != GQ_OK) ... usage error ...
 *     const char *model = gq_args_get(&a, "model");   // NULL when absent
 *     gq_args_free(&a);
 *
 * Accepts `--name value` and `--name=value`; flags (has_value 0) take no value.
 * Positional arguments are kept in order. */
#ifndef GQ_ARGS_H
#define GQ_ARGS_H

#include "common.h"

typedef struct {
    const char *name;
    int has_value;
} gq_arg_spec;

typedef struct {
    int n, npos;
    const char *name[128];
    const char *value[128]; /* NULL for flags */
    const char *pos[32];
} gq_args;

gq_status gq_args_parse(gq_args *a, const gq_arg_spec *spec, int argc, char **argv, gq_err *err);
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
