/* encoder_cuda: the encoders' forward (encoder.h) on one CUDA GPU, in the style of llm.c — cuBLAS
 * sgemm for every Linear (FP32; TF32 only when asked for) and a few kernels of our own:
 * embedding + LayerNorm, variable-length attention, bias + GELU, bias + residual +
 * LayerNorm, and the classification head.
 *
 * As on the CPU, all tokens of a batch are stacked into one (ntok, dim) matrix, so each
 * Linear is one GEMM over the batch, and attention runs per sequence and head over that
 * sequence's own tokens only: no padded key is ever computed.
 *
 * Exact FLOP cut: classification reads only the first ([CLS]) row of the last block, so
 * the last block computes K and V for every token but Q, attention, out_lin, the
 * LayerNorms and the FFN for the first row of each sequence only. Every other row of the
 * last block's output is never read, so the logits are those of the full forward.
 *
 * Weights are uploaded once; the query, key and value matrices of a block are stored as
 * one (3·dim, dim) matrix so that Q, K and V are one GEMM. Before each batch the Linears
 * whose version (encoder.h) changed since their upload are uploaded again, and only
 * those: a sweep re-uploads its quantized matrices once per grid point.
 *
 * Cold start: opening a runner checks for a GPU and returns; the slow rest (the CUDA
 * context, cuBLAS, device memory, the weights the caller never rewrites, and a warm-up batch
 * that loads the kernels) runs on a thread of its own while the caller goes on (glueq eval
 * tokenizes its data meanwhile), and ready() waits for it. That thread never reads
 * the block Linears, which the caller may rewrite in place after opening: the first forward
 * uploads them. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runner_impl.h"

enum {
    WARP = 32,
    ROW_THREADS = 256,          /* row kernels: one warp per row, 8 rows per block */
    ATT_WARPS = 8,              /* attention: 8 warps per block, */
    ATT_QPW = 2,                /* 2 queries per warp, */
    ATT_QPB = ATT_WARPS * ATT_QPW,
    ATT_KEYS = 32,              /* keys per shared-memory tile (one per lane) */
    ATT_MAX_DH = 128,           /* head dims (each lane owns dims lane, lane + 32, ...) */
    EW_THREADS = 256,
    STATS_TOKENS = 4096,        /* calibration statistics: tokens converted to double per dsyrk */
};

typedef struct {
    float *wqkv, *bqkv; /* (3d, d), (3d): q_lin, k_lin, v_lin stacked */
    float *wo, *bo, *w1, *b1, *w2, *b2;
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
} dev_layer;

struct gq_encoder_cuda {
    const gq_encoder *m;
    cublasHandle_t blas;
    dev_layer *layers;
    float *word, *pos, *type, *eln_w, *eln_b, *pre_w, *pre_b, *cls_w, *cls_b; /* type: NULL without token types */
    unsigned *seen; /* (n_layers * 6) version of each Linear at its last upload */
    /* activations, grown as needed */
    int cap_tok, cap_seq;
    float *h, *qkv, *att, *tmp, *ff, *hc, *logits;
    int *tokinfo; /* ids (ntok), positions (ntok), token types (ntok), starts (nseq + 1) */
    int *host_info;
    float *host_act; /* (cap_tok, max(dim, hidden_dim)) activations copied out for hooks */
    const gq_encoder_hooks *hooks; /* of the current forward, or NULL */
    /* calibration statistics on the device (hooks' linear_stats), allocated on first use */
    double *st_x;     /* (STATS_TOKENS, max(dim, hidden_dim)) a block of an input in double */
    double *st_xtx;   /* (w, w) XᵀX of one input over the batch, w = max(dim, hidden_dim) */
    double *st_abs;   /* (w) Σ|x| of one input, continued from the host's running sums */
    double *host_xtx; /* (w, w) pinned host copy of st_xtx */
    int tf32;
    /* prepare() on its own thread, joined by the first forward (or by free) */
    pthread_t prep;
    int prep_running, prepared;
    gq_status prep_status;
    gq_err prep_err;
    double t_driver, t_step[4]; /* seconds: the driver's start; context, cuBLAS, memory, warm-up */
};

/* ------------------------------------------------------------------ kernels ---- */

