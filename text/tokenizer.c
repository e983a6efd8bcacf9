/* tokenizer: the kind-independent half of glueq's tokenizers (see tokenizer.h and
 * tok_internal.h): the vocabulary table, UTF-8 decoding, the special-token strings in raw
 * text, the template ([CLS] a [SEP] b [SEP] or <s> a </s></s> b </s>), truncation, and
 * choosing the kind from a model directory. wordpiece.c and bpe.c do the rest.
 */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- vocabulary (FNV-1a, 32 bit: incremental, so that "##" + piece needs no copy) ---- */

#define FNV_BASIS 2166136261u
static uint32_t fnv(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

gq_status gq_vocab_init(gq_vocab *v, char *store, int n, const char *what, gq_err *err) {
    v->store = store;
    v->n = n;
    uint32_t cap = 16;
    while (cap < 2 * (uint32_t)n) cap *= 2; /* load factor <= 1/2 keeps probes short */
    v->mask = cap - 1;
    v->piece = gq_calloc_array((size_t)n, sizeof *v->piece);
    v->plen = gq_calloc_array((size_t)n, sizeof *v->plen);
    v->phash = gq_calloc_array((size_t)n, sizeof *v->phash);
    v->slot = gq_malloc_array(cap, sizeof *v->slot);
    if (!v->piece || !v->plen || !v->phash || !v->slot)
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for %d tokens", what, n);
    memset(v->slot, 0xff, (size_t)cap * sizeof *v->slot);
    return GQ_OK;
}

void gq_vocab_add(gq_vocab *v, int32_t id, const char *p, size_t len) {
    v->piece[id] = p;
    v->plen[id] = (uint32_t)len;
    v->phash[id] = fnv(FNV_BASIS, p, len);
    uint32_t i = v->phash[id] & v->mask;
    while (v->slot[i] >= 0) {
        int32_t o = v->slot[i];
        if (v->phash[o] == v->phash[id] && v->plen[o] == len && memcmp(v->piece[o], p, len) == 0) break;
        i = (i + 1) & v->mask;
    }
    v->slot[i] = id;
}

int32_t gq_vocab_find(const gq_vocab *v, const char *prefix, const char *s, size_t n) {
    size_t pl = prefix ? strlen(prefix) : 0;
    uint32_t h = fnv(fnv(FNV_BASIS, prefix, pl), s, n);
    for (uint32_t i = h & v->mask;; i = (i + 1) & v->mask) {
        int32_t id = v->slot[i];
        if (id < 0) return -1;
        if (v->phash[id] != h || v->plen[id] != pl + n) continue;
        const char *p = v->piece[id];
        if ((pl == 0 || memcmp(p, prefix, pl) == 0) && memcmp(p + pl, s, n) == 0) return id;
    }
}

void gq_vocab_free(gq_vocab *v) {
    free(v->store);
    free(v->piece);
    free(v->plen);
    free(v->phash);
    free(v->slot);
}

/* ---- id arrays and code-point buffers ---- */

void gq_ids_free(gq_ids *ids) {
    if (!ids) return;
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

int gq_ids_reserve(gq_ids *ids, size_t extra) {
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

int gq_cp_reserve(gq_cpbuf *b, size_t extra) {
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

static void scratch_free(const gq_tok *tok, gq_tok_scratch *s) {
    free(s->text.v);
    free(s->word.v);
    free(s->nfd.v);
    if (s->own) tok->ops->scratch_free(s->own);
}

/* ---- UTF-8 and Unicode ---- */

int gq_utf8_decode(const unsigned char *s, size_t n, int32_t *cp) {
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

gq_status gq_utf8_to_cps(const gq_tok *tok, const char *text, size_t len, size_t base, const char *what,
                         gq_cpbuf *b, gq_err *err) {
    const unsigned char *p = (const unsigned char *)text;
    b->n = 0;
    if (gq_cp_reserve(b, len + 1) != 0)
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for %zu bytes of text", what, len);
    for (size_t i = 0; i < len;) {
        int32_t c;
        int k = gq_utf8_decode(p + i, len - i, &c);
        if (k == 0) {
            if (tok->policy == GQ_UTF8_STRICT)
                return gq_fail(err, GQ_ERR_UTF8, "%s: invalid UTF-8 at byte offset %zu (0x%02X)", what, base + i,
                               p[i]);
            c = 0xFFFD;
            k = 1;
        }
        b->v[b->n++] = c;
        i += (size_t)k;
    }
    return GQ_OK;
}

int gq_is_white_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Byte length of the White_Space character that s[0..n) ends with, or 0. */
static size_t white_space_suffix(const char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        int32_t c;
        if (gq_utf8_decode((const unsigned char *)s + n - k, k, &c) == (int)k) return gq_is_white_space(c) ? k : 0;
    }
    return 0;
}

/* ---- loading ---- */

void gq_tok_free(gq_tok *tok) {
    if (!tok) return;
    gq_vocab_free(&tok->vocab);
    if (tok->impl && tok->ops && tok->ops->impl_free) tok->ops->impl_free(tok->impl);
    free(tok);
}

/* The uncased WordPiece of BERT-base-uncased and DistilBERT: HF BertTokenizer's defaults. */
static const gq_wordpiece_opts UNCASED = {1, 1, 1};

static gq_status finish_load(gq_tok *tok, gq_status st, gq_tok **out) {
    if (st != GQ_OK) {
        gq_tok_free(tok);
        return st;
    }
    tok->policy = GQ_UTF8_STRICT;
    *out = tok;
    return GQ_OK;
}

gq_status gq_tok_load(const char *vocab_path, gq_tok **out, gq_err *err) {
    *out = NULL;
    if (!vocab_path) return gq_fail(err, GQ_ERR_ARG, "vocab path is NULL");
    gq_tok *tok = calloc(1, sizeof *tok);
    if (!tok) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", vocab_path);
    return finish_load(tok, gq_wordpiece_load(vocab_path, &UNCASED, tok, err), out);
}

void gq_tok_set_utf8_policy(gq_tok *tok, gq_utf8_policy policy) {
    if (tok) tok->policy = policy;
}

const char *gq_tok_piece(const gq_tok *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->vocab.n) return NULL;
    return tok->vocab.piece[id];
}

int32_t gq_tok_id(const gq_tok *tok, const char *piece) {
    if (!tok || !piece) return -1;
    return gq_vocab_find(&tok->vocab, NULL, piece, strlen(piece));
}

int gq_tok_vocab_size(const gq_tok *tok) { return tok ? tok->vocab.n : 0; }

const char *gq_tok_kind(const gq_tok *tok) { return tok ? tok->ops->name : NULL; }

/* ---- encoding ---- */

/* The special token that text starts with (its length in *len), or NULL. The special
 * strings of glueq's kinds are no prefix of one another, so the first match is the only one. */
static const gq_tok_special *special_at(const gq_tok *tok, const char *text, size_t *len) {
    for (int i = 0; i < tok->nspecial; i++) {
        const gq_tok_special *sp = &tok->special[i];
        size_t n = strlen(sp->text);
        if (text[0] == sp->text[0] && strncmp(text, sp->text, n) == 0) {
            *len = n;
            return sp;
        }
    }
    return NULL;
}

/* The text between special-token strings goes through the kind's tokenizer; each special
 * token becomes its id. Splitting the raw bytes is safe for UTF-8, whose multi-byte
 * sequences never contain ASCII bytes. */
static gq_status tokenize(const gq_tok *tok, const char *text, const char *what, gq_tok_scratch *s, gq_ids *out,
                          gq_err *err) {
    size_t len = strlen(text), seg = 0, i = 0, n = 0;
    for (;;) {
        const gq_tok_special *sp = NULL;
        while (i < len && !(sp = special_at(tok, text + i, &n))) i++;
        size_t end = i;
        if (sp && sp->lstrip)
            for (size_t k; end > seg && (k = white_space_suffix(text + seg, end - seg)) > 0;) end -= k;
        gq_status st = end > seg ? tok->ops->tokenize(tok, text + seg, end - seg, seg, what, s, out, err) : GQ_OK;
        if (st != GQ_OK || !sp) return st;
        if (gq_ids_reserve(out, 1) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
        out->v[out->n++] = sp->id;
        seg = i += n;
    }
}

/* Appends to out (owned by the caller); on failure out keeps what it had plus possibly
 * some ids of this text. */
gq_status gq_tok_tokenize(const gq_tok *tok, const char *text, gq_ids *out, gq_err *err) {
    if (!tok || !text || !out) return gq_fail(err, GQ_ERR_ARG, "gq_tok_tokenize: NULL argument");
    gq_tok_scratch s = {0};
    gq_status st = tokenize(tok, text, "text", &s, out, err);
    scratch_free(tok, &s);
    return st;
}

/* Lengths (*ta, *tb) that segments of la and lb tokens keep within `room` tokens. */
static void truncate_pair(gq_tok_trunc rule, int la, int lb, int room, int *ta, int *tb) {
    *ta = la, *tb = lb;
    if (la + lb <= room) return;
    if (rule == GQ_TRUNC_POP_LONGER) {
        while (*ta + *tb > room) {
            if (*ta > *tb) --*ta;
            else --*tb;
        }
        return;
    }
    /* the `tokenizers` library's longest_first (utils/truncation.rs) */
    int n1 = la < lb ? la : lb, n2 = n1 > room ? n1 : (n1 > room - n1 ? n1 : room - n1);
    if (n1 + n2 > room) {
        n1 = room / 2;
        n2 = n1 + room % 2;
    }
    *ta = la > lb ? n2 : n1;
    *tb = la > lb ? n1 : n2;
}

/* max_len: 0 = no truncation; otherwise at least the number of special tokens, else
 * GQ_ERR_ARG. On any failure out->n is 0. */
gq_status gq_tok_encode(const gq_tok *tok, const char *a, const char *b, int max_len, gq_ids *out, gq_err *err) {
    if (!tok || !a || !out) return gq_fail(err, GQ_ERR_ARG, "gq_tok_encode: NULL argument");
    out->n = 0;
    int specials = b ? 2 + tok->pair_seps : 2;
    if (max_len < 0 || (max_len > 0 && max_len < specials))
        return gq_fail(err, GQ_ERR_ARG, "max_len %d leaves no room for the %d special tokens", max_len, specials);
    if (gq_ids_reserve(out, 16) != 0) return gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
    out->v[out->n++] = tok->cls;
    gq_tok_scratch s = {0};
    gq_status st = tokenize(tok, a, b ? "first text" : "text", &s, out, err);
    int la = out->n - 1;
    if (st == GQ_OK && b) st = tokenize(tok, b, "second text", &s, out, err);
    scratch_free(tok, &s);
    if (st == GQ_OK && gq_ids_reserve(out, (size_t)specials) != 0)
        st = gq_fail(err, GQ_ERR_NOMEM, "out of memory for token ids");
    if (st != GQ_OK) {
        out->n = 0;
        return st;
    }
    int lb = out->n - 1 - la, ta = la, tb = lb;
    if (max_len > 0) truncate_pair(tok->trunc, la, lb, max_len - specials, &ta, &tb);
    int32_t *v = out->v;
    int seps = b ? tok->pair_seps : 1;
    if (b) memmove(v + 1 + ta + seps, v + 1 + la, (size_t)tb * sizeof *v);
    for (int i = 0; i < seps; i++) v[1 + ta + i] = tok->sep;
    if (b) v[1 + ta + seps + tb] = tok->sep;
    out->n = specials + ta + tb;
    out->seg_a = ta + 2;
    return GQ_OK;
}

/* ---- a model directory: which kind, with which settings ---- */

typedef enum { KIND_NONE, KIND_WORDPIECE, KIND_BPE } tok_kind;

typedef struct {
    const char *name;
    tok_kind kind;
} kind_name;

static const kind_name CLASSES[] = {
    {"BertTokenizer", KIND_WORDPIECE},   {"BertTokenizerFast", KIND_WORDPIECE},
    {"DistilBertTokenizer", KIND_WORDPIECE}, {"DistilBertTokenizerFast", KIND_WORDPIECE},
    {"RobertaTokenizer", KIND_BPE},      {"RobertaTokenizerFast", KIND_BPE},
};
static const kind_name MODEL_TYPES[] = {{"bert", KIND_WORDPIECE}, {"distilbert", KIND_WORDPIECE}, {"roberta", KIND_BPE}};

static tok_kind kind_of(const kind_name *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return t[i].kind;
    return KIND_NONE;
}

/* The special tokens each kind's settings may name: the strings glueq's kinds use. */
static const char *const TOKEN_KEYS[] = {"cls_token", "sep_token", "unk_token", "pad_token", "mask_token", "bos_token",
                                         "eos_token"};
static const char *const WORDPIECE_TOKENS[] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]", NULL, NULL};
static const char *const BPE_TOKENS[] = {"<s>", "</s>", "<unk>", "<pad>", "<mask>", "<s>", "</s>"};

typedef struct {
    const char *path;  /* tokenizer_config.json, for messages */
    tok_kind kind;     /* from tokenizer_class; KIND_NONE when absent */
    int lower, strip, chinese, prefix_space; /* -1 = absent or null */
} tok_settings;

static gq_status read_json_object(const char *path, cJSON **out, gq_err *err) {
    char *text = NULL;
    gq_status st = gq_read_file(path, (size_t)1 << 24, &text, NULL, err);
    if (st != GQ_OK) return st;
    *out = cJSON_Parse(text);
    free(text);
    if (cJSON_IsObject(*out)) return GQ_OK;
    cJSON_Delete(*out);
    *out = NULL;
    return gq_fail(err, GQ_ERR_FORMAT, "%s: not a JSON object", path);
}

/* A true/false setting: *v = 1 or 0, or -1 when absent or null. */
static gq_status get_bool(const cJSON *root, const char *path, const char *key, int *v, gq_err *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    *v = -1;
    if (!j || cJSON_IsNull(j)) return GQ_OK;
    if (!cJSON_IsBool(j)) return gq_fail(err, GQ_ERR_FORMAT, "%s: %s must be true, false or null", path, key);
    *v = cJSON_IsTrue(j);
    return GQ_OK;
}

/* Settings that change tokenization in ways glueq does not implement. */
static gq_status check_unsupported(const cJSON *root, const char *path, gq_err *err) {
    const cJSON *j;
    if ((j = cJSON_GetObjectItemCaseSensitive(root, "do_basic_tokenize")) && cJSON_IsFalse(j))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: do_basic_tokenize false is not supported", path);
    if ((j = cJSON_GetObjectItemCaseSensitive(root, "split_special_tokens")) && cJSON_IsTrue(j))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: split_special_tokens true is not supported", path);
    if ((j = cJSON_GetObjectItemCaseSensitive(root, "never_split")) && cJSON_GetArraySize(j) > 0)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: never_split is not supported", path);
    if ((j = cJSON_GetObjectItemCaseSensitive(root, "truncation_side")) && cJSON_IsString(j) &&
        strcmp(j->valuestring, "right") != 0)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: truncation_side '%s' is not supported (only right)", path,
                       j->valuestring);
    return GQ_OK;
}

/* The text of a special-token setting: a string or an object with "content". */
static const char *token_text(const cJSON *j) {
    if (cJSON_IsString(j)) return j->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* Special-token settings and added tokens must be the kind's own: glueq's kinds split
 * raw text at exactly those strings. */
static gq_status check_tokens(const cJSON *root, const char *path, tok_kind kind, gq_err *err) {
    const char *const *want = kind == KIND_BPE ? BPE_TOKENS : WORDPIECE_TOKENS;
    for (size_t i = 0; i < sizeof TOKEN_KEYS / sizeof *TOKEN_KEYS; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, TOKEN_KEYS[i]);
        if (!j || cJSON_IsNull(j) || !want[i]) continue;
        const char *t = token_text(j);
        if (!t || strcmp(t, want[i]) != 0)
            return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: %s '%.64s' is not supported (glueq uses %s)", path,
                           TOKEN_KEYS[i], t ? t : "?", want[i]);
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder");
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const char *t = token_text(e);
        int known = 0, lstrip = t && kind == KIND_BPE && strcmp(t, "<mask>") == 0;
        for (size_t i = 0; t && i < sizeof TOKEN_KEYS / sizeof *TOKEN_KEYS; i++) known |= want[i] && !strcmp(t, want[i]);
        const cJSON *ls = cJSON_GetObjectItemCaseSensitive(e, "lstrip");
        if (!known || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "rstrip")) ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "single_word")) || (ls && cJSON_IsTrue(ls) != lstrip))
            return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: added token '%.64s' is not supported (glueq has the %s "
                           "special tokens with HF's default stripping only)", path, t ? t : "?",
                           kind == KIND_BPE ? "RoBERTa" : "BERT");
    }
    return GQ_OK;
}

