/* test_quant_cross: a quantization pass reports what it applied, over the cross-product of
 * every method (uniform, magnitude, random, svd, awq, spqr, external; rosaq pca and none),
 * algorithm (rtn, gptq, awq-scale), calibration from fp32 or quantized, SARQC λ 0 or 1,
 * granularity (tensor, row, group), per-matrix and global budgets and k in {0, 1, an odd
 * k, more than a matrix}, on a model of Linear weights only (2 layers, dim 8, FFN 12:
 * testmodel.h) so that the 1,600 passes take seconds. For each point: every protected weight holds its FP32
 * value bit for bit (rosaq pca: its mask is whole leading columns of W·P), the report's
 * counts are the mask's and the budget's (hand reference: min(k, rows·cols) per matrix,
 * min(k·matrices, all weights) in all under a global budget, ⌊k/rows⌋ whole columns for
 * rosaq), and its effective bits are the mask's (gq_quant_effective_bits; for rosaq the
 * docs/quantization.md's formula). What glueq refuses by design is refused with an error that names it,
 * leaving the FP32 model. Then `glueq eval --json`, `glueq quantize` and a one-point
 * `glueq sweep` agree on sampled points, and the check inside every apply catches a
 * protected weight that changed behind the session's back. */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "quant_method.h"
#include "testlib.h"
#include "testmodel.h"

#define BITS 3
#define DIM 8
#define FFN 12
#define K_ODD 37         /* rosaq: four whole columns of an 8-row matrix, three of lin1's 12 rows */
#define K_HUGE 1000      /* more than the largest matrix (12×8) */
#define GROUP "group:5"  /* a ragged last group on 8 and 12 columns */
/* The CLI runs, on tiny-b (dim 48, FFN 96, 3 layers): */
#define CLI_K 129         /* rosaq: two whole columns of a 48-row matrix, one of lin1's 96 rows */
#define CLI_GROUP "group:20"
#define CALIB_N 2 /* calibration rows */
#define LIMIT 12  /* dev rows evaluated */
/* The report's effective bits against the reference: the same formula summed in another
 * order (totals) or written out again (rosaq), so a few ulps; about 10x that: */
#define BITS_RTOL 1e-13

static char tmpdir[256];

typedef struct {
    const char *name, *rotation; /* rotation: rosaq's option, NULL for the other methods */
} method_case;

static const method_case METHODS[] = {{"uniform", NULL}, {"magnitude", NULL}, {"random", NULL},
                                      {"svd", NULL},     {"awq", NULL},       {"spqr", NULL},
                                      {"external", NULL}, {"rosaq", "pca"},   {"rosaq", "none"}};
enum { N_METHODS = sizeof METHODS / sizeof METHODS[0] };

typedef struct {
    gq_quant_algorithm algo;
    int from_quantized;
    double lambda;
} algo_case;

static const algo_case ALGOS[] = {
    {GQ_ALGO_RTN, 0, 0},       {GQ_ALGO_RTN, 1, 0},       {GQ_ALGO_RTN, 0, 1},       {GQ_ALGO_GPTQ, 0, 0},
    {GQ_ALGO_GPTQ, 0, 1},      {GQ_ALGO_GPTQ, 1, 0},      {GQ_ALGO_GPTQ, 1, 1},      {GQ_ALGO_AWQ_SCALE, 0, 0},
    {GQ_ALGO_AWQ_SCALE, 0, 1}, {GQ_ALGO_AWQ_SCALE, 1, 0}, {GQ_ALGO_AWQ_SCALE, 1, 1}};
enum { N_ALGOS = sizeof ALGOS / sizeof ALGOS[0] };

static const char *const GRANULARITIES[] = {"tensor", "row", GROUP};
static const int64_t KS[] = {0, 1, K_ODD, K_HUGE};

static int is_rosaq(const method_case *mc) { return mc->rotation != NULL; }

/* ---- the session ---- */

/* The calibration: testmodel's pseudo-activations, which do not depend on the weights, so
 * that from quantized differs from fp32 in the path only: a restore and a forward per
 * layer between selecting and quantizing, which is what the invariants are about. */
typedef struct {
    gq_test_fake_calib fake;
    int corrupt_at; /* on this call (counting from 1; 0: never) layer 0's q_lin is first
                       shifted by 1, as a forward that writes into the model would */
} calib_ctx;

