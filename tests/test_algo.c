/* test_algo: the quantizer algorithms (gptq, awq-scale, SARQC, calibration from quantized)
 * against hand-made cases, their defining properties on real checkpoints, and the numpy
 * references of tests/fixtures/gen/gen_algo_refs.py.
 * `test_algo SHARED GLUEQ mlm` (ctest test_algo_mlm, label slow) runs the checkpoint
 * property on the 6-layer mlm models instead of the unit checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"
#include "checkpoint.h"
#include "testlib.h"

/* Calibration tokens for the checkpoints: random ids (the properties hold for any data). */
#define CAL_SEQS 16
#define CAL_LEN 64

/* ---- helpers ---- */

static void random_matrix(gq_rng *r, float *w, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) w[i] = (float)(scale * gq_rng_normal(r));
}

/* Statistics with XᵀX = c·I over ntok tokens (H = (2c/N)·I before damping). */
static gq_lin_stats *identity_stats(int in, int64_t ntok, double c) {
    gq_lin_stats *s = calloc(1, sizeof *s);
    s->in = in, s->ntok = ntok;
    s->abs_sum = calloc((size_t)in, sizeof *s->abs_sum);
    s->xtx = calloc((size_t)in * in, sizeof *s->xtx);
    for (int j = 0; j < in; j++) s->xtx[(size_t)j * in + j] = c, s->abs_sum[j] = 1.0 * (double)ntok;
    return s;
}

/* Statistics of random correlated inputs X = Z·A (ntok, in), accumulated through calib. */
static gq_quant_calib *random_calib(gq_rng *r, int in, int ntok, gq_encoder_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->n_layers = 1, cfg->dim = in, cfg->hidden_dim = in;
    gq_quant_calib *c = NULL;
    gq_err err = {{0}};
    if (gq_quant_calib_new(cfg, &c, &err) != GQ_OK) return NULL;
    float *a = malloc(sizeof(float) * (size_t)in * in), *z = malloc(sizeof(float) * in), *x = malloc(sizeof(float) * in);
    random_matrix(r, a, (size_t)in * in, 1.0 / sqrt(in));
    for (int j = 0; j < in; j++) a[(size_t)j * in + j] += (float)(1 + j % 5); /* uneven channel scales */
    for (int t = 0; t < ntok; t++) {
        random_matrix(r, z, (size_t)in, 1.0);
        for (int j = 0; j < in; j++) {
            double acc = 0;
            for (int k = 0; k < in; k++) acc += (double)z[k] * a[(size_t)k * in + j];
            x[j] = (float)acc;
        }
        gq_quant_calib_add(c, 0, GQ_LIN_Q, x, 1, in, &err);
    }
    free(a), free(z), free(x);
    return c;
}

static void stats_free(gq_lin_stats *s) {
    if (!s) return;
    free(s->abs_sum), free(s->xtx), free(s);
}

static double calib_err(const float *w, const float *q, int rows, int cols, const gq_lin_stats *st) {
    double e = NAN;
    gq_err err = {{0}};
    gq_quant_calib_error(w, q, rows, cols, st->xtx, &e, &err);
    return e;
}

static int count_diff(const float *a, const float *b, size_t n) {
    int d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], sizeof *a) != 0;
    return d;
}

/* ---- GPTQ with H = I is RTN ---- */

static void test_gptq_identity(gq_test_ctx *t) {
    enum { R = 24, C = 40 };
    gq_rng r;
    gq_rng_seed(&r, 11);
    float w[R * C], rtn[R * C], gptq[R * C];
    uint8_t protect[R * C] = {0};
    random_matrix(&r, w, R * C, 0.05);
    for (int i = 0; i < R * C; i += 37) protect[i] = 1;
    gq_lin_stats *st = identity_stats(C, 200, 100.0);
    const char *grans[] = {"tensor", "row", "group:8"};
    for (int g = 0; g < 3; g++)
        for (int ao = 0; ao < 2; ao++) {
            gq_quant_opts q;
            gq_err err = {{0}};
            gq_quant_opts_default(&q, 3);
            gq_quant_opts_set(&q, "granularity", grans[g], &err);
            gq_quant_matrix(&q, w, R, C, protect, rtn, &err);
            q.algorithm = GQ_ALGO_GPTQ, q.act_order = ao;
            gq_quant_algo_inputs in = {.stats = st};
            GQ_CHECK(t, gq_quant_algo_matrix(&q, w, R, C, protect, &in, gptq, NULL, &err) == GQ_OK, "%s", err.msg);
            int d = count_diff(gptq, rtn, R * C);
            GQ_CHECK(t, d == 0, "gptq with H = I differs from RTN in %d of %d weights (%s, act_order %d)", d, R * C,
                     grans[g], ao);
        }
    printf("ok   gptq with H = I equals RTN bit for bit (tensor/row/group:8, act_order on/off, protected weights)\n");
    stats_free(st);
}

