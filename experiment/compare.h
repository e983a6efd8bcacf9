/* compare: paired comparison of two sweep results on the same examples.
 *
 *     glueq compare A B [--task T] [--fail-if-worse DELTA]
 *
 * A and B are `PATH` or `PATH#POINT_ID`; PATH is a results directory or its results.json
 * (predictions.jsonl must sit beside it). With a point id on both sides, those two points
 * are compared; with none, every point id present in both is compared (e.g. the same grid
 * before and after a code change). For each pair and each metric of its task (on each of
 * MNLI's dev files) it prints A and B, B − A x100 with a paired-bootstrap 95% interval,
 * and for accuracy the exact McNemar p-value. Exit status: 0, 1 on bad input, 2 on usage
 * errors, 3 when --fail-if-worse DELTA is given and some B is significantly worse on its
 * task's main metric by more than DELTA points (x100): for accuracy McNemar p < 0.05, for
 * the others a bootstrap interval below 0.
 */
#ifndef GQ_COMPARE_H
#define GQ_COMPARE_H

#include "glue.h"

#define GQ_COMPARE_WORSE 3

typedef struct {
    int n;
    int correct_a, correct_b;
    int only_a, only_b;        /* examples only A / only B gets right (McNemar's b, c) */
    double diff, lo, hi;       /* accuracy(B) − accuracy(A), paired bootstrap 95% interval */
    double p;                  /* exact McNemar p-value */
} gq_compare_stats;

/* Compares predictions of A and B against the same gold labels (n examples). */
void gq_compare_paired(const int *labels, const int *pred_a, const int *pred_b, int n, gq_compare_stats *out);

/* One point of a result set: its id, task, description and (once read) its labels and
 * predictions: class ids, or a regression's gold and predicted scores. */
typedef struct {
    char id[64], task[32], desc[160];
    int n; /* -1 until its predictions are read */
    double *labels, *preds;
    int n_parts;                   /* dev files: 1, or MNLI's 2 */
    int part_end[GQ_GLUE_MAX_DEV]; /* examples of file p end here */
} gq_compare_point;

typedef struct {
    char *results, *predictions; /* paths */
    char want[64];               /* "" = every point */
    int n;
    gq_compare_point *p;
} gq_compare_side;

/* One metric of a pair on one dev file: A's and B's values (accuracy as a fraction; NaN
 * where undefined), B − A with its paired-bootstrap 95% interval (2000 draws), and for
 * accuracy the exact McNemar p-value and the counts (p NaN for the other metrics). */
typedef struct {
    gq_metric metric;
    int part;              /* the dev file: 0, or MNLI's mismatched 1 */
    int main;              /* the task's main metric: what --fail-if-worse looks at */
    double a, b, diff, lo, hi, p;
    gq_compare_stats acc;  /* accuracy's counts and statistics (accuracy lines) */
} gq_compare_line;

#define GQ_COMPARE_MAX_LINES (GQ_GLUE_MAX_DEV * GQ_METRIC_COUNT)

/* One pair: a point of A, a point of B (owned by their sides), B's accuracy statistics
 * against A over every example (zero for a regression), and every metric of the task on
 * each dev file, the main metric first. */
typedef struct {
    const gq_compare_point *a, *b;
    gq_compare_stats stats;
    int n_lines;
    gq_compare_line lines[GQ_COMPARE_MAX_LINES];
} gq_compare_pair;

/* Whether B is significantly worse than A on line l by more than delta points (x100):
 * McNemar p < 0.05 for accuracy, a bootstrap interval below 0 for the other metrics. */
int gq_compare_line_worse(const gq_compare_line *l, double delta);

/* Two result sets and their pairs, in A's row order (then B's for one id twice in B). */
typedef struct {
    gq_compare_side a, b;
    int n;
    gq_compare_pair *pairs;
} gq_comparison;

/* Reads specs a and b (RESULTS or RESULTS#POINT_ID, RESULTS a sweep directory or its
 * results.json with predictions.jsonl beside it) and pairs their points: with a point id
 * on both sides, those two points; with none, every point id present in both; only
 * points of task when task is not NULL. Fails (GQ_ERR_ARG) when a point id is on one
 * side only, a pair is not scored on the same examples, or nothing pairs. *c is owned by
 * the caller (gq_comparison_free), also on failure. */
gq_status gq_compare_load(const char *a, const char *b, const char *task, gq_comparison *c, gq_err *err);
void gq_comparison_free(gq_comparison *c);

#endif