static gq_status calibrate(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    calib_ctx *c = ctx;
    if (c->fake.calls + 1 == c->corrupt_at) {
        gq_linear *l = &c->fake.f->m.layers[0].lin[GQ_LIN_Q];
        for (int j = 0; j < l->out * l->in; j++) l->w[j] += 1.0f;
    }
    return gq_test_fake_calibrate(&c->fake, hooks, err);
}

/* An external scores file for the model: one F32 tensor per quantized matrix, named like
 * its weight, of normal pseudo-random scores. */
static void write_external_scores(gq_test_ctx *t, const gq_encoder *m, const char *path) {
    int n = m->cfg.n_layers * GQ_LIN_COUNT;
    gq_st_entry e[GQ_QUANT_MAX_MATS];
    char names[GQ_QUANT_MAX_MATS][96];
    float *data[GQ_QUANT_MAX_MATS];
    gq_rng rng;
    gq_rng_seed(&rng, 7);
    for (int i = 0; i < n; i++) {
        const gq_linear *l = &m->layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT];
        gq_encoder_weight_name(m->cfg.family, i, names[i], sizeof names[i]);
        data[i] = malloc((size_t)l->out * l->in * sizeof(float));
        for (int j = 0; j < l->out * l->in; j++) data[i][j] = gq_rng_normal(&rng);
        e[i] = (gq_st_entry){.name = names[i], .dtype = "F32", .ndim = 2, .shape = {l->out, l->in}, .data = data[i]};
    }
    gq_err err = {{0}};
    GQ_CHECK(t, gq_safetensors_write_entries(path, e, n, &err) == GQ_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) free(data[i]);
}

static gq_quant_scores *method_scores(gq_test_ctx *t, gq_quant_session *s, const method_case *mc,
                                      const gq_quant_opts *q, const char *scores_path) {
    gq_method_opts mo = {0};
    gq_err err = {{0}};
    if (mc->rotation) gq_method_opts_set(&mo, "rotation", mc->rotation, &err);
    if (!strcmp(mc->name, "external")) gq_method_opts_set(&mo, "scores", scores_path, &err);
    gq_quant_scores *sc = NULL;
    GQ_CHECK(t, gq_quant_scores_compute(s, mc->name, &mo, q, &sc, &err) == GQ_OK, "scores of %s: %s", mc->name,
             err.msg);
    return sc;
}

/* ---- the references ---- */

static int ceil_log2(int64_t n) {
    int b = 0;
    while (((int64_t)1 << b) < n) b++;
    return b;
}

/* Protected weights the budget gives one matrix; -1 under a global budget (only the
 * total is known). */
static int64_t want_count(const method_case *mc, int64_t k, int global, int rows, int cols) {
    if (!strcmp(mc->name, "uniform")) return 0;
    if (is_rosaq(mc)) {
        int64_t kcols = k / rows < cols ? k / rows : cols;
        return kcols * rows;
    }
    if (global) return -1;
    return k < (int64_t)rows * cols ? k : (int64_t)rows * cols;
}

/* docs/quantization.md, "Budgets, ties and effective bits": (b·(n−K·rows) + 32·K·rows + ⌈log₂ cols⌉·K + scales + R)
 * / n, R = 16·cols² for pca, a third of it for q, k and v. */
static double rosaq_bits(const gq_quant_opts *q, const method_case *mc, int idx, int rows, int cols, int64_t kcols) {
    double n = (double)rows * cols, rot = strcmp(mc->rotation, "pca") ? 0 : 16.0 * cols * cols;
    gq_lin_kind kind = (gq_lin_kind)(idx % GQ_LIN_COUNT);
    if (kind == GQ_LIN_Q || kind == GQ_LIN_K || kind == GQ_LIN_V) rot /= 3;
    double scales = gq_quant_effective_bits(q, rows, cols, 0) * n - q->bits * n;
    return (q->bits * (n - kcols * rows) + 32.0 * kcols * rows + ceil_log2(cols) * (double)kcols + scales + rot) / n;
}

/* The mask is the kcols leading columns of every row (rosaq pca: columns of W·P). */
static int leading_columns(const uint8_t *mask, int rows, int cols, int64_t kcols) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            if (mask[(size_t)r * cols + j] != (j < kcols)) return 0;
    return 1;
}

/* The invariants of one applied point; `what` names it. Reports the first offending
 * matrix of each kind of failure. */
