/* test_nomem: SQLite's malloc test (testnomem) over glueq's loaders and writers. Each
 * allocation that an operation makes fails in turn, and each run must end in one error
 * with a message, or in the result of the run without failures; under ASan no run may
 * leak. argv[3] picks one part (all when absent): checkpoint, tokenizer or glue. Inputs
 * are small, since the operation runs once per allocation. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "glue.h"
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
    if (st == GQ_OK) GQ_CHECK(c->t, same_ckpt(ck, c->ref), "%s: loaded differently after an allocation failed", c->path);
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

/* ---- tokenizer: the vocab and a few pairs ---- */

static const char *const PAIRS[][2] = {
    {"Héllo, WORLD! Don't", "naïve café [SEP] ok"},
    {"東京 is big 🙂", NULL},
    {"unaffable pneumonoultramicroscopicsilicovolcanoconiosis", "ΣΊΣΥΦΟΣ."},
};
#define N_PAIRS (int)(sizeof PAIRS / sizeof PAIRS[0])
#define TOK_MAX_LEN 12 /* truncates the longer pairs */

typedef struct {
    gq_test_ctx *t;
    const char *vocab;
    gq_ids ref[N_PAIRS]; /* the ids without failures */
    int have_ref;
} tok_ctx;

static gq_status tokenize(void *arg, gq_err *err) {
    tok_ctx *c = arg;
    gq_tok *tok = NULL;
    gq_ids ids = {0};
    gq_status st = gq_tok_load(c->vocab, &tok, err);
    for (int i = 0; st == GQ_OK && i < N_PAIRS; i++) {
        st = gq_tok_encode(tok, PAIRS[i][0], PAIRS[i][1], TOK_MAX_LEN, c->have_ref ? &ids : &c->ref[i], err);
        if (st == GQ_OK && c->have_ref)
            GQ_CHECK(c->t, ids.n == c->ref[i].n && !memcmp(ids.v, c->ref[i].v, (size_t)ids.n * sizeof *ids.v),
                     "pair %d: other ids after an allocation failed", i);
    }
    gq_ids_free(&ids);
    gq_tok_free(tok);
    return st;
}

static void test_tokenizer(gq_test_ctx *t) {
    char *vocab = gq_test_path(t, "assets/vocab/vocab.txt");
    tok_ctx c = {.t = t, .vocab = vocab};
    gq_err err = {{0}};
    GQ_CHECK(t, tokenize(&c, &err) == GQ_OK, "%s", err.msg);
    c.have_ref = 1;
    gq_test_nomem_loop(t, "tokenizer", NULL, 0, tokenize, &c);
    for (int i = 0; i < N_PAIRS; i++) gq_ids_free(&c.ref[i]);
    free(vocab);
}

/* ---- GLUE: the first rows of RTE's dev split ---- */

#define GLUE_ROWS 4

typedef struct {
    gq_test_ctx *t;
    const char *path;
    const gq_glue_set *ref;
} glue_ctx;

static gq_status load_glue(void *arg, gq_err *err) {
    glue_ctx *c = arg;
    gq_glue_set *set = NULL;
    gq_status st = gq_glue_load(gq_glue_task_find("rte"), c->path, &set, err);
    int same = st != GQ_OK || (set->n == c->ref->n && !strcmp(set->sha256, c->ref->sha256));
    for (int i = 0; st == GQ_OK && same && i < set->n; i++)
        same = !strcmp(set->rows[i].a, c->ref->rows[i].a) && !strcmp(set->rows[i].b, c->ref->rows[i].b) &&
               set->rows[i].label == c->ref->rows[i].label;
    GQ_CHECK(c->t, same, "%s: other rows after an allocation failed", c->path);
    gq_glue_free(set);
    return st;
}

static void test_glue(gq_test_ctx *t) {
    char *dev = gq_test_path(t, "assets/glue/RTE/dev.tsv"), *text = NULL, *path = gq_path_join(tmpdir, "dev.tsv");
    size_t len = 0;
    gq_err err = {{0}};
    gq_glue_set *ref = NULL;
    if (gq_read_file(dev, 0, &text, &len, &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        exit(2);
    }
    char *end = text;
    for (int i = 0; i <= GLUE_ROWS && end; i++) end = strchr(end, '\n') + 1; /* the header and GLUE_ROWS rows */
    GQ_CHECK(t, gq_write_file_atomic(path, text, (size_t)(end - text), &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_glue_load(gq_glue_task_find("rte"), path, &ref, &err) == GQ_OK && ref->n == GLUE_ROWS, "%s",
             err.msg);
    glue_ctx c = {t, path, ref};
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:", path);
    if (ref) gq_test_nomem_loop(t, "glue", prefix, 0, load_glue, &c);
    gq_glue_free(ref);
    free(text), free(dev), free(path);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_WARN);
    gq_test_tmpdir(&t, "gq_nomem", tmpdir, sizeof tmpdir);
    static const struct {
        const char *name;
        void (*run)(gq_test_ctx *);
    } parts[] = {{"checkpoint", test_checkpoint}, {"tokenizer", test_tokenizer}, {"glue", test_glue}};
    const char *only = argc > 3 ? argv[3] : NULL;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (!only || !strcmp(only, parts[i].name)) parts[i].run(&t);
    return gq_test_done(&t);
}