/* ---- protected weights, λ = 0, λ → ∞ on a correlated random case ---- */

static void run_algo(gq_test_ctx *t, gq_quant_opts *q, const float *w, int rows, int cols, const uint8_t *protect,
                     const gq_lin_stats *st, const float *sal, float *out, gq_quant_algo_info *info) {
    gq_err err = {{0}};
    gq_quant_algo_inputs in = {.stats = st, .saliency = sal, .want_calib_err = 1};
    GQ_CHECK(t, gq_quant_algo_matrix(q, w, rows, cols, protect, &in, out, info, &err) == GQ_OK, "%s: %s",
             gq_quant_algorithm_name(q->algorithm), err.msg);
}

static void test_properties(gq_test_ctx *t) {
    enum { R = 48, C = 64 };
    gq_rng r;
    gq_rng_seed(&r, 5);
    gq_encoder_config cfg;
    gq_quant_calib *c = random_calib(&r, C, 400, &cfg);
    const gq_lin_stats *st = gq_quant_calib_get(c, 0, GQ_LIN_Q);
    float *w = malloc(sizeof(float) * R * C), *rtn = malloc(sizeof(float) * R * C), *out = malloc(sizeof(float) * R * C),
          *plain = malloc(sizeof(float) * R * C), *sal = malloc(sizeof(float) * R * C);
    uint8_t *protect = calloc(R * C, 1);
    random_matrix(&r, w, R * C, 0.05);
    for (int i = 0; i < R * C; i++) sal[i] = fabsf(w[i]) + 0.01f * (float)(i % 7);
    for (int i = 0; i < R * C; i += 13) protect[i] = 1;
    gq_err err = {{0}};
    for (int a = GQ_ALGO_GPTQ; a <= GQ_ALGO_AWQ_SCALE; a++) {
        gq_quant_opts q;
        gq_quant_opts_default(&q, 3);
        gq_quant_matrix(&q, w, R, C, protect, rtn, &err);
        q.algorithm = (gq_quant_algorithm)a;
        const char *name = gq_quant_algorithm_name(q.algorithm);
        gq_quant_algo_info info;
        run_algo(t, &q, w, R, C, protect, st, NULL, plain, &info);
        double e_rtn = calib_err(w, rtn, R, C, st), e_plain = calib_err(w, plain, R, C, st);
        int bad = 0;
        for (int i = 0; i < R * C; i++) bad += protect[i] && memcmp(&plain[i], &w[i], sizeof *w);
        GQ_CHECK(t, bad == 0, "%s: %d protected weights changed", name, bad);
        GQ_CHECK(t, e_plain < e_rtn, "%s: calibration error %.6g not below RTN's %.6g", name, e_plain, e_rtn);
        /* λ = 0 with a saliency method is the plain algorithm, bit for bit */
        q.sarqc_lambda = 0;
        run_algo(t, &q, w, R, C, protect, st, sal, out, NULL);
        GQ_CHECK(t, count_diff(out, plain, R * C) == 0, "%s: λ = 0 differs from the plain algorithm", name);
        /* λ → ∞: the weighted weight error Σ S E² never grows with λ (the argmin of f + λg
         * has g non-increasing in λ for awq-scale; gptq's feedback fades to RTN) */
        double lambdas[] = {0, 0.1, 10, 1e9}, prev_dist = INFINITY;
        int prev_diff = R * C + 1;
        for (int l = 0; l < 4; l++) {
            q.sarqc_lambda = lambdas[l];
            run_algo(t, &q, w, R, C, protect, st, sal, out, NULL);
            double dist = 0;
            for (int i = 0; i < R * C; i++) dist += sal[i] * ((double)out[i] - w[i]) * ((double)out[i] - w[i]);
            int d = count_diff(out, rtn, R * C);
            GQ_CHECK(t, dist <= prev_dist * (1 + 1e-12), "%s: λ %g: Σ S E² %.6g grew from %.6g", name, lambdas[l],
                     dist, prev_dist);
            if (a == GQ_ALGO_GPTQ) GQ_CHECK(t, d <= prev_diff, "%s: λ %g: %d weights differ from RTN (was %d)", name, lambdas[l], d, prev_diff);
            prev_dist = dist, prev_diff = d;
        }
        if (a == GQ_ALGO_GPTQ) GQ_CHECK(t, prev_diff == 0, "gptq: λ = 1e9 still differs from RTN in %d weights", prev_diff);
        printf("ok   %s: calibration error %.5g vs RTN %.5g; protected exact; λ = 0 plain; λ → ∞ towards RTN (%d "
               "weights differ at 1e9)\n", name, e_plain, e_rtn, prev_diff);
    }
    free(w), free(rtn), free(out), free(plain), free(sal), free(protect);
    gq_quant_calib_free(c);
}

