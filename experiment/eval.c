/* eval: see eval.h. Sorting by length makes every batch nearly rectangular in work, and
 * a batch of the runner's batch_tokens gives each Linear a tall sgemm. */
#include "eval.h"

#include <stdlib.h>
#include <string.h>

void gq_encoded_free(gq_encoded *enc) {
    if (!enc) return;
    free(enc->ids), free(enc->len), free(enc->off), free(enc->label), free(enc->order);
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

gq_status gq_encode_set(const gq_tok *tok, const gq_glue_set *set, int max_len, gq_encoded **out, gq_err *err) {
    *out = NULL;
    gq_encoded *enc = calloc(1, sizeof *enc);
    int n = set->n;
    if (!enc) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", set->path);
    enc->n = n, enc->max_len = max_len;
    enc->len = gq_calloc_array((size_t)n, sizeof *enc->len);
    enc->off = gq_calloc_array((size_t)n, sizeof *enc->off);
    enc->label = gq_calloc_array((size_t)n, sizeof *enc->label);
    enc->order = gq_calloc_array((size_t)n, sizeof *enc->order);
    if (!enc->len || !enc->off || !enc->label || !enc->order) {
        gq_encoded_free(enc);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", set->path);
    }
    gq_ids ids = {0};
    int64_t cap = 0;
    gq_status s = GQ_OK;
    for (int i = 0; i < n && s == GQ_OK; i++) {
        gq_err e = {{0}};
        s = gq_tok_encode(tok, set->rows[i].a, set->rows[i].b, max_len, &ids, &e);
        if (s != GQ_OK) {
            gq_fail(err, s, "%s: line %d: %s", set->path, set->rows[i].line, e.msg);
            break;
        }
        if (enc->tokens + ids.n > cap) {
            cap = (enc->tokens + ids.n) * 2 + 1024;
            int32_t *g = realloc(enc->ids, (size_t)cap * sizeof *g);
            if (!g) {
                s = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", set->path);
                break;
            }
            enc->ids = g;
        }
        memcpy(enc->ids + enc->tokens, ids.v, (size_t)ids.n * sizeof *ids.v);
        enc->off[i] = enc->tokens, enc->len[i] = ids.n, enc->label[i] = set->rows[i].label;
        enc->tokens += ids.n;
    }
    gq_ids_free(&ids);
    if (s != GQ_OK) {
        gq_encoded_free(enc);
        return s;
    }
    if (sort_by_length(enc) != GQ_OK) {
        gq_encoded_free(enc);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", set->path);
    }
    *out = enc;
    return GQ_OK;
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
 * least one). Copies their ids into ids and lengths into lens. */
static int next_batch(const gq_encoded *enc, int start, int max_tokens, int32_t *ids, int *lens) {
    int nb = 0;
    int64_t ntok = 0;
    while (start + nb < enc->n) {
        int i = enc->order[start + nb];
        if (nb > 0 && ntok + enc->len[i] > max_tokens) break;
        memcpy(ids + ntok, enc->ids + enc->off[i], (size_t)enc->len[i] * sizeof *ids);
        lens[nb++] = enc->len[i];
        ntok += enc->len[i];
    }
    return nb;
}

gq_status gq_eval_run(gq_dbert_runner *r, const gq_encoded *enc, const gq_dbert_hooks *hooks,
                      gq_progress_fn progress, void *progress_ctx, gq_eval_result *out, gq_err *err) {
    memset(out, 0, sizeof *out);
    int nl = gq_dbert_runner_model(r)->cfg.n_labels, n = enc->n, batch = gq_dbert_runner_batch_tokens(r);
    size_t max_seqs = (size_t)(n > 0 ? n : 1);
    out->n = n, out->n_labels = nl, out->tokens = enc->tokens;
    out->pred = gq_calloc_array(max_seqs, sizeof *out->pred);
    out->logits = gq_calloc_array(max_seqs * nl, sizeof *out->logits);
    int32_t *ids = gq_malloc_array((size_t)batch + (size_t)longest(enc), sizeof *ids);
    int *lens = gq_malloc_array(max_seqs, sizeof *lens);
    float *logits = gq_malloc_array(max_seqs * nl, sizeof *logits);
    gq_status s = GQ_OK;
    if (!out->pred || !out->logits || !ids || !lens || !logits) s = gq_fail(err, GQ_ERR_NOMEM, "eval: out of memory");
    /* seconds time the forwards, not the runner's start (as they never timed its opening) */
    if (s == GQ_OK) s = gq_dbert_runner_ready(r, err);
    double t0 = gq_now();
    for (int start = 0; start < n && s == GQ_OK;) {
        int nb = next_batch(enc, start, batch, ids, lens);
        s = gq_dbert_forward(r, ids, lens, nb, logits, hooks, err);
        for (int j = 0; j < nb && s == GQ_OK; j++) {
            int i = enc->order[start + j];
            memcpy(out->logits + (size_t)i * nl, logits + (size_t)j * nl, (size_t)nl * sizeof *logits);
            out->pred[i] = argmax(logits + (size_t)j * nl, nl);
        }
        start += nb;
        if (progress && s == GQ_OK) progress(progress_ctx, start, n);
    }
    out->seconds = gq_now() - t0;
    free(ids), free(lens), free(logits);
    if (s == GQ_OK && n > 0 && enc->label[0] >= 0) gq_metrics_compute(out->pred, enc->label, n, &out->metrics);
    if (s != GQ_OK) gq_eval_result_free(out);
    return s;
}

gq_status gq_eval_task_load(const gq_glue_task *task, const gq_eval_task_opts *o, gq_eval_task *out, gq_err *err) {
    memset(out, 0, sizeof *out);
    out->task = task;
    gq_status s = o->split_path ? gq_glue_load(task, o->split_path, &out->set, err) : GQ_OK;
    if (s == GQ_OK && out->set && o->need_labels && !out->set->labelled)
        s = gq_fail(err, GQ_ERR_FORMAT, "%s: has no labels", out->set->path);
    if (s == GQ_OK) s = gq_tok_load(o->vocab, &out->tok, err);
    if (s == GQ_OK) gq_tok_set_utf8_policy(out->tok, o->utf8);
    if (s == GQ_OK) s = gq_dbert_load(o->model_dir, &out->model, err);
    if (s == GQ_OK) s = gq_eval_check_model(task, out->model, o->model_dir, err);
    /* The runner before the tokenization: a device runner may get ready meanwhile
     * (distilbert.h). */
    if (s == GQ_OK) s = gq_dbert_runner_open(out->model, &o->runner, &out->runner, err);
    if (s == GQ_OK && out->set) s = gq_encode_head(out->tok, out->set, o->limit, o->max_len, &out->enc, err);
    return s;
}

gq_status gq_eval_check_model(const gq_glue_task *task, const gq_dbert *m, const char *model_dir, gq_err *err) {
    return m->cfg.n_labels == task->n_labels ? GQ_OK
                                             : gq_fail(err, GQ_ERR_SHAPE, "%s: model has %d labels, task %s has %d",
                                                       model_dir, m->cfg.n_labels, task->name, task->n_labels);
}

gq_status gq_encode_head(const gq_tok *tok, const gq_glue_set *set, int limit, int max_len, gq_encoded **out,
                         gq_err *err) {
    gq_glue_set head = *set; /* the first `limit` rows: a view, the set keeps ownership */
    if (limit > 0 && limit < head.n) head.n = limit;
    return gq_encode_set(tok, &head, max_len, out, err);
}

void gq_eval_task_free(gq_eval_task *t) {
    if (!t) return;
    gq_dbert_runner_free(t->runner);
    gq_dbert_free(t->model);
    gq_encoded_free(t->enc);
    gq_glue_free(t->set);
    gq_tok_free(t->tok);
    memset(t, 0, sizeof *t);
}
