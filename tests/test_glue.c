/* test_glue: the GLUE loader on the six shared split files and on the fixture files of all
 * nine tasks (tests/fixtures/glue: counts, labels and rows as Python's str.split('\t')
 * reads them, hashes as sha256sum prints them), on small files written here for every
 * accepted oddity and every error it must report, and the label orders of checkpoints. */
#define _POSIX_C_SOURCE 200809L
#include "glue.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const gq_glue_task *task(const char *name) {
    const gq_glue_task *t = gq_glue_task_find(name);
    if (!t) {
        fprintf(stderr, "FATAL task %s not found\n", name);
        exit(2);
    }
    return t;
}

/* Loads root/DIR/split.tsv; NULL (and a failed check) on error. */
static gq_glue_set *load_split(gq_test_ctx *t, const char *name, const char *split) {
    char *root = gq_test_path(t, "assets/glue");
    char *path = gq_glue_split_path(task(name), root, split);
    gq_glue_set *set = NULL;
    gq_err err = {{0}};
    gq_status st = gq_glue_load(task(name), path, &set, &err);
    GQ_CHECK(t, st == GQ_OK, "%s: %s", path, err.msg);
    free(root);
    free(path);
    return set;
}

#define CHECK_STR(t, got, want) GQ_CHECK(t, strcmp((got), (want)) == 0, "got '%s', want '%s'", (got), (want))

static void test_tasks(gq_test_ctx *t) {
    GQ_CHECK(t, gq_glue_task_find("RTE") == gq_glue_task_find("rte"), "lookup is case-insensitive");
    GQ_CHECK(t, gq_glue_task_find("Mrpc") && (gq_glue_task_find("Mrpc")->metrics & GQ_METRIC_BIT(GQ_METRIC_F1)),
             "MRPC has F1");
    GQ_CHECK(t, gq_glue_task_find("qnl") == NULL && gq_glue_task_find("qnlix") == NULL, "prefixes are not names");
    GQ_CHECK(t, gq_glue_task_find("sst") == NULL && gq_glue_task_find("glue") == NULL, "unknown task");
    GQ_CHECK(t, gq_glue_task_find("SST-2") == gq_glue_task_find("sst2") && gq_glue_task_find("sts-b") == gq_glue_task_find("stsb"),
             "GLUE's spelling finds the task");
    CHECK_STR(t, gq_glue_task_names(), "cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli");
    char *p = gq_glue_split_path(task("rte"), "/x/glue", "dev");
    CHECK_STR(t, p, "/x/glue/RTE/dev.tsv");
    free(p);
}

