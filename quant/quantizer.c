/* quantizer: simulated linear quantization (quantize, then dequantize to FP32).
 *
 * Everything between reading W and writing Ŵ is double precision: the statistics, the
 * scale, W/s and q·s, rounded to FP32 once at the end. This reproduces the PyTorch FP64
 * reference (fixtures quant_refs) bit for bit; computing s or W/s in FP32 does not.
 */
#include "quant_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gq_quant_opts_default(gq_quant_opts *o, int bits) {
    memset(o, 0, sizeof *o);
    o->bits = bits;
    o->scheme = GQ_QUANT_SYMMETRIC;
    o->granularity = GQ_QUANT_TENSOR;
    o->group = 0;
    o->clip = GQ_QUANT_CLIP_STD;
    o->alpha = 2.5;
    o->stats_exclude_protected = 0;
    o->algorithm = GQ_ALGO_RTN;
    o->damp = 0.01;
    snprintf(o->sarqc_saliency, sizeof o->sarqc_saliency, "none");
}

const char *gq_quant_algorithm_name(gq_quant_algorithm a) {
    switch (a) {
    case GQ_ALGO_RTN: return "rtn";
    case GQ_ALGO_GPTQ: return "gptq";
    case GQ_ALGO_AWQ_SCALE: return "awq-scale";
    }
    return "?";
}

/* The methods whose scores SARQC can weight E² with ("none": S = 1). */
static int sarqc_saliency_known(const char *v) {
    static const char *const known[] = {"none", "svd", "awq", "spqr", "magnitude", NULL};
    for (int i = 0; known[i]; i++)
        if (!strcmp(v, known[i])) return 1;
    return 0;
}

static int parse_bool(const char *v, int *b) {
    if (!strcmp(v, "true") || !strcmp(v, "1")) *b = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0")) *b = 0;
    else return 0;
    return 1;
}

/* Parses a whole decimal integer / finite double; 0 on junk or trailing characters. */
static int parse_long(const char *s, long *v) {
    char *end;
    if (!s || !*s) return 0;
    long x = strtol(s, &end, 10);
    if (*end) return 0;
    *v = x;
    return 1;
}

static int parse_double(const char *s, double *v) {
    char *end;
    if (!s || !*s) return 0;
    double x = strtod(s, &end);
    if (*end || !isfinite(x)) return 0;
    *v = x;
    return 1;
}

