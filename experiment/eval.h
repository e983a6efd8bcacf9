/* eval: tokenizes a GLUE split once and scores a model on it.
 *
 *     gq_eval_task ev;
 *     gq_eval_task_load(task, &opts, &ev, &err);          // model, tokenizer, split, label order
 *     gq_eval_result res = {0};
 *     gq_eval_task_run(&ev, NULL, NULL, &res, &err);      // as often as the weights change
 *     printf("%d/%d\n", res.metrics[0].correct, res.metrics[0].total);
 *     gq_eval_result_free(&res);
 *     gq_eval_task_free(&ev);
 *
 * Examples are run in length buckets (sorted by length, batches of up to the runner's
 * gq_encoder_runner_batch_tokens); results are reported in the file's row order. A split
 * of several files (MNLI's dev: matched, then mismatched) is one run over their rows in
 * order, scored per file ("part").
 */
#ifndef GQ_EVAL_H
#define GQ_EVAL_H

#include "encoder.h"
#include "glue.h"
#include "metrics.h"
#include "tokenizer.h"

/* The CPU runner's batch (gq_encoder_runner_batch_tokens), for benchmarks of the CPU. */
#define GQ_EVAL_BATCH_TOKENS GQ_ENCODER_CPU_BATCH_TOKENS

/* A tokenized split: ids of example i are ids[off[i] .. off[i] + len[i]). */
typedef struct {
    int n;
    int32_t *ids;
    int *len;
    int *seg_a;    /* (n) tokens of the first segment (gq_ids.seg_a); NULL: one segment each */
    int64_t *off;
    int *label;    /* (n) gold label (the task's id), 0 for a regression, -1 when the split is unlabelled */
    double *score; /* (n) gold score of a regression task; NULL for a classification */
    int *order;    /* (n) example indices sorted by length, then index */
    int64_t tokens; /* sum of len */
    int max_len;
    int n_parts;   /* files the examples come from, in order */
    int part_end[GQ_GLUE_MAX_DEV]; /* examples [part_end[p-1], part_end[p]) come from file p */
} gq_encoded;

/* Tokenizes every row of set ([CLS] a [SEP] b [SEP], or [CLS] a [SEP] for a single-text
 * task). *out is owned by the caller (gq_encoded_free). */
gq_status gq_encode_set(const gq_tok *tok, const gq_glue_set *set, int max_len, gq_encoded **out, gq_err *err);
/* The same for the first `limit` rows (0: all) of each of n sets, one part each. */
gq_status gq_encode_sets(const gq_tok *tok, const gq_glue_set *const *sets, int n, int limit, int max_len, gq_encoded **out,
                         gq_err *err);
void gq_encoded_free(gq_encoded *enc);

/* Called after each batch with the examples done so far; may be NULL. */
typedef void (*gq_progress_fn)(void *ctx, int done, int total);

typedef struct {
    int n, n_labels;
    int *pred;      /* (n) argmax of logits (ties to the lowest index): the model's label id;
                       after gq_eval_score, the task's label id (0 for a regression) */
    float *logits;  /* (n, n_labels); a regression's predicted score is its one logit */
    int64_t tokens;
    double seconds; /* forward time only */
    int n_parts;
    gq_metrics metrics[GQ_GLUE_MAX_DEV]; /* per part, by gq_eval_score on a labelled split */
} gq_eval_result;

/* Runs the model over enc. out is filled (and owned by the caller: gq_eval_result_free). */
gq_status gq_eval_run(gq_encoder_runner *r, const gq_encoded *enc, const gq_encoder_hooks *hooks,
                      gq_progress_fn progress, void *progress_ctx, gq_eval_result *out, gq_err *err);
void gq_eval_result_free(gq_eval_result *res);

/* Turns res's predictions into the task's label ids through order and, when enc is
 * labelled, computes each part's metrics. Call once per gq_eval_run. */
gq_status gq_eval_score(const gq_glue_task *task, const gq_label_order *order, const gq_encoded *enc,
                        gq_eval_result *res, gq_err *err);

/* The main metric of a scored res for progress lines: "70.31% (45/64)" for accuracy (per
 * file where there are several: "m 70.31% (45/64), mm ..."), else e.g. "mcc 23.45" (x100,
 * "n/a" when undefined). */
void gq_eval_main_str(const gq_glue_task *task, const gq_eval_result *res, char *buf, size_t n);

/* What scoring a model on one GLUE split needs, loaded together (`glueq eval`, sweeps). */
typedef struct {
    const gq_glue_task *task;
    gq_tok *tok;
    int n_sets;
    gq_glue_set *sets[GQ_GLUE_MAX_DEV]; /* every row of the split's files */
    const char *parts[GQ_GLUE_MAX_DEV]; /* their split names: "dev"; "dev_matched", "dev_mismatched" */
    gq_encoded *enc;         /* the first `limit` rows of each file, tokenized */
    gq_label_order labels;   /* the model's label ids as the task's labels */
    gq_encoder *model;
    gq_encoder_runner *runner;
} gq_eval_task;

typedef struct {
    const char *model_dir;       /* the checkpoint */
    const char *vocab;           /* the tokenizer, already found: a vocab.txt or a model
                                    directory (gq_lookup_tokenizer) */
    const char *data_root;       /* the GLUE root */
    const char *split;           /* "dev" (MNLI: both dev files), "train", "dev_mismatched", ...; NULL:
                                    no data (sets and enc stay empty) */
    const int *label_map;        /* map[task label] = model id (GQ_GLUE_MAX_LABELS); NULL: none */
    int max_len, limit;          /* limit 0: every row */
    int need_labels;             /* an unlabelled split is an error */
    gq_utf8_policy utf8;         /* GQ_UTF8_STRICT unless set */
    gq_encoder_runner_opts runner; /* device and threads */
} gq_eval_task_opts;

/* Loads the split, the tokenizer, the model (whose label count must be the task's) with
 * its label order (glue.h) and a runner, and tokenizes the split (when there is one).
 * *out is owned by the caller: gq_eval_task_free. */
gq_status gq_eval_task_load(const gq_glue_task *task, const gq_eval_task_opts *o, gq_eval_task *out, gq_err *err);
void gq_eval_task_free(gq_eval_task *t);
/* Loads the files the split of task names under data_root (sets, named in parts: "dev" is
 * MNLI's two dev files); an unlabelled file is an error when need_labels. On failure the
 * sets loaded are freed and *n is 0. */
gq_status gq_eval_load_split(const gq_glue_task *task, const char *data_root, const char *split, int need_labels,
                             gq_glue_set **sets, const char **parts, int *n, gq_err *err);
/* gq_eval_run and gq_eval_score on t's split. */
gq_status gq_eval_task_run(gq_eval_task *t, gq_progress_fn progress, void *progress_ctx, gq_eval_result *out,
                           gq_err *err);
/* The label order of model m on task (gq_glue_label_order with m's id2label and label_map,
 * NULL: none): fails, naming model_dir, unless m has the task's label count. */
gq_status gq_eval_label_order(const gq_glue_task *task, const gq_encoder *m, const int *label_map, const char *model_dir,
                              gq_label_order *out, gq_err *err);

#endif
