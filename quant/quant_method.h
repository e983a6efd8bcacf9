/* quant_method: the interface of a saliency-method plugin, everything a file
 * quant/method_<name>.c needs. quant.h is the caller's side (methods by name); this is
 * the method's side: what it is given for one matrix, its option table and typed option
 * getters, and the calibration statistics calibrated methods read.
 *
 * A method includes only this header, defines `const gq_method gq_method_<name>`, and is
 * registered by its line in GQ_METHODS (quant/methods.c).
 */
#ifndef GQ_QUANT_METHOD_H
#define GQ_QUANT_METHOD_H

#include "quant.h"

/* ------------------------------------------------------------------------------------
 * Calibration statistics of the inputs x (ntok, in) of every Linear (gq_lin_stats:
 * encoder.h, where a device runner fills them).
 * ------------------------------------------------------------------------------------ */

typedef struct gq_quant_calib gq_quant_calib;

/* Statistics for every (layer, kind) of a model with config cfg (all memory allocated
 * here: about 8·(5·dim² + hidden²)·n_layers bytes). Owned by the caller: _free. */
gq_status gq_quant_calib_new(const gq_encoder_config *cfg, gq_quant_calib **out, gq_err *err);
/* The same for one layer only (calibration.from: quantized collects layer by layer):
 * the hooks ignore the other layers and gq_quant_calib_get returns NULL for them. */
gq_status gq_quant_calib_new_layer(const gq_encoder_config *cfg, int layer, gq_quant_calib **out, gq_err *err);
void gq_quant_calib_free(gq_quant_calib *c);

/* Fills hooks so that every forward run with them accumulates into c (single thread of
 * use; c must outlive the forwards): from host copies of the activations on the CPU, on
 * the GPU itself with a CUDA runner (gq_encoder_hooks.linear_stats). */
void gq_quant_calib_hooks(gq_quant_calib *c, gq_encoder_hooks *hooks);

/* Accumulates x (ntok, in) into the statistics of (layer, kind); what the hook does. */
gq_status gq_quant_calib_add(gq_quant_calib *c, int layer, gq_lin_kind kind, const float *x, int ntok, int in,
                             gq_err *err);

/* The statistics of (layer, kind), owned by c; NULL when out of range or not collected. */
const gq_lin_stats *gq_quant_calib_get(const gq_quant_calib *c, int layer, gq_lin_kind kind);

/* First failure of a hook (a shape mismatch), or GQ_OK. */
gq_status gq_quant_calib_status(const gq_quant_calib *c, gq_err *err);

/* ------------------------------------------------------------------------------------
 * The plugin: option table, arguments, entry points.
 * ------------------------------------------------------------------------------------ */
/* GQ_OPT_FILE: a path to a file that must exist; its default "" means "required". */
typedef enum { GQ_OPT_INT, GQ_OPT_DOUBLE, GQ_OPT_BOOL, GQ_OPT_CHOICE, GQ_OPT_FILE } gq_opt_type;
typedef struct {
    const char *key;
    gq_opt_type type;
    const char *def;     /* default value, as text */
    const char *choices; /* GQ_OPT_CHOICE: "a|b|c" */
} gq_method_opt;

/* What a method sees for one matrix. */
typedef struct {
    const float *w;             /* (rows, cols) FP32 weights */
    int rows, cols;
    int layer;
    gq_lin_kind kind;
    const gq_encoder_family *family; /* the model's (its names, for messages); NULL in tests */
    const gq_method_opts *opts; /* resolved: every key of the method, defaults filled in */
    const gq_quant_opts *quant; /* the quantizer the scores are for */
    const gq_lin_stats *stats;  /* needs_calibration methods: in prepare (or in score when
                                   the method has no prepare); NULL otherwise */
} gq_method_args;

/* What a method that scores the whole model at once (score_all) sees. */
typedef struct {
    int n_mats;                 /* matrix i is layer i / GQ_LIN_COUNT, kind i % GQ_LIN_COUNT */
    const gq_encoder_family *family; /* the model's: matrix i is tensor gq_encoder_weight_name(family, i) */
    const int *rows, *cols;     /* (n_mats) shapes */
    const int64_t *off;         /* (n_mats + 1) where matrix i's scores start */
    const gq_method_opts *opts; /* resolved */
} gq_method_model;

