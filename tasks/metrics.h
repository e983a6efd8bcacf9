/* metrics: GLUE's metrics with integer counts where they exist and a 95% interval each
 * (closed forms where one fits, a seeded bootstrap elsewhere), and the paired tests used
 * to compare two evaluations of the same examples.
 *
 *   accuracy   correct/total, Wilson score interval
 *   f1         of the positive class (label 1) of a binary task, percentile bootstrap
 *   mcc        Matthews correlation (multiclass form, as scikit-learn), percentile bootstrap
 *   pearson    Pearson's r of predicted and gold scores, Fisher-z interval (as scipy)
 *   spearman   Pearson's r of their average ranks, Fisher-z interval with Bonett and
 *              Wright's standard error sqrt((1 + r²/2) / (n - 3))
 * A metric that is undefined on the data (Pearson of a constant prediction, F1 of a
 * three-class task) is NaN, and so are its bounds; reports print it as null or "n/a".
 * The MCC of a confusion matrix with one row or column only is 0, as scikit-learn's.
 */
#ifndef GQ_METRICS_H
#define GQ_METRICS_H

#include "common.h"

/* The metrics a GLUE task reports. */
typedef enum { GQ_METRIC_ACCURACY, GQ_METRIC_F1, GQ_METRIC_MCC, GQ_METRIC_PEARSON, GQ_METRIC_SPEARMAN, GQ_METRIC_COUNT } gq_metric;
#define GQ_METRIC_BIT(m) (1u << (m))

/* "accuracy", "f1", "mcc", "pearson", "spearman": the metric's key in results. */
const char *gq_metric_name(gq_metric m);
/* "accuracy", "F1", "Matthews corr.", "Pearson", "Spearman": for tables and plots. */
const char *gq_metric_title(gq_metric m);

/* Classes of a classification metric; GLUE has at most three. */
#define GQ_METRICS_MAX_CLASSES 3

typedef struct {
    int total;
    /* classification */
    int correct;
    double accuracy;           /* correct / total */
    double acc_lo, acc_hi;     /* 95% Wilson score interval */
    int tp, fp, fn, tn;        /* positive class = label 1 (binary tasks) */
    double f1;                 /* 2tp / (2tp + fp + fn); 0 when tp = 0; NaN beyond two classes */
    double f1_lo, f1_hi;       /* 95% percentile bootstrap interval (seeded, 1000 draws) */
    double mcc, mcc_lo, mcc_hi; /* the same draws */
    /* regression */
    double pearson, pearson_lo, pearson_hi;
    double spearman, spearman_lo, spearman_hi;
} gq_metrics;

/* Scores class predictions against labels (n examples, labels in 0..n_classes-1,
 * n_classes 2 or 3). Every regression field is NaN. */
void gq_metrics_compute(const int *pred, const int *label, int n, int n_classes, gq_metrics *out);

/* Scores predicted against gold scores (n examples). Every classification field is 0 or
 * NaN; total = n. Returns 0 when out of memory for the ranks (Spearman's fields are then
 * NaN), else 1. */
int gq_metrics_regress(const double *pred, const double *gold, int n, gq_metrics *out);

/* The value of metric m in a computed gq_metrics (NaN when undefined). */
double gq_metrics_value(const gq_metrics *m, gq_metric metric);
/* The same with its interval: v[0] the value, v[1] and v[2] the bounds. */
void gq_metrics_triple(const gq_metrics *m, gq_metric metric, double v[3]);

/* 95% Wilson score interval for k successes out of n. */
void gq_wilson_ci(int k, int n, double *lo, double *hi);

/* Pearson's r of n pairs (NaN when n < 2 or either side is constant). */
double gq_pearson(const double *x, const double *y, int n);
/* Spearman's rho: Pearson's r of the average ranks (ties share their mean rank). */
double gq_spearman(const double *x, const double *y, int n);

/* Exact two-sided McNemar test: b = examples only A gets right, c = only B gets right.
 * Returns the p-value (binomial test of min(b,c) under p = 0.5, doubled, capped at 1). */
double gq_mcnemar_exact(int b, int c);

/* Paired bootstrap of accuracy(B) - accuracy(A) over n examples: `draws` resamples
 * with a seeded RNG. Writes the observed difference and the 95% percentile interval. */
void gq_paired_bootstrap(const int *correct_a, const int *correct_b, int n, int draws, uint64_t seed,
                         double *diff, double *lo, double *hi);

/* F1, MCC, Pearson or Spearman of pred against gold (class ids as doubles for F1 and MCC,
 * scores otherwise); NaN when undefined or out of memory. */
double gq_metric_score(gq_metric metric, const double *gold, const double *pred, int n, int n_classes);

/* Paired bootstrap of metric(B) - metric(A) for F1, MCC, Pearson or Spearman: each draw
 * resamples the n examples (the same indices for A and B) and scores both on them. gold,
 * pred_a and pred_b are class ids (as doubles) for F1 and MCC, scores otherwise. Draws on
 * which either metric is undefined are left out of the interval; diff is NaN (and so the
 * interval) when either metric is undefined on the whole set. Returns GQ_ERR_NOMEM only. */
gq_status gq_paired_bootstrap_metric(gq_metric metric, const double *gold, const double *pred_a, const double *pred_b,
                                     int n, int n_classes, int draws, uint64_t seed, double *diff, double *lo,
                                     double *hi);

#endif
