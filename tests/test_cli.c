/* The glueq binary end to end: scratch-model accuracies equal their TRAINING.md counts,
 * `logits` equals the PyTorch fixture, and every bad input gives one `glueq:` line on
 * stderr and exit status 1 or 2 (never a signal). */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

static char tmpdir[256];

static void expect_output(gq_test_ctx *t, const char *args, const char *needle) {
    char *out = NULL, *err = NULL;
    int rc = gq_test_glueq(t, args, &out, &err);
    GQ_CHECK(t, rc == 0 && out && strstr(out, needle), "glueq %s: want '%s' in stdout, rc %d, got: %s %s", args,
             needle, rc, out ? out : "", err ? err : "");
    free(out), free(err);
}

/* Bad input: exit status `want_rc`, exactly one stderr line starting "glueq: " containing needle. */
static void expect_error(gq_test_ctx *t, const char *args, int want_rc, const char *needle) {
    char *out = NULL, *err = NULL;
    int rc = gq_test_glueq(t, args, &out, &err);
    const char *nl = err ? strchr(err, '\n') : NULL;
    int one_line = err && nl && nl[1] == '\0' && strncmp(err, "glueq: ", 7) == 0;
    GQ_CHECK(t, rc == want_rc && one_line && strstr(err, needle), "glueq %s: want rc %d and one line with '%s', got rc %d: %s",
             args, want_rc, needle, rc, err ? err : "(none)");
    free(out), free(err);
}

/* --device cuda where it cannot run (a build without CUDA, or no GPU, as in CI): one error
 * line saying why. Where a GPU is present it must simply work. */
static void check_no_gpu(gq_test_ctx *t) {
    char args[1024], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --limit 2 --device cuda --quiet",
             t->shared);
    int rc = gq_test_glueq(t, args, &out, &err);
    const char *nl = err ? strchr(err, '\n') : NULL;
    int one_line = err && nl && nl[1] == '\0' && strncmp(err, "glueq: device cuda: ", 20) == 0;
    GQ_CHECK(t, rc == 0 || (rc == 1 && one_line && (strstr(err, "built without CUDA") || strstr(err, "no CUDA GPU"))),
             "glueq %s: want success or one line saying why cuda cannot run, got rc %d: %s", args, rc, err ? err : "");
    free(out), free(err);
}

static void write_text(const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* --device cuda with its module absent or unloadable ($GLUEQ_CUDA_MODULE names the file, in
 * any build): one line naming the file and the problem, exit status 1, as without a GPU. */
static void check_cuda_module_errors(gq_test_ctx *t) {
    char garbage[512], args[1024], needle[4][1024];
    snprintf(garbage, sizeof garbage, "%s/not_elf.so", tmpdir);
    write_text("not_elf.so", "not a shared library\n");
    const char *paths[4] = {"/nonexistent/libglueq_cuda.so", garbage, GQ_CUDA_STUB_EMPTY, GQ_CUDA_STUB_ABI};
    snprintf(needle[0], sizeof needle[0], "cannot load the CUDA backend %s: ", paths[0]);
    snprintf(needle[1], sizeof needle[1], "cannot load the CUDA backend %s: ", paths[1]);
    snprintf(needle[2], sizeof needle[2], "%s is not a glueq CUDA backend", paths[2]);
    snprintf(needle[3], sizeof needle[3], "%s was built for another glueq", paths[3]);
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --limit 2 --device cuda --quiet",
             t->shared);
    for (int i = 0; i < 4; i++) {
        setenv("GLUEQ_CUDA_MODULE", paths[i], 1);
        expect_error(t, args, 1, needle[i]);
    }
    unsetenv("GLUEQ_CUDA_MODULE");
}

