/* factor_cache: a small list of factors under a mutex (a session holds at most a few
 * hundred: linear search is nothing beside one factorisation). Entries are allocated one
 * by one so that a factor handed out stays where it is while others come and go. */
#include "factor_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gq_factor_key key; /* key.diag owned (NULL for awq-scale) */
    gq_factor f;
    size_t bytes;
    uint64_t used; /* the apply that last used it */
} entry;

struct gq_factor_cache {
    pthread_mutex_t mu;
    entry **e; /* (cap) the first n are held */
    int n, cap;
    size_t bytes, bound;
    uint64_t apply; /* the current apply's number */
};

void gq_factor_free(gq_factor *f) {
    free(f->m), free(f->order), free(f->dead);
    f->m = NULL, f->order = NULL, f->dead = NULL;
}

gq_factor_cache *gq_factor_cache_new(size_t bound) {
    gq_factor_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        return NULL;
    }
    c->bound = bound;
    return c;
}

static void drop(gq_factor_cache *c, int i) {
    entry *e = c->e[i];
    gq_factor_free(&e->f);
    free((double *)e->key.diag);
    c->bytes -= e->bytes;
    free(e);
    c->e[i] = c->e[--c->n];
}

void gq_factor_cache_clear(gq_factor_cache *c) {
    while (c->n) drop(c, c->n - 1);
}

void gq_factor_cache_free(gq_factor_cache *c) {
    if (!c) return;
    gq_factor_cache_clear(c);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Drops entries not used by the current apply, least recently used first, until `need`
 * more bytes fit; 0 if they cannot. */
static int make_room(gq_factor_cache *c, size_t need) {
    if (need > c->bound) return 0; /* never fits: evict nothing for it */
    while (c->bytes + need > c->bound) {
        int lru = -1;
        for (int i = 0; i < c->n; i++)
            if (c->e[i]->used < c->apply && (lru < 0 || c->e[i]->used < c->e[lru]->used)) lru = i;
        if (lru < 0) return 0;
        drop(c, lru);
    }
    return 1;
}

void gq_factor_cache_set_bound(gq_factor_cache *c, size_t bound) {
    c->bound = bound;
    c->apply++; /* outside an apply: every entry may go */
    make_room(c, 0);
}

size_t gq_factor_cache_bytes(const gq_factor_cache *c) { return c->bytes; }

void gq_factor_cache_begin_apply(gq_factor_cache *c) { c->apply++; }

static int same_key(const gq_factor_key *a, const gq_factor_key *b) {
    if (a->slot != b->slot || a->basis != b->basis || a->algorithm != b->algorithm || a->act_order != b->act_order || a->n != b->n ||
        !a->diag != !b->diag)
        return 0;
    return !a->diag || !memcmp(a->diag, b->diag, (size_t)a->n * sizeof *a->diag);
}

static int find(const gq_factor_cache *c, const gq_factor_key *k) {
    for (int i = 0; i < c->n; i++)
        if (same_key(&c->e[i]->key, k)) return i;
    return -1;
}

const gq_factor *gq_factor_cache_get(gq_factor_cache *c, const gq_factor_key *k) {
    pthread_mutex_lock(&c->mu);
    int i = find(c, k);
    const gq_factor *f = NULL;
    if (i >= 0) c->e[i]->used = c->apply, f = &c->e[i]->f;
    pthread_mutex_unlock(&c->mu);
    return f;
}

static size_t factor_bytes(const gq_factor *f) {
    size_t n = (size_t)f->n;
    return n * n * sizeof *f->m + n * sizeof *f->order + (f->dead ? n : 0) + n * sizeof(double);
}

/* Room for one more entry in c->e (the array only grows). */
static int reserve(gq_factor_cache *c) {
    if (c->n < c->cap) return 1;
    int cap = c->cap ? 2 * c->cap : 64;
    entry **e = gq_malloc_array((size_t)cap, sizeof *e);
    if (!e) return 0;
    if (c->n) memcpy(e, c->e, (size_t)c->n * sizeof *e);
    free(c->e);
    c->e = e, c->cap = cap;
    return 1;
}

const gq_factor *gq_factor_cache_put(gq_factor_cache *c, const gq_factor_key *k, gq_factor *f) {
    size_t bytes = factor_bytes(f);
    entry *e = calloc(1, sizeof *e);
    double *diag = k->diag ? gq_malloc_array((size_t)k->n, sizeof *diag) : NULL;
    if (!e || (k->diag && !diag)) {
        free(e), free(diag);
        return NULL;
    }
    if (diag) memcpy(diag, k->diag, (size_t)k->n * sizeof *diag);
    *e = (entry){.key = *k, .f = *f, .bytes = bytes};
    e->key.diag = diag;
    pthread_mutex_lock(&c->mu);
    int keep = find(c, k) < 0 && make_room(c, bytes) && reserve(c);
    if (keep) {
        e->used = c->apply;
        c->e[c->n++] = e;
        c->bytes += bytes;
        *f = (gq_factor){0};
    }
    pthread_mutex_unlock(&c->mu);
    if (keep) return &e->f;
    free(diag), free(e);
    return NULL;
}