static void check_applied(gq_test_ctx *t, const char *what, const gq_quant_session *s, const gq_encoder *m,
                          const gq_quant_opts *q, const gq_quant_report *rep, const method_case *mc, int64_t k,
                          int global) {
    int n_mats = gq_quant_session_n_mats(s), bad_count = -1, bad_value = -1, bad_bits = -1;
    int rotated = is_rosaq(mc) && !strcmp(mc->rotation, "pca");
    int64_t total = 0, all = 0, want_total = 0;
    double bits_sum = 0;
    for (int i = 0; i < n_mats; i++) {
        int rows, cols;
        const float *fp32 = gq_quant_session_fp32(s, i, &rows, &cols);
        const float *w = m->layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT].w;
        const uint8_t *mask = gq_quant_session_mask(s, i);
        int64_t n = (int64_t)rows * cols, kept = 0, differ = 0, want = want_count(mc, k, global, rows, cols);
        for (int64_t j = 0; mask && j < n; j++)
            if (mask[j]) kept++, differ += memcmp(&w[j], &fp32[j], sizeof *w) != 0;
        if (bad_count < 0 && (!mask || kept != rep->protected_count[i] || (want >= 0 && kept != want))) bad_count = i;
        if (bad_value < 0 && (rotated ? !mask || !leading_columns(mask, rows, cols, kept / rows) : differ != 0))
            bad_value = i;
        double bits = is_rosaq(mc) ? rosaq_bits(q, mc, i, rows, cols, kept / rows)
                                   : gq_quant_effective_bits(q, rows, cols, kept);
        if (bad_bits < 0 && !(fabs(rep->effective_bits[i] - bits) <= BITS_RTOL * bits)) bad_bits = i;
        total += kept, all += n, want_total += want > 0 ? want : 0, bits_sum += rep->effective_bits[i] * (double)n;
    }
    if (global && strcmp(mc->name, "uniform")) want_total = k * n_mats < all ? k * n_mats : all;
    GQ_CHECK(t, bad_count < 0, "%s: layer %d %s: the mask keeps a count other than the report's %lld or the budget's",
             what, bad_count / GQ_LIN_COUNT, gq_lin_name(m->cfg.family, (gq_lin_kind)(bad_count % GQ_LIN_COUNT)),
             bad_count < 0 ? 0LL : (long long)rep->protected_count[bad_count]);
    GQ_CHECK(t, bad_value < 0, "%s: layer %d %s: a protected weight differs from FP32 (or the mask is not whole "
             "leading columns)", what, bad_value / GQ_LIN_COUNT,
             gq_lin_name(m->cfg.family, (gq_lin_kind)(bad_value % GQ_LIN_COUNT)));
    GQ_CHECK(t, bad_bits < 0, "%s: layer %d %s: effective bits %.9g are not those of the mask", what,
             bad_bits / GQ_LIN_COUNT, gq_lin_name(m->cfg.family, (gq_lin_kind)(bad_bits % GQ_LIN_COUNT)),
             bad_bits < 0 ? 0.0 : rep->effective_bits[bad_bits]);
    GQ_CHECK(t, total == rep->total_protected && total == want_total, "%s: %lld protected, report %lld, budget %lld",
             what, (long long)total, (long long)rep->total_protected, (long long)want_total);
    GQ_CHECK(t, fabs(rep->effective_bits_total - bits_sum / (double)all) <= BITS_RTOL * rep->effective_bits_total,
             "%s: total effective bits %.12g, the matrices' give %.12g", what, rep->effective_bits_total,
             bits_sum / (double)all);
}

static int model_is_fp32(const gq_quant_session *s, const gq_encoder *m) {
    for (int i = 0; i < gq_quant_session_n_mats(s); i++) {
        int rows, cols;
        const float *fp32 = gq_quant_session_fp32(s, i, &rows, &cols);
        if (memcmp(m->layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT].w, fp32, (size_t)rows * cols * sizeof(float)))
            return 0;
    }
    return 1;
}

/* What glueq refuses by design for a point, as words its message must contain; NULL when
 * the point runs. */
static const char *refusal(const method_case *mc, const algo_case *ac, int global, const char *saliency) {
    if (ac->algo == GQ_ALGO_RTN && ac->from_quantized) return "calibration from quantized needs algorithm";
    if (ac->algo == GQ_ALGO_RTN && ac->lambda > 0) return "needs algorithm gptq or awq-scale";
    if (is_rosaq(mc) && ac->from_quantized) return "calibration from quantized is not supported";
    if (is_rosaq(mc) && ac->lambda > 0 && strcmp(saliency, "none")) return "scores the original basis";
    if (is_rosaq(mc) && global) return "only per-matrix budgets";
    return NULL;
}

/* Counts of the cross-product, printed at the end. */
typedef struct {
    int applied, refused;
} tally;

