/* gptq: GPTQ (Frantar et al. 2022; IST-DASLab/gptq) on glueq's quantizer, with protected
 * weights and SARQC.
 *
 * H = (2/N)·XᵀX, dead columns (H_jj = 0) get H_jj = 1 and their unprotected weights are
 * zeroed (as GPTQ does), then H += damp·mean(diag H)·I (SpQR's Hessian). SARQC adds
 * λ·m·diag(s̄) (m = mean diag H, s̄_j the column mean of S normalised to mean 1); λ = 0
 * adds nothing, so the plain algorithm is reproduced bit for bit. With act_order the
 * columns go by descending diag of that final H (ties: lower index first).
 *
 * U, the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), with the column order and the dead
 * columns, depends on the statistics and H's diagonal only: a session keeps it across
 * applies (factor_cache.h). It comes from the lower Cholesky factor of
 * the index-reversed H: J H J = L Lᵀ gives H⁻¹ = (J L⁻¹ J)ᵀ (J L⁻¹ J), and J L⁻¹ J is upper
 * triangular. That is dpotrf + dtrtri (2n³/3 flops) instead of GPTQ's
 * cholesky → cholesky_inverse → cholesky (4n³/3); the factor is the same in exact
 * arithmetic.
 *
 * Pass: column i is quantized with the scales gq_quant_params computed from the original W
 * (so act_order keeps the configured groups), e_i = (w_i − q_i)/U_ii, and the columns after
 * i get w_j −= U_ij·e_i: inside a block of 128 columns at once, the rest of the matrix once
 * per block (dgemm), as GPTQ's lazy batch updates. A protected weight is written as its
 * original FP32 value and its e is 0: it is never rounded and sends no error to later
 * columns; updates that reach it are discarded. The matrix is held transposed (one
 * contiguous row per column of W) in double. */
#include "quant_internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#define GPTQ_BLOCK 128

typedef struct {
    int rows, n;
    const double *u;       /* (n, n) upper Cholesky factor of H⁻¹, in pass order */
    const int *perm;       /* pass position -> column of W */
    const uint8_t *dead;   /* (n) */
    double *wt;            /* (n, rows) W transposed, in pass order */
    double *err;           /* (GPTQ_BLOCK, rows) scaled errors of the current block */
    gq_qparams *params;
} gptq_work;

typedef struct {
    double d;
    int j;
} diag_entry;

/* Descending diag H; ties: lower column first (qsort is not stable). */
static int by_diag_desc(const void *a, const void *b) {
    const diag_entry *x = a, *y = b;
    if (x->d != y->d) return x->d > y->d ? -1 : 1;
    return x->j - y->j;
}

/* Column order of the pass: identity, or by descending diag H. */
static gq_status order_columns(const double *diag, int n, int act_order, int *perm, gq_err *err) {
    for (int j = 0; j < n; j++) perm[j] = j;
    if (!act_order) return GQ_OK;
    diag_entry *e = gq_malloc_array((size_t)n, sizeof *e);
    if (!e) return gq_fail(err, GQ_ERR_NOMEM, "gptq: out of memory");
    for (int j = 0; j < n; j++) e[j] = (diag_entry){diag[j], j};
    qsort(e, (size_t)n, sizeof *e, by_diag_desc);
    for (int j = 0; j < n; j++) perm[j] = e[j].j;
    free(e);
    return GQ_OK;
}

/* U (pass order) from H in h: A = J P H Pᵀ J = L Lᵀ (built in a), U = J L⁻¹ J written
 * into h. */
static gq_status inverse_factor(double *h, double *a, int n, const int *perm, gq_err *err) {
    for (int i = 0; i < n; i++) {
        const double *hr = h + (size_t)perm[n - 1 - i] * n;
        for (int j = 0; j < n; j++) a[(size_t)i * n + j] = hr[perm[n - 1 - j]];
    }
    /* a is symmetric: its row-major storage is also column-major */
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, a, n);
    const char *step = "dpotrf";
    if (info == 0) step = "dtrtri", info = LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', n, a, n);
    if (info != 0)
        return gq_fail(err, GQ_ERR_ARG, "gptq: %s of the %dx%d Hessian failed (info %d): not positive definite; "
                                        "raise damp", step, n, n, (int)info);
    /* L⁻¹ (column-major lower: element (r, c) at a[r + c·n]); U_ij = L⁻¹(n−1−i, n−1−j) */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            h[(size_t)i * n + j] = j >= i ? a[(size_t)(n - 1 - i) + (size_t)(n - 1 - j) * n] : 0.0;
    return GQ_OK;
}

/* The factor of H (statistics st, diagonal diag) into f->m and f->order, both malloc'd
 * (f is the caller's: gq_factor_free, also on failure). */
static gq_status compute_factor(const gq_lin_stats *st, const double *diag, int act_order, gq_factor *f,
                                gq_err *err) {
    int n = st->in;
    size_t nn = (size_t)n * n;
    double *a = gq_malloc_array(nn, sizeof *a);
    f->n = n;
    f->m = gq_malloc_array(nn, sizeof *f->m);
    f->order = gq_malloc_array((size_t)n, sizeof *f->order);
    gq_status s = a && f->m && f->order ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "gptq: out of memory for a %dx%d Hessian", n, n);
    if (s == GQ_OK) {
        gq_algo_hessian(st, diag, f->m);
        s = order_columns(diag, n, act_order, f->order, err);
    }
    if (s == GQ_OK) s = inverse_factor(f->m, a, n, f->order, err);
    free(a);
    return s;
}

/* The final diagonal of H into diag and the dead columns into dead: gq_algo_hessian_diag,
 * plus SARQC's column form λ·m·diag(s̄) when λ > 0. */
