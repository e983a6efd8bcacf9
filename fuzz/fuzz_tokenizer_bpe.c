/* fuzz_tokenizer_bpe: the byte-level BPE tokenizer on arbitrary bytes, with the fixture
 * vocabulary tests/fixtures/bpe-tiny ($GLUEQ_FUZZ_BPE_DIR, else the source tree's). The
 * first byte picks the UTF-8 policy and max_len; the rest up to the first NUL is text a,
 * after it text b. Besides the sanitizers: ids in range, the length limit kept, and a
 * valid text without '<' (so without special tokens) encoded losslessly: its pieces,
 * mapped back through GPT-2's byte symbols, give its bytes. */
#include "fuzz_tok.h"

static gq_tok *strict, *lenient;
static int symbol_byte[0x200]; /* GPT-2's byte symbols back to bytes, -1 elsewhere */

static int printable(int c) { return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = getenv("GLUEQ_FUZZ_BPE_DIR");
    if (!dir) dir = GLUEQ_SOURCE_DIR "/tests/fixtures/bpe-tiny";
    gq_err err = {{0}};
    if (gq_tok_load_dir(dir, &strict, &err) != GQ_OK || gq_tok_load_dir(dir, &lenient, &err) != GQ_OK) {
        fprintf(stderr, "fuzz_tokenizer_bpe: %s (set GLUEQ_FUZZ_BPE_DIR)\n", err.msg);
        exit(1);
    }
    gq_tok_set_utf8_policy(lenient, GQ_UTF8_REPLACE);
    for (int i = 0; i < 0x200; i++) symbol_byte[i] = -1;
    for (int c = 0, extra = 0; c < 256; c++) symbol_byte[printable(c) ? c : 0x100 + extra++] = c;
    return 0;
}

/* Appends the bytes that piece stands for to out[*n..]; 0 when it is not byte symbols. */
static int piece_bytes(const char *piece, unsigned char *out, size_t *n, size_t cap) {
    for (const unsigned char *p = (const unsigned char *)piece; *p;) {
        int cp = p[0] < 0x80 ? p[0] : (p[0] & 0xE0) == 0xC0 && p[1] ? ((p[0] & 0x1F) << 6) | (p[1] & 0x3F) : -1;
        if (cp < 0 || cp >= 0x200 || symbol_byte[cp] < 0 || *n >= cap) return 0;
        out[(*n)++] = (unsigned char)symbol_byte[cp];
        p += p[0] < 0x80 ? 1 : 2;
    }
    return 1;
}

/* A valid text without '<' (so without special tokens), untruncated and alone, is
 * encoded losslessly. */
static void check_lossless(const gq_tok *tok, const gq_ids *ids, const char *a, const char *b, int max_len) {
    if (tok != strict || b || max_len || strchr(a, '<')) return;
    size_t len = strlen(a), n = 0;
    unsigned char *back = malloc(len + 1);
    if (!back) return;
    for (int i = 1; i + 1 < ids->n; i++)
        if (!piece_bytes(gq_tok_piece(strict, ids->v[i]), back, &n, len)) {
            fprintf(stderr, "fuzz_tokenizer_bpe: id %d is not byte symbols or too long\n", ids->v[i]);
            abort();
        }
    if (n != len || memcmp(back, a, len) != 0) {
        fprintf(stderr, "fuzz_tokenizer_bpe: the ids do not give back the text\n");
        abort();
    }
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_tok_run(strict, lenient, data, size, 4, "fuzz_tokenizer_bpe", check_lossless);
    return 0;
}
