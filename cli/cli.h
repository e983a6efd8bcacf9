/* cli: the subcommands of the glueq binary and what they share: resource lookup in the
 * documented search order, quantization flags, progress lines. Each gq_cmd_* takes the
 * arguments after the subcommand name and returns the process exit status:
 * 0 success, 1 bad input or failure (one `glueq: ...` line on stderr), 2 usage error. */
#ifndef GQ_CLI_H
#define GQ_CLI_H

#include <cJSON.h>

#include "args.h"
#include "calib_rows.h"
#include "eval.h"
#include "lookup.h"
#include "quant.h"

int gq_cmd_eval(int argc, char **argv);
int gq_cmd_logits(int argc, char **argv);
int gq_cmd_tokenize(int argc, char **argv);
int gq_cmd_info(int argc, char **argv);
int gq_cmd_overlap(int argc, char **argv);
int gq_cmd_quantize(int argc, char **argv);
int gq_cmd_sweep(int argc, char **argv);
int gq_cmd_merge(int argc, char **argv);
int gq_cmd_compare(int argc, char **argv);

/* Prints `glueq: <msg>` and returns 1 (bad input) or 2 (usage: GQ_ERR_ARG). */
int gq_cli_fail(const gq_err *err, gq_status s);
/* Prints `glueq: <msg>` and returns 1: a failure once the arguments were accepted (a
 * config's invalid value included). */
int gq_cli_fail_run(const gq_err *err);

/* --device cpu|cuda, --tf32 and --threads N: where and how a command runs the model. */
#define GQ_CLI_RUNNER_FLAGS {"device", 1}, {"tf32", 0}, {"threads", 1}
/* Fills o from those flags (defaults: cpu, FP32, all cores); --tf32 needs --device cuda. */
gq_status gq_cli_runner_parse(const gq_args *a, gq_dbert_runner_opts *o, gq_err *err);

/* Everything `--method ...` selects. */
typedef struct {
    const char *method;      /* NULL: FP32 */
    gq_quant_opts q;
    gq_method_opts mo;       /* user options; resolved by the session */
    gq_quant_budget budget;
    gq_calib_opts calib;
    const char *cache_dir;
} gq_cli_quant;

/* The flags gq_cli_quant_parse reads, to be appended to a command's spec table. */
#define GQ_CLI_QUANT_FLAGS                                                                           \
    {"method", 1}, {"bits", 1}, {"k", 1}, {"p", 1}, {"global", 0}, {"scheme", 1}, {"granularity", 1}, \
        {"clip", 1}, {"stats-exclude-protected", 0}, {"method-opt", 1}, {"scores", 1}, {"calib-n", 1}, \
        {"calib-split", 1}, {"calib-sample", 1}, {"calib-seed", 1}, {"cache-dir", 1}, {"algorithm", 1},   \
        {"act-order", 0}, {"damp", 1}, {"sarqc-lambda", 1}, {"sarqc-saliency", 1}, {"calib-from", 1}

/* Help text of those flags, for the commands' --help. */
#define GQ_CLI_QUANT_HELP                                                                                      \
    "Quantizer algorithm (README \"Quantizer algorithms\"):\n"                                                  \
    "  --algorithm rtn|gptq|awq-scale  rtn (default) rounds to nearest; gptq quantizes columns in order with\n" \
    "                     error feedback through H^-1 (H = 2/N X^T X + damp*mean(diag H)*I); awq-scale searches\n" \
    "                     per-input-channel scales s = a^alpha (alpha in 0, 1/20, ..., 19/20) on the\n"        \
    "                     calibration output error. Protected weights stay FP32 in all three.\n"              \
    "  --act-order        gptq: quantize columns by descending diag H\n"                                      \
    "  --damp X           gptq/SARQC Hessian damping, relative to mean diag (0.01)\n"                         \
    "  --sarqc-lambda L   SARQC (gptq, awq-scale): add L*m*sum S_ij E_ij^2 to the calibration objective (0)\n" \
    "  --sarqc-saliency M SARQC's S: none (S = 1, RQC), svd, awq, spqr or magnitude scores (none)\n"           \
    "  --calib-from fp32|quantized  statistics of gptq/awq-scale from the FP32 model (default) or, layer by\n" \
    "                     layer, from the model with the earlier layers already quantized\n"

gq_status gq_cli_quant_parse(const gq_args *a, gq_cli_quant *cq, gq_err *err);

/* Quantizes m in place as cq says (no-op when cq->method is NULL); the session (returned,
 * caller frees) keeps the FP32 copy. rep is filled; calib_desc (may be NULL; at least
 * GQ_CLI_CALIB_DESC_LEN bytes) receives the calibration rows' description, or "". */
#define GQ_CLI_CALIB_DESC_LEN 512
gq_status gq_cli_quantize(const gq_cli_quant *cq, gq_dbert *m, gq_dbert_runner *r, const gq_tok *tok,
                          const gq_glue_task *task, const char *data_root, int max_len,
                          gq_quant_session **session, gq_quant_report *rep, char *calib_desc, gq_err *err);

/* Every option of cq as a JSON object (method, resolved method options, quantizer and its
 * algorithm with SARQC, budget, calibration with the rows' description); the caller owns
 * it (cJSON_Delete). */
cJSON *gq_cli_quant_json(const gq_cli_quant *cq, const char *calib_desc);

/* Progress on stderr at most every 2 seconds: "label: done/total (pct) elapsed ETA". */
typedef struct {
    const char *label;
    double t0, last;
} gq_cli_progress;
void gq_cli_progress_fn(void *ctx, int done, int total);

#endif