static __device__ float warp_sum(float v) {
    for (int o = WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ float warp_max(float v) {
    for (int o = WARP / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Row `row` (already holding x) <- LN(x) · w + b, by one warp: two passes over the row
 * (mean, then centred squares), as the CPU does. */
static __device__ void warp_layer_norm(float *x, int d, const float *w, const float *b, float eps, int lane) {
    float s = 0;
    for (int i = lane; i < d; i += WARP) s += x[i];
    float mean = warp_sum(s) / d, ss = 0;
    for (int i = lane; i < d; i += WARP) ss += (x[i] - mean) * (x[i] - mean);
    float inv = rsqrtf(warp_sum(ss) / d + eps);
    for (int i = lane; i < d; i += WARP) x[i] = (x[i] - mean) * inv * w[i] + b[i];
}

/* h_t = LN(word[id_t] + pos[p_t]), or with token types LN((word[id_t] + type[y_t]) +
 * pos[p_t]) (te not NULL), for the n tokens, one warp per token. */
static __global__ void embed_ln(float *h, const int *ids, const int *pos, const int *types, const float *word,
                                const float *pe, const float *te, const float *w, const float *b, float eps, int n,
                                int d) {
    int t = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (t >= n) return;
    float *row = h + (size_t)t * d;
    const float *wr = word + (size_t)ids[t] * d, *pr = pe + (size_t)pos[t] * d;
    if (te) {
        const float *tr = te + (size_t)types[t] * d;
        for (int i = lane; i < d; i += WARP) row[i] = (wr[i] + tr[i]) + pr[i];
    } else {
        for (int i = lane; i < d; i += WARP) row[i] = wr[i] + pr[i];
    }
    __syncwarp();
    warp_layer_norm(row, d, w, b, eps, lane);
}

/* res_t <- LN(x_t + bias + res_t) for n rows, one warp per row: the Linear before it wrote
 * x = x_in Wᵀ, and res holds the block's input (the residual). */
static __global__ void residual_ln(float *res, const float *x, const float *bias, const float *w, const float *b,
                                   float eps, int n, int d) {
    int t = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (t >= n) return;
    float *row = res + (size_t)t * d;
    const float *xr = x + (size_t)t * d;
    for (int i = lane; i < d; i += WARP) row[i] += xr[i] + bias[i];
    __syncwarp();
    warp_layer_norm(row, d, w, b, eps, lane);
}

/* x <- GELU(x + bias), exact: 0.5 z (1 + erf(z / √2)), over (n, cols). */
static __global__ void bias_gelu(float *x, const float *bias, size_t n, int cols) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float z = x[i] + bias[i % cols];
        x[i] = 0.5f * z * (1.0f + erff(z * 0.70710678118654752f));
    }
}

/* xd = x in double, n elements. */
static __global__ void to_double(double *xd, const float *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        xd[i] = x[i];
}

/* acc_j += |x_tj| for t = 0 .. n-1 in turn, one thread per column j of x (n, in): the
 * CPU's order of additions, so the same double sums. */
static __global__ void abs_sum_cols(double *acc, const float *x, int n, int in) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= in) return;
    double a = acc[j];
    for (int t = 0; t < n; t++) {
        float v = x[(size_t)t * in + j];
        a += v < 0 ? -(double)v : (double)v;
    }
    acc[j] = a;
}

/* dst_s = src[start_s] (the first row of each sequence). */
static __global__ void gather_first(float *dst, const float *src, const int *start, int nseq, int d) {
    int s = blockIdx.x;
    if (s >= nseq) return;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dst[(size_t)s * d + i] = src[(size_t)start[s] * d + i];
}

/* logits_s,j = b_j + Σ_i act(x_s,i + bpre_i) W_j,i: the head's dense bias and activation
 * (ReLU, or tanh when `tanh_act`) and its output layer, one warp per (sequence, label). */
static __global__ void head(float *logits, const float *x, const float *bpre, const float *w, const float *b,
                            int tanh_act, int nseq, int nl, int d) {
    int o = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (o >= nseq * nl) return;
    int s = o / nl, j = o % nl;
    float acc = 0;
    for (int i = lane; i < d; i += WARP) {
        float z = x[(size_t)s * d + i] + bpre[i];
        acc += (tanh_act ? tanhf(z) : fmaxf(z, 0.0f)) * w[(size_t)j * d + i];
    }
    acc = warp_sum(acc);
    if (lane == 0) logits[o] = acc + b[j];
}

/* Attention of one head over one sequence's own keys, with the Q, K, V biases added here
 * (the GEMM wrote x Wᵀ only) and q scaled by 1/√dh. Block (chunk, s, head) runs queries
 * chunk·ATT_QPB .. +ATT_QPB of sequence s, ATT_QPW per warp; keys are streamed through
 * shared memory in tiles of 32 with an online softmax (running max and sum), so any length
 * works. Query i of sequence s is row qrow(s, i) of q and of out: start[s] + i, or s when
 * cls (then only i = 0: the last block's [CLS] rows). k and v rows are start[s] + j. */
static __global__ void __launch_bounds__(ATT_WARPS *WARP)
    attention(float *out, int ldo, const float *q, int ldq, const float *k, const float *v, int ldkv,
              const float *bq, const float *bk, const float *bv, const int *start, int cls, int dh, float scale) {
    __shared__ float ks[ATT_KEYS][ATT_MAX_DH + 1]; /* +1: lanes read rows j, column c: no bank conflicts */
    __shared__ float vs[ATT_KEYS][ATT_MAX_DH];
    __shared__ float qs[ATT_WARPS][ATT_QPW][ATT_MAX_DH];
    __shared__ float ps[ATT_WARPS][ATT_KEYS];
    int s = blockIdx.y, hd = blockIdx.z, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int s0 = start[s], T = start[s + 1] - s0, nq = cls ? 1 : T, col = hd * dh;
    int q0 = blockIdx.x * ATT_QPB;
    if (q0 >= nq) return; /* the whole block: no thread reaches a barrier */
    float m[ATT_QPW], l[ATT_QPW], acc[ATT_QPW][ATT_MAX_DH / WARP];
    for (int a = 0; a < ATT_QPW; a++) {
        int i = q0 + warp * ATT_QPW + a;
        m[a] = -INFINITY, l[a] = 0;
        for (int u = 0; u < ATT_MAX_DH / WARP; u++) acc[a][u] = 0;
        if (i < nq) {
            const float *qr = q + (size_t)(cls ? s : s0 + i) * ldq + col;
            for (int c = lane; c < dh; c += WARP) qs[warp][a][c] = (qr[c] + bq[col + c]) * scale;
        }
    }
    for (int j0 = 0; j0 < T; j0 += ATT_KEYS) {
        int nk = T - j0 < ATT_KEYS ? T - j0 : ATT_KEYS;
        __syncthreads(); /* the previous tile is no longer read */
        for (int e = threadIdx.x; e < nk * dh; e += blockDim.x) {
            int j = e / dh, c = e % dh;
            size_t r = (size_t)(s0 + j0 + j) * ldkv + col + c;
            ks[j][c] = k[r] + bk[col + c];
            vs[j][c] = v[r] + bv[col + c];
        }
        __syncthreads();
        for (int a = 0; a < ATT_QPW; a++) {
            if (q0 + warp * ATT_QPW + a >= nq) break;
            float sc = -INFINITY;
            if (lane < nk) {
                sc = 0;
                for (int c = 0; c < dh; c++) sc += qs[warp][a][c] * ks[lane][c];
            }
            float mx = fmaxf(m[a], warp_max(sc));
            float p = lane < nk ? expf(sc - mx) : 0.0f, corr = expf(m[a] - mx);
            l[a] = l[a] * corr + warp_sum(p);
            m[a] = mx;
            ps[warp][lane] = p;
            __syncwarp();
            for (int u = 0; u < ATT_MAX_DH / WARP; u++) {
                int c = lane + u * WARP;
                if (c >= dh) break;
                float o = acc[a][u] * corr;
                for (int j = 0; j < nk; j++) o += ps[warp][j] * vs[j][c];
                acc[a][u] = o;
            }
            __syncwarp();
        }
    }
    for (int a = 0; a < ATT_QPW; a++) {
        int i = q0 + warp * ATT_QPW + a;
        if (i >= nq) break;
        float *orow = out + (size_t)(cls ? s : s0 + i) * ldo + col;
        for (int u = 0; u < ATT_MAX_DH / WARP; u++) {
            int c = lane + u * WARP;
            if (c < dh) orow[c] = acc[a][u] / l[a];
        }
    }
}

