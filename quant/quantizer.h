/* quantizer: the quantizer's options (bits, scheme, granularity, clip, algorithm), their canonical
 * text, and quantizing one matrix round-to-nearest with some weights kept in FP32; the
 * cost of a quantized matrix in bits (SPEC.md §4) */
#ifndef GQ_QUANTIZER_H
#define GQ_QUANTIZER_H

#include "common.h"

/* ------------------------------------------------------------------------------------
 * Quantizer: quantize then dequantize to FP32 (round half to even, clamp as SPEC §4).
 * ------------------------------------------------------------------------------------ */
typedef enum { GQ_QUANT_SYMMETRIC, GQ_QUANT_ASYMMETRIC } gq_quant_scheme;
typedef enum { GQ_QUANT_TENSOR, GQ_QUANT_ROW, GQ_QUANT_GROUP } gq_quant_granularity;
typedef enum { GQ_QUANT_CLIP_STD, GQ_QUANT_CLIP_ABSMAX } gq_quant_clip;

/* The quantizer algorithm (docs/quantization.md, "Quantizer algorithms"), orthogonal to the saliency
 * method that chooses the protected weights:
 *   rtn        round every weight to nearest (the default; what gq_quant_matrix does);
 *   gptq       columns in order with error feedback through the upper Cholesky factor of
 *              H⁻¹, H = (2/N)·XᵀX + damp·mean(diag H)·I (quant/algo_gptq.c);
 *   awq-scale  Ŵ = Q(W·diag(s))·diag(s)⁻¹, s_j = a_j^α normalised, α searched on the
 *              calibration output error (quant/algo_awq_scale.c). */
typedef enum { GQ_ALGO_RTN, GQ_ALGO_GPTQ, GQ_ALGO_AWQ_SCALE } gq_quant_algorithm;

#define GQ_SARQC_SALIENCY_LEN 16

typedef struct {
    int bits;                          /* 2..8 */
    gq_quant_scheme scheme;
    gq_quant_granularity granularity;
    int group;                         /* G of "group:G": consecutive input columns of a row */
    gq_quant_clip clip;
    double alpha;                      /* α of "std:α" */
    int stats_exclude_protected;       /* std/min/max over unprotected entries only */
    /* ---- the algorithm; the defaults are plain RTN ---- */
    gq_quant_algorithm algorithm;      /* rtn */
    int act_order;                     /* gptq: columns by descending diag H (false) */
    double damp;                       /* gptq and SARQC: H's damping (0.01) */
    double sarqc_lambda;               /* SARQC λ >= 0 (0: the plain algorithm) */
    char sarqc_saliency[GQ_SARQC_SALIENCY_LEN]; /* SARQC scores S: none|svd|awq|spqr|magnitude */
    int calib_from_quantized;          /* calibration.from: quantized (sequential) */
} gq_quant_opts;

/* The SPEC default: symmetric, per tensor, clip std:2.5, stats over all entries; rtn. */
void gq_quant_opts_default(gq_quant_opts *o, int bits);

/* Sets one option from text. Keys and values:
 *   "bits" 2..8 | "scheme" symmetric|asymmetric | "granularity" tensor|row|group:G
 *   "clip" std:α|absmax | "stats_exclude_protected" true|false
 *   "algorithm" rtn|gptq|awq-scale | "act_order" true|false | "damp" x >= 0
 *   "sarqc_lambda" λ >= 0 | "sarqc_saliency" none|svd|awq|spqr|magnitude
 *   "calib_from" fp32|quantized
 * Unknown keys and malformed values fail with GQ_ERR_ARG naming both. */
gq_status gq_quant_opts_set(gq_quant_opts *o, const char *key, const char *value, gq_err *err);

/* Checks that bits is 2..8, G > 0, α > 0, damp >= 0, λ >= 0, and that act_order (gptq),
 * SARQC λ > 0 (gptq, awq-scale) and calib_from quantized (gptq, awq-scale) come with an
 * algorithm that uses them (GQ_ERR_ARG naming the option). */
gq_status gq_quant_opts_check(const gq_quant_opts *o, gq_err *err);

/* Canonical one-line description, e.g. "int4 symmetric tensor std:2.5" (+ " exclude"),
 * used in results and cache keys. A calibrated algorithm appends its settings, e.g.
 * " gptq damp:0.01 act_order sarqc:0.1:svd from:quantized"; rtn appends nothing, so the
 * text (and every sweep point id) of an RTN quantizer does not depend on the algorithms. Writes at most n bytes (NUL included). */
void gq_quant_opts_str(const gq_quant_opts *o, char *buf, size_t n);
/* The same without the leading "int<bits> ": a quantizer that is used at several bit
 * widths (a sweep's "quantizer"). */
void gq_quant_opts_str_unsized(const gq_quant_opts *o, char *buf, size_t n);

/* The canonical text of each part of a quantizer, as gq_quant_opts_str writes it. */
typedef struct {
    char scheme[16];      /* "symmetric" | "asymmetric" */
    char granularity[32]; /* "tensor" | "row" | "group:G" */
    char clip[40];        /* "std:α" | "absmax" */
    char algorithm[160];  /* "" for rtn, else " gptq damp:0.01 act_order sarqc:λ:S from:quantized" */
} gq_quant_opts_text;
void gq_quant_opts_text_of(const gq_quant_opts *o, gq_quant_opts_text *t);

/* "rtn", "gptq", "awq-scale". */
const char *gq_quant_algorithm_name(gq_quant_algorithm a);

/* Quantizes w (rows, cols; row-major) into out (same shape; may equal w). Entries with
 * protect[i] != 0 keep their exact FP32 value; protect may be NULL (nothing protected).
 * Fails (GQ_ERR_ARG) on bad options or shapes; never allocates per element. */
gq_status gq_quant_matrix(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                          float *out, gq_err *err);

/* Number of scales (tensor: 1, row: rows, group: rows * ceil(cols / G)). */
int64_t gq_quant_n_scales(const gq_quant_opts *o, int rows, int cols);

/* Effective bits per weight of one matrix of n = rows*cols weights with k protected:
 *   (b·(n−k) + 32·k + index_bits·k + scale_bits) / n
 * index_bits = ceil(log2(n)) (a flat position per protected weight), scale_bits = 32 per
 * scale, plus b bits of zero point per scale for the asymmetric scheme. */
double gq_quant_effective_bits(const gq_quant_opts *o, int rows, int cols, int64_t k);

#endif
