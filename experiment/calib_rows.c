/* calib_rows: see calib_rows.h. */
#include "calib_rows.h"

#include <stdlib.h>
#include <string.h>

void gq_calib_opts_default(gq_calib_opts *o) {
    memset(o, 0, sizeof *o);
    strcpy(o->split, "train");
    o->n = 128;
}

void gq_calib_source_free(gq_calib_source *cs) {
    if (!cs) return;
    gq_encoded_free(cs->enc);
    free(cs);
}

/* Picks the row indices: the first n, or a seeded partial Fisher-Yates sample kept in
 * file order (so the same seed gives the same rows in the same order). */
static int *pick_rows(int total, const gq_calib_opts *o, int *n_out) {
    int n = o->n < total ? o->n : total;
    int *idx = gq_malloc_array((size_t)(total > 0 ? total : 1), sizeof *idx);
    if (!idx) return NULL;
    for (int i = 0; i < total; i++) idx[i] = i;
    if (o->random) {
        gq_rng r;
        gq_rng_seed(&r, o->seed);
        for (int i = 0; i < n; i++) {
            int j = i + (int)gq_rng_below(&r, (uint64_t)(total - i));
            int t = idx[i];
            idx[i] = idx[j], idx[j] = t;
        }
        for (int i = 1; i < n; i++) /* insertion sort of n (≤ a few thousand) indices */
            for (int j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
                int t = idx[j];
                idx[j] = idx[j - 1], idx[j - 1] = t;
            }
    }
    *n_out = n;
    return idx;
}

static gq_status load_split(const gq_glue_task *task, const char *root, const char *split, gq_glue_set **set,
                            int *fallback, gq_err *err) {
    char *path = gq_glue_split_path(task, root, split);
    if (!path) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    *fallback = 0;
    if (!gq_file_exists(path) && strcmp(task->name, "qnli") == 0 && strcmp(split, "train") == 0) {
        free(path);
        path = gq_glue_split_path(task, root, "test");
        *fallback = 1;
    }
    gq_status s = gq_glue_load(task, path, set, err);
    free(path);
    return s;
}

gq_status gq_calib_source_load(const gq_tok *tok, const gq_glue_task *task, const char *glue_root,
                               const gq_calib_opts *o, int max_len, gq_calib_source **out, gq_err *err) {
    *out = NULL;
    if (o->n < 1) return gq_fail(err, GQ_ERR_ARG, "calibration: n must be at least 1 (got %d)", o->n);
    gq_glue_set *set = NULL;
    int fallback = 0;
    gq_status s = load_split(task, glue_root, o->split, &set, &fallback, err);
    if (s != GQ_OK) return s;
    gq_calib_source *cs = calloc(1, sizeof *cs);
    int n = 0;
    int *idx = cs ? pick_rows(set->n, o, &n) : NULL;
    gq_glue_row *rows = gq_malloc_array((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (!cs || !idx || !rows) {
        s = gq_fail(err, GQ_ERR_NOMEM, "calibration: out of memory");
    } else if (n == 0) {
        s = gq_fail(err, GQ_ERR_ARG, "%s: no rows to calibrate on", set->path);
    } else {
        for (int i = 0; i < n; i++) rows[i] = set->rows[idx[i]];
        gq_glue_set subset = *set;
        subset.rows = rows, subset.n = n;
        s = gq_encode_set(tok, &subset, max_len, &cs->enc, err);
    }
    if (s == GQ_OK) {
        gq_sha256 h;
        uint8_t d[32];
        gq_sha256_init(&h);
        gq_sha256_update(&h, cs->enc->len, (size_t)n * sizeof *cs->enc->len);
        gq_sha256_update(&h, cs->enc->ids, (size_t)cs->enc->tokens * sizeof *cs->enc->ids);
        gq_sha256_final(&h, d);
        gq_sha256_hex(d, sizeof d, cs->key);
        snprintf(cs->description, sizeof cs->description, "%s/%s, %s %d rows%s", task->dir,
                 gq_basename(set->path), o->random ? "seeded sample of" : "first", n, fallback ? " (QNLI train is not available: unlabelled test split used)" : "");
    }
    free(idx), free(rows);
    gq_glue_free(set);
    if (s != GQ_OK) {
        gq_calib_source_free(cs);
        return s;
    }
    *out = cs;
    return GQ_OK;
}

gq_status gq_calib_run(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    gq_calib_source *cs = ctx;
    gq_eval_result res;
    gq_status s = gq_eval_run(cs->runner, cs->enc, hooks, NULL, NULL, &res, err);
    gq_eval_result_free(&res);
    return s;
}
