#include "testquant.h"

#include <stdlib.h>
#include <string.h>

int gq_test_cli(const char *command, int argc, char **argv) {
    char *v[34] = {"glueq", (char *)command};
    if (argc > 32) argc = 32;
    memcpy(v + 2, argv, (size_t)argc * sizeof *argv);
    return gq_cli_main(argc + 2, v);
}

gq_status gq_test_quantize(const gq_test_ctx *t, char **flags, int nflags, const char *cache_dir, gq_encoder *m,
                           gq_encoder_runner *r, gq_quant_report *rep, gq_err *err) {
    gq_args a;
    gq_quant_setup cq;
    gq_tok *tok = NULL;
    gq_quant_session *session = NULL;
    char *vocab = gq_test_path(t, "assets/vocab/vocab.txt"), *glue = gq_test_path(t, "assets/glue");
    gq_status s = gq_args_parse(&a, gq_cli_quant_groups, nflags, flags, err);
    if (s == GQ_OK) s = gq_cli_quant_parse(&a, &cq, err);
    cq.cache_dir = cache_dir;
    if (s == GQ_OK) s = gq_tok_load(vocab, &tok, err);
    if (s == GQ_OK) s = gq_quant_setup_apply(&cq, m, r, tok, gq_glue_task_find("rte"), glue, 128, &session, rep, NULL, err);
    gq_quant_session_free(session);
    gq_tok_free(tok);
    free(vocab), free(glue);
    return s;
}
