/* quant: simulated mixed-precision quantization of DistilBERT's encoder matrices with a
 * few salient weights kept in FP32 (SPEC.md §4).
 *
 *     gq_quant_session *s = NULL;
 *     gq_quant_session_new(model, "cache-dir", &s, &err);      // saves the FP32 matrices
 *     gq_quant_session_set_calibration(s, calib_key, run_fn, run_ctx);  // for awq/spqr
 *     gq_quant_opts q; gq_quant_opts_default(&q, 4);
 *     gq_method_opts mo = {0}; gq_method_opts_set(&mo, "rank", "8", &err);
 *     gq_quant_scores *sc = NULL;
 *     gq_quant_scores_compute(s, "svd", &mo, &q, &sc, &err);   // once per (method, opts[, bits])
 *     gq_quant_budget b = {.k = 256, .p = -1};
 *     gq_quant_report rep;
 *     gq_quant_apply(s, sc, &q, &b, &rep, &err);               // model now holds quantized weights
 *     ... evaluate ...
 *     gq_quant_session_restore(s);                             // back to FP32
 *     gq_quant_scores_free(sc); gq_quant_session_free(s);
 *
 * The quantized matrices are the 6 Linear weights of every transformer block, indexed
 * `layer * GQ_LIN_COUNT + kind` everywhere below ("matrix index").
 */
#ifndef GQ_QUANT_H
#define GQ_QUANT_H

#include "distilbert.h"

/* ------------------------------------------------------------------------------------
 * Quantizer: quantize then dequantize to FP32 (round half to even, clamp as SPEC §4).
 * ------------------------------------------------------------------------------------ */
typedef enum { GQ_QUANT_SYMMETRIC, GQ_QUANT_ASYMMETRIC } gq_quant_scheme;
typedef enum { GQ_QUANT_TENSOR, GQ_QUANT_ROW, GQ_QUANT_GROUP } gq_quant_granularity;
typedef enum { GQ_QUANT_CLIP_STD, GQ_QUANT_CLIP_ABSMAX } gq_quant_clip;

/* The quantizer algorithm (README "Quantizer algorithms"), orthogonal to the saliency
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

/* ---- one matrix with the configured algorithm ----
 * Calibration statistics of a matrix's inputs (defined in quant_method.h). */
typedef struct gq_lin_stats gq_lin_stats;

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

/* Number of scales (tensor: 1, row: rows, group: rows * ceil(cols / G)). */
int64_t gq_quant_n_scales(const gq_quant_opts *o, int rows, int cols);

/* Effective bits per weight of one matrix of n = rows*cols weights with k protected:
 *   (b·(n−k) + 32·k + index_bits·k + scale_bits) / n
 * index_bits = ceil(log2(n)) (a flat position per protected weight), scale_bits = 32 per
 * scale, plus b bits of zero point per scale for the asymmetric scheme. */
double gq_quant_effective_bits(const gq_quant_opts *o, int rows, int cols, int64_t k);

/* ------------------------------------------------------------------------------------
 * Protection: top-k by score. Ties: higher score first, then lower row-major index.
 * NaN scores count as −∞.
 * ------------------------------------------------------------------------------------ */

/* Sets mask[i] = 1 for the k highest scores of score[0..n) and 0 elsewhere (0 <= k <= n).
 * Uses a selection (O(n) average), not a full sort. Returns GQ_ERR_NOMEM/GQ_ERR_ARG. */
gq_status gq_quant_topk(const float *score, int64_t n, int64_t k, uint8_t *mask, gq_err *err);

/* Top-k over several score arrays as one: ties broken by lower array index, then lower
 * position. masks[i] has n[i] entries. */
gq_status gq_quant_topk_global(const float *const *scores, const int64_t *n, int narrays, int64_t k,
                               uint8_t *const *masks, gq_err *err);

/* Budget: k weights per matrix, or a fraction p of each matrix (k = round(p·rows·cols));
 * with `global`, the same total (k × matrices, or round(p × all weights)) is chosen by one
 * top-k over all matrices. */
typedef struct {
    int64_t k;  /* used when p < 0 */
    double p;   /* fraction in [0, 1], or < 0 to use k */
    int global;
} gq_quant_budget;

/* k for one matrix of n weights (clamped to n). */
int64_t gq_quant_budget_k(const gq_quant_budget *b, int64_t n);

/* ------------------------------------------------------------------------------------
 * Methods by name. A method is a plugin (quant/quant_method.h, one file each); the caller
 * only names it and passes its options as text.
 * ------------------------------------------------------------------------------------ */
