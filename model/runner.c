/* runner: the device-neutral gq_encoder_runner (encoder.h), which checks a batch once and
 * hands it to the CPU forward (encoder_cpu.c) or the CUDA one (cuda/, a module loaded only
 * for device cuda: cuda_loader.c). */
#include "runner_impl.h"

#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);

struct gq_encoder_runner {
    const gq_encoder *m;
    gq_encoder_runner_opts opts;
    gq_encoder_cpu *cpu;   /* NULL on CUDA */
    gq_encoder_cuda *cuda; /* NULL on the CPU */
    void *cuda_module;   /* the loaded module (NULL on the CPU) */
    const gq_encoder_cuda_api *cuda_api;
};

const char *gq_device_name(gq_device d) { return d == GQ_DEVICE_CUDA ? "cuda" : "cpu"; }

gq_status gq_device_parse(const char *name, gq_device *out, gq_err *err) {
    if (strcmp(name, "cpu") == 0) *out = GQ_DEVICE_CPU;
    else if (strcmp(name, "cuda") == 0) *out = GQ_DEVICE_CUDA;
    else return gq_fail(err, GQ_ERR_ARG, "device '%s' is not cpu or cuda", name);
    return GQ_OK;
}

gq_status gq_encoder_runner_open(const gq_encoder *m, const gq_encoder_runner_opts *o, gq_encoder_runner **out, gq_err *err) {
    *out = NULL;
    gq_encoder_runner *r = calloc(1, sizeof *r);
    if (!r) return gq_fail(err, GQ_ERR_NOMEM, "runner: out of memory");
    r->m = m;
    if (o) r->opts = *o;
    gq_status s = GQ_OK;
    if (r->opts.device == GQ_DEVICE_CPU) {
        if (!(r->cpu = gq_encoder_cpu_new(m, r->opts.threads))) s = gq_fail(err, GQ_ERR_NOMEM, "runner: out of memory");
    } else {
        s = gq_cuda_module_open(&r->cuda_module, &r->cuda_api, err);
        if (s == GQ_OK && r->opts.threads > 0) openblas_set_num_threads(r->opts.threads); /* for the CPU-side work */
        if (s == GQ_OK) s = r->cuda_api->open(m, r->opts.tf32, &r->cuda, err);
    }
    if (s != GQ_OK) {
        gq_encoder_runner_free(r);
        return s;
    }
    *out = r;
    return GQ_OK;
}

gq_encoder_runner *gq_encoder_runner_new(const gq_encoder *m, int threads) {
    gq_encoder_runner_opts o = {GQ_DEVICE_CPU, threads, 0};
    gq_encoder_runner *r = NULL;
    gq_err err;
    return gq_encoder_runner_open(m, &o, &r, &err) == GQ_OK ? r : NULL;
}

void gq_encoder_runner_free(gq_encoder_runner *r) {
    if (!r) return;
    gq_encoder_cpu_free(r->cpu);
    if (r->cuda) r->cuda_api->free(r->cuda);
    gq_cuda_module_close(r->cuda_module);
    free(r);
}

gq_status gq_encoder_runner_ready(gq_encoder_runner *r, gq_err *err) {
    return r->cuda ? r->cuda_api->ready(r->cuda, err) : GQ_OK;
}

const gq_encoder *gq_encoder_runner_model(const gq_encoder_runner *r) { return r->m; }
gq_device gq_encoder_runner_device(const gq_encoder_runner *r) { return r->opts.device; }
int gq_encoder_runner_threads(const gq_encoder_runner *r) { return r->opts.threads; }

int gq_encoder_runner_batch_tokens(const gq_encoder_runner *r) {
    return r->opts.device == GQ_DEVICE_CUDA ? GQ_ENCODER_CUDA_BATCH_TOKENS : GQ_ENCODER_CPU_BATCH_TOKENS;
}

static gq_status check_inputs(const gq_encoder_config *c, const int32_t *ids, const int *lens, const int *seg_a,
                              int nseq, int *ntok, int *max_len, gq_err *err) {
    int64_t total = 0;
    int longest = gq_encoder_max_len(c);
    *max_len = 0;
    for (int s = 0; s < nseq; s++) {
        if (lens[s] < 1 || lens[s] > longest)
            return gq_fail(err, GQ_ERR_ARG, "sequence %d has %d tokens; the model takes 1 to %d", s, lens[s], longest);
        /* a second segment needs a second token type */
        if (seg_a && c->family->segment_types && (seg_a[s] < 0 || (seg_a[s] < lens[s] && c->type_vocab_size < 2)))
            return gq_fail(err, GQ_ERR_ARG, "sequence %d: first segment of %d tokens, but the model has %d token type(s)",
                           s, seg_a[s], c->type_vocab_size);
        total += lens[s];
        if (lens[s] > *max_len) *max_len = lens[s];
    }
    if (total > INT32_MAX / 4) return gq_fail(err, GQ_ERR_ARG, "batch of %lld tokens is too large", (long long)total);
    for (int64_t t = 0; t < total; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return gq_fail(err, GQ_ERR_ARG, "token id %d is outside the vocabulary of %d", ids[t], c->vocab_size);
    *ntok = (int)total;
    return GQ_OK;
}

gq_status gq_encoder_forward(gq_encoder_runner *r, const int32_t *ids, const int *lens, const int *seg_a, int nseq,
                             float *logits, const gq_encoder_hooks *hooks, gq_err *err) {
    int n = 0, max_len = 0;
    if (nseq <= 0) return GQ_OK;
    gq_status s = check_inputs(&r->m->cfg, ids, lens, seg_a, nseq, &n, &max_len, err);
    if (s != GQ_OK) return s;
    if (r->cuda) return r->cuda_api->forward(r->cuda, ids, lens, seg_a, nseq, n, max_len, logits, hooks, err);
    return gq_encoder_cpu_forward(r->cpu, ids, lens, seg_a, nseq, n, max_len, logits, hooks, err);
}
