/* commands: the table of glueq's commands and their flags. Parsing, each command's
 * --help, `glueq --help`, the man page and the shell completion (both generated from the
 * --help texts by scripts/gen_docs.sh) all come from it, so that a flag is accepted if
 * and only if its command's help lists it. */
#include "cli.h"

#include <string.h>

#include "blas.h"
#include "version.h"

/* ---- the flags, in the groups that commands share ---- */

#define FLAG(name, value, help) {name, value, help, NULL}
#define CHOICE(name, value, help, choices) {name, value, help, choices}
#define END {NULL, NULL, NULL, NULL}

static void task_choices(char *buf, size_t n) { snprintf(buf, n, "%s", gq_glue_task_names()); }

static const gq_arg_spec MODEL_FLAGS[] = {
    FLAG("model", "DIR", "a checkpoint directory, or a Hugging Face Hub id ORG/NAME[@REV] in the local "
                     "cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; never "
                     "downloaded)"),
    FLAG("vocab", "FILE", "an uncased WordPiece vocabulary (else the model directory's tokenizer, "
                      "$GLUEQ_ASSETS/vocab/vocab.txt, ../shared/assets/vocab/vocab.txt)"),
    FLAG("max-len", "N", "tokens per input after truncation (128)"),
    FLAG("utf8", "strict|replace", "invalid UTF-8 in the text: an error (strict, the default) or U+FFFD"),
    END};

static const gq_arg_spec DATA_FLAGS[] = {
    CHOICE("task", "T", "the GLUE task", task_choices),
    FLAG("data", "GLUE_DIR", "the GLUE root (else $GLUE_DIR, $GLUEQ_ASSETS/glue, ../shared/assets/glue)"),
    END};

static const gq_arg_spec EVAL_FLAGS[] = {
    FLAG("split", "NAME", "the split to evaluate: dev (default; mnli: dev_matched and dev_mismatched), train, "
                      "test, or a file's name (dev_mismatched)"),
    FLAG("limit", "N", "only the first N rows of the split (of each of its files; 0: all)"),
    FLAG("label-map", "L=ID,...", "which model label id each of the task's labels is, e.g. "
                               "entailment=1,not_entailment=0 (else config.json's id2label where it names the "
                               "task's labels, else the task's default order: docs/tasks.md)"),
    FLAG("json", NULL, "print the result as one JSON object"),
    END};

static const gq_arg_spec QUIET_FLAG[] = {FLAG("quiet", NULL, "only warnings and errors on stderr"), END};

static const gq_arg_spec RUNNER_FLAGS[] = {
    FLAG("device", "cpu|cuda", "where the forward runs (cpu); cuda needs a build with CUDA, and "
                           "quantization and scoring stay on the CPU"),
    FLAG("tf32", NULL, "--device cuda: TF32 tensor-core GEMMs instead of FP32"),
    FLAG("threads", "N", "threads for the forward, scoring and quantizing (0: all cores)"),
    END};

static void method_choices(char *buf, size_t n) { gq_method_names(buf, n); }

static const gq_arg_spec METHOD_FLAG[] = {
    CHOICE("method", "M", "quantize the encoder's Linear weights, keeping the k most salient weights "
                    "of each matrix (by the method's scores) in FP32", method_choices),
    END};

static const gq_arg_spec QUANT_FLAGS[] = {
    FLAG("bits", "B", "bit width of the quantized weights, 2..8 (4)"),
    FLAG("k", "K", "weights kept in FP32 per matrix (0)"),
    FLAG("p", "P", "instead of --k: the fraction of each matrix kept in FP32"),
    FLAG("global", NULL, "one top-k over all matrices (the same total as --k or --p per matrix)"),
    FLAG("scheme", "symmetric|asymmetric", "the quantizer's scheme (symmetric)"),
    FLAG("granularity", "tensor|row|group:G", "one scale per tensor (default), row, or G consecutive inputs of a row"),
    FLAG("clip", "std:A|absmax", "the range: mean ± A standard deviations (std:2.5) or the largest |w|"),
    FLAG("stats-exclude-protected", NULL, "compute the range over the unprotected weights only"),
    FLAG("method-opt", "KEY=VALUE", "an option of the method (repeatable), e.g. rank=8 for svd"),
    FLAG("scores", "FILE", "--method external: a safetensors file with one score tensor per quantized "
                       "matrix, named and shaped like its weight (examples/saliency_numpy.py)"),
    FLAG("cache-dir", "DIR", "where method states are cached (else $GLUEQ_CACHE_DIR, "
                         "$XDG_CACHE_HOME/glueq, ~/.cache/glueq)"),
    END};