static void run_point(gq_test_ctx *t, gq_quant_session *s, const gq_encoder *m, const gq_quant_scores *sc,
                      const method_case *mc, gq_quant_opts q, const algo_case *ac, const char *saliency, int global,
                      int64_t k, tally *n) {
    q.algorithm = ac->algo, q.calib_from_quantized = ac->from_quantized, q.sarqc_lambda = ac->lambda;
    snprintf(q.sarqc_saliency, sizeof q.sarqc_saliency, "%s", saliency);
    char qs[256], what[512];
    gq_quant_opts_str(&q, qs, sizeof qs);
    snprintf(what, sizeof what, "%s%s%s, %s, %s k=%lld", mc->name, mc->rotation ? " " : "",
             mc->rotation ? mc->rotation : "", qs, global ? "global" : "per matrix", (long long)k);
    gq_quant_budget b = {.k = k, .p = -1, .global = global};
    gq_quant_report rep;
    gq_err err = {{0}};
    const char *refused = refusal(mc, ac, global, saliency);
    if (refused) gq_quant_session_restore(s);
    gq_status st = gq_quant_apply(s, sc, &q, &b, &rep, &err);
    if (refused) {
        GQ_CHECK(t, st == GQ_ERR_ARG && strstr(err.msg, refused) && model_is_fp32(s, m),
                 "%s: want a refusal with '%s' and the FP32 model, got status %d: %s", what, refused, (int)st, err.msg);
        n->refused++;
        return;
    }
    GQ_CHECK(t, st == GQ_OK, "%s: %s", what, err.msg);
    if (st == GQ_OK) check_applied(t, what, s, m, &q, &rep, mc, k, global);
    n->applied++;
}

static void test_cross_product(gq_test_ctx *t, gq_quant_session *s, const gq_encoder *m, const char *scores_path) {
    tally n = {0, 0};
    int failures = t->failures;
    double t0 = gq_now();
    for (int mi = 0; mi < N_METHODS; mi++)
        for (size_t g = 0; g < sizeof GRANULARITIES / sizeof *GRANULARITIES; g++) {
            const method_case *mc = &METHODS[mi];
            gq_quant_opts q;
            gq_quant_opts_default(&q, BITS);
            gq_err err = {{0}};
            GQ_CHECK(t, gq_quant_opts_set(&q, "granularity", GRANULARITIES[g], &err) == GQ_OK, "%s", err.msg);
            gq_quant_scores *sc = method_scores(t, s, mc, &q, scores_path);
            for (int a = 0; sc && a < N_ALGOS; a++)
                for (int global = 0; global < 2; global++)
                    for (size_t ki = 0; ki < sizeof KS / sizeof *KS; ki++) {
                        /* SARQC's S: magnitude scores (the cheapest), or S = 1 for rosaq,
                         * which refuses scores of the original basis */
                        if (is_rosaq(mc) && ALGOS[a].lambda > 0)
                            run_point(t, s, m, sc, mc, q, &ALGOS[a], "magnitude", global, KS[ki], &n);
                        const char *saliency = ALGOS[a].lambda > 0 && !is_rosaq(mc) ? "magnitude" : "none";
                        run_point(t, s, m, sc, mc, q, &ALGOS[a], saliency, global, KS[ki], &n);
                    }
            gq_quant_scores_free(sc);
        }
    if (t->failures == failures)
        printf("ok   cross-product: %d points applied and checked, %d refused by design, in %.1f s\n", n.applied,
               n.refused, gq_now() - t0);
}

/* restore gives the FP32 weights back and leaves the last mask; gq_quant_session_check
 * finds a protected weight changed after the apply and a count that is not the mask's;
 * the check inside the apply finds a protected weight that a calibration forward changed,
 * fails naming the matrix and leaves the FP32 model and the previous mask. */
