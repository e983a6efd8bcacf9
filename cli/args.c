/* args: see args.h. */
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const gq_arg_spec *find_spec(const gq_arg_group *groups, const char *name, size_t len) {
    for (const gq_arg_group *g = groups; g->specs; g++)
        for (const gq_arg_spec *sp = g->specs; sp->name; sp++)
            if (strlen(sp->name) == len && strncmp(sp->name, name, len) == 0) return sp;
    return NULL;
}

int gq_args_accepts(const gq_arg_group *groups, const char *name) {
    return find_spec(groups, name, strlen(name)) != NULL;
}

gq_status gq_args_parse(gq_args *a, const gq_arg_group *groups, int argc, char **argv, gq_err *err) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
            if (a->npos >= 32) return gq_fail(err, GQ_ERR_ARG, "too many arguments");
            a->pos[a->npos++] = s;
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const gq_arg_spec *sp = find_spec(groups, name, len);
        if (!sp) return gq_fail(err, GQ_ERR_ARG, "unknown option '--%.*s'", (int)len, name);
        if (a->n >= 128) return gq_fail(err, GQ_ERR_ARG, "too many options");
        const char *value = "";
        if (sp->value) {
            if (eq) value = eq + 1;
            else if (i + 1 < argc) value = argv[++i];
            else return gq_fail(err, GQ_ERR_ARG, "option '--%s' needs a value", sp->name);
        } else if (eq) {
            return gq_fail(err, GQ_ERR_ARG, "option '--%s' takes no value", sp->name);
        }
        a->name[a->n] = sp->name;
        a->value[a->n++] = value;
    }
    return GQ_OK;
}

enum { HELP_COLUMN = 28, HELP_WIDTH = 100 }; /* where the help texts start, and end at most */

/* "--name VALUE" (VALUE as {a,b,c} when the spec lists its choices) into buf. */
static void spec_label(const gq_arg_spec *sp, char *buf, size_t n) {
    char choices[256] = "";
    if (sp->choices) {
        char list[240];
        sp->choices(list, sizeof list);
        size_t k = 0;
        choices[k++] = '{';
        for (const char *c = list; *c && k + 2 < sizeof choices; c++)
            if (*c != ' ') choices[k++] = *c;
        choices[k++] = '}', choices[k] = '\0';
    }
    snprintf(buf, n, "--%s%s%s", sp->name, sp->value ? " " : "", sp->choices ? choices : sp->value ? sp->value : "");
}

/* text, word-wrapped into lines that start at HELP_COLUMN; the cursor is at column col. */
static void print_wrapped(FILE *f, const char *text, int col) {
    if (col + 2 > HELP_COLUMN) fputc('\n', f), col = 0;
    fprintf(f, "%*s", HELP_COLUMN - col, "");
    col = HELP_COLUMN;
    for (const char *w = text; *w;) {
        while (*w == ' ') w++;
        int len = (int)strcspn(w, " ");
        if (col > HELP_COLUMN && col + 1 + len > HELP_WIDTH) fprintf(f, "\n%*s", HELP_COLUMN, ""), col = HELP_COLUMN;
        else if (col > HELP_COLUMN) fputc(' ', f), col++;
        fprintf(f, "%.*s", len, w);
        col += len, w += len;
    }
    fputc('\n', f);
}

void gq_args_print_help(FILE *f, const gq_arg_group *groups) {
    for (const gq_arg_group *g = groups; g->specs; g++) {
        fprintf(f, "\n%s:\n", g->title);
        for (const gq_arg_spec *sp = g->specs; sp->name; sp++) {
            char label[300];
            spec_label(sp, label, sizeof label);
            print_wrapped(f, sp->help, fprintf(f, "  %s", label));
        }
    }
}

const char *gq_args_get(const gq_args *a, const char *name) {
    for (int i = a->n - 1; i >= 0; i--)
        if (strcmp(a->name[i], name) == 0) return a->value[i];
    return NULL;
}

int gq_args_has(const gq_args *a, const char *name) { return gq_args_get(a, name) != NULL; }

const char *gq_args_get_nth(const gq_args *a, const char *name, int nth) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0 && nth-- == 0) return a->value[i];
    return NULL;
}

gq_status gq_args_int(const gq_args *a, const char *name, long lo, long hi, long def, long *out, gq_err *err) {
    const char *v = gq_args_get(a, name);
    if (!v) {
        *out = def;
        return GQ_OK;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return gq_fail(err, GQ_ERR_ARG, "option '--%s': '%s' is not an integer in [%ld, %ld]", name, v, lo, hi);
    *out = x;
    return GQ_OK;
}

gq_status gq_args_double(const gq_args *a, const char *name, double lo, double hi, double def, double *out,
                         gq_err *err) {
    const char *v = gq_args_get(a, name);
    if (!v) {
        *out = def;
        return GQ_OK;
    }
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < lo || x > hi)
        return gq_fail(err, GQ_ERR_ARG, "option '--%s': '%s' is not a number in [%g, %g]", name, v, lo, hi);
    *out = x;
    return GQ_OK;
}
