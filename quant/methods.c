/* methods: the registry of saliency methods and their options.
 *
 * Adding a heuristic = one file quant/method_<name>.c that includes quant_method.h and
 * defines `const gq_method gq_method_<name>`, and its line in GQ_METHODS below (the
 * order is the order of `glueq --help` and error messages).
 */
#include "quant_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GQ_METHODS(X) \
    X(uniform)            \
    X(magnitude)          \
    X(random)             \
    X(svd)                \
    X(awq)                \
    X(spqr)               \
    X(external)           \
    X(rosaq)

#define GQ_METHOD_DECLARE(name) extern const gq_method gq_method_##name;
GQ_METHODS(GQ_METHOD_DECLARE)
#define GQ_METHOD_ENTRY(name) &gq_method_##name,
const gq_method *const gq_methods[] = {GQ_METHODS(GQ_METHOD_ENTRY) NULL};

const gq_method *gq_method_find(const char *name) {
    for (int i = 0; name && gq_methods[i]; i++)
        if (!strcmp(gq_methods[i]->name, name)) return gq_methods[i];
    return NULL;
}

void gq_method_names(char *buf, size_t n) {
    if (n) buf[0] = '\0';
    for (int i = 0; gq_methods[i]; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", i ? ", " : "", gq_methods[i]->name);
    }
}

int gq_method_needs_calibration(const gq_method *m) { return m && m->needs_calibration; }

int gq_method_has_opt(const gq_method *m, const char *key) {
    for (const gq_method_opt *o = m ? m->opts : NULL; o && o->key; o++)
        if (!strcmp(o->key, key)) return 1;
    return 0;
}

gq_status gq_method_opts_set(gq_method_opts *o, const char *key, const char *value, gq_err *err) {
    if (!key || !value) return gq_fail(err, GQ_ERR_ARG, "method option: key and value are required");
    if (strlen(key) >= sizeof o->key[0] || strlen(value) >= sizeof o->value[0])
        return gq_fail(err, GQ_ERR_ARG, "method option '%s': key or value too long", key);
    int i = 0;
    while (i < o->n && strcmp(o->key[i], key)) i++;
    if (i == o->n) {
        if (o->n == GQ_METHOD_MAX_OPTS)
            return gq_fail(err, GQ_ERR_ARG, "method option '%s': more than %d options", key, GQ_METHOD_MAX_OPTS);
        o->n++;
    }
    snprintf(o->key[i], sizeof o->key[i], "%s", key);
    snprintf(o->value[i], sizeof o->value[i], "%s", value);
    return GQ_OK;
}

const char *gq_method_opt_str(const gq_method_opts *o, const char *key) {
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->key[i], key)) return o->value[i];
    return NULL;
}

gq_status gq_method_opt_int(const gq_method_opts *o, const char *key, int64_t *v, gq_err *err) {
    const char *s = gq_method_opt_str(o, key);
    char *end;
    if (!s || !*s) return gq_fail(err, GQ_ERR_ARG, "method option '%s': missing", key);
    long long x = strtoll(s, &end, 10);
    if (*end) return gq_fail(err, GQ_ERR_ARG, "method option '%s' = '%s': expected an integer", key, s);
    *v = x;
    return GQ_OK;
}

gq_status gq_method_opt_double(const gq_method_opts *o, const char *key, double *v, gq_err *err) {
    const char *s = gq_method_opt_str(o, key);
    char *end;
    if (!s || !*s) return gq_fail(err, GQ_ERR_ARG, "method option '%s': missing", key);
    double x = strtod(s, &end);
    if (*end || !isfinite(x)) return gq_fail(err, GQ_ERR_ARG, "method option '%s' = '%s': expected a number", key, s);
    *v = x;
    return GQ_OK;
}

gq_status gq_method_opt_bool(const gq_method_opts *o, const char *key, int *v, gq_err *err) {
    const char *s = gq_method_opt_str(o, key);
    if (s && (!strcmp(s, "true") || !strcmp(s, "1"))) *v = 1;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "0"))) *v = 0;
    else return gq_fail(err, GQ_ERR_ARG, "method option '%s' = '%s': expected true or false", key, s ? s : "");
    return GQ_OK;
}

/* Is value one of the '|'-separated choices? */
static int is_choice(const char *choices, const char *value) {
    size_t n = strlen(value);
    for (const char *p = choices; p && *p;) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, value, n)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Is key d's KEY_sha256 companion? */
static int is_sha_of(const gq_method_opt *d, const char *key) {
    size_t n = strlen(d->key);
    return d->type == GQ_OPT_FILE && !strncmp(key, d->key, n) && !strcmp(key + n, "_sha256");
}

/* A file option: the file's sha256 goes into resolved as KEY_sha256; a hash the user's
 * options already carry must match it. */
