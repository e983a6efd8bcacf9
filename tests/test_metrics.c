/* test_metrics: Wilson intervals, confusion counts, F1 and MCC, Pearson and Spearman, exact
 * McNemar p-values and the paired bootstraps against values computed by hand or with
 * python3, scikit-learn and scipy (formulas in the comments), plus the invariants every
 * interval must satisfy. tests/metrics_sklearn.py checks many more cases against the
 * libraries themselves. */
#include "metrics.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

#define CHECK_NEAR(t, got, want, tol, what)                                                                         \
    GQ_CHECK(t, fabs((got) - (want)) <= (tol), "%s: got %.17g, want %.17g", what, (double)(got), (double)(want))

/* Wilson: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.959963984540054,
 * evaluated with python3 floats. */
static void test_wilson(gq_test_ctx *t) {
    static const struct {
        int k, n;
        double lo, hi;
    } want[] = {
        {183, 277, 0.60303209295107718, 0.71387268447647079}, /* the paper's RTE SVD result */
        {350, 408, 0.82061411461380374, 0.88839658293991142},
        {5, 8, 0.30574239460262737, 0.86315571417640258},
        {0, 10, 0.0, 0.2775327998628892},  /* hi = z²/(n+z²) = 3.84145882/13.84145882 */
        {10, 10, 0.72246720013711074, 1.0}, /* lo = n/(n+z²) */
        {0, 0, 0.0, 1.0},                   /* no examples: no information */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        double lo, hi;
        gq_wilson_ci(want[i].k, want[i].n, &lo, &hi);
        char what[64];
        snprintf(what, sizeof what, "wilson %d/%d lo", want[i].k, want[i].n);
        CHECK_NEAR(t, lo, want[i].lo, 1e-12, what);
        snprintf(what, sizeof what, "wilson %d/%d hi", want[i].k, want[i].n);
        CHECK_NEAR(t, hi, want[i].hi, 1e-12, what);
    }
    /* exact ends: rounding must not leave 1e-17 below zero or above one */
    double lo, hi;
    gq_wilson_ci(0, 277, &lo, &hi);
    GQ_CHECK(t, lo == 0.0, "0/277 lo = %.17g", lo);
    gq_wilson_ci(277, 277, &lo, &hi);
    GQ_CHECK(t, hi == 1.0, "277/277 hi = %.17g", hi);
}

