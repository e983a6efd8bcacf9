/* Forward pass vs PyTorch references (fixtures/tiny-{a,b}/expected.safetensors): logits
 * batched and one at a time, per-layer hidden states of example 0, every checkpoint
 * format, and the errors for bad models and inputs. The last block's FLOP cut (only the
 * [CLS] rows, keys and values folded into their queries, when no hooks observe): logits
 * against PyTorch and against that block computed naively in double, the work done as
 * counted at cblas_sgemm (linked with -Wl,--wrap=cblas_sgemm), and calibration statistics
 * untouched by it. The attention kernel against a naive double attention on odd shapes. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#include <stdatomic.h>

#include "encoder.h"
#include "fast_expf.h"
#include "quant_method.h"
#include "testlib.h"

/* Largest |logit - the last block computed naively in double from the same input| of the
 * cut forward on one thread: measured 1.56e-6 (tiny-a; the full forward's own: 2.07e-6,
 * the float rounding of q_lin, out_lin, the FFN and the classifier, which both share).
 * About 10x that. Two threads cut a batch into parts only without hooks, which alone
 * moves logits by up to 1.7e-6, so the input is the same on one thread only. */
#define CUT_VS_DOUBLE_TOL 1.5e-5
/* Measured against PyTorch (fixtures/tiny-{a,b}, every checkpoint format): hidden states
 * at most 4.8e-6 absolute (values up to ~5), one sequence at a time vs the same sequences
 * batched 7.8e-7. About 10x those; logits: GQ_TEST_LOGIT_ATOL. */
#define HIDDEN_ATOL 5e-5
#define SINGLE_VS_BATCH_ATOL 8e-6

/* FLOPs passed to cblas_sgemm since the last reset, by any thread: the linker routes the
 * forward's calls here (-Wl,--wrap=cblas_sgemm in tests/CMakeLists.txt). */
static atomic_llong sgemm_flops;

void __real_cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                        OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n,
                        OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *a,
                        OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b, OPENBLAS_CONST blasint ldb,
                        OPENBLAS_CONST float beta, float *c, OPENBLAS_CONST blasint ldc);
void __wrap_cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                        OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n,
                        OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *a,
                        OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b, OPENBLAS_CONST blasint ldb,
                        OPENBLAS_CONST float beta, float *c, OPENBLAS_CONST blasint ldc);
void __wrap_cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
                        OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n,
                        OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *a,
                        OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b, OPENBLAS_CONST blasint ldb,
                        OPENBLAS_CONST float beta, float *c, OPENBLAS_CONST blasint ldc) {
    atomic_fetch_add(&sgemm_flops, 2LL * m * n * k);
    __real_cblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

typedef struct {
    int n, T;     /* examples, padded width */
    int32_t *ids; /* concatenated unpadded ids */
    int *lens;
    const gq_tensor *logits;
    gq_ckpt *ck;
} reference;

static void load_reference(gq_test_ctx *t, const char *fixture, reference *ref) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/expected.safetensors", fixture);
    ref->ck = gq_test_load(t, rel);
    const gq_tensor *ids = gq_ckpt_find(ref->ck, "input_ids"), *mask = gq_ckpt_find(ref->ck, "attention_mask");
    ref->logits = gq_ckpt_find(ref->ck, "logits");
    ref->n = (int)ids->shape[0], ref->T = (int)ids->shape[1];
    ref->ids = malloc((size_t)ref->n * ref->T * sizeof *ref->ids);
    ref->lens = calloc((size_t)ref->n, sizeof *ref->lens);
    int k = 0;
    for (int i = 0; i < ref->n; i++)
        for (int j = 0; j < ref->T; j++)
            if (mask->data[i * ref->T + j] != 0) ref->ids[k++] = (int32_t)ids->data[i * ref->T + j], ref->lens[i]++;
}

static void free_reference(reference *ref) {
    free(ref->ids), free(ref->lens);
    gq_ckpt_free(ref->ck);
}

typedef struct {
    float *h[64];
    int ntok[64], dim, keep; /* keep the first `keep` tokens of each hidden state */
} hidden_capture;

static void on_hidden(void *ctx, int index, const float *h, int ntok, int dim) {
    hidden_capture *c = ctx;
    if (index >= 64) return;
    free(c->h[index]);
    int n = ntok < c->keep ? ntok : c->keep;
    c->h[index] = malloc((size_t)n * dim * sizeof(float));
    memcpy(c->h[index], h, (size_t)n * dim * sizeof(float));
    c->ntok[index] = n, c->dim = dim;
}

