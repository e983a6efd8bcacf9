/* glueq-bench: the measurements behind results/bench.md that `glueq eval` cannot make
 * itself. Built and driven by bench/run.sh; each command prints one JSON object a line.
 *
 *   make-base DIR [--shape S] [--seed S]  a checkpoint of shape distilbert-base (the
 *                                default: dim 768, 6 layers, 12 heads, FFN 3072, vocab 30522,
 *                                max_pos 512, 2 labels) or bert-base (the same with 12 layers
 *                                and 2 token types), with gq_encoder_random's seeded weights,
 *                                as safetensors
 *   sgemm [--tokens M]           OpenBLAS sgemm GFLOP/s on the forward's Linear shapes,
 *                                called exactly as the forward calls them
 *   seqlen --model DIR --len L   the forward on synthetic sequences of exactly L tokens
 *   task --model DIR --task T    the forward on a dev split as `glueq eval` runs it
 *   task ... --device cuda       the same on the GPU: the first (cold) pass, then the
 *                                median of R warm passes in the same process, as the
 *                                PyTorch peers of bench/gpu.sh are timed
 *   logits --model DIR --task T  every dev example's logits, to check that a change of
 *                                the forward moves no prediction
 *   hash FILE                    SHA-256 (portable; SHA-NI) and zip's CRC-32 (tables;
 *                                PCLMULQDQ folding) throughput, where the CPU has them, on
 *                                FILE held in memory: loading computes both
 *   load --model DIR             gq_encoder_load's wall time (page cache warm), as every
 *                                command that reads a model pays it
 *   algo --model DIR --algorithm A  gq_quant_apply with quantizer algorithm A (gptq,
 *                                awq-scale, rtn) on all matrices, uniform int --bits (4),
 *                                after a calibration on --calib-seqs (32) random sequences
 *                                of 128 tokens; wall and process CPU seconds (the session
 *                                uses every online core)
 * Common flags: --threads N (default 2), --reps R (default 3; medians are printed),
 * --tokens M (the GEMMs' rows and seqlen's batch; default GQ_ENCODER_CPU_ROUND_TOKENS, one round
 * of the CPU forward over all its threads), --limit N (first N dev rows).
 * seqlen and task alternate each timed forward with a run of its Linear GEMMs alone, so
 * that the fraction of sgemm speed is measured on the same machine state. GLUE data and
 * vocab come from $GLUEQ_SHARED (default /work/shared).
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "checkpoint_internal.h"
#include "encoder.h"
#include "eval.h"
#include "quant.h"

void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

enum { MAX_REPS = 31 };

static const char *opt(int argc, char **argv, const char *name, const char *def) {
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

static int opt_int(int argc, char **argv, const char *name, int def) {
    const char *v = opt(argc, argv, name, NULL);
    return v ? atoi(v) : def;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int die(const gq_err *err) {
    fprintf(stderr, "glueq-bench: %s\n", err->msg);
    return 1;
}

/* ------------------------------------------------------------- make-base ---- */

/* The shapes make-base writes: those of distilbert-base-uncased and bert-base-uncased (vocab
 * 30522, max_pos 512), with 2 labels. */
typedef struct {
    const char *name, *model_type;
    gq_encoder_config cfg;
} base_shape;

static const base_shape SHAPES[] = {
    {"distilbert-base", "distilbert",
     {.dim = 768, .n_layers = 6, .n_heads = 12, .hidden_dim = 3072, .vocab_size = 30522, .max_pos = 512,
      .ln_eps = 1e-12, .n_labels = 2}},
    {"bert-base", "bert",
     {.dim = 768, .n_layers = 12, .n_heads = 12, .hidden_dim = 3072, .vocab_size = 30522, .max_pos = 512,
      .type_vocab_size = 2, .ln_eps = 1e-12, .n_labels = 2}},
};

/* The DistilBERT-base shape, for the GEMM rates (the Linears of every shape are alike). */
static const gq_encoder_config *BASE = &SHAPES[0].cfg;

typedef struct {
    gq_tensor *t;
    int n;
} tensor_list;

