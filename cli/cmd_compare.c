/* cmd_compare: `glueq compare`, over the paired statistics of experiment/compare.c. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "compare.h"

static void fmt_value(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "n/a");
    else snprintf(buf, n, "%.2f", 100 * v);
}

/* One line of a pair: the metric (with MNLI's dev file), A, B, B − A [CI], McNemar p. */
static void print_line(const gq_compare_pair *pr, const gq_compare_line *l, int worse) {
    const gq_glue_task *t = gq_glue_task_find(pr->a->task);
    char label[48], da[192], db[192], va[32], vb[32], diff[64], p[32];
    snprintf(label, sizeof label, "%s%s%s%s", gq_metric_name(l->metric), pr->a->n_parts > 1 ? " (" : "",
             pr->a->n_parts > 1 && t ? t->dev_short[l->part] : "", pr->a->n_parts > 1 ? ")" : "");
    snprintf(da, sizeof da, "%s %.8s", pr->a->desc, pr->a->id);
    snprintf(db, sizeof db, "%s %.8s", pr->b->desc, pr->b->id);
    if (l->metric == GQ_METRIC_ACCURACY) {
        const gq_compare_stats *cs = &l->acc;
        snprintf(va, sizeof va, "%.2f (%d/%d)", 100 * l->a, cs->correct_a, cs->n);
        snprintf(vb, sizeof vb, "%.2f (%d/%d)", 100 * l->b, cs->correct_b, cs->n);
        snprintf(p, sizeof p, "%.4g", l->p);
    } else {
        fmt_value(va, sizeof va, l->a), fmt_value(vb, sizeof vb, l->b);
        snprintf(p, sizeof p, "-");
    }
    if (isnan(l->diff)) snprintf(diff, sizeof diff, "n/a");
    else snprintf(diff, sizeof diff, "%+.2f [%+.2f, %+.2f]", 100 * l->diff, 100 * l->lo, 100 * l->hi);
    printf("%-6s %-15s %-26s %-26s %-16s %-16s %-24s %s%s\n", pr->a->task, label, da, db, va, vb, diff, p,
           worse ? "  B worse" : "");
}

int gq_cmd_compare(const gq_args *args) {
    gq_err perr = {{0}};
    double delta = 0;
    gq_status ps = gq_args_double(args, "fail-if-worse", 0, HUGE_VAL, 0, &delta, &perr);
    if (ps == GQ_OK && args->npos != 2)
        ps = gq_fail(&perr, GQ_ERR_ARG, "compare needs two result sets A and B (see glueq compare --help)");
    if (ps != GQ_OK) return gq_cli_fail(&perr, ps);
    const char *const *pos = args->pos, *task = gq_args_get(args, "task");
    int fail_if_worse = gq_args_has(args, "fail-if-worse");
    gq_err err = {{0}};
    gq_comparison c;
    gq_status st = gq_compare_load(pos[0], pos[1], task, &c, &err);
    int rc = 0;
    if (st == GQ_OK)
        printf("%-6s %-15s %-26s %-26s %-16s %-16s %-24s %s\n", "task", "metric", "A", "B", "A value", "B value",
               "B-A [95% CI]", "McNemar p");
    for (int i = 0; st == GQ_OK && i < c.n; i++)
        for (int k = 0; k < c.pairs[i].n_lines; k++) {
            const gq_compare_line *l = &c.pairs[i].lines[k];
            int worse = gq_compare_line_worse(l, delta);
            print_line(&c.pairs[i], l, worse);
            if (worse && l->main && fail_if_worse) rc = GQ_COMPARE_WORSE;
        }
    gq_comparison_free(&c);
    return st == GQ_OK ? rc : gq_cli_fail_run(&err);
}
