/* test_sweep_faults: a sweep under faults, end to end on the tiny-a fixture. Each fault
 * ends in a clear error (the errno's text) and a journal that `--resume` continues to
 * results identical to a straight run:
 *   - disk full: a 1 MiB tmpfs mounted in a private mount namespace when the test may
 *     (root; CI), filled to leave room for a few rows; always, RLIMIT_FSIZE (EFBIG), which
 *     takes the same path;
 *   - read-only output directory (a read-only tmpfs as root, mode 0555 otherwise);
 *   - SIGKILL at each file event of the final report writes: the previous files stay whole;
 *   - truncated and corrupted journal lines (middle and last);
 *   - a cache entry of an older format version: rebuilt with a warning;
 *   - two sweeps on one output directory: the second is refused (flock on the journal),
 *     with --resume too, and a killed holder leaves no stale lock;
 *   - processes sharing one cache directory never read a half-written entry.
 * And the flags sweep, merge and compare take through cli/args.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "quant.h"
#include "report.h"
#include "sweep.h"
#include "testquant.h"

/* Rounds of the shared-cache race: CACHE_PROCS processes scoring at once (~0.1 s each). */
enum { CACHE_ROUNDS = 8, CACHE_PROCS = 4 };

static char g_tmp[256];
static char g_config[512]; /* the sweep config file */
static int g_points;

static char *tmp_path(const char *rel) { return gq_path_join(g_tmp, rel); }

static char *read_text(const char *path) {
    char *s = NULL;
    size_t n;
    gq_err err = {{0}};
    return gq_read_file(path, 0, &s, &n, &err) == GQ_OK ? s : NULL;
}

