/* spqr (Hessian sensitivity): H = (2/N) XᵀX + λI, λ = damp·mean(diag H);
 * s_ij = (W_ij − Ŵ_ij)² / d_j with d_j = [H⁻¹]_jj (OBS form [assumption]) or, with
 * `sequential`, d_j = U_jj² where H⁻¹ = UᵀU, U upper triangular (SpQR's own form).
 *
 * prepare keeps only d (cols doubles): it depends on the calibration data and damp but
 * not on the quantizer, so it is cached once and reused for every bit width. Ŵ is the
 * quantizer's output for the whole matrix with nothing protected (with
 * stats_exclude_protected, Ŵ would depend on the protected set, which depends on Ŵ).
 */
#include "quant_method.h"

#include <lapacke.h>
#include <stdlib.h>

static const gq_method_opt opts[] = {{"damp", GQ_OPT_DOUBLE, "0.01", NULL},
                                     {"sequential", GQ_OPT_BOOL, "false", NULL},
                                     {NULL, 0, NULL, NULL}};

static gq_status prepare(const gq_method_args *a, double **state, size_t *n, gq_err *err) {
    const gq_lin_stats *st = a->stats;
    int in = a->cols;
    double damp;
    int seq;
    gq_status s = gq_method_opt_double(a->opts, "damp", &damp, err);
    if (s == GQ_OK) s = gq_method_opt_bool(a->opts, "sequential", &seq, err);
    if (s != GQ_OK) return s;
    if (damp < 0) return gq_fail(err, GQ_ERR_ARG, "method spqr: damp %g: must not be negative", damp);
    if (st->in != in || st->ntok <= 0)
        return gq_fail(err, GQ_ERR_ARG, "method spqr: layer %d %s: %lld calibration tokens of width %d for %d columns",
                       a->layer, gq_lin_name(a->family, a->kind), (long long)st->ntok, st->in, in);
    double *h = gq_malloc_array((size_t)in * in, sizeof *h);
    double *d = gq_malloc_array((size_t)in, sizeof *d);
    if (!h || !d) {
        free(h), free(d);
        return gq_fail(err, GQ_ERR_NOMEM, "method spqr: out of memory for a %dx%d Hessian", in, in);
    }
    double scale = 2.0 / (double)st->ntok, mean_diag = 0;
    for (size_t i = 0; i < (size_t)in * in; i++) h[i] = scale * st->xtx[i]; /* upper triangle is what LAPACK reads */
    for (int j = 0; j < in; j++) mean_diag += h[(size_t)j * in + j];
    double lambda = damp * mean_diag / in;
    for (int j = 0; j < in; j++) h[(size_t)j * in + j] += lambda;
    /* The row-major upper triangle is the column-major lower one: calling LAPACK in its
     * native order spares LAPACKE a transposed copy per call. In that view H = L Lᵀ,
     * H⁻¹ = (L Lᵀ)⁻¹ and, with `sequential`, H⁻¹ = L' L'ᵀ, whose U = L'ᵀ has U_jj = L'_jj. */
    const char *step = "dpotrf(H)";
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', in, h, in);
    if (info == 0) step = "dpotri(H)", info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', in, h, in);
    if (info == 0 && seq) { /* Cholesky of H⁻¹ itself, from the triangle dpotri wrote */
        step = "dpotrf(H^-1)";
        info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', in, h, in);
    }
    if (info != 0) {
        free(h), free(d);
        return gq_fail(err, GQ_ERR_ARG,
                       "method spqr: layer %d %s: %s failed (info %d): the damped Hessian is not positive "
                       "definite; raise damp (now %g)",
                       a->layer, gq_lin_name(a->family, a->kind), step, (int)info, damp);
    }
    for (int j = 0; j < in; j++) {
        double x = h[(size_t)j * in + j];
        d[j] = seq ? x * x : x;
    }
    free(h);
    *state = d, *n = (size_t)in;
    return GQ_OK;
}

static gq_status score(const gq_method_args *a, const double *state, size_t n, float *sc, gq_err *err) {
    if (n != (size_t)a->cols)
        return gq_fail(err, GQ_ERR_FORMAT, "method spqr: layer %d %s: state has %zu values for %d columns", a->layer,
                       gq_lin_name(a->family, a->kind), n, a->cols);
    /* Ŵ goes into sc, then sc is overwritten in place by the score */
    gq_status s = gq_quant_matrix(a->quant, a->w, a->rows, a->cols, NULL, sc, err);
    if (s != GQ_OK) return s;
    for (int i = 0; i < a->rows; i++)
        for (int j = 0; j < a->cols; j++) {
            size_t idx = (size_t)i * a->cols + j;
            double e = (double)a->w[idx] - (double)sc[idx];
            sc[idx] = (float)(e * e / state[j]);
        }
    return GQ_OK;
}

const gq_method gq_method_spqr = {
    .name = "spqr", .needs_calibration = 1, .opts = opts, .prepare = prepare, .score = score};
