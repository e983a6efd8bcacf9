/* quant: simulated mixed-precision quantization of an encoder's block matrices (DistilBERT,
 * BERT, RoBERTa) with a few salient weights kept in FP32 (SPEC.md §4).
 *
 *     gq_quant_session *s = NULL;
 *     gq_quant_session_new(model, "cache-dir", &s, &err);      // saves the FP32 matrices
 *     gq_quant_session_set_calibration(s, calib_key, run_fn, run_ctx);  // for awq/spqr
 *     gq_quant_opts q; gq_quant_opts_default(&q, 4);
 *     gq_method_opts mo = {0}; gq_method_opts_set(&mo, "rank", "8", &err);
 *     gq_quant_scores *sc = NULL;
 *     gq_quant_scores_compute(s, "svd", &mo, &q, &sc, &err);   // once per (method, opts[, bits])
 *     gq_quant_budget b = {.k = 256, .p = -1};
 *     gq_quant_report rep;
 *     gq_quant_apply(s, sc, &q, &b, &rep, &err);               // model now holds quantized weights
 *     ... evaluate ...
 *     gq_quant_session_restore(s);                             // back to FP32
 *     gq_quant_scores_free(sc); gq_quant_session_free(s);
 *
 * The quantized matrices are the 6 Linear weights of every transformer block, indexed
 * `layer * GQ_LIN_COUNT + kind` everywhere below ("matrix index").
 */
#ifndef GQ_QUANT_H
#define GQ_QUANT_H

/* quant.h is the whole of quant/'s interface, one header per idea:
 *   quantizer.h  the quantizer's options and one matrix round to nearest
 *   algo.h       one matrix through rtn, gptq or awq-scale (with SARQC)
 *   budget.h     top-k and budgets: which weights stay FP32
 *   methods.h    saliency methods by name (a method's own side: quant_method.h)
 *   session.h    a model's matrices, scores, and one quantization pass */
#include "algo.h"
#include "budget.h"
#include "methods.h"
#include "quantizer.h"
#include "session.h"

#endif