/* --------------------------------------------------------------------- host ---- */

static gq_status cuda_fail(gq_err *err, cudaError_t e, const char *what) {
    return gq_fail(err, e == cudaErrorMemoryAllocation ? GQ_ERR_NOMEM : GQ_ERR_IO, "cuda: %s: %s", what,
                   cudaGetErrorString(e));
}

#define CUDA_TRY(call, what)                                   \
    do {                                                       \
        cudaError_t e_ = (call);                               \
        if (e_ != cudaSuccess) return cuda_fail(err, e_, what); \
    } while (0)

#define BLAS_TRY(call, what)                                                                         \
    do {                                                                                             \
        cublasStatus_t b_ = (call);                                                                  \
        if (b_ != CUBLAS_STATUS_SUCCESS)                                                             \
            return gq_fail(err, GQ_ERR_IO, "cuda: cuBLAS %s failed (%s)", what, cublasGetStatusString(b_)); \
    } while (0)

/* Zeroed: the warm-up batch runs before the block Linears are uploaded, and its reads must
 * be of defined values (compute-sanitizer's initcheck). */
static gq_status dev_alloc(float **p, size_t n, gq_err *err) {
    CUDA_TRY(cudaMalloc((void **)p, n * sizeof(float)), "cannot allocate device memory");
    CUDA_TRY(cudaMemset(*p, 0, n * sizeof(float)), "cannot clear device memory");
    return GQ_OK;
}

static gq_status upload(float *dst, const float *src, size_t n, gq_err *err) {
    CUDA_TRY(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice), "upload of the weights");
    return GQ_OK;
}

/* Device copy of Linear `kind`'s weight and bias within layer L. */
static void linear_slot(const dev_layer *L, gq_lin_kind kind, int d, float **w, float **b) {
    switch (kind) {
    case GQ_LIN_Q: case GQ_LIN_K: case GQ_LIN_V:
        *w = L->wqkv + (size_t)(kind - GQ_LIN_Q) * d * d, *b = L->bqkv + (size_t)(kind - GQ_LIN_Q) * d;
        break;
    case GQ_LIN_O: *w = L->wo, *b = L->bo; break;
    case GQ_LIN_FF1: *w = L->w1, *b = L->b1; break;
    default: *w = L->w2, *b = L->b2; break;
    }
}

static gq_status upload_linear(const gq_linear *lin, float *w, float *b, gq_err *err) {
    gq_status s = upload(w, lin->w, (size_t)lin->out * lin->in, err);
    return s == GQ_OK ? upload(b, lin->b, (size_t)lin->out, err) : s;
}

/* Uploads the Linears whose version moved since their last upload (all of them when
 * `all`). */
static gq_status sync_weights(gq_encoder_cuda *g, int all, gq_err *err) {
    const gq_encoder *m = g->m;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            const gq_linear *lin = &m->layers[l].lin[k];
            unsigned *seen = &g->seen[l * GQ_LIN_COUNT + k];
            if (!all && *seen == lin->version) continue;
            float *w, *b;
            linear_slot(&g->layers[l], (gq_lin_kind)k, m->cfg.dim, &w, &b);
            gq_status s = upload_linear(lin, w, b, err);
            if (s != GQ_OK) return s;
            *seen = lin->version;
        }
    return GQ_OK;
}

static gq_status alloc_layer(dev_layer *L, int d, int hd, gq_err *err) {
    gq_status s;
    if ((s = dev_alloc(&L->wqkv, (size_t)3 * d * d, err)) || (s = dev_alloc(&L->bqkv, (size_t)3 * d, err)) ||
        (s = dev_alloc(&L->wo, (size_t)d * d, err)) || (s = dev_alloc(&L->bo, d, err)) ||
        (s = dev_alloc(&L->w1, (size_t)hd * d, err)) || (s = dev_alloc(&L->b1, hd, err)) ||
        (s = dev_alloc(&L->w2, (size_t)d * hd, err)) || (s = dev_alloc(&L->b2, d, err)) ||
        (s = dev_alloc(&L->ln1_w, d, err)) || (s = dev_alloc(&L->ln1_b, d, err)) ||
        (s = dev_alloc(&L->ln2_w, d, err)) || (s = dev_alloc(&L->ln2_b, d, err)))
        return s;
    return GQ_OK;
}

/* Allocates everything the forward reads but the activations, and uploads what the caller
 * never rewrites: embeddings, LayerNorms and the head (the block Linears: sync_weights). */
