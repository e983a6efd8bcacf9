/* test_nomem: SQLite's malloc test (testnomem) over glueq's loaders and writers. Each
 * allocation that an operation makes fails in turn, and each run must end in one error
 * with a message, or in the result of the run without failures; under ASan no run may
 * leak. argv[3] picks one part (all when absent): checkpoint, tokenizer, glue, quant,
 * journal or report. Inputs are small, since the operation runs once per allocation. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "glue.h"
#include "journal.h"
#include "quant.h"
#include "report.h"
#include "testnomem.h"
#include "tokenizer.h"

static char tmpdir[256];

/* ---- checkpoint: safetensors (F32 in place, F16 converted), torch zip, legacy torch ---- */

typedef struct {
    gq_test_ctx *t;
    const char *path;
    const gq_ckpt *ref; /* the file loaded without failures */
} ckpt_ctx;

static int same_ckpt(const gq_ckpt *a, const gq_ckpt *b) {
    if (a->n != b->n || strcmp(a->sha256, b->sha256) || strcmp(a->dtypes, b->dtypes)) return 0;
    for (int i = 0; i < a->n; i++) {
        const gq_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name, y->name) || x->ndim != y->ndim || x->numel != y->numel ||
            memcmp(x->shape, y->shape, sizeof x->shape) || memcmp(x->data, y->data, (size_t)x->numel * sizeof(float)))
            return 0;
    }
    return 1;
}

static gq_status load_ckpt(void *arg, gq_err *err) {
    ckpt_ctx *c = arg;
    gq_ckpt *ck = NULL;
    gq_status st = gq_ckpt_load(c->path, &ck, err);
    if (st == GQ_OK)
        GQ_CHECK(c->t, same_ckpt(ck, c->ref), "%s: loaded differently after an allocation failed", c->path);
    gq_ckpt_free(ck);
    return st;
}

static void test_checkpoint(gq_test_ctx *t) {
    /* the fixtures' first tensors, shrunk, in their formats (fuzz/make_corpus.py) */
    static const char *const files[] = {"model.safetensors", "model_f16.safetensors", "pytorch_model.bin",
                                        "pytorch_model_legacy.bin"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = gq_path_join(GQ_NOMEM_FIXTURES, files[i]), prefix[600];
        gq_ckpt *ref = NULL;
        gq_err err = {{0}};
        GQ_CHECK(t, gq_ckpt_load(path, &ref, &err) == GQ_OK, "%s", err.msg);
        ckpt_ctx c = {t, path, ref};
        snprintf(prefix, sizeof prefix, "%s:", path);
        unsigned flags = strstr(files[i], ".safetensors") ? GQ_NOMEM_PARSES_JSON : 0; /* its header */
        if (ref) gq_test_nomem_loop(t, files[i], prefix, flags, load_ckpt, &c);
        gq_ckpt_free(ref);
        free(path);
    }
}

/* ---- tokenizer: WordPiece's vocab.txt and a small byte-level BPE, a few pairs each ---- */

static const char *const PAIRS[][2] = {
    {"Héllo, WORLD! Don't", "naïve café [SEP] ok"},
    {"東京 is big 🙂", NULL},
    {"unaffable pneumonoultramicroscopicsilicovolcanoconiosis", "ΣΊΣΥΦΟΣ."},
};
#define N_PAIRS (int)(sizeof PAIRS / sizeof PAIRS[0])
#define TOK_MAX_LEN 12 /* truncates the longer pairs */

typedef struct {
    gq_test_ctx *t;
    const char *path; /* a vocab.txt, or a model directory (dir = 1) */
    int dir;
    gq_ids ref[N_PAIRS]; /* the ids without failures */
    int have_ref;
} tok_ctx;