/* ---- every matrix of real checkpoints: gptq and awq-scale below RTN on calibration data ---- */

static void calibrate_checkpoint(gq_encoder *m, gq_quant_calib *c) {
    gq_encoder_hooks hooks;
    gq_quant_calib_hooks(c, &hooks);
    gq_encoder_runner *run = gq_encoder_runner_new(m, 0);
    gq_rng r;
    gq_rng_seed(&r, 3);
    int32_t ids[CAL_SEQS * CAL_LEN];
    int lens[CAL_SEQS];
    for (int s = 0; s < CAL_SEQS; s++) {
        lens[s] = CAL_LEN;
        for (int i = 0; i < CAL_LEN; i++)
            ids[s * CAL_LEN + i] = i == 0 ? 101 : i == CAL_LEN - 1 ? 102 : 1000 + (int32_t)gq_rng_below(&r, 20000);
    }
    float logits[CAL_SEQS * 8];
    gq_err err = {{0}};
    gq_encoder_forward(run, ids, lens, NULL, CAL_SEQS, logits, &hooks, &err);
    gq_encoder_runner_free(run);
}

static void test_checkpoint(gq_test_ctx *t, const char *rel, int bits) {
    gq_err err = {{0}};
    char *dir = gq_test_path(t, rel);
    gq_encoder *m = NULL;
    if (gq_encoder_load(dir, &m, &err) != GQ_OK) {
        GQ_CHECK(t, 0, "load %s: %s", rel, err.msg);
        free(dir);
        return;
    }
    gq_quant_calib *c = NULL;
    gq_quant_calib_new(&m->cfg, &c, &err);
    calibrate_checkpoint(m, c);
    double worst[3] = {0, 0, 0}; /* largest algo/RTN error ratio per algorithm */
    int n = m->cfg.n_layers * GQ_LIN_COUNT;
    for (int i = 0; i < n; i++) {
        const gq_linear *l = &m->layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT];
        const gq_lin_stats *st = gq_quant_calib_get(c, i / GQ_LIN_COUNT, (gq_lin_kind)(i % GQ_LIN_COUNT));
        size_t sz = (size_t)l->out * l->in;
        float *rtn = malloc(sz * sizeof *rtn), *out = malloc(sz * sizeof *out);
        gq_quant_opts q;
        gq_quant_opts_default(&q, bits);
        gq_quant_matrix(&q, l->w, l->out, l->in, NULL, rtn, &err);
        double e_rtn = calib_err(l->w, rtn, l->out, l->in, st);
        for (int a = GQ_ALGO_GPTQ; a <= GQ_ALGO_AWQ_SCALE; a++) {
            q.algorithm = (gq_quant_algorithm)a;
            gq_quant_algo_info info;
            run_algo(t, &q, l->w, l->out, l->in, NULL, st, NULL, out, &info);
            double e = calib_err(l->w, out, l->out, l->in, st);
            /* awq-scale may keep α = 0 (exactly RTN); gptq must improve */
            int ok = a == GQ_ALGO_GPTQ ? e < e_rtn : e <= e_rtn;
            GQ_CHECK(t, ok, "%s layer %d %s: %s calibration error %.6g vs RTN %.6g", rel, i / GQ_LIN_COUNT,
                     gq_lin_name(m->cfg.family, (gq_lin_kind)(i % GQ_LIN_COUNT)), gq_quant_algorithm_name(q.algorithm), e,
                     e_rtn);
            if (e / e_rtn > worst[a]) worst[a] = e / e_rtn;
        }
        free(rtn), free(out);
    }
    printf("ok   %s int%d: on all %d matrices gptq's calibration error < RTN's (worst ratio %.3f), awq-scale's <= "
           "(worst %.3f)\n", rel, bits, n, worst[GQ_ALGO_GPTQ], worst[GQ_ALGO_AWQ_SCALE]);
    gq_quant_calib_free(c);
    gq_encoder_free(m);
    free(dir);
}

