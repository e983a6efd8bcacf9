/* testenc: see testenc.h. */
#define _POSIX_C_SOURCE 200809L
#include "testenc.h"

#include <stdlib.h>
#include <string.h>

char *gq_test_encoder_dir(const char *name) {
    const char *dir = getenv("GLUEQ_ENCODER_FIXTURES");
    return gq_path_join(dir && *dir ? dir : GQ_TEST_FIXTURES_DIR "/encoders", name);
}

gq_encoder *gq_test_encoder_load(gq_test_ctx *t, const char *name) {
    char *dir = gq_test_encoder_dir(name);
    gq_encoder *m = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_encoder_load(dir, &m, &err) == GQ_OK, "%s", err.msg);
    free(dir);
    return m;
}

static const gq_tensor *need(const gq_ckpt *ck, const char *prefix, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    const gq_tensor *x = gq_ckpt_find(ck, key);
    if (!x) {
        fprintf(stderr, "FATAL %s: no tensor %s\n", ck->path, key);
        exit(1);
    }
    return x;
}

void gq_test_sequences_load(gq_test_ctx *t, const char *fixture, const char *prefix, gq_test_sequences *s) {
    memset(s, 0, sizeof *s);
    char *dir = gq_test_encoder_dir(fixture), *path = gq_path_join(dir, "expected.safetensors");
    gq_err err = {{0}};
    if (gq_ckpt_load(path, &s->ck, &err) != GQ_OK) {
        fprintf(stderr, "FATAL cannot load fixture: %s\n", err.msg);
        exit(1);
    }
    free(dir), free(path);
    const gq_tensor *ids = need(s->ck, prefix, "ids"), *lens = need(s->ck, prefix, "lens");
    const gq_tensor *seg = need(s->ck, prefix, "seg_a");
    s->logits = need(s->ck, prefix, "logits")->data;
    s->n = (int)lens->numel;
    s->ids = malloc((size_t)ids->numel * sizeof *s->ids);
    s->lens = malloc((size_t)s->n * sizeof *s->lens), s->seg_a = malloc((size_t)s->n * sizeof *s->seg_a);
    for (int64_t i = 0; i < ids->numel; i++) s->ids[i] = (int32_t)ids->data[i];
    for (int i = 0; i < s->n; i++) s->lens[i] = (int)lens->data[i], s->seg_a[i] = (int)seg->data[i];
    t->checks++;
}

void gq_test_sequences_free(gq_test_sequences *s) {
    free(s->ids), free(s->lens), free(s->seg_a);
    gq_ckpt_free(s->ck);
    memset(s, 0, sizeof *s);
}

float *gq_test_encoder_logits(gq_test_ctx *t, gq_encoder_runner *r, const gq_test_sequences *s,
                              const gq_encoder_hooks *hk) {
    float *logits = calloc((size_t)s->n * gq_encoder_runner_model(r)->cfg.n_labels, sizeof *logits);
    gq_err err = {{0}};
    GQ_CHECK(t, logits && gq_encoder_forward(r, s->ids, s->lens, s->seg_a, s->n, logits, hk, &err) == GQ_OK, "%s",
             err.msg);
    return logits;
}

/* Every hidden state of a forward with hooks, all rows of the batch. */
enum { MAX_STATES = 64 };
typedef struct {
    float *h[MAX_STATES];
    int dim;
} hidden_capture;

static void on_hidden(void *ctx, int index, const float *h, int ntok, int dim) {
    hidden_capture *c = ctx;
    if (index >= MAX_STATES) return;
    free(c->h[index]);
    c->h[index] = malloc((size_t)ntok * dim * sizeof(float));
    if (c->h[index]) memcpy(c->h[index], h, (size_t)ntok * dim * sizeof(float));
    c->dim = dim;
}

void gq_test_encoder_hidden(gq_test_ctx *t, const char *what, gq_encoder_runner *r, const gq_test_sequences *s,
                            double atol, double logit_atol) {
    hidden_capture cap = {.dim = 0};
    gq_encoder_hooks hk = {.ctx = &cap, .hidden = on_hidden};
    const gq_encoder_config *c = &gq_encoder_runner_model(r)->cfg;
    float *logits = gq_test_encoder_logits(t, r, s, &hk);
    char name[160];
    snprintf(name, sizeof name, "%s logits with hooks (every block on every row)", what);
    gq_check_close(t, name, logits, s->logits, (size_t)s->n * c->n_labels, logit_atol, 0);
    int found = 0;
    for (int k = 0, row = 0; k < s->n; row += s->lens[k++])
        for (int i = 0; i <= c->n_layers && i < MAX_STATES; i++) {
            char key[64];
            snprintf(key, sizeof key, "hidden_states.%d.%d", k, i);
            const gq_tensor *want = gq_ckpt_find(s->ck, key);
            if (!want) continue;
            found++;
            GQ_CHECK(t, want->shape[0] == s->lens[k] && want->shape[1] == c->dim && cap.h[i], "%s %s: shape", what,
                     key);
            if (want->shape[0] != s->lens[k] || want->shape[1] != c->dim || !cap.h[i]) continue;
            snprintf(name, sizeof name, "%s %s", what, key);
            gq_check_close(t, name, cap.h[i] + (size_t)row * c->dim, want->data, (size_t)want->numel, atol, 0);
        }
    GQ_CHECK(t, found > c->n_layers, "%s: the references hold no hidden states", what);
    for (int i = 0; i < MAX_STATES; i++) free(cap.h[i]);
    free(logits);
}
