/* metrics: GLUE's metrics with their intervals, and the paired comparisons of evaluations
 * on the same examples (see metrics.h).
 *
 * Percentile intervals use linear interpolation between order statistics at q·(m-1),
 * numpy's default, so that a Python check of the same draws gives the same bounds. The
 * MCC follows scikit-learn's multiclass formula operation for operation, and Pearson's r
 * scipy's two-pass form, so that both agree with those libraries to rounding.
 */
#include "metrics.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Φ⁻¹(0.975): the normal quantile of a two-sided 95% interval (scipy.special.ndtri(0.975)). */
#define Z95 1.959963984540054

/* The bootstrap intervals of F1 and MCC are part of every result row; a fixed seed makes
 * rows reproducible (results record it as part of the metric's definition). */
#define CLASS_DRAWS 1000
#define CLASS_SEED 0

static const double LN2 = 0.69314718055994530942; /* M_LN2 is not in C11 */

static const char *const NAMES[GQ_METRIC_COUNT] = {"accuracy", "f1", "mcc", "pearson", "spearman"};
static const char *const TITLES[GQ_METRIC_COUNT] = {"accuracy", "F1", "Matthews corr.", "Pearson", "Spearman"};

const char *gq_metric_name(gq_metric m) { return (unsigned)m < GQ_METRIC_COUNT ? NAMES[m] : "?"; }
const char *gq_metric_title(gq_metric m) { return (unsigned)m < GQ_METRIC_COUNT ? TITLES[m] : "?"; }

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

/* One replicate's n indices into idx. */
static void draw_indices(gq_rng *rng, int n, int *idx) {
    for (int j = 0; j < n; j += 2) {
        uint64_t x = gq_rng_next(rng);
        idx[j] = index_hi(x, n);
        if (j + 1 < n) idx[j + 1] = index_lo(x, n);
    }
}

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

/* The 2.5% and 97.5% points of m draws (sorted here); NaN when there are none. */
static void percentile_interval(double *v, int m, double *lo, double *hi) {
    if (m <= 0) {
        *lo = *hi = NAN;
        return;
    }
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    *lo = percentile(v, m, 0.025);
    *hi = percentile(v, m, 0.975);
}

/* ---- confusion counts: c[pred * k + label] ---- */

static double f1_of(const long *c) {
    long tp = c[1 * 2 + 1], fp = c[1 * 2 + 0], fn = c[0 * 2 + 1];
    return tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0;
}

/* scikit-learn's matthews_corrcoef on the confusion matrix, in its order of operations:
 * cov(y, ŷ) / sqrt(cov(y, y)·cov(ŷ, ŷ)), 0 when a variance is 0. */
static double mcc_of(const long *c, int k) {
    double t_sum[GQ_METRICS_MAX_CLASSES] = {0}, p_sum[GQ_METRICS_MAX_CLASSES] = {0}, correct = 0, n = 0;
    for (int p = 0; p < k; p++)
        for (int l = 0; l < k; l++) {
            double v = (double)c[p * k + l];
            t_sum[l] += v, p_sum[p] += v, n += v;
            if (p == l) correct += v;
        }
    double tp = 0, pp = 0, tt = 0;
    for (int i = 0; i < k; i++) tp += t_sum[i] * p_sum[i], pp += p_sum[i] * p_sum[i], tt += t_sum[i] * t_sum[i];
    double cov_ytyp = correct * n - tp, cov_ypyp = n * n - pp, cov_ytyt = n * n - tt;
    return cov_ypyp * cov_ytyt == 0 ? 0 : cov_ytyp / sqrt(cov_ytyt * cov_ypyp);
}

/* Confusion counts of the examples idx[0..m) (all n when idx is NULL). */
static void count_classes(const int *pred, const int *label, const int *idx, int m, int k, long *c) {
    memset(c, 0, sizeof(long) * (size_t)(k * k));
    for (int j = 0; j < m; j++) {
        int i = idx ? idx[j] : j;
        c[pred[i] * k + label[i]]++;
    }
}

static int valid_classes(const int *v, int n, int k) {
    for (int i = 0; i < n; i++)
        if (v[i] < 0 || v[i] >= k) return 0;
    return 1;
}

