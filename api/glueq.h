/* glueq.h: the C API of libglueq, for programs and bindings (python/glueq) that evaluate
 * and quantize in process, with the engine and the options of the glueq command.
 *
 *     glueq_error err;
 *     glueq_model *m = NULL;
 *     if (glueq_model_load("DIR or ORG/NAME", &m, &err) != GLUEQ_OK) fprintf(stderr, "%s\n", err.message);
 *     const char *args[] = {"--task", "rte", "--method", "svd", "--k", "256", NULL};
 *     glueq_result *r = NULL;
 *     if (glueq_evaluate(m, args, NULL, 0, NULL, NULL, &r, &err) == GLUEQ_OK)
 *         puts(glueq_result_json(r));  // what `glueq eval --json` prints, and the point id
 *     glueq_result_free(r);
 *     glueq_model_free(m);
 *
 * Options are the flags of `glueq eval` as text (see `glueq eval --help`), so that a new
 * option needs no new function; results are JSON objects, to which later versions may add
 * keys. Within one GLUEQ_API_VERSION the functions, types and status values below keep
 * their meaning.
 *
 * Errors: a function that can fail returns a glueq_status and fills *err (which may be
 * NULL) with the one line the glueq command prints for the same failure.
 * Threads: any function may be called from any thread. Evaluations, quantizations and
 * sweeps run one at a time in a process, each on as many cores as its --threads says:
 * OpenBLAS's thread count, which every forward and quantizer sets, is process-wide and
 * results depend on it, so that two at once would not give what each gives alone. Nothing
 * is printed but glueq's log lines on stderr, at the level of glueq_set_log_level.
 */
#ifndef GLUEQ_H
#define GLUEQ_H

#include <signal.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLUEQ_API_VERSION 1

/* The values of glueq's status codes (common.h). */
typedef enum {
    GLUEQ_OK = 0,
    GLUEQ_ERR_IO,          /* a file is missing or cannot be read or written */
    GLUEQ_ERR_FORMAT,      /* a file is corrupt or not in the expected format */
    GLUEQ_ERR_SHAPE,       /* a tensor or matrix has the wrong shape */
    GLUEQ_ERR_UTF8,        /* text is not valid UTF-8 */
    GLUEQ_ERR_ARG,         /* an argument or option is invalid */
    GLUEQ_ERR_UNSUPPORTED, /* valid input that glueq does not handle */
    GLUEQ_ERR_NOMEM,       /* an allocation failed */
    GLUEQ_ERR_INTERRUPTED, /* stopped on request */
    GLUEQ_ERR_INTERNAL,    /* glueq found one of its own invariants broken (a bug in glueq) */
} glueq_status;

typedef struct {
    glueq_status status;
    char message[1024]; /* one line, NUL-terminated */
} glueq_error;

/* GLUEQ_API_VERSION of the library (a binding checks it against its own). */
int glueq_api_version(void);
/* "0.1.0 (REVISION)": the release and the commit the library was built from. Static. */
const char *glueq_version(void);
/* Log lines on stderr: 0 none, 1 warnings, 2 progress notes too (the default, as the
 * glueq command's). Process-wide. */
void glueq_set_log_level(int level);

/* ---- models ---- */
typedef struct glueq_model glueq_model;

/* Loads a DistilBERT sequence classifier: a checkpoint directory or a Hugging Face Hub id
 * ORG/NAME[@REV] in the local Hugging Face cache (never downloaded). *out is owned by the
 * caller: glueq_model_free. */
glueq_status glueq_model_load(const char *model, glueq_model **out, glueq_error *err);
void glueq_model_free(glueq_model *m);

/* What `glueq info` prints, as a JSON object (model, weights, format, sha256, config,
 * parameters, quantizable, dtypes), owned by m. */
const char *glueq_model_info(const glueq_model *m);

/* The quantized matrices (the encoder's Linear weights), in the order of their scores:
 * matrix i's name (as in the checkpoint), shape and FP32 values (row-major), owned by m.
 * They hold the FP32 weights except while an evaluate or quantize of m runs. NULL when i
 * is out of range. */
int glueq_model_n_matrices(const glueq_model *m);
const float *glueq_model_matrix(const glueq_model *m, int i, const char **name, int64_t *rows, int64_t *cols);

/* ---- evaluation ---- */
/* Scores of the external method held in memory: one per quantized matrix, named and
 * shaped as its weight, row-major FP32 (checked as a scores file is: every matrix present,
 * shapes, finite values, no other names). The caller keeps them; they are read during
 * the call only. */
typedef struct {
    const char *name;
    const float *data;
    int64_t rows, cols;
} glueq_tensor;

/* Called after each batch with the examples done so far (on the calling thread). */
typedef void (*glueq_progress_fn)(void *ctx, int done, int total);

typedef struct glueq_result glueq_result;

