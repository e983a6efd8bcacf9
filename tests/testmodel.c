#include "testmodel.h"

#include <stdlib.h>

void gq_test_fill_normal(float *x, size_t n, uint64_t seed, float sd) {
    gq_rng r;
    gq_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = sd * gq_rng_normal(&r);
}

gq_test_fake_model *gq_test_fake_new(int n_layers, int dim, int hidden, uint64_t seed) {
    gq_test_fake_model *f = calloc(1, sizeof *f);
    f->m.cfg.family = gq_encoder_family_find("distilbert"); /* its names */
    f->m.cfg.n_layers = n_layers, f->m.cfg.dim = dim, f->m.cfg.hidden_dim = hidden;
    f->m.layers = calloc((size_t)n_layers, sizeof *f->m.layers);
    size_t per = (size_t)4 * dim * dim + (size_t)2 * dim * hidden;
    f->buf = malloc(per * n_layers * sizeof(float));
    gq_test_fill_normal(f->buf, per * n_layers, seed, 0.02f);
    float *p = f->buf;
    for (int l = 0; l < n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            gq_linear *lin = &f->m.layers[l].lin[k];
            lin->out = k == GQ_LIN_FF1 ? hidden : dim;
            lin->in = k == GQ_LIN_FF2 ? hidden : dim;
            lin->w = p;
            p += (size_t)lin->out * lin->in;
        }
    return f;
}

void gq_test_fake_free(gq_test_fake_model *f) {
    if (!f) return;
    free(f->m.layers);
    free(f->buf);
    free(f);
}

gq_status gq_test_fake_calibrate(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    (void)err;
    gq_test_fake_calib *c = ctx;
    c->calls++;
    int dim = c->f->m.cfg.dim, hid = c->f->m.cfg.hidden_dim;
    float *x = malloc((size_t)40 * (hid > dim ? hid : dim) * sizeof *x);
    for (int l = 0; l < c->f->m.cfg.n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            int in = k == GQ_LIN_FF2 ? hid : dim;
            gq_test_fill_normal(x, (size_t)40 * in, (uint64_t)(100 + l * 10 + k), 1.0f);
            for (int j = 0; j < 40 * in; j += 3) x[j] *= 4; /* uneven channels */
            hooks->linear_input(hooks->ctx, l, (gq_lin_kind)k, x, 40, in);
        }
    free(x);
    return GQ_OK;
}
