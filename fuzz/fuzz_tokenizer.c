/* fuzz_tokenizer: the WordPiece tokenizer on arbitrary bytes, with the real uncased vocab
 * ($GLUEQ_FUZZ_VOCAB, else the shared assets' vocab.txt). The first byte picks the UTF-8
 * policy and max_len; the rest up to the first NUL is text a, after it text b. */
#include "fuzz_tok.h"

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
    fuzz_tok_run(strict, lenient, data, size, 3, "fuzz_tokenizer", NULL);
    return 0;
}
