/* glueq quantize: the exported checkpoint reloads to exactly the logits of the same
 * quantization done in memory (bit for bit, same thread count), holds every tensor of
 * the source (unquantized ones bit-identical, protected weights at their FP32 value),
 * its masks and quantization.json agree with the applied quantization, and bad input
 * leaves no output directory behind. */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "testlib.h"
#include "testquant.h"

static char tmpdir[256];

/* The fixture's 34 unpadded examples. */
typedef struct {
    int32_t ids[34 * 128];
    int lens[34];
    int n;
} examples;

static void load_examples(gq_test_ctx *t, examples *ex) {
    char *p = gq_test_path(t, "fixtures/tiny-a/expected.json"), *text = NULL;
    gq_read_file(p, 0, &text, NULL, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL, *seq;
    int pos = 0;
    ex->n = 0;
    cJSON_ArrayForEach(seq, cJSON_GetObjectItem(j, "input_ids")) {
        int len = cJSON_GetArraySize(seq);
        if (ex->n == 34 || pos + len > 34 * 128) break;
        for (int i = 0; i < len; i++) ex->ids[pos + i] = cJSON_GetArrayItem(seq, i)->valueint;
        ex->lens[ex->n++] = len, pos += len;
    }
    GQ_CHECK(t, ex->n == 34, "%s: want 34 examples, got %d", p, ex->n);
    cJSON_Delete(j);
    free(text), free(p);
}

static gq_status forward(gq_encoder *m, const examples *ex, float *logits, gq_err *err) {
    gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
    gq_status s = r ? gq_encoder_forward(r, ex->ids, ex->lens, NULL, ex->n, logits, NULL, err) : GQ_ERR_NOMEM;
    gq_encoder_runner_free(r);
    return s;
}

/* Quantizes model_dir in memory with the quantization flags `flags` (as glueq parses
 * them) for task rte and writes the logits of ex. Returns the model (caller frees). */
static gq_encoder *quantize_in_memory(gq_test_ctx *t, const char *model_dir, char **flags, int nflags,
                                    const examples *ex, float *logits) {
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    gq_encoder_runner *r = NULL;
    gq_quant_report rep;
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    gq_status s = gq_encoder_load(model_dir, &m, &err);
    if (s == GQ_OK && !(r = gq_encoder_runner_new(m, 1))) s = GQ_ERR_NOMEM;
    if (s == GQ_OK) s = gq_test_quantize(t, flags, nflags, cache, m, r, &rep, &err);
    if (s == GQ_OK) s = forward(m, ex, logits, &err);
    GQ_CHECK(t, s == GQ_OK, "in-memory quantization of %s: %s", model_dir, err.msg);
    gq_encoder_runner_free(r);
    return m;
}

static gq_ckpt *load_ckpt(const char *dir, const char *name) {
    char *p = gq_path_join(dir, name);
    gq_ckpt *ck = NULL;
    gq_ckpt_load(p, &ck, NULL);
    free(p);
    return ck;
}

/* The exported files against the source checkpoint and the in-memory quantized model.
 * rotated: the masks are over the rotated matrix (rosaq), so protected weights of W itself
 * are not expected at their FP32 value. */
static void check_files(gq_test_ctx *t, const char *src_dir, const char *out, const gq_encoder *quantized,
                        int64_t want_k, int rotated) {
    char *srcpath = gq_path_join(src_dir, "model.safetensors");
    gq_ckpt *src = NULL;
    gq_ckpt_load(srcpath, &src, NULL);
    gq_ckpt *got = load_ckpt(out, "model.safetensors"), *masks = load_ckpt(out, "protected.safetensors");
    cJSON *q = gq_test_read_json(out, "quantization.json"), *cfg = gq_test_read_json(out, "config.json");
    GQ_CHECK(t, src && got && masks && q && cfg, "%s: cannot read the exported files", out);
    if (!src || !got || !masks || !q || !cfg) goto done;
    GQ_CHECK(t, got->n == src->n, "exported %d tensors, source has %d", got->n, src->n);
    cJSON *dt = cJSON_GetObjectItem(cfg, "torch_dtype");
    GQ_CHECK(t, cJSON_IsString(dt) && !strcmp(dt->valuestring, "float32"), "config.json: torch_dtype must be float32");
    int n_mats = quantized->cfg.n_layers * GQ_LIN_COUNT, unchanged = 0;
    for (int i = 0; i < src->n; i++) {
        const gq_tensor *a = &src->tensors[i], *b = gq_ckpt_find(got, a->name);
        GQ_CHECK(t, b && b->numel == a->numel, "tensor %s missing or resized", a->name);
        if (!b || b->numel != a->numel) continue;
        const gq_tensor *mask = gq_ckpt_find(masks, a->name);
        if (!mask) { /* not quantized: bit-identical */
            unchanged += !memcmp(a->data, b->data, (size_t)a->numel * sizeof(float));
            continue;
        }
        int idx = -1;
        for (int j = 0; j < n_mats; j++) {
            char name[128];
            gq_encoder_weight_name(quantized->cfg.family, j, name, sizeof name);
            if (!strcmp(name, a->name)) idx = j;
        }
        const float *mem = idx >= 0 ? quantized->layers[idx / GQ_LIN_COUNT].lin[idx % GQ_LIN_COUNT].w : NULL;
        GQ_CHECK(t, mem && !memcmp(mem, b->data, (size_t)b->numel * sizeof(float)),
                 "%s: exported weights differ from the in-memory quantized ones", a->name);
        int64_t kept = 0, kept_exact = 0, changed = 0;
        double sq = 0;
        for (int64_t j = 0; j < a->numel; j++) {
            kept += mask->data[j] != 0;
            kept_exact += mask->data[j] != 0 && (rotated || a->data[j] == b->data[j]);
            changed += a->data[j] != b->data[j];
            sq += ((double)a->data[j] - b->data[j]) * ((double)a->data[j] - b->data[j]);
        }
        GQ_CHECK(t, kept == want_k && kept_exact == kept, "%s: %lld protected (want %lld), %lld of them exact", a->name,
                 (long long)kept, (long long)want_k, (long long)kept_exact);
        GQ_CHECK(t, changed > a->numel / 2, "%s: only %lld of %lld weights quantized", a->name, (long long)changed,
                 (long long)a->numel);
        cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "matrices"), idx);
        cJSON *name = cJSON_GetObjectItem(m, "name"), *prot = cJSON_GetObjectItem(m, "protected");
        cJSON *se = cJSON_GetObjectItem(m, "sq_err"), *eb = cJSON_GetObjectItem(m, "effective_bits");
        GQ_CHECK(t, cJSON_IsString(name) && !strcmp(name->valuestring, a->name) && cJSON_IsNumber(prot) &&
                        prot->valuedouble == (double)kept && cJSON_IsNumber(eb) && cJSON_IsNumber(se) &&
                        fabs(se->valuedouble - sq) <= 1e-9 * sq,
                 "quantization.json matrices[%d] disagrees with the exported %s", idx, a->name);
    }
    GQ_CHECK(t, masks->n == n_mats && unchanged == src->n - n_mats, "%d masks (want %d), %d of %d other tensors unchanged",
             masks->n, n_mats, unchanged, src->n - n_mats);
