/* rosaq: salient input channels chosen in the PCA basis of the matrix's calibration
 * inputs (ROSAQ, arXiv 2506.13472).
 *
 * Per Linear: C = XᵀX/N over its calibration inputs, C = P Λ Pᵀ (eigenvalues descending),
 * W' = W P. The K = ⌊k/rows⌋ columns of W' with the largest eigenvalues stay FP32, the rest
 * of W' is quantized with the session's quantizer, and the model runs with Ŵ = Ŵ' Pᵀ
 * (the same as rotating the activations, P being orthogonal). rotation=none is the
 * ablation: the K columns of W itself whose inputs have the largest second moment C_jj,
 * no rotation.
 *
 * State (cached per checkpoint and calibration): [N, λ_0..λ_{d-1}, P row-major (d×d)] for
 * pca, [N, C_00..C_{d-1,d-1}] for none.
 */
#include "quant_method.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const gq_method_opt OPTS[] = {{"rotation", GQ_OPT_CHOICE, "pca", "pca|none"}, {NULL, 0, NULL, NULL}};

static int use_pca(const gq_method_args *a) { return strcmp(gq_method_opt_str(a->opts, "rotation"), "pca") == 0; }

/* Eigenvectors of c (d×d, upper triangle used, destroyed) into p (columns, eigenvalues
 * descending into lambda); each column's largest-magnitude entry made positive so that the
 * basis is reproducible. */
static gq_status eigen_desc(double *c, int d, double *lambda, double *p, const gq_method_args *a, gq_err *err) {
    double *w = malloc((size_t)d * sizeof *w), *z = malloc((size_t)d * d * sizeof *z);
    int *support = malloc(2 * (size_t)d * sizeof *support);
    lapack_int found = 0;
    lapack_int info = w && z && support ? LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'A', 'U', d, c, d, 0, 0, 0, 0, 0,
                                                         &found, w, z, d, support)
                                        : -1000;
    gq_status st = GQ_OK;
    if (info == -1000) st = gq_fail(err, GQ_ERR_NOMEM, "rosaq: out of memory");
    else if (info != 0 || found != d)
        st = gq_fail(err, GQ_ERR_ARG, "rosaq: layer %d %s: eigendecomposition of the input covariance failed (info %d)",
                     a->layer, gq_lin_name(a->family, a->kind), (int)info);
    for (int j = 0; st == GQ_OK && j < d; j++) { /* LAPACK's order is ascending */
        int src = d - 1 - j, big = 0;
        lambda[j] = w[src];
        for (int i = 1; i < d; i++)
            if (fabs(z[(size_t)i * d + src]) > fabs(z[(size_t)big * d + src])) big = i;
        double sign = z[(size_t)big * d + src] < 0 ? -1.0 : 1.0;
        for (int i = 0; i < d; i++) p[(size_t)i * d + j] = sign * z[(size_t)i * d + src];
    }
    free(w), free(z), free(support);
    return st;
}

static gq_status prepare(const gq_method_args *a, double **state, size_t *n, gq_err *err) {
    const gq_lin_stats *s = a->stats;
    int d = a->cols;
    if (s->in != d || s->ntok <= 0)
        return gq_fail(err, GQ_ERR_SHAPE, "rosaq: layer %d %s: statistics of %d inputs over %lld tokens for %d columns",
                       a->layer, gq_lin_name(a->family, a->kind), s->in, (long long)s->ntok, d);
    int pca = use_pca(a);
    *n = 1 + (size_t)d + (pca ? (size_t)d * d : 0);
    double *st = gq_malloc_array(*n, sizeof *st), *c = pca ? gq_malloc_array((size_t)d * d, sizeof *c) : NULL;
    if (!st || (pca && !c)) {
        free(st), free(c);
        return gq_fail(err, GQ_ERR_NOMEM, "rosaq: out of memory");
    }
    st[0] = (double)s->ntok;
    for (int j = 0; j < d; j++) st[1 + j] = s->xtx[(size_t)j * d + j] / (double)s->ntok;
    gq_status r = GQ_OK;
    if (pca) {
        for (size_t i = 0; i < (size_t)d * d; i++) c[i] = s->xtx[i] / (double)s->ntok;
        r = eigen_desc(c, d, st + 1, st + 1 + d, a, err);
    }
    free(c);
    if (r != GQ_OK) free(st), st = NULL;
    *state = st;
    return r;
}

