/* awq-scale: AWQ's activation-aware scale search (Lin et al. 2023; mit-han-lab/llm-awq
 * auto_scale.py) on glueq's quantizer, per Linear.
 *
 * For α in {0, 1/20, ..., 19/20}: s_j = max(a_j^α, 1e-4) with a_j = mean |x_j| over the
 * calibration tokens, divided by sqrt(max s · min s) (llm-awq's normaliser and clamp),
 * Ŵ = Q(W·diag(s))·diag(s)⁻¹ with protected weights put back to their FP32 value, and
 * the α with the least
 *     C(α) = tr(E XᵀX Eᵀ) + λ·m·(N/2)·Σ S_ij E_ij²,   E = W − Ŵ,
 * is kept (ties: the smaller α). The first term is ‖X Wᵀ − X Ŵᵀ‖² over the calibration
 * tokens; the second is SARQC's (N/2)·λ·m·ΣSE², the same J as gptq's scaled by N/2, m the
 * mean diag of gptq's damped H; with λ = 0 it is not computed at all. At α = 0, s = 1 and
 * Ŵ is exactly RTN's, so the search is never worse than RTN on the calibration data.
 *
 * Where llm-awq measures one scale shared by q/k/v (or by lin1) on the block's output,
 * glueq searches each Linear on its own output error, which XᵀX gives exactly with no
 * forward pass. tr(E G Eᵀ) = ‖E P L‖² with G's pivoted Cholesky factor (Pᵀ G P = L Lᵀ,
 * dpstrf, pivots below n·eps·max G_jj dropped: G may be singular), rows·cols² flops per α.
 * The factor depends on the statistics alone: a session keeps it across applies
 * (factor_cache.h).
 *
 * Speed: the 20 criteria are screened in single precision (strmm, twice the speed of
 * dtrmm). A screened C is off by at most ~cols·eps_f ≈ 2e-4 relative (typically 1e-6), so
 * only the α whose screened C lies within AWQ_RECHECK (1e-3) of the least can be the
 * double-precision argmin: when there is one, it is chosen (its calib_err is then the
 * screened value, good to ~1e-6); when there are several, they are evaluated again in
 * double and the decision is made on those values. Either way the α chosen is the
 * argmin over the grid in double, so never worse than RTN (α = 0) in double. */
#include "quant_internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#define AWQ_GRID 20
#define AWQ_SCALE_MIN 1e-4
#define AWQ_RECHECK 1e-3 /* relative band of screened criteria re-evaluated in double */

typedef struct {
    int rows, cols;
    const double *l; /* (cols, cols) row-major Lᵀ, upper triangular, rows >= rank zeroed */
    const int *perm; /* (cols) the pivots P, 0-based */
    float *lf;      /* Lᵀ in single precision, for screening */
    double *ep;     /* (rows, cols) E with columns pivoted, then E P L */
    float *epf;     /* the same in single precision */
    double *s;      /* (cols) channel scales */
    double *sal;    /* (rows, cols) SARQC scores, when λ > 0 */
    float *ws, *q;  /* (rows, cols) W·diag(s), and Ŵ */
} awq_work;

static void work_free(awq_work *a) {
    free(a->lf), free(a->ep), free(a->epf), free(a->s), free(a->sal), free(a->ws),
        free(a->q);
}

/* Lᵀ and P of the pivoted Cholesky factorisation of G = XᵀX into f (malloc'd; f is the
 * caller's: gq_factor_free, also on failure). */
static gq_status factor_gram(const gq_lin_stats *st, gq_factor *f, gq_err *err) {
    int n = st->in;
    lapack_int *piv = gq_malloc_array((size_t)n, sizeof *piv);
    f->n = n;
    f->m = gq_malloc_array((size_t)n * n, sizeof *f->m);
    f->order = gq_malloc_array((size_t)n, sizeof *f->order);
    if (!piv || !f->m || !f->order) {
        free(piv);
        return gq_fail(err, GQ_ERR_NOMEM, "awq-scale: out of memory for a %dx%d XᵀX", n, n);
    }
    memcpy(f->m, st->xtx, (size_t)n * n * sizeof *f->m); /* row-major upper = column-major lower */
    lapack_int rank = 0;
    lapack_int info = LAPACKE_dpstrf(LAPACK_COL_MAJOR, 'L', n, f->m, n, piv, &rank, -1.0);
    for (int k = 0; k < n && info >= 0; k++) f->order[k] = (int)piv[k] - 1;
    free(piv);
    if (info < 0) return gq_fail(err, GQ_ERR_ARG, "awq-scale: dpstrf of the %dx%d XᵀX failed (info %d)", n, n, (int)info);
    /* column-major lower L = row-major upper Lᵀ; clear what is not the factor */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (j < i || i >= rank) f->m[(size_t)i * n + j] = 0;
    return GQ_OK;
}

