/* blas: picks OpenBLAS's fastest kernels for this CPU before any work starts.
 *
 * OpenBLAS built with DYNAMIC_ARCH chooses its kernels from the CPU model it knows;
 * Debian 12's 0.3.21 does not know AMD Zen 4/5 and falls back to its AVX2 (Haswell)
 * kernels on CPUs that have AVX-512, at about half the speed (results/bench.md). The
 * choice is made when the library loads, from $OPENBLAS_CORETYPE, so it can only be
 * changed by starting the process again with that variable set. */
#ifndef GQ_BLAS_H
#define GQ_BLAS_H

/* When $OPENBLAS_CORETYPE is unset, the CPU has AVX-512 (F, CD, BW, DQ, VL) and OpenBLAS
 * picked AVX2 kernels, re-executes this program with OPENBLAS_CORETYPE=SkylakeX. Returns
 * (doing nothing) otherwise, or when the re-execution fails. A user who sets
 * OPENBLAS_CORETYPE keeps that choice. */
void gq_blas_select_kernels(char **argv);

/* OpenBLAS's description of itself (version, kernels, threads), for provenance. */
const char *gq_blas_config(void);

#endif