static gq_status upload_fixed(gq_encoder_cuda *g, gq_err *err) {
    const gq_encoder *m = g->m;
    const gq_encoder_config *c = &m->cfg;
    size_t d = (size_t)c->dim;
    gq_status s;
    if ((s = dev_alloc(&g->word, (size_t)c->vocab_size * d, err)) ||
        (s = dev_alloc(&g->pos, (size_t)c->max_pos * d, err)) ||
        (s = dev_alloc(&g->eln_w, d, err)) || (s = dev_alloc(&g->eln_b, d, err)) ||
        (s = dev_alloc(&g->pre_w, d * d, err)) || (s = dev_alloc(&g->pre_b, d, err)) ||
        (s = dev_alloc(&g->cls_w, (size_t)c->n_labels * d, err)) ||
        (s = dev_alloc(&g->cls_b, (size_t)c->n_labels, err)) ||
        (m->type_emb && (s = dev_alloc(&g->type, (size_t)c->type_vocab_size * d, err))))
        return s;
    if ((m->type_emb && (s = upload(g->type, m->type_emb, (size_t)c->type_vocab_size * d, err))) ||
        (s = upload(g->word, m->word_emb, (size_t)c->vocab_size * d, err)) ||
        (s = upload(g->pos, m->pos_emb, (size_t)c->max_pos * d, err)) || (s = upload(g->eln_w, m->emb_ln_w, d, err)) ||
        (s = upload(g->eln_b, m->emb_ln_b, d, err)) || (s = upload_linear(&m->pre, g->pre_w, g->pre_b, err)) ||
        (s = upload_linear(&m->cls, g->cls_w, g->cls_b, err)))
        return s;
    for (int l = 0; l < c->n_layers; l++) {
        dev_layer *L = &g->layers[l];
        const gq_encoder_layer *H = &m->layers[l];
        if ((s = alloc_layer(L, c->dim, c->hidden_dim, err)) || (s = upload(L->ln1_w, H->sa_ln_w, d, err)) ||
            (s = upload(L->ln1_b, H->sa_ln_b, d, err)) || (s = upload(L->ln2_w, H->out_ln_w, d, err)) ||
            (s = upload(L->ln2_b, H->out_ln_b, d, err)))
            return s;
    }
    return GQ_OK;
}

static void free_activations(gq_encoder_cuda *g) {
    cudaFree(g->h), cudaFree(g->qkv), cudaFree(g->att), cudaFree(g->tmp), cudaFree(g->ff), cudaFree(g->hc);
    cudaFree(g->logits), cudaFree(g->tokinfo);
    free(g->host_info), free(g->host_act);
    g->h = g->qkv = g->att = g->tmp = g->ff = g->hc = g->logits = g->host_act = NULL;
    g->tokinfo = g->host_info = NULL;
    g->cap_tok = g->cap_seq = 0;
}

/* Grows the activations to n tokens and nseq sequences (never shrinks). */
static gq_status reserve(gq_encoder_cuda *g, int n, int nseq, gq_err *err) {
    if (n <= g->cap_tok && nseq <= g->cap_seq) return GQ_OK;
    const gq_encoder_config *c = &g->m->cfg;
    int tok = n > g->cap_tok ? n : g->cap_tok, seq = nseq > g->cap_seq ? nseq : g->cap_seq;
    size_t d = (size_t)c->dim;
    free_activations(g);
    gq_status s;
    if ((s = dev_alloc(&g->h, tok * d, err)) || (s = dev_alloc(&g->qkv, 3 * tok * d, err)) ||
        (s = dev_alloc(&g->att, tok * d, err)) || (s = dev_alloc(&g->tmp, tok * d, err)) ||
        (s = dev_alloc(&g->ff, (size_t)tok * c->hidden_dim, err)) || (s = dev_alloc(&g->hc, seq * d, err)) ||
        (s = dev_alloc(&g->logits, (size_t)seq * c->n_labels, err)))
        return free_activations(g), s;
    size_t info = 3 * (size_t)tok + seq + 1;
    cudaError_t e = cudaMalloc((void **)&g->tokinfo, info * sizeof(int));
    if (e != cudaSuccess) return free_activations(g), cuda_fail(err, e, "cannot allocate device memory");
    if (!(g->host_info = (int *)gq_malloc_array(info, sizeof(int))))
        return free_activations(g), gq_fail(err, GQ_ERR_NOMEM, "cuda: out of memory");
    g->cap_tok = tok, g->cap_seq = seq;
    return GQ_OK;
}

/* y (n, out) = x (n, in) · Wᵀ with W (out, in) row-major: in cuBLAS's column-major terms
 * yᵀ = W xᵀ, W seen as the (in, out) matrix Wᵀ and transposed back. ldy lets y be a
 * column slice of a wider matrix (the K, V columns of qkv). */
static gq_status linear(gq_encoder_cuda *g, const float *x, int n, const float *w, int out, int in, float *y, int ldy,
                        gq_err *err) {
    const float one = 1.0f, zero = 0.0f;
    BLAS_TRY(cublasSgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in, &zero, y, ldy), "sgemm");
    return GQ_OK;
}

static unsigned blocks(size_t work, unsigned per_block) { return (unsigned)((work + per_block - 1) / per_block); }

static void stats_free(gq_encoder_cuda *g) {
    cudaFree(g->st_x), cudaFree(g->st_xtx), cudaFree(g->st_abs), cudaFreeHost(g->host_xtx);
    g->st_x = g->st_xtx = g->st_abs = g->host_xtx = NULL;
}

