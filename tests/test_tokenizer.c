/* test_tokenizer: the WordPiece tokenizer against the reference ids of
 * fixtures/tokrefs/{tricky,rte-dev,mrpc-dev}.jsonl (made by independent reference
 * tokenizers, see fixtures/README.md), plus hand-made cases for what the fixtures do not
 * reach: invalid UTF-8 under both policies, truncation rules, over-long and unknown
 * words, Python's lowercasing rules, and broken vocab files; literal special tokens
 * against HF's BertTokenizer (tests/fixtures/gen/results/tok_special.json) and by hand. */
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "testtok.h"

static gq_tok *tok; /* the real 30522-token vocab, loaded once */

/* ---- tricky.jsonl: single texts ---- */

typedef struct {
    int rows, matched, reported;
} tally;

static void check_tricky(gq_test_ctx *t, const cJSON *j, void *ctx) {
    tally *c = ctx;
    const cJSON *text = cJSON_GetObjectItem(j, "text"), *want = cJSON_GetObjectItem(j, "ids");
    c->rows++;
    GQ_CHECK(t, cJSON_IsString(text) && cJSON_IsArray(want), "tricky row %d lacks text/ids", c->rows);
    if (!cJSON_IsString(text) || !cJSON_IsArray(want)) return;
    gq_ids ids = {0};
    gq_err err = {{0}};
    gq_status st = gq_tok_encode(tok, text->valuestring, NULL, 0, &ids, &err);
    GQ_CHECK(t, st == GQ_OK, "tricky row %d: %s", c->rows, err.msg);
    char what[160];
    snprintf(what, sizeof what, "tricky row %d %.100s", c->rows, text->valuestring);
    if (st == GQ_OK && gq_test_ids_equal(&ids, want, what, &c->reported)) c->matched++;
    gq_ids_free(&ids);
}

/* ---- {rte,mrpc}-dev.jsonl: pairs from the GLUE dev files ---- */

typedef struct {
    const gq_glue_set *set;
    const char *name;
    int rows, matched, reported;
    gq_ids ids;
} pair_tally;

static void check_pair(gq_test_ctx *t, const cJSON *j, void *ctx) {
    pair_tally *c = ctx;
    const cJSON *row = cJSON_GetObjectItem(j, "row");
    const cJSON *want = cJSON_GetObjectItem(j, "ids"), *want128 = cJSON_GetObjectItem(j, "ids128");
    c->rows++;
    int r = cJSON_IsNumber(row) ? row->valueint : -1;
    GQ_CHECK(t, r >= 0 && r < c->set->n, "%s: fixture row %d is not a row of dev.tsv", c->name, r);
    if (r < 0 || r >= c->set->n) return;
    const gq_glue_row *g = &c->set->rows[r];
    gq_err err = {{0}};
    int ok = 1;
    char what[64];
    for (int pass = 0; pass < 2; pass++) {
        gq_status st = gq_tok_encode(tok, g->a, g->b, pass ? 128 : 0, &c->ids, &err);
        GQ_CHECK(t, st == GQ_OK, "%s row %d: %s", c->name, r, err.msg);
        snprintf(what, sizeof what, "%s row %d %s", c->name, r, pass ? "ids128" : "ids");
        ok &= st == GQ_OK && gq_test_ids_equal(&c->ids, pass ? want128 : want, what, &c->reported);
    }
    c->matched += ok;
}

static void check_task(gq_test_ctx *t, const char *name, const char *fixture) {
    const gq_glue_task *task = gq_glue_task_find(name);
    char *root = gq_test_path(t, "assets/glue"), *path = gq_glue_split_path(task, root, "dev");
    gq_glue_set *set = NULL;
    gq_err err = {{0}};
    gq_status st = gq_glue_load(task, path, &set, &err);
    GQ_CHECK(t, st == GQ_OK, "%s", err.msg);
    free(root);
    free(path);
    if (st != GQ_OK) return;
    pair_tally c = {.set = set, .name = name};
    char *fixture_path = gq_test_path(t, fixture);
    int lines = gq_test_each_json_line(t, fixture_path, check_pair, &c);
    free(fixture_path);
    GQ_CHECK(t, lines == set->n, "%s: %d fixture lines for %d dev rows", name, lines, set->n);
    GQ_CHECK(t, c.matched == c.rows && c.rows > 0, "%s: %d of %d rows differ", name, c.rows - c.matched, c.rows);
    printf("%-5s %d/%d rows match (ids and ids128)\n", name, c.matched, c.rows);
    gq_ids_free(&c.ids);
    gq_glue_free(set);
}

