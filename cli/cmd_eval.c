/* glueq eval / glueq quantize / glueq logits: score a (possibly quantized) model on a
 * GLUE split, write a quantized model as a checkpoint, or print the logits of one input. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "export.h"

/* What an evaluation needs, loaded from the flags; freed with job_free. */
typedef struct {
    gq_eval_task ev; /* task, model, tokenizer, split, encoding, runner */
    gq_cli_eval opts;
} job;

static void job_free(job *j) {
    gq_eval_task_free(&j->ev);
    gq_cli_eval_free(&j->opts);
}

/* vocab from --vocab, beside the model, or the assets (a new string in *vocab). */
static gq_status find_vocab(const gq_args *a, const char *model_dir, char **vocab, gq_err *err) {
    *vocab = gq_lookup_vocab(gq_args_get(a, "vocab"), model_dir);
    return *vocab ? GQ_OK
                  : gq_fail(err, GQ_ERR_IO, "no vocab.txt found (tried --vocab, %s/vocab.txt, $GLUEQ_ASSETS/vocab, "
                                            "../shared/assets/vocab)", model_dir ? model_dir : "MODEL");
}

/* --utf8 strict (default) | replace. */
static gq_status parse_utf8(const gq_args *a, gq_utf8_policy *policy, gq_err *err) {
    const char *u = gq_args_get(a, "utf8");
    if (u && strcmp(u, "strict") && strcmp(u, "replace"))
        return gq_fail(err, GQ_ERR_ARG, "option '--utf8': '%s' is not strict or replace", u);
    *policy = u && !strcmp(u, "replace") ? GQ_UTF8_REPLACE : GQ_UTF8_STRICT;
    return GQ_OK;
}

static gq_status load_tokenizer(const gq_args *a, const char *model_dir, job *j, gq_err *err) {
    gq_utf8_policy policy = GQ_UTF8_STRICT;
    gq_status s = find_vocab(a, model_dir, &j->opts.vocab, err);
    if (s == GQ_OK) s = parse_utf8(a, &policy, err);
    if (s == GQ_OK) s = gq_tok_load(j->opts.vocab, &j->ev.tok, err);
    if (s == GQ_OK) gq_tok_set_utf8_policy(j->ev.tok, policy);
    return s;
}

gq_status gq_cli_eval_parse(const gq_args *a, const char *model, int with_split, gq_cli_eval *e, gq_err *err) {
    memset(e, 0, sizeof *e);
    const char *task_name = gq_args_get(a, "task");
    long max_len, limit;
    gq_status s;
    if (!task_name) return gq_fail(err, GQ_ERR_ARG, "eval needs --task T (see glueq eval --help)");
    if (!(e->task = gq_glue_task_find(task_name)))
        return gq_fail(err, GQ_ERR_ARG, "unknown task '%s' (known: %s)", task_name, gq_glue_task_names());
    if ((s = gq_args_int(a, "max-len", 3, 512, 128, &max_len, err)) ||
        (s = gq_args_int(a, "limit", 0, INT32_MAX, 0, &limit, err)) ||
        (s = gq_cli_runner_parse(a, &e->eo.runner, err)) || (s = parse_utf8(a, &e->eo.utf8, err)))
        return s;
    e->eo.model_dir = model, e->eo.max_len = (int)max_len, e->eo.limit = (int)limit;
    e->split = gq_args_get(a, "split") ? gq_args_get(a, "split") : "dev";
    if (!(e->data_root = gq_lookup_data_root(gq_args_get(a, "data"))))
        return gq_fail(err, GQ_ERR_IO, "no GLUE data directory found (tried --data, $GLUE_DIR, $GLUEQ_ASSETS/glue, "
                                       "../shared/assets/glue)");
    if ((s = find_vocab(a, model, &e->vocab, err)) != GQ_OK) return s;
    if (with_split && !(e->split_path = gq_glue_split_path(e->task, e->data_root, e->split)))
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    e->eo.vocab = e->vocab, e->eo.split_path = e->split_path;
    return GQ_OK;
}

void gq_cli_eval_free(gq_cli_eval *e) {
    free(e->data_root), free(e->vocab), free(e->split_path);
    memset(e, 0, sizeof *e);
}

/* Loads what the flags name; the evaluation split (tokenized) only when with_eval_set. */
static gq_status load_job(const gq_args *a, int with_eval_set, job *j, gq_err *err) {
    const char *model = gq_args_get(a, "model");
    if (!model || !gq_args_has(a, "task"))
        return gq_fail(err, GQ_ERR_ARG, "eval needs --model DIR and --task T (see glueq eval --help)");
    gq_status s = gq_cli_eval_parse(a, model, with_eval_set, &j->opts, err);
    return s == GQ_OK ? gq_eval_task_load(j->opts.task, &j->opts.eo, &j->ev, err) : s;
}

