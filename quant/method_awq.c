/* awq (activation-aware): a_j = mean over calibration tokens of |x_j|;
 * granularity element: s_ij = a_j·|W_ij| [assumption]; channel: s_ij = a_j, so whole
 * input columns are kept (ties between columns go to the lower index through top-k).
 * State: a (cols). */
#include "quant_method.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const gq_method_opt opts[] = {{"granularity", GQ_OPT_CHOICE, "element", "element|channel"},
                                     {NULL, 0, NULL, NULL}};

static gq_status prepare(const gq_method_args *a, double **state, size_t *n, gq_err *err) {
    const gq_lin_stats *st = a->stats;
    if (st->in != a->cols || st->ntok <= 0)
        return gq_fail(err, GQ_ERR_ARG, "method awq: layer %d %s: %lld calibration tokens of width %d for %d columns",
                       a->layer, gq_lin_name(a->family, a->kind), (long long)st->ntok, st->in, a->cols);
    double *mean = gq_malloc_array((size_t)a->cols, sizeof *mean);
    if (!mean) return gq_fail(err, GQ_ERR_NOMEM, "method awq: out of memory");
    for (int j = 0; j < a->cols; j++) mean[j] = st->abs_sum[j] / (double)st->ntok;
    *state = mean, *n = (size_t)a->cols;
    return GQ_OK;
}

static gq_status score(const gq_method_args *a, const double *state, size_t n, float *sc, gq_err *err) {
    if (n != (size_t)a->cols)
        return gq_fail(err, GQ_ERR_FORMAT, "method awq: layer %d %s: state has %zu values for %d columns", a->layer,
                       gq_lin_name(a->family, a->kind), n, a->cols);
    int channel = !strcmp(gq_method_opt_str(a->opts, "granularity"), "channel");
    for (int i = 0; i < a->rows; i++)
        for (int j = 0; j < a->cols; j++) {
            size_t idx = (size_t)i * a->cols + j;
            sc[idx] = (float)(channel ? state[j] : state[j] * fabs((double)a->w[idx]));
        }
    return GQ_OK;
}

const gq_method gq_method_awq = {
    .name = "awq", .needs_calibration = 1, .opts = opts, .prepare = prepare, .score = score};
