/* wordpiece: BERT's tokenizer (HF BertTokenizer's BasicTokenizer + WordPiece) in C,
 * following SPEC.md §2 step by step: decode UTF-8 -> clean + space out CJK -> split on
 * whitespace -> per word: Python str.lower() and NFD + drop Mn, each only when asked ->
 * split off punctuation -> greedy longest-match WordPiece.
 *
 * The options are tokenizer_config.json's: do_lower_case, strip_accents (null follows
 * do_lower_case, as in HF) and tokenize_chinese_chars. Everything works on arrays of code
 * points; Unicode data comes from utf8proc.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

#define MAX_WORD_CHARS 100 /* HF BertTokenizer's max_input_chars_per_word */

typedef struct {
    gq_wordpiece_opts opt;
    int32_t unk;
} wp;

/* ---- Unicode classes, as HF's BasicTokenizer and Python's str methods define them ---- */

static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* After cleaning, the only code points Python's str.split() still splits on. */
static int is_split_space(int32_t c) { return c == ' ' || c == 0x2028 || c == 0x2029; }

/* Unicode's Cased property (Python's final-sigma test uses it). Lm letters with
 * Other_Lowercase are Case_Ignorable too, and both sigma scans skip those first, so
 * only the cased letters that are not case-ignorable need to be exact here. */
static int is_cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
    if (utf8proc_tolower(c) != c || utf8proc_toupper(c) != c) return 1;
    return c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
           (c >= 0x1F170 && c <= 0x1F189);
}

/* Unicode's Case_Ignorable: Mn, Me, Cf, Lm, Sk, and Word_Break MidLetter, MidNumLet or
 * Single_Quote (listed below; Cf ones are covered by the category). */
static int is_case_ignorable(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
        k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
        return 1;
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default:
        return 0;
    }
}

/* Python's final-sigma rule for w[i] == U+03A3 in the string w[0..n): ς when a cased
 * letter precedes it and none follows it, skipping case-ignorable code points. */
static int final_sigma(const int32_t *w, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(w[j - 1])) j--;
    if (j == 0 || !is_cased(w[j - 1])) return 0;
    for (j = i + 1; j < n && is_case_ignorable(w[j]); j++) {}
    return j == n || !is_cased(w[j]);
}

/* ---- the pipeline ---- */

/* Steps 1-2: decodes text[0..len) into s->text, dropping NUL, U+FFFD and C* (except
 * \t\n\r), mapping \t\n\r and Zs to ' ', and, when asked, putting spaces around CJK
 * ideographs. `base` is the slice's byte offset in the caller's text, for error messages. */
static gq_status clean_text(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                            gq_tok_scratch *s, gq_err *err) {
    const gq_wordpiece_opts *opt = &((const wp *)tok->impl)->opt;
    gq_status st = gq_utf8_to_cps(tok, text, len, base, what, &s->word, err);
    if (st != GQ_OK) return st;
    s->text.n = 0;
    if (s->word.n > SIZE_MAX / 4 || gq_cp_reserve(&s->text, 3 * s->word.n + 1) != 0)
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for %zu bytes of text", what, len);
    int32_t *o = s->text.v;
    size_t n = 0;
    for (size_t i = 0; i < s->word.n; i++) {
        int32_t c = s->word.v[i];
        if (c == '\t' || c == '\n' || c == '\r') {
            o[n++] = ' ';
            continue;
        }
        if (c == 0 || c == 0xFFFD) continue;
        utf8proc_category_t cat = utf8proc_category(c);
        if (cat == UTF8PROC_CATEGORY_CN || cat >= UTF8PROC_CATEGORY_CC) continue; /* Cn, Cc, Cf, Cs, Co */
        if (cat == UTF8PROC_CATEGORY_ZS) {
            o[n++] = ' ';
        } else if (opt->chinese && is_cjk(c)) {
            o[n++] = ' ';
            o[n++] = c;
            o[n++] = ' ';
        } else {
            o[n++] = c;
        }
    }
    s->text.n = n;
    return GQ_OK;
}

