/* test_config_nomem: the sweep config parser when memory runs out. Each allocation that
 * glueq's code makes while parsing a config (malloc, calloc and realloc are wrapped at
 * link time) is made to fail in turn: every outcome must be either one error line that
 * starts with the config file's name, or the same config as without the failure (same
 * hash and points). Under ASan this also checks that no failure path leaks. */
#include <stdlib.h>
#include <string.h>

#include "sweep_config.h"
#include "testlib.h"

/* The fail_at-th allocation (from 1) after arming returns NULL; 0: none fails. A test
 * needs this as a global: the wrappers have malloc's signature. */
static long fail_at, allocations;

static int failing(void) { return ++allocations == fail_at; }

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) { return failing() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return failing() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return failing() ? NULL : __real_realloc(p, n); }

/* Every part of the parser that allocates: tasks and models, methods with options, a
 * calibrated method, budgets, quantizers, seeds and ${VAR} expansion. */
static const char *const CONFIG =
    "{\"name\": \"t\", \"data\": \"${GLUEQ_TEST_NOMEM_DIR:-/d}/glue\", \"models\": {\"rte\": \"/m\", \"mrpc\": \"/n\"},"
    " \"tasks\": [\"rte\", \"mrpc\"], \"methods\": [\"uniform\", \"svd\", \"awq\", \"random\"],"
    " \"method_options\": {\"svd\": {\"rank\": 4}}, \"bits\": [3, 4], \"budgets\": {\"k\": [1, 2]},"
    " \"quantizer\": {\"scheme\": \"asymmetric\"}, \"calibration\": {\"n\": 8}, \"seeds\": [1, 2],"
    " \"output\": \"/o\"}";
static const char *const PATH = "configs/nomem.json";

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_err err = {{0}};
    gq_sweep_config *ref = NULL;
    allocations = 0;
    if (gq_sweep_config_parse(CONFIG, PATH, &ref, &err) != GQ_OK) {
        fprintf(stderr, "FAIL: the test's config is rejected: %s\n", err.msg);
        return 1;
    }
    long total = allocations, failures = 0;
    for (fail_at = 1; fail_at <= total; fail_at++) {
        gq_sweep_config *c = NULL;
        err.msg[0] = '\0';
        allocations = 0;
        gq_status st = gq_sweep_config_parse(CONFIG, PATH, &c, &err);
        long failed_at = fail_at;
        fail_at = 0; /* the checks below allocate too */
        if (st == GQ_OK) {
            GQ_CHECK(&t, !strcmp(c->hash, ref->hash) && c->n_points == ref->n_points,
                     "allocation %ld failed, yet the config parsed to hash %.12s with %d points, not %.12s with %d",
                     failed_at, c->hash, c->n_points, ref->hash, ref->n_points);
        } else {
            failures++;
            GQ_CHECK(&t, !strncmp(err.msg, PATH, strlen(PATH)) && err.msg[strlen(PATH)] == ':',
                     "allocation %ld failed: the message '%s' does not start with the file", failed_at, err.msg);
        }
        gq_sweep_config_free(c);
        fail_at = failed_at;
    }
    fail_at = 0;
    printf("%ld allocations, each made to fail: %ld errors, %ld identical configs\n", total, failures,
           total - failures);
    GQ_CHECK(&t, failures > 0, "no allocation failure was reported");
    gq_sweep_config_free(ref);
    return gq_test_done(&t);
}
