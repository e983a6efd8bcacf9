/* testnomem: see testnomem.h. The wrappers are named by the -Wl,--wrap options that
 * gq_testnomem passes to the executables linking it (tests/CMakeLists.txt). */
#define _POSIX_C_SOURCE 200809L
#include "testnomem.h"

#include <cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
/* ASan's runtime has it; gcc ships no header for it (clang's allocator_interface.h). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* A loop stops after this many failed checks: one defect fails most runs that reach it. */
#define NOMEM_MAX_FAILURES 10

/* Whether allocations are counted (during a run, until disarmed), how many were since the
 * run began, the one that fails (from 1; 0: none), and whether it has. Globals because the
 * wrappers have the allocator's signatures; atomic because the pool's workers allocate too. */
static atomic_int armed, failed;
static atomic_long allocations, fail_at;

static int fails(void) {
    if (!atomic_load(&armed)) return 0;
    long n = atomic_fetch_add(&allocations, 1) + 1;
    if (n != atomic_load(&fail_at)) return 0;
    atomic_store(&failed, 1);
    return 1;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
FILE *__real_open_memstream(char **buf, size_t *len);
int __real_pthread_create(pthread_t *tid, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

void *__wrap_malloc(size_t n) { return fails() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fails() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fails() ? NULL : __real_realloc(p, n); }

FILE *__wrap_open_memstream(char **buf, size_t *len) {
    if (!fails()) return __real_open_memstream(buf, len);
    errno = ENOMEM;
    return NULL;
}

int __wrap_pthread_create(pthread_t *tid, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    return fails() ? EAGAIN : __real_pthread_create(tid, attr, fn, arg);
}

void gq_test_nomem_disarm(void) { atomic_store(&armed, 0); }

/* cJSON allocates inside its own library: its hooks route that through the wrapper. */
static void count_cjson(void) {
    static cJSON_Hooks hooks = {__wrap_malloc, free};
    cJSON_InitHooks(&hooks);
}

/* Bytes the process has allocated: ASan's allocator counts them (0 without ASan). */
static size_t heap_bytes(void) {
#ifdef __SANITIZE_ADDRESS__
    return __sanitizer_get_current_allocated_bytes();
#else
    return 0;
#endif
}

/* Runs fn with allocation n failing (0: none); *grew says whether the process holds more
 * memory afterwards (under ASan), the sign of a leak that LeakSanitizer then confirms. */
static gq_status run(long n, gq_nomem_fn fn, void *ctx, gq_err *err, int *grew) {
    err->msg[0] = '\0';
    atomic_store(&allocations, 0);
    atomic_store(&failed, 0);
    atomic_store(&fail_at, n);
    size_t before = heap_bytes();
    atomic_store(&armed, 1);
    gq_status st = fn(ctx, err);
    atomic_store(&armed, 0);
    *grew = heap_bytes() > before;
    return st;
}

/* Reports a leak after the run that failed allocation n (0: none failed), when it left
 * the heap larger and LeakSanitizer finds unreachable blocks (a full check is too slow for
 * every run). A leak is reported again by every later check, so checks stop at the
 * process's first. */
static void check_leaks(gq_test_ctx *t, const char *name, long n, int grew) {
#ifdef __SANITIZE_ADDRESS__
    static int seen;
    if (seen || !grew || !__lsan_do_recoverable_leak_check()) return;
    seen = 1;
    GQ_CHECK(t, 0, "%s, allocation %ld failed (0: none): leaked, as LeakSanitizer says above", name, n);
#else
    (void)t, (void)name, (void)n, (void)grew;
#endif
}

long gq_test_nomem_loop(gq_test_ctx *t, const char *name, const char *prefix, unsigned flags, gq_nomem_fn fn,
                        void *ctx) {
    count_cjson();
    gq_err err = {{0}};
    int grew = 0;
    gq_status st = run(0, fn, ctx, &err, &grew);
    long total = atomic_load(&allocations);
    GQ_CHECK(t, st == GQ_OK, "%s fails without an allocation failing: %s", name, err.msg);
    GQ_CHECK(t, total > 0, "%s makes no allocation that the wrappers see (is gq_testnomem linked?)", name);
    if (st != GQ_OK || total == 0) return 0;
    check_leaks(t, name, 0, grew);
    int failures0 = t->failures;
    long by_status[GQ_ERR_INTERRUPTED + 1] = {0}, recovered = 0, n;
    gq_err first[GQ_ERR_INTERRUPTED + 1]; /* the first message of each status */
    for (n = 1; t->failures - failures0 < NOMEM_MAX_FAILURES; n++) {
        int failures = t->failures;
        st = run(n, fn, ctx, &err, &grew);
        if (t->failures > failures) fprintf(stderr, "  (the checks above ran after allocation %ld failed)\n", n);
        if (!atomic_load(&failed)) {
            GQ_CHECK(t, st == GQ_OK, "%s fails without an allocation failing: %s", name, err.msg);
            break; /* fewer than n allocations: each one has failed once */
        }
        if (st == GQ_OK) {
            recovered++;
        } else {
            if (st <= GQ_ERR_INTERRUPTED && !by_status[st]++) first[st] = err;
            int status_ok = st == GQ_ERR_NOMEM || (st == GQ_ERR_FORMAT && (flags & GQ_NOMEM_PARSES_JSON));
            /* a message that says more than its status: what ran out of memory */
            int says = strcmp(err.msg, gq_status_str(st)) && (!prefix || !strncmp(err.msg, prefix, strlen(prefix)));
            GQ_CHECK(t, status_ok && err.msg[0] && says,
                     "%s, allocation %ld failed: status '%s', message '%s'; want '%s'%s and a message naming what "
                     "ran out%s%s%s",
                     name, n, gq_status_str(st), err.msg, gq_status_str(GQ_ERR_NOMEM),
                     flags & GQ_NOMEM_PARSES_JSON ? " (or 'bad format')" : "", prefix ? ", starting with '" : "",
                     prefix ? prefix : "", prefix ? "'" : "");
        }
        check_leaks(t, name, n, grew);
    }
    printf("%s: %ld allocations, each failed in turn:", name, total);
    for (int s = 1; s <= GQ_ERR_INTERRUPTED; s++)
        if (by_status[s]) printf(" %ld '%s' (first: %s),", by_status[s], gq_status_str((gq_status)s), first[s].msg);
    printf(" %ld recovered%s\n", recovered,
           t->failures - failures0 >= NOMEM_MAX_FAILURES ? " (stopped at the first failures)" : "");
    return recovered;
}
