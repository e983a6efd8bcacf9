/* calib_stats: per-Linear statistics of the calibration inputs, accumulated in double.
 *
 * XᵀX is accumulated with dsyrk on blocks of the FP32 input converted to double, so a
 * sum over thousands of tokens keeps ~15 digits; SpQR's H⁻¹ with a small damping λ is
 * sensitive to rounding in H. All memory is allocated up front: the hook never allocates.
 */
#include "quant_internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define CALIB_BLOCK 256 /* tokens converted to double per dsyrk call */

struct gq_quant_calib {
    const gq_encoder_family *family; /* names in messages */
    int n_layers;
    gq_lin_stats *stats; /* (n_layers * GQ_LIN_COUNT) */
    double *xd;          /* (CALIB_BLOCK, max_in) scratch */
    double seconds;      /* spent in the hooks */
    gq_status status;    /* first hook failure */
    gq_err err;
};

/* Statistics for every layer (only < 0) or for layer `only` alone. */
static gq_status calib_new(const gq_encoder_config *cfg, int only, gq_quant_calib **out, gq_err *err) {
    *out = NULL;
    if (cfg->n_layers <= 0 || cfg->dim <= 0 || cfg->hidden_dim <= 0)
        return gq_fail(err, GQ_ERR_ARG, "calibration: bad model shape (%d layers, dim %d, hidden %d)", cfg->n_layers,
                       cfg->dim, cfg->hidden_dim);
    gq_quant_calib *c = calloc(1, sizeof *c);
    if (!c) return gq_fail(err, GQ_ERR_NOMEM, "calibration: out of memory");
    c->family = cfg->family, c->n_layers = cfg->n_layers;
    int nst = cfg->n_layers * GQ_LIN_COUNT;
    int max_in = cfg->dim > cfg->hidden_dim ? cfg->dim : cfg->hidden_dim;
    c->stats = calloc((size_t)nst, sizeof *c->stats);
    c->xd = gq_malloc_array((size_t)CALIB_BLOCK * max_in, sizeof *c->xd);
    if (!c->stats || !c->xd) goto nomem;
    for (int i = 0; i < nst; i++) {
        gq_lin_stats *s = &c->stats[i];
        s->in = i % GQ_LIN_COUNT == GQ_LIN_FF2 ? cfg->hidden_dim : cfg->dim;
        if (only >= 0 && i / GQ_LIN_COUNT != only) continue; /* no statistics: the hook skips it */
        s->abs_sum = gq_calloc_array((size_t)s->in, sizeof *s->abs_sum);
        s->xtx = gq_calloc_array((size_t)s->in * s->in, sizeof *s->xtx);
        if (!s->abs_sum || !s->xtx) goto nomem;
    }
    *out = c;
    return GQ_OK;
nomem:
    gq_quant_calib_free(c);
    return gq_fail(err, GQ_ERR_NOMEM, "calibration: cannot allocate the statistics of %d layers (dim %d, hidden %d)",
                   cfg->n_layers, cfg->dim, cfg->hidden_dim);
}

gq_status gq_quant_calib_new(const gq_encoder_config *cfg, gq_quant_calib **out, gq_err *err) {
    return calib_new(cfg, -1, out, err);
}

gq_status gq_quant_calib_new_layer(const gq_encoder_config *cfg, int layer, gq_quant_calib **out, gq_err *err) {
    if (layer < 0 || layer >= cfg->n_layers)
        return gq_fail(err, GQ_ERR_ARG, "calibration: layer %d of a %d-layer model", layer, cfg->n_layers);
    return calib_new(cfg, layer, out, err);
}

void gq_quant_calib_free(gq_quant_calib *c) {
    if (!c) return;
    if (c->stats)
        for (int i = 0; i < c->n_layers * GQ_LIN_COUNT; i++) free(c->stats[i].abs_sum), free(c->stats[i].xtx);
    free(c->stats);
    free(c->xd);
    free(c);
}

gq_status gq_quant_calib_add(gq_quant_calib *c, int layer, gq_lin_kind kind, const float *x, int ntok, int in,
                             gq_err *err) {
    if (layer < 0 || layer >= c->n_layers || (int)kind < 0 || kind >= GQ_LIN_COUNT)
        return gq_fail(err, GQ_ERR_ARG, "calibration: no Linear %d of layer %d", (int)kind, layer);
    gq_lin_stats *s = &c->stats[layer * GQ_LIN_COUNT + kind];
    if (in != s->in || ntok < 0)
        return gq_fail(err, GQ_ERR_SHAPE, "calibration: layer %d %s: input is (%d, %d), expected (*, %d)", layer,
                       gq_lin_name(c->family, kind), ntok, in, s->in);
    if (!s->xtx) return GQ_OK; /* a layer this calibration does not collect */
    for (int t0 = 0; t0 < ntok; t0 += CALIB_BLOCK) {
        int nb = ntok - t0 < CALIB_BLOCK ? ntok - t0 : CALIB_BLOCK;
        for (int t = 0; t < nb; t++) {
            const float *xr = x + (size_t)(t0 + t) * in;
            double *xdr = c->xd + (size_t)t * in;
            for (int j = 0; j < in; j++) {
                xdr[j] = xr[j];
                s->abs_sum[j] += xr[j] < 0 ? -(double)xr[j] : (double)xr[j];
            }
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, in, nb, 1.0, c->xd, in, 1.0, s->xtx, in);
    }
    s->ntok += ntok;
    return GQ_OK;
}

static void hook(void *ctx, int layer, gq_lin_kind kind, const float *x, int ntok, int in) {
    gq_quant_calib *c = ctx;
    if (c->status != GQ_OK) return;
    double t0 = gq_now();
    c->status = gq_quant_calib_add(c, layer, kind, x, ntok, in, &c->err);
    c->seconds += gq_now() - t0;
}

/* Where a device runner adds (layer, kind)'s statistics itself: NULL for a layer this
 * calibration does not collect, and after a failure. */
static gq_lin_stats *device_target(void *ctx, int layer, gq_lin_kind kind) {
    gq_quant_calib *c = ctx;
    if (c->status != GQ_OK || layer < 0 || layer >= c->n_layers || (int)kind < 0 || kind >= GQ_LIN_COUNT) return NULL;
    gq_lin_stats *s = &c->stats[layer * GQ_LIN_COUNT + kind];
    return s->xtx ? s : NULL;
}

void gq_quant_calib_hooks(gq_quant_calib *c, gq_encoder_hooks *hooks) {
    memset(hooks, 0, sizeof *hooks);
    hooks->ctx = c;
    hooks->linear_input = hook;
    hooks->linear_stats = device_target;
}

const gq_lin_stats *gq_quant_calib_get(const gq_quant_calib *c, int layer, gq_lin_kind kind) {
    if (!c || layer < 0 || layer >= c->n_layers || (int)kind < 0 || kind >= GQ_LIN_COUNT) return NULL;
    const gq_lin_stats *s = &c->stats[layer * GQ_LIN_COUNT + kind];
    return s->xtx ? s : NULL;
}

double gq_quant_calib_seconds(const gq_quant_calib *c) { return c->seconds; }

gq_status gq_quant_calib_status(const gq_quant_calib *c, gq_err *err) {
    if (c->status != GQ_OK && err) *err = c->err;
    return c->status;
}