static void check_model(gq_test_ctx *t, const char *fixture, const char *weights_file) {
    char cfg[512], w[512], what[256];
    snprintf(cfg, sizeof cfg, "%s/fixtures/%s/config.json", t->shared, fixture);
    snprintf(w, sizeof w, "%s/fixtures/%s/%s", t->shared, fixture, weights_file);
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    if (gq_encoder_load_file(cfg, w, &m, &err) != GQ_OK) {
        GQ_CHECK(t, 0, "%s", err.msg);
        return;
    }
    reference ref;
    load_reference(t, fixture, &ref);
    gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
    int nl = m->cfg.n_labels;
    float *logits = malloc((size_t)ref.n * nl * sizeof(float));

    hidden_capture cap = {.keep = ref.lens[0]};
    gq_encoder_hooks hooks = {.ctx = &cap, .hidden = on_hidden};
    GQ_CHECK(t, gq_encoder_forward(r, ref.ids, ref.lens, NULL, ref.n, logits, &hooks, &err) == GQ_OK, "%s", err.msg);
    snprintf(what, sizeof what, "%s/%s batched logits", fixture, weights_file);
    gq_check_close(t, what, logits, ref.logits->data, (size_t)ref.n * nl, GQ_TEST_LOGIT_ATOL, 0);
    for (int i = 0; i <= m->cfg.n_layers; i++) {
        char name[64];
        snprintf(name, sizeof name, "hidden_states.%d", i);
        const gq_tensor *want = gq_ckpt_find(ref.ck, name);
        GQ_CHECK(t, want && want->shape[0] == cap.ntok[i] && want->shape[1] == cap.dim, "%s: shape", name);
        if (!want || want->shape[0] != cap.ntok[i]) continue;
        snprintf(what, sizeof what, "%s/%s %s", fixture, weights_file, name);
        gq_check_close(t, what, cap.h[i], want->data, (size_t)want->numel, HIDDEN_ATOL, 0);
    }

    /* One sequence at a time must agree with the batch (no cross-talk, no padding). */
    float *single = malloc((size_t)ref.n * nl * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < ref.n; i++) {
        gq_encoder_forward(r, ref.ids + off, &ref.lens[i], NULL, 1, single + (size_t)i * nl, NULL, &err);
        off += (size_t)ref.lens[i];
    }
    snprintf(what, sizeof what, "%s/%s one-at-a-time logits", fixture, weights_file);
    gq_check_close(t, what, single, ref.logits->data, (size_t)ref.n * nl, GQ_TEST_LOGIT_ATOL, 0);
    snprintf(what, sizeof what, "%s/%s one-at-a-time vs batched", fixture, weights_file);
    gq_check_close(t, what, single, logits, (size_t)ref.n * nl, SINGLE_VS_BATCH_ATOL, 0);

    for (int i = 0; i < 64; i++) free(cap.h[i]);
    free(single), free(logits);
    gq_encoder_runner_free(r);
    free_reference(&ref);
    gq_encoder_free(m);
}

/* out (dh) <- row i of x (d wide) times rows head·dh .. of lin's W, plus its bias, in double. */
static void head_proj(const gq_linear *lin, const float *xi, int head, int dh, double *out) {
    for (int c = 0; c < dh; c++) {
        const float *w = lin->w + (size_t)(head * dh + c) * lin->in;
        double s = lin->b[head * dh + c];
        for (int k = 0; k < lin->in; k++) s += (double)w[k] * xi[k];
        out[c] = s;
    }
}

/* The attention output of one head for the first nq of a sequence's T rows x (d wide),
 * naively in double: softmax over keys of q_i·k_j/√dh, times v_j; into out (nq rows, d
 * apart, the head's columns). */
static void reference_head(const gq_encoder_layer *L, const float *x, int T, int nq, int d, int head, int dh,
                           double *out) {
    double *q = malloc(sizeof(double) * dh), *k = malloc(sizeof(double) * T * dh), *v = malloc(sizeof(double) * T * dh);
    double *p = malloc(sizeof(double) * T);
    for (int j = 0; j < T; j++) {
        head_proj(&L->lin[GQ_LIN_K], x + (size_t)j * d, head, dh, k + (size_t)j * dh);
        head_proj(&L->lin[GQ_LIN_V], x + (size_t)j * d, head, dh, v + (size_t)j * dh);
    }
    for (int i = 0; i < nq; i++) {
        head_proj(&L->lin[GQ_LIN_Q], x + (size_t)i * d, head, dh, q);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
            p[j] = 0;
            for (int c = 0; c < dh; c++) p[j] += q[c] * k[(size_t)j * dh + c] / sqrt(dh);
            mx = fmax(mx, p[j]);
        }
        for (int j = 0; j < T; j++) sum += (p[j] = exp(p[j] - mx));
        for (int c = 0; c < dh; c++) {
            double o = 0;
            for (int j = 0; j < T; j++) o += p[j] / sum * v[(size_t)j * dh + c];
            out[(size_t)i * d + head * dh + c] = o;
        }
    }
    free(q), free(k), free(v), free(p);
}

