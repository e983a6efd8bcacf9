/* Models by Hugging Face Hub id: a cache laid out as the Hub client writes it (files in
 * blobs/ named by their sha256, snapshots/REV/ holding relative symlinks to them, refs/
 * holding commit hashes), built from the tiny-a and tiny-b fixtures, is resolved through
 * $HF_HUB_CACHE, $HF_HOME and ~/.cache; @REV pins a ref or a commit; an existing directory
 * wins over an id; a missing model names where it looked and the download command. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encoder.h"
#include "hub.h"
#include "testlib.h"

#define REV_A "0123456789abcdef0123456789abcdef01234567"
#define REV_B "fedcba9876543210fedcba9876543210fedcba98"

static char tmp[256], cache[512];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static void run_or_die(const char *cmd) {
    if (system(cmd) != 0) {
        fprintf(stderr, "set-up failed: %s\n", cmd);
        exit(2);
    }
}

/* Copies fixture file rel into blobs/ under its sha256 and links snapshots/rev/name to it. */
static void add_file(gq_test_ctx *t, const char *repo, const char *rev, const char *rel, const char *name) {
    char *src = gq_test_path(t, rel), hex[65], cmd[2048];
    gq_err err = {{0}};
    if (gq_sha256_file(src, hex, &err) != GQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(2);
    }
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/blobs' '%s/snapshots/%s' && cp '%s' '%s/blobs/%s' && "
             "ln -s '../../blobs/%s' '%s/snapshots/%s/%s'", repo, repo, rev, src, repo, hex, hex, repo, rev, name);
    run_or_die(cmd);
    free(src);
}

/* models--org--tiny: main -> REV_A (tiny-a, safetensors), v2 -> REV_B (tiny-b, pytorch_model.bin). */
static void build_cache(gq_test_ctx *t) {
    char repo[700], path[800];
    snprintf(cache, sizeof cache, "%s/hub", tmp);
    snprintf(repo, sizeof repo, "%s/models--org--tiny", cache);
    add_file(t, repo, REV_A, "fixtures/tiny-a/config.json", "config.json");
    add_file(t, repo, REV_A, "fixtures/tiny-a/model.safetensors", "model.safetensors");
    add_file(t, repo, REV_B, "fixtures/tiny-b/config.json", "config.json");
    add_file(t, repo, REV_B, "fixtures/tiny-b/pytorch_model.bin", "pytorch_model.bin");
    snprintf(path, sizeof path, "%s/refs", repo);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/refs/main", repo);
    write_text(path, REV_A); /* as the Hub client writes it: no newline */
    snprintf(path, sizeof path, "%s/refs/v2", repo);
    write_text(path, REV_B "\n");
    /* damaged refs: not a hash, with a control byte and a quote; a long one */
    snprintf(path, sizeof path, "%s/refs/bad", repo);
    write_text(path, "ref: \"main\"\x01\n");
    snprintf(path, sizeof path, "%s/refs/long", repo);
    write_text(path, REV_A REV_A "\n");
}

static void expect_dir(gq_test_ctx *t, const char *spec, const char *want) {
    char *dir = NULL;
    gq_err err = {{0}};
    gq_status s = gq_hub_resolve(spec, &dir, &err);
    GQ_CHECK(t, s == GQ_OK && dir && strcmp(dir, want) == 0, "%s: want %s, got %s (%s)", spec, want,
             dir ? dir : "NULL", err.msg);
    free(dir);
}

static void expect_snapshot(gq_test_ctx *t, const char *spec, const char *rev) {
    char want[800];
    snprintf(want, sizeof want, "%s/models--org--tiny/snapshots/%s", cache, rev);
    expect_dir(t, spec, want);
}

/* Loading through the id reads exactly the fixture's weights file (same sha256). */
static void expect_loads(gq_test_ctx *t, const char *spec, const char *fixture) {
    char *path = gq_test_path(t, fixture), want[65] = "";
    gq_err err = {{0}};
    gq_sha256_file(path, want, &err);
    gq_encoder *m = NULL;
    gq_status s = gq_encoder_load(spec, &m, &err);
    GQ_CHECK(t, s == GQ_OK && strcmp(m->sha256, want) == 0, "%s: want the weights of %s (sha256 %s), got %s",
             spec, fixture, want, s == GQ_OK ? m->sha256 : err.msg);
    gq_encoder_free(m);
    free(path);
}