/* The statistics' device buffers and pinned host copy, once. */
static gq_status stats_reserve(gq_encoder_cuda *g, gq_err *err) {
    if (g->host_xtx) return GQ_OK;
    const gq_encoder_config *c = &g->m->cfg;
    size_t w = (size_t)(c->dim > c->hidden_dim ? c->dim : c->hidden_dim);
    cudaError_t e = cudaMalloc((void **)&g->st_x, STATS_TOKENS * w * sizeof(double));
    if (e == cudaSuccess) e = cudaMalloc((void **)&g->st_xtx, w * w * sizeof(double));
    if (e == cudaSuccess) e = cudaMalloc((void **)&g->st_abs, w * sizeof(double));
    if (e == cudaSuccess) e = cudaMallocHost((void **)&g->host_xtx, w * w * sizeof(double));
    /* dsyrk writes one triangle, but the whole square is copied back in one piece: the other
     * triangle must hold defined values (compute-sanitizer's initcheck) */
    if (e == cudaSuccess) e = cudaMemset(g->st_xtx, 0, w * w * sizeof(double));
    if (e != cudaSuccess) {
        stats_free(g);
        return cuda_fail(err, e, "cannot allocate the calibration statistics");
    }
    return GQ_OK;
}

/* Σ|x| of the device rows x (n, in) into each target's running sums, in token order; a
 * target whose sums equal the previous one's (q, k and v see the same inputs) takes its
 * result without a second pass. */
static gq_status add_abs_sums(gq_encoder_cuda *g, const float *x, int n, int in, gq_lin_stats *const *to, int nt,
                              gq_err *err) {
    size_t bytes = (size_t)in * sizeof(double);
    int same[GQ_LIN_COUNT] = {0}; /* before any of them is updated */
    for (int i = 1; i < nt; i++) same[i] = !memcmp(to[i]->abs_sum, to[i - 1]->abs_sum, bytes);
    for (int i = 0; i < nt; i++) {
        if (same[i]) {
            CUDA_TRY(cudaMemcpy(to[i]->abs_sum, g->st_abs, bytes, cudaMemcpyDeviceToHost), "copy of the statistics");
            continue;
        }
        CUDA_TRY(cudaMemcpy(g->st_abs, to[i]->abs_sum, bytes, cudaMemcpyHostToDevice), "upload of the statistics");
        abs_sum_cols<<<blocks(in, EW_THREADS), EW_THREADS>>>(g->st_abs, x, n, in);
        CUDA_TRY(cudaGetLastError(), "kernel launch");
        CUDA_TRY(cudaMemcpy(to[i]->abs_sum, g->st_abs, bytes, cudaMemcpyDeviceToHost), "copy of the statistics");
    }
    return GQ_OK;
}

/* XᵀX of the device rows x (n ≥ 1, in) in FP64 into st_xtx and its host copy: blocks of
 * STATS_TOKENS rows converted to double, one dsyrk each. x row-major is the column-major
 * (in, n) matrix A, XᵀX = A Aᵀ; its column-major lower triangle is the row-major upper one
 * that gq_lin_stats keeps. */
static gq_status batch_xtx(gq_encoder_cuda *g, const float *x, int n, int in, gq_err *err) {
    const double one = 1.0, zero = 0.0;
    for (int t0 = 0; t0 < n; t0 += STATS_TOKENS) {
        int nb = n - t0 < STATS_TOKENS ? n - t0 : STATS_TOKENS;
        size_t e = (size_t)nb * in;
        to_double<<<blocks(e, EW_THREADS) < 65535 ? blocks(e, EW_THREADS) : 65535, EW_THREADS>>>(
            g->st_x, x + (size_t)t0 * in, e);
        BLAS_TRY(cublasDsyrk(g->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, in, nb, &one, g->st_x, in,
                             t0 ? &one : &zero, g->st_xtx, in), "dsyrk");
    }
    CUDA_TRY(cudaGetLastError(), "kernel launch");
    CUDA_TRY(cudaMemcpy(g->host_xtx, g->st_xtx, (size_t)in * in * sizeof(double), cudaMemcpyDeviceToHost),
             "copy of the statistics");
    return GQ_OK;
}

/* The hooks' linear_stats: the statistics of the device rows x (n, in), the input of the
 * Linears kinds[0..nk) of block `layer` (which share it), added into the targets the hook
 * names; only the d×d XᵀX and the Σ|x| vectors cross to the host. */
static gq_status device_stats(gq_encoder_cuda *g, const float *x, int n, int in, int layer, const gq_lin_kind *kinds,
                              int nk, gq_err *err) {
    const gq_encoder_hooks *hk = g->hooks;
    gq_lin_stats *to[GQ_LIN_COUNT];
    int nt = 0;
    for (int i = 0; i < nk; i++) {
        gq_lin_stats *s = hk->linear_stats(hk->ctx, layer, kinds[i]);
        if (s && s->in != in)
            return gq_fail(err, GQ_ERR_SHAPE, "cuda: layer %d: statistics of width %d for an input of width %d", layer,
                           s->in, in);
        if (s) to[nt++] = s;
    }
    if (!nt || n <= 0) return GQ_OK;
    gq_status s = stats_reserve(g, err);
    if (s == GQ_OK) s = add_abs_sums(g, x, n, in, to, nt, err);
    if (s == GQ_OK) s = batch_xtx(g, x, n, in, err);
    for (int k = 0; s == GQ_OK && k < nt; k++) {
        for (size_t i = 0; i < (size_t)in; i++)
            for (size_t j = i; j < (size_t)in; j++) to[k]->xtx[i * in + j] += g->host_xtx[i * in + j];
        to[k]->ntok += n;
    }
    return s;
}

/* Hands the device rows x (n, in) to the hooks: the input of Linear `kind` of block `layer`
 * (kinds[0..nk), which share it) as statistics accumulated on the device when the hooks
 * ask for them (linear_stats), else through a host copy; or hidden state `index` when
 * nk = 0, through a host copy. */
