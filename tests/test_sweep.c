/* test_sweep: sweep configs (validation messages, env expansion, grid size and ids), the
 * journal (resume over a truncated line, config-hash refusal), the report files' schemas,
 * fidelity (flips, KL) on hand-made logits, `glueq compare` on hand-made predictions, and
 * end to end on the tiny-a fixture: sharded + merged == unsharded, and SIGKILL at a random
 * moment + --resume == uninterrupted. */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"
#include "journal.h"
#include "report.h"
#include "sweep.h"
#include "testquant.h"

static char g_tmp[256];

static char *tmp_path(const char *rel) { return gq_path_join(g_tmp, rel); }

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "FATAL cannot write %s\n", path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path) {
    char *s = NULL;
    size_t n;
    gq_err err = {{0}};
    if (gq_read_file(path, 0, &s, &n, &err) != GQ_OK) return NULL;
    return s;
}

/* A valid minimal config, with `patch` (", \"key\": value") replacing that key's entry
 * or, for a new key, appended. */
static const char *const BASE[][2] = {
    {"name", "\"t\""},  {"data", "\"/d\""},         {"models", "{\"rte\": \"/m\"}"},       {"tasks", "[\"rte\"]"},
    {"methods", "[\"uniform\", \"svd\"]"}, {"bits", "[4]"}, {"budgets", "{\"k\": [1, 2]}"}, {"output", "\"/o\""},
};

static void base_config(const char *patch, char *text, size_t n) {
    char key[64] = "";
    if (*patch) sscanf(patch, ", \"%63[^\"]\"", key);
    int replaced = 0;
    snprintf(text, n, "{");
    for (size_t i = 0; i < sizeof BASE / sizeof BASE[0]; i++) {
        size_t len = strlen(text);
        if (!strcmp(BASE[i][0], key))
            snprintf(text + len, n - len, "%s", i ? patch : patch + 2), replaced = 1;
        else
            snprintf(text + len, n - len, "%s\"%s\": %s", i ? ", " : "", BASE[i][0], BASE[i][1]);
    }
    size_t len = strlen(text);
    snprintf(text + len, n - len, "%s}", replaced ? "" : patch);
}

static void expect_error(gq_test_ctx *t, const char *patch, const char *want) {
    char text[2048];
    base_config(patch, text, sizeof text);
    gq_sweep_config *c = NULL;
    gq_err err = {{0}};
    gq_status st = gq_sweep_config_parse(text, "configs/x.json", &c, &err);
    GQ_CHECK(t, st != GQ_OK, "config %s was accepted", text);
    GQ_CHECK(t, strstr(err.msg, want) != NULL, "config %s: message '%s' lacks '%s'", text, err.msg, want);
    GQ_CHECK(t, strncmp(err.msg, "configs/x.json: ", 16) == 0, "message '%s' does not start with the file", err.msg);
    gq_sweep_config_free(c);
}

static void test_config_errors(gq_test_ctx *t) {
    gq_sweep_config *c = NULL;
    gq_err err = {{0}};
    char text[2048];
    base_config("", text, sizeof text);
    GQ_CHECK(t, gq_sweep_config_parse(text, "configs/x.json", &c, &err) == GQ_OK, "base config rejected: %s", err.msg);
    GQ_CHECK(t, c && c->n_points == 1 + 1 + 2, "base grid has %d points, want 4", c ? c->n_points : -1);
    /* a label_map changes the config hash (it changes predictions), not the point ids */
    gq_sweep_config *lm = NULL;
    base_config(", \"label_map\": {\"rte\": {\"entailment\": 1, \"not_entailment\": 0}}", text, sizeof text);
    GQ_CHECK(t, gq_sweep_config_parse(text, "configs/x.json", &lm, &err) == GQ_OK, "label_map rejected: %s", err.msg);
    if (c && lm) {
        GQ_CHECK(t, strcmp(c->hash, lm->hash) != 0, "a label_map must change the config hash");
        GQ_CHECK(t, !strcmp(c->points[3].id, lm->points[3].id), "a label_map must not change point ids");
        GQ_CHECK(t, lm->label_maps && lm->label_maps[0] == 1 && lm->label_maps[1] == 0, "label_map read");
    }
    gq_sweep_config_free(lm);
    gq_sweep_config_free(c);

    expect_error(t, ", \"colour\": 1", "configs/x.json: colour: unknown key");
    expect_error(t, ", \"quantizer\": {\"shceme\": \"symmetric\"}", "quantizer.shceme: unknown key");
    expect_error(t, ", \"max_len\": \"128\"", "max_len: must be an integer");
    expect_error(t, ", \"limit\": -3", "limit: must be null or a positive integer");
    expect_error(t, ", \"limit\": 2.5", "limit: must be");
    expect_error(t, ", \"device\": \"gpu\"", "device: must be \"cpu\" or \"cuda\"");
    expect_error(t, ", \"tf32\": 1", "tf32: must be true or false");
    expect_error(t, ", \"tf32\": true", "tf32: needs \"device\": \"cuda\"");
    expect_error(t, ", \"budgets\": {\"k\": [1, 2, -4]}", "budgets.k[2]: must be a positive integer");
    expect_error(t, ", \"budgets\": {\"k\": [1], \"p\": [0.1]}", "budgets: give either");
    expect_error(t, ", \"budgets\": {\"p\": [0.5, 1.5]}", "budgets.p[1]: must be a fraction");
    expect_error(t, ", \"bits\": [4, 9]", "bits[1]: must be an integer from 2 to 8");
    expect_error(t, ", \"bits\": []", "bits: must not be empty");
    expect_error(t, ", \"tasks\": [\"rte\", \"anli\"]", "tasks[1]: unknown task \"anli\"");
    expect_error(t, ", \"label_map\": {\"mnli\": {\"entailment\": 0}}", "label_map.mnli: not one of this sweep's tasks");
    expect_error(t, ", \"label_map\": {\"rte\": {\"entailment\": 1}}",
                 "label_map.rte: label 'not_entailment' has no model id");
    expect_error(t, ", \"label_map\": {\"rte\": {\"entailment\": 1, \"not_entailment\": 1}}",
                 "label_map.rte: labels 'entailment' and 'not_entailment' both map to model id 1");
    expect_error(t, ", \"label_map\": {\"rte\": {\"entailment\": 1, \"contradiction\": 0}}",
                 "label_map.rte: 'contradiction' is not a label of task rte");
    expect_error(t, ", \"label_map\": {\"rte\": {\"entailment\": \"1\", \"not_entailment\": 0}}",
                 "label_map.rte: \"entailment\" must be a model label id");
    expect_error(t, ", \"label_map\": {\"rte\": [1, 0]}", "label_map.rte: must be an object");
    expect_error(t, ", \"methods\": [\"svd\", \"gptq\"]", "methods[1]: unknown method \"gptq\"");
    expect_error(t, ", \"method_options\": {\"svd\": {\"rnk\": 8}}", "method_options.svd");
    expect_error(t, ", \"method_options\": {\"svd\": {\"rank\": \"many\"}}", "method_options.svd");
    expect_error(t, ", \"quantizer\": {\"granularity\": [\"tensor\", \"blocks\"]}", "quantizer.granularity[1]");
    expect_error(t, ", \"quantizer\": {\"clip\": \"std:-1\"}", "quantizer.clip");
    expect_error(t, ", \"calibration\": {\"sample\": \"last\"}", "calibration.sample: must be");
    expect_error(t, ", \"calibration\": {\"from\": \"quantized\"}", "calibration.from: \"quantized\" needs a gptq");
    expect_error(t, ", \"quantizer\": {\"algorithm\": \"gptqq\"}", "quantizer.algorithm: quantizer: algorithm 'gptqq'");
    expect_error(t, ", \"sarqc\": {\"lambda\": -1}", "sarqc.lambda: must be a number >= 0");
    expect_error(t, ", \"quantizer\": {\"algorithm\": \"gptq\"}, \"sarqc\": {\"lambda\": 1, \"saliency\": \"x\"}",
                 "sarqc.saliency: quantizer: sarqc saliency 'x'");
    expect_error(t, ", \"sarqc\": {\"lambda\": 1}", "sarqc: applies to gptq and awq-scale quantizers");
    expect_error(t, ", \"seeds\": [1, 1]", "seeds[1]: 1 listed twice");
    expect_error(t, ", \"budgets\": {\"k\": [1, 2, 3, 2, 1]}", "budgets.k[3]: repeats an earlier budget");
    /* 20^4 combinations of quantizer options: refused before any is built */
    char combos[1024], twenty[256] = "";
    for (int i = 0; i < 20; i++) snprintf(twenty + strlen(twenty), sizeof twenty - strlen(twenty), "%s%d", i ? "," : "", i);
    snprintf(combos, sizeof combos,
             ", \"quantizer\": {\"algorithm\": \"gptq\", \"damp\": [%s], \"act_order\": [true,false,true,false,true,"
             "false,true,false,true,false,true,false,true,false,true,false,true,false,true,false]}, \"sarqc\": "
             "{\"lambda\": [%s], \"saliency\": [\"none\",\"svd\",\"awq\",\"spqr\",\"magnitude\",\"none\",\"svd\","
             "\"awq\",\"spqr\",\"magnitude\",\"none\",\"svd\",\"awq\",\"spqr\",\"magnitude\",\"none\",\"svd\",\"awq\","
             "\"spqr\",\"magnitude\"]}",
             twenty, twenty);
    expect_error(t, combos, "quantizer: 160000 combinations of options, more than the limit of 100000");
    c = NULL;
    GQ_CHECK(t, gq_sweep_config_parse("{\"name\": \"t\", \"name\": \"u\"}", "configs/x.json", &c, &err) == GQ_ERR_ARG &&
                    strstr(err.msg, "configs/x.json: name: duplicate key"),
             "duplicate key: '%s'", err.msg);
    expect_error(t, ", \"vocab\": \"${GLUEQ_TEST_SURELY_UNSET_VAR}/v.txt\"",
                 "vocab: environment variable GLUEQ_TEST_SURELY_UNSET_VAR is not set");
    expect_error(t, ", \"vocab\": \"${GLUEQ_TEST_X:-${GLUEQ_TEST_SURELY_UNSET_VAR}}\"",
                 "environment variable GLUEQ_TEST_SURELY_UNSET_VAR is not set");
    expect_error(t, ", \"vocab\": \"${unterminated\"", "vocab: unterminated");

    err.msg[0] = '\0';
    c = NULL;
    GQ_CHECK(t, gq_sweep_config_parse("{\"name\": \"t\",\n \"data\": }", "configs/y.json", &c, &err) != GQ_OK,
             "invalid JSON accepted");
    GQ_CHECK(t, strstr(err.msg, "configs/y.json: invalid JSON at line 2") != NULL, "JSON error: '%s'", err.msg);
}

