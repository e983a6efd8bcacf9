/* quant_internal: helpers shared by the files of quant/ (not part of the interface). */
#ifndef GQ_QUANT_INTERNAL_H
#define GQ_QUANT_INTERNAL_H

#include "factor_cache.h"
#include "quant_method.h"

/* Decodes a score-cache file held in b[0..len) that must have been made for `key` and
 * n_mats matrices: on success st[i] (malloc'd, n[i] doubles each) and NULL; else why
 * the entry is unusable ("checksum mismatch ...") and nothing is allocated. */
const char *gq_quant_cache_decode(const uint8_t *b, size_t len, const char *key, int n_mats, double **st, size_t *n);

#include <math.h>

/* Seconds c's hooks have spent accumulating the statistics (calib_stats.c). */
double gq_quant_calib_seconds(const gq_quant_calib *c);

/* What gq_quantize_algo's ctx holds: the options, and where the algorithm's factors of
 * the statistics are found and kept (factors NULL: computed and dropped); a method's
 * basis b > 0 is factor basis basis_base + b. */
typedef struct {
    const gq_quant_opts *q;
    gq_factor_cache *factors;
    int slot, basis_base;
} gq_quantize_ctx;

/* gq_quantize_fn with ctx a gq_quantize_ctx: gq_quant_algo_matrix with the configured
 * algorithm on the given statistics (SARQC's S = 1: a transform's basis has no method
 * scores). rtn ignores stats and may quantize in place (out == w). (algo.c) */
gq_status gq_quantize_algo(const void *ctx, const float *w, int rows, int cols, const uint8_t *mask,
                           const gq_lin_stats *stats, int basis, float *out, gq_err *err);

/* ---- the quantizer's scale blocks, shared with the algorithms (quantizer.c) ---- */

/* Parameters of one scale block: Ŵ = (clamp(rint(W/s) + z, qmin, qmax) − z)·s. */
typedef struct {
    double s, z, qmin, qmax;
    double zero_value; /* Ŵ when s == 0 (the range collapsed to one value) */
} gq_qparams;

/* The parameters of every scale block of w (gq_quant_n_scales entries into p), exactly
 * those gq_quant_matrix computes (o must have passed gq_quant_opts_check). */
void gq_quant_params(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                     gq_qparams *p);

/* Index into gq_quant_params' output of the block holding (r, j). */
static inline int64_t gq_quant_param_index(const gq_quant_opts *o, int cols, int r, int j) {
    if (o->granularity == GQ_QUANT_TENSOR) return 0;
    if (o->granularity == GQ_QUANT_ROW) return r;
    return (int64_t)r * ((cols + o->group - 1) / o->group) + j / o->group;
}

/* Quantize-dequantize of one value x (in double, as read from FP32 or carried by an
 * algorithm) with block parameters p, rounded to FP32 once at the end. */
static inline float gq_qparams_value(const gq_qparams *p, double x) {
    if (!(p->s > 0)) return (float)p->zero_value; /* zero range: the one representable value */
    double q = rint(x / p->s) + p->z;
    if (q < p->qmin) q = p->qmin;
    if (q > p->qmax) q = p->qmax;
    return (float)((q - p->z) * p->s);
}

/* ---- calibrated algorithms (algo.c, algo_gptq.c, algo_awq_scale.c) ---- */

/* The diagonal of GPTQ's and SARQC's Hessian for inputs st: diag (cols) = (2/N)·diag XᵀX
 * with dead columns (0) set to 1, plus damp·mean(diag)·I. dead (cols, may be NULL) marks
 * the dead columns. *mean_diag is the mean of diag after damping (SARQC's m). */
void gq_algo_hessian_diag(const gq_lin_stats *st, double damp, double *diag, uint8_t *dead, double *mean_diag);
/* The whole Hessian h (cols, cols; full, symmetric): (2/N)·XᵀX off the diagonal, diag on
 * it (gq_algo_hessian_diag's, with whatever was added to it). */
void gq_algo_hessian(const gq_lin_stats *st, const double *diag, double *h);

/* SARQC's S normalised to mean 1 (rows, cols) into s, or all ones when saliency is NULL.
 * Fails when the scores have no positive finite mean. */
gq_status gq_algo_sarqc_scores(const float *saliency, int rows, int cols, double *s, gq_err *err);

gq_status gq_algo_gptq(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                       const gq_quant_algo_inputs *in, float *out, gq_err *err);
gq_status gq_algo_awq_scale(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                            const gq_quant_algo_inputs *in, float *out, gq_quant_algo_info *info, gq_err *err);

#endif