/* y (lin->out) <- W x + b in double. */
static void linear_d(const gq_linear *lin, const double *x, double *y) {
    for (int o = 0; o < lin->out; o++) {
        double s = lin->b[o];
        for (int i = 0; i < lin->in; i++) s += (double)lin->w[(size_t)o * lin->in + i] * x[i];
        y[o] = s;
    }
}

static void layer_norm_d(double *x, int d, const float *w, const float *b) {
    double mean = 0, var = 0;
    for (int i = 0; i < d; i++) mean += x[i] / d;
    for (int i = 0; i < d; i++) var += (x[i] - mean) * (x[i] - mean) / d;
    for (int i = 0; i < d; i++) x[i] = (x[i] - mean) / sqrt(var + 1e-12) * w[i] + b[i];
}

/* The logits of one sequence from the last block's input x (its T rows), naively in
 * double: the last block for the first row (SPEC.md §1), then the classifier. */
static void reference_last_block(const gq_encoder *m, const float *x, int T, double *logits) {
    const gq_encoder_config *c = &m->cfg;
    const gq_encoder_layer *L = &m->layers[c->n_layers - 1];
    int d = c->dim, dh = d / c->n_heads, hd = c->hidden_dim;
    double *a = malloc(sizeof(double) * d), *h = malloc(sizeof(double) * d), *f = malloc(sizeof(double) * hd);
    double *y = malloc(sizeof(double) * d);
    for (int head = 0; head < c->n_heads; head++) reference_head(L, x, T, 1, d, head, dh, a);
    linear_d(&L->lin[GQ_LIN_O], a, h);
    for (int i = 0; i < d; i++) h[i] += x[i];
    layer_norm_d(h, d, L->sa_ln_w, L->sa_ln_b);
    linear_d(&L->lin[GQ_LIN_FF1], h, f);
    for (int i = 0; i < hd; i++) f[i] = 0.5 * f[i] * (1 + erf(f[i] / sqrt(2)));
    linear_d(&L->lin[GQ_LIN_FF2], f, y);
    for (int i = 0; i < d; i++) h[i] += y[i];
    layer_norm_d(h, d, L->out_ln_w, L->out_ln_b);
    linear_d(&m->pre, h, y);
    for (int i = 0; i < d; i++) y[i] = fmax(y[i], 0);
    linear_d(&m->cls, y, logits);
    free(a), free(h), free(f), free(y);
}

/* The work a forward should do, from the shapes alone: FLOPs of the sgemms (every Linear
 * and the classifier) and of the rest, either full or with the last block cut to the
 * first token of each sequence, whose attention reads the other tokens' hidden states
 * with the key and value weights folded into the query (no K or V projection at all). */
static double want_sgemm_flops(const gq_encoder_config *c, const int *lens, int nseq, int cut) {
    double d = c->dim, h = c->hidden_dim, f = 0;
    for (int s = 0; s < nseq; s++) {
        double T = lens[s], block = 2 * T * (4 * d * d + 2 * d * h);
        f += c->n_layers * block + 2 * (d * d + d * c->n_labels);
        if (cut) f += -block + 2 * (2 * d * d + 2 * d * h); /* q_lin, out_lin and the FFN on one row */
    }
    return f;
}

/* Outside sgemm: attention, 4·T²·d a block (scores and weighted values); in the cut's
 * last block, per head h, Wk_hᵀ q and Wv_h z (2·d·d_head each) and the scores and z over
 * the T rows (2·T·d each). */
static double want_other_flops(const gq_encoder_config *c, const int *lens, int nseq, int cut) {
    double d = c->dim, f = 0;
    for (int s = 0; s < nseq; s++) {
        double T = lens[s];
        f += 4 * d * T * T * (c->n_layers - cut) + (cut ? 4 * d * d + 4 * T * d * c->n_heads : 0);
    }
    return f;
}

/* Runs a forward and returns the sgemm FLOPs it did. */
static double counted_forward(gq_encoder_runner *r, const reference *ref, float *logits, const gq_encoder_hooks *hk) {
    gq_err err = {{0}};
    atomic_store(&sgemm_flops, 0);
    if (gq_encoder_forward(r, ref->ids, ref->lens, NULL, ref->n, logits, hk, &err) != GQ_OK) return -1;
    return (double)atomic_load(&sgemm_flops);
}

/* Loads fixtures/<fixture> and its PyTorch reference; NULL (a failed check) when the model
 * does not load. The caller frees the model. */
