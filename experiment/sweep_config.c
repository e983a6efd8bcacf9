/* sweep_config: validation and grid expansion of sweep configs; see sweep_config.h. */
#define _POSIX_C_SOURCE 200809L
#include "sweep_config.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"

/* Validation state: every message names the file, then the key path. */
typedef struct {
    const char *file;
    gq_err *err;
    uint64_t *compares; /* of the checks for repeats; may be NULL */
} vctx;

static gq_status vfail(vctx *v, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static gq_status vfail(vctx *v, const char *key, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gq_fail(v->err, GQ_ERR_ARG, "%s: %s: %s", v->file, key, msg);
}

static gq_status vnomem(vctx *v) { return gq_fail(v->err, GQ_ERR_NOMEM, "%s: out of memory", v->file); }

/* ---- ${VAR} expansion ---- */

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *g = realloc(b->s, cap);
        if (!g) return 0;
        b->s = g, b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 1;
}

/* Expands s[0..len) into b; nested ${...} in defaults recurse. */
static gq_status expand(const char *s, size_t len, const char *where, sbuf *b, int depth, gq_err *err) {
    if (depth > 8) return gq_fail(err, GQ_ERR_ARG, "%s: ${...} nested too deeply", where);
    size_t i = 0;
    while (i < len) {
        if (s[i] != '$' || i + 1 >= len || s[i + 1] != '{') {
            if (!sb_put(b, s + i, 1)) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", where);
            i++;
            continue;
        }
        size_t name0 = i + 2, j = name0;
        while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_')) j++;
        if (j == name0 || isdigit((unsigned char)s[name0]))
            return gq_fail(err, GQ_ERR_ARG, "%s: bad variable name after '${' in \"%s\"", where, s);
        int has_default = j + 1 < len && s[j] == ':' && s[j + 1] == '-';
        size_t def0 = has_default ? j + 2 : j, end = def0;
        int open = 1;
        /* the matching '}', counting nested ${ so that defaults may use variables */
        for (; end < len; end++) {
            if (s[end] == '$' && end + 1 < len && s[end + 1] == '{') open++, end++;
            else if (s[end] == '}' && --open == 0) break;
        }
        if (end >= len || (!has_default && end != j))
            return gq_fail(err, GQ_ERR_ARG, "%s: unterminated or malformed ${...} in \"%s\"", where, s);
        char name[128];
        if (j - name0 >= sizeof name) return gq_fail(err, GQ_ERR_ARG, "%s: variable name too long", where);
        memcpy(name, s + name0, j - name0);
        name[j - name0] = '\0';
        const char *val = getenv(name);
        if (val && *val) {
            if (!sb_put(b, val, strlen(val))) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", where);
        } else if (has_default) {
            gq_status st = expand(s + def0, end - def0, where, b, depth + 1, err);
            if (st != GQ_OK) return st;
        } else {
            return gq_fail(err, GQ_ERR_ARG, "%s: environment variable %s is not set", where, name);
        }
        i = end + 1;
    }
    return GQ_OK;
}

gq_status gq_sweep_expand_env(const char *s, const char *where, char **out, gq_err *err) {
    sbuf b = {0};
    *out = NULL;
    if (!sb_put(&b, "", 0)) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", where);
    gq_status st = expand(s, strlen(s), where, &b, 0, err);
    if (st != GQ_OK) {
        free(b.s);
        return st;
    }
    *out = b.s;
    return GQ_OK;
}

/* ---- JSON helpers ---- */

/* The items of a JSON array or the members of an object, in order, as a new array (NULL
 * when out of memory; *n gets their count): cJSON reaches item i in i steps. */
static const cJSON **children(const cJSON *it, int *n) {
    *n = 0;
    for (const cJSON *c = it->child; c; c = c->next) ++*n;
    const cJSON **kids = gq_malloc_array(*n ? (size_t)*n : 1, sizeof *kids);
    int i = 0;
    for (const cJSON *c = it->child; kids && c; c = c->next) kids[i++] = c;
    return kids;
}

static const void *member_name(const void *kids, int i, size_t *len) {
    const char *name = ((const cJSON *const *)kids)[i]->string;
    *len = strlen(name);
    return name;
}

/* Keys of `size` bytes, one every `stride` bytes from base (an array's elements, or a field
 * of each of an array of structs), for gq_first_repeat. */
typedef struct {
    const char *base;
    size_t stride, size;
} strided;

static const void *strided_key(const void *ctx, int i, size_t *len) {
    const strided *s = ctx;
    *len = s->size;
    return s->base + (size_t)i * s->stride;
}

/* The first of n such keys that repeats an earlier one (gq_first_repeat), counted. */
static int first_repeat(vctx *v, const void *base, size_t stride, size_t size, int n, int *earlier) {
    strided s = {base, stride, size};
    return gq_first_repeat(n, strided_key, &s, earlier, v->compares);
}

/* Fails on keys outside `allowed` (NULL-terminated) and on duplicate keys, which cJSON
 * would otherwise silently shadow. */
static gq_status check_keys(vctx *v, const cJSON *obj, const char *path, const char *const *allowed) {
    char key[256];
    for (const cJSON *c = obj->child; allowed && c; c = c->next) {
        int known = 0;
        for (int i = 0; allowed[i]; i++) known |= strcmp(allowed[i], c->string) == 0;
        if (known) continue;
        char list[512] = "";
        for (int i = 0; allowed[i]; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, allowed[i], sizeof list - strlen(list) - 1);
        }
        snprintf(key, sizeof key, "%s%s%s", path, *path ? "." : "", c->string);
        return vfail(v, key, "unknown key (expected one of: %s)", list);
    }
    int n = 0, earlier = 0;
    const cJSON **kids = children(obj, &n);
    int i = kids ? gq_first_repeat(n, member_name, kids, &earlier, v->compares) : -2;
    gq_status st = GQ_OK;
    if (i == -2) st = vnomem(v);
    if (i >= 0) snprintf(key, sizeof key, "%s%s%s", path, *path ? "." : "", kids[i]->string);
    if (i >= 0) st = vfail(v, key, "duplicate key");
    free(kids);
    return st;
}

static gq_status get_int(vctx *v, const cJSON *it, const char *key, int64_t lo, int64_t hi, const char *what,
                         int64_t *out) {
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < (double)lo ||
        it->valuedouble > (double)hi)
        return vfail(v, key, "must be %s", what);
    *out = (int64_t)it->valuedouble;
    return GQ_OK;
}

static gq_status get_string(vctx *v, const cJSON *it, const char *key, int is_path, char **out) {
    if (!cJSON_IsString(it) || !it->valuestring[0]) return vfail(v, key, "must be a non-empty string");
    if (!is_path) {
        *out = gq_strdup(it->valuestring);
        return *out ? GQ_OK : vnomem(v);
    }
    char where[300];
    snprintf(where, sizeof where, "%s: %s", v->file, key);
    gq_status st = gq_sweep_expand_env(it->valuestring, where, out, v->err);
    if (st == GQ_OK && !**out) {
        free(*out);
        *out = NULL;
        return vfail(v, key, "expands to an empty path");
    }
    return st;
}

/* An array with at least one element (a scalar counts as a one-element list when
 * scalar_ok, for quantizer options that may or may not be swept). */
