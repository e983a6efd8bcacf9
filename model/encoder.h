/* encoder: BERT-style sequence classifiers in FP32 (SPEC.md §1): DistilBERT
 * (DistilBertForSequenceClassification), BERT (BertForSequenceClassification) and RoBERTa
 * (RobertaForSequenceClassification), one family each, chosen by config.json's model_type.
 *
 *     gq_encoder *m = NULL;
 *     if (gq_encoder_load("checkpoint-dir", &m, &err) != GQ_OK) ...
 *     gq_encoder_runner *r = gq_encoder_runner_new(m, 0);  // CPU, threads: 0 = all cores
 *     // or, on a GPU: gq_encoder_runner_opts o = {.device = GQ_DEVICE_CUDA};
 *     //               gq_encoder_runner_open(m, &o, &r, &err);
 *     // two sequences of lengths 5 and 3, ids concatenated, one segment each:
 *     gq_encoder_forward(r, ids, (int[]){5, 3}, NULL, 2, logits, NULL, &err);  // logits: 2 x n_labels
 *     gq_encoder_runner_free(r);
 *     gq_encoder_free(m);
 *
 * The families share one forward: embeddings (word + position [+ token type]) and their
 * LayerNorm, post-LN blocks of attention and a GELU FFN, and a head of dense + activation
 * on the first token, then the output layer. What differs is data, one gq_encoder_family
 * each (model/families.c): config keys, tensor names, the embeddings summed, how positions
 * count, the LayerNorm epsilon and the head's activation. docs/models.md says what adding a
 * family takes.
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

/* The six quantizable Linear layers of a transformer block, in checkpoint order: the
 * attention's query, key, value and output, the FFN's two. */
typedef enum { GQ_LIN_Q, GQ_LIN_K, GQ_LIN_V, GQ_LIN_O, GQ_LIN_FF1, GQ_LIN_FF2, GQ_LIN_COUNT } gq_lin_kind;

/* The head's activation between its dense layer and its output layer. */
typedef enum { GQ_HEAD_RELU, GQ_HEAD_TANH } gq_head_act;

/* How position ids count along a sequence of unpadded tokens. */
typedef enum {
    GQ_POS_INDEX,     /* token p has position p (DistilBERT, BERT) */
    GQ_POS_AFTER_PAD, /* RoBERTa: pad_id + 1 + the non-pad tokens before it; a pad token pad_id */
} gq_pos_rule;

/* One family of encoders: everything in which it differs from the others, as data. */
typedef struct {
    const char *model_type;   /* config.json's "model_type": "bert" */
    const char *architecture; /* its "architectures"[0]: "BertForSequenceClassification" */
    /* config.json's keys of dim, n_layers, n_heads, hidden_dim and the activation */
    const char *key_dim, *key_layers, *key_heads, *key_hidden, *key_act;
    int has_eps;       /* config.json may set "layer_norm_eps" (else 1e-12, DistilBERT's fixed one) */
    int token_types;   /* embeddings.token_type_embeddings, "type_vocab_size" rows (default 2) */
    int segment_types; /* a pair's second segment is token type 1 (BERT); else type 0 throughout */
    gq_pos_rule positions;
    int default_pad_id; /* pad_token_id when config.json has none */
    /* tensor names: embeddings "<embeddings>.word_embeddings.weight", ...; block l's Linear k
     * "<layer>.<l>.<lin[k]>.weight"; its LayerNorms after attention and after the FFN
     * "<layer>.<l>.<ln_attn>.weight", ...; the head "<head_dense>.weight", "<head_out>.weight" */
    const char *embeddings, *layer;
    const char *lin[GQ_LIN_COUNT];
    const char *ln_attn, *ln_ffn;
    const char *head_dense, *head_out;
    gq_head_act head_act;
} gq_encoder_family;

/* NULL-terminated: distilbert, bert, roberta (model/families.c). */
extern const gq_encoder_family *const gq_encoder_families[];
/* The family of a model_type, or NULL. */
const gq_encoder_family *gq_encoder_family_find(const char *model_type);

typedef struct {
    const gq_encoder_family *family;
    int dim, n_layers, n_heads, hidden_dim, vocab_size, max_pos;
    int type_vocab_size; /* rows of the token-type embeddings (0: the family has none) */
    int pad_id;          /* pad_token_id (RoBERTa's positions count from it) */
    double ln_eps;       /* every LayerNorm's epsilon */
    int n_labels;
    char **labels; /* id2label, n_labels strings */
} gq_encoder_config;

/* Reads and validates config.json (caller frees with gq_encoder_config_free). */
gq_status gq_encoder_config_load(const char *path, gq_encoder_config *cfg, gq_err *err);
void gq_encoder_config_free(gq_encoder_config *cfg);
/* The same from len bytes of text; `path` is used in messages only. */
gq_status gq_encoder_config_parse(const char *text, size_t len, const char *path, gq_encoder_config *cfg, gq_err *err);

/* The longest sequence the model takes: max_pos, less RoBERTa's positions up to pad_id. */
int gq_encoder_max_len(const gq_encoder_config *cfg);
/* Name of Linear `kind` within a block, as the family's checkpoint spells it:
 * "attention.q_lin", "attention.self.query", ... ("?" for a NULL family). */
const char *gq_lin_name(const gq_encoder_family *f, gq_lin_kind kind);
/* The tensor name of quantizable matrix idx = layer * GQ_LIN_COUNT + kind, into buf:
 * "bert.encoder.layer.3.attention.self.query.weight". */
void gq_encoder_weight_name(const gq_encoder_family *f, int idx, char *buf, size_t n);
/* config.json for cfg as transformers writes it for the family (malloc'd; NULL when out of
 * memory), for checkpoints built here (benchmarks, tests). */
