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
 *   - calibration statistics accumulated on the GPU (hooks' linear_stats) against the same
 *     activations copied out and accumulated on the CPU, on tiny-a and the encoder fixtures:
 *     token counts and Σ|x| bit for bit (same order of additions), XᵀX within GPU_XTX_RTOL;
 *     and an awq and a gptq point quantized from either: the same masks, and the same
 *     weights or else predictions identical except where the CPU logit margin is below
 *     GPU_ATOL (listed);
 *   - whole dev sets: every shipped model under assets/models on its task's dev set, and
 *     $GLUEQ_CUDA_BASE_MODEL (e.g. a base-shaped checkpoint), when set, on all three — logits
 *     within GPU_ATOL of the CPU's, and identical predictions except where the CPU's own
 *     logit margin is below GPU_ATOL (those are listed). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "quant_method.h"
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
    gq_encoder_hooks ha = {pa, on_linear, on_hidden, NULL}, hb = {pb, on_linear, on_hidden, NULL};
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

/* ---- calibration statistics on the GPU ---- */

/* Bound on |XᵀX(GPU) − XᵀX(CPU)| / √(XᵀX_ii XᵀX_jj) over the same activations: both add
 * the same exact double products (float × float), in different orders, so the difference
 * is FP64 rounding, about ntok·2⁻⁵³ of Σ|x_i x_j| at worst. Measured on an H100: see the
 * line this test prints. */
static const double GPU_XTX_RTOL = 1e-13;

/* Sequences run as calibration: two forwards (so that the GPU continues the sums it is
 * given), with the hooks as given or, host_copies, without linear_stats (the activations
 * copied out and accumulated on the CPU, as on a CPU runner); their logits into `logits`
 * (n, n_labels). */
typedef struct {
    gq_encoder_runner *r;
    const int32_t *ids;
    const int *lens, *seg_a;
    int n, host_copies;
    float *logits;
} calib_batches;

static gq_status run_batches(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    const calib_batches *b = ctx;
    gq_encoder_hooks h = *hooks;
    if (b->host_copies) h.linear_stats = NULL;
    int half = b->n / 2, off = 0, nl = gq_encoder_runner_model(b->r)->cfg.n_labels;
    for (int i = 0; i < half; i++) off += b->lens[i];
    gq_status s = gq_encoder_forward(b->r, b->ids, b->lens, b->seg_a, half, b->logits, &h, err);
    if (s == GQ_OK)
        s = gq_encoder_forward(b->r, b->ids + off, b->lens + half, b->seg_a ? b->seg_a + half : NULL, b->n - half,
                               b->logits + (size_t)half * nl, &h, err);
    return s;
}

static gq_quant_calib *calibrate(gq_test_ctx *t, const gq_encoder *m, calib_batches *b, int host_copies) {
    gq_quant_calib *c = NULL;
    gq_encoder_hooks hooks;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_quant_calib_new(&m->cfg, &c, &err) == GQ_OK, "%s", err.msg);
    if (!c) return NULL;
    gq_quant_calib_hooks(c, &hooks);
    b->host_copies = host_copies;
    GQ_CHECK(t, run_batches(b, &hooks, &err) == GQ_OK && gq_quant_calib_status(c, &err) == GQ_OK, "%s", err.msg);
    return c;
}

/* One Linear's statistics from the GPU (d) against the host's (h); the worst XᵀX error
 * into *worst. */