#define GQ_METHOD_MAX_OPTS 8
#define GQ_METHOD_MAX_VALUE 512 /* bytes of an option's text, NUL included (file paths) */

/* A small key/value set of method options, as text ("rank" -> "8", "sequential" -> "true"). */
typedef struct {
    int n;
    char key[GQ_METHOD_MAX_OPTS][32];
    char value[GQ_METHOD_MAX_OPTS][GQ_METHOD_MAX_VALUE];
} gq_method_opts;

/* Adds or replaces key. Validation against a method happens in gq_method_resolve. */
gq_status gq_method_opts_set(gq_method_opts *o, const char *key, const char *value, gq_err *err);

typedef struct gq_method gq_method; /* defined in quant_method.h */

/* The registered method called name, or NULL when unknown. */
const gq_method *gq_method_find(const char *name);
/* "uniform, magnitude, ...": the registered names, for messages (at most n bytes). */
void gq_method_names(char *buf, size_t n);
/* Whether m accepts option key (e.g. "seed": the method is seeded). */
int gq_method_has_opt(const gq_method *m, const char *key);
/* Whether m reads activations: the caller then declares calibration data to the session. */
int gq_method_needs_calibration(const gq_method *m);

/* Checks user options against m (unknown key or bad value: GQ_ERR_ARG naming method, key
 * and value) and writes all of m's options, defaults filled in, to *resolved. A file
 * option KEY also gets KEY_sha256, the sha256 of the file (so that results and point ids
 * follow its content); when user already has KEY_sha256 (resolved options resolved
 * again), the file must still have that hash. */
gq_status gq_method_resolve(const gq_method *m, const gq_method_opts *user, gq_method_opts *resolved,
                            gq_err *err);
/* Canonical "k=v,k=v" of resolved options (for results and cache keys). */
void gq_method_opts_str(const gq_method_opts *resolved, char *buf, size_t n);

/* ------------------------------------------------------------------------------------
 * Session: the FP32 copy of the quantizable matrices, caches, and applying.
 * ------------------------------------------------------------------------------------ */
#define GQ_QUANT_MAX_MATS (GQ_LIN_COUNT * 48)

typedef struct gq_quant_session gq_quant_session;
typedef struct gq_quant_scores gq_quant_scores;

/* Copies the n_layers×6 matrices of m (m must outlive the session; the session writes
 * into m's matrices). cache_dir (may be NULL: no disk cache) is created if missing.
 * *out is owned by the caller: gq_quant_session_free (which does not restore m). */
gq_status gq_quant_session_new(gq_dbert *m, const char *cache_dir, gq_quant_session **out, gq_err *err);
void gq_quant_session_free(gq_quant_session *s);
/* Threads for scoring, selecting and quantizing the matrices (one matrix per task): the
 * command's --threads; 0 (the default) = all cores. */
void gq_quant_session_set_threads(gq_quant_session *s, int threads);

/* Writes the saved FP32 matrices back into the model, and does nothing else (the mask of
 * the last apply stays what gq_quant_session_mask returns). */
void gq_quant_session_restore(gq_quant_session *s);

/* The FP32 copy of matrix idx (rows×cols in *rows, *cols), owned by s. */
const float *gq_quant_session_fp32(const gq_quant_session *s, int idx, int *rows, int *cols);
int gq_quant_session_n_mats(const gq_quant_session *s);

/* The protection mask (rows×cols, 1 = kept in FP32) of matrix idx that the last
 * successful gq_quant_apply applied, owned by s; NULL before the first. It describes the
 * weights of that apply: gq_quant_session_restore and a failed apply put the FP32 weights
 * back and leave it as it was. For a method that transforms W (rosaq pca) it is over the
 * method's own basis. */
const uint8_t *gq_quant_session_mask(const gq_quant_session *s, int idx);


/* Runs the forward passes of calibration with the given hooks (on the FP32 model). */
typedef gq_status (*gq_quant_calib_fn)(void *ctx, const gq_dbert_hooks *hooks, gq_err *err);

/* Declares the calibration data: calib_key identifies it in cache keys (e.g. a sha256 of
 * the token ids and the sampling options); run (with ctx, both must outlive s) is called
 * once for the FP32 statistics, when a calibrated method's state is not in the cache or a
 * calibrated algorithm needs them (the session restores the FP32 weights first), and once
 * per layer by gq_quant_apply for an algorithm with calibration from quantized (on the
 * weights as they are then: run must use the model the session writes into). When the
 * key cannot be copied (out of memory), whatever needs the data fails with GQ_ERR_NOMEM. */
void gq_quant_session_set_calibration(gq_quant_session *s, const char *calib_key, gq_quant_calib_fn run,
                                      void *ctx);