/* The factor of in's statistics: the cache's when it holds it, else computed (and kept
 * there when it fits). own receives what the caller must free. */
static gq_status find_factor(const gq_quant_algo_inputs *in, gq_factor *own, const gq_factor **out, gq_err *err) {
    gq_factor_key key = {in->factor_slot, in->factor_basis, GQ_ALGO_AWQ_SCALE, 0, in->stats->in, NULL};
    *out = in->factors ? gq_factor_cache_get(in->factors, &key) : NULL;
    if (*out) return GQ_OK;
    gq_status st = factor_gram(in->stats, own, err);
    if (st == GQ_OK) *out = in->factors ? gq_factor_cache_put(in->factors, &key, own) : NULL;
    if (st == GQ_OK && !*out) *out = own;
    return st;
}

/* The scales of one α into a->s. */
static void channel_scales(awq_work *a, const gq_lin_stats *st, double alpha) {
    double mx = 0, mn = INFINITY;
    for (int j = 0; j < a->cols; j++) {
        double s = pow(st->abs_sum[j] / (double)st->ntok, alpha);
        if (s < AWQ_SCALE_MIN) s = AWQ_SCALE_MIN;
        a->s[j] = s;
        if (s > mx) mx = s;
        if (s < mn) mn = s;
    }
    double norm = sqrt(mx * mn);
    for (int j = 0; j < a->cols; j++) a->s[j] /= norm;
}

/* Ŵ of the current scales into a->q. */
static gq_status scaled_quantize(awq_work *a, const gq_quant_opts *o, const float *w, const uint8_t *protect,
                                 gq_err *err) {
    int rows = a->rows, cols = a->cols;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) a->ws[(size_t)r * cols + j] = (float)((double)w[(size_t)r * cols + j] * a->s[j]);
    gq_status st = gq_quant_matrix(o, a->ws, rows, cols, protect, a->q, err);
    if (st != GQ_OK) return st;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            size_t i = (size_t)r * cols + j;
            a->q[i] = protect && protect[i] ? w[i] : (float)((double)a->q[i] / a->s[j]);
        }
    return GQ_OK;
}

/* tr(E G Eᵀ) of a->q in double (precise) or single precision (screening), and Σ S E²
 * (in double) when SARQC is on. */
static void criterion(awq_work *a, const float *w, int precise, double *out_err, double *weighted) {
    int rows = a->rows, cols = a->cols;
    size_t n = (size_t)rows * cols;
    double ws = 0, sum = 0;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            size_t i = (size_t)r * cols + (size_t)a->perm[k];
            double e = (double)w[i] - (double)a->q[i];
            if (precise) a->ep[(size_t)r * cols + k] = e;
            else a->epf[(size_t)r * cols + k] = (float)e;
            if (a->sal) ws += a->sal[i] * e * e;
        }
    if (precise) {
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, rows, cols, 1.0, a->l, cols,
                    a->ep, cols);
        for (size_t i = 0; i < n; i++) sum += a->ep[i] * a->ep[i];
    } else {
        cblas_strmm(CblasRowMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, rows, cols, 1.0f, a->lf, cols,
                    a->epf, cols);
        for (size_t i = 0; i < n; i++) sum += (double)a->epf[i] * a->epf[i];
    }
    *out_err = sum, *weighted = ws;
}

