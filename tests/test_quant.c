/* test_quant: the quantizer against the PyTorch references (fixtures quant_refs) and
 * hand-computed cases, top-k ties, AWQ/SpQR scores against hand-computed values (numpy,
 * FP64), the session's budgets, accounting, overlap and disk cache (including a corrupt
 * entry), and an end-to-end run on the tiny-a checkpoint.
 *
 * With GLUEQ_BENCH=1 it also times svd scores for DistilBERT-base-shaped matrices. */
#define _POSIX_C_SOURCE 200809L
#include "quant.h"
#include "quant_method.h"
#include "testlib.h"
#include "testmodel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* SVD scores (FP32) against quant_refs' FP64 scores: measured at most 7.5e-9 absolute, one
 * float ulp of an entry, which is 1.3e-8 of the matrix's largest score (most matrices
 * match exactly). About 10x that, relative to the largest score: */
#define SVD_SCORE_RTOL_OF_MAX 1.5e-7

/* ---- helpers ---- */

static double mse(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}

/* ---- quantizer vs fixtures ---- */

static void test_quant_refs(gq_test_ctx *t, const char *dir) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/model.safetensors", dir);
    gq_ckpt *model = gq_test_load(t, rel);
    snprintf(rel, sizeof rel, "%s/quant_refs.safetensors", dir);
    gq_ckpt *refs = gq_test_load(t, rel);
    int n_mats = 0, n_svd = 0;
    for (int i = 0; i < refs->n; i++) {
        const gq_tensor *ref = &refs->tensors[i];
        char base[256];
        const char *tag = strstr(ref->name, ".sym_int");
        const char *svd = strstr(ref->name, ".svd_score_r8");
        const char *cut = tag ? tag : svd;
        if (!cut) continue;
        snprintf(base, sizeof base, "%.*s", (int)(cut - ref->name), ref->name);
        const gq_tensor *w = gq_ckpt_find(model, base);
        GQ_CHECK(t, w && w->ndim == 2 && w->numel == ref->numel, "%s: weight %s missing or mis-shaped", dir, base);
        if (!w || w->numel != ref->numel) continue;
        int rows = (int)w->shape[0], cols = (int)w->shape[1];
        float *out = malloc((size_t)w->numel * sizeof *out);
        if (tag) {
            int bits = atoi(tag + 8);
            gq_quant_opts q;
            gq_quant_opts_default(&q, bits);
            gq_err err = {{0}};
            GQ_CHECK(t, gq_quant_matrix(&q, w->data, rows, cols, NULL, out, &err) == GQ_OK, "%s", err.msg);
            /* the scale, recomputed to excuse entries that sit on a rounding tie */
            double mean = 0, ss = 0;
            for (int64_t j = 0; j < w->numel; j++) mean += w->data[j];
            mean /= (double)w->numel;
            for (int64_t j = 0; j < w->numel; j++) ss += (w->data[j] - mean) * (w->data[j] - mean);
            double s = 2.5 * sqrt(ss / (double)w->numel) / ((1 << (bits - 1)) - 1);
            int64_t bad = 0, excused = 0;
            for (int64_t j = 0; j < w->numel; j++) {
                if (out[j] == ref->data[j]) continue;
                double x = w->data[j] / s;
                if (fabs(x - (floor(x) + 0.5)) < 1e-6) {
                    excused++;
                    continue;
                }
                if (bad++ < 3)
                    fprintf(stderr, "  %s[%lld]: got %.9g want %.9g\n", ref->name, (long long)j, out[j], ref->data[j]);
            }
            GQ_CHECK(t, bad == 0, "%s %s: %lld of %lld entries differ (%lld excused ties)", dir, ref->name,
                     (long long)bad, (long long)w->numel, (long long)excused);
            n_mats++;
        } else {
            const gq_method *m = gq_method_find("svd");
            gq_method_opts ro;
            gq_err err = {{0}};
            GQ_CHECK(t, gq_method_resolve(m, NULL, &ro, &err) == GQ_OK, "%s", err.msg);
            gq_quant_opts q;
            gq_quant_opts_default(&q, 4);
            gq_method_args a = {.w = w->data, .rows = rows, .cols = cols, .opts = &ro, .quant = &q};
            GQ_CHECK(t, gq_method_score_matrix(m, &a, out, &err) == GQ_OK, "%s", err.msg);
            float mx = 0;
            for (int64_t j = 0; j < w->numel; j++) mx = fmaxf(mx, ref->data[j]);
            char what[300];
            snprintf(what, sizeof what, "%s %s (atol %.1e x max %.3g)", dir, ref->name, SVD_SCORE_RTOL_OF_MAX, mx);
            gq_check_close(t, what, out, ref->data, (size_t)w->numel, SVD_SCORE_RTOL_OF_MAX * mx, 0);
            n_svd++;
        }
        free(out);
    }
    GQ_CHECK(t, n_mats > 0 && n_svd > 0, "%s: no quant_refs found (%d quantized, %d svd)", dir, n_mats, n_svd);
    printf("ok   %s: %d quantized matrices, %d svd score matrices compared\n", dir, n_mats, n_svd);
    gq_ckpt_free(model);
    gq_ckpt_free(refs);
}

/* ---- quantizer: hand-computed cases ---- */

static void quant_case(gq_test_ctx *t, const char *what, const char *const *opts, const float *w, int rows, int cols,
                       const uint8_t *protect, const float *want) {
    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    gq_err err = {{0}};
    for (int i = 0; opts[i]; i += 2)
        GQ_CHECK(t, gq_quant_opts_set(&q, opts[i], opts[i + 1], &err) == GQ_OK, "%s: %s", what, err.msg);
    float out[64];
    GQ_CHECK(t, gq_quant_matrix(&q, w, rows, cols, protect, out, &err) == GQ_OK, "%s: %s", what, err.msg);
    gq_check_close(t, what, out, want, (size_t)rows * cols, 0, 1e-7);
}