static gq_status observe(gq_encoder_cuda *g, const float *x, int n, int in, int layer, const gq_lin_kind *kinds, int nk,
                         int index, gq_err *err) {
    const gq_encoder_hooks *hk = g->hooks;
    if (hk && nk && hk->linear_stats) return device_stats(g, x, n, in, layer, kinds, nk, err);
    if (!hk || (nk ? !hk->linear_input : !hk->hidden)) return GQ_OK;
    if (!g->host_act) {
        const gq_encoder_config *c = &g->m->cfg;
        int w = c->dim > c->hidden_dim ? c->dim : c->hidden_dim;
        if (!(g->host_act = (float *)gq_malloc_array((size_t)g->cap_tok * w, sizeof(float))))
            return gq_fail(err, GQ_ERR_NOMEM, "cuda: out of memory for the hooks' copies");
    }
    CUDA_TRY(cudaMemcpy(g->host_act, x, (size_t)n * in * sizeof(float), cudaMemcpyDeviceToHost), "copy for a hook");
    for (int i = 0; i < nk; i++) hk->linear_input(hk->ctx, layer, kinds[i], g->host_act, n, in);
    if (!nk) hk->hidden(hk->ctx, index, g->host_act, n, in);
    return GQ_OK;
}

static gq_status observe_linear(gq_encoder_cuda *g, const float *x, int n, int in, int layer, gq_lin_kind kind,
                                gq_err *err) {
    return observe(g, x, n, in, layer, &kind, 1, 0, err);
}

/* The LayerNorms' epsilon, in the float the kernels add. */
static float eps(const gq_encoder_cuda *g) { return (float)g->m->cfg.ln_eps; }

static void launch_attention(gq_encoder_cuda *g, float *out, int ldo, const float *q, int ldq, const dev_layer *L,
                             const int *start, int nseq, int max_q, int cls) {
    const gq_encoder_config *c = &g->m->cfg;
    int d = c->dim, dh = d / c->n_heads;
    dim3 grid(blocks(max_q, ATT_QPB), nseq, c->n_heads);
    attention<<<grid, ATT_WARPS * WARP>>>(out, ldo, q, ldq, g->qkv + d, g->qkv + 2 * d, 3 * d, L->bqkv, L->bqkv + d,
                                          L->bqkv + 2 * d, start, cls, dh, 1.0f / sqrtf((float)dh));
}

/* The FFN and its LayerNorm on rows x (n, d), in place: x <- LN(x + GELU(x W1ᵀ + b1) W2ᵀ + b2). */
static gq_status ffn(gq_encoder_cuda *g, const dev_layer *L, int layer, float *x, int n, gq_err *err) {
    const gq_encoder_config *c = &g->m->cfg;
    int d = c->dim, hd = c->hidden_dim;
    gq_status s = observe_linear(g, x, n, d, layer, GQ_LIN_FF1, err);
    if (s == GQ_OK) s = linear(g, x, n, L->w1, hd, d, g->ff, hd, err);
    if (s != GQ_OK) return s;
    size_t e = (size_t)n * hd;
    bias_gelu<<<blocks(e, EW_THREADS) < 65535 ? blocks(e, EW_THREADS) : 65535, EW_THREADS>>>(g->ff, L->b1, e, hd);
    if ((s = observe_linear(g, g->ff, n, hd, layer, GQ_LIN_FF2, err)) != GQ_OK) return s;
    if ((s = linear(g, g->ff, n, L->w2, d, hd, g->tmp, d, err)) != GQ_OK) return s;
    residual_ln<<<blocks(n, ROW_THREADS / WARP), ROW_THREADS>>>(x, g->tmp, L->b2, L->ln2_w, L->ln2_b, eps(g), n, d);
    return GQ_OK;
}

/* Block `layer` on all n tokens of h, in place. */
static gq_status full_block(gq_encoder_cuda *g, int layer, int n, const int *start, int nseq, int max_len, gq_err *err) {
    static const gq_lin_kind QKV[3] = {GQ_LIN_Q, GQ_LIN_K, GQ_LIN_V};
    const dev_layer *L = &g->layers[layer];
    int d = g->m->cfg.dim;
    gq_status s = observe(g, g->h, n, d, layer, QKV, 3, 0, err);
    if (s == GQ_OK) s = linear(g, g->h, n, L->wqkv, 3 * d, d, g->qkv, 3 * d, err);
    if (s != GQ_OK) return s;
    launch_attention(g, g->att, d, g->qkv, 3 * d, L, start, nseq, max_len, 0);
    if ((s = observe_linear(g, g->att, n, d, layer, GQ_LIN_O, err)) != GQ_OK) return s;
    if ((s = linear(g, g->att, n, L->wo, d, d, g->tmp, d, err)) != GQ_OK) return s;
    residual_ln<<<blocks(n, ROW_THREADS / WARP), ROW_THREADS>>>(g->h, g->tmp, L->bo, L->ln1_w, L->ln1_b, eps(g), n,
                                                                d);
    if ((s = ffn(g, L, layer, g->h, n, err)) != GQ_OK) return s;
    return observe(g, g->h, n, d, layer, NULL, 0, layer + 1, err);
}

/* The last block, for the [CLS] rows only (into hc): K and V of every token, then the
 * query, attention, out_lin and FFN of the first row of each sequence. Q goes into the
 * first nseq rows of qkv's Q columns, which nothing else reads in this block. */
static gq_status last_block(gq_encoder_cuda *g, int layer, int n, const int *start, int nseq, gq_err *err) {
    const dev_layer *L = &g->layers[layer];
    int d = g->m->cfg.dim;
    gather_first<<<nseq, 256>>>(g->hc, g->h, start, nseq, d);
    gq_status s = linear(g, g->h, n, L->wqkv + (size_t)d * d, 2 * d, d, g->qkv + d, 3 * d, err);
    if (s == GQ_OK) s = linear(g, g->hc, nseq, L->wqkv, d, d, g->qkv, 3 * d, err);
    if (s != GQ_OK) return s;
    launch_attention(g, g->att, d, g->qkv, 3 * d, L, start, nseq, 1, 1);
    if ((s = linear(g, g->att, nseq, L->wo, d, d, g->tmp, d, err)) != GQ_OK) return s;
    residual_ln<<<blocks(nseq, ROW_THREADS / WARP), ROW_THREADS>>>(g->hc, g->tmp, L->bo, L->ln1_w, L->ln1_b, eps(g),
                                                                   nseq, d);
    return ffn(g, L, layer, g->hc, nseq, err);
}

