/* test_tokenizer_kinds: the tokenizers a model directory chooses (gq_tok_load_dir),
 * against transformers.js's tokenizations (tests/fixtures/gen/gen_bpe_refs.mjs):
 *  - byte-level BPE on tests/fixtures/bpe-tiny, add_prefix_space false and true: the
 *    tricky set (with truncation at 16) and the GLUE dev rows (with truncation at 128);
 *  - WordPiece on tests/fixtures/wordpiece-cased with every combination of do_lower_case,
 *    strip_accents and tokenize_chinese_chars: the tricky set, and RTE dev rows cased;
 * plus hand-made cases: the `tokenizers` library's truncation table, invalid UTF-8,
 * White_Space that JavaScript's \s lacks, how the kind is chosen, and broken files. */
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "testtok.h"

#define TRICKY_MAX_LEN 16 /* gen_bpe_refs.mjs's TRICKY_MAX_LEN */
#define DEV_MAX_LEN 128
#define QNLI_EVERY 5 /* gen_bpe_refs.mjs's QNLI sample: rows 0, 5, 10, ... */
#define QNLI_ROWS 1000

static char tmp[256]; /* this test's temporary directory */

/* ---- model directories made for the test ---- */

static void write_text(gq_test_ctx *t, const char *dir, const char *name, const char *text) {
    char *path = gq_path_join(dir, name);
    gq_err err = {{0}};
    GQ_CHECK(t, gq_write_file_atomic(path, text, strlen(text), &err) == GQ_OK, "%s", err.msg);
    free(path);
}

static void copy_file(gq_test_ctx *t, const char *from, const char *dir, const char *name) {
    char *buf = NULL;
    size_t len = 0;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_read_file(from, 0, &buf, &len, &err) == GQ_OK, "%s", err.msg);
    char *path = gq_path_join(dir, name);
    GQ_CHECK(t, buf && gq_write_file_atomic(path, buf, len, &err) == GQ_OK, "%s", err.msg);
    free(path);
    free(buf);
}

/* A new directory tmp/name holding the given fixture's files (NULL-terminated list of
 * names in tests/fixtures/<fixture>) and tokenizer_config.json = config (NULL: none).
 * Returns its path (caller frees). */
static char *model_dir(gq_test_ctx *t, const char *name, const char *fixture, const char *const *files,
                       const char *config) {
    char *dir = gq_path_join(tmp, name);
    gq_err err = {{0}};
    GQ_CHECK(t, gq_mkdirs(dir, &err) == GQ_OK, "%s", err.msg);
    for (int i = 0; files && files[i]; i++) {
        char from[512];
        snprintf(from, sizeof from, "%s/%s/%s", GQ_FIXTURES_DIR, fixture, files[i]);
        copy_file(t, from, dir, files[i]);
    }
    if (config) write_text(t, dir, "tokenizer_config.json", config);
    return dir;
}

static const char *const BPE_FILES[] = {"vocab.json", "merges.txt", NULL};

static gq_tok *load_dir(gq_test_ctx *t, const char *dir) {
    gq_tok *tok = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_tok_load_dir(dir, &tok, &err) == GQ_OK, "%s", err.msg);
    return tok;
}

static gq_tok *load_bpe(gq_test_ctx *t, int prefix_space) {
    char config[128];
    snprintf(config, sizeof config, "{\"tokenizer_class\": \"RobertaTokenizer\", \"add_prefix_space\": %s}",
             prefix_space ? "true" : "false");
    char *dir = model_dir(t, prefix_space ? "bpe-prefix" : "bpe", "bpe-tiny", BPE_FILES, config);
    gq_tok *tok = load_dir(t, dir);
    free(dir);
    return tok;
}

/* ---- reference files ---- */

typedef struct {
    gq_tok *tok;
    const gq_glue_set *set; /* dev rows; NULL for the tricky set */
    const char *name;
    int max_len; /* dev rows: truncation checked at this length (0: not checked) */
    int rows, matched, reported;
} tally;

