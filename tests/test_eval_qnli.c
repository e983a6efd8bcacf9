/* QNLI dev end to end (label slow): 5463 pairs tokenized and evaluated with scratch-rte
 * standing in for a QNLI model (same label scheme; no QNLI-trained model exists here, so
 * its accuracy is near chance and is not checked). Checks: every example is scored, the
 * token count equals the sum of the reference ids128 lengths, and batched logits equal
 * one-at-a-time logits on a sample of rows. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "testlib.h"

static int64_t reference_tokens(gq_test_ctx *t) {
    char *p = gq_test_path(t, "fixtures/tokrefs/qnli-dev.jsonl"), *text = NULL;
    gq_read_file(p, 0, &text, NULL, NULL);
    int64_t total = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        total += cJSON_GetArraySize(cJSON_GetObjectItem(j, "ids128"));
        cJSON_Delete(j);
        line = nl ? nl + 1 : NULL;
    }
    free(text), free(p);
    return total;
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_err err = {{0}};
    char *vocab = gq_test_path(&t, "assets/vocab/vocab.txt"), *tsv = gq_test_path(&t, "assets/glue/QNLI/dev.tsv");
    char *model_dir = gq_test_path(&t, "assets/models/scratch-rte");
    gq_tok *tok = NULL;
    gq_glue_set *set = NULL;
    gq_encoder *m = NULL;
    gq_encoded *enc = NULL;
    if (gq_tok_load(vocab, &tok, &err) || gq_glue_load(gq_glue_task_find("qnli"), tsv, &set, &err) ||
        gq_encoder_load(model_dir, &m, &err) || gq_encode_set(tok, set, 128, &enc, &err)) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        return 2;
    }
    gq_encoder_runner *r = gq_encoder_runner_new(m, 0);
    gq_eval_result res;
    GQ_CHECK(&t, gq_eval_run(r, enc, NULL, NULL, NULL, &res, &err) == GQ_OK, "%s", err.msg);
    const gq_label_order identity = {GQ_LABELS_DEFAULT, {0, 1}};
    GQ_CHECK(&t, gq_eval_score(gq_glue_task_find("qnli"), &identity, enc, &res, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(&t, res.metrics[0].total == 5463 && res.n == 5463, "want 5463 examples, got %d", res.metrics[0].total);
    int64_t want_tokens = reference_tokens(&t);
    GQ_CHECK(&t, res.tokens == want_tokens, "tokens %lld, reference ids128 total %lld", (long long)res.tokens,
             (long long)want_tokens);
    printf("QNLI dev with scratch-rte: %d/%d correct, %lld tokens in %.2f s (%.0f tokens/s)\n", res.metrics[0].correct,
           res.metrics[0].total, (long long)res.tokens, res.seconds, (double)res.tokens / res.seconds);
    /* Batching must not change logits: every 97th row alone. */
    for (int i = 0; i < enc->n; i += 97) {
        float one[2];
        gq_encoder_forward(r, enc->ids + enc->off[i], &enc->len[i], NULL, 1, one, NULL, &err);
        char what[64];
        snprintf(what, sizeof what, "row %d alone vs batched", i);
        gq_check_close(&t, what, one, res.logits + 2 * i, 2, 1e-5, 0);
    }
    gq_eval_result_free(&res);
    gq_encoder_runner_free(r);
    gq_encoded_free(enc);
    gq_encoder_free(m);
    gq_glue_free(set);
    gq_tok_free(tok);
    free(vocab), free(tsv), free(model_dir);
    return gq_test_done(&t);
}
