/* common: status codes, error messages, the logger, hashing, files and small helpers
 * shared by every glueq module.
 *
 * Library functions return a gq_status and, on failure, fill a caller-owned gq_err
 * with one line that names the file, the item and the problem:
 *
 *     gq_err err = {0};
 *     if (gq_ckpt_load(path, &ck, &err) != GQ_OK) fprintf(stderr, "glueq: %s\n", err.msg);
 *
 * The logger's level is the only global mutable state in glueq (see gq_log_set_level).
 */
#ifndef GQ_COMMON_H
#define GQ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* 1 in the fuzzing build (CMake GLUEQ_FUZZ, libFuzzer's standard macro): checksums are
 * computed but not enforced there, so that mutated inputs reach the parsers behind them. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define GQ_FUZZING 1
#else
#define GQ_FUZZING 0
#endif

typedef enum {
    GQ_OK = 0,
    GQ_ERR_IO,          /* a file is missing or cannot be read or written */
    GQ_ERR_FORMAT,      /* a file is corrupt or not in the expected format */
    GQ_ERR_SHAPE,       /* a tensor or matrix has the wrong shape */
    GQ_ERR_UTF8,        /* text is not valid UTF-8 */
    GQ_ERR_ARG,         /* an argument or config value is invalid */
    GQ_ERR_UNSUPPORTED, /* valid input that glueq does not handle */
    GQ_ERR_NOMEM,       /* an allocation failed */
    GQ_ERR_INTERRUPTED, /* stopped on request (SIGINT/SIGTERM) */
    GQ_ERR_INTERNAL,    /* glueq found one of its own invariants broken (a bug in glueq) */
} gq_status;

const char *gq_status_str(gq_status s);

/* One human-readable line describing the last failure. */
typedef struct {
    char msg[1024];
} gq_err;

/* Formats msg into err (if err is not NULL) and returns status, so that callers can
 * write `return gq_fail(err, GQ_ERR_IO, "%s: cannot open", path);`. Control characters
 * (from quoted untrusted names) become '?', so that the message stays one line. */
gq_status gq_fail(gq_err *err, gq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- logger: writes to stderr; the level is process-wide (documented global) ---- */
typedef enum { GQ_LOG_QUIET = 0, GQ_LOG_WARN = 1, GQ_LOG_INFO = 2, GQ_LOG_DEBUG = 3 } gq_log_level;
void gq_log_set_level(gq_log_level level);
gq_log_level gq_log_get_level(void);
void gq_log(gq_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define gq_warn(...) gq_log(GQ_LOG_WARN, __VA_ARGS__)
#define gq_info(...) gq_log(GQ_LOG_INFO, __VA_ARGS__)

/* ---- allocation: checked helpers that return NULL on overflow or failure ---- */
void *gq_malloc_array(size_t n, size_t size);
void *gq_calloc_array(size_t n, size_t size);
char *gq_strdup(const char *s);

/* ---- repeated keys ---- */
/* Found by sorting: O(n log n) comparisons whatever the keys (no hash that crafted keys
 * could flood). key(ctx, i, &len) gives the bytes of key i of n. *compares (may be NULL)
 * grows by the comparisons made, so that tests can bound the work of hostile input. */
typedef const void *(*gq_key_fn)(const void *ctx, int i, size_t *len);
/* Sets first[i] (n entries) to the lowest index whose key equals key i (i itself when
 * none before it does). Returns 0, or -1 when out of memory. */
int gq_mark_repeats(int n, gq_key_fn key, const void *ctx, int *first, uint64_t *compares);
/* The lowest index whose key repeats an earlier one, with *earlier the first index of
 * that key; -1 when all keys differ; -2 when out of memory. */
int gq_first_repeat(int n, gq_key_fn key, const void *ctx, int *earlier, uint64_t *compares);

/* ---- files ---- */
/* Reads a whole file into a new NUL-terminated buffer; the caller owns *out and frees
 * it with free(). Refuses files larger than max_bytes (0 = no limit). */
gq_status gq_read_file(const char *path, size_t max_bytes, char **out, size_t *len, gq_err *err);
/* Limits of gq_read_text; 0 = no limit. */
typedef struct {
    size_t max_bytes;      /* the whole file */
    size_t max_lines;      /* lines, a last one without '\n' included */
    size_t max_line_bytes; /* one line, without its line end */
} gq_text_limits;
/* Reads a text file (a regular file or a pipe) into a new NUL-terminated buffer like
 * gq_read_file, but stops at the first limit exceeded, with a message naming the file
 * and the limit: a hostile file costs at most about twice the limit in memory, however
 * large it is. */
gq_status gq_read_text(const char *path, const gq_text_limits *lim, char **out, size_t *len, gq_err *err);
int gq_file_exists(const char *path);
int gq_dir_exists(const char *path);
/* Joins a and b with one '/'; returns a new string the caller frees. */
char *gq_path_join(const char *a, const char *b);
/* Writes len bytes to path atomically: a temporary file beside it, fsync, rename. */
gq_status gq_write_file_atomic(const char *path, const void *data, size_t len, gq_err *err);
/* mkdir -p. */
gq_status gq_mkdirs(const char *path, gq_err *err);
/* Basename of a path (a pointer into path). */
const char *gq_basename(const char *path);

/* Resolves a resource by the documented search order: `flag` if set, else
 * $env_var (if set) , else $GLUEQ_ASSETS/assets_rel, else ../shared/assets/assets_rel
 * relative to the working directory and to the executable's source tree.
 * Returns a new string (caller frees) or NULL when nothing exists. */
char *gq_find_asset(const char *flag, const char *env_var, const char *assets_rel);

/* ---- sha256 ---- */
typedef struct {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t buf[64];
    size_t nbuf;
    /* Compresses n 64-byte blocks at p into h; NULL until chosen for this CPU. */
    void (*blocks)(uint32_t h[8], const uint8_t *p, size_t n);
} gq_sha256;
/* Starts a hash that uses the fastest implementation this CPU has (SHA-NI where present)
 * once it has more than a few kB to hash. */
void gq_sha256_init(gq_sha256 *c);
/* The implementations gq_sha256_init chooses from. Tests and benchmarks name one, to
 * check each against the other and the FIPS vectors, and to time them. */
typedef enum { GQ_SHA256_PORTABLE, GQ_SHA256_SHANI } gq_sha256_impl;
/* gq_sha256_init with a given implementation; returns 0 (c unchanged) when this build or
 * CPU lacks it, 1 otherwise. */
int gq_sha256_init_impl(gq_sha256 *c, gq_sha256_impl impl);
void gq_sha256_update(gq_sha256 *c, const void *data, size_t len);
void gq_sha256_final(gq_sha256 *c, uint8_t out[32]);
/* Hex digest (65 bytes with NUL) of a buffer or of a whole file. */
void gq_sha256_hex(const void *data, size_t len, char hex[65]);
gq_status gq_sha256_file(const char *path, char hex[65], gq_err *err);

/* ---- deterministic RNG (splitmix64 seeding + xoshiro256**) ---- */
typedef struct {
    uint64_t s[4];
} gq_rng;
void gq_rng_seed(gq_rng *r, uint64_t seed);
uint64_t gq_rng_next(gq_rng *r);
double gq_rng_uniform(gq_rng *r);              /* [0, 1) */
float gq_rng_normal(gq_rng *r);                /* N(0, 1), Box-Muller */
uint64_t gq_rng_below(gq_rng *r, uint64_t n);  /* uniform in [0, n) without bias */

/* ---- time ---- */
double gq_now(void); /* monotonic seconds */

#endif
