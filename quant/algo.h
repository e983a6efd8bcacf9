/* algo: one matrix through the configured quantizer algorithm (rtn, gptq, awq-scale with
 * SARQC), on the calibration statistics of its inputs */
#ifndef GQ_ALGO_H
#define GQ_ALGO_H

#include "quantizer.h"

/* Calibration statistics of a matrix's inputs (defined in quant_method.h). */
typedef struct gq_lin_stats gq_lin_stats;
/* A quantization session's factors of its statistics, kept across applies (factor_cache.h). */
typedef struct gq_factor_cache gq_factor_cache;

/*
 * The entry point of every quantizer algorithm: gq_quant_apply calls it for each matrix,
 * and so can anything that quantizes a single matrix (glueq quantize, rosaq, tests).
 *
 * Inputs a calibrated algorithm needs besides W; all owned by the caller. */
typedef struct {
    const gq_lin_stats *stats;        /* the matrix's inputs: XᵀX, Σ|x|, ntok (gptq and
                                         awq-scale need it; rtn ignores it) */
    const float *saliency;            /* (rows, cols) raw SARQC scores S of o->sarqc_saliency
                                         (normalised to mean 1 inside); NULL: S = 1 */
    int want_calib_err;               /* fill info->calib_err (costs 2·rows·cols² flops for
                                         rtn and gptq; free for awq-scale) */
    gq_factor_cache *factors;         /* where to find and keep the factor of stats (NULL:
                                         computed and dropped) */
    int factor_slot;                  /* which statistics of the cache's stats are */
    int factor_basis;                 /* 0: those statistics; else which transform of them
                                         (a method's basis, gq_quantize_fn) */
} gq_quant_algo_inputs;

/* What the algorithm did to one matrix. */
typedef struct {
    double awq_alpha;   /* awq-scale: the chosen α (0 otherwise) */
    double calib_err;   /* tr(E XᵀX Eᵀ) = ‖X Wᵀ − X Ŵᵀ‖² on the calibration inputs, E = W − Ŵ
                           (NaN unless want_calib_err and statistics were given) */
} gq_quant_algo_info;

/* Quantizes w (rows, cols; row-major) into out (same shape; must not alias w) with
 * o->algorithm and o's quantizer. Protected weights (protect[i] != 0; protect may be
 * NULL) keep their exact FP32 value and, in gptq, take no error feedback. Scales are
 * those gq_quant_matrix computes from w and protect, before any algorithm pass (awq-scale:
 * of W·diag(s)). rtn ignores `in` and is exactly gq_quant_matrix. info may be NULL.
 * Fails with GQ_ERR_ARG on bad options, shapes or missing/mismatched statistics. Uses
 * BLAS/LAPACK in the calling thread's OpenBLAS setting. */
gq_status gq_quant_algo_matrix(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                               const gq_quant_algo_inputs *in, float *out, gq_quant_algo_info *info, gq_err *err);

/* tr(E G Eᵀ) for E = w − what (rows, cols) and G = XᵀX given as its upper triangle
 * (gq_lin_stats.xtx layout): the calibration output error of an approximation. */
gq_status gq_quant_calib_error(const float *w, const float *what, int rows, int cols, const double *xtx,
                               double *out, gq_err *err);

#endif
