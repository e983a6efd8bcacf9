/* magnitude (control): s_ij = |W_ij|. */
#include "quant_method.h"

#include <math.h>

static gq_status score(const gq_method_args *a, const double *state, size_t n, float *s, gq_err *err) {
    size_t total = (size_t)a->rows * a->cols;
    for (size_t i = 0; i < total; i++) s[i] = fabsf(a->w[i]);
    return GQ_OK;
}

const gq_method gq_method_magnitude = {.name = "magnitude", .needs_calibration = 0, .opts = NULL, .score = score};