/* ---- calibration from quantized: a hand-made two-step reference on tiny-a ---- */

typedef struct {
    gq_encoder_runner *r;
    int calls;
} seq_ctx;

static const int32_t SEQ_IDS[24] = {101, 1996, 4937, 2003, 2006, 1996, 13523, 102, 2009, 2001, 2204, 102,
                                    101, 2023, 2003, 1037, 3231, 1012, 102, 7592, 2088, 2017, 1012, 102};
static const int SEQ_LENS[3] = {8, 4, 12};

static gq_status seq_forward(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    seq_ctx *c = ctx;
    float logits[3 * 8];
    c->calls++;
    return gq_encoder_forward(c->r, SEQ_IDS, SEQ_LENS, NULL, 3, logits, hooks, err);
}

/* Statistics of every Linear of m's current weights on SEQ_IDS. */
static gq_quant_calib *stats_now(gq_encoder *m, gq_encoder_runner *r) {
    gq_quant_calib *c = NULL;
    gq_err err = {{0}};
    gq_quant_calib_new(&m->cfg, &c, &err);
    gq_encoder_hooks hooks;
    gq_quant_calib_hooks(c, &hooks);
    seq_ctx sc = {r, 0};
    seq_forward(&sc, &hooks, &err);
    return c;
}

/* Two copies of tiny-a, each with a one-thread runner: a session's model and a reference. */
typedef struct {
    gq_encoder *m, *ref;
    gq_encoder_runner *r, *rr;
} twin_models;

static int twin_load(gq_test_ctx *t, twin_models *tw) {
    gq_err err = {{0}};
    char *dir = gq_test_path(t, "fixtures/tiny-a");
    memset(tw, 0, sizeof *tw);
    int ok = gq_encoder_load(dir, &tw->m, &err) == GQ_OK && gq_encoder_load(dir, &tw->ref, &err) == GQ_OK;
    free(dir);
    GQ_CHECK(t, ok, "load tiny-a: %s", err.msg);
    if (!ok) {
        gq_encoder_free(tw->m), gq_encoder_free(tw->ref);
        return 0;
    }
    tw->r = gq_encoder_runner_new(tw->m, 1), tw->rr = gq_encoder_runner_new(tw->ref, 1);
    return 1;
}

static void twin_free(twin_models *tw) {
    gq_encoder_runner_free(tw->r), gq_encoder_runner_free(tw->rr);
    gq_encoder_free(tw->m), gq_encoder_free(tw->ref);
}

