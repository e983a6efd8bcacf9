/* eval: see eval.h. Sorting by length makes every batch nearly rectangular in work, and
 * a batch of the runner's batch_tokens gives each Linear a tall sgemm. */
#include "eval.h"
#include "lookup.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gq_encoded_free(gq_encoded *enc) {
    if (!enc) return;
    free(enc->ids), free(enc->len), free(enc->seg_a), free(enc->off), free(enc->label), free(enc->score), free(enc->order);
    free(enc);
}

static int longest(const gq_encoded *enc) {
    int m = 1;
    for (int i = 0; i < enc->n; i++) m = enc->len[i] > m ? enc->len[i] : m;
    return m;
}

/* Counting sort of the example indices by length: stable, so ties keep file order. */
static gq_status sort_by_length(gq_encoded *enc) {
    int maxl = longest(enc);
    int *start = gq_calloc_array((size_t)maxl + 2, sizeof *start);
    if (!start) return GQ_ERR_NOMEM;
    for (int i = 0; i < enc->n; i++) start[enc->len[i] + 1]++;
    for (int l = 1; l <= maxl + 1; l++) start[l] += start[l - 1];
    for (int i = 0; i < enc->n; i++) enc->order[start[enc->len[i]]++] = i;
    free(start);
    return GQ_OK;
}

/* Appends the tokens of set's first n rows to enc (whose arrays hold room for them). */
static gq_status encode_rows(const gq_tok *tok, const gq_glue_set *set, int n, int max_len, gq_encoded *enc,
                             int64_t *cap, gq_err *err) {
    gq_ids ids = {0};
    gq_status s = GQ_OK;
    for (int r = 0; r < n && s == GQ_OK; r++) {
        const gq_glue_row *row = &set->rows[r];
        int i = enc->n;
        gq_err e = {{0}};
        s = gq_tok_encode(tok, row->a, row->b, max_len, &ids, &e);
        if (s != GQ_OK) {
            gq_fail(err, s, "%s: line %d: %s", set->path, row->line, e.msg);
            break;
        }
        if (enc->tokens + ids.n > *cap) {
            *cap = (enc->tokens + ids.n) * 2 + 1024;
            int32_t *g = realloc(enc->ids, (size_t)*cap * sizeof *g);
            if (!g) {
                s = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", set->path);
                break;
            }
            enc->ids = g;
        }
        memcpy(enc->ids + enc->tokens, ids.v, (size_t)ids.n * sizeof *ids.v);
        enc->off[i] = enc->tokens, enc->len[i] = ids.n, enc->seg_a[i] = ids.seg_a, enc->label[i] = row->label;
        if (enc->score) enc->score[i] = row->score;
        enc->tokens += ids.n;
        enc->n++;
    }
    gq_ids_free(&ids);
    return s;
}

