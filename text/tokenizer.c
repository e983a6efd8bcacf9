/* tokenizer: HF BertTokenizer (uncased WordPiece) in C, following SPEC.md §2 step by step:
 * split off the special-token strings -> decode UTF-8 -> clean + space out CJK -> split on
 * whitespace -> per word: Python str.lower(), NFD, drop Mn -> split off punctuation ->
 * greedy longest-match WordPiece.
 *
 * Everything works on arrays of code points; Unicode data comes from utf8proc. The vocab
 * is an open-addressing hash table of ids keyed by the token bytes, so a WordPiece probe
 * of a substring costs one hash of its bytes and (usually) one memcmp.
 */
#include "tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_WORD_CHARS 100                /* HF BertTokenizer's max_input_chars_per_word */

struct gq_tok {
    char *text;           /* the vocab file with each '\n' replaced by NUL: token storage */
    const char **piece;   /* (n) token string of each id, pointing into text */
    uint32_t *plen;       /* (n) byte length of each token (tokens may contain NUL bytes) */
    uint32_t *phash;      /* (n) hash of each token, checked before memcmp */
    int32_t *slot;        /* (mask + 1) ids by hash, open addressing, -1 = empty */
    uint32_t mask;
    int n;
    int32_t cls, sep, unk;
    int32_t special_id[5]; /* ids of SPECIAL[i], -1 when the vocab lacks it */
    gq_utf8_policy policy;
};

/* HF's special tokens. BertTokenizer cuts the raw text at each occurrence of these exact
 * strings (case-sensitive, before cleaning and lowercasing) and maps each to its own id:
 * "A [MASK] b" gives a 103 b, where the WordPiece steps alone would give [ mask ]. This
 * overrides SPEC.md §2, which gives literal special tokens no treatment. */
static const char *const SPECIAL[5] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};

/* ---- hashing (FNV-1a, 32 bit): incremental so that "##" + piece needs no copy ---- */

