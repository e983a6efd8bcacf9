/* sweep_config: reads and validates a sweep config (SPEC.md §5) and expands it into the
 * grid of points that `glueq sweep` runs.
 *
 *     gq_sweep_config *cfg = NULL;
 *     if (gq_sweep_config_load("configs/smoke.json", &cfg, &err) != GQ_OK)
 *         fprintf(stderr, "glueq: %s\n", err.msg);   // "configs/smoke.json: bits[1]: ..."
 *     for (int i = 0; i < cfg->n_points; i++) run(&cfg->points[i]);
 *     gq_sweep_config_free(cfg);
 *
 * Keys (unknown keys, wrong types and impossible values are errors naming the key path):
 *   name         string, required
 *   comment      string, ignored (JSON has no comments)
 *   data         GLUE root (holds RTE/dev.tsv, ...), required
 *   vocab        vocab.txt (uncased WordPiece); default the model directory's tokenizer (its
 *                vocab.txt, or vocab.json and merges.txt, as its tokenizer_config.json says),
 *                else $GLUEQ_ASSETS/vocab/vocab.txt, else ../shared/assets
 *   models       {task: checkpoint dir}, one for every task in `tasks`
 *   tasks        any of glue.h's tasks (["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte",
 *                "wnli"]), required, no duplicates
 *   label_map    {task: {label: model id}}: how a task's checkpoint orders the labels, for one
 *                whose config.json names no labels and that does not use the task's default
 *                order (glue.h); every label of the task, each id once
 *   methods      names from quant's registry plus "uniform" (k = 0), required
 *   bits         [2..8], required
 *   budgets      {"k": [positive ints]} or {"p": [fractions in (0, 1]]}, and optionally
 *                "global": true (one top-k over all matrices); required when methods
 *                other than uniform are listed
 *   quantizer    {"scheme", "granularity", "clip", "stats_exclude_protected", "algorithm",
 *                "act_order", "damp"}: each a value or a list of values to sweep (SPEC §4
 *                names; algorithm rtn|gptq|awq-scale); defaults symmetric, tensor, std:2.5,
 *                false, rtn, false, 0.01. act_order applies to gptq and damp to gptq and
 *                awq-scale only: combinations that differ only in an option their algorithm
 *                does not use are run once.
 *   sarqc        {"lambda": λ >= 0 or a list, "saliency": none|svd|awq|spqr|magnitude or a
 *                list}: SARQC for gptq and awq-scale quantizers (default λ 0: off; λ 0 is
 *                run once, without a saliency)
 *   method_options {method: {option: value}}, checked against the method's option table
 *   calibration  {"split": "train"|"dev"|"test", "n": 128, "sample": "first"|"random", "seed": 0,
 *                 "from": "fp32"|"quantized"} (QNLI has no train split here: its test.tsv is
 *                 used; "from" applies to gptq and awq-scale, which then calibrate layer l on
 *                 the model with layers < l already quantized)
 *   seeds        [ints >= 0], default [0]: swept for methods that take a "seed" option
 *   max_len      3..512, default 128
 *   limit        null (all dev rows) or a positive count of first rows
 *   threads      0 (all cores, default) or a positive count
 *   device       "cpu" (default) or "cuda": where the forward runs, calibration's and its
 *                statistics included (quantization and scoring stay on the CPU); one GPU
 *                per process, so shard a sweep over GPUs with one process each
 *                (CUDA_VISIBLE_DEVICES) and merge
 *   tf32         false (default) or true: on cuda, let cuBLAS use TF32 tensor cores
 *   output       output directory, required
 *   cache_dir    method-state cache; default: glueq's cache ($GLUEQ_CACHE_DIR, else
 *                $XDG_CACHE_HOME/glueq, else ~/.cache/glueq), shared with `glueq eval`
 * Strings of path keys (data, vocab, models.*, output, cache_dir) expand ${VAR} and
 * ${VAR:-default} (the default may itself use ${...}); an unset variable without a
 * default is an error naming it. Relative paths are relative to the working directory.
 *
 * Grid, in this order for each task: the FP32 baseline (method "fp32", bits 32); uniform
 * once per (bits, quantizer) with k = 0; then every other method × bits × budget ×
 * quantizer × seed (seeds only for seeded methods). Each point's id is the first 16 hex
 * digits of the sha256 of its canonical settings (a JSON object with sorted keys and
 * resolved defaults, no paths: the same setting on another checkpoint has the same id).
 * The config hash is the sha256 of the canonical resolved config without the keys that
 * cannot change results (name, output, cache_dir, threads, device; the GPU's logits are
 * within 1e-4 of the CPU's), and with "tf32" only when it is true (TF32 changes results).
 */
#ifndef GQ_SWEEP_CONFIG_H
#define GQ_SWEEP_CONFIG_H

#include <cJSON.h>

#include "calib_rows.h"
#include "common.h"
#include "glue.h"
#include "quant.h"

