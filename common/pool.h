/* pool: glueq's thread pools. A command starts two, each of its --threads threads (0: all
 * cores): the runner's, for the forward pass (one part of each round of a batch per
 * thread), and the quantization session's, for its per-matrix tasks. They take turns (a
 * session's calibration runs the forward between its tasks, never during them), so the
 * idle one's workers sleep and a command keeps at most --threads cores busy.
 *
 *     gq_pool *p = gq_pool_new(threads);              // threads - 1 workers + the caller
 *     gq_pool_run(p, fn, job);                         // fn(job, part, n) for part 0..n-1
 *     gq_pool_for(p, count, task, ctx, &err);          // task(ctx, i, err) for i 0..count-1
 *     gq_pool_free(p);
 *
 * Idle workers sleep on a condition variable (spinning would take the cores from the busy
 * threads). A pool serves one caller at a time.
 */
#ifndef GQ_POOL_H
#define GQ_POOL_H

#include "common.h"

typedef struct gq_pool gq_pool;

/* A pool of `threads` threads, the calling thread included (0 or less: all cores). A
 * worker that cannot start only costs parallelism. NULL when out of memory. */
gq_pool *gq_pool_new(int threads);
/* Stops and joins the workers; accepts NULL. */
void gq_pool_free(gq_pool *p);
/* Number of threads, the caller's included (1 for NULL). */
int gq_pool_threads(const gq_pool *p);

/* Calls fn(job, part, n) once for each part 0..n-1 (n = gq_pool_threads), part 0 on the
 * calling thread, and returns when all are done. A NULL pool runs fn(job, 0, 1). */
typedef void (*gq_pool_fn)(void *job, int part, int nparts);
void gq_pool_run(gq_pool *p, gq_pool_fn fn, void *job);

/* Runs task(ctx, i, err) for every i in [0, n), each index once, on the pool's threads
 * (the next free thread takes the next index). After a failure no new index starts;
 * returns the first failure's status and message. */
typedef gq_status (*gq_pool_task)(void *ctx, int i, gq_err *err);
gq_status gq_pool_for(gq_pool *p, int n, gq_pool_task task, void *ctx, gq_err *err);

#endif
