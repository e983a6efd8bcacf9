/* topk: which weights a budget protects.
 *
 * Instead of sorting (index, score) pairs, we select the value T of the k-th largest
 * score in a copy of the scores (quickselect with three-way partitioning, so long runs of
 * equal scores, common with channel-wise or quantized scores, stay linear), then mark
 * every score > T and the first (k − #{> T}) scores == T in row-major order. That gives
 * exactly "higher score first, then lower index" with 4 bytes of scratch per weight.
 * A budget far below the matrix (the usual k of a few thousand of millions of weights)
 * finds T instead with a min-heap of the k largest scores seen, one comparison per score
 * and no copy: O(n log k) at worst, and about n comparisons on scores in no special order.
 */
#include "quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* NaN would break the ordering; it ranks with −∞. */
static float key(float x) { return isnan(x) ? -INFINITY : x; }

/* Rearranges a[0..n) and returns the k-th largest value (1 <= k <= n). The pivot comes
 * from a fixed-seed generator: expected linear time whatever the input order. */
static float kth_largest(float *a, int64_t n, int64_t k) {
    gq_rng rng;
    gq_rng_seed(&rng, 0x5eed);
    int64_t lo = 0, hi = n; /* the answer is in a[lo..hi) at rank k - lo among them */
    for (;;) {
        if (hi - lo == 1) return a[lo];
        float p = a[lo + (int64_t)gq_rng_below(&rng, (uint64_t)(hi - lo))];
        /* three-way partition, descending: [lo, gt) > p, [gt, i) == p, (lt, hi) < p */
        int64_t gt = lo, i = lo, lt = hi - 1;
        while (i <= lt) {
            float x = a[i];
            if (x > p) {
                a[i] = a[gt], a[gt] = x;
                gt++, i++;
            } else if (x < p) {
                a[i] = a[lt], a[lt] = x;
                lt--;
            } else {
                i++;
            }
        }
        if (k <= gt - lo) {
            hi = gt;
        } else if (k <= i - lo) {
            return p;
        } else {
            k -= i - lo;
            lo = i;
        }
    }
}

/* Budgets up to 1/HEAP_FRACTION of the scores take the heap. */
#define HEAP_FRACTION 16

/* Restores the min-heap property of h[0..n) below position i. */
static void sift_down(float *h, int64_t n, int64_t i) {
    float x = h[i];
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (!(h[c] < x)) break;
        h[i] = h[c], i = c;
    }
    h[i] = x;
}

/* The k-th largest key over the arrays (1 <= k <= their total), with a k-entry min-heap
 * (h, the caller's) of the largest keys seen, filled in array order. */
static float kth_largest_heap(const float *const *scores, const int64_t *n, int narrays, int64_t k, float *h) {
    int64_t filled = 0;
    for (int a = 0; a < narrays; a++)
        for (int64_t i = 0; i < n[a]; i++) {
            float x = key(scores[a][i]);
            if (filled < k) {
                h[filled++] = x;
                if (filled == k)
                    for (int64_t j = k / 2; j-- > 0;) sift_down(h, k, j);
            } else if (x > h[0]) {
                h[0] = x;
                sift_down(h, k, 0);
            }
        }
    return h[0];
}

/* The k-th largest key over the arrays (1 <= k < total); GQ_ERR_NOMEM when its scratch
 * cannot be had. */
static gq_status kth_largest_of(const float *const *scores, const int64_t *n, int narrays, int64_t total, int64_t k,
                                float *t, gq_err *err) {
    int heap = k <= total / HEAP_FRACTION;
    float *tmp = gq_malloc_array((size_t)(heap ? k : total), sizeof *tmp);
    if (!tmp) return gq_fail(err, GQ_ERR_NOMEM, "top-k: cannot allocate %lld scores", (long long)(heap ? k : total));
    if (heap) {
        *t = kth_largest_heap(scores, n, narrays, k, tmp);
    } else {
        int64_t off = 0;
        for (int a = 0; a < narrays; a++)
            for (int64_t i = 0; i < n[a]; i++) tmp[off++] = key(scores[a][i]);
        *t = kth_largest(tmp, total, k);
    }
    free(tmp);
    return GQ_OK;
}

gq_status gq_quant_topk_global(const float *const *scores, const int64_t *n, int narrays, int64_t k,
                               uint8_t *const *masks, gq_err *err) {
    int64_t total = 0;
    for (int a = 0; a < narrays; a++) {
        if (n[a] < 0) return gq_fail(err, GQ_ERR_ARG, "top-k: array %d has negative size", a);
        total += n[a];
    }
    if (k < 0 || k > total)
        return gq_fail(err, GQ_ERR_ARG, "top-k: k = %lld is outside 0..%lld", (long long)k, (long long)total);
    for (int a = 0; a < narrays; a++) memset(masks[a], k == total ? 1 : 0, (size_t)n[a]);
    if (k == 0 || k == total) return GQ_OK;

    float t = 0;
    gq_status st = kth_largest_of(scores, n, narrays, total, k, &t, err);
    if (st != GQ_OK) return st;

    int64_t above = 0;
    for (int a = 0; a < narrays; a++)
        for (int64_t i = 0; i < n[a]; i++)
            if (key(scores[a][i]) > t) masks[a][i] = 1, above++;
    int64_t ties = k - above; /* >= 1 by the definition of t */
    for (int a = 0; a < narrays && ties > 0; a++)
        for (int64_t i = 0; i < n[a] && ties > 0; i++)
            if (key(scores[a][i]) == t) masks[a][i] = 1, ties--;
    return GQ_OK;
}

gq_status gq_quant_topk(const float *score, int64_t n, int64_t k, uint8_t *mask, gq_err *err) {
    return gq_quant_topk_global(&score, &n, 1, k, &mask, err);
}

int64_t gq_quant_budget_k(const gq_quant_budget *b, int64_t n) {
    /* round half to even, like Python's round() */
    int64_t k = b->p >= 0 ? (int64_t)rint(b->p * (double)n) : b->k;
    if (k < 0) k = 0;
    if (k > n) k = n;
    return k;
}