static void test_checks(gq_test_ctx *t, gq_quant_session *s, gq_encoder *m, calib_ctx *cc, const char *scores_path) {
    gq_quant_opts q;
    gq_quant_opts_default(&q, BITS);
    q.algorithm = GQ_ALGO_GPTQ, q.calib_from_quantized = 1;
    gq_quant_scores *sc = method_scores(t, s, &METHODS[3], &q, scores_path); /* svd */
    gq_quant_budget b = {.k = K_ODD, .p = -1};
    gq_quant_report rep, rep2;
    gq_err err = {{0}};
    GQ_CHECK(t, sc && gq_quant_apply(s, sc, &q, &b, &rep, &err) == GQ_OK, "apply: %s", err.msg);
    gq_quant_session_restore(s);
    int64_t kept = 0;
    const uint8_t *mask = gq_quant_session_mask(s, 0);
    for (int j = 0; mask && j < DIM * DIM; j++) kept += mask[j];
    GQ_CHECK(t, model_is_fp32(s, m) && kept == K_ODD, "after restore: FP32 %d, layer 0 q_lin mask keeps %lld (want %d)",
             model_is_fp32(s, m), (long long)kept, K_ODD);
    GQ_CHECK(t, gq_quant_apply(s, sc, &q, &b, &rep, &err) == GQ_OK, "apply: %s", err.msg);
    GQ_CHECK(t, gq_quant_session_check(s, &rep, &err) == GQ_OK, "check after apply: %s", err.msg);

    int lin1 = 1 * GQ_LIN_COUNT + GQ_LIN_FF1, at = -1;
    mask = gq_quant_session_mask(s, lin1);
    float *w = m->layers[1].lin[GQ_LIN_FF1].w;
    for (int j = 0; mask && j < FFN * DIM && at < 0; j++)
        if (mask[j]) at = j;
    if (at >= 0) {
        float keep = w[at];
        w[at] = nextafterf(keep, INFINITY); /* one ulp */
        gq_status st = gq_quant_session_check(s, &rep, &err);
        int found = st == GQ_ERR_INTERNAL && strstr(err.msg, "layer 1 ffn.lin1");
        GQ_CHECK(t, found, "a protected weight one ulp off: status %d: %s", (int)st, err.msg);
        if (found) printf("ok   one protected weight one ulp off: %s\n", err.msg);
        w[at] = keep;
    }
    rep2 = rep;
    rep2.protected_count[GQ_LIN_O]++;
    gq_status st = gq_quant_session_check(s, &rep2, &err);
    GQ_CHECK(t, st == GQ_ERR_INTERNAL && strstr(err.msg, "layer 0 attention.out_lin"), "a count off by one: status %d: %s",
             (int)st, err.msg);

    /* layer 1's calibration forward (the second) shifts layer 0's q_lin, already quantized */
    cc->fake.calls = 0, cc->corrupt_at = 2;
    st = gq_quant_apply(s, sc, &q, &b, &rep2, &err);
    cc->corrupt_at = 0;
    int found = st == GQ_ERR_INTERNAL && strstr(err.msg, "layer 0 attention.q_lin") && strstr(err.msg, "FP32");
    GQ_CHECK(t, found, "a protected weight changed during the apply: status %d: %s", (int)st, err.msg);
    if (found) printf("ok   a protected weight changed during the apply: %s\n", err.msg);
    GQ_CHECK(t, model_is_fp32(s, m), "a failed apply must leave the FP32 model");
    GQ_CHECK(t, gq_quant_session_check(s, &rep, &err) == GQ_OK, "a failed apply must keep the last mask: %s", err.msg);
    gq_quant_scores_free(sc);
}

/* ---- the CLI: glueq eval --json, glueq quantize and a one-point sweep agree ---- */

typedef struct {
    const char *method, *rotation, *algorithm, *granularity, *saliency;
    int from_quantized;
    double lambda;
    int64_t k;
    int global;
} cli_point;

static const cli_point CLI_POINTS[] = {
    {"svd", NULL, "gptq", "tensor", "none", 1, 0, CLI_K, 0},
    {"external", NULL, "awq-scale", "row", "svd", 1, 1, CLI_K, 1},
    {"rosaq", "pca", "gptq", CLI_GROUP, "none", 0, 1, CLI_K, 0},
};

static void cli_flags(const cli_point *p, const char *scores_path, char *buf, size_t n) {
    int u = snprintf(buf, n, "--threads 1 --limit %d --method %s --bits %d --k %lld%s --granularity %s --algorithm %s "
                             "--calib-n %d",
                     LIMIT, p->method, BITS, (long long)p->k, p->global ? " --global" : "", p->granularity,
                     p->algorithm, CALIB_N);
    if (p->from_quantized) u += snprintf(buf + u, n - (size_t)u, " --calib-from quantized");
    if (p->lambda > 0) u += snprintf(buf + u, n - (size_t)u, " --sarqc-lambda %g --sarqc-saliency %s", p->lambda, p->saliency);
    if (p->rotation) u += snprintf(buf + u, n - (size_t)u, " --method-opt rotation=%s", p->rotation);
    if (!strcmp(p->method, "external")) snprintf(buf + u, n - (size_t)u, " --scores %s", scores_path);
}