/* Encodes (a, b) with and without truncation and compares with want and want_cut (NULL:
 * the same as want); returns 1 when both match. */
static int check_encoding(gq_test_ctx *t, tally *c, const char *a, const char *b, const cJSON *want,
                          const cJSON *want_cut, int max_len, const char *what) {
    gq_ids ids = {0};
    gq_err err = {{0}};
    int ok = 1;
    for (int pass = 0; pass < (max_len ? 2 : 1); pass++) {
        gq_status st = gq_tok_encode(c->tok, a, b, pass ? max_len : 0, &ids, &err);
        GQ_CHECK(t, st == GQ_OK, "%s: %s", what, err.msg);
        char label[200];
        snprintf(label, sizeof label, "%s %s", what, pass ? "truncated" : "full");
        ok &= st == GQ_OK && gq_test_ids_equal(&ids, pass && want_cut ? want_cut : want, label, &c->reported);
    }
    gq_ids_free(&ids);
    return ok;
}

static const char *json_str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_tricky(gq_test_ctx *t, const cJSON *j, void *ctx) {
    tally *c = ctx;
    const char *a = json_str(j, "text"), *b = NULL;
    if (!a) a = json_str(j, "a"), b = json_str(j, "b");
    const cJSON *want = cJSON_GetObjectItem(j, "ids"), *cut = cJSON_GetObjectItem(j, "ids16");
    c->rows++;
    GQ_CHECK(t, a && cJSON_IsArray(want), "%s row %d lacks text/ids", c->name, c->rows);
    if (!a || !cJSON_IsArray(want)) return;
    char what[160];
    snprintf(what, sizeof what, "%s row %d '%.60s'", c->name, c->rows, a);
    c->matched += check_encoding(t, c, a, b, want, cut, cut ? TRICKY_MAX_LEN : 0, what);
}

static void check_dev_row(gq_test_ctx *t, const cJSON *j, void *ctx) {
    tally *c = ctx;
    const cJSON *row = cJSON_GetObjectItem(j, "row");
    int r = cJSON_IsNumber(row) ? row->valueint : -1;
    c->rows++;
    GQ_CHECK(t, r >= 0 && r < c->set->n, "%s: fixture row %d is not a row of dev.tsv", c->name, r);
    if (r < 0 || r >= c->set->n) return;
    char what[64];
    snprintf(what, sizeof what, "%s row %d", c->name, r);
    c->matched += check_encoding(t, c, c->set->rows[r].a, c->set->rows[r].b, cJSON_GetObjectItem(j, "ids"),
                                 cJSON_GetObjectItem(j, "ids128"), c->max_len, what);
}

static gq_glue_set *load_dev(gq_test_ctx *t, const char *task_name) {
    const gq_glue_task *task = gq_glue_task_find(task_name);
    char *root = gq_test_path(t, "assets/glue"), *path = gq_glue_split_path(task, root, "dev");
    gq_glue_set *set = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_glue_load(task, path, &set, &err) == GQ_OK, "%s", err.msg);
    free(root);
    free(path);
    return set;
}

/* Runs fn(ctx) over a reference file and checks that every one of `expected` rows matched
 * in the tally c (ctx or inside it). */
static void check_file(gq_test_ctx *t, tally *c, void *ctx, const char *rel,
                       void (*fn)(gq_test_ctx *, const cJSON *, void *), int expected) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", GQ_FIXTURES_DIR, rel);
    int lines = gq_test_each_json_line(t, path, fn, ctx);
    GQ_CHECK(t, lines == expected, "%s: %d lines, %d expected", rel, lines, expected);
    GQ_CHECK(t, c->matched == c->rows && c->rows > 0, "%s: %d of %d rows differ", rel, c->rows - c->matched, c->rows);
    printf("%-44s %d/%d rows match\n", rel, c->matched, c->rows);
}