static void check_scratch_models(gq_test_ctx *t) {
    char args[1024];
    snprintf(args, sizeof args, "eval --quiet --model %s/assets/models/scratch-rte --task rte", t->shared);
    expect_output(t, args, "(147/277)");
    snprintf(args, sizeof args, "eval --quiet --model %s/assets/models/scratch-mrpc --task mrpc --json", t->shared);
    char *out = NULL;
    gq_test_glueq(t, args, &out, NULL);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    const char *keys[] = {"task", "split", "accuracy", "correct", "total", "f1", "tokens", "seconds"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        GQ_CHECK(t, j && cJSON_GetObjectItem(j, keys[i]), "eval --json lacks '%s': %s", keys[i], out ? out : "");
    cJSON *c = j ? cJSON_GetObjectItem(j, "correct") : NULL, *n = j ? cJSON_GetObjectItem(j, "total") : NULL;
    GQ_CHECK(t, c && n && c->valueint == 280 && n->valueint == 408, "scratch-mrpc: want 280/408 (TRAINING.md)");
    cJSON_Delete(j);
    free(out);
}

/* `glueq logits` on fixture example 0 equals PyTorch's logits within GQ_TEST_LOGIT_ATOL. */
static void check_logits(gq_test_ctx *t) {
    char *p = gq_test_path(t, "fixtures/tiny-a/expected.json"), *text = NULL;
    gq_read_file(p, 0, &text, NULL, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    cJSON *ex = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "examples"), 0);
    cJSON *want = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "logits"), 0);
    write_text("a.txt", cJSON_GetObjectItem(ex, "a")->valuestring);
    write_text("b.txt", cJSON_GetObjectItem(ex, "b")->valuestring);
    char args[2048], *out = NULL;
    snprintf(args, sizeof args, "logits --model %s/fixtures/tiny-a --text \"$(cat %s/a.txt)\" --pair \"$(cat %s/b.txt)\"",
             t->shared, tmpdir, tmpdir);
    gq_test_glueq(t, args, &out, NULL);
    float got[2] = {0}, ref[2] = {(float)cJSON_GetArrayItem(want, 0)->valuedouble,
                                  (float)cJSON_GetArrayItem(want, 1)->valuedouble};
    GQ_CHECK(t, out && sscanf(out, "%f %f", &got[0], &got[1]) == 2, "logits output: %s", out ? out : "");
    gq_check_close(t, "glueq logits vs PyTorch", got, ref, 2, GQ_TEST_LOGIT_ATOL, 0);
    free(out), free(text), free(p);
    cJSON_Delete(j);
}

static void check_tokenize(gq_test_ctx *t) {
    expect_output(t, "tokenize --text 'Hello, World!'", "101 7592 1010 2088 999 102\n");
    expect_output(t, "tokenize --max-len 5 --text 'a b c' --pair 'd e f'", "101 1037 102 1040 102\n");
    char args[1024];
    snprintf(args, sizeof args, "tokenize --task rte --tsv %s/assets/glue/RTE/dev.tsv | wc -l", t->shared);
    expect_output(t, args, "277");
}

static void check_bad_inputs(gq_test_ctx *t) {
    char args[2048], d[600];
    const char *rte = "--model %s/assets/models/scratch-rte --task rte";
    expect_error(t, "frobnicate", 2, "unknown command 'frobnicate'");
    expect_error(t, "eval --model /nonexistent --task rte", 1, "/nonexistent: model directory not found");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task anli", t->shared);
    expect_error(t, args, 2, "unknown task 'anli'");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --bogus", t->shared);
    expect_error(t, args, 2, "unknown option '--bogus'");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --max-len 0", t->shared);
    expect_error(t, args, 2, "--max-len");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --method nope", t->shared);
    expect_error(t, args, 2, "unknown method 'nope'");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --bits 9 --method uniform", t->shared);
    expect_error(t, args, 2, "--bits");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --data %s/none", t->shared, tmpdir);
    expect_error(t, args, 1, "RTE/dev.tsv");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --device gpu", t->shared);
    expect_error(t, args, 2, "device 'gpu' is not cpu or cuda");
    snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte --tf32", t->shared);
    expect_error(t, args, 2, "--tf32 needs --device cuda");
    static const char *const ALGO_ERRORS[][2] = {
        {"--method uniform --algorithm foo", "algorithm 'foo': expected rtn, gptq or awq-scale"},
        {"--method uniform --act-order", "act_order needs algorithm gptq"},
        {"--method uniform --algorithm gptq --damp -1", "damp '-1': expected a number >= 0"},
        {"--method uniform --algorithm gptq --sarqc-lambda x", "sarqc lambda 'x'"},
        {"--method uniform --algorithm awq-scale --sarqc-lambda 1 --sarqc-saliency nope", "sarqc saliency 'nope'"},
        {"--method uniform --sarqc-lambda 1", "needs algorithm gptq or awq-scale (not rtn)"},
        {"--method uniform --calib-from quantized", "calibration from quantized needs algorithm gptq or awq-scale"},
        {"--method uniform --algorithm gptq --calib-from last", "calibration from 'last': expected fp32 or quantized"},
    };
    for (size_t i = 0; i < sizeof ALGO_ERRORS / sizeof ALGO_ERRORS[0]; i++) {
        snprintf(args, sizeof args, "eval --model %s/assets/models/scratch-rte --task rte %s", t->shared,
                 ALGO_ERRORS[i][0]);
        expect_error(t, args, 2, ALGO_ERRORS[i][1]);
    }
    check_no_gpu(t);
    check_cuda_module_errors(t);

    /* A GLUE directory with broken files. */
    snprintf(d, sizeof d, "%s/glue/RTE", tmpdir);
    gq_mkdirs(d, NULL);
    write_text("glue/RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n");
    snprintf(args, sizeof args, "eval --data %s/glue ", tmpdir);
    snprintf(args + strlen(args), sizeof args - strlen(args), rte, t->shared);
    expect_error(t, args, 1, "line 3");
    write_text("glue/RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta \xff\xfe b\tb\tentailment\n");
    expect_error(t, args, 1, "line 2");
    write_text("glue/RTE/dev.tsv", "index\tsentence_1\tsentence2\tlabel\n");
    expect_error(t, args, 1, "header");

    /* Broken checkpoints: truncated, garbage, missing config. */
    snprintf(d, sizeof d, "%s/model", tmpdir);
    gq_mkdirs(d, NULL);
    char *cfg = gq_test_path(t, "fixtures/tiny-a/config.json"), *text = NULL;
    size_t len = 0;
    gq_read_file(cfg, 0, &text, &len, NULL);
    write_text("model/config.json", text);
    free(text), free(cfg);
    char *st = gq_test_path(t, "fixtures/tiny-a/model.safetensors");
    gq_read_file(st, 0, &text, &len, NULL);
    snprintf(d, sizeof d, "%s/model/model.safetensors", tmpdir);
    FILE *f = fopen(d, "wb");
    fwrite(text, 1, len / 2, f);
    fclose(f);
    snprintf(args, sizeof args, "eval --model %s/model --task rte", tmpdir);
    expect_error(t, args, 1, "model.safetensors");
    snprintf(args, sizeof args, "info --model %s/model", tmpdir);
    expect_error(t, args, 1, "model.safetensors");
    write_text("model/model.safetensors", "this is not a checkpoint at all");
    snprintf(args, sizeof args, "eval --model %s/model --task rte", tmpdir);
    expect_error(t, args, 1, "model.safetensors");
    write_text("model/config.json", "{\"dim\": 64");
    expect_error(t, args, 1, "config.json: not valid JSON");
    free(text), free(st);

    /* Invalid UTF-8 given on the command line. */
    expect_error(t, "tokenize --text \"$(printf 'abc\\303(')\"", 1, "UTF-8");
    expect_output(t, "tokenize --utf8 replace --text \"$(printf 'abc\\303(')\"", "101 5925 1006 102");
}