static void expect_fail(gq_test_ctx *t, const char *spec, const char *needle1, const char *needle2) {
    char *dir = NULL;
    gq_err err = {{0}};
    gq_status s = gq_hub_resolve(spec, &dir, &err);
    GQ_CHECK(t, s == GQ_ERR_IO && !dir && strstr(err.msg, needle1) && strstr(err.msg, needle2),
             "%s: want a failure naming '%s' and '%s', got %d: %s", spec, needle1, needle2, s, err.msg);
    free(dir);
}

/* A ref that holds something other than a commit hash is named with what it holds
 * (escaped, cut after 40 bytes) and what was expected, not reported as missing. */
static void expect_bad_ref(gq_test_ctx *t, const char *spec, const char *ref, const char *held) {
    char *dir = NULL, want[800];
    gq_err err = {{0}};
    gq_status s = gq_hub_resolve(spec, &dir, &err);
    snprintf(want, sizeof want, "%s/models--org--tiny/refs/%s holds %s, not a 40-digit hex commit hash", cache, ref,
             held);
    GQ_CHECK(t, s == GQ_ERR_FORMAT && !dir && strstr(err.msg, want) && strstr(err.msg, "huggingface-cli download"),
             "%s: want a failure with '%s', got %d: %s", spec, want, s, err.msg);
    free(dir);
}

static void check_revisions(gq_test_ctx *t) {
    setenv("HF_HUB_CACHE", cache, 1);
    expect_snapshot(t, "org/tiny", REV_A);
    expect_snapshot(t, "org/tiny@main", REV_A);
    expect_snapshot(t, "org/tiny@v2", REV_B);
    expect_snapshot(t, "org/tiny@" REV_B, REV_B);
    expect_loads(t, "org/tiny", "fixtures/tiny-a/model.safetensors");
    expect_loads(t, "org/tiny@v2", "fixtures/tiny-b/pytorch_model.bin");
    char want[800];
    snprintf(want, sizeof want, "%s/models--org--tiny/refs/nope", cache);
    expect_fail(t, "org/tiny@nope", want, "huggingface-cli download org/tiny --revision nope");
    snprintf(want, sizeof want, "%s/models--org--tiny/snapshots/%s", cache, "1111111111111111111111111111111111111111");
    expect_fail(t, "org/tiny@1111111111111111111111111111111111111111", want, "--revision 1111111111111111111111111111111111111111");
    snprintf(want, sizeof want, "%s/models--org--missing/refs/main", cache);
    expect_fail(t, "org/missing", want, "huggingface-cli download org/missing");
    expect_fail(t, "../escape", "model directory not found", "../escape");
    expect_fail(t, "org/tiny@../v2", "model directory not found", "org/tiny@../v2");
    expect_bad_ref(t, "org/tiny@bad", "bad", "\"ref: \\\"main\\\"\\x01\"");
    expect_bad_ref(t, "org/tiny@long", "long", "\"" REV_A "...\"");
    gq_err err = {{0}};
    gq_encoder *m = NULL;
    gq_status s = gq_encoder_load("org/missing", &m, &err);
    GQ_CHECK(t, s == GQ_ERR_IO && strstr(err.msg, "huggingface-cli download org/missing"), "load: %s", err.msg);
}

