/* test_glue: the GLUE loader on the six shared split files (counts, first and last rows as
 * Python's str.split('\t') reads them, hashes as sha256sum prints them) and on small
 * files written here for every accepted oddity and every error it must report. */
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
    GQ_CHECK(t, gq_glue_task_find("Mrpc") && gq_glue_task_find("Mrpc")->has_f1, "MRPC has F1");
    GQ_CHECK(t, gq_glue_task_find("qnl") == NULL && gq_glue_task_find("qnlix") == NULL, "prefixes are not names");
    GQ_CHECK(t, gq_glue_task_find("sst2") == NULL, "unknown task");
    CHECK_STR(t, gq_glue_task_names(), "mrpc, rte, qnli");
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
    FAIL_CASE("rte", "header.tsv", "index\tsentence1\tsentence2\tgold\n0\ta\tb\tentailment\n", GQ_ERR_FORMAT,
              "line 1", "expected 'index\\tsentence1\\tsentence2\\tlabel'");
    /* QNLI's header given for RTE */
    FAIL_CASE("rte", "header2.tsv", "index\tquestion\tsentence\tlabel\n", GQ_ERR_FORMAT, "header is "
              "'index\\tquestion\\tsentence\\tlabel'", "expected 'index\\tsentence1");
    /* an unlabelled header is known for QNLI only */
    FAIL_CASE("rte", "header3.tsv", "index\tsentence1\tsentence2\n", GQ_ERR_FORMAT, "line 1", NULL);
    FAIL_CASE("rte", "header_case.tsv", "Index\tsentence1\tsentence2\tlabel\n", GQ_ERR_FORMAT, "line 1", NULL);
    FAIL_CASE("rte", "header_blank.tsv", "index\tsentence1\tsentence2\tlabel \n", GQ_ERR_FORMAT, "line 1", NULL);
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
    static const gq_glue_task sst2 = {"sst2", "SST-2", 2, {"0", "1"}, 0};
    gq_glue_set *s = NULL;
    gq_err err = {{0}};
    p = WRITE_TMP("sst2.tsv", "sentence\tlabel\n");
    gq_status st = gq_glue_load(&sst2, p, &s, &err);
    GQ_CHECK(t, st == GQ_ERR_ARG && !s && strstr(err.msg, "task 'sst2' is not one of mrpc, rte, qnli"), "%s",
             err.msg);
    free(p);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_glue", tmpdir, sizeof tmpdir);
    test_tasks(&t);
    test_counts(&t);
    test_rows(&t);
    test_accepted(&t);
    test_errors(&t);
    return gq_test_done(&t);
}