static void test_from_quantized(gq_test_ctx *t) {
    gq_err err = {{0}};
    twin_models tw;
    if (!twin_load(t, &tw)) return;
    gq_encoder *m = tw.m, *ref = tw.ref;
    gq_encoder_runner *r = tw.r, *rr = tw.rr;
    gq_quant_session *s = NULL;
    gq_quant_session_new(m, NULL, &s, &err);
    seq_ctx sc = {r, 0};
    gq_quant_session_set_calibration(s, "seq-ids", seq_forward, &sc);
    gq_quant_opts q;
    gq_quant_opts_default(&q, 3);
    q.algorithm = GQ_ALGO_GPTQ;
    int nl = m->cfg.n_layers, nm = nl * GQ_LIN_COUNT;
    /* from fp32, then from quantized; keep both results */
    float *fp32_based[GQ_LIN_COUNT * 2], *seq_based[GQ_LIN_COUNT * 2];
    for (int pass = 0; pass < 2; pass++) {
        q.calib_from_quantized = pass;
        GQ_CHECK(t, gq_quant_apply(s, NULL, &q, NULL, NULL, &err) == GQ_OK, "apply: %s", err.msg);
        for (int i = 0; i < nm && i < GQ_LIN_COUNT * 2; i++) {
            const gq_linear *l = &m->layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT];
            float **dst = pass ? seq_based : fp32_based;
            dst[i] = malloc((size_t)l->out * l->in * sizeof(float));
            memcpy(dst[i], l->w, (size_t)l->out * l->in * sizeof(float));
        }
    }
    GQ_CHECK(t, sc.calls == 1 + nl, "calibration forwards: %d (want 1 FP32 + %d layer by layer)", sc.calls, nl);
    /* the reference: layer 0 on FP32 inputs, then layer 1 on the inputs of that model */
    int diff_ref = 0, diff_fp32_l0 = 0, diff_fp32_l1 = 0;
    for (int l = 0; l < 2 && l < nl; l++) {
        gq_quant_calib *c = stats_now(ref, rr);
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            gq_linear *lin = &ref->layers[l].lin[k];
            size_t n = (size_t)lin->out * lin->in;
            float *w = malloc(n * sizeof *w);
            memcpy(w, lin->w, n * sizeof *w);
            gq_quant_algo_inputs in = {.stats = gq_quant_calib_get(c, l, (gq_lin_kind)k)};
            q.calib_from_quantized = 0;
            gq_quant_algo_matrix(&q, w, lin->out, lin->in, NULL, &in, lin->w, NULL, &err);
            diff_ref += count_diff(lin->w, seq_based[l * GQ_LIN_COUNT + k], n);
            int d = count_diff(fp32_based[l * GQ_LIN_COUNT + k], seq_based[l * GQ_LIN_COUNT + k], n);
            if (l == 0) diff_fp32_l0 += d;
            else diff_fp32_l1 += d;
            free(w);
        }
        gq_quant_calib_free(c);
    }
    GQ_CHECK(t, diff_ref == 0, "from quantized differs from the two-step reference in %d weights", diff_ref);
    GQ_CHECK(t, diff_fp32_l0 == 0, "layer 0 sees FP32 inputs either way, yet %d weights differ", diff_fp32_l0);
    GQ_CHECK(t, diff_fp32_l1 > 0, "layer 1: from quantized gave the same weights as from fp32");
    printf("ok   calibration from quantized = the two-step reference (layer 0 on FP32 inputs, layer 1 on the "
           "quantized layer 0's); layer 1 differs from fp32 calibration in %d weights\n", diff_fp32_l1);
    for (int i = 0; i < nm && i < GQ_LIN_COUNT * 2; i++) free(fp32_based[i]), free(seq_based[i]);
    gq_quant_session_free(s);
    twin_free(&tw);
}

/* ---- the session's factor cache never serves a stale factor ---- */

/* The first two sequences of SEQ_IDS: other calibration data, other statistics. */
static gq_status seq_forward_short(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    seq_ctx *c = ctx;
    float logits[2 * 8];
    c->calls++;
    return gq_encoder_forward(c->r, SEQ_IDS, SEQ_LENS, NULL, 2, logits, hooks, err);
}

/* One apply of the sequence below: opts as `key=value` pairs, the calibration data, and
 * rosaq's rotation (NULL: no method). */
typedef struct {
    const char *what, *opts;
    int short_calib;
    const char *rosaq;
} cache_step;

/* rosaq's budget in the steps: a few columns of every matrix */
#define CACHE_ROSAQ_K 256

/* Each step's options start from int3 gptq with damp 0.01; a step changes what a cached
 * factor depends on (the statistics, act_order, damping, SARQC's term, the algorithm) or
 * what it must not depend on (bits, calibration from quantized in between). */
static const cache_step CACHE_STEPS[] = {
    {"gptq", "", 0, NULL},
    {"gptq int4 (other bits: same factors)", "bits=4", 0, NULL},
    {"gptq act_order", "act_order=true", 0, NULL},
    {"gptq damp 0.1", "damp=0.1", 0, NULL},
    {"gptq SARQC lambda 1", "sarqc_lambda=1,sarqc_saliency=magnitude", 0, NULL},
    {"awq-scale", "algorithm=awq-scale", 0, NULL},
    {"awq-scale from quantized", "algorithm=awq-scale,calib_from=quantized", 0, NULL},
    {"gptq from quantized", "calib_from=quantized", 0, NULL},
    {"awq-scale on other calibration data", "algorithm=awq-scale", 1, NULL},
    {"gptq on other calibration data", "", 1, NULL},
    /* rosaq pca quantizes in its PCA basis, whose statistics are not the matrix's: its
     * factors must not be taken for the plain statistics' (awq-scale's key has no diagonal) */
    {"awq-scale, rosaq pca", "algorithm=awq-scale", 1, "pca"},
    {"gptq, rosaq pca", "", 1, "pca"},
    {"awq-scale, rosaq none (the plain statistics)", "algorithm=awq-scale", 1, "none"},
    {"awq-scale, rosaq pca again", "algorithm=awq-scale", 1, "pca"},
};

