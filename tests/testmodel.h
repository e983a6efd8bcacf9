/* testmodel: a model that holds only the encoder's Linear weights (all that quant/ reads
 * and writes), and a calibration that feeds every Linear deterministic pseudo-activations,
 * for the tests of quant/ that need no real forward. */
#ifndef GQ_TESTMODEL_H
#define GQ_TESTMODEL_H

#include "encoder.h"

/* x[0..n) = sd · N(0, 1), from gq_rng seeded with seed. */
void gq_test_fill_normal(float *x, size_t n, uint64_t seed, float sd);

/* n_layers blocks of q, k, v, out (dim×dim), lin1 (hidden×dim) and lin2 (dim×hidden),
 * weights N(0, 0.02²) from seed, in one buffer. Owned by the caller: gq_test_fake_free. */
typedef struct {
    gq_encoder m;
    float *buf;
} gq_test_fake_model;

gq_test_fake_model *gq_test_fake_new(int n_layers, int dim, int hidden, uint64_t seed);
void gq_test_fake_free(gq_test_fake_model *f);

/* The calibration (a gq_quant_calib_fn with ctx = gq_test_fake_calib): 40 tokens of
 * N(0, 1) per Linear, every third channel scaled by 4, the same on every call; counts its
 * calls. */
typedef struct {
    int calls;
    gq_test_fake_model *f;
} gq_test_fake_calib;

gq_status gq_test_fake_calibrate(void *ctx, const gq_encoder_hooks *hooks, gq_err *err);

#endif
