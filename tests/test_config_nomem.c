/* test_config_nomem: the sweep config parser when memory runs out. Each allocation that
 * glueq's code makes while parsing a config is made to fail in turn (testnomem): every
 * outcome must be either one error line that starts with the config file's name, or the
 * same config as without the failure (same hash and points). Under ASan this also checks
 * that no failure path leaks. */
#include <stdlib.h>
#include <string.h>

#include "sweep_config.h"
#include "testnomem.h"

/* Every part of the parser that allocates: tasks and models, methods with options, a
 * calibrated method, budgets, quantizers, seeds and ${VAR} expansion. */
static const char *const CONFIG =
    "{\"name\": \"t\", \"data\": \"${GLUEQ_TEST_NOMEM_DIR:-/d}/glue\", \"models\": {\"rte\": \"/m\", \"mrpc\": \"/n\"},"
    " \"tasks\": [\"rte\", \"mrpc\"], \"methods\": [\"uniform\", \"svd\", \"awq\", \"random\"],"
    " \"method_options\": {\"svd\": {\"rank\": 4}}, \"bits\": [3, 4], \"budgets\": {\"k\": [1, 2]},"
    " \"quantizer\": {\"scheme\": \"asymmetric\"}, \"calibration\": {\"n\": 8}, \"seeds\": [1, 2],"
    " \"output\": \"/o\"}";
static const char *const PATH = "configs/nomem.json";

typedef struct {
    gq_test_ctx *t;
    const gq_sweep_config *ref; /* the config parsed without failures */
} parse_ctx;

static gq_status parse(void *arg, gq_err *err) {
    parse_ctx *p = arg;
    gq_sweep_config *c = NULL;
    gq_status st = gq_sweep_config_parse(CONFIG, PATH, &c, err);
    if (st == GQ_OK && p->ref)
        GQ_CHECK(p->t, !strcmp(c->hash, p->ref->hash) && c->n_points == p->ref->n_points,
                 "an allocation failed, yet the config parsed to hash %.12s with %d points, not %.12s with %d",
                 c->hash, c->n_points, p->ref->hash, p->ref->n_points);
    gq_sweep_config_free(c);
    return st;
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_err err = {{0}};
    gq_sweep_config *ref = NULL;
    if (gq_sweep_config_parse(CONFIG, PATH, &ref, &err) != GQ_OK) {
        fprintf(stderr, "FAIL: the test's config is rejected: %s\n", err.msg);
        return 1;
    }
    parse_ctx p = {&t, ref};
    gq_test_nomem_loop(&t, "sweep config", "configs/nomem.json:", GQ_NOMEM_PARSES_JSON, parse, &p);
    gq_sweep_config_free(ref);
    return gq_test_done(&t);
}