static void test_bpe_refs(gq_test_ctx *t) {
    static const char *const TASKS[] = {"rte", "mrpc", "qnli"};
    gq_glue_set *sets[3];
    for (int k = 0; k < 3; k++) sets[k] = load_dev(t, TASKS[k]);
    for (int prefix = 0; prefix < 2; prefix++) {
        gq_tok *tok = load_bpe(t, prefix);
        if (!tok) continue;
        char rel[128];
        snprintf(rel, sizeof rel, "bpe-tiny/refs/prefix-%s/tricky.jsonl", prefix ? "true" : "false");
        tally c = {.tok = tok, .name = "tricky"};
        check_file(t, &c, &c, rel, check_tricky, 114);
        for (int k = 0; k < 3; k++) {
            if (!sets[k]) continue;
            int n = sets[k]->n, expected = k == 2 ? (n + QNLI_EVERY - 1) / QNLI_EVERY : n;
            if (expected > QNLI_ROWS) expected = QNLI_ROWS;
            snprintf(rel, sizeof rel, "bpe-tiny/refs/prefix-%s/%s-dev.jsonl", prefix ? "true" : "false", TASKS[k]);
            tally d = {.tok = tok, .set = sets[k], .name = TASKS[k], .max_len = DEV_MAX_LEN};
            check_file(t, &d, &d, rel, check_dev_row, expected);
        }
        gq_tok_free(tok);
    }
    for (int k = 0; k < 3; k++) gq_glue_free(sets[k]);
}

/* ---- cased WordPiece: one tokenizer per combination of the three settings ---- */

typedef struct {
    gq_tok *tok[2][3][2]; /* [do_lower_case][strip_accents null/true/false][tokenize_chinese_chars] */
    tally c;
    const gq_glue_set *rte;
} wordpiece_refs;

static const char *const STRIP_JSON[3] = {"null", "true", "false"};

static gq_tok *wordpiece_for(gq_test_ctx *t, wordpiece_refs *w, const cJSON *j) {
    const cJSON *lo = cJSON_GetObjectItem(j, "do_lower_case"), *st = cJSON_GetObjectItem(j, "strip_accents"),
                *zh = cJSON_GetObjectItem(j, "tokenize_chinese_chars");
    int l = cJSON_IsTrue(lo), s = cJSON_IsNull(st) ? 0 : cJSON_IsTrue(st) ? 1 : 2, z = cJSON_IsTrue(zh);
    if (w->tok[l][s][z]) return w->tok[l][s][z];
    static const char *const files[] = {"vocab.txt", NULL};
    char name[32], config[200];
    snprintf(name, sizeof name, "wp-%d%d%d", l, s, z);
    snprintf(config, sizeof config,
             "{\"tokenizer_class\": \"BertTokenizer\", \"do_lower_case\": %s, \"strip_accents\": %s, "
             "\"tokenize_chinese_chars\": %s}",
             l ? "true" : "false", STRIP_JSON[s], z ? "true" : "false");
    char *dir = model_dir(t, name, "wordpiece-cased", files, config);
    w->tok[l][s][z] = load_dir(t, dir);
    free(dir);
    return w->tok[l][s][z];
}

static void check_wordpiece_tricky(gq_test_ctx *t, const cJSON *j, void *ctx) {
    wordpiece_refs *w = ctx;
    w->c.tok = wordpiece_for(t, w, j);
    if (w->c.tok) check_tricky(t, j, &w->c);
}

static void check_wordpiece_dev(gq_test_ctx *t, const cJSON *j, void *ctx) {
    wordpiece_refs *w = ctx;
    w->c.tok = wordpiece_for(t, w, j);
    if (w->c.tok) check_dev_row(t, j, &w->c);
}