/* Step 5 for one piece p[0..n): appends its WordPiece ids to out. */
static gq_status wordpiece(const gq_tok *tok, const int32_t *p, size_t n, gq_ids *out, gq_err *err) {
    if (n == 0) return GQ_OK;
    if (gq_ids_reserve(out, n < MAX_WORD_CHARS ? n : MAX_WORD_CHARS) != 0)
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
    int32_t unk = ((const wp *)tok->impl)->unk;
    if (n > MAX_WORD_CHARS) {
        out->v[out->n++] = unk;
        return GQ_OK;
    }
    char buf[4 * MAX_WORD_CHARS];
    size_t off[MAX_WORD_CHARS + 1];
    off[0] = 0;
    for (size_t i = 0; i < n; i++)
        off[i + 1] = off[i] + (size_t)utf8proc_encode_char(p[i], (utf8proc_uint8_t *)buf + off[i]);
    int first = out->n;
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            id = gq_vocab_find(&tok->vocab, start > 0 ? "##" : NULL, buf + off[start], off[end] - off[start]);
            if (id >= 0) break;
        }
        if (id < 0) { /* one position cannot match: the whole piece is unknown */
            out->n = first;
            out->v[out->n++] = unk;
            return GQ_OK;
        }
        out->v[out->n++] = id;
        start = end;
    }
    return GQ_OK;
}

/* Python str.lower() of w[0..n) into b: full mappings (only U+0130 expands) and final sigma. */
static int lowercase(const int32_t *w, size_t n, gq_cpbuf *b) {
    b->n = 0;
    if (gq_cp_reserve(b, 2 * n) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        int32_t c = w[i];
        if (c == 0x130) {
            b->v[b->n++] = 'i';
            b->v[b->n++] = 0x307;
        } else if (c == 0x3A3) {
            b->v[b->n++] = final_sigma(w, n, i) ? 0x3C2 : 0x3C3;
        } else {
            b->v[b->n++] = utf8proc_tolower(c);
        }
    }
    return 0;
}

/* NFD of w[0..n) into d: full canonical decomposition of each code point, then canonical
 * ordering. */
static gq_status decompose(const int32_t *w, size_t n, gq_cpbuf *d, gq_err *err) {
    d->n = 0;
    if (gq_cp_reserve(d, n) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for a word");
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            utf8proc_ssize_t k = utf8proc_decompose_char(w[i], d->v + d->n, (utf8proc_ssize_t)(d->cap - d->n),
                                                         UTF8PROC_DECOMPOSE, NULL);
            if (k < 0) return gq_fail(err, GQ_ERR_ARG, "cannot decompose U+%04X", (unsigned)w[i]);
            if ((size_t)k <= d->cap - d->n) {
                d->n += (size_t)k;
                break;
            }
            if (gq_cp_reserve(d, (size_t)k) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for a word");
        }
    }
    for (size_t i = 1; i < d->n; i++) { /* stable insertion sort of each run of non-starters by ccc */
        int32_t c = d->v[i];
        int cc = utf8proc_get_property(c)->combining_class;
        if (cc == 0) continue;
        size_t j = i;
        while (j > 0) {
            int pc = utf8proc_get_property(d->v[j - 1])->combining_class;
            if (pc == 0 || pc <= cc) break;
            d->v[j] = d->v[j - 1];
            j--;
        }
        d->v[j] = c;
    }
    return GQ_OK;
}

