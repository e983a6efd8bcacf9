/* common: sha256 against the FIPS 180-2 / NIST CAVS vectors (the portable and the SHA-NI
 * code, each also against the other on random messages), the RNG against values computed
 * independently (a Python restatement of splitmix64 + xoshiro256**, Box-Muller and the
 * rejection sampler, in the comments below), and atomic writes interrupted by a kill. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "testlib.h"

static const char *impl_name[] = {[GQ_SHA256_PORTABLE] = "portable", [GQ_SHA256_SHANI] = "SHA-NI"};

static void digest_hex(gq_sha256 *c, char hex[65]) {
    uint8_t d[32];
    gq_sha256_final(c, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* The digest of data with implementation impl, fed in pieces of `piece` bytes (WHOLE: in one). */
#define WHOLE SIZE_MAX
static void digest_pieces(gq_sha256_impl impl, const void *data, size_t len, size_t piece, char hex[65]) {
    gq_sha256 c;
    gq_sha256_init_impl(&c, impl);
    for (size_t off = 0, n; off < len; off += n) {
        n = len - off < piece ? len - off : piece;
        gq_sha256_update(&c, (const char *)data + off, n);
    }
    digest_hex(&c, hex);
}

static void check_digest(gq_test_ctx *t, const char *what, const void *data, size_t len, const char *want) {
    char hex[65];
    gq_sha256_hex(data, len, hex);
    GQ_CHECK(t, strcmp(hex, want) == 0, "sha256(%s) = %s, want %s", what, hex, want);
    /* Each implementation, whole and in uneven pieces (1, 63, 64, 65 bytes: across block ends). */
    static const size_t piece[] = {WHOLE, 1, 63, 64, 65};
    gq_sha256 probe;
    for (int impl = GQ_SHA256_PORTABLE; impl <= GQ_SHA256_SHANI; impl++) {
        if (!gq_sha256_init_impl(&probe, impl)) continue;
        for (size_t p = 0; p < sizeof piece / sizeof *piece; p++) {
            digest_pieces(impl, data, len, piece[p], hex);
            GQ_CHECK(t, strcmp(hex, want) == 0, "%s sha256(%s) in pieces of %zu (%zu: whole) = %s, want %s",
                     impl_name[impl], what, piece[p], WHOLE, hex, want);
        }
    }
}

/* The digest of data fed in pieces whose ends fall at random (mostly odd) offsets. */
static void digest_random_splits(gq_sha256_impl impl, const uint8_t *data, size_t len, gq_rng *r, char hex[65]) {
    gq_sha256 c;
    gq_sha256_init_impl(&c, impl);
    for (size_t off = 0; off < len;) {
        size_t n = (size_t)gq_rng_below(r, 300);
        n = n < len - off ? n : len - off;
        gq_sha256_update(&c, data + off, n);
        off += n;
    }
    digest_hex(&c, hex);
}

/* The kernel's reading of cpuid: 1 when /proc/cpuinfo's flags include sha_ni, 0 when
 * they do not, -1 when there are none (not x86 Linux). */
static int cpuinfo_sha_ni(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    static char line[1 << 16];
    int has = -1;
    while (has < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) has = strstr(line, " sha_ni") != NULL;
    fclose(f);
    return has;
}

/* SHA-NI against the portable code on random messages: every length 0..300 (every
 * position of the padding), and 20 kB messages fed in random pieces. */