static void sweep_config(const gq_test_ctx *t, const cli_point *p, const char *scores_path, const char *out,
                         char *buf, size_t n) {
    char opts[700] = "", sarqc[128] = "";
    if (p->rotation) snprintf(opts, sizeof opts, ", \"method_options\": {\"rosaq\": {\"rotation\": \"%s\"}}", p->rotation);
    if (!strcmp(p->method, "external"))
        snprintf(opts, sizeof opts, ", \"method_options\": {\"external\": {\"scores\": \"%s\"}}", scores_path);
    if (p->lambda > 0) snprintf(sarqc, sizeof sarqc, ", \"sarqc\": {\"lambda\": %g, \"saliency\": \"%s\"}", p->lambda, p->saliency);
    snprintf(buf, n,
             "{\"name\": \"cross\", \"data\": \"%s/assets/glue\", \"vocab\": \"%s/assets/vocab/vocab.txt\", "
             "\"models\": {\"rte\": \"%s/fixtures/tiny-b\"}, \"tasks\": [\"rte\"], \"methods\": [\"%s\"], "
             "\"bits\": [%d], \"budgets\": {\"k\": [%lld], \"global\": %s}, "
             "\"quantizer\": {\"granularity\": \"%s\", \"algorithm\": \"%s\"}%s%s, "
             "\"calibration\": {\"n\": %d, \"from\": \"%s\"}, \"limit\": %d, \"threads\": 1, \"output\": \"%s\", "
             "\"cache_dir\": \"%s/cache\"}",
             t->shared, t->shared, t->shared, p->method, BITS, (long long)p->k, p->global ? "true" : "false",
             p->granularity, p->algorithm, sarqc, opts, CALIB_N, p->from_quantized ? "quantized" : "fp32", LIMIT, out,
             tmpdir);
}

