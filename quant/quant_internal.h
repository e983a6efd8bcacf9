/* quant_internal: helpers shared by the files of quant/ (not part of the interface). */
#ifndef GQ_QUANT_INTERNAL_H
#define GQ_QUANT_INTERNAL_H

#include "quant_method.h"

/* Decodes a score-cache file held in b[0..len) that must have been made for `key` and
 * n_mats matrices: on success st[i] (malloc'd, n[i] doubles each) and NULL; else why
 * the entry is unusable ("checksum mismatch ...") and nothing is allocated. */
const char *gq_quant_cache_decode(const uint8_t *b, size_t len, const char *key, int n_mats, double **st, size_t *n);

/* The registered methods, one file each (method_<name>.c). */
extern const gq_method gq_method_uniform, gq_method_magnitude, gq_method_random, gq_method_svd, gq_method_awq,
    gq_method_spqr, gq_method_external, gq_method_rosaq;

/* gq_quantize_fn that rounds to nearest with ctx = the gq_quant_opts (stats unused). */
gq_status gq_quantize_rtn(const void *ctx, const float *w, int rows, int cols, const uint8_t *mask,
                          const gq_lin_stats *stats, float *out, gq_err *err);

#endif
