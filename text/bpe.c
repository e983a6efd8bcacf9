/* bpe: RoBERTa's tokenizer, byte-level BPE as HF's `tokenizers` library does it (the
 * fast RobertaTokenizer): decode UTF-8 -> a space in front when add_prefix_space and the
 * text does not start with one -> split with GPT-2's pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (by hand: letters, numbers and White_Space from utf8proc) -> each piece's UTF-8 bytes
 * as GPT-2's byte symbols -> merges applied lowest rank first -> ids.
 *
 * The merges of a piece run on a linked list of its symbols with a binary heap of
 * candidate pairs keyed by (rank, position), as the library does, so a piece of n bytes
 * costs O(n log n) however long it is. Nothing is cached between calls.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

/* Limits on merges.txt, checked while it is read: RoBERTa's has 50k lines. */
#define MAX_MERGES_BYTES ((size_t)1 << 28)
#define MAX_MERGE_LINE_BYTES (2 * GQ_TOK_MAX_PIECE_BYTES + 1)

typedef struct {
    uint64_t key; /* (left id << 32) | right id */
    int32_t rank, id;
} merge;

typedef struct {
    merge *slot;        /* (mask + 1) open addressing; rank -1 = empty */
    uint32_t mask;
    int32_t byte_id[256]; /* id of each byte's symbol, -1 when the vocab lacks it */
    int prefix_space;
} bpe;

static void bpe_free(void *p) {
    bpe *b = p;
    if (b) free(b->slot);
    free(b);
}

static uint32_t merge_hash(uint64_t key) { return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32); }

static const merge *merge_find(const bpe *b, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = merge_hash(key) & b->mask;; i = (i + 1) & b->mask) {
        if (b->slot[i].rank < 0) return NULL;
        if (b->slot[i].key == key) return &b->slot[i];
    }
}

/* A pair listed twice keeps its later rank, as the library's map of merges does. */
static void merge_add(bpe *b, int32_t left, int32_t right, int32_t rank, int32_t id) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t i = merge_hash(key) & b->mask;
    while (b->slot[i].rank >= 0 && b->slot[i].key != key) i = (i + 1) & b->mask;
    b->slot[i] = (merge){key, rank, id};
}

/* ---- GPT-2's byte symbols ---- */

/* The code point GPT-2's bytes_to_unicode gives byte c: printable Latin-1 bytes stand for
 * themselves, the other 68 are numbered from U+0100 in byte order. */
static int32_t byte_symbol(int c) {
    if ((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) return c;
    int k = 0;
    for (int d = 0; d < c; d++) k += !((d >= '!' && d <= '~') || (d >= 0xA1 && d <= 0xAC) || (d >= 0xAE && d <= 0xFF));
    return 0x100 + k;
}

/* ---- loading ---- */

/* vocab.json: an object of token -> id. Ids may leave gaps (their piece is NULL) but may
 * not repeat. */
static gq_status read_vocab_json(const char *path, gq_vocab *v, gq_err *err) {
    char *text = NULL;
    gq_status st = gq_read_file(path, GQ_TOK_MAX_VOCAB_BYTES, &text, NULL, err);
    if (st != GQ_OK) return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: not a JSON object of token -> id", path);
    }
    size_t bytes = 0;
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        size_t len = strlen(e->string);
        if (d < 0 || d >= GQ_TOK_MAX_VOCAB || d != (int)d || len > GQ_TOK_MAX_PIECE_BYTES) {
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: token '%.64s' needs an integer id in [0, %d) and at most %d bytes",
                         path, e->string, GQ_TOK_MAX_VOCAB, GQ_TOK_MAX_PIECE_BYTES);
            break;
        }
        if ((int)d >= n) n = (int)d + 1;
        bytes += len + 1;
    }
    char *store = st == GQ_OK && n > 0 ? malloc(bytes) : NULL;
    if (st == GQ_OK && n == 0) st = gq_fail(err, GQ_ERR_FORMAT, "%s: vocab is empty", path);
    else if (st == GQ_OK && !store) st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    if (st == GQ_OK) st = gq_vocab_init(v, store, n, path, err);
    else free(store);
    char *p = store;
    for (const cJSON *e = root->child; st == GQ_OK && e; e = e->next) {
        int id = (int)e->valuedouble;
        if (v->piece[id]) {
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: id %d is given to both '%.64s' and '%.64s'", path, id, v->piece[id],
                         e->string);
            break;
        }
        size_t len = strlen(e->string);
        memcpy(p, e->string, len + 1);
        gq_vocab_add(v, id, p, len);
        p += len + 1;
    }
    cJSON_Delete(root);
    return st;
}