static void test_quantizer_hand(gq_test_ctx *t) {
    /* round half to even: absmax 4-bit, s = 3.5/7 = 0.5, W/s = .5 1.5 2.5 -.5 -2.5 7 */
    const float w1[6] = {0.25f, 0.75f, 1.25f, -0.25f, -1.25f, 3.5f};
    const float e1[6] = {0, 1, 1, 0, -1, 3.5f};
    quant_case(t, "half-even absmax int4", (const char *[]){"clip", "absmax", NULL}, w1, 1, 6, NULL, e1);

    /* symmetric clamp at -2^(b-1): std of (3,-3,0,0) = sqrt(4.5); α = 0.5, 2 bits: s = c/1,
     * 3/s = 2.83 -> 3 -> clamp 1; -3/s -> -3 -> clamp -2 */
    const float w2[4] = {3, -3, 0, 0};
    const double s2 = 0.5 * sqrt(4.5);
    const float e2[4] = {(float)s2, (float)(-2 * s2), 0, 0};
    quant_case(t, "clamp sym int2 std:0.5", (const char *[]){"bits", "2", "clip", "std:0.5", NULL}, w2, 1, 4, NULL, e2);

    /* asymmetric absmax 2 bits: s = 4/3, z = -rint(-0.75) = 1;
     * W/s = -0.75 0.15 0.375 2.25 -> q+z = 0 1 1 3 -> (q+z-z)s = -4/3 0 0 8/3 */
    const float w3[4] = {-1, 0.2f, 0.5f, 3};
    const float e3[4] = {(float)(-4.0 / 3), 0, 0, (float)(8.0 / 3)};
    quant_case(t, "asym absmax int2", (const char *[]){"bits", "2", "scheme", "asymmetric", "clip", "absmax", NULL},
               w3, 1, 4, NULL, e3);

    /* per row, absmax, 3 bits (q in -4..3): row 0 c = 0.9, s = 0.3; row 1 c = 0.7, s = 0.7/3 */
    const float w4[8] = {0.1f, -0.4f, 0.25f, 0.9f, -0.7f, 0.3f, 0.05f, -0.2f};
    const double s40 = 0.9f / 3.0, s41 = 0.7f / 3.0;
    const float e4[8] = {0, (float)(-1 * s40), (float)(1 * s40), (float)(3 * s40),
                         (float)(-3 * s41), (float)(1 * s41), 0, (float)(-1 * s41)};
    quant_case(t, "row absmax int3", (const char *[]){"bits", "3", "granularity", "row", "clip", "absmax", NULL}, w4, 2,
               4, NULL, e4);

    /* groups of 3 columns (the last group of a row has 1): absmax, 3 bits */
    const double g0 = 0.4f / 3.0, g1 = 0.9f / 3.0, g2 = 0.7f / 3.0, g3 = 0.2f / 3.0;
    const float e5[8] = {(float)(1 * g0), (float)(-3 * g0), (float)(2 * g0), (float)(3 * g1),
                         (float)(-3 * g2), (float)(1 * g2), 0, (float)(-3 * g3)};
    quant_case(t, "group:3 absmax int3", (const char *[]){"bits", "3", "granularity", "group:3", "clip", "absmax", NULL},
               w4, 2, 4, NULL, e5);

    /* asymmetric, std clip: (0,1,2,3,4,5,6,7): mean 3.5, std sqrt(5.25); α=1 ->
     * [1.2087, 5.7913], 2 bits: s = 4.5826/3, z = -rint(1.2087/s) = -1 -> clamp 0 */
    const float w6[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    {
        double sd = sqrt(5.25), lo = 3.5 - sd, hi = 3.5 + sd, s = (hi - lo) / 3;
        float e6[8];
        for (int i = 0; i < 8; i++) {
            double q = rint(w6[i] / s); /* z = 0 */
            e6[i] = (float)(fmin(fmax(q, 0), 3) * s);
        }
        quant_case(t, "asym std:1 int2", (const char *[]){"bits", "2", "scheme", "asymmetric", "clip", "std:1", NULL},
                   w6, 1, 8, NULL, e6);
    }

    /* stats_exclude_protected: (1,2,3,100) with 100 protected -> std over {1,2,3} = sqrt(2/3) */
    const float w7[4] = {1, 2, 3, 100};
    const uint8_t p7[4] = {0, 0, 0, 1};
    {
        double s_ex = 2.5 * sqrt(2.0 / 3) / 7, s_all;
        double m = 26.5, ss = (25.5 * 25.5 + 24.5 * 24.5 + 23.5 * 23.5 + 73.5 * 73.5) / 4;
        (void)m;
        s_all = 2.5 * sqrt(ss) / 7;
        float e_ex[4], e_all[4];
        for (int i = 0; i < 3; i++) {
            e_ex[i] = (float)(fmin(fmax(rint(w7[i] / s_ex), -8), 7) * s_ex);
            e_all[i] = (float)(fmin(fmax(rint(w7[i] / s_all), -8), 7) * s_all);
        }
        e_ex[3] = e_all[3] = 100;
        quant_case(t, "stats_exclude_protected", (const char *[]){"stats_exclude_protected", "true", NULL}, w7, 1, 4,
                   p7, e_ex);
        quant_case(t, "stats over all entries", (const char *[]){NULL}, w7, 1, 4, p7, e_all);
        GQ_CHECK(t, e_ex[0] != e_all[0], "the two std choices should differ here");
    }
}

static void test_opts(gq_test_ctx *t) {
    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    gq_err err = {{0}};
    char buf[128];
    GQ_CHECK(t, gq_quant_opts_set(&q, "granularity", "group:128", &err) == GQ_OK && q.group == 128, "group:128");
    GQ_CHECK(t, gq_quant_opts_set(&q, "clip", "std:3", &err) == GQ_OK && q.alpha == 3, "std:3");
    GQ_CHECK(t, gq_quant_opts_set(&q, "scheme", "asymmetric", &err) == GQ_OK, "asymmetric");
    gq_quant_opts_str(&q, buf, sizeof buf);
    GQ_CHECK(t, !strcmp(buf, "int4 asymmetric group:128 std:3"), "opts str '%s'", buf);
    const char *bad[][2] = {{"granularity", "group:0"}, {"granularity", "group:x"}, {"granularity", "col"},
                            {"clip", "std:"},           {"clip", "std:-1"},         {"clip", "max"},
                            {"bits", "9"},              {"bits", "1"},              {"bits", "4x"},
                            {"scheme", "sym"},          {"stats_exclude_protected", "yes"}, {"bogus", "1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        GQ_CHECK(t, gq_quant_opts_set(&q, bad[i][0], bad[i][1], &err) == GQ_ERR_ARG && strstr(err.msg, bad[i][0]),
                 "%s=%s should fail naming the option; got '%s'", bad[i][0], bad[i][1], err.msg);
    }
    /* method options: defaults, unknown key, bad value */
    gq_method_opts mo = {0}, ro;
    GQ_CHECK(t, gq_method_resolve(gq_method_find("spqr"), &mo, &ro, &err) == GQ_OK, "%s", err.msg);
    gq_method_opts_str(&ro, buf, sizeof buf);
    GQ_CHECK(t, !strcmp(buf, "damp=0.01,sequential=false"), "spqr defaults '%s'", buf);
    gq_method_opts_set(&mo, "rank", "4", &err);
    GQ_CHECK(t, gq_method_resolve(gq_method_find("spqr"), &mo, &ro, &err) == GQ_ERR_ARG && strstr(err.msg, "rank"),
             "unknown option: '%s'", err.msg);
    GQ_CHECK(t, gq_method_resolve(gq_method_find("svd"), &mo, &ro, &err) == GQ_OK, "%s", err.msg);
    gq_method_opts_set(&mo, "rank", "four", &err);
    GQ_CHECK(t, gq_method_resolve(gq_method_find("svd"), &mo, &ro, &err) == GQ_ERR_ARG && strstr(err.msg, "four"),
             "bad value: '%s'", err.msg);
    gq_method_opts m2 = {0};
    gq_method_opts_set(&m2, "granularity", "row", &err);
    GQ_CHECK(t, gq_method_resolve(gq_method_find("awq"), &m2, &ro, &err) == GQ_ERR_ARG, "awq granularity=row");
    GQ_CHECK(t, gq_method_find("nope") == NULL, "unknown method");
}

/* ---- quantizer: properties on random matrices ---- */

static void test_properties(gq_test_ctx *t) {
    enum { R = 48, C = 80, N = R * C };
    float *w = malloc(N * sizeof *w), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    float *score = malloc(N * sizeof *score);
    uint8_t *mask = malloc(N);
    gq_err err = {{0}};
    gq_test_fill_normal(w, N, 7, 0.05f);
    for (int i = 0; i < N; i++) score[i] = fabsf(w[i]);
    const char *grans[] = {"tensor", "row", "group:16"};
    const char *schemes[] = {"symmetric", "asymmetric"};
    for (int gi = 0; gi < 3; gi++)
        for (int si = 0; si < 2; si++) {
            gq_quant_opts q;
            gq_quant_opts_default(&q, 4);
            gq_quant_opts_set(&q, "granularity", grans[gi], &err);
            gq_quant_opts_set(&q, "scheme", schemes[si], &err);
            /* k = 0 equals uniform */
            gq_quant_topk(score, N, 0, mask, &err);
            gq_quant_matrix(&q, w, R, C, NULL, a, &err);
            gq_quant_matrix(&q, w, R, C, mask, b, &err);
            GQ_CHECK(t, !memcmp(a, b, N * sizeof *a), "%s %s: k=0 differs from uniform", grans[gi], schemes[si]);
            /* k = all keeps every weight bit-identical */
            gq_quant_topk(score, N, N, mask, &err);
            gq_quant_matrix(&q, w, R, C, mask, b, &err);
            GQ_CHECK(t, !memcmp(w, b, N * sizeof *w), "%s %s: k=all changed weights", grans[gi], schemes[si]);
            /* k = 50: protected bit-identical, the rest as uniform (stats over all entries) */
            gq_quant_topk(score, N, 50, mask, &err);
            gq_quant_matrix(&q, w, R, C, mask, b, &err);
            int bad = 0, np = 0;
            for (int i = 0; i < N; i++) {
                np += mask[i];
                bad += mask[i] ? memcmp(&b[i], &w[i], sizeof *w) != 0 : memcmp(&b[i], &a[i], sizeof *w) != 0;
            }
            GQ_CHECK(t, bad == 0 && np == 50, "%s %s: %d entries wrong, %d protected", grans[gi], schemes[si], bad, np);
            /* more bits never raise the MSE (of a Gaussian matrix: with outliers far beyond
             * the clip, the reach of the negative end, (2^(b-1))·s = c·2^(b-1)/(2^(b-1)−1),
             * shrinks as b grows, and so does an asymmetric grid's offset) */
            double prev = INFINITY;
            for (int bits = 2; bits <= 8; bits++) {
                q.bits = bits;
                gq_quant_matrix(&q, w, R, C, NULL, a, &err);
                double e = mse(a, w, N);
                GQ_CHECK(t, e < prev, "%s %s: MSE at %d bits %.3g >= %.3g at %d", grans[gi], schemes[si], bits, e,
                         prev, bits - 1);
                prev = e;
            }
        }
    /* absmax never clips: the extreme weight is representable exactly (symmetric, q = ±qmax) */
    w[5] = 1.0f, w[100] = -0.8f; /* outliers beyond the 2.5σ clip */
    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    gq_quant_opts_set(&q, "clip", "absmax", &err);
    gq_quant_matrix(&q, w, R, C, NULL, a, &err);
    GQ_CHECK(t, a[5] == w[5], "absmax: max weight %.9g became %.9g", w[5], a[5]);
    gq_quant_opts_default(&q, 4);
    gq_quant_matrix(&q, w, R, C, NULL, a, &err);
    GQ_CHECK(t, a[5] < w[5] * 0.5f, "std clip should cut the outlier %.9g (got %.9g)", w[5], a[5]);
    /* out = w in place */
    memcpy(b, w, N * sizeof *w);
    gq_quant_matrix(&q, b, R, C, NULL, b, &err);
    GQ_CHECK(t, !memcmp(a, b, N * sizeof *a), "in-place quantization differs");
    GQ_CHECK(t, gq_quant_matrix(&q, w, 0, C, NULL, a, &err) == GQ_ERR_SHAPE, "0 rows must fail");
    free(w), free(a), free(b), free(score), free(mask);
}

/* ---- top-k ---- */

typedef struct {
    float s;
    int64_t i;
} pair;

static int pair_cmp(const void *x, const void *y) {
    const pair *a = x, *b = y;
    float as = isnan(a->s) ? -INFINITY : a->s, bs = isnan(b->s) ? -INFINITY : b->s;
    if (as != bs) return as > bs ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static void test_topk(gq_test_ctx *t) {
    gq_err err = {{0}};
    const float s[6] = {1, 3, 3, 2, 3, 0};
    uint8_t m[6];
    const uint8_t want2[6] = {0, 1, 1, 0, 0, 0}, want4[6] = {0, 1, 1, 1, 1, 0};
    gq_quant_topk(s, 6, 2, m, &err);
    GQ_CHECK(t, !memcmp(m, want2, 6), "ties k=2: %d%d%d%d%d%d", m[0], m[1], m[2], m[3], m[4], m[5]);
    gq_quant_topk(s, 6, 4, m, &err);
    GQ_CHECK(t, !memcmp(m, want4, 6), "ties k=4: %d%d%d%d%d%d", m[0], m[1], m[2], m[3], m[4], m[5]);
    GQ_CHECK(t, gq_quant_topk(s, 6, 7, m, &err) == GQ_ERR_ARG, "k > n must fail");
    const float sn[4] = {NAN, -INFINITY, 0.5f, NAN};
    gq_quant_topk(sn, 4, 2, m, &err);
    GQ_CHECK(t, m[2] == 1 && m[0] == 1 && m[1] == 0 && m[3] == 0, "NaN ranks as -inf, ties by index");

    /* against a full sort, with many ties */
    enum { N = 5000 };
    float *x = malloc(N * sizeof *x);
    pair *p = malloc(N * sizeof *p);
    uint8_t *mk = malloc(N), *want = malloc(N);
    gq_rng r;
    gq_rng_seed(&r, 3);
    int bad = 0, bad_global = 0;
    /* trials 20-23: ascending scores (every score enters the heap of the small budgets),
     * then scores with every fifth a NaN */
    for (int trial = 0; trial < 24; trial++) {
        int levels = trial % 2 ? 7 : 1 << 20;
        for (int i = 0; i < N; i++) {
            x[i] = trial >= 20 && trial < 22 ? (float)i : (float)gq_rng_below(&r, (uint64_t)levels);
            if (trial >= 22 && i % 5 == 0) x[i] = NAN;
            p[i] = (pair){x[i], i};
        }
        qsort(p, N, sizeof *p, pair_cmp);
        int64_t ks[] = {0, 1, 2, 17, 499, N / 2, N - 1, N};
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            memset(want, 0, N);
            for (int64_t j = 0; j < ks[ki]; j++) want[p[j].i] = 1;
            gq_quant_topk(x, N, ks[ki], mk, &err);
            bad += memcmp(mk, want, N) != 0;
            /* the same scores as three arrays under one global budget: the same choice */
            const int64_t parts[3] = {1234, 2000, N - 3234};
            gq_quant_topk_global((const float *const[]){x, x + 1234, x + 3234}, parts, 3, ks[ki],
                                 (uint8_t *const[]){mk, mk + 1234, mk + 3234}, &err);
            bad_global += memcmp(mk, want, N) != 0;
        }
    }
    GQ_CHECK(t, bad == 0, "top-k disagrees with a full sort in %d cases", bad);
    GQ_CHECK(t, bad_global == 0, "global top-k over three arrays disagrees with a full sort in %d cases", bad_global);
    /* global: two arrays, k = 3 over {2, 5, 5 | 5, 1}: 5@a1, 5@a2, 5@b0 */
    const float ga[3] = {2, 5, 5}, gb[2] = {5, 1};
    uint8_t ma[3], mb[2];
    gq_quant_topk_global((const float *const[]){ga, gb}, (const int64_t[]){3, 2}, 2, 3, (uint8_t *const[]){ma, mb},
                         &err);
    GQ_CHECK(t, ma[0] == 0 && ma[1] && ma[2] && mb[0] && !mb[1], "global ties");
    gq_quant_topk_global((const float *const[]){ga, gb}, (const int64_t[]){3, 2}, 2, 2, (uint8_t *const[]){ma, mb},
                         &err);
    GQ_CHECK(t, ma[1] && ma[2] && !mb[0], "global ties: lower array first");
    gq_quant_budget b = {.k = 0, .p = 0.25};
    GQ_CHECK(t, gq_quant_budget_k(&b, 10) == 2 && gq_quant_budget_k(&b, 14) == 4, "p: round half to even");
    b.p = -1, b.k = 99;
    GQ_CHECK(t, gq_quant_budget_k(&b, 10) == 10, "k clamps to n");
    free(x), free(p), free(mk), free(want);
}

/* ---- AWQ and SpQR scores vs hand-computed values (numpy, FP64) ---- */

static const float HW[12] = {0.5f, -1.25f, 2.0f, 0.75f, -0.25f, 1.5f, -0.5f, 1.0f, 1.75f, 0.125f, -2.5f, -1.0f};
static const float HX[20] = {1, -2, 0.5f, 3, 0, 1, -1, 2, 2, 0.5f, 1, -1, -1, 1.5f, 2, 0, 0.5f, -0.5f, 1, 1};

static void test_awq_spqr(gq_test_ctx *t) {
    gq_err err = {{0}};
    gq_encoder_config cfg = {.dim = 4, .hidden_dim = 4, .n_layers = 1};
    gq_quant_calib *c = NULL;
    GQ_CHECK(t, gq_quant_calib_new(&cfg, &c, &err) == GQ_OK, "%s", err.msg);
    /* two calls (3 + 2 tokens) must equal one call with 5 */
    gq_quant_calib_add(c, 0, GQ_LIN_Q, HX, 3, 4, &err);
    gq_quant_calib_add(c, 0, GQ_LIN_Q, HX + 12, 2, 4, &err);
    GQ_CHECK(t, gq_quant_calib_add(c, 0, GQ_LIN_Q, HX, 1, 5, &err) == GQ_ERR_SHAPE, "width mismatch must fail");
    const gq_lin_stats *st = gq_quant_calib_get(c, 0, GQ_LIN_Q);
    GQ_CHECK(t, st->ntok == 5 && st->xtx[1] == -2 + 0 + 1 - 1.5 - 0.25 && st->xtx[15] == 9 + 4 + 1 + 0 + 1 &&
                    st->abs_sum[1] == 5.5,
             "stats: ntok %lld, xtx[0][1] %g, xtx[3][3] %g, abs_sum[1] %g", (long long)st->ntok, st->xtx[1],
             st->xtx[15], st->abs_sum[1]);

    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    float got[12];
    struct {
        const char *method, *k1, *v1;
        int bits;
        float want[12];
    } cases[] = {
        {"awq", NULL, NULL, 4, {0.45f, 1.375f, 2.2f, 1.05f, 0.225f, 1.65f, 0.55f, 1.4f, 1.575f, 0.1375f, 2.75f, 1.4f}},
        {"awq", "granularity", "channel", 4, {0.9f, 1.1f, 1.1f, 1.4f, 0.9f, 1.1f, 1.1f, 1.4f, 0.9f, 1.1f, 1.1f, 1.4f}},
        {"spqr", NULL, NULL, 4,
         {0.0033087749685741553f, 0.03452810651347742f, 0.07108568989848667f, 0.1367099196370005f,
          0.09007790888528747f, 0.030014792415534185f, 0.004442855618655417f, 0.030740964419707018f,
          0.016272564880550164f, 0.03223195060591253f, 0.11107129167473898f, 0.030740964419707018f}},
        {"spqr", NULL, NULL, 3,
         {0.5116591603779861f, 0.0647380257920674f, 0.058334986395519484f, 0.4954807533994233f,
          0.12791479009449652f, 0.37638453441316005f, 0.6870300329011031f, 0.025226930255155815f,
          0.32045228807459414f, 0.03223195060591253f, 0.3449757705768341f, 0.025226930255155815f}},
        {"spqr", "sequential", "true", 4,
         {0.0033087749685741553f, 0.04076680149641395f, 0.07578063853514594f, 0.17359460976686827f,
          0.09007790888528747f, 0.03543800132458872f, 0.004736289908446621f, 0.03903495617922892f,
          0.016272564880550164f, 0.0380557657188807f, 0.11840714239469381f, 0.03903495617922892f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gq_method *m = gq_method_find(cases[i].method);
        gq_method_opts mo = {0}, ro;
        if (cases[i].k1) gq_method_opts_set(&mo, cases[i].k1, cases[i].v1, &err);
        GQ_CHECK(t, gq_method_resolve(m, &mo, &ro, &err) == GQ_OK, "%s", err.msg);
        q.bits = cases[i].bits;
        gq_method_args a = {.w = HW, .rows = 3, .cols = 4, .opts = &ro, .quant = &q, .stats = st};
        GQ_CHECK(t, gq_method_score_matrix(m, &a, got, &err) == GQ_OK, "%s", err.msg);
        char what[96];
        snprintf(what, sizeof what, "%s %s=%s int%d hand-computed", cases[i].method, cases[i].k1 ? cases[i].k1 : "",
                 cases[i].v1 ? cases[i].v1 : "", cases[i].bits);
        gq_check_close(t, what, got, cases[i].want, 12, 0, 2e-6);
    }
    /* without statistics a calibrated method must refuse */
    gq_method_opts ro;
    gq_method_resolve(gq_method_find("awq"), NULL, &ro, &err);
    gq_method_args a = {.w = HW, .rows = 3, .cols = 4, .opts = &ro, .quant = &q};
    GQ_CHECK(t, gq_method_score_matrix(gq_method_find("awq"), &a, got, &err) == GQ_ERR_ARG, "awq without stats");
    gq_quant_calib_free(c);
}

/* ---- session: apply, accounting, overlap, cache ---- */

static int scores_equal(const gq_quant_scores *a, const gq_quant_scores *b, const gq_quant_session *s) {
    for (int i = 0; i < gq_quant_session_n_mats(s); i++) {
        int r, c;
        gq_quant_session_fp32(s, i, &r, &c);
        if (memcmp(gq_quant_scores_get(a, i), gq_quant_scores_get(b, i), (size_t)r * c * sizeof(float))) return 0;
    }
    return 1;
}

static void flip_byte(const char *path, long at_from_end) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, -at_from_end, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -at_from_end, SEEK_END);
    fputc(ch ^ 0x40, f);
    fclose(f);
}

static void truncate_file(const char *path, long keep) {
    char *buf = NULL;
    size_t len = 0;
    gq_err e;
    if (gq_read_file(path, 0, &buf, &len, &e) != GQ_OK) return;
    gq_write_file_atomic(path, buf, (size_t)keep < len ? (size_t)keep : len, &e);
    free(buf);
}

/* The single cache file of a method in dir (its name starts with the method). */
static char *find_cache(const char *dir, const char *method) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/%s-*.gqstate 2>/dev/null | head -1", dir, method);
    char *out = NULL;
    gq_test_run(cmd, &out, NULL);
    if (out) out[strcspn(out, "\n")] = '\0';
    if (out && !*out) free(out), out = NULL;
    return out;
}

