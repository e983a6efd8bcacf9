/* The CUDA forward (label cuda; exits 77, which ctest reports as skipped, where glueq was
 * built without CUDA or no GPU is present). Against references, not against itself:
 *   - the PyTorch logits of fixtures/tiny-{a,b}, batched and one sequence at a time;
 *   - the CPU forward on lengths that cross the attention kernel's 32-key tiles (1..512);
 *   - the hooks (calibration's view of the forward): every Linear input and hidden state,
 *     all rows, against the CPU forward's;
 *   - after quantizing in place (the session bumps versions, the runner re-uploads only
 *     those): the CPU forward on the quantized weights, then the FP32 logits once restored;
 *   - the BERT and RoBERTa fixtures (tests/fixtures/encoders): transformers' logits of
 *     their token-id sequences (token types, RoBERTa's positions), batched, one at a time
 *     and with hooks, and the hidden states the fixtures keep;
 *   - whole dev sets: every shipped model under assets/models on its task's dev set, and
 *     $GLUEQ_CUDA_BASE_MODEL (e.g. a base-shaped checkpoint), when set, on all three — logits
 *     within GPU_ATOL of the CPU's, and identical predictions except where the CPU's own
 *     logit margin is below GPU_ATOL (those are listed). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "quant.h"
#include "testenc.h"

enum { SKIP = 77 };
/* The bound for GPU logits against the CPU's and the references. Measured on an H100
 * (results/gpu.md): about 1e-6 on the fixtures and 1e-5 on the dev sets. */
static const double GPU_ATOL = 1e-4;

static gq_status open_cuda_status(const gq_encoder *m, gq_encoder_runner **r) {
    gq_encoder_runner_opts o = {GQ_DEVICE_CUDA, 0, 0};
    gq_err err = {{0}};
    gq_status s = gq_encoder_runner_open(m, &o, r, &err);
    if (s != GQ_OK) fprintf(stderr, "cuda runner: %s\n", err.msg);
    return s;
}

static gq_encoder_runner *open_cuda(const gq_encoder *m) {
    gq_encoder_runner *r = NULL;
    return open_cuda_status(m, &r) == GQ_OK ? r : NULL;
}

static gq_encoder *load_fixture(gq_test_ctx *t, const char *fixture) {
    char cfg[512], w[512];
    snprintf(cfg, sizeof cfg, "%s/fixtures/%s/config.json", t->shared, fixture);
    snprintf(w, sizeof w, "%s/fixtures/%s/model.safetensors", t->shared, fixture);
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    GQ_CHECK(t, gq_encoder_load_file(cfg, w, &m, &err) == GQ_OK, "%s", err.msg);
    return m;
}

/* Logits of the PyTorch fixture, batched and one sequence at a time. */
static void check_fixture(gq_test_ctx *t, const char *fixture) {
    gq_encoder *m = load_fixture(t, fixture);
    char rel[256], what[256];
    snprintf(rel, sizeof rel, "fixtures/%s/expected.safetensors", fixture);
    gq_ckpt *ck = gq_test_load(t, rel);
    const gq_tensor *ids = gq_ckpt_find(ck, "input_ids"), *mask = gq_ckpt_find(ck, "attention_mask");
    const gq_tensor *want = gq_ckpt_find(ck, "logits");
    gq_encoder_runner *r = m ? open_cuda(m) : NULL;
    GQ_CHECK(t, r && ids && mask && want, "%s: runner or reference missing", fixture);
    if (r && ids && mask && want) {
        int n = (int)ids->shape[0], T = (int)ids->shape[1], nl = m->cfg.n_labels, k = 0;
        int32_t *flat = malloc((size_t)n * T * sizeof *flat);
        int *lens = calloc((size_t)n, sizeof *lens);
        float *batched = malloc((size_t)n * nl * sizeof(float)), *single = malloc((size_t)n * nl * sizeof(float));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < T; j++)
                if (mask->data[i * T + j] != 0) flat[k++] = (int32_t)ids->data[i * T + j], lens[i]++;
        gq_err err = {{0}};
        GQ_CHECK(t, gq_encoder_forward(r, flat, lens, NULL, n, batched, NULL, &err) == GQ_OK, "%s", err.msg);
        snprintf(what, sizeof what, "%s cuda batched vs PyTorch", fixture);
        gq_check_close(t, what, batched, want->data, (size_t)n * nl, GPU_ATOL, 0);
        for (int i = 0, off = 0; i < n; off += lens[i++])
            GQ_CHECK(t, gq_encoder_forward(r, flat + off, &lens[i], NULL, 1, single + (size_t)i * nl, NULL, &err) == GQ_OK,
                     "%s", err.msg);
        snprintf(what, sizeof what, "%s cuda one at a time vs PyTorch", fixture);
        gq_check_close(t, what, single, want->data, (size_t)n * nl, GPU_ATOL, 0);
        free(flat), free(lens), free(batched), free(single);
    }
    gq_encoder_runner_free(r);
    gq_ckpt_free(ck);
    gq_encoder_free(m);
}