static gq_status get_list(vctx *v, const cJSON *it, const char *key, int scalar_ok, int *n) {
    if (scalar_ok && !cJSON_IsArray(it)) {
        *n = 1;
        return GQ_OK;
    }
    if (!cJSON_IsArray(it)) return vfail(v, key, "must be a list");
    *n = cJSON_GetArraySize(it);
    if (*n == 0) return vfail(v, key, "must not be empty");
    return GQ_OK;
}

static void item_key(char *buf, size_t n, const char *key, const cJSON *list, int i) {
    if (cJSON_IsArray(list)) snprintf(buf, n, "%s[%d]", key, i);
    else snprintf(buf, n, "%s", key);
}

/* Sorts the keys of every object in the tree, so that printing gives a canonical form. */
static int cmp_items(const void *a, const void *b) {
    return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

static int sort_keys(cJSON *it) {
    int n = 0;
    for (cJSON *c = it->child; c; c = c->next, n++)
        if (!sort_keys(c)) return 0;
    if (!cJSON_IsObject(it) || n < 2) return 1;
    cJSON **v = gq_malloc_array((size_t)n, sizeof *v);
    if (!v) return 0;
    n = 0;
    for (cJSON *c = it->child; c; c = c->next) v[n++] = c;
    qsort(v, (size_t)n, sizeof *v, cmp_items);
    for (int i = 0; i < n; i++) {
        v[i]->prev = i ? v[i - 1] : v[n - 1]; /* cJSON: the head's prev is the tail */
        v[i]->next = i + 1 < n ? v[i + 1] : NULL;
    }
    it->child = v[0];
    free(v);
    return 1;
}

/* ---- the config ---- */

static const char *const TOP_KEYS[] = {"name", "comment",       "data",   "vocab",       "models",    "tasks",
                                       "methods",    "bits",   "budgets",     "quantizer", "method_options",
                                       "calibration", "seeds", "max_len",     "limit",     "threads",
                                       "output",     "cache_dir", "device", "tf32", "sarqc", "label_map", NULL};

/* The quantizer in a point's settings. The algorithm's keys appear only when it is not
 * rtn, so that an RTN point's id does not depend on the algorithms glueq knows. Returns 0
 * when out of memory (o NULL included). */
static int quantizer_json(const gq_quant_opts *q, cJSON *o) {
    gq_quant_opts_text t;
    gq_quant_opts_text_of(q, &t);
    int ok = o && cJSON_AddStringToObject(o, "scheme", t.scheme) &&
             cJSON_AddStringToObject(o, "granularity", t.granularity) && cJSON_AddStringToObject(o, "clip", t.clip) &&
             cJSON_AddBoolToObject(o, "stats_exclude_protected", q->stats_exclude_protected);
    if (!ok || q->algorithm == GQ_ALGO_RTN) return ok;
    cJSON *sq = NULL;
    return cJSON_AddStringToObject(o, "algorithm", gq_quant_algorithm_name(q->algorithm)) &&
           cJSON_AddNumberToObject(o, "damp", q->damp) &&
           (q->algorithm != GQ_ALGO_GPTQ || cJSON_AddBoolToObject(o, "act_order", q->act_order)) &&
           (sq = cJSON_AddObjectToObject(o, "sarqc")) && cJSON_AddNumberToObject(sq, "lambda", q->sarqc_lambda) &&
           cJSON_AddStringToObject(sq, "saliency", q->sarqc_saliency);
}

static int method_is_uniform(const char *name) { return strcmp(name, "uniform") == 0; }

static int method_seeded(const gq_method *m) { return gq_method_has_opt(m, "seed"); }

/* The option keys of "quantizer" (then of "sarqc"), in the order they vary in the grid. */
static const char *const QUANT_KEYS[] = {"scheme", "granularity", "clip", "stats_exclude_protected", "algorithm",
                                         "act_order", "damp", NULL};
enum { N_QUANT_KEYS = 7, N_ALL_KEYS = 9 }; /* + sarqc lambda, sarqc saliency */

/* Text of one swept value of key i (as gq_quant_opts_set takes it) into val. */
static gq_status quant_value(vctx *v, int i, const cJSON *x, const char *key, char *val, size_t n) {
    if (i == 3 || i == 5) {
        if (!cJSON_IsBool(x)) return vfail(v, key, "must be true or false");
        snprintf(val, n, "%s", cJSON_IsTrue(x) ? "true" : "false");
    } else if (i == 6 || i == 7) {
        if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0)) return vfail(v, key, "must be a number >= 0");
        snprintf(val, n, "%.17g", x->valuedouble);
    } else {
        if (!cJSON_IsString(x)) return vfail(v, key, "must be a string");
        snprintf(val, n, "%s", x->valuestring);
    }
    return GQ_OK;
}

/* Resets what q's algorithm does not use to the defaults; returns whether it changed. */
static int normalise_quantizer(gq_quant_opts *q) {
    gq_quant_opts d;
    gq_quant_opts_default(&d, q->bits);
    gq_quant_opts before = *q;
    if (q->algorithm != GQ_ALGO_GPTQ) q->act_order = 0;
    if (q->algorithm == GQ_ALGO_RTN) q->damp = d.damp, q->sarqc_lambda = 0, q->calib_from_quantized = 0;
    if (!(q->sarqc_lambda > 0)) snprintf(q->sarqc_saliency, sizeof q->sarqc_saliency, "%s", d.sarqc_saliency);
    return memcmp(&before, q, sizeof before) != 0;
}

static const char *const SARQC_KEYS[] = {"lambda", "saliency", NULL};

/* The options of one swept quantizer key: its item (a list or one value), the value the
 * combination being built takes and that value's index. */
typedef struct {
    const cJSON *item, *cur;
    int n, idx;
    char path[48];
} swept;

/* The next combination: the last key varies fastest. */
static void next_combination(swept *k) {
    for (int i = N_ALL_KEYS - 1; i >= 0; i--) {
        if (!k[i].item || k[i].n == 1) continue;
        if (++k[i].idx < k[i].n) {
            k[i].cur = k[i].cur->next;
            return;
        }
        k[i].idx = 0, k[i].cur = k[i].item->child;
    }
}

/* The quantizer of the current combination into *o; *normalised says whether options its
 * algorithm does not use were reset. */
static gq_status build_quantizer(vctx *v, const swept *k, int from_quantized, gq_quant_opts *o,
                                 uint8_t *normalised) {
    static const char *const opt_key[N_ALL_KEYS] = {"scheme", "granularity", "clip", "stats_exclude_protected",
                                                    "algorithm", "act_order", "damp", "sarqc_lambda",
                                                    "sarqc_saliency"};
    gq_quant_opts_default(o, 4);
    gq_status st;
    for (int i = N_ALL_KEYS - 1; i >= 0; i--) {
        if (!k[i].item) continue;
        char key[80], val[64];
        item_key(key, sizeof key, k[i].path, k[i].item, k[i].idx);
        if ((st = quant_value(v, i, k[i].cur, key, val, sizeof val)) != GQ_OK) return st;
        gq_err qe = {{0}};
        if (gq_quant_opts_set(o, opt_key[i], val, &qe) != GQ_OK) return vfail(v, key, "%s", qe.msg);
    }
    o->calib_from_quantized = from_quantized && o->algorithm != GQ_ALGO_RTN;
    *normalised = (uint8_t)normalise_quantizer(o);
    gq_err qe = {{0}};
    if (gq_quant_opts_check(o, &qe) != GQ_OK) return vfail(v, "quantizer", "%s", qe.msg);
    return GQ_OK;
}