static void write_text(const char *path, const char *text) {
    gq_err err = {{0}};
    if (gq_write_file_atomic(path, text, strlen(text), &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        exit(2);
    }
}

/* 1 + 1 + 2 bits x 2 k + uniform int3: 7 points of 40 RTE examples. */
static void write_config(gq_test_ctx *t) {
    char text[2048], *path = tmp_path("faults.json");
    snprintf(text, sizeof text,
             "{\"name\": \"faults\", \"data\": \"%s/assets/glue\", \"vocab\": \"%s/assets/vocab/vocab.txt\", "
             "\"models\": {\"rte\": \"%s/fixtures/tiny-a\"}, \"tasks\": [\"rte\"], "
             "\"methods\": [\"uniform\", \"svd\"], \"bits\": [3, 4], \"budgets\": {\"k\": [4, 64]}, "
             "\"limit\": 40, \"threads\": 1, \"output\": \"%s/unused\", \"cache_dir\": \"%s/cache\"}",
             t->shared, t->shared, t->shared, g_tmp, g_tmp);
    write_text(path, text);
    snprintf(g_config, sizeof g_config, "%s", path);
    free(path);
}

/* Runs `glueq sweep CONFIG --out DIR [extra]` in a child, stderr to a file; returns
 * its exit status (-signal when killed). *err_text (may be NULL) gets the stderr text. */
static int sweep_child(const char *out, const char *extra, char **err_text) {
    static int calls;
    char errpath[600];
    snprintf(errpath, sizeof errpath, "%s/sweep-%d.err", g_tmp, calls++); /* off the faulty disk */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        char *args[] = {g_config, "--out", (char *)out, "--quiet", (char *)extra, NULL};
        _exit(gq_test_cli("sweep", extra ? 5 : 4, args));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (err_text) *err_text = read_text(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* results.csv without the seconds column (timings differ between runs); same_results
 * also compares predictions.jsonl. */
static char *csv_without_seconds(const char *dir) {
    int col = 0;
    while (gq_report_columns[col] && strcmp(gq_report_columns[col], "seconds")) col++;
    return gq_test_results_csv_without(dir, col);
}

static int same_results(gq_test_ctx *t, const char *want_dir, const char *got_dir, const char *what) {
    char *a = csv_without_seconds(want_dir), *b = csv_without_seconds(got_dir);
    int same = a && b && !strcmp(a, b);
    GQ_CHECK(t, same, "%s: results.csv differs from a straight run's (seconds aside)", what);
    free(a), free(b);
    char *pa = gq_path_join(want_dir, "predictions.jsonl"), *pb = gq_path_join(got_dir, "predictions.jsonl");
    a = read_text(pa), b = read_text(pb);
    GQ_CHECK(t, a && b && !strcmp(a, b), "%s: predictions.jsonl differs from a straight run's", what);
    same &= a && b && !strcmp(a, b);
    free(a), free(b), free(pa), free(pb);
    return same;
}

/* The journal in dir parses, ends on a complete line, and holds how many rows. */
static int journal_rows(gq_test_ctx *t, const char *dir, const char *what) {
    char *jp = gq_path_join(dir, "journal.jsonl"), *text = read_text(jp);
    cJSON *rows = NULL;
    gq_err err = {{0}};
    gq_status st = gq_journal_read(jp, NULL, NULL, &rows, &err);
    GQ_CHECK(t, st == GQ_OK, "%s: journal invalid: %s", what, err.msg);
    GQ_CHECK(t, text && *text && text[strlen(text) - 1] == '\n', "%s: journal does not end on a complete line", what);
    int n = cJSON_GetArraySize(rows);
    cJSON_Delete(rows);
    free(jp), free(text);
    return n;
}

/* ---- disk full ---- */

/* A private mount namespace, so that mounts vanish with this process. 0 when refused. */
static int private_mounts(char *why, size_t n) {
    static int state = -1;
    if (state < 0) {
        state = unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
        if (!state) snprintf(why, n, "cannot make a private mount namespace: %s", strerror(errno));
    }
    return state;
}

static int mount_tmpfs(const char *dir, unsigned long flags, char *why, size_t n) {
    gq_err err = {{0}};
    gq_mkdirs(dir, &err);
    if (!private_mounts(why, n)) return 0;
    if (mount("tmpfs", dir, "tmpfs", flags, "size=1m") != 0) {
        snprintf(why, n, "cannot mount a tmpfs on %s: %s", dir, strerror(errno));
        return 0;
    }
    return 1;
}

/* Fills dir's filesystem so that about `room` bytes stay free. */
static void fill_disk(const char *dir, size_t room) {
    struct statvfs sv;
    char *filler = gq_path_join(dir, "filler");
    if (statvfs(dir, &sv) != 0) return;
    size_t free_bytes = (size_t)sv.f_bavail * sv.f_frsize, want = free_bytes > room ? free_bytes - room : 0;
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char block[4096] = {0};
    for (size_t done = 0; fd >= 0 && done < want;) {
        ssize_t w = write(fd, block, want - done < sizeof block ? want - done : sizeof block);
        if (w <= 0) break;
        done += (size_t)w;
    }
    if (fd >= 0) close(fd);
    free(filler);
}

static void check_disk_full_run(gq_test_ctx *t, const char *full, const char *out, const char *errno_text,
                                int code, const char *err_text, const char *what) {
    GQ_CHECK(t, code == 1, "%s: exit status %d, want 1", what, code);
    GQ_CHECK(t, err_text && strstr(err_text, "journal.jsonl: cannot append") && strstr(err_text, errno_text),
             "%s: message lacks '%s': %s", what, errno_text, err_text ? err_text : "(none)");
    int rows = journal_rows(t, out, what);
    GQ_CHECK(t, rows > 0 && rows < g_points, "%s: %d of %d rows journalled; the fault should hit mid-run", what, rows,
             g_points);
    printf("%s: stopped after %d of %d rows: %s", what, rows, g_points, err_text ? err_text : "\n");
}

static void test_disk_full(gq_test_ctx *t, const char *full, size_t journal_len) {
    /* always: a file-size limit that lets the header and a few rows in (EFBIG) */
    char *out = tmp_path("fsize"), *err_text = NULL;
    gq_err err = {{0}};
    gq_mkdirs(out, &err);
    struct rlimit rl, saved;
    getrlimit(RLIMIT_FSIZE, &saved);
    rl = saved;
    rl.rlim_cur = journal_len / 2; /* inherited by the child; lifted below */
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &rl);
    int code = sweep_child(out, NULL, &err_text);
    setrlimit(RLIMIT_FSIZE, &saved);
    check_disk_full_run(t, full, out, strerror(EFBIG), code, err_text, "file-size limit");
    free(err_text);
    GQ_CHECK(t, sweep_child(out, "--resume", &err_text) == 0, "resume after the file-size limit: %s", err_text);
    same_results(t, full, out, "file-size limit, then --resume");
    free(err_text), free(out);

    /* as root: a real full disk */
    char why[256] = "", *disk = tmp_path("disk");
    if (!mount_tmpfs(disk, 0, why, sizeof why)) {
        printf("SKIP disk full on a tmpfs: %s\n", why);
        free(disk);
        return;
    }
    out = gq_path_join(disk, "out");
    gq_mkdirs(out, &err);
    fill_disk(disk, journal_len / 2);
    code = sweep_child(out, NULL, &err_text);
    check_disk_full_run(t, full, out, strerror(ENOSPC), code, err_text, "disk full");
    GQ_CHECK(t, err_text && strstr(err_text, "the disk is full"), "disk full: no hint: %s", err_text);
    free(err_text);
    char *filler = gq_path_join(disk, "filler");
    unlink(filler);
    free(filler);
    GQ_CHECK(t, sweep_child(out, "--resume", &err_text) == 0, "resume after freeing space: %s", err_text);
    same_results(t, full, out, "disk full, then --resume");
    free(err_text), free(out);
    umount2(disk, MNT_DETACH);
    free(disk);
}

/* ---- read-only output directory ---- */

static int one_line(const char *s) {
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

static void test_read_only(gq_test_ctx *t) {
    char why[256] = "", *ro = tmp_path("readonly"), *err_text = NULL;
    int mounted = mount_tmpfs(ro, MS_RDONLY, why, sizeof why);
    if (!mounted) chmod(ro, 0555); /* not root: permissions suffice (root ignores them) */
    const char *want = mounted ? strerror(EROFS) : strerror(EACCES);
    int code = sweep_child(ro, NULL, &err_text);
    GQ_CHECK(t, code == 1, "read-only output: exit status %d, want 1", code);
    GQ_CHECK(t, err_text && strstr(err_text, "journal.jsonl") && strstr(err_text, want) && one_line(err_text),
             "read-only output: want one line naming the journal and '%s': %s", want, err_text ? err_text : "(none)");
    printf("read-only output (%s): %s", mounted ? "read-only tmpfs" : "mode 0555", err_text ? err_text : "\n");
    free(err_text);
    if (mounted) umount2(ro, MNT_DETACH);
    else chmod(ro, 0755);
    free(ro);
}

/* ---- SIGKILL during the final writes ---- */

static const char *const REPORTS[] = {"results.csv", "results.json", "predictions.jsonl", "table.md", "plot.svg", NULL};

static void copy_dir_files(const char *from, const char *to) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    if (system(cmd) != 0) fprintf(stderr, "FATAL %s\n", cmd), exit(2);
}

/* Kills a `--resume` of the finished run in `dir` at its k-th file event (1-based);
 * returns the number of events seen (all of them when k exceeds it). */
static int kill_at_event(const char *dir, int k) {
    int in = inotify_init1(IN_CLOEXEC);
    inotify_add_watch(in, dir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        char *args[] = {g_config, "--out", (char *)dir, "--resume", NULL};
        _exit(gq_test_cli("sweep", 4, args));
    }
    int seen = 0, status = 0;
    char buf[8192] __attribute__((aligned(8)));
    while (waitpid(pid, &status, WNOHANG) == 0) {
        fd_set fs;
        FD_ZERO(&fs);
        FD_SET(in, &fs);
        struct timeval tv = {0, 2000};
        if (select(in + 1, &fs, NULL, NULL, &tv) <= 0) continue;
        ssize_t len = read(in, buf, sizeof buf);
        for (char *p = buf; len > 0 && p < buf + len; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len)
            if (++seen == k) kill(pid, SIGKILL);
    }
    close(in);
    return seen;
}

static void test_kill_final_writes(gq_test_ctx *t, const char *full) {
    char *prev = tmp_path("prev"), *work = tmp_path("killwrites");
    copy_dir_files(full, prev);
    copy_dir_files(prev, work);
    int events = kill_at_event(work, 0); /* a whole resume: how many events its writes make */
    int trials = 0, mixed = 0;
    for (int k = 1; k <= events; k++) {
        copy_dir_files(prev, work);
        ino_t before[8];
        for (int i = 0; REPORTS[i]; i++) {
            char *p = gq_path_join(work, REPORTS[i]);
            struct stat sb;
            before[i] = stat(p, &sb) == 0 ? sb.st_ino : 0;
            free(p);
        }
        kill_at_event(work, k);
        trials++;
        int replaced = 0;
        for (int i = 0; REPORTS[i]; i++) {
            char *p = gq_path_join(work, REPORTS[i]), *q = gq_path_join(prev, REPORTS[i]);
            char *got = read_text(p), *want = read_text(q);
            struct stat sb;
            replaced += stat(p, &sb) == 0 && sb.st_ino != before[i];
            if (!strcmp(REPORTS[i], "results.json")) { /* provenance differs: compare the rows */
                cJSON *a = got ? cJSON_Parse(got) : NULL, *b = want ? cJSON_Parse(want) : NULL;
                GQ_CHECK(t, a && b && cJSON_Compare(cJSON_GetObjectItem(a, "rows"), cJSON_GetObjectItem(b, "rows"), 1),
                         "kill at event %d: results.json is not a whole previous or new file", k);
                cJSON_Delete(a), cJSON_Delete(b);
            } else {
                GQ_CHECK(t, got && want && !strcmp(got, want), "kill at event %d: %s is not whole (%zu bytes, want %zu)",
                         k, REPORTS[i], got ? strlen(got) : 0, want ? strlen(want) : 0);
            }
            free(got), free(want), free(p), free(q);
        }
        mixed += replaced > 0 && replaced < 5;
    }
    printf("kill during the final writes: %d file events, %d kills, %d left old and new files side by side\n", events,
           trials, mixed);
    GQ_CHECK(t, events >= 5, "a resume made only %d file events; the reports were not rewritten", events);
    free(prev), free(work);
}

/* ---- corrupt journal lines ---- */

/* The journal of dir with line `line` (1 = header) replaced by `with` (NULL: cut to half,
 * keeping its '\n' unless it is the last line). */
static void damage_line(const char *dir, int line, const char *with) {
    char *jp = gq_path_join(dir, "journal.jsonl"), *text = read_text(jp);
    char *p = text;
    for (int i = 1; i < line; i++) p = strchr(p, '\n') + 1;
    char *e = strchr(p, '\n');
    size_t keep = with ? 0 : (size_t)(e - p) / 2;
    char *out = malloc(strlen(text) + (with ? strlen(with) : 0) + 2);
    size_t n = (size_t)(p - text);
    memcpy(out, text, n);
    if (with) memcpy(out + n, with, strlen(with)), n += strlen(with);
    else memcpy(out + n, p, keep), n += keep;
    int last = e[1] == '\0';
    if (with || !last) strcpy(out + n, e);
    else out[n] = '\0';
    write_text(jp, out);
    free(out), free(text), free(jp);
}

static void test_corrupt_journal(gq_test_ctx *t, const char *full) {
    char *dir = tmp_path("corrupt"), *err_text = NULL;
    /* a truncated last line (a write cut by a kill): resume runs that point again */
    copy_dir_files(full, dir);
    damage_line(dir, g_points + 1, NULL);
    GQ_CHECK(t, sweep_child(dir, "--resume", &err_text) == 0, "truncated last line: %s", err_text);
    GQ_CHECK(t, journal_rows(t, dir, "truncated last line") == g_points, "truncated last line: row count");
    same_results(t, full, dir, "truncated last line, then --resume");
    free(err_text);
    /* a journal cut inside its header line (killed while creating it) is started again */
    copy_dir_files(full, dir);
    char *jp0 = gq_path_join(dir, "journal.jsonl");
    write_text(jp0, "glueq-journal 1 0123");
    free(jp0);
    GQ_CHECK(t, sweep_child(dir, NULL, &err_text) == 0, "journal cut in its header: %s", err_text);
    GQ_CHECK(t, journal_rows(t, dir, "cut header") == g_points, "journal cut in its header: row count");
    same_results(t, full, dir, "journal cut in its header, run again");
    free(err_text);
    /* the others are refused, naming the line, and leave the journal untouched */
    static const struct {
        int line;
        const char *with;
        const char *what;
    } cases[] = {{3, NULL, "truncated middle line"},
                 {4, "{\"point_id\": 12, \"index\": }", "corrupted middle line"},
                 {8, "\x01garbage", "corrupted last line"},
                 {1, "glueq-journal 1 xyz {}", "corrupted header"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        copy_dir_files(full, dir);
        damage_line(dir, cases[c].line, cases[c].with);
        char *jp = gq_path_join(dir, "journal.jsonl"), *before = read_text(jp), want[32];
        snprintf(want, sizeof want, "line %d", cases[c].line);
        int code = sweep_child(dir, "--resume", &err_text);
        char *after = read_text(jp);
        GQ_CHECK(t, code == 1 && err_text && strstr(err_text, "journal.jsonl: ") && strstr(err_text, want),
                 "%s: exit %d, message lacks '%s': %s", cases[c].what, code, want, err_text ? err_text : "(none)");
        GQ_CHECK(t, before && after && !strcmp(before, after), "%s: the refused resume changed the journal",
                 cases[c].what);
        printf("%s: %s", cases[c].what, err_text ? err_text : "\n");
        free(err_text), free(before), free(after), free(jp);
    }
    free(dir);
}

/* ---- cache entry of an older format ---- */

static void test_old_cache(gq_test_ctx *t, const char *full) {
    char *dir = tmp_path("oldcache"), *cache = tmp_path("cache"), *err_text = NULL;
    /* every entry of the shared cache (filled by the straight run) claims format version 0 */
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "for f in '%s'/*.gqstate; do printf '\\000\\000\\000\\000' | dd of=\"$f\" bs=1 seek=8 conv=notrunc "
             "status=none; done; ls '%s'/*.gqstate | wc -l",
             cache, cache);
    char *out = NULL;
    gq_test_run(cmd, &out, NULL);
    int entries = out ? atoi(out) : 0;
    free(out);
    GQ_CHECK(t, entries > 0, "the straight run cached no method state");
    int code = sweep_child(dir, NULL, &err_text);
    GQ_CHECK(t, code == 0, "old cache entries: exit %d: %s", code, err_text);
    GQ_CHECK(t, err_text && strstr(err_text, "cache version differs; rebuilding the cache entry"),
             "old cache entries: no warning: %s", err_text ? err_text : "(none)");
    same_results(t, full, dir, "old cache entries rebuilt");
    free(err_text);
    snprintf(cmd, sizeof cmd, "od -An -tu4 -j8 -N4 '%s'/*.gqstate | tr -d ' \\n'", cache);
    gq_test_run(cmd, &out, NULL);
    GQ_CHECK(t, out && atoi(out) > 0, "the rebuilt entry still has version %s", out ? out : "?");
    printf("old cache format: %d entries rebuilt with a warning\n", entries);
    free(out), free(dir), free(cache);
}

/* ---- two sweeps on one output directory ---- */

static pid_t start_sweep(const char *out, int resume) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        char *args[] = {g_config, "--out", (char *)out, "--quiet", resume ? "--resume" : NULL, NULL};
        _exit(gq_test_cli("sweep", resume ? 5 : 4, args));
    }
    return pid;
}

