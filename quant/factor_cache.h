/* factor_cache: the factors a calibrated algorithm computes from a matrix's calibration
 * statistics alone, kept by the quantization session across applies.
 *
 * gptq's U (the upper Cholesky factor of H⁻¹ in pass order, with the pass order and the
 * dead columns) and awq-scale's pivoted Cholesky factor of XᵀX cost O(cols³) per matrix,
 * more than the rest of a point's quantization, yet do not depend on the bits, the budget,
 * the protected weights or the method. An entry is found by:
 *   - slot: which statistics of the session's current calibration (the matrix index; the
 *     session clears the cache whenever it drops those statistics), and basis: those
 *     statistics themselves (0) or a transforming method's view of them in its own basis
 *     (rosaq's PCA basis), a function of them alone;
 *   - the algorithm;
 *   - gptq only: act_order and H's whole diagonal. H's off-diagonal part is (2/N)·XᵀX, a
 *     function of the statistics alone; its diagonal carries everything else that
 *     enters H (dead columns, the damping, SARQC's λ·m·s̄), so comparing it bit for bit
 *     compares H.
 *
 * Memory: an entry holds cols² doubles (75.5 MB for a 3072-input matrix, 4.7 MB for 768);
 * a DistilBERT-base model's 36 matrices need 594 MB per algorithm and H (BERT-base: 1.19
 * GB). The cache holds at most its bound (GQ_FACTOR_CACHE_DEFAULT unless set); past it,
 * the entries least recently used by an earlier apply go first, and a factor that still
 * does not fit is not kept (entries used by the current apply are never evicted, so that
 * their pointers stay valid until it ends and a bound below one apply's set still serves
 * the part that fits).
 *
 * Thread-safe: the session's threads look up and insert concurrently. */
#ifndef GQ_FACTOR_CACHE_H
#define GQ_FACTOR_CACHE_H

#include "algo.h"

#define GQ_FACTOR_CACHE_DEFAULT ((size_t)4 << 30) /* bytes: seeds.json's five H of base */

/* A factor of one matrix's statistics. gptq: m is U (n, n; row-major, pass order), order
 * maps pass position to column, dead marks dead columns. awq-scale: m is Lᵀ (upper,
 * row-major, rows >= rank zeroed) with Pᵀ XᵀX P = L Lᵀ, order the 0-based pivots P, dead
 * NULL. All three are malloc'd and belong to whoever holds the factor. */
typedef struct {
    int n;
    double *m;
    int *order;
    uint8_t *dead;
} gq_factor;

void gq_factor_free(gq_factor *f);

/* What a factor depends on besides the statistics of slot (see above). diag (n doubles,
 * gptq only; NULL for awq-scale) is borrowed. */
typedef struct {
    int slot;
    int basis; /* 0: slot's statistics; else a transform of them (gq_quant_algo_inputs) */
    gq_quant_algorithm algorithm;
    int act_order;
    int n;
    const double *diag;
} gq_factor_key;

/* An empty cache bounded to `bound` bytes; NULL when out of memory. Freed with
 * gq_factor_cache_free. */
gq_factor_cache *gq_factor_cache_new(size_t bound);
void gq_factor_cache_free(gq_factor_cache *c);
/* Drops every entry: the statistics they were computed from are gone. Not during an apply. */
void gq_factor_cache_clear(gq_factor_cache *c);
/* Sets the bound, dropping entries (least recently used first) until it holds. Not during
 * an apply. */
void gq_factor_cache_set_bound(gq_factor_cache *c, size_t bound);
/* Bytes held now. */
size_t gq_factor_cache_bytes(const gq_factor_cache *c);
/* Starts an apply: entries used from now on are kept until the next call. */
void gq_factor_cache_begin_apply(gq_factor_cache *c);

/* The factor of key k, owned by c and valid until the next gq_factor_cache_begin_apply,
 * clear or free; NULL when c holds none. */
const gq_factor *gq_factor_cache_get(gq_factor_cache *c, const gq_factor_key *k);
/* Keeps *f under key k (copying k->diag) and returns what c now owns (f is emptied), or
 * returns NULL and leaves f to the caller when it does not fit or memory runs out. */
const gq_factor *gq_factor_cache_put(gq_factor_cache *c, const gq_factor_key *k, gq_factor *f);

#endif