static gq_status tokenize(void *arg, gq_err *err) {
    tok_ctx *c = arg;
    gq_tok *tok = NULL;
    gq_ids ids = {0};
    gq_status st = c->dir ? gq_tok_load_dir(c->path, &tok, err) : gq_tok_load(c->path, &tok, err);
    for (int i = 0; st == GQ_OK && i < N_PAIRS; i++) {
        st = gq_tok_encode(tok, PAIRS[i][0], PAIRS[i][1], TOK_MAX_LEN, c->have_ref ? &ids : &c->ref[i], err);
        if (st == GQ_OK && c->have_ref)
            GQ_CHECK(c->t, ids.n == c->ref[i].n && !memcmp(ids.v, c->ref[i].v, (size_t)ids.n * sizeof *ids.v),
                     "%s, pair %d: other ids after an allocation failed", c->path, i);
    }
    gq_ids_free(&ids);
    gq_tok_free(tok);
    return st;
}

static void write_tmp(gq_test_ctx *t, const char *dir, const char *name, const char *text) {
    char *path = gq_path_join(dir, name);
    gq_err err = {{0}};
    GQ_CHECK(t, path && gq_write_file_atomic(path, text, strlen(text), &err) == GQ_OK, "%s", err.msg);
    free(path);
}

/* A RoBERTa-style model directory with a small byte-level BPE: the special tokens, the
 * symbols of space and ASCII letters (other bytes are left out, as a BPE without them
 * does) and a few merges. The fixture's vocab (cJSON makes two allocations a token) would
 * make the loop long. Returns its path (caller frees). */
static char *small_bpe(gq_test_ctx *t) {
    static const char *const merges[][2] = {{"o", "n"}, {"i", "s"}, {"\xc4\xa0", "is"}, {"\xc4\xa0", "b"}, {"a", "f"},
                                            {"af", "f"}};
    char *dir = gq_path_join(tmpdir, "bpe");
    gq_err err = {{0}};
    GQ_CHECK(t, dir && gq_mkdirs(dir, &err) == GQ_OK, "%s", err.msg);
    char vocab[2048], merge_text[256] = "#version: 0.2\n";
    int n = snprintf(vocab, sizeof vocab, "{\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"<mask>\": 4, "
                                          "\"\xc4\xa0\": 5"), id = 6;
    for (int ch = 'A'; ch <= 'z'; ch++)
        if (ch <= 'Z' || ch >= 'a') n += snprintf(vocab + n, sizeof vocab - (size_t)n, ", \"%c\": %d", ch, id++);
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        n += snprintf(vocab + n, sizeof vocab - (size_t)n, ", \"%s%s\": %d", merges[i][0], merges[i][1], id++);
        size_t m = strlen(merge_text);
        snprintf(merge_text + m, sizeof merge_text - m, "%s %s\n", merges[i][0], merges[i][1]);
    }
    snprintf(vocab + n, sizeof vocab - (size_t)n, "}");
    write_tmp(t, dir, "vocab.json", vocab);
    write_tmp(t, dir, "merges.txt", merge_text);
    write_tmp(t, dir, "tokenizer_config.json",
              "{\"tokenizer_class\": \"RobertaTokenizer\", \"add_prefix_space\": true}");
    return dir;
}

static void tokenizer_loop(gq_test_ctx *t, const char *name, const char *path, int dir, unsigned flags) {
    tok_ctx c = {.t = t, .path = path, .dir = dir};
    gq_err err = {{0}};
    GQ_CHECK(t, tokenize(&c, &err) == GQ_OK, "%s: %s", name, err.msg);
    c.have_ref = 1;
    gq_test_nomem_loop(t, name, NULL, flags, tokenize, &c);
    for (int i = 0; i < N_PAIRS; i++) gq_ids_free(&c.ref[i]);
}

/* A BERT-style model directory: vocab.txt and a tokenizer_config.json for cased WordPiece
 * without accent stripping. Returns its path (caller frees). */