/* ---- hostile sizes: the checks for repeats cost n log n, not n^2 ---- */

/* before, then n items (item_fmt with the item's number), comma-separated, then after. */
static char *big_config(const char *before, const char *item_fmt, int n, const char *after) {
    size_t cap = strlen(before) + strlen(after) + (size_t)n * (strlen(item_fmt) + 12) + 1, len = 0;
    char *text = malloc(cap);
    if (!text) abort();
    len += (size_t)snprintf(text, cap, "%s", before);
    for (int i = 0; i < n; i++) {
        if (i) text[len++] = ',';
        len += (size_t)snprintf(text + len, cap - len, item_fmt, i);
    }
    snprintf(text + len, cap - len, "%s", after);
    return text;
}

/* The comparisons gq_sweep_config_parse_counted makes on n items; *accepted says whether
 * it took the config. */
static uint64_t count_compares(const char *before, const char *item_fmt, int n, const char *after, int *accepted) {
    char *text = big_config(before, item_fmt, n, after);
    gq_sweep_config *c = NULL;
    gq_err err = {{0}};
    uint64_t compares = 0;
    *accepted = gq_sweep_config_parse_counted(text, "configs/big.json", &c, &compares, &err) == GQ_OK;
    gq_sweep_config_free(c);
    free(text);
    return compares;
}

/* With n and 2n items, sorting makes 2 (1 + 1/log2 n) ~ 2.1 times the comparisons;
 * quadratic checks would make 4. */
#define HOSTILE_MAX_RATIO 2.5
static void expect_linear(gq_test_ctx *t, const char *what, const char *before, const char *item_fmt, int n,
                          const char *after, int want_accepted) {
    int ok1 = 0, ok2 = 0;
    uint64_t c1 = count_compares(before, item_fmt, n, after, &ok1), c2 = count_compares(before, item_fmt, 2 * n, after, &ok2);
    printf("%s: %d items, %llu comparisons; %d items, %llu\n", what, n, (unsigned long long)c1, 2 * n,
           (unsigned long long)c2);
    GQ_CHECK(t, ok1 == want_accepted && ok2 == want_accepted, "%s: accepted %d and %d, want %d", what, ok1, ok2,
             want_accepted);
    GQ_CHECK(t, c1 > 0 && (double)c2 <= HOSTILE_MAX_RATIO * (double)c1,
             "%s: comparisons grow from %llu to %llu for twice the items (more than %.1fx)", what,
             (unsigned long long)c1, (unsigned long long)c2, HOSTILE_MAX_RATIO);
}

#define HEAD "{\"name\": \"t\", \"data\": \"/d\", \"tasks\": [\"rte\"], \"bits\": [4], \"output\": \"/o\", "
static void test_config_sizes(gq_test_ctx *t) {
    /* a grid of GQ_SWEEP_MAX_POINTS points: the FP32 point and one per budget */
    expect_linear(t, "budgets and point ids",
                  HEAD "\"models\": {\"rte\": \"/m\"}, \"methods\": [\"magnitude\"], \"budgets\": {\"k\": [",
                  "1%d", GQ_SWEEP_MAX_POINTS / 2 - 1, "]}}", 1);
    expect_linear(t, "seeds",
                  HEAD "\"models\": {\"rte\": \"/m\"}, \"methods\": [\"uniform\"], \"seeds\": [", "%d",
                  GQ_SWEEP_MAX_POINTS, "]}", 1);
    expect_linear(t, "keys of models (refused: not tasks)", HEAD "\"methods\": [\"uniform\"], \"models\": {",
                  "\"m%d\": \"/m\"", GQ_SWEEP_MAX_POINTS, "}}", 0);
    expect_linear(t, "keys of method_options.svd (refused: not options)",
                  HEAD "\"models\": {\"rte\": \"/m\"}, \"methods\": [\"svd\"], \"budgets\": {\"k\": [1]}, "
                       "\"method_options\": {\"svd\": {",
                  "\"o%d\": 1", GQ_SWEEP_MAX_POINTS, "}}}", 0);
}