static void test_wordpiece_refs(gq_test_ctx *t) {
    wordpiece_refs w = {.c = {.name = "cased tricky"}};
    check_file(t, &w.c, &w, "wordpiece-cased/refs/tricky.jsonl", check_wordpiece_tricky, 12 * 113);
    gq_glue_set *rte = load_dev(t, "rte");
    if (rte) {
        w.c = (tally){.set = rte, .name = "cased rte"};
        check_file(t, &w.c, &w, "wordpiece-cased/refs/rte-dev.jsonl", check_wordpiece_dev, 2 * rte->n);
    }
    gq_glue_free(rte);
    for (int i = 0; i < 12; i++) gq_tok_free(w.tok[i / 6][i / 2 % 3][i % 2]);
}

/* ---- hand-made cases ---- */

/* Ids of a text without the template. */
static void plain_ids(gq_test_ctx *t, const gq_tok *tok, const char *text, gq_ids *out) {
    gq_err err = {{0}};
    out->n = 0;
    GQ_CHECK(t, gq_tok_tokenize(tok, text, out, &err) == GQ_OK, "%s", err.msg);
}

static int ids_same(const gq_ids *x, const gq_ids *y) {
    return x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, (size_t)x->n * sizeof *x->v) == 0);
}

/* The `tokenizers` library's own test of longest_first (utils/truncation.rs,
 * truncate_encodings_longest_first): segments of 0, 2, 4 and 8 tokens cut to 7 in all. */
static void test_truncation_table(gq_test_ctx *t, const gq_tok *tok) {
    static const int LEN[4] = {0, 2, 4, 8};
    static const int WANT[4][4][2] = {
        {{0, 0}, {0, 2}, {0, 4}, {0, 7}},
        {{2, 0}, {2, 2}, {2, 4}, {2, 5}},
        {{4, 0}, {4, 2}, {3, 4}, {3, 4}},
        {{7, 0}, {5, 2}, {4, 3}, {3, 4}},
    };
    char text[2][32];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 2; k++) { /* n tokens: "a a a ..." is "a" then n - 1 times "Ġa" */
                int n = LEN[k ? j : i];
                text[k][0] = '\0';
                for (int m = 0; m < n; m++) strcat(text[k], m ? " a" : "a");
            }
            gq_ids ids = {0};
            gq_err err = {{0}};
            gq_status st = gq_tok_encode(tok, text[0], text[1], 7 + 4, &ids, &err);
            int seps = 0, first = -1; /* the ids are <s> a.. </s></s> b.. </s>: find the first </s> */
            for (int m = 0; m < ids.n; m++)
                if (ids.v[m] == gq_tok_id(tok, "</s>") && seps++ == 0) first = m;
            int la = first - 1, lb = ids.n - first - 3;
            GQ_CHECK(t, st == GQ_OK && seps == 3 && la == WANT[i][j][0] && lb == WANT[i][j][1],
                     "(%d, %d) cut to 7: (%d, %d), want (%d, %d) [%s]", LEN[i], LEN[j], la, lb, WANT[i][j][0],
                     WANT[i][j][1], err.msg);
            gq_ids_free(&ids);
        }
}

/* Invalid UTF-8: the replace policy gives U+FFFD, whose bytes byte-level BPE keeps (the
 * tricky set has "bad \ufffd byte" from transformers.js); the strict policy names the
 * text and the byte. */
static void test_bpe_utf8(gq_test_ctx *t, gq_tok *tok) {
    gq_ids got = {0}, want = {0};
    gq_err err = {{0}};
    gq_tok_set_utf8_policy(tok, GQ_UTF8_REPLACE);
    plain_ids(t, tok, "bad \xff byte", &got);
    plain_ids(t, tok, "bad \xEF\xBF\xBD byte", &want);
    GQ_CHECK(t, ids_same(&got, &want) && got.n > 0, "replace: 0xFF is not U+FFFD");
    plain_ids(t, tok, "\xC3(\xE2\x82", &got);
    plain_ids(t, tok, "\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD", &want);
    GQ_CHECK(t, ids_same(&got, &want), "replace: each invalid byte is one U+FFFD");
    gq_tok_set_utf8_policy(tok, GQ_UTF8_STRICT);
    gq_status st = gq_tok_encode(tok, "ok", "bad \xff byte", 0, &got, &err);
    GQ_CHECK(t, st == GQ_ERR_UTF8 && strstr(err.msg, "second text") && strstr(err.msg, "offset 4"),
             "strict: %s", err.msg);
    gq_ids_free(&got);
    gq_ids_free(&want);
}

