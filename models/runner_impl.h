/* runner_impl: the device back ends behind gq_dbert_runner (distilbert.h). Private to
 * models/ and cuda/: harness/ and quant/ only see the device-neutral runner. Inputs are
 * checked by gq_dbert_forward before a back end sees them (n tokens, longest max_len). */
#ifndef GQ_RUNNER_IMPL_H
#define GQ_RUNNER_IMPL_H

#ifdef __cplusplus
extern "C" {
#endif

#include "distilbert.h"

/* The CPU forward (distilbert.c). */
typedef struct gq_dbert_cpu gq_dbert_cpu;
gq_dbert_cpu *gq_dbert_cpu_new(const gq_dbert *m, int threads);
void gq_dbert_cpu_free(gq_dbert_cpu *r);
gq_status gq_dbert_cpu_forward(gq_dbert_cpu *r, const int32_t *ids, const int *lens, int nseq, int n, int max_len,
                               float *logits, const gq_dbert_hooks *hooks, gq_err *err);

/* The CUDA forward (cuda/dbert_cuda.cu), built only with GLUEQ_CUDA. */
typedef struct gq_dbert_cuda gq_dbert_cuda;
gq_status gq_dbert_cuda_new(const gq_dbert *m, int tf32, gq_dbert_cuda **out, gq_err *err);
void gq_dbert_cuda_free(gq_dbert_cuda *g);
gq_status gq_dbert_cuda_forward(gq_dbert_cuda *g, const int32_t *ids, const int *lens, int nseq, int n, int max_len,
                                float *logits, const gq_dbert_hooks *hooks, gq_err *err);

#ifdef __cplusplus
}
#endif

#endif