static void test_env(gq_test_ctx *t) {
    gq_err err = {{0}};
    char *s = NULL;
    setenv("GLUEQ_TEST_A", "/x", 1);
    unsetenv("GLUEQ_TEST_B");
    GQ_CHECK(t, gq_sweep_expand_env("${GLUEQ_TEST_A}/y", "w", &s, &err) == GQ_OK && !strcmp(s, "/x/y"), "got '%s'",
             s ? s : err.msg);
    free(s);
    GQ_CHECK(t, gq_sweep_expand_env("${GLUEQ_TEST_B:-${GLUEQ_TEST_A}/d}/z", "w", &s, &err) == GQ_OK && !strcmp(s, "/x/d/z"),
             "nested default: got '%s'", s ? s : err.msg);
    free(s);
    GQ_CHECK(t, gq_sweep_expand_env("a$b${GLUEQ_TEST_A:-q}", "w", &s, &err) == GQ_OK && !strcmp(s, "a$b/x"),
             "plain $: got '%s'", s ? s : err.msg);
    free(s);
    s = NULL;
    GQ_CHECK(t, gq_sweep_expand_env("${GLUEQ_TEST_B}", "f.json: data", &s, &err) == GQ_ERR_ARG && !s &&
                    strstr(err.msg, "f.json: data: environment variable GLUEQ_TEST_B is not set"),
             "unset: '%s'", err.msg);
}

/* The configs live in the source tree; CMake compiles this file by its absolute path, so
 * __FILE__'s grandparent is the repository root. */
static gq_sweep_config *load_config(gq_test_ctx *t, const char *rel) {
    char root[1024];
    snprintf(root, sizeof root, "%s", __FILE__);
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(root, '/');
        if (slash) *slash = '\0';
    }
    char *src = gq_path_join(root, rel);
    gq_sweep_config *c = NULL;
    gq_err err = {{0}};
    if (gq_sweep_config_load(src, &c, &err) != GQ_OK) GQ_CHECK(t, 0, "%s: %s", rel, err.msg);
    free(src);
    return c;
}

static void test_grid(gq_test_ctx *t) {
    setenv("GLUEQ_MODELS", "/models", 1);
    setenv("GLUEQ_ASSETS", "/assets", 1);
    unsetenv("GLUEQ_MODEL_QNLI");
    unsetenv("GLUEQ_DATA");
    gq_sweep_config *c = load_config(t, "configs/paper.json");
    if (c) {
        /* per task: FP32 + uniform + 3 methods × 7 budgets = 23 */
        GQ_CHECK(t, c->n_points == 69, "paper.json: %d points, want 69", c->n_points);
        int fp32 = 0, uniform = 0, svd = 0;
        for (int i = 0; i < c->n_points; i++) {
            const gq_sweep_point *p = &c->points[i];
            fp32 += !strcmp(p->method_name, "fp32");
            uniform += !strcmp(p->method_name, "uniform");
            svd += !strcmp(p->method_name, "svd");
            GQ_CHECK(t, p->index == i && strlen(p->id) == 16, "point %d: index %d id %s", i, p->index, p->id);
            if (i % 23 == 0) GQ_CHECK(t, !strcmp(p->method_name, "fp32"), "point %d is %s, want fp32 first", i, p->method_name);
            if (i % 23 == 1) GQ_CHECK(t, !strcmp(p->method_name, "uniform") && p->k == 0, "point %d: %s k=%lld", i, p->method_name, (long long)p->k);
        }
        GQ_CHECK(t, fp32 == 3 && uniform == 3 && svd == 21, "fp32 %d uniform %d svd %d", fp32, uniform, svd);
        GQ_CHECK(t, !strcmp(c->models[2], "/models/distilbert-base-uncased-QNLI"), "qnli model %s", c->models[2]);
        GQ_CHECK(t, !strcmp(c->data, "/assets/glue"), "data %s", c->data);
        GQ_CHECK(t, gq_sweep_shard_count(c, 0, 4) + gq_sweep_shard_count(c, 1, 4) + gq_sweep_shard_count(c, 2, 4) +
                            gq_sweep_shard_count(c, 3, 4) == 69 && gq_sweep_shard_count(c, 1, 4) == 17,
                 "shards of 69 by 4");
    }
    setenv("GLUEQ_MODEL_QNLI", "/elsewhere/qnli", 1);
    gq_sweep_config *c2 = load_config(t, "configs/paper.json");
    if (c2) GQ_CHECK(t, !strcmp(c2->models[2], "/elsewhere/qnli"), "GLUEQ_MODEL_QNLI ignored: %s", c2->models[2]);
    if (c && c2) {
        GQ_CHECK(t, strcmp(c->hash, c2->hash) != 0, "a different model path must change the config hash");
        GQ_CHECK(t, !strcmp(c->points[50].id, c2->points[50].id), "ids must not depend on paths");
    }
    gq_sweep_config_free(c2);
    gq_sweep_config_free(c);
    unsetenv("GLUEQ_MODEL_QNLI");

    gq_sweep_config *s = load_config(t, "configs/smoke.json");
    if (s) GQ_CHECK(t, s->n_points == 2 * (1 + 1 + 3 * 2), "smoke.json: %d points, want 16", s->n_points);
    gq_sweep_config_free(s);

    /* glue.json: the paper's grid on all nine tasks; its MRPC, RTE and QNLI points are the
     * paper's, id for id */
    gq_sweep_config *g = load_config(t, "configs/glue.json"), *paper = load_config(t, "configs/paper.json");
    if (g && paper) {
        GQ_CHECK(t, g->n_tasks == 9 && g->n_points == 9 * 23, "glue.json: %d tasks, %d points, want 9, 207", g->n_tasks,
                 g->n_points);
        int same = 0;
        for (int i = 0; i < paper->n_points; i++)
            for (int j = 0; j < g->n_points; j++) same += !strcmp(paper->points[i].id, g->points[j].id);
        GQ_CHECK(t, same == paper->n_points, "%d of paper.json's %d point ids in glue.json", same, paper->n_points);
        GQ_CHECK(t, !strcmp(g->models[3], "/models/distilbert-base-uncased-STS-B"), "stsb model %s", g->models[3]);
    }
    gq_sweep_config_free(g), gq_sweep_config_free(paper);

    /* 2 bits × 2 granularities × (uniform + random × 2 budgets × 3 seeds) + fp32 */
    const char *swept =
        "{\"name\": \"s\", \"data\": \"/d\", \"models\": {\"mrpc\": \"/m\"}, \"tasks\": [\"mrpc\"], \"methods\": "
        "[\"random\", \"uniform\"], \"bits\": [3, 4], \"budgets\": {\"p\": [0.01, 0.1]}, \"quantizer\": "
        "{\"granularity\": [\"tensor\", \"row\"]}, \"seeds\": [1, 2, 3], \"output\": \"/o\"}";
    gq_err err = {{0}};
    GQ_CHECK(t, gq_sweep_config_parse(swept, "s.json", &s, &err) == GQ_OK, "%s", err.msg);
    if (s) GQ_CHECK(t, s->n_points == 1 + 2 * 2 + 2 * 2 * 2 * 3, "swept grid: %d points, want 29", s->n_points);
    gq_sweep_config_free(s);
}

