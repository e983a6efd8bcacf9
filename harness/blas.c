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

/* Kernel families that use at most AVX2. */
static int avx2_kernels(const char *core) {
    static const char *const AVX2[] = {"Haswell", "Zen", "SkylakeX_fallback", NULL};
    for (int i = 0; core && AVX2[i]; i++)
        if (strcasecmp(core, AVX2[i]) == 0) return 1;
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

void gq_blas_select_kernels(char **argv) {
    int kernels = !getenv("OPENBLAS_CORETYPE") && has_avx512() && avx2_kernels(openblas_get_corename());
    int threads = !getenv("OPENBLAS_NUM_THREADS") && gq_blas_address_space_limited();
    if (!kernels && !threads) return;
    if ((kernels && setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) ||
        (threads && setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0))
        return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on as we are */
    if (kernels) unsetenv("OPENBLAS_CORETYPE");
    if (threads) unsetenv("OPENBLAS_NUM_THREADS");
}