/* An encoder fixture on the GPU against transformers. */
static void check_encoder_fixture(gq_test_ctx *t, const char *name) {
    gq_encoder *m = gq_test_encoder_load(t, name);
    gq_encoder_runner *r = m ? open_cuda(m) : NULL;
    GQ_CHECK(t, r != NULL, "%s: no CUDA runner", name);
    if (r) {
        gq_test_sequences s;
        gq_test_sequences_load(t, name, "", &s);
        int nl = m->cfg.n_labels;
        char what[160];
        float *batched = gq_test_encoder_logits(t, r, &s, NULL), *single = calloc((size_t)s.n * nl, sizeof *single);
        snprintf(what, sizeof what, "%s cuda batched vs transformers", name);
        if (batched) gq_check_close(t, what, batched, s.logits, (size_t)s.n * nl, GPU_ATOL, 0);
        gq_err err = {{0}};
        for (int k = 0, off = 0; k < s.n; off += s.lens[k++])
            GQ_CHECK(t, gq_encoder_forward(r, s.ids + off, &s.lens[k], &s.seg_a[k], 1, single + (size_t)k * nl, NULL,
                                           &err) == GQ_OK, "%s", err.msg);
        snprintf(what, sizeof what, "%s cuda one at a time vs transformers", name);
        gq_check_close(t, what, single, s.logits, (size_t)s.n * nl, GPU_ATOL, 0);
        snprintf(what, sizeof what, "%s cuda", name);
        gq_test_encoder_hidden(t, what, r, &s, GPU_ATOL, GPU_ATOL);
        free(batched), free(single);
        gq_test_sequences_free(&s);
    }
    gq_encoder_runner_free(r);
    gq_encoder_free(m);
}