/* U+0085 is White_Space (HF's regexes) though not in JavaScript's \\s, so the references
 * leave it out. Hand-made: the fixture plus the merge "Ġ Â", so that "a \\u0085b" gives
 * a, Ġ, Â, ħ (GPT-2's symbols of C2 85), b when U+0085 is a space (a run of two spaces
 * before a letter leaves its last one alone) and a, ĠÂ, ħ, b when " \\u0085" were one piece. */
static void test_bpe_white_space(gq_test_ctx *t) {
    char *dir = model_dir(t, "bpe-nel", "bpe-tiny", (const char *const[]){"merges.txt", NULL}, NULL);
    char *buf = NULL, *path = NULL;
    size_t len = 0;
    gq_err err = {{0}};
    char from[512];
    snprintf(from, sizeof from, "%s/bpe-tiny/vocab.json", GQ_FIXTURES_DIR);
    GQ_CHECK(t, gq_read_file(from, 0, &buf, &len, &err) == GQ_OK && len > 2, "%s", err.msg);
    if (buf && len > 2) {
        buf[len - 1] = '\0'; /* drop the closing brace, add "ĠÂ" */
        char *vocab = malloc(len + 32);
        snprintf(vocab, len + 32, "%s, \"\xC4\xA0\xC3\x82\": 9999}", buf);
        write_text(t, dir, "vocab.json", vocab);
        free(vocab);
        path = gq_path_join(dir, "merges.txt");
        FILE *f = fopen(path, "a");
        if (f) fputs("\xC4\xA0 \xC3\x82\n", f), fclose(f);
    }
    gq_tok *tok = load_dir(t, dir);
    gq_ids got = {0};
    if (tok) plain_ids(t, tok, "a \xC2\x85" "b", &got);
    int32_t want[5] = {gq_tok_id(tok, "a"), gq_tok_id(tok, "\xC4\xA0"), gq_tok_id(tok, "\xC3\x82"),
                       gq_tok_id(tok, "\xC4\xA7"), gq_tok_id(tok, "b")};
    GQ_CHECK(t, gq_tok_id(tok, "\xC4\xA0\xC3\x82") == 9999 && got.n == 5 && !memcmp(got.v, want, sizeof want),
             "U+0085 is not split as White_Space (%d ids)", got.n);
    gq_ids_free(&got);
    gq_tok_free(tok);
    free(buf);
    free(path);
    free(dir);
}

/* The kind comes from tokenizer_class, else config.json's model_type, else the files. */
static void test_kind_choice(gq_test_ctx *t) {
    static const char *const vocab_txt[] = {"vocab.txt", NULL};
    char *dir = model_dir(t, "files-bpe", "bpe-tiny", BPE_FILES, NULL);
    gq_tok *tok = load_dir(t, dir);
    GQ_CHECK(t, tok && !strcmp(gq_tok_kind(tok), "bpe"), "vocab.json + merges.txt: not BPE");
    gq_tok_free(tok);
    free(dir);
    /* vocab.txt alone: HF BertTokenizer's defaults, i.e. uncased (a cased vocab, which
     * has both "The" and "the") */
    dir = model_dir(t, "files-wp", "wordpiece-cased", vocab_txt, NULL);
    tok = load_dir(t, dir);
    gq_ids got = {0};
    if (tok) plain_ids(t, tok, "The", &got);
    GQ_CHECK(t, tok && !strcmp(gq_tok_kind(tok), "wordpiece") && got.n == 1 && got.v[0] == gq_tok_id(tok, "the"),
             "vocab.txt alone: not uncased WordPiece");
    gq_tok_free(tok);
    write_text(t, dir, "config.json", "{\"model_type\": \"roberta\"}");
    gq_err err = {{0}};
    gq_status st = gq_tok_load_dir(dir, &tok, &err);
    GQ_CHECK(t, st == GQ_ERR_IO && strstr(err.msg, "vocab.json") && !tok, "model_type roberta, no vocab.json: %s",
             err.msg);
    free(dir);
    gq_ids_free(&got);
}