static void step_opts(gq_test_ctx *t, const cache_step *c, gq_quant_opts *q) {
    gq_err err = {{0}};
    gq_quant_opts_default(q, 3);
    q->algorithm = GQ_ALGO_GPTQ;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", c->opts);
    for (char *kv = strtok(buf, ","); kv; kv = strtok(NULL, ",")) {
        char *eq = strchr(kv, '=');
        *eq = 0;
        GQ_CHECK(t, gq_quant_opts_set(q, kv, eq + 1, &err) == GQ_OK, "%s: %s", c->what, err.msg);
    }
}

/* Sets the calibration of step c on s, whose model is run by ctx's runner. */
static void step_calibration(gq_quant_session *s, const cache_step *c, seq_ctx *ctx) {
    gq_quant_session_set_calibration(s, c->short_calib ? "seq-ids-short" : "seq-ids",
                                     c->short_calib ? seq_forward_short : seq_forward, ctx);
}

/* Applies step c's options q on s, through rosaq when the step names a rotation. */
static gq_status step_apply(gq_quant_session *s, const cache_step *c, const gq_quant_opts *q, gq_err *err) {
    if (!c->rosaq) return gq_quant_apply(s, NULL, q, NULL, NULL, err);
    gq_method_opts mo = {0};
    gq_quant_scores *sc = NULL;
    gq_quant_budget b = {.k = CACHE_ROSAQ_K, .p = -1};
    gq_status st = gq_method_opts_set(&mo, "rotation", c->rosaq, err);
    if (st == GQ_OK) st = gq_quant_scores_compute(s, "rosaq", &mo, q, &sc, err);
    if (st == GQ_OK) st = gq_quant_apply(s, sc, q, &b, NULL, err);
    gq_quant_scores_free(sc);
    return st;
}

/* Weights of m that differ from those of ref. */
static int model_diff(const gq_encoder *m, const gq_encoder *ref) {
    int d = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            const gq_linear *a = &m->layers[l].lin[k], *b = &ref->layers[l].lin[k];
            d += count_diff(a->w, b->w, (size_t)a->out * a->in);
        }
    return d;
}

/* One session runs every step in turn, keeping its factors; each step's weights must be
 * exactly those of a fresh session (no factors yet) given the same step. */