/* One tensor entry pointing into the model's own parameters (names as HF writes them). */
static int add(void *ctx, const char *name, const float *data, int64_t d0, int64_t d1) {
    tensor_list *l = ctx;
    l->t[l->n++] = (gq_tensor){.name = gq_strdup(name), .ndim = d1 ? 2 : 1, .shape = {d0, d1},
                               .numel = d1 ? d0 * d1 : d0, .data = (float *)data};
    return 0;
}

static int make_base(const char *dir, const char *shape, uint64_t seed) {
    gq_err err = {{0}};
    const base_shape *b = NULL;
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
        if (strcmp(SHAPES[i].name, shape) == 0) b = &SHAPES[i];
    if (!b) return fprintf(stderr, "glueq-bench: --shape %s: not distilbert-base or bert-base\n", shape), 2;
    gq_encoder_config cfg = b->cfg;
    cfg.family = gq_encoder_family_find(b->model_type);
    gq_encoder *m = NULL;
    if (gq_encoder_random(&cfg, seed, &m, &err) != GQ_OK || gq_mkdirs(dir, &err) != GQ_OK) return die(&err);
    tensor_list l = {gq_calloc_array(9 + 16 * (size_t)cfg.n_layers, sizeof *l.t), 0};
    char *st = gq_path_join(dir, "model.safetensors"), *cj = gq_path_join(dir, "config.json");
    char *json = gq_encoder_config_json(&cfg);
    gq_status s = l.t && st && cj && json ? GQ_OK : gq_fail(&err, GQ_ERR_NOMEM, "out of memory");
    if (s == GQ_OK) gq_encoder_each_param(m, add, &l);
    if (s == GQ_OK) s = gq_safetensors_write(st, l.t, l.n, &err);
    if (s == GQ_OK) s = gq_write_file_atomic(cj, json, strlen(json), &err);
    for (int i = 0; i < l.n; i++) free(l.t[i].name);
    free(l.t), free(st), free(cj), free(json);
    gq_encoder_free(m);
    if (s != GQ_OK) return die(&err);
    printf("{\"wrote\": \"%s\", \"shape\": \"%s\", \"seed\": %llu}\n", dir, shape, (unsigned long long)seed);
    return 0;
}

/* ----------------------------------------------------------------- sgemm ---- */

/* y (M, N) = x (M, K) · W (N, K)ᵀ + y, the call the forward makes for every Linear
 * (row-major, W in checkpoint layout, beta = 1 because y holds the bias or residual). */
static void linear_gemm(const float *x, const float *w, float *y, int M, int N, int K) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 1.0f, y, N);
}

/* Operands for the Linear GEMMs of a forward over M tokens: the machine's limit. */
typedef struct {
    int M, d, h, layers;
    float *x, *y, *w;
} gemms;

static int gemms_new(gemms *g, const gq_encoder_config *c, int M) {
    *g = (gemms){.M = M, .d = c->dim, .h = c->hidden_dim, .layers = c->n_layers};
    size_t big = (size_t)M * (c->hidden_dim > c->dim ? c->hidden_dim : c->dim);
    g->x = gq_malloc_array(big, sizeof(float)), g->y = gq_malloc_array(big, sizeof(float));
    g->w = gq_malloc_array((size_t)c->hidden_dim * c->dim, sizeof(float));
    if (!g->x || !g->y || !g->w) return 0;
    gq_rng r;
    gq_rng_seed(&r, 1);
    for (size_t i = 0; i < big; i++) g->x[i] = gq_rng_normal(&r), g->y[i] = 0;
    for (size_t i = 0; i < (size_t)c->hidden_dim * c->dim; i++) g->w[i] = 0.02f * gq_rng_normal(&r);
    return 1;
}

static void gemms_free(gemms *g) { free(g->x), free(g->y), free(g->w); }

static double gemms_flops(const gemms *g) { return 2.0 * g->layers * g->M * (4.0 * g->d * g->d + 2.0 * g->d * g->h); }