void gq_metrics_compute(const int *pred, const int *label, int n, int n_classes, gq_metrics *out) {
    memset(out, 0, sizeof *out);
    out->pearson = out->pearson_lo = out->pearson_hi = NAN;
    out->spearman = out->spearman_lo = out->spearman_hi = NAN;
    int k = n_classes;
    out->total = n > 0 ? n : 0;
    if (k < 2 || k > GQ_METRICS_MAX_CLASSES || (n > 0 && (!valid_classes(pred, n, k) || !valid_classes(label, n, k)))) {
        out->accuracy = out->acc_lo = out->acc_hi = out->f1 = out->f1_lo = out->f1_hi = NAN;
        out->mcc = out->mcc_lo = out->mcc_hi = NAN;
        return;
    }
    long c[GQ_METRICS_MAX_CLASSES * GQ_METRICS_MAX_CLASSES];
    count_classes(pred, label, NULL, n, k, c);
    for (int i = 0; i < k; i++) out->correct += (int)c[i * k + i];
    if (k == 2) out->tp = (int)c[3], out->fp = (int)c[2], out->fn = (int)c[1], out->tn = (int)c[0];
    out->accuracy = n > 0 ? (double)out->correct / n : 0;
    gq_wilson_ci(out->correct, out->total, &out->acc_lo, &out->acc_hi);
    out->f1 = k == 2 ? f1_of(c) : NAN;
    out->mcc = mcc_of(c, k);
    if (k != 2) out->f1_lo = out->f1_hi = NAN;
    if (n <= 0) return;

    /* resample the n examples with replacement (no allocation: the counts of each draw are
     * taken as its indices come); F1 and MCC of each resample */
    double f1s[CLASS_DRAWS], mccs[CLASS_DRAWS];
    gq_rng rng;
    gq_rng_seed(&rng, CLASS_SEED);
    for (int d = 0; d < CLASS_DRAWS; d++) {
        memset(c, 0, sizeof c);
        for (int j = 0; j < n; j += 2) {
            uint64_t x = gq_rng_next(&rng);
            int i = index_hi(x, n);
            c[pred[i] * k + label[i]]++;
            if (j + 1 < n) {
                i = index_lo(x, n);
                c[pred[i] * k + label[i]]++;
            }
        }
        if (k == 2) f1s[d] = f1_of(c);
        mccs[d] = mcc_of(c, k);
    }
    if (k == 2) percentile_interval(f1s, CLASS_DRAWS, &out->f1_lo, &out->f1_hi);
    percentile_interval(mccs, CLASS_DRAWS, &out->mcc_lo, &out->mcc_hi);
}

/* ---- correlations ---- */

static int constant(const double *x, int n) {
    for (int i = 1; i < n; i++)
        if (x[i] != x[0]) return 0;
    return 1;
}

static double sign(double v) { return (v > 0) - (v < 0); }

static double mean(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

/* scipy.stats.pearsonr: r = Σ (x−x̄)/‖x−x̄‖ · (y−ȳ)/‖y−ȳ‖, clamped to [−1, 1]. */
double gq_pearson(const double *x, const double *y, int n) {
    if (n < 2 || constant(x, n) || constant(y, n)) return NAN;
    if (n == 2) return sign(x[1] - x[0]) * sign(y[1] - y[0]);
    double mx = mean(x, n), my = mean(y, n), sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) sxx += (x[i] - mx) * (x[i] - mx), syy += (y[i] - my) * (y[i] - my);
    double nx = sqrt(sxx), ny = sqrt(syy), r = 0;
    for (int i = 0; i < n; i++) r += (x[i] - mx) / nx * ((y[i] - my) / ny);
    return fmax(-1.0, fmin(1.0, r));
}

typedef struct {
    const double *v;
    int i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    double u = x->v[x->i], w = y->v[y->i];
    return u < w ? -1 : u > w ? 1 : x->i - y->i;
}

/* Average ranks (1-based, ties share their mean rank), as scipy.stats.rankdata. */
static void rank_average(const double *x, int n, ranked *work, double *rank) {
    for (int i = 0; i < n; i++) work[i] = (ranked){x, i};
    qsort(work, (size_t)n, sizeof *work, cmp_ranked);
    for (int s = 0; s < n;) {
        int e = s + 1;
        while (e < n && x[work[e].i] == x[work[s].i]) e++;
        double r = (s + 1 + e) / 2.0; /* mean of ranks s+1 .. e */
        for (int j = s; j < e; j++) rank[work[j].i] = r;
        s = e;
    }
}

/* Spearman's rho with caller-provided scratch: work (n), rx and ry (n each). */
static double spearman_with(const double *x, const double *y, int n, ranked *work, double *rx, double *ry) {
    rank_average(x, n, work, rx);
    rank_average(y, n, work, ry);
    return gq_pearson(rx, ry, n);
}