static void print_text(const job *j, const gq_eval_result *r, const gq_cli_quant *cq, const gq_quant_report *rep) {
    const gq_metrics *m = &r->metrics;
    if (cq->method)
        printf("%s %s, %s int%d, protected %lld of %lld weights (%.2f effective bits)\n", j->ev.task->name, j->opts.split,
               cq->method, cq->q.bits, (long long)rep->total_protected, (long long)rep->total_numel,
               rep->effective_bits_total);
    if (!j->ev.set->labelled) {
        printf("%s %s: %d examples predicted (unlabelled split: no accuracy)\n", j->ev.task->name, j->opts.split, r->n);
        return;
    }
    printf("%s %s: accuracy %.2f%% (%d/%d) [95%% CI %.2f-%.2f]\n", j->ev.task->name, j->opts.split, 100 * m->accuracy,
           m->correct, m->total, 100 * m->acc_lo, 100 * m->acc_hi);
    if (j->ev.task->has_f1)
        printf("%s %s: F1 %.2f%% (tp %d, fp %d, fn %d) [95%% CI %.2f-%.2f]\n", j->ev.task->name, j->opts.split, 100 * m->f1,
               m->tp, m->fp, m->fn, 100 * m->f1_lo, 100 * m->f1_hi);
    printf("%lld tokens in %.3f s: %.0f tokens/s\n", (long long)r->tokens, r->seconds,
           r->seconds > 0 ? (double)r->tokens / r->seconds : 0.0);
}

cJSON *gq_cli_eval_json(const gq_eval_task *ev, const gq_cli_eval *e, const gq_eval_result *r,
                        const gq_cli_quant *cq, const gq_quant_report *rep) {
    const gq_metrics *m = &r->metrics;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", ev->task->name);
    cJSON_AddStringToObject(o, "split", e->split);
    cJSON_AddStringToObject(o, "model_sha256", ev->model->sha256);
    if (ev->set->labelled) {
        cJSON_AddNumberToObject(o, "accuracy", m->accuracy);
        cJSON_AddNumberToObject(o, "correct", m->correct);
        cJSON_AddNumberToObject(o, "total", m->total);
        cJSON_AddNumberToObject(o, "accuracy_ci_low", m->acc_lo);
        cJSON_AddNumberToObject(o, "accuracy_ci_high", m->acc_hi);
        if (ev->task->has_f1) {
            cJSON_AddNumberToObject(o, "f1", m->f1);
            cJSON_AddNumberToObject(o, "f1_ci_low", m->f1_lo);
            cJSON_AddNumberToObject(o, "f1_ci_high", m->f1_hi);
        }
    } else {
        cJSON_AddNumberToObject(o, "total", r->n);
    }
    cJSON_AddNumberToObject(o, "tokens", (double)r->tokens);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddStringToObject(o, "device", gq_device_name(e->eo.runner.device));
    cJSON_AddBoolToObject(o, "tf32", e->eo.runner.tf32);
    cJSON_AddStringToObject(o, "method", cq->method ? cq->method : "fp32");
    if (cq->method) {
        char qs[128];
        gq_quant_opts_str(&cq->q, qs, sizeof qs);
        cJSON_AddNumberToObject(o, "bits", cq->q.bits);
        cJSON_AddStringToObject(o, "quantizer", qs);
        cJSON_AddStringToObject(o, "algorithm", gq_quant_algorithm_name(cq->q.algorithm));
        if (cq->budget.p >= 0) cJSON_AddNumberToObject(o, "p", cq->budget.p);
        else cJSON_AddNumberToObject(o, "k", (double)cq->budget.k);
        cJSON_AddBoolToObject(o, "global", cq->budget.global);
        cJSON_AddNumberToObject(o, "protected", (double)rep->total_protected);
        cJSON_AddNumberToObject(o, "quantized_weights", (double)rep->total_numel);
        cJSON_AddNumberToObject(o, "effective_bits", rep->effective_bits_total);
    }
    return o;
}

static void print_json(const job *j, const gq_eval_result *r, const gq_cli_quant *cq, const gq_quant_report *rep) {
    cJSON *o = gq_cli_eval_json(&j->ev, &j->opts, r, cq, rep);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    if (text) puts(text);
    free(text);
    cJSON_Delete(o);
}