static gq_status read_settings(const char *path, tok_settings *s, cJSON **root, gq_err *err) {
    gq_status st = read_json_object(path, root, err);
    if (st != GQ_OK) return st;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(*root, "tokenizer_class");
    if (cls && !cJSON_IsNull(cls)) {
        if (!cJSON_IsString(cls)) return gq_fail(err, GQ_ERR_FORMAT, "%s: tokenizer_class must be a string", path);
        s->kind = kind_of(CLASSES, sizeof CLASSES / sizeof *CLASSES, cls->valuestring);
        if (s->kind == KIND_NONE)
            return gq_fail(err, GQ_ERR_UNSUPPORTED,
                           "%s: tokenizer_class '%.64s' is not supported (glueq reads BertTokenizer, "
                           "DistilBertTokenizer and RobertaTokenizer, and their Fast forms)", path, cls->valuestring);
    }
    if ((st = get_bool(*root, path, "do_lower_case", &s->lower, err)) != GQ_OK ||
        (st = get_bool(*root, path, "strip_accents", &s->strip, err)) != GQ_OK ||
        (st = get_bool(*root, path, "tokenize_chinese_chars", &s->chinese, err)) != GQ_OK ||
        (st = get_bool(*root, path, "add_prefix_space", &s->prefix_space, err)) != GQ_OK)
        return st;
    return check_unsupported(*root, path, err);
}