static void test_factor_cache(gq_test_ctx *t) {
    gq_err err = {{0}};
    twin_models tw;
    if (!twin_load(t, &tw)) return;
    gq_encoder *m = tw.m, *ref = tw.ref;
    seq_ctx sc = {tw.r, 0}, rc = {tw.rr, 0};
    gq_quant_session *s = NULL;
    gq_quant_session_new(m, NULL, &s, &err);
    int n_steps = (int)(sizeof CACHE_STEPS / sizeof CACHE_STEPS[0]), total = 0;
    size_t bytes[sizeof CACHE_STEPS / sizeof CACHE_STEPS[0]];
    for (int i = 0; i < n_steps; i++) {
        const cache_step *c = &CACHE_STEPS[i];
        gq_quant_opts q;
        step_opts(t, c, &q);
        if (!i || c->short_calib != CACHE_STEPS[i - 1].short_calib) step_calibration(s, c, &sc);
        GQ_CHECK(t, step_apply(s, c, &q, &err) == GQ_OK, "%s: %s", c->what, err.msg);
        bytes[i] = gq_quant_session_factor_bytes(s);
        gq_quant_session *fresh = NULL;
        gq_quant_session_new(ref, NULL, &fresh, &err);
        step_calibration(fresh, c, &rc);
        GQ_CHECK(t, step_apply(fresh, c, &q, &err) == GQ_OK, "%s (fresh): %s", c->what, err.msg);
        int d = model_diff(m, ref);
        GQ_CHECK(t, d == 0, "%s: %d weights differ from a fresh session's (a stale factor)", c->what, d);
        total += d;
        gq_quant_session_restore(fresh);
        gq_quant_session_free(fresh);
        gq_quant_session_restore(s);
    }
    /* the cache was used: other bits found the factors of the first step */
    GQ_CHECK(t, bytes[0] > 0 && bytes[1] == bytes[0], "factor bytes %zu after gptq, %zu after gptq int4 (want equal, > 0)",
             bytes[0], bytes[1]);
    /* and rosaq's applies kept and found their own: a second rosaq pca apply adds nothing */
    GQ_CHECK(t, bytes[n_steps - 4] > bytes[n_steps - 5] && bytes[n_steps - 1] == bytes[n_steps - 2],
             "factor bytes around the rosaq steps: %zu, %zu, ..., %zu, %zu (want growth at the first, none at the last)",
             bytes[n_steps - 5], bytes[n_steps - 4], bytes[n_steps - 2], bytes[n_steps - 1]);
    /* a bound below one apply's factors keeps what fits, and the weights stay the same */
    gq_quant_opts q;
    step_opts(t, &CACHE_STEPS[0], &q);
    size_t bound = bytes[0] / 3;
    step_calibration(s, &CACHE_STEPS[0], &sc);
    gq_quant_session_set_factor_cache(s, bound);
    for (int rep = 0; rep < 2; rep++) {
        GQ_CHECK(t, gq_quant_apply(s, NULL, &q, NULL, NULL, &err) == GQ_OK, "bounded: %s", err.msg);
        GQ_CHECK(t, gq_quant_session_factor_bytes(s) <= bound, "bound %zu, held %zu", bound,
                 gq_quant_session_factor_bytes(s));
        gq_quant_session *fresh = NULL;
        gq_quant_session_new(ref, NULL, &fresh, &err);
        step_calibration(fresh, &CACHE_STEPS[0], &rc);
        gq_quant_apply(fresh, NULL, &q, NULL, NULL, &err);
        int d = model_diff(m, ref);
        GQ_CHECK(t, d == 0, "bounded cache, apply %d: %d weights differ from a fresh session's", rep + 1, d);
        gq_quant_session_restore(fresh);
        gq_quant_session_free(fresh);
    }
    printf("ok   factor cache: %d applies (act_order, damp, SARQC, awq-scale, from quantized, other calibration "
           "data, rosaq's PCA basis) give a fresh session's weights (%d differ); %zu bytes of factors\n", n_steps,
           total, bytes[0]);
    gq_quant_session_free(s);
    twin_free(&tw);
}

/* ---- numpy references (tests/fixtures/gen/gen_algo_refs.py; keep CASES in step) ---- */

typedef struct {
    const char *name, *algorithm;
    int bits;
    const char *scheme, *granularity;
    int act_order, protect_every;
    double sarqc_lambda;
    const char *inputs;
} ref_case;

static const ref_case CASES[] = {
    {"gptq_t3", "gptq", 3, "symmetric", "tensor", 0, 0, 0.0, "x1"},
    {"gptq_g4_ao_p", "gptq", 4, "symmetric", "group:8", 1, 11, 0.0, "x1"},
    {"gptq_r3_p_sarqc", "gptq", 3, "symmetric", "row", 0, 17, 0.5, "x1"},
    {"gptq_t3_asym_dead", "gptq", 3, "asymmetric", "tensor", 1, 13, 0.0, "x2"},
    {"gptq_g32_4_wide_ao_p", "gptq", 4, "symmetric", "group:32", 1, 29, 0.0, "x3"},
    {"awq_t3_p", "awq-scale", 3, "symmetric", "tensor", 0, 11, 0.0, "x1"},
    {"awq_g4", "awq-scale", 4, "symmetric", "group:8", 0, 0, 0.0, "x1"},
    {"awq_r3_sarqc_dead", "awq-scale", 3, "symmetric", "row", 0, 0, 0.2, "x2"},
};

static const gq_tensor *ref_tensor(gq_test_ctx *t, const gq_ckpt *ck, const char *c, const char *what, int64_t numel) {
    char name[96];
    snprintf(name, sizeof name, "%s%s%s", c, *c ? "." : "", what);
    const gq_tensor *x = gq_ckpt_find(ck, name);
    GQ_CHECK(t, x && x->numel == numel, "algo_refs: tensor %s missing or of the wrong size", name);
    return x && x->numel == numel ? x : NULL;
}

