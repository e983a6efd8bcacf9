/* gptq: GPTQ (Frantar et al. 2022; IST-DASLab/gptq) on glueq's quantizer, with protected
 * weights and SARQC.
 *
 * H = (2/N)·XᵀX, dead columns (H_jj = 0) get H_jj = 1 and their unprotected weights are
 * zeroed (as GPTQ does), then H += damp·mean(diag H)·I (SpQR's Hessian). SARQC adds
 * λ·m·diag(s̄) (m = mean diag H, s̄_j the column mean of S normalised to mean 1); λ = 0
 * adds nothing, so the plain algorithm is reproduced bit for bit. With act_order the
 * columns go by descending diag of that final H (ties: lower index first).
 *
 * U, the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), comes from the lower Cholesky factor of
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
    double *h;     /* (n, n) Hessian, then scratch for the reversed factor */
    double *u;     /* (n, n) upper Cholesky factor of H⁻¹, in pass order */
    double *wt;    /* (n, rows) W transposed, in pass order */
    double *err;   /* (GPTQ_BLOCK, rows) scaled errors of the current block */
    double *s;     /* (rows, cols) SARQC scores, when λ > 0 */
    int *perm;     /* pass position -> column of W */
    uint8_t *dead; /* (n) */
    gq_qparams *params;
} gptq_work;

static void work_free(gptq_work *g) {
    free(g->h), free(g->u), free(g->wt), free(g->err), free(g->s), free(g->perm), free(g->dead), free(g->params);
}

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
static gq_status order_columns(gptq_work *g, int act_order, gq_err *err) {
    int n = g->n;
    for (int j = 0; j < n; j++) g->perm[j] = j;
    if (!act_order) return GQ_OK;
    diag_entry *e = gq_malloc_array((size_t)n, sizeof *e);
    if (!e) return gq_fail(err, GQ_ERR_NOMEM, "gptq: out of memory");
    for (int j = 0; j < n; j++) e[j] = (diag_entry){g->h[(size_t)j * n + j], j};
    qsort(e, (size_t)n, sizeof *e, by_diag_desc);
    for (int j = 0; j < n; j++) g->perm[j] = e[j].j;
    free(e);
    return GQ_OK;
}

/* U (pass order) from H: A = J P H Pᵀ J = L Lᵀ, U = J L⁻¹ J. A is built in g->u (H is
 * read while building it), U is written into g->h, then the two buffers swap names. */
static gq_status inverse_factor(gptq_work *g, gq_err *err) {
    int n = g->n;
    double *a = g->u;
    for (int i = 0; i < n; i++) {
        const double *hr = g->h + (size_t)g->perm[n - 1 - i] * n;
        for (int j = 0; j < n; j++) a[(size_t)i * n + j] = hr[g->perm[n - 1 - j]];
    }
    /* a is symmetric: its row-major storage is also column-major */
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, a, n);
    const char *step = "dpotrf";
    if (info == 0) step = "dtrtri", info = LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', n, a, n);
    if (info != 0)
        return gq_fail(err, GQ_ERR_ARG, "gptq: %s of the %dx%d Hessian failed (info %d): not positive definite; "
                                        "raise damp", step, n, n, (int)info);
    /* L⁻¹ (column-major lower: element (r, c) at a[r + c·n]); U_ij = L⁻¹(n−1−i, n−1−j) */
    double *u = g->h;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            u[(size_t)i * n + j] = j >= i ? a[(size_t)(n - 1 - i) + (size_t)(n - 1 - j) * n] : 0.0;
    g->h = a, g->u = u;
    return GQ_OK;
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
    size_t nn = (size_t)n * n;
    g.h = gq_malloc_array(nn, sizeof *g.h);
    g.u = gq_malloc_array(nn, sizeof *g.u);
    g.wt = gq_malloc_array((size_t)n * rows, sizeof *g.wt);
    g.err = gq_malloc_array((size_t)GPTQ_BLOCK * rows, sizeof *g.err);
    g.perm = gq_malloc_array((size_t)n, sizeof *g.perm);
    g.dead = gq_malloc_array((size_t)n, sizeof *g.dead);
    g.params = gq_malloc_array((size_t)gq_quant_n_scales(o, rows, cols), sizeof *g.params);
    if (o->sarqc_lambda > 0) g.s = gq_malloc_array((size_t)rows * cols, sizeof *g.s);
    gq_status st = GQ_OK;
    if (!g.h || !g.u || !g.wt || !g.err || !g.perm || !g.dead || !g.params || (o->sarqc_lambda > 0 && !g.s)) {
        st = gq_fail(err, GQ_ERR_NOMEM, "gptq: out of memory for a %dx%d matrix", rows, cols);
        goto done;
    }
    double m;
    gq_algo_hessian(in->stats, o->damp, g.h, g.dead, &m);
    if (o->sarqc_lambda > 0) { /* SARQC's column form: H + λ·m·diag(s̄) */
        if ((st = gq_algo_sarqc_scores(in->saliency, rows, cols, g.s, err)) != GQ_OK) goto done;
        for (int j = 0; j < n; j++) {
            double sum = 0;
            for (int r = 0; r < rows; r++) sum += g.s[(size_t)r * cols + j];
            g.h[(size_t)j * n + j] += o->sarqc_lambda * m * (sum / rows);
        }
    }
    if ((st = order_columns(&g, o->act_order, err)) != GQ_OK || (st = inverse_factor(&g, err)) != GQ_OK) goto done;
    gq_quant_params(o, w, rows, cols, protect, g.params);
    for (int i = 0; i < n; i++) { /* dead columns start from 0, as in GPTQ */
        int c = g.perm[i];
        for (int r = 0; r < rows; r++) g.wt[(size_t)i * rows + r] = g.dead[c] ? 0.0 : w[(size_t)r * cols + c];
    }
    gptq_pass(&g, o, w, cols, protect, out);
done:
    work_free(&g);
    return st;
}
