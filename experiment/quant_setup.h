/* quant_setup: quantizing a loaded model as a command's options say (`glueq eval`,
 * `glueq quantize`, the C API): the session, the calibration rows when the method or the
 * quantizer needs them, the scores and the budget, and the options as JSON for results.
 * The options come from gq_cli_quant_parse (cli.h), which reads them from the flags. */
#ifndef GQ_QUANT_SETUP_H
#define GQ_QUANT_SETUP_H

#include <cJSON.h>

#include "calib_rows.h"
#include "quant.h"

/* Everything `--method ...` selects. */
typedef struct {
    const char *method;      /* NULL: FP32 */
    gq_quant_opts q;
    gq_method_opts mo;       /* user options; resolved by the session */
    gq_quant_budget budget;
    gq_calib_opts calib;
    const char *cache_dir;
    const gq_ckpt *scores;   /* the method's scores held in memory (the C API's), instead of
                                its scores file; NULL: none */
} gq_quant_setup;

/* Quantizes m in place as cq says (no-op when cq->method is NULL); the session (returned,
 * caller frees, also on failure) keeps the FP32 copy and owns the calibration rows, which
 * it runs through r on a later calibrated apply: m and r must outlive it. rep is filled;
 * calib_desc (may be NULL; at least GQ_QUANT_SETUP_CALIB_DESC_LEN bytes) receives the calibration
 * rows' description, or "". */
#define GQ_QUANT_SETUP_CALIB_DESC_LEN 512
gq_status gq_quant_setup_apply(const gq_quant_setup *cq, gq_encoder *m, gq_encoder_runner *r, const gq_tok *tok,
                          const gq_glue_task *task, const char *data_root, int max_len,
                          gq_quant_session **session, gq_quant_report *rep, char *calib_desc, gq_err *err);

/* Every option of cq as a JSON object (method, the resolved method options of rep,
 * quantizer and its algorithm with SARQC, budget, calibration with the rows' description)
 * once gq_quant_setup_apply has filled rep; the caller owns it (cJSON_Delete). */
cJSON *gq_quant_setup_json(const gq_quant_setup *cq, const gq_quant_report *rep, const char *calib_desc);

#endif
