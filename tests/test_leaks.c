/* Leaks and growth (labels slow and leak): `glueq sweep` over a 1,001-point grid on tiny-a
 * (random protection: 5 bit widths x 10 budgets x 20 seeds, plus FP32; 8 RTE dev rows per
 * point) keeps its resident memory flat: the largest RSS sampled from point 50 until the
 * last point is journalled stays within RSS_GROWTH_LIMIT of the RSS at point 50. Built
 * with ASan (run_tests.sh runs this test in the ASan build too, with detect_leaks=1), the
 * same run must exit 0: LeakSanitizer fails the process on any leak; the RSS bound is not
 * checked there (ASan's quarantine holds freed memory on purpose). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define RSS_GROWTH_LIMIT 0.05 /* the bound: RSS at point 1,000 within 5% of point 50 */
#define N_POINTS 1001

#if defined(__SANITIZE_ADDRESS__)
#define CHECK_RSS 0
#else
#define CHECK_RSS 1
#endif

/* VmRSS of a process in kB, or -1. */
static long rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

/* Counts the journal's complete lines, reading only what was appended since last time. */
typedef struct {
    const char *path;
    int fd;
    long lines;
} line_counter;

static long count_lines(line_counter *c) {
    if (c->fd < 0) c->fd = open(c->path, O_RDONLY);
    char buf[65536];
    ssize_t n;
    while (c->fd >= 0 && (n = read(c->fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++) c->lines += buf[i] == '\n';
    return c->lines;
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    char dir[256], cfg[300], out[300], journal[320], log[300], text[2048];
    gq_test_tmpdir(&t, "gq_test_leaks", dir, sizeof dir);
    snprintf(cfg, sizeof cfg, "%s/grid.json", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(journal, sizeof journal, "%s/journal.jsonl", out);
    snprintf(log, sizeof log, "%s/sweep.log", dir);
    snprintf(text, sizeof text,
             "{\"name\": \"leaks\", \"data\": \"%s/assets/glue\", \"vocab\": \"%s/assets/vocab/vocab.txt\", "
             "\"models\": {\"rte\": \"%s/fixtures/tiny-a\"}, \"tasks\": [\"rte\"], \"methods\": [\"random\"], "
             "\"bits\": [2, 3, 4, 6, 8], \"budgets\": {\"k\": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]}, "
             "\"seeds\": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], \"limit\": 8, "
             "\"threads\": 1, \"output\": \"%s\", \"cache_dir\": \"%s/cache\"}",
             t.shared, t.shared, t.shared, out, dir);
    gq_err err = {{0}};
    GQ_CHECK(&t, gq_write_file_atomic(cfg, text, strlen(text), &err) == GQ_OK, "%s", err.msg);

    fflush(NULL);
    double t0 = gq_now();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        execl(t.glueq, t.glueq, "sweep", cfg, (char *)NULL);
        _exit(127);
    }
    line_counter jc = {journal, -1, 0};
    long rss50 = -1, rss_max = 0, rss_last = 0, rows = 0, rows_last = 0;
    int status = 0;
    const struct timespec tick = {0, 5000000}; /* 5 ms */
    while (waitpid(pid, &status, WNOHANG) == 0) {
        rows = count_lines(&jc) - 1; /* the header line */
        long kb = rss_kb(pid);
        if (rows >= 50 && rows < N_POINTS && kb > 0) {
            if (rss50 < 0) rss50 = kb;
            if (kb > rss_max) rss_max = kb;
            rss_last = kb, rows_last = rows;
        }
        nanosleep(&tick, NULL);
    }
    double secs = gq_now() - t0;
    rows = count_lines(&jc) - 1;
    if (jc.fd >= 0) close(jc.fd);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("sweep of %ld points in %.1f s, exit %d; RSS at point 50: %ld kB, at point %ld: %ld kB, largest from "
           "point 50 on: %ld kB (%+.2f%%)\n",
           rows, secs, code, rss50, rows_last, rss_last, rss_max, rss50 > 0 ? 100.0 * (rss_max - rss50) / rss50 : 0);
    GQ_CHECK(&t, code == 0, "glueq sweep exited with %d (a leak report under ASan?); its stderr: %s", code, log);
    GQ_CHECK(&t, rows == N_POINTS, "journal holds %ld points, want %d", rows, N_POINTS);
    GQ_CHECK(&t, rss50 > 0 && rows_last >= N_POINTS - 50, "RSS sampled at point 50 (%ld kB) and near the end (point %ld)",
             rss50, rows_last);
    if (CHECK_RSS)
        GQ_CHECK(&t, rss_max <= rss50 * (1 + RSS_GROWTH_LIMIT), "RSS grew from %ld kB at point 50 to %ld kB", rss50,
                 rss_max);
    else
        printf("RSS bound not checked under ASan (its quarantine keeps freed memory)\n");
    if (code != 0) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", log);
        if (system(cmd) != 0) fprintf(stderr, "cannot show %s\n", log);
    }
    return gq_test_done(&t);
}