/* One broken file: loading fails with one line naming it. */
static void expect_error(gq_test_ctx *t, const char *name, const char *file, const char *text, const char *config,
                         const char *names) {
    char *dir = model_dir(t, name, "bpe-tiny", BPE_FILES,
                          config ? config : "{\"tokenizer_class\": \"RobertaTokenizerFast\"}");
    if (file) write_text(t, dir, file, text);
    gq_tok *tok = NULL;
    gq_err err = {{0}};
    gq_status st = gq_tok_load_dir(dir, &tok, &err);
    GQ_CHECK(t, st != GQ_OK && !tok && strstr(err.msg, names) && !strchr(err.msg, '\n'), "%s: %s: '%s'", name,
             gq_status_str(st), err.msg);
    gq_tok_free(tok);
    free(dir);
}

static void test_broken_files(gq_test_ctx *t) {
    expect_error(t, "merges-line", "merges.txt", "#version: 0.2\n\xc4\xa0 t\nh e x\n", NULL, "merges.txt: line 3");
    expect_error(t, "merges-empty-line", "merges.txt", "\xc4\xa0 t\n\nh e\n", NULL, "merges.txt: line 2");
    expect_error(t, "merges-unknown", "merges.txt", "\xc4\xa0 t\nzzq e\n", NULL, "'zzq' is not in vocab.json");
    expect_error(t, "merges-no-merged", "merges.txt", "a \xc4\xa0\n", NULL, "merges.txt: line 1");
    expect_error(t, "vocab-array", "vocab.json", "[\"<s>\", \"</s>\"]", NULL, "vocab.json: not a JSON object");
    expect_error(t, "vocab-not-json", "vocab.json", "{\"<s>\": 0,", NULL, "vocab.json");
    expect_error(t, "vocab-id", "vocab.json", "{\"<s>\": 0, \"</s>\": -2}", NULL, "vocab.json: token '</s>'");
    expect_error(t, "vocab-twice", "vocab.json", "{\"<s>\": 0, \"</s>\": 0}", NULL, "vocab.json: id 0");
    expect_error(t, "vocab-no-s", "vocab.json", "{\"a\": 0}", "{}", "vocab.json");
    expect_error(t, "config-bool", NULL, NULL, "{\"add_prefix_space\": \"yes\"}",
                 "tokenizer_config.json: add_prefix_space");
    expect_error(t, "config-class", NULL, NULL, "{\"tokenizer_class\": \"XLNetTokenizer\"}",
                 "tokenizer_config.json: tokenizer_class 'XLNetTokenizer'");
    expect_error(t, "config-lower", NULL, NULL, "{\"tokenizer_class\": \"RobertaTokenizer\", \"do_lower_case\": true}",
                 "tokenizer_config.json");
    expect_error(t, "config-token", NULL, NULL, "{\"mask_token\": {\"content\": \"[MASK]\"}}",
                 "tokenizer_config.json: mask_token");
    expect_error(t, "config-added", NULL, NULL, "{\"added_tokens_decoder\": {\"9\": {\"content\": \"<x>\"}}}",
                 "tokenizer_config.json: added token '<x>'");
    expect_error(t, "config-split", NULL, NULL, "{\"split_special_tokens\": true}", "tokenizer_config.json");
    expect_error(t, "config-json", NULL, NULL, "[1]", "tokenizer_config.json: not a JSON object");
    char *dir = model_dir(t, "no-merges", "bpe-tiny", (const char *const[]){"vocab.json", NULL},
                          "{\"tokenizer_class\": \"RobertaTokenizer\"}");
    gq_tok *tok = NULL;
    gq_err err = {{0}};
    gq_status st = gq_tok_load_dir(dir, &tok, &err);
    GQ_CHECK(t, st == GQ_ERR_IO && strstr(err.msg, "merges.txt: not found"), "missing merges.txt: %s", err.msg);
    free(dir);
    dir = model_dir(t, "empty", "bpe-tiny", NULL, NULL);
    st = gq_tok_load_dir(dir, &tok, &err);
    GQ_CHECK(t, st == GQ_ERR_IO && strstr(err.msg, "no tokenizer files"), "empty directory: %s", err.msg);
    free(dir);
}