#define FNV_BASIS 2166136261u
static uint32_t fnv(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Id of the token `cont ? "##" : ""` + s[0..n), or -1. */
static int32_t vocab_find(const gq_tok *tok, int cont, const char *s, size_t n) {
    uint32_t h = fnv(cont ? fnv(FNV_BASIS, "##", 2) : FNV_BASIS, s, n);
    size_t full = n + (cont ? 2 : 0);
    for (uint32_t i = h & tok->mask;; i = (i + 1) & tok->mask) {
        int32_t id = tok->slot[i];
        if (id < 0) return -1;
        if (tok->phash[id] != h || tok->plen[id] != full) continue;
        const char *p = tok->piece[id];
        if (cont && (p[0] != '#' || p[1] != '#')) continue;
        if (memcmp(p + (cont ? 2 : 0), s, n) == 0) return id;
    }
}

/* ---- vocab ---- */

void gq_tok_free(gq_tok *tok) {
    if (!tok) return;
    free(tok->text);
    free(tok->piece);
    free(tok->plen);
    free(tok->phash);
    free(tok->slot);
    free(tok);
}

static gq_status require_special(gq_tok *tok, const char *path, const char *name, int32_t *id, gq_err *err) {
    *id = gq_tok_id(tok, name);
    if (*id < 0) return gq_fail(err, GQ_ERR_FORMAT, "%s: vocab has no %s token", path, name);
    return GQ_OK;
}

/* Ids are line numbers as in HF's load_vocab; a token that appears twice maps to its
 * last line (HF builds a dict), while gq_tok_piece still returns each line. A trailing
 * '\r' is stripped so that a vocab saved with CRLF line ends still works. */
gq_status gq_tok_load(const char *vocab_path, gq_tok **out, gq_err *err) {
    *out = NULL;
    if (!vocab_path) return gq_fail(err, GQ_ERR_ARG, "vocab path is NULL");
    gq_tok *tok = calloc(1, sizeof *tok);
    if (!tok) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", vocab_path);
    size_t len = 0;
    const gq_text_limits lim = {GQ_TOK_MAX_VOCAB_BYTES, GQ_TOK_MAX_VOCAB, GQ_TOK_MAX_PIECE_BYTES};
    gq_status st = gq_read_text(vocab_path, &lim, &tok->text, &len, err);
    if (st != GQ_OK) {
        gq_tok_free(tok);
        return st;
    }
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += tok->text[i] == '\n';
    if (len > 0 && tok->text[len - 1] != '\n') lines++; /* last line without '\n' */
    if (lines == 0) {
        gq_tok_free(tok);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: vocab is empty", vocab_path);
    }
    tok->n = (int)lines;
    uint32_t cap = 16;
    while (cap < 2 * lines) cap *= 2; /* load factor <= 1/2 keeps probes short */
    tok->mask = cap - 1;
    tok->piece = gq_malloc_array(lines, sizeof *tok->piece);
    tok->plen = gq_malloc_array(lines, sizeof *tok->plen);
    tok->phash = gq_malloc_array(lines, sizeof *tok->phash);
    tok->slot = gq_malloc_array(cap, sizeof *tok->slot);
    if (!tok->piece || !tok->plen || !tok->phash || !tok->slot) {
        gq_tok_free(tok);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for %zu tokens", vocab_path, lines);
    }
    memset(tok->slot, 0xff, (size_t)cap * sizeof *tok->slot);
    char *p = tok->text, *end = tok->text + len;
    for (int id = 0; id < tok->n; id++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        *e = '\0';
        if (e > p && e[-1] == '\r') *--e = '\0';
        size_t n = (size_t)(e - p); /* at most GQ_TOK_MAX_PIECE_BYTES */
        tok->piece[id] = p;
        tok->plen[id] = (uint32_t)n;
        tok->phash[id] = fnv(FNV_BASIS, p, n);
        uint32_t i = tok->phash[id] & tok->mask;
        while (tok->slot[i] >= 0) {
            int32_t o = tok->slot[i];
            if (tok->phash[o] == tok->phash[id] && tok->plen[o] == n && memcmp(tok->piece[o], p, n) == 0) break;
            i = (i + 1) & tok->mask;
        }
        tok->slot[i] = id;
        p = nl ? nl + 1 : end;
    }
    if ((st = require_special(tok, vocab_path, "[CLS]", &tok->cls, err)) != GQ_OK ||
        (st = require_special(tok, vocab_path, "[SEP]", &tok->sep, err)) != GQ_OK ||
        (st = require_special(tok, vocab_path, "[UNK]", &tok->unk, err)) != GQ_OK) {
        gq_tok_free(tok);
        return st;
    }
    for (int i = 0; i < 5; i++) tok->special_id[i] = gq_tok_id(tok, SPECIAL[i]);
    tok->policy = GQ_UTF8_STRICT;
    *out = tok;
    return GQ_OK;
}

void gq_tok_set_utf8_policy(gq_tok *tok, gq_utf8_policy policy) {
    if (tok) tok->policy = policy;
}

const char *gq_tok_piece(const gq_tok *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n) return NULL;
    return tok->piece[id];
}

int32_t gq_tok_id(const gq_tok *tok, const char *piece) {
    if (!tok || !piece) return -1;
    return vocab_find(tok, 0, piece, strlen(piece));
}

int gq_tok_vocab_size(const gq_tok *tok) { return tok ? tok->n : 0; }

/* ---- id arrays ---- */

void gq_ids_free(gq_ids *ids) {
    if (!ids) return;
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

/* Makes room for `extra` more ids; 0 on success, -1 when out of memory or too long. */
static int ids_reserve(gq_ids *ids, size_t extra) {
    if (ids->n < 0 || ids->cap < ids->n) return -1; /* not a gq_ids we can trust */
    if (extra <= (size_t)(ids->cap - ids->n)) return 0;
    if (extra > (size_t)(INT_MAX / 2 - ids->n)) return -1;
    int cap = ids->cap > 16 ? ids->cap : 16;
    while ((size_t)(cap - ids->n) < extra) cap *= 2;
    int32_t *v = realloc(ids->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    ids->v = v;
    ids->cap = cap;
    return 0;
}

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

/* ---- scratch: code-point buffers, sized per text, reused for every word ---- */

typedef struct {
    int32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_reserve(cpbuf *b, size_t extra) {
    if (b->cap - b->n >= extra) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->n < extra) {
        if (cap > SIZE_MAX / 2 / sizeof *b->v) return -1;
        cap *= 2;
    }
    int32_t *v = realloc(b->v, cap * sizeof *v);
    if (!v) return -1;
    b->v = v;
    b->cap = cap;
    return 0;
}

typedef struct {
    cpbuf text;  /* the cleaned text */
    cpbuf lower; /* one word, lowercased */
    cpbuf nfd;   /* the same, decomposed; Mn then removed in place */
} scratch;

static void scratch_free(scratch *s) {
    free(s->text.v);
    free(s->lower.v);
    free(s->nfd.v);
}

/* ---- the pipeline ---- */

/* Decodes one UTF-8 sequence from s[0..n) (n >= 1) into *cp and returns its length, or
 * returns 0 when s[0] does not start a valid sequence: overlong forms, surrogates
 * (ED A0..BF), values above U+10FFFF and truncated sequences are all invalid. */
static int utf8_decode(const unsigned char *s, size_t n, int32_t *cp) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    int len;
    int32_t v;
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        unsigned b = s[i];
        if (b < lo || b > hi) return 0;
        lo = 0x80, hi = 0xBF;
        v = (v << 6) | (int32_t)(b & 0x3F);
    }
    *cp = v;
    return len;
}

