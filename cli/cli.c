/* cli: shared pieces of the subcommands (see cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "blas.h"
#include "hub.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

int gq_cli_fail(const gq_err *err, gq_status s) {
    fprintf(stderr, "glueq: %s\n", err->msg[0] ? err->msg : gq_status_str(s));
    return s == GQ_ERR_ARG ? 2 : 1;
}

int gq_cli_fail_run(const gq_err *err) {
    fprintf(stderr, "glueq: %s\n", err->msg[0] ? err->msg : "failed");
    return 1;
}

/* --method-opt key=value, repeatable; --scores FILE is --method-opt scores=FILE. */
static gq_status parse_method_opts(const gq_args *a, gq_method_opts *mo, gq_err *err) {
    const char *kv = gq_args_get(a, "scores");
    if (kv) {
        gq_status s = gq_method_opts_set(mo, "scores", kv, err);
        if (s != GQ_OK) return s;
    }
    for (int i = 0; (kv = gq_args_get_nth(a, "method-opt", i)); i++) {
        const char *eq = strchr(kv, '=');
        char key[64];
        if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
            return gq_fail(err, GQ_ERR_ARG, "option '--method-opt': '%s' is not key=value", kv);
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        gq_status s = gq_method_opts_set(mo, key, eq + 1, err);
        if (s != GQ_OK) return s;
    }
    return GQ_OK;
}

static gq_status parse_calib(const gq_args *a, gq_calib_opts *c, gq_err *err) {
    long n, seed;
    gq_status s;
    gq_calib_opts_default(c);
    if ((s = gq_args_int(a, "calib-n", 1, 1000000, c->n, &n, err)) ||
        (s = gq_args_int(a, "calib-seed", 0, INT32_MAX, 0, &seed, err)))
        return s;
    c->n = (int)n, c->seed = (uint64_t)seed;
    const char *split = gq_args_get(a, "calib-split"), *sample = gq_args_get(a, "calib-sample");
    if (split && strcmp(split, "train") && strcmp(split, "dev") && strcmp(split, "test"))
        return gq_fail(err, GQ_ERR_ARG, "option '--calib-split': '%s' is not train, dev or test", split);
    if (split) snprintf(c->split, sizeof c->split, "%s", split);
    if (sample && strcmp(sample, "first") && strcmp(sample, "random"))
        return gq_fail(err, GQ_ERR_ARG, "option '--calib-sample': '%s' is not first or random", sample);
    c->random = sample && strcmp(sample, "random") == 0;
    return GQ_OK;
}

gq_status gq_cli_quant_parse(const gq_args *a, gq_quant_setup *cq, gq_err *err) {
    memset(cq, 0, sizeof *cq);
    long bits, k;
    double p;
    gq_status s;
    if ((s = gq_args_int(a, "bits", 2, 8, 4, &bits, err)) || (s = gq_args_int(a, "k", 0, INT32_MAX, 0, &k, err)) ||
        (s = gq_args_double(a, "p", 0, 1, -1, &p, err)))
        return s;
    if (gq_args_has(a, "k") && gq_args_has(a, "p"))
        return gq_fail(err, GQ_ERR_ARG, "options '--k' and '--p' exclude each other");
    cq->method = gq_args_get(a, "method");
    if (cq->method && !gq_method_find(cq->method)) {
        char names[512];
        gq_method_names(names, sizeof names);
        return gq_fail(err, GQ_ERR_ARG, "unknown method '%s' (known: %s)", cq->method, names);
    }
    gq_quant_opts_default(&cq->q, (int)bits);
    static const char *QKEYS[][2] = {{"scheme", "scheme"}, {"granularity", "granularity"}, {"clip", "clip"}};
    for (size_t i = 0; i < sizeof QKEYS / sizeof QKEYS[0]; i++) {
        const char *v = gq_args_get(a, QKEYS[i][0]);
        if (v && (s = gq_quant_opts_set(&cq->q, QKEYS[i][1], v, err))) return s;
    }
    cq->q.stats_exclude_protected = gq_args_has(a, "stats-exclude-protected");
    static const char *AKEYS[][2] = {{"algorithm", "algorithm"},
                                     {"damp", "damp"},
                                     {"sarqc-lambda", "sarqc_lambda"},
                                     {"sarqc-saliency", "sarqc_saliency"},
                                     {"calib-from", "calib_from"}};
    for (size_t i = 0; i < sizeof AKEYS / sizeof AKEYS[0]; i++) {
        const char *v = gq_args_get(a, AKEYS[i][0]);
        if (v && (s = gq_quant_opts_set(&cq->q, AKEYS[i][1], v, err))) return s;
    }
    cq->q.act_order = gq_args_has(a, "act-order");
    if ((s = gq_quant_opts_check(&cq->q, err))) return s;
    cq->budget.k = k, cq->budget.p = p, cq->budget.global = gq_args_has(a, "global");
    cq->cache_dir = gq_args_get(a, "cache-dir");
    if ((s = parse_method_opts(a, &cq->mo, err))) return s;
    return parse_calib(a, &cq->calib, err);
}

gq_status gq_cli_runner_parse(const gq_args *a, gq_encoder_runner_opts *o, gq_err *err) {
    memset(o, 0, sizeof *o);
    long threads = 0;
    const char *dev = gq_args_get(a, "device");
    gq_status s = gq_args_int(a, "threads", 0, 1024, 0, &threads, err);
    if (s == GQ_OK && dev) s = gq_device_parse(dev, &o->device, err);
    if (s != GQ_OK) return s;
    /* all cores, except under an address-space limit: one OpenBLAS buffer (blas.h) */
    o->threads = threads == 0 && gq_blas_address_space_limited() ? 1 : (int)threads;
    o->tf32 = gq_args_has(a, "tf32");
    if (o->tf32 && o->device != GQ_DEVICE_CUDA) return gq_fail(err, GQ_ERR_ARG, "--tf32 needs --device cuda");
    return GQ_OK;
}

void gq_cli_progress_fn(void *ctx, int done, int total) {
    gq_cli_progress *p = ctx;
    double now = gq_now();
    if (p->t0 == 0) p->t0 = p->last = now;
    if (done < total && now - p->last < 2.0) return;
    p->last = now;
    double el = now - p->t0, eta = done > 0 ? el * (total - done) / done : 0;
    if (gq_log_get_level() >= GQ_LOG_INFO)
        fprintf(stderr, "glueq: %s: %d/%d (%.0f%%) elapsed %.1fs ETA %.1fs\n", p->label, done, total,
                total ? 100.0 * done / total : 100.0, el, eta);
}