int gq_cmd_eval(const gq_args *a) {
    gq_err err = {{0}};
    gq_cli_quant cq;
    gq_status s = gq_cli_quant_parse(a, &cq, &err);
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    job j = {0};
    gq_quant_session *session = NULL;
    gq_quant_report rep;
    gq_eval_result res = {0};
    s = load_job(a, 1, &j, &err);
    if (s == GQ_OK)
        s = gq_cli_quantize(&cq, j.ev.model, j.ev.runner, j.ev.tok, j.ev.task, j.opts.data_root, j.opts.eo.max_len,
                            &session, &rep,
                            NULL, &err);
    gq_cli_progress prog = {"eval", gq_now(), gq_now()};
    if (s == GQ_OK) s = gq_eval_run(j.ev.runner, j.ev.enc, NULL, gq_cli_progress_fn, &prog, &res, &err);
    if (s == GQ_OK) (gq_args_has(a, "json") ? print_json : print_text)(&j, &res, &cq, &rep);
    gq_eval_result_free(&res);
    gq_quant_session_free(session);
    job_free(&j);
    return s == GQ_OK ? 0 : gq_cli_fail(&err, s);
}

gq_status gq_cli_quantize_to(const gq_cli_quant *cq, const gq_eval_task *ev, const gq_cli_eval *e, const char *out,
                             gq_quant_report *rep, gq_err *err) {
    gq_quant_session *session = NULL;
    char calib_desc[GQ_CLI_CALIB_DESC_LEN];
    gq_status s = gq_cli_quantize(cq, ev->model, ev->runner, ev->tok, ev->task, e->data_root, e->eo.max_len, &session,
                                  rep, calib_desc, err);
    cJSON *opts = s == GQ_OK ? gq_cli_quant_json(cq, rep, calib_desc) : NULL;
    if (opts) cJSON_AddStringToObject(opts, "task", ev->task->name);
    gq_export x = {ev->model, e->vocab, session, rep, opts};
    if (s == GQ_OK) s = gq_export_write(out, &x, err);
    cJSON_Delete(opts);
    if (session) gq_quant_session_restore(session);
    gq_quant_session_free(session);
    return s;
}

int gq_cmd_quantize(const gq_args *a) {
    gq_err err = {{0}};
    gq_cli_quant cq;
    gq_status s = gq_cli_quant_parse(a, &cq, &err);
    if (s == GQ_OK && (!gq_args_has(a, "out") || !cq.method))
        s = gq_fail(&err, GQ_ERR_ARG, "quantize needs --out DIR2 and --method M (see glueq quantize --help)");
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    job j = {0};
    gq_quant_report rep;
    s = load_job(a, 0, &j, &err);
    if (s == GQ_OK) s = gq_cli_quantize_to(&cq, &j.ev, &j.opts, gq_args_get(a, "out"), &rep, &err);
    if (s == GQ_OK)
        printf("%s: %s int%d, protected %lld of %lld weights (%.2f effective bits)\n", gq_args_get(a, "out"),
               cq.method, cq.q.bits, (long long)rep.total_protected, (long long)rep.total_numel,
               rep.effective_bits_total);
    job_free(&j);
    return s == GQ_OK ? 0 : gq_cli_fail(&err, s);
}

int gq_cmd_logits(const gq_args *a) {
    gq_err err = {{0}};
    long max_len = 128;
    gq_status s = gq_args_int(a, "max-len", 0, 512, 128, &max_len, &err);
    job j = {0};
    if (s == GQ_OK) s = gq_cli_runner_parse(a, &j.opts.eo.runner, &err);
    if (s == GQ_OK && (!gq_args_has(a, "model") || !gq_args_has(a, "text")))
        s = gq_fail(&err, GQ_ERR_ARG, "logits needs --model DIR and --text A (see glueq logits --help)");
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    gq_ids ids = {0};
    s = load_tokenizer(a, gq_args_get(a, "model"), &j, &err);
    if (s == GQ_OK) s = gq_dbert_load(gq_args_get(a, "model"), &j.ev.model, &err);
    if (s == GQ_OK) s = gq_tok_encode(j.ev.tok, gq_args_get(a, "text"), gq_args_get(a, "pair"), (int)max_len, &ids, &err);
    if (s == GQ_OK) s = gq_dbert_runner_open(j.ev.model, &j.opts.eo.runner, &j.ev.runner, &err);
    float *logits = s == GQ_OK ? calloc((size_t)j.ev.model->cfg.n_labels, sizeof *logits) : NULL;
    if (s == GQ_OK) s = gq_dbert_forward(j.ev.runner, ids.v, &ids.n, 1, logits, NULL, &err);
    if (s == GQ_OK) {
        int best = 0;
        for (int i = 0; i < j.ev.model->cfg.n_labels; i++) {
            printf("%s%.7g", i ? " " : "", logits[i]);
            if (logits[i] > logits[best]) best = i;
        }
        printf("\npredicted %d (%s)\n", best, j.ev.model->cfg.labels[best]);
    }
    free(logits);
    gq_ids_free(&ids);
    job_free(&j);
    return s == GQ_OK ? 0 : gq_cli_fail(&err, s);
}