static void test_ids(gq_test_ctx *t) {
    const char *a = "{\"name\": \"a\", \"data\": \"/d\", \"models\": {\"rte\": \"/m\"}, \"tasks\": [\"rte\"], "
                    "\"methods\": [\"svd\", \"awq\"], \"bits\": [4], \"budgets\": {\"k\": [8]}, \"output\": \"/o\", "
                    "\"method_options\": {\"svd\": {\"rank\": 8}}}";
    /* same settings: keys reordered, defaults spelled out, another name and output */
    const char *b = "{\"output\": \"/p\", \"budgets\": {\"k\": [8]}, \"bits\": [4], \"methods\": [\"svd\", \"awq\"], "
                    "\"tasks\": [\"RTE\"], \"models\": {\"rte\": \"/m\"}, \"data\": \"/d\", \"name\": \"b\", "
                    "\"quantizer\": {\"clip\": \"std:2.50\", \"scheme\": \"symmetric\"}, \"threads\": 3, "
                    "\"device\": \"cuda\", \"tf32\": false, "
                    "\"calibration\": {\"n\": 128}, \"max_len\": 128, \"limit\": null}";
    const char *c = "{\"name\": \"a\", \"data\": \"/d\", \"models\": {\"rte\": \"/m\"}, \"tasks\": [\"rte\"], "
                    "\"methods\": [\"svd\", \"awq\"], \"bits\": [4], \"budgets\": {\"k\": [8]}, \"output\": \"/o\", "
                    "\"calibration\": {\"n\": 64}}";
    gq_sweep_config *ca = NULL, *cb = NULL, *cc = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_sweep_config_parse(a, "a.json", &ca, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_sweep_config_parse(b, "b.json", &cb, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_sweep_config_parse(c, "c.json", &cc, &err) == GQ_OK, "%s", err.msg);
    if (ca && cb && cc) {
        GQ_CHECK(t, ca->n_points == 3 && cb->n_points == 3, "points %d %d", ca->n_points, cb->n_points);
        for (int i = 0; i < ca->n_points; i++)
            GQ_CHECK(t, !strcmp(ca->points[i].id, cb->points[i].id), "point %d: %s vs %s (%s / %s)", i,
                     ca->points[i].id, cb->points[i].id, ca->points[i].settings, cb->points[i].settings);
        GQ_CHECK(t, !strcmp(ca->hash, cb->hash), "config hashes differ for the same settings");
        /* calibration enters the awq point only, and the hash */
        GQ_CHECK(t, !strcmp(ca->points[1].id, cc->points[1].id), "svd id changed with calibration.n");
        GQ_CHECK(t, strcmp(ca->points[2].id, cc->points[2].id) != 0, "awq id did not change with calibration.n");
        GQ_CHECK(t, strcmp(ca->hash, cc->hash) != 0, "hash did not change with calibration.n");
        GQ_CHECK(t, strstr(ca->points[1].settings, "\"rank\":\"8\"") != NULL, "settings %s", ca->points[1].settings);
    }
    gq_sweep_config_free(ca), gq_sweep_config_free(cb), gq_sweep_config_free(cc);
}

static cJSON *fake_row(const char *id, int index, const char *task, const char *method, int k, int correct) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "point_id", id);
    cJSON_AddNumberToObject(r, "index", index);
    cJSON_AddStringToObject(r, "task", task);
    cJSON_AddStringToObject(r, "method", method);
    cJSON_AddNumberToObject(r, "bits", strcmp(method, "fp32") ? 4 : 32);
    cJSON_AddNumberToObject(r, "k", k);
    cJSON_AddNullToObject(r, "p");
    cJSON_AddStringToObject(r, "method_options", "damp=0.01,sequential=false");
    cJSON_AddNumberToObject(r, "correct", correct);
    cJSON_AddNumberToObject(r, "total", 4);
    cJSON_AddNumberToObject(r, "accuracy", correct / 4.0);
    cJSON_AddNumberToObject(r, "flips", 4 - correct);
    cJSON_AddNumberToObject(r, "agreement", correct / 4.0);
    cJSON_AddNumberToObject(r, "n_labels", 2);
    cJSON_AddRawToObject(r, "labels", "[1,1,1,1]");
    char preds[32];
    snprintf(preds, sizeof preds, "[%d,%d,%d,%d]", correct > 0, correct > 1, correct > 2, correct > 3);
    cJSON_AddRawToObject(r, "preds", preds);
    cJSON_AddRawToObject(r, "logits", "[0.5,-0.25,1,2,3,4,5,6]");
    return r;
}

static void test_journal(gq_test_ctx *t) {
    char *path = tmp_path("journal.jsonl");
    const char *hash = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    cJSON *hdr = cJSON_CreateObject();
    cJSON_AddNumberToObject(hdr, "n_points", 5);
    gq_journal *j = NULL;
    cJSON *rows = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_journal_open(path, hash, hdr, 0, &j, &rows, &err) == GQ_OK, "create: %s", err.msg);
    for (int i = 0; i < 3 && j; i++) {
        char id[17];
        snprintf(id, sizeof id, "%016d", i);
        cJSON *r = fake_row(id, i, "rte", "svd", 4, i);
        GQ_CHECK(t, gq_journal_append(j, r, &err) == GQ_OK, "append: %s", err.msg);
        cJSON_Delete(r);
    }
    gq_journal_close(j);
    cJSON_Delete(rows);
    char *text = read_text(path);
    GQ_CHECK(t, text && !strncmp(text, "glueq-journal 1 aaaa", 20), "header: %.40s", text ? text : "(none)");
    free(text);
    /* a killed writer: half a line at the end */
    FILE *f = fopen(path, "a");
    fputs("{\"point_id\":\"0000000000000003\",\"ind", f);
    fclose(f);
    GQ_CHECK(t, gq_journal_open(path, hash, hdr, 0, &j, &rows, &err) == GQ_ERR_ARG && strstr(err.msg, "--resume"),
             "an existing journal without --resume: %s", err.msg);
    const char *other = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    GQ_CHECK(t, gq_journal_open(path, other, hdr, 1, &j, &rows, &err) == GQ_ERR_ARG && strstr(err.msg, "config hash"),
             "another config's journal: %s", err.msg);
    GQ_CHECK(t, gq_journal_open(path, hash, hdr, 1, &j, &rows, &err) == GQ_OK, "resume: %s", err.msg);
    GQ_CHECK(t, cJSON_GetArraySize(rows) == 3, "resume read %d rows, want 3", cJSON_GetArraySize(rows));
    cJSON *r = fake_row("0000000000000003", 3, "rte", "svd", 4, 3);
    GQ_CHECK(t, j && gq_journal_append(j, r, &err) == GQ_OK, "append after resume: %s", err.msg);
    cJSON_Delete(r), cJSON_Delete(rows);
    gq_journal_close(j);
    char h[65];
    cJSON *h2 = NULL;
    GQ_CHECK(t, gq_journal_read(path, h, &h2, &rows, &err) == GQ_OK, "read: %s", err.msg);
    GQ_CHECK(t, cJSON_GetArraySize(rows) == 4 && !strcmp(h, hash), "after resume: %d rows", cJSON_GetArraySize(rows));
    GQ_CHECK(t, h2 && cJSON_GetNumberValue(cJSON_GetObjectItem(h2, "n_points")) == 5, "header JSON lost");
    const cJSON *last = cJSON_GetArrayItem(rows, 3);
    GQ_CHECK(t, last && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(last, "point_id")), "0000000000000003"),
             "the truncated line was not replaced by the new row");
    cJSON_Delete(rows), cJSON_Delete(h2), cJSON_Delete(hdr);
    /* corruption that is not a truncated tail is an error naming the line */
    write_text(path, "glueq-journal 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {\"n_points\":1}\n"
                     "{\"point_id\":\"x\",\"index\":0}\ngarbage\n");
    GQ_CHECK(t, gq_journal_read(path, h, NULL, NULL, &err) == GQ_ERR_FORMAT && strstr(err.msg, "line 3"),
             "corrupt row: %s", err.msg);
    write_text(path, "not a journal\n");
    GQ_CHECK(t, gq_journal_read(path, h, NULL, NULL, &err) == GQ_ERR_FORMAT && strstr(err.msg, "not a glueq journal"),
             "bad magic: %s", err.msg);
    free(path);
}

