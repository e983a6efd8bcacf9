/* calib_rows: the calibration rows of a task (SPEC.md §4) and the forward passes that feed the
 * quantization session's activation statistics.
 *
 *     gq_calib_source *cs = NULL;
 *     gq_calib_source_load(tok, task, glue_root, &opts, 128, &cs, &err);
 *     cs->runner = runner;                      // a runner of the FP32 model
 *     gq_quant_session_set_calibration(session, cs->key, gq_calib_run, cs);
 *     ...
 *     gq_calib_source_free(cs);                 // after the session, which may run cs until freed
 */
#ifndef GQ_CALIB_ROWS_H
#define GQ_CALIB_ROWS_H

#include "eval.h"

typedef struct {
    char split[16];  /* "train" (default), "dev", "test" */
    int n;           /* rows (128) */
    int random;      /* 0: the first n rows; 1: a seeded sample without replacement */
    uint64_t seed;
} gq_calib_opts;

void gq_calib_opts_default(gq_calib_opts *o);

typedef struct {
    gq_encoded *enc;          /* the calibration rows, tokenized */
    gq_encoder_runner *runner;  /* set by the caller before gq_calib_run; not owned */
    char key[65];             /* sha256 of the token ids: identifies the data in caches */
    char description[512];    /* e.g. "RTE/train.tsv, first 128 rows" */
} gq_calib_source;

/* Loads and tokenizes the calibration rows. QNLI has no train split in the GLUE assets
 * glueq ships with: when QNLI/train.tsv is missing, its unlabelled test.tsv is used and
 * the description says so. *out is owned by the caller. */
gq_status gq_calib_source_load(const gq_tok *tok, const gq_glue_task *task, const char *glue_root,
                               const gq_calib_opts *o, int max_len, gq_calib_source **out, gq_err *err);
void gq_calib_source_free(gq_calib_source *cs);

/* gq_quant_calib_fn: runs the calibration rows through cs->runner with hooks. */
gq_status gq_calib_run(void *cs, const gq_encoder_hooks *hooks, gq_err *err);

#endif
