/* test_limits: inputs that claim or hold far more than any real one are refused with one
 * line naming the file and the limit, before the memory is spent:
 *   - a safetensors header that claims 10^12 bytes; shapes whose product overflows;
 *   - a GLUE TSV line of 1 GB (a sparse file: no disk spent either), a TSV larger than
 *     the file limit, and 10^9 rows (through a pipe);
 *   - a sweep grid of 2.1 * 10^9 points;
 *   - a vocab of 10^8 lines (through a pipe) and a vocab line of 200 MB (sparse);
 *   - glueq eval under address-space limits (RLIMIT_AS) from 48 to 400 MB: an
 *     out-of-memory error and exit status 1, or success, never a crash or a hang
 *     (skipped under ASan, whose shadow memory cannot live under RLIMIT_AS).
 * "Before the memory is spent" is checked by the peak RSS, which may not grow by more
 * than RSS_GROWTH_MAX_MB across a refusal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "glue.h"
#include "sweep_config.h"
#include "testlib.h"
#include "tokenizer.h"


#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* The readers keep at most about twice what they read before a limit trips (1 MiB for a
 * long line, 36 MB for 2 * 10^6 TSV rows, 8 MB for 4 * 10^6 vocab lines): measured at most
 * +64 MB, and +144 MB under ASan, whose quarantine keeps what realloc frees. Reading any
 * of the refused inputs whole would take 100 MB to 200 GB. */
#define RSS_GROWTH_MAX_MB (UNDER_ASAN ? 256 : 96)

static long peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* Checks a refusal: status st is a failure whose message names `file` and contains each
 * of the `want` substrings (NULL-terminated), and peak RSS grew by less than the bound. */
static void expect_refused(gq_test_ctx *t, const char *what, gq_status st, const gq_err *err, const char *file,
                           long rss_before, const char *const *want) {
    int failures = t->failures;
    GQ_CHECK(t, st != GQ_OK, "%s: accepted", what);
    GQ_CHECK(t, st != GQ_ERR_NOMEM, "%s: ran out of memory instead of refusing: %s", what, err->msg);
    GQ_CHECK(t, strstr(err->msg, file) != NULL, "%s: message does not name %s: %s", what, file, err->msg);
    GQ_CHECK(t, strchr(err->msg, '\n') == NULL, "%s: message is not one line", what);
    for (int i = 0; want[i]; i++)
        GQ_CHECK(t, strstr(err->msg, want[i]) != NULL, "%s: message lacks '%s': %s", what, want[i], err->msg);
    long grown = peak_rss_mb() - rss_before;
    GQ_CHECK(t, grown < RSS_GROWTH_MAX_MB, "%s: peak RSS grew by %ld MB before the refusal", what, grown);
    if (t->failures == failures) printf("ok   %s: %s (peak RSS +%ld MB)\n", what, err->msg, grown);
}

static void write_file(gq_test_ctx *t, const char *path, const void *data, size_t n) {
    gq_err err = {{0}};
    GQ_CHECK(t, gq_write_file_atomic(path, data, n, &err) == GQ_OK, "%s", err.msg);
}

