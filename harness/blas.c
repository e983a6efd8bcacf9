/* blas: see blas.h. */
#define _GNU_SOURCE
#include "blas.h"

#include <stdlib.h>
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

void gq_blas_select_kernels(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || !has_avx512() || !avx2_kernels(openblas_get_corename())) return;
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with the kernels we have */
}