/* Steps 3-5 for one whitespace-separated word w[0..n). */
static gq_status do_word(const gq_tok *tok, const int32_t *w, size_t n, gq_tok_scratch *s, gq_ids *out,
                         gq_err *err) {
    const gq_wordpiece_opts *opt = &((const wp *)tok->impl)->opt;
    if (opt->lower) {
        if (lowercase(w, n, &s->word) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for a word");
        w = s->word.v;
        n = s->word.n;
    }
    gq_cpbuf *d = &s->nfd;
    if (opt->strip) {
        gq_status st = decompose(w, n, d, err);
        if (st != GQ_OK) return st;
    } else {
        d->n = 0;
        if (gq_cp_reserve(d, n) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for a word");
        memcpy(d->v, w, n * sizeof *w);
        d->n = n;
    }
    /* Drop Mn (when stripping accents), split off punctuation, WordPiece each piece. */
    size_t start = 0, k = 0;
    for (size_t i = 0; i < d->n; i++) {
        int32_t c = d->v[i];
        if (opt->strip && utf8proc_category(c) == UTF8PROC_CATEGORY_MN) continue;
        if (is_punct(c)) {
            gq_status st = wordpiece(tok, d->v + start, k - start, out, err);
            if (st != GQ_OK) return st;
            d->v[k] = c;
            if ((st = wordpiece(tok, d->v + k, 1, out, err)) != GQ_OK) return st;
            start = ++k;
        } else {
            d->v[k++] = c;
        }
    }
    return wordpiece(tok, d->v + start, k - start, out, err);
}

/* Steps 1-5 for text[0..len), which holds no special-token string. */
static gq_status tokenize_plain(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                                gq_tok_scratch *s, gq_ids *out, gq_err *err) {
    gq_status st = clean_text(tok, text, len, base, what, s, err);
    if (st != GQ_OK) return st;
    const int32_t *t = s->text.v;
    size_t n = s->text.n;
    for (size_t i = 0; i < n;) {
        while (i < n && is_split_space(t[i])) i++;
        size_t j = i;
        while (j < n && !is_split_space(t[j])) j++;
        if (j > i && (st = do_word(tok, t + i, j - i, s, out, err)) != GQ_OK) return st;
        i = j;
    }
    return GQ_OK;
}

static const gq_tok_ops WORDPIECE_OPS = {"wordpiece", tokenize_plain, NULL, free};

/* HF's special tokens. BertTokenizer cuts the raw text at each occurrence of these exact
 * strings (case-sensitive, before cleaning and lowercasing) and maps each to its own id:
 * "A [MASK] b" gives a 103 b, where the WordPiece steps alone would give [ mask ]. This
 * overrides SPEC.md §2, which gives literal special tokens no treatment. */
static const char *const SPECIAL[GQ_TOK_MAX_SPECIAL] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};

static gq_status require_special(const gq_tok *tok, const char *path, const char *name, int32_t *id, gq_err *err) {
    *id = gq_vocab_find(&tok->vocab, NULL, name, strlen(name));
    if (*id < 0) return gq_fail(err, GQ_ERR_FORMAT, "%s: vocab has no %s token", path, name);
    return GQ_OK;
}

/* Reads vocab.txt into tok->vocab: ids are line numbers as in HF's load_vocab; a token
 * that appears twice maps to its last line (HF builds a dict), while gq_tok_piece still
 * returns each line. A trailing '\r' is stripped so that a vocab saved with CRLF line
 * ends still works. */
static gq_status read_vocab_txt(const char *path, gq_vocab *v, gq_err *err) {
    char *text = NULL;
    size_t len = 0;
    const gq_text_limits lim = {GQ_TOK_MAX_VOCAB_BYTES, GQ_TOK_MAX_VOCAB, GQ_TOK_MAX_PIECE_BYTES};
    gq_status st = gq_read_text(path, &lim, &text, &len, err);
    if (st != GQ_OK) return st;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (len > 0 && text[len - 1] != '\n') lines++; /* last line without '\n' */
    if (lines == 0) {
        free(text);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: vocab is empty", path);
    }
    if ((st = gq_vocab_init(v, text, (int)lines, path, err)) != GQ_OK) return st;
    char *p = text, *end = text + len;
    for (int id = 0; id < v->n; id++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        *e = '\0';
        if (e > p && e[-1] == '\r') *--e = '\0';
        gq_vocab_add(v, id, p, (size_t)(e - p)); /* at most GQ_TOK_MAX_PIECE_BYTES */
        p = nl ? nl + 1 : end;
    }
    return GQ_OK;
}

/* Fills tok (zeroed by the caller, freed by it on failure). */
gq_status gq_wordpiece_load(const char *vocab_path, const gq_wordpiece_opts *o, gq_tok *tok, gq_err *err) {
    wp *w = calloc(1, sizeof *w);
    if (!w) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", vocab_path);
    w->opt = *o;
    tok->ops = &WORDPIECE_OPS;
    tok->impl = w;
    gq_status st = read_vocab_txt(vocab_path, &tok->vocab, err);
    if (st != GQ_OK || (st = require_special(tok, vocab_path, "[CLS]", &tok->cls, err)) != GQ_OK ||
        (st = require_special(tok, vocab_path, "[SEP]", &tok->sep, err)) != GQ_OK ||
        (st = require_special(tok, vocab_path, "[UNK]", &w->unk, err)) != GQ_OK)
        return st;
    tok->pair_seps = 1;
    tok->trunc = GQ_TRUNC_POP_LONGER;
    for (int i = 0; i < GQ_TOK_MAX_SPECIAL; i++) {
        int32_t id = gq_vocab_find(&tok->vocab, NULL, SPECIAL[i], strlen(SPECIAL[i]));
        if (id >= 0) tok->special[tok->nspecial++] = (gq_tok_special){SPECIAL[i], id, 0};
    }
    return GQ_OK;
}
