/* session: the FP32 copy of a model's quantizable matrices, the method scores computed
 * from it, the on-disk cache of methods' prepared states, and applying a budget.
 *
 * Cache file (one per method, options, checkpoint and calibration; native byte order,
 * i.e. little-endian on every machine we run on):
 *   "GQQSTATE" | u32 version | u32 key_len | key | u32 n_mats | u64 n[n_mats]
 *   | double state[Σ n] | sha256 of all preceding bytes (32 bytes)
 * The key (text) names everything the states depend on; a file whose key, size or
 * checksum does not match is ignored with a warning and rebuilt.
 */
#include "quant_internal.h"

#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define CACHE_MAGIC "GQQSTATE"
#define CACHE_VERSION 1u

struct gq_quant_session {
    gq_encoder *m;
    int n_mats;
    int rows[GQ_QUANT_MAX_MATS], cols[GQ_QUANT_MAX_MATS];
    int64_t off[GQ_QUANT_MAX_MATS + 1]; /* offsets of each matrix in fp32 */
    float *fp32;                        /* (off[n_mats]) the saved FP32 weights */
    char model_id[65];                  /* checkpoint sha256, or a hash of the matrices */
    char *cache_dir;
    char *calib_key;
    gq_quant_calib_fn calib_run;
    void *calib_ctx;
    void (*calib_ctx_free)(void *); /* NULL: calib_ctx belongs to the caller */
    gq_quant_calib *calib; /* captured on first need */
    gq_factor_cache *factors; /* the algorithms' factors of calib's statistics */
    gq_quant_times times;  /* seconds spent so far, by stage */
    int threads;           /* of the pool: 0 = all cores */
    gq_pool *pool;         /* started on first use */
    /* what the last successful gq_quant_apply applied (taken from its pass; restore keeps it) */
    uint8_t *mask;                      /* (off[n_mats]) protected sets; NULL before */
    uint8_t rotated[GQ_QUANT_MAX_MATS]; /* matrix i's mask is over a transform of W */
};

struct gq_quant_scores {
    const gq_method *method;
    gq_method_opts opts; /* resolved */
    int n_mats;
    int64_t off[GQ_QUANT_MAX_MATS + 1];
    float *data; /* (off[n_mats]); NULL for methods that protect nothing or have apply */
    double *states[GQ_QUANT_MAX_MATS]; /* prepared states, kept for methods with apply */
    size_t nstate[GQ_QUANT_MAX_MATS];
};

static gq_linear *mat(const gq_quant_session *s, int idx) {
    return &s->m->layers[idx / GQ_LIN_COUNT].lin[idx % GQ_LIN_COUNT];
}

gq_status gq_quant_session_new(gq_encoder *m, const char *cache_dir, gq_quant_session **out, gq_err *err) {
    *out = NULL;
    int nl = m->cfg.n_layers;
    if (nl <= 0 || nl * GQ_LIN_COUNT > GQ_QUANT_MAX_MATS)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "quant: %d layers (at most %d supported)", nl,
                       GQ_QUANT_MAX_MATS / GQ_LIN_COUNT);
    gq_quant_session *s = calloc(1, sizeof *s);
    if (!s) return gq_fail(err, GQ_ERR_NOMEM, "quant: out of memory");
    s->m = m;
    s->n_mats = nl * GQ_LIN_COUNT;
    for (int i = 0; i < s->n_mats; i++) {
        const gq_linear *l = mat(s, i);
        if (!l->w || l->out <= 0 || l->in <= 0) {
            gq_quant_session_free(s);
            return gq_fail(err, GQ_ERR_SHAPE, "quant: layer %d %s: no weights", i / GQ_LIN_COUNT,
                           gq_lin_name(m->cfg.family, (gq_lin_kind)(i % GQ_LIN_COUNT)));
        }
        s->rows[i] = l->out, s->cols[i] = l->in;
        s->off[i + 1] = s->off[i] + (int64_t)l->out * l->in;
    }
    s->fp32 = gq_malloc_array((size_t)s->off[s->n_mats], sizeof *s->fp32);
    s->factors = gq_factor_cache_new(GQ_FACTOR_CACHE_DEFAULT);
    if (!s->fp32 || !s->factors) {
        long long n = (long long)s->off[s->n_mats];
        gq_quant_session_free(s);
        return gq_fail(err, GQ_ERR_NOMEM, "quant: cannot copy %lld weights", n);
    }
    for (int i = 0; i < s->n_mats; i++)
        memcpy(s->fp32 + s->off[i], mat(s, i)->w, (size_t)(s->off[i + 1] - s->off[i]) * sizeof(float));
    if (m->sha256[0]) {
        snprintf(s->model_id, sizeof s->model_id, "%s", m->sha256);
    } else { /* a model built in memory: identify it by its matrices */
        gq_sha256_hex(s->fp32, (size_t)s->off[s->n_mats] * sizeof(float), s->model_id);
    }
    if (cache_dir) {
        gq_status st = gq_mkdirs(cache_dir, err);
        if (st == GQ_OK && !(s->cache_dir = gq_strdup(cache_dir)))
            st = gq_fail(err, GQ_ERR_NOMEM, "quant: out of memory");
        if (st != GQ_OK) {
            gq_quant_session_free(s);
            return st;
        }
    }
    *out = s;
    return GQ_OK;
}

void gq_quant_session_free(gq_quant_session *s) {
    if (!s) return;
    free(s->fp32);
    free(s->mask);
    free(s->cache_dir);
    free(s->calib_key);
    if (s->calib_ctx_free) s->calib_ctx_free(s->calib_ctx);
    gq_quant_calib_free(s->calib);
    gq_factor_cache_free(s->factors);
    gq_pool_free(s->pool);
    free(s);
}

void gq_quant_session_set_factor_cache(gq_quant_session *s, size_t bytes) {
    gq_factor_cache_set_bound(s->factors, bytes);
}

size_t gq_quant_session_factor_bytes(const gq_quant_session *s) { return gq_factor_cache_bytes(s->factors); }