double gq_spearman(const double *x, const double *y, int n) {
    if (n < 2) return NAN;
    ranked *work = gq_malloc_array((size_t)n, sizeof *work);
    double *r = gq_malloc_array((size_t)n * 2, sizeof *r);
    double rho = work && r ? spearman_with(x, y, n, work, r, r + n) : NAN;
    free(work), free(r);
    return rho;
}

/* Fisher-z interval tanh(atanh(r) ± z·se), as scipy's PearsonRResult.confidence_interval;
 * (−1, 1) for n ≤ 3, NaN for an undefined r. */
static void fisher_ci(double r, int n, double se, double *lo, double *hi) {
    if (isnan(r)) {
        *lo = *hi = NAN;
    } else if (n <= 3) {
        *lo = -1, *hi = 1;
    } else {
        double z = r >= 1 ? INFINITY : r <= -1 ? -INFINITY : atanh(r);
        *lo = tanh(z - Z95 * se), *hi = tanh(z + Z95 * se);
    }
}

int gq_metrics_regress(const double *pred, const double *gold, int n, gq_metrics *out) {
    memset(out, 0, sizeof *out);
    out->total = n > 0 ? n : 0;
    out->accuracy = out->acc_lo = out->acc_hi = out->f1 = out->f1_lo = out->f1_hi = NAN;
    out->mcc = out->mcc_lo = out->mcc_hi = NAN;
    size_t un = (size_t)(n > 0 ? n : 1);
    ranked *work = gq_malloc_array(un, sizeof *work);
    double *r = gq_malloc_array(un * 2, sizeof *r);
    int ok = work && r;
    out->pearson = gq_pearson(pred, gold, n);
    out->spearman = ok && n >= 2 ? spearman_with(pred, gold, n, work, r, r + un) : NAN;
    free(work), free(r);
    double se = n > 3 ? sqrt(1.0 / (n - 3)) : 0, rho = out->spearman;
    fisher_ci(out->pearson, n, se, &out->pearson_lo, &out->pearson_hi);
    /* Bonett & Wright (2000): Var(atanh rho) ≈ (1 + rho²/2) / (n − 3) */
    fisher_ci(rho, n, n > 3 ? sqrt((1 + rho * rho / 2) / (n - 3)) : 0, &out->spearman_lo, &out->spearman_hi);
    return ok;
}

void gq_metrics_triple(const gq_metrics *m, gq_metric metric, double v[3]) {
    switch (metric) {
    case GQ_METRIC_ACCURACY: v[0] = m->accuracy, v[1] = m->acc_lo, v[2] = m->acc_hi; break;
    case GQ_METRIC_F1: v[0] = m->f1, v[1] = m->f1_lo, v[2] = m->f1_hi; break;
    case GQ_METRIC_MCC: v[0] = m->mcc, v[1] = m->mcc_lo, v[2] = m->mcc_hi; break;
    case GQ_METRIC_PEARSON: v[0] = m->pearson, v[1] = m->pearson_lo, v[2] = m->pearson_hi; break;
    case GQ_METRIC_SPEARMAN: v[0] = m->spearman, v[1] = m->spearman_lo, v[2] = m->spearman_hi; break;
    default: v[0] = v[1] = v[2] = NAN;
    }
}

double gq_metrics_value(const gq_metrics *m, gq_metric metric) {
    double v[3];
    gq_metrics_triple(m, metric, v);
    return v[0];
}

/* ---- paired tests ---- */

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
    percentile_interval(v, draws, lo, hi);
    free(v);
}

/* Scratch of the paired metric bootstrap: class ids, or gathered scores and ranks. */
typedef struct {
    int *gold, *a, *b;       /* class ids (F1, MCC) */
    double *g, *x, *rg, *rx; /* a replicate's scores and their ranks */
    ranked *work;
    int *all, *idx;          /* 0..n-1, and a replicate's indices */
} paired_scratch;

static void scratch_free(paired_scratch *s) { free(s->gold), free(s->g), free(s->work), free(s->all), free(s->idx); }

static int is_class_metric(gq_metric m) { return m == GQ_METRIC_F1 || m == GQ_METRIC_MCC; }

/* Whether n values are class ids 0..k-1. */
static int class_ids(const double *v, int n, int k) {
    for (int i = 0; i < n; i++)
        if (!(v[i] >= 0 && v[i] < k && v[i] == (int)v[i])) return 0;
    return 1;
}

