/* distilbert: DistilBertForSequenceClassification in FP32 (SPEC.md §1).
 *
 *     gq_encoder *m = NULL;
 *     if (gq_encoder_load("checkpoint-dir", &m, &err) != GQ_OK) ...
 *     gq_encoder_runner *r = gq_encoder_runner_new(m, 0);  // CPU, threads: 0 = all cores
 *     // or, on a GPU: gq_encoder_runner_opts o = {.device = GQ_DEVICE_CUDA};
 *     //               gq_encoder_runner_open(m, &o, &r, &err);
 *     // two sequences of lengths 5 and 3, ids concatenated:
 *     gq_encoder_forward(r, ids, (int[]){5, 3}, 2, logits, NULL, &err);  // logits: 2 x n_labels
 *     gq_encoder_runner_free(r);
 *     gq_encoder_free(m);
 *
 * Each sequence runs at its own length (no padding). On the CPU a batch is cut into one part
 * of whole sequences per thread, and all tokens of a part go through each Linear as one
 * sgemm; on CUDA (cuda/) all tokens of the batch go through each Linear as one cuBLAS sgemm.
 * Callers never need to know which device runs a batch: the runner interface is the same.
 */
#ifndef GQ_ENCODER_H
#define GQ_ENCODER_H

#include "checkpoint.h"
#include "common.h"

typedef struct {
    int dim, n_layers, n_heads, hidden_dim, vocab_size, max_pos;
    int n_labels;
    char **labels; /* id2label, n_labels strings */
} gq_encoder_config;

/* Reads and validates config.json (caller frees with gq_encoder_config_free). */
gq_status gq_encoder_config_load(const char *path, gq_encoder_config *cfg, gq_err *err);
void gq_encoder_config_free(gq_encoder_config *cfg);
/* The same from len bytes of text; `path` is used in messages only. */
gq_status gq_encoder_config_parse(const char *text, size_t len, const char *path, gq_encoder_config *cfg, gq_err *err);

/* The six quantizable Linear layers of a transformer block, in checkpoint order. */
typedef enum { GQ_LIN_Q, GQ_LIN_K, GQ_LIN_V, GQ_LIN_O, GQ_LIN_FF1, GQ_LIN_FF2, GQ_LIN_COUNT } gq_lin_kind;
/* Checkpoint name fragment of a Linear: "attention.q_lin", ..., "ffn.lin2". */
const char *gq_lin_name(gq_lin_kind kind);

typedef struct {
    float *w; /* (out, in), y = x wᵀ + b */
    float *b; /* (out) */
    int out, in;
    /* Bumped by whoever rewrites w or b in place (the quantization session), so that a
     * runner holding a copy on a device re-uploads exactly the matrices that changed. */
    unsigned version;
} gq_linear;

typedef struct {
    gq_linear lin[GQ_LIN_COUNT];
    float *sa_ln_w, *sa_ln_b;   /* (dim) */
    float *out_ln_w, *out_ln_b; /* (dim) */
} gq_encoder_layer;

typedef struct {
    gq_encoder_config cfg;
    float *word_emb;            /* (vocab_size, dim) */
    float *pos_emb;             /* (max_pos, dim) */
    float *emb_ln_w, *emb_ln_b; /* (dim) */
    gq_encoder_layer *layers;     /* (n_layers) */
    gq_linear pre;              /* (dim, dim) */
    gq_linear cls;              /* (n_labels, dim) */
    gq_ckpt *ckpt;              /* owns the weights when loaded from a file (else NULL) */
    float *params;              /* owns them for gq_encoder_random (else NULL) */
    size_t n_params;            /* parameters (HF's model.parameters()): no buffer, no unused tensor */
    int n_param_tensors;        /* the tensors that hold them */
    char *dir;                  /* the model directory (a Hub id resolved to its snapshot) */
    char *weights_path;         /* the file the weights were read from */
    char sha256[65];            /* of that file */
} gq_encoder;

/* Loads DIR/config.json and the weights, preferring model.safetensors, then
 * pytorch_model.bin. spec is a directory or a Hugging Face Hub id ORG/NAME[@REV] found in
 * the local Hugging Face cache (gq_hub_resolve); m->dir is the directory used. *out is
 * owned by the caller (gq_encoder_free). */
gq_status gq_encoder_load(const char *spec, gq_encoder **out, gq_err *err);
/* Loads the config and the weights from an explicit file. */
gq_status gq_encoder_load_file(const char *config_path, const char *weights_path, gq_encoder **out, gq_err *err);
/* Builds a model with seeded N(0, 0.02) weights (LayerNorm 1/0, biases 0) for a config,
 * for benchmarks. */
gq_status gq_encoder_random(const gq_encoder_config *cfg, uint64_t seed, gq_encoder **out, gq_err *err);
void gq_encoder_free(gq_encoder *m);

/* Optional observers of the forward pass, e.g. for calibration statistics or tests. With
 * either of them set, every block runs on every token; without, the last block computes
 * only what the logits read (see gq_encoder_flops). */
typedef struct {
    void *ctx;
    /* Input x (ntok, in) of Linear `kind` of block `layer`, all real tokens of the batch. */
    void (*linear_input)(void *ctx, int layer, gq_lin_kind kind, const float *x, int ntok, int in);
    /* Hidden states (ntok, dim) after the embeddings (index 0) and after block i (index i+1). */
    void (*hidden)(void *ctx, int index, const float *h, int ntok, int dim);
} gq_encoder_hooks;