/* A file of `prefix` followed by a hole up to `size` bytes (reads as NUL bytes). */
static void sparse_file(gq_test_ctx *t, const char *path, const char *prefix, off_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    GQ_CHECK(t, fd >= 0 && write(fd, prefix, strlen(prefix)) == (ssize_t)strlen(prefix) && ftruncate(fd, size) == 0,
             "cannot make the sparse file %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
}

/* Makes a FIFO at path and a child that writes `head`, then `line` `count` times, into
 * it; the child stops quietly when the reader closes early. Returns the child's pid. */
static pid_t fifo_writer(gq_test_ctx *t, const char *path, const char *head, const char *line, long count) {
    GQ_CHECK(t, mkfifo(path, 0600) == 0, "mkfifo %s: %s", path, strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        FILE *f = fopen(path, "w");
        if (!f) _exit(1);
        fputs(head, f);
        for (long i = 0; i < count && fputs(line, f) >= 0; i++) {}
        fclose(f);
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static void test_safetensors(gq_test_ctx *t, const char *dir) {
    char path[512];
    gq_err err = {{0}};
    gq_ckpt *ck = NULL;
    /* a header length of 10^12 bytes in a 16-byte file */
    snprintf(path, sizeof path, "%s/claims.safetensors", dir);
    uint8_t claim[16] = {0};
    uint64_t tera = 1000000000000ull;
    for (int i = 0; i < 8; i++) claim[i] = (uint8_t)(tera >> (8 * i));
    memcpy(claim + 8, "{}      ", 8);
    write_file(t, path, claim, sizeof claim);
    long rss = peak_rss_mb();
    gq_status st = gq_ckpt_load(path, &ck, &err);
    expect_refused(t, "safetensors header of 10^12 bytes", st, &err, path, rss,
                   (const char *[]){"1000000000000", "limit of 104857600", NULL});
    gq_ckpt_free(ck);

    /* shapes whose element count overflows 64 bits, and offsets that claim 10^12 bytes */
    static const char *const headers[] = {
        "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
        "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1000000000000]}}",
    };
    static const char *const why[] = {"larger than the 8-byte data section", "outside the 8-byte data section"};
    for (int c = 0; c < 2; c++) {
        char file[4096];
        size_t hl = strlen(headers[c]);
        for (int i = 0; i < 8; i++) file[i] = (char)(uint8_t)((uint64_t)hl >> (8 * i));
        memcpy(file + 8, headers[c], hl);
        memset(file + 8 + hl, 0, 8); /* 8 data bytes */
        snprintf(path, sizeof path, "%s/shape%d.safetensors", dir, c);
        write_file(t, path, file, 16 + hl);
        rss = peak_rss_mb();
        st = gq_ckpt_load(path, &ck, &err);
        expect_refused(t, c ? "safetensors offsets of 10^12 bytes" : "safetensors shape overflowing 64 bits", st,
                       &err, path, rss, (const char *[]){"'t'", why[c], NULL});
        gq_ckpt_free(ck);
    }
}

#define RTE_HEADER "index\tsentence1\tsentence2\tlabel\n"

static void test_glue(gq_test_ctx *t, const char *dir) {
    const gq_glue_task *rte = gq_glue_task_find("rte");
    char path[512];
    gq_err err = {{0}};
    gq_glue_set *set = NULL;
    char limit[64];
    /* line 2 holds 10^9 bytes */
    snprintf(path, sizeof path, "%s/long_line.tsv", dir);
    sparse_file(t, path, RTE_HEADER "0\t", (off_t)strlen(RTE_HEADER) + 1000000000);
    long rss = peak_rss_mb();
    gq_status st = gq_glue_load(rte, path, &set, &err);
    snprintf(limit, sizeof limit, "longer than %zu bytes", GQ_GLUE_MAX_LINE_BYTES);
    expect_refused(t, "TSV line of 1 GB", st, &err, path, rss, (const char *[]){"line 2", limit, NULL});
    gq_glue_free(set);
    unlink(path);

    /* a file larger than the file limit */
    snprintf(path, sizeof path, "%s/huge.tsv", dir);
    sparse_file(t, path, RTE_HEADER, (off_t)GQ_GLUE_MAX_FILE_BYTES + 1);
    rss = peak_rss_mb();
    st = gq_glue_load(rte, path, &set, &err);
    snprintf(limit, sizeof limit, "limit of %zu", GQ_GLUE_MAX_FILE_BYTES);
    expect_refused(t, "TSV over the file limit", st, &err, path, rss, (const char *[]){limit, NULL});
    gq_glue_free(set);
    unlink(path);

    /* more rows than the row limit, streamed through a pipe */
    snprintf(path, sizeof path, "%s/rows.fifo", dir);
    pid_t w = fifo_writer(t, path, RTE_HEADER, "0\ta\tb\tentailment\n", 1000000000L);
    rss = peak_rss_mb();
    st = gq_glue_load(rte, path, &set, &err);
    reap(w);
    snprintf(limit, sizeof limit, "more than %d lines", GQ_GLUE_MAX_LINES);
    expect_refused(t, "TSV of 10^9 rows", st, &err, path, rss, (const char *[]){limit, NULL});
    gq_glue_free(set);
    unlink(path);
}

static void test_sweep_grid(gq_test_ctx *t) {
    /* 3 tasks x 7 bit widths x 10^4 budgets x 10^4 seeds of a seeded method = 2.1e9 points */
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text + n, cap - n,
                          "{\"name\": \"grid\", \"output\": \"out\", \"data\": \"glue\", "
                          "\"models\": {\"rte\": \"m\", \"mrpc\": \"m\", \"qnli\": \"m\"}, \"tasks\": [\"rte\", \"mrpc\", \"qnli\"], \"methods\": [\"random\"], "
                          "\"bits\": [2, 3, 4, 5, 6, 7, 8], \"budgets\": {\"k\": [");
    for (int i = 1; i <= 10000; i++) n += (size_t)snprintf(text + n, cap - n, "%s%d", i > 1 ? "," : "", i);
    n += (size_t)snprintf(text + n, cap - n, "]}, \"seeds\": [");
    for (int i = 0; i < 10000; i++) n += (size_t)snprintf(text + n, cap - n, "%s%d", i ? "," : "", i);
    snprintf(text + n, cap - n, "]}");
    gq_sweep_config *cfg = NULL;
    gq_err err = {{0}};
    long rss = peak_rss_mb();
    gq_status st = gq_sweep_config_parse(text, "grid.json", &cfg, &err);
    char limit[64];
    snprintf(limit, sizeof limit, "limit of %d", GQ_SWEEP_MAX_POINTS);
    expect_refused(t, "sweep grid of 2.1e9 points", st, &err, "grid.json", rss,
                   (const char *[]){"2100000003", limit, NULL});
    gq_sweep_config_free(cfg);
    free(text);
}

static void test_vocab(gq_test_ctx *t, const char *dir) {
    char path[512], limit[64];
    gq_err err = {{0}};
    gq_tok *tok = NULL;
    long rss;
    gq_status st;
    /* one line of 2 * 10^8 bytes (the whole file is under the vocab's file limit) */
    snprintf(path, sizeof path, "%s/vocab_line.txt", dir);
    sparse_file(t, path, "[PAD]\n", 200000000);
    rss = peak_rss_mb();
    st = gq_tok_load(path, &tok, &err);
    snprintf(limit, sizeof limit, "longer than %d bytes", GQ_TOK_MAX_PIECE_BYTES);
    expect_refused(t, "vocab line of 200 MB", st, &err, path, rss, (const char *[]){"line 2", limit, NULL});
    gq_tok_free(tok);
    unlink(path);
    /* 10^8 lines through a pipe */
    snprintf(path, sizeof path, "%s/vocab.fifo", dir);
    pid_t w = fifo_writer(t, path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n", "x\n", 100000000L);
    rss = peak_rss_mb();
    st = gq_tok_load(path, &tok, &err);
    reap(w);
    snprintf(limit, sizeof limit, "more than %d lines", GQ_TOK_MAX_VOCAB);
    expect_refused(t, "vocab of 10^8 lines", st, &err, path, rss, (const char *[]){limit, NULL});
    gq_tok_free(tok);
    unlink(path);
}

/* glueq eval under RLIMIT_AS from OOM_LADDER_MIN_MB to OOM_LADDER_MAX_MB: every run must
 * end by itself (no signal, no hang) with 0, or 1 and an out-of-memory message; the
 * ladder must see both. Below about 60 MB exec or the dynamic loader cannot start glueq
 * at all (exit 98 or 127), or OpenBLAS's initializer cannot start its threads and raises
 * SIGINT before glueq's main runs (experiment/blas.h): such runs are counted, not judged. */
#define OOM_LADDER_MIN_MB 48
#define OOM_LADDER_MAX_MB 400
#define OOM_LADDER_STEP_MB 16
#define OOM_RUN_TIMEOUT_S 60

static int run_limited(gq_test_ctx *t, long limit_mb, const char *err_path, int *signaled, int *timed_out) {
    char *model = gq_test_path(t, "assets/models/scratch-rte"), *data = gq_test_path(t, "assets/glue");
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {(rlim_t)limit_mb << 20, (rlim_t)limit_mb << 20};
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0 || !freopen("/dev/null", "w", stdout) || setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(99);
        execl(t->glueq, t->glueq, "eval", "--model", model, "--data", data, "--task", "rte", "--limit", "2",
              "--quiet", (char *)NULL);
        _exit(98);
    }
    free(model), free(data);
    int status = 0;
    *signaled = *timed_out = 0;
    for (int waited_ms = 0; waitpid(pid, &status, WNOHANG) == 0; waited_ms += 50) {
        if (waited_ms > OOM_RUN_TIMEOUT_S * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            *timed_out = 1;
            return -1;
        }
        usleep(50000);
    }
    *signaled = WIFSIGNALED(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_oom(gq_test_ctx *t, const char *dir) {
    if (UNDER_ASAN) {
        printf("skip glueq under RLIMIT_AS: ASan's shadow memory cannot live under an address-space limit\n");
        return;
    }
    char err_path[512];
    snprintf(err_path, sizeof err_path, "%s/oom.err", dir);
    int ok = 0, oom = 0, no_start = 0, blas_init = 0;
    for (long mb = OOM_LADDER_MIN_MB; mb <= OOM_LADDER_MAX_MB; mb += OOM_LADDER_STEP_MB) {
        int signaled = 0, timed_out = 0;
        int rc = run_limited(t, mb, err_path, &signaled, &timed_out);
        char *msg = NULL;
        gq_read_file(err_path, 0, &msg, NULL, NULL);
        const char *m = msg ? msg : "";
        GQ_CHECK(t, !timed_out, "%ld MB: glueq did not finish in %d s", mb, OOM_RUN_TIMEOUT_S);
        if (signaled && strstr(m, "OpenBLAS blas_thread_init")) {
            blas_init++; /* OpenBLAS's initializer, before glueq's main: experiment/blas.h */
            free(msg);
            continue;
        }
        GQ_CHECK(t, !signaled, "%ld MB: glueq was killed by a signal: %s", mb, m);
        if ((rc == 127 && strstr(m, "error while loading shared libraries")) || rc == 98 /* exec: ENOMEM */) {
            no_start++;
        } else if (rc == 0) {
            ok++;
        } else {
            GQ_CHECK(t, rc == 1, "%ld MB: exit status %d: %s", mb, rc, m);
            GQ_CHECK(t, strstr(m, "out of memory") || strstr(m, "Cannot allocate memory") || strstr(m, "cannot allocate"),
                     "%ld MB: failed without an out-of-memory message: %s", mb, m);
            oom++;
        }
        free(msg);
    }
    GQ_CHECK(t, oom > 0 && ok > 0, "the ladder should see both failures (%d) and successes (%d)", oom, ok);
    printf("ok   glueq eval under RLIMIT_AS %d..%d MB: %d out-of-memory errors, %d runs completed, %d too small to "
           "load, %d stopped by OpenBLAS's initializer before main\n",
           OOM_LADDER_MIN_MB, OOM_LADDER_MAX_MB, oom, ok, no_start, blas_init);
}

/* Runs one group of cases in a child process, so that its peak RSS starts from a fresh
 * process and not from an earlier group's peak; the cases of a group are in order of
 * growing memory use. */
static void in_child(gq_test_ctx *t, void (*group)(gq_test_ctx *, const char *), const char *dir) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        gq_test_ctx c = *t;
        c.checks = c.failures = 0;
        group(&c, dir);
        exit(c.failures ? 1 : 0);
    }
    int status = 0;
    GQ_CHECK(t, pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "a group of cases failed (status %d)", status);
}

static void sweep_group(gq_test_ctx *t, const char *dir) { test_sweep_grid(t); }

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    char dir[256];
    gq_test_tmpdir(&t, "gq_limits", dir, sizeof dir);
    in_child(&t, test_safetensors, dir);
    in_child(&t, test_glue, dir);
    in_child(&t, sweep_group, dir);
    in_child(&t, test_vocab, dir);
    in_child(&t, test_oom, dir);
    return gq_test_done(&t);
}
