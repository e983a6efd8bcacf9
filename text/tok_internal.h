/* tok_internal: what the tokenizer kinds (wordpiece.c, bpe.c) share with the dispatcher
 * (tokenizer.c), which owns everything that does not depend on the kind: the vocabulary
 * table, the special-token strings in raw text, the encoding template and truncation.
 *
 * A kind is a gq_tok_ops (its name and how it turns a stretch of text without special
 * tokens into ids) and a loader that fills a gq_tok. Adding one is a file beside these
 * two, its loader called from gq_tok_load_dir. */
#ifndef GQ_TOK_INTERNAL_H
#define GQ_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* ---- vocabulary: token bytes <-> ids, an open-addressing hash table of ids ---- */

typedef struct {
    char *store;        /* the token bytes, owned; piece[] points into it */
    const char **piece; /* (n) token of each id; NULL for an id no token has */
    uint32_t *plen;     /* (n) byte length of each token */
    uint32_t *phash;    /* (n) hash of each token, checked before memcmp */
    int32_t *slot;      /* (mask + 1) ids by hash, -1 = empty */
    uint32_t mask;
    int n;
} gq_vocab;

/* Makes room for ids 0..n-1, none of them set yet; `what` names the file for errors.
 * Takes ownership of store (freed by gq_vocab_free, also on failure). */
gq_status gq_vocab_init(gq_vocab *v, char *store, int n, const char *what, gq_err *err);
/* Gives id the token p[0..len) (p points into v->store). A token added twice maps to the
 * later id, as a Python dict built in file order does. */
void gq_vocab_add(gq_vocab *v, int32_t id, const char *p, size_t len);
/* Id of the token prefix + s[0..n) (prefix NULL or a short C string), or -1. */
int32_t gq_vocab_find(const gq_vocab *v, const char *prefix, const char *s, size_t n);
void gq_vocab_free(gq_vocab *v);

/* ---- what one encode call needs, owned by the call: no tokenizer state is mutable ---- */

typedef struct {
    int32_t *v;
    size_t n, cap;
} gq_cpbuf;

/* Makes room for `extra` more code points; 0 on success, -1 when out of memory. */
int gq_cp_reserve(gq_cpbuf *b, size_t extra);

typedef struct {
    gq_cpbuf text, word, nfd; /* code points: a text, one word, its decomposition */
    void *own;                /* a kind's own buffers, freed by its ops->scratch_free */
} gq_tok_scratch;

/* ---- a kind ---- */

typedef struct {
    const char *name; /* "wordpiece", "bpe" */
    /* Appends the ids of text[0..len), which holds no special-token string; `base` is its
     * byte offset in the caller's text and `what` names that text, for error messages. */
    gq_status (*tokenize)(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                          gq_tok_scratch *s, gq_ids *out, gq_err *err);
    void (*scratch_free)(void *own); /* NULL when the kind keeps nothing in s->own */
    void (*impl_free)(void *impl);   /* NULL when the kind has no impl */
} gq_tok_ops;

/* How a pair is cut to max_len: pop one token at a time from the longer segment, the
 * second on a tie (HF's Python tokenizers); or, when both are longer than half, give
 * them half each, the odd token to the longer, the second on a tie (HF's `tokenizers`). */
typedef enum { GQ_TRUNC_POP_LONGER, GQ_TRUNC_HALVES } gq_tok_trunc;

/* A string that stands for one token wherever it occurs in raw text. lstrip: the
 * whitespace before it is dropped (RoBERTa's <mask>). */
typedef struct {
    const char *text;
    int32_t id;
    int lstrip;
} gq_tok_special;

#define GQ_TOK_MAX_SPECIAL 5

struct gq_tok {
    const gq_tok_ops *ops;
    void *impl;   /* the kind's own data, freed by ops->impl_free */
    gq_vocab vocab;
    int32_t cls, sep; /* the template's opening and closing tokens ([CLS]/[SEP], <s>/</s>) */
    int pair_seps;    /* separators between the two texts of a pair: 1 or 2 */
    gq_tok_trunc trunc;
    gq_tok_special special[GQ_TOK_MAX_SPECIAL];
    int nspecial;
    gq_utf8_policy policy;
};

/* Fills tok from a vocab.txt with the given BasicTokenizer options. */
typedef struct {
    int lower;   /* do_lower_case */
    int strip;   /* strip_accents after resolving null (= lower) */
    int chinese; /* tokenize_chinese_chars */
} gq_wordpiece_opts;
gq_status gq_wordpiece_load(const char *vocab_path, const gq_wordpiece_opts *o, gq_tok *tok, gq_err *err);

/* Fills tok from vocab.json and merges.txt (byte-level BPE, RoBERTa's special tokens). */
gq_status gq_bpe_load(const char *vocab_json, const char *merges_txt, int add_prefix_space, gq_tok *tok,
                      gq_err *err);

/* ---- helpers the kinds share ---- */

/* Makes room in ids for `extra` more; 0 on success, -1 when out of memory or too long. */
int gq_ids_reserve(gq_ids *ids, size_t extra);

/* Decodes the UTF-8 sequence at s[0..n) (n >= 1) into *cp and returns its length, or 0
 * when s[0] does not start a valid one (overlong, surrogate, > U+10FFFF, truncated). */
int gq_utf8_decode(const unsigned char *s, size_t n, int32_t *cp);

/* Decodes text[0..len) into b (replacing its contents) under tok's policy: each invalid
 * byte becomes U+FFFD, or under the strict policy the call fails naming `what` and the
 * byte offset (base + position). */
gq_status gq_utf8_to_cps(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                         gq_cpbuf *b, gq_err *err);

/* Unicode's White_Space property (what \s means in HF's Rust and Python regexes). */
int gq_is_white_space(int32_t c);

#endif