/* Forgets the calibration statistics and, with them, every factor computed from them. */
static void drop_calibration(gq_quant_session *s) {
    gq_quant_calib_free(s->calib);
    s->calib = NULL;
    gq_factor_cache_clear(s->factors);
}

void gq_quant_session_set_threads(gq_quant_session *s, int threads) {
    if (threads == s->threads) return;
    gq_pool_free(s->pool);
    s->pool = NULL, s->threads = threads;
}

static gq_status for_each_matrix(gq_quant_session *s, int n, gq_pool_task fn, void *ctx, gq_err *err);

static gq_status restore_one(void *ctx, int i, gq_err *err) {
    gq_quant_session *s = ctx;
    memcpy(mat(s, i)->w, s->fp32 + s->off[i], (size_t)(s->off[i + 1] - s->off[i]) * sizeof(float));
    mat(s, i)->version++; /* a runner's device copy is stale now */
    return GQ_OK;
}

/* The matrices in parallel (a copy of the model's size is bound by memory bandwidth, which
 * one core does not fill); one at a time when the session's threads cannot start. */
void gq_quant_session_restore(gq_quant_session *s) {
    double t0 = gq_now();
    if (for_each_matrix(s, s->n_mats, restore_one, s, NULL) != GQ_OK)
        for (int i = 0; i < s->n_mats; i++) restore_one(s, i, NULL);
    s->times.restore += gq_now() - t0;
}

const gq_quant_times *gq_quant_session_times(const gq_quant_session *s) { return &s->times; }

const float *gq_quant_session_fp32(const gq_quant_session *s, int idx, int *rows, int *cols) {
    if (idx < 0 || idx >= s->n_mats) return NULL;
    if (rows) *rows = s->rows[idx];
    if (cols) *cols = s->cols[idx];
    return s->fp32 + s->off[idx];
}

int gq_quant_session_n_mats(const gq_quant_session *s) { return s->n_mats; }

const uint8_t *gq_quant_session_mask(const gq_quant_session *s, int idx) {
    return s->mask && idx >= 0 && idx < s->n_mats ? s->mask + s->off[idx] : NULL;
}

void gq_quant_session_set_calibration(gq_quant_session *s, const char *calib_key, gq_quant_calib_fn run,
                                      void *ctx) {
    gq_quant_session_own_calibration(s, calib_key, run, ctx, NULL);
}

void gq_quant_session_own_calibration(gq_quant_session *s, const char *calib_key, gq_quant_calib_fn run, void *ctx,
                                      void (*ctx_free)(void *)) {
    if (s->calib_ctx_free && s->calib_ctx != ctx) s->calib_ctx_free(s->calib_ctx);
    free(s->calib_key);
    s->calib_key = gq_strdup(calib_key);
    s->calib_run = run, s->calib_ctx = ctx, s->calib_ctx_free = ctx_free;
    drop_calibration(s); /* statistics of earlier data must not be reused */
}

/* Fails unless calibration data was declared and its key could be kept; `who` names what
 * needs the data ("method spqr", "quantizer gptq") in messages. */
static gq_status calibration_declared(const gq_quant_session *s, const char *who, gq_err *err) {
    if (!s->calib_run) return gq_fail(err, GQ_ERR_ARG, "%s needs calibration data, and none was given", who);
    if (!s->calib_key) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for the calibration key", who);
    return GQ_OK;
}

/* Runs the calibration's forwards into c, counting their time. */
static gq_status run_calibration(gq_quant_session *s, gq_quant_calib *c, gq_err *err) {
    gq_encoder_hooks hooks;
    gq_quant_calib_hooks(c, &hooks);
    double t0 = gq_now();
    gq_status st = s->calib_run(s->calib_ctx, &hooks, err);
    if (st == GQ_OK) st = gq_quant_calib_status(c, err);
    double stats = gq_quant_calib_seconds(c);
    s->times.calib_stats += stats;
    s->times.calib_forward += gq_now() - t0 - stats;
    return st;
}

static gq_status ensure_calibration(gq_quant_session *s, const char *who, gq_err *err) {
    if (s->calib) return GQ_OK;
    gq_status st = calibration_declared(s, who, err);
    if (st == GQ_OK) st = gq_quant_calib_new(&s->m->cfg, &s->calib, err);
    if (st != GQ_OK) return st;
    gq_quant_session_restore(s);
    double t0 = gq_now();
    st = run_calibration(s, s->calib, err);
    if (st == GQ_OK && gq_quant_calib_get(s->calib, 0, GQ_LIN_Q)->ntok <= 0)
        st = gq_fail(err, GQ_ERR_ARG, "calibration %s: the forward passes saw no tokens", s->calib_key);
    if (st != GQ_OK) {
        drop_calibration(s);
        return st;
    }
    gq_info("calibration: %lld tokens in %.2f s", (long long)gq_quant_calib_get(s->calib, 0, GQ_LIN_Q)->ntok,
            gq_now() - t0);
    return GQ_OK;
}

/* ---- one task per matrix on the session's threads ----
 * Matrices are independent, and selecting, quantizing and scoring them are memory-bound
 * loops that BLAS does not parallelize for us; prepare (which calls multithreaded BLAS
 * and LAPACK) stays serial so that threads are not nested. The pool starts on first use
 * with the thread count of gq_quant_session_set_threads. */
static gq_status for_each_matrix(gq_quant_session *s, int n, gq_pool_task fn, void *ctx, gq_err *err) {
    if (!s->pool && !(s->pool = gq_pool_new(s->threads)))
        return gq_fail(err, GQ_ERR_NOMEM, "quant: cannot start %d threads", s->threads);
    return gq_pool_for(s->pool, n, fn, ctx, err);
}

/* ---- disk cache of prepared states ---- */