/* Scores of every matrix for method `name` with options mo under quantizer q (only
 * methods that use Ŵ depend on q). Uses and fills the disk cache for prepare states; a
 * corrupt, truncated or stale cache entry is rebuilt with a warning. *out is owned by
 * the caller: gq_quant_scores_free. */
gq_status gq_quant_scores_compute(gq_quant_session *s, const char *name, const gq_method_opts *mo,
                                  const gq_quant_opts *q, gq_quant_scores **out, gq_err *err);
/* The scores of method `name` held in memory by the caller instead of read from the
 * method's file (external's scores=FILE): tensors, named, shaped and typed as that file's
 * would be, go through the same checks; tensors->path names their source in messages.
 * The resolved options (the report's method_opts) record the source as the file option's
 * value and, as KEY_sha256, the sha256 of the checked scores of every matrix in matrix
 * order as little-endian F32, so that the same scores give the same point id. *out is
 * owned by the caller: gq_quant_scores_free. */
gq_status gq_quant_scores_given(gq_quant_session *s, const char *name, const gq_ckpt *tensors,
                                gq_quant_scores **out, gq_err *err);
void gq_quant_scores_free(gq_quant_scores *sc);
/* Score matrix idx (owned by sc). */
const float *gq_quant_scores_get(const gq_quant_scores *sc, int idx);

typedef struct {
    int n_mats;
    int64_t numel[GQ_QUANT_MAX_MATS];
    int64_t protected_count[GQ_QUANT_MAX_MATS];
    double effective_bits[GQ_QUANT_MAX_MATS];
    double sq_err[GQ_QUANT_MAX_MATS];  /* Σ (Ŵ − W)² of the applied matrix */
    double awq_alpha[GQ_QUANT_MAX_MATS]; /* awq-scale: the α chosen for the matrix (else 0) */
    int64_t total_numel, total_protected;
    double effective_bits_total;        /* over all weights of all matrices */
    gq_method_opts method_opts;         /* the resolved options of the scores applied (n 0: none) */
} gq_quant_report;

/* Writes the quantized matrices into the model, each from the FP32 copy, with the
 * budget's top-k of sc kept in FP32 (sc NULL or budget k = 0: uniform), each through
 * gq_quant_algo_matrix with q's algorithm. A calibrated algorithm (gptq, awq-scale) takes
 * the statistics of the session's calibration (run on first need; with
 * q->calib_from_quantized, one forward per layer through the partly quantized model) and,
 * with SARQC λ > 0, the scores of q->sarqc_saliency (default options) as S. Protected sets
 * always come from sc, i.e. from FP32 activations.
 * One call is one pass, select -> calibrate -> quantize -> check -> report, that owns its
 * protected sets until it succeeds. The check runs in every build: the counts to report
 * are those of the mask applied and every protected weight holds its FP32 value bit for
 * bit (as gq_quant_session_check; GQ_ERR_INTERNAL naming the matrix otherwise). rep (may
 * be NULL) gets figures computed from the mask applied and the weights written. On any
 * failure past q's check the model is back to FP32 and the session's mask unchanged. */
gq_status gq_quant_apply(gq_quant_session *s, const gq_quant_scores *sc, const gq_quant_opts *q,
                         const gq_quant_budget *b, gq_quant_report *rep, gq_err *err);

/* Checks that the model holds what rep (the report of the last successful apply) says:
 * per matrix, the mask of gq_quant_session_mask keeps rep->protected_count[i] weights
 * (none before the first apply) and, unless it is over a method's own basis, each of them
 * equals its saved FP32 value bit for bit. GQ_ERR_INTERNAL naming the matrix ("layer 1
 * lin1") otherwise. gq_quant_apply runs the same check on every pass; one pass over the
 * matrices. */
gq_status gq_quant_session_check(const gq_quant_session *s, const gq_quant_report *rep, gq_err *err);

/* Per-matrix overlap of the protected sets of a and b at budget bud: inter[i] = |A∩B|/|A|
 * (= /k_i under per-matrix budgets; 1 when A and B are empty, 0 when only A is) and
 * jaccard[i] = |A∩B|/|A∪B| (1 when both are empty); both arrays (may be NULL) have n_mats entries.
 * *inter_total, *jaccard_total (may be NULL) are over all matrices together. */
gq_status gq_quant_overlap(gq_quant_session *s, const gq_quant_scores *a, const gq_quant_scores *b,
                           const gq_quant_budget *bud, double *inter, double *jaccard, double *inter_total,
                           double *jaccard_total, gq_err *err);

#endif
