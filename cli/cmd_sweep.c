/* cmd_sweep: `glueq sweep` and `glueq merge`, over the engine in experiment/sweep.c. */
#define _GNU_SOURCE /* sigaction */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sweep.h"

/* Set by SIGINT/SIGTERM to the signal number; the engine checks it between points so
 * that a stop never cuts a point in half. Besides the logger level this is glueq's only
 * global mutable state: a signal handler can reach nothing else. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

gq_status gq_cli_sweep_parse(const gq_args *a, gq_sweep_opts *o, const char **config, gq_err *err) {
    long threads = 0;
    gq_status st = gq_args_int(a, "threads", 0, 1024, 0, &threads, err);
    if (st != GQ_OK) return st;
    const char *shard = gq_args_get(a, "shard");
    char extra;
    if (shard && (sscanf(shard, "%d/%d%c", &o->shard, &o->n_shards, &extra) != 2 || o->n_shards < 1 ||
                  o->shard < 0 || o->shard >= o->n_shards))
        return gq_fail(err, GQ_ERR_ARG, "option '--shard': '%s' is not i/N with 0 <= i < N", shard);
    if (a->npos != 1)
        return gq_fail(err, GQ_ERR_ARG, a->npos ? "sweep: unexpected argument '%s'" : "sweep: no CONFIG given%s",
                       a->npos ? a->pos[1] : " (see glueq sweep --help)");
    *config = a->pos[0];
    o->out = gq_args_get(a, "out");
    o->resume = gq_args_has(a, "resume");
    o->threads = (int)threads;
    o->cache_dir = gq_args_get(a, "cache-dir");
    return GQ_OK;
}

/* --check: the grid size, per shard and per method. */
static void print_check(const char *config, const gq_sweep_config *cfg, const gq_sweep_opts *o) {
    printf("%s: valid; %d points (%d tasks x %d)", config, cfg->n_points, cfg->n_tasks, cfg->n_points / cfg->n_tasks);
    if (o->n_shards > 1)
        printf("; shard %d/%d: %d points", o->shard, o->n_shards, gq_sweep_shard_count(cfg, o->shard, o->n_shards));
    printf("; config hash %.16s\n", cfg->hash);
    const char *last = "";
    int count = 0;
    for (int i = 0; i < cfg->n_points && cfg->points[i].task == 0; i++) { /* per-task breakdown */
        if (strcmp(cfg->points[i].method_name, last) && count) printf("  %-10s %d per task\n", last, count), count = 0;
        last = cfg->points[i].method_name;
        count++;
    }
    if (count) printf("  %-10s %d per task\n", last, count);
}

/* Runs the sweep with SIGINT/SIGTERM stopping it between points; *sig gets the signal. */
static gq_status run_with_signals(const gq_sweep_config *cfg, const gq_sweep_opts *o, int *sig, gq_err *err) {
    /* SA_RESETHAND: a second Ctrl-C kills at once (the journal stays consistent). */
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    gq_sweep_opts run = *o;
    run.stop = &g_stop;
    gq_status st = gq_sweep_run(cfg, &run, err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    *sig = (int)g_stop;
    return st;
}

int gq_cmd_sweep(const gq_args *a) {
    gq_err err = {{0}};
    gq_sweep_opts o = {.n_shards = 1};
    const char *config = NULL;
    gq_status st = gq_cli_sweep_parse(a, &o, &config, &err);
    if (st != GQ_OK) return gq_cli_fail(&err, st);
    gq_sweep_config *cfg = NULL;
    st = gq_sweep_config_load(config, &cfg, &err);
    if (st == GQ_OK && gq_args_has(a, "check")) {
        if ((st = gq_sweep_check_paths(cfg, &err)) == GQ_OK) print_check(config, cfg, &o);
        gq_sweep_config_free(cfg);
        return st == GQ_OK ? 0 : gq_cli_fail_run(&err);
    }
    int sig = 0;
    if (st == GQ_OK) st = run_with_signals(cfg, &o, &sig, &err);
    gq_sweep_config_free(cfg);
    if (st == GQ_ERR_INTERRUPTED) return gq_cli_fail_run(&err), 128 + sig;
    return st == GQ_OK ? 0 : gq_cli_fail_run(&err);
}

int gq_cmd_merge(const gq_args *a) {
    gq_err err = {{0}};
    gq_status st = GQ_OK;
    const char *out = gq_args_get(a, "out");
    int first = out ? 0 : 1; /* without --out, the first positional is OUT */
    if (st == GQ_OK && a->npos - first < 1)
        st = gq_fail(&err, GQ_ERR_ARG, "merge needs OUT and at least one INPUT (see glueq merge --help)");
    if (st != GQ_OK) return gq_cli_fail(&err, st);
    st = gq_sweep_merge(out ? out : a->pos[0], a->pos + first, a->npos - first, gq_args_has(a, "partial"), &err);
    return st == GQ_OK ? 0 : gq_cli_fail_run(&err);
}