/* Everything a method's prepared states depend on, as text. */
static char *cache_key(const gq_quant_session *s, const gq_method *m, const gq_method_opts *ro) {
    char opts[1024];
    gq_method_opts_str(ro, opts, sizeof opts);
    size_t cap = 512 + strlen(opts) + (s->calib_key ? strlen(s->calib_key) : 0) + (size_t)s->n_mats * 24;
    char *k = malloc(cap);
    if (!k) return NULL;
    int n = snprintf(k, cap, "glueq quant state\nmethod=%s\noptions=%s\nmodel=%s\ncalibration=%s\nshapes=", m->name,
                     opts, s->model_id, m->needs_calibration && s->calib_key ? s->calib_key : "none");
    for (int i = 0; i < s->n_mats; i++) n += snprintf(k + n, cap - (size_t)n, "%s%dx%d", i ? "," : "", s->rows[i], s->cols[i]);
    return k;
}

static char *cache_path(const gq_quant_session *s, const gq_method *m, const char *key) {
    char hex[65], name[128];
    gq_sha256_hex(key, strlen(key), hex);
    snprintf(name, sizeof name, "%s-%.32s.gqstate", m->name, hex);
    return gq_path_join(s->cache_dir, name);
}

static void put(uint8_t **p, const void *x, size_t n) {
    memcpy(*p, x, n);
    *p += n;
}

static gq_status cache_save(const char *path, const char *key, int n_mats, double *const *st, const size_t *n,
                            gq_err *err) {
    uint32_t ver = CACHE_VERSION, klen = (uint32_t)strlen(key), nm = (uint32_t)n_mats;
    size_t total = 8 + 4 + 4 + klen + 4 + (size_t)n_mats * 8 + 32;
    for (int i = 0; i < n_mats; i++) total += n[i] * sizeof(double);
    uint8_t *buf = malloc(total), *p = buf;
    if (!buf) return gq_fail(err, GQ_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, total);
    put(&p, CACHE_MAGIC, 8), put(&p, &ver, 4), put(&p, &klen, 4), put(&p, key, klen), put(&p, &nm, 4);
    for (int i = 0; i < n_mats; i++) {
        uint64_t v = n[i];
        put(&p, &v, 8);
    }
    for (int i = 0; i < n_mats; i++) put(&p, st[i], n[i] * sizeof(double));
    gq_sha256 h;
    gq_sha256_init(&h);
    gq_sha256_update(&h, buf, (size_t)(p - buf));
    gq_sha256_final(&h, p);
    gq_status s = gq_write_file_atomic(path, buf, total, err);
    free(buf);
    return s;
}

const char *gq_quant_cache_decode(const uint8_t *b, size_t len, const char *key, int n_mats, double **st, size_t *n) {
    uint32_t ver, klen, nm;
    size_t pos = 16;
    if (len < 16 + 4 + 32 || memcmp(b, CACHE_MAGIC, 8)) return "not a glueq quant cache file";
    memcpy(&ver, b + 8, 4), memcpy(&klen, b + 12, 4);
    if (ver != CACHE_VERSION) return "cache version differs";
    if (klen > len - pos - 4 - 32) return "truncated";
    uint8_t sum[32];
    gq_sha256 h;
    gq_sha256_init(&h);
    gq_sha256_update(&h, b, len - 32);
    gq_sha256_final(&h, sum);
    if (memcmp(sum, b + len - 32, 32) && !GQ_FUZZING) return "checksum mismatch (corrupt or truncated)";
    if (klen != strlen(key) || memcmp(b + pos, key, klen)) return "stale: made for other parameters";
    pos += klen;
    memcpy(&nm, b + pos, 4);
    pos += 4;
    if ((int)nm != n_mats || (len - 32 - pos) / 8 < nm) return "wrong number of matrices";
    size_t data = pos + (size_t)nm * 8, need = 0;
    for (uint32_t i = 0; i < nm; i++) {
        uint64_t v;
        memcpy(&v, b + pos + (size_t)i * 8, 8);
        if (v > (len - 32 - data) / sizeof(double) - need) return "sizes exceed the file";
        n[i] = (size_t)v, need += (size_t)v;
    }
    if (data + need * sizeof(double) != len - 32) return "sizes do not match the file";
    for (int i = 0; i < n_mats; i++) {
        st[i] = gq_malloc_array(n[i] ? n[i] : 1, sizeof(double));
        if (!st[i]) {
            for (int j = 0; j < i; j++) free(st[j]), st[j] = NULL;
            return "out of memory";
        }
        memcpy(st[i], b + data, n[i] * sizeof(double));
        data += n[i] * sizeof(double);
    }
    return NULL;
}

/* Loads the states of path into st/n (each malloc'd). Returns 1 on a hit; 0 on a miss,
 * with a warning unless the file is simply absent. */
static int cache_load(const char *path, const char *key, int n_mats, double **st, size_t *n) {
    if (!gq_file_exists(path)) return 0;
    char *buf = NULL;
    size_t len = 0;
    gq_err e = {{0}};
    if (gq_read_file(path, 0, &buf, &len, &e) != GQ_OK) {
        gq_warn("%s; rebuilding the cache entry", e.msg);
        return 0;
    }
    const char *why = gq_quant_cache_decode((const uint8_t *)buf, len, key, n_mats, st, n);
    free(buf);
    if (why) gq_warn("%s: %s; rebuilding the cache entry", path, why);
    return why == NULL;
}

/* ---- scores ---- */

typedef struct {
    const gq_quant_session *s;
    const gq_method *m;
    const gq_method_args *a; /* shared options */
    double *const *states;
    const size_t *nstate;
    gq_quant_scores *sc;
} score_task;

static gq_status score_one(void *ctx, int i, gq_err *err) {
    const score_task *t = ctx;
    const gq_quant_session *s = t->s;
    gq_method_args a = *t->a;
    a.w = s->fp32 + s->off[i], a.rows = s->rows[i], a.cols = s->cols[i];
    a.layer = i / GQ_LIN_COUNT, a.kind = (gq_lin_kind)(i % GQ_LIN_COUNT);
    a.stats = t->m->needs_calibration && s->calib ? gq_quant_calib_get(s->calib, a.layer, a.kind) : NULL;
    return t->m->score(&a, t->states[i], t->nstate[i], t->sc->data + s->off[i], err);
}

/* An empty scores object of method m under resolved options ro for s's matrices; NULL
 * when out of memory. */
