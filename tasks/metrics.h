/* metrics: accuracy and F1 with integer counts and confidence intervals, and the paired
 * tests used to compare two evaluations of the same examples.
 */
#ifndef GQ_METRICS_H
#define GQ_METRICS_H

#include "common.h"

typedef struct {
    int correct, total;
    double accuracy;           /* correct / total */
    double acc_lo, acc_hi;     /* 95% Wilson score interval */
    int tp, fp, fn, tn;        /* positive class = label 1 */
    double f1;                 /* 2tp / (2tp + fp + fn); 0 when undefined */
    double f1_lo, f1_hi;       /* 95% percentile bootstrap interval (seeded, 1000 draws) */
} gq_metrics;

/* Scores predictions against labels (n examples, binary labels 0/1). */
void gq_metrics_compute(const int *pred, const int *label, int n, gq_metrics *out);

/* 95% Wilson score interval for k successes out of n. */
void gq_wilson_ci(int k, int n, double *lo, double *hi);

/* Exact two-sided McNemar test: b = examples only A gets right, c = only B gets right.
 * Returns the p-value (binomial test of min(b,c) under p = 0.5, doubled, capped at 1). */
double gq_mcnemar_exact(int b, int c);

/* Paired bootstrap of accuracy(B) - accuracy(A) over n examples: `draws` resamples
 * with a seeded RNG. Writes the observed difference and the 95% percentile interval. */
void gq_paired_bootstrap(const int *correct_a, const int *correct_b, int n, int draws, uint64_t seed,
                         double *diff, double *lo, double *hi);

#endif
