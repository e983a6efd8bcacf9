/* testlib: the few helpers every glueq test uses: checks that count failures and say
 * what differed, tolerance comparisons of float arrays that print the first mismatches,
 * and the paths ctest injects (argv[1] = the shared directory, argv[2] = glueq binary). */
#ifndef GQ_TESTLIB_H
#define GQ_TESTLIB_H

#include <cJSON.h>

#include "checkpoint.h"
#include "common.h"

/* Logits of glueq's FP32 forward against PyTorch's FP32 logits (fixtures/tiny-*): measured
 * at most 3.5e-6 (tiny-b, 4 threads; test_forward prints it); about 10x that. */
#define GQ_TEST_LOGIT_ATOL 3e-5

typedef struct {
    int checks, failures;
    const char *shared; /* ../shared: SPEC.md, assets/, fixtures/ */
    const char *glueq;  /* path of the glueq binary */
    char tmp[256];      /* the test's temporary directory, if it made one */
} gq_test_ctx;

void gq_test_init(gq_test_ctx *t, int argc, char **argv);
/* Creates the test's temporary directory /tmp/<prefix>_XXXXXX and copies its path into
 * buf (n bytes). gq_test_done removes it when every check passed and keeps it, saying
 * where, otherwise. Exits with status 2 when it cannot be created. */
void gq_test_tmpdir(gq_test_ctx *t, const char *prefix, char *buf, size_t n);

/* Prints the summary and returns the process exit status (non-zero on any failure). */
int gq_test_done(gq_test_ctx *t);

#define GQ_CHECK(t, cond, ...)                                                                      \
    do {                                                                                            \
        (t)->checks++;                                                                              \
        if (!(cond)) {                                                                              \
            (t)->failures++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fputc('\n', stderr);                                                                    \
        }                                                                                           \
    } while (0)

/* Compares n floats: passes when |got - want| <= atol + rtol * |want| everywhere.
 * Prints the first mismatches and the largest error under `what`. Returns 1 if equal. */
int gq_check_close(gq_test_ctx *t, const char *what, const float *got, const float *want, size_t n, double atol,
                   double rtol);

/* Joins the shared directory with a relative path (caller frees). */
char *gq_test_path(const gq_test_ctx *t, const char *rel);

/* Joins tests/fixtures/gen/results (the HF references committed with the source) with a
 * relative path (caller frees). */
char *gq_test_ref_path(const char *rel);

/* Loads a fixture safetensors file relative to the shared dir; aborts the test on error. */
gq_ckpt *gq_test_load(gq_test_ctx *t, const char *rel);

/* dir/results.csv with column `col` (0-based) left out of every line, quoted commas kept;
 * NULL when the file cannot be read (caller frees). Sweeps' timing columns differ between
 * otherwise identical runs. */
char *gq_test_results_csv_without(const char *dir, int col);

/* Runs a shell command, captures stdout (and stderr into *err_out if non-NULL); returns
 * its exit status. Both strings are owned by the caller. */
int gq_test_run(const char *cmd, char **out, char **err_out);

/* Runs the glueq binary with args (shell words) as gq_test_run does, its assets those of
 * the shared directory and its cache the folder cache/ of the test's temporary directory
 * (gq_test_tmpdir). */
int gq_test_glueq(const gq_test_ctx *t, const char *args, char **out, char **err_out);

/* dir/name parsed as JSON; NULL when it cannot be read or parsed (caller: cJSON_Delete). */
cJSON *gq_test_read_json(const char *dir, const char *name);

#endif