static gq_quant_scores *scores_new(const gq_quant_session *s, const gq_method *m, const gq_method_opts *ro) {
    gq_quant_scores *sc = calloc(1, sizeof *sc);
    if (!sc) return NULL;
    sc->method = m, sc->opts = *ro, sc->n_mats = s->n_mats;
    memcpy(sc->off, s->off, sizeof sc->off);
    return sc;
}

/* The per-matrix states of method m with resolved options ro: from the disk cache when it
 * holds them, else prepared (on the calibration statistics when m needs them) and cached.
 * states[i] (nstate[i] doubles) are malloc'd; the caller frees them, also on failure. */
static gq_status method_states(gq_quant_session *s, const gq_method *m, const gq_method_opts *ro,
                               const gq_quant_opts *q, double **states, size_t *nstate, gq_err *err) {
    char *key = NULL, *path = NULL;
    if (s->cache_dir && (!(key = cache_key(s, m, ro)) || !(path = cache_path(s, m, key)))) {
        free(key);
        return gq_fail(err, GQ_ERR_NOMEM, "method %s: out of memory for its cache key", m->name);
    }
    gq_status st = GQ_OK;
    if (!path || !cache_load(path, key, s->n_mats, states, nstate)) {
        char who[64];
        snprintf(who, sizeof who, "method %s", m->name);
        if (m->needs_calibration) st = ensure_calibration(s, who, err);
        gq_method_args a = {.family = s->m->cfg.family, .opts = ro, .quant = q};
        double t0 = gq_now();
        for (int i = 0; i < s->n_mats && st == GQ_OK; i++) {
            a.w = s->fp32 + s->off[i], a.rows = s->rows[i], a.cols = s->cols[i];
            a.layer = i / GQ_LIN_COUNT, a.kind = (gq_lin_kind)(i % GQ_LIN_COUNT);
            a.stats = m->needs_calibration ? gq_quant_calib_get(s->calib, a.layer, a.kind) : NULL;
            st = m->prepare(&a, &states[i], &nstate[i], err);
        }
        if (st == GQ_OK) gq_info("method %s: prepared %d matrices in %.2f s", m->name, s->n_mats, gq_now() - t0);
        gq_err e = {{0}};
        if (st == GQ_OK && path && cache_save(path, key, s->n_mats, states, nstate, &e) != GQ_OK)
            gq_warn("%s (continuing without caching)", e.msg);
    }
    free(key), free(path);
    return st;
}

/* Fills sc with method m's scores (or, for a method that transforms the weights, keeps
 * its states in sc for applying). */
static gq_status compute_scores(gq_quant_session *s, const gq_method *m, const gq_method_opts *ro,
                                const gq_quant_opts *q, gq_quant_scores *sc, gq_err *err) {
    if (!m->apply && !(sc->data = gq_malloc_array((size_t)s->off[s->n_mats], sizeof *sc->data)))
        return gq_fail(err, GQ_ERR_NOMEM, "method %s: cannot allocate %lld scores", m->name,
                       (long long)s->off[s->n_mats]);
    if (m->score_all) {
        gq_method_model mm = {s->n_mats, s->m->cfg.family, s->rows, s->cols, s->off, ro};
        return m->score_all(&mm, sc->data, err);
    }
    double *states[GQ_QUANT_MAX_MATS] = {0};
    size_t nstate[GQ_QUANT_MAX_MATS] = {0};
    gq_status st = m->prepare ? method_states(s, m, ro, q, states, nstate, err) : GQ_OK;
    if (st == GQ_OK && m->apply) { /* the states are what apply needs: the scores object keeps them */
        memcpy(sc->states, states, sizeof states);
        memcpy(sc->nstate, nstate, sizeof nstate);
        memset(states, 0, sizeof states);
    } else if (st == GQ_OK) {
        gq_method_args a = {.family = s->m->cfg.family, .opts = ro, .quant = q};
        score_task task = {s, m, &a, states, nstate, sc};
        st = for_each_matrix(s, s->n_mats, score_one, &task, err);
    }
    for (int i = 0; i < s->n_mats; i++) free(states[i]);
    return st;
}

gq_status gq_quant_scores_compute(gq_quant_session *s, const char *name, const gq_method_opts *mo,
                                  const gq_quant_opts *q, gq_quant_scores **out, gq_err *err) {
    *out = NULL;
    const gq_method *m = gq_method_find(name);
    if (!m) {
        char list[256];
        gq_method_names(list, sizeof list);
        return gq_fail(err, GQ_ERR_ARG, "unknown method '%s' (known: %s)", name ? name : "", list);
    }
    gq_method_opts ro;
    gq_status st = gq_method_resolve(m, mo, &ro, err);
    if (st == GQ_OK) st = gq_quant_opts_check(q, err);
    if (st != GQ_OK) return st;
    gq_quant_scores *sc = scores_new(s, m, &ro);
    if (!sc) return gq_fail(err, GQ_ERR_NOMEM, "method %s: out of memory", name);
    if ((m->score || m->score_all || m->apply) && (st = compute_scores(s, m, &ro, q, sc, err)) != GQ_OK) {
        gq_quant_scores_free(sc);
        return st;
    }
    *out = sc;
    return GQ_OK;
}

/* The resolved options of scores given in memory: each file option names the tensors'
 * source and its KEY_sha256 is the hash of the checked scores; the others take their
 * defaults. */
static gq_status given_opts(const gq_method *m, const gq_ckpt *tensors, const char *hex, gq_method_opts *ro,
                            gq_err *err) {
    memset(ro, 0, sizeof *ro);
    gq_status st = GQ_OK;
    for (const gq_method_opt *d = m->opts; d && d->key && st == GQ_OK; d++) {
        char key[64];
        st = gq_method_opts_set(ro, d->key, d->type == GQ_OPT_FILE ? tensors->path : d->def, err);
        snprintf(key, sizeof key, "%s_sha256", d->key);
        if (st == GQ_OK && d->type == GQ_OPT_FILE) st = gq_method_opts_set(ro, key, hex, err);
    }
    return st;
}

