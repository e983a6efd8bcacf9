/* rosaq against references built by hand: calibration inputs X = H·diag(σ)·Qᵀ with H a
 * Sylvester-Hadamard matrix (HᵀH = N·I) and Q an orthogonal matrix made of two
 * Householder reflections per dimension (a well-mixed basis), so that C = XᵀX/N = Q·diag(σ²)·Qᵀ is known without LAPACK.
 * Then: with nothing quantized Ŵ = W; exactly the K = ⌊k/rows⌋ leading rotated columns
 * (ŴQ)_:j are exact and every other one lies on the quantizer's grid of W' = WQ;
 * rotation=none keeps the K columns of largest C_jj bit for bit; PCA protection has a
 * far smaller calibration output error than the same budget in the original basis; the
 * rotation's storage is counted; and on tiny-a, K = all columns gives the FP32 logits. */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "quant_method.h"
#include "testlib.h"
#include "testquant.h"

enum { D = 16, N = 16, ROWS = 8 };

/* |Ŵ − W| with nothing quantized: the bound (measured: 0, W·P·Pᵀ in double rounds
 * back to W). (ŴQ − WQ) on protected columns, measured 1e-8; distance of a quantized rotated
 * weight from its grid point in scales, measured 1.1e-7; K = all columns on tiny-a vs the
 * FP32 logits, measured 0. The others are about 10x the measurement. */
#define TOL_IDENTITY 1e-6
#define TOL_ROTATED 1e-7
#define TOL_GRID 1e-6
#define TOL_LOGITS 1e-6

typedef struct {
    double q[D * D]; /* the principal axes, columns */
    double sigma[D];
    double x[N * D]; /* calibration inputs (N tokens) */
    float w[ROWS * D];
    double xtx[D * D], abs_sum[D];
    gq_lin_stats stats;
} problem;

static void householder(double *m, const double *v) { /* m ← m·(I − 2vvᵀ/vᵀv) */
    double vv = 0, tmp[D];
    for (int i = 0; i < D; i++) vv += v[i] * v[i];
    for (int r = 0; r < D; r++) {
        double dot = 0;
        for (int i = 0; i < D; i++) dot += m[r * D + i] * v[i];
        for (int i = 0; i < D; i++) tmp[i] = m[r * D + i] - 2 * dot * v[i] / vv;
        memcpy(m + r * D, tmp, sizeof tmp);
    }
}

static void make_problem(problem *p, uint64_t seed) {
    gq_rng r;
    gq_rng_seed(&r, seed);
    double v[D];
    memset(p->q, 0, sizeof p->q);
    for (int i = 0; i < D; i++) p->q[i * D + i] = 1;
    for (int h = 0; h < D; h++) {
        for (int i = 0; i < D; i++) v[i] = gq_rng_normal(&r);
        householder(p->q, v);
    }
    for (int j = 0; j < D; j++) { /* rosaq's sign convention: each axis's largest entry positive */
        int big = 0;
        for (int i = 1; i < D; i++)
            if (fabs(p->q[i * D + j]) > fabs(p->q[big * D + j])) big = i;
        if (p->q[big * D + j] < 0)
            for (int i = 0; i < D; i++) p->q[i * D + j] = -p->q[i * D + j];
    }
    for (int j = 0; j < D; j++) p->sigma[j] = 4.0 * pow(0.6, j); /* distinct, steeply falling */
    for (int t = 0; t < N; t++)
        for (int i = 0; i < D; i++) {
            double s = 0;
            for (int j = 0; j < D; j++) s += (__builtin_popcount((unsigned)(t & j)) & 1 ? -1.0 : 1.0) * p->sigma[j] * p->q[i * D + j];
            p->x[t * D + i] = s;
        }
    for (int i = 0; i < ROWS * D; i++) p->w[i] = 0.1f * gq_rng_normal(&r);
    memset(p->xtx, 0, sizeof p->xtx);
    memset(p->abs_sum, 0, sizeof p->abs_sum);
    for (int t = 0; t < N; t++)
        for (int i = 0; i < D; i++) {
            p->abs_sum[i] += fabs(p->x[t * D + i]);
            for (int j = i; j < D; j++) p->xtx[i * D + j] += p->x[t * D + i] * p->x[t * D + j];
        }
    p->stats = (gq_lin_stats){.in = D, .ntok = N, .abs_sum = p->abs_sum, .xtx = p->xtx};
}