static char *cased_wordpiece(gq_test_ctx *t, const char *vocab) {
    char *dir = gq_path_join(tmpdir, "cased"), *text = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, dir && gq_mkdirs(dir, &err) == GQ_OK && gq_read_file(vocab, 0, &text, NULL, &err) == GQ_OK, "%s",
             err.msg);
    write_tmp(t, dir, "vocab.txt", text ? text : "");
    write_tmp(t, dir, "tokenizer_config.json",
              "{\"tokenizer_class\": \"BertTokenizer\", \"do_lower_case\": false, \"strip_accents\": false}");
    free(text);
    return dir;
}

static void test_tokenizer(gq_test_ctx *t) {
    char *vocab = gq_test_path(t, "assets/vocab/vocab.txt"), *cased = cased_wordpiece(t, vocab), *bpe = small_bpe(t);
    tokenizer_loop(t, "tokenizer wordpiece", vocab, 0, 0);
    /* tokenizer_config.json and vocab.json are parsed with cJSON */
    tokenizer_loop(t, "tokenizer wordpiece cased", cased, 1, GQ_NOMEM_PARSES_JSON);
    tokenizer_loop(t, "tokenizer bpe", bpe, 1, GQ_NOMEM_PARSES_JSON);
    free(vocab), free(cased), free(bpe);
}

/* ---- GLUE: the first rows of RTE's dev split, and the fixture files of the tasks whose
 * files differ (CoLA without a header, STS-B's scores, MNLI's genres) ---- */

#define GLUE_ROWS 4

typedef struct {
    gq_test_ctx *t;
    const gq_glue_task *task;
    const char *path;
    const gq_glue_set *ref;
} glue_ctx;

static int same_text(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

static gq_status load_glue(void *arg, gq_err *err) {
    glue_ctx *c = arg;
    gq_glue_set *set = NULL;
    gq_status st = gq_glue_load(c->task, c->path, &set, err);
    int same = st != GQ_OK || (set->n == c->ref->n && !strcmp(set->sha256, c->ref->sha256));
    for (int i = 0; st == GQ_OK && same && i < set->n; i++)
        same = same_text(set->rows[i].a, c->ref->rows[i].a) && same_text(set->rows[i].b, c->ref->rows[i].b) &&
               set->rows[i].label == c->ref->rows[i].label && set->rows[i].score == c->ref->rows[i].score;
    GQ_CHECK(c->t, same, "%s: other rows after an allocation failed", c->path);
    gq_glue_free(set);
    return st;
}

static void glue_loop(gq_test_ctx *t, const char *task, const char *path, int want_rows) {
    gq_glue_set *ref = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_glue_load(gq_glue_task_find(task), path, &ref, &err) == GQ_OK && ref->n == want_rows, "%s",
             err.msg);
    glue_ctx c = {t, gq_glue_task_find(task), path, ref};
    char prefix[600], what[64];
    snprintf(prefix, sizeof prefix, "%s:", path);
    snprintf(what, sizeof what, "glue %s", task);
    if (ref) gq_test_nomem_loop(t, what, prefix, 0, load_glue, &c);
    gq_glue_free(ref);
}