static void compare_stats(gq_test_ctx *t, const char *what, const gq_lin_stats *h, const gq_lin_stats *d,
                          double *worst) {
    GQ_CHECK(t, h && d && h->in == d->in, "%s: statistics missing", what);
    if (!h || !d || h->in != d->in) return;
    int in = h->in;
    GQ_CHECK(t, h->ntok == d->ntok && h->ntok > 0, "%s: %lld tokens on the host, %lld on the GPU", what,
             (long long)h->ntok, (long long)d->ntok);
    GQ_CHECK(t, !memcmp(h->abs_sum, d->abs_sum, (size_t)in * sizeof(double)), "%s: sum|x| differs", what);
    double w = 0;
    int lower = 0;
    for (int i = 0; i < in; i++)
        for (int j = 0; j < in; j++) {
            double a = h->xtx[(size_t)i * in + j], b = d->xtx[(size_t)i * in + j];
            if (j < i) {
                lower += b != 0;
                continue;
            }
            double scale = sqrt(h->xtx[(size_t)i * in + i] * h->xtx[(size_t)j * in + j]);
            w = fmax(w, scale > 0 ? fabs(a - b) / scale : (a == b ? 0 : INFINITY));
        }
    GQ_CHECK(t, lower == 0, "%s: %d entries below the diagonal of the GPU's XtX are not 0", what, lower);
    GQ_CHECK(t, w <= GPU_XTX_RTOL, "%s: XtX differs by %.3g of sqrt(XtX_ii XtX_jj) > %.1e", what, w, GPU_XTX_RTOL);
    *worst = fmax(*worst, w);
}

/* The same activations accumulated on the host and on the GPU: the two forwards must be
 * the same bit for bit (identical logits), or the comparison would not be of one input. */
static void check_device_stats(gq_test_ctx *t, const char *name, const gq_encoder *m, calib_batches *b) {
    size_t nlog = (size_t)b->n * m->cfg.n_labels;
    float *first = malloc(nlog * sizeof *first);
    gq_quant_calib *h = calibrate(t, m, b, 1);
    if (first) memcpy(first, b->logits, nlog * sizeof *first);
    gq_quant_calib *d = calibrate(t, m, b, 0);
    GQ_CHECK(t, first && !memcmp(first, b->logits, nlog * sizeof *first),
             "%s: the GPU forward with host copies and with statistics on the GPU differ: not the same activations",
             name);
    free(first);
    double worst = 0;
    long long tokens = 0;
    for (int l = 0; h && d && l < m->cfg.n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            char what[160];
            snprintf(what, sizeof what, "%s layer %d %s statistics: cuda vs host copies", name, l,
                     gq_lin_name(m->cfg.family, (gq_lin_kind)k));
            compare_stats(t, what, gq_quant_calib_get(h, l, (gq_lin_kind)k), gq_quant_calib_get(d, l, (gq_lin_kind)k),
                          &worst);
        }
    if (h && gq_quant_calib_get(h, 0, GQ_LIN_Q)) tokens = gq_quant_calib_get(h, 0, GQ_LIN_Q)->ntok;
    printf("%s: statistics on the GPU over %lld tokens: sum|x| and counts identical, max XtX difference %.3g of "
           "sqrt(XtX_ii XtX_jj) (bound %.0e)\n", name, tokens, worst, GPU_XTX_RTOL);
    gq_quant_calib_free(h), gq_quant_calib_free(d);
}

/* Copies of every quantizable matrix of m, back to back. */
static float *copy_weights(const gq_encoder *m) {
    size_t total = 0, at = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) total += (size_t)m->layers[l].lin[k].out * m->layers[l].lin[k].in;
    float *w = malloc(total * sizeof *w);
    for (int l = 0; w && l < m->cfg.n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            const gq_linear *lin = &m->layers[l].lin[k];
            memcpy(w + at, lin->w, (size_t)lin->out * lin->in * sizeof *w);
            at += (size_t)lin->out * lin->in;
        }
    return w;
}

/* Quantizes with session s (method, algorithm) and returns the weights and the CPU's logits
 * of b's sequences on them; the masks into *mask. */
