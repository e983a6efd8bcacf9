/* cli: the commands of the glueq binary (their table is commands.c) and what they share:
 * the quantization and device flags, error lines, progress lines. Each gq_cmd_* takes its
 * parsed flags and returns the process exit status: 0 success, 1 bad input or failure
 * (one `glueq: ...` line on stderr), 2 usage error. */
#ifndef GQ_CLI_H
#define GQ_CLI_H

#include <cJSON.h>

#include "args.h"
#include "calib_rows.h"
#include "eval.h"
#include "lookup.h"
#include "quant.h"
#include "quant_setup.h"

/* Runs `glueq argv[1] argv[2...]` (argv[0] is the program) as the command table of
 * commands.c says: parses the flags, answers --help, and calls the command. Returns the
 * process exit status. */
int gq_cli_main(int argc, char **argv);

/* The commands, called by gq_cli_main with their parsed flags (commands.c lists them). */
int gq_cmd_eval(const gq_args *a);
int gq_cmd_quantize(const gq_args *a);
int gq_cmd_logits(const gq_args *a);
int gq_cmd_tokenize(const gq_args *a);
int gq_cmd_info(const gq_args *a);
int gq_cmd_overlap(const gq_args *a);
int gq_cmd_sweep(const gq_args *a);
int gq_cmd_merge(const gq_args *a);
int gq_cmd_compare(const gq_args *a);

/* Prints `glueq: <msg>` and returns 1 (bad input) or 2 (usage: GQ_ERR_ARG). */
int gq_cli_fail(const gq_err *err, gq_status s);
/* Prints `glueq: <msg>` and returns 1: a failure once the arguments were accepted (a
 * config's invalid value included). */
int gq_cli_fail_run(const gq_err *err);

/* --device cpu|cuda, --tf32 and --threads N: where and how a command runs the model.
 * Fills o from those flags (defaults: cpu, FP32, all cores); --tf32 needs --device cuda. */
gq_status gq_cli_runner_parse(const gq_args *a, gq_dbert_runner_opts *o, gq_err *err);


/* The quantization, calibration and algorithm flags (commands.c), which fill cq. */
extern const gq_arg_group gq_cli_quant_groups[];
gq_status gq_cli_quant_parse(const gq_args *a, gq_cli_quant *cq, gq_err *err);


/* Progress on stderr at most every 2 seconds: "label: done/total (pct) elapsed ETA". */
typedef struct {
    const char *label;
    double t0, last;
} gq_cli_progress;
void gq_cli_progress_fn(void *ctx, int done, int total);

#endif