/* One line of merges.txt, "left right": their ids and the id of their concatenation. */
static gq_status parse_merge(const gq_tok *tok, const char *path, size_t line, char *s, int32_t ids[3], gq_err *err) {
    char *sp = strchr(s, ' ');
    if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' '))
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line %zu: expected two tokens separated by one space", path, line);
    size_t ll = (size_t)(sp - s), rl = strlen(sp + 1);
    ids[0] = gq_vocab_find(&tok->vocab, NULL, s, ll);
    ids[1] = gq_vocab_find(&tok->vocab, NULL, sp + 1, rl);
    memmove(sp, sp + 1, rl + 1); /* the concatenation, in place */
    ids[2] = gq_vocab_find(&tok->vocab, NULL, s, ll + rl);
    if (ids[0] < 0 || ids[1] < 0)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line %zu: token '%.*s' is not in vocab.json", path, line,
                       ids[0] < 0 ? (int)ll : (int)rl, ids[0] < 0 ? s : s + ll);
    if (ids[2] < 0)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line %zu: the merged token '%s' is not in vocab.json", path, line, s);
    return GQ_OK;
}

/* merges.txt: one merge a line, rank = order; lines starting "#version" are skipped. */
static gq_status read_merges(const char *path, gq_tok *tok, bpe *b, gq_err *err) {
    char *text = NULL;
    size_t len = 0;
    const gq_text_limits lim = {MAX_MERGES_BYTES, GQ_TOK_MAX_VOCAB, MAX_MERGE_LINE_BYTES};
    gq_status st = gq_read_text(path, &lim, &text, &len, err);
    if (st != GQ_OK) return st;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    uint32_t cap = 16;
    while (cap < 2 * lines) cap *= 2;
    b->mask = cap - 1;
    b->slot = gq_malloc_array(cap, sizeof *b->slot);
    if (!b->slot) st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for %zu merges", path, lines);
    else for (uint32_t i = 0; i < cap; i++) b->slot[i].rank = -1;
    int32_t rank = 0;
    size_t line = 0;
    for (char *p = text, *end = text + len; st == GQ_OK && p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        *e = '\0';
        if (e > p && e[-1] == '\r') e[-1] = '\0';
        line++;
        int32_t ids[3] = {-1, -1, -1};
        if (strncmp(p, "#version", 8) != 0 && (st = parse_merge(tok, path, line, p, ids, err)) == GQ_OK)
            merge_add(b, ids[0], ids[1], rank++, ids[2]);
        p = e + 1;
    }
    free(text);
    return st;
}

static gq_status tokenize_bpe(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                              gq_tok_scratch *s, gq_ids *out, gq_err *err);
static void scratch_own_free(void *own);
static const gq_tok_ops BPE_OPS = {"bpe", tokenize_bpe, scratch_own_free, bpe_free};

static const char *const SPECIAL[GQ_TOK_MAX_SPECIAL] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>"};