static void test_lock(gq_test_ctx *t, const char *full) {
    char *out = tmp_path("locked"), *jp = gq_path_join(out, "journal.jsonl"), *err_text = NULL;
    gq_err err = {{0}};
    gq_mkdirs(out, &err);
    pid_t a = start_sweep(out, 0);
    struct stat sb;
    int running = 1;
    while ((stat(jp, &sb) != 0 || sb.st_size == 0) && (running = waitpid(a, NULL, WNOHANG) == 0)) usleep(500);
    kill(a, SIGSTOP); /* the holder, frozen with its lock: the state a slow sweep is in */
    GQ_CHECK(t, running, "the first sweep ended before its journal appeared");
    static const char *const extras[] = {NULL, "--resume"};
    for (int i = 0; i < 2; i++) {
        int code = sweep_child(out, extras[i], &err_text);
        GQ_CHECK(t, code == 1 && err_text && strstr(err_text, "journal.jsonl: in use by another glueq process"),
                 "second sweep%s: exit %d: %s", extras[i] ? " --resume" : "", code, err_text ? err_text : "(none)");
        if (i) printf("second sweep --resume: %s", err_text ? err_text : "\n");
        free(err_text);
    }
    /* a merge into the directory is refused too (it would replace the journal) */
    char args[1400], *merge_err = NULL;
    snprintf(args, sizeof args, "%s merge --out=%s %s/journal.jsonl", t->glueq, out, full);
    char *merge_out = NULL;
    int merge_rc = gq_test_run(args, &merge_out, &merge_err);
    GQ_CHECK(t, merge_rc == 1 && merge_err && strstr(merge_err, "in use by another glueq process"),
             "merge into a running sweep's directory: exit %d: %s", merge_rc, merge_err ? merge_err : "");
    free(merge_out), free(merge_err);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    int code = sweep_child(out, "--resume", &err_text);
    GQ_CHECK(t, code == 0, "resume after the holder was killed: exit %d: %s", code, err_text ? err_text : "");
    free(err_text);
    GQ_CHECK(t, journal_rows(t, out, "locked") == g_points, "journal after the lock test: wrong row count");
    same_results(t, full, out, "killed holder, then --resume");

    /* two sweeps started together on an empty directory: one runs, one is refused */
    char *both = tmp_path("together");
    gq_mkdirs(both, &err);
    pid_t p1 = start_sweep(both, 1), p2 = start_sweep(both, 1);
    int s1 = 0, s2 = 0;
    waitpid(p1, &s1, 0), waitpid(p2, &s2, 0);
    int ok = (WIFEXITED(s1) && WEXITSTATUS(s1) == 0) + (WIFEXITED(s2) && WEXITSTATUS(s2) == 0);
    GQ_CHECK(t, ok == 1, "two sweeps at once: %d succeeded, want exactly 1", ok);
    GQ_CHECK(t, journal_rows(t, both, "together") == g_points, "two sweeps at once: journal rows interleaved");
    same_results(t, full, both, "two sweeps at once");
    free(both), free(out), free(jp);
}