gq_status gq_quant_scores_given(gq_quant_session *s, const char *name, const gq_ckpt *tensors,
                                gq_quant_scores **out, gq_err *err) {
    *out = NULL;
    const gq_method *m = gq_method_find(name);
    if (!m || !m->score_tensors)
        return gq_fail(err, GQ_ERR_ARG, "method %s does not take scores in memory (external does)", name ? name : "");
    gq_method_opts none = {0};
    gq_quant_scores *sc = scores_new(s, m, &none);
    size_t n = (size_t)s->off[s->n_mats];
    if (sc) sc->data = gq_malloc_array(n, sizeof *sc->data);
    gq_status st = sc && sc->data ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "method %s: cannot allocate %zu scores", name, n);
    gq_method_model mm = {s->n_mats, s->m->cfg.family, s->rows, s->cols, s->off, &none};
    if (st == GQ_OK) st = m->score_tensors(&mm, tensors, sc->data, err);
    if (st == GQ_OK) {
        char hex[65];
        gq_sha256_hex(sc->data, n * sizeof *sc->data, hex);
        st = given_opts(m, tensors, hex, &sc->opts, err);
    }
    if (st != GQ_OK) {
        gq_quant_scores_free(sc);
        return st;
    }
    *out = sc;
    return GQ_OK;
}

void gq_quant_scores_free(gq_quant_scores *sc) {
    if (!sc) return;
    for (int i = 0; i < sc->n_mats; i++) free(sc->states[i]);
    free(sc->data);
    free(sc);
}

const float *gq_quant_scores_get(const gq_quant_scores *sc, int idx) {
    if (!sc || !sc->data || idx < 0 || idx >= sc->n_mats) return NULL;
    return sc->data + sc->off[idx];
}

/* ---- applying ---- */

typedef struct {
    const gq_quant_session *s;
    const gq_quant_scores *sc;
    const gq_quant_budget *b;
    uint8_t *mask;
} select_task;

static gq_status select_one(void *ctx, int i, gq_err *err) {
    const select_task *t = ctx;
    int64_t n = t->s->off[i + 1] - t->s->off[i];
    return gq_quant_topk(t->sc->data + t->s->off[i], n, gq_quant_budget_k(t->b, n), t->mask + t->s->off[i], err);
}

/* Fills mask (off[n_mats] bytes, laid out like fp32) with the protected sets of sc under
 * budget b, and counts them per matrix. */
static gq_status select_masks(gq_quant_session *s, const gq_quant_scores *sc, const gq_quant_budget *b,
                              uint8_t *mask, int64_t *count, gq_err *err) {
    if (sc && (sc->n_mats != s->n_mats || memcmp(sc->off, s->off, sizeof s->off)))
        return gq_fail(err, GQ_ERR_ARG, "quant: the scores were computed for another model");
    if (sc && sc->method->apply)
        return gq_fail(err, GQ_ERR_ARG, "method %s transforms the weights: it has no per-weight scores to select or "
                                        "compare (no global budget, no overlap)", sc->method->name);
    memset(mask, 0, (size_t)s->off[s->n_mats]);
    for (int i = 0; i < s->n_mats; i++) count[i] = 0;
    if (!sc || !sc->data || !b) return GQ_OK;
    gq_status st = GQ_OK;
    if (b->global) {
        int64_t all = s->off[s->n_mats];
        int64_t k = b->p >= 0 ? gq_quant_budget_k(b, all) : b->k * s->n_mats;
        if (k < 0) k = 0;
        if (k > all) k = all;
        const float *scores[GQ_QUANT_MAX_MATS];
        int64_t n[GQ_QUANT_MAX_MATS];
        uint8_t *masks[GQ_QUANT_MAX_MATS];
        for (int i = 0; i < s->n_mats; i++)
            scores[i] = sc->data + s->off[i], n[i] = s->off[i + 1] - s->off[i], masks[i] = mask + s->off[i];
        st = gq_quant_topk_global(scores, n, s->n_mats, k, masks, err);
    } else {
        select_task task = {s, sc, b, mask};
        st = for_each_matrix(s, s->n_mats, select_one, &task, err);
    }
    for (int i = 0; i < s->n_mats; i++)
        for (int64_t j = s->off[i]; j < s->off[i + 1]; j++) count[i] += mask[j];
    return st;
}

/* ---- one quantization pass: select -> calibrate -> quantize -> check -> report ----
 * A pass owns everything it decides: the protected sets it applies, their counts and the
 * figures of each matrix. Nothing that runs between its steps (a restore of the FP32
 * weights, a calibration forward) can change what it applies or what it reports, and the
 * session keeps a pass's mask only by taking it once the whole pass has succeeded. */
typedef struct {
    gq_quant_session *s;
    const gq_quant_scores *sc;          /* NULL: nothing protected */
    const gq_quant_opts *q;
    const gq_quant_budget *b;           /* NULL: k = 0 */
    int transformed;                    /* sc's method has an apply hook: it selects and quantizes */
    uint8_t *mask;                      /* (off[n_mats]) the protected sets applied */
    uint8_t rotated[GQ_QUANT_MAX_MATS]; /* matrix i's mask is over a transform of W */
    int64_t count[GQ_QUANT_MAX_MATS];   /* protected weights chosen for matrix i */
    double bits[GQ_QUANT_MAX_MATS];     /* a transforming method's effective bits */
    double sq_err[GQ_QUANT_MAX_MATS], awq_alpha[GQ_QUANT_MAX_MATS];
    gq_quant_scores *sarqc;             /* SARQC's S (NULL: S = 1) */
    const gq_quant_calib *calib;        /* the algorithm's statistics in use (NULL for rtn) */
    int order[GQ_QUANT_MAX_MATS];       /* quantize task -> matrix index */
} quant_pass;

/* A pass of sc under q and b (borrowed: they must outlive it), refusing what a
 * transforming method cannot do. *out (with mask and sarqc) is the caller's: pass_free. */