static gq_status run_algo(const problem *p, const char *rotation, int bits, gq_quant_algorithm algo, int64_t k,
                          float *out, uint8_t *mask, gq_method_applied *res) {
    gq_method_opts user = {0}, ro;
    gq_quant_opts q;
    gq_quant_opts_default(&q, bits);
    q.algorithm = algo;
    gq_method_opts_set(&user, "rotation", rotation, NULL);
    const gq_method *m = gq_method_find("rosaq");
    gq_err err = {{0}};
    gq_status s = m ? gq_method_resolve(m, &user, &ro, &err) : GQ_ERR_ARG;
    gq_method_args a = {.w = p->w, .rows = ROWS, .cols = D, .kind = GQ_LIN_O, .opts = &ro, .quant = &q, .stats = &p->stats};
    if (s == GQ_OK) s = gq_method_apply_matrix(m, &a, k, out, mask, res, &err);
    if (s != GQ_OK) fprintf(stderr, "rosaq: %s\n", err.msg);
    return s;
}

static gq_status run(const problem *p, const char *rotation, int bits, int64_t k, float *out, uint8_t *mask,
                     gq_method_applied *res) {
    return run_algo(p, rotation, bits, GQ_ALGO_RTN, k, out, mask, res);
}

/* ‖X Wᵀ − X Ŵᵀ‖² over the problem's calibration inputs. */
static double calib_error(const problem *p, const float *what) {
    double e = 0;
    for (int s = 0; s < N; s++)
        for (int i = 0; i < ROWS; i++) {
            double y = 0;
            for (int j = 0; j < D; j++) y += p->x[s * D + j] * ((double)what[i * D + j] - p->w[i * D + j]);
            e += y * y;
        }
    return e;
}

/* The configured algorithm runs on what rosaq hands it: in the PCA basis the inputs are
 * uncorrelated (X'ᵀX' = N·Λ), so GPTQ has no error to feed forward and equals RTN bit for
 * bit; in the original basis (none) it lowers the calibration error below RTN's. */
static void check_algorithm(gq_test_ctx *t, const problem *p) {
    float rtn[ROWS * D], gptq[ROWS * D];
    uint8_t mask[ROWS * D];
    gq_method_applied res;
    GQ_CHECK(t, run_algo(p, "pca", 3, GQ_ALGO_RTN, 2 * ROWS, rtn, mask, &res) == GQ_OK &&
                    run_algo(p, "pca", 3, GQ_ALGO_GPTQ, 2 * ROWS, gptq, mask, &res) == GQ_OK,
             "rosaq pca with rtn and gptq");
    GQ_CHECK(t, !memcmp(rtn, gptq, sizeof rtn), "rosaq pca: gptq on decorrelated inputs must equal rtn");
    GQ_CHECK(t, run_algo(p, "none", 3, GQ_ALGO_RTN, 2 * ROWS, rtn, mask, &res) == GQ_OK &&
                    run_algo(p, "none", 3, GQ_ALGO_GPTQ, 2 * ROWS, gptq, mask, &res) == GQ_OK,
             "rosaq none with rtn and gptq");
    double er = calib_error(p, rtn), eg = calib_error(p, gptq);
    GQ_CHECK(t, eg < er, "rosaq none: gptq's calibration error %.4g must be below rtn's %.4g", eg, er);
    printf("ok   rosaq with gptq: pca equals rtn; none: calibration error %.4g (rtn %.4g)\n", eg, er);
}

/* (A·Q)_ij for a float matrix A (ROWS×D). */
static double rotated(const problem *p, const float *a, int i, int j) {
    double s = 0;
    for (int c = 0; c < D; c++) s += (double)a[i * D + c] * p->q[c * D + j];
    return s;
}

static void check_nothing_quantized(gq_test_ctx *t, const problem *p) {
    float out[ROWS * D];
    uint8_t mask[ROWS * D];
    gq_method_applied res;
    GQ_CHECK(t, run(p, "pca", 2, ROWS * D, out, mask, &res) == GQ_OK, "rosaq pca, all columns kept");
    gq_check_close(t, "rosaq with nothing quantized vs W", out, p->w, ROWS * D, TOL_IDENTITY, 0);
    GQ_CHECK(t, res.protected_count == ROWS * D, "protected %lld, want %d", (long long)res.protected_count, ROWS * D);
}