/* ---- processes sharing one cache directory ---- */

/* sha256 of every svd score matrix at ranks 1..4 (in an order that depends on `who`),
 * through a session on `cache` (NULL: none). 0 on success. */
static int svd_digests(gq_test_ctx *t, const char *cache, int who, uint8_t digest[4][32]) {
    char *model = gq_test_path(t, "fixtures/tiny-a");
    gq_encoder *m = NULL;
    gq_err err = {{0}};
    gq_quant_session *s = NULL;
    int rc = gq_encoder_load(model, &m, &err) != GQ_OK || gq_quant_session_new(m, cache, &s, &err) != GQ_OK;
    gq_quant_opts q;
    gq_quant_opts_default(&q, 4);
    for (int i = 0; !rc && i < 4; i++) {
        int rank = (i + who) % 4;
        char text[8];
        snprintf(text, sizeof text, "%d", rank + 1);
        gq_method_opts mo = {0};
        gq_method_opts_set(&mo, "rank", text, &err);
        gq_quant_scores *sc = NULL;
        rc = gq_quant_scores_compute(s, "svd", &mo, &q, &sc, &err) != GQ_OK;
        gq_sha256 h;
        gq_sha256_init(&h);
        for (int k = 0; !rc && k < gq_quant_session_n_mats(s); k++) {
            int rows, cols;
            gq_quant_session_fp32(s, k, &rows, &cols);
            gq_sha256_update(&h, gq_quant_scores_get(sc, k), (size_t)rows * cols * sizeof(float));
        }
        gq_sha256_final(&h, digest[rank]);
        gq_quant_scores_free(sc);
    }
    gq_quant_session_free(s);
    gq_encoder_free(m);
    free(model);
    return rc;
}