/* Steps 1-2: decodes text[0..len) into s->text, dropping NUL, U+FFFD and C* (except
 * \t\n\r), mapping \t\n\r and Zs to ' ', and putting spaces around CJK ideographs.
 * `base` is the slice's byte offset in the caller's text, for error messages. */
static gq_status clean_text(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                            scratch *s, gq_err *err) {
    const unsigned char *p = (const unsigned char *)text;
    s->text.n = 0;
    if (len > SIZE_MAX / 4 || cp_reserve(&s->text, 3 * len + 1) != 0)
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for %zu bytes of text", what, len);
    int32_t *o = s->text.v;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        int k = utf8_decode(p + i, len - i, &c);
        if (k == 0) {
            if (tok->policy == GQ_UTF8_STRICT)
                return gq_fail(err, GQ_ERR_UTF8, "%s: invalid UTF-8 at byte offset %zu (0x%02X)", what, base + i,
                               p[i]);
            c = 0xFFFD;
            k = 1;
        }
        i += (size_t)k;
        if (c == '\t' || c == '\n' || c == '\r') {
            o[n++] = ' ';
            continue;
        }
        if (c == 0 || c == 0xFFFD) continue;
        utf8proc_category_t cat = utf8proc_category(c);
        if (cat == UTF8PROC_CATEGORY_CN || cat >= UTF8PROC_CATEGORY_CC) continue; /* Cn, Cc, Cf, Cs, Co */
        if (cat == UTF8PROC_CATEGORY_ZS) {
            o[n++] = ' ';
        } else if (is_cjk(c)) {
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
    if (ids_reserve(out, n < MAX_WORD_CHARS ? n : MAX_WORD_CHARS) != 0)
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
    if (n > MAX_WORD_CHARS) {
        out->v[out->n++] = tok->unk;
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
            id = vocab_find(tok, start > 0, buf + off[start], off[end] - off[start]);
            if (id >= 0) break;
        }
        if (id < 0) { /* one position cannot match: the whole piece is unknown */
            out->n = first;
            out->v[out->n++] = tok->unk;
            return GQ_OK;
        }
        out->v[out->n++] = id;
        start = end;
    }
    return GQ_OK;
}