static gq_status resolve_file(const gq_method_opt *d, const gq_method_opts *user, gq_method_opts *resolved,
                              gq_err *err) {
    const char *path = gq_method_opt_str(resolved, d->key);
    char key[64], hex[65];
    if (!*path) return gq_fail(err, GQ_ERR_ARG, "option '%s' is required (a file)", d->key);
    snprintf(key, sizeof key, "%s_sha256", d->key);
    gq_status st = gq_sha256_file(path, hex, err);
    if (st != GQ_OK) return st;
    const char *want = user ? gq_method_opt_str(user, key) : NULL;
    if (want && strcmp(want, hex))
        return gq_fail(err, GQ_ERR_ARG, "%s: sha256 is %s, not %s as when the options were resolved (the file changed)",
                       path, hex, want);
    return gq_method_opts_set(resolved, key, hex, err);
}

gq_status gq_method_resolve(const gq_method *m, const gq_method_opts *user, gq_method_opts *resolved, gq_err *err) {
    memset(resolved, 0, sizeof *resolved);
    for (int i = 0; user && i < user->n; i++) {
        int known = 0;
        for (const gq_method_opt *d = m->opts; d && d->key; d++)
            known |= !strcmp(d->key, user->key[i]) || is_sha_of(d, user->key[i]);
        if (!known) {
            char list[256] = "";
            for (const gq_method_opt *d = m->opts; d && d->key; d++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", d->key);
            return gq_fail(err, GQ_ERR_ARG, "method %s: unknown option '%s' (known: %s)", m->name, user->key[i],
                           list[0] ? list : "none");
        }
    }
    for (const gq_method_opt *d = m->opts; d && d->key; d++) {
        const char *v = user ? gq_method_opt_str(user, d->key) : NULL;
        gq_status st = gq_method_opts_set(resolved, d->key, v ? v : d->def, err);
        if (st != GQ_OK) return st;
        int64_t iv;
        double dv;
        int bv;
        switch (d->type) {
        case GQ_OPT_INT: st = gq_method_opt_int(resolved, d->key, &iv, err); break;
        case GQ_OPT_DOUBLE: st = gq_method_opt_double(resolved, d->key, &dv, err); break;
        case GQ_OPT_BOOL: st = gq_method_opt_bool(resolved, d->key, &bv, err); break;
        case GQ_OPT_CHOICE:
            if (!is_choice(d->choices, gq_method_opt_str(resolved, d->key)))
                st = gq_fail(err, GQ_ERR_ARG, "method %s: option '%s' = '%s': expected one of %s", m->name, d->key,
                             gq_method_opt_str(resolved, d->key), d->choices);
            break;
        case GQ_OPT_FILE: st = resolve_file(d, user, resolved, err); break;
        }
        if (st != GQ_OK) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            return gq_fail(err, st, "method %s: %s", m->name, msg);
        }
    }
    return GQ_OK;
}

void gq_method_opts_str(const gq_method_opts *o, char *buf, size_t n) {
    size_t used = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; i < o->n && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s=%s", i ? "," : "", o->key[i], o->value[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

gq_status gq_method_apply_matrix(const gq_method *m, const gq_method_args *a, int64_t k, float *out, uint8_t *mask,
                                 gq_method_applied *res, gq_err *err) {
    if (!m->apply) return gq_fail(err, GQ_ERR_ARG, "method %s has no apply hook", m->name);
    if (m->needs_calibration && !a->stats)
        return gq_fail(err, GQ_ERR_ARG, "method %s: layer %d %s: calibration statistics are required", m->name,
                       a->layer, gq_lin_name(a->family, a->kind));
    double *state = NULL;
    size_t n = 0;
    gq_status st = m->prepare ? m->prepare(a, &state, &n, err) : GQ_OK;
    gq_quantize_ctx qc = {a->quant, NULL, 0, 0};
    gq_quantize_fn qz = {gq_quantize_algo, &qc};
    if (st == GQ_OK) st = m->apply(a, state, n, k, &qz, out, mask, res, err);
    free(state);
    return st;
}

gq_status gq_method_score_matrix(const gq_method *m, const gq_method_args *a, float *score, gq_err *err) {
    double *state = NULL;
    size_t n = 0;
    if (m->score_all)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "method %s scores whole models only (use a session)", m->name);
    if (!m->score) { /* a method that protects nothing ranks every weight equally */
        memset(score, 0, (size_t)a->rows * a->cols * sizeof *score);
        return GQ_OK;
    }
    if (m->needs_calibration && !a->stats)
        return gq_fail(err, GQ_ERR_ARG, "method %s: layer %d %s: calibration statistics are required", m->name,
                       a->layer, gq_lin_name(a->family, a->kind));
    if (m->prepare) {
        gq_status st = m->prepare(a, &state, &n, err);
        if (st != GQ_OK) return st;
    }
    gq_status st = m->score(a, state, n, score, err);
    free(state);
    return st;
}
