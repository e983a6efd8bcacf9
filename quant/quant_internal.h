/* quant_internal: helpers shared by the files of quant/ (not part of the interface). */
#ifndef GQ_QUANT_INTERNAL_H
#define GQ_QUANT_INTERNAL_H

#include "quant.h"

/* "q_lin", ..., "lin2": names of the Linear kinds for messages and cache keys, kept here
 * so that quant/ does not need distilbert.c at link time. */
const char *gq_quant_lin_label(gq_lin_kind kind);

/* The registered methods, one file each (method_<name>.c). */
extern const gq_method gq_method_uniform, gq_method_magnitude, gq_method_random, gq_method_svd, gq_method_awq,
    gq_method_spqr;

#endif