static void test_counts_f1(gq_test_ctx *t) {
    /*            i: 0  1  2  3  4  5  6  7
     * pred          1  1  0  0  1  0  1  0
     * label         1  0  0  1  1  0  0  0
     * outcome      tp fp tn fn tp tn fp tn  ->  tp 2, fp 2, fn 1, tn 3, correct 5/8,
     * F1 = 2·2 / (2·2 + 2 + 1) = 4/7 */
    static const int pred[] = {1, 1, 0, 0, 1, 0, 1, 0}, label[] = {1, 0, 0, 1, 1, 0, 0, 0};
    gq_metrics m;
    gq_metrics_compute(pred, label, 8, 2, &m);
    GQ_CHECK(t, m.tp == 2 && m.fp == 2 && m.fn == 1 && m.tn == 3, "tp %d fp %d fn %d tn %d", m.tp, m.fp, m.fn, m.tn);
    GQ_CHECK(t, m.correct == 5 && m.total == 8, "%d/%d", m.correct, m.total);
    CHECK_NEAR(t, m.accuracy, 0.625, 0, "accuracy");
    CHECK_NEAR(t, m.acc_lo, 0.30574239460262737, 1e-12, "accuracy lo (Wilson 5/8)");
    CHECK_NEAR(t, m.acc_hi, 0.86315571417640258, 1e-12, "accuracy hi (Wilson 5/8)");
    CHECK_NEAR(t, m.f1, 4.0 / 7.0, 1e-15, "f1");
    GQ_CHECK(t, 0 <= m.f1_lo && m.f1_lo <= m.f1 && m.f1 <= m.f1_hi && m.f1_hi <= 1, "f1 %g not in [%g, %g]", m.f1,
             m.f1_lo, m.f1_hi);
    GQ_CHECK(t, m.f1_lo < m.f1_hi, "8 mixed examples give a wide interval: [%g, %g]", m.f1_lo, m.f1_hi);
    gq_metrics again;
    gq_metrics_compute(pred, label, 8, 2, &again);
    GQ_CHECK(t, again.f1_lo == m.f1_lo && again.f1_hi == m.f1_hi, "F1 interval is seeded: [%.17g, %.17g] vs [%.17g, %.17g]",
             m.f1_lo, m.f1_hi, again.f1_lo, again.f1_hi);

    /* every resample of a perfect prediction has F1 1, or 0 when it drew no positive: with
     * 10 positives of 20 that has probability 2^-20 per draw, so both quantiles are 1 */
    static const int same[] = {1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0};
    gq_metrics_compute(same, same, 20, 2, &m);
    GQ_CHECK(t, m.f1 == 1 && m.f1_lo == 1 && m.f1_hi == 1 && m.correct == 20 && m.tp == 10, "perfect: f1 %g [%g, %g]",
             m.f1, m.f1_lo, m.f1_hi);
    /* no true positive: F1 is 0 for every resample (and undefined 0/0 counts as 0) */
    static const int ones[] = {1, 1, 1, 1}, zeros[] = {0, 0, 0, 0};
    gq_metrics_compute(ones, zeros, 4, 2, &m);
    GQ_CHECK(t, m.f1 == 0 && m.f1_lo == 0 && m.f1_hi == 0 && m.fp == 4 && m.correct == 0, "all fp: f1 %g", m.f1);
    gq_metrics_compute(zeros, zeros, 4, 2, &m);
    GQ_CHECK(t, m.f1 == 0 && m.tn == 4 && m.correct == 4 && m.acc_hi == 1, "all tn: f1 %g", m.f1);
    gq_metrics_compute(NULL, NULL, 0, 2, &m);
    GQ_CHECK(t, m.total == 0 && m.accuracy == 0 && m.acc_lo == 0 && m.acc_hi == 1 && m.f1 == 0, "empty set");

    /* a larger set: 100 tp, 20 fp, 30 fn, 50 tn; F1 = 200/250 = 0.8. The bootstrap
     * sd of F1 by the delta method is ≈ 0.027, so the 95% interval is ≈ 0.8 ± 0.053:
     * checked loosely, to catch a wrong resampling rather than to test the method. */
    int p[200], l[200];
    for (int i = 0; i < 200; i++) {
        p[i] = i < 100 || (i >= 100 && i < 120);
        l[i] = i < 100 || (i >= 120 && i < 150);
    }
    gq_metrics_compute(p, l, 200, 2, &m);
    GQ_CHECK(t, m.tp == 100 && m.fp == 20 && m.fn == 30 && m.tn == 50, "tp %d fp %d fn %d tn %d", m.tp, m.fp, m.fn,
             m.tn);
    CHECK_NEAR(t, m.f1, 0.8, 1e-15, "f1 200/250");
    GQ_CHECK(t, m.f1_lo > 0.72 && m.f1_lo < 0.77 && m.f1_hi > 0.83 && m.f1_hi < 0.88, "f1 interval [%g, %g]", m.f1_lo,
             m.f1_hi);
}

/* p = min(1, 2·Σ_{i≤min(b,c)} C(b+c, i) / 2^(b+c)), evaluated exactly with python3's
 * math.comb and fractions.Fraction, then rounded to a double. */
static void test_mcnemar(gq_test_ctx *t) {
    static const struct {
        int b, c;
        double p;
    } want[] = {
        {0, 0, 1.0},                        /* no discordant pair */
        {1, 0, 1.0},                        /* 2·C(1,0)/2 = 1 */
        {5, 1, 0.21875},                    /* 2·(1 + 6)/64 = 14/64 */
        {1, 5, 0.21875},                    /* symmetric */
        {0, 10, 0.001953125},               /* 2/1024 */
        {7, 7, 1.0},                        /* capped */
        {10, 20, 0.098737146705389023},     /* 2·Σ_{i≤10} C(30,i)/2^30 = 106018204/1073741824 */
        {500, 600, 0.0028195449914364275},  /* 2^1100 overflows a double: log space */
        {3000, 3300, 0.00016475607669748032},
        {0, 2000, 0.0},                     /* 2^-1999 underflows to 0 */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        double p = gq_mcnemar_exact(want[i].b, want[i].c);
        GQ_CHECK(t, fabs(p - want[i].p) <= 1e-10 * want[i].p + 1e-300, "mcnemar(%d, %d) = %.17g, want %.17g",
                 want[i].b, want[i].c, p, want[i].p);
    }
    GQ_CHECK(t, isnan(gq_mcnemar_exact(-1, 3)), "negative count is NaN");
}