static int ceil_log2(int64_t n) {
    int b = 0;
    while (b < 62 && ((int64_t)1 << b) < n) b++;
    return b;
}

/* (b·(n − K·rows) + 32·K·rows + ⌈log₂ cols⌉·K + scales + rotation) / n: a protected column
 * costs its FP32 values and one column index; the FP16 d×d rotation is shared by the
 * matrices that read the same input (q, k and v), so each carries a third of it. */
static double effective_bits(const gq_method_args *a, int64_t kcols, int pca) {
    double n = (double)a->rows * a->cols;
    double rot = pca ? 16.0 * a->cols * a->cols : 0.0;
    if (a->kind == GQ_LIN_Q || a->kind == GQ_LIN_K || a->kind == GQ_LIN_V) rot /= 3.0;
    return gq_quant_effective_bits(a->quant, a->rows, a->cols, 0) +
           ((32.0 - a->quant->bits) * (double)kcols * a->rows + (double)ceil_log2(a->cols) * (double)kcols + rot) / n;
}

/* Ablation: protect the K columns of W with the largest C_jj (ties: lower column). */
static gq_status apply_none(const gq_method_args *a, const double *diag, int64_t kcols, const gq_quantize_fn *qz,
                            float *out, uint8_t *mask, gq_err *err) {
    int d = a->cols;
    uint8_t *keep = calloc((size_t)d, 1);
    if (!keep) return gq_fail(err, GQ_ERR_NOMEM, "rosaq: out of memory");
    for (int64_t c = 0; c < kcols; c++) {
        int best = -1;
        for (int j = 0; j < d; j++)
            if (!keep[j] && (best < 0 || diag[j] > diag[best])) best = j;
        keep[best] = 1;
    }
    for (int i = 0; i < a->rows; i++) memcpy(mask + (size_t)i * d, keep, (size_t)d);
    free(keep);
    return qz->fn(qz->ctx, a->w, a->rows, d, mask, a->stats, 0, out, err);
}

/* The quantizer's basis number for the PCA basis (gq_quantize_fn): its statistics below
 * depend on the matrix's statistics alone. */
#define PCA_BASIS 1

/* The quantizer's view of the rotated inputs x' = x P: X'ᵀX' = N·Λ exactly; Σ|x'_j| is
 * not recoverable from second moments and is taken as N·sqrt(λ_j) (the RMS). */
static gq_status rotated_stats(const double *st, int d, gq_lin_stats *r, gq_err *err) {
    r->in = d, r->ntok = (int64_t)st[0];
    r->abs_sum = calloc((size_t)d, sizeof *r->abs_sum);
    r->xtx = gq_calloc_array((size_t)d * d, sizeof *r->xtx);
    if (!r->abs_sum || !r->xtx) return gq_fail(err, GQ_ERR_NOMEM, "rosaq: out of memory");
    for (int j = 0; j < d; j++) {
        double lam = st[1 + j] > 0 ? st[1 + j] : 0;
        r->xtx[(size_t)j * d + j] = st[0] * lam;
        r->abs_sum[j] = st[0] * sqrt(lam);
    }
    return GQ_OK;
}

/* The rule of pca's protected set, checked on every apply: the K leading columns of Ŵ·P
 * equal those of W' = W·P. Ŵ is the FP32 rounding of Ŵ'Pᵀ computed in double, which moves
 * row r by at most 2⁻²⁴·‖Ŵ_r‖ in 2-norm, and P's columns have norm 1, so each protected
 * entry of Ŵ·P is within 2⁻²⁴·‖Ŵ_r‖ of W' (the double-precision products add about d·2⁻⁵³
 * relative; measured at most 0.35·2⁻²⁴·‖Ŵ_r‖ on the test problems and mlm-rte). Twice that
 * bound: */
#define PROTECTED_COLUMN_RTOL 0x1p-23

/* Checks the rule above for out (rows×d) against wr, whose K leading columns hold W' (in
 * double; they are overwritten with the differences). w (rows×d doubles) is scratch.
 * GQ_ERR_INTERNAL naming the matrix when a protected entry is off. */