/* ---- hand-made cases ---- */

/* Encodes with the real vocab and compares to the ids of a space-separated token list. */
static void expect(gq_test_ctx *t, const char *a, const char *b, int max_len, const char *tokens) {
    gq_ids got = {0}, want = {0};
    gq_err err = {{0}};
    gq_status st = gq_tok_encode(tok, a, b, max_len, &got, &err);
    GQ_CHECK(t, st == GQ_OK, "encode(%s | %s, %d): %s", a, b ? b : "-", max_len, err.msg);
    char *list = gq_strdup(tokens);
    want.v = malloc(strlen(tokens) * sizeof *want.v + sizeof *want.v);
    for (char *s = strtok(list, " "); s && want.v; s = strtok(NULL, " ")) {
        want.v[want.n] = gq_tok_id(tok, s);
        GQ_CHECK(t, want.v[want.n] >= 0, "test bug: '%s' is not in the vocab", s);
        want.n++;
    }
    int same = st == GQ_OK && got.n == want.n && memcmp(got.v, want.v, (size_t)got.n * sizeof *got.v) == 0;
    GQ_CHECK(t, same, "encode(%s | %s, %d) != %s", a, b ? b : "-", max_len, tokens);
    if (!same) {
        gq_test_print_ids("got ", got.v, got.n);
        gq_test_print_ids("want", want.v, want.n);
    }
    free(list);
    gq_ids_free(&got);
    gq_ids_free(&want);
}

/* Whether two texts tokenize to the same ids (for rules whose pieces are not in tricky). */
static int same_ids(const char *x, const char *y) {
    gq_ids a = {0}, b = {0};
    gq_err err = {{0}};
    int same = gq_tok_tokenize(tok, x, &a, &err) == GQ_OK && gq_tok_tokenize(tok, y, &b, &err) == GQ_OK &&
               a.n == b.n && memcmp(a.v, b.v, (size_t)a.n * sizeof *a.v) == 0;
    gq_ids_free(&a);
    gq_ids_free(&b);
    return same;
}

static void test_vocab_access(gq_test_ctx *t) {
    GQ_CHECK(t, gq_tok_vocab_size(tok) == 30522, "vocab size %d", gq_tok_vocab_size(tok));
    GQ_CHECK(t, gq_tok_id(tok, "[CLS]") == 101 && gq_tok_id(tok, "[SEP]") == 102 && gq_tok_id(tok, "[UNK]") == 100,
             "special ids %d %d %d", gq_tok_id(tok, "[CLS]"), gq_tok_id(tok, "[SEP]"), gq_tok_id(tok, "[UNK]"));
    GQ_CHECK(t, gq_tok_id(tok, "[PAD]") == 0, "[PAD] is %d", gq_tok_id(tok, "[PAD]"));
    const char *p = gq_tok_piece(tok, 7592);
    GQ_CHECK(t, p && strcmp(p, "hello") == 0, "piece 7592 is %s", p ? p : "NULL");
    GQ_CHECK(t, gq_tok_piece(tok, -1) == NULL && gq_tok_piece(tok, 30522) == NULL, "out-of-range piece not NULL");
    GQ_CHECK(t, gq_tok_id(tok, "no-such-token-here") == -1, "unknown token has an id");
    GQ_CHECK(t, gq_tok_id(NULL, "a") == -1 && gq_tok_piece(NULL, 0) == NULL && gq_tok_vocab_size(NULL) == 0,
             "NULL tokenizer not handled");
    for (int32_t id = 0; id < gq_tok_vocab_size(tok); id++) /* every line round-trips (no duplicates) */
        if (gq_tok_id(tok, gq_tok_piece(tok, id)) != id) {
            GQ_CHECK(t, 0, "piece %d '%s' looks up as %d", id, gq_tok_piece(tok, id),
                     gq_tok_id(tok, gq_tok_piece(tok, id)));
            break;
        }
}