static void test_sha256_paths_agree(gq_test_ctx *t) {
    gq_sha256 shani, portable, chosen;
    int have = gq_sha256_init_impl(&shani, GQ_SHA256_SHANI), kernel = cpuinfo_sha_ni();
    GQ_CHECK(t, kernel < 0 || have == kernel, "SHA-NI %s, but /proc/cpuinfo says sha_ni is %s",
             have ? "used" : "not used", kernel ? "there" : "absent");
    if (!have) {
        fprintf(stderr, "note: this CPU or build has no SHA-NI; only the portable SHA-256 was tested\n");
        return;
    }
    /* Two different paths (else the comparisons below prove nothing), and a default
     * context that takes SHA-NI once it has 4 kB to hash, not for less. */
    enum { LONG = 20000 };
    uint8_t *msg = malloc(LONG);
    gq_rng r;
    gq_rng_seed(&r, 12);
    for (size_t i = 0; i < LONG; i++) msg[i] = (uint8_t)gq_rng_next(&r);
    gq_sha256_init_impl(&portable, GQ_SHA256_PORTABLE);
    gq_sha256_init(&chosen);
    gq_sha256_update(&chosen, msg, 4095);
    GQ_CHECK(t, shani.blocks != portable.blocks && chosen.blocks == NULL, "SHA-NI and portable contexts use %p, %p; "
             "a default one %p after 4095 bytes", (void *)(uintptr_t)shani.blocks, (void *)(uintptr_t)portable.blocks,
             (void *)(uintptr_t)chosen.blocks);
    gq_sha256_update(&chosen, msg + 4095, LONG - 4095);
    GQ_CHECK(t, chosen.blocks == shani.blocks, "a default context is not on SHA-NI after %d bytes", LONG);
    char a[65], b[65];
    digest_hex(&chosen, a); /* portable, then SHA-NI from the same state */
    digest_pieces(GQ_SHA256_PORTABLE, msg, LONG, WHOLE, b);
    GQ_CHECK(t, strcmp(a, b) == 0, "%d bytes switching to SHA-NI midway: %s, portable %s", LONG, a, b);
    for (size_t len = 0; len <= 300; len++) {
        digest_pieces(GQ_SHA256_PORTABLE, msg, len, WHOLE, a);
        digest_pieces(GQ_SHA256_SHANI, msg, len, WHOLE, b);
        GQ_CHECK(t, strcmp(a, b) == 0, "%zu random bytes: portable %s, SHA-NI %s", len, a, b);
    }
    for (int rep = 0; rep < 8; rep++) {
        size_t len = LONG - (size_t)gq_rng_below(&r, 64);
        digest_pieces(GQ_SHA256_PORTABLE, msg, len, WHOLE, a);
        digest_random_splits(GQ_SHA256_SHANI, msg, len, &r, b);
        GQ_CHECK(t, strcmp(a, b) == 0, "%zu bytes in random pieces: portable %s, SHA-NI %s", len, a, b);
        digest_random_splits(GQ_SHA256_PORTABLE, msg, len, &r, a);
        digest_pieces(GQ_SHA256_SHANI, msg, len, WHOLE, b);
        GQ_CHECK(t, strcmp(a, b) == 0, "%zu bytes: portable in random pieces %s, SHA-NI %s", len, a, b);
    }
    free(msg);
}

