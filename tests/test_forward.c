/* Forward pass vs PyTorch references (fixtures/tiny-{a,b}/expected.safetensors): logits
 * batched and one at a time, per-layer hidden states of example 0, every checkpoint
 * format, and the errors for bad models and inputs. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "distilbert.h"
#include "testlib.h"

typedef struct {
    int n, T;     /* examples, padded width */
    int32_t *ids; /* concatenated unpadded ids */
    int *lens;
    const gq_tensor *logits;
    gq_ckpt *ck;
} reference;

static void load_reference(gq_test_ctx *t, const char *fixture, reference *ref) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/expected.safetensors", fixture);
    ref->ck = gq_test_load(t, rel);
    const gq_tensor *ids = gq_ckpt_find(ref->ck, "input_ids"), *mask = gq_ckpt_find(ref->ck, "attention_mask");
    ref->logits = gq_ckpt_find(ref->ck, "logits");
    ref->n = (int)ids->shape[0], ref->T = (int)ids->shape[1];
    ref->ids = malloc((size_t)ref->n * ref->T * sizeof *ref->ids);
    ref->lens = calloc((size_t)ref->n, sizeof *ref->lens);
    int k = 0;
    for (int i = 0; i < ref->n; i++)
        for (int j = 0; j < ref->T; j++)
            if (mask->data[i * ref->T + j] != 0) ref->ids[k++] = (int32_t)ids->data[i * ref->T + j], ref->lens[i]++;
}

static void free_reference(reference *ref) {
    free(ref->ids), free(ref->lens);
    gq_ckpt_free(ref->ck);
}

typedef struct {
    float *h[64];
    int ntok[64], dim, keep; /* keep the first `keep` tokens of each hidden state */
} hidden_capture;