/* The kind from config.json's model_type; KIND_NONE when it says nothing glueq knows. */
static tok_kind model_type_kind(const char *dir) {
    char *path = gq_path_join(dir, "config.json");
    cJSON *root = NULL;
    gq_err ignored;
    tok_kind k = KIND_NONE;
    if (path && gq_file_exists(path) && read_json_object(path, &root, &ignored) == GQ_OK) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "model_type");
        if (cJSON_IsString(t)) k = kind_of(MODEL_TYPES, sizeof MODEL_TYPES / sizeof *MODEL_TYPES, t->valuestring);
    }
    cJSON_Delete(root);
    free(path);
    return k;
}

static gq_status require_file(const char *path, const char *why, gq_err *err) {
    if (gq_file_exists(path)) return GQ_OK;
    return gq_fail(err, GQ_ERR_IO, "%s: not found (%s)", path, why);
}

/* Loads the kind's files with the settings into tok (zeroed; freed by the caller on failure). */
static gq_status load_kind(const char *dir, const tok_settings *s, const cJSON *config, gq_tok *tok, gq_err *err) {
    char *vocab_txt = gq_path_join(dir, "vocab.txt"), *vocab_json = gq_path_join(dir, "vocab.json"),
         *merges = gq_path_join(dir, "merges.txt");
    gq_status st = vocab_txt && vocab_json && merges ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", dir);
    tok_kind kind = s->kind != KIND_NONE ? s->kind : model_type_kind(dir);
    if (st == GQ_OK && kind == KIND_NONE) {
        kind = gq_file_exists(vocab_json) ? KIND_BPE : gq_file_exists(vocab_txt) ? KIND_WORDPIECE : KIND_NONE;
        if (kind == KIND_NONE)
            st = gq_fail(err, GQ_ERR_IO, "%s: no tokenizer files (vocab.txt, or vocab.json and merges.txt)", dir);
    }
    if (st == GQ_OK && config) st = check_tokens(config, s->path, kind, err);
    if (st == GQ_OK && kind == KIND_WORDPIECE) {
        if (s->prefix_space == 1)
            st = gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: add_prefix_space applies to byte-level BPE, not WordPiece",
                         s->path);
        gq_wordpiece_opts o = {s->lower != 0, s->strip >= 0 ? s->strip : s->lower != 0, s->chinese != 0};
        if (st == GQ_OK) st = require_file(vocab_txt, "a WordPiece tokenizer reads it", err);
        if (st == GQ_OK) st = gq_wordpiece_load(vocab_txt, &o, tok, err);
    } else if (st == GQ_OK) {
        if (s->lower == 1 || s->strip == 1)
            st = gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: byte-level BPE neither lowercases nor strips accents", s->path);
        if (st == GQ_OK) st = require_file(vocab_json, "a byte-level BPE tokenizer reads it", err);
        if (st == GQ_OK) st = require_file(merges, "a byte-level BPE tokenizer reads it", err);
        if (st == GQ_OK) st = gq_bpe_load(vocab_json, merges, s->prefix_space == 1, tok, err);
    }
    free(vocab_txt);
    free(vocab_json);
    free(merges);
    return st;
}

gq_status gq_tok_load_dir(const char *model_dir, gq_tok **out, gq_err *err) {
    *out = NULL;
    if (!model_dir) return gq_fail(err, GQ_ERR_ARG, "model directory is NULL");
    char *path = gq_path_join(model_dir, "tokenizer_config.json");
    gq_tok *tok = calloc(1, sizeof *tok);
    tok_settings s = {path, KIND_NONE, -1, -1, -1, -1};
    cJSON *config = NULL;
    gq_status st = path && tok ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", model_dir);
    if (st == GQ_OK && gq_file_exists(path)) st = read_settings(path, &s, &config, err);
    if (st == GQ_OK) st = load_kind(model_dir, &s, config, tok, err);
    cJSON_Delete(config);
    free(path);
    return finish_load(tok, st, out);
}
