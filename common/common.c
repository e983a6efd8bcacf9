/* common: see common.h. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <math.h>

const char *gq_status_str(gq_status s) {
    switch (s) {
    case GQ_OK: return "ok";
    case GQ_ERR_IO: return "i/o error";
    case GQ_ERR_FORMAT: return "bad format";
    case GQ_ERR_SHAPE: return "shape mismatch";
    case GQ_ERR_UTF8: return "invalid UTF-8";
    case GQ_ERR_ARG: return "invalid argument";
    case GQ_ERR_UNSUPPORTED: return "unsupported";
    case GQ_ERR_NOMEM: return "out of memory";
    case GQ_ERR_INTERRUPTED: return "interrupted";
    case GQ_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

gq_status gq_fail(gq_err *err, gq_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* Messages quote names from untrusted files (tensor names, JSON strings): control
         * characters there would break the one-line promise or the terminal. */
        for (char *c = err->msg; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    }
    return status;
}

/* The one piece of global mutable state: how much the logger prints. Set once by the
 * CLI from --quiet/--verbose before any work starts. */
static gq_log_level g_log_level = GQ_LOG_INFO;

void gq_log_set_level(gq_log_level level) { g_log_level = level; }
gq_log_level gq_log_get_level(void) { return g_log_level; }