static void test_fidelity(gq_test_ctx *t) {
    /* p = (1/2, 1/2), q = (3/4, 1/4): KL = ½ln(2/3) + ½ln 2 = ½ln(4/3) */
    const float ref[] = {0, 0, 1, 1, 100, 0};
    const float q[] = {(float)log(3.0), 0, 5, 5, 100, 0};
    const int rp[] = {0, 0, 0}, qp[] = {0, 1, 0};
    int flips;
    double agr, kl;
    gq_report_fidelity(rp, ref, qp, q, 3, 2, &flips, &agr, &kl);
    double want = 0.5 * log(4.0 / 3.0) / 3;
    GQ_CHECK(t, flips == 1, "flips %d, want 1", flips);
    GQ_CHECK(t, fabs(agr - 2.0 / 3) < 1e-12, "agreement %.17g", agr);
    GQ_CHECK(t, fabs(kl - want) < 1e-7, "kl %.10g, want %.10g", kl, want);
    gq_report_fidelity(rp, ref, rp, ref, 3, 2, &flips, &agr, &kl);
    GQ_CHECK(t, flips == 0 && agr == 1 && fabs(kl) < 1e-15, "self: flips %d agr %g kl %g", flips, agr, kl);
    /* large logits must not overflow: KL((1,0) ‖ (e^-1000, ...)) = 1000 */
    const float big_a[] = {1000, 0}, big_b[] = {0, 1000};
    gq_report_fidelity(rp, big_a, rp, big_b, 1, 2, &flips, &agr, &kl);
    GQ_CHECK(t, fabs(kl - 1000) < 1e-6, "kl of extreme logits %.10g, want 1000", kl);
}

/* n rows, point i+1 at index i+1 with every fourth repeated at its index (a merge of
 * overlapping shards): the rows dropped and the comparisons the check for repeats made. */
static uint64_t sort_rows_compares(int n, int *dropped) {
    cJSON *rows = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char id[17];
        int point = i % 4 == 3 ? i - 1 : i;
        snprintf(id, sizeof id, "%016x", point);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "point_id", id);
        cJSON_AddNumberToObject(r, "index", point);
        cJSON_AddItemToArray(rows, r);
    }
    uint64_t compares = 0;
    *dropped = gq_report_sort_rows(rows, &compares);
    cJSON_Delete(rows);
    return compares;
}

/* Sorting a merge of 100,000 rows (the grid's limit) costs n log n comparisons: twice
 * the rows, about 2.1 times the work (HOSTILE_MAX_RATIO). */
static void test_sort_rows_size(gq_test_ctx *t) {
    int d1 = 0, d2 = 0, n = GQ_SWEEP_MAX_POINTS / 2;
    uint64_t c1 = sort_rows_compares(n, &d1), c2 = sort_rows_compares(2 * n, &d2);
    printf("sorting rows: %d rows, %llu comparisons; %d rows, %llu\n", n, (unsigned long long)c1, 2 * n,
           (unsigned long long)c2);
    GQ_CHECK(t, d1 == n / 4 && d2 == n / 2, "dropped %d and %d repeated rows, want %d and %d", d1, d2, n / 4, n / 2);
    GQ_CHECK(t, c1 > 0 && (double)c2 <= HOSTILE_MAX_RATIO * (double)c1,
             "sorting rows: comparisons grow from %llu to %llu for twice the rows", (unsigned long long)c1,
             (unsigned long long)c2);
}

static void test_reports(gq_test_ctx *t) {
    char *dir = tmp_path("report");
    gq_err err = {{0}};
    gq_mkdirs(dir, &err);
    cJSON *rows = cJSON_CreateArray();
    cJSON_AddItemToArray(rows, fake_row("cccccccccccccccc", 2, "mrpc", "spqr", 16, 3));
    cJSON_AddItemToArray(rows, fake_row("aaaaaaaaaaaaaaaa", 0, "mrpc", "fp32", 0, 4));
    cJSON_AddItemToArray(rows, fake_row("bbbbbbbbbbbbbbbb", 1, "mrpc", "uniform", 0, 2));
    cJSON_AddItemToArray(rows, fake_row("aaaaaaaaaaaaaaaa", 0, "mrpc", "fp32", 0, 4));
    GQ_CHECK(t, gq_report_sort_rows(rows, NULL) == 1, "one repeated row should be dropped");
    GQ_CHECK(t, cJSON_GetArraySize(rows) == 3, "%d rows after sort", cJSON_GetArraySize(rows));
    cJSON *cfg = cJSON_CreateObject(), *prov = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "name", "unit");
    cJSON_AddStringToObject(prov, "config_hash", "x");
    GQ_CHECK(t, gq_report_write(dir, cfg, prov, rows, &err) == GQ_OK, "write: %s", err.msg);
    char *p = gq_path_join(dir, "results.csv"), *csv = read_text(p);
    free(p);
    const char *want = "point_id,index,task,method,bits,k,p,";
    GQ_CHECK(t, csv && !strncmp(csv, want, strlen(want)), "csv header: %.60s", csv ? csv : "(none)");
    static const char *const required[] = {"point_id", "task", "method", "bits", "k", "p", "correct", "total",
                                           "accuracy", "acc_lo", "acc_hi", "f1", "flips", "agreement", "kl",
                                           "protected", "effective_bits", "seconds", NULL};
    char *nl = csv ? strchr(csv, '\n') : NULL;
    if (nl) *nl = '\0';
    for (int i = 0; csv && required[i]; i++) {
        char col[64];
        snprintf(col, sizeof col, ",%s,", required[i]);
        char hdr[2048];
        snprintf(hdr, sizeof hdr, ",%s,", csv);
        GQ_CHECK(t, strstr(hdr, col) != NULL, "results.csv lacks column %s", required[i]);
    }
    /* rows in index order; the option string with commas is quoted */
    GQ_CHECK(t, nl && !strncmp(nl + 1, "aaaaaaaaaaaaaaaa,0,mrpc,fp32,32,0,,", 35), "first row: %.50s", nl ? nl + 1 : "");
    GQ_CHECK(t, nl && strstr(nl + 1, ",\"damp=0.01,sequential=false\",") != NULL, "quoted options missing");
    free(csv);
    p = gq_path_join(dir, "results.json");
    char *js = read_text(p);
    free(p);
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    GQ_CHECK(t, o && cJSON_GetObjectItem(o, "config") && cJSON_GetObjectItem(o, "provenance") &&
                    cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")) == 3,
             "results.json shape");
    GQ_CHECK(t, o && !cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "rows"), 0), "logits"),
             "results.json rows must not carry logits");
    cJSON_Delete(o);
    free(js);
    p = gq_path_join(dir, "predictions.jsonl");
    char *pj = read_text(p);
    free(p);
    GQ_CHECK(t, pj && !strncmp(pj, "{\"point_id\":\"aaaaaaaaaaaaaaaa\",\"task\":\"mrpc\",\"n_labels\":2,\"labels\":[1,1,1,1],"
                                   "\"preds\":[1,1,1,1],\"logits\":[0.5,-0.25,1,2,3,4,5,6]}\n", 118),
             "predictions.jsonl: %.120s", pj ? pj : "(none)");
    free(pj);
    p = gq_path_join(dir, "table.md");
    char *md = read_text(p);
    free(p);
    GQ_CHECK(t, md && strstr(md, "| FP32 | 100.00 (4/4) |") && strstr(md, "| spqr int4 |  | 75.00 (3/4) |"),
             "table.md:\n%s", md ? md : "(none)");
    GQ_CHECK(t, md && strstr(md, "| k=16 |") && strstr(md, "(1 flip)"), "table.md columns/fidelity");
    free(md);
    p = gq_path_join(dir, "plot.svg");
    char *svg = read_text(p);
    free(p);
    GQ_CHECK(t, svg && !strncmp(svg, "<svg ", 5) && strstr(svg, "</svg>") && strstr(svg, "stroke-dasharray=\"7 4\"") &&
                    strstr(svg, "accuracy (%)") && strstr(svg, "log scale"),
             "plot.svg incomplete");
    free(svg);
    cJSON_Delete(rows), cJSON_Delete(cfg), cJSON_Delete(prov);
    free(dir);
}