enum { QUANT_TEXT_LEN = 256 };

static const void *text_key(const void *texts, int i, size_t *len) {
    const char *t = (const char *)texts + (size_t)i * QUANT_TEXT_LEN;
    *len = strlen(t);
    return t;
}

/* Keeps the first of quantizers with the same canonical text (the same quantizer): a
 * repeat is an error unless normalising made it (two lists that differ only in options
 * its algorithm ignores). */
static gq_status drop_repeats(vctx *v, gq_sweep_config *c, int total, const uint8_t *normalised) {
    char *texts = gq_malloc_array((size_t)total, QUANT_TEXT_LEN);
    int *first = gq_malloc_array((size_t)total, sizeof *first);
    gq_status st = texts && first ? GQ_OK : vnomem(v);
    for (int q = 0; st == GQ_OK && q < total; q++)
        gq_quant_opts_str(&c->quantizers[q], texts + (size_t)q * QUANT_TEXT_LEN, QUANT_TEXT_LEN);
    if (st == GQ_OK && gq_mark_repeats(total, text_key, texts, first, v->compares) != 0) st = vnomem(v);
    c->n_quantizers = 0;
    for (int q = 0; st == GQ_OK && q < total; q++) {
        if (first[q] == q) c->quantizers[c->n_quantizers++] = c->quantizers[q];
        else if (!normalised[q]) st = vfail(v, "quantizer", "two option lists give the same quantizer twice");
    }
    free(texts), free(first);
    return st;
}

/* Every combination of the swept quantizer and sarqc options, refused beyond the grid's
 * limit before any is built. */
static gq_status parse_quantizer(vctx *v, const cJSON *root, int from_quantized, gq_sweep_config *c) {
    const cJSON *qj = cJSON_GetObjectItemCaseSensitive(root, "quantizer");
    const cJSON *sj = cJSON_GetObjectItemCaseSensitive(root, "sarqc");
    gq_status st;
    swept k[N_ALL_KEYS];
    double total = 1;
    if (qj && !cJSON_IsObject(qj)) return vfail(v, "quantizer", "must be an object");
    if (qj && (st = check_keys(v, qj, "quantizer", QUANT_KEYS)) != GQ_OK) return st;
    if (sj && !cJSON_IsObject(sj)) return vfail(v, "sarqc", "must be an object");
    if (sj && (st = check_keys(v, sj, "sarqc", SARQC_KEYS)) != GQ_OK) return st;
    for (int i = 0; i < N_ALL_KEYS; i++) {
        const cJSON *obj = i < N_QUANT_KEYS ? qj : sj;
        const char *name = i < N_QUANT_KEYS ? QUANT_KEYS[i] : SARQC_KEYS[i - N_QUANT_KEYS];
        snprintf(k[i].path, sizeof k[i].path, "%s.%s", i < N_QUANT_KEYS ? "quantizer" : "sarqc", name);
        k[i].n = 1, k[i].idx = 0;
        k[i].item = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
        if (k[i].item && (st = get_list(v, k[i].item, k[i].path, 1, &k[i].n)) != GQ_OK) return st;
        k[i].cur = k[i].item && cJSON_IsArray(k[i].item) ? k[i].item->child : k[i].item;
        total *= k[i].n;
    }
    if (total > GQ_SWEEP_MAX_POINTS)
        return vfail(v, "quantizer", "%.0f combinations of options, more than the limit of %d (GQ_SWEEP_MAX_POINTS)",
                     total, GQ_SWEEP_MAX_POINTS);
    c->quantizers = gq_calloc_array((size_t)total, sizeof *c->quantizers);
    uint8_t *normalised = gq_malloc_array((size_t)total, 1);
    st = c->quantizers && normalised ? GQ_OK : vnomem(v);
    for (int q = 0; q < (int)total && st == GQ_OK; q++, next_combination(k))
        st = build_quantizer(v, k, from_quantized, &c->quantizers[q], &normalised[q]);
    if (st == GQ_OK) st = drop_repeats(v, c, (int)total, normalised);
    free(normalised);
    if (st != GQ_OK) return st;
    int sarqc_used = 0;
    for (int q = 0; q < c->n_quantizers; q++) sarqc_used |= c->quantizers[q].sarqc_lambda > 0;
    if (sj && !sarqc_used)
        return vfail(v, "sarqc", "applies to gptq and awq-scale quantizers with lambda > 0, and none is configured");
    return GQ_OK;
}

static gq_status json_to_text(vctx *v, const cJSON *x, const char *key, char *buf, size_t n) {
    if (cJSON_IsBool(x)) snprintf(buf, n, "%s", cJSON_IsTrue(x) ? "true" : "false");
    else if (cJSON_IsString(x)) snprintf(buf, n, "%s", x->valuestring);
    else if (cJSON_IsNumber(x) && x->valuedouble == floor(x->valuedouble) && fabs(x->valuedouble) < 1e15)
        snprintf(buf, n, "%lld", (long long)x->valuedouble);
    else if (cJSON_IsNumber(x)) snprintf(buf, n, "%.17g", x->valuedouble);
    else return vfail(v, key, "must be a number, a string or true/false");
    return GQ_OK;
}

/* String method options expand ${VAR} like paths (external's scores file is one). */
static gq_status expand_option(vctx *v, const char *key, char *val, size_t n) {
    char where[300], *x = NULL;
    snprintf(where, sizeof where, "%s: %s", v->file, key);
    gq_status st = gq_sweep_expand_env(val, where, &x, v->err);
    if (st != GQ_OK) return st;
    if (strlen(x) >= n) st = vfail(v, key, "longer than %zu bytes", n - 1);
    else snprintf(val, n, "%s", x);
    free(x);
    return st;
}