static gq_status pass_new(gq_quant_session *s, const gq_quant_scores *sc, const gq_quant_opts *q,
                          const gq_quant_budget *b, quant_pass **out, gq_err *err) {
    *out = NULL;
    int transformed = sc && sc->method->apply;
    if (transformed && q->calib_from_quantized)
        return gq_fail(err, GQ_ERR_ARG, "method %s: calibration from quantized is not supported (its transform is "
                                        "prepared from FP32 activations)", sc->method->name);
    if (transformed && q->sarqc_lambda > 0 && strcmp(q->sarqc_saliency, "none"))
        return gq_fail(err, GQ_ERR_ARG, "method %s: SARQC saliency %s scores the original basis, not the method's; "
                                        "use saliency none", sc->method->name, q->sarqc_saliency);
    if (transformed && b && b->global)
        return gq_fail(err, GQ_ERR_ARG, "method %s: only per-matrix budgets are supported (not global)",
                       sc->method->name);
    quant_pass *p = calloc(1, sizeof *p);
    uint8_t *mask = gq_calloc_array((size_t)s->off[s->n_mats], 1);
    if (!p || !mask) {
        free(p), free(mask);
        return gq_fail(err, GQ_ERR_NOMEM, "quant: cannot allocate the protection mask");
    }
    p->s = s, p->sc = sc, p->q = q, p->b = b, p->transformed = transformed, p->mask = mask;
    *out = p;
    return GQ_OK;
}

static void pass_free(quant_pass *p) {
    if (!p) return;
    gq_quant_scores_free(p->sarqc);
    free(p->mask);
    free(p);
}

/* select: the protected sets of sc under the budget (a transforming method chooses its
 * own while it quantizes). */
static gq_status pass_select(quant_pass *p, gq_err *err) {
    return p->transformed ? GQ_OK : select_masks(p->s, p->sc, p->b, p->mask, p->count, err);
}

/* The SARQC scores S of q (NULL when λ = 0 or saliency none: S = 1). */
static gq_status sarqc_scores(gq_quant_session *s, const gq_quant_opts *q, gq_quant_scores **out, gq_err *err) {
    *out = NULL;
    if (!(q->sarqc_lambda > 0) || !strcmp(q->sarqc_saliency, "none")) return GQ_OK;
    gq_status st = gq_quant_scores_compute(s, q->sarqc_saliency, NULL, q, out, err);
    if (st == GQ_OK && !(*out)->data) { /* a method that scores nothing: S = 1 */
        gq_quant_scores_free(*out);
        *out = NULL;
    }
    return st;
}

/* calibrate: SARQC's scores and a calibrated algorithm's FP32 statistics (from quantized,
 * each layer's are taken while quantizing). Both may run forwards on the restored FP32
 * model. */
static gq_status pass_calibrate(quant_pass *p, gq_err *err) {
    const gq_quant_opts *q = p->q;
    gq_status st = p->transformed ? GQ_OK : sarqc_scores(p->s, q, &p->sarqc, err);
    if (st != GQ_OK || q->algorithm == GQ_ALGO_RTN || q->calib_from_quantized) return st;
    char who[64];
    snprintf(who, sizeof who, "quantizer %s", gq_quant_algorithm_name(q->algorithm));
    if ((st = ensure_calibration(p->s, who, err)) == GQ_OK) p->calib = p->s->calib;
    return st;
}

static double sq_diff(const float *a, const float *b, int64_t n) {
    double se = 0;
    for (int64_t j = 0; j < n; j++) se += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return se;
}

/* Quantizes matrix order[task] from its FP32 copy into the model under the pass's mask. */
static gq_status quantize_one(void *ctx, int task, gq_err *err) {
    quant_pass *p = ctx;
    const gq_quant_session *s = p->s;
    int i = p->order[task];
    const float *w = s->fp32 + s->off[i];
    float *dst = mat(s, i)->w;
    mat(s, i)->version++; /* a runner's device copy is stale now */
    gq_quant_algo_inputs in = {
        .stats = p->calib ? gq_quant_calib_get(p->calib, i / GQ_LIN_COUNT, (gq_lin_kind)(i % GQ_LIN_COUNT)) : NULL,
        .saliency = p->sarqc ? gq_quant_scores_get(p->sarqc, i) : NULL,
        /* the session's statistics outlive the pass; a from-quantized layer's are its own */
        .factors = p->calib == s->calib ? s->factors : NULL,
        .factor_slot = i};
    gq_quant_algo_info info;
    gq_status st = gq_quant_algo_matrix(p->q, w, s->rows[i], s->cols[i], p->mask + s->off[i], &in, dst, &info, err);
    if (st != GQ_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return gq_fail(err, st, "layer %d %s: %s", i / GQ_LIN_COUNT,
                       gq_lin_name(s->m->cfg.family, (gq_lin_kind)(i % GQ_LIN_COUNT)), msg);
    }
    p->sq_err[i] = sq_diff(dst, w, s->off[i + 1] - s->off[i]), p->awq_alpha[i] = info.awq_alpha;
    return GQ_OK;
}

void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

/* for_each_matrix for tasks that call BLAS: single-threaded BLAS in each, so that the
 * threads are not nested. */
static gq_status for_each_matrix_blas1(gq_quant_session *s, int n, gq_pool_task fn, void *ctx, gq_err *err) {
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    gq_status st = for_each_matrix(s, n, fn, ctx, err);
    openblas_set_num_threads(blas_threads);
    return st;
}

/* Runs quantize_one for n matrices of p->order. A calibrated algorithm's matrix is a few
 * BLAS/LAPACK calls: matrices run in parallel (the largest first, for balance), each with
 * single-threaded BLAS, so that the threads are not nested. */
static gq_status quantize_matrices(quant_pass *p, int n, gq_err *err) {
    if (p->q->algorithm == GQ_ALGO_RTN) return for_each_matrix(p->s, n, quantize_one, p, err);
    return for_each_matrix_blas1(p->s, n, quantize_one, p, err);
}