/* Logits of the same batch on the CPU and on the GPU. */
static void compare_devices(gq_test_ctx *t, const char *what, gq_encoder_runner *cpu, gq_encoder_runner *gpu,
                            const int32_t *ids, const int *lens, int n, float *cpu_out) {
    int nl = gq_encoder_runner_model(cpu)->cfg.n_labels;
    float *g = malloc((size_t)n * nl * sizeof(float));
    gq_err err = {{0}};
    GQ_CHECK(t, gq_encoder_forward(cpu, ids, lens, NULL, n, cpu_out, NULL, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_encoder_forward(gpu, ids, lens, NULL, n, g, NULL, &err) == GQ_OK, "%s", err.msg);
    gq_check_close(t, what, g, cpu_out, (size_t)n * nl, GPU_ATOL, 0);
    free(g);
}

/* What the hooks saw: per Linear input and hidden state, calls, rows, Σx and Σ|x|. */
enum { MAX_SLOTS = 64 * (GQ_LIN_COUNT + 1) };
typedef struct {
    int calls[MAX_SLOTS], rows[MAX_SLOTS];
    double sum[MAX_SLOTS], abs_sum[MAX_SLOTS];
} seen;

static void record(seen *c, int slot, const float *x, int ntok, int width) {
    if (slot < 0 || slot >= MAX_SLOTS) return;
    c->calls[slot]++, c->rows[slot] += ntok;
    for (size_t i = 0; i < (size_t)ntok * width; i++) c->sum[slot] += x[i], c->abs_sum[slot] += fabs(x[i]);
}

static void on_linear(void *ctx, int layer, gq_lin_kind kind, const float *x, int ntok, int in) {
    record(ctx, layer * (GQ_LIN_COUNT + 1) + (int)kind, x, ntok, in);
}

static void on_hidden(void *ctx, int index, const float *h, int ntok, int dim) {
    record(ctx, index * (GQ_LIN_COUNT + 1) + GQ_LIN_COUNT, h, ntok, dim);
}

static void check_hooks(gq_test_ctx *t, gq_encoder_runner *cpu, gq_encoder_runner *gpu, const int32_t *ids, const int *lens,
                        int n) {
    seen *pa = calloc(1, sizeof *pa), *pb = calloc(1, sizeof *pb); /* large: not on the stack */
    if (!pa || !pb) {
        GQ_CHECK(t, 0, "out of memory");
        free(pa), free(pb);
        return;
    }
    gq_encoder_hooks ha = {pa, on_linear, on_hidden}, hb = {pb, on_linear, on_hidden};
    float la[64], lb[64];
    gq_err err = {{0}};
    GQ_CHECK(t, gq_encoder_forward(cpu, ids, lens, NULL, n, la, &ha, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_encoder_forward(gpu, ids, lens, NULL, n, lb, &hb, &err) == GQ_OK, "%s", err.msg);
    gq_check_close(t, "tiny-a logits with hooks: cuda vs cpu", lb, la, (size_t)n * 2, GPU_ATOL, 0);
    int slots = 0;
    for (int i = 0; i < MAX_SLOTS; i++) {
        if (!pa->calls[i] && !pb->calls[i]) continue;
        slots++;
        GQ_CHECK(t, pa->calls[i] == pb->calls[i] && pa->rows[i] == pb->rows[i],
                 "hook slot %d: cpu %d calls %d rows, cuda %d, %d", i, pa->calls[i], pa->rows[i], pb->calls[i],
                 pb->rows[i]);
        /* per row, GPU_ATOL relative to the row's mean |x| */
        double tol = GPU_ATOL * fmax(1.0, pa->abs_sum[i] / fmax(1, pa->rows[i])) * pa->rows[i];
        GQ_CHECK(t, fabs(pa->abs_sum[i] - pb->abs_sum[i]) <= tol && fabs(pa->sum[i] - pb->sum[i]) <= tol,
                 "hook slot %d: cpu Σx %.9g Σ|x| %.9g, cuda %.9g %.9g", i, pa->sum[i], pa->abs_sum[i], pb->sum[i],
                 pb->abs_sum[i]);
    }
    int want = gq_encoder_runner_model(cpu)->cfg.n_layers * (GQ_LIN_COUNT + 1) + 1;
    GQ_CHECK(t, slots == want, "hooks saw %d Linear inputs and hidden states, want %d", slots, want);
    free(pa), free(pb);
}

/* Lengths around the 32-key tiles and up to the model's 512, and quantization in place. */
static void check_lengths_and_versions(gq_test_ctx *t) {
    static const int LENS[] = {1, 2, 31, 32, 33, 64, 65, 127, 128, 129, 300, 512};
    enum { N = sizeof LENS / sizeof *LENS };
    gq_encoder *m = load_fixture(t, "tiny-a");
    gq_encoder_runner *gpu = m ? open_cuda(m) : NULL, *cpu = m ? gq_encoder_runner_new(m, 1) : NULL;
    GQ_CHECK(t, gpu && cpu, "tiny-a runners");
    if (!gpu || !cpu) goto done;
    int total = 0, lens[N], nl = m->cfg.n_labels;
    for (int i = 0; i < N; i++) total += lens[i] = LENS[i];
    int32_t *ids = malloc((size_t)total * sizeof *ids);
    gq_rng rng;
    gq_rng_seed(&rng, 12);
    for (int i = 0; i < total; i++) ids[i] = 1000 + (int32_t)gq_rng_below(&rng, 20000);
    for (int i = 0, off = 0; i < N; off += lens[i++]) ids[off] = 101; /* [CLS] */
    float fp32[N * 8], quant[N * 8], back[N * 8];
    compare_devices(t, "tiny-a lengths 1..512: cuda vs cpu", cpu, gpu, ids, lens, N, fp32);
    check_hooks(t, cpu, gpu, ids, lens, N);

    gq_quant_session *qs = NULL;
    gq_quant_opts q;
    gq_quant_opts_default(&q, 2);
    gq_quant_budget none = {.k = 0, .p = -1};
    gq_err err = {{0}};
    GQ_CHECK(t, gq_quant_session_new(m, NULL, &qs, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, qs && gq_quant_apply(qs, NULL, &q, &none, NULL, &err) == GQ_OK, "%s", err.msg);
    compare_devices(t, "tiny-a quantized to 2 bits: cuda vs cpu", cpu, gpu, ids, lens, N, quant);
    double moved = 0;
    for (int i = 0; i < N * nl; i++) moved = fmax(moved, fabs(quant[i] - fp32[i]));
    GQ_CHECK(t, moved > 100 * GPU_ATOL,
             "2-bit quantization moved the logits by only %g: the check above proves nothing", moved);
    if (qs) gq_quant_session_restore(qs);
    compare_devices(t, "tiny-a restored: cuda vs cpu", cpu, gpu, ids, lens, N, back);
    gq_check_close(t, "tiny-a restored vs fp32 (cpu)", back, fp32, (size_t)N * nl, 0, 0);
    gq_quant_session_free(qs);
    free(ids);
done:
    gq_encoder_runner_free(gpu), gq_encoder_runner_free(cpu);
    gq_encoder_free(m);
}

/* A whole dev set on both devices. */
static void check_dev_set(gq_test_ctx *t, const char *model_dir, const char *task_name) {
    const gq_glue_task *task = gq_glue_task_find(task_name);
    char *vocab = gq_test_path(t, "assets/vocab/vocab.txt"), *glue = gq_test_path(t, "assets/glue");
    char *tsv = gq_glue_split_path(task, glue, "dev");
    gq_tok *tok = NULL;
    gq_glue_set *set = NULL;
    gq_encoder *m = NULL;
    gq_encoded *enc = NULL;
    gq_err err = {{0}};
    gq_eval_result rc = {0}, rg = {0};
    gq_encoder_runner *cpu = NULL, *gpu = NULL;
    if (gq_tok_load(vocab, &tok, &err) || gq_glue_load(task, tsv, &set, &err) || gq_encoder_load(model_dir, &m, &err) ||
        gq_encode_set(tok, set, 128, &enc, &err)) {
        GQ_CHECK(t, 0, "%s on %s: %s", model_dir, task_name, err.msg);
        goto done;
    }
    cpu = gq_encoder_runner_new(m, 0), gpu = open_cuda(m);
    GQ_CHECK(t, cpu && gpu, "runners");
    if (!cpu || !gpu) goto done;
    GQ_CHECK(t, gq_eval_run(cpu, enc, NULL, NULL, NULL, &rc, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_eval_run(gpu, enc, NULL, NULL, NULL, &rg, &err) == GQ_OK, "%s", err.msg);
    if (!rc.logits || !rg.logits) goto done;
    int nl = rc.n_labels, flips = 0, close_calls = 0;
    double worst = 0;
    for (int i = 0; i < rc.n; i++) {
        const float *a = rc.logits + (size_t)i * nl;
        float margin = INFINITY;
        for (int j = 0; j < nl; j++) {
            worst = fmax(worst, fabs((double)a[j] - rg.logits[(size_t)i * nl + j]));
            if (j != rc.pred[i]) margin = fminf(margin, a[rc.pred[i]] - a[j]);
        }
        if (margin < GPU_ATOL) close_calls++;
        if (rc.pred[i] != rg.pred[i]) {
            flips++;
            printf("  %s %s example %d: cpu predicts %d, cuda %d, cpu margin %.3g\n", gq_basename(model_dir), task_name,
                   i, rc.pred[i], rg.pred[i], margin);
            GQ_CHECK(t, margin < GPU_ATOL, "%s %s example %d: prediction differs with a cpu margin of %g",
                     model_dir, task_name, i, margin);
        }
    }
    printf("%s on %s dev: %d examples, %lld tokens; max |cuda - cpu| logit %.3g; %d predictions differ; %d with a "
           "cpu margin < %g; cpu %.0f tokens/s, cuda %.0f tokens/s\n",
           gq_basename(model_dir), task_name, rc.n, (long long)rc.tokens, worst, flips, close_calls, GPU_ATOL,
           rc.tokens / rc.seconds, rg.tokens / rg.seconds);
    GQ_CHECK(t, worst <= GPU_ATOL, "%s on %s: max logit difference %g over %g", model_dir, task_name, worst, GPU_ATOL);
done:
    gq_eval_result_free(&rc), gq_eval_result_free(&rg);
    gq_encoder_runner_free(cpu), gq_encoder_runner_free(gpu);
    gq_encoded_free(enc), gq_encoder_free(m), gq_glue_free(set), gq_tok_free(tok);
    free(vocab), free(glue), free(tsv);
}

/* The shipped models (mlm-<task>, scratch-<task>) that are present, and the model named by
 * $GLUEQ_CUDA_BASE_MODEL on every task. */
static void check_dev_sets(gq_test_ctx *t) {
    static const char *const KINDS[] = {"mlm", "scratch"}, *const TASKS[] = {"mrpc", "rte", "qnli"};
    int checked = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) {
            char rel[128];
            snprintf(rel, sizeof rel, "assets/models/%s-%s", KINDS[k], TASKS[i]);
            char *dir = gq_test_path(t, rel);
            if (gq_dir_exists(dir)) check_dev_set(t, dir, TASKS[i]), checked++;
            free(dir);
        }
    const char *base = getenv("GLUEQ_CUDA_BASE_MODEL");
    for (int i = 0; base && *base && i < 3; i++) check_dev_set(t, base, TASKS[i]), checked++;
    GQ_CHECK(t, checked > 0, "no shipped model found under %s/assets/models", t->shared);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    /* Skipped only for "built without CUDA" and "no GPU" (unsupported); any other failure
     * to open the runner is a failure of the checks below. */
    gq_encoder *probe = load_fixture(&t, "tiny-b");
    gq_encoder_runner *r = NULL;
    gq_status s = probe ? open_cuda_status(probe, &r) : GQ_ERR_IO;
    gq_encoder_runner_free(r);
    gq_encoder_free(probe);
    if (s == GQ_ERR_UNSUPPORTED) {
        printf("skipped: the CUDA runner cannot run here (see above)\n");
        return SKIP;
    }
    check_fixture(&t, "tiny-a");
    check_fixture(&t, "tiny-b");
    check_encoder_fixture(&t, "bert-uncased");
    check_encoder_fixture(&t, "bert-cased");
    check_encoder_fixture(&t, "roberta");
    check_lengths_and_versions(&t);
    check_dev_sets(&t);
    return gq_test_done(&t);
}