done:
    cJSON_Delete(q), cJSON_Delete(cfg);
    gq_ckpt_free(src), gq_ckpt_free(got), gq_ckpt_free(masks);
    free(srcpath);
}

/* glueq quantize with `flags`, then: reloaded logits == in-memory logits bit for bit. */
static void check_roundtrip(gq_test_ctx *t, const examples *ex, const char *name, const char *flags, int64_t want_k,
                            int rotated) {
    char model[512], out[512], args[2048], *err = NULL;
    snprintf(model, sizeof model, "%s/fixtures/tiny-a", t->shared);
    snprintf(out, sizeof out, "%s/%s", tmpdir, name);
    snprintf(args, sizeof args, "quantize --quiet --model %s --task rte --out %s %s", model, out, flags);
    int rc = gq_test_glueq(t, args, NULL, &err);
    GQ_CHECK(t, rc == 0, "glueq %s: rc %d: %s", args, rc, err ? err : "");
    free(err);
    char *argv[32], buf[512];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", flags);
    for (char *tok = strtok(buf, " "); tok && argc < 32; tok = strtok(NULL, " ")) argv[argc++] = tok;
    float mem[34 * 2], disk[34 * 2];
    gq_encoder *qm = quantize_in_memory(t, model, argv, argc, ex, mem), *reloaded = NULL;
    gq_err e = {{0}};
    gq_status s = gq_encoder_load(out, &reloaded, &e);
    if (s == GQ_OK) s = forward(reloaded, ex, disk, &e);
    GQ_CHECK(t, s == GQ_OK, "reload %s: %s", out, e.msg);
    GQ_CHECK(t, s == GQ_OK && !memcmp(mem, disk, sizeof mem), "%s: reloaded logits differ from the in-memory run", name);
    if (qm) check_files(t, model, out, qm, want_k, rotated);
    cJSON *q = gq_test_read_json(out, "quantization.json"), *o = cJSON_GetObjectItem(q, "options");
    GQ_CHECK(t, o && cJSON_GetObjectItem(o, "method") && cJSON_GetObjectItem(o, "bits") &&
                    cJSON_GetObjectItem(o, "quantizer") && cJSON_GetObjectItem(o, "algorithm") &&
                    cJSON_GetObjectItem(o, "task"),
             "%s/quantization.json: options incomplete", out);
    char want_algo[32] = "rtn";
    const char *given = strstr(flags, "--algorithm ");
    if (given) sscanf(given + 12, "%31s", want_algo);
    cJSON *algo = cJSON_GetObjectItem(o, "algorithm");
    GQ_CHECK(t, cJSON_IsString(algo) && !strcmp(algo->valuestring, want_algo),
             "%s/quantization.json: algorithm '%s', want '%s'", out, cJSON_IsString(algo) ? algo->valuestring : "",
             want_algo);
    cJSON_Delete(q);
    gq_encoder_free(qm), gq_encoder_free(reloaded);
}

