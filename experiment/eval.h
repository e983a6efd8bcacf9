/* eval: tokenizes a GLUE split once and scores a model on it.
 *
 *     gq_encoded *enc = NULL;
 *     gq_encode_set(tok, set, 128, &enc, &err);          // once per (task, split, max_len)
 *     gq_eval_result res = {0};
 *     gq_eval_run(runner, enc, NULL, &res, &err);         // as often as the weights change
 *     printf("%d/%d\n", res.metrics.correct, res.metrics.total);
 *     gq_eval_result_free(&res);
 *     gq_encoded_free(enc);
 *
 * Examples are run in length buckets (sorted by length, batches of up to the runner's
 * gq_dbert_runner_batch_tokens); results are reported in the file's row order.
 */
#ifndef GQ_EVAL_H
#define GQ_EVAL_H

#include "distilbert.h"
#include "glue.h"
#include "metrics.h"
#include "tokenizer.h"

/* The CPU runner's batch (gq_dbert_runner_batch_tokens), for benchmarks of the CPU. */
#define GQ_EVAL_BATCH_TOKENS GQ_DBERT_CPU_BATCH_TOKENS

/* A tokenized split: ids of example i are ids[off[i] .. off[i] + len[i]). */
typedef struct {
    int n;
    int32_t *ids;
    int *len;
    int64_t *off;
    int *label;    /* (n) gold label id, -1 when the split is unlabelled */
    int *order;    /* (n) example indices sorted by length, then index */
    int64_t tokens; /* sum of len */
    int max_len;
} gq_encoded;

/* Tokenizes every row of set. *out is owned by the caller (gq_encoded_free). */
gq_status gq_encode_set(const gq_tok *tok, const gq_glue_set *set, int max_len, gq_encoded **out, gq_err *err);
void gq_encoded_free(gq_encoded *enc);
/* The same for the first `limit` rows of set (limit 0: every row). */
gq_status gq_encode_head(const gq_tok *tok, const gq_glue_set *set, int limit, int max_len, gq_encoded **out,
                         gq_err *err);

/* Called after each batch with the examples done so far; may be NULL. */
typedef void (*gq_progress_fn)(void *ctx, int done, int total);

typedef struct {
    int n, n_labels;
    int *pred;      /* (n) argmax of logits, ties to the lowest index */
    float *logits;  /* (n, n_labels) */
    int64_t tokens;
    double seconds; /* forward time only */
    gq_metrics metrics; /* valid when the split is labelled */
} gq_eval_result;

/* Runs the model over enc. out is filled (and owned by the caller: gq_eval_result_free). */
gq_status gq_eval_run(gq_dbert_runner *r, const gq_encoded *enc, const gq_dbert_hooks *hooks,
                      gq_progress_fn progress, void *progress_ctx, gq_eval_result *out, gq_err *err);
void gq_eval_result_free(gq_eval_result *res);

/* What scoring a model on one GLUE split needs, loaded together (`glueq eval`, sweeps). */
typedef struct {
    const gq_glue_task *task;
    gq_tok *tok;
    gq_glue_set *set;        /* every row of the split */
    gq_encoded *enc;         /* its first `limit` rows, tokenized */
    gq_dbert *model;
    gq_dbert_runner *runner;
} gq_eval_task;

typedef struct {
    const char *model_dir;       /* the checkpoint */
    const char *vocab;           /* vocab.txt, already found */
    const char *split_path;      /* the split's TSV; NULL: none (set and enc stay NULL) */
    int max_len, limit;          /* limit 0: every row */
    int need_labels;             /* an unlabelled split is an error */
    gq_utf8_policy utf8;         /* GQ_UTF8_STRICT unless set */
    gq_dbert_runner_opts runner; /* device and threads */
} gq_eval_task_opts;

/* Loads the split, the tokenizer, the model (whose label count must be the task's) and a
 * runner, and tokenizes the split (when there is one). *out is owned by the caller: gq_eval_task_free. */
gq_status gq_eval_task_load(const gq_glue_task *task, const gq_eval_task_opts *o, gq_eval_task *out, gq_err *err);
void gq_eval_task_free(gq_eval_task *t);
/* Fails (GQ_ERR_SHAPE naming model_dir) unless m has the task's label count. */
gq_status gq_eval_check_model(const gq_glue_task *task, const gq_dbert *m, const char *model_dir, gq_err *err);

#endif