static void test_bootstrap(gq_test_ctx *t) {
    enum { N = 200 };
    int a[N], b[N];
    double diff, lo, hi;
    for (int i = 0; i < N; i++) a[i] = (i * 7) % 3 != 0;
    gq_paired_bootstrap(a, a, N, 1000, 1, &diff, &lo, &hi);
    GQ_CHECK(t, diff == 0 && lo == 0 && hi == 0, "identical: diff %g [%g, %g]", diff, lo, hi);

    /* 30 only B right, 10 only A right, 100 both, 60 neither: diff = 20/200 = 0.1;
     * d_i = b_i - a_i has variance 40/200 - 0.1² = 0.19, so the mean's sd is
     * sqrt(0.19/200) = 0.0308 and the normal 95% interval is 0.1 ± 0.0604. */
    for (int i = 0; i < N; i++) {
        a[i] = (i >= 30 && i < 140);
        b[i] = (i < 30) || (i >= 40 && i < 140);
    }
    gq_paired_bootstrap(a, b, N, 2000, 7, &diff, &lo, &hi);
    CHECK_NEAR(t, diff, 0.1, 1e-15, "diff");
    GQ_CHECK(t, lo < diff && diff < hi, "observed diff %g not in [%g, %g]", diff, lo, hi);
    GQ_CHECK(t, fabs(lo - 0.0396) < 0.012 && fabs(hi - 0.1604) < 0.012, "interval [%g, %g], expected about "
             "[0.0396, 0.1604]", lo, hi);
    double lo2, hi2, diff2;
    gq_paired_bootstrap(a, b, N, 2000, 7, &diff2, &lo2, &hi2);
    GQ_CHECK(t, lo2 == lo && hi2 == hi, "same seed, same interval: [%.17g, %.17g] vs [%.17g, %.17g]", lo, hi, lo2, hi2);
    gq_paired_bootstrap(a, b, N, 2000, 8, &diff2, &lo2, &hi2);
    GQ_CHECK(t, diff2 == diff && (lo2 != lo || hi2 != hi), "another seed, other draws: [%g, %g]", lo2, hi2);
    /* swapping A and B negates everything (draws are the same indices) */
    gq_paired_bootstrap(b, a, N, 2000, 7, &diff2, &lo2, &hi2);
    GQ_CHECK(t, diff2 == -diff && fabs(lo2 + hi) < 1e-12 && fabs(hi2 + lo) < 1e-12, "swapped: %g [%g, %g]", diff2, lo2, hi2);
    gq_paired_bootstrap(a, b, 0, 100, 7, &diff, &lo, &hi);
    GQ_CHECK(t, diff == 0 && lo == 0 && hi == 0, "no examples: %g [%g, %g]", diff, lo, hi);
}

static void test_mcc_correlations(gq_test_ctx *t) {
    /* the 8 examples of test_counts_f1: tp 2, fp 2, fn 1, tn 3, MCC = (2·3 − 2·1) / sqrt(4·3·5·4) */
    static const int pred[] = {1, 1, 0, 0, 1, 0, 1, 0}, label[] = {1, 0, 0, 1, 1, 0, 0, 0};
    gq_metrics m;
    gq_metrics_compute(pred, label, 8, 2, &m);
    CHECK_NEAR(t, m.mcc, 4 / sqrt(240.0), 1e-15, "mcc");
    GQ_CHECK(t, -1 <= m.mcc_lo && m.mcc_lo <= m.mcc && m.mcc <= m.mcc_hi && m.mcc_hi <= 1, "mcc %g not in [%g, %g]",
             m.mcc, m.mcc_lo, m.mcc_hi);
    /* three classes: sklearn.metrics.matthews_corrcoef([0,1,2,2,1,0,2], [0,1,1,1,1,0,0]) */
    static const int g3[] = {0, 1, 2, 2, 1, 0, 2}, p3[] = {0, 1, 1, 1, 1, 0, 0};
    gq_metrics_compute(p3, g3, 7, 3, &m);
    CHECK_NEAR(t, m.mcc, 0.5051814855409226, 1e-15, "3-class mcc");
    GQ_CHECK(t, isnan(m.f1) && m.correct == 4, "3 classes: F1 undefined (%g), %d correct", m.f1, m.correct);
    /* one class predicted only: MCC 0 (a zero variance), as scikit-learn */
    static const int ones[] = {1, 1, 1, 1, 1, 1}, mixed[] = {1, 0, 1, 0, 0, 1};
    gq_metrics_compute(ones, mixed, 6, 2, &m);
    GQ_CHECK(t, m.mcc == 0 && m.mcc_lo == 0 && m.mcc_hi == 0, "one class predicted: mcc %g [%g, %g]", m.mcc, m.mcc_lo,
             m.mcc_hi);

    /* scipy.stats.pearsonr([2,4,5,4,5], [1,2,3,4,5]): r = sqrt(0.6), confidence_interval
     * (−0.3400820351875105, 0.9842357551507267) */
    const double x[] = {2, 4, 5, 4, 5}, y[] = {1, 2, 3, 4, 5};
    gq_metrics_regress(x, y, 5, &m);
    CHECK_NEAR(t, m.pearson, sqrt(0.6), 1e-15, "pearson");
    CHECK_NEAR(t, m.pearson_lo, -0.3400820351875105, 1e-12, "pearson lo");
    CHECK_NEAR(t, m.pearson_hi, 0.9842357551507267, 1e-12, "pearson hi");
    GQ_CHECK(t, isnan(m.accuracy) && isnan(m.mcc), "a regression has no accuracy or MCC");
    /* ties share the mean rank: ranks (1, 2.5, 2.5, 4, 5) and (1, 3, 2, 4.5, 4.5), rho = 18/19 */
    CHECK_NEAR(t, gq_spearman((const double[]){1, 2, 2, 3, 5}, (const double[]){1, 3, 2, 4, 4}, 5), 18.0 / 19, 1e-15,
               "spearman with ties");
    /* a constant side: undefined, and so the intervals */
    const double flat[] = {0.5, 0.5, 0.5, 0.5, 0.5};
    gq_metrics_regress(flat, y, 5, &m);
    GQ_CHECK(t, isnan(m.pearson) && isnan(m.pearson_lo) && isnan(m.spearman) && isnan(m.spearman_hi),
             "constant prediction: pearson %g spearman %g", m.pearson, m.spearman);
    /* perfect order: r = 1, and the Fisher interval is the point */
    gq_metrics_regress(y, y, 5, &m);
    GQ_CHECK(t, m.pearson == 1 && m.pearson_lo == 1 && m.pearson_hi == 1 && m.spearman == 1, "perfect: %g [%g, %g]",
             m.pearson, m.pearson_lo, m.pearson_hi);
}

