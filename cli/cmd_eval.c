/* glueq eval / glueq quantize / glueq logits: score a (possibly quantized) model on a
 * GLUE split, write a quantized model as a checkpoint, or print the logits of one input. */
#include <cJSON.h>
#include <math.h>
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
    *vocab = gq_lookup_tokenizer(gq_args_get(a, "vocab"), model_dir);
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
    if (s == GQ_OK) s = gq_lookup_load_tokenizer(j->opts.vocab, &j->ev.tok, err);
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
    const char *lm = gq_args_get(a, "label-map");
    if (lm && (s = gq_glue_label_map_parse(e->task, lm, e->label_map, err)) != GQ_OK) return s;
    e->eo.vocab = e->vocab, e->eo.data_root = e->data_root, e->eo.split = with_split ? e->split : NULL;
    e->eo.label_map = lm ? e->label_map : NULL;
    return GQ_OK;
}

void gq_cli_eval_free(gq_cli_eval *e) {
    free(e->data_root), free(e->vocab);
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

/* "labels: the task's default order (0=contradiction, 1=entailment, 2=neutral)": which
 * task label each of the model's label ids predicts, and why. */
static void print_label_order(const gq_eval_task *ev) {
    const gq_label_order *o = &ev->labels;
    if (o->source == GQ_LABELS_NONE) return;
    printf("labels: %s order (", o->source == GQ_LABELS_CONFIG ? "config.json's"
                                 : o->source == GQ_LABELS_MAP ? "--label-map's" : "the task's default");
    for (int id = 0; id < ev->task->n_labels; id++) printf("%s%d=%s", id ? ", " : "", id, ev->task->labels[o->to_task[id]]);
    puts(")");
}

/* One line per metric of one file of the split. */
static void print_part(const gq_eval_task *ev, const char *split, const gq_metrics *m) {
    const gq_glue_task *t = ev->task;
    const char *name = t->name;
    if (t->metrics & GQ_METRIC_BIT(GQ_METRIC_ACCURACY))
        printf("%s %s: accuracy %.2f%% (%d/%d) [95%% CI %.2f-%.2f]\n", name, split, 100 * m->accuracy, m->correct,
               m->total, 100 * m->acc_lo, 100 * m->acc_hi);
    if (t->metrics & GQ_METRIC_BIT(GQ_METRIC_F1))
        printf("%s %s: F1 %.2f%% (tp %d, fp %d, fn %d) [95%% CI %.2f-%.2f]\n", name, split, 100 * m->f1, m->tp, m->fp,
               m->fn, 100 * m->f1_lo, 100 * m->f1_hi);
    for (gq_metric k = GQ_METRIC_MCC; k < GQ_METRIC_COUNT; k++) {
        if (!(t->metrics & GQ_METRIC_BIT(k))) continue;
        double v[3];
        gq_metrics_triple(m, k, v);
        if (isnan(v[0]))
            printf("%s %s: %s n/a (undefined: a constant prediction or gold score), %d examples\n", name, split,
                   gq_metric_title(k), m->total);
        else
            printf("%s %s: %s %.2f (x100) [95%% CI %.2f-%.2f], %d examples\n", name, split, gq_metric_title(k),
                   100 * v[0], 100 * v[1], 100 * v[2], m->total);
    }
}

static void print_text(const job *j, const gq_eval_result *r, const gq_quant_setup *cq, const gq_quant_report *rep) {
    if (cq->method)
        printf("%s %s, %s int%d, protected %lld of %lld weights (%.2f effective bits)\n", j->ev.task->name, j->opts.split,
               cq->method, cq->q.bits, (long long)rep->total_protected, (long long)rep->total_numel,
               rep->effective_bits_total);
    if (!j->ev.sets[0]->labelled) {
        printf("%s %s: %d examples predicted (unlabelled split: no metrics)\n", j->ev.task->name, j->opts.split, r->n);
        return;
    }
    for (int p = 0; p < r->n_parts; p++) print_part(&j->ev, j->ev.parts[p], &r->metrics[p]);
    print_label_order(&j->ev);
    printf("%lld tokens in %.3f s: %.0f tokens/s\n", (long long)r->tokens, r->seconds,
           r->seconds > 0 ? (double)r->tokens / r->seconds : 0.0);
}

/* key + suffix: "accuracy_mm". */
static void add_metric(cJSON *o, const char *key, const char *sfx, double v) {
    char k[64];
    snprintf(k, sizeof k, "%s%s", key, sfx);
    cJSON_AddItemToObject(o, k, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull());
}

/* One file's metrics: accuracy with counts, then each other metric with its interval. */
static void json_part(cJSON *o, const gq_glue_task *t, const gq_metrics *m, const char *sfx) {
    int acc = (t->metrics & GQ_METRIC_BIT(GQ_METRIC_ACCURACY)) != 0;
    if (acc) add_metric(o, "accuracy", sfx, m->accuracy), add_metric(o, "correct", sfx, m->correct);
    add_metric(o, "total", sfx, m->total);
    if (acc) add_metric(o, "accuracy_ci_low", sfx, m->acc_lo), add_metric(o, "accuracy_ci_high", sfx, m->acc_hi);
    for (gq_metric k = GQ_METRIC_F1; k < GQ_METRIC_COUNT; k++) {
        if (!(t->metrics & GQ_METRIC_BIT(k))) continue;
        char lo[32], hi[32];
        double v[3];
        gq_metrics_triple(m, k, v);
        snprintf(lo, sizeof lo, "%s_ci_low", gq_metric_name(k));
        snprintf(hi, sizeof hi, "%s_ci_high", gq_metric_name(k));
        add_metric(o, gq_metric_name(k), sfx, v[0]), add_metric(o, lo, sfx, v[1]), add_metric(o, hi, sfx, v[2]);
    }
}

cJSON *gq_cli_eval_json(const gq_eval_task *ev, const gq_cli_eval *e, const gq_eval_result *r,
                        const gq_quant_setup *cq, const gq_quant_report *rep) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", ev->task->name);
    cJSON_AddStringToObject(o, "split", e->split);
    cJSON_AddStringToObject(o, "model_sha256", ev->model->sha256);
    if (ev->sets[0]->labelled) {
        for (int p = 0; p < r->n_parts; p++) {
            char sfx[8] = "";
            if (p) snprintf(sfx, sizeof sfx, "_%s", ev->task->dev_short[p]);
            json_part(o, ev->task, &r->metrics[p], sfx);
        }
        cJSON_AddStringToObject(o, "main_metric", gq_metric_name(ev->task->main));
    } else {
        cJSON_AddNumberToObject(o, "total", r->n);
    }
    const char *order = gq_label_source_name(ev->labels.source);
    cJSON_AddItemToObject(o, "label_order", order ? cJSON_CreateString(order) : cJSON_CreateNull());
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

static void print_json(const job *j, const gq_eval_result *r, const gq_quant_setup *cq, const gq_quant_report *rep) {
    cJSON *o = gq_cli_eval_json(&j->ev, &j->opts, r, cq, rep);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    if (text) puts(text);
    free(text);
    cJSON_Delete(o);
}

int gq_cmd_eval(const gq_args *a) {
    gq_err err = {{0}};
    gq_quant_setup cq;
    gq_status s = gq_cli_quant_parse(a, &cq, &err);
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    job j = {0};
    gq_quant_session *session = NULL;
    gq_quant_report rep;
    gq_eval_result res = {0};
    s = load_job(a, 1, &j, &err);
    if (s == GQ_OK)
        s = gq_quant_setup_apply(&cq, j.ev.model, j.ev.runner, j.ev.tok, j.ev.task, j.opts.data_root, j.opts.eo.max_len,
                            &session, &rep,
                            NULL, &err);
    gq_cli_progress prog = {"eval", gq_now(), gq_now()};
    if (s == GQ_OK) s = gq_eval_task_run(&j.ev, gq_cli_progress_fn, &prog, &res, &err);
    if (s == GQ_OK) (gq_args_has(a, "json") ? print_json : print_text)(&j, &res, &cq, &rep);
    gq_eval_result_free(&res);
    gq_quant_session_free(session);
    job_free(&j);
    return s == GQ_OK ? 0 : gq_cli_fail(&err, s);
}

gq_status gq_cli_quantize_to(const gq_quant_setup *cq, const gq_eval_task *ev, const gq_cli_eval *e, const char *out,
                             gq_quant_report *rep, gq_err *err) {
    gq_quant_session *session = NULL;
    char calib_desc[GQ_QUANT_SETUP_CALIB_DESC_LEN];
    gq_status s = gq_quant_setup_apply(cq, ev->model, ev->runner, ev->tok, ev->task, e->data_root, e->eo.max_len, &session,
                                  rep, calib_desc, err);
    cJSON *opts = s == GQ_OK ? gq_quant_setup_json(cq, rep, calib_desc) : NULL;
    if (opts) cJSON_AddStringToObject(opts, "task", ev->task->name);
    /* a model directory's tokenizer files go with it in any case */
    gq_export x = {ev->model, gq_dir_exists(e->vocab) ? NULL : e->vocab, session, rep, opts};
    if (s == GQ_OK) s = gq_export_write(out, &x, err);
    cJSON_Delete(opts);
    if (session) gq_quant_session_restore(session);
    gq_quant_session_free(session);
    return s;
}

int gq_cmd_quantize(const gq_args *a) {
    gq_err err = {{0}};
    gq_quant_setup cq;
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
    if (s == GQ_OK) s = gq_encoder_load(gq_args_get(a, "model"), &j.ev.model, &err);
    if (s == GQ_OK) s = gq_tok_encode(j.ev.tok, gq_args_get(a, "text"), gq_args_get(a, "pair"), (int)max_len, &ids, &err);
    if (s == GQ_OK) s = gq_encoder_runner_open(j.ev.model, &j.opts.eo.runner, &j.ev.runner, &err);
    float *logits = s == GQ_OK ? calloc((size_t)j.ev.model->cfg.n_labels, sizeof *logits) : NULL;
    if (s == GQ_OK) s = gq_encoder_forward(j.ev.runner, ids.v, &ids.n, &ids.seg_a, 1, logits, NULL, &err);
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