/* Matrix indices [first, first + n) by descending rows·cols² (an algorithm's cost). */
static void order_by_cost(const gq_quant_session *s, int first, int n, int *order) {
    for (int a = 0; a < n; a++) {
        int i = first + a, b = a;
        double ci = (double)s->rows[i] * s->cols[i] * s->cols[i];
        while (b > 0 && (double)s->rows[order[b - 1]] * s->cols[order[b - 1]] * s->cols[order[b - 1]] < ci) {
            order[b] = order[b - 1];
            b--;
        }
        order[b] = i;
    }
}

/* calibration.from: quantized: layer l's statistics come from a forward of the
 * calibration data through the model whose layers < l are already quantized (layers >= l
 * still FP32). One forward per layer; nothing of it is cached (it depends on every choice
 * made for the earlier layers). */
static gq_status quantize_sequential(quant_pass *p, gq_err *err) {
    gq_quant_session *s = p->s;
    char who[96];
    snprintf(who, sizeof who, "quantizer %s with calibration from quantized", gq_quant_algorithm_name(p->q->algorithm));
    gq_status st = calibration_declared(s, who, err);
    if (st != GQ_OK) return st;
    gq_quant_session_restore(s);
    double t0 = gq_now();
    for (int l = 0; l < s->m->cfg.n_layers && st == GQ_OK; l++) {
        gq_quant_calib *c = NULL;
        if ((st = gq_quant_calib_new_layer(&s->m->cfg, l, &c, err)) != GQ_OK) break;
        st = run_calibration(s, c, err);
        order_by_cost(s, l * GQ_LIN_COUNT, GQ_LIN_COUNT, p->order);
        p->calib = c;
        if (st == GQ_OK) st = quantize_matrices(p, GQ_LIN_COUNT, err);
        gq_quant_calib_free(c);
    }
    p->calib = NULL;
    if (st == GQ_OK)
        gq_info("calibration from quantized: %d layers calibrated in turn in %.2f s", s->m->cfg.n_layers,
                gq_now() - t0);
    return st;
}

/* 1 + the method's place in the registry: distinct per method, so that its basis numbers
 * (times 256) are too. */
static int method_id(const gq_method *m) {
    int i = 0;
    while (gq_methods[i] && gq_methods[i] != m) i++;
    return i + 1;
}

/* Matrix order[task] through the method's apply hook, which chooses the protected set,
 * writes it into the pass's mask and says what it counts and in which basis. */
static gq_status transform_one(void *ctx, int task, gq_err *err) {
    quant_pass *p = ctx;
    gq_quant_session *s = p->s;
    const gq_quant_scores *sc = p->sc;
    int i = p->order[task];
    int64_t n = s->off[i + 1] - s->off[i];
    gq_method_args a = {.family = s->m->cfg.family, .opts = &sc->opts, .quant = p->q, .w = s->fp32 + s->off[i],
                        .rows = s->rows[i], .cols = s->cols[i], .layer = i / GQ_LIN_COUNT,
                        .kind = (gq_lin_kind)(i % GQ_LIN_COUNT)};
    a.stats = sc->method->needs_calibration && s->calib ? gq_quant_calib_get(s->calib, a.layer, a.kind) : NULL;
    gq_quantize_ctx qc = {p->q, s->calib ? s->factors : NULL, i, method_id(sc->method) * 256};
    gq_quantize_fn qz = {gq_quantize_algo, &qc};
    gq_method_applied res = {0};
    float *dst = mat(s, i)->w;
    gq_status st = sc->method->apply(&a, sc->states[i], sc->nstate[i], p->b ? gq_quant_budget_k(p->b, n) : 0, &qz,
                                     dst, p->mask + s->off[i], &res, err);
    if (st != GQ_OK) return st;
    p->count[i] = res.protected_count, p->bits[i] = res.effective_bits, p->rotated[i] = res.rotated != 0;
    p->sq_err[i] = sq_diff(dst, a.w, n);
    return GQ_OK;
}

/* Methods with an apply hook: the matrices in parallel, the largest first, each with
 * single-threaded BLAS (a hook is a few BLAS calls and the algorithm's). */
static gq_status quantize_transformed(quant_pass *p, gq_err *err) {
    gq_quant_session *s = p->s;
    order_by_cost(s, 0, s->n_mats, p->order);
    return for_each_matrix_blas1(s, s->n_mats, transform_one, p, err);
}

/* quantize: writes every matrix of the model from the FP32 copy under the pass's mask. */
static gq_status pass_quantize(quant_pass *p, gq_err *err) {
    gq_quant_session *s = p->s;
    if (p->transformed) return quantize_transformed(p, err);
    if (p->q->calib_from_quantized) return quantize_sequential(p, err);
    if (p->calib) order_by_cost(s, 0, s->n_mats, p->order);
    else
        for (int i = 0; i < s->n_mats; i++) p->order[i] = i;
    return quantize_matrices(p, s->n_mats, err);
}

/* Matrix i of the model against the protected set applied to it: mask (NULL: none) holds
 * `count` weights and, unless it is over a transform of W (the method then checks its own
 * rule: gq_method_applied), each of them equals its FP32 value bit for bit. Otherwise
 * GQ_ERR_INTERNAL naming the matrix: a result would report figures of another model than
 * the one it evaluated. */
static gq_status check_matrix(const gq_quant_session *s, int i, const uint8_t *mask, int rotated, int64_t count,
                              gq_err *err) {
    int64_t n = s->off[i + 1] - s->off[i], kept = 0;
    const float *w = mat(s, i)->w, *fp32 = s->fp32 + s->off[i];
    const char *label = gq_lin_name(s->m->cfg.family, (gq_lin_kind)(i % GQ_LIN_COUNT));
    for (int64_t j = 0; mask && j < n; j++) {
        if (!mask[j]) continue;
        kept++;
        if (!rotated && memcmp(&w[j], &fp32[j], sizeof *w))
            return gq_fail(err, GQ_ERR_INTERNAL,
                           "quant: layer %d %s: protected weight (%lld, %lld) holds %.9g, not its FP32 value %.9g",
                           i / GQ_LIN_COUNT, label, (long long)(j / s->cols[i]), (long long)(j % s->cols[i]), w[j],
                           fp32[j]);
    }
    if (kept != count)
        return gq_fail(err, GQ_ERR_INTERNAL, "quant: layer %d %s: %lld weights are protected, %lld reported",
                       i / GQ_LIN_COUNT, label, (long long)kept, (long long)count);
    return GQ_OK;
}