/* A results directory with hand-made predictions on 20 examples whose labels are all 1. */
static void make_results(const char *dir, const char *id, int wrong) {
    gq_err err = {{0}};
    gq_mkdirs(dir, &err);
    char *p = gq_path_join(dir, "results.json"), buf[1024];
    snprintf(buf, sizeof buf, "{\"rows\": [{\"point_id\": \"%s\", \"task\": \"rte\", \"method\": \"svd\", \"bits\": 4, "
                              "\"k\": 16}]}", id);
    write_text(p, buf);
    free(p);
    p = gq_path_join(dir, "predictions.jsonl");
    char preds[128] = "";
    for (int i = 0; i < 20; i++) strcat(preds, i < wrong ? (i ? ",0" : "0") : (i ? ",1" : "1"));
    snprintf(buf, sizeof buf, "{\"point_id\":\"%s\",\"task\":\"rte\",\"labels\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
                              "\"preds\":[%s]}\n", id, preds);
    write_text(p, buf);
    free(p);
}

static int run_compare(const char *a, const char *b, const char *extra1, const char *extra2) {
    char *argv[6] = {(char *)a, (char *)b, (char *)extra1, (char *)extra2, NULL};
    int argc = 2 + (extra1 != NULL) + (extra2 != NULL);
    fflush(stdout);
    return gq_test_cli("compare", argc, argv);
}

static void test_compare(gq_test_ctx *t) {
    char *a = tmp_path("cmpA"), *b = tmp_path("cmpB"), *c = tmp_path("cmpC");
    make_results(a, "1111111111111111", 0);
    make_results(b, "1111111111111111", 10);
    make_results(c, "2222222222222222", 1);
    gq_compare_stats cs;
    const int labels[] = {1, 1, 1, 1, 0, 0}, pa[] = {1, 1, 1, 0, 0, 1}, pb[] = {1, 0, 0, 1, 0, 1};
    gq_compare_paired(labels, pa, pb, 6, &cs);
    GQ_CHECK(t, cs.correct_a == 4 && cs.correct_b == 3 && cs.only_a == 2 && cs.only_b == 1, "counts %d %d %d %d",
             cs.correct_a, cs.correct_b, cs.only_a, cs.only_b);
    GQ_CHECK(t, fabs(cs.p - 1.0) < 1e-12, "McNemar p of (2, 1) = %g, want 1", cs.p);
    GQ_CHECK(t, fabs(cs.diff + 1.0 / 6) < 1e-12 && cs.lo <= cs.diff && cs.diff <= cs.hi, "diff %g [%g, %g]", cs.diff,
             cs.lo, cs.hi);
    /* 10 of 20 lost: McNemar p = 2 · 2^-10, diff −50 points */
    GQ_CHECK(t, run_compare(a, b, NULL, NULL) == 0, "compare without --fail-if-worse must exit 0");
    GQ_CHECK(t, run_compare(a, b, "--fail-if-worse", "1") == GQ_COMPARE_WORSE, "B significantly worse: want exit 3");
    GQ_CHECK(t, run_compare(a, b, "--fail-if-worse", "60") == 0, "a 50-point drop is within DELTA 60");
    GQ_CHECK(t, run_compare(b, a, "--fail-if-worse", "0") == 0, "B better: exit 0");
    char sa[256], sc[256];
    snprintf(sa, sizeof sa, "%s/results.json#1111111111111111", a);
    snprintf(sc, sizeof sc, "%s#2222222222222222", c);
    GQ_CHECK(t, run_compare(sa, sc, "--fail-if-worse", "0") == 0, "one flip is not significant");
    GQ_CHECK(t, run_compare(a, c, NULL, NULL) == 1, "no common point ids: exit 1");
    GQ_CHECK(t, run_compare(sa, c, NULL, NULL) == 1, "an id on one side only: exit 1");
    snprintf(sc, sizeof sc, "%s#3333333333333333", c);
    GQ_CHECK(t, run_compare(sa, sc, NULL, NULL) == 1, "unknown id: exit 1");
    free(a), free(b), free(c);
}

/* ---- end to end on tiny-a ---- */

static void e2e_text(gq_test_ctx *t, char *text, size_t n) {
    snprintf(text, n,
             "{\"name\": \"e2e\", \"data\": \"%s/assets/glue\", \"vocab\": \"%s/assets/vocab/vocab.txt\", "
             "\"models\": {\"rte\": \"%s/fixtures/tiny-a\"}, \"tasks\": [\"rte\"], "
             "\"methods\": [\"uniform\", \"svd\", \"awq\", \"spqr\", \"random\"], \"bits\": [3, 4], "
             "\"budgets\": {\"k\": [4, 64]}, \"seeds\": [0, 1], \"calibration\": {\"n\": 16}, \"limit\": 40, "
             "\"threads\": 1, \"output\": \"%s/unused\", \"cache_dir\": \"%s/cache\"}",
             t->shared, t->shared, t->shared, g_tmp, g_tmp);
}

static gq_sweep_config *e2e_config(gq_test_ctx *t) {
    char text[4096];
    e2e_text(t, text, sizeof text);
    gq_sweep_config *c = NULL;
    gq_err err = {{0}};
    if (gq_sweep_config_parse(text, "e2e.json", &c, &err) != GQ_OK) GQ_CHECK(t, 0, "e2e config: %s", err.msg);
    return c;
}

/* results.csv without the seconds column (timings differ between runs). */
static char *csv_without_seconds(const char *dir) {
    int col = 0;
    while (gq_report_columns[col] && strcmp(gq_report_columns[col], "seconds")) col++;
    return gq_test_results_csv_without(dir, col);
}

static void check_same_results(gq_test_ctx *t, const char *want_dir, const char *got_dir, const char *what) {
    char *a = csv_without_seconds(want_dir), *b = csv_without_seconds(got_dir);
    GQ_CHECK(t, a && b && !strcmp(a, b), "%s: results.csv differs (seconds aside)\n--- want\n%s--- got\n%s", what,
             a ? a : "(none)", b ? b : "(none)");
    free(a), free(b);
    char *pa = gq_path_join(want_dir, "predictions.jsonl"), *pb = gq_path_join(got_dir, "predictions.jsonl");
    a = read_text(pa), b = read_text(pb);
    GQ_CHECK(t, a && b && !strcmp(a, b), "%s: predictions.jsonl differs", what);
    free(a), free(b), free(pa), free(pb);
}

/* Seed of the test's random choices: $GLUEQ_TEST_SEED, else the clock and the pid. */
static uint64_t test_seed(void) {
    const char *env = getenv("GLUEQ_TEST_SEED");
    if (env && *env) return strtoull(env, NULL, 10);
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* Complete rows in a journal (its lines after the header); 0 when it does not exist. */
static int journal_rows(const char *path) {
    char *text = read_text(path);
    int lines = 0;
    for (const char *p = text; p && *p; p++) lines += *p == '\n';
    free(text);
    return lines > 0 ? lines - 1 : 0;
}

/* Runs the sweep in a child (resuming in dir) and SIGKILLs it once its journal holds
 * `target` rows. Returns 1 when the kill stopped the child while it was still running
 * (it died of SIGKILL with points left), 0 when the child had already finished. */
static int kill_after_rows(const gq_sweep_config *c, const char *dir, const char *journal, int target) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        gq_log_set_level(GQ_LOG_QUIET);
        gq_sweep_opts ko = {.out = dir, .n_shards = 1, .resume = 1};
        gq_err e2 = {{0}};
        _exit(gq_sweep_run(c, &ko, &e2) == GQ_OK ? 0 : 1);
    }
    int status = 0, reaped = 0;
    while (!(reaped = waitpid(pid, &status, WNOHANG) == pid) && journal_rows(journal) < target) usleep(200);
    if (!reaped) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    int rows = journal_rows(journal), stopped = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && rows < c->n_points;
    printf("e2e: SIGKILL at %d journalled points: %s (%d of %d rows)\n", target,
           stopped ? "stopped the sweep" : "it had finished", rows, c->n_points);
    return stopped;
}