static gq_status check_protected_columns(const gq_method_args *a, const double *p, int64_t kcols, const float *out,
                                         double *w, double *wr, gq_err *err) {
    int rows = a->rows, d = a->cols;
    if (kcols == 0) return GQ_OK;
    for (size_t i = 0; i < (size_t)rows * d; i++) w[i] = out[i];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, (int)kcols, d, 1.0, w, d, p, d, -1.0, wr, d);
    for (int r = 0; r < rows; r++) {
        double norm = cblas_dnrm2(d, w + (size_t)r * d, 1);
        for (int64_t j = 0; j < kcols; j++)
            if (!(fabs(wr[(size_t)r * d + j]) <= PROTECTED_COLUMN_RTOL * norm))
                return gq_fail(err, GQ_ERR_INTERNAL,
                               "rosaq: layer %d %s: protected entry (%d, %lld) of W·P is off by %.3g after rotating "
                               "back (at most %.3g)",
                               a->layer, gq_lin_name(a->family, a->kind), r, (long long)j, wr[(size_t)r * d + j],
                               PROTECTED_COLUMN_RTOL * norm);
    }
    return GQ_OK;
}

static gq_status apply_pca(const gq_method_args *a, const double *st, int64_t kcols, const gq_quantize_fn *qz,
                           float *out, uint8_t *mask, gq_err *err) {
    int rows = a->rows, d = a->cols;
    size_t n = (size_t)rows * d;
    const double *p = st + 1 + d;
    double *w = gq_malloc_array(n, sizeof *w), *wr = gq_malloc_array(n, sizeof *wr);
    float *wrf = gq_malloc_array(n, sizeof *wrf), *qf = gq_malloc_array(n, sizeof *qf);
    gq_lin_stats rs = {0};
    gq_status s = w && wr && wrf && qf ? rotated_stats(st, d, &rs, err) : gq_fail(err, GQ_ERR_NOMEM, "rosaq: out of memory");
    if (s == GQ_OK) {
        for (size_t i = 0; i < n; i++) w[i] = a->w[i];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, d, 1.0, w, d, p, d, 0.0, wr, d); /* W' = W P */
        for (size_t i = 0; i < n; i++) wrf[i] = (float)wr[i];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < d; j++) mask[(size_t)i * d + j] = j < kcols;
        s = qz->fn(qz->ctx, wrf, rows, d, mask, &rs, PCA_BASIS, qf, err);
    }
    if (s == GQ_OK) {
        /* Ŵ' keeps the protected columns at W' in double, so that Ŵ = Ŵ' Pᵀ reproduces them
         * to double precision before the final rounding */
        for (size_t i = 0; i < n; i++)
            if (!mask[i]) wr[i] = qf[i];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d, d, 1.0, wr, d, p, d, 0.0, w, d); /* Ŵ' Pᵀ */
        for (size_t i = 0; i < n; i++) out[i] = (float)w[i];
        s = check_protected_columns(a, p, kcols, out, w, wr, err);
    }
    free(rs.abs_sum), free(rs.xtx);
    free(w), free(wr), free(wrf), free(qf);
    return s;
}

static gq_status apply(const gq_method_args *a, const double *state, size_t n, int64_t k, const gq_quantize_fn *qz,
                       float *out, uint8_t *mask, gq_method_applied *res, gq_err *err) {
    int pca = use_pca(a), d = a->cols;
    if (n != 1 + (size_t)d + (pca ? (size_t)d * d : 0))
        return gq_fail(err, GQ_ERR_SHAPE, "rosaq: layer %d %s: prepared state of %zu values does not fit %d columns",
                       a->layer, gq_lin_name(a->family, a->kind), n, d);
    int64_t kcols = k / a->rows;
    if (kcols > d) kcols = d;
    if (kcols < 0) kcols = 0;
    gq_status s = pca ? apply_pca(a, state, kcols, qz, out, mask, err)
                      : apply_none(a, state + 1, kcols, qz, out, mask, err);
    res->protected_count = kcols * a->rows;
    res->effective_bits = effective_bits(a, kcols, pca);
    res->rotated = pca; /* none keeps columns of W itself, which the session checks bit for bit */
    return s;
}

const gq_method gq_method_rosaq = {
    .name = "rosaq", .needs_calibration = 1, .opts = OPTS, .prepare = prepare, .apply = apply};