static void on_hidden(void *ctx, int index, const float *h, int ntok, int dim) {
    hidden_capture *c = ctx;
    if (index >= 64) return;
    free(c->h[index]);
    int n = ntok < c->keep ? ntok : c->keep;
    c->h[index] = malloc((size_t)n * dim * sizeof(float));
    memcpy(c->h[index], h, (size_t)n * dim * sizeof(float));
    c->ntok[index] = n, c->dim = dim;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static void check_model(gq_test_ctx *t, const char *fixture, const char *weights_file) {
    char cfg[512], w[512], what[256];
    snprintf(cfg, sizeof cfg, "%s/fixtures/%s/config.json", t->shared, fixture);
    snprintf(w, sizeof w, "%s/fixtures/%s/%s", t->shared, fixture, weights_file);
    gq_err err = {{0}};
    gq_dbert *m = NULL;
    if (gq_dbert_load_file(cfg, w, &m, &err) != GQ_OK) {
        GQ_CHECK(t, 0, "%s", err.msg);
        return;
    }
    reference ref;
    load_reference(t, fixture, &ref);
    gq_dbert_runner *r = gq_dbert_runner_new(m, 1);
    int nl = m->cfg.n_labels;
    float *logits = malloc((size_t)ref.n * nl * sizeof(float));

    hidden_capture cap = {.keep = ref.lens[0]};
    gq_dbert_hooks hooks = {.ctx = &cap, .hidden = on_hidden};
    GQ_CHECK(t, gq_dbert_forward(r, ref.ids, ref.lens, ref.n, logits, &hooks, &err) == GQ_OK, "%s", err.msg);
    snprintf(what, sizeof what, "%s/%s batched logits", fixture, weights_file);
    gq_check_close(t, what, logits, ref.logits->data, (size_t)ref.n * nl, 1e-4, 0);
    for (int i = 0; i <= m->cfg.n_layers; i++) {
        char name[64];
        snprintf(name, sizeof name, "hidden_states.%d", i);
        const gq_tensor *want = gq_ckpt_find(ref.ck, name);
        GQ_CHECK(t, want && want->shape[0] == cap.ntok[i] && want->shape[1] == cap.dim, "%s: shape", name);
        if (!want || want->shape[0] != cap.ntok[i]) continue;
        snprintf(what, sizeof what, "%s/%s %s", fixture, weights_file, name);
        gq_check_close(t, what, cap.h[i], want->data, (size_t)want->numel, 1e-4 * fmax(1.0, max_abs(want->data, want->numel)), 0);
    }

    /* One sequence at a time must agree with the batch (no cross-talk, no padding). */
    float *single = malloc((size_t)ref.n * nl * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < ref.n; i++) {
        gq_dbert_forward(r, ref.ids + off, &ref.lens[i], 1, single + (size_t)i * nl, NULL, &err);
        off += (size_t)ref.lens[i];
    }
    snprintf(what, sizeof what, "%s/%s one-at-a-time logits", fixture, weights_file);
    gq_check_close(t, what, single, ref.logits->data, (size_t)ref.n * nl, 1e-4, 0);
    snprintf(what, sizeof what, "%s/%s one-at-a-time vs batched", fixture, weights_file);
    gq_check_close(t, what, single, logits, (size_t)ref.n * nl, 1e-5, 0);

    for (int i = 0; i < 64; i++) free(cap.h[i]);
    free(single), free(logits);
    gq_dbert_runner_free(r);
    free_reference(&ref);
    gq_dbert_free(m);
}

/* Writes dir/config.json from the tiny-a config with one key replaced. */
static void write_config(const char *dir, const char *base_cfg, const char *from, const char *to) {
    char *text = NULL;
    gq_read_file(base_cfg, 0, &text, NULL, NULL);
    char *p = strstr(text, from), path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fwrite(text, 1, (size_t)(p - text), f);
    fputs(to, f);
    fputs(p + strlen(from), f);
    fclose(f);
    free(text);
}

static void expect_load_error(gq_test_ctx *t, const char *dir, gq_status want, const char *needle) {
    gq_dbert *m = NULL;
    gq_err err = {{0}};
    gq_status s = gq_dbert_load(dir, &m, &err);
    GQ_CHECK(t, s == want && strstr(err.msg, needle), "want status %d and '%s', got %d: %s", want, needle, s, err.msg);
    GQ_CHECK(t, m == NULL, "no model on failure");
    gq_dbert_free(m);
}

static void check_bad_models(gq_test_ctx *t) {
    char dir[] = "/tmp/gq_forward_XXXXXX", link[600], target[600], cfg[600];
    if (!mkdtemp(dir)) return;
    snprintf(cfg, sizeof cfg, "%s/fixtures/tiny-a/config.json", t->shared);
    snprintf(target, sizeof target, "%s/fixtures/tiny-a/model.safetensors", t->shared);
    snprintf(link, sizeof link, "%s/model.safetensors", dir);
    expect_load_error(t, "/nonexistent/model", GQ_ERR_IO, "not found");
    expect_load_error(t, dir, GQ_ERR_IO, "config.json");
    write_config(dir, cfg, "\"dim\": 64", "\"dim\": 32");
    expect_load_error(t, dir, GQ_ERR_IO, "no model.safetensors");
    GQ_CHECK(t, symlink(target, link) == 0, "symlink");
    expect_load_error(t, dir, GQ_ERR_SHAPE, "'distilbert.embeddings.word_embeddings.weight' has shape [30522,64], config says [30522,32]");
    write_config(dir, cfg, "\"n_layers\": 2", "\"n_layers\": 3");
    expect_load_error(t, dir, GQ_ERR_FORMAT, "missing tensor 'distilbert.transformer.layer.2.attention.q_lin.weight'");
    write_config(dir, cfg, "\"activation\": \"gelu\"", "\"activation\": \"relu\"");
    expect_load_error(t, dir, GQ_ERR_UNSUPPORTED, "activation 'relu'");
    write_config(dir, cfg, "\"model_type\": \"distilbert\"", "\"model_type\": \"bert\"");
    expect_load_error(t, dir, GQ_ERR_UNSUPPORTED, "model_type 'bert'");
    write_config(dir, cfg, "\"n_heads\": 4", "\"n_heads\": 5");
    expect_load_error(t, dir, GQ_ERR_FORMAT, "not a multiple of n_heads");
    write_config(dir, cfg, "{", "[");
    expect_load_error(t, dir, GQ_ERR_FORMAT, "not valid JSON");

    /* Bad inputs to a good model. */
    write_config(dir, cfg, "\"dim\": 64", "\"dim\": 64");
    gq_dbert *m = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_dbert_load(dir, &m, &err) == GQ_OK, "%s", err.msg);
    if (m) {
        gq_dbert_runner *r = gq_dbert_runner_new(m, 1);
        float logits[4];
        int32_t ids[3] = {101, 30522, 102};
        int len = 3, zero = 0, long_len = 513;
        GQ_CHECK(t, gq_dbert_forward(r, ids, &len, 1, logits, NULL, &err) == GQ_ERR_ARG && strstr(err.msg, "30522"),
                 "id out of range: %s", err.msg);
        GQ_CHECK(t, gq_dbert_forward(r, ids, &zero, 1, logits, NULL, &err) == GQ_ERR_ARG, "empty sequence");
        GQ_CHECK(t, gq_dbert_forward(r, ids, &long_len, 1, logits, NULL, &err) == GQ_ERR_ARG && strstr(err.msg, "512"),
                 "too long: %s", err.msg);
        gq_dbert_runner_free(r);
    }
    gq_dbert_free(m);
    unlink(link);
    snprintf(link, sizeof link, "%s/config.json", dir);
    unlink(link);
    rmdir(dir);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_QUIET);
    check_model(&t, "tiny-a", "model.safetensors");
    check_model(&t, "tiny-a", "pytorch_model.bin");
    check_model(&t, "tiny-a", "pytorch_model_legacy.bin");
    check_model(&t, "tiny-b", "model.safetensors");
    check_model(&t, "tiny-b", "pytorch_model.bin");
    check_bad_models(&t);
    return gq_test_done(&t);
}