/* The session's configured quantizer and algorithm, as a method's apply hook calls it:
 * quantizes w (rows×cols) into out; entries with mask != 0 keep their value exactly.
 * stats are the calibration statistics of w's inputs in w's own basis (NULL: none).
 * basis: 0 when stats are a->stats; otherwise a number the method gives to a basis of its
 * own whose statistics are a function of a->stats and the method's options alone (the
 * same number for the same basis on every apply), so that a session may keep the
 * algorithm's factors of them across applies (factor_cache.h). */
typedef struct {
    gq_status (*fn)(const void *ctx, const float *w, int rows, int cols, const uint8_t *mask,
                    const gq_lin_stats *stats, int basis, float *out, gq_err *err);
    const void *ctx;
} gq_quantize_fn;

/* What a method's apply hook reports for one matrix. The session checks protected_count
 * against the mask the hook wrote and, unless `rotated`, each masked weight of out against
 * a->w bit for bit. */
typedef struct {
    int64_t protected_count; /* weights kept in FP32 (in the method's basis) */
    double effective_bits;   /* per weight, the method's own storage included */
    int rotated;             /* 1: the mask is over a transform of W (rosaq pca: the columns
                                of W·P), whose entries the model does not hold, so the
                                method checks its own rule for them; 0: it marks entries of
                                out that keep a->w's value */
} gq_method_applied;

struct gq_method {
    const char *name;
    int needs_calibration;
    const gq_method_opt *opts; /* accepted options, terminated by {NULL} */
    /* Optional: quantizer-independent state of one matrix (e.g. svd factors, spqr's
     * Hessian-inverse diagonal), returned as *n doubles in *state (malloc'd, caller
     * frees). The session caches it on disk keyed by checkpoint, method options and
     * calibration. */
    gq_status (*prepare)(const gq_method_args *a, double **state, size_t *n, gq_err *err);
    /* Fills score (rows, cols): larger = keep in FP32. state is prepare's output. NULL
     * for a method that protects nothing (uniform): no budget applies to it. */
    gq_status (*score)(const gq_method_args *a, const double *state, size_t n, float *score, gq_err *err);
    /* Instead of prepare and score: fills the scores of every matrix in one call
     * (score + off[i] for matrix i), for methods whose source covers the whole model at
     * once, such as a file of scores (external). */
    gq_status (*score_all)(const gq_method_model *mm, float *score, gq_err *err);
    /* Optional, beside score_all: the same scores from tensors the caller holds in memory
     * (named and shaped as score_all's source would have them; gq_quant_scores_given),
     * checked exactly as score_all checks its source's. */
    gq_status (*score_tensors)(const gq_method_model *mm, const gq_ckpt *tensors, float *score, gq_err *err);

    /* Optional, instead of score, for a method that transforms W rather than only choosing
     * which of its weights stay FP32 (rosaq rotates it): replaces the session's top-k and
     * quantization of one matrix. Given a->w (FP32), prepare's state, k (the budget of this
     * matrix, in weights) and the session's quantizer qz, it writes the dequantized matrix
     * the model runs with into out (rows×cols), the weights it kept in FP32 into mask
     * (rows×cols, 0/1, in the method's own basis: docs/quantization.md, "ROSAQ", says which) and *res. Called
     * for one matrix at a time (it may use multithreaded BLAS). Budgets are per matrix:
     * `global` and overlaps are refused for such methods. */
    gq_status (*apply)(const gq_method_args *a, const double *state, size_t n, int64_t k, const gq_quantize_fn *qz,
                       float *out, uint8_t *mask, gq_method_applied *res, gq_err *err);
};

/* The registry: NULL-terminated list (quant/methods.c). */
extern const gq_method *const gq_methods[];

/* Typed getters of resolved options (missing key or bad text: GQ_ERR_ARG). */
gq_status gq_method_opt_int(const gq_method_opts *o, const char *key, int64_t *v, gq_err *err);
gq_status gq_method_opt_double(const gq_method_opts *o, const char *key, double *v, gq_err *err);
gq_status gq_method_opt_bool(const gq_method_opts *o, const char *key, int *v, gq_err *err);
const char *gq_method_opt_str(const gq_method_opts *o, const char *key);

/* Runs prepare (if any) and score for one matrix: fills score (rows, cols). For tests and
 * single-matrix use. */
gq_status gq_method_score_matrix(const gq_method *m, const gq_method_args *a, float *score, gq_err *err);

/* Runs prepare (if any) and apply for one matrix of a method with an apply hook, with
 * round-to-nearest under a->quant as the quantizer. For tests and single-matrix use. */
gq_status gq_method_apply_matrix(const gq_method *m, const gq_method_args *a, int64_t k, float *out, uint8_t *mask,
                                 gq_method_applied *res, gq_err *err);

#endif