/* What HF's sum(p.numel() for p in model.parameters()) gives for tiny-a's config (dim 64,
 * 2 layers, ffn 256, vocab 30522, 512 positions, 2 labels), by hand: embeddings
 * 30522*64 + 512*64 + LayerNorm 2*64 = 1,986,304; per layer q, k, v, out 4*(64*64 + 64),
 * lin1 256*64 + 256, lin2 64*256 + 64, two LayerNorms 4*64: 49,984, twice 99,968;
 * pre_classifier 64*64 + 64 = 4,160; classifier 2*64 + 2 = 130. The position_ids buffer
 * and tensors the model does not use are not parameters. */
#define TINY_A_PARAMETERS "2090562 (40 tensors"

/* An unexpected extra tensor is a warning (as in HF), not an error, and `glueq info`
 * counts only the parameters. */
static void check_extra_tensor(gq_test_ctx *t) {
    gq_ckpt *ck = gq_test_load(t, "fixtures/tiny-a/model.safetensors");
    gq_tensor *all = calloc((size_t)ck->n + 2, sizeof *all);
    memcpy(all, ck->tensors, (size_t)ck->n * sizeof *all);
    float extra[3] = {1, 2, 3}, *pos = malloc(512 * sizeof *pos);
    for (int i = 0; i < 512; i++) pos[i] = (float)i;
    all[ck->n] = (gq_tensor){.name = "lm_head.bias", .ndim = 1, .shape = {3}, .numel = 3, .data = extra};
    all[ck->n + 1] = (gq_tensor){.name = "distilbert.embeddings.position_ids", .ndim = 2, .shape = {1, 512},
                                 .numel = 512, .data = pos};
    char d[600], args[1024];
    snprintf(d, sizeof d, "%s/extra", tmpdir);
    gq_mkdirs(d, NULL);
    snprintf(d, sizeof d, "%s/extra/model.safetensors", tmpdir);
    GQ_CHECK(t, gq_safetensors_write(d, all, ck->n + 2, NULL) == GQ_OK, "write %s", d);
    free(pos);
    char *cfg = gq_test_path(t, "fixtures/tiny-a/config.json"), *text = NULL;
    gq_read_file(cfg, 0, &text, NULL, NULL);
    write_text("extra/config.json", text);
    free(text), free(cfg), free(all);
    gq_ckpt_free(ck);
    char *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "info --model %s/extra", tmpdir);
    int rc = gq_test_glueq(t, args, &out, &err);
    GQ_CHECK(t, rc == 0 && err && strstr(err, "warning") && strstr(err, "1 tensor(s) not used"),
             "extra tensor: want a warning and success, rc %d: %s", rc, err ? err : "");
    GQ_CHECK(t, out && strstr(out, "parameters:   " TINY_A_PARAMETERS),
             "info with position_ids and an extra tensor: want parameters %s), got: %s", TINY_A_PARAMETERS,
             out ? out : "");
    free(out), free(err);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_cli", tmpdir, sizeof tmpdir);
    check_tokenize(&t);
    check_logits(&t);
    check_bad_inputs(&t);
    check_extra_tensor(&t);
    check_scratch_models(&t);
    return gq_test_done(&t);
}
