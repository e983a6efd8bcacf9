#include "testquant.h"

#include <stdlib.h>

gq_status gq_test_quantize(const gq_test_ctx *t, char **flags, int nflags, const char *cache_dir, gq_dbert *m,
                           gq_dbert_runner *r, gq_quant_report *rep, gq_err *err) {
    static const gq_arg_spec SPEC[] = {GQ_CLI_QUANT_FLAGS, {NULL, 0}};
    gq_args a;
    gq_cli_quant cq;
    gq_tok *tok = NULL;
    gq_quant_session *session = NULL;
    char *vocab = gq_test_path(t, "assets/vocab/vocab.txt"), *glue = gq_test_path(t, "assets/glue");
    gq_status s = gq_args_parse(&a, SPEC, nflags, flags, err);
    if (s == GQ_OK) s = gq_cli_quant_parse(&a, &cq, err);
    cq.cache_dir = cache_dir;
    if (s == GQ_OK) s = gq_tok_load(vocab, &tok, err);
    if (s == GQ_OK) s = gq_cli_quantize(&cq, m, r, tok, gq_glue_task_find("rte"), glue, 128, &session, rep, NULL, err);
    gq_quant_session_free(session);
    gq_tok_free(tok);
    free(vocab), free(glue);
    return s;
}
