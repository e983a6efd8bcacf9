/* budget: which weights stay in FP32: top-k by score, per matrix or over all matrices, and
 * the budget that sets k */
#ifndef GQ_BUDGET_H
#define GQ_BUDGET_H

#include "common.h"

/* ------------------------------------------------------------------------------------
 * Protection: top-k by score. Ties: higher score first, then lower row-major index.
 * NaN scores count as −∞.
 * ------------------------------------------------------------------------------------ */

/* Sets mask[i] = 1 for the k highest scores of score[0..n) and 0 elsewhere (0 <= k <= n).
 * Uses a selection (O(n) average), not a full sort. Returns GQ_ERR_NOMEM/GQ_ERR_ARG. */
gq_status gq_quant_topk(const float *score, int64_t n, int64_t k, uint8_t *mask, gq_err *err);

/* Top-k over several score arrays as one: ties broken by lower array index, then lower
 * position. masks[i] has n[i] entries. */
gq_status gq_quant_topk_global(const float *const *scores, const int64_t *n, int narrays, int64_t k,
                               uint8_t *const *masks, gq_err *err);

/* Budget: k weights per matrix, or a fraction p of each matrix (k = round(p·rows·cols));
 * with `global`, the same total (k × matrices, or round(p × all weights)) is chosen by one
 * top-k over all matrices. */
typedef struct {
    int64_t k;  /* used when p < 0 */
    double p;   /* fraction in [0, 1], or < 0 to use k */
    int global;
} gq_quant_budget;

/* k for one matrix of n weights (clamped to n). */
int64_t gq_quant_budget_k(const gq_quant_budget *b, int64_t n);

#endif