static const gq_arg_spec CALIB_FLAGS[] = {
    FLAG("calib-n", "N", "calibration rows (128), for awq, spqr and the calibrated algorithms"),
    FLAG("calib-split", "train|dev|test", "the split they come from (train)"),
    FLAG("calib-sample", "first|random", "the first N rows (default) or a seeded sample"),
    FLAG("calib-seed", "S", "the sample's seed (0)"),
    END};

static const gq_arg_spec ALGO_FLAGS[] = {
    FLAG("algorithm", "rtn|gptq|awq-scale",
     "rtn (default) rounds to nearest; gptq quantizes columns in order with error "
     "feedback through H^-1 (H = 2/N X^T X + damp*mean(diag H)*I); awq-scale searches "
     "per-input-channel scales s = a^alpha (alpha in 0, 1/20, ..., 19/20) on the "
     "calibration output error. Protected weights stay FP32 in all three."),
    FLAG("act-order", NULL, "gptq: quantize columns by descending diag H"),
    FLAG("damp", "X", "gptq/SARQC Hessian damping, relative to mean diag (0.01)"),
    FLAG("sarqc-lambda", "L", "SARQC (gptq, awq-scale): add L*m*sum S_ij E_ij^2 to the calibration "
                          "objective (0)"),
    FLAG("sarqc-saliency", "M", "SARQC's S: none (S = 1, RQC), svd, awq, spqr or magnitude scores (none)"),
    FLAG("calib-from", "fp32|quantized", "statistics of gptq/awq-scale from the FP32 model (default) or, layer "
                                     "by layer, from the model with the earlier layers already quantized"),
    END};

static const gq_arg_spec QUANTIZE_FLAGS[] = {
    FLAG("out", "DIR2", "the output directory: must not exist or be empty; it appears whole or not at all"),
    END};

static const gq_arg_spec LOGITS_FLAGS[] = {
    FLAG("text", "A", "the input text"),
    FLAG("pair", "B", "the second text of a pair"),
    END};

static const gq_arg_spec TOKENIZE_FLAGS[] = {
    FLAG("vocab", "FILE", "the WordPiece vocabulary (else $GLUEQ_ASSETS/vocab/vocab.txt, "
                      "../shared/assets/vocab/vocab.txt)"),
    FLAG("model", "DIR", "the tokenizer that eval uses for this model directory: its WordPiece (vocab.txt) or "
                     "byte-level BPE (vocab.json, merges.txt) as its tokenizer_config.json says, else the "
                     "vocabulary above"),
    FLAG("max-len", "N", "tokens per input after truncation (128; 0: no truncation)"),
    FLAG("utf8", "strict|replace", "invalid UTF-8 in the text: an error (strict, the default) or U+FFFD"),
    FLAG("text", "A", "the input text"),
    FLAG("pair", "B", "the second text of a pair"),
    FLAG("tsv", "FILE", "every data row of a GLUE split file instead (needs --task)"),
    CHOICE("task", "T", "the task whose columns --tsv has", task_choices),
    END};

static const gq_arg_spec INFO_FLAGS[] = {
    FLAG("model", "DIR", "a checkpoint directory or a Hub id in the local cache"),
    END};

static const gq_arg_spec OVERLAP_FLAGS[] = {
    FLAG("methods", "A,B", "the two methods whose protected sets are compared"),
    END};

static const gq_arg_spec SWEEP_FLAGS[] = {
    FLAG("out", "DIR", "the output directory (else the config's \"output\")"),
    FLAG("resume", NULL, "continue an interrupted run: skip the journalled points"),
    FLAG("shard", "i/N", "run only the points whose index mod N is i (combine with `glueq merge`)"),
    FLAG("check", NULL, "validate the config and print the grid size without running"),
    FLAG("threads", "N", "overrides the config's \"threads\" (does not change results)"),
    FLAG("cache-dir", "DIR", "overrides the config's \"cache_dir\" (does not change results)"),
    END};

static const gq_arg_spec MERGE_FLAGS[] = {
    FLAG("out", "OUT", "the output directory (else the first positional argument)"),
    FLAG("partial", NULL, "accept an incomplete grid"),
    END};

static const gq_arg_spec COMPARE_FLAGS[] = {
    CHOICE("task", "T", "only points of task T", task_choices),
    FLAG("fail-if-worse", "DELTA", "exit 3 when B is significantly worse than A on the task's main metric "
                               "and B - A < -DELTA points (x100): for accuracy McNemar p < 0.05, for MCC and "
                               "Pearson a bootstrap interval below 0"),
    END};

/* ---- the commands ---- */

#define INPUT_GROUPS {"model", MODEL_FLAGS}, {"data", DATA_FLAGS}, {"device", RUNNER_FLAGS}
/* overlap names its two methods with --methods: it takes the rest */
#define QUANTIZER_GROUPS \
    {"quantization", QUANT_FLAGS}, {"calibration rows", CALIB_FLAGS}, {"quantizer algorithm", ALGO_FLAGS}