static void test_glue(gq_test_ctx *t) {
    char *dev = gq_test_path(t, "assets/glue/RTE/dev.tsv"), *text = NULL, *path = gq_path_join(tmpdir, "dev.tsv");
    size_t len = 0;
    gq_err err = {{0}};
    if (gq_read_file(dev, 0, &text, &len, &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        exit(2);
    }
    char *end = text;
    for (int i = 0; i <= GLUE_ROWS && end; i++) end = strchr(end, '\n') + 1; /* the header and GLUE_ROWS rows */
    GQ_CHECK(t, gq_write_file_atomic(path, text, (size_t)(end - text), &err) == GQ_OK, "%s", err.msg);
    glue_loop(t, "rte", path, GLUE_ROWS);
    glue_loop(t, "cola", GQ_TEST_FIXTURES_DIR "/glue/CoLA/dev.tsv", 20);
    glue_loop(t, "stsb", GQ_TEST_FIXTURES_DIR "/glue/STS-B/dev.tsv", 20);
    glue_loop(t, "mnli", GQ_TEST_FIXTURES_DIR "/glue/MNLI/dev_matched.tsv", 12);
    free(text), free(dev), free(path);
}

/* ---- quantization: svd and awq scores, GPTQ applied twice, on a small random model ---- */

typedef struct {
    gq_test_ctx *t;
    gq_encoder *m;
    gq_encoder_runner *r; /* of the current run */
    gq_quant_report ref[2];
    int have_ref;
} quant_ctx;

static const int32_t CALIB_IDS[12] = {1, 19, 49, 20, 60, 19, 35, 2, 9, 21, 22, 2};

static gq_status calibrate(void *arg, const gq_encoder_hooks *hooks, gq_err *err) {
    quant_ctx *c = arg;
    float logits[4];
    return gq_encoder_forward(c->r, CALIB_IDS, (int[]){8, 4}, NULL, 2, logits, hooks, err);
}

static int same_report(const gq_quant_report *a, const gq_quant_report *b) {
    int same = a->n_mats == b->n_mats && a->total_protected == b->total_protected;
    for (int i = 0; same && i < a->n_mats; i++)
        same = a->protected_count[i] == b->protected_count[i] && a->sq_err[i] == b->sq_err[i];
    return same;
}

static gq_status quantize(void *arg, gq_err *err) {
    quant_ctx *c = arg;
    gq_quant_session *s = NULL;
    gq_quant_scores *svd = NULL, *awq = NULL;
    gq_quant_report rep[2];
    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    gq_quant_budget b = {.k = 4, .p = -1};
    c->r = gq_encoder_runner_new(c->m, 1);
    gq_status st =
        c->r ? gq_quant_session_new(c->m, NULL, &s, err) : gq_fail(err, GQ_ERR_NOMEM, "runner: out of memory");
    if (st == GQ_OK) {
        gq_quant_session_set_threads(s, 2); /* the worker allocates too; its failures return via the pool */
        gq_quant_session_set_calibration(s, "nomem", calibrate, c);
        st = gq_quant_scores_compute(s, "svd", NULL, &q, &svd, err);
    }
    if (st == GQ_OK) st = gq_quant_scores_compute(s, "awq", NULL, &q, &awq, err);
    /* GPTQ with the FP32 statistics (svd's protected sets), then with each layer's taken
     * from the model quantized so far (awq's) */
    q.algorithm = GQ_ALGO_GPTQ;
    for (int seq = 0; seq < 2 && st == GQ_OK; seq++) {
        q.calib_from_quantized = seq;
        st = gq_quant_apply(s, seq ? awq : svd, &q, &b, &rep[seq], err);
    }
    if (st == GQ_OK && c->have_ref)
        GQ_CHECK(c->t, same_report(&rep[0], &c->ref[0]) && same_report(&rep[1], &c->ref[1]),
                 "quantized differently after an allocation failed");
    else if (st == GQ_OK)
        memcpy(c->ref, rep, sizeof rep);
    if (s) gq_quant_session_restore(s); /* the next run starts from the FP32 weights */
    gq_quant_scores_free(svd), gq_quant_scores_free(awq);
    gq_quant_session_free(s);
    gq_encoder_runner_free(c->r);
    return st;
}

static void test_quant(gq_test_ctx *t) {
    /* two layers, so that calibrating from the quantized model has a layer to run it on; far
     * smaller than the fixtures, since every run computes the scores and quantizes again */
    gq_encoder_config cfg = {.family = gq_encoder_family_find("distilbert"), .dim = 32, .n_layers = 2, .n_heads = 2,
                             .hidden_dim = 64, .vocab_size = 64, .max_pos = 16, .ln_eps = 1e-12, .n_labels = 2};
    quant_ctx c = {.t = t};
    gq_err err = {{0}};
    GQ_CHECK(t, gq_encoder_random(&cfg, 7, &c.m, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, c.m && quantize(&c, &err) == GQ_OK, "%s", err.msg);
    c.have_ref = 1;
    if (c.m) gq_test_nomem_loop(t, "quantization", NULL, 0, quantize, &c);
    gq_encoder_free(c.m);
}

/* ---- writers: output compared with that of the run without failures ---- */

/* The first of the files `names` whose bytes differ between directories a and b, or NULL
 * (checks of runs that succeeded, which may allocate: the caller has disarmed failures). */
static const char *differing_file(const char *a, const char *b, const char *const *names) {
    for (int i = 0; names[i]; i++) {
        char *pa = gq_path_join(a, names[i]), *pb = gq_path_join(b, names[i]), *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        gq_err err = {{0}};
        int same = pa && pb && gq_read_file(pa, 0, &x, &nx, &err) == GQ_OK &&
                   gq_read_file(pb, 0, &y, &ny, &err) == GQ_OK && nx == ny && !memcmp(x, y, nx);
        free(pa), free(pb), free(x), free(y);
        if (!same) return names[i];
    }
    return NULL;
}

/* tmpdir/name, created (caller frees). */
static char *tmp_subdir(const char *name) {
    char *p = gq_path_join(tmpdir, name);
    gq_err err = {{0}};
    if (!p || gq_mkdirs(p, &err) != GQ_OK) {
        fprintf(stderr, "FATAL cannot create %s: %s\n", p ? p : name, err.msg);
        exit(2);
    }
    return p;
}

typedef struct {
    gq_test_ctx *t;
    const cJSON *rows, *header;
    const char *dir, *ref_dir; /* this run's output, the run without failures' */
} write_ctx;

/* Runs the loop of writer fn over rows, its output in tmpdir/<name>-run compared with that of
 * the run without failures in tmpdir/<name>-ref; with prefix_dir, every message must start
 * with the output directory. */
static void test_writer(gq_test_ctx *t, const char *name, int prefix_dir, unsigned flags, gq_nomem_fn fn,
                        const cJSON *rows) {
    cJSON *header = cJSON_Parse("{\"name\": \"nomem\", \"tasks\": [\"rte\", \"mrpc\"], \"n_points\": 8}");
    char ref_name[64], run_name[64];
    snprintf(ref_name, sizeof ref_name, "%s-ref", name), snprintf(run_name, sizeof run_name, "%s-run", name);
    char *ref_dir = tmp_subdir(ref_name), *dir = tmp_subdir(run_name);
    write_ctx c = {t, rows, header, ref_dir, NULL};
    gq_err err = {{0}};
    GQ_CHECK(t, fn(&c, &err) == GQ_OK, "%s: %s", name, err.msg);
    c.dir = dir, c.ref_dir = ref_dir;
    /* a writer that goes on after an allocation failed has skipped a step, even where its
     * files come out the same (a directory's fsync, say) */
    GQ_CHECK(t, gq_test_nomem_loop(t, name, prefix_dir ? dir : NULL, flags, fn, &c) == 0,
             "%s: a run succeeded although an allocation failed", name);
    cJSON_Delete(header);
    free(ref_dir), free(dir);
}

/* ---- journal: created, resumed, read and written whole ---- */

static const char *const JOURNAL_FILES[] = {"journal.jsonl", "merged.jsonl", NULL};
static const char JOURNAL_HASH[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* A sweep's life: a journal created with two rows, resumed for the rest, read back and
 * written whole (as a merge does). */
static gq_status journal(void *arg, gq_err *err) {
    write_ctx *c = arg;
    char *path = gq_path_join(c->dir, JOURNAL_FILES[0]), *merged = gq_path_join(c->dir, JOURNAL_FILES[1]);
    if (!path || !merged) {
        free(path), free(merged);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for the journals' paths", c->dir);
    }
    unlink(path), unlink(merged);
    gq_journal *j = NULL;
    cJSON *rows = NULL, *header = NULL;
    int n = cJSON_GetArraySize(c->rows);
    gq_status st = gq_journal_open(path, JOURNAL_HASH, c->header, 0, &j, NULL, err);
    for (int i = 0; st == GQ_OK && i < 2; i++) st = gq_journal_append(j, cJSON_GetArrayItem(c->rows, i), err);
    gq_journal_close(j);
    j = NULL;
    if (st == GQ_OK) st = gq_journal_open(path, JOURNAL_HASH, c->header, 1, &j, &rows, err);
    if (st == GQ_OK && cJSON_GetArraySize(rows) != 2)
        st = gq_fail(err, GQ_ERR_FORMAT, "%s: resumed with %d rows, not 2", path, cJSON_GetArraySize(rows));
    for (int i = 2; st == GQ_OK && i < n; i++) st = gq_journal_append(j, cJSON_GetArrayItem(c->rows, i), err);
    gq_journal_close(j);
    cJSON_Delete(rows);
    rows = NULL;
    char hash[65];
    if (st == GQ_OK) st = gq_journal_read(path, hash, &header, &rows, err);
    if (st == GQ_OK) st = gq_journal_write(merged, hash, header, rows, err);
    cJSON_Delete(header), cJSON_Delete(rows);
    free(path), free(merged);
    if (st == GQ_OK && c->ref_dir) {
        gq_test_nomem_disarm();
        const char *bad = differing_file(c->dir, c->ref_dir, JOURNAL_FILES);
        GQ_CHECK(c->t, !bad, "%s differs from the run's without failures", bad);
    }
    return st;
}

/* Journals hold any rows with a point_id: a few short ones keep the loop short, since each
 * run appends with fsync. */
static void test_journal(gq_test_ctx *t) {
    cJSON *rows = cJSON_Parse("[{\"point_id\": \"a\", \"index\": 0}, {\"point_id\": \"b\", \"index\": 1},"
                              " {\"point_id\": \"c\", \"index\": 2, \"preds\": [1, 0]}]");
    test_writer(t, "journal", 1, GQ_NOMEM_PARSES_JSON, journal, rows); /* resuming reads it */
    cJSON_Delete(rows);
}

/* ---- report: rows sorted, then the five result files ---- */

/* Rows as a sweep's journal holds them: two tasks, FP32, uniform and svd at two budgets;
 * one row with its arrays preformatted, as rows made in the sweep's process are. */
static cJSON *make_rows(void) {
    static const char *const tasks[] = {"rte", "mrpc"}, *const methods[] = {"fp32", "uniform", "svd", "svd"};
    static const int k[] = {0, 0, 4, 16};
    cJSON *rows = cJSON_CreateArray();
    for (int i = 0; i < 8; i++) {
        const char *task = tasks[i / 4], *method = methods[i % 4];
        int correct = 3 + i % 3, fp32 = i % 4 == 0;
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"point_id\":\"p%02d\",\"index\":%d,\"task\":\"%s\",\"method\":\"%s\",\"bits\":%d,\"k\":%d,"
                 "\"p\":null,\"global\":false,\"scheme\":\"symmetric\",\"granularity\":\"row\",\"clip\":\"std:2.5\","
                 "\"stats_exclude_protected\":false,\"algorithm\":\"rtn\",\"method_options\":\"%s\",\"seed\":null,"
                 "\"max_len\":128,\"limit\":null,\"correct\":%d,\"total\":5,\"accuracy\":%g,\"f1\":%s,\"flips\":%d,"
                 "\"agreement\":%g,\"kl\":0.01,\"protected\":%d,\"seconds\":1.5,\"checkpoint_sha256\":\"abc\","
                 "\"data_sha256\":\"def\",\"n_labels\":2,\"labels\":[0,1,1,0,1],\"preds\":[0,1,%d,0,1],"
                 "\"logits\":[0.5,-0.5,1,2,-1,1,0.25,0,3,-3]}",
                 i, 7 - i, task, method, fp32 ? 32 : 4, k[i % 4], k[i % 4] ? "rank=8" : "", correct, correct / 5.0,
                 i / 4 ? "0.75" : "null", fp32 ? 0 : 5 - correct, fp32 ? 1 : correct / 5.0, 12 * k[i % 4], i % 2);
        cJSON_AddItemToArray(rows, cJSON_Parse(text));
    }
    float logits[10] = {0.5f, -0.5f, 1, 2, -1, 1, 0.25f, 0, 3, -3};
    char *raw = gq_report_float_array(logits, 10);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(rows, 2), "logits", cJSON_CreateRaw(raw));
    free(raw);
    gq_report_sort_rows(rows, NULL);
    return rows;
}

static const char *const REPORT_FILES[] = {"results.csv", "results.json", "predictions.jsonl", "table.md", "plot.svg",
                                           NULL};

static gq_status report(void *arg, gq_err *err) {
    write_ctx *c = arg;
    gq_status st = gq_report_write(c->dir, c->header, c->header, c->rows, err);
    if (st == GQ_OK && c->ref_dir) {
        gq_test_nomem_disarm();
        const char *bad = differing_file(c->dir, c->ref_dir, REPORT_FILES);
        GQ_CHECK(c->t, !bad, "%s differs from the run's without failures", bad);
    }
    return st;
}

/* Rows out of order with a repeated point, sorted as a sweep or a merge sorts its rows
 * before writing them: a copy is sorted in each run. */
typedef struct {
    gq_test_ctx *t;
    cJSON *rows;
} sort_ctx;

static gq_status sort_rows(void *arg, gq_err *err) {
    sort_ctx *c = arg;
    cJSON *rows = cJSON_Duplicate(c->rows, 1);
    if (!rows) return gq_fail(err, GQ_ERR_NOMEM, "rows: out of memory for the copy");
    int dropped = gq_report_sort_rows(rows, NULL);
    gq_status st = dropped < 0 ? gq_fail(err, GQ_ERR_NOMEM, "rows: out of memory while sorting") : GQ_OK;
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 0), "point_id");
    if (st == GQ_OK)
        GQ_CHECK(c->t, dropped == 1 && cJSON_GetArraySize(rows) == 2 && cJSON_IsString(first) &&
                           !strcmp(first->valuestring, "a"),
                 "rows sorted to %d rows, %d dropped", cJSON_GetArraySize(rows), dropped);
    cJSON_Delete(rows);
    return st;
}

static void test_report(gq_test_ctx *t) {
    sort_ctx s = {t, cJSON_Parse("[{\"point_id\": \"b\", \"index\": 1}, {\"point_id\": \"a\", \"index\": 0},"
                                 " {\"point_id\": \"b\", \"index\": 1}]")};
    gq_test_nomem_loop(t, "sorting rows", NULL, 0, sort_rows, &s);
    cJSON_Delete(s.rows);
    cJSON *rows = make_rows();
    GQ_CHECK(t, cJSON_GetArraySize(rows) == 8, "the report's rows did not parse");
    test_writer(t, "report", 0, 0, report, rows);
    cJSON_Delete(rows);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_WARN);
    gq_test_tmpdir(&t, "gq_nomem", tmpdir, sizeof tmpdir);
    static const struct {
        const char *name;
        void (*run)(gq_test_ctx *);
    } parts[] = {{"checkpoint", test_checkpoint}, {"tokenizer", test_tokenizer}, {"glue", test_glue},
                 {"quant", test_quant},           {"journal", test_journal},     {"report", test_report}};
    const char *only = argc > 3 ? argv[3] : NULL;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (!only || !strcmp(only, parts[i].name)) parts[i].run(&t);
    return gq_test_done(&t);
}
