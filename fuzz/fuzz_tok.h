/* fuzz_tok: what the tokenizer targets share: one input run through the strict or the
 * lenient tokenizer, with the checks every kind must pass. */
#ifndef GQ_FUZZ_TOK_H
#define GQ_FUZZ_TOK_H

#include "fuzz.h"
#include "tokenizer.h"

/* The first byte of data picks the UTF-8 policy (bit 0: lenient) and max_len (0 = no
 * truncation, else min_len .. min_len + 127: shorter is a documented usage error); the
 * rest up to the first NUL is text a, after it text b. Aborts when an id is out of the
 * vocabulary, the length limit is broken, or a failure is anything but strict UTF-8 with
 * a message. On success calls check (may be NULL) with the ids. */
static inline void fuzz_tok_run(const gq_tok *strict, const gq_tok *lenient, const uint8_t *data, size_t size,
                                int min_len, const char *name,
                                void (*check)(const gq_tok *tok, const gq_ids *ids, const char *a, const char *b,
                                              int max_len)) {
    if (size < 1) return;
    const gq_tok *tok = data[0] & 1 ? lenient : strict;
    int max_len = data[0] >> 1;
    if (max_len) max_len += min_len - 1;
    char *a = fuzz_cstr(data + 1, size - 1);
    if (!a) return;
    size_t na = strlen(a);
    const char *b = na + 1 < size ? a + na + 1 : NULL;
    gq_ids ids = {0};
    gq_err err = {{0}};
    gq_status st = gq_tok_encode(tok, a, b, max_len, &ids, &err);
    if (st == GQ_OK) {
        int vocab = gq_tok_vocab_size(tok);
        for (int i = 0; i < ids.n; i++)
            if (ids.v[i] < 0 || ids.v[i] >= vocab) abort();
        if (max_len && ids.n > max_len) abort();
        if (check) check(tok, &ids, a, b, max_len);
    } else if (st != GQ_ERR_UTF8 || tok == lenient || !err.msg[0]) {
        fprintf(stderr, "%s: unexpected failure %s: %s\n", name, gq_status_str(st), err.msg);
        abort();
    }
    gq_ids_free(&ids);
    free(a);
}

#endif