static gq_status hessian_diag(const gq_quant_opts *o, const gq_quant_algo_inputs *in, int rows, double *diag,
                              uint8_t *dead, gq_err *err) {
    int n = in->stats->in;
    double m;
    gq_algo_hessian_diag(in->stats, o->damp, diag, dead, &m);
    if (!(o->sarqc_lambda > 0)) return GQ_OK;
    double *s = gq_malloc_array((size_t)rows * n, sizeof *s);
    if (!s) return gq_fail(err, GQ_ERR_NOMEM, "gptq: out of memory for a %dx%d matrix", rows, n);
    gq_status st = gq_algo_sarqc_scores(in->saliency, rows, n, s, err);
    for (int j = 0; j < n && st == GQ_OK; j++) {
        double sum = 0;
        for (int r = 0; r < rows; r++) sum += s[(size_t)r * n + j];
        diag[j] += o->sarqc_lambda * m * (sum / rows);
    }
    free(s);
    return st;
}

/* The factor for H: the cache's when it holds it, else computed (and kept there when it
 * fits). own receives what the caller must free. */
static gq_status find_factor(const gq_quant_opts *o, const gq_quant_algo_inputs *in, int rows, gq_factor *own,
                             const gq_factor **out, gq_err *err) {
    int n = in->stats->in;
    double *diag = gq_malloc_array((size_t)n, sizeof *diag);
    own->dead = gq_malloc_array((size_t)n, sizeof *own->dead);
    gq_status st = diag && own->dead ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "gptq: out of memory");
    if (st == GQ_OK) st = hessian_diag(o, in, rows, diag, own->dead, err);
    gq_factor_key key = {in->factor_slot, in->factor_basis, GQ_ALGO_GPTQ, o->act_order != 0, n, diag};
    *out = st == GQ_OK && in->factors ? gq_factor_cache_get(in->factors, &key) : NULL;
    if (st == GQ_OK && !*out && (st = compute_factor(in->stats, diag, o->act_order, own, err)) == GQ_OK) {
        *out = in->factors ? gq_factor_cache_put(in->factors, &key, own) : NULL;
        if (!*out) *out = own;
    }
    free(diag);
    return st;
}

/* Quantizes pass column i (W's column perm[i]) into out and its scaled errors into e. */
static void quantize_column(const gptq_work *g, const gq_quant_opts *o, int i, const float *w, int cols,
                            const uint8_t *protect, float *out, double *e) {
    int c = g->perm[i];
    const double *wi = g->wt + (size_t)i * g->rows;
    double d = g->u[(size_t)i * g->n + i];
    for (int r = 0; r < g->rows; r++) {
        size_t idx = (size_t)r * cols + c;
        if (protect && protect[idx]) {
            out[idx] = w[idx];
            e[r] = 0;
            continue;
        }
        float q = gq_qparams_value(&g->params[gq_quant_param_index(o, cols, r, c)], wi[r]);
        out[idx] = q;
        e[r] = (wi[r] - (double)q) / d;
    }
}

/* The pass over the columns, in blocks of GPTQ_BLOCK. */
static void gptq_pass(gptq_work *g, const gq_quant_opts *o, const float *w, int cols, const uint8_t *protect,
                      float *out) {
    int n = g->n, rows = g->rows;
    for (int i1 = 0; i1 < n; i1 += GPTQ_BLOCK) {
        int i2 = i1 + GPTQ_BLOCK < n ? i1 + GPTQ_BLOCK : n;
        for (int i = i1; i < i2; i++) {
            double *e = g->err + (size_t)(i - i1) * rows;
            quantize_column(g, o, i, w, cols, protect, out, e);
            for (int j = i + 1; j < i2; j++) {
                double uij = g->u[(size_t)i * n + j];
                double *wj = g->wt + (size_t)j * rows;
                for (int r = 0; r < rows; r++) wj[r] -= uij * e[r];
            }
        }
        if (i2 < n) /* W[:, i2:] −= Err·U[i1:i2, i2:], transposed */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n - i2, rows, i2 - i1, -1.0,
                        g->u + (size_t)i1 * n + i2, n, g->err, rows, 1.0, g->wt + (size_t)i2 * rows, rows);
    }
}

gq_status gq_algo_gptq(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                       const gq_quant_algo_inputs *in, float *out, gq_err *err) {
    int n = cols;
    gptq_work g = {.rows = rows, .n = n};
    gq_factor own = {0};
    const gq_factor *f = NULL;
    gq_status st = find_factor(o, in, rows, &own, &f, err);
    g.wt = gq_malloc_array((size_t)n * rows, sizeof *g.wt);
    g.err = gq_malloc_array((size_t)GPTQ_BLOCK * rows, sizeof *g.err);
    g.params = gq_malloc_array((size_t)gq_quant_n_scales(o, rows, cols), sizeof *g.params);
    if (st == GQ_OK && (!g.wt || !g.err || !g.params))
        st = gq_fail(err, GQ_ERR_NOMEM, "gptq: out of memory for a %dx%d matrix", rows, cols);
    if (st == GQ_OK) {
        g.u = f->m, g.perm = f->order, g.dead = f->dead;
        gq_quant_params(o, w, rows, cols, protect, g.params);
        for (int i = 0; i < n; i++) { /* dead columns start from 0, as in GPTQ */
            int c = g.perm[i];
            for (int r = 0; r < rows; r++) g.wt[(size_t)i * rows + r] = g.dead[c] ? 0.0 : w[(size_t)r * cols + c];
        }
        gptq_pass(&g, o, w, cols, protect, out);
    }
    gq_factor_free(&own);
    free(g.wt), free(g.err), free(g.params);
    return st;
}