static void test_end_to_end(gq_test_ctx *t) {
    gq_sweep_config *c = e2e_config(t);
    if (!c) return;
    /* fp32 + uniform×2 bits + (svd, awq, spqr)×2 bits×2 k + random×2 bits×2 k×2 seeds */
    GQ_CHECK(t, c->n_points == 1 + 2 + 12 + 8, "e2e grid %d points, want 23", c->n_points);
    gq_err err = {{0}};
    char *full = tmp_path("full"), *sh = tmp_path("shards"), *merged = tmp_path("merged"), *killed = tmp_path("killed");
    gq_sweep_opts o = {.out = full, .n_shards = 1};
    GQ_CHECK(t, gq_sweep_run(c, &o, &err) == GQ_OK, "unsharded run: %s", err.msg);
    /* determinism: the same sweep again, from an empty score cache, gives byte-identical
     * results.csv (the timing column aside) and predictions.jsonl */
    char *again = tmp_path("again"), *cache = tmp_path("cache"), rm[600];
    snprintf(rm, sizeof rm, "rm -rf '%s'", cache);
    GQ_CHECK(t, system(rm) == 0, "%s", rm);
    gq_sweep_opts o2 = {.out = again, .n_shards = 1};
    GQ_CHECK(t, gq_sweep_run(c, &o2, &err) == GQ_OK, "second run: %s", err.msg);
    check_same_results(t, full, again, "the same sweep twice");
    free(again), free(cache);
    char *md = gq_path_join(full, "table.md"), *mdt = read_text(md);
    GQ_CHECK(t, mdt && strstr(mdt, "| FP32 |") && strstr(mdt, "| svd int4 |") &&
                    strstr(mdt, "| random int4 (seed=1) |"), "table.md of the run");
    free(md), free(mdt);

    /* an unchanged config resumes to a no-op; a changed one is refused */
    o.resume = 1;
    GQ_CHECK(t, gq_sweep_run(c, &o, &err) == GQ_OK, "resume of a finished run: %s", err.msg);
    gq_sweep_config *c2 = e2e_config(t);
    if (c2) {
        c2->max_len = 64;
        snprintf(c2->hash, sizeof c2->hash, "%064d", 7);
        GQ_CHECK(t, gq_sweep_run(c2, &o, &err) == GQ_ERR_ARG && strstr(err.msg, "config hash"),
                 "resume with another config: %s", err.msg);
    }
    gq_sweep_config_free(c2);

    for (int s = 0; s < 3; s++) {
        gq_sweep_opts so = {.out = sh, .shard = s, .n_shards = 3};
        GQ_CHECK(t, gq_sweep_run(c, &so, &err) == GQ_OK, "shard %d/3: %s", s, err.msg);
    }
    const char *inputs[] = {sh};
    GQ_CHECK(t, gq_sweep_merge(merged, inputs, 1, 0, &err) == GQ_OK, "merge: %s", err.msg);
    check_same_results(t, full, merged, "3 shards merged");
    /* an incomplete set of shards is refused */
    char *one = gq_path_join(sh, "journal-1-of-3.jsonl"), *m2 = tmp_path("merged2");
    const char *partial[] = {one};
    GQ_CHECK(t, gq_sweep_merge(m2, partial, 1, 0, &err) == GQ_ERR_ARG && strstr(err.msg, "missing"),
             "merge of one shard of 3: %s", err.msg);
    free(one), free(m2);

    /* SIGKILL while the child runs, after a seeded random number of journalled points,
     * then --resume; only kills that stopped a running sweep count */
    char *jp = gq_path_join(killed, "journal.jsonl");
    uint64_t seed = test_seed();
    printf("e2e: kill seed %llu (GLUEQ_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    gq_rng rng;
    gq_rng_seed(&rng, seed);
    int attempts = 0, kills = 0;
    for (int done; attempts < 3 && (done = journal_rows(jp)) < c->n_points - 1; attempts++) {
        int target = done + 1 + (int)gq_rng_below(&rng, (uint64_t)(c->n_points - 1 - done));
        kills += kill_after_rows(c, killed, jp, target);
    }
    GQ_CHECK(t, attempts > 0 && kills == attempts, "%d of %d kills stopped a running sweep", kills, attempts);
    gq_sweep_opts ro = {.out = killed, .n_shards = 1, .resume = 1};
    GQ_CHECK(t, gq_sweep_run(c, &ro, &err) == GQ_OK, "resume after SIGKILL: %s", err.msg);
    check_same_results(t, full, killed, "killed and resumed");
    cJSON *rows = NULL;
    GQ_CHECK(t, gq_journal_read(jp, NULL, NULL, &rows, &err) == GQ_OK && cJSON_GetArraySize(rows) == c->n_points,
             "killed journal holds %d rows, want exactly %d", cJSON_GetArraySize(rows), c->n_points);
    cJSON_Delete(rows);
    free(jp);

    /* SIGTERM through the command: stops after the current point, exit 128 + 15, and the
     * journal resumes to the same results */
    char text[4096], *cfg_path = tmp_path("e2e.json"), *termed = tmp_path("termed");
    e2e_text(t, text, sizeof text);
    write_text(cfg_path, text);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        gq_log_set_level(GQ_LOG_QUIET);
        char *args[] = {cfg_path, "--out", termed, NULL};
        _exit(gq_test_cli("sweep", 3, args));
    }
    /* signalled once a third of the points are journalled, so that it is still running */
    char *tj = gq_path_join(termed, "journal.jsonl");
    int status = 0, reaped = 0;
    while (!(reaped = waitpid(pid, &status, WNOHANG) == pid) && journal_rows(tj) < c->n_points / 3) usleep(200);
    if (!reaped) {
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1, rows_at_stop = journal_rows(tj);
    GQ_CHECK(t, code == 128 + SIGTERM && rows_at_stop < c->n_points,
             "SIGTERM: exit status %d with %d of %d points, want 143 before the end", code, rows_at_stop, c->n_points);
    printf("e2e: SIGTERM -> exit %d after %d of %d points\n", code, rows_at_stop, c->n_points);
    free(tj);
    char *args[] = {cfg_path, "--out", termed, "--resume", NULL};
    GQ_CHECK(t, gq_test_cli("sweep", 4, args) == 0, "resume after SIGTERM failed");
    check_same_results(t, full, termed, "SIGTERM and resumed");
    free(cfg_path), free(termed);

    free(full), free(sh), free(merged), free(killed);
    gq_sweep_config_free(c);
}

/* ---- where a point's time went ---- */

/* The point stages a row's "timing" holds (docs/outputs.md), each a part of its seconds. */
static const char *const POINT_STAGES[] = {"scores", "calib_forward", "calib_stats", "quantize", "check",
                                           "evaluate", "restore"};
enum { N_POINT_STAGES = sizeof POINT_STAGES / sizeof *POINT_STAGES };

static double stage(const cJSON *timing, const char *name) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(timing, name);
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

/* One row's timing: exactly the point stages, each >= 0, together no more than the row's
 * seconds and (nothing else runs inside a point) at least half of them. */
static void check_row_timing(gq_test_ctx *t, const cJSON *row) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "point_id"));
    const cJSON *timing = cJSON_GetObjectItemCaseSensitive(row, "timing");
    double secs = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "seconds")), sum = 0;
    GQ_CHECK(t, cJSON_IsObject(timing) && cJSON_GetArraySize(timing) == N_POINT_STAGES,
             "row %s: timing is not an object of %d stages", id, N_POINT_STAGES);
    for (int i = 0; i < N_POINT_STAGES; i++) {
        double v = stage(timing, POINT_STAGES[i]);
        GQ_CHECK(t, v >= 0, "row %s: timing.%s is %g (missing or negative)", id, POINT_STAGES[i], v);
        sum += v;
    }
    GQ_CHECK(t, sum <= secs + 1e-9 && sum >= 0.5 * secs, "row %s: stages add up to %.9g s, its seconds %.9g", id, sum,
             secs);
}

