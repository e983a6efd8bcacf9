/* test_glue_tasks: every GLUE task end to end on its fixture files (tests/fixtures/glue) with
 * the tiny models of 1, 2 and 3 labels, against the reference outputs on the same rows
 * (tests/fixtures/gen/gen_glue_tasks.py -> results/hf_glue_tasks.json; transformers'
 * BertTokenizer and DistilBertForSequenceClassification, or their PyTorch restatement: the
 * file's "backend" says which): the token ids, the FP32 logits, the predicted labels (MNLI's
 * model names its labels in another order than the task's default: config.json's id2label
 * must be followed), and the correct counts on each dev file. Also: --label-map, a model
 * whose label count is not the task's, and the calibration rows of single-text and pair
 * tasks. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "calib_rows.h"
#include "eval.h"
#include "testlib.h"

#define FIXTURES GQ_TEST_FIXTURES_DIR "/glue"
#define MODELS FIXTURES "/models"

static cJSON *load_refs(void) {
    char *path = gq_test_ref_path("hf_glue_tasks.json"), *text = NULL;
    size_t len = 0;
    gq_err err = {{0}};
    if (gq_read_file(path, 0, &text, &len, &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        exit(2);
    }
    cJSON *o = cJSON_Parse(text);
    free(text), free(path);
    if (!o) {
        fprintf(stderr, "FATAL hf_glue_tasks.json: not JSON\n");
        exit(2);
    }
    return o;
}

/* Loads task's dev split with model (a directory under MODELS), label map optional. */
static gq_status load(const char *taskname, const char *model, const int *map, gq_eval_task *ev, gq_err *err) {
    char dir[512], vocab[600];
    snprintf(dir, sizeof dir, "%s/%s", MODELS, model);
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
    gq_eval_task_opts o = {.model_dir = dir, .vocab = vocab, .data_root = FIXTURES, .split = "dev", .label_map = map,
                           .max_len = 128, .need_labels = 1, .runner = {.threads = 1}};
    return gq_eval_task_load(gq_glue_task_find(taskname), &o, ev, err);
}

/* One task against its references: ids, logits, predicted labels, correct counts. */
static void check_task(gq_test_ctx *t, const char *name, const cJSON *ref) {
    const gq_glue_task *task = gq_glue_task_find(name);
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "model"));
    gq_eval_task ev;
    gq_eval_result res = {0};
    gq_err err = {{0}};
    gq_status st = load(name, model, NULL, &ev, &err);
    if (st == GQ_OK) st = gq_eval_task_run(&ev, NULL, NULL, &res, &err);
    GQ_CHECK(t, st == GQ_OK, "%s: %s", name, err.msg);
    if (st != GQ_OK) {
        gq_eval_task_free(&ev);
        return;
    }
    gq_label_source want_source = gq_glue_regression(task) ? GQ_LABELS_NONE
                                  : !strcmp(name, "mnli")  ? GQ_LABELS_CONFIG
                                                           : GQ_LABELS_DEFAULT;
    GQ_CHECK(t, ev.labels.source == want_source, "%s: label order %d, want %d", name, ev.labels.source, want_source);
    const cJSON *parts = cJSON_GetObjectItem(ref, "parts");
    GQ_CHECK(t, res.n_parts == cJSON_GetArraySize(parts) && res.n_parts == task->n_dev, "%s: %d dev files", name,
             res.n_parts);
    int i = 0, bad_ids = 0, bad_preds = 0, nl = res.n_labels;
    for (int p = 0; p < res.n_parts; p++) {
        const cJSON *part = cJSON_GetArrayItem(parts, p);
        const cJSON *ids = cJSON_GetObjectItem(part, "ids"), *lg = cJSON_GetObjectItem(part, "logits");
        const cJSON *preds = cJSON_GetObjectItem(part, "preds"), *labels = cJSON_GetObjectItem(part, "labels");
        int n = cJSON_GetArraySize(ids), correct = 0;
        GQ_CHECK(t, ev.enc->part_end[p] == i + n, "%s part %d: %d examples, want %d", name, p, ev.enc->part_end[p] - i, n);
        for (int r = 0; r < n && i < res.n; r++, i++) {
            const cJSON *want = cJSON_GetArrayItem(ids, r), *row = cJSON_GetArrayItem(lg, r);
            int same = cJSON_GetArraySize(want) == ev.enc->len[i];
            for (int k = 0; same && k < ev.enc->len[i]; k++)
                same = ev.enc->ids[ev.enc->off[i] + k] == cJSON_GetArrayItem(want, k)->valueint;
            bad_ids += !same;
            float hf[3];
            for (int k = 0; k < nl; k++) hf[k] = (float)cJSON_GetArrayItem(row, k)->valuedouble;
            char what[96];
            snprintf(what, sizeof what, "%s %s row %d logits", name, cJSON_GetStringValue(cJSON_GetObjectItem(part, "split")), r);
            gq_check_close(t, what, res.logits + (size_t)i * nl, hf, (size_t)nl, GQ_TEST_LOGIT_ATOL, 0);
            if (gq_glue_regression(task)) continue;
            const char *got = task->labels[res.pred[i]], *hf_pred = cJSON_GetArrayItem(preds, r)->valuestring;
            bad_preds += strcmp(got, hf_pred) != 0;
            correct += !strcmp(hf_pred, cJSON_GetArrayItem(labels, r)->valuestring);
        }
        GQ_CHECK(t, res.metrics[p].total == n, "%s part %d: total %d, want %d", name, p, res.metrics[p].total, n);
        if (!gq_glue_regression(task))
            GQ_CHECK(t, res.metrics[p].correct == correct, "%s part %d: %d correct, HF's predictions have %d", name, p,
                     res.metrics[p].correct, correct);
    }
    GQ_CHECK(t, bad_ids == 0, "%s: %d rows tokenized unlike BertTokenizer", name, bad_ids);
    GQ_CHECK(t, bad_preds == 0, "%s: %d predictions differ from HF's", name, bad_preds);
    char main[160];
    gq_eval_main_str(task, &res, main, sizeof main);
    printf("ok   %s (%s): %d examples, %s\n", name, model, res.n, main);
    gq_eval_result_free(&res);
    gq_eval_task_free(&ev);
}

