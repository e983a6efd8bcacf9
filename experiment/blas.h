/* blas: picks OpenBLAS's fastest kernels for this CPU before any work starts.
 *
 * OpenBLAS built with DYNAMIC_ARCH chooses its kernels from the CPU model it knows;
 * Debian 12's 0.3.21 does not know AMD Zen 4/5 and falls back to its AVX2 (Haswell)
 * kernels on CPUs that have AVX-512, at about half the speed (results/bench.md), and to
 * its SSE3 (Prescott) kernels on a CPU whose model a VM hides (results/gpu.md). The
 * choice is made when the library loads, from $OPENBLAS_CORETYPE, so it can only be
 * changed by starting the process again with that variable set. */
#ifndef GQ_BLAS_H
#define GQ_BLAS_H

#include "common.h"

/* When $OPENBLAS_CORETYPE is unset and OpenBLAS picked kernels older than the CPU,
 * re-executes this program with OPENBLAS_CORETYPE=SkylakeX (the CPU has AVX-512 F, CD, BW,
 * DQ, VL; OpenBLAS picked AVX2 or older kernels) or Haswell (AVX2 and FMA; OpenBLAS picked
 * pre-AVX2 kernels); and under an address-space limit (gq_blas_address_space_limited), with
 * OPENBLAS_NUM_THREADS=1 when that is unset, so that OpenBLAS starts no threads of its own.
 * Returns (doing nothing) otherwise, or when the re-execution fails. A user who sets either
 * variable keeps that choice. */
void gq_blas_select_kernels(char **argv);

/* Whether the process runs under a finite RLIMIT_AS (`ulimit -v`). OpenBLAS 0.3.21 cannot
 * live with one that its 128 MB per-thread buffers do not fit: a thread whose buffer
 * allocation fails retries forever, and the library's exit handler waits for it, so the
 * process would hang when it exits. glueq then restarts OpenBLAS without threads
 * (gq_blas_select_kernels), runs one thread of its own (cli.c) and leaves with _exit
 * (main.c). Not avoidable from glueq: OpenBLAS's initializer starts its threads before
 * main, and raises SIGINT when the limit leaves no room for them (about 54-62 MB here);
 * OPENBLAS_NUM_THREADS=1 set by the caller avoids that too. */
int gq_blas_address_space_limited(void);

/* Under an address-space limit, makes OpenBLAS take its working buffer (GQ_BLAS_BUFFER_BYTES)
 * now, while it can be checked: fails with an out-of-memory message when the limit leaves
 * no room for it, instead of letting OpenBLAS retry forever at the first matrix product.
 * OpenBLAS keeps the buffer for the life of the process, so later failures are glueq's
 * own allocations, which report themselves. Does nothing without a limit. */
#define GQ_BLAS_BUFFER_BYTES ((size_t)129 << 20) /* 0.3.21 x86_64: BUFFER_SIZE 128 MiB + page */
gq_status gq_blas_reserve(gq_err *err);

/* OpenBLAS's description of itself (version, kernels, threads), for provenance. */
const char *gq_blas_config(void);

#endif
