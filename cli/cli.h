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
#include "sweep.h"

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
gq_status gq_cli_runner_parse(const gq_args *a, gq_encoder_runner_opts *o, gq_err *err);


/* The quantization, calibration and algorithm flags (commands.c), which fill cq. */
extern const gq_arg_group gq_cli_quant_groups[];
gq_status gq_cli_quant_parse(const gq_args *a, gq_quant_setup *cq, gq_err *err);


/* The flag groups of `glueq eval` and `glueq sweep` (commands.c), for the C API. */
extern const gq_arg_group *const gq_cli_eval_groups, *const gq_cli_sweep_groups;

/* The flags of an evaluation besides --model and the command's own (`glueq eval`,
 * `glueq quantize`, the C API), quantization aside, parsed, with what they name found by
 * the search orders; freed with gq_cli_eval_free. */
typedef struct {
    const gq_glue_task *task;
    const char *split;     /* --split, else "dev" */
    gq_eval_task_opts eo;  /* max_len, limit, utf8, runner, vocab, data root, label map; the
                              split when asked for */
    char *data_root, *vocab; /* owned */
    int label_map[GQ_GLUE_MAX_LABELS]; /* --label-map (eo.label_map points here when given) */
} gq_cli_eval;

/* Parses a's evaluation flags for the model `model` (a directory or Hub id: the vocab's
 * search order starts beside it); with with_split, eo names the split to load. */
gq_status gq_cli_eval_parse(const gq_args *a, const char *model, int with_split, gq_cli_eval *e, gq_err *err);
void gq_cli_eval_free(gq_cli_eval *e);

/* The object `glueq eval --json` prints for an evaluation ev with options e and result r
 * (cq and rep: the quantization, gq_quant_setup_apply's report); NULL when out of memory. The
 * caller owns it (cJSON_Delete). */
cJSON *gq_cli_eval_json(const gq_eval_task *ev, const gq_cli_eval *e, const gq_eval_result *r,
                        const gq_quant_setup *cq, const gq_quant_report *rep);

/* Quantizes ev's model as cq says, writes it to the directory out (`glueq quantize`) and
 * puts the FP32 weights back; rep is filled. */
gq_status gq_cli_quantize_to(const gq_quant_setup *cq, const gq_eval_task *ev, const gq_cli_eval *e, const char *out,
                             gq_quant_report *rep, gq_err *err);

/* The flags of `glueq sweep` (CONFIG, --out, --resume, --shard, --threads, --cache-dir)
 * into *o (n_shards set to 1 first by the caller) and *config; usage errors are GQ_ERR_ARG. */
gq_status gq_cli_sweep_parse(const gq_args *a, gq_sweep_opts *o, const char **config, gq_err *err);

/* Progress on stderr at most every 2 seconds: "label: done/total (pct) elapsed ETA". */
typedef struct {
    const char *label;
    double t0, last;
} gq_cli_progress;
void gq_cli_progress_fn(void *ctx, int done, int total);

#endif