/* Seconds for the forward's Linears: per block q, k, v, out (d x d), ffn.lin1 (h x d),
 * ffn.lin2 (d x h), in that order. */
static double gemms_time(gemms *g) {
    double t0 = gq_now();
    for (int l = 0; l < g->layers; l++) {
        for (int i = 0; i < 4; i++) linear_gemm(g->x, g->w, g->y, g->M, g->d, g->d);
        linear_gemm(g->x, g->w, g->y, g->M, g->h, g->d);
        linear_gemm(g->x, g->w, g->y, g->M, g->d, g->h);
    }
    return gq_now() - t0;
}

static int sgemm(int threads, int M, int reps) {
    gemms g;
    openblas_set_num_threads(threads);
    if (!gemms_new(&g, BASE, M)) return fputs("glueq-bench: out of memory\n", stderr), 1;
    double t[MAX_REPS];
    gemms_time(&g); /* warm-up: OpenBLAS starts its threads and buffers */
    for (int rep = 0; rep < reps; rep++) t[rep] = gemms_time(&g);
    printf("{\"threads\": %d, \"M\": %d, \"reps\": %d, \"sgemm_gflops\": %.2f, \"openblas\": \"%s\", \"core\": \"%s\"}\n",
           threads, M, reps, gemms_flops(&g) / median(t, reps) * 1e-9, openblas_get_config(), openblas_get_corename());
    gemms_free(&g);
    return 0;
}

/* --------------------------------------------------------- seqlen, task ---- */

/* Alternates `reps` timed runs of the forward (fwd) with the forward's Linear GEMMs at
 * M tokens, so that both see the same machine (a shared VM is noisy on the scale of
 * seconds), and prints medians: the forward's tokens/s and GFLOP/s (of the work it does,
 * `flops`), the GEMMs' GFLOP/s, the median of the per-run ratios forward ÷ GEMM, and that
 * of tokens/s ÷ the sgemm-bound rate (GEMM GFLOP/s ÷ the full forward's FLOPs per token,
 * `flops_full` ÷ tokens: above 1 only by doing less than the full forward's work). */
typedef double (*fwd_fn)(void *ctx); /* runs the forward once, returns its seconds (< 0: failed) */

static int paired(fwd_fn fwd, void *ctx, const gq_encoder_config *c, int M, double tokens, double flops,
                  double flops_full, int reps, const char *what) {
    gemms g;
    if (!gemms_new(&g, c, M)) return fputs("glueq-bench: out of memory\n", stderr), 1;
    double tf[MAX_REPS], tg[MAX_REPS], ratio[MAX_REPS], bound[MAX_REPS];
    if (fwd(ctx) < 0) return 1; /* warm-up: sizes the runner's buffers, starts OpenBLAS */
    gemms_time(&g);
    for (int rep = 0; rep < reps; rep++) {
        if ((tf[rep] = fwd(ctx)) < 0) return 1;
        tg[rep] = gemms_time(&g);
        ratio[rep] = (flops / tf[rep]) / (gemms_flops(&g) / tg[rep]);
        bound[rep] = (flops_full / tf[rep]) / (gemms_flops(&g) / tg[rep]);
    }
    double sf = median(tf, reps), sg = median(tg, reps);
    printf("{%s, \"threads\": %d, \"tokens\": %.0f, \"reps\": %d, \"seconds\": %.4f, \"tokens_per_s\": %.1f, "
           "\"gflops\": %.2f, \"flops_per_token\": %.0f, \"full_flops_per_token\": %.0f, \"sgemm_M\": %d, "
           "\"sgemm_gflops\": %.2f, \"fraction_of_sgemm\": %.3f, \"sgemm_bound_ratio\": %.3f}\n",
           what, openblas_get_num_threads(), tokens, reps, sf, tokens / sf, flops / sf * 1e-9, flops / tokens,
           flops_full / tokens, M, gemms_flops(&g) / sg * 1e-9, median(ratio, reps), median(bound, reps));
    gemms_free(&g);
    return 0;
}

typedef struct {
    gq_encoder_runner *r;
    const int32_t *ids;
    const int *lens;
    int nseq;
    float *logits;
} batch_ctx;