/* A grid larger than this is refused before anything is allocated for it: at seconds per
 * point it would run for weeks, and 10^9 points would need hundreds of GB of bookkeeping. */
#define GQ_SWEEP_MAX_POINTS 100000

typedef struct {
    int index;           /* position in the whole grid (sharding is by index mod N) */
    char id[17];         /* 16 hex digits */
    int task;            /* index into cfg->tasks */
    int method;          /* index into cfg->methods; -1 for the FP32 baseline */
    const char *method_name; /* "fp32", "uniform", "svd", ... (points into cfg) */
    int bits;            /* 32 for fp32 */
    int64_t k;           /* protected weights per matrix; -1 when the budget is a fraction */
    double p;            /* fraction per matrix; -1 when the budget is a count */
    int quantizer;       /* index into cfg->quantizers; -1 for fp32 */
    int64_t seed;        /* the method's seed; -1 for unseeded methods */
    gq_method_opts mopts;    /* resolved method options (seed included); n = 0 for fp32/uniform */
    gq_quant_opts qopts;     /* with bits set; meaningless for fp32 */
    int calibrated;          /* the method or the quantizer's algorithm uses calibration data */
    char *settings;          /* canonical JSON hashed into id */
} gq_sweep_point;

typedef struct {
    char *path;   /* the config file, as given */
    char *name, *data, *output;
    char *vocab, *cache_dir; /* NULL: the defaults above */
    int n_tasks;
    char **tasks;  /* canonical lower-case names */
    char **models; /* (n_tasks) expanded checkpoint dirs */
    int *label_maps; /* (n_tasks, GQ_GLUE_MAX_LABELS) map[label] = model id, -1s where not given;
                        NULL: no label_map */
    int n_methods;
    char **methods;
    int n_bits;
    int *bits;
    int budget_is_p, budget_global, n_budgets;
    int64_t *k;    /* (n_budgets) when !budget_is_p */
    double *p;     /* (n_budgets) when budget_is_p */
    int n_quantizers;
    gq_quant_opts *quantizers; /* (n_quantizers) the swept quantizers; each point sets its bits */
    gq_method_opts *method_opts; /* (n_methods) user options, not yet resolved */
    char *calib_split, *calib_sample;
    int calib_n;
    int64_t calib_seed;
    int calib_from_quantized; /* calibration.from: quantized */
    int n_seeds;
    int64_t *seeds;
    int max_len, limit /* 0 = all */, threads;
    gq_encoder_runner_opts runner; /* device, threads and tf32 */
    cJSON *canonical; /* the resolved config, sorted keys; results.json shows it */
    char hash[65];
    int n_points;
    gq_sweep_point *points;
} gq_sweep_config;

/* Reads, validates and expands the config at path. *out is owned by the caller. Errors
 * read "<path>: <key path>: <problem>". */
gq_status gq_sweep_config_load(const char *path, gq_sweep_config **out, gq_err *err);
/* Same from text; `path` is only used in messages and kept in cfg->path. */
gq_status gq_sweep_config_parse(const char *text, const char *path, gq_sweep_config **out, gq_err *err);
/* gq_sweep_config_parse that adds to *compares the key comparisons of its checks for
 * repeats (keys, budgets, seeds, quantizers, point ids), accepted or not: tests bound the
 * work of hostile configs by it. */
gq_status gq_sweep_config_parse_counted(const char *text, const char *path, gq_sweep_config **out,
                                        uint64_t *compares, gq_err *err);
void gq_sweep_config_free(gq_sweep_config *cfg);

/* Expands ${VAR} and ${VAR:-default} in s into a new string (*out, caller frees). `where`
 * names the file and key in messages. */
gq_status gq_sweep_expand_env(const char *s, const char *where, char **out, gq_err *err);

/* What a point's id is made of: everything that can change its results, and no paths. */
typedef struct {
    const char *task;            /* canonical lower-case name */
    const char *method;          /* "fp32" (then only task, max_len and limit count), "uniform", ... */
    int max_len, limit;          /* limit 0: every row */
    const gq_quant_opts *q;      /* the quantizer, bits included; options its algorithm does
                                    not use are ignored */
    gq_quant_budget budget;      /* none for uniform, k 0 or p 0 */
    const gq_method_opts *mopts; /* resolved; NULL: none */
    const gq_calib_opts *calib;  /* NULL unless the method or the algorithm reads calibration rows */
} gq_point_spec;

/* The canonical settings of a point (a JSON object with sorted keys, resolved defaults and
 * no paths; *settings is owned by the caller) and its id (the first 16 hex digits of their
 * sha256): what `glueq sweep` records for a point, and what the C API reports for an
 * evaluation with the same settings. */
gq_status gq_point_settings(const gq_point_spec *ps, char **settings, char id[17], gq_err *err);

/* Number of points whose index % n_shards == shard. */
int gq_sweep_shard_count(const gq_sweep_config *cfg, int shard, int n_shards);

#endif