static gq_encoder *load_fixture(gq_test_ctx *t, const char *fixture, reference *ref) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fixtures/%s", t->shared, fixture);
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    if (gq_encoder_load(dir, &m, &err) != GQ_OK) {
        GQ_CHECK(t, 0, "%s", err.msg);
        return NULL;
    }
    load_reference(t, fixture, ref);
    return m;
}

/* Largest |logit| error of a forward against reference_last_block on the fixtures, one
 * thread (where the forward with hooks hands over the very input the cut forward's last
 * block gets). */
static double last_block_error(const gq_encoder *m, const reference *ref, const hidden_capture *cap,
                               const float *logits) {
    int nl = m->cfg.n_labels, d = m->cfg.dim;
    const float *x = cap->h[m->cfg.n_layers - 1];
    double want[16], e = 0;
    for (int s = 0, t0 = 0; s < ref->n && nl <= 16; t0 += ref->lens[s++]) {
        reference_last_block(m, x + (size_t)t0 * d, ref->lens[s], want);
        for (int k = 0; k < nl; k++) e = fmax(e, fabs(logits[(size_t)s * nl + k] - want[k]));
    }
    return e;
}

/* Without hooks the last block does only the CLS rows' work, on one thread or two, and its
 * logits agree with PyTorch's and (on one thread) with the last block computed naively in
 * double from the same input; with a hook it runs in full. */
static void check_flop_cut(gq_test_ctx *t, const char *fixture) {
    reference ref;
    gq_encoder *m = load_fixture(t, fixture, &ref);
    if (!m) return;
    const gq_encoder_config *c = &m->cfg;
    size_t nlog = (size_t)ref.n * c->n_labels;
    float *full = malloc(nlog * sizeof(float)), *cut = malloc(nlog * sizeof(float));
    double want_cut = want_sgemm_flops(c, ref.lens, ref.n, 1), want_full = want_sgemm_flops(c, ref.lens, ref.n, 0);
    hidden_capture cap = {.keep = 1 << 30};
    gq_encoder_hooks observe_hidden = {.ctx = &cap, .hidden = on_hidden};
    for (int threads = 1; threads <= 2; threads++) {
        gq_encoder_runner *r = gq_encoder_runner_new(m, threads);
        double got_full = counted_forward(r, &ref, full, &observe_hidden);
        double got_cut = counted_forward(r, &ref, cut, NULL);
        GQ_CHECK(t, got_full == want_full, "%s, %d thread(s), with hooks: sgemm did %.0f FLOPs, full forward is %.0f",
                 fixture, threads, got_full, want_full);
        GQ_CHECK(t, got_cut == want_cut, "%s, %d thread(s), no hooks: sgemm did %.0f FLOPs, the cut forward %.0f",
                 fixture, threads, got_cut, want_cut);
        char what[128];
        snprintf(what, sizeof what, "%s cut logits vs PyTorch, %d thread(s)", fixture, threads);
        /* measured 3.5e-6 with the cut (tiny-b, 1 thread); the full forward's 3.2e-6 */
        gq_check_close(t, what, cut, ref.logits->data, nlog, GQ_TEST_LOGIT_ATOL, 0);
        double e_torch = 0, e_full = 0;
        for (size_t i = 0; i < nlog; i++)
            e_torch = fmax(e_torch, fabs(cut[i] - ref.logits->data[i])), e_full = fmax(e_full, fabs(cut[i] - full[i]));
        printf("%s, %d thread(s): cut forward %.0f sgemm FLOPs (full %.0f, %.1f%% less); max |logit error| vs "
               "PyTorch %.3g, vs full forward %.3g\n",
               fixture, threads, got_cut, got_full, 100 * (1 - got_cut / got_full), e_torch, e_full);
        if (threads == 1) {
            double e_cut = last_block_error(m, &ref, &cap, cut), e_ref_full = last_block_error(m, &ref, &cap, full);
            GQ_CHECK(t, e_cut <= CUT_VS_DOUBLE_TOL, "%s: cut logits %.3g from the double last block (tolerance %g)",
                     fixture, e_cut, CUT_VS_DOUBLE_TOL);
            printf("%s, 1 thread: max |logit - last block in double from the same input|: cut %.3g, full %.3g\n",
                   fixture, e_cut, e_ref_full);
        }
        gq_encoder_runner_free(r);
    }
    double f_cut = want_cut + want_other_flops(c, ref.lens, ref.n, 1);
    double f_full = want_full + want_other_flops(c, ref.lens, ref.n, 0);
    GQ_CHECK(t, gq_encoder_flops(c, ref.lens, ref.n) == f_cut, "gq_encoder_flops %.0f, want %.0f",
             gq_encoder_flops(c, ref.lens, ref.n), f_cut);
    GQ_CHECK(t, gq_encoder_flops_full(c, ref.lens, ref.n) == f_full, "gq_encoder_flops_full %.0f, want %.0f",
             gq_encoder_flops_full(c, ref.lens, ref.n), f_full);
    for (int i = 0; i < 64; i++) free(cap.h[i]);
    free(full), free(cut);
    free_reference(&ref);
    gq_encoder_free(m);
}

