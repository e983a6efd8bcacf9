/* blas: see blas.h. */
#define _GNU_SOURCE
#include "blas.h"

#include <cblas.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void);
char *openblas_get_config(void);

const char *gq_blas_config(void) { return openblas_get_config(); }

static int has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

static int has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int listed(const char *core, const char *const *names) {
    for (int i = 0; core && names[i]; i++)
        if (strcasecmp(core, names[i]) == 0) return 1;
    return 0;
}

int gq_blas_address_space_limited(void) {
    struct rlimit rl;
    return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
}

gq_status gq_blas_reserve(gq_err *err) {
    if (!gq_blas_address_space_limited()) return GQ_OK;
    void *probe = malloc(GQ_BLAS_BUFFER_BYTES);
    if (!probe)
        return gq_fail(err, GQ_ERR_NOMEM,
                       "out of memory: the address-space limit (ulimit -v) leaves less than the %zu MiB OpenBLAS needs",
                       GQ_BLAS_BUFFER_BYTES >> 20);
    free(probe);
    /* large enough to bypass OpenBLAS's small-matrix path, which takes no buffer */
    enum { N = 128 };
    float *m = calloc(3 * N * N, sizeof *m);
    if (!m) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, m, N, m + N * N, N, 0.0f, m + 2 * N * N, N);
    free(m);
    return GQ_OK;
}

/* Kernel families without AVX2: what OpenBLAS falls back to on a CPU it cannot name (a VM
 * that hides the CPU model gets Prescott, SSE3 only: 216 GFLOP/s on 16 Xeon cores of a GPU
 * machine, results/gpu.md). */
static const char *const PRE_AVX2[] = {"Prescott", "Katmai", "Coppermine", "Northwood", "Core2", "Penryn",
                                       "Dunnington", "Nehalem", "Atom", "Sandybridge", "Barcelona", "Bobcat",
                                       "Bulldozer", NULL};
/* ... and those with AVX2 at most. */
static const char *const AVX2[] = {"Haswell", "Zen", "SkylakeX_fallback", NULL};

void gq_blas_select_kernels(char **argv) {
    const char *core = openblas_get_corename(), *want = NULL;
    if (!getenv("OPENBLAS_CORETYPE")) {
        if (has_avx512() && (listed(core, AVX2) || listed(core, PRE_AVX2))) want = "SkylakeX";
        else if (has_avx2() && listed(core, PRE_AVX2)) want = "Haswell";
    }
    int threads = !getenv("OPENBLAS_NUM_THREADS") && gq_blas_address_space_limited();
    if (!want && !threads) return;
    if ((want && setenv("OPENBLAS_CORETYPE", want, 1) != 0) ||
        (threads && setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0))
        return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on as we are */
    if (want) unsetenv("OPENBLAS_CORETYPE");
    if (threads) unsetenv("OPENBLAS_NUM_THREADS");
}
