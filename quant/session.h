/* session: a model's quantizable matrices with their FP32 copy, method scores, and one pass
 * of quantization (select -> calibrate -> quantize -> check -> report) */
#ifndef GQ_SESSION_H
#define GQ_SESSION_H

#include "algo.h"
#include "budget.h"
#include "encoder.h"
#include "methods.h"

/* ------------------------------------------------------------------------------------
 * Session: the FP32 copy of the quantizable matrices, caches, and applying.
 * ------------------------------------------------------------------------------------ */
#define GQ_QUANT_MAX_MATS (GQ_LIN_COUNT * 48)

typedef struct gq_quant_session gq_quant_session;
typedef struct gq_quant_scores gq_quant_scores;

/* Copies the n_layers×6 matrices of m (m must outlive the session; the session writes
 * into m's matrices). cache_dir (may be NULL: no disk cache) is created if missing.
 * *out is owned by the caller: gq_quant_session_free (which does not restore m). */
gq_status gq_quant_session_new(gq_encoder *m, const char *cache_dir, gq_quant_session **out, gq_err *err);
void gq_quant_session_free(gq_quant_session *s);
/* Threads for scoring, selecting and quantizing the matrices (one matrix per task): the
 * command's --threads; 0 (the default) = all cores. */
void gq_quant_session_set_threads(gq_quant_session *s, int threads);

/* Bounds the memory of the factors a session keeps across applies (gptq's U of H⁻¹,
 * awq-scale's factor of XᵀX; quant/factor_cache.h): at most `bytes`, least recently used
 * first out (GQ_FACTOR_CACHE_DEFAULT, 4 GiB, unless set; 0 keeps none). A DistilBERT-base
 * model needs 594 MB per algorithm and Hessian (damping, act_order, SARQC term), BERT-base
 * 1.19 GB. The factors are of the session's calibration statistics and go with them. */
void gq_quant_session_set_factor_cache(gq_quant_session *s, size_t bytes);
/* Bytes the session's factors hold now. */
size_t gq_quant_session_factor_bytes(const gq_quant_session *s);

/* Seconds a session has spent in some of its stages since it was made; a caller takes
 * the difference around its calls to see where their time went (the sweep's timing). */
typedef struct {
    double calib_forward; /* the calibration's forwards, the statistics aside */
    double calib_stats;   /* accumulating the statistics from host copies of the activations
                             (a CUDA runner accumulates them inside its forward instead) */
    double check;         /* gq_quant_apply's check of what it wrote */
    double restore;       /* writing the FP32 weights back, in gq_quant_session_restore */
} gq_quant_times;
const gq_quant_times *gq_quant_session_times(const gq_quant_session *s);

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
typedef gq_status (*gq_quant_calib_fn)(void *ctx, const gq_encoder_hooks *hooks, gq_err *err);

/* Declares the calibration data: calib_key identifies it in cache keys (e.g. a sha256 of
 * the token ids and the sampling options); run (with ctx, both must outlive s) is called
 * once for the FP32 statistics, when a calibrated method's state is not in the cache or a
 * calibrated algorithm needs them (the session restores the FP32 weights first), and once
 * per layer by gq_quant_apply for an algorithm with calibration from quantized (on the
 * weights as they are then: run must use the model the session writes into). When the
 * key cannot be copied (out of memory), whatever needs the data fails with GQ_ERR_NOMEM. */
void gq_quant_session_set_calibration(gq_quant_session *s, const char *calib_key, gq_quant_calib_fn run,
                                      void *ctx);
/* As gq_quant_session_set_calibration, but s owns ctx: ctx_free(ctx) runs when s is freed
 * or given other calibration data, so that the data lives exactly as long as the session
 * that may still run it. */
void gq_quant_session_own_calibration(gq_quant_session *s, const char *calib_key, gq_quant_calib_fn run, void *ctx,
                                      void (*ctx_free)(void *));

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