static float *quantized_point(gq_test_ctx *t, gq_quant_session *s, gq_encoder *m, const char *method,
                              gq_quant_algorithm algo, gq_encoder_runner *cpu, const calib_batches *b, float *logits,
                              uint8_t **mask) {
    gq_quant_opts q;
    gq_quant_opts_default(&q, 3);
    q.algorithm = algo;
    gq_quant_budget bud = {.k = 16, .p = -1};
    gq_quant_scores *sc = NULL;
    gq_err err = {{0}};
    float *w = NULL;
    GQ_CHECK(t, gq_quant_scores_compute(s, method, NULL, &q, &sc, &err) == GQ_OK, "%s: %s", method, err.msg);
    int applied = sc && gq_quant_apply(s, sc, &q, &bud, NULL, &err) == GQ_OK;
    GQ_CHECK(t, applied, "%s: %s", method, err.msg);
    if (applied) {
        w = copy_weights(m);
        size_t total = 0;
        for (int i = 0; i < gq_quant_session_n_mats(s); i++) {
            int rows, cols;
            gq_quant_session_fp32(s, i, &rows, &cols);
            uint8_t *grown = realloc(*mask, total + (size_t)rows * cols);
            if (!grown) break;
            *mask = grown;
            memcpy(*mask + total, gq_quant_session_mask(s, i), (size_t)rows * cols);
            total += (size_t)rows * cols;
        }
        GQ_CHECK(t, gq_encoder_forward(cpu, b->ids, b->lens, b->seg_a, b->n, logits, NULL, &err) == GQ_OK, "%s",
                 err.msg);
    }
    gq_quant_session_restore(s);
    gq_quant_scores_free(sc);
    return w;
}

/* An awq point (rtn) and a gptq point (uniform) quantized from statistics accumulated on
 * the host and on the GPU: the same masks; the same weights, or predictions that differ
 * only where the CPU's logit margin on the host-statistics model is below GPU_ATOL. */
static void check_device_points(gq_test_ctx *t, const char *name, gq_encoder *m, calib_batches *b) {
    static const struct {
        const char *method;
        gq_quant_algorithm algo;
    } POINTS[] = {{"awq", GQ_ALGO_RTN}, {"uniform", GQ_ALGO_GPTQ}, {"awq", GQ_ALGO_GPTQ}};
    gq_encoder_runner *cpu = gq_encoder_runner_new(m, 1);
    calib_batches hb = *b, db = *b;
    hb.host_copies = 1, db.host_copies = 0;
    gq_quant_session *sh = NULL, *sd = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, cpu && gq_quant_session_new(m, NULL, &sh, &err) == GQ_OK &&
                    gq_quant_session_new(m, NULL, &sd, &err) == GQ_OK, "%s", err.msg);
    int nl = m->cfg.n_labels;
    float *lh = malloc((size_t)b->n * nl * sizeof *lh), *ld = malloc((size_t)b->n * nl * sizeof *ld);
    for (size_t p = 0; sh && sd && lh && ld && p < sizeof POINTS / sizeof *POINTS; p++) {
        gq_quant_session_set_calibration(sh, "host", run_batches, &hb);
        gq_quant_session_set_calibration(sd, "device", run_batches, &db);
        uint8_t *mh = NULL, *md = NULL;
        float *wh = quantized_point(t, sh, m, POINTS[p].method, POINTS[p].algo, cpu, &hb, lh, &mh);
        float *wd = quantized_point(t, sd, m, POINTS[p].method, POINTS[p].algo, cpu, &db, ld, &md);
        const char *algo = gq_quant_algorithm_name(POINTS[p].algo);
        size_t total = 0, differ = 0;
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int k = 0; k < GQ_LIN_COUNT; k++) total += (size_t)m->layers[l].lin[k].out * m->layers[l].lin[k].in;
        GQ_CHECK(t, mh && md && !memcmp(mh, md, total), "%s %s %s: the masks differ", name, POINTS[p].method, algo);
        for (size_t i = 0; wh && wd && i < total; i++) differ += memcmp(&wh[i], &wd[i], sizeof *wh) != 0;
        int flips = 0, close = 0;
        for (int i = 0; wh && wd && i < b->n; i++) {
            const float *a = lh + (size_t)i * nl, *g = ld + (size_t)i * nl;
            int pa = 0, pg = 0;
            for (int j = 1; j < nl; j++) pa = a[j] > a[pa] ? j : pa, pg = g[j] > g[pg] ? j : pg;
            float margin = INFINITY;
            for (int j = 0; j < nl; j++)
                if (j != pa) margin = fminf(margin, a[pa] - a[j]);
            close += margin < GPU_ATOL;
            if (pa == pg) continue;
            flips++;
            printf("  %s %s %s sequence %d: host statistics predict %d, GPU statistics %d, cpu margin %.3g\n", name,
                   POINTS[p].method, algo, i, pa, pg, margin);
            GQ_CHECK(t, margin < GPU_ATOL, "%s %s %s sequence %d: prediction differs with a margin of %g", name,
                     POINTS[p].method, algo, i, margin);
        }
        GQ_CHECK(t, wh && wd, "%s %s %s: no quantized weights", name, POINTS[p].method, algo);
        printf("%s %s %s from GPU statistics: masks identical, %zu of %zu weights differ, %d of %d predictions differ "
               "(%d with a margin < %g)\n", name, POINTS[p].method, algo, differ, total, flips, b->n, close, GPU_ATOL);
        free(wh), free(wd), free(mh), free(md);
    }
    free(lh), free(ld);
    gq_quant_session_free(sh), gq_quant_session_free(sd);
    gq_encoder_runner_free(cpu);
}