/* check: in every build, the model holds what the pass will report (one pass over the
 * matrices). */
static gq_status check_one(void *ctx, int i, gq_err *err) {
    const quant_pass *p = ctx;
    return check_matrix(p->s, i, p->mask + p->s->off[i], p->rotated[i], p->count[i], err);
}

static gq_status pass_check(quant_pass *p, gq_err *err) { return for_each_matrix(p->s, p->s->n_mats, check_one, p, err); }

/* report: the figures of the applied pass, each from the mask it applied (whose counts
 * pass_check has confirmed) and the weights it wrote. */
static void pass_report(const quant_pass *p, gq_quant_report *rep) {
    const gq_quant_session *s = p->s;
    memset(rep, 0, sizeof *rep);
    rep->n_mats = s->n_mats;
    if (p->sc) rep->method_opts = p->sc->opts;
    double bits_sum = 0;
    for (int i = 0; i < s->n_mats; i++) {
        int64_t n = s->off[i + 1] - s->off[i];
        rep->numel[i] = n;
        rep->protected_count[i] = p->count[i];
        rep->effective_bits[i] =
            p->transformed ? p->bits[i] : gq_quant_effective_bits(p->q, s->rows[i], s->cols[i], p->count[i]);
        rep->sq_err[i] = p->sq_err[i];
        rep->awq_alpha[i] = p->awq_alpha[i];
        rep->total_numel += n, rep->total_protected += p->count[i];
        bits_sum += rep->effective_bits[i] * (double)n;
    }
    rep->effective_bits_total = bits_sum / (double)rep->total_numel;
}

/* The session takes the mask of a pass that succeeded: it is what the model now holds. */
static void take_mask(gq_quant_session *s, quant_pass *p) {
    free(s->mask);
    s->mask = p->mask, p->mask = NULL;
    memcpy(s->rotated, p->rotated, sizeof s->rotated);
}

gq_status gq_quant_apply(gq_quant_session *s, const gq_quant_scores *sc, const gq_quant_opts *q,
                         const gq_quant_budget *b, gq_quant_report *rep, gq_err *err) {
    gq_status st = gq_quant_opts_check(q, err);
    if (st != GQ_OK) return st;
    quant_pass *p = NULL;
    double t0 = 0;
    st = pass_new(s, sc, q, b, &p, err);
    gq_factor_cache_begin_apply(s->factors);
    if (st == GQ_OK) st = pass_select(p, err);
    if (st == GQ_OK) st = pass_calibrate(p, err);
    if (st == GQ_OK) {
        t0 = gq_now();
        st = pass_quantize(p, err);
    }
    if (st == GQ_OK && q->algorithm != GQ_ALGO_RTN)
        gq_info("quantizer %s: %d matrices in %.2f s", gq_quant_algorithm_name(q->algorithm), s->n_mats, gq_now() - t0);
    if (st == GQ_OK) {
        t0 = gq_now();
        st = pass_check(p, err);
        s->times.check += gq_now() - t0;
    }
    if (st != GQ_OK) {
        pass_free(p);
        gq_quant_session_restore(s); /* never leave a half-quantized model */
        return st;
    }
    /* every path rewrote every matrix (quantize_one bumps early for the sequential forwards) */
    for (int i = 0; i < s->n_mats; i++) mat(s, i)->version++;
    if (rep) pass_report(p, rep);
    take_mask(s, p);
    pass_free(p);
    return GQ_OK;
}

gq_status gq_quant_session_check(const gq_quant_session *s, const gq_quant_report *rep, gq_err *err) {
    if (rep->n_mats != s->n_mats)
        return gq_fail(err, GQ_ERR_INTERNAL, "quant: a report of %d matrices for a model of %d", rep->n_mats,
                       s->n_mats);
    gq_status st = GQ_OK;
    for (int i = 0; i < s->n_mats && st == GQ_OK; i++)
        st = check_matrix(s, i, s->mask ? s->mask + s->off[i] : NULL, s->rotated[i], rep->protected_count[i], err);
    return st;
}

gq_status gq_quant_overlap(gq_quant_session *s, const gq_quant_scores *a, const gq_quant_scores *b,
                           const gq_quant_budget *bud, double *inter, double *jaccard, double *inter_total,
                           double *jaccard_total, gq_err *err) {
    size_t total = (size_t)s->off[s->n_mats];
    uint8_t *ma = gq_malloc_array(total, 1), *mb = gq_malloc_array(total, 1);
    int64_t ca[GQ_QUANT_MAX_MATS], cb[GQ_QUANT_MAX_MATS];
    gq_status st = ma && mb ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "quant: cannot allocate the overlap masks");
    if (st == GQ_OK) st = select_masks(s, a, bud, ma, ca, err);
    if (st == GQ_OK) st = select_masks(s, b, bud, mb, cb, err);
    int64_t ti = 0, ta = 0, tu = 0;
    for (int i = 0; i < s->n_mats && st == GQ_OK; i++) {
        int64_t both = 0;
        for (int64_t j = s->off[i]; j < s->off[i + 1]; j++) both += ma[j] & mb[j];
        int64_t uni = ca[i] + cb[i] - both;
        /* |A∩B|/|A| (|A| = k under per-matrix budgets); empty sets agree only with empty */
        if (inter) inter[i] = ca[i] ? (double)both / (double)ca[i] : (cb[i] == 0);
        if (jaccard) jaccard[i] = uni ? (double)both / (double)uni : 1.0;
        ti += both, ta += ca[i], tu += uni;
    }
    if (st == GQ_OK && inter_total) *inter_total = ta ? (double)ti / (double)ta : (tu == 0);
    if (st == GQ_OK && jaccard_total) *jaccard_total = tu ? (double)ti / (double)tu : 1.0;
    free(ma), free(mb);
    return st;
}