static gq_status parse_methods(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st;
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(root, "methods");
    if (!mj) return vfail(v, "methods", "missing (required)");
    if ((st = get_list(v, mj, "methods", 0, &c->n_methods)) != GQ_OK) return st;
    c->methods = gq_calloc_array((size_t)c->n_methods, sizeof *c->methods);
    c->method_opts = gq_calloc_array((size_t)c->n_methods, sizeof *c->method_opts);
    if (!c->methods || !c->method_opts) return vnomem(v);
    for (int i = 0; i < c->n_methods; i++) {
        const cJSON *x = cJSON_GetArrayItem(mj, i);
        char key[64];
        snprintf(key, sizeof key, "methods[%d]", i);
        if (!cJSON_IsString(x)) return vfail(v, key, "must be a string");
        if (!method_is_uniform(x->valuestring) && !gq_method_find(x->valuestring)) {
            char list[512];
            gq_method_names(list, sizeof list);
            return vfail(v, key, "unknown method \"%s\" (known: %s)", x->valuestring, list);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(c->methods[j], x->valuestring) == 0) return vfail(v, key, "\"%s\" listed twice", x->valuestring);
        if (!(c->methods[i] = gq_strdup(x->valuestring))) return vnomem(v);
    }
    const cJSON *oj = cJSON_GetObjectItemCaseSensitive(root, "method_options");
    if (!oj) return GQ_OK;
    if (!cJSON_IsObject(oj)) return vfail(v, "method_options", "must be an object");
    if ((st = check_keys(v, oj, "method_options", NULL)) != GQ_OK) return st;
    for (const cJSON *m = oj->child; m; m = m->next) {
        char key[128];
        snprintf(key, sizeof key, "method_options.%s", m->string);
        const gq_method *meth = gq_method_find(m->string);
        if (!meth) return vfail(v, key, "not a method with options");
        if (!cJSON_IsObject(m)) return vfail(v, key, "must be an object");
        gq_method_opts user = {0}, resolved;
        if ((st = check_keys(v, m, key, NULL)) != GQ_OK) return st;
        for (const cJSON *o = m->child; o; o = o->next) {
            char okey[192], val[GQ_METHOD_MAX_VALUE];
            snprintf(okey, sizeof okey, "%s.%s", key, o->string);
            if ((st = json_to_text(v, o, okey, val, sizeof val)) != GQ_OK) return st;
            if (cJSON_IsString(o) && (st = expand_option(v, okey, val, sizeof val)) != GQ_OK) return st;
            if (strcmp(o->string, "seed") == 0 && cJSON_GetObjectItemCaseSensitive(root, "seeds"))
                return vfail(v, okey, "conflicts with the top-level \"seeds\" list; use one of them");
            gq_err me = {{0}};
            if (gq_method_opts_set(&user, o->string, val, &me) != GQ_OK) return vfail(v, okey, "%s", me.msg);
        }
        gq_err me = {{0}};
        if (gq_method_resolve(meth, &user, &resolved, &me) != GQ_OK) return vfail(v, key, "%s", me.msg);
        for (int i = 0; i < c->n_methods; i++)
            if (strcmp(c->methods[i], m->string) == 0) c->method_opts[i] = user;
    }
    return GQ_OK;
}

static gq_status parse_budgets(vctx *v, const cJSON *root, gq_sweep_config *c) {
    static const char *const keys[] = {"k", "p", "global", NULL};
    gq_status st;
    const cJSON *bj = cJSON_GetObjectItemCaseSensitive(root, "budgets");
    int need = 0;
    for (int i = 0; i < c->n_methods; i++) need |= !method_is_uniform(c->methods[i]);
    if (!bj) return need ? vfail(v, "budgets", "missing (required by methods other than uniform)") : GQ_OK;
    if (!cJSON_IsObject(bj)) return vfail(v, "budgets", "must be an object");
    if ((st = check_keys(v, bj, "budgets", keys)) != GQ_OK) return st;
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(bj, "k"), *pj = cJSON_GetObjectItemCaseSensitive(bj, "p");
    const cJSON *gj = cJSON_GetObjectItemCaseSensitive(bj, "global");
    if (kj && pj) return vfail(v, "budgets", "give either \"k\" or \"p\", not both");
    if (!kj && !pj) return vfail(v, "budgets", "needs \"k\" (weights per matrix) or \"p\" (fraction per matrix)");
    if (gj && !cJSON_IsBool(gj)) return vfail(v, "budgets.global", "must be true or false");
    c->budget_global = cJSON_IsTrue(gj);
    c->budget_is_p = pj != NULL;
    const cJSON *lj = kj ? kj : pj;
    const char *lkey = kj ? "budgets.k" : "budgets.p";
    if ((st = get_list(v, lj, lkey, 0, &c->n_budgets)) != GQ_OK) return st;
    c->k = gq_calloc_array((size_t)c->n_budgets, sizeof *c->k);
    c->p = gq_calloc_array((size_t)c->n_budgets, sizeof *c->p);
    if (!c->k || !c->p) return vnomem(v);
    const cJSON *x = lj->child;
    for (int i = 0; i < c->n_budgets; i++, x = x->next) {
        char key[64];
        snprintf(key, sizeof key, "%s[%d]", lkey, i);
        if (kj) {
            if ((st = get_int(v, x, key, 1, INT64_C(1) << 40,
                              "a positive integer (k = 0 is the \"uniform\" method)", &c->k[i])) != GQ_OK)
                return st;
            c->p[i] = -1;
        } else {
            if (!cJSON_IsNumber(x) || !(x->valuedouble > 0 && x->valuedouble <= 1))
                return vfail(v, key, "must be a fraction in (0, 1] (p = 0 is the \"uniform\" method)");
            c->p[i] = x->valuedouble;
            c->k[i] = -1;
        }
    }
    int earlier = 0, i = kj ? first_repeat(v, c->k, sizeof *c->k, sizeof *c->k, c->n_budgets, &earlier)
                            : first_repeat(v, c->p, sizeof *c->p, sizeof *c->p, c->n_budgets, &earlier);
    if (i == -2) return vnomem(v);
    if (i >= 0) {
        char key[64];
        snprintf(key, sizeof key, "%s[%d]", lkey, i);
        return vfail(v, key, "repeats an earlier budget");
    }
    return GQ_OK;
}

static gq_status parse_calibration(vctx *v, const cJSON *root, gq_sweep_config *c) {
    static const char *const keys[] = {"split", "n", "sample", "seed", "from", NULL};
    gq_status st;
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(root, "calibration");
    c->calib_n = 128;
    c->calib_seed = 0;
    c->calib_split = gq_strdup("train");
    c->calib_sample = gq_strdup("first");
    if (!c->calib_split || !c->calib_sample) return vnomem(v);
    if (!cj) return GQ_OK;
    if (!cJSON_IsObject(cj)) return vfail(v, "calibration", "must be an object");
    if ((st = check_keys(v, cj, "calibration", keys)) != GQ_OK) return st;
    const cJSON *x;
    if ((x = cJSON_GetObjectItemCaseSensitive(cj, "split"))) {
        if (!cJSON_IsString(x) ||
            (strcmp(x->valuestring, "train") && strcmp(x->valuestring, "dev") && strcmp(x->valuestring, "test")))
            return vfail(v, "calibration.split", "must be \"train\", \"dev\" or \"test\"");
        free(c->calib_split);
        if (!(c->calib_split = gq_strdup(x->valuestring))) return vnomem(v);
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(cj, "sample"))) {
        if (!cJSON_IsString(x) || (strcmp(x->valuestring, "first") && strcmp(x->valuestring, "random")))
            return vfail(v, "calibration.sample", "must be \"first\" or \"random\"");
        free(c->calib_sample);
        if (!(c->calib_sample = gq_strdup(x->valuestring))) return vnomem(v);
    }
    int64_t n = 0;
    if ((x = cJSON_GetObjectItemCaseSensitive(cj, "n"))) {
        if ((st = get_int(v, x, "calibration.n", 1, 1000000, "a positive integer", &n)) != GQ_OK) return st;
        c->calib_n = (int)n;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(cj, "seed")) &&
        (st = get_int(v, x, "calibration.seed", 0, INT64_C(1) << 53, "a non-negative integer", &c->calib_seed)) !=
            GQ_OK)
        return st;
    if ((x = cJSON_GetObjectItemCaseSensitive(cj, "from"))) {
        if (!cJSON_IsString(x) || (strcmp(x->valuestring, "fp32") && strcmp(x->valuestring, "quantized")))
            return vfail(v, "calibration.from", "must be \"fp32\" or \"quantized\"");
        c->calib_from_quantized = strcmp(x->valuestring, "quantized") == 0;
    }
    return GQ_OK;
}