gq_status gq_quant_opts_set(gq_quant_opts *o, const char *key, const char *value, gq_err *err) {
    long l;
    double d;
    if (!key || !value) return gq_fail(err, GQ_ERR_ARG, "quantizer: option key and value are required");
    if (!strcmp(key, "bits")) {
        if (!parse_long(value, &l) || l < 2 || l > 8)
            return gq_fail(err, GQ_ERR_ARG, "quantizer: bits '%s': expected an integer from 2 to 8", value);
        o->bits = (int)l;
    } else if (!strcmp(key, "scheme")) {
        if (!strcmp(value, "symmetric")) o->scheme = GQ_QUANT_SYMMETRIC;
        else if (!strcmp(value, "asymmetric")) o->scheme = GQ_QUANT_ASYMMETRIC;
        else return gq_fail(err, GQ_ERR_ARG, "quantizer: scheme '%s': expected symmetric or asymmetric", value);
    } else if (!strcmp(key, "granularity")) {
        if (!strcmp(value, "tensor")) o->granularity = GQ_QUANT_TENSOR, o->group = 0;
        else if (!strcmp(value, "row")) o->granularity = GQ_QUANT_ROW, o->group = 0;
        else if (!strncmp(value, "group:", 6) && parse_long(value + 6, &l) && l > 0 && l <= (1L << 30))
            o->granularity = GQ_QUANT_GROUP, o->group = (int)l;
        else
            return gq_fail(err, GQ_ERR_ARG,
                           "quantizer: granularity '%s': expected tensor, row or group:G with G a positive integer",
                           value);
    } else if (!strcmp(key, "clip")) {
        if (!strcmp(value, "absmax")) o->clip = GQ_QUANT_CLIP_ABSMAX;
        else if (!strncmp(value, "std:", 4) && parse_double(value + 4, &d) && d > 0)
            o->clip = GQ_QUANT_CLIP_STD, o->alpha = d;
        else
            return gq_fail(err, GQ_ERR_ARG, "quantizer: clip '%s': expected absmax or std:ALPHA with ALPHA > 0",
                           value);
    } else if (!strcmp(key, "stats_exclude_protected")) {
        if (!parse_bool(value, &o->stats_exclude_protected))
            return gq_fail(err, GQ_ERR_ARG, "quantizer: stats_exclude_protected '%s': expected true or false",
                           value);
    } else if (!strcmp(key, "algorithm")) {
        if (!strcmp(value, "rtn")) o->algorithm = GQ_ALGO_RTN;
        else if (!strcmp(value, "gptq")) o->algorithm = GQ_ALGO_GPTQ;
        else if (!strcmp(value, "awq-scale")) o->algorithm = GQ_ALGO_AWQ_SCALE;
        else return gq_fail(err, GQ_ERR_ARG, "quantizer: algorithm '%s': expected rtn, gptq or awq-scale", value);
    } else if (!strcmp(key, "act_order")) {
        if (!parse_bool(value, &o->act_order))
            return gq_fail(err, GQ_ERR_ARG, "quantizer: act_order '%s': expected true or false", value);
    } else if (!strcmp(key, "damp")) {
        if (!parse_double(value, &d) || d < 0)
            return gq_fail(err, GQ_ERR_ARG, "quantizer: damp '%s': expected a number >= 0", value);
        o->damp = d;
    } else if (!strcmp(key, "sarqc_lambda")) {
        if (!parse_double(value, &d) || d < 0)
            return gq_fail(err, GQ_ERR_ARG, "quantizer: sarqc lambda '%s': expected a number >= 0", value);
        o->sarqc_lambda = d;
    } else if (!strcmp(key, "sarqc_saliency")) {
        if (!sarqc_saliency_known(value))
            return gq_fail(err, GQ_ERR_ARG,
                           "quantizer: sarqc saliency '%s': expected none, svd, awq, spqr or magnitude", value);
        snprintf(o->sarqc_saliency, sizeof o->sarqc_saliency, "%s", value);
    } else if (!strcmp(key, "calib_from")) {
        if (!strcmp(value, "fp32")) o->calib_from_quantized = 0;
        else if (!strcmp(value, "quantized")) o->calib_from_quantized = 1;
        else return gq_fail(err, GQ_ERR_ARG, "quantizer: calibration from '%s': expected fp32 or quantized", value);
    } else {
        return gq_fail(err, GQ_ERR_ARG,
                       "quantizer: unknown option '%s' (known: bits, scheme, granularity, clip, "
                       "stats_exclude_protected, algorithm, act_order, damp, sarqc_lambda, sarqc_saliency, "
                       "calib_from)",
                       key);
    }
    return GQ_OK;
}

gq_status gq_quant_opts_check(const gq_quant_opts *o, gq_err *err) {
    if (o->bits < 2 || o->bits > 8) return gq_fail(err, GQ_ERR_ARG, "quantizer: bits %d: must be 2..8", o->bits);
    if (o->scheme != GQ_QUANT_SYMMETRIC && o->scheme != GQ_QUANT_ASYMMETRIC)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: unknown scheme %d", (int)o->scheme);
    if (o->granularity == GQ_QUANT_GROUP && o->group <= 0)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: group size %d: must be positive", o->group);
    if (o->granularity != GQ_QUANT_TENSOR && o->granularity != GQ_QUANT_ROW && o->granularity != GQ_QUANT_GROUP)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: unknown granularity %d", (int)o->granularity);
    if (o->clip == GQ_QUANT_CLIP_STD && !(o->alpha > 0 && isfinite(o->alpha)))
        return gq_fail(err, GQ_ERR_ARG, "quantizer: clip std:%g: alpha must be positive", o->alpha);
    if (o->clip != GQ_QUANT_CLIP_STD && o->clip != GQ_QUANT_CLIP_ABSMAX)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: unknown clip %d", (int)o->clip);
    if (o->algorithm != GQ_ALGO_RTN && o->algorithm != GQ_ALGO_GPTQ && o->algorithm != GQ_ALGO_AWQ_SCALE)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: unknown algorithm %d", (int)o->algorithm);
    if (!(o->damp >= 0 && isfinite(o->damp)))
        return gq_fail(err, GQ_ERR_ARG, "quantizer: damp %g: must be a number >= 0", o->damp);
    if (!(o->sarqc_lambda >= 0 && isfinite(o->sarqc_lambda)))
        return gq_fail(err, GQ_ERR_ARG, "quantizer: sarqc lambda %g: must be a number >= 0", o->sarqc_lambda);
    if (!sarqc_saliency_known(o->sarqc_saliency))
        return gq_fail(err, GQ_ERR_ARG, "quantizer: sarqc saliency '%s': expected none, svd, awq, spqr or magnitude",
                       o->sarqc_saliency);
    if (o->act_order && o->algorithm != GQ_ALGO_GPTQ)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: act_order needs algorithm gptq (not %s)",
                       gq_quant_algorithm_name(o->algorithm));
    if (o->sarqc_lambda > 0 && o->algorithm == GQ_ALGO_RTN)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: sarqc lambda %g needs algorithm gptq or awq-scale (not rtn)",
                       o->sarqc_lambda);
    if (o->calib_from_quantized && o->algorithm == GQ_ALGO_RTN)
        return gq_fail(err, GQ_ERR_ARG, "quantizer: calibration from quantized needs algorithm gptq or awq-scale "
                                        "(rtn uses no calibration)");
    return GQ_OK;
}

