/* compare: paired comparison of two sweep results on the same examples.
 *
 *     glueq compare A B [--task T] [--fail-if-worse DELTA]
 *
 * A and B are `PATH` or `PATH#POINT_ID`; PATH is a results directory or its results.json
 * (predictions.jsonl must sit beside it). With a point id on both sides, those two points
 * are compared; with none, every point id present in both is compared (e.g. the same grid
 * before and after a code change). For each pair it prints accuracy of A and B with
 * counts, B − A in percentage points with a paired-bootstrap 95% interval, and the exact
 * McNemar p-value. Exit status: 0, 1 on bad input, 2 on usage errors, 3 when
 * --fail-if-worse DELTA is given and some B is significantly worse: p < 0.05 and
 * B − A < −DELTA percentage points.
 */
#ifndef GQ_COMPARE_H
#define GQ_COMPARE_H

#include "common.h"

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
 * predictions. */
typedef struct {
    char id[64], task[32], desc[160];
    int n; /* -1 until its predictions are read */
    int *labels, *preds;
} gq_compare_point;

typedef struct {
    char *results, *predictions; /* paths */
    char want[64];               /* "" = every point */
    int n;
    gq_compare_point *p;
} gq_compare_side;

/* One pair: a point of A, a point of B (owned by their sides) and B's statistics against A. */
typedef struct {
    const gq_compare_point *a, *b;
    gq_compare_stats stats;
} gq_compare_pair;

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