/* Whether metric is defined on predictions against gold with k classes. */
static int metric_defined(gq_metric metric, const double *gold, const double *pred, int n, int k) {
    if (n <= 0) return 0;
    if (metric == GQ_METRIC_PEARSON || metric == GQ_METRIC_SPEARMAN) return 1;
    if (!is_class_metric(metric) || k < 2 || k > GQ_METRICS_MAX_CLASSES || (metric == GQ_METRIC_F1 && k != 2)) return 0;
    return class_ids(gold, n, k) && class_ids(pred, n, k);
}

/* Scratch for n examples, with gold (and pred_a, pred_b when given) as class ids. */
static int scratch_alloc(paired_scratch *s, gq_metric metric, const double *gold, const double *pred_a,
                         const double *pred_b, int n) {
    size_t un = (size_t)n;
    memset(s, 0, sizeof *s);
    if (!(s->all = gq_malloc_array(un, sizeof *s->all)) || !(s->idx = gq_malloc_array(un, sizeof *s->idx))) return 0;
    for (int i = 0; i < n; i++) s->all[i] = i;
    if (is_class_metric(metric)) {
        if (!(s->gold = gq_malloc_array(un * 3, sizeof(int)))) return 0;
        s->a = s->gold + un, s->b = s->gold + 2 * un;
        for (int i = 0; i < n; i++) {
            s->gold[i] = (int)gold[i];
            s->a[i] = pred_a ? (int)pred_a[i] : 0, s->b[i] = pred_b ? (int)pred_b[i] : 0;
        }
        return 1;
    }
    if (!(s->g = gq_malloc_array(un * 4, sizeof(double))) || !(s->work = gq_malloc_array(un, sizeof *s->work))) return 0;
    s->x = s->g + un, s->rg = s->g + 2 * un, s->rx = s->g + 3 * un;
    return 1;
}

/* The metric of predictions pred (scores; cls_pred: class ids) on the examples idx[0..m). */
static double metric_on(gq_metric metric, const double *gold, const double *pred, const int *cls_pred, const int *idx,
                        int m, int k, paired_scratch *s) {
    if (is_class_metric(metric)) {
        long c[GQ_METRICS_MAX_CLASSES * GQ_METRICS_MAX_CLASSES];
        count_classes(cls_pred, s->gold, idx, m, k, c);
        return metric == GQ_METRIC_F1 ? f1_of(c) : mcc_of(c, k);
    }
    for (int j = 0; j < m; j++) s->g[j] = gold[idx[j]], s->x[j] = pred[idx[j]];
    return metric == GQ_METRIC_PEARSON ? gq_pearson(s->x, s->g, m) : spearman_with(s->x, s->g, m, s->work, s->rx, s->rg);
}

double gq_metric_score(gq_metric metric, const double *gold, const double *pred, int n, int n_classes) {
    if (!metric_defined(metric, gold, pred, n, n_classes)) return NAN;
    paired_scratch s;
    double v = scratch_alloc(&s, metric, gold, pred, NULL, n) ? metric_on(metric, gold, pred, s.a, s.all, n, n_classes, &s)
                                                               : NAN;
    scratch_free(&s);
    return v;
}

gq_status gq_paired_bootstrap_metric(gq_metric metric, const double *gold, const double *pred_a, const double *pred_b,
                                     int n, int n_classes, int draws, uint64_t seed, double *diff, double *lo,
                                     double *hi) {
    *diff = *lo = *hi = NAN;
    if (draws <= 0 || !metric_defined(metric, gold, pred_a, n, n_classes) ||
        !metric_defined(metric, gold, pred_b, n, n_classes))
        return GQ_OK;
    paired_scratch s;
    double *v = gq_malloc_array((size_t)draws, sizeof *v);
    int ok = v && scratch_alloc(&s, metric, gold, pred_a, pred_b, n);
    if (ok)
        *diff = metric_on(metric, gold, pred_b, s.b, s.all, n, n_classes, &s) -
                metric_on(metric, gold, pred_a, s.a, s.all, n, n_classes, &s);
    if (ok && !isnan(*diff)) {
        gq_rng rng;
        gq_rng_seed(&rng, seed);
        int m = 0;
        for (int d = 0; d < draws; d++) {
            draw_indices(&rng, n, s.idx);
            double db = metric_on(metric, gold, pred_b, s.b, s.idx, n, n_classes, &s) -
                        metric_on(metric, gold, pred_a, s.a, s.idx, n, n_classes, &s);
            if (!isnan(db)) v[m++] = db;
        }
        percentile_interval(v, m, lo, hi);
    }
    if (v) scratch_free(&s);
    free(v);
    return ok ? GQ_OK : GQ_ERR_NOMEM;
}
