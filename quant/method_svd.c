/* svd (data-free, the paper's): s_ij = |(U_r Σ_r V_rᵀ)_ij|, the magnitude of W's best
 * rank-r approximation. The sign ambiguity of singular vectors cancels in U_r Σ_r V_rᵀ.
 *
 * prepare keeps only the factors (U_r Σ_r and V_r, r·(rows + cols) doubles) so that the
 * disk cache stays small; score rebuilds the product, which costs rows·cols·r flops.
 * State layout: [r, U_r Σ_r (rows, r) row-major, V_r (cols, r) row-major].
 */
#include "quant_internal.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>

static const gq_method_opt opts[] = {{"rank", GQ_OPT_INT, "8", NULL}, {NULL, 0, NULL, NULL}};

static gq_status prepare(const gq_method_args *a, double **state, size_t *n, gq_err *err) {
    int64_t rank;
    gq_status st = gq_method_opt_int(a->opts, "rank", &rank, err);
    if (st != GQ_OK) return st;
    if (rank < 1) return gq_fail(err, GQ_ERR_ARG, "method svd: rank %lld: must be at least 1", (long long)rank);
    int m = a->rows, k = a->cols, mn = m < k ? m : k;
    int r = rank < mn ? (int)rank : mn;
    double *w = gq_malloc_array((size_t)m * k, sizeof *w);
    double *u = gq_malloc_array((size_t)m * mn, sizeof *u);
    double *vt = gq_malloc_array((size_t)mn * k, sizeof *vt);
    double *s = gq_malloc_array((size_t)mn, sizeof *s);
    double *out = gq_malloc_array(1 + (size_t)r * (m + k), sizeof *out);
    if (!w || !u || !vt || !s || !out) {
        st = gq_fail(err, GQ_ERR_NOMEM, "method svd: layer %d %s: out of memory for a %dx%d SVD", a->layer,
                     gq_quant_lin_label(a->kind), m, k);
        goto done;
    }
    for (size_t i = 0; i < (size_t)m * k; i++) w[i] = a->w[i];
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, k, w, k, s, u, mn, vt, k);
    if (info != 0) {
        st = gq_fail(err, GQ_ERR_ARG, "method svd: layer %d %s: dgesdd failed (info %d)", a->layer,
                     gq_quant_lin_label(a->kind), (int)info);
        goto done;
    }
    out[0] = r;
    double *us = out + 1, *v = out + 1 + (size_t)r * m;
    for (int i = 0; i < m; i++)
        for (int c = 0; c < r; c++) us[(size_t)i * r + c] = u[(size_t)i * mn + c] * s[c];
    for (int j = 0; j < k; j++)
        for (int c = 0; c < r; c++) v[(size_t)j * r + c] = vt[(size_t)c * k + j];
    *state = out, *n = 1 + (size_t)r * (m + k);
    out = NULL;
done:
    free(w), free(u), free(vt), free(s), free(out);
    return st;
}

static gq_status score(const gq_method_args *a, const double *state, size_t n, float *sc, gq_err *err) {
    int m = a->rows, k = a->cols;
    int r = n ? (int)state[0] : 0;
    if (n < 1 || r < 1 || n != 1 + (size_t)r * (m + k))
        return gq_fail(err, GQ_ERR_FORMAT, "method svd: layer %d %s: state of %zu values does not fit a %dx%d matrix",
                       a->layer, gq_quant_lin_label(a->kind), n, m, k);
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