/* Where a runner computes. */
typedef enum { GQ_DEVICE_CPU, GQ_DEVICE_CUDA } gq_device;
/* "cpu" or "cuda". */
const char *gq_device_name(gq_device d);
/* Parses "cpu" or "cuda" (anything else: GQ_ERR_ARG naming the value). */
gq_status gq_device_parse(const char *name, gq_device *out, gq_err *err);

typedef struct {
    gq_device device; /* GQ_DEVICE_CPU unless set */
    int threads;      /* CPU threads (0: all cores); on CUDA, OpenBLAS's thread count for
                         the work left on the CPU (quantizers, calibration statistics) */
    int tf32;         /* CUDA: let cuBLAS use TF32 tensor cores (default 0: plain FP32) */
} gq_encoder_runner_opts;

/* A runner: scratch buffers (grown as needed) and the device state for the forward pass;
 * results are deterministic for a given device and thread count. One runner per thread of
 * use. The runner keeps a pointer to m, which must outlive it.
 *
 * CPU: `threads` threads. Sets OpenBLAS's process-wide thread count to `threads`;
 * gq_encoder_forward runs OpenBLAS single-threaded inside each of its threads and restores
 * that count before it returns.
 * CUDA: the weights are uploaded once; before each forward, the Linears whose version
 * changed are uploaded again (only those). Passes with hooks (calibration) run there too,
 * with every row of every block, and hand the hooks host copies of the activations.
 * Opening returns once a GPU is known to be there: the device gets ready (context, cuBLAS,
 * memory, a warm-up batch) on a thread of its own while the caller does other work, and
 * gq_encoder_runner_ready or the first forward waits for it; errors of that part come from
 * there. */
typedef struct gq_encoder_runner gq_encoder_runner;
/* Opens a runner on o->device (o NULL: CPU, all cores). Fails with one line naming the
 * problem: a build without CUDA, its CUDA backend module missing or unloadable, no GPU, out
 * of device memory. */
gq_status gq_encoder_runner_open(const gq_encoder *m, const gq_encoder_runner_opts *o, gq_encoder_runner **out, gq_err *err);
/* CPU runner with `threads` threads (0: all cores); NULL when out of memory. */
gq_encoder_runner *gq_encoder_runner_new(const gq_encoder *m, int threads);
void gq_encoder_runner_free(gq_encoder_runner *r);
/* Waits until the runner can run a batch at once (a CUDA runner's start, above), so that a
 * caller can time its forwards alone; a no-op on the CPU and once ready. */
gq_status gq_encoder_runner_ready(gq_encoder_runner *r, gq_err *err);
/* The model a runner was made for. */
const gq_encoder *gq_encoder_runner_model(const gq_encoder_runner *r);
gq_device gq_encoder_runner_device(const gq_encoder_runner *r);
/* The CPU thread count it was opened with (0: all cores), for other work of the same
 * command (the quantization session's). */
int gq_encoder_runner_threads(const gq_encoder_runner *r);
/* Tokens per round on the CPU: a batch without hooks runs in rounds of about this many
 * tokens, one part of each round per thread (encoder_cpu.c). A part is one sgemm operand of
 * about 3072 / threads rows, which packs every weight matrix once per part: 3072 ran 1.7%
 * faster than 2048 and as fast as 4096 (QNLI dev's first 400, 2 threads, bench/notes.md).
 * Tokens per batch on the CPU: four rounds, since the threads wait for each other only at
 * a batch's end; a batch is also what a progress line counts. On CUDA, 16384: a GEMM of
 * that many rows keeps an H100/H200 busy where 2048 leaves it idle between launches
 * (results/gpu.md). */
#define GQ_ENCODER_CPU_ROUND_TOKENS 3072
#define GQ_ENCODER_CPU_BATCH_TOKENS (4 * GQ_ENCODER_CPU_ROUND_TOKENS)
#define GQ_ENCODER_CUDA_BATCH_TOKENS 16384
/* Tokens per batch that keep this runner's device busy (for callers that batch). */
int gq_encoder_runner_batch_tokens(const gq_encoder_runner *r);

/* Runs nseq sequences whose ids are concatenated in `ids` (lens[i] tokens each) and
 * writes logits (nseq, n_labels). Fails on out-of-range ids or over-long sequences. */
gq_status gq_encoder_forward(gq_encoder_runner *r, const int32_t *ids, const int *lens, int nseq, float *logits,
                           const gq_encoder_hooks *hooks, gq_err *err);

/* Floating-point operations of a forward without hooks over the given lengths (for
 * GFLOP/s): the logits read only the first ([CLS]) token of each sequence, so the last
 * block runs for the [CLS] tokens only, its attention over the other tokens' hidden states
 * with the key and value weights folded into the query (no K or V projection). */
double gq_encoder_flops(const gq_encoder_config *cfg, const int *lens, int nseq);
/* ... and of the full forward, every block on every token (a forward with hooks; the work
 * a sgemm-bound forward is measured against). */
double gq_encoder_flops_full(const gq_encoder_config *cfg, const int *lens, int nseq);

#endif