/* Threads of this process (the Threads: line of /proc/self/status), or -1. */
static int process_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    if (f) fclose(f);
    return n;
}

/* process_threads once the count holds still for 1 ms (up to a second): a pool's workers
 * have returned from pthread_join before the kernel has reaped them, so a count taken
 * right after an earlier pool's free can still include them (seen once in CI, under ASan
 * with -j2: the session seemed to start fewer threads than it did). */
static int settled_threads(void) {
    int n = process_threads();
    for (int i = 0; i < 1000; i++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        int again = process_threads();
        if (again == n) break;
        n = again;
    }
    return n;
}

/* The session runs its per-matrix tasks on a pool of the command's --threads (the pool
 * persists, so its workers are visible after the call): 5 threads add 4 workers, 1 none.
 * magnitude scores call no BLAS, whose own threads would blur the count. */
static void test_session_threads(gq_test_ctx *t) {
    gq_err err = {{0}};
    gq_test_fake_model *f = gq_test_fake_new(2, 16, 24, 11);
    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    for (int threads = 5; threads >= 1; threads -= 4) {
        gq_quant_session *s = NULL;
        gq_quant_scores *sc = NULL;
        GQ_CHECK(t, gq_quant_session_new(&f->m, NULL, &s, &err) == GQ_OK, "%s", err.msg);
        if (!s) break;
        gq_quant_session_set_threads(s, threads);
        int before = settled_threads();
        GQ_CHECK(t, gq_quant_scores_compute(s, "magnitude", NULL, &q, &sc, &err) == GQ_OK, "%s", err.msg);
        int added = process_threads() - before;
        GQ_CHECK(t, before > 0 && added == threads - 1, "--threads %d: the session started %d threads, want %d",
                 threads, added, threads - 1);
        gq_quant_scores_free(sc);
        gq_quant_session_free(s);
    }
    gq_test_fake_free(f);
}