/* Calibration statistics of every Linear over the reference batch. */
static gq_quant_calib *calibrate(gq_test_ctx *t, const gq_encoder *m, const reference *ref) {
    gq_err err = {{0}};
    gq_quant_calib *cal = NULL;
    GQ_CHECK(t, gq_quant_calib_new(&m->cfg, &cal, &err) == GQ_OK, "%s", err.msg);
    gq_encoder_hooks hooks;
    gq_quant_calib_hooks(cal, &hooks);
    gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
    float *logits = malloc((size_t)ref->n * m->cfg.n_labels * sizeof(float));
    GQ_CHECK(t, gq_encoder_forward(r, ref->ids, ref->lens, NULL, ref->n, logits, &hooks, &err) == GQ_OK, "%s", err.msg);
    free(logits);
    gq_encoder_runner_free(r);
    return cal;
}

/* Calibration (hooks on every Linear's input) must see the last block in full. Reference:
 * the same model with its last block repeated once more, whose block n_layers - 1 is no
 * longer the last and so can never be cut; its statistics must equal the model's own. */
static void check_calibration_uncut(gq_test_ctx *t, const char *fixture) {
    reference ref;
    gq_encoder *m = load_fixture(t, fixture, &ref);
    if (!m) return;
    int nl = m->cfg.n_layers;
    gq_encoder longer = *m; /* borrows m's weights: freed by hand below, not with gq_encoder_free */
    longer.cfg.n_layers = nl + 1;
    longer.layers = malloc((size_t)(nl + 1) * sizeof *longer.layers);
    memcpy(longer.layers, m->layers, (size_t)nl * sizeof *longer.layers);
    longer.layers[nl] = m->layers[nl - 1];
    gq_quant_calib *own = calibrate(t, m, &ref), *ref_cal = calibrate(t, &longer, &ref);
    int64_t ntok = 0;
    for (int i = 0; i < ref.n; i++) ntok += ref.lens[i];
    for (int k = 0; k < GQ_LIN_COUNT && own && ref_cal; k++) {
        const gq_lin_stats *a = gq_quant_calib_get(own, nl - 1, k), *b = gq_quant_calib_get(ref_cal, nl - 1, k);
        int same = a->ntok == b->ntok && a->in == b->in && !memcmp(a->abs_sum, b->abs_sum, (size_t)a->in * sizeof(double)) &&
                   !memcmp(a->xtx, b->xtx, (size_t)a->in * a->in * sizeof(double));
        GQ_CHECK(t, same && a->ntok == ntok, "%s last block %s: %lld tokens (want %lld), statistics %s the uncut block's",
                 fixture, gq_lin_name(m->cfg.family, k), (long long)a->ntok, (long long)ntok, same ? "equal" : "differ from");
    }
    gq_quant_calib_free(own), gq_quant_calib_free(ref_cal);
    free(longer.layers);
    free_reference(&ref);
    gq_encoder_free(m);
}

/* The threaded path: with t threads and no hooks, the batch is cut into t parts of whole
 * sequences with about equal token counts, each run by its own thread. The 34 fixture
 * sequences (2009 tokens on tiny-a and tiny-b, 21 to 116 each) give every one of 4 threads
 * several sequences. Each thread count must match PyTorch, and repeated runs must give the
 * same bits. */
/* The fixture's examples `take` (n of them, in order) as one batch through r, each
 * example's logits against PyTorch's. */
static void check_subset(gq_test_ctx *t, gq_encoder_runner *r, const reference *ref, const int *take, int n,
                         const char *what) {
    int nl = gq_encoder_runner_model(r)->cfg.n_labels, ntok = 0, *lens = malloc((size_t)n * sizeof *lens);
    int32_t *ids = malloc((size_t)n * ref->T * sizeof *ids);
    float *got = malloc((size_t)n * nl * sizeof *got), *want = malloc((size_t)n * nl * sizeof *want);
    for (int j = 0; j < n; j++) {
        int e = take[j], off = 0;
        for (int i = 0; i < e; i++) off += ref->lens[i];
        memcpy(ids + ntok, ref->ids + off, (size_t)ref->lens[e] * sizeof *ids);
        memcpy(want + (size_t)j * nl, ref->logits->data + (size_t)e * nl, (size_t)nl * sizeof *want);
        lens[j] = ref->lens[e], ntok += lens[j];
    }
    gq_err err = {{0}};
    GQ_CHECK(t, gq_encoder_forward(r, ids, lens, NULL, n, got, NULL, &err) == GQ_OK, "%s", err.msg);
    gq_check_close(t, what, got, want, (size_t)n * nl, GQ_TEST_LOGIT_ATOL, 0);
    free(lens), free(ids), free(got), free(want);
}