#define QUANT_GROUPS {"method", METHOD_FLAG}, QUANTIZER_GROUPS

const gq_arg_group gq_cli_quant_groups[] = {QUANT_GROUPS, {NULL, NULL}};

static const gq_arg_group EVAL_GROUPS[] = {
    INPUT_GROUPS, {"evaluation", EVAL_FLAGS}, {"messages", QUIET_FLAG}, QUANT_GROUPS, {NULL, NULL}};
const gq_arg_group *const gq_cli_eval_groups = EVAL_GROUPS;
/* every eval flag, so that an eval command line with --out added is a quantize one */
static const gq_arg_group QUANTIZE_GROUPS[] = {
    INPUT_GROUPS, {"output", QUANTIZE_FLAGS}, {"messages", QUIET_FLAG},
    {"evaluation (as in glueq eval; no effect here)", EVAL_FLAGS},
    QUANT_GROUPS, {NULL, NULL}};
static const gq_arg_group LOGITS_GROUPS[] = {
    {"model", MODEL_FLAGS}, {"input", LOGITS_FLAGS}, {"device", RUNNER_FLAGS}, {NULL, NULL}};
static const gq_arg_group TOKENIZE_GROUPS[] = {{"options", TOKENIZE_FLAGS}, {NULL, NULL}};
static const gq_arg_group INFO_GROUPS[] = {{"options", INFO_FLAGS}, {NULL, NULL}};
static const gq_arg_group OVERLAP_GROUPS[] = {
    INPUT_GROUPS, {"methods", OVERLAP_FLAGS}, QUANTIZER_GROUPS, {NULL, NULL}};
static const gq_arg_group SWEEP_GROUPS[] = {{"options", SWEEP_FLAGS}, {"messages", QUIET_FLAG}, {NULL, NULL}};
const gq_arg_group *const gq_cli_sweep_groups = SWEEP_GROUPS;
static const gq_arg_group MERGE_GROUPS[] = {{"options", MERGE_FLAGS}, {"messages", QUIET_FLAG}, {NULL, NULL}};
static const gq_arg_group COMPARE_GROUPS[] = {{"options", COMPARE_FLAGS}, {NULL, NULL}};

typedef struct {
    const char *name, *summary; /* the line of `glueq --help` */
    const char *usage;          /* after "usage: glueq NAME " */
    const char *about;          /* what it does, before the options */
    const gq_arg_group *groups;
    int max_positional; /* -1: any number */
    int (*run)(const gq_args *a);
} command;