/* $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
static void check_cache_roots(gq_test_ctx *t) {
    char home[600], path[800], cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/hfhome' '%s/xdg/huggingface' '%s/home/.cache/huggingface' && "
             "ln -s '%s' '%s/hfhome/hub' && ln -s '%s' '%s/xdg/huggingface/hub' && ln -s '%s' '%s/home/.cache/huggingface/hub'",
             tmp, tmp, tmp, cache, tmp, cache, tmp, cache, tmp);
    run_or_die(cmd);
    setenv("HF_HUB_CACHE", "/nonexistent-hub-cache", 1);
    snprintf(home, sizeof home, "%s/hfhome", tmp);
    setenv("HF_HOME", home, 1);
    expect_fail(t, "org/tiny", "/nonexistent-hub-cache/models--org--tiny/refs/main", "$HF_HUB_CACHE");
    unsetenv("HF_HUB_CACHE");
    snprintf(path, sizeof path, "%s/hfhome/hub/models--org--tiny/snapshots/" REV_A, tmp);
    expect_dir(t, "org/tiny", path);
    unsetenv("HF_HOME");
    snprintf(home, sizeof home, "%s/xdg", tmp);
    setenv("XDG_CACHE_HOME", home, 1);
    snprintf(path, sizeof path, "%s/xdg/huggingface/hub/models--org--tiny/snapshots/" REV_A, tmp);
    expect_dir(t, "org/tiny", path);
    unsetenv("XDG_CACHE_HOME");
    snprintf(home, sizeof home, "%s/home", tmp);
    setenv("HOME", home, 1);
    snprintf(path, sizeof path, "%s/home/.cache/huggingface/hub/models--org--tiny/snapshots/" REV_A, tmp);
    expect_dir(t, "org/tiny", path);
}

/* A directory that exists is used as it is, even where a cached model has the same id. */
static void check_directory_wins(gq_test_ctx *t) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/cwd/org/tiny'", tmp);
    run_or_die(cmd);
    char cwd[600];
    snprintf(cwd, sizeof cwd, "%s/cwd", tmp);
    if (chdir(cwd) != 0) exit(2);
    setenv("HF_HUB_CACHE", cache, 1);
    expect_dir(t, "org/tiny", "org/tiny");
    if (chdir("/") != 0) exit(2);
}

/* The CLI: glueq info and eval's vocab lookup go through the same resolution. */
static void check_cli(gq_test_ctx *t) {
    char cmd[2000], *out = NULL, *err = NULL, *bin = gq_test_path(t, "fixtures/tiny-b/pytorch_model.bin"), want[65];
    gq_err e = {{0}};
    gq_sha256_file(bin, want, &e);
    snprintf(cmd, sizeof cmd, "HF_HUB_CACHE='%s' %s info --model org/tiny@v2", cache, t->glueq);
    int rc = gq_test_run(cmd, &out, &err);
    GQ_CHECK(t, rc == 0 && out && strstr(out, want) && strstr(out, REV_B), "glueq info --model org/tiny@v2: rc %d, %s %s",
             rc, out ? out : "", err ? err : "");
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "HF_HUB_CACHE='%s' %s info --model org/absent", cache, t->glueq);
    rc = gq_test_run(cmd, &out, &err);
    GQ_CHECK(t, rc == 1 && err && strstr(err, "glueq: org/absent: ") && strstr(err, "huggingface-cli download org/absent"),
             "glueq info --model org/absent: rc %d, %s", rc, err ? err : "");
    free(out), free(err);
    /* A sweep config names the model by Hub id too. */
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/sweep.json", tmp);
    FILE *f = fopen(cfg, "w");
    if (f) {
        fprintf(f, "{\"name\": \"hub\", \"data\": \"%s/assets/glue\", \"vocab\": \"%s/assets/vocab/vocab.txt\", "
                   "\"models\": {\"rte\": \"org/tiny@v2\"}, \"tasks\": [\"rte\"], \"methods\": [\"magnitude\"], "
                   "\"bits\": [4], \"budgets\": {\"k\": [4]}, \"limit\": 8, \"output\": \"%s/out\"}",
                t->shared, t->shared, tmp);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "HF_HUB_CACHE='%s' GLUEQ_CACHE_DIR='%s/cache' %s sweep %s", cache, tmp, t->glueq, cfg);
    rc = gq_test_run(cmd, &out, &err);
    char *csv = NULL, path[800];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/out/results.csv", tmp);
    gq_read_file(path, 0, &csv, &len, NULL);
    GQ_CHECK(t, rc == 0 && csv && strstr(csv, want), "glueq sweep with models.rte = org/tiny@v2: rc %d, %s; results: %s",
             rc, err ? err : "", csv ? csv : "(none)");
    free(csv), free(out), free(err), free(bin);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_hub", tmp, sizeof tmp);
    build_cache(&t);
    check_revisions(&t);
    check_cli(&t);
    check_directory_wins(&t);
    check_cache_roots(&t);
    return gq_test_done(&t);
}