/* A runner keeps its buffers from batch to batch and grows each group (tokens,
 * sequences, the longest sequence) only when a batch outgrows it: here the examples
 * shorter than the longest (tokens and sequences grow), then one longest example alone
 * (only the length grows: 128 against 101 tokens, into a larger 16-key tile), then all of
 * them (the caller's batch: tokens and sequences again). */
static void check_growing_batches(gq_test_ctx *t, gq_encoder_runner *r, const reference *ref, const char *fixture) {
    int longest = 0, *shorter = malloc((size_t)ref->n * sizeof *shorter), nshorter = 0;
    for (int e = 1; e < ref->n; e++) longest = ref->lens[e] > ref->lens[longest] ? e : longest;
    for (int e = 0; e < ref->n; e++)
        if (ref->lens[e] < ref->lens[longest]) shorter[nshorter++] = e;
    char what[128];
    snprintf(what, sizeof what, "%s, reused runner: the %d examples shorter than the longest", fixture, nshorter);
    check_subset(t, r, ref, shorter, nshorter, what);
    snprintf(what, sizeof what, "%s, reused runner: a longest example (%d tokens) alone", fixture,
             ref->lens[longest]);
    check_subset(t, r, ref, &longest, 1, what);
    free(shorter);
}

static void check_threads(gq_test_ctx *t, const char *fixture) {
    char what[128];
    gq_err err = {{0}};
    reference ref;
    gq_encoder *m = load_fixture(t, fixture, &ref);
    if (!m) return;
    size_t nv = (size_t)ref.n * m->cfg.n_labels;
    float *logits = malloc(nv * sizeof(float)), *again = malloc(nv * sizeof(float));
    for (int threads = 1; threads <= 4; threads++) {
        gq_encoder_runner *r = gq_encoder_runner_new(m, threads);
        check_growing_batches(t, r, &ref, fixture);
        GQ_CHECK(t, gq_encoder_forward(r, ref.ids, ref.lens, NULL, ref.n, logits, NULL, &err) == GQ_OK, "%s", err.msg);
        snprintf(what, sizeof what, "%s batched logits, %d threads", fixture, threads);
        gq_check_close(t, what, logits, ref.logits->data, nv, GQ_TEST_LOGIT_ATOL, 0);
        GQ_CHECK(t, gq_encoder_forward(r, ref.ids, ref.lens, NULL, ref.n, again, NULL, &err) == GQ_OK, "%s", err.msg);
        GQ_CHECK(t, !memcmp(logits, again, nv * sizeof(float)), "%s, %d threads: a second run differs", fixture,
                 threads);
        gq_encoder_runner_free(r);
    }
    free(logits), free(again);
    free_reference(&ref);
    gq_encoder_free(m);
}

/* Block 0's input (q_lin's) and attention output (out_lin's input), from the hooks. */
typedef struct {
    float *x, *a;
} block0_capture;

static void capture_block0(void *ctx, int layer, gq_lin_kind kind, const float *x, int ntok, int in) {
    block0_capture *c = ctx;
    float **dst = layer != 0 ? NULL : kind == GQ_LIN_Q ? &c->x : kind == GQ_LIN_O ? &c->a : NULL;
    if (!dst) return;
    free(*dst);
    *dst = malloc((size_t)ntok * in * sizeof(float));
    memcpy(*dst, x, (size_t)ntok * in * sizeof(float));
}

/* Largest |attention output - naive double reference| measured on these random models
 * (outputs up to ~0.5): 9.7e-8 with head dim 12, 4.2e-7 with 40, the float rounding of q,
 * k and v. About 10x that; a misplaced tile or row is off by ~0.1. */
#define ATTENTION_ATOL 4e-6

/* The attention kernel (blocks of query rows, tiles of keys and of value columns) against
 * the naive reference, on shapes the PyTorch fixtures lack: head dimensions of 12 and 40,
 * which are not whole 16-wide tiles, and sequences of 1 to 37 tokens, which end in partial
 * blocks of query rows and partial tiles of keys. Random weights, with q_lin and k_lin
 * scaled up (scores of a few units) so that the softmax is far from uniform. */