static void test_counts(gq_test_ctx *t) {
    static const struct {
        const char *task, *split;
        int n, labelled, ones; /* ones: rows with label 1, counted with Python */
    } want[] = {
        {"mrpc", "dev", 408, 1, 279},   {"rte", "dev", 277, 1, 131},    {"qnli", "dev", 5463, 1, 2761},
        {"mrpc", "train", 3668, 1, -1}, {"rte", "train", 2490, 1, -1}, {"qnli", "test", 5463, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        gq_glue_set *s = load_split(t, want[i].task, want[i].split);
        if (!s) continue;
        GQ_CHECK(t, s->n == want[i].n, "%s/%s: %d rows, want %d", want[i].task, want[i].split, s->n, want[i].n);
        GQ_CHECK(t, s->labelled == want[i].labelled, "%s/%s: labelled %d", want[i].task, want[i].split, s->labelled);
        int ones = 0, bad = 0;
        for (int r = 0; r < s->n; r++) {
            ones += s->rows[r].label == 1;
            bad += s->rows[r].line != r + 2 || (s->labelled ? s->rows[r].label < 0 || s->rows[r].label > 1
                                                              : s->rows[r].label != -1);
        }
        GQ_CHECK(t, bad == 0, "%s/%s: %d rows with a wrong line number or label", want[i].task, want[i].split, bad);
        if (want[i].ones >= 0)
            GQ_CHECK(t, ones == want[i].ones, "%s/%s: %d rows labelled 1, want %d", want[i].task, want[i].split, ones,
                     want[i].ones);
        printf("ok   %s/%s: %d rows\n", want[i].task, want[i].split, s->n);
        gq_glue_free(s);
    }
}

/* First and last rows as python3 reads them: open(f, encoding='utf-8-sig').read()
 * .split('\n')[1:-1], each line .split('\t'). */
static void test_rows(gq_test_ctx *t) {
    gq_glue_set *s = load_split(t, "rte", "dev");
    if (s && s->n == 277) {
        CHECK_STR(t, s->rows[0].a,
                  "Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according "
                  "to the Christopher Reeve Foundation.");
        CHECK_STR(t, s->rows[0].b, "Christopher Reeve had an accident.");
        GQ_CHECK(t, s->rows[0].label == 1 && s->rows[0].line == 2, "label %d line %d", s->rows[0].label,
                 s->rows[0].line);
        const gq_glue_row *r = &s->rows[276];
        GQ_CHECK(t, strncmp(r->a, "Danny Kennedy, Greenpeace campaigns director, said: \"The burden of proof", 71) == 0,
                 "got '%.80s'", r->a);
        GQ_CHECK(t, strlen(r->a) > 20 && strcmp(r->a + strlen(r->a) - 20, "political opinions.\"") == 0,
                 "quotes kept at the end: '%s'", r->a);
        CHECK_STR(t, r->b, "Greenpeace director said that peace is terrorism.");
        GQ_CHECK(t, r->label == 1 && r->line == 278, "label %d line %d", r->label, r->line);
        /* line 25: a text that opens with a quote that does not end the field */
        CHECK_STR(t, s->rows[23].b, "\"The Osbournes\" is the name of a reality show starring Ozzy Osbourne.");
        GQ_CHECK(t, s->rows[23].label == 0, "line 25 is entailment");
        CHECK_STR(t, s->sha256, "80230dfa1347282e7b532b06a1004a76a710087541189bf874223ddf0e3819fb");
        CHECK_STR(t, s->task->name, "rte");
    }
    gq_glue_free(s);

    s = load_split(t, "mrpc", "dev");
    if (s && s->n == 408) {
        CHECK_STR(t, s->rows[0].a, "He said the foodservice pie business doesn't fit the company's long-term growth "
                                   "strategy.");
        /* an unbalanced opening quote: a CSV reader would swallow the rest of the file */
        CHECK_STR(t, s->rows[0].b, "\"The foodservice pie business does not fit our long-term growth strategy.");
        GQ_CHECK(t, s->rows[0].label == 1 && s->rows[0].line == 2, "label %d line %d", s->rows[0].label,
                 s->rows[0].line);
        const gq_glue_row *r = &s->rows[407];
        CHECK_STR(t, r->a, "Ex-KGB agent Putin added that the Beatles were considered 'propaganda of an alien "
                           "ideology'.");
        CHECK_STR(t, r->b, "In Soviet times the Beatles' music \"was considered propaganda of an alien ideology.");
        GQ_CHECK(t, r->label == 1 && r->line == 409, "label %d line %d", r->label, r->line);
        CHECK_STR(t, s->sha256, "81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7");
    }
    gq_glue_free(s);

    s = load_split(t, "qnli", "test");
    if (s && s->n == 5463) {
        CHECK_STR(t, s->rows[5462].b, "In 1709\xE2\x80\x93" "13, a plague epidemic that followed the Great Northern "
                                      "War (1700\xE2\x80\x93" "21, Sweden v. Russia and allies) killed about 100,000 "
                                      "in Sweden, and 300,000 in Prussia.");
        GQ_CHECK(t, s->rows[5462].label == -1 && s->rows[5462].line == 5464, "label %d line %d", s->rows[5462].label,
                 s->rows[5462].line);
    }
    gq_glue_free(s);
}

/* ---- the nine tasks' fixture files (tests/fixtures/glue) ---- */

static gq_glue_set *load_fixture(gq_test_ctx *t, const char *name, const char *split) {
    char *path = gq_glue_split_path(task(name), GQ_TEST_FIXTURES_DIR "/glue", split);
    gq_glue_set *set = NULL;
    gq_err err = {{0}};
    gq_status st = gq_glue_load(task(name), path, &set, &err);
    GQ_CHECK(t, st == GQ_OK, "%s: %s", path, err.msg);
    free(path);
    return set;
}

static void test_fixture_counts(gq_test_ctx *t) {
    /* rows and rows per label id (the task's default order), counted with Python */
    static const struct {
        const char *task, *split;
        int n, per_label[3], first_line;
        const char *sha256; /* first 16 hex digits */
    } want[] = {
        {"cola", "dev", 20, {11, 9, 0}, 1, "b770be665bef2ef9"}, /* no header: the first row is line 1 */
        {"cola", "train", 10, {5, 5, 0}, 1, "8796fbff09575c91"},
        {"sst2", "dev", 20, {13, 7, 0}, 2, "70559bd112a4865c"},
        {"mrpc", "dev", 20, {5, 15, 0}, 2, "1370266590209de1"},
        {"stsb", "dev", 20, {20, 0, 0}, 2, "67d251472b4f1852"},
        {"qqp", "dev", 20, {12, 8, 0}, 2, "febcef57a3632715"},
        {"mnli", "dev_matched", 12, {4, 3, 5}, 2, "612ecee91e09f26e"},
        {"mnli", "dev", 12, {4, 3, 5}, 2, "612ecee91e09f26e"}, /* "dev" names the matched file */
        {"mnli", "dev_mismatched", 12, {6, 4, 2}, 2, "ae48bb887f08d215"},
        {"mnli", "train", 10, {5, 3, 2}, 2, "8ecfbe255373ecec"},
        {"qnli", "dev", 20, {10, 10, 0}, 2, "2a9011341138983f"},
        {"rte", "dev", 20, {11, 9, 0}, 2, "f9a64096d8052dc5"},
        {"wnli", "dev", 16, {5, 11, 0}, 2, "c02b3ff32d464ef6"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        gq_glue_set *s = load_fixture(t, want[i].task, want[i].split);
        if (!s) continue;
        int per[3] = {0, 0, 0}, bad = 0;
        for (int r = 0; r < s->n; r++) {
            const gq_glue_row *row = &s->rows[r];
            if (row->label >= 0 && row->label < 3) per[row->label]++;
            bad += row->line != r + want[i].first_line || (s->task->single ? row->b != NULL : row->b == NULL);
        }
        GQ_CHECK(t, s->n == want[i].n && s->labelled, "%s/%s: %d rows (labelled %d), want %d", want[i].task,
                 want[i].split, s->n, s->labelled, want[i].n);
        GQ_CHECK(t, !memcmp(per, want[i].per_label, sizeof per), "%s/%s: labels %d/%d/%d, want %d/%d/%d", want[i].task,
                 want[i].split, per[0], per[1], per[2], want[i].per_label[0], want[i].per_label[1], want[i].per_label[2]);
        GQ_CHECK(t, bad == 0, "%s/%s: %d rows with a wrong line number or text count", want[i].task, want[i].split, bad);
        GQ_CHECK(t, !strncmp(s->sha256, want[i].sha256, 16), "%s/%s: sha256 %.16s", want[i].task, want[i].split,
                 s->sha256);
        printf("ok   fixture %s/%s: %d rows\n", want[i].task, want[i].split, s->n);
        gq_glue_free(s);
    }
}

/* Rows with each task's quirks, as python3 reads them (see test_rows). */
static void test_fixture_rows(gq_test_ctx *t) {
    gq_glue_set *s = load_fixture(t, "cola", "dev"); /* no header: source, label, original label, sentence */
    if (s && s->n > 1) {
        CHECK_STR(t, s->rows[1].a, "He said \"yes\" to the old farmer in the park today .");
        GQ_CHECK(t, s->rows[1].b == NULL && s->rows[1].label == 0 && s->rows[1].line == 2, "cola row 2");
    }
    gq_glue_free(s);
    s = load_fixture(t, "cola", "test"); /* CoLA's test file has a header: index, sentence */
    GQ_CHECK(t, s && s->n == 5 && !s->labelled && s->rows[0].line == 2 && s->rows[0].label == -1, "cola test");
    gq_glue_free(s);
    s = load_fixture(t, "stsb", "dev");
    if (s && s->n == 20) {
        CHECK_STR(t, s->rows[1].a, "She called it a \"robot\" painting .");
        GQ_CHECK(t, s->rows[1].score == 1.764 && s->rows[19].score == 0.886 && s->rows[0].score == 0.0 &&
                        s->rows[1].label == 0,
                 "stsb scores %.17g %.17g", s->rows[1].score, s->rows[19].score);
    }
    gq_glue_free(s);
    s = load_fixture(t, "mrpc", "dev"); /* BOM; a text that opens with an unbalanced quote */
    if (s && s->n == 20) CHECK_STR(t, s->rows[1].a, "\"The happy child visited the museum .");
    gq_glue_free(s);
    s = load_fixture(t, "sst2", "dev"); /* lower-cased, tokenized, a trailing blank kept */
    if (s && s->n == 20) CHECK_STR(t, s->rows[0].a, "the happy child saw a train in the station at night . ");
    gq_glue_free(s);
    s = load_fixture(t, "qqp", "dev");
    if (s && s->n == 20) CHECK_STR(t, s->rows[2].a, "Who said \"no\" to the pilot ?");
    gq_glue_free(s);
    s = load_fixture(t, "mnli", "dev_mismatched"); /* the texts by name among the parse columns */
    if (s && s->n == 12) {
        CHECK_STR(t, s->rows[11].a, "A horse watched the quiet farmer in the kitchen every day .");
        CHECK_STR(t, s->rows[11].b, "A city found the cold train in the park last week .");
        GQ_CHECK(t, s->rows[11].label == 0, "gold_label contradiction is id 0: %d", s->rows[11].label);
    }
    gq_glue_free(s);
}

/* ---- small files written into a temporary directory ---- */

static char tmpdir[256];

static char *write_tmp(const char *name, const char *data, size_t len) {
    char *path = gq_path_join(tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "FATAL cannot write %s\n", path);
        exit(2);
    }
    return path;
}
#define WRITE_TMP(name, lit) write_tmp(name, lit, sizeof lit - 1)

static gq_glue_set *load_ok(gq_test_ctx *t, const char *taskname, const char *path) {
    gq_glue_set *s = NULL;
    gq_err err = {{0}};
    gq_status st = gq_glue_load(task(taskname), path, &s, &err);
    GQ_CHECK(t, st == GQ_OK && s, "%s: %s", path, err.msg);
    return s;
}

/* Expects a failure with `status` whose message contains the path and each of `want`. */
static void expect_fail(gq_test_ctx *t, const char *taskname, const char *path, gq_status status, const char *want1,
                        const char *want2) {
    gq_glue_set *s = (gq_glue_set *)&s; /* must be reset to NULL */
    gq_err err = {{0}};
    gq_status st = gq_glue_load(task(taskname), path, &s, &err);
    GQ_CHECK(t, st == status, "%s: status %s, want %s (%s)", path, gq_status_str(st), gq_status_str(status), err.msg);
    GQ_CHECK(t, s == NULL, "%s: *out not NULL on failure", path);
    GQ_CHECK(t, strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
    GQ_CHECK(t, strstr(err.msg, want1) != NULL, "message lacks '%s': %s", want1, err.msg);
    if (want2) GQ_CHECK(t, strstr(err.msg, want2) != NULL, "message lacks '%s': %s", want2, err.msg);
    if (st == status) printf("ok   error: %s\n", err.msg);
}

static void test_accepted(gq_test_ctx *t) {
    /* CRLF endings, quotes anywhere, blanks kept, an empty text, a lone CR inside a text,
     * and no newline after the last row */
    char *p = WRITE_TMP("good.tsv", "index\tsentence1\tsentence2\tlabel\r\n"
                                    "0\tHe said \"no\" .\t\"start\tentailment\r\n"
                                    "1\t  padded  \t\tnot_entailment\r\n"
                                    "2\ta\rb\t\"\"\tentailment");
    gq_glue_set *s = load_ok(t, "rte", p);
    if (s) {
        GQ_CHECK(t, s->n == 3 && s->labelled, "n %d labelled %d", s->n, s->labelled);
        if (s->n == 3) {
            CHECK_STR(t, s->rows[0].a, "He said \"no\" .");
            CHECK_STR(t, s->rows[0].b, "\"start");
            CHECK_STR(t, s->rows[1].a, "  padded  ");
            CHECK_STR(t, s->rows[1].b, "");
            CHECK_STR(t, s->rows[2].a, "a\rb");
            CHECK_STR(t, s->rows[2].b, "\"\"");
            GQ_CHECK(t, s->rows[0].label == 0 && s->rows[1].label == 1 && s->rows[2].label == 0, "labels %d %d %d",
                     s->rows[0].label, s->rows[1].label, s->rows[2].label);
            GQ_CHECK(t, s->rows[0].line == 2 && s->rows[2].line == 4, "lines %d %d", s->rows[0].line, s->rows[2].line);
        }
        /* sha256 of the bytes as written, CRs included: python3 hashlib */
        CHECK_STR(t, s->sha256, "d877430dffa15363f00ab7ad5e64b7edb882516dbf17dc661f0e234769f557d5");
    }
    gq_glue_free(s);
    free(p);

    p = WRITE_TMP("header_only.tsv", "index\tsentence1\tsentence2\tlabel\n");
    s = load_ok(t, "rte", p);
    GQ_CHECK(t, s && s->n == 0 && s->labelled, "header only: zero rows");
    gq_glue_free(s);
    free(p);

    /* a header without the label column: an unlabelled split (GLUE's test files), any task */
    p = WRITE_TMP("unlabelled.tsv", "index\tsentence1\tsentence2\n0\ta\tb\n");
    s = load_ok(t, "rte", p);
    GQ_CHECK(t, s && s->n == 1 && !s->labelled && s->rows[0].label == -1, "unlabelled RTE file");
    gq_glue_free(s);
    free(p);

    /* columns by name: other columns and another order are fine */
    p = WRITE_TMP("reordered.tsv", "label\textra\tsentence2\tsentence1\n1\tx\tsecond\tfirst\n");
    s = load_ok(t, "wnli", p);
    GQ_CHECK(t, s && s->n == 1 && s->rows[0].label == 1 && !strcmp(s->rows[0].a, "first") &&
                    !strcmp(s->rows[0].b, "second"), "columns found by their names");
    gq_glue_free(s);
    free(p);

    p = WRITE_TMP("header_only_nolf.tsv", "index\tquestion\tsentence");
    s = load_ok(t, "qnli", p);
    GQ_CHECK(t, s && s->n == 0 && !s->labelled, "unlabelled header without newline: zero rows");
    gq_glue_free(s);
    free(p);

    /* MRPC without its BOM, and a text with a multi-byte character */
    p = WRITE_TMP("mrpc.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tcaf\xC3\xA9\t\xF0\x9F\x98\x80\n");
    s = load_ok(t, "mrpc", p);
    if (s && s->n == 1) {
        CHECK_STR(t, s->rows[0].a, "caf\xC3\xA9");
        CHECK_STR(t, s->rows[0].b, "\xF0\x9F\x98\x80");
        GQ_CHECK(t, s->rows[0].label == 0, "label %d", s->rows[0].label);
    }
    gq_glue_free(s);
    free(p);
}

#define STSB_HEADER "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
#define MNLI_HEADER                                                                                               \
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"       \
    "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
#define MNLI_DEV_HEADER                                                                                           \
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"       \
    "sentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
#define MNLI_DEV_ROW(genre) "0\t1\t1e\t" genre "\tp\tp\tp\tp\ta\tb\tneutral\tneutral\tneutral\tneutral\tneutral\tneutral\n"

static void test_errors(gq_test_ctx *t) {
    char *p = gq_path_join(tmpdir, "missing.tsv");
    expect_fail(t, "rte", p, GQ_ERR_IO, "cannot open", NULL);
    free(p);

#define FAIL_CASE(taskname, name, lit, status, w1, w2)                                                              \
    do {                                                                                                             \
        char *path_ = WRITE_TMP(name, lit);                                                                          \
        expect_fail(t, taskname, path_, status, w1, w2);                                                             \
        free(path_);                                                                                                 \
    } while (0)

    FAIL_CASE("rte", "empty.tsv", "", GQ_ERR_FORMAT, "empty file", NULL);
    FAIL_CASE("mrpc", "bom_only.tsv", "\xEF\xBB\xBF", GQ_ERR_FORMAT, "empty file", NULL);
    /* QNLI's header given for RTE: the texts are found by name */
    FAIL_CASE("rte", "header2.tsv", "index\tquestion\tsentence\tlabel\n", GQ_ERR_FORMAT, "header is "
              "'index\\tquestion\\tsentence\\tlabel'", "no column 'sentence1' (RTE needs 'sentence1' and 'sentence2'");
    FAIL_CASE("rte", "header_case.tsv", "index\tSentence1\tsentence2\tlabel\n", GQ_ERR_FORMAT, "line 1",
              "no column 'sentence1'");
    FAIL_CASE("rte", "header_blank.tsv", "index\tsentence1 \tsentence2\tlabel\n", GQ_ERR_FORMAT, "line 1", NULL);
    FAIL_CASE("rte", "header_twice.tsv", "index\tsentence1\tsentence2\tlabel\tlabel\n", GQ_ERR_FORMAT, "line 1",
              "column 'label' appears twice");
    FAIL_CASE("sst2", "header_sst2.tsv", "text\tlabel\n", GQ_ERR_FORMAT, "no column 'sentence'", "SST-2 needs 'sentence'");
    FAIL_CASE("rte", "fields.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n",
              GQ_ERR_FORMAT, "line 3: 3 tab-separated fields", "header has 4");
    /* a tab inside a text: the field count, not the label, is the error */
    FAIL_CASE("rte", "fields2.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tc\tentailment\n", GQ_ERR_FORMAT,
              "line 2: 5 tab-separated fields", NULL);
    FAIL_CASE("rte", "blank_line.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n\n",
              GQ_ERR_FORMAT, "line 3: empty line", NULL);
    FAIL_CASE("rte", "label.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tmaybe\n",
              GQ_ERR_FORMAT, "line 3: unknown label 'maybe'", "'entailment' or 'not_entailment'");
    FAIL_CASE("rte", "label_blank.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment \n", GQ_ERR_FORMAT,
              "line 2: unknown label 'entailment '", NULL);
    FAIL_CASE("mrpc", "label_mrpc.tsv", "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n2\t1\t2\ta\tb\n",
              GQ_ERR_FORMAT, "line 2: unknown label '2'", "'0' or '1'");
    FAIL_CASE("qnli", "label_long.tsv",
              "index\tquestion\tsentence\tlabel\n0\ta\tb\tnot_entailment_not_entailment_not_entailment_not_entailment\n",
              GQ_ERR_FORMAT, "line 2: unknown label 'not_entailment_not_entailment_not_entailment", "...' (expected");
    /* too few fields, in every kind of file */
    FAIL_CASE("cola", "cola_fields.tsv", "gj04\t1\t\tOne sentence .\ngj04\t0\tTwo .\n", GQ_ERR_FORMAT,
              "line 2: 3 tab-separated fields, expected 4", "(source, label, original label, sentence)");
    FAIL_CASE("stsb", "stsb_fields.tsv", STSB_HEADER "0\tg\tf\ty\to\ts\ts\ta\tb\n", GQ_ERR_FORMAT,
              "line 2: 9 tab-separated fields", "the header has 10");
    FAIL_CASE("mnli", "mnli_fields.tsv", MNLI_HEADER "0\t1\t1e\tfiction\tp\tp\tp\tp\ta\tb\tneutral\n",
              GQ_ERR_FORMAT, "line 2: 11 tab-separated fields", "the header has 12");
    /* a label the task does not have */
    FAIL_CASE("cola", "cola_label.tsv", "gj04\t2\t\tA sentence .\n", GQ_ERR_FORMAT, "line 1: unknown label '2'",
              "'0' or '1'");
    FAIL_CASE("mnli", "mnli_label.tsv", MNLI_HEADER "0\t1\t1e\tfiction\tp\tp\tp\tp\ta\tb\tneutral\t-\n",
              GQ_ERR_FORMAT, "line 2: unknown label '-'", "'contradiction', 'entailment' or 'neutral'");
    FAIL_CASE("qqp", "qqp_label.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t1\t2\ta\tb\tyes\n",
              GQ_ERR_FORMAT, "line 2: unknown label 'yes'", NULL);
    /* STS-B's scores */
    FAIL_CASE("stsb", "stsb_nan.tsv", STSB_HEADER "0\tg\tf\ty\to\ts\ts\ta\tb\t3.8\n1\tg\tf\ty\to\ts\ts\ta\tb\thigh\n",
              GQ_ERR_FORMAT, "line 3: score 'high' is not a number", NULL);
    FAIL_CASE("stsb", "stsb_blank.tsv", STSB_HEADER "0\tg\tf\ty\to\ts\ts\ta\tb\t3.8 \n", GQ_ERR_FORMAT,
              "line 2: score '3.8 ' is not a number", NULL);
    FAIL_CASE("stsb", "stsb_inf.tsv", STSB_HEADER "0\tg\tf\ty\to\ts\ts\ta\tb\tinf\n", GQ_ERR_FORMAT,
              "line 2: score 'inf' is not a number", NULL);
    FAIL_CASE("stsb", "stsb_range.tsv", STSB_HEADER "0\tg\tf\ty\to\ts\ts\ta\tb\t5.5\n", GQ_ERR_FORMAT,
              "line 2: score 5.5 is outside 0..5", NULL);
    /* an MNLI file named as the other split */
    FAIL_CASE("mnli", "dev_matched.tsv", MNLI_DEV_HEADER MNLI_DEV_ROW("fiction") MNLI_DEV_ROW("letters"),
              GQ_ERR_FORMAT, "line 3: genre 'letters' belongs to MNLI's mismatched split",
              "not to dev_matched.tsv: is the file the wrong split?");
    FAIL_CASE("mnli", "test_mismatched.tsv", "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\n"
              "0\t1\t1e\toup\ta\tb\n1\t2\t2e\tslate\ta\tb\n", GQ_ERR_FORMAT,
              "line 3: genre 'slate' belongs to MNLI's matched split", "not to test_mismatched.tsv");
    FAIL_CASE("mnli", "dev_mismatched.tsv", MNLI_HEADER, GQ_ERR_FORMAT, "line 1: no column 'label5'",
              "is this train.tsv?");
    FAIL_CASE("rte", "utf8.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tentailment\n"
              "2\tx\xFFy\tb\tentailment\n", GQ_ERR_UTF8, "line 4: invalid UTF-8", "byte 0xFF at byte 4");
    FAIL_CASE("rte", "overlong.tsv", "index\tsentence1\tsentence2\tlabel\n0\t\xC0\x80\tb\tentailment\n", GQ_ERR_UTF8,
              "line 2: invalid UTF-8", "0xC0");
    FAIL_CASE("rte", "surrogate.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\t\xED\xA0\x80\tentailment\n",
              GQ_ERR_UTF8, "line 2: invalid UTF-8", "0xED");
    FAIL_CASE("rte", "truncated.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\t\xE2\x80",
              GQ_ERR_UTF8, "line 3: invalid UTF-8", NULL);
    FAIL_CASE("rte", "cont.tsv", "index\tsentence1\tsentence2\tlabel\n0\t\x80\tb\tentailment\n", GQ_ERR_UTF8,
              "line 2: invalid UTF-8", NULL);
    FAIL_CASE("rte", "nul.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\0b\tc\tentailment\n", GQ_ERR_FORMAT,
              "line 2: NUL byte", NULL);
#undef FAIL_CASE

    /* a task that is not in the table has no file layout */
    static const gq_glue_task anli = {.name = "anli", .display = "ANLI", .dir = "ANLI", .n_labels = 3};
    gq_glue_set *s = NULL;
    gq_err err = {{0}};
    p = WRITE_TMP("anli.tsv", "sentence\tlabel\n");
    gq_status st = gq_glue_load(&anli, p, &s, &err);
    GQ_CHECK(t, st == GQ_ERR_ARG && !s && strstr(err.msg, "task 'anli' is not one of cola, sst2"), "%s", err.msg);
    free(p);
}

/* ---- label orders ---- */

/* The order of a model named `names` (n labels) on task, checked against want (source
 * and to_task) or, when want_msg is set, an error containing it. */
static void expect_order(gq_test_ctx *t, const char *taskname, const char *const *names, int n, const int *map,
                         gq_label_source source, const int *to_task, const char *want_msg) {
    gq_label_order o;
    gq_err err = {{0}};
    gq_status st = gq_glue_label_order(task(taskname), names, n, map, "MODEL", &o, &err);
    if (want_msg) {
        GQ_CHECK(t, st != GQ_OK && strstr(err.msg, "MODEL: ") && strstr(err.msg, want_msg), "%s: want '%s', got %s: %s",
                 taskname, want_msg, gq_status_str(st), err.msg);
        if (st != GQ_OK) printf("ok   error: %s\n", err.msg);
        return;
    }
    GQ_CHECK(t, st == GQ_OK && o.source == source, "%s: %s, source %d want %d", taskname, err.msg, o.source, source);
    for (int i = 0; st == GQ_OK && to_task && i < n; i++)
        GQ_CHECK(t, o.to_task[i] == to_task[i], "%s: model id %d -> %d, want %d", taskname, i, o.to_task[i], to_task[i]);
}

static void test_label_order(gq_test_ctx *t) {
    const char *hf[] = {"LABEL_0", "LABEL_1", "LABEL_2"}, *ids[] = {"0", "1"};
    expect_order(t, "rte", hf, 2, NULL, GQ_LABELS_DEFAULT, (int[]){0, 1}, NULL);
    expect_order(t, "rte", NULL, 2, NULL, GQ_LABELS_DEFAULT, (int[]){0, 1}, NULL);
    expect_order(t, "rte", ids, 2, NULL, GQ_LABELS_DEFAULT, (int[]){0, 1}, NULL); /* ids name nothing */
    expect_order(t, "mrpc", ids, 2, NULL, GQ_LABELS_CONFIG, (int[]){0, 1}, NULL); /* MRPC's labels are "0", "1" */
    expect_order(t, "rte", (const char *[]){"not_entailment", "entailment"}, 2, NULL, GQ_LABELS_CONFIG, (int[]){1, 0},
                 NULL);
    /* Hugging Face datasets' MNLI order, upper case as roberta-large-mnli writes it */
    expect_order(t, "mnli", (const char *[]){"ENTAILMENT", "NEUTRAL", "CONTRADICTION"}, 3, NULL, GQ_LABELS_CONFIG,
                 (int[]){1, 2, 0}, NULL);
    /* meanings: SST-2's "0" is negative */
    expect_order(t, "sst2", (const char *[]){"POSITIVE", "NEGATIVE"}, 2, NULL, GQ_LABELS_CONFIG, (int[]){1, 0}, NULL);
    expect_order(t, "wnli", (const char *[]){"entailment", "not_entailment"}, 2, NULL, GQ_LABELS_CONFIG, (int[]){1, 0},
                 NULL);
    expect_order(t, "stsb", hf, 1, NULL, GQ_LABELS_NONE, NULL, NULL);
    /* an explicit map wins over the names */
    int map[3] = {1, 0, -1};
    expect_order(t, "rte", (const char *[]){"entailment", "not_entailment"}, 2, map, GQ_LABELS_MAP, (int[]){1, 0}, NULL);
    /* one clear error each */
    expect_order(t, "sst2", (const char *[]){"bad", "good"}, 2, NULL, 0, NULL, "give the order with --label-map");
    expect_order(t, "rte", (const char *[]){"entailment", "entailment"}, 2, NULL, 0, NULL, "does not name task rte");
    expect_order(t, "rte", hf, 3, NULL, 0, NULL, "the model has 3 labels, task rte has 2");
    expect_order(t, "cola", hf, 1, NULL, 0, NULL, "one output (a regression head); task cola is a classification");
    expect_order(t, "stsb", hf, 2, NULL, 0, NULL, "task stsb is a regression and needs one output");
    expect_order(t, "rte", hf, 2, (int[]){0, 0, -1}, 0, NULL, "both map to model id 0");

    static const struct {
        const char *task, *text, *want;
        int map[3];
    } maps[] = {
        {"mnli", "entailment=0,neutral=1,contradiction=2", NULL, {2, 0, 1}},
        {"sst2", "negative=1,positive=0", NULL, {1, 0, -1}},
        {"rte", "entailment=1", "label 'not_entailment' has no model id", {0}},
        {"rte", "entailment=0,not_entailment=0", "both map to model id 0", {0}},
        {"rte", "maybe=1,entailment=0", "'maybe' is not a label of task rte", {0}},
        {"rte", "entailment=x,not_entailment=1", "'x' is not a model label id", {0}},
        {"rte", "entailment=2,not_entailment=1", "model id 2 is not in 0..1", {0}},
        {"rte", "entailment,not_entailment=1", "'entailment' is not LABEL=ID", {0}},
        {"rte", "entailment=0,entailment=1", "label 'entailment' given twice", {0}},
        {"stsb", "score=0", "task stsb is a regression", {0}},
    };
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        int got[3];
        gq_err err = {{0}};
        gq_status st = gq_glue_label_map_parse(task(maps[i].task), maps[i].text, got, &err);
        if (maps[i].want)
            GQ_CHECK(t, st == GQ_ERR_ARG && strstr(err.msg, "--label-map") && strstr(err.msg, maps[i].want),
                     "--label-map %s: want '%s', got %s", maps[i].text, maps[i].want, err.msg);
        else
            GQ_CHECK(t, st == GQ_OK && !memcmp(got, maps[i].map, sizeof got), "--label-map %s: %s [%d %d %d]",
                     maps[i].text, err.msg, got[0], got[1], got[2]);
    }
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_glue", tmpdir, sizeof tmpdir);
    test_tasks(&t);
    test_counts(&t);
    test_rows(&t);
    test_fixture_counts(&t);
    test_fixture_rows(&t);
    test_accepted(&t);
    test_errors(&t);
    test_label_order(&t);
    return gq_test_done(&t);
}
