/* algo: the entry point of the quantizer algorithms (gq_quant_algo_matrix) and what
 * gptq and awq-scale share: the Hessian, SARQC's normalised scores and the calibration
 * output error.
 *
 * Everything between the FP32 inputs and the FP32 output is double precision, as in the
 * quantizer itself, so that numpy references in float64 agree to the last rounding tie. */
#include "quant_internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

void gq_algo_hessian_diag(const gq_lin_stats *st, double damp, double *diag, uint8_t *dead, double *mean_diag) {
    int n = st->in;
    double scale = 2.0 / (double)st->ntok, sum = 0;
    for (int j = 0; j < n; j++) {
        double d = scale * st->xtx[(size_t)j * n + j];
        int is_dead = d == 0; /* GPTQ: a column no input ever reaches gets H_jj = 1 */
        if (is_dead) d = 1;
        if (dead) dead[j] = (uint8_t)is_dead;
        diag[j] = d;
        sum += d;
    }
    double lambda = damp * sum / n, m = 0;
    for (int j = 0; j < n; j++) m += diag[j] += lambda;
    *mean_diag = m / n;
}

void gq_algo_hessian(const gq_lin_stats *st, const double *diag, double *h) {
    int n = st->in;
    double scale = 2.0 / (double)st->ntok;
    for (int i = 0; i < n; i++) {
        h[(size_t)i * n + i] = diag[i];
        for (int j = i + 1; j < n; j++) h[(size_t)i * n + j] = h[(size_t)j * n + i] = scale * st->xtx[(size_t)i * n + j];
    }
}

gq_status gq_algo_sarqc_scores(const float *saliency, int rows, int cols, double *s, gq_err *err) {
    size_t n = (size_t)rows * cols;
    if (!saliency) {
        for (size_t i = 0; i < n; i++) s[i] = 1;
        return GQ_OK;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += saliency[i];
    double mean = sum / (double)n;
    if (!(mean > 0 && isfinite(mean)))
        return gq_fail(err, GQ_ERR_ARG, "sarqc: saliency scores of a %dx%d matrix have mean %g (need > 0)", rows, cols,
                       mean);
    for (size_t i = 0; i < n; i++) s[i] = saliency[i] / mean;
    return GQ_OK;
}

gq_status gq_quant_calib_error(const float *w, const float *what, int rows, int cols, const double *xtx,
                               double *out, gq_err *err) {
    size_t n = (size_t)rows * cols;
    double *e = gq_malloc_array(n, sizeof *e), *t = gq_malloc_array(n, sizeof *t);
    if (!e || !t) {
        free(e), free(t);
        return gq_fail(err, GQ_ERR_NOMEM, "calibration error: out of memory for a %dx%d matrix", rows, cols);
    }
    for (size_t i = 0; i < n; i++) e[i] = (double)w[i] - (double)what[i];
    /* T = E·G with G symmetric, read from its upper triangle */
    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, rows, cols, 1.0, xtx, cols, e, cols, 0.0, t, cols);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += e[i] * t[i];
    free(e), free(t);
    *out = sum;
    return GQ_OK;
}

static gq_status check_inputs(const gq_quant_opts *o, int rows, int cols, const gq_quant_algo_inputs *in,
                              gq_err *err) {
    const char *name = gq_quant_algorithm_name(o->algorithm);
    const gq_lin_stats *st = in ? in->stats : NULL;
    if (!st) return gq_fail(err, GQ_ERR_ARG, "quantizer %s: calibration statistics are required", name);
    if (st->in != cols || st->ntok <= 0 || !st->xtx || !st->abs_sum)
        return gq_fail(err, GQ_ERR_ARG, "quantizer %s: %lld calibration tokens of width %d for a %dx%d matrix", name,
                       (long long)st->ntok, st->in, rows, cols);
    return GQ_OK;
}

gq_status gq_quant_algo_matrix(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                               const gq_quant_algo_inputs *in, float *out, gq_quant_algo_info *info, gq_err *err) {
    gq_quant_algo_info local;
    if (!info) info = &local;
    info->awq_alpha = 0, info->calib_err = NAN;
    gq_status st = gq_quant_opts_check(o, err);
    if (st != GQ_OK) return st;
    if (rows <= 0 || cols <= 0) return gq_fail(err, GQ_ERR_SHAPE, "quantizer: matrix shape %dx%d", rows, cols);
    if (o->algorithm != GQ_ALGO_RTN && (st = check_inputs(o, rows, cols, in, err)) != GQ_OK) return st;
    switch (o->algorithm) {
    case GQ_ALGO_RTN: st = gq_quant_matrix(o, w, rows, cols, protect, out, err); break;
    case GQ_ALGO_GPTQ: st = gq_algo_gptq(o, w, rows, cols, protect, in, out, err); break;
    case GQ_ALGO_AWQ_SCALE: st = gq_algo_awq_scale(o, w, rows, cols, protect, in, out, info, err); break;
    }
    if (st == GQ_OK && in && in->want_calib_err && in->stats && in->stats->in == cols &&
        o->algorithm != GQ_ALGO_AWQ_SCALE) /* awq-scale's search already measured it */
        st = gq_quant_calib_error(w, out, rows, cols, in->stats->xtx, &info->calib_err, err);
    return st;
}

gq_status gq_quantize_algo(const void *ctx, const float *w, int rows, int cols, const uint8_t *mask,
                           const gq_lin_stats *stats, int basis, float *out, gq_err *err) {
    const gq_quantize_ctx *c = ctx;
    gq_quant_algo_inputs in = {.stats = stats, .factors = c->factors, .factor_slot = c->slot,
                               .factor_basis = basis ? c->basis_base + basis : 0};
    return gq_quant_algo_matrix(c->q, w, rows, cols, mask, &in, out, NULL, err);
}
