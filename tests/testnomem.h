/* testnomem: SQLite's malloc test for glueq's loaders and writers. Every allocation that an
 * operation makes is made to fail in turn, one run per allocation: each run must end in
 * one error with a message or in the result of a run without failures, and (under ASan)
 * leave nothing allocated.
 *
 * A test that links gq_testnomem has glueq's allocation calls wrapped at link time
 * (malloc, calloc, realloc, open_memstream and pthread_create; cJSON's allocations through
 * its hooks); allocations inside other libraries (libc's own, OpenBLAS) are not counted.
 * Kept apart from testlib so that other tests keep the plain allocator.
 *
 *     static gq_status load(void *ctx, gq_err *err) {    // frees what it made, always
 *         gq_ckpt *ck = NULL;
 *         gq_status st = gq_ckpt_load(ctx, &ck, err);
 *         gq_ckpt_free(ck);
 *         return st;
 *     }
 *     gq_test_nomem_loop(&t, "safetensors", path, GQ_NOMEM_PARSES_JSON, load, path);
 */
#ifndef GQ_TESTNOMEM_H
#define GQ_TESTNOMEM_H

#include "testlib.h"

/* One run of the operation under test: returns its status with err filled on failure,
 * and frees whatever it made in either case. A run that succeeds despite a failed
 * allocation checks itself that its result is the one it gets without failures (the
 * ctx can carry both that reference and the gq_test_ctx to report on). */
typedef gq_status (*gq_nomem_fn)(void *ctx, gq_err *err);

/* cJSON reports running out of memory while parsing as invalid JSON: with this flag, a
 * run may fail with GQ_ERR_FORMAT too (the operation parses JSON). */
#define GQ_NOMEM_PARSES_JSON 1u

/* Runs fn once with every allocation succeeding (it must succeed), then once with the
 * 1st allocation failing, once with the 2nd, ... until a run makes fewer allocations than
 * the one to fail. A run that fails must return GQ_ERR_NOMEM (or, with flags
 * GQ_NOMEM_PARSES_JSON, GQ_ERR_FORMAT) with a message that says what ran out (more than
 * the status's name), starting with prefix unless prefix is NULL; under ASan, no run may
 * leak. Failures are reported on t under name.
 * Returns the number of runs that succeeded although their allocation failed (recovered). */
long gq_test_nomem_loop(gq_test_ctx *t, const char *name, const char *prefix, unsigned flags, gq_nomem_fn fn,
                        void *ctx);

/* Lets the rest of the current run allocate freely: for a run's own checks of its result,
 * when they allocate. */
void gq_test_nomem_disarm(void);

#endif
