/* Determinism across thread counts (label slow): every dev set of the shipped models
 * (assets/models/{scratch,mlm}-{rte,mrpc} on their task, mlm-rte and scratch-rte on QNLI
 * too) evaluated with 1, 2, 3 and 4 threads gives the same prediction for every example.
 * Each thread count cuts the batches into other parts (other sgemm shapes), so logits may
 * move in the last bits; their largest difference from the 1-thread run is printed and
 * bounded by GQ_TEST_LOGIT_ATOL. Runs the evaluation path of `glueq eval`
 * (gq_encode_set + gq_eval_run). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "testlib.h"

#define MAX_THREADS 4

static void check_set(gq_test_ctx *t, const gq_tok *tok, const char *model, const char *task_name) {
    char rel[256];
    const gq_glue_task *task = gq_glue_task_find(task_name);
    snprintf(rel, sizeof rel, "assets/models/%s", model);
    char *model_dir = gq_test_path(t, rel);
    snprintf(rel, sizeof rel, "assets/glue/%s/dev.tsv", task->dir);
    char *tsv = gq_test_path(t, rel);
    gq_err err = {{0}};
    gq_glue_set *set = NULL;
    gq_encoder *m = NULL;
    gq_encoded *enc = NULL;
    if (gq_glue_load(task, tsv, &set, &err) || gq_encoder_load(model_dir, &m, &err) ||
        gq_encode_set(tok, set, 128, &enc, &err)) {
        GQ_CHECK(t, 0, "%s on %s: %s", model, task_name, err.msg);
    } else {
        gq_eval_result res[MAX_THREADS] = {{0}};
        double t0 = gq_now();
        for (int i = 0; i < MAX_THREADS; i++) {
            gq_encoder_runner *r = gq_encoder_runner_new(m, i + 1);
            GQ_CHECK(t, gq_eval_run(r, enc, NULL, NULL, NULL, &res[i], &err) == GQ_OK, "%s", err.msg);
            gq_encoder_runner_free(r);
        }
        for (int i = 1; i < MAX_THREADS; i++) {
            int same = 0;
            double dmax = 0;
            for (int e = 0; e < enc->n; e++) {
                same += res[i].pred[e] == res[0].pred[e];
                for (int l = 0; l < res[i].n_labels; l++) {
                    size_t k = (size_t)e * res[i].n_labels + l;
                    dmax = fmax(dmax, fabs(res[i].logits[k] - res[0].logits[k]));
                }
            }
            GQ_CHECK(t, same == enc->n, "%s on %s dev, %d threads: %d of %d predictions differ from 1 thread", model,
                     task_name, i + 1, enc->n - same, enc->n);
            GQ_CHECK(t, dmax <= GQ_TEST_LOGIT_ATOL, "%s on %s dev, %d threads: logits differ by %.3g", model,
                     task_name, i + 1, dmax);
            printf("%s on %s dev (%d examples): %d threads, predictions identical to 1 thread: %d/%d, max |logit "
                   "diff| %.3g\n",
                   model, task_name, enc->n, i + 1, same, enc->n, dmax);
        }
        printf("%s on %s dev: 4 evaluations in %.1f s\n", model, task_name, gq_now() - t0);
        for (int i = 0; i < MAX_THREADS; i++) gq_eval_result_free(&res[i]);
    }
    gq_encoded_free(enc);
    gq_encoder_free(m);
    gq_glue_free(set);
    free(model_dir), free(tsv);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_WARN);
    char *vocab = gq_test_path(&t, "assets/vocab/vocab.txt");
    gq_tok *tok = NULL;
    gq_err err = {{0}};
    if (gq_tok_load(vocab, &tok, &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        return 2;
    }
    static const char *const sets[][2] = {{"scratch-rte", "rte"},  {"scratch-mrpc", "mrpc"}, {"mlm-rte", "rte"},
                                          {"mlm-mrpc", "mrpc"},   {"scratch-rte", "qnli"},   {"mlm-rte", "qnli"}};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) check_set(&t, tok, sets[i][0], sets[i][1]);
    gq_tok_free(tok);
    free(vocab);
    return gq_test_done(&t);
}