static void test_truncation(gq_test_ctx *t) {
    expect(t, "a b c d e", "x y z", 0, "[CLS] a b c d e [SEP] x y z [SEP]");
    /* 11 > 8: pop a (5>3), a (4>3), then the 3-3 tie from b */
    expect(t, "a b c d e", "x y z", 8, "[CLS] a b c [SEP] x y [SEP]");
    expect(t, "x y z", "a b c d e", 8, "[CLS] x y z [SEP] a b [SEP]");
    expect(t, "a b c", "x y z", 8, "[CLS] a b c [SEP] x y [SEP]"); /* tie: from b */
    expect(t, "a b c", "x y z", 7, "[CLS] a b [SEP] x y [SEP]");
    expect(t, "a b c", "x y z", 9, "[CLS] a b c [SEP] x y z [SEP]"); /* exactly fits */
    expect(t, "a b c", "x y z", 3, "[CLS] [SEP] [SEP]");
    expect(t, "a b c d e", "", 6, "[CLS] a b c [SEP] [SEP]");
    expect(t, "a b c d e", NULL, 4, "[CLS] a b [SEP]");
    expect(t, "a b c d e", NULL, 2, "[CLS] [SEP]");
    expect(t, "unaffable", NULL, 4, "[CLS] una ##ffa [SEP]"); /* truncation may split a word */

    gq_ids ids = {0};
    gq_err err = {{0}};
    GQ_CHECK(t, gq_tok_encode(tok, "a", "b", 2, &ids, &err) == GQ_ERR_ARG, "pair with max_len 2 accepted");
    GQ_CHECK(t, strstr(err.msg, "max_len 2") != NULL, "message: %s", err.msg);
    GQ_CHECK(t, gq_tok_encode(tok, "a", NULL, 1, &ids, &err) == GQ_ERR_ARG, "single with max_len 1 accepted");
    GQ_CHECK(t, gq_tok_encode(tok, "a", NULL, -5, &ids, &err) == GQ_ERR_ARG, "negative max_len accepted");
    GQ_CHECK(t, ids.n == 0, "failed encode left %d ids", ids.n);
    /* out is replaced, its storage reused; tokenize appends */
    GQ_CHECK(t, gq_tok_encode(tok, "a b c d e f g h i j k l m n o p q r s t", NULL, 0, &ids, &err) == GQ_OK, "%s",
             err.msg);
    GQ_CHECK(t, gq_tok_encode(tok, "hello", NULL, 0, &ids, &err) == GQ_OK && ids.n == 3 && ids.v[1] == 7592,
             "re-encode gave %d ids", ids.n);
    GQ_CHECK(t, gq_tok_tokenize(tok, "world", &ids, &err) == GQ_OK && ids.n == 4 && ids.v[3] == 2088,
             "tokenize did not append: %d ids", ids.n);
    gq_ids_free(&ids);
    GQ_CHECK(t, ids.v == NULL && ids.n == 0, "gq_ids_free left storage");
    gq_ids_free(NULL);
}