/* Events on cache entries' final names (*.gqstate): renamed into place (whole), or
 * created or modified there (visible half-written to a reader, however briefly). */
static void count_entry_events(int in, int *renamed, int *in_place) {
    char buf[16384] __attribute__((aligned(8)));
    ssize_t len;
    while ((len = read(in, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            size_t n = e->len ? strlen(e->name) : 0;
            if (n > 8 && !strcmp(e->name + n - 8, ".gqstate")) *(e->mask & IN_MOVED_TO ? renamed : in_place) += 1;
            p += sizeof *e + e->len;
        }
}

static void test_shared_cache(gq_test_ctx *t) {
    int warned = 0, wrong = 0, renamed = 0, in_place = 0;
    uint8_t want[4][32];
    if (svd_digests(t, NULL, 0, want) != 0) {
        GQ_CHECK(t, 0, "svd scores of tiny-a without a cache failed");
        return;
    }
    for (int round = 0; round < CACHE_ROUNDS; round++) {
        char rel[64], *cache, *log;
        snprintf(rel, sizeof rel, "shared-cache-%d", round);
        cache = tmp_path(rel);
        snprintf(rel, sizeof rel, "shared-cache-%d.err", round);
        log = tmp_path(rel);
        gq_err err = {{0}};
        gq_mkdirs(cache, &err);
        int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        inotify_add_watch(in, cache, IN_CREATE | IN_MODIFY | IN_MOVED_TO);
        int go[2];
        if (pipe(go) != 0) return;
        pid_t pids[CACHE_PROCS];
        fflush(NULL);
        for (int w = 0; w < CACHE_PROCS; w++) {
            if ((pids[w] = fork()) == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                dup2(fd, 2);
                close(go[1]);
                char c;
                if (read(go[0], &c, 1) < 0) _exit(2); /* all start together */
                usleep((useconds_t)(w * 700));
                uint8_t got[4][32];
                _exit(svd_digests(t, cache, w, got) ? 2 : memcmp(got, want, sizeof got) != 0);
            }
        }
        close(go[0]), close(go[1]);
        for (int w = 0; w < CACHE_PROCS; w++) {
            int status = 0;
            waitpid(pids[w], &status, 0);
            wrong += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
        count_entry_events(in, &renamed, &in_place);
        close(in);
        char *text = read_text(log);
        warned += text && strstr(text, "rebuilding") != NULL;
        if (text && *text && round == 0) printf("shared cache, round 0 stderr:\n%s", text);
        free(text), free(cache), free(log);
    }
    GQ_CHECK(t, wrong == 0, "shared cache: %d processes got scores that differ from uncached ones", wrong);
    GQ_CHECK(t, warned == 0, "shared cache: %d of %d rounds read a half-written entry", warned, CACHE_ROUNDS);
    GQ_CHECK(t, in_place == 0 && renamed > 0, "shared cache: entries written in place %d times, renamed in %d times",
             in_place, renamed);
    printf("shared cache: %d rounds x %d processes, %d entries renamed into place, %d written in place, %d warnings, "
           "%d wrong scores\n", CACHE_ROUNDS, CACHE_PROCS, renamed, in_place, warned, wrong);
}

/* ---- the flags of sweep, merge and compare (cli/args.c) ---- */

/* Runs `glueq ARGS`; returns the exit status, stderr in *err_text (caller frees). */
static int glueq(gq_test_ctx *t, const char *args, char **err_text) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s %s", t->glueq, args);
    int rc = gq_test_run(cmd, &out, err_text);
    free(out);
    return rc;
}

/* The "preds" of every row of both predictions.jsonl are equal. */
static int same_predictions(const char *dir_a, const char *dir_b) {
    char *pa = gq_path_join(dir_a, "predictions.jsonl"), *pb = gq_path_join(dir_b, "predictions.jsonl");
    char *a = read_text(pa), *b = read_text(pb), *sa = NULL, *sb = NULL;
    int same = a && b, rows = 0;
    for (char *la = a ? strtok_r(a, "\n", &sa) : NULL, *lb = b ? strtok_r(b, "\n", &sb) : NULL; same && (la || lb);
         la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb), rows++) {
        cJSON *ja = la ? cJSON_Parse(la) : NULL, *jb = lb ? cJSON_Parse(lb) : NULL;
        same = ja && jb && cJSON_Compare(cJSON_GetObjectItem(ja, "preds"), cJSON_GetObjectItem(jb, "preds"), 1);
        cJSON_Delete(ja), cJSON_Delete(jb);
    }
    free(a), free(b), free(pa), free(pb);
    return same && rows == g_points;
}

static void expect_usage_error(gq_test_ctx *t, const char *args, const char *needle) {
    char *err_text = NULL;
    int rc = glueq(t, args, &err_text);
    GQ_CHECK(t, rc == 2 && err_text && !strncmp(err_text, "glueq: ", 7) && one_line(err_text) && strstr(err_text, needle),
             "glueq %s: want exit 2 and one line with '%s', got %d: %s", args, needle, rc, err_text ? err_text : "");
    free(err_text);
}

static void test_flags(gq_test_ctx *t, const char *full) {
    char args[2048], *err_text = NULL, *out = tmp_path("flags"), *cache = tmp_path("flags-cache");
    snprintf(args, sizeof args, "sweep %s --out=%s --threads 2 --quiet --cache-dir=%s", g_config, out, cache);
    int rc = glueq(t, args, &err_text);
    GQ_CHECK(t, rc == 0 && err_text && !*err_text, "%s: exit %d, want 0 and a quiet stderr: %s", args, rc, err_text);
    free(err_text);
    /* 2 threads split the batch: logits move by ~1e-6 (see results/reliability.md, determinism), predictions do not */
    GQ_CHECK(t, same_predictions(full, out), "sweep --threads 2: predictions differ from the 1-thread run's");
    char *jp = gq_path_join(out, "journal.jsonl");
    cJSON *hdr = NULL;
    gq_err err = {{0}};
    gq_journal_read(jp, NULL, &hdr, NULL, &err);
    const cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(hdr, "runs"), 0);
    GQ_CHECK(t, cJSON_GetNumberValue(cJSON_GetObjectItem(run, "threads")) == 2, "--threads 2 not recorded in the journal");
    cJSON_Delete(hdr), free(jp);
    snprintf(args, sizeof args, "ls %s/svd-*.gqstate >/dev/null 2>&1", cache);
    GQ_CHECK(t, system(args) == 0, "--cache-dir %s holds no svd state", cache);

    char *merged = tmp_path("flags-merged");
    snprintf(args, sizeof args, "merge --out=%s %s --quiet", merged, out);
    GQ_CHECK(t, glueq(t, args, NULL) == 0, "glueq %s failed", args);
    same_results(t, out, merged, "merge --out=");
    snprintf(args, sizeof args, "compare %s %s --task=rte --fail-if-worse=0", full, merged);
    GQ_CHECK(t, glueq(t, args, NULL) == 0, "glueq %s failed", args);

    snprintf(args, sizeof args, "sweep %s --threads=many", g_config);
    expect_usage_error(t, args, "'--threads': 'many' is not an integer");
    snprintf(args, sizeof args, "sweep %s --shard 3/2", g_config);
    expect_usage_error(t, args, "'--shard': '3/2' is not i/N");
    snprintf(args, sizeof args, "sweep %s --colour", g_config);
    expect_usage_error(t, args, "unknown option '--colour'");
    expect_usage_error(t, "sweep", "no CONFIG");
    snprintf(args, sizeof args, "merge --out=%s", merged);
    expect_usage_error(t, args, "merge needs OUT and at least one INPUT");
    snprintf(args, sizeof args, "compare %s %s --fail-if-worse=-1", full, merged);
    expect_usage_error(t, args, "'--fail-if-worse': '-1' is not a number");
    expect_usage_error(t, "compare onlyone", "compare needs two result sets");
    free(out), free(cache), free(merged);
}