/* --label-map on RTE: the opposite order swaps every prediction. */
static void check_label_map(gq_test_ctx *t) {
    gq_eval_task a, b;
    gq_eval_result ra = {0}, rb = {0};
    gq_err err = {{0}};
    int swapped[GQ_GLUE_MAX_LABELS] = {1, 0, -1};
    gq_status st = load("rte", "tiny-glue-2", NULL, &a, &err);
    if (st == GQ_OK) st = gq_eval_task_run(&a, NULL, NULL, &ra, &err);
    if (st == GQ_OK) st = load("rte", "tiny-glue-2", swapped, &b, &err);
    if (st == GQ_OK) st = gq_eval_task_run(&b, NULL, NULL, &rb, &err);
    GQ_CHECK(t, st == GQ_OK && b.labels.source == GQ_LABELS_MAP, "rte with a label map: %s", err.msg);
    int flipped = 0;
    for (int i = 0; st == GQ_OK && i < ra.n; i++) flipped += rb.pred[i] == 1 - ra.pred[i];
    GQ_CHECK(t, st == GQ_OK && flipped == ra.n && rb.metrics[0].correct == ra.n - ra.metrics[0].correct,
             "swapped label map: %d of %d predictions swapped", flipped, ra.n);
    gq_eval_result_free(&ra), gq_eval_result_free(&rb);
    gq_eval_task_free(&a), gq_eval_task_free(&b);
}

/* A model whose label count is not the task's: one error naming the model. */
static void check_wrong_model(gq_test_ctx *t, const char *task, const char *model, const char *want) {
    gq_eval_task ev;
    gq_err err = {{0}};
    gq_status st = load(task, model, NULL, &ev, &err);
    GQ_CHECK(t, st == GQ_ERR_SHAPE && strstr(err.msg, model) && strstr(err.msg, want), "%s on %s: %s", model, task,
             err.msg);
    if (st != GQ_OK) printf("ok   error: %s\n", err.msg);
    gq_eval_task_free(&ev);
}

/* Calibration rows come from the task's train split, one segment for single-text tasks. */
static void check_calibration(gq_test_ctx *t) {
    static const struct {
        const char *task, *desc;
        int seps;
    } want[] = {{"cola", "CoLA/train.tsv, first 4 rows", 1}, {"sst2", "SST-2/train.tsv, first 4 rows", 1},
                {"stsb", "STS-B/train.tsv, first 4 rows", 2}, {"mnli", "MNLI/train.tsv, first 4 rows", 2}};
    gq_tok *tok = NULL;
    gq_err err = {{0}};
    if (gq_tok_load(MODELS "/tiny-glue-2/vocab.txt", &tok, &err) != GQ_OK) {
        GQ_CHECK(t, 0, "vocab: %s", err.msg);
        return;
    }
    int32_t sep = gq_tok_id(tok, "[SEP]");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        gq_calib_opts o;
        gq_calib_opts_default(&o);
        o.n = 4;
        gq_calib_source *cs = NULL;
        gq_status st = gq_calib_source_load(tok, gq_glue_task_find(want[i].task), FIXTURES, &o, 128, &cs, &err);
        GQ_CHECK(t, st == GQ_OK && !strcmp(cs->description, want[i].desc), "%s: %s / '%s'", want[i].task, err.msg,
                 st == GQ_OK ? cs->description : "");
        for (int r = 0; st == GQ_OK && r < cs->enc->n; r++) {
            int seps = 0;
            for (int k = 0; k < cs->enc->len[r]; k++) seps += cs->enc->ids[cs->enc->off[r] + k] == sep;
            GQ_CHECK(t, seps == want[i].seps, "%s calibration row %d: %d [SEP], want %d", want[i].task, r, seps,
                     want[i].seps);
        }
        gq_calib_source_free(cs);
    }
    gq_tok_free(tok);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    cJSON *refs = load_refs();
    const cJSON *tasks = cJSON_GetObjectItem(refs, "tasks");
    printf("references: %s backend\n", cJSON_GetStringValue(cJSON_GetObjectItem(refs, "backend")));
    GQ_CHECK(&t, cJSON_GetArraySize(tasks) == 9, "references of %d tasks, want 9", cJSON_GetArraySize(tasks));
    for (const cJSON *x = tasks ? tasks->child : NULL; x; x = x->next) check_task(&t, x->string, x);
    check_label_map(&t);
    check_wrong_model(&t, "rte", "tiny-glue-3", "the model has 3 labels, task rte has 2");
    check_wrong_model(&t, "cola", "tiny-glue-1", "one output (a regression head); task cola is a classification");
    check_wrong_model(&t, "stsb", "tiny-glue-2", "task stsb is a regression and needs one output");
    check_calibration(&t);
    cJSON_Delete(refs);
    return gq_test_done(&t);
}
