/* Stand-ins for the CUDA module (libglueq_cuda.so) for test_cli's --device cuda error paths,
 * in every build: with GQ_STUB_TABLE, a module of another interface version; without, a
 * shared library that is no glueq module at all. */
#include "runner_impl.h"

#ifdef GQ_STUB_TABLE
const gq_encoder_cuda_api gq_encoder_cuda_module = {GQ_CUDA_MODULE_ABI + 1, sizeof(gq_encoder), NULL, NULL, NULL, NULL};
#else
int gq_stub_not_a_module; /* ISO C forbids an empty translation unit */
#endif