/* ---- numbers out of range in a journal ---- */

/* The journal of dir with the value of `key` in line `line` replaced by `value` (the JSON
 * text of a number, a string, ...). */
static void set_number(const char *dir, int line, const char *key, const char *value) {
    char *jp = gq_path_join(dir, "journal.jsonl"), *text = read_text(jp), pattern[64];
    char *p = text;
    for (int i = 1; i < line; i++) p = strchr(p, '\n') + 1;
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    char *at = strstr(p, pattern) + strlen(pattern), *end = at + strcspn(at, ",}");
    char *out = malloc(strlen(text) + strlen(value) + 1);
    size_t n = (size_t)(at - text);
    memcpy(out, text, n);
    strcpy(out + n, value);
    strcat(out, end);
    write_text(jp, out);
    free(out), free(text), free(jp);
}

/* Numbers a point's row and the header hold that glueq uses as indices and counts: one
 * that is not an integer in range is refused with one line naming the journal and the line
 * (never cast: out of int's range that is undefined behaviour), on resume and on merge. */
static void test_corrupt_numbers(gq_test_ctx *t, const char *full) {
    char *dir = tmp_path("numbers"), *merged = tmp_path("numbers-merged"), *err_text = NULL, args[1024];
    static const struct {
        int line;
        const char *key, *value, *want;
    } cases[] = {{3, "index", "1e300", "line 3: index 1e+300 is not an integer from 0 to 6"},
                 {4, "index", "1e999", "line 4: index inf is not an integer from 0 to 6"},
                 {5, "index", "-1", "line 5: index -1 is not an integer from 0 to 6"},
                 {6, "index", "2.5", "line 6: index 2.5 is not an integer from 0 to 6"},
                 {7, "index", "7", "line 7: index 7 is not an integer from 0 to 6"},
                 {8, "index", "\"3\"", "line 8: index (not a number) is not an integer from 0 to 6"},
                 {1, "n_points", "1e300", "line 1: n_points 1e+300 is not an integer from 0 to 2147483647"},
                 {1, "n_points", "null", "line 1: n_points (not a number) is not an integer from 0 to"},
                 {1, "n_points", "-7", "line 1: n_points -7 is not an integer from 0 to"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        copy_dir_files(full, dir);
        set_number(dir, cases[c].line, cases[c].key, cases[c].value);
        char *jp = gq_path_join(dir, "journal.jsonl"), *before = read_text(jp), want[160];
        snprintf(want, sizeof want, "journal.jsonl: %s", cases[c].want);
        int code = sweep_child(dir, "--resume", &err_text);
        char *after = read_text(jp);
        GQ_CHECK(t, code == 1 && err_text && strstr(err_text, want) && one_line(err_text),
                 "resume with %s %s in line %d: exit %d, want one line with '%s': %s", cases[c].key, cases[c].value,
                 cases[c].line, code, want, err_text ? err_text : "(none)");
        GQ_CHECK(t, before && after && !strcmp(before, after), "%s %s: the refused resume changed the journal",
                 cases[c].key, cases[c].value);
        free(err_text);
        snprintf(args, sizeof args, "merge --out=%s %s --quiet", merged, dir);
        int rc = glueq(t, args, &err_text);
        GQ_CHECK(t, rc == 1 && err_text && strstr(err_text, want) && one_line(err_text),
                 "merge with %s %s in line %d: exit %d, want one line with '%s': %s", cases[c].key, cases[c].value,
                 cases[c].line, rc, want, err_text ? err_text : "(none)");
        printf("%s %s: %s", cases[c].key, cases[c].value, err_text ? err_text : "\n");
        free(err_text), free(before), free(after), free(jp);
    }
    /* the reports print the other numbers of a row as they are, whatever their size */
    copy_dir_files(full, dir);
    set_number(dir, 3, "flips", "1e300");
    set_number(dir, 3, "correct", "-1e300");
    snprintf(args, sizeof args, "merge --out=%s %s --quiet", merged, dir);
    int rc = glueq(t, args, &err_text);
    char *tp = gq_path_join(merged, "table.md"), *table = read_text(tp);
    GQ_CHECK(t, rc == 0 && table && strstr(table, "(1e+300 flips)") && strstr(table, "(-1e+300/40)"),
             "merge with flips 1e300 and correct -1e300: exit %d, %s; table.md: %s", rc, err_text ? err_text : "",
             table ? table : "(none)");
    free(err_text), free(table), free(tp);
    free(dir), free(merged);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_sweep_faults", g_tmp, sizeof g_tmp);
    write_config(&t);
    char *full = tmp_path("full"), *err_text = NULL;
    GQ_CHECK(&t, sweep_child(full, NULL, &err_text) == 0, "straight run: %s", err_text ? err_text : "");
    free(err_text);
    g_points = journal_rows(&t, full, "straight run");
    char *jp = gq_path_join(full, "journal.jsonl");
    struct stat sb;
    size_t journal_len = stat(jp, &sb) == 0 ? (size_t)sb.st_size : 0;
    free(jp);
    GQ_CHECK(&t, g_points == 7, "straight run journalled %d points, want 7", g_points);
    double t0 = gq_now();
#define TIMED(call) (call, printf("  (%.1f s)\n", gq_now() - t0), t0 = gq_now())
    if (t.failures == 0) {
        TIMED(test_disk_full(&t, full, journal_len));
        TIMED(test_read_only(&t));
        TIMED(test_kill_final_writes(&t, full));
        TIMED(test_corrupt_journal(&t, full));
        TIMED(test_corrupt_numbers(&t, full));
        TIMED(test_old_cache(&t, full));
        TIMED(test_lock(&t, full));
        TIMED(test_shared_cache(&t));
        TIMED(test_flags(&t, full));
    }
    free(full);
    return gq_test_done(&t);
}