/* Statistics and points on tiny-a (random ids, over 4096 tokens in each of the two forwards,
 * so that the GPU converts more than one block) and on the encoder fixtures' sequences. */
static void check_calibration_on_gpu(gq_test_ctx *t) {
    enum { N = 96 };
    gq_encoder *m = load_fixture(t, "tiny-a");
    gq_encoder_runner *gpu = m ? open_cuda(m) : NULL;
    if (gpu) {
        int lens[N], total = 0;
        for (int i = 0; i < N; i++) total += lens[i] = 1 + (i * 37) % 200;
        int32_t *ids = malloc((size_t)total * sizeof *ids);
        gq_rng rng;
        gq_rng_seed(&rng, 5);
        for (int i = 0; ids && i < total; i++) ids[i] = 1000 + (int32_t)gq_rng_below(&rng, 20000);
        float *logits = malloc((size_t)N * m->cfg.n_labels * sizeof *logits);
        calib_batches b = {gpu, ids, lens, NULL, N, 0, logits};
        GQ_CHECK(t, ids && logits && total > 2 * 4096, "tiny-a calibration: %d tokens", total);
        if (ids && logits) check_device_stats(t, "tiny-a", m, &b), check_device_points(t, "tiny-a", m, &b);
        free(ids), free(logits);
    }
    gq_encoder_runner_free(gpu);
    gq_encoder_free(m);
    static const char *const ENCODERS[] = {"bert-uncased", "roberta"};
    for (int e = 0; e < 2; e++) {
        gq_encoder *em = gq_test_encoder_load(t, ENCODERS[e]);
        gq_encoder_runner *eg = em ? open_cuda(em) : NULL;
        GQ_CHECK(t, eg != NULL, "%s: no CUDA runner", ENCODERS[e]);
        if (eg) {
            gq_test_sequences s;
            gq_test_sequences_load(t, ENCODERS[e], "", &s);
            float *logits = malloc((size_t)s.n * em->cfg.n_labels * sizeof *logits);
            calib_batches b = {eg, s.ids, s.lens, s.seg_a, s.n, 0, logits};
            if (logits) check_device_stats(t, ENCODERS[e], em, &b), check_device_points(t, ENCODERS[e], em, &b);
            free(logits);
            gq_test_sequences_free(&s);
        }
        gq_encoder_runner_free(eg);
        gq_encoder_free(em);
    }
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
    check_calibration_on_gpu(&t);
    check_dev_sets(&t);
    return gq_test_done(&t);
}
