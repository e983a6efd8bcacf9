/* svd (data-free, the paper's): s_ij = |(U_r Σ_r V_rᵀ)_ij|, the magnitude of W's best
 * rank-r approximation. The sign ambiguity of singular vectors cancels in U_r Σ_r V_rᵀ.
 *
 * prepare keeps only two factors whose product is U_r Σ_r V_rᵀ (r·(rows + cols) doubles)
 * so that the disk cache stays small; score rebuilds the product (rows·cols·r flops).
 * State layout: [r, A (rows, r) row-major, B (cols, r) row-major], product A Bᵀ.
 */
#include "quant_method.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const gq_method_opt opts[] = {{"rank", GQ_OPT_INT, "8", NULL}, {NULL, 0, NULL, NULL}};

/* The top-r singular subspace comes from the symmetric eigenproblem of the smaller Gram
 * matrix (WᵀW or WWᵀ, in double) solved for its r largest eigenpairs only (dsyevr):
 * U_r Σ_r V_rᵀ = W V_r V_rᵀ = U_r U_rᵀ W. That is ~5x faster than a full dgesdd of a
 * 3072x768 matrix and, in double, agrees with the FP64 SVD references to ~1e-7 of the
 * largest score (squaring W squares the condition only of the discarded small
 * singular values; the kept ones are the well-separated top of the spectrum). */
static gq_status prepare(const gq_method_args *a, double **state, size_t *n, gq_err *err) {
    int64_t rank;
    gq_status st = gq_method_opt_int(a->opts, "rank", &rank, err);
    if (st != GQ_OK) return st;
    if (rank < 1) return gq_fail(err, GQ_ERR_ARG, "method svd: rank %lld: must be at least 1", (long long)rank);
    int m = a->rows, k = a->cols, tall = m >= k, g = tall ? k : m; /* Gram size = min(m, k) */
    int r = rank < g ? (int)rank : g;
    double *w = gq_malloc_array((size_t)m * k, sizeof *w);
    double *gram = gq_malloc_array((size_t)g * g, sizeof *gram);
    double *z = gq_malloc_array((size_t)g * r, sizeof *z); /* column-major (g, r) */
    double *ev = gq_malloc_array((size_t)g, sizeof *ev);
    lapack_int *supp = gq_malloc_array(2 * (size_t)g, sizeof *supp);
    double *out = gq_malloc_array(1 + (size_t)r * (m + k), sizeof *out);
    if (!w || !gram || !z || !ev || !supp || !out) {
        st = gq_fail(err, GQ_ERR_NOMEM, "method svd: layer %d %s: out of memory for a %dx%d SVD", a->layer,
                     gq_lin_name(a->family, a->kind), m, k);
        goto done;
    }
    for (size_t i = 0; i < (size_t)m * k; i++) w[i] = a->w[i];
    cblas_dsyrk(CblasRowMajor, CblasUpper, tall ? CblasTrans : CblasNoTrans, g, tall ? m : k, 1.0, w, k, 0.0, gram,
                g);
    /* the row-major upper triangle is the column-major lower one: calling LAPACK in its
     * native column-major order spares LAPACKE two transposed copies of the matrix */
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'L', g, gram, g, 0, 0, g - r + 1, g, 0, &found, ev,
                                     z, g, supp);
    if (info != 0 || found != r) {
        st = gq_fail(err, GQ_ERR_ARG, "method svd: layer %d %s: dsyevr failed (info %d, %d of %d eigenpairs)",
                     a->layer, gq_lin_name(a->family, a->kind), (int)info, (int)found, r);
        goto done;
    }
    out[0] = r;
    double *us = out + 1, *v = out + 1 + (size_t)r * m;
    double *vec = tall ? v : us; /* eigenvectors (g, r) row-major, from column-major z */
    for (int i = 0; i < g; i++)
        for (int c = 0; c < r; c++) vec[(size_t)i * r + c] = z[(size_t)c * g + i];
    if (tall) /* V_r: U_r Σ_r = W V_r */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, r, k, 1.0, w, k, v, r, 0.0, us, r);
    else /* U_r: the product is U_r (Wᵀ U_r)ᵀ */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, r, m, 1.0, w, k, us, r, 0.0, v, r);
    *state = out, *n = 1 + (size_t)r * (m + k);
    out = NULL;
done:
    free(w), free(gram), free(z), free(ev), free(supp), free(out);
    return st;
}

static gq_status score(const gq_method_args *a, const double *state, size_t n, float *sc, gq_err *err) {
    int m = a->rows, k = a->cols;
    int r = n ? (int)state[0] : 0;
    if (n < 1 || r < 1 || n != 1 + (size_t)r * (m + k))
        return gq_fail(err, GQ_ERR_FORMAT, "method svd: layer %d %s: state of %zu values does not fit a %dx%d matrix",
                       a->layer, gq_lin_name(a->family, a->kind), n, m, k);
    const double *us = state + 1, *v = state + 1 + (size_t)r * m;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++) {
            double acc = 0;
            for (int c = 0; c < r; c++) acc += us[(size_t)i * r + c] * v[(size_t)j * r + c];
            sc[(size_t)i * k + j] = (float)fabs(acc);
        }
    return GQ_OK;
}

const gq_method gq_method_svd = {
    .name = "svd", .needs_calibration = 0, .opts = opts, .prepare = prepare, .score = score};