static const command COMMANDS[] = {
    {"eval", "evaluate a model (optionally quantized) on a GLUE split", "--model DIR --task T [OPTIONS]",
     "Evaluates a DistilBERT, BERT or RoBERTa sequence classifier, as the model's config.json\n"
     "says (a regression head for stsb), on a GLUE split and prints the task's metrics with counts and a 95% confidence interval: accuracy, with\n"
     "Matthews corr. for cola and F1 for mrpc and qqp; Pearson and Spearman for stsb; mnli on\n"
     "both dev files. It says in which order it read the model's label ids. With --method, the\n"
     "encoder's Linear weights are quantized to --bits with the k (or fraction p) most salient\n"
     "weights of each matrix kept in FP32.\n",
     EVAL_GROUPS, 0, gq_cmd_eval},
    {"quantize", "write a quantized model as a Hugging Face checkpoint directory",
     "--model DIR --task T --method M --out DIR2 [OPTIONS]",
     "Quantizes the model exactly as `glueq eval` with the same options would (the task picks\n"
     "the calibration rows) and writes it to DIR2 as a Hugging Face checkpoint: config.json,\n"
     "vocab.txt, FP32 model.safetensors (dequantized weights), quantization.json (options,\n"
     "protected count and effective bits per matrix) and protected.safetensors (a U8 mask per\n"
     "quantized matrix). `glueq eval --model DIR2` gives the logits of the in-memory run.\n",
     QUANTIZE_GROUPS, 0, gq_cmd_quantize},
    {"logits", "print the logits of one input", "--model DIR --text A [--pair B] [OPTIONS]",
     "Prints the logits and the predicted label of one input.\n", LOGITS_GROUPS, 0, gq_cmd_logits},
    {"tokenize", "print token ids of a text, a pair or a TSV file",
     "(--text A [--pair B] | --tsv FILE --task T) [OPTIONS]",
     "Prints the token ids ([CLS] A [SEP] B [SEP]; byte-level BPE: <s> A </s></s> B </s>),\n"
     "space-separated, one line per input or per data row of the TSV.\n",
     TOKENIZE_GROUPS, 0, gq_cmd_tokenize},
    {"info", "describe a checkpoint", "--model DIR",
     "Prints the architecture, parameter counts, storage format and sha256 of a checkpoint.\n", INFO_GROUPS, 0,
     gq_cmd_info},
    {"overlap", "compare the weights two saliency methods protect", "--model DIR --task T --methods A,B --k K [OPTIONS]",
     "Prints, per matrix and in total, |A∩B|/k and the Jaccard index of the weights that\n"
     "methods A and B protect. --method-opt and --scores go to the method that accepts them.\n",
     OVERLAP_GROUPS, 0, gq_cmd_overlap},
    {"sweep", "run a config's grid of tasks x methods x bits x budgets (resumable, shardable)", "CONFIG [OPTIONS]",
     "Runs the grid of a sweep config (configs/smoke.json, configs/paper.json; keys in\n"
     "experiment/sweep_config.h and docs/sweeps.md). Every finished point is journalled in\n"
     "the output directory, so a killed run loses at most the point in flight. One process\n"
     "at a time per output directory: a second one is refused while the first runs.\n"
     "SIGINT/SIGTERM stop after the current point.\n"
     "Exit: 0 done, 1 failure, 2 usage, 128+signal when interrupted.\n",
     SWEEP_GROUPS, -1, gq_cmd_sweep},
    {"merge", "combine the journals of sharded sweeps", "OUT INPUT... [--partial]   (or: glueq merge --out OUT INPUT...)",
     "Combines the journals of sharded sweeps (INPUT = a journal file or a directory\n"
     "holding journal*.jsonl) into OUT: OUT/journal.jsonl and the reports. Refuses\n"
     "journals of different configs, and incomplete grids unless --partial.\n",
     MERGE_GROUPS, -1, gq_cmd_merge},
    {"compare", "paired comparison of two result sets (McNemar, bootstrap CI)", "A B [OPTIONS]",
     "A, B: RESULTS or RESULTS#POINT_ID, RESULTS = a sweep output directory or its\n"
     "results.json (predictions.jsonl beside it). With ids on both sides those two\n"
     "points are compared; with none, every point id found in both.\n"
     "Prints, per metric of the task (accuracy, F1, MCC, Pearson, Spearman; per MNLI dev\n"
     "file), A, B, B - A x100 with a paired-bootstrap 95% interval and, for accuracy, the\n"
     "exact McNemar p.\n"
     "Exit: 0 ok, 1 bad input, 2 usage, 3 significantly worse (with --fail-if-worse).\n",
     COMPARE_GROUPS, -1, gq_cmd_compare},
};
enum { N_COMMANDS = sizeof COMMANDS / sizeof COMMANDS[0] };

static const gq_arg_spec HELP_FLAG[] = {FLAG("help", NULL, "print this help and exit"), END};

static void print_help(const command *c) {
    printf("usage: glueq %s %s\n%s", c->name, c->usage, c->about);
    gq_args_print_help(stdout, c->groups);
    gq_args_print_help(stdout, (const gq_arg_group[]){{"help", HELP_FLAG}, {NULL, NULL}});
}

/* The command's groups and --help, into out (at most 15 groups). */
static void groups_with_help(const command *c, gq_arg_group *out) {
    int n = 0;
    while (c->groups[n].specs && n < 14) out[n] = c->groups[n], n++;
    out[n++] = (gq_arg_group){"help", HELP_FLAG};
    out[n] = (gq_arg_group){NULL, NULL};
}

static void usage(FILE *f) {
    fputs("usage: glueq COMMAND [OPTIONS]   (glueq COMMAND --help for each)\n"
          "       glueq --version          (version, git revision, BLAS library and kernels)\n\ncommands:\n", f);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

static int run_command(const command *c, int argc, char **argv) {
    gq_arg_group groups[16];
    groups_with_help(c, groups);
    gq_args a;
    gq_err err = {{0}};
    gq_status s = gq_args_parse(&a, groups, argc, argv, &err);
    if (s == GQ_OK && gq_args_has(&a, "help")) return print_help(c), 0;
    if (s == GQ_OK && c->max_positional >= 0 && a.npos > c->max_positional)
        s = gq_fail(&err, GQ_ERR_ARG, "unexpected argument '%s'", a.pos[c->max_positional]);
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    if (gq_args_has(&a, "quiet")) gq_log_set_level(GQ_LOG_WARN);
    return c->run(&a);
}

int gq_cli_main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        gq_version_print(stdout);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return run_command(&COMMANDS[i], argc - 2, argv + 2);
    fprintf(stderr, "glueq: unknown command '%s' (see glueq --help)\n", argv[1]);
    return 2;
}