static double run_batch(void *ctx) {
    batch_ctx *b = ctx;
    gq_err err = {{0}};
    double t0 = gq_now();
    if (gq_encoder_forward(b->r, b->ids, b->lens, NULL, b->nseq, b->logits, NULL, &err) != GQ_OK) return die(&err), -1;
    return gq_now() - t0;
}

/* Synthetic sequences of exactly len tokens, `tokens` tokens a batch. */
static int seqlen(const char *dir, int len, int threads, int tokens, int reps) {
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    if (gq_encoder_load(dir, &m, &err) != GQ_OK) return die(&err);
    int nseq = tokens / len > 0 ? tokens / len : 1, n = nseq * len;
    int32_t *ids = gq_malloc_array((size_t)n, sizeof *ids);
    int *lens = gq_malloc_array((size_t)nseq, sizeof *lens);
    float *logits = gq_malloc_array((size_t)nseq * m->cfg.n_labels, sizeof *logits);
    gq_encoder_runner *r = gq_encoder_runner_new(m, threads);
    if (!ids || !lens || !logits || !r) return fputs("glueq-bench: out of memory\n", stderr), 1;
    gq_rng rng;
    gq_rng_seed(&rng, 7);
    for (int s = 0; s < nseq; s++) {
        lens[s] = len;
        for (int p = 0; p < len; p++) /* [CLS] w w ... [SEP], as the tokenizer frames them */
            ids[s * len + p] = p == 0 ? 101 : p == len - 1 ? 102 : 1000 + (int32_t)gq_rng_below(&rng, 29000);
    }
    batch_ctx b = {r, ids, lens, nseq, logits};
    char what[64];
    snprintf(what, sizeof what, "\"len\": %d", len);
    int rc = paired(run_batch, &b, &m->cfg, n, n, gq_encoder_flops(&m->cfg, lens, nseq),
                    gq_encoder_flops_full(&m->cfg, lens, nseq), reps, what);
    gq_encoder_runner_free(r);
    free(ids), free(lens), free(logits);
    gq_encoder_free(m);
    return rc;
}

typedef struct {
    gq_encoder_runner *r;
    const gq_encoded *enc;
} task_ctx;

static double run_task(void *ctx) {
    task_ctx *t = ctx;
    gq_err err = {{0}};
    gq_eval_result res;
    if (gq_eval_run(t->r, t->enc, NULL, NULL, NULL, &res, &err) != GQ_OK) return die(&err), -1;
    double sec = res.seconds;
    gq_eval_result_free(&res);
    return sec;
}

/* Loads the dev split of a task (first `limit` rows when limit > 0), tokenized. */
static gq_status load_dev(const char *task_name, int limit, gq_encoded **enc, gq_err *err) {
    const char *shared = getenv("GLUEQ_SHARED") ? getenv("GLUEQ_SHARED") : "/work/shared";
    char *glue = gq_path_join(shared, "assets/glue"), *vocab = gq_path_join(shared, "assets/vocab/vocab.txt");
    const gq_glue_task *task = gq_glue_task_find(task_name);
    char *tsv = task ? gq_glue_split_path(task, glue, "dev") : NULL;
    gq_tok *tok = NULL;
    gq_glue_set *set = NULL;
    gq_status s = task ? GQ_OK : gq_fail(err, GQ_ERR_ARG, "unknown task %s", task_name);
    if (s == GQ_OK && (s = gq_tok_load(vocab, &tok, err)) == GQ_OK && (s = gq_glue_load(task, tsv, &set, err)) == GQ_OK) {
        if (limit > 0 && limit < set->n) set->n = limit;
        s = gq_encode_set(tok, set, 128, enc, err);
    }
    gq_glue_free(set), gq_tok_free(tok);
    free(glue), free(vocab), free(tsv);
    return s;
}

