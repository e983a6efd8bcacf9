/* runner_impl: the device back ends behind gq_encoder_runner (encoder.h). Private to
 * model/ and cuda/: experiment/ and quant/ only see the device-neutral runner. Inputs are
 * checked by gq_encoder_forward before a back end sees them (n tokens, longest max_len). */
#ifndef GQ_RUNNER_IMPL_H
#define GQ_RUNNER_IMPL_H

#ifdef __cplusplus
extern "C" {
#endif

#include "encoder.h"

/* Position ids along one sequence, by the family's rule (gq_pos_rule): gq_positions_start,
 * then gq_positions_next for each token in turn; both back ends embed with them. */
typedef struct {
    gq_pos_rule rule;
    int pad_id, next;
} gq_positions;

static inline void gq_positions_start(gq_positions *p, const gq_encoder_config *c) {
    p->rule = c->family->positions, p->pad_id = c->pad_id;
    p->next = p->rule == GQ_POS_AFTER_PAD ? c->pad_id + 1 : 0;
}

/* The position of the next token, whose id is `id`: RoBERTa's pad tokens stay at pad_id
 * and do not count (transformers' create_position_ids_from_input_ids). */
static inline int gq_positions_next(gq_positions *p, int32_t id) {
    return p->rule == GQ_POS_AFTER_PAD && id == p->pad_id ? p->pad_id : p->next++;
}

/* The CPU forward (encoder_cpu.c). */
typedef struct gq_encoder_cpu gq_encoder_cpu;
gq_encoder_cpu *gq_encoder_cpu_new(const gq_encoder *m, int threads);
void gq_encoder_cpu_free(gq_encoder_cpu *r);
gq_status gq_encoder_cpu_forward(gq_encoder_cpu *r, const int32_t *ids, const int *lens, const int *seg_a, int nseq,
                                 int n, int max_len, float *logits, const gq_encoder_hooks *hooks, gq_err *err);

/* The CUDA forward (cuda/encoder_cuda.cu), built only with GLUEQ_CUDA, as a module of its
 * own (libglueq_cuda.so) that the runner loads (cuda_loader.c) only when it is asked for
 * device cuda: a CPU run never maps cuBLAS and the CUDA runtime, which cost about 155 MB of
 * resident memory used or not (results/bench.md). The module exports one table,
 * GQ_CUDA_MODULE_SYMBOL; its own calls to gq_* (errors, allocation, the logger) resolve to
 * the executable's, which exports them (cuda/host_symbols.list). */
typedef struct gq_encoder_cuda gq_encoder_cuda;
/* Bumped whenever this table or the structs of encoder.h change, so that a module of
 * another glueq is refused with a message instead of crashing. */
#define GQ_CUDA_MODULE_ABI 4
#define GQ_CUDA_MODULE_SYMBOL "gq_encoder_cuda_module"
#define GQ_CUDA_MODULE_FILE "libglueq_cuda.so"
typedef struct {
    int abi;           /* GQ_CUDA_MODULE_ABI of the module's build */
    size_t model_size; /* sizeof(gq_encoder) there: a cheap second check */
    gq_status (*open)(const gq_encoder *m, int tf32, gq_encoder_cuda **out, gq_err *err);
    void (*free)(gq_encoder_cuda *g);
    gq_status (*forward)(gq_encoder_cuda *g, const int32_t *ids, const int *lens, const int *seg_a, int nseq, int n,
                         int max_len, float *logits, const gq_encoder_hooks *hooks, gq_err *err);
    gq_status (*ready)(gq_encoder_cuda *g, gq_err *err);
} gq_encoder_cuda_api;

/* Loads the module (cuda_loader.c): $GLUEQ_CUDA_MODULE when set, else beside the executable
 * (a build tree, a bundle), else where it is installed relative to it (bin/ -> lib/glueq/).
 * *handle is for gq_cuda_module_close; every failure is one line naming the file and the
 * problem (a build without CUDA: GQ_ERR_UNSUPPORTED, like a machine without a GPU). */
gq_status gq_cuda_module_open(void **handle, const gq_encoder_cuda_api **api, gq_err *err);
void gq_cuda_module_close(void *handle);

#ifdef __cplusplus
}
#endif

#endif