/* One batch on the weights on the device, into activations reserved for it. With hooks
 * (calibration, tests), every block runs on all tokens, since the hooks want every row, and
 * each hooked activation is copied to the host. */
/* host_info <- the batch's ids, positions and token types (n each) and sequence starts. */
static void fill_tokinfo(const gq_encoder_cuda *g, const int32_t *ids, const int *lens, const int *seg_a, int nseq,
                         int n) {
    const gq_encoder_config *c = &g->m->cfg;
    int *hi = g->host_info, *pos = hi + n, *type = hi + 2 * (size_t)n, *start = hi + 3 * (size_t)n;
    start[0] = 0;
    for (int i = 0; i < nseq; i++) {
        int seg = seg_a && c->family->segment_types ? seg_a[i] : lens[i];
        gq_positions next;
        gq_positions_start(&next, c);
        start[i + 1] = start[i] + lens[i];
        for (int p = 0, t = start[i]; p < lens[i]; p++, t++)
            hi[t] = ids[t], pos[t] = gq_positions_next(&next, ids[t]), type[t] = p >= seg;
    }
}

static gq_status run_batch(gq_encoder_cuda *g, const int32_t *ids, const int *lens, const int *seg_a, int nseq, int n,
                           int max_len, float *logits, const gq_encoder_hooks *hooks, gq_err *err) {
    const gq_encoder_config *c = &g->m->cfg;
    int d = c->dim, nl = c->n_labels;
    gq_status s;
    fill_tokinfo(g, ids, lens, seg_a, nseq, n); /* one upload */
    CUDA_TRY(cudaMemcpy(g->tokinfo, g->host_info, (3 * (size_t)n + nseq + 1) * sizeof(int), cudaMemcpyHostToDevice),
             "upload of a batch");
    const int *d_ids = g->tokinfo, *d_pos = g->tokinfo + n, *d_type = g->tokinfo + 2 * n;
    const int *d_start = g->tokinfo + 3 * n;
    embed_ln<<<blocks(n, ROW_THREADS / WARP), ROW_THREADS>>>(g->h, d_ids, d_pos, d_type, g->word, g->pos, g->type,
                                                             g->eln_w, g->eln_b, eps(g), n, d);
    g->hooks = hooks;
    int cut = !hooks; /* the [CLS] cut of the last block */
    s = observe(g, g->h, n, d, 0, NULL, 0, 0, err);
    for (int l = 0; l < c->n_layers - cut && s == GQ_OK; l++) s = full_block(g, l, n, d_start, nseq, max_len, err);
    if (s == GQ_OK && cut) s = last_block(g, c->n_layers - 1, n, d_start, nseq, err);
    if (s == GQ_OK && !cut) gather_first<<<nseq, 256>>>(g->hc, g->h, d_start, nseq, d);
    g->hooks = NULL;
    if (s == GQ_OK) s = linear(g, g->hc, nseq, g->pre_w, d, d, g->tmp, d, err);
    if (s != GQ_OK) return s;
    unsigned head_blocks = blocks((size_t)nseq * nl, ROW_THREADS / WARP);
    head<<<head_blocks, ROW_THREADS>>>(g->logits, g->tmp, g->pre_b, g->cls_w, g->cls_b,
                                       c->family->head_act == GQ_HEAD_TANH, nseq, nl, d);
    CUDA_TRY(cudaGetLastError(), "kernel launch");
    CUDA_TRY(cudaMemcpy(logits, g->logits, (size_t)nseq * nl * sizeof(float), cudaMemcpyDeviceToHost), "forward");
    return GQ_OK;
}

/* A batch of the size the runner is fed (GQ_ENCODER_CUDA_BATCH_TOKENS in sequences of 32, the
 * length of most GLUE rows), run once so that the first real batch finds cuBLAS's and our
 * kernels loaded (CUDA loads them lazily, at first launch) and the activations allocated.
 * Its weights may be anything: the logits are thrown away. */
static gq_status warm_up(gq_encoder_cuda *g, gq_err *err) {
    const gq_encoder_config *c = &g->m->cfg;
    int longest = gq_encoder_max_len(c), len = longest < 32 ? longest : 32;
    int nseq = GQ_ENCODER_CUDA_BATCH_TOKENS / len, n = nseq * len;
    int32_t *ids = (int32_t *)gq_calloc_array((size_t)n, sizeof *ids);
    int *lens = (int *)gq_malloc_array((size_t)nseq, sizeof *lens);
    float *logits = (float *)gq_malloc_array((size_t)nseq * c->n_labels, sizeof *logits);
    gq_status s = ids && lens && logits ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "cuda: out of memory");
    for (int i = 0; s == GQ_OK && i < nseq; i++) lens[i] = len;
    if (s == GQ_OK) s = run_batch(g, ids, lens, NULL, nseq, n, len, logits, NULL, err);
    free(ids), free(lens), free(logits);
    return s;
}