/* Columns j < K of ŴQ equal those of WQ; the others sit on the int-b grid of WQ. */
static void check_rotated_columns(gq_test_ctx *t, const problem *p, int bits, int kcols) {
    float out[ROWS * D];
    uint8_t mask[ROWS * D];
    gq_method_applied res;
    int64_t k = (int64_t)kcols * ROWS + ROWS / 2; /* a partial column is not protected */
    GQ_CHECK(t, run(p, "pca", bits, k, out, mask, &res) == GQ_OK, "rosaq pca K=%d", kcols);
    GQ_CHECK(t, res.protected_count == (int64_t)kcols * ROWS, "K=%d: protected %lld, want %d", kcols,
             (long long)res.protected_count, kcols * ROWS);
    int mask_ok = 1;
    for (int i = 0; i < ROWS * D; i++) mask_ok &= mask[i] == (i % D < kcols);
    GQ_CHECK(t, mask_ok, "K=%d: the mask must be the K leading rotated columns", kcols);
    double mean = 0, var = 0;
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < D; j++) mean += rotated(p, p->w, i, j) / (ROWS * D);
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < D; j++) var += pow(rotated(p, p->w, i, j) - mean, 2) / (ROWS * D);
    double scale = 2.5 * sqrt(var) / ((1 << (bits - 1)) - 1); /* SPEC §4 default quantizer on W' */
    double worst_exact = 0, worst_grid = 0, moved = 0;
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < D; j++) {
            double got = rotated(p, out, i, j), want = rotated(p, p->w, i, j);
            if (j < kcols) {
                worst_exact = fmax(worst_exact, fabs(got - want));
            } else {
                worst_grid = fmax(worst_grid, fabs(got / scale - nearbyint(got / scale)));
                moved = fmax(moved, fabs(got - want));
            }
        }
    GQ_CHECK(t, worst_exact <= TOL_ROTATED, "K=%d: protected rotated columns off by %.3g", kcols, worst_exact);
    GQ_CHECK(t, worst_grid <= TOL_GRID, "K=%d: a quantized rotated weight is %.3g scales off the grid", kcols, worst_grid);
    GQ_CHECK(t, moved > scale / 8, "K=%d: the unprotected columns were not quantized (max change %.3g)", kcols, moved);
    printf("ok   rosaq pca int%d K=%d: protected columns within %.2g, others on the grid within %.2g scales\n", bits,
           kcols, worst_exact, worst_grid);
}

/* rotation=none keeps the K columns of largest C_jj exactly; PCA's calibration error is
 * far below it at the same budget; the rotation's FP16 d×d is in the effective bits. */
static void check_none_vs_pca(gq_test_ctx *t, const problem *p) {
    enum { K = 3, BITS = 2 };
    float none[ROWS * D], pca[ROWS * D];
    uint8_t mnone[ROWS * D], mpca[ROWS * D];
    gq_method_applied rn, rp;
    GQ_CHECK(t, run(p, "none", BITS, K * ROWS, none, mnone, &rn) == GQ_OK, "rosaq none");
    GQ_CHECK(t, run(p, "pca", BITS, K * ROWS, pca, mpca, &rp) == GQ_OK, "rosaq pca");
    int top[K], exact = 1;
    for (int c = 0; c < K; c++) { /* reference: largest diagonal of XᵀX, ties to the lower column */
        top[c] = -1;
        for (int j = 0; j < D; j++) {
            int used = 0;
            for (int e = 0; e < c; e++) used |= top[e] == j;
            if (!used && (top[c] < 0 || p->xtx[j * D + j] > p->xtx[top[c] * D + top[c]])) top[c] = j;
        }
    }
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < D; j++) {
            int kept = j == top[0] || j == top[1] || j == top[2];
            exact &= mnone[i * D + j] == kept && (!kept || none[i * D + j] == p->w[i * D + j]);
        }
    GQ_CHECK(t, exact, "rotation none: columns %d %d %d must be kept bit for bit and be the mask", top[0], top[1], top[2]);
    double err_none = 0, err_pca = 0;
    for (int s = 0; s < N; s++)
        for (int i = 0; i < ROWS; i++) {
            double yn = 0, yp = 0;
            for (int j = 0; j < D; j++) {
                yn += p->x[s * D + j] * ((double)none[i * D + j] - p->w[i * D + j]);
                yp += p->x[s * D + j] * ((double)pca[i * D + j] - p->w[i * D + j]);
            }
            err_none += yn * yn, err_pca += yp * yp;
        }
    GQ_CHECK(t, err_pca < 0.25 * err_none, "calibration error: pca %.4g should be far below none %.4g", err_pca, err_none);
    double want = 16.0 * D * D / (ROWS * D); /* out_lin carries its whole rotation */
    GQ_CHECK(t, fabs(rp.effective_bits - rn.effective_bits - want) < 1e-12 && rn.protected_count == K * ROWS,
             "effective bits: pca %.6f − none %.6f should be the rotation's %.6f", rp.effective_bits, rn.effective_bits,
             want);
    printf("ok   rosaq int%d K=%d: calibration error pca %.4g vs none %.4g\n", BITS, K, err_pca, err_none);
}