/* The settings of ps into o; 0 when out of memory. */
static int point_json(const gq_point_spec *ps, cJSON *o) {
    int fp32 = !strcmp(ps->method, "fp32");
    gq_quant_opts q = {0};
    if (!fp32) q = *ps->q, normalise_quantizer(&q);
    int ok = cJSON_AddStringToObject(o, "task", ps->task) && cJSON_AddStringToObject(o, "method", ps->method) &&
             cJSON_AddNumberToObject(o, "max_len", ps->max_len) &&
             (ps->limit ? cJSON_AddNumberToObject(o, "limit", ps->limit) : cJSON_AddNullToObject(o, "limit"));
    if (ok && !fp32)
        ok = cJSON_AddNumberToObject(o, "bits", q.bits) && quantizer_json(&q, cJSON_AddObjectToObject(o, "quantizer"));
    const gq_quant_budget *b = &ps->budget;
    if (ok && !fp32 && !method_is_uniform(ps->method) && (b->p > 0 || (b->p < 0 && b->k > 0))) {
        cJSON *bj = cJSON_AddObjectToObject(o, "budget");
        ok = bj &&
             (b->p > 0 ? cJSON_AddNumberToObject(bj, "p", b->p) : cJSON_AddNumberToObject(bj, "k", (double)b->k)) &&
             (!b->global || cJSON_AddTrueToObject(bj, "global"));
    }
    if (ok && ps->mopts && ps->mopts->n) {
        cJSON *m = cJSON_AddObjectToObject(o, "method_options");
        ok = m != NULL;
        for (int i = 0; ok && i < ps->mopts->n; i++)
            ok = cJSON_AddStringToObject(m, ps->mopts->key[i], ps->mopts->value[i]) != NULL;
    }
    if (ok && ps->calib) {
        cJSON *cal = cJSON_AddObjectToObject(o, "calibration");
        ok = cal && cJSON_AddStringToObject(cal, "split", ps->calib->split) &&
             cJSON_AddNumberToObject(cal, "n", ps->calib->n) &&
             cJSON_AddStringToObject(cal, "sample", ps->calib->random ? "random" : "first") &&
             (!ps->calib->random || cJSON_AddNumberToObject(cal, "seed", (double)ps->calib->seed)) &&
             cJSON_AddStringToObject(cal, "from", q.calib_from_quantized ? "quantized" : "fp32");
    }
    return ok;
}

gq_status gq_point_settings(const gq_point_spec *ps, char **settings, char id[17], gq_err *err) {
    *settings = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o || !point_json(ps, o) || !sort_keys(o) || !(*settings = cJSON_PrintUnformatted(o))) {
        cJSON_Delete(o);
        return gq_fail(err, GQ_ERR_NOMEM, "point settings: out of memory");
    }
    cJSON_Delete(o);
    char hex[65];
    gq_sha256_hex(*settings, strlen(*settings), hex);
    memcpy(id, hex, 16);
    id[16] = '\0';
    return GQ_OK;
}

/* The canonical settings of one point and its id. */
static gq_status finish_point(vctx *v, gq_sweep_config *c, gq_sweep_point *p) {
    gq_calib_opts cal = {.n = c->calib_n, .random = strcmp(c->calib_sample, "random") == 0,
                         .seed = (uint64_t)c->calib_seed};
    snprintf(cal.split, sizeof cal.split, "%s", c->calib_split);
    gq_point_spec ps = {.task = c->tasks[p->task], .method = p->method_name, .max_len = c->max_len,
                        .limit = c->limit, .q = &p->qopts, .budget = {p->k, p->p, c->budget_global},
                        .mopts = &p->mopts, .calib = p->calibrated ? &cal : NULL};
    gq_status st = gq_point_settings(&ps, &p->settings, p->id, v->err);
    return st == GQ_OK ? GQ_OK : vnomem(v);
}

/* Points in the grid, counted in doubles (exact far beyond the limit) so that no product
 * can overflow before the grid is refused. */
static double grid_size(const gq_sweep_config *c) {
    int has_uniform = 0;
    double per_task = 1; /* the FP32 point */
    for (int m = 0; m < c->n_methods; m++) {
        if (method_is_uniform(c->methods[m])) {
            has_uniform = 1;
            continue;
        }
        int seeds = method_seeded(gq_method_find(c->methods[m])) ? c->n_seeds : 1;
        per_task += (double)c->n_bits * c->n_budgets * c->n_quantizers * seeds;
    }
    per_task += (double)has_uniform * c->n_bits * c->n_quantizers;
    return per_task * c->n_tasks;
}

/* p's resolved method options: the config's for method m, with seed s when it is seeded. */
static gq_status resolve_point_method(vctx *v, const gq_sweep_config *c, const gq_method *meth, int m, int s,
                                      gq_sweep_point *p) {
    gq_method_opts user = c->method_opts[m];
    gq_err me = {{0}};
    if (method_seeded(meth)) {
        char sv[32];
        p->seed = c->seeds[s];
        snprintf(sv, sizeof sv, "%lld", (long long)p->seed);
        if (gq_method_opts_set(&user, "seed", sv, &me) != GQ_OK) return vfail(v, "seeds", "%s", me.msg);
    }
    if (gq_method_resolve(meth, &user, &p->mopts, &me) != GQ_OK) return vfail(v, "method_options", "%s", me.msg);
    p->calibrated = gq_method_needs_calibration(meth);
    return GQ_OK;
}

/* Distinct settings must never share an id (that would merge two rows on resume). */
static gq_status check_unique_ids(vctx *v, const gq_sweep_config *c) {
    int j = 0, i = first_repeat(v, c->points[0].id, sizeof *c->points, sizeof c->points[0].id - 1, c->n_points, &j);
    if (i == -2) return vnomem(v);
    if (i >= 0) return vfail(v, "(grid)", "points %d and %d have the same settings %s", j, i, c->points[i].settings);
    return GQ_OK;
}

/* The quantized points of method m for task t from points[*n] on. */
static gq_status method_points(vctx *v, gq_sweep_config *c, int t, int m, int *n) {
    int uni = method_is_uniform(c->methods[m]);
    const gq_method *meth = uni ? NULL : gq_method_find(c->methods[m]);
    int nb = uni ? 1 : c->n_budgets, ns = method_seeded(meth) ? c->n_seeds : 1;
    for (int b = 0; b < c->n_bits; b++)
        for (int k = 0; k < nb; k++)
            for (int q = 0; q < c->n_quantizers; q++)
                for (int s = 0; s < ns; s++) {
                    gq_sweep_point *p = &c->points[*n];
                    *p = (gq_sweep_point){.index = *n, .task = t, .method = m, .method_name = c->methods[m],
                                          .bits = c->bits[b], .k = uni ? 0 : c->k[k], .p = uni ? -1 : c->p[k],
                                          .quantizer = q, .seed = -1};
                    p->qopts = c->quantizers[q];
                    p->qopts.bits = p->bits;
                    gq_status st = meth ? resolve_point_method(v, c, meth, m, s, p) : GQ_OK;
                    p->calibrated |= c->quantizers[q].algorithm != GQ_ALGO_RTN;
                    if (st == GQ_OK) st = finish_point(v, c, p);
                    if (st != GQ_OK) return st;
                    (*n)++;
                }
    return GQ_OK;
}

