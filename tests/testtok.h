/* testtok: what the tokenizer tests share: comparing ids with a reference's JSON array,
 * and reading JSON-lines reference files. */
#ifndef GQ_TESTTOK_H
#define GQ_TESTTOK_H

#include <cjson/cJSON.h>

#include "testlib.h"
#include "tokenizer.h"

#define GQ_TEST_MAX_REPORTED 5 /* mismatching rows printed in full per file */

void gq_test_print_ids(const char *label, const int32_t *v, int n);

/* Returns 1 when ids equals the JSON array want; otherwise prints both lists (the first
 * GQ_TEST_MAX_REPORTED times, as counted by *reported) and returns 0. */
int gq_test_ids_equal(const gq_ids *ids, const cJSON *want, const char *what, int *reported);

/* Calls fn on each parsed line of the JSON-lines file at path; returns the line count or
 * -1. Each JSON escape \u0000 is removed first (see testtok.c). */
int gq_test_each_json_line(gq_test_ctx *t, const char *path, void (*fn)(gq_test_ctx *, const cJSON *, void *),
                           void *ctx);

#endif