/* Fills tok (zeroed by the caller, freed by it on failure). */
gq_status gq_bpe_load(const char *vocab_json, const char *merges_txt, int add_prefix_space, gq_tok *tok,
                      gq_err *err) {
    bpe *b = calloc(1, sizeof *b);
    if (!b) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", vocab_json);
    b->prefix_space = add_prefix_space;
    tok->ops = &BPE_OPS;
    tok->impl = b;
    gq_status st = read_vocab_json(vocab_json, &tok->vocab, err);
    if (st == GQ_OK) st = read_merges(merges_txt, tok, b, err);
    if (st != GQ_OK) return st;
    for (int c = 0; c < 256; c++) {
        utf8proc_uint8_t u[4];
        utf8proc_ssize_t n = utf8proc_encode_char(byte_symbol(c), u);
        b->byte_id[c] = gq_vocab_find(&tok->vocab, NULL, (const char *)u, (size_t)n);
    }
    for (int i = 0; i < GQ_TOK_MAX_SPECIAL; i++) {
        int32_t id = gq_tok_id(tok, SPECIAL[i]);
        if (id >= 0) tok->special[tok->nspecial++] = (gq_tok_special){SPECIAL[i], id, i == 4};
    }
    tok->cls = gq_tok_id(tok, "<s>");
    tok->sep = gq_tok_id(tok, "</s>");
    if (tok->cls < 0 || tok->sep < 0) return gq_fail(err, GQ_ERR_FORMAT, "%s: vocab has no <s> or no </s>", vocab_json);
    tok->pair_seps = 2;
    tok->trunc = GQ_TRUNC_HALVES;
    return GQ_OK;
}

/* ---- pre-tokenization: GPT-2's pattern ---- */

enum { CLASS_SPACE, CLASS_LETTER, CLASS_NUMBER, CLASS_OTHER };

static int char_class(int32_t c) {
    if (gq_is_white_space(c)) return CLASS_SPACE;
    utf8proc_category_t k = utf8proc_category(c);
    if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) return CLASS_LETTER;
    if (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) return CLASS_NUMBER;
    return CLASS_OTHER;
}

/* Length of the contraction ('s 't 're 've 'm 'll 'd, lowercase only) at t[i..n), or 0. */
static size_t contraction(const int32_t *t, size_t n, size_t i) {
    if (t[i] != '\'' || i + 1 >= n) return 0;
    int32_t c = t[i + 1];
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
    if (i + 2 >= n) return 0;
    int32_t d = t[i + 2];
    return (c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l') ? 3 : 0;
}

/* End of the piece that the pattern matches at t[i] (i < n): the first alternative that
 * matches there wins, as in a backtracking regex. */
static size_t piece_end(const int32_t *t, size_t n, size_t i) {
    size_t k = contraction(t, n, i);
    if (k) return i + k;
    size_t j = t[i] == ' ' && i + 1 < n && char_class(t[i + 1]) != CLASS_SPACE ? i + 1 : i;
    int cls = char_class(t[j]);
    if (cls != CLASS_SPACE) { /* ` ?\p{L}+`, ` ?\p{N}+` or ` ?[^\s\p{L}\p{N}]+` */
        while (j < n && char_class(t[j]) == cls) j++;
        return j;
    }
    while (j < n && char_class(t[j]) == CLASS_SPACE) j++;
    /* `\s+(?!\S)` leaves the run's last character to the word after it; `\s+` takes a
     * run of one. */
    return j < n && j - i > 1 ? j - 1 : j;
}

/* ---- merges ---- */

typedef struct {
    int32_t id, prev, next; /* prev/next: neighbours in the list, -1 at the ends */
    int alive;
} symbol;

typedef struct {
    int32_t rank, pos, id;
} candidate;

typedef struct {
    unsigned char *bytes;
    symbol *sym;
    candidate *heap;
    size_t cap;     /* bytes and sym hold cap entries, heap 3 * cap */
} bpe_scratch;

static void scratch_own_free(void *own) {
    bpe_scratch *w = own;
    free(w->bytes);
    free(w->sym);
    free(w->heap);
    free(w);
}

static int scratch_reserve(gq_tok_scratch *s, size_t n) {
    if (!s->own && !(s->own = calloc(1, sizeof(bpe_scratch)))) return -1;
    bpe_scratch *w = s->own;
    if (n <= w->cap) return 0;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n) cap *= 2;
    if (cap > SIZE_MAX / 3 / sizeof(candidate)) return -1;
    unsigned char *bytes = realloc(w->bytes, cap);
    if (bytes) w->bytes = bytes;
    symbol *sym = realloc(w->sym, cap * sizeof *sym);
    if (sym) w->sym = sym;
    candidate *heap = realloc(w->heap, 3 * cap * sizeof *heap);
    if (heap) w->heap = heap;
    if (!bytes || !sym || !heap) return -1;
    w->cap = cap;
    return 0;
}