static gq_status expand_grid(vctx *v, gq_sweep_config *c) {
    double n_points = grid_size(c);
    if (n_points > GQ_SWEEP_MAX_POINTS)
        return vfail(v, "grid", "%.0f points, more than the limit of %d (GQ_SWEEP_MAX_POINTS); split the sweep",
                     n_points, GQ_SWEEP_MAX_POINTS);
    c->n_points = (int)n_points;
    c->points = gq_calloc_array((size_t)c->n_points, sizeof *c->points);
    if (!c->points) return vnomem(v);
    int n = 0;
    gq_status st;
    for (int t = 0; t < c->n_tasks; t++) {
        gq_sweep_point *p = &c->points[n];
        *p = (gq_sweep_point){.index = n, .task = t, .method = -1, .method_name = "fp32", .bits = 32,
                              .k = 0, .p = -1, .quantizer = -1, .seed = -1};
        if ((st = finish_point(v, c, p)) != GQ_OK) return st;
        n++;
        for (int pass = 0; pass < 2; pass++) /* uniform first, then the other methods */
            for (int m = 0; m < c->n_methods; m++)
                if (method_is_uniform(c->methods[m]) == (pass == 0) && (st = method_points(v, c, t, m, &n)) != GQ_OK)
                    return st;
    }
    return check_unique_ids(v, c);
}

/* "label_map" of the canonical config: only when given, so that configs without one keep
 * their hash; its maps change predictions, so they enter the hash. 0 when out of memory. */
static int add_label_maps(const gq_sweep_config *c, cJSON *o) {
    cJSON *lm = cJSON_AddObjectToObject(o, "label_map");
    int ok = lm != NULL;
    for (int t = 0; ok && t < c->n_tasks; t++) {
        const int *map = c->label_maps + t * GQ_GLUE_MAX_LABELS;
        if (map[0] < 0) continue;
        const gq_glue_task *task = gq_glue_task_find(c->tasks[t]);
        cJSON *m = cJSON_AddObjectToObject(lm, task->name);
        ok = m != NULL;
        for (int l = 0; ok && l < task->n_labels; l++) ok = cJSON_AddNumberToObject(m, task->labels[l], map[l]) != NULL;
    }
    return ok;
}

/* The part of the resolved config that the config hash covers, into o; 0 when out of
 * memory. */
static int canonical_json(vctx *v, const gq_sweep_config *c, cJSON *o) {
    cJSON *models = NULL, *tasks = NULL, *methods = NULL, *mo = NULL, *bits = NULL, *q = NULL, *cal = NULL;
    cJSON *seeds = NULL;
    int ok = cJSON_AddStringToObject(o, "data", c->data) &&
             (!c->vocab || cJSON_AddStringToObject(o, "vocab", c->vocab)) &&
             (models = cJSON_AddObjectToObject(o, "models")) && (tasks = cJSON_AddArrayToObject(o, "tasks"));
    for (int t = 0; ok && t < c->n_tasks; t++)
        ok = cJSON_AddStringToObject(models, c->tasks[t], c->models[t]) &&
             cJSON_AddItemToArray(tasks, cJSON_CreateString(c->tasks[t]));
    ok = ok && (!c->label_maps || add_label_maps(c, o));
    ok = ok && (methods = cJSON_AddArrayToObject(o, "methods")) && (mo = cJSON_AddObjectToObject(o, "method_options"));
    for (int m = 0; ok && m < c->n_methods; m++) {
        ok = cJSON_AddItemToArray(methods, cJSON_CreateString(c->methods[m]));
        const gq_method *meth = gq_method_find(c->methods[m]);
        gq_method_opts res;
        if (ok && meth && gq_method_resolve(meth, &c->method_opts[m], &res, v->err) == GQ_OK && res.n) {
            cJSON *x = cJSON_AddObjectToObject(mo, c->methods[m]);
            ok = x != NULL;
            for (int i = 0; ok && i < res.n; i++)
                if (!method_seeded(meth) || strcmp(res.key[i], "seed"))
                    ok = cJSON_AddStringToObject(x, res.key[i], res.value[i]) != NULL;
        }
    }
    ok = ok && (bits = cJSON_AddArrayToObject(o, "bits"));
    for (int i = 0; ok && i < c->n_bits; i++) ok = cJSON_AddItemToArray(bits, cJSON_CreateNumber(c->bits[i]));
    if (ok && c->n_budgets) {
        cJSON *b = cJSON_AddObjectToObject(o, "budgets");
        cJSON *l = b ? cJSON_AddArrayToObject(b, c->budget_is_p ? "p" : "k") : NULL;
        ok = l != NULL;
        for (int i = 0; ok && i < c->n_budgets; i++)
            ok = cJSON_AddItemToArray(l, cJSON_CreateNumber(c->budget_is_p ? c->p[i] : (double)c->k[i]));
        ok = ok && cJSON_AddBoolToObject(b, "global", c->budget_global);
    }
    ok = ok && (q = cJSON_AddArrayToObject(o, "quantizers"));
    for (int i = 0; ok && i < c->n_quantizers; i++) {
        cJSON *x = cJSON_CreateObject();
        ok = cJSON_AddItemToArray(q, x) && quantizer_json(&c->quantizers[i], x);
    }
    ok = ok && (cal = cJSON_AddObjectToObject(o, "calibration")) &&
         cJSON_AddStringToObject(cal, "split", c->calib_split) && cJSON_AddNumberToObject(cal, "n", c->calib_n) &&
         cJSON_AddStringToObject(cal, "sample", c->calib_sample) &&
         cJSON_AddNumberToObject(cal, "seed", (double)c->calib_seed) &&
         cJSON_AddStringToObject(cal, "from", c->calib_from_quantized ? "quantized" : "fp32") &&
         (seeds = cJSON_AddArrayToObject(o, "seeds"));
    for (int i = 0; ok && i < c->n_seeds; i++)
        ok = cJSON_AddItemToArray(seeds, cJSON_CreateNumber((double)c->seeds[i]));
    return ok && cJSON_AddNumberToObject(o, "max_len", c->max_len) &&
           (c->limit ? cJSON_AddNumberToObject(o, "limit", c->limit) : cJSON_AddNullToObject(o, "limit")) &&
           (!c->runner.tf32 || cJSON_AddTrueToObject(o, "tf32"));
}