void gq_log(gq_log_level level, const char *fmt, ...) {
    if (level > g_log_level) return;
    va_list ap;
    va_start(ap, fmt);
    fputs(level == GQ_LOG_WARN ? "glueq: warning: " : "glueq: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *gq_malloc_array(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    return malloc(n && size ? n * size : 1);
}

void *gq_calloc_array(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

char *gq_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

typedef struct {
    const void *key;
    size_t len;
    int pos;
    uint64_t *compares; /* in each item: qsort passes no context to the comparison */
} repeat_item;

/* By length, bytes, then position: equal keys end up side by side, earliest first. */
static int cmp_repeat(const void *a, const void *b) {
    const repeat_item *x = a, *y = b;
    if (x->compares) ++*x->compares;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    int c = x->len ? memcmp(x->key, y->key, x->len) : 0;
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int same_key(const repeat_item *x, const repeat_item *y) {
    return x->len == y->len && (!x->len || memcmp(x->key, y->key, x->len) == 0);
}

int gq_mark_repeats(int n, gq_key_fn key, const void *ctx, int *first, uint64_t *compares) {
    repeat_item *v = gq_malloc_array(n > 0 ? (size_t)n : 1, sizeof *v);
    if (!v) return -1;
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const void *k = key(ctx, i, &len);
        v[i] = (repeat_item){k, len, i, compares};
    }
    qsort(v, (size_t)n, sizeof *v, cmp_repeat);
    for (int g = 0, i = 0; i < n; i++) {
        if (!same_key(&v[g], &v[i])) g = i;
        first[v[i].pos] = v[g].pos;
    }
    free(v);
    return 0;
}

int gq_first_repeat(int n, gq_key_fn key, const void *ctx, int *earlier, uint64_t *compares) {
    int *first = gq_malloc_array(n > 0 ? (size_t)n : 1, sizeof *first), found = -1;
    if (!first || gq_mark_repeats(n, key, ctx, first, compares) != 0) {
        free(first);
        return -2;
    }
    for (int i = 0; i < n && found < 0; i++)
        if (first[i] != i) found = i, *earlier = first[i];
    free(first);
    return found;
}

gq_status gq_read_file(const char *path, size_t max_bytes, char **out, size_t *len, gq_err *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return gq_fail(err, GQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return gq_fail(err, GQ_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    if (max_bytes && n > max_bytes) {
        fclose(f);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: file is %zu bytes, more than the %zu allowed", path, n,
                       max_bytes);
    }
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(buf);
        return gq_fail(err, GQ_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return GQ_OK;
}

/* Checks the bytes just read, p[0..n), against the line limits; *lines (lines begun) and
 * *line_len (bytes of the current line so far) carry over from one chunk to the next. */
static gq_status check_lines(const char *path, const gq_text_limits *lim, const char *p, size_t n, size_t *lines,
                             size_t *line_len, gq_err *err) {
    const char *end = p + n;
    while (p < end) {
        if (*line_len == 0 && ++*lines > lim->max_lines && lim->max_lines)
            return gq_fail(err, GQ_ERR_FORMAT, "%s: more than %zu lines, the limit for this file", path,
                           lim->max_lines);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        *line_len += (size_t)((nl ? nl : end) - p);
        if (lim->max_line_bytes && *line_len > lim->max_line_bytes)
            return gq_fail(err, GQ_ERR_FORMAT, "%s: line %zu is longer than %zu bytes, the limit for this file", path,
                           *lines, lim->max_line_bytes);
        if (!nl) break;
        *line_len = 0;
        p = nl + 1;
    }
    return GQ_OK;
}

gq_status gq_read_text(const char *path, const gq_text_limits *lim, char **out, size_t *len, gq_err *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return gq_fail(err, GQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
        fclose(f);
        return gq_fail(err, GQ_ERR_IO, "%s: not a regular file or a pipe", path);
    }
    if (lim->max_bytes && S_ISREG(st.st_mode) && (uint64_t)st.st_size > lim->max_bytes) {
        fclose(f);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: file is %lld bytes, more than the limit of %zu", path,
                       (long long)st.st_size, lim->max_bytes);
    }
    /* Grown as the file is read, never from its claimed size, so that the limits are
     * checked before the memory is spent. */
    size_t cap = 1 << 16, n = 0, lines = 0, line_len = 0;
    char *buf = malloc(cap);
    gq_status s = buf ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    while (s == GQ_OK) {
        if (cap - n < (1 << 15) + 1) {
            char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                s = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory after %zu bytes", path, n);
                break;
            }
            buf = grown, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) {
            if (ferror(f)) s = gq_fail(err, GQ_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (lim->max_bytes && got > lim->max_bytes - n) {
            s = gq_fail(err, GQ_ERR_FORMAT, "%s: more than %zu bytes, the limit for this file", path, lim->max_bytes);
            break;
        }
        s = check_lines(path, lim, buf + n, got, &lines, &line_len, err);
        n += got;
    }
    fclose(f);
    if (s != GQ_OK) {
        free(buf);
        return s;
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return GQ_OK;
}

int gq_file_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int gq_dir_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *gq_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + slash + lb + 1);
    if (!p) return NULL;
    memcpy(p, a, la);
    if (slash) p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

const char *gq_basename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* fsyncs the directory holding path, so that a rename into it lasts; buf (room for path)
 * is where its name is made, so that this step cannot run out of memory. */
static void fsync_dir_of(const char *path, char *buf) {
    memcpy(buf, path, strlen(path) + 1);
    char *slash = strrchr(buf, '/');
    if (slash) *slash = '\0';
    int fd = open(slash ? (buf[0] ? buf : "/") : ".", O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

gq_status gq_write_file_atomic(const char *path, const void *data, size_t len, gq_err *err) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        gq_status s = gq_fail(err, GQ_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
    int ok = left == 0 && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        gq_status s = gq_fail(err, GQ_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    fsync_dir_of(path, tmp);
    free(tmp);
    return GQ_OK;
}

gq_status gq_mkdirs(const char *path, gq_err *err) {
    char *p = gq_strdup(path);
    if (!p) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                gq_status st = gq_fail(err, GQ_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return st;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    free(p);
    if (!gq_dir_exists(path)) return gq_fail(err, GQ_ERR_IO, "%s: not a directory", path);
    return GQ_OK;
}



char *gq_find_asset(const char *flag, const char *env_var, const char *assets_rel) {
    if (flag) return gq_strdup(flag); /* an explicit flag is never second-guessed */
    const char *v = env_var ? getenv(env_var) : NULL;
    if (v && *v) return gq_strdup(v);
    struct stat st;
    const char *assets = getenv("GLUEQ_ASSETS");
    char *p;
    if (assets && *assets) {
        p = gq_path_join(assets, assets_rel);
        if (p && stat(p, &st) == 0) return p;
        free(p);
    }
    const char *roots[] = {"../shared/assets", GQ_SOURCE_DIR "/../shared/assets"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        p = gq_path_join(roots[i], assets_rel);
        if (p && stat(p, &st) == 0) return p;
        free(p);
    }
    return NULL;
}

/* ---- RNG ---- */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void gq_rng_seed(gq_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gq_rng_next(gq_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return result;
}

double gq_rng_uniform(gq_rng *r) { return (double)(gq_rng_next(r) >> 11) * 0x1.0p-53; }

float gq_rng_normal(gq_rng *r) {
    double u1 = gq_rng_uniform(r), u2 = gq_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t gq_rng_below(gq_rng *r, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = gq_rng_next(r);
    while (x >= limit);
    return x % n;
}

double gq_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
