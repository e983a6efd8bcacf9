/* metrics: accuracy with its Wilson interval, F1 with a bootstrap interval, and the two
 * paired comparisons of evaluations on the same examples (see metrics.h).
 *
 * Percentile intervals use linear interpolation between order statistics at q·(m-1),
 * numpy's default, so that a Python check of the same draws gives the same bounds.
 */
#include "metrics.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Φ⁻¹(0.975): the normal quantile of a two-sided 95% interval. */
#define Z95 1.959963984540054

/* The F1 bootstrap is part of every result row; a fixed seed makes rows reproducible
 * (results record it as part of the metric's definition). */
#define F1_DRAWS 1000
#define F1_SEED 0

static const double LN2 = 0.69314718055994530942; /* M_LN2 is not in C11 */

void gq_wilson_ci(int k, int n, double *lo, double *hi) {
    if (n <= 0) { /* no evidence: the whole range */
        *lo = 0;
        *hi = 1;
        return;
    }
    /* (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) */
    double p = (double)k / n, z2 = Z95 * Z95, d = 1 + z2 / n;
    double center = (p + z2 / (2.0 * n)) / d;
    double half = Z95 * sqrt(p * (1 - p) / n + z2 / (4.0 * n * (double)n)) / d;
    /* the bounds are exactly 0 at k = 0 and 1 at k = n; rounding must not move them */
    *lo = k <= 0 ? 0 : fmax(0, center - half);
    *hi = k >= n ? 1 : fmin(1, center + half);
}

/* Resampling draws n indices per replicate, so it is the metrics' hot loop: each 64-bit
 * generator output gives two indices by Lemire's multiply-shift on its 32-bit halves.
 * No division; the bias, below n/2³² (about 1e-6 for GLUE's dev sets), is far under the
 * bootstrap's own noise. */
static inline int index_hi(uint64_t x, int n) { return (int)(((x >> 32) * (uint64_t)n) >> 32); }
static inline int index_lo(uint64_t x, int n) { return (int)(((x & 0xFFFFFFFFu) * (uint64_t)n) >> 32); }

static double f1_of(int tp, int fp, int fn) { return tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* q-quantile of m sorted values, interpolating linearly between neighbours. */
static double percentile(const double *v, int m, double q) {
    double pos = q * (m - 1);
    int i = (int)pos;
    return i + 1 < m ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[m - 1];
}

void gq_metrics_compute(const int *pred, const int *label, int n, gq_metrics *out) {
    memset(out, 0, sizeof *out);
    out->total = n > 0 ? n : 0;
    for (int i = 0; i < n; i++) {
        int p = pred[i] == 1, l = label[i] == 1;
        out->correct += pred[i] == label[i];
        out->tp += p && l;
        out->fp += p && !l;
        out->fn += !p && l;
        out->tn += !p && !l;
    }
    out->accuracy = n > 0 ? (double)out->correct / n : 0;
    gq_wilson_ci(out->correct, out->total, &out->acc_lo, &out->acc_hi);
    out->f1 = f1_of(out->tp, out->fp, out->fn);
    if (n <= 0) return;

    /* resample the n examples with replacement; F1 of each resample */
    double draws[F1_DRAWS];
    gq_rng rng;
    gq_rng_seed(&rng, F1_SEED);
    for (int d = 0; d < F1_DRAWS; d++) {
        int count[2][2] = {{0, 0}, {0, 0}}; /* [pred is 1][label is 1] */
        for (int j = 0; j < n; j += 2) {
            uint64_t x = gq_rng_next(&rng);
            int i = index_hi(x, n);
            count[pred[i] == 1][label[i] == 1]++;
            if (j + 1 < n) {
                i = index_lo(x, n);
                count[pred[i] == 1][label[i] == 1]++;
            }
        }
        int tp = count[1][1], fp = count[1][0], fn = count[0][1];
        draws[d] = f1_of(tp, fp, fn);
    }
    qsort(draws, F1_DRAWS, sizeof draws[0], cmp_double);
    out->f1_lo = percentile(draws, F1_DRAWS, 0.025);
    out->f1_hi = percentile(draws, F1_DRAWS, 0.975);
}

double gq_mcnemar_exact(int b, int c) {
    if (b < 0 || c < 0 || b > INT_MAX - c) return NAN;
    int n = b + c, k = b < c ? b : c;
    if (n == 0) return 1;
    /* p = 2 · C(n,k) · 2⁻ⁿ · Σ_{i≤k} C(n,i)/C(n,k). The terms grow with i up to n/2 ≥ k,
     * so the sum, taken from i = k downwards relative to its largest term, lies in
     * [1, k+1] and never overflows; C(n,k)·2⁻ⁿ, which underflows for large n, is
     * handled as a logarithm. */
    double sum = 0, term = 1;
    for (int i = k; i >= 0 && term > sum * 1e-17; i--) {
        sum += term;
        term *= (double)i / (n - i + 1); /* C(n,i-1) / C(n,i) */
    }
    double log_choose = 0; /* log C(n,k) = Σ_{i=1..k} log((n-k+i)/i) */
    for (int i = 1; i <= k; i++) log_choose += log((double)(n - k + i) / i);
    double log_p = LN2 + log_choose - n * LN2 + log(sum);
    return log_p >= 0 ? 1 : exp(log_p);
}

void gq_paired_bootstrap(const int *correct_a, const int *correct_b, int n, int draws, uint64_t seed,
                         double *diff, double *lo, double *hi) {
    long delta = 0; /* Σ (b_i - a_i): correct counts, 0/1 per example */
    for (int i = 0; i < n; i++) delta += (correct_b[i] != 0) - (correct_a[i] != 0);
    *diff = n > 0 ? (double)delta / n : 0;
    *lo = *hi = *diff;
    if (n <= 0 || draws <= 0) return;
    double *v = gq_malloc_array((size_t)draws, sizeof *v);
    if (!v) { /* no way to report the failure here: make the interval unusable, not wrong */
        *lo = *hi = NAN;
        return;
    }
    gq_rng rng;
    gq_rng_seed(&rng, seed);
    for (int d = 0; d < draws; d++) {
        long s = 0;
        for (int j = 0; j < n; j += 2) {
            uint64_t x = gq_rng_next(&rng);
            int i = index_hi(x, n);
            s += (correct_b[i] != 0) - (correct_a[i] != 0);
            if (j + 1 < n) {
                i = index_lo(x, n);
                s += (correct_b[i] != 0) - (correct_a[i] != 0);
            }
        }
        v[d] = (double)s / n;
    }
    qsort(v, (size_t)draws, sizeof *v, cmp_double);
    *lo = percentile(v, draws, 0.025);
    *hi = percentile(v, draws, 0.975);
    free(v);
}
