/* random (control): seeded uniform scores in [0, 1). Each matrix draws from its own
 * stream, seeded from (seed, layer, kind), so a matrix's scores do not depend on which
 * other matrices were scored or in what order. */
#include "quant_method.h"

static const gq_method_opt opts[] = {{"seed", GQ_OPT_INT, "0", NULL}, {NULL, 0, NULL, NULL}};

static gq_status score(const gq_method_args *a, const double *state, size_t n, float *s, gq_err *err) {
    int64_t seed;
    gq_status st = gq_method_opt_int(a->opts, "seed", &seed, err);
    if (st != GQ_OK) return st;
    gq_rng rng;
    /* gq_rng_seed mixes with splitmix64, so nearby inputs give unrelated streams */
    gq_rng_seed(&rng, (uint64_t)seed * 0x9E3779B97F4A7C15ULL + (uint64_t)(a->layer * GQ_LIN_COUNT + (int)a->kind));
    size_t total = (size_t)a->rows * a->cols;
    for (size_t i = 0; i < total; i++) s[i] = (float)gq_rng_uniform(&rng);
    return GQ_OK;
}

const gq_method gq_method_random = {.name = "random", .needs_calibration = 0, .opts = opts, .score = score};
