/* sweep: runs a config's grid of quantized evaluations (`glueq sweep`) and combines the
 * journals of sharded runs (`glueq merge`).
 *
 *     glueq sweep CONFIG [--out DIR] [--resume] [--shard i/N] [--check] [--threads N]
 *                 [--cache-dir DIR] [--quiet]
 *     glueq merge OUT INPUT... [--partial]       (or --out OUT INPUT...)
 *
 * A sweep evaluates every pending point of its shard, task by task: the FP32 model once
 * (reference for flips and KL), then each quantized point; method scores are computed once
 * per (method, options, quantizer) and method states are cached on disk across runs.
 * Each finished point is appended to the journal in the output directory
 * (journal.jsonl, or journal-<i>-of-<N>.jsonl for shard i of N; see journal.h), so a
 * killed run loses at most the point in flight; --resume skips the journalled points. The
 * journal is locked for the whole run (journal.h), so a second sweep or merge on the same
 * output directory is refused.
 * SIGINT/SIGTERM stop cleanly after the current point (exit status 128 + signal).
 * An unsharded run that completes writes results.csv, results.json, predictions.jsonl,
 * table.md and plot.svg (report.h) atomically.
 *
 * Sharding: shard i of N owns the points whose grid index ≡ i (mod N). Every shard
 * evaluates the FP32 model of each task it has points in (its fidelity columns need
 * it), but journals an FP32 row only when it owns that point, so no row is written twice;
 * merge still drops repeated point ids. `glueq merge OUT INPUT...` reads journals
 * (INPUT = a journal file, or a directory whose journal*.jsonl are all read), refuses
 * mismatched config hashes and incomplete grids (unless --partial), and writes OUT's
 * journal.jsonl (which `glueq sweep --resume --out OUT` can continue) and the reports.
 */
#ifndef GQ_SWEEP_H
#define GQ_SWEEP_H

#include <signal.h>

#include "sweep_config.h"

typedef struct {
    const char *out; /* output directory; NULL: the config's "output" */
    int resume;
    int shard, n_shards; /* shard i of N (0 <= i < N); 0 of 1 = everything */
    int threads;         /* > 0: overrides the config's "threads" */
    const char *cache_dir; /* overrides the config's "cache_dir" (NULL: the config's) */
    const volatile sig_atomic_t *stop; /* set non-zero (e.g. by a signal handler) to stop
                                          after the current point; NULL: never */
    /* Called on the sweep's thread after each point is journalled, with the points
     * journalled so far in this run, the points it has to run and the point's row (owned
     * by the sweep, valid during the call); NULL: none. */
    void (*progress)(void *ctx, int done, int total, const cJSON *row);
    void *progress_ctx;
} gq_sweep_opts;

/* Runs the pending points of o's shard. GQ_ERR_INTERRUPTED when stopped (*o->stop, reported
 * as the signal number). */
gq_status gq_sweep_run(const gq_sweep_config *cfg, const gq_sweep_opts *o, gq_err *err);

/* Merges the journals found in inputs into out (see above). */
gq_status gq_sweep_merge(const char *out, const char *const *inputs, int n_inputs, int partial, gq_err *err);

/* The subcommands: exit status 0, 1 (failure), 2 (usage), 128 + signal (interrupted). */
/* Checks that every task's model, dev split and the vocab exist (GQ_ERR_IO naming the
 * config file and the key). */
gq_status gq_sweep_check_paths(const gq_sweep_config *cfg, gq_err *err);

#endif