static void test_numpy_refs(gq_test_ctx *t) {
    gq_ckpt *ck = NULL;
    gq_err err = {{0}};
    const char *path = GQ_SOURCE_DIR "/tests/fixtures/gen/results/algo_refs.safetensors";
    if (gq_ckpt_load(path, &ck, &err) != GQ_OK) {
        GQ_CHECK(t, 0, "%s", err.msg);
        return;
    }
    int rows = 24, total_diff = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const ref_case *rc = &CASES[i];
        const gq_tensor *x = gq_ckpt_find(ck, rc->inputs);
        GQ_CHECK(t, x && x->ndim == 2, "algo_refs: inputs %s missing", rc->inputs);
        if (!x || x->ndim != 2) continue;
        int ntok = (int)x->shape[0], cols = (int)x->shape[1];
        size_t n = (size_t)rows * cols;
        const gq_tensor *w = ref_tensor(t, ck, rc->name, "w", (int64_t)n);
        const gq_tensor *pr = ref_tensor(t, ck, rc->name, "protect", (int64_t)n);
        const gq_tensor *sal = ref_tensor(t, ck, rc->name, "saliency", (int64_t)n);
        const gq_tensor *want = ref_tensor(t, ck, rc->name, "out", (int64_t)n);
        const gq_tensor *alpha = ref_tensor(t, ck, rc->name, "alpha", 1);
        if (!x || !w || !pr || !sal || !want || !alpha) continue;
        gq_encoder_config cfg = {.n_layers = 1, .dim = cols, .hidden_dim = cols};
        gq_quant_calib *c = NULL;
        gq_quant_calib_new(&cfg, &c, &err);
        gq_quant_calib_add(c, 0, GQ_LIN_Q, x->data, ntok, cols, &err);
        uint8_t *protect = malloc(n);
        float *out = malloc(n * sizeof *out);
        for (size_t j = 0; j < n; j++) protect[j] = pr->data[j] != 0;
        gq_quant_opts q;
        gq_quant_opts_default(&q, rc->bits);
        char lam[32];
        snprintf(lam, sizeof lam, "%.17g", rc->sarqc_lambda);
        gq_quant_opts_set(&q, "scheme", rc->scheme, &err);
        gq_quant_opts_set(&q, "granularity", rc->granularity, &err);
        gq_quant_opts_set(&q, "algorithm", rc->algorithm, &err);
        gq_quant_opts_set(&q, "sarqc_lambda", lam, &err);
        q.act_order = rc->act_order;
        gq_quant_algo_info info;
        run_algo(t, &q, w->data, rows, cols, protect, gq_quant_calib_get(c, 0, GQ_LIN_Q),
                 rc->sarqc_lambda > 0 ? sal->data : NULL, out, &info);
        int d = count_diff(out, want->data, n);
        total_diff += d;
        GQ_CHECK(t, d == 0, "%s: %d of %zu weights differ from the numpy reference", rc->name, d, n);
        GQ_CHECK(t, (float)info.awq_alpha == alpha->data[0], "%s: alpha %g, numpy %g", rc->name, info.awq_alpha,
                 (double)alpha->data[0]);
        free(protect), free(out);
        gq_quant_calib_free(c);
    }
    printf("ok   numpy references (gen_algo_refs.py): %zu cases of gptq/awq-scale/SARQC, %d weights differ\n",
           sizeof CASES / sizeof CASES[0], total_diff);
    gq_ckpt_free(ck);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_WARN);
    if (argc > 3 && !strcmp(argv[3], "mlm")) { /* test_algo_mlm (slow): the 6-layer mlm models */
        test_checkpoint(&t, "assets/models/mlm-rte", 3);
        test_checkpoint(&t, "assets/models/mlm-mrpc", 4);
        return gq_test_done(&t);
    }
    test_gptq_identity(&t);
    test_properties(&t);
    test_numpy_refs(&t);
    test_from_quantized(&t);
    test_factor_cache(&t);
    test_checkpoint(&t, "fixtures/tiny-a", 3);
    test_checkpoint(&t, "fixtures/tiny-b", 3);
    return gq_test_done(&t);
}
