/* tokenizer: HF BertTokenizer (uncased WordPiece) reimplemented in C, SPEC.md §2.
 *
 *     gq_tok *tok = NULL;
 *     gq_err err = {0};
 *     if (gq_tok_load("vocab.txt", &tok, &err) != GQ_OK) ...
 *     gq_ids ids = {0};
 *     gq_tok_encode(tok, "A sentence.", "Another one.", 128, &ids, &err);   // [CLS] A [SEP] B [SEP]
 *     ... ids.v[0..ids.n-1] ...
 *     gq_ids_free(&ids);
 *     gq_tok_free(tok);
 *
 * Unicode properties (categories, case mapping, NFD) come from utf8proc; lowercasing
 * follows Python's str.lower() (full mappings, final sigma).
 */
#ifndef GQ_TOKENIZER_H
#define GQ_TOKENIZER_H

#include "common.h"

typedef struct gq_tok gq_tok;

/* A growable array of token ids, owned by whoever declared it; free with gq_ids_free. */
typedef struct {
    int32_t *v;
    int n, cap;
} gq_ids;
void gq_ids_free(gq_ids *ids);

typedef enum {
    GQ_UTF8_STRICT = 0, /* invalid UTF-8 is an error (GQ_ERR_UTF8) */
    GQ_UTF8_REPLACE,    /* each invalid byte becomes U+FFFD, which cleaning then drops */
} gq_utf8_policy;

/* Limits on vocab.txt, checked while it is read, before memory is spent on it: BERT's
 * vocabularies have 30k to 120k tokens of at most a few dozen bytes, and a token longer
 * than a word (100 characters, HF's max_input_chars_per_word) can never match. */
#define GQ_TOK_MAX_VOCAB 4000000
#define GQ_TOK_MAX_VOCAB_BYTES ((size_t)1 << 28)
#define GQ_TOK_MAX_PIECE_BYTES 1024

/* Loads a vocab.txt (one token per line, id = line number). *out is owned by the caller. */
gq_status gq_tok_load(const char *vocab_path, gq_tok **out, gq_err *err);
void gq_tok_free(gq_tok *tok);
void gq_tok_set_utf8_policy(gq_tok *tok, gq_utf8_policy policy);

/* Encodes `[CLS] a [SEP]` or, when b is not NULL, `[CLS] a [SEP] b [SEP]`, truncated to
 * max_len tokens (0 = no truncation) by popping the last token of the longer segment
 * (ties: from b). Replaces the contents of out (reusing its storage). On invalid UTF-8
 * under the strict policy, returns GQ_ERR_UTF8 and err says which text and byte offset. */
gq_status gq_tok_encode(const gq_tok *tok, const char *a, const char *b, int max_len, gq_ids *out, gq_err *err);

/* Appends the WordPiece ids of one text (no special tokens) to out. */
gq_status gq_tok_tokenize(const gq_tok *tok, const char *text, gq_ids *out, gq_err *err);

/* Vocabulary access: token string of an id (NULL if out of range), id of a token (-1). */
const char *gq_tok_piece(const gq_tok *tok, int32_t id);
int32_t gq_tok_id(const gq_tok *tok, const char *piece);
int gq_tok_vocab_size(const gq_tok *tok);

#endif