static void check_attention_shapes(gq_test_ctx *t) {
    static const int dims[][2] = {{36, 3}, {80, 2}}; /* dim, heads */
    int lens[] = {1, 5, 17, 37}, nseq = 4, ntok = 60;
    int32_t ids[60];
    for (int i = 0; i < ntok; i++) ids[i] = (int32_t)((i * 7919) % 50);
    for (int s = 0; s < 2; s++) {
        gq_encoder_config cfg = {.family = gq_encoder_family_find("distilbert"), .dim = dims[s][0], .n_layers = 1,
                                 .n_heads = dims[s][1], .hidden_dim = 32, .vocab_size = 50, .max_pos = 64,
                                 .ln_eps = 1e-12, .n_labels = 2};
        gq_encoder *m = NULL;
        gq_err err = {{0}};
        GQ_CHECK(t, gq_encoder_random(&cfg, 11, &m, &err) == GQ_OK, "%s", err.msg);
        if (!m) continue;
        int d = cfg.dim, dh = d / cfg.n_heads;
        gq_encoder_layer *L = &m->layers[0];
        for (size_t i = 0; i < (size_t)d * d; i++) L->lin[GQ_LIN_Q].w[i] *= 10, L->lin[GQ_LIN_K].w[i] *= 10;
        block0_capture cap = {0};
        gq_encoder_hooks hooks = {.ctx = &cap, .linear_input = capture_block0};
        gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
        float logits[8], *want = malloc((size_t)ntok * d * sizeof(float));
        double *ref_a = malloc((size_t)ntok * d * sizeof(double));
        GQ_CHECK(t, gq_encoder_forward(r, ids, lens, NULL, nseq, logits, &hooks, &err) == GQ_OK, "%s", err.msg);
        for (int q = 0, t0 = 0; q < nseq; t0 += lens[q++])
            for (int head = 0; head < cfg.n_heads; head++)
                reference_head(L, cap.x + (size_t)t0 * d, lens[q], lens[q], d, head, dh, ref_a + (size_t)t0 * d);
        for (size_t i = 0; i < (size_t)ntok * d; i++) want[i] = (float)ref_a[i];
        char what[96];
        snprintf(what, sizeof what, "attention, head dim %d, lengths 1/5/17/37, vs naive double", dh);
        if (cap.a) gq_check_close(t, what, cap.a, want, (size_t)ntok * d, ATTENTION_ATOL, 0);
        free(cap.x), free(cap.a), free(want), free(ref_a);
        gq_encoder_runner_free(r);
        gq_encoder_free(m);
    }
}

/* Whether gq_expf_nonpositive gives expf's bits for x <= 0, x clamped at -104 as the
 * softmax clamps it. */
static int same_as_expf(float x) {
    float got = gq_expf_nonpositive(x < -104.0f ? -104.0f : x), want = expf(x);
    return !memcmp(&got, &want, sizeof got);
}

/* gq_expf_nonpositive against glibc's expf, bit for bit, on every 1021st float from -0 to
 * -inf (every one with GQ_TEST_EXPF_STRIDE=1: 2.1e9, about 30 s) and on the ends of expf's
 * special cases (0 below -103.97, the least subnormal below -103.28). */
static void check_expf(gq_test_ctx *t) {
    static const float edges[] = {-0.0f, -0x1.9fe368p6f, -0x1.9d1d9ep6f, -104.0f, -87.3f, -1e-30f, -INFINITY};
    const char *env = getenv("GQ_TEST_EXPF_STRIDE");
    uint64_t stride = env && atoi(env) > 0 ? (uint64_t)atoi(env) : 1021;
    long n = 0, differ = 0;
    float first = 0;
    for (uint64_t u = 0x80000000u; u <= 0xff800000u; u += stride, n++) {
        uint32_t bits = (uint32_t)u;
        float x;
        memcpy(&x, &bits, sizeof x);
        if (!same_as_expf(x)) first = differ++ ? first : x;
    }
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++, n++)
        if (!same_as_expf(edges[i])) first = differ++ ? first : edges[i];
    GQ_CHECK(t, differ == 0, "gq_expf_nonpositive differs from expf on %ld of %ld floats (first at %a)", differ, n,
             (double)first);
    printf("gq_expf_nonpositive: %ld floats in [-inf, 0], %ld differ from expf\n", n, differ);
}

/* Writes dir/config.json from the tiny-a config with one key replaced. */
static void write_config(const char *dir, const char *base_cfg, const char *from, const char *to) {
    char *text = NULL;
    gq_read_file(base_cfg, 0, &text, NULL, NULL);
    char *p = strstr(text, from), path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fwrite(text, 1, (size_t)(p - text), f);
    fputs(to, f);
    fputs(p + strlen(from), f);
    fclose(f);
    free(text);
}