/* A sweep whose points run every stage: awq's preparation calibrates on FP32 rows, gptq
 * with calibration from quantized calibrates once per layer in every point. */
static void test_timing(gq_test_ctx *t) {
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\": \"timing\", \"data\": \"%s/assets/glue\", \"vocab\": \"%s/assets/vocab/vocab.txt\", "
             "\"models\": {\"rte\": \"%s/fixtures/tiny-a\"}, \"tasks\": [\"rte\"], \"methods\": [\"uniform\", \"awq\"], "
             "\"bits\": [4], \"budgets\": {\"k\": [4]}, \"quantizer\": {\"algorithm\": [\"rtn\", \"gptq\"]}, "
             "\"calibration\": {\"n\": 8, \"from\": \"quantized\"}, \"limit\": 20, \"threads\": 1, "
             "\"output\": \"%s/timing\", \"cache_dir\": \"%s/timing-cache\"}",
             t->shared, t->shared, t->shared, g_tmp, g_tmp);
    gq_sweep_config *c = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_sweep_config_parse(text, "timing.json", &c, &err) == GQ_OK, "timing config: %s", err.msg);
    gq_sweep_opts o = {.n_shards = 1};
    GQ_CHECK(t, c && gq_sweep_run(c, &o, &err) == GQ_OK, "timing sweep: %s", err.msg);
    char *jp = tmp_path("timing/journal.jsonl");
    cJSON *rows = NULL;
    GQ_CHECK(t, gq_journal_read(jp, NULL, NULL, &rows, &err) == GQ_OK, "%s", err.msg);
    int n = 0, gptq = 0, scored = 0;
    for (const cJSON *row = rows ? rows->child : NULL; row; row = row->next, n++) {
        check_row_timing(t, row);
        const cJSON *timing = cJSON_GetObjectItemCaseSensitive(row, "timing");
        const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "method"));
        const char *algo = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "algorithm"));
        int quantized = strcmp(method, "fp32") != 0, calibrated = algo && !strcmp(algo, "gptq");
        GQ_CHECK(t, stage(timing, "evaluate") > 0, "row %d: no evaluation time", n);
        GQ_CHECK(t, !quantized || (stage(timing, "quantize") > 0 && stage(timing, "check") > 0 &&
                                   stage(timing, "restore") > 0),
                 "row %d (%s): quantize %g, check %g, restore %g", n, method, stage(timing, "quantize"),
                 stage(timing, "check"), stage(timing, "restore"));
        GQ_CHECK(t, !calibrated || (stage(timing, "calib_forward") > 0 && stage(timing, "calib_stats") > 0),
                 "row %d (%s gptq from quantized): calib_forward %g, calib_stats %g", n, method,
                 stage(timing, "calib_forward"), stage(timing, "calib_stats"));
        gptq += calibrated;
        scored += stage(timing, "scores") > 0;
    }
    GQ_CHECK(t, n == 5 && gptq == 2 && scored >= 1, "timing sweep: %d rows (want 5), %d gptq (want 2), %d scored", n,
             gptq, scored);
    printf("ok   timing: %d rows, each with its %d stages within its seconds\n", n, N_POINT_STAGES);
    cJSON_Delete(rows);
    free(jp);
    gq_sweep_config_free(c);
}

/* ---- point ids of RTN points stay those of the committed results ---- */

static void collect_ids(const char *path, char ids[][17], int *n, int cap) {
    char *text = read_text(path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *r;
    *n = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(root, "rows")) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "point_id"));
        if (id && *n < cap) snprintf(ids[(*n)++], 17, "%s", id);
    }
    cJSON_Delete(root);
    free(text);
}

static int has_id(char ids[][17], int n, const char *id) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ids[i], id)) return 1;
    return 0;
}

static void test_committed_ids(gq_test_ctx *t) {
    enum { CAP = 256 };
    static char ids[CAP][17];
    int n = 0;
    collect_ids(GQ_SOURCE_DIR "/results/methods-scratch-rte/results.json", ids, &n, CAP);
    char *text = read_text(GQ_SOURCE_DIR "/configs/methods-scratch-rte.json");
    GQ_CHECK(t, text && n > 0, "committed results or config of methods-scratch-rte missing");
    if (!text || n == 0) {
        free(text);
        return;
    }
    gq_err err = {{0}};
    gq_sweep_config *c = NULL;
    int found = 0;
    if (gq_sweep_config_parse(text, "methods-scratch-rte.json", &c, &err) == GQ_OK)
        for (int i = 0; i < c->n_points; i++) found += has_id(ids, n, c->points[i].id);
    GQ_CHECK(t, c && found == n && c->n_points == n, "committed ids: %d of %d found in a grid of %d (%s)", found, n,
             c ? c->n_points : 0, err.msg);
    gq_sweep_config_free(c);
    /* the same grid swept over rtn and gptq: the rtn points keep their ids, gptq's are new */
    const char *from = "\"clip\": \"std:2.5\"}";
    char *at = strstr(text, from), grown[8192];
    GQ_CHECK(t, at != NULL, "methods-scratch-rte.json: quantizer line changed");
    if (at) {
        snprintf(grown, sizeof grown, "%.*s\"clip\": \"std:2.5\", \"algorithm\": [\"rtn\", \"gptq\"]}%s", (int)(at - text),
                 text, at + strlen(from));
        c = NULL;
        int rtn_found = 0, gptq_new = 0, gptq = 0;
        if (gq_sweep_config_parse(grown, "grown.json", &c, &err) == GQ_OK)
            for (int i = 0; i < c->n_points; i++) {
                int is_gptq = c->points[i].method >= 0 && c->points[i].qopts.algorithm == GQ_ALGO_GPTQ;
                gptq += is_gptq;
                if (is_gptq) gptq_new += !has_id(ids, n, c->points[i].id) && strstr(c->points[i].settings, "\"gptq\"");
                else rtn_found += has_id(ids, n, c->points[i].id);
            }
        GQ_CHECK(t, c && rtn_found == n && gptq == n - 1 && gptq_new == gptq,
                 "rtn + gptq grid: %d of %d rtn ids kept, %d gptq points (%d new) (%s)", rtn_found, n, gptq, gptq_new,
                 err.msg);
        gq_sweep_config_free(c);
    }
    printf("ok   point ids of the committed methods-scratch-rte results unchanged (%d), also beside gptq points\n", n);
    free(text);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_sweep", g_tmp, sizeof g_tmp);
    test_config_errors(&t);
    test_config_sizes(&t);
    test_env(&t);
    test_grid(&t);
    test_ids(&t);
    test_committed_ids(&t);
    test_journal(&t);
    test_fidelity(&t);
    test_reports(&t);
    test_sort_rows_size(&t);
    test_compare(&t);
    test_end_to_end(&t);
    test_timing(&t);
    return gq_test_done(&t);
}