/* The dev split on the GPU: a cold pass, then reps warm ones. */
static int task_cuda(gq_encoder *m, gq_encoded *enc, const char *task_name, int reps) {
    gq_err err = {{0}};
    gq_encoder_runner_opts o = {GQ_DEVICE_CUDA, 0, 0};
    gq_encoder_runner *r = NULL;
    if (gq_encoder_runner_open(m, &o, &r, &err) != GQ_OK) return die(&err);
    task_ctx t = {r, enc};
    double cold = run_task(&t), warm[MAX_REPS];
    for (int rep = 0; rep < reps && cold >= 0; rep++)
        if ((warm[rep] = run_task(&t)) < 0) return 1;
    gq_encoder_runner_free(r);
    if (cold < 0) return 1;
    double w = median(warm, reps);
    printf("{\"device\": \"cuda\", \"task\": \"%s\", \"examples\": %d, \"tokens\": %lld, \"reps\": %d, "
           "\"cold_seconds\": %.4f, \"seconds\": %.4f, \"tokens_per_s\": %.1f, \"cold_tokens_per_s\": %.1f}\n",
           task_name, enc->n, (long long)enc->tokens, reps, cold, w, enc->tokens / w, enc->tokens / cold);
    return 0;
}

/* The dev split as `glueq eval` runs it (length buckets of GQ_EVAL_BATCH_TOKENS). */
static int task(const char *dir, const char *task_name, int threads, int limit, int reps, const char *device) {
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    gq_encoded *enc = NULL;
    if (load_dev(task_name, limit, &enc, &err) != GQ_OK || gq_encoder_load(dir, &m, &err) != GQ_OK) return die(&err);
    if (strcmp(device, "cuda") == 0) {
        int rc = task_cuda(m, enc, task_name, reps);
        gq_encoded_free(enc), gq_encoder_free(m);
        return rc;
    }
    gq_encoder_runner *r = gq_encoder_runner_new(m, threads);
    if (!r) return fputs("glueq-bench: out of memory\n", stderr), 1;
    task_ctx t = {r, enc};
    char what[96];
    snprintf(what, sizeof what, "\"task\": \"%s\", \"examples\": %d", task_name, enc->n);
    int rc = paired(run_task, &t, &m->cfg, GQ_ENCODER_CPU_ROUND_TOKENS, (double)enc->tokens,
                    gq_encoder_flops(&m->cfg, enc->len, enc->n), gq_encoder_flops_full(&m->cfg, enc->len, enc->n), reps,
                    what);
    gq_encoder_runner_free(r);
    gq_encoded_free(enc), gq_encoder_free(m);
    return rc;
}

/* ---------------------------------------------------------------- logits ---- */

static int logits(const char *dir, const char *task_name, int threads, int limit) {
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    gq_encoded *enc = NULL;
    if (load_dev(task_name, limit, &enc, &err) != GQ_OK || gq_encoder_load(dir, &m, &err) != GQ_OK) return die(&err);
    gq_encoder_runner *r = gq_encoder_runner_new(m, threads);
    gq_eval_result res;
    if (!r || gq_eval_run(r, enc, NULL, NULL, NULL, &res, &err) != GQ_OK) return die(&err);
    for (int i = 0; i < res.n; i++) {
        printf("%d %d", i, res.pred[i]);
        for (int k = 0; k < res.n_labels; k++) printf(" %.9g", res.logits[(size_t)i * res.n_labels + k]);
        putchar('\n');
    }
    gq_eval_result_free(&res);
    gq_encoder_runner_free(r);
    gq_encoded_free(enc), gq_encoder_free(m);
    return 0;
}

/* ------------------------------------------------------------------ algo ---- */

typedef struct {
    gq_encoder_runner *r;
    int nseq;
} algo_calib;