gq_status gq_encode_sets(const gq_tok *tok, const gq_glue_set *const *sets, int n_sets, int limit, int max_len,
                         gq_encoded **out, gq_err *err) {
    *out = NULL;
    int take[GQ_GLUE_MAX_DEV], n = 0;
    if (n_sets < 1 || n_sets > GQ_GLUE_MAX_DEV) return gq_fail(err, GQ_ERR_ARG, "gq_encode_sets: %d files", n_sets);
    for (int p = 0; p < n_sets; p++) {
        take[p] = limit > 0 && limit < sets[p]->n ? limit : sets[p]->n;
        n += take[p];
    }
    gq_encoded *enc = calloc(1, sizeof *enc);
    const char *path = sets[0]->path;
    if (!enc) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    enc->max_len = max_len;
    enc->len = gq_calloc_array((size_t)n, sizeof *enc->len);
    enc->seg_a = gq_calloc_array((size_t)n, sizeof *enc->seg_a);
    enc->off = gq_calloc_array((size_t)n, sizeof *enc->off);
    enc->label = gq_calloc_array((size_t)n, sizeof *enc->label);
    enc->order = gq_calloc_array((size_t)n, sizeof *enc->order);
    int regression = gq_glue_regression(sets[0]->task);
    if (regression) enc->score = gq_calloc_array((size_t)n, sizeof *enc->score);
    if (!enc->len || !enc->seg_a || !enc->off || !enc->label || !enc->order || (regression && !enc->score)) {
        gq_encoded_free(enc);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t cap = 0;
    gq_status s = GQ_OK;
    for (int p = 0; p < n_sets && s == GQ_OK; p++) {
        s = encode_rows(tok, sets[p], take[p], max_len, enc, &cap, err);
        enc->part_end[enc->n_parts++] = enc->n;
    }
    if (s == GQ_OK && sort_by_length(enc) != GQ_OK) s = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    if (s != GQ_OK) {
        gq_encoded_free(enc);
        return s;
    }
    *out = enc;
    return GQ_OK;
}

gq_status gq_encode_set(const gq_tok *tok, const gq_glue_set *set, int max_len, gq_encoded **out, gq_err *err) {
    return gq_encode_sets(tok, &set, 1, 0, max_len, out, err);
}

void gq_eval_result_free(gq_eval_result *res) {
    if (!res) return;
    free(res->pred), free(res->logits);
    memset(res, 0, sizeof *res);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Next batch in length order: examples from `start` until max_tokens would be exceeded (at
 * least one). Copies their ids into ids, lengths into lens and first segments into seg_a. */
static int next_batch(const gq_encoded *enc, int start, int max_tokens, int32_t *ids, int *lens, int *seg_a) {
    int nb = 0;
    int64_t ntok = 0;
    while (start + nb < enc->n) {
        int i = enc->order[start + nb];
        if (nb > 0 && ntok + enc->len[i] > max_tokens) break;
        memcpy(ids + ntok, enc->ids + enc->off[i], (size_t)enc->len[i] * sizeof *ids);
        seg_a[nb] = enc->seg_a ? enc->seg_a[i] : enc->len[i];
        lens[nb++] = enc->len[i];
        ntok += enc->len[i];
    }
    return nb;
}

gq_status gq_eval_run(gq_encoder_runner *r, const gq_encoded *enc, const gq_encoder_hooks *hooks,
                      gq_progress_fn progress, void *progress_ctx, gq_eval_result *out, gq_err *err) {
    memset(out, 0, sizeof *out);
    int nl = gq_encoder_runner_model(r)->cfg.n_labels, n = enc->n, batch = gq_encoder_runner_batch_tokens(r);
    size_t max_seqs = (size_t)(n > 0 ? n : 1);
    out->n = n, out->n_labels = nl, out->tokens = enc->tokens, out->n_parts = enc->n_parts;
    out->pred = gq_calloc_array(max_seqs, sizeof *out->pred);
    out->logits = gq_calloc_array(max_seqs * nl, sizeof *out->logits);
    int32_t *ids = gq_malloc_array((size_t)batch + (size_t)longest(enc), sizeof *ids);
    int *lens = gq_malloc_array(max_seqs, sizeof *lens), *seg_a = gq_malloc_array(max_seqs, sizeof *seg_a);
    float *logits = gq_malloc_array(max_seqs * nl, sizeof *logits);
    gq_status s = GQ_OK;
    if (!out->pred || !out->logits || !ids || !lens || !seg_a || !logits)
        s = gq_fail(err, GQ_ERR_NOMEM, "eval: out of memory");
    /* seconds time the forwards, not the runner's start (as they never timed its opening) */
    if (s == GQ_OK) s = gq_encoder_runner_ready(r, err);
    double t0 = gq_now();
    for (int start = 0; start < n && s == GQ_OK;) {
        int nb = next_batch(enc, start, batch, ids, lens, seg_a);
        s = gq_encoder_forward(r, ids, lens, seg_a, nb, logits, hooks, err);
        for (int j = 0; j < nb && s == GQ_OK; j++) {
            int i = enc->order[start + j];
            memcpy(out->logits + (size_t)i * nl, logits + (size_t)j * nl, (size_t)nl * sizeof *logits);
            out->pred[i] = argmax(logits + (size_t)j * nl, nl);
        }
        start += nb;
        if (progress && s == GQ_OK) progress(progress_ctx, start, n);
    }
    out->seconds = gq_now() - t0;
    free(ids), free(lens), free(seg_a), free(logits);
    if (s != GQ_OK) gq_eval_result_free(out);
    return s;
}

/* A regression's metrics on examples [a, b): predicted scores against the gold ones; 0
 * when out of memory. */
static int score_regression(const gq_encoded *enc, const gq_eval_result *res, int a, int b, gq_metrics *m) {
    double *pred = gq_malloc_array((size_t)(b > a ? b - a : 1), sizeof *pred);
    if (!pred) return 0;
    for (int i = a; i < b; i++) pred[i - a] = res->logits[i];
    int ok = gq_metrics_regress(pred, enc->score + a, b - a, m);
    free(pred);
    return ok;
}

gq_status gq_eval_score(const gq_glue_task *task, const gq_label_order *order, const gq_encoded *enc,
                        gq_eval_result *res, gq_err *err) {
    int regression = gq_glue_regression(task);
    for (int i = 0; i < res->n; i++) res->pred[i] = regression ? 0 : order->to_task[res->pred[i]];
    if (res->n == 0 || enc->label[0] < 0) return GQ_OK;
    for (int p = 0, a = 0; p < enc->n_parts; a = enc->part_end[p++]) {
        int b = enc->part_end[p];
        if (!regression) gq_metrics_compute(res->pred + a, enc->label + a, b - a, task->n_labels, &res->metrics[p]);
        else if (!score_regression(enc, res, a, b, &res->metrics[p]))
            return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for the correlations", task->name);
    }
    return GQ_OK;
}

void gq_eval_main_str(const gq_glue_task *task, const gq_eval_result *res, char *buf, size_t n) {
    size_t w = 0;
    buf[0] = '\0';
    for (int p = 0; p < res->n_parts && w < n; p++) {
        const gq_metrics *m = &res->metrics[p];
        const char *name = res->n_parts > 1 ? task->dev_short[p] : "";
        double v = gq_metrics_value(m, task->main);
        int k;
        if (task->main == GQ_METRIC_ACCURACY)
            k = snprintf(buf + w, n - w, "%s%s%s%.2f%% (%d/%d)", p ? ", " : "", name, *name ? " " : "", 100 * v,
                         m->correct, m->total);
        else if (isnan(v))
            k = snprintf(buf + w, n - w, "%s%s n/a", p ? ", " : "", gq_metric_name(task->main));
        else
            k = snprintf(buf + w, n - w, "%s%s %.2f", p ? ", " : "", gq_metric_name(task->main), 100 * v);
        if (k < 0) return;
        w += (size_t)k;
    }
}

/* The files a split names: "dev" stands for the task's dev files (MNLI has two). */
static int split_files(const gq_glue_task *task, const char *split, const char **names) {
    if (strcmp(split, "dev")) {
        names[0] = split;
        return 1;
    }
    for (int p = 0; p < task->n_dev; p++) names[p] = task->dev[p];
    return task->n_dev;
}

gq_status gq_eval_load_split(const gq_glue_task *task, const char *data_root, const char *split, int need_labels,
                             gq_glue_set **sets, const char **parts, int *n, gq_err *err) {
    int want = split_files(task, split, parts);
    gq_status s = GQ_OK;
    *n = 0;
    for (int p = 0; p < want && s == GQ_OK; p++) {
        char *path = gq_glue_split_path(task, data_root, parts[p]);
        s = path ? gq_glue_load(task, path, &sets[p], err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        free(path);
        if (s == GQ_OK) (*n)++;
        if (s == GQ_OK && need_labels && !sets[p]->labelled)
            s = gq_fail(err, GQ_ERR_FORMAT, "%s: has no labels", sets[p]->path);
    }
    if (s != GQ_OK) {
        for (int p = 0; p < *n; p++) gq_glue_free(sets[p]), sets[p] = NULL;
        *n = 0;
    }
    return s;
}

gq_status gq_eval_task_load(const gq_glue_task *task, const gq_eval_task_opts *o, gq_eval_task *out, gq_err *err) {
    memset(out, 0, sizeof *out);
    out->task = task;
    gq_status s = o->split ? gq_eval_load_split(task, o->data_root, o->split, o->need_labels, out->sets, out->parts,
                                                &out->n_sets, err)
                           : GQ_OK;
    if (s == GQ_OK) s = gq_lookup_load_tokenizer(o->vocab, &out->tok, err);
    if (s == GQ_OK) gq_tok_set_utf8_policy(out->tok, o->utf8);
    if (s == GQ_OK) s = gq_encoder_load(o->model_dir, &out->model, err);
    if (s == GQ_OK) s = gq_eval_label_order(task, out->model, o->label_map, o->model_dir, &out->labels, err);
    /* The runner before the tokenization: a device runner may get ready meanwhile
     * (encoder.h). */
    if (s == GQ_OK) s = gq_encoder_runner_open(out->model, &o->runner, &out->runner, err);
    if (s == GQ_OK && out->n_sets)
        s = gq_encode_sets(out->tok, (const gq_glue_set *const *)out->sets, out->n_sets, o->limit, o->max_len,
                           &out->enc, err);
    return s;
}

gq_status gq_eval_label_order(const gq_glue_task *task, const gq_encoder *m, const int *label_map, const char *model_dir,
                              gq_label_order *out, gq_err *err) {
    return gq_glue_label_order(task, (const char *const *)m->cfg.labels, m->cfg.n_labels, label_map, model_dir, out,
                               err);
}

void gq_eval_task_free(gq_eval_task *t) {
    if (!t) return;
    gq_encoder_runner_free(t->runner);
    gq_encoder_free(t->model);
    gq_encoded_free(t->enc);
    for (int p = 0; p < t->n_sets; p++) gq_glue_free(t->sets[p]);
    gq_tok_free(t->tok);
    memset(t, 0, sizeof *t);
}

gq_status gq_eval_task_run(gq_eval_task *t, gq_progress_fn progress, void *progress_ctx, gq_eval_result *out,
                           gq_err *err) {
    gq_status s = gq_eval_run(t->runner, t->enc, NULL, progress, progress_ctx, out, err);
    if (s == GQ_OK) s = gq_eval_score(t->task, &t->labels, t->enc, out, err);
    return s;
}