/* Runs glueq with args; on failure, a check saying which command of `what` failed and why. */
static int glueq_ok(gq_test_ctx *t, const char *what, const char *args, char **out) {
    char *err = NULL;
    int rc = gq_test_glueq(t, args, out, &err);
    GQ_CHECK(t, rc == 0, "%s: glueq %s: rc %d: %s", what, args, rc, err ? err : "");
    free(err);
    return rc == 0;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* What each route reported for a point. */
typedef struct {
    double protected_count, bits, correct;
} figures;

/* The exported directory: quantization.json's totals, the masks' counts against its
 * matrices and against the budget, and (unless the masks are over W·P) every protected
 * weight of model.safetensors at the source's FP32 value. */
static figures check_export(gq_test_ctx *t, const char *what, const cli_point *p, const char *dir, int64_t want) {
    figures f = {NAN, NAN, NAN};
    char *srcp = gq_test_path(t, "fixtures/tiny-b/model.safetensors"), *gotp = gq_path_join(dir, "model.safetensors"),
         *maskp = gq_path_join(dir, "protected.safetensors");
    gq_ckpt *src = NULL, *got = NULL, *masks = NULL;
    gq_ckpt_load(srcp, &src, NULL), gq_ckpt_load(gotp, &got, NULL), gq_ckpt_load(maskp, &masks, NULL);
    cJSON *q = gq_test_read_json(dir, "quantization.json"), *mats = cJSON_GetObjectItem(q, "matrices");
    GQ_CHECK(t, src && got && masks && q, "%s: cannot read the export in %s", what, dir);
    int64_t total = 0, differ = 0, disagree = 0;
    for (int i = 0; src && got && masks && q && i < masks->n; i++) {
        const gq_tensor *mk = &masks->tensors[i], *a = gq_ckpt_find(src, mk->name), *b = gq_ckpt_find(got, mk->name);
        int64_t kept = 0;
        for (int64_t j = 0; a && b && j < mk->numel; j++)
            if (mk->data[j] != 0) kept++, differ += !p->rotation || strcmp(p->rotation, "pca") ? memcmp(&a->data[j], &b->data[j], 4) != 0 : 0;
        const cJSON *m = NULL;
        cJSON_ArrayForEach(m, mats) if (!strcmp(str(m, "name"), mk->name)) break;
        disagree += !m || num(m, "protected") != (double)kept;
        total += kept;
    }
    const cJSON *tot = cJSON_GetObjectItem(q, "total");
    f.protected_count = num(tot, "protected"), f.bits = num(tot, "effective_bits");
    GQ_CHECK(t, total == want && f.protected_count == (double)want && disagree == 0 && differ == 0,
             "%s: export: masks keep %lld (quantization.json %g, budget %lld), %lld matrices disagree, %lld protected "
             "weights differ from FP32", what, (long long)total, f.protected_count, (long long)want, (long long)disagree,
             (long long)differ);
    cJSON_Delete(q);
    gq_ckpt_free(src), gq_ckpt_free(got), gq_ckpt_free(masks);
    free(srcp), free(gotp), free(maskp);
    return f;
}

/* The exported model evaluated here, on the rows the CLI runs use. */
static gq_status eval_export(gq_test_ctx *t, const char *dir, gq_eval_result *res, gq_err *err) {
    const gq_glue_task *task = gq_glue_task_find("rte");
    char *glue = gq_test_path(t, "assets/glue"), *vocab = gq_test_path(t, "assets/vocab/vocab.txt");
    gq_eval_task ev = {0};
    gq_eval_task_opts o = {.model_dir = dir, .vocab = vocab, .data_root = glue, .split = "dev", .max_len = 128,
                           .limit = LIMIT, .runner = {.threads = 1}};
    gq_status s = gq_eval_task_load(task, &o, &ev, err);
    if (s == GQ_OK) s = gq_eval_task_run(&ev, NULL, NULL, res, err);
    gq_eval_task_free(&ev);
    free(glue), free(vocab);
    return s;
}

/* The sweep's row of the point and its line of predictions.jsonl against the exported
 * model's predictions and logits. */
static figures check_sweep(gq_test_ctx *t, const char *what, const cli_point *p, const char *dir,
                           const gq_eval_result *res) {
    figures f = {NAN, NAN, NAN};
    cJSON *rj = gq_test_read_json(dir, "results.json"), *row = NULL, *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(rj, "rows")) if (!strcmp(str(r, "method"), p->method)) row = r;
    GQ_CHECK(t, row != NULL, "%s: sweep: no row for %s in %s/results.json", what, p->method, dir);
    if (row) f = (figures){num(row, "protected"), num(row, "effective_bits"), num(row, "correct")};
    const char *id = str(row, "point_id");
    char *pp = gq_path_join(dir, "predictions.jsonl"), *text = NULL;
    gq_read_file(pp, 0, &text, NULL, NULL);
    int same = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        if (o && !strcmp(str(o, "point_id"), id)) {
            const cJSON *preds = cJSON_GetObjectItem(o, "preds"), *logits = cJSON_GetObjectItem(o, "logits");
            same = cJSON_GetArraySize(preds) == res->n && cJSON_GetArraySize(logits) == res->n * res->n_labels;
            for (int i = 0; same && i < res->n; i++) same = cJSON_GetArrayItem(preds, i)->valueint == res->pred[i];
            for (int i = 0; same && i < res->n * res->n_labels; i++)
                same = (float)cJSON_GetArrayItem(logits, i)->valuedouble == res->logits[i];
        }
        cJSON_Delete(o);
    }
    GQ_CHECK(t, same, "%s: the sweep's predictions and logits differ from the exported model's", what);
    cJSON_Delete(rj);
    free(pp), free(text);
    return f;
}