void gq_quant_opts_text_of(const gq_quant_opts *o, gq_quant_opts_text *t) {
    snprintf(t->scheme, sizeof t->scheme, "%s", o->scheme == GQ_QUANT_ASYMMETRIC ? "asymmetric" : "symmetric");
    if (o->granularity == GQ_QUANT_GROUP) snprintf(t->granularity, sizeof t->granularity, "group:%d", o->group);
    else snprintf(t->granularity, sizeof t->granularity, "%s", o->granularity == GQ_QUANT_ROW ? "row" : "tensor");
    if (o->clip == GQ_QUANT_CLIP_STD) snprintf(t->clip, sizeof t->clip, "std:%.17g", o->alpha);
    else snprintf(t->clip, sizeof t->clip, "absmax");
    char *algo = t->algorithm;
    size_t cap = sizeof t->algorithm, u = 0;
    algo[0] = 0;
    if (o->algorithm == GQ_ALGO_RTN) return;
    u = (size_t)snprintf(algo, cap, " %s damp:%.17g", gq_quant_algorithm_name(o->algorithm), o->damp);
    if (o->act_order && u < cap) u += (size_t)snprintf(algo + u, cap - u, " act_order");
    if (o->sarqc_lambda > 0 && u < cap)
        u += (size_t)snprintf(algo + u, cap - u, " sarqc:%.17g:%s", o->sarqc_lambda, o->sarqc_saliency);
    if (o->calib_from_quantized && u < cap) snprintf(algo + u, cap - u, " from:quantized");
}

void gq_quant_opts_str_unsized(const gq_quant_opts *o, char *buf, size_t n) {
    gq_quant_opts_text t;
    gq_quant_opts_text_of(o, &t);
    snprintf(buf, n, "%s %s %s%s%s", t.scheme, t.granularity, t.clip, o->stats_exclude_protected ? " exclude" : "",
             t.algorithm);
}

void gq_quant_opts_str(const gq_quant_opts *o, char *buf, size_t n) {
    char rest[256];
    gq_quant_opts_str_unsized(o, rest, sizeof rest);
    snprintf(buf, n, "int%d %s", o->bits, rest);
}

int64_t gq_quant_n_scales(const gq_quant_opts *o, int rows, int cols) {
    switch (o->granularity) {
    case GQ_QUANT_TENSOR: return 1;
    case GQ_QUANT_ROW: return rows;
    case GQ_QUANT_GROUP: return (int64_t)rows * ((cols + o->group - 1) / o->group);
    }
    return 1;
}

double gq_quant_effective_bits(const gq_quant_opts *o, int rows, int cols, int64_t k) {
    int64_t n = (int64_t)rows * cols;
    if (n <= 0) return 0;
    int index_bits = 0;
    while (index_bits < 63 && ((int64_t)1 << index_bits) < n) index_bits++; /* ceil(log2 n) */
    double per_scale = 32.0 + (o->scheme == GQ_QUANT_ASYMMETRIC ? o->bits : 0);
    double total = (double)o->bits * (double)(n - k) + 32.0 * (double)k + (double)index_bits * (double)k +
                   per_scale * (double)gq_quant_n_scales(o, rows, cols);
    return total / (double)n;
}

/* One block of entries sharing a scale: `nr` rows of `len` entries starting at w, rows
 * `stride` apart (a tensor is one block of rows*cols; a row or group is nr = 1). */
typedef struct {
    const float *w;
    const uint8_t *protect;
    float *out;
    int nr, len, stride;
} block;

static int counts(const block *b, int r, int j, int exclude) {
    return !(exclude && b->protect && b->protect[(size_t)r * b->stride + j]);
}