/* C(α) of grid point g in double or single precision; a->q holds its Ŵ afterwards. */
static gq_status evaluate(awq_work *a, const gq_quant_opts *o, const float *w, const uint8_t *protect,
                          const gq_lin_stats *st, int g, int precise, double weight, double *c, double *e,
                          gq_err *err) {
    channel_scales(a, st, (double)g / AWQ_GRID);
    gq_status s = scaled_quantize(a, o, w, protect, err);
    if (s != GQ_OK) return s;
    double ws;
    criterion(a, w, precise, e, &ws);
    *c = a->sal ? *e + weight * ws : *e;
    return GQ_OK;
}

gq_status gq_algo_awq_scale(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                            const gq_quant_algo_inputs *in, float *out, gq_quant_algo_info *info, gq_err *err) {
    awq_work a = {.rows = rows, .cols = cols};
    size_t n = (size_t)rows * cols;
    int sarqc = o->sarqc_lambda > 0;
    a.lf = gq_malloc_array((size_t)cols * cols, sizeof *a.lf);
    a.epf = gq_malloc_array(n, sizeof *a.epf);
    a.ep = gq_malloc_array(n, sizeof *a.ep);
    a.s = gq_malloc_array((size_t)cols, sizeof *a.s);
    a.ws = gq_malloc_array(n, sizeof *a.ws);
    a.q = gq_malloc_array(n, sizeof *a.q);
    if (sarqc) a.sal = gq_malloc_array(n, sizeof *a.sal);
    gq_factor own = {0};
    const gq_factor *f = NULL;
    gq_status st = GQ_OK;
    if (!a.lf || !a.epf || !a.ep || !a.s || !a.ws || !a.q || (sarqc && !a.sal)) {
        st = gq_fail(err, GQ_ERR_NOMEM, "awq-scale: out of memory for a %dx%d matrix", rows, cols);
        goto done;
    }
    double weight = 0; /* λ·m·N/2 */
    if (sarqc) {
        double *diag = gq_malloc_array((size_t)cols, sizeof *diag), m;
        if (!diag) {
            st = gq_fail(err, GQ_ERR_NOMEM, "awq-scale: out of memory for a %dx%d Hessian", cols, cols);
            goto done;
        }
        gq_algo_hessian_diag(in->stats, o->damp, diag, NULL, &m);
        free(diag);
        weight = o->sarqc_lambda * m * (double)in->stats->ntok / 2;
        if ((st = gq_algo_sarqc_scores(in->saliency, rows, cols, a.sal, err)) != GQ_OK) goto done;
    }
    if ((st = find_factor(in, &own, &f, err)) != GQ_OK) goto done;
    a.l = f->m, a.perm = f->order;
    for (size_t i = 0; i < (size_t)cols * cols; i++) a.lf[i] = (float)a.l[i];
    double screened[AWQ_GRID], screened_err[AWQ_GRID], least = INFINITY, best = INFINITY, c, e;
    for (int g = 0; g < AWQ_GRID; g++) {
        if ((st = evaluate(&a, o, w, protect, in->stats, g, 0, weight, &screened[g], &screened_err[g], err)) != GQ_OK)
            goto done;
        if (screened[g] < least) least = screened[g];
    }
    int near[AWQ_GRID], n_near = 0;
    for (int g = 0; g < AWQ_GRID; g++)
        if (screened[g] <= least + AWQ_RECHECK * fabs(least)) near[n_near++] = g;
    for (int i = 0; i < n_near; i++) { /* the decision, in double; ties go to the smaller α */
        int g = near[i];
        if (n_near == 1) { /* nothing to decide: Ŵ again, C as screened */
            channel_scales(&a, in->stats, (double)g / AWQ_GRID);
            if ((st = scaled_quantize(&a, o, w, protect, err)) != GQ_OK) goto done;
            c = screened[g], e = screened_err[g];
        } else if ((st = evaluate(&a, o, w, protect, in->stats, g, 1, weight, &c, &e, err)) != GQ_OK) {
            goto done;
        }
        if (c < best) {
            best = c;
            info->awq_alpha = (double)g / AWQ_GRID, info->calib_err = e;
            memcpy(out, a.q, n * sizeof *out);
        }
    }
    if (!(best < INFINITY))
        st = gq_fail(err, GQ_ERR_ARG, "awq-scale: a %dx%d matrix: no scale gave a finite calibration error", rows, cols);
done:
    gq_factor_free(&own);
    work_free(&a);
    return st;
}
