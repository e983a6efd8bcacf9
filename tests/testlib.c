/* testlib: see testlib.h. */
#define _POSIX_C_SOURCE 200809L
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void gq_test_init(gq_test_ctx *t, int argc, char **argv) {
    memset(t, 0, sizeof *t);
    t->shared = argc > 1 ? argv[1] : "../shared";
    t->glueq = argc > 2 ? argv[2] : "glueq";
}

void gq_test_tmpdir(gq_test_ctx *t, const char *prefix, char *buf, size_t n) {
    snprintf(t->tmp, sizeof t->tmp, "/tmp/%s_XXXXXX", prefix);
    if (!mkdtemp(t->tmp)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(buf, n, "%s", t->tmp);
}

char *gq_test_ref_path(const char *rel) { return gq_path_join(GQ_TEST_REFS_DIR, rel); }

int gq_test_done(gq_test_ctx *t) {
    if (t->tmp[0] && t->failures) {
        fprintf(stderr, "outputs kept in %s\n", t->tmp);
    } else if (t->tmp[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->tmp);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", t->tmp);
    }
    printf("%d checks: %d passed, %d failed\n", t->checks, t->checks - t->failures, t->failures);
    return t->failures ? 1 : 0;
}

int gq_check_close(gq_test_ctx *t, const char *what, const float *got, const float *want, size_t n, double atol,
                   double rtol) {
    size_t bad = 0, worst = 0;
    double worst_err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        int nan_mismatch = isnan(got[i]) != isnan(want[i]);
        if (e > worst_err || nan_mismatch) worst_err = nan_mismatch ? INFINITY : e, worst = i;
        if (nan_mismatch || e > atol + rtol * fabs((double)want[i])) {
            if (bad < 5) fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (err %.3g)\n", what, i, got[i], want[i], e);
            bad++;
        }
    }
    t->checks++;
    if (bad) {
        t->failures++;
        fprintf(stderr, "FAIL %s: %zu of %zu values differ; max err %.3g at %zu\n", what, bad, n, worst_err, worst);
        return 0;
    }
    printf("ok   %s: %zu values, max err %.3g\n", what, n, worst_err);
    return 1;
}

char *gq_test_path(const gq_test_ctx *t, const char *rel) { return gq_path_join(t->shared, rel); }

gq_ckpt *gq_test_load(gq_test_ctx *t, const char *rel) {
    char *p = gq_test_path(t, rel);
    gq_ckpt *ck = NULL;
    gq_err err = {{0}};
    if (gq_ckpt_load(p, &ck, &err) != GQ_OK) {
        fprintf(stderr, "FATAL cannot load fixture: %s\n", err.msg);
        exit(2);
    }
    free(p);
    return ck;
}

static char *slurp_fd(FILE *f) {
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    size_t got;
    while (s && (got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *g = realloc(s, cap *= 2);
            if (!g) {
                free(s);
                return NULL;
            }
            s = g;
        }
    }
    if (s) s[n] = '\0';
    return s;
}

int gq_test_run(const char *cmd, char **out, char **err_out) {
    char errfile[] = "/tmp/gq_test_stderr_XXXXXX";
    int fd = mkstemp(errfile);
    if (fd < 0) return -1;
    close(fd);
    size_t n = strlen(cmd) + strlen(errfile) + 16;
    char *full = malloc(n);
    snprintf(full, n, "%s 2>%s", cmd, errfile);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) return -1;
    char *o = slurp_fd(p);
    int st = pclose(p);
    if (out) *out = o;
    else free(o);
    if (err_out) {
        FILE *e = fopen(errfile, "r");
        *err_out = e ? slurp_fd(e) : NULL;
        if (e) fclose(e);
    }
    unlink(errfile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int gq_test_glueq(const gq_test_ctx *t, const char *args, char **out, char **err_out) {
    size_t n = strlen(t->shared) + strlen(t->tmp) + strlen(t->glueq) + strlen(args) + 64;
    char *cmd = malloc(n);
    if (!cmd) return -1;
    snprintf(cmd, n, "GLUEQ_ASSETS=%s/assets GLUEQ_CACHE_DIR=%s/cache %s %s", t->shared, t->tmp, t->glueq, args);
    int rc = gq_test_run(cmd, out, err_out);
    free(cmd);
    return rc;
}

cJSON *gq_test_read_json(const char *dir, const char *name) {
    char *p = gq_path_join(dir, name), *text = NULL;
    if (p) gq_read_file(p, 0, &text, NULL, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(p), free(text);
    return j;
}

char *gq_test_results_csv_without(const char *dir, int col) {
    char *p = gq_path_join(dir, "results.csv"), *csv = NULL;
    size_t n;
    gq_err err = {{0}};
    gq_status st = p ? gq_read_file(p, 0, &csv, &n, &err) : GQ_ERR_NOMEM;
    free(p);
    if (st != GQ_OK) return NULL;
    char *out = malloc(strlen(csv) + 1), *o = out;
    int field = 0, quoted = 0;
    for (const char *s = csv; out && *s; s++) {
        if (*s == '"') quoted = !quoted;
        if (!quoted && *s == ',' && ++field == col + 1) continue; /* the comma that ends column col */
        if (!quoted && *s == '\n') field = 0;
        if (field != col || *s == '\n') *o++ = *s;
    }
    if (out) *o = '\0';
    free(csv);
    return out;
}