/* Random ids: the algorithms' cost depends on the shapes only, not on the data. */
static gq_status algo_calibrate(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    algo_calib *c = ctx;
    enum { LEN = 128 };
    int32_t *ids = malloc(sizeof *ids * (size_t)c->nseq * LEN);
    int *lens = malloc(sizeof *lens * (size_t)c->nseq);
    float *logits = malloc(sizeof *logits * 2 * (size_t)c->nseq);
    gq_rng r;
    gq_rng_seed(&r, 1);
    for (int s = 0; s < c->nseq; s++) {
        lens[s] = LEN;
        for (int i = 0; i < LEN; i++) ids[s * LEN + i] = 1000 + (int32_t)gq_rng_below(&r, 20000);
    }
    gq_status st = ids && lens && logits ? gq_encoder_forward(c->r, ids, lens, NULL, c->nseq, logits, hooks, err)
                                         : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    free(ids), free(lens), free(logits);
    return st;
}

/* ---------------------------------------------------------- sha256, load ---- */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *name;
    const uint8_t *buf;
    size_t len;
    gq_sha256_impl sha;     /* for the sha256-* entries */
    gq_crc32_tables *crc;   /* for the crc32-* entries, else NULL */
} hash_job;

static uint32_t run_hash(const hash_job *j) {
    if (j->crc) return gq_ckpt_crc32(j->crc, j->buf, j->len);
    gq_sha256 c;
    uint8_t d[32];
    gq_sha256_init_impl(&c, j->sha);
    gq_sha256_update(&c, j->buf, j->len);
    gq_sha256_final(&c, d);
    return d[0];
}

/* Wall and process CPU seconds (medians): on a shared machine the CPU time is the
 * steadier of the two. */
static void time_hash(const hash_job *j, int reps) {
    double wall[MAX_REPS], cpu[MAX_REPS];
    for (int i = 0; i < reps; i++) {
        double t0 = gq_now(), c0 = cpu_now();
        volatile uint32_t sink = run_hash(j);
        (void)sink;
        wall[i] = gq_now() - t0, cpu[i] = cpu_now() - c0;
    }
    double w = median(wall, reps), cs = median(cpu, reps);
    printf("{\"hash\": \"%s\", \"bytes\": %zu, \"wall_s\": %.4f, \"cpu_s\": %.4f, \"MB_per_cpu_s\": %.0f, \"reps\": %d}\n",
           j->name, j->len, w, cs, (double)j->len / cs / 1e6, reps);
}

static int hash(const char *path, int reps) {
    gq_err err = {{0}};
    char *buf = NULL;
    size_t len = 0;
    if (gq_read_file(path, 0, &buf, &len, &err) != GQ_OK) return die(&err);
    const uint8_t *b = (const uint8_t *)buf;
    gq_sha256 probe;
    time_hash(&(hash_job){"sha256-portable", b, len, GQ_SHA256_PORTABLE, NULL}, reps);
    if (gq_sha256_init_impl(&probe, GQ_SHA256_SHANI))
        time_hash(&(hash_job){"sha256-sha-ni", b, len, GQ_SHA256_SHANI, NULL}, reps);
    gq_crc32_tables crc;
    gq_ckpt_crc32_tables(&crc);
    int clmul = crc.clmul;
    crc.clmul = 0;
    time_hash(&(hash_job){"crc32-tables", b, len, GQ_SHA256_PORTABLE, &crc}, reps);
    crc.clmul = clmul;
    if (clmul) time_hash(&(hash_job){"crc32-pclmul", b, len, GQ_SHA256_PORTABLE, &crc}, reps);
    free(buf);
    return 0;
}

static int load(const char *dir, int reps) {
    double wall[MAX_REPS], cpu[MAX_REPS];
    for (int i = 0; i < reps; i++) {
        gq_err err = {{0}};
        gq_encoder *m = NULL;
        double t0 = gq_now(), c0 = cpu_now();
        if (gq_encoder_load(dir, &m, &err) != GQ_OK) return die(&err);
        wall[i] = gq_now() - t0, cpu[i] = cpu_now() - c0;
        gq_encoder_free(m);
    }
    printf("{\"load_wall_s\": %.4f, \"load_cpu_s\": %.4f, \"reps\": %d}\n", median(wall, reps), median(cpu, reps),
           reps);
    return 0;
}