static void test_paired_metric(gq_test_ctx *t) {
    enum { N = 40 };
    double gold[N], a[N], b[N], diff, lo, hi;
    for (int i = 0; i < N; i++) {
        gold[i] = i % 2;
        a[i] = i % 5 == 0 ? 1 - gold[i] : gold[i]; /* 8 wrong */
        b[i] = i % 3 == 0 ? 1 - gold[i] : gold[i]; /* 14 wrong */
    }
    for (gq_metric m = GQ_METRIC_F1; m < GQ_METRIC_COUNT; m++) {
        const char *name = gq_metric_name(m);
        GQ_CHECK(t, gq_paired_bootstrap_metric(m, gold, a, a, N, 2, 500, 3, &diff, &lo, &hi) == GQ_OK &&
                        diff == 0 && lo == 0 && hi == 0, "%s: A against itself: %g [%g, %g]", name, diff, lo, hi);
        double d2, lo2, hi2;
        gq_paired_bootstrap_metric(m, gold, a, b, N, 2, 500, 3, &diff, &lo, &hi);
        gq_paired_bootstrap_metric(m, gold, b, a, N, 2, 500, 3, &d2, &lo2, &hi2);
        double va = gq_metric_score(m, gold, a, N, 2), vb = gq_metric_score(m, gold, b, N, 2);
        CHECK_NEAR(t, diff, vb - va, 1e-15, name);
        GQ_CHECK(t, lo <= diff && diff <= hi && diff < 0, "%s: B worse: %g not in [%g, %g]", name, diff, lo, hi);
        /* the same indices: swapping A and B negates every draw */
        GQ_CHECK(t, d2 == -diff && fabs(lo2 + hi) < 1e-12 && fabs(hi2 + lo) < 1e-12, "%s swapped: %g [%g, %g]", name,
                 d2, lo2, hi2);
    }
    /* a constant B: Pearson undefined, no interval */
    double flat[N];
    for (int i = 0; i < N; i++) flat[i] = 0.25;
    gq_paired_bootstrap_metric(GQ_METRIC_PEARSON, gold, a, flat, N, 0, 100, 1, &diff, &lo, &hi);
    GQ_CHECK(t, isnan(diff) && isnan(lo) && isnan(hi), "undefined B: %g [%g, %g]", diff, lo, hi);
    /* F1 of three classes is not defined */
    GQ_CHECK(t, isnan(gq_metric_score(GQ_METRIC_F1, gold, a, N, 3)), "F1 with three classes");
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    test_wilson(&t);
    test_counts_f1(&t);
    test_mcnemar(&t);
    test_bootstrap(&t);
    test_mcc_correlations(&t);
    test_paired_metric(&t);
    return gq_test_done(&t);
}
