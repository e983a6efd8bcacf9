/* pool: see pool.h. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    gq_pool *p;
    int part;
} worker_arg;

struct gq_pool {
    int n;            /* threads, the caller's included */
    pthread_t *tid;   /* (n - 1) workers */
    worker_arg *args; /* (n - 1) */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    gq_pool_fn fn; /* the current pass */
    void *job;
    unsigned long gen; /* passes started */
    int busy;          /* workers still inside the current pass */
    int quit;
};

static void *worker(void *arg) {
    const worker_arg *a = arg;
    gq_pool *p = a->p;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        gq_pool_fn fn = p->fn;
        void *job = p->job;
        pthread_mutex_unlock(&p->mu);
        fn(job, a->part, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

gq_pool *gq_pool_new(int threads) {
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores < 1 ? 1 : cores > 4096 ? 4096 : (int)cores;
    }
    gq_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (threads < 2) return p;
    p->tid = gq_calloc_array((size_t)threads - 1, sizeof *p->tid);
    p->args = gq_calloc_array((size_t)threads - 1, sizeof *p->args);
    if (!p->tid || !p->args) {
        gq_pool_free(p);
        return NULL;
    }
    for (int i = 0; i < threads - 1; i++) {
        p->args[i] = (worker_arg){p, i + 1};
        if (pthread_create(&p->tid[i], NULL, worker, &p->args[i]) != 0) break;
        p->n++;
    }
    return p;
}

void gq_pool_free(gq_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++) pthread_join(p->tid[i], NULL);
    free(p->tid), free(p->args);
    pthread_cond_destroy(&p->go), pthread_cond_destroy(&p->done), pthread_mutex_destroy(&p->mu);
    free(p);
}

int gq_pool_threads(const gq_pool *p) { return p ? p->n : 1; }

void gq_pool_run(gq_pool *p, gq_pool_fn fn, void *job) {
    if (!p || p->n == 1) {
        fn(job, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn, p->job = job, p->busy = p->n - 1, p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(job, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* gq_pool_for's shared state: the next index, and the first failure. */
typedef struct {
    gq_pool_task task;
    void *ctx;
    int n;
    atomic_int next, failed;
    pthread_mutex_t mu;
    gq_status st;
    gq_err err;
} for_job;

static void for_part(void *arg, int part, int nparts) {
    for_job *j = arg;
    gq_err e = {{0}};
    for (int i; !atomic_load(&j->failed) && (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        gq_status st = j->task(j->ctx, i, &e);
        if (st == GQ_OK) continue;
        pthread_mutex_lock(&j->mu);
        if (j->st == GQ_OK) j->st = st, j->err = e;
        pthread_mutex_unlock(&j->mu);
        atomic_store(&j->failed, 1);
    }
}

gq_status gq_pool_for(gq_pool *p, int n, gq_pool_task task, void *ctx, gq_err *err) {
    for_job j = {.task = task, .ctx = ctx, .n = n, .st = GQ_OK};
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    pthread_mutex_init(&j.mu, NULL);
    gq_pool_run(p, for_part, &j);
    pthread_mutex_destroy(&j.mu);
    if (j.st != GQ_OK && err) *err = j.err;
    return j.st;
}