static int leftover_temp_dirs(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

static void expect_error(gq_test_ctx *t, const char *extra, int want_rc, const char *needle) {
    char args[2048], *err = NULL;
    snprintf(args, sizeof args, "quantize --model %s/fixtures/tiny-a --task rte --method svd --k 4 %s", t->shared, extra);
    int rc = gq_test_glueq(t, args, NULL, &err);
    const char *nl = err ? strchr(err, '\n') : NULL;
    GQ_CHECK(t, rc == want_rc && err && !strncmp(err, "glueq: ", 7) && nl && !nl[1] && strstr(err, needle),
             "glueq %s: want rc %d and one line with '%s', got rc %d: %s", args, want_rc, needle, rc, err ? err : "");
    free(err);
}

static void check_bad_inputs(gq_test_ctx *t) {
    char extra[600], keep[600];
    snprintf(keep, sizeof keep, "%s/full", tmpdir);
    gq_mkdirs(keep, NULL);
    snprintf(extra, sizeof extra, "%s/full/precious.txt", tmpdir);
    gq_write_file_atomic(extra, "x", 1, NULL);
    snprintf(extra, sizeof extra, "--out %s/full", tmpdir);
    expect_error(t, extra, 1, "exists and is not empty");
    snprintf(extra, sizeof extra, "%s/full/precious.txt", tmpdir);
    GQ_CHECK(t, gq_file_exists(extra), "a refused export must leave the existing directory alone");
    snprintf(extra, sizeof extra, "--out %s/no/such/parent/out", tmpdir);
    expect_error(t, extra, 1, "temporary directory");
    expect_error(t, "", 2, "--out");
    snprintf(extra, sizeof extra, "--out %s/bad --bits 9", tmpdir);
    expect_error(t, extra, 2, "--bits");
    snprintf(extra, sizeof extra, "%s/bad", tmpdir);
    GQ_CHECK(t, !gq_dir_exists(extra) && leftover_temp_dirs() == 0, "a failed quantize left output behind");
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_export", tmpdir, sizeof tmpdir);
    examples ex;
    load_examples(&t, &ex);
    check_roundtrip(&t, &ex, "svd", "--method svd --bits 3 --k 32 --granularity row", 32, 0);
    check_roundtrip(&t, &ex, "awq", "--method awq --bits 4 --k 64 --calib-n 8", 64, 0);
    check_roundtrip(&t, &ex, "gptq", "--method svd --bits 3 --k 16 --algorithm gptq --calib-n 8", 16, 0);
    /* 512 weights = 8 columns of the 64-row matrices, 2 of lin1's 256 rows */
    check_roundtrip(&t, &ex, "rosaq", "--method rosaq --bits 3 --k 512 --calib-n 8", 512, 1);
    check_bad_inputs(&t);
    return gq_test_done(&t);
}