/* The resolved config, for results.json and the config hash. */
static gq_status build_canonical(vctx *v, gq_sweep_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return vnomem(v);
    c->canonical = o;
    char *text = NULL;
    if (!canonical_json(v, c, o) || !sort_keys(o) || !(text = cJSON_PrintUnformatted(o))) return vnomem(v);
    gq_sha256_hex(text, strlen(text), c->hash);
    free(text);
    /* The keys that do not enter the hash are added afterwards, for the record. */
    int ok = cJSON_AddStringToObject(o, "name", c->name) && cJSON_AddStringToObject(o, "output", c->output) &&
             (c->cache_dir ? cJSON_AddStringToObject(o, "cache_dir", c->cache_dir)
                           : cJSON_AddNullToObject(o, "cache_dir")) &&
             cJSON_AddNumberToObject(o, "threads", c->threads) &&
             cJSON_AddStringToObject(o, "device", gq_device_name(c->runner.device));
    if (!ok || !sort_keys(o)) return vnomem(v);
    return GQ_OK;
}

/* "device" and "tf32" (with "threads", already read) into c->runner. */
static gq_status parse_runner(vctx *v, const cJSON *root, gq_sweep_config *c) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, "device");
    c->runner = (gq_encoder_runner_opts){GQ_DEVICE_CPU, c->threads, 0};
    if (x && (!cJSON_IsString(x) || gq_device_parse(x->valuestring, &c->runner.device, v->err) != GQ_OK))
        return vfail(v, "device", "must be \"cpu\" or \"cuda\"");
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "tf32"))) {
        if (!cJSON_IsBool(x)) return vfail(v, "tf32", "must be true or false");
        c->runner.tf32 = cJSON_IsTrue(x);
    }
    if (c->runner.tf32 && c->runner.device != GQ_DEVICE_CUDA) return vfail(v, "tf32", "needs \"device\": \"cuda\"");
    return GQ_OK;
}

/* "label_map": {task: {label: model id}}, every label of each task it names. */
static gq_status parse_label_map(vctx *v, const cJSON *root, gq_sweep_config *c) {
    const cJSON *lm = cJSON_GetObjectItemCaseSensitive(root, "label_map");
    if (!lm) return GQ_OK;
    if (!cJSON_IsObject(lm)) return vfail(v, "label_map", "must be an object {task: {label: model id}}");
    if (!(c->label_maps = gq_malloc_array((size_t)c->n_tasks * GQ_GLUE_MAX_LABELS, sizeof *c->label_maps)))
        return vnomem(v);
    for (int i = 0; i < c->n_tasks * GQ_GLUE_MAX_LABELS; i++) c->label_maps[i] = -1;
    for (const cJSON *e = lm->child; e; e = e->next) {
        char key[160], where[600];
        snprintf(key, sizeof key, "label_map.%s", e->string);
        int t = 0;
        while (t < c->n_tasks && gq_glue_task_find(e->string) != gq_glue_task_find(c->tasks[t])) t++;
        if (t == c->n_tasks) return vfail(v, key, "not one of this sweep's tasks");
        if (!cJSON_IsObject(e) || !e->child) return vfail(v, key, "must be an object {label: model id}");
        const gq_glue_task *task = gq_glue_task_find(c->tasks[t]);
        int *map = c->label_maps + t * GQ_GLUE_MAX_LABELS;
        snprintf(where, sizeof where, "%s: %s", v->file, key);
        for (const cJSON *x = e->child; x; x = x->next) {
            if (!cJSON_IsNumber(x) || !(fabs(x->valuedouble) < 1e9) || x->valuedouble != floor(x->valuedouble))
                return vfail(v, key, "\"%s\" must be a model label id (an integer)", x->string);
            gq_status st = gq_glue_label_map_set(task, x->string, (long)x->valuedouble, map, where, v->err);
            if (st != GQ_OK) return st;
        }
        gq_status st = gq_glue_label_map_check(task, map, where, v->err);
        if (st != GQ_OK) return st;
    }
    return GQ_OK;
}

/* name, comment, data, vocab, output and cache_dir. */
static gq_status parse_paths(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st;
    const cJSON *x;
    if ((st = get_string(v, cJSON_GetObjectItemCaseSensitive(root, "name"), "name", 0, &c->name)) != GQ_OK) return st;
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "comment")) && !cJSON_IsString(x))
        return vfail(v, "comment", "must be a string");
    if ((st = get_string(v, cJSON_GetObjectItemCaseSensitive(root, "data"), "data", 1, &c->data)) != GQ_OK) return st;
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "vocab")) && (st = get_string(v, x, "vocab", 1, &c->vocab)) != GQ_OK)
        return st;
    if ((st = get_string(v, cJSON_GetObjectItemCaseSensitive(root, "output"), "output", 1, &c->output)) != GQ_OK)
        return st;
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "cache_dir"))) {
        if ((st = get_string(v, x, "cache_dir", 1, &c->cache_dir)) != GQ_OK) return st;
    }
    return GQ_OK;
}

/* "tasks" and the model of each in "models" (whose keys must all be tasks). */
static gq_status parse_tasks(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st;
    const cJSON *tj = cJSON_GetObjectItemCaseSensitive(root, "tasks");
    if ((st = get_list(v, tj, "tasks", 0, &c->n_tasks)) != GQ_OK) return st;
    c->tasks = gq_calloc_array((size_t)c->n_tasks, sizeof *c->tasks);
    c->models = gq_calloc_array((size_t)c->n_tasks, sizeof *c->models);
    if (!c->tasks || !c->models) return vnomem(v);
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsObject(mj)) return vfail(v, "models", "must be an object {task: checkpoint dir}");
    if ((st = check_keys(v, mj, "models", NULL)) != GQ_OK) return st;
    for (const cJSON *m = mj->child; m; m = m->next) {
        char key[128];
        snprintf(key, sizeof key, "models.%s", m->string);
        if (!gq_glue_task_find(m->string)) return vfail(v, key, "unknown task (known: %s)", gq_glue_task_names());
    }
    for (int t = 0; t < c->n_tasks; t++) {
        char key[64];
        snprintf(key, sizeof key, "tasks[%d]", t);
        const cJSON *it = cJSON_GetArrayItem(tj, t);
        const gq_glue_task *task = cJSON_IsString(it) ? gq_glue_task_find(it->valuestring) : NULL;
        if (!cJSON_IsString(it)) return vfail(v, key, "must be a string");
        if (!task) return vfail(v, key, "unknown task \"%s\" (known: %s)", it->valuestring, gq_glue_task_names());
        for (int j = 0; j < t; j++)
            if (strcmp(c->tasks[j], task->name) == 0) return vfail(v, key, "\"%s\" listed twice", task->name);
        if (!(c->tasks[t] = gq_strdup(task->name))) return vnomem(v);
        const cJSON *model = NULL;
        for (const cJSON *m = mj->child; m; m = m->next)
            if (gq_glue_task_find(m->string) == task) model = m;
        snprintf(key, sizeof key, "models.%s", task->name);
        if (!model) return vfail(v, key, "missing (every task needs a model)");
        snprintf(key, sizeof key, "models.%s", model->string);
        if ((st = get_string(v, model, key, 1, &c->models[t])) != GQ_OK) return st;
    }
    return GQ_OK;
}