/* Steps 3-5 for one whitespace-separated word w[0..n). */
static gq_status do_word(const gq_tok *tok, const int32_t *w, size_t n, scratch *s, gq_ids *out, gq_err *err) {
    /* Python str.lower(): full mappings (only U+0130 expands) and final sigma. */
    s->lower.n = 0;
    if (cp_reserve(&s->lower, 2 * n) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for a word");
    int32_t *lo = s->lower.v;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = w[i];
        if (c == 0x130) {
            lo[m++] = 'i';
            lo[m++] = 0x307;
        } else if (c == 0x3A3) {
            lo[m++] = final_sigma(w, n, i) ? 0x3C2 : 0x3C3;
        } else {
            lo[m++] = utf8proc_tolower(c);
        }
    }
    /* NFD: full canonical decomposition of each code point, then canonical ordering. */
    cpbuf *d = &s->nfd;
    d->n = 0;
    if (cp_reserve(d, m) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for a word");
    for (size_t i = 0; i < m; i++) {
        for (;;) {
            utf8proc_ssize_t k = utf8proc_decompose_char(lo[i], d->v + d->n, (utf8proc_ssize_t)(d->cap - d->n),
                                                         UTF8PROC_DECOMPOSE, NULL);
            if (k < 0) return gq_fail(err, GQ_ERR_ARG, "cannot decompose U+%04X", (unsigned)lo[i]);
            if ((size_t)k <= d->cap - d->n) {
                d->n += (size_t)k;
                break;
            }
            if (cp_reserve(d, (size_t)k) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for a word");
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
    /* Drop Mn, split off punctuation, WordPiece each piece. */
    size_t start = 0, k = 0;
    for (size_t i = 0; i < d->n; i++) {
        int32_t c = d->v[i];
        if (utf8proc_category(c) == UTF8PROC_CATEGORY_MN) continue;
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
                                scratch *s, gq_ids *out, gq_err *err) {
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

/* Index into SPECIAL of the special token that text starts with (its length in *len), or
 * -1. Only tokens the vocab has count. */
static int special_at(const gq_tok *tok, const char *text, size_t *len) {
    if (text[0] != '[') return -1;
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(SPECIAL[i]);
        if (tok->special_id[i] >= 0 && strncmp(text, SPECIAL[i], n) == 0) {
            *len = n;
            return i;
        }
    }
    return -1;
}

/* The whole pipeline: the text between special-token strings goes through steps 1-5;
 * each special token becomes its id. Splitting the raw bytes is safe for UTF-8, whose
 * multi-byte sequences never contain ASCII bytes. */
static gq_status tokenize(const gq_tok *tok, const char *text, const char *what, scratch *s, gq_ids *out,
                          gq_err *err) {
    size_t len = strlen(text), seg = 0, i = 0, n = 0;
    for (;;) {
        int sp = -1;
        while (i < len && (sp = special_at(tok, text + i, &n)) < 0) i++;
        gq_status st = tokenize_plain(tok, text + seg, i - seg, seg, what, s, out, err);
        if (st != GQ_OK || sp < 0) return st;
        if (ids_reserve(out, 1) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
        out->v[out->n++] = tok->special_id[sp];
        seg = i += n;
    }
}

/* ---- public entry points ---- */

/* Appends to out (owned by the caller); on failure out keeps what it had plus possibly
 * some ids of this text. */
gq_status gq_tok_tokenize(const gq_tok *tok, const char *text, gq_ids *out, gq_err *err) {
    if (!tok || !text || !out) return gq_fail(err, GQ_ERR_ARG, "gq_tok_tokenize: NULL argument");
    scratch s = {0};
    gq_status st = tokenize(tok, text, "text", &s, out, err);
    scratch_free(&s);
    return st;
}

/* max_len: 0 = no truncation; otherwise at least 2 for a single text and 3 for a pair
 * (room for the special tokens), else GQ_ERR_ARG. On any failure out->n is 0. */
gq_status gq_tok_encode(const gq_tok *tok, const char *a, const char *b, int max_len, gq_ids *out, gq_err *err) {
    if (!tok || !a || !out) return gq_fail(err, GQ_ERR_ARG, "gq_tok_encode: NULL argument");
    out->n = 0;
    int specials = b ? 3 : 2;
    if (max_len < 0 || (max_len > 0 && max_len < specials))
        return gq_fail(err, GQ_ERR_ARG, "max_len %d leaves no room for the %d special tokens", max_len, specials);
    if (ids_reserve(out, 16) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
    out->v[out->n++] = tok->cls;
    scratch s = {0};
    gq_status st = tokenize(tok, a, b ? "first text" : "text", &s, out, err);
    int la = out->n - 1;
    if (st == GQ_OK && b) st = tokenize(tok, b, "second text", &s, out, err);
    scratch_free(&s);
    if (st == GQ_OK && ids_reserve(out, 2) != 0) st = gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
    if (st != GQ_OK) {
        out->n = 0;
        return st;
    }
    int lb = out->n - 1 - la;
    int ta = la, tb = lb; /* kept lengths: pop from the longer side, ties from b */
    if (max_len > 0) {
        while (ta + tb + specials > max_len) {
            if (ta > tb) ta--;
            else tb--;
        }
        /* a single text has lb = 0, so the loop above only ever shortened a */
    }
    int32_t *v = out->v;
    if (b) memmove(v + 1 + ta + 1, v + 1 + la, (size_t)tb * sizeof *v);
    v[1 + ta] = tok->sep;
    if (b) v[1 + ta + 1 + tb] = tok->sep;
    out->n = specials + ta + tb;
    return GQ_OK;
}