static void test_cli_point(gq_test_ctx *t, const cli_point *p, int idx, const char *scores_path, int64_t want) {
    int failures = t->failures;
    char flags[1024], args[4096], what[64], out[300], sweep_out[300], cfg_path[300], cfg[4096], *stdout_text = NULL;
    snprintf(what, sizeof what, "CLI point %d (%s %s)", idx, p->method, p->algorithm);
    cli_flags(p, scores_path, flags, sizeof flags);
    snprintf(out, sizeof out, "%s/export-%d", tmpdir, idx);
    snprintf(sweep_out, sizeof sweep_out, "%s/sweep-%d", tmpdir, idx);
    snprintf(cfg_path, sizeof cfg_path, "%s/sweep-%d.json", tmpdir, idx);
    char model[300];
    snprintf(model, sizeof model, "%s/fixtures/tiny-b", t->shared);

    snprintf(args, sizeof args, "eval --quiet --json --model %s --task rte %s", model, flags);
    cJSON *ej = glueq_ok(t, what, args, &stdout_text) && stdout_text ? cJSON_Parse(stdout_text) : NULL;
    GQ_CHECK(t, ej != NULL, "%s: glueq eval --json printed no JSON", what);
    figures fe = {num(ej, "protected"), num(ej, "effective_bits"), num(ej, "correct")};
    cJSON_Delete(ej), free(stdout_text), stdout_text = NULL;

    snprintf(args, sizeof args, "quantize --quiet --model %s --task rte --out %s %s", model, out, flags);
    glueq_ok(t, what, args, NULL);
    figures fq = check_export(t, what, p, out, want);
    gq_eval_result res = {0};
    gq_err err = {{0}};
    GQ_CHECK(t, eval_export(t, out, &res, &err) == GQ_OK, "%s: evaluating %s: %s", what, out, err.msg);
    fq.correct = res.metrics[0].correct;

    sweep_config(t, p, scores_path, sweep_out, cfg, sizeof cfg);
    gq_write_file_atomic(cfg_path, cfg, strlen(cfg), NULL);
    snprintf(args, sizeof args, "sweep %s --quiet", cfg_path);
    glueq_ok(t, what, args, NULL);
    figures fs = {NAN, NAN, NAN};
    if (res.pred) fs = check_sweep(t, what, p, sweep_out, &res);

    GQ_CHECK(t, fe.protected_count == (double)want && fq.protected_count == fe.protected_count &&
                    fs.protected_count == fe.protected_count,
             "%s: protected: eval %g, quantize %g, sweep %g, budget %lld", what, fe.protected_count, fq.protected_count,
             fs.protected_count, (long long)want);
    GQ_CHECK(t, fabs(fq.bits - fe.bits) <= BITS_RTOL * fe.bits && fabs(fs.bits - fe.bits) <= BITS_RTOL * fe.bits,
             "%s: effective bits: eval %.15g, quantize %.15g, sweep %.15g", what, fe.bits, fq.bits, fs.bits);
    GQ_CHECK(t, fe.correct == fq.correct && fe.correct == fs.correct, "%s: correct: eval %g, exported %g, sweep %g",
             what, fe.correct, fq.correct, fs.correct);
    if (t->failures == failures)
        printf("ok   %s: eval, quantize and sweep: %g protected, %.4f bits, %g/%d correct\n", what,
               fe.protected_count, fe.bits, fe.correct, LIMIT);
    gq_eval_result_free(&res);
}

/* The budget's reference total for the point on model m's matrices. */
static int64_t cli_want(const cli_point *p, const gq_encoder *m) {
    method_case mc = {p->method, p->rotation};
    int n_mats = m->cfg.n_layers * GQ_LIN_COUNT;
    int64_t total = 0;
    for (int i = 0; i < n_mats; i++) {
        const gq_linear *l = &m->layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT];
        int64_t c = want_count(&mc, p->k, p->global, l->out, l->in);
        total += c >= 0 ? c : 0;
    }
    return p->global && !is_rosaq(&mc) ? p->k * n_mats : total;
}

void openblas_set_num_threads(int num_threads);

/* The in-memory cross-product and checks on the Linear-only model. */
static void test_session(gq_test_ctx *t) {
    char scores_path[300];
    snprintf(scores_path, sizeof scores_path, "%s/scores-fake.safetensors", tmpdir);
    gq_test_fake_model *f = gq_test_fake_new(2, DIM, FFN, 5);
    gq_quant_session *s = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_quant_session_new(&f->m, NULL, &s, &err) == GQ_OK, "%s", err.msg);
    calib_ctx cc = {{0, f}, 0};
    /* matrices of at most 12×8: BLAS threads would only wait for each other */
    openblas_set_num_threads(1);
    if (s) {
        gq_quant_session_set_calibration(s, "fake-calib", calibrate, &cc);
        write_external_scores(t, &f->m, scores_path);
        test_cross_product(t, s, &f->m, scores_path);
        test_checks(t, s, &f->m, &cc, scores_path);
    }
    gq_quant_session_free(s);
    gq_test_fake_free(f);
}

static void test_cli(gq_test_ctx *t) {
    char *dir = gq_test_path(t, "fixtures/tiny-b"), scores_path[300];
    snprintf(scores_path, sizeof scores_path, "%s/scores-tiny-b.safetensors", tmpdir);
    gq_encoder *m = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_encoder_load(dir, &m, &err) == GQ_OK, "load %s: %s", dir, err.msg);
    if (m) {
        write_external_scores(t, m, scores_path);
        for (size_t i = 0; i < sizeof CLI_POINTS / sizeof *CLI_POINTS; i++)
            test_cli_point(t, &CLI_POINTS[i], (int)i, scores_path, cli_want(&CLI_POINTS[i], m));
    }
    gq_encoder_free(m);
    free(dir);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_WARN);
    gq_test_tmpdir(&t, "gq_test_quant_cross", tmpdir, sizeof tmpdir);
    test_session(&t);
    test_cli(&t);
    return gq_test_done(&t);
}