static int algo(const char *dir, const char *algorithm, int bits, int nseq, int threads, int reps) {
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    gq_quant_session *s = NULL;
    gq_quant_opts q;
    gq_quant_opts_default(&q, bits);
    if (gq_quant_opts_set(&q, "algorithm", algorithm, &err) != GQ_OK || gq_encoder_load(dir, &m, &err) != GQ_OK ||
        gq_quant_session_new(m, NULL, &s, &err) != GQ_OK)
        return die(&err);
    algo_calib c = {gq_encoder_runner_new(m, threads), nseq};
    gq_quant_session_set_calibration(s, "bench-random", algo_calibrate, &c);
    double wall[MAX_REPS], cpu[MAX_REPS];
    for (int i = 0; i <= reps; i++) { /* the first apply also runs the calibration: not timed */
        double t0 = gq_now(), c0 = cpu_now();
        if (gq_quant_apply(s, NULL, &q, NULL, NULL, &err) != GQ_OK) return die(&err);
        if (i) wall[i - 1] = gq_now() - t0, cpu[i - 1] = cpu_now() - c0;
    }
    printf("{\"algorithm\": \"%s\", \"bits\": %d, \"matrices\": %d, \"calib_tokens\": %d, \"wall_s\": %.3f, "
           "\"cpu_s\": %.3f, \"reps\": %d}\n",
           algorithm, bits, gq_quant_session_n_mats(s), nseq * 128, median(wall, reps), median(cpu, reps), reps);
    gq_quant_session_free(s);
    gq_encoder_runner_free(c.r);
    gq_encoder_free(m);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "", *model = opt(argc, argv, "--model", NULL);
    const char *task_name = opt(argc, argv, "--task", NULL);
    int threads = opt_int(argc, argv, "--threads", 2), reps = opt_int(argc, argv, "--reps", 3);
    int tokens = opt_int(argc, argv, "--tokens", GQ_ENCODER_CPU_ROUND_TOKENS), limit = opt_int(argc, argv, "--limit", 0);
    if (reps < 1 || reps > MAX_REPS) return fprintf(stderr, "glueq-bench: --reps must be 1 to %d\n", MAX_REPS), 2;
    if (strcmp(cmd, "make-base") == 0 && argc > 2)
        return make_base(argv[2], opt(argc, argv, "--shape", "distilbert-base"),
                         (uint64_t)opt_int(argc, argv, "--seed", 0));
    if (strcmp(cmd, "sgemm") == 0) return sgemm(threads, tokens, reps);
    if (strcmp(cmd, "seqlen") == 0 && model)
        return seqlen(model, opt_int(argc, argv, "--len", 128), threads, tokens, reps);
    if (strcmp(cmd, "task") == 0 && model && task_name)
        return task(model, task_name, threads, limit, reps, opt(argc, argv, "--device", "cpu"));
    if (strcmp(cmd, "logits") == 0 && model && task_name) return logits(model, task_name, threads, limit);
    if (strcmp(cmd, "hash") == 0 && argc > 2) return hash(argv[2], reps);
    if (strcmp(cmd, "load") == 0 && model) return load(model, reps);
    if (strcmp(cmd, "algo") == 0 && model)
        return algo(model, opt(argc, argv, "--algorithm", "gptq"), opt_int(argc, argv, "--bits", 4),
                    opt_int(argc, argv, "--calib-seqs", 32), threads, reps);
    fputs("usage: glueq-bench make-base DIR [--shape distilbert-base|bert-base] [--seed S]\n"
          "       glueq-bench sgemm [--threads N] [--tokens M] [--reps R]\n"
          "       glueq-bench seqlen --model DIR --len L [--threads N] [--tokens M] [--reps R]\n"
          "       glueq-bench task --model DIR --task T [--limit N] [--threads N] [--reps R] [--device cuda]\n"
          "       glueq-bench logits --model DIR --task T [--limit N] [--threads N]\n"
          "       glueq-bench hash FILE [--reps R]\n"
          "       glueq-bench load --model DIR [--reps R]\n"
          "       glueq-bench algo --model DIR --algorithm gptq|awq-scale|rtn [--bits 4] [--calib-seqs 32] [--reps R]\n",
          stderr);
    return 2;
}