char *gq_encoder_config_json(const gq_encoder_config *cfg);

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
    float *sa_ln_w, *sa_ln_b;   /* (dim) the LayerNorm after attention */
    float *out_ln_w, *out_ln_b; /* (dim) the LayerNorm after the FFN */
} gq_encoder_layer;

typedef struct {
    gq_encoder_config cfg;
    float *word_emb;            /* (vocab_size, dim) */
    float *pos_emb;             /* (max_pos, dim) */
    float *type_emb;            /* (type_vocab_size, dim); NULL when the family has none */
    float *emb_ln_w, *emb_ln_b; /* (dim) */
    gq_encoder_layer *layers;   /* (n_layers) */
    gq_linear pre;              /* (dim, dim) the head's dense layer: DistilBERT's pre_classifier,
                                   BERT's pooler, RoBERTa's classifier.dense */
    gq_linear cls;              /* (n_labels, dim) its output layer */
    gq_ckpt *ckpt;              /* owns the weights when loaded from a file (else NULL) */
    float *params;              /* owns them for gq_encoder_random (else NULL) */
    size_t n_params;            /* parameters (HF's model.parameters()): no buffer, no unused tensor */
    int n_param_tensors;        /* the tensors that hold them */
    char *dir;                  /* the model directory (a Hub id resolved to its snapshot) */
    char *weights_path;         /* the file the weights were read from */
    char sha256[65];            /* of that file */
} gq_encoder;

/* Calls fn for every parameter tensor of m in checkpoint order, under the family's names;
 * d1 = 0 for a vector. Stops at the first non-zero return and returns it (else 0). */
typedef int (*gq_encoder_param_fn)(void *ctx, const char *name, const float *data, int64_t d0, int64_t d1);
int gq_encoder_each_param(const gq_encoder *m, gq_encoder_param_fn fn, void *ctx);

/* Loads DIR/config.json and the weights, preferring model.safetensors, then
 * pytorch_model.bin. spec is a directory or a Hugging Face Hub id ORG/NAME[@REV] found in
 * the local Hugging Face cache (gq_hub_resolve); m->dir is the directory used. *out is
 * owned by the caller (gq_encoder_free). */
gq_status gq_encoder_load(const char *spec, gq_encoder **out, gq_err *err);
/* Loads the config and the weights from an explicit file. */
gq_status gq_encoder_load_file(const char *config_path, const char *weights_path, gq_encoder **out, gq_err *err);
/* Builds a model with seeded N(0, 0.02) weights (LayerNorm 1/0, biases 0) for a config
 * (cfg->family set), for benchmarks. */
gq_status gq_encoder_random(const gq_encoder_config *cfg, uint64_t seed, gq_encoder **out, gq_err *err);
void gq_encoder_free(gq_encoder *m);

/* Calibration statistics of the inputs x (ntok, in) of one Linear, accumulated in double. */
typedef struct gq_lin_stats {
    int in;
    int64_t ntok;
    double *abs_sum; /* (in) Σ_tokens |x_j| */
    double *xtx;     /* (in, in) XᵀX: upper triangle (xtx[i*in + j], j >= i); lower is 0 */
} gq_lin_stats;

/* Optional observers of the forward pass, e.g. for calibration statistics or tests. With
 * any of them set, every block runs on every token; without, the last block computes
 * only what the logits read (see gq_encoder_flops). */
typedef struct {
    void *ctx;
    /* Input x (ntok, in) of Linear `kind` of block `layer`, all real tokens of the batch. */
    void (*linear_input)(void *ctx, int layer, gq_lin_kind kind, const float *x, int ntok, int in);
    /* Hidden states (ntok, dim) after the embeddings (index 0) and after block i (index i+1). */
    void (*hidden)(void *ctx, int index, const float *h, int ntok, int dim);
    /* The statistics to add the input of Linear `kind` of block `layer` into, or NULL to
     * skip that input. A CUDA runner uses this instead of linear_input: it accumulates the
     * batch's Σ|x| (continuing the sums it is given, token by token, as the CPU does) and
     * XᵀX (FP64, cuBLAS dsyrk) where the activations are, adds XᵀX and the token count into
     * the statistics and never copies the activations out. The CPU runner ignores it. */
    gq_lin_stats *(*linear_stats)(void *ctx, int layer, gq_lin_kind kind);
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
 * with every row of every block, and hand the hooks host copies of the activations, or
 * accumulate the statistics a linear_stats hook asks for on the GPU.
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
 * writes logits (nseq, n_labels). seg_a[i]: tokens of sequence i's first segment with its
 * special tokens ([CLS] A [SEP]; gq_ids.seg_a), which a family with segment types (BERT)
 * gives token type 0 and the rest type 1; NULL: type 0 throughout. Fails on out-of-range
 * ids or over-long sequences (gq_encoder_max_len). */
gq_status gq_encoder_forward(gq_encoder_runner *r, const int32_t *ids, const int *lens, const int *seg_a, int nseq,
                             float *logits, const gq_encoder_hooks *hooks, gq_err *err);

/* Floating-point operations of a forward without hooks over the given lengths (for
 * GFLOP/s): the logits read only the first ([CLS]) token of each sequence, so the last
 * block runs for the [CLS] tokens only, its attention over the other tokens' hidden states
 * with the key and value weights folded into the query (no K or V projection). */
double gq_encoder_flops(const gq_encoder_config *cfg, const int *lens, int nseq);
/* ... and of the full forward, every block on every token (a forward with hooks; the work
 * a sgemm-bound forward is measured against). */
double gq_encoder_flops_full(const gq_encoder_config *cfg, const int *lens, int nseq);

#endif