/* The slow part of opening, timed step by step (gq_encoder_cuda's header comment). */
static gq_status prepare(gq_encoder_cuda *g, gq_err *err) {
    double t = gq_now();
    CUDA_TRY(cudaFree(0), "cannot create a context"); /* the first runtime call that needs one */
    g->t_step[0] = gq_now() - t, t = gq_now();
    if (cublasCreate(&g->blas) != CUBLAS_STATUS_SUCCESS) return gq_fail(err, GQ_ERR_IO, "device cuda: cannot start cuBLAS");
    /* FP32 sgemm unless TF32 is asked for (CUBLAS_DEFAULT_MATH never uses TF32). */
    if (cublasSetMathMode(g->blas, g->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS)
        return gq_fail(err, GQ_ERR_IO, "device cuda: cannot set cuBLAS's math mode");
    g->t_step[1] = gq_now() - t, t = gq_now();
    gq_status s = upload_fixed(g, err);
    if (s == GQ_OK) s = reserve(g, GQ_ENCODER_CUDA_BATCH_TOKENS, GQ_ENCODER_CUDA_BATCH_TOKENS, err);
    g->t_step[2] = gq_now() - t, t = gq_now();
    if (s == GQ_OK) s = warm_up(g, err);
    g->t_step[3] = gq_now() - t;
    return s;
}

static void *prepare_thread(void *arg) {
    gq_encoder_cuda *g = (gq_encoder_cuda *)arg;
    g->prep_status = prepare(g, &g->prep_err);
    return NULL;
}

/* Waits for prepare() and uploads the block Linears, once (gq_encoder_runner_ready, or the
 * first forward); then says where the time went. */
static gq_status ready(gq_encoder_cuda *g, gq_err *err) {
    if (g->prepared) return GQ_OK;
    double t = gq_now();
    if (g->prep_running) pthread_join(g->prep, NULL);
    g->prep_running = 0;
    if (g->prep_status != GQ_OK) {
        if (err) *err = g->prep_err;
        return g->prep_status;
    }
    double waited = gq_now() - t;
    t = gq_now();
    gq_status s = sync_weights(g, 1, err);
    if (s != GQ_OK) return s;
    g->prepared = 1;
    gq_info("cuda: driver %.2f s; then, beside the caller's work: context %.2f s, cuBLAS %.2f s, memory and fixed "
            "weights %.2f s, warm-up batch %.2f s; waited %.2f s for them when first needed, then uploaded the block "
            "Linears in %.2f s", g->t_driver, g->t_step[0], g->t_step[1], g->t_step[2], g->t_step[3], waited,
            gq_now() - t);
    return GQ_OK;
}

static gq_status cuda_forward(gq_encoder_cuda *g, const int32_t *ids, const int *lens, const int *seg_a, int nseq, int n,
                              int max_len, float *logits, const gq_encoder_hooks *hooks, gq_err *err) {
    gq_status s = ready(g, err);
    if (s == GQ_OK) s = reserve(g, n, nseq, err);
    if (s == GQ_OK) s = sync_weights(g, 0, err);
    return s == GQ_OK ? run_batch(g, ids, lens, seg_a, nseq, n, max_len, logits, hooks, err) : s;
}

static void cuda_free(gq_encoder_cuda *g) {
    if (!g) return;
    if (g->prep_running) pthread_join(g->prep, NULL);
    free_activations(g);
    stats_free(g);
    for (int l = 0; g->layers && l < g->m->cfg.n_layers; l++) {
        dev_layer *L = &g->layers[l];
        float *p[] = {L->wqkv, L->bqkv, L->wo,    L->bo,    L->w1,    L->b1,
                      L->w2,   L->b2,   L->ln1_w, L->ln1_b, L->ln2_w, L->ln2_b};
        for (size_t i = 0; i < sizeof p / sizeof *p; i++) cudaFree(p[i]);
    }
    float *p[] = {g->word, g->pos, g->type, g->eln_w, g->eln_b, g->pre_w, g->pre_b, g->cls_w, g->cls_b};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) cudaFree(p[i]);
    if (g->blas) cublasDestroy(g->blas);
    free(g->layers), free(g->seen);
    free(g);
}

static gq_status cuda_open(const gq_encoder *m, int tf32, gq_encoder_cuda **out, gq_err *err) {
    *out = NULL;
    const gq_encoder_config *c = &m->cfg;
    if (c->dim / c->n_heads > ATT_MAX_DH)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "device cuda: head size %d is over the %d the attention kernel takes",
                       c->dim / c->n_heads, ATT_MAX_DH);
    int count = 0;
    double t = gq_now();
    cudaError_t e = cudaGetDeviceCount(&count); /* starts the driver */
    if (e != cudaSuccess || count == 0)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "device cuda: no CUDA GPU found (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "no device");
    gq_encoder_cuda *g = (gq_encoder_cuda *)calloc(1, sizeof *g);
    if (!g) return gq_fail(err, GQ_ERR_NOMEM, "cuda: out of memory");
    g->m = m;
    g->layers = (dev_layer *)gq_calloc_array((size_t)c->n_layers, sizeof *g->layers);
    g->seen = (unsigned *)gq_calloc_array((size_t)c->n_layers * GQ_LIN_COUNT, sizeof *g->seen);
    g->tf32 = tf32, g->t_driver = gq_now() - t;
    gq_status s = g->layers && g->seen ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "cuda: out of memory");
    if (s == GQ_OK && pthread_create(&g->prep, NULL, prepare_thread, g) != 0)
        s = gq_fail(err, GQ_ERR_NOMEM, "cuda: cannot start a thread");
    g->prep_running = s == GQ_OK;
    if (s != GQ_OK) {
        cuda_free(g);
        return s;
    }
    *out = g;
    return GQ_OK;
}

/* The module's one export (runner_impl.h); everything else is hidden (CMake's visibility
 * preset), so that nothing here can clash with the executable's symbols. */
extern "C" __attribute__((visibility("default"))) const gq_encoder_cuda_api gq_encoder_cuda_module = {
    GQ_CUDA_MODULE_ABI, sizeof(gq_encoder), cuda_open, cuda_free, cuda_forward, ready};