static void test_words(gq_test_ctx *t) {
    char word[256];
    memset(word, 'a', 101);
    word[101] = '\0';
    expect(t, word, NULL, 0, "[CLS] [UNK] [SEP]"); /* 101 code points */
    memset(word, 0, sizeof word);
    for (int i = 0; i < 100; i++) memcpy(word + 2 * i, "\xc3\xa9", 2); /* 100 x U+00E9: 200 bytes, fits */
    GQ_CHECK(t, same_ids(word, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
             "100 accented letters are not 100 e's");
    /* The limit applies per piece, after punctuation splitting. */
    memset(word, 'x', 201);
    word[100] = '-';
    word[201] = '\0';
    GQ_CHECK(t, same_ids(word, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx - "
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
             "100 + '-' + 100 is not split before the length limit");
    /* One position without a match makes the whole piece [UNK], not just its tail. */
    GQ_CHECK(t, gq_tok_id(tok, "\xe2\x98\x83") < 0 && gq_tok_id(tok, "##\xe2\x98\x83") < 0, "test bug: snowman in vocab");
    expect(t, "hello snow\xe2\x98\x83man world", NULL, 0, "[CLS] hello [UNK] world [SEP]");
    /* Python str.lower(): final sigma (word end, skipping case-ignorables) and U+0130. */
    GQ_CHECK(t, !same_ids("\xce\xbf\xce\xb4\xce\xbf\xcf\x82", "\xce\xbf\xce\xb4\xce\xbf\xcf\x83"),
             "test bug: final and medial sigma tokenize alike");
    GQ_CHECK(t, same_ids("\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"), "ΟΔΟΣ -> οδος");
    GQ_CHECK(t, same_ids("\xce\x9f\xce\x94\xce\x9f\xce\xa3\xcc\x81", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82"),
             "ΟΔΟΣ + combining acute -> οδος (mark is case-ignorable)");
    GQ_CHECK(t, same_ids("\xce\x9f\xce\xa3\xce\x9f", "\xce\xbf\xcf\x83\xce\xbf"), "ΟΣΟ -> οσο");
    GQ_CHECK(t, same_ids("\xce\xa3", "\xcf\x83"), "lone Σ -> σ (no cased letter before)");
    GQ_CHECK(t, same_ids("1\xce\xa3", "1\xcf\x83"), "1Σ -> 1σ");
    GQ_CHECK(t, same_ids("\xce\x9f\xce\xa3.", "\xce\xbf\xcf\x82."), "ΟΣ. -> ος. ('.' is case-ignorable)");
    GQ_CHECK(t, same_ids("\xc4\xb0I", "ii"), "İI -> ii");
    /* Cleaning and splitting: controls vanish, Zs/\t separate, U+2028 splits words. */
    GQ_CHECK(t, same_ids("hello\xe2\x80\xa8world", "hello world"), "U+2028 does not split");
    GQ_CHECK(t, same_ids("hello\xe3\x80\x80world", "hello world"), "U+3000 does not split");
    GQ_CHECK(t, same_ids("hel\x01lo\xef\xbf\xbd", "hello"), "control/U+FFFD not dropped");
    GQ_CHECK(t, same_ids("\xe4\xb8\xad\xe6\x96\x87", "\xe4\xb8\xad \xe6\x96\x87"), "CJK not spaced");
    GQ_CHECK(t, same_ids("\xef\xa4\x80", "\xe8\xb1\x88"), "U+F900 -> NFD U+8C48");
    GQ_CHECK(t, same_ids("\xea\xb0\x80", "\xe1\x84\x80\xe1\x85\xa1"), "Hangul syllable not decomposed");
    GQ_CHECK(t, same_ids("\xe1\xbe\x82", "\xce\xb1"), "U+1F82 -> alpha after dropping marks");
}

static void test_utf8(gq_test_ctx *t) {
    static const struct {
        const char *s;
        size_t off;
    } bad[] = {
        {"ab\xff", 2},           {"\x80", 0},          {"x\xc0\xaf", 1},       {"\xc1\xbf", 0},
        {"\xe0\x80\xaf", 0},     {"ok \xe0\x9f\xbf", 3}, {"\xed\xa0\x80", 0},    {"\xed\xbf\xbf", 0},
        {"\xf0\x8f\xbf\xbf", 0}, {"\xf4\x90\x80\x80", 0}, {"\xf5\x80\x80\x80", 0}, {"\xe2\x82", 0},
        {"abc\xe2\x82z", 3},     {"\xf0\x9f\x98", 0},  {"\xc3", 0},            {"\xfe\xff", 0},
    };
    gq_ids ids = {0};
    gq_err err = {{0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char off[64];
        snprintf(off, sizeof off, "byte offset %zu ", bad[i].off);
        memset(&err, 0, sizeof err);
        gq_status st = gq_tok_encode(tok, "fine", bad[i].s, 0, &ids, &err);
        GQ_CHECK(t, st == GQ_ERR_UTF8, "bad UTF-8 #%zu: status %s", i, gq_status_str(st));
        GQ_CHECK(t, strstr(err.msg, off) && strstr(err.msg, "second text"), "bad UTF-8 #%zu: message '%s'", i, err.msg);
        GQ_CHECK(t, ids.n == 0, "bad UTF-8 #%zu left %d ids", i, ids.n);
        st = gq_tok_tokenize(tok, bad[i].s, &ids, &err);
        GQ_CHECK(t, st == GQ_ERR_UTF8, "bad UTF-8 #%zu via tokenize: status %s", i, gq_status_str(st));
    }
    /* Boundaries that are valid: U+10FFFF, U+FFFD (dropped), U+D7FF, U+E000 (Co, dropped). */
    GQ_CHECK(t, same_ids("a\xf4\x8f\xbf\xbf" "b\xef\xbf\xbd\xee\x80\x80", "ab"), "valid boundary code points");
    GQ_CHECK(t, gq_tok_encode(tok, "\xed\x9f\xbf", NULL, 0, &ids, &err) == GQ_OK, "U+D7FF rejected: %s", err.msg);

    gq_err err2 = {{0}};
    GQ_CHECK(t, gq_tok_encode(tok, "a\xffz", NULL, 0, &ids, &err2) == GQ_ERR_UTF8, "strict is not the default");
    gq_tok_set_utf8_policy(tok, GQ_UTF8_REPLACE);
    GQ_CHECK(t, same_ids("ab\xff" "cd", "abcd"), "replace: a bad byte is not dropped");
    GQ_CHECK(t, same_ids("hello \xed\xa0\x80world", "hello world"), "replace: surrogate bytes not dropped");
    GQ_CHECK(t, same_ids("x\xe2\x82y \xf0\x9f\x98", "xy"), "replace: truncated sequences");
    GQ_CHECK(t, same_ids("\xc3\xa9\xc3", "e"), "replace: valid character before a truncated one is lost");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gq_status st = gq_tok_encode(tok, bad[i].s, "b", 0, &ids, &err);
        GQ_CHECK(t, st == GQ_OK, "replace: #%zu fails: %s", i, err.msg);
    }
    gq_tok_set_utf8_policy(tok, GQ_UTF8_STRICT);
    gq_ids_free(&ids);
}

/* Writes a small vocab file in the working directory and tries to load it. */
static gq_status load_text(const char *name, const char *text, gq_tok **out, gq_err *err) {
    FILE *f = fopen(name, "wb");
    if (!f) return gq_fail(err, GQ_ERR_IO, "%s: cannot create", name);
    fputs(text, f);
    fclose(f);
    gq_status st = gq_tok_load(name, out, err);
    remove(name);
    return st;
}

static void test_vocab_files(gq_test_ctx *t) {
    gq_tok *v = (gq_tok *)1;
    gq_err err = {{0}};
    const char *missing = "no/such/dir/vocab.txt";
    GQ_CHECK(t, gq_tok_load(missing, &v, &err) == GQ_ERR_IO && v == NULL, "missing vocab: not GQ_ERR_IO");
    GQ_CHECK(t, strstr(err.msg, missing) != NULL, "message does not name the path: %s", err.msg);
    GQ_CHECK(t, load_text("tok_empty.txt", "", &v, &err) == GQ_ERR_FORMAT && strstr(err.msg, "empty"),
             "empty vocab: %s", err.msg);
    GQ_CHECK(t, load_text("tok_nocls.txt", "[PAD]\n[UNK]\n[SEP]\nhello\n", &v, &err) == GQ_ERR_FORMAT &&
                    strstr(err.msg, "[CLS]") && strstr(err.msg, "tok_nocls.txt"),
             "vocab without [CLS]: %s", err.msg);
    GQ_CHECK(t, load_text("tok_nounk.txt", "[CLS]\n[SEP]\n", &v, &err) == GQ_ERR_FORMAT && strstr(err.msg, "[UNK]"),
             "vocab without [UNK]: %s", err.msg);
    gq_tok_free(NULL);

    /* A tiny vocab: CRLF ends, no final newline, a duplicate (its last line wins, as in HF). */
    gq_status st = load_text("tok_tiny.txt", "[UNK]\r\n[CLS]\r\n[SEP]\r\nab\r\n##c\r\nab\r\n##d", &v, &err);
    GQ_CHECK(t, st == GQ_OK, "tiny vocab: %s", err.msg);
    if (st != GQ_OK) return;
    gq_ids ids = {0};
    st = gq_tok_encode(v, "ABC abd abe", NULL, 0, &ids, &err);
    int32_t want[] = {1, 5, 4, 5, 6, 0, 2};
    int same = st == GQ_OK && ids.n == 7 && memcmp(ids.v, want, sizeof want) == 0;
    GQ_CHECK(t, same, "tiny vocab ids differ");
    if (!same) gq_test_print_ids("got ", ids.v, ids.n);
    GQ_CHECK(t, gq_tok_vocab_size(v) == 7 && strcmp(gq_tok_piece(v, 6), "##d") == 0, "tiny vocab pieces");
    gq_ids_free(&ids);
    gq_tok_free(v);
}

/* ---- literal special tokens: cut out before cleaning, as HF's BertTokenizer does ---- */

/* The sentence of HF's test_tokenization_bert.py (test_offsets_with_special_characters).
 * Ids by hand from assets/vocab/vocab.txt (id = line number - 1): [CLS] 101, a 1037,
 * "," 1010, naive 15743 (ï is i + U+0308 after NFD; the Mn is dropped), [MASK] 103 kept
 * whole, allennlp by greedy longest match: allen 5297 (no longer prefix of "allennlp" is a
 * token), ##nl 20554 (no "##nlp"), ##p 2361; sentence 6251, "." 1012, [SEP] 102. */
static const char HF_SENTENCE[] = "A, naïve [MASK] AllenNLP sentence.";
static const int32_t HF_SENTENCE_IDS[] = {101, 1037, 1010, 15743, 103, 5297, 20554, 2361, 6251, 1012, 102};

static int ids_are(const gq_ids *ids, const int32_t *want, int n) {
    return ids->n == n && memcmp(ids->v, want, (size_t)n * sizeof *want) == 0;
}

/* tok_special.json: texts with special-token strings and the ids BertTokenizer gave them
 * (tests/fixtures/gen/gen_tok_special.py, transformers 5.17). */
static void test_special_hf(gq_test_ctx *t) {
    char *path = gq_test_ref_path("tok_special.json"), *text = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_read_file(path, 0, &text, NULL, &err) == GQ_OK, "%s", err.msg);
    /* A C string cannot hold U+0000; U+0001 is cleaned away just the same (step 1 drops
     * both, after the special tokens are cut out), so it stands in for it. */
    for (char *p = text; p && (p = strstr(p, "\\u0000"));) p[5] = '1';
    cJSON *j = text ? cJSON_Parse(text) : NULL, *cases = cJSON_GetObjectItem(j, "BertTokenizer");
    GQ_CHECK(t, cJSON_GetArraySize(cases) >= 10, "%s: no BertTokenizer cases", path);
    int rows = 0, matched = 0, reported = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
        if (!s) continue;
        gq_ids ids = {0};
        rows++;
        if (gq_tok_encode(tok, s, NULL, 0, &ids, &err) == GQ_OK &&
            gq_test_ids_equal(&ids, cJSON_GetObjectItem(c, "ids"), s, &reported))
            matched++;
        gq_ids_free(&ids);
    }
    GQ_CHECK(t, rows > 0 && matched == rows, "special tokens: %d of %d HF cases differ", rows - matched, rows);
    printf("special tokens: %d/%d HF cases match\n", matched, rows);
    const int32_t pair[] = {101, 1037, 102, 1038, 102, 1039, 103, 102}; /* BertTokenizer_pair */
    gq_ids ids = {0};
    GQ_CHECK(t, gq_tok_encode(tok, "a [SEP] b", "c [MASK]", 0, &ids, &err) == GQ_OK && ids_are(&ids, pair, 8),
             "pair with special tokens");
    gq_ids_free(&ids);
    cJSON_Delete(j);
    free(text), free(path);
}

static void test_special_tokens(gq_test_ctx *t) {
    int n = (int)(sizeof HF_SENTENCE_IDS / sizeof *HF_SENTENCE_IDS);
    gq_ids ids = {0};
    gq_err err = {{0}};
    GQ_CHECK(t, gq_tok_encode(tok, HF_SENTENCE, NULL, 0, &ids, &err) == GQ_OK && ids_are(&ids, HF_SENTENCE_IDS, n),
             "HF's [MASK] sentence");
    if (!ids_are(&ids, HF_SENTENCE_IDS, n)) gq_test_print_ids("got ", ids.v, ids.n);
    /* exact case only; invalid UTF-8 after a special token is reported at its offset in
     * the whole text */
    expect(t, "[mask] [Mask]", NULL, 0, "[CLS] [ mask ] [ mask ] [SEP]");
    expect(t, "[SEP][CLS]x", NULL, 0, "[CLS] [SEP] [CLS] x [SEP]");
    GQ_CHECK(t, gq_tok_encode(tok, "[MASK] \xff", NULL, 0, &ids, &err) == GQ_ERR_UTF8 && strstr(err.msg, "offset 7"),
             "invalid byte after [MASK]: %s", err.msg);
    gq_ids_free(&ids);
    test_special_hf(t);

    /* the command line, for --text and for a task's TSV (the evaluation's encoder) */
    char dir[256], cmd[1024], *out = NULL;
    gq_test_tmpdir(t, "gq_test_tok", dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "GLUEQ_ASSETS=%s/assets %s tokenize --text '%s'", t->shared, t->glueq, HF_SENTENCE);
    GQ_CHECK(t, gq_test_run(cmd, &out, NULL) == 0 && out && !strcmp(out, "101 1037 1010 15743 103 5297 20554 2361 6251 1012 102\n"),
             "glueq tokenize --text: %s", out ? out : "(none)");
    free(out);
    char tsv[300];
    snprintf(tsv, sizeof tsv, "%s/dev.tsv", dir);
    FILE *f = fopen(tsv, "w");
    if (f) fprintf(f, "index\tsentence1\tsentence2\tlabel\n0\t%s\tx[MASK]y\tentailment\n", HF_SENTENCE), fclose(f);
    snprintf(cmd, sizeof cmd, "GLUEQ_ASSETS=%s/assets %s tokenize --task rte --tsv %s", t->shared, t->glueq, tsv);
    out = NULL;
    GQ_CHECK(t, gq_test_run(cmd, &out, NULL) == 0 && out &&
                    !strcmp(out, "101 1037 1010 15743 103 5297 20554 2361 6251 1012 102 1060 103 1061 102\n"),
             "glueq tokenize --task rte --tsv: %s", out ? out : "(none)");
    free(out);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    char *vocab = gq_test_path(&t, "assets/vocab/vocab.txt");
    gq_err err = {{0}};
    if (gq_tok_load(vocab, &tok, &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        return 2;
    }
    free(vocab);

    tally c = {0};
    char *tricky = gq_test_path(&t, "fixtures/tokrefs/tricky.jsonl");
    gq_test_each_json_line(&t, tricky, check_tricky, &c);
    free(tricky);
    GQ_CHECK(&t, c.matched == c.rows && c.rows > 0, "tricky: %d of %d rows differ", c.rows - c.matched, c.rows);
    printf("tricky %d/%d rows match\n", c.matched, c.rows);
    check_task(&t, "rte", "fixtures/tokrefs/rte-dev.jsonl");
    check_task(&t, "mrpc", "fixtures/tokrefs/mrpc-dev.jsonl");

    test_vocab_access(&t);
    test_truncation(&t);
    test_words(&t);
    test_utf8(&t);
    test_vocab_files(&t);
    test_special_tokens(&t);
    gq_tok_free(tok);
    return gq_test_done(&t);
}