static gq_qparams block_params(const gq_quant_opts *o, const block *b) {
    int ex = o->stats_exclude_protected;
    double n = 0, sum = 0, mn = INFINITY, mx = -INFINITY, amax = 0;
    for (int r = 0; r < b->nr; r++)
        for (int j = 0; j < b->len; j++) {
            if (!counts(b, r, j, ex)) continue;
            double x = b->w[(size_t)r * b->stride + j];
            n++, sum += x;
            if (x < mn) mn = x;
            if (x > mx) mx = x;
            if (fabs(x) > amax) amax = fabs(x);
        }
    gq_qparams p = {0, 0, 0, 0, 0};
    if (n == 0) return p; /* every entry is protected: nothing is quantized */
    double mean = sum / n, ss = 0;
    if (o->clip == GQ_QUANT_CLIP_STD) { /* second pass: population std, no cancellation */
        for (int r = 0; r < b->nr; r++)
            for (int j = 0; j < b->len; j++) {
                if (!counts(b, r, j, ex)) continue;
                double d = b->w[(size_t)r * b->stride + j] - mean;
                ss += d * d;
            }
    }
    double sd = sqrt(ss / n);
    if (o->scheme == GQ_QUANT_SYMMETRIC) {
        double c = o->clip == GQ_QUANT_CLIP_STD ? o->alpha * sd : amax;
        double half = (double)(1 << (o->bits - 1));
        p.s = c / (half - 1);
        p.qmin = -half, p.qmax = half - 1;
    } else {
        /* [assumption] std:α clips the asymmetric range to mean ± α·std (within min..max). */
        double lo = mn, hi = mx;
        if (o->clip == GQ_QUANT_CLIP_STD) {
            if (mean - o->alpha * sd > lo) lo = mean - o->alpha * sd;
            if (mean + o->alpha * sd < hi) hi = mean + o->alpha * sd;
        }
        double levels = (double)((1 << o->bits) - 1);
        p.s = (hi - lo) / levels;
        p.qmin = 0, p.qmax = levels;
        p.zero_value = lo;
        if (p.s > 0) {
            p.z = -rint(lo / p.s);
            if (p.z < 0) p.z = 0;
            if (p.z > levels) p.z = levels;
        }
    }
    return p;
}

static void block_apply(const gq_qparams *p, const block *b) {
    for (int r = 0; r < b->nr; r++)
        for (int j = 0; j < b->len; j++) {
            size_t i = (size_t)r * b->stride + j;
            b->out[i] = b->protect && b->protect[i] ? b->w[i] : gq_qparams_value(p, b->w[i]);
        }
}

/* Calls fn for every scale block of the matrix, in gq_quant_param_index order. */
static void for_each_block(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                           float *out, void (*fn)(const gq_quant_opts *, const block *, void *), void *ctx) {
    if (o->granularity == GQ_QUANT_TENSOR) {
        block b = {w, protect, out, rows, cols, cols};
        fn(o, &b, ctx);
        return;
    }
    int g = o->granularity == GQ_QUANT_ROW ? cols : o->group;
    for (int r = 0; r < rows; r++)
        for (int j0 = 0; j0 < cols; j0 += g) {
            size_t off = (size_t)r * cols + j0;
            block b = {w + off, protect ? protect + off : NULL, out ? out + off : NULL, 1,
                       j0 + g <= cols ? g : cols - j0, cols};
            fn(o, &b, ctx);
        }
}

static void quantize_block(const gq_quant_opts *o, const block *b, void *ctx) {
    gq_qparams p = block_params(o, b);
    block_apply(&p, b);
}

static void params_block(const gq_quant_opts *o, const block *b, void *ctx) {
    gq_qparams **next = ctx;
    *(*next)++ = block_params(o, b);
}

void gq_quant_params(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                     gq_qparams *p) {
    gq_qparams *next = p;
    for_each_block(o, w, rows, cols, protect, NULL, params_block, &next);
}

gq_status gq_quant_matrix(const gq_quant_opts *o, const float *w, int rows, int cols, const uint8_t *protect,
                          float *out, gq_err *err) {
    gq_status st = gq_quant_opts_check(o, err);
    if (st != GQ_OK) return st;
    if (rows <= 0 || cols <= 0) return gq_fail(err, GQ_ERR_SHAPE, "quantizer: matrix shape %dx%d", rows, cols);
    for_each_block(o, w, rows, cols, protect, out, quantize_block, NULL);
    return GQ_OK;
}