/* Evaluates m on a GLUE split as `glueq eval --model M ARGS` does: args holds the flags
 * of glueq eval after --model (NULL-terminated: "--task", "rte", "--method", "svd", ...),
 * but not --json, --quiet or --help. With n_scores > 0, scores are the external method's
 * (--method external, no --scores FILE). The model's weights are FP32 again when it
 * returns. progress may be NULL. *out is owned by the caller: glueq_result_free. */
glueq_status glueq_evaluate(glueq_model *m, const char *const *args, const glueq_tensor *scores, int n_scores,
                            glueq_progress_fn progress, void *ctx, glueq_result **out, glueq_error *err);

/* The object `glueq eval --json` prints, plus "point_id" (the id `glueq sweep` gives a
 * point with these settings) and "settings" (what the id hashes); owned by r. */
const char *glueq_result_json(const glueq_result *r);
/* Examples, labels per example, and per example the predicted label, the gold label (-1
 * for an unlabelled split) and the logits (n × n_labels, row-major), in the split's row
 * order; owned by r. */
int glueq_result_n(const glueq_result *r);
int glueq_result_n_labels(const glueq_result *r);
const int32_t *glueq_result_predictions(const glueq_result *r);
const int32_t *glueq_result_labels(const glueq_result *r);
const float *glueq_result_logits(const glueq_result *r);
void glueq_result_free(glueq_result *r);

/* ---- quantization to a checkpoint ---- */
/* Quantizes m as `glueq quantize --model M ARGS --out OUT` does (args as for
 * glueq_evaluate, --method required) and writes the checkpoint directory out; the
 * weights are FP32 again when it returns. */
glueq_status glueq_quantize(glueq_model *m, const char *const *args, const glueq_tensor *scores, int n_scores,
                            const char *out, glueq_error *err);

/* ---- sweeps ---- */
/* Called on the sweep's thread after each point is journalled: the points journalled so
 * far in this run, the points it has to run (done == total at the last), and the point's
 * row as the journal holds it (a JSON object, valid during the call). It must not call
 * glueq_evaluate, glueq_quantize or glueq_sweep, which wait for the sweep to end. */
typedef void (*glueq_sweep_progress_fn)(void *ctx, int done, int total, const char *row);

/* Runs a sweep as `glueq sweep ARGS` does: args (NULL-terminated) are CONFIG and any of
 * --out DIR, --resume, --shard i/N, --threads N, --cache-dir DIR. Its rows are in the
 * output directory's results.json (unsharded) and journal. progress may be NULL. stop,
 * when not NULL, is read between points: once non-zero, the sweep ends after the point
 * in flight with GLUEQ_ERR_INTERRUPTED, its journal ready for --resume, as the command
 * does on SIGINT (the message reports the value as the signal number). */
glueq_status glueq_sweep(const char *const *args, glueq_sweep_progress_fn progress, void *ctx,
                         const volatile sig_atomic_t *stop, glueq_error *err);

/* ---- paired comparison ---- */
typedef struct {
    int n;
    int correct_a, correct_b;
    int only_a, only_b; /* examples only A / only B gets right (McNemar's b and c) */
    double diff, lo, hi; /* accuracy(B) − accuracy(A), paired bootstrap 95% interval */
    double p;            /* exact McNemar p-value */
} glueq_compare_stats;

/* `glueq compare`'s statistics of two prediction vectors against the same gold labels. */
void glueq_compare_paired(const int32_t *labels, const int32_t *pred_a, const int32_t *pred_b, int n,
                          glueq_compare_stats *out);

typedef struct glueq_comparison glueq_comparison;

/* Compares two result sets as `glueq compare A B [--task TASK]` does: a and b are RESULTS
 * or RESULTS#POINT_ID, RESULTS a sweep's output directory or its results.json (with
 * predictions.jsonl beside it); with a point id on both sides those two points are
 * paired, with none every point id present in both (of task, unless task is NULL).
 * *out is owned by the caller: glueq_comparison_free. */
glueq_status glueq_compare(const char *a, const char *b, const char *task, glueq_comparison **out,
                           glueq_error *err);
/* The pairs as a JSON list in the order `glueq compare` prints them, each an object with
 * task, point_id_a, point_id_b, description_a, description_b (the method, bits and budget
 * of the command's A and B columns), n, correct_a, correct_b, only_a, only_b,
 * accuracy_a, accuracy_b (fractions), diff, ci_low, ci_high and p (as in
 * glueq_compare_stats: accuracy over every example; zero for STS-B, a regression) and
 * metrics, the lines glueq compare prints: per metric of the task and dev file, metric,
 * file, main, a, b, diff, ci_low, ci_high and p (McNemar's, accuracy only; null where
 * undefined); owned by c. */
const char *glueq_comparison_json(const glueq_comparison *c);
void glueq_comparison_free(glueq_comparison *c);

#ifdef __cplusplus
}
#endif

#endif