static void test_sha256(gq_test_ctx *t, const char *dir) {
    check_digest(t, "\"\"", "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_digest(t, "abc", "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_digest(t, "448-bit message", m448, strlen(m448),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_digest(t, "896-bit message", m896, strlen(m896),
                 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    check_digest(t, "one million 'a'", million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    test_sha256_paths_agree(t);

    /* gq_sha256_file reads in chunks: the same digest from a file. */
    char path[300], hex[65];
    snprintf(path, sizeof path, "%s/million", dir);
    gq_err err = {{0}};
    GQ_CHECK(t, gq_write_file_atomic(path, million, 1000000, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, gq_sha256_file(path, hex, &err) == GQ_OK, "%s", err.msg);
    GQ_CHECK(t, strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "file: %s", hex);
    GQ_CHECK(t, gq_sha256_file("/nonexistent/x", hex, &err) == GQ_ERR_IO && strstr(err.msg, "/nonexistent/x"), "%s",
             err.msg);
    unlink(path);
    free(million);
}

/* ---- the thread pool ---- */

typedef struct {
    pthread_t who[8];
    int parts[8], nparts;
    int hits[100];
} pool_probe;

static void record_part(void *job, int part, int nparts) {
    pool_probe *p = job;
    p->who[part] = pthread_self(), p->parts[part]++, p->nparts = nparts;
}

static gq_status count_index(void *ctx, int i, gq_err *err) {
    __atomic_fetch_add(&((pool_probe *)ctx)->hits[i], 1, __ATOMIC_RELAXED);
    return i == 77 ? gq_fail(err, GQ_ERR_ARG, "index %d refused", i) : GQ_OK;
}

static void test_pool(gq_test_ctx *t) {
    gq_pool *p = gq_pool_new(5);
    GQ_CHECK(t, p && gq_pool_threads(p) == 5, "5 threads (more than the cores) start");
    pool_probe pr = {0};
    gq_pool_run(p, record_part, &pr);
    gq_pool_run(p, record_part, &pr);
    int distinct = 1;
    for (int i = 1; i < 5; i++) {
        int fresh = 1;
        for (int j = 0; j < i; j++) fresh &= !pthread_equal(pr.who[i], pr.who[j]);
        distinct += fresh;
    }
    GQ_CHECK(t, pr.nparts == 5 && distinct == 5 && pthread_equal(pr.who[0], pthread_self()),
             "5 parts on 5 threads, part 0 on the caller (%d parts, %d threads)", pr.nparts, distinct);
    GQ_CHECK(t, pr.parts[0] == 2 && pr.parts[4] == 2, "each part once per run");
    gq_err err = {{0}};
    GQ_CHECK(t, gq_pool_for(p, 70, count_index, &pr, &err) == GQ_OK, "%s", err.msg);
    int once = 0;
    for (int i = 0; i < 70; i++) once += pr.hits[i] == 1;
    GQ_CHECK(t, once == 70, "gq_pool_for ran %d of 70 indices exactly once", once);
    GQ_CHECK(t, gq_pool_for(p, 100, count_index, &pr, &err) == GQ_ERR_ARG && strstr(err.msg, "index 77 refused"),
             "a failing task's status and message: %s", err.msg);
    gq_pool_free(p);
    gq_pool_free(NULL);
    GQ_CHECK(t, gq_pool_threads(NULL) == 1, "NULL pool: one thread");
    pool_probe one = {0};
    gq_pool_run(NULL, record_part, &one);
    GQ_CHECK(t, one.nparts == 1 && one.parts[0] == 1, "NULL pool runs part 0 of 1 on the caller");
}

/* Reference values from an independent Python implementation:
 *   splitmix64 seeding: x += 0x9e3779b97f4a7c15; z = (x ^ x>>30) * 0xbf58476d1ce4e5b9;
 *                       z = (z ^ z>>27) * 0x94d049bb133111eb; z ^ z>>31  (4 times)
 *   xoshiro256**: rotl(s1 * 5, 7) * 9, then the usual state update
 *   uniform = (next >> 11) * 2^-53; normal = sqrt(-2 ln u1) cos(2π u2) rounded to float;
 *   below(n): rejection of x >= UINT64_MAX - UINT64_MAX % n, then x % n. */
static void test_rng(gq_test_ctx *t) {
    static const struct {
        uint64_t seed, out[4];
    } next[] = {
        {0, {0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL, 0x1a5f849d4933e6e0ULL, 0x6aa594f1262d2d2cULL}},
        {42, {0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL, 0xecb8ad4703b360a1ULL}},
    };
    for (size_t i = 0; i < sizeof next / sizeof *next; i++) {
        gq_rng r;
        gq_rng_seed(&r, next[i].seed);
        for (int j = 0; j < 4; j++) {
            uint64_t got = gq_rng_next(&r);
            GQ_CHECK(t, got == next[i].out[j], "seed %llu output %d: %016llx, want %016llx",
                     (unsigned long long)next[i].seed, j, (unsigned long long)got, (unsigned long long)next[i].out[j]);
        }
    }
    gq_rng r;
    gq_rng_seed(&r, 7);
    double u0 = gq_rng_uniform(&r), u1 = gq_rng_uniform(&r);
    GQ_CHECK(t, u0 == 0.7005764821796896 && u1 == 0.2787512294737843, "uniform(seed 7) = %.17g %.17g", u0, u1);
    gq_rng_seed(&r, 7);
    float z = gq_rng_normal(&r);
    GQ_CHECK(t, z == -0.15157274901866913f, "normal(seed 7) = %.9g, want -0.151572749", z);

    static const uint64_t below10[8] = {8, 0, 5, 2, 6, 7, 8, 8};
    static const uint64_t below3e18[4] = {740027877540924608ULL, 2816633889728259310ULL, 1026230140863905105ULL,
                                          849853469235559402ULL};
    /* n = 2^63 + 1 rejects about half the draws (10 of the 16 drawn here). */
    static const uint64_t below_half[6] = {4026230140863905105ULL, 7832406882003490826ULL, 7369622365672145027ULL,
                                           3876908467532493398ULL, 3599027322300720596ULL, 2035411151010252753ULL};
    gq_rng_seed(&r, 3);
    for (int j = 0; j < 8; j++) {
        uint64_t got = gq_rng_below(&r, 10);
        GQ_CHECK(t, got == below10[j], "below(10) #%d = %llu, want %llu", j, (unsigned long long)got,
                 (unsigned long long)below10[j]);
    }
    gq_rng_seed(&r, 3);
    for (int j = 0; j < 4; j++) {
        uint64_t got = gq_rng_below(&r, 3000000000000000000ULL);
        GQ_CHECK(t, got == below3e18[j], "below(3e18) #%d = %llu, want %llu", j, (unsigned long long)got,
                 (unsigned long long)below3e18[j]);
    }
    gq_rng_seed(&r, 3);
    for (int j = 0; j < 6; j++) {
        uint64_t got = gq_rng_below(&r, (1ULL << 63) + 1);
        GQ_CHECK(t, got == below_half[j], "below(2^63+1) #%d = %llu, want %llu", j, (unsigned long long)got,
                 (unsigned long long)below_half[j]);
    }
    GQ_CHECK(t, gq_rng_below(&r, 0) == 0 && gq_rng_below(&r, 1) == 0, "below(0), below(1)");
}

/* Bytes of a file, or -1 when it cannot be read; *same says whether they equal want. */
static long file_matches(const char *path, const char *want, size_t n, int *same) {
    char *got = NULL;
    size_t len = 0;
    *same = 0;
    if (gq_read_file(path, 0, &got, &len, NULL) != GQ_OK) return -1;
    *same = len == n && memcmp(got, want, n) == 0;
    free(got);
    return (long)len;
}

/* Files in dir other than `keep`, whose names start with `prefix`. */
static int count_others(const char *dir, const char *keep, const char *prefix) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strcmp(e->d_name, keep) != 0) n++;
    if (d) closedir(d);
    return n;
}

/* Forks a writer of `len` bytes of `fill` to path with a file size limit of `limit` bytes:
 * past it the kernel sends SIGXFSZ, which kills the writer in the middle of its write
 * (ignore_xfsz = 0), or makes the write fail with EFBIG (ignore_xfsz = 1). Returns the
 * wait status. */
static int write_with_size_limit(const char *path, size_t len, char fill, rlim_t limit, int ignore_xfsz) {
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit core = {0, 0}, fsize = {limit, limit};
        setrlimit(RLIMIT_CORE, &core);
        if (ignore_xfsz) signal(SIGXFSZ, SIG_IGN);
        char *buf = malloc(len);
        memset(buf, fill, len);
        setrlimit(RLIMIT_FSIZE, &fsize);
        gq_err err = {{0}};
        _exit(gq_write_file_atomic(path, buf, len, &err) == GQ_OK ? 0 : 3);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void test_atomic_write(gq_test_ctx *t, const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    const char *old = "old,complete\n1,2\n";
    gq_err err = {{0}};
    GQ_CHECK(t, gq_write_file_atomic(path, old, strlen(old), &err) == GQ_OK, "%s", err.msg);
    int same = 0;
    GQ_CHECK(t, file_matches(path, old, strlen(old), &same) >= 0 && same, "first write");
    GQ_CHECK(t, count_others(dir, "results.csv", "results.csv") == 0, "no temporary file after a good write");

    /* Killed in the middle of writing 1 MiB (4 KiB written): the target keeps the old
     * bytes; the half-written temporary file is not the target. */
    size_t big = 1 << 20;
    int st = write_with_size_limit(path, big, 'x', 4096, 0);
    GQ_CHECK(t, WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ, "writer should die of SIGXFSZ (status %d)", st);
    GQ_CHECK(t, file_matches(path, old, strlen(old), &same) >= 0 && same, "old file intact after a kill mid-write");
    GQ_CHECK(t, count_others(dir, "results.csv", "results.csv.tmp.") == 1, "the killed writer's temporary file");

    /* The same write failing (EFBIG) instead: an error naming the file, old bytes kept,
     * the temporary file removed. */
    st = write_with_size_limit(path, big, 'y', 4096, 1);
    GQ_CHECK(t, WIFEXITED(st) && WEXITSTATUS(st) == 3, "failed write must report an error (status %d)", st);
    GQ_CHECK(t, file_matches(path, old, strlen(old), &same) >= 0 && same, "old file intact after a failed write");
    GQ_CHECK(t, count_others(dir, "results.csv", "results.csv.tmp.") == 1, "a failed write removes its temporary file");

    /* SIGKILL at seeded random moments of 2 MiB rewrites: the target is always one whole
     * version, never a mix. */
    char *a = malloc(big * 2), *b = malloc(big * 2);
    memset(a, 'a', big * 2), memset(b, 'b', big * 2);
    GQ_CHECK(t, gq_write_file_atomic(path, a, big * 2, &err) == GQ_OK, "%s", err.msg);
    gq_rng r;
    gq_rng_seed(&r, 2024);
    int whole = 0, kills = 0;
    for (int i = 0; i < 8; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(gq_write_file_atomic(path, i % 2 ? a : b, big * 2, NULL) == GQ_OK ? 0 : 3);
        struct timespec ts = {0, (long)gq_rng_below(&r, 3000000)};
        nanosleep(&ts, NULL);
        kills += kill(pid, SIGKILL) == 0;
        waitpid(pid, &st, 0);
        int sa = 0, sb = 0;
        file_matches(path, a, big * 2, &sa);
        file_matches(path, b, big * 2, &sb);
        whole += sa || sb;
    }
    GQ_CHECK(t, whole == 8, "target was a whole version after %d of 8 kills", whole);
    GQ_CHECK(t, kills == 8, "kills delivered: %d", kills);
    free(a), free(b);

    /* The final target names the problem when its directory is missing. */
    GQ_CHECK(t, gq_write_file_atomic("/nonexistent/dir/x.csv", old, 3, &err) == GQ_ERR_IO &&
                    strstr(err.msg, "/nonexistent/dir/x.csv"),
             "%s", err.msg);
}

static const void *string_key(const void *keys, int i, size_t *len) {
    const char *k = ((const char *const *)keys)[i];
    *len = strlen(k);
    return k;
}

/* The first position that repeats an earlier key, worked out by hand for each list. */
static void test_first_repeat(gq_test_ctx *t) {
    static const struct {
        const char *keys[6];
        int n, want, want_earlier;
    } cases[] = {
        {{"b", "a", "c", "b", "a"}, 5, 3, 0}, /* "b" at 3 repeats 0 before "a" at 4 repeats 1 */
        {{"x", "xy", "y", "", "yx"}, 5, -1, 0}, /* prefixes and the empty key are keys of their own */
        {{"", "q", ""}, 3, 2, 0},
        {{"k", "k", "k"}, 3, 1, 0},
        {{"only"}, 1, -1, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int earlier = 0;
        uint64_t compares = 0;
        int got = gq_first_repeat(cases[c].n, string_key, cases[c].keys, &earlier, &compares);
        GQ_CHECK(t, got == cases[c].want && (got < 0 || earlier == cases[c].want_earlier),
                 "case %zu: first repeat %d of %d, want %d of %d", c, got, earlier, cases[c].want,
                 cases[c].want_earlier);
        GQ_CHECK(t, cases[c].n < 2 || compares > 0, "case %zu: no comparison counted", c);
    }
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_log_set_level(GQ_LOG_QUIET);
    char dir[256];
    gq_test_tmpdir(&t, "gq_common", dir, sizeof dir);
    test_sha256(&t, dir);
    test_rng(&t);
    test_pool(&t);
    test_atomic_write(&t, dir);
    test_first_repeat(&t);
    return gq_test_done(&t);
}