static int before(const candidate *a, const candidate *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(candidate *h, size_t *n, candidate c) {
    size_t i = (*n)++;
    for (; i > 0 && before(&c, &h[(i - 1) / 2]); i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
    h[i] = c;
}

static candidate heap_pop(candidate *h, size_t *n) {
    candidate top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* Pushes the merge of the symbol at pos with its right neighbour, if there is one. */
static void push_pair(const bpe *b, const symbol *sym, int32_t pos, candidate *heap, size_t *nh) {
    if (pos < 0 || sym[pos].next < 0) return;
    const merge *m = merge_find(b, sym[pos].id, sym[sym[pos].next].id);
    if (m) heap_push(heap, nh, (candidate){m->rank, pos, m->id});
}

/* The ids of one piece's bytes w->bytes[0..n) after every merge, appended to out. A byte
 * whose symbol the vocab lacks is left out, as the library's BPE without an unknown
 * token does. */
static gq_status merge_piece(const bpe *b, bpe_scratch *w, size_t n, gq_ids *out, gq_err *err) {
    symbol *sym = w->sym;
    int32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = b->byte_id[w->bytes[i]];
        if (id < 0) continue;
        sym[count] = (symbol){id, count - 1, -1, 1};
        if (count > 0) sym[count - 1].next = count;
        count++;
    }
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < count; i++) push_pair(b, sym, i, w->heap, &nh);
    while (nh > 0) {
        candidate c = heap_pop(w->heap, &nh);
        symbol *l = &sym[c.pos];
        if (!l->alive || l->next < 0) continue;
        const merge *m = merge_find(b, l->id, sym[l->next].id);
        if (!m || m->id != c.id) continue; /* a stale candidate: a neighbour merged since */
        symbol *r = &sym[l->next];
        l->id = c.id;
        r->alive = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = c.pos;
        push_pair(b, sym, l->prev, w->heap, &nh);
        push_pair(b, sym, c.pos, w->heap, &nh);
    }
    if (gq_ids_reserve(out, (size_t)count) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
    for (int32_t i = count > 0 ? 0 : -1; i >= 0; i = sym[i].next) out->v[out->n++] = sym[i].id;
    return GQ_OK;
}

static gq_status tokenize_bpe(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                              gq_tok_scratch *s, gq_ids *out, gq_err *err) {
    const bpe *b = tok->impl;
    gq_cpbuf *t = &s->text;
    gq_status st = gq_utf8_to_cps(tok, text, len, base, what, t, err);
    if (st != GQ_OK || t->n == 0) return st;
    if (b->prefix_space && t->v[0] != ' ') {
        memmove(t->v + 1, t->v, t->n * sizeof *t->v); /* gq_utf8_to_cps left room for one more */
        t->v[0] = ' ';
        t->n++;
    }
    for (size_t i = 0; i < t->n;) {
        size_t j = piece_end(t->v, t->n, i);
        if (j - i > (SIZE_MAX - 1) / 4 || scratch_reserve(s, 4 * (j - i)) != 0)
            return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for a word of %zu characters", what, j - i);
        bpe_scratch *w = s->own;
        size_t n = 0;
        for (size_t k = i; k < j; k++) n += (size_t)utf8proc_encode_char(t->v[k], w->bytes + n);
        if ((st = merge_piece(b, w, n, out, err)) != GQ_OK) return st;
        i = j;
    }
    return GQ_OK;
}