/* A word of 200,000 letters is one piece; its merges must not take quadratic time (the
 * test's time limit would catch that) and must agree with the same word cut by spaces
 * being different: here only that it finishes and gives ids. */
static void test_long_word(gq_test_ctx *t, const gq_tok *tok) {
    size_t n = 200000;
    char *text = malloc(n + 1);
    if (!text) return;
    for (size_t i = 0; i < n; i++) text[i] = "abcdefghij"[i % 10];
    text[n] = '\0';
    gq_ids ids = {0};
    plain_ids(t, tok, text, &ids);
    GQ_CHECK(t, ids.n > 0 && ids.n < (int)n, "a long word gave %d ids", ids.n);
    gq_ids_free(&ids);
    free(text);
}

/* glueq tokenize --model: the fixture's own tokenizer_config.json, the ids of the tricky
 * set's pair ("Hello world", "How are you?") from transformers.js. */
static void test_cli(gq_test_ctx *t) {
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s tokenize --model %s/bpe-tiny --text 'Hello world' --pair 'How are you?'", t->glueq,
             GQ_FIXTURES_DIR);
    GQ_CHECK(t, gq_test_run(cmd, &out, NULL) == 0 && out && !strcmp(out, "0 76 484 115 857 2 2 76 349 423 1421 67 2\n"),
             "glueq tokenize --model: %s", out ? out : "(none)");
    free(out), out = NULL;
    /* a model directory without tokenizer files: the assets' uncased vocabulary, as eval
     * reads it (bert-base-uncased's ids of [CLS] hello world [SEP]) */
    snprintf(cmd, sizeof cmd, "GLUEQ_ASSETS=%s/assets %s tokenize --model %s/fixtures/tiny-a --text 'Hello world'",
             t->shared, t->glueq, t->shared);
    GQ_CHECK(t, gq_test_run(cmd, &out, NULL) == 0 && out && !strcmp(out, "101 7592 2088 102\n"),
             "glueq tokenize --model without tokenizer files: %s", out ? out : "(none)");
    free(out), out = NULL;
    char *err = NULL;
    snprintf(cmd, sizeof cmd, "%s tokenize --model %s/no-such-model --text a", t->glueq, tmp);
    GQ_CHECK(t, gq_test_run(cmd, &out, &err) != 0 && err && strstr(err, "no-such-model: model directory not found"),
             "glueq tokenize --model of a missing directory: %s", err ? err : "(no error)");
    free(out), free(err);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "test_tokenizer_kinds", tmp, sizeof tmp);
    test_bpe_refs(&t);
    test_wordpiece_refs(&t);
    gq_tok *tok = load_bpe(&t, 0);
    if (tok) {
        test_truncation_table(&t, tok);
        test_bpe_utf8(&t, tok);
        test_long_word(&t, tok);
    }
    gq_tok_free(tok);
    test_bpe_white_space(&t);
    test_kind_choice(&t);
    test_broken_files(&t);
    test_cli(&t);
    return gq_test_done(&t);
}
