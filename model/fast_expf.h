/* fast_expf: glibc's expf, bit for bit, in a form that vectorizes (attention's softmax,
 * model/encoder_cpu.c). Header-only so that the forward inlines it into its loops and
 * tests/test_forward.c checks it against expf. */
#ifndef GQ_FAST_EXPF_H
#define GQ_FAST_EXPF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* 2^(i/32) for i = 0..31 as doubles, with i << 47 taken from their bits: the table of
 * glibc's expf (__exp2f_data, from Arm's optimized-routines), so that
 * gq_expf_nonpositive adds the exponent of 2^(k/32) straight onto an entry. */
static const uint64_t gq_expf_table[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b,
    0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb,
    0x3feedea64c123422, 0x3feece086061892d, 0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
    0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d, 0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540};

/* expf(x) for -104 <= x <= 0, bit for bit glibc's (its FMA build, which it runs on every
 * CPU with FMA): glibc's steps and constants (x·32/ln 2 = k + r, |r| <= 1/2; 2^(k/32) from
 * the table times a cubic in r; double, fused multiply-adds, one rounding to float) in a
 * form that vectorizes, where expf is a scalar call. Equal to expf on every float from -0
 * to -inf, clamped at -104 (below which both give 0): all 2,139,095,041 of them
 * (`GQ_TEST_EXPF_STRIDE=1 test_forward`; by default it takes every 1021st). Bit for bit
 * matters: an exp one ulp off on a few near-ties moved the mlm models' logits by 1e-6. */
static inline float gq_expf_nonpositive(float x) {
    double kd = fma(0x1.71547652b82fep+5, x, 0x1.8p+52); /* + 1.5·2^52 rounds to k, kept in the low bits */
    uint64_t k, bits;
    memcpy(&k, &kd, sizeof k);
    kd -= 0x1.8p+52;
    double r = fma(0x1.71547652b82fep+5, x, -kd), scale;
    bits = gq_expf_table[k % 32] + (k << 47);
    memcpy(&scale, &bits, sizeof scale);
    double z = fma(r, 0x1.c6af84b912394p-20, 0x1.ebfce50fac4f3p-13), y = fma(r, 0x1.62e42ff0c52d6p-6, 1.0);
    return (float)(fma(z, r * r, y) * scale);
}

#endif