static void test_session(gq_test_ctx *t) {
    gq_err err = {{0}};
    gq_test_fake_model *f = gq_test_fake_new(2, 16, 24, 11);
    char dir[] = "/tmp/gq_test_quant_XXXXXX";
    GQ_CHECK(t, mkdtemp(dir) != NULL, "mkdtemp");
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    gq_quant_session *s = NULL;
    GQ_CHECK(t, gq_quant_session_new(&f->m, cache, &s, &err) == GQ_OK, "%s", err.msg);
    if (!s) return;
    GQ_CHECK(t, gq_quant_session_n_mats(s) == 12, "12 matrices");
    float *orig = malloc(sizeof(float) * (size_t)(4 * 16 * 16 + 2 * 16 * 24) * 2);
    memcpy(orig, f->buf, sizeof(float) * (size_t)(4 * 16 * 16 + 2 * 16 * 24) * 2);
    size_t nbytes = sizeof(float) * (size_t)(4 * 16 * 16 + 2 * 16 * 24) * 2;

    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    gq_quant_scores *mag = NULL, *svd = NULL, *uni = NULL;
    GQ_CHECK(t, gq_quant_scores_compute(s, "magnitude", NULL, &q, &mag, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_quant_scores_compute(s, "svd", NULL, &q, &svd, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_quant_scores_compute(s, "uniform", NULL, &q, &uni, &err) == GQ_OK, "%s", err.msg);
    gq_quant_scores *none = NULL;
    GQ_CHECK(t, gq_quant_scores_compute(s, "awq", NULL, &q, &none, &err) == GQ_ERR_ARG && !none &&
                    strstr(err.msg, "calibration"),
             "awq without calibration: '%s'", err.msg);

    /* per-matrix budget: counts, effective bits, protected values exact, restore */
    gq_quant_budget b = {.k = 5, .p = -1};
    gq_quant_report rep;
    unsigned version[12];
    for (int i = 0; i < 12; i++) version[i] = f->m.layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT].version;
    GQ_CHECK(t, gq_quant_apply(s, mag, &q, &b, &rep, &err) == GQ_OK, "%s", err.msg);
    /* every rewritten matrix has a new version: a runner with a device copy (cuda/) uploads
     * a matrix again only then */
    for (int i = 0; i < 12; i++)
        GQ_CHECK(t, f->m.layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT].version != version[i],
                 "matrix %d rewritten without a new version", i);
    GQ_CHECK(t, rep.total_protected == 60 && rep.protected_count[3] == 5 && rep.numel[4] == 384, "counts");
    /* 16x16, k=5, 4 bits, tensor: (4·251 + 32·5 + 8·5 + 32) / 256 */
    GQ_CHECK(t, fabs(rep.effective_bits[0] - (4.0 * 251 + 160 + 40 + 32) / 256) < 1e-12, "eff bits %.9g",
             rep.effective_bits[0]);
    double tot = 0;
    for (int i = 0; i < 12; i++) tot += rep.effective_bits[i] * (double)rep.numel[i];
    GQ_CHECK(t, fabs(rep.effective_bits_total - tot / (double)rep.total_numel) < 1e-12, "total eff bits");
    {
        /* exactly the 5 largest |W| keep their value, plus the unprotected weights that the
         * quantizer (checked against quant_refs above) maps onto themselves */
        int r, c, exact = 0, want_exact = 5;
        const float *w0 = gq_quant_session_fp32(s, 0, &r, &c);
        uint8_t top[16 * 16] = {0};
        float plain[16 * 16];
        for (int n = 0; n < 5; n++) {
            int at = -1;
            for (int j = 0; j < r * c; j++)
                if (!top[j] && (at < 0 || fabsf(w0[j]) > fabsf(w0[at]))) at = j;
            top[at] = 1;
        }
        GQ_CHECK(t, r * c == 16 * 16 && gq_quant_matrix(&q, w0, r, c, NULL, plain, &err) == GQ_OK, "%s", err.msg);
        for (int j = 0; j < r * c; j++) {
            want_exact += !top[j] && plain[j] == w0[j];
            exact += f->m.layers[0].lin[0].w[j] == w0[j];
            GQ_CHECK(t, !top[j] || f->m.layers[0].lin[0].w[j] == w0[j], "protected weight %d changed", j);
        }
        GQ_CHECK(t, exact == want_exact, "%d weights kept their FP32 value, want %d", exact, want_exact);
        float mx = 0;
        int at = 0;
        for (int j = 0; j < r * c; j++)
            if (fabsf(w0[j]) > mx) mx = fabsf(w0[j]), at = j;
        GQ_CHECK(t, f->m.layers[0].lin[0].w[at] == w0[at], "largest |W| is protected by magnitude");
    }
    GQ_CHECK(t, memcmp(orig, f->buf, nbytes) != 0, "apply must change the model");
    gq_quant_session_restore(s);
    GQ_CHECK(t, !memcmp(orig, f->buf, nbytes), "restore gives back the FP32 weights");

    /* uniform ignores the budget; k = 0 with magnitude equals uniform */
    gq_quant_apply(s, uni, &q, &b, &rep, &err);
    float *uni_w = malloc(nbytes);
    memcpy(uni_w, f->buf, nbytes);
    GQ_CHECK(t, rep.total_protected == 0, "uniform protects nothing");
    b.k = 0;
    gq_quant_apply(s, mag, &q, &b, &rep, &err);
    GQ_CHECK(t, !memcmp(uni_w, f->buf, nbytes) && rep.total_protected == 0, "k=0 equals uniform");
    b.p = 1.0;
    gq_quant_apply(s, svd, &q, &b, &rep, &err);
    GQ_CHECK(t, !memcmp(orig, f->buf, nbytes) && rep.total_protected == rep.total_numel, "p=1 keeps FP32");

    /* global budget: same total, distributed by score */
    b = (gq_quant_budget){.k = 5, .p = -1, .global = 1};
    gq_quant_apply(s, mag, &q, &b, &rep, &err);
    GQ_CHECK(t, rep.total_protected == 60, "global total %lld", (long long)rep.total_protected);

    /* overlap: a set with itself, and uniform vs anything */
    double inter[GQ_QUANT_MAX_MATS], jac[GQ_QUANT_MAX_MATS], it, jt;
    b = (gq_quant_budget){.k = 7, .p = -1};
    GQ_CHECK(t, gq_quant_overlap(s, svd, svd, &b, inter, jac, &it, &jt, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, inter[0] == 1 && jac[11] == 1 && it == 1 && jt == 1, "self overlap");
    gq_quant_overlap(s, svd, mag, &b, inter, jac, &it, &jt, &err);
    GQ_CHECK(t, it >= 0 && it <= 1 && jt <= it, "svd/magnitude overlap %.3f jaccard %.3f", it, jt);
    {
        /* recount matrix 0 by hand */
        uint8_t ma[256], mb[256];
        gq_quant_topk(gq_quant_scores_get(svd, 0), 256, 7, ma, &err);
        gq_quant_topk(gq_quant_scores_get(mag, 0), 256, 7, mb, &err);
        int both = 0;
        for (int j = 0; j < 256; j++) both += ma[j] & mb[j];
        gq_quant_overlap(s, svd, mag, &b, inter, jac, NULL, NULL, &err);
        GQ_CHECK(t, inter[0] == both / 7.0 && jac[0] == both / (14.0 - both), "overlap of matrix 0");
    }

    /* cache: svd states were written; a second session reads them (same scores) */
    char *path = find_cache(cache, "svd");
    GQ_CHECK(t, path != NULL, "svd cache file in %s", cache);
    gq_quant_scores *again = NULL;
    GQ_CHECK(t, gq_quant_scores_compute(s, "svd", NULL, &q, &again, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, again && scores_equal(svd, again, s), "cached svd scores differ");
    gq_quant_scores_free(again);

    /* calibrated methods: the forward runs once, then the cache answers */
    gq_test_fake_calib cc = {0, f};
    gq_quant_session_set_calibration(s, "fake-calib-v1", gq_test_fake_calibrate, &cc);
    gq_quant_scores *awq = NULL, *spqr = NULL, *awq2 = NULL;
    GQ_CHECK(t, gq_quant_scores_compute(s, "awq", NULL, &q, &awq, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_quant_scores_compute(s, "spqr", NULL, &q, &spqr, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, cc.calls == 1, "calibration ran %d times in one session", cc.calls);
    gq_quant_session *s2 = NULL;
    gq_quant_session_new(&f->m, cache, &s2, &err);
    gq_quant_session_set_calibration(s2, "fake-calib-v1", gq_test_fake_calibrate, &cc);
    GQ_CHECK(t, gq_quant_scores_compute(s2, "awq", NULL, &q, &awq2, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, cc.calls == 1 && awq2 && scores_equal(awq, awq2, s), "awq from cache (calls %d)", cc.calls);
    gq_quant_scores_free(awq2), awq2 = NULL;

    /* corruption: flip a payload byte -> warning, rebuilt, identical scores, valid file again */
    char *apath = find_cache(cache, "awq");
    GQ_CHECK(t, apath != NULL, "awq cache file");
    if (apath) {
        char *good = NULL, *now = NULL;
        size_t glen = 0, nlen = 0;
        gq_read_file(apath, 0, &good, &glen, &err);
        flip_byte(apath, 40);
        gq_log_level lvl = gq_log_get_level();
        gq_log_set_level(GQ_LOG_QUIET); /* the expected warning would only clutter the log */
        GQ_CHECK(t, gq_quant_scores_compute(s2, "awq", NULL, &q, &awq2, &err) == GQ_OK, "%s", err.msg);
        GQ_CHECK(t, cc.calls == 2 && awq2 && scores_equal(awq, awq2, s), "corrupt entry rebuilt (calls %d)", cc.calls);
        gq_read_file(apath, 0, &now, &nlen, &err);
        GQ_CHECK(t, now && nlen == glen && !memcmp(good, now, glen), "rebuilt cache file equals the original");
        gq_quant_scores_free(awq2), awq2 = NULL;
        free(now);
        /* truncated, and a stale key (other calibration data must not hit) */
        gq_quant_session *s3 = NULL;
        truncate_file(apath, (long)glen / 2);
        gq_quant_session_new(&f->m, cache, &s3, &err);
        gq_quant_session_set_calibration(s3, "fake-calib-v1", gq_test_fake_calibrate, &cc);
        GQ_CHECK(t, gq_quant_scores_compute(s3, "awq", NULL, &q, &awq2, &err) == GQ_OK, "%s", err.msg);
        GQ_CHECK(t, cc.calls == 3 && awq2 && scores_equal(awq, awq2, s), "truncated entry rebuilt (calls %d)",
                 cc.calls);
        gq_quant_scores_free(awq2), awq2 = NULL;
        gq_quant_session_set_calibration(s3, "other-calib", gq_test_fake_calibrate, &cc);
        GQ_CHECK(t, gq_quant_scores_compute(s3, "awq", NULL, &q, &awq2, &err) == GQ_OK, "%s", err.msg);
        GQ_CHECK(t, cc.calls == 4, "a new calibration key must not hit the cache (calls %d)", cc.calls);
        gq_log_set_level(lvl);
        gq_quant_scores_free(awq2);
        gq_quant_session_free(s3);
        free(good);
    }
    free(apath);
    free(path);

    /* SpQR protects what the quantizer gets most wrong: with its own scores at k = n/2 the
     * error is lower than with random scores */
    gq_quant_scores *rnd = NULL;
    gq_method_opts seed = {0};
    gq_method_opts_set(&seed, "seed", "1", &err);
    gq_quant_scores_compute(s, "random", &seed, &q, &rnd, &err);
    b = (gq_quant_budget){.p = 0.1};
    gq_quant_report rs, rr;
    gq_quant_apply(s, spqr, &q, &b, &rs, &err);
    gq_quant_apply(s, rnd, &q, &b, &rr, &err);
    double es = 0, er = 0;
    for (int i = 0; i < 12; i++) es += rs.sq_err[i], er += rr.sq_err[i];
    GQ_CHECK(t, es < er, "spqr error %.4g should beat random %.4g", es, er);
    gq_quant_session_restore(s);

    gq_quant_scores_free(rnd), gq_quant_scores_free(awq), gq_quant_scores_free(spqr);
    gq_quant_scores_free(mag), gq_quant_scores_free(svd), gq_quant_scores_free(uni);
    gq_quant_session_free(s2);
    gq_quant_session_free(s);
    gq_quant_session_free(NULL);
    gq_quant_scores_free(NULL);
    gq_quant_calib_free(NULL);
    free(orig), free(uni_w);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    gq_test_run(cmd, NULL, NULL);
    gq_test_fake_free(f);
}

/* ---- end to end on tiny-a: calibration through the real forward hooks ---- */

typedef struct {
    gq_encoder_runner *r;
    int calls;
} fwd_ctx;

static const int32_t IDS[12] = {101, 1996, 4937, 2003, 2006, 1996, 13523, 102, 2009, 2001, 2204, 102};

static gq_status forward_calibrate(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    fwd_ctx *c = ctx;
    float logits[16];
    c->calls++;
    return gq_encoder_forward(c->r, IDS, (int[]){8, 4}, NULL, 2, logits, hooks, err);
}

static void test_tiny_model(gq_test_ctx *t) {
    gq_err err = {{0}};
    char *dir = gq_test_path(t, "fixtures/tiny-a");
    gq_encoder *m = NULL;
    if (gq_encoder_load(dir, &m, &err) != GQ_OK) {
        GQ_CHECK(t, 0, "load tiny-a: %s", err.msg);
        free(dir);
        return;
    }
    gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
    float fp32[16], quant[16], back[16];
    gq_encoder_forward(r, IDS, (int[]){8, 4}, NULL, 2, fp32, NULL, &err);
    gq_quant_session *s = NULL;
    GQ_CHECK(t, gq_quant_session_new(m, NULL, &s, &err) == GQ_OK, "%s", err.msg);
    fwd_ctx fc = {r, 0};
    gq_quant_session_set_calibration(s, "tiny-a-12-tokens", forward_calibrate, &fc);
    gq_quant_opts q;
    gq_quant_opts_default(&q, 3);
    const char *methods[] = {"svd", "awq", "spqr", "magnitude", "random"};
    for (int i = 0; i < 5; i++) {
        gq_quant_scores *sc = NULL;
        GQ_CHECK(t, gq_quant_scores_compute(s, methods[i], NULL, &q, &sc, &err) == GQ_OK, "%s: %s", methods[i],
                 err.msg);
        gq_quant_budget b = {.k = 16, .p = -1};
        gq_quant_report rep;
        GQ_CHECK(t, gq_quant_apply(s, sc, &q, &b, &rep, &err) == GQ_OK, "%s", err.msg);
        gq_encoder_forward(r, IDS, (int[]){8, 4}, NULL, 2, quant, NULL, &err);
        int n = 2 * m->cfg.n_labels, diff = 0;
        for (int j = 0; j < n; j++) diff += quant[j] != fp32[j];
        GQ_CHECK(t, diff > 0 && rep.total_protected == 16 * 12, "%s: logits unchanged or wrong count", methods[i]);
        printf("ok   tiny-a %s int3 k=16: logits[0] %.5f vs FP32 %.5f, %.4f bits/weight\n", methods[i], quant[0],
               fp32[0], rep.effective_bits_total);
        gq_quant_scores_free(sc);
    }
    GQ_CHECK(t, fc.calls == 1, "calibration forward ran %d times", fc.calls);
    const gq_lin_stats *st = NULL;
    (void)st;
    gq_quant_session_restore(s);
    gq_encoder_forward(r, IDS, (int[]){8, 4}, NULL, 2, back, NULL, &err);
    GQ_CHECK(t, !memcmp(back, fp32, 2 * (size_t)m->cfg.n_labels * sizeof(float)), "restored model gives FP32 logits");
    gq_quant_session_free(s);
    gq_encoder_runner_free(r);
    gq_encoder_free(m);
    free(dir);
}

/* ---- benchmark: svd scores of DistilBERT-base-shaped matrices ---- */

static void bench_svd(gq_test_ctx *t) {
    gq_err err = {{0}};
    gq_test_fake_model *f = gq_test_fake_new(6, 768, 3072, 1);
    gq_quant_session *s = NULL;
    gq_quant_session_new(&f->m, NULL, &s, &err);
    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    gq_quant_scores *sc = NULL;
    double t0 = gq_now();
    GQ_CHECK(t, gq_quant_scores_compute(s, "svd", NULL, &q, &sc, &err) == GQ_OK, "%s", err.msg);
    double t1 = gq_now();
    gq_quant_budget b = {.k = 4096, .p = -1};
    gq_quant_report rep;
    gq_quant_apply(s, sc, &q, &b, &rep, &err);
    double t2 = gq_now();
    printf("bench: svd scores for 6 x {4 x 768x768, 3072x768, 768x3072}: %.2f s; apply k=4096: %.3f s\n", t1 - t0,
           t2 - t1);
    gq_quant_scores_free(sc);
    /* calibrated methods: 40 tokens per Linear would be unrealistic for the Hessians'
     * rank, but the cost that matters here is dsyrk over the tokens and the 3072x3072
     * Cholesky inversions, which do not depend on the token values */
    gq_test_fake_calib cc = {0, f};
    gq_quant_session_set_calibration(s, "bench", gq_test_fake_calibrate, &cc);
    t0 = gq_now();
    GQ_CHECK(t, gq_quant_scores_compute(s, "awq", NULL, &q, &sc, &err) == GQ_OK, "%s", err.msg);
    t1 = gq_now();
    gq_quant_scores_free(sc);
    GQ_CHECK(t, gq_quant_scores_compute(s, "spqr", NULL, &q, &sc, &err) == GQ_OK, "%s", err.msg);
    t2 = gq_now();
    printf("bench: calibration capture (40 tokens) + awq scores: %.2f s; spqr scores: %.2f s\n", t1 - t0, t2 - t1);
    gq_quant_scores_free(sc);
    gq_quant_session_free(s);
    gq_test_fake_free(f);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(getenv("GLUEQ_BENCH") ? GQ_LOG_INFO : GQ_LOG_WARN); /* keep timing lines of the session out of the test log */
    test_quant_refs(&t, "fixtures/tiny-a");
    test_quant_refs(&t, "fixtures/tiny-b");
    test_quantizer_hand(&t);
    test_opts(&t);
    test_properties(&t);
    test_topk(&t);
    test_awq_spqr(&t);
    test_session(&t);
    test_session_threads(&t);
    test_tiny_model(&t);
    const char *bench = getenv("GLUEQ_BENCH");
    if (bench && !strcmp(bench, "1")) bench_svd(&t);
    return gq_test_done(&t);
}
