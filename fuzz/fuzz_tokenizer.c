/* fuzz_tokenizer: the WordPiece tokenizer on arbitrary bytes, with the real uncased vocab
 * ($GLUEQ_FUZZ_VOCAB, else the shared assets' vocab.txt). The first byte picks the UTF-8
 * policy and max_len; the rest up to the first NUL is text a, after it text b. */
#include "fuzz.h"
#include "tokenizer.h"

static gq_tok *strict, *lenient;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *vocab = getenv("GLUEQ_FUZZ_VOCAB");
    if (!vocab) vocab = GLUEQ_SHARED_DIR "/assets/vocab/vocab.txt";
    gq_err err = {{0}};
    if (gq_tok_load(vocab, &strict, &err) != GQ_OK || gq_tok_load(vocab, &lenient, &err) != GQ_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s (set GLUEQ_FUZZ_VOCAB)\n", err.msg);
        exit(1);
    }
    gq_tok_set_utf8_policy(lenient, GQ_UTF8_REPLACE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const gq_tok *tok = data[0] & 1 ? lenient : strict;
    int max_len = data[0] >> 1; /* 0 = no truncation, else 3..129 (below 3 is a documented usage error) */
    if (max_len) max_len += 2;
    char *a = fuzz_cstr(data + 1, size - 1);
    if (!a) return 0;
    size_t na = strlen(a);
    const char *b = na + 1 < size ? a + na + 1 : NULL;
    gq_ids ids = {0};
    gq_err err = {{0}};
    gq_status st = gq_tok_encode(tok, a, b, max_len, &ids, &err);
    if (st == GQ_OK) {
        int vocab = gq_tok_vocab_size(tok);
        for (int i = 0; i < ids.n; i++)
            if (ids.v[i] < 0 || ids.v[i] >= vocab) abort();
        if (max_len >= 3 && ids.n > max_len) abort();
    } else if (st != GQ_ERR_UTF8 || tok == lenient || !err.msg[0]) {
        fprintf(stderr, "fuzz_tokenizer: unexpected failure %s: %s\n", gq_status_str(st), err.msg);
        abort();
    }
    gq_ids_free(&ids);
    free(a);
    return 0;
}