static gq_status parse_bits(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st;
    const cJSON *bj = cJSON_GetObjectItemCaseSensitive(root, "bits");
    if ((st = get_list(v, bj, "bits", 0, &c->n_bits)) != GQ_OK) return st;
    if (!(c->bits = gq_calloc_array((size_t)c->n_bits, sizeof *c->bits)))
        return vnomem(v);
    for (int i = 0; i < c->n_bits; i++) {
        char key[32];
        int64_t b = 0;
        snprintf(key, sizeof key, "bits[%d]", i);
        if ((st = get_int(v, cJSON_GetArrayItem(bj, i), key, 2, 8, "an integer from 2 to 8", &b)) != GQ_OK) return st;
        c->bits[i] = (int)b;
        for (int j = 0; j < i; j++)
            if (c->bits[j] == c->bits[i]) return vfail(v, key, "%d listed twice", c->bits[i]);
    }
    return GQ_OK;
}

static gq_status parse_seeds(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st;
    const cJSON *sj = cJSON_GetObjectItemCaseSensitive(root, "seeds");
    c->n_seeds = 1;
    if (sj && (st = get_list(v, sj, "seeds", 0, &c->n_seeds)) != GQ_OK) return st;
    if (!(c->seeds = gq_calloc_array((size_t)c->n_seeds, sizeof *c->seeds)))
        return vnomem(v);
    const cJSON *x = sj ? sj->child : NULL;
    for (int i = 0; x; i++, x = x->next) {
        char key[32];
        snprintf(key, sizeof key, "seeds[%d]", i);
        if ((st = get_int(v, x, key, 0, INT64_C(1) << 53, "a non-negative integer", &c->seeds[i])) != GQ_OK)
            return st;
    }
    int earlier = 0, i = first_repeat(v, c->seeds, sizeof *c->seeds, sizeof *c->seeds, c->n_seeds, &earlier);
    if (i == -2) return vnomem(v);
    if (i >= 0) {
        char key[32];
        snprintf(key, sizeof key, "seeds[%d]", i);
        return vfail(v, key, "%lld listed twice", (long long)c->seeds[i]);
    }
    return GQ_OK;
}

/* max_len, limit and threads. */
static gq_status parse_limits(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st;
    const cJSON *x;
    int64_t n = 0;
    c->max_len = 128;
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "max_len"))) {
        if ((st = get_int(v, x, "max_len", 3, 512, "an integer from 3 to 512", &n)) != GQ_OK) return st;
        c->max_len = (int)n;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "limit")) && !cJSON_IsNull(x)) {
        if ((st = get_int(v, x, "limit", 1, 100000000, "null or a positive integer", &n)) != GQ_OK) return st;
        c->limit = (int)n;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(root, "threads"))) {
        if ((st = get_int(v, x, "threads", 0, 4096, "0 (all cores) or a positive integer", &n)) != GQ_OK) return st;
        c->threads = (int)n;
    }
    return GQ_OK;
}

/* The quantizers, and calibration.from quantized only with a calibrated algorithm. */
static gq_status parse_quantizers(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st = parse_quantizer(v, root, c->calib_from_quantized, c);
    if (st != GQ_OK) return st;
    int calibrated_algorithm = 0;
    for (int q = 0; q < c->n_quantizers; q++) calibrated_algorithm |= c->quantizers[q].algorithm != GQ_ALGO_RTN;
    if (c->calib_from_quantized && !calibrated_algorithm)
        return vfail(v, "calibration.from", "\"quantized\" needs a gptq or awq-scale quantizer.algorithm (rtn "
                                            "uses no calibration)");
    return GQ_OK;
}

static gq_status parse_root(vctx *v, const cJSON *root, gq_sweep_config *c) {
    gq_status st;
    if (!cJSON_IsObject(root)) return vfail(v, "(top level)", "must be a JSON object");
    if ((st = check_keys(v, root, "", TOP_KEYS)) != GQ_OK) return st;
    static const char *const required[] = {"name", "data", "models", "tasks", "bits", "output", NULL};
    for (int i = 0; required[i]; i++)
        if (!cJSON_GetObjectItemCaseSensitive(root, required[i])) return vfail(v, required[i], "missing (required)");
    if ((st = parse_paths(v, root, c)) != GQ_OK || (st = parse_tasks(v, root, c)) != GQ_OK ||
        (st = parse_label_map(v, root, c)) != GQ_OK || (st = parse_methods(v, root, c)) != GQ_OK || (st = parse_bits(v, root, c)) != GQ_OK ||
        (st = parse_budgets(v, root, c)) != GQ_OK || (st = parse_calibration(v, root, c)) != GQ_OK ||
        (st = parse_quantizers(v, root, c)) != GQ_OK || (st = parse_seeds(v, root, c)) != GQ_OK ||
        (st = parse_limits(v, root, c)) != GQ_OK || (st = parse_runner(v, root, c)) != GQ_OK ||
        (st = build_canonical(v, c)) != GQ_OK)
        return st;
    return expand_grid(v, c);
}

gq_status gq_sweep_config_parse(const char *text, const char *path, gq_sweep_config **out, gq_err *err) {
    return gq_sweep_config_parse_counted(text, path, out, NULL, err);
}

gq_status gq_sweep_config_parse_counted(const char *text, const char *path, gq_sweep_config **out,
                                        uint64_t *compares, gq_err *err) {
    *out = NULL;
    vctx v = {path, err, compares};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        int line = 1, col = 1;
        for (const char *s = text; end && s < end; s++) {
            if (*s == '\n') line++, col = 1;
            else col++;
        }
        return gq_fail(err, GQ_ERR_FORMAT, "%s: invalid JSON at line %d, column %d", path, line, col);
    }
    gq_sweep_config *c = calloc(1, sizeof *c);
    if (!c || !(c->path = gq_strdup(path))) {
        free(c);
        cJSON_Delete(root);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    gq_status st = parse_root(&v, root, c);
    cJSON_Delete(root);
    if (st != GQ_OK) {
        gq_sweep_config_free(c);
        return st;
    }
    *out = c;
    return GQ_OK;
}

gq_status gq_sweep_config_load(const char *path, gq_sweep_config **out, gq_err *err) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    gq_status st = gq_read_file(path, 1 << 20, &text, &len, err);
    if (st != GQ_OK) return st;
    st = gq_sweep_config_parse(text, path, out, err);
    free(text);
    return st;
}

void gq_sweep_config_free(gq_sweep_config *c) {
    if (!c) return;
    for (int t = 0; t < c->n_tasks; t++) {
        free(c->tasks ? c->tasks[t] : NULL);
        free(c->models ? c->models[t] : NULL);
    }
    for (int m = 0; c->methods && m < c->n_methods; m++) free(c->methods[m]);
    for (int i = 0; c->points && i < c->n_points; i++) free(c->points[i].settings);
    free(c->tasks), free(c->models), free(c->label_maps), free(c->methods), free(c->method_opts), free(c->bits);
    free(c->k), free(c->p), free(c->quantizers), free(c->seeds), free(c->points);
    free(c->calib_split), free(c->calib_sample);
    free(c->path), free(c->name), free(c->data), free(c->vocab), free(c->output), free(c->cache_dir);
    cJSON_Delete(c->canonical);
    free(c);
}

int gq_sweep_shard_count(const gq_sweep_config *cfg, int shard, int n_shards) {
    int n = 0;
    for (int i = 0; i < cfg->n_points; i++) n += i % n_shards == shard;
    return n;
}