static void expect_load_error(gq_test_ctx *t, const char *dir, gq_status want, const char *needle) {
    gq_encoder *m = NULL;
    gq_err err = {{0}};
    gq_status s = gq_encoder_load(dir, &m, &err);
    GQ_CHECK(t, s == want && strstr(err.msg, needle), "want status %d and '%s', got %d: %s", want, needle, s, err.msg);
    GQ_CHECK(t, m == NULL, "no model on failure");
    gq_encoder_free(m);
}

static void check_bad_models(gq_test_ctx *t) {
    char dir[] = "/tmp/gq_forward_XXXXXX", link[600], target[600], cfg[600];
    if (!mkdtemp(dir)) return;
    snprintf(cfg, sizeof cfg, "%s/fixtures/tiny-a/config.json", t->shared);
    snprintf(target, sizeof target, "%s/fixtures/tiny-a/model.safetensors", t->shared);
    snprintf(link, sizeof link, "%s/model.safetensors", dir);
    expect_load_error(t, "/nonexistent/model", GQ_ERR_IO, "not found");
    expect_load_error(t, dir, GQ_ERR_IO, "config.json");
    write_config(dir, cfg, "\"dim\": 64", "\"dim\": 32");
    expect_load_error(t, dir, GQ_ERR_IO, "no model.safetensors");
    GQ_CHECK(t, symlink(target, link) == 0, "symlink");
    expect_load_error(t, dir, GQ_ERR_SHAPE, "'distilbert.embeddings.word_embeddings.weight' has shape [30522,64], config says [30522,32]");
    write_config(dir, cfg, "\"n_layers\": 2", "\"n_layers\": 3");
    expect_load_error(t, dir, GQ_ERR_FORMAT, "missing tensor 'distilbert.transformer.layer.2.attention.q_lin.weight'");
    write_config(dir, cfg, "\"activation\": \"gelu\"", "\"activation\": \"relu\"");
    expect_load_error(t, dir, GQ_ERR_UNSUPPORTED, "activation 'relu'");
    write_config(dir, cfg, "\"model_type\": \"distilbert\"", "\"model_type\": \"bert\"");
    expect_load_error(t, dir, GQ_ERR_UNSUPPORTED, "model_type 'bert'");
    write_config(dir, cfg, "\"n_heads\": 4", "\"n_heads\": 5");
    expect_load_error(t, dir, GQ_ERR_FORMAT, "not a multiple of n_heads");
    write_config(dir, cfg, "{", "[");
    expect_load_error(t, dir, GQ_ERR_FORMAT, "not valid JSON");

    /* Bad inputs to a good model. */
    write_config(dir, cfg, "\"dim\": 64", "\"dim\": 64");
    gq_encoder *m = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_encoder_load(dir, &m, &err) == GQ_OK, "%s", err.msg);
    if (m) {
        gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
        float logits[4];
        int32_t ids[3] = {101, 30522, 102};
        int len = 3, zero = 0, long_len = 513;
        GQ_CHECK(t, gq_encoder_forward(r, ids, &len, NULL, 1, logits, NULL, &err) == GQ_ERR_ARG && strstr(err.msg, "30522"),
                 "id out of range: %s", err.msg);
        GQ_CHECK(t, gq_encoder_forward(r, ids, &zero, NULL, 1, logits, NULL, &err) == GQ_ERR_ARG, "empty sequence");
        GQ_CHECK(t, gq_encoder_forward(r, ids, &long_len, NULL, 1, logits, NULL, &err) == GQ_ERR_ARG && strstr(err.msg, "512"),
                 "too long: %s", err.msg);
        gq_encoder_runner_free(r);
    }
    gq_encoder_free(m);
    unlink(link);
    snprintf(link, sizeof link, "%s/config.json", dir);
    unlink(link);
    rmdir(dir);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_QUIET);
    check_model(&t, "tiny-a", "model.safetensors");
    check_model(&t, "tiny-a", "pytorch_model.bin");
    check_model(&t, "tiny-a", "pytorch_model_legacy.bin");
    check_model(&t, "tiny-b", "model.safetensors");
    check_model(&t, "tiny-b", "pytorch_model.bin");
    check_flop_cut(&t, "tiny-a");
    check_flop_cut(&t, "tiny-b");
    check_calibration_uncut(&t, "tiny-a");
    check_calibration_uncut(&t, "tiny-b");
    check_threads(&t, "tiny-a");
    check_threads(&t, "tiny-b");
    check_attention_shapes(&t);
    check_expf(&t);
    check_bad_models(&t);
    return gq_test_done(&t);
}