/* tiny-a quantized with --p 1 (K = every column) gives the FP32 logits. */
static void check_all_columns_fp32(gq_test_ctx *t, const char *rotation) {
    char rot[64], cache[300];
    snprintf(rot, sizeof rot, "rotation=%s", rotation);
    snprintf(cache, sizeof cache, "%s/cache", t->tmp);
    char *argv[] = {"--method", "rosaq", "--bits", "2", "--p", "1", "--calib-n", "8", "--method-opt", rot};
    char *dir = gq_test_path(t, "fixtures/tiny-a");
    gq_ckpt *ex = gq_test_load(t, "fixtures/tiny-a/expected.safetensors");
    const gq_tensor *ids = gq_ckpt_find(ex, "input_ids"), *am = gq_ckpt_find(ex, "attention_mask");
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    gq_encoder_runner *r = NULL;
    gq_quant_report rep;
    int nseq = ids ? (int)ids->shape[0] : 0, len = ids ? (int)ids->shape[1] : 0, total = 0;
    int32_t *flat = calloc((size_t)nseq * len + 1, sizeof *flat);
    int *lens = calloc((size_t)nseq + 1, sizeof *lens);
    for (int s = 0; s < nseq; s++)
        for (int i = 0; i < len; i++)
            if (am->data[s * len + i] != 0) flat[total++] = (int32_t)ids->data[s * len + i], lens[s]++;
    float *fp32 = calloc((size_t)nseq * 2 + 1, sizeof *fp32), *q = calloc((size_t)nseq * 2 + 1, sizeof *q);
    gq_status s = gq_encoder_load(dir, &m, &err);
    if (s == GQ_OK && !(r = gq_encoder_runner_new(m, 1))) s = GQ_ERR_NOMEM;
    if (s == GQ_OK) s = gq_encoder_forward(r, flat, lens, NULL, nseq, fp32, NULL, &err);
    if (s == GQ_OK) s = gq_test_quantize(t, argv, (int)(sizeof argv / sizeof argv[0]), cache, m, r, &rep, &err);
    if (s == GQ_OK) s = gq_encoder_forward(r, flat, lens, NULL, nseq, q, NULL, &err);
    GQ_CHECK(t, s == GQ_OK && nseq > 0, "tiny-a rosaq %s: %s", rotation, err.msg);
    GQ_CHECK(t, s == GQ_OK && rep.total_protected == rep.total_numel, "every weight must be protected (%lld of %lld)",
             (long long)rep.total_protected, (long long)rep.total_numel);
    char what[96];
    snprintf(what, sizeof what, "tiny-a rosaq rotation=%s K=all vs FP32 logits", rotation);
    if (s == GQ_OK) gq_check_close(t, what, q, fp32, (size_t)nseq * 2, TOL_LOGITS, 0);
    gq_encoder_runner_free(r);
    gq_encoder_free(m);
    gq_ckpt_free(ex);
    free(flat), free(lens), free(fp32), free(q), free(dir);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    char tmp[256];
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_rosaq", tmp, sizeof tmp);
    problem p;
    make_problem(&p, 7);
    check_nothing_quantized(&t, &p);
    for (int kcols = 0; kcols <= 5; kcols += 5) check_rotated_columns(&t, &p, 3, kcols);
    check_rotated_columns(&t, &p, 2, 1);
    check_none_vs_pca(&t, &p);
    check_algorithm(&t, &p);
    check_all_columns_fp32(&t, "pca");
    check_all_columns_fp32(&t, "none");
    return gq_test_done(&t);
}
