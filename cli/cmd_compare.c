/* cmd_compare: `glueq compare`, over the paired statistics of experiment/compare.c. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "compare.h"

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
        printf("%-6s %-26s %-26s %-16s %-16s %-24s %s\n", "task", "A", "B", "acc A", "acc B", "B-A [95% CI]",
               "McNemar p");
    for (int i = 0; st == GQ_OK && i < c.n; i++) {
        const gq_compare_point *pa = c.pairs[i].a, *pb = c.pairs[i].b;
        const gq_compare_stats *cs = &c.pairs[i].stats;
        char acc_a[32], acc_b[32], diff[48], da[192], db[192];
        snprintf(acc_a, sizeof acc_a, "%.2f (%d/%d)", 100.0 * cs->correct_a / (cs->n ? cs->n : 1), cs->correct_a, cs->n);
        snprintf(acc_b, sizeof acc_b, "%.2f (%d/%d)", 100.0 * cs->correct_b / (cs->n ? cs->n : 1), cs->correct_b, cs->n);
        snprintf(diff, sizeof diff, "%+.2f [%+.2f, %+.2f]", 100 * cs->diff, 100 * cs->lo, 100 * cs->hi);
        snprintf(da, sizeof da, "%s %.8s", pa->desc, pa->id);
        snprintf(db, sizeof db, "%s %.8s", pb->desc, pb->id);
        int worse = cs->p < 0.05 && 100 * cs->diff < -delta;
        printf("%-6s %-26s %-26s %-16s %-16s %-24s %.4g%s\n", pa->task, da, db, acc_a, acc_b, diff, cs->p,
               worse ? "  B worse" : "");
        if (worse && fail_if_worse) rc = GQ_COMPARE_WORSE;
    }
    gq_comparison_free(&c);
    return st == GQ_OK ? rc : gq_cli_fail_run(&err);
}
