/* tokenizer: HF's tokenizers of BERT-family models reimplemented in C, SPEC.md §2:
 * WordPiece (BertTokenizer: uncased, or cased as tokenizer_config.json says) and RoBERTa's
 * byte-level BPE, behind one interface.
 *
 *     gq_tok *tok = NULL;
 *     gq_err err = {0};
 *     if (gq_tok_load_dir("models/x", &tok, &err) != GQ_OK) ...   // or gq_tok_load("vocab.txt", ...)
 *     gq_ids ids = {0};
 *     gq_tok_encode(tok, "A sentence.", "Another one.", 128, &ids, &err);   // [CLS] A [SEP] B [SEP]
 *     ... ids.v[0..ids.n-1] ...
 *     gq_ids_free(&ids);
 *     gq_tok_free(tok);
 *
 * Unicode properties (categories, case mapping, NFD) come from utf8proc; lowercasing
 * follows Python's str.lower() (full mappings, final sigma). A gq_tok is read-only once
 * loaded: threads may encode with one tokenizer at the same time.
 */
#ifndef GQ_TOKENIZER_H
#define GQ_TOKENIZER_H

#include "common.h"

typedef struct gq_tok gq_tok;

/* A growable array of token ids, owned by whoever declared it; free with gq_ids_free. */
typedef struct {
    int32_t *v;
    int n, cap;
    int seg_a; /* gq_tok_encode: tokens of the first segment with its special tokens
                  ([CLS] A [SEP]), BERT's token type 0; the rest are type 1 */
} gq_ids;
void gq_ids_free(gq_ids *ids);

typedef enum {
    GQ_UTF8_STRICT = 0, /* invalid UTF-8 is an error (GQ_ERR_UTF8) */
    GQ_UTF8_REPLACE,    /* each invalid byte becomes U+FFFD, which WordPiece's cleaning then drops
                         * and byte-level BPE encodes as its three bytes */
} gq_utf8_policy;

/* Limits on vocab.txt, checked while it is read, before memory is spent on it: BERT's
 * vocabularies have 30k to 120k tokens of at most a few dozen bytes, and a token longer
 * than a word (100 characters, HF's max_input_chars_per_word) can never match. */
#define GQ_TOK_MAX_VOCAB 4000000
#define GQ_TOK_MAX_VOCAB_BYTES ((size_t)1 << 28)
#define GQ_TOK_MAX_PIECE_BYTES 1024

/* Loads a vocab.txt (one token per line, id = line number) as BERT's uncased WordPiece.
 * *out is owned by the caller. */
gq_status gq_tok_load(const char *vocab_path, gq_tok **out, gq_err *err);

/* Loads the tokenizer of a model directory. Its kind comes from tokenizer_config.json's
 * tokenizer_class, else config.json's model_type, else the files present: WordPiece
 * (vocab.txt; do_lower_case, strip_accents and tokenize_chinese_chars from
 * tokenizer_config.json, HF's defaults where absent) or byte-level BPE (vocab.json and
 * merges.txt; add_prefix_space, default false). A setting glueq does not implement, a
 * malformed value or a missing file fails with one message naming the file. */
gq_status gq_tok_load_dir(const char *model_dir, gq_tok **out, gq_err *err);

/* "wordpiece" or "bpe". */
const char *gq_tok_kind(const gq_tok *tok);
void gq_tok_free(gq_tok *tok);
void gq_tok_set_utf8_policy(gq_tok *tok, gq_utf8_policy policy);

/* Encodes `[CLS] a [SEP]` or, when b is not NULL, `[CLS] a [SEP] b [SEP]` (BPE: `<s> a </s>`
 * and `<s> a </s></s> b </s>`), truncated to max_len tokens (0 = no truncation) as HF does
 * it for the kind: WordPiece pops the last token of the longer segment (ties: from b);
 * BPE follows the `tokenizers` library, which gives each segment half the room when both
 * need cutting (the odd token to the longer; ties: to b). Replaces the contents of out
 * (reusing its storage). On invalid UTF-8 under the strict policy, returns GQ_ERR_UTF8
 * and err says which text and byte offset. */
gq_status gq_tok_encode(const gq_tok *tok, const char *a, const char *b, int max_len, gq_ids *out, gq_err *err);

/* Appends the ids of one text (no template tokens) to out. */
gq_status gq_tok_tokenize(const gq_tok *tok, const char *text, gq_ids *out, gq_err *err);

/* Vocabulary access: token string of an id (NULL if out of range), id of a token (-1). */
const char *gq_tok_piece(const gq_tok *tok, int32_t id);
int32_t gq_tok_id(const gq_tok *tok, const char *piece);
int gq_tok_vocab_size(const gq_tok *tok);

#endif
