/* encoder_cpu: the encoders' FP32 forward pass on the CPU (SPEC.md §1), one for every
 * family: the families differ only in data read here (the embeddings summed, positions,
 * the LayerNorm epsilon, the head's activation: encoder.h).
 *
 * All tokens of a batch are stacked into one (ntok, dim) matrix, so each Linear is one
 * sgemm; attention runs per sequence and head over that sequence's own tokens only, so
 * no padded position is ever computed and padding can never change a logit. */
#define _POSIX_C_SOURCE 200809L
#include "runner_impl.h"
#include "fast_expf.h"
#include "pool.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);
int openblas_get_num_procs(void);
int openblas_get_num_threads(void);

/* --------------------------------------------------------------- forward ---- */

/* One block, in place on the hidden states h (ntok, dim):
 *   q, k, v = (h Wqᵀ + bq) / √dh, h Wkᵀ + bk, h Wvᵀ + bv
 *   q       <- attention(q, k, v)        (row i of the output overwrites q_i)
 *   h       <- LN(h + q Woᵀ + bo)
 *   ff       = GELU(h W1ᵀ + b1)
 *   h       <- LN(h + ff W2ᵀ + b2)
 * Each Linear is one sgemm over all tokens of a part of the batch. Biases and residuals ride
 * in sgemm's C operand (beta = 1), so the only other passes over the activations are the
 * bias fills, attention, GELU and LayerNorm.
 *
 * Threads: the batch runs in rounds of about GQ_ENCODER_CPU_ROUND_TOKENS tokens, each cut into
 * one part per thread, whole sequences with about equal numbers of tokens, and each thread
 * runs the entire model on its part of every round with a single-threaded sgemm (rounds
 * and parts, below). The parts never wait for each other, so one thread's GEMMs overlap
 * the other's attention and LayerNorms, where OpenBLAS's own threads would leave cores idle
 * between GEMMs (measured: 2 threads of M/2 rows each run sgemm as fast as OpenBLAS's 2
 * threads on M rows). With hooks (which want all tokens of a Linear at once) or a single
 * sequence, the batch is one part and OpenBLAS threads the GEMMs.
 *
 * Without hooks, the last block runs for the logits alone (last_block_cls): everything
 * for the first token of each sequence, whose attention reads the other tokens' hidden
 * states directly, with the key and value weights folded into it (cls_attend_head). */

/* Attention runs on blocks of ATT_ROWS query rows and tiles of ATT_COLS keys or value
 * columns: each key or value row loaded serves the whole block, and a tile's
 * ATT_ROWS x ATT_COLS sums stay in registers: 16 of AVX-512's 32 vector registers for 8
 * rows (block_scores and block_values took 1.75% of a QNLI eval's samples instead of
 * 2.8% with 4 rows on Zen 4), 8 of AVX2's 16 for 4 rows, which 8 would spill. */
#ifdef __AVX512F__
enum { ATT_ROWS = 8, ATT_COLS = 16 };
#else
enum { ATT_ROWS = 4, ATT_COLS = 16 };
#endif

/* A sequence of T tokens rounded up to whole tiles: the row width of the transposed keys
 * and of the attention weights, so that every score tile runs full width. */
static int att_width(int T) { return (T + ATT_COLS - 1) / ATT_COLS * ATT_COLS; }

/* One thread's attention scratch for sequences of up to L tokens, w = att_width(L), head
 * dimension dh (dhp = att_width(dh)). */
typedef struct {
    float *kt; /* (dh, w) one head's keys, transposed */
    float *vp; /* (w, dhp) its values */
    float *p;  /* (ATT_ROWS, w) a block of queries' scores, then weights */
    double *u, *z; /* (dim) each: cls_attend_head's folded query and weighted input */
} att_scratch;

struct gq_encoder_cpu {
    const gq_encoder *m;
    gq_pool *pool; /* one part of each round per thread */
    int cap_tok, cap_cls, cap_seq, cap_len;
    /* Rows of the parts: thread i's part takes rows from i · part_rows (i · part_cls) on;
     * a batch run as one part takes them all. */
    int part_rows, part_cls;
    float *h;         /* (cap_tok, dim) hidden states */
    float *q, *k, *v; /* (cap_tok, dim); q then holds the attention output */
    float *ff;        /* (cap_tok, hidden_dim) */
    float *cls_in;    /* (cap_cls, dim) first-token states */
    float *cls_h;     /* (cap_cls, dim) pre_classifier output */
    float *att;       /* (threads, att_floats) each thread's att_scratch, floats */
    double *fold;     /* (threads, 2, dim) and its doubles */
    int *start;       /* (nseq + 1) first token of each sequence */
    int *bounds;      /* (rounds, threads + 1) each round's parts: first sequences */
    int64_t *load;    /* (threads) schedule's tokens per thread */
};

gq_encoder_cpu *gq_encoder_cpu_new(const gq_encoder *m, int threads) {
    gq_encoder_cpu *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->m = m;
    if (threads <= 0) threads = openblas_get_num_procs();
    /* OpenBLAS's thread count is process-wide: set here for the batches that run as one
     * part, and for other BLAS users in the process (quantizers, calibration). */
    openblas_set_num_threads(threads);
    r->pool = gq_pool_new(threads);
    r->load = r->pool ? gq_calloc_array((size_t)gq_pool_threads(r->pool), sizeof *r->load) : NULL;
    if (!r->load) {
        gq_encoder_cpu_free(r);
        return NULL;
    }
    return r;
}

static void free_token_buffers(gq_encoder_cpu *r) {
    free(r->h), free(r->q), free(r->k), free(r->v), free(r->ff);
    r->h = r->q = r->k = r->v = r->ff = NULL;
    r->cap_tok = 0;
}

static void free_cls_buffers(gq_encoder_cpu *r) {
    free(r->cls_in), free(r->cls_h);
    r->cls_in = r->cls_h = NULL;
    r->cap_cls = 0;
}

static void free_sequence_buffers(gq_encoder_cpu *r) {
    free(r->start), free(r->bounds);
    r->start = r->bounds = NULL;
    r->cap_seq = 0;
}

static void free_scratch(gq_encoder_cpu *r) {
    free(r->att), free(r->fold);
    r->att = NULL;
    r->fold = NULL;
    r->cap_len = 0;
}

void gq_encoder_cpu_free(gq_encoder_cpu *r) {
    if (!r) return;
    gq_pool_free(r->pool);
    free(r->load);
    free_token_buffers(r), free_cls_buffers(r), free_sequence_buffers(r), free_scratch(r);
    free(r);
}

/* Floats of one thread's att_scratch for sequences of up to len tokens. */
static size_t att_floats(int len, int dh) { return (size_t)att_width(len) * (size_t)(dh + att_width(dh) + ATT_ROWS); }

/* Thread i's att_scratch: kt, vp and p one after the other. */
static att_scratch thread_scratch(const gq_encoder_cpu *r, int i) {
    int dh = r->m->cfg.dim / r->m->cfg.n_heads;
    size_t w = (size_t)att_width(r->cap_len);
    float *kt = r->att + (size_t)i * att_floats(r->cap_len, dh), *vp = kt + (size_t)dh * w;
    double *u = r->fold + (size_t)i * 2 * r->m->cfg.dim;
    return (att_scratch){kt, vp, vp + w * (size_t)att_width(dh), u, u + r->m->cfg.dim};
}

/* A capacity for `need` that grew from `cap`: half as much again, so that batches of
 * slowly growing shapes (eval sorts by length) do not reallocate, and fault in fresh
 * pages, batch after batch. Untouched headroom costs address space, not memory. */
static int grown(int need, int cap) {
    int64_t g = (int64_t)cap + cap / 2;
    return need > g ? need : g > INT32_MAX / 4 ? INT32_MAX / 4 : (int)g;
}

/* Grows the per-sequence arrays for a batch of nseq sequences (once per larger batch). */
static int reserve_sequences(gq_encoder_cpu *r, int nseq) {
    if (nseq <= r->cap_seq) return 1;
    int seq = grown(nseq, r->cap_seq), nt = gq_pool_threads(r->pool);
    free_sequence_buffers(r);
    r->start = gq_malloc_array((size_t)seq + 1, sizeof *r->start);
    r->bounds = gq_malloc_array((size_t)seq * (nt + 1), sizeof *r->bounds);
    if (!r->start || !r->bounds) return free_sequence_buffers(r), 0;
    r->cap_seq = seq;
    return 1;
}

/* Grows the buffers of the parts: rows token rows, cls [CLS] rows, sequences of up to
 * max_len; each group only when a batch outgrows it (never per token: once per larger
 * shape). */
static int reserve_parts(gq_encoder_cpu *r, int rows, int cls, int max_len) {
    const gq_encoder_config *c = &r->m->cfg;
    size_t nt = (size_t)gq_pool_threads(r->pool);
    if (rows > r->cap_tok) {
        int tok = grown(rows, r->cap_tok);
        size_t td = (size_t)tok * c->dim;
        free_token_buffers(r);
        r->h = gq_malloc_array(td, 4), r->q = gq_malloc_array(td, 4), r->k = gq_malloc_array(td, 4);
        r->v = gq_malloc_array(td, 4), r->ff = gq_malloc_array((size_t)tok * c->hidden_dim, 4);
        if (!r->h || !r->q || !r->k || !r->v || !r->ff) return free_token_buffers(r), 0;
        r->cap_tok = tok;
    }
    if (cls > r->cap_cls) {
        int n = grown(cls, r->cap_cls);
        free_cls_buffers(r);
        r->cls_in = gq_malloc_array((size_t)n * c->dim, 4), r->cls_h = gq_malloc_array((size_t)n * c->dim, 4);
        if (!r->cls_in || !r->cls_h) return free_cls_buffers(r), 0;
        r->cap_cls = n;
    }
    if (max_len > r->cap_len) {
        int len = grown(max_len, r->cap_len);
        free_scratch(r);
        r->att = gq_malloc_array(nt * att_floats(len, c->dim / c->n_heads), 4);
        r->fold = gq_malloc_array(nt * 2 * (size_t)c->dim, sizeof(double));
        if (!r->att || !r->fold) return free_scratch(r), 0;
        r->cap_len = len;
    }
    return 1;
}

/* y (n, out) = alpha · x (n, in) · Wᵀ + y, W in checkpoint layout (no packed copy, so
 * weights quantized in place are used as they are). y arrives holding the bias and/or the
 * residual: beta = 1 adds them inside the GEMM and spares OpenBLAS its pass zeroing y. */
static void linear_acc(const gq_linear *lin, const float *x, int n, float alpha, float *y) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, lin->out, lin->in, alpha, x, lin->in, lin->w, lin->in,
                1.0f, y, lin->out);
}

/* y_t = s · b for each of the n rows of y (n, d). */
static void fill_rows(float *y, const float *b, int n, int d, float s) {
    for (int t = 0; t < n; t++)
        for (int i = 0; i < d; i++) y[(size_t)t * d + i] = s * b[i];
}

/* LayerNorm of one row in place: (x - mean) / sqrt(var + eps) · w + b, biased variance.
 * Two passes (mean, then centred squares) keep it stable for rows with a large mean; the
 * sums run in 8 double lanes, as exact as one double accumulator but vectorizable. */
static void layer_norm(float *x, int d, const float *w, const float *b, double eps) {
    enum { LANES = 8 };
    double s[LANES] = {0}, ss[LANES] = {0}, mean = 0, var = 0;
    int body = d - d % LANES;
    for (int i = 0; i < body; i += LANES)
        for (int u = 0; u < LANES; u++) s[u] += x[i + u];
    for (int i = body; i < d; i++) s[0] += x[i];
    for (int u = 0; u < LANES; u++) mean += s[u];
    mean /= d;
    for (int i = 0; i < body; i += LANES)
        for (int u = 0; u < LANES; u++) ss[u] += (x[i + u] - mean) * (x[i + u] - mean);
    for (int i = body; i < d; i++) ss[0] += (x[i] - mean) * (x[i] - mean);
    for (int u = 0; u < LANES; u++) var += ss[u];
    var /= d;
    float inv = (float)(1.0 / sqrt(var + eps)), mf = (float)mean;
    for (int i = 0; i < d; i++) x[i] = (x[i] - mf) * inv * w[i] + b[i];
}

/* Fused multiply-add where the target has one (one rounding, as the erf fit assumes);
 * elsewhere fmaf would be a slow library call, and two roundings cost ~0.3 ulp. */
#ifdef FP_FAST_FMAF
#define FMA(a, b, c) fmaf(a, b, c)
#else
#define FMA(a, b, c) ((a) * (b) + (c))
#endif

/* Minimax polynomials for erf (bench/erf_fit.py): x + x·P(x²) on [0, 1) and
 * 1 - Q(x - 2.46) on [1, 3.92); erf rounds to 1 beyond. */
static const float ERF_P[7] = {0.128379151f,  -0.376126051f,    0.112834305f,   -0.02684859f,
                               0.0051797484f, -0.000794234686f, 7.64708602e-05f};
static const float ERF_Q[15] = {0.000503353484f,  -0.00265623978f,  0.00653452054f,   -0.009832412f,
                                0.00991416723f,   -0.00679971091f,  0.00293722632f,   -0.000459062256f,
                                -0.000355984666f, 0.000299405219f,  -7.57604648e-05f, -2.46265463e-05f,
                                1.73068711e-05f,  -1.0636667e-07f,  -1.09081384e-06f};

/* GCC keeps erf_fast's selects as branches under trapping math, C's default, and the GELU
 * loop scalar; without it they become vector blends with the same values (glueq never
 * traps on FP exceptions). Clang if-converts them as they are and has no such attribute. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_TRAPPING_MATH __attribute__((optimize("no-trapping-math")))
#else
#define NO_TRAPPING_MATH
#endif

/* erf(x) to 1.1 ulp (8e-8 relative, checked on every normal float). Both polynomials are
 * evaluated and one selected, without branches, so that the GELU loop vectorizes; glibc's
 * erff is a scalar call. */
static inline NO_TRAPPING_MATH float erf_fast(float x) {
    float a = fabsf(x), a2 = a * a, t = a - 2.46f, p = ERF_P[6], q = ERF_Q[14];
#pragma GCC unroll 16
    for (int i = 5; i >= 0; i--) p = FMA(p, a2, ERF_P[i]);
#pragma GCC unroll 16
    for (int i = 13; i >= 0; i--) q = FMA(q, t, ERF_Q[i]);
    float y = a < 1.0f ? FMA(a, p, a) : a < 3.92f ? 1.0f - q : 1.0f;
    return copysignf(y, x);
}

/* Kept out of line (here and for the attention kernels, bias_layer_norm, embed) so that a
 * profile names the forward's phases; each call does a whole row or more of work. */
#define PHASE __attribute__((noinline))

/* GELU exact, in place: 0.5 z (1 + erf(z / √2)); NO_TRAPPING_MATH lets it vectorize. */
PHASE NO_TRAPPING_MATH static void gelu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float z = x[i];
        x[i] = 0.5f * z * (1.0f + erf_fast(z * 0.70710678118654752f));
    }
}

/* max of p[0..n-1] (n >= 1) in 8 lanes, so that it vectorizes; the maximum is exact in
 * any order. */
static float row_max(const float *p, int n) {
    enum { LANES = 8 };
    float mx[LANES];
    int body = n - n % LANES;
    for (int u = 0; u < LANES; u++) mx[u] = p[0];
    for (int j = 0; j < body; j += LANES)
        for (int u = 0; u < LANES; u++) mx[u] = p[j + u] > mx[u] ? p[j + u] : mx[u];
    for (int j = body; j < n; j++) mx[0] = p[j] > mx[0] ? p[j] : mx[0];
    for (int u = 1; u < LANES; u++) mx[0] = mx[u] > mx[0] ? mx[u] : mx[0];
    return mx[0];
}

/* Each of the first `rows` rows of s (w apart) <- softmax over its n entries,
 * max-subtracted for stability. Each row's sum runs in ascending order (the order every
 * reference logit was made with), the rows' sums interleaved so that they do not wait on each other. */
PHASE static void block_softmax(float *s, int w, int n, int rows) {
    float sum[ATT_ROWS] = {0};
    for (int r = 0; r < rows; r++) {
        float *p = s + (size_t)r * w, mx = row_max(p, n);
        /* gq_expf_nonpositive's domain, in a loop of its own: GCC vectorizes neither loop
         * with this (possibly trapping) comparison inside gq_expf_nonpositive's */
        for (int j = 0; j < n; j++) p[j] = p[j] - mx < -104.0f ? -104.0f : p[j] - mx;
        for (int j = 0; j < n; j++) p[j] = gq_expf_nonpositive(p[j]);
    }
    for (int j = 0; j < n; j++)
        for (int r = 0; r < rows; r++) sum[r] += s[(size_t)r * w + j];
    for (int r = 0; r < rows; r++) {
        float inv = 1.0f / sum[r], *p = s + (size_t)r * w;
        for (int j = 0; j < n; j++) p[j] *= inv;
    }
}

/* Eight floats, one AVX register (a GCC/clang vector extension; lowered to SSE pairs
 * elsewhere). The attention tiles are written with it because GCC vectorized their plain
 * loops across the block's rows, with shuffles, instead of along the tile. Arithmetic on
 * it is lane by lane, as on floats (no contraction into FMA under -std=c11). */
typedef float vec8 __attribute__((vector_size(32)));
enum { TILE_VECS = ATT_COLS / 8 };

static inline vec8 load8(const float *p) {
    vec8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* kt (dh, w) <- one head's keys k (T rows, d apart) transposed and zero past T, so that
 * a query's scores lie along contiguous memory; vp (T, dhp) <- its values with zero
 * columns past dh. Both pads let every tile run full width. */
PHASE static void copy_head(const float *restrict k, const float *restrict v, int T, int d, int dh,
                            float *restrict kt, int w, float *restrict vp, int dhp) {
    for (int c = 0; c < dh; c++) {
        for (int j = 0; j < T; j++) kt[(size_t)c * w + j] = k[(size_t)j * d + c];
        for (int j = T; j < w; j++) kt[(size_t)c * w + j] = 0.0f;
    }
    for (int j = 0; j < T; j++) {
        memcpy(vp + (size_t)j * dhp, v + (size_t)j * d, (size_t)dh * sizeof(float));
        for (int c = dh; c < dhp; c++) vp[(size_t)j * dhp + c] = 0.0f;
    }
}

/* s (ATT_ROWS, w) <- q_r · k_j for a block of query rows. Each score sums over the head
 * dimension in ascending order from 0, as a loop over one query row would: the blocking
 * shares the loads of kt, and leaves every result bit for bit the same. */
PHASE static void block_scores(float *const q[ATT_ROWS], const float *restrict kt, int dh, int w, float *restrict s) {
    for (int j0 = 0; j0 < w; j0 += ATT_COLS) {
        vec8 acc[ATT_ROWS][TILE_VECS] = {{{0}}};
        for (int c = 0; c < dh; c++) {
            vec8 kc[TILE_VECS];
            for (int u = 0; u < TILE_VECS; u++) kc[u] = load8(kt + (size_t)c * w + j0 + 8 * u);
            for (int r = 0; r < ATT_ROWS; r++)
                for (int u = 0; u < TILE_VECS; u++) acc[r][u] += q[r][c] * kc[u];
        }
        for (int r = 0; r < ATT_ROWS; r++) memcpy(s + (size_t)r * w + j0, acc[r], sizeof acc[r]);
    }
}

/* o_r <- Σ_j p_rj v_j (dh columns) for the first `rows` rows of a block (p rows w apart,
 * vp rows dhp apart), summed over the keys in ascending order from 0, as for one row. */
PHASE static void block_values(const float *restrict p, int w, int T, const float *restrict vp, int dh, int dhp,
                               float *const o[ATT_ROWS], int rows) {
    for (int c0 = 0; c0 < dh; c0 += ATT_COLS) {
        vec8 acc[ATT_ROWS][TILE_VECS] = {{{0}}};
        for (int j = 0; j < T; j++) {
            vec8 vj[TILE_VECS];
            for (int u = 0; u < TILE_VECS; u++) vj[u] = load8(vp + (size_t)j * dhp + c0 + 8 * u);
            for (int r = 0; r < ATT_ROWS; r++)
                for (int u = 0; u < TILE_VECS; u++) acc[r][u] += p[(size_t)r * w + j] * vj[u];
        }
        int width = dh - c0 < ATT_COLS ? dh - c0 : ATT_COLS; /* a last tile past dh is padding */
        for (int r = 0; r < rows; r++) memcpy(o[r] + c0, acc[r], (size_t)width * sizeof(float));
    }
}

/* One head over one sequence of T tokens, for its first nq of them as queries (q, k, v
 * point at its first row and the head's first column; rows d apart): o_i = Σ_j
 * softmax_j(q_i · k_j) v_j, q pre-scaled, in blocks of ATT_ROWS queries. o_i overwrites
 * q_i once its block's scores are taken; no other block reads it. kt, vp and p are the
 * thread's scratch (copy_head, block_scores). */
PHASE static void attend_head(float *restrict q, int nq, const float *restrict k, const float *restrict v, int T, int d,
                              int dh, const att_scratch *sc) {
    int w = att_width(T), dhp = att_width(dh);
    copy_head(k, v, T, d, dh, sc->kt, w, sc->vp, dhp);
    for (int i0 = 0; i0 < nq; i0 += ATT_ROWS) {
        int rows = nq - i0 < ATT_ROWS ? nq - i0 : ATT_ROWS;
        float *qr[ATT_ROWS];
        /* a short last block repeats its last row: computed, never normalised or stored */
        for (int r = 0; r < ATT_ROWS; r++) qr[r] = q + (size_t)(i0 + (r < rows ? r : rows - 1)) * d;
        block_scores(qr, sc->kt, dh, w, sc->p);
        block_softmax(sc->p, w, T, rows);
        block_values(sc->p, w, T, sc->vp, dh, dhp, qr, rows);
    }
}

/* Sequences [s0, s1) of a batch, whose tokens [t0, t0 + n) of the batch are rows 0 .. n - 1
 * of h, q, k, v and ff and whose [CLS] states are rows 0 .. s1 - s0 - 1 of cls_in and cls_h
 * (the thread's rows of the runner's buffers), and the thread's attention scratch. */
typedef struct {
    gq_encoder_cpu *r;
    const int32_t *ids; /* the batch's */
    const int *lens;
    const int *seg_a;   /* NULL: one segment */
    float *logits;
    const gq_encoder_hooks *hk;
    int s0, s1, t0, n;
    float *h, *q, *k, *v, *ff, *cls_in, *cls_h;
    att_scratch sc;
} part;

/* Row of sequence s's first token in one of the part's token buffers (rows d apart). */
static float *seq_row(const part *pt, float *buf, int s, int d) {
    return buf + (size_t)(pt->r->start[s] - pt->t0) * d;
}

/* h_t = LN(word_emb[id_t] + pos_emb[position of t]) for every token of the part, and with
 * token types LN((word_emb[id_t] + type_emb[type of t]) + pos_emb[...]), summed in the
 * order transformers sums them. */
PHASE static void embed(const part *pt) {
    const gq_encoder *m = pt->r->m;
    const gq_encoder_config *c = &m->cfg;
    int d = c->dim;
    for (int s = pt->s0; s < pt->s1; s++) {
        int seg = pt->seg_a && c->family->segment_types ? pt->seg_a[s] : pt->lens[s];
        gq_positions pos;
        gq_positions_start(&pos, c);
        for (int p = 0, t = pt->r->start[s]; p < pt->lens[s]; p++, t++) {
            float *row = pt->h + (size_t)(t - pt->t0) * d;
            const float *w = m->word_emb + (size_t)pt->ids[t] * d;
            const float *pe = m->pos_emb + (size_t)gq_positions_next(&pos, pt->ids[t]) * d;
            if (m->type_emb) {
                const float *te = m->type_emb + (size_t)(p >= seg) * d;
                for (int i = 0; i < d; i++) row[i] = (w[i] + te[i]) + pe[i];
            } else {
                for (int i = 0; i < d; i++) row[i] = w[i] + pe[i];
            }
            layer_norm(row, d, m->emb_ln_w, m->emb_ln_b, c->ln_eps);
        }
    }
}

/* Each sequence and head attends over that sequence's own tokens only, so no padded key
 * is ever computed. */
static void attention(const part *pt) {
    const gq_encoder_cpu *r = pt->r;
    int d = r->m->cfg.dim, nh = r->m->cfg.n_heads, dh = d / nh;
    for (int s = pt->s0; s < pt->s1; s++)
        for (int hd = 0; hd < nh; hd++) {
            size_t at = (size_t)(r->start[s] - pt->t0) * d + (size_t)hd * dh;
            attend_head(pt->q + at, pt->lens[s], pt->k + at, pt->v + at, pt->lens[s], d, dh, &pt->sc);
        }
}

/* x <- LN(x + bias), row by row: the Linear before it left x = residual + x_in Wᵀ. */
PHASE static void bias_layer_norm(float *x, const float *bias, int n, int d, const float *w, const float *b,
                                  double eps) {
    for (int t = 0; t < n; t++) {
        float *row = x + (size_t)t * d;
        for (int i = 0; i < d; i++) row[i] += bias[i];
        layer_norm(row, d, w, b, eps);
    }
}

static void observe(const part *pt, int layer, gq_lin_kind kind, const float *x, int rows, int in) {
    if (pt->hk && pt->hk->linear_input) pt->hk->linear_input(pt->hk->ctx, layer, kind, x, rows, in);
}

/* q, k, v (rows, d) <- x Wqᵀ + bq (scaled by 1/√dh), x Wkᵀ + bk, x Wvᵀ + bv, each of them
 * when it is not NULL. */
static void project(const part *pt, int l, const float *x, int rows, float *q, float *k, float *v) {
    const gq_encoder_config *c = &pt->r->m->cfg;
    const gq_linear *lin = pt->r->m->layers[l].lin;
    int d = c->dim;
    float scale = 1.0f / sqrtf((float)(d / c->n_heads));
    float *out[3] = {q, k, v}, alpha[3] = {scale, 1.0f, 1.0f};
    for (int i = 0; i < 3; i++) {
        if (!out[i]) continue;
        observe(pt, l, (gq_lin_kind)(GQ_LIN_Q + i), x, rows, d);
        fill_rows(out[i], lin[GQ_LIN_Q + i].b, rows, d, alpha[i]);
        linear_acc(&lin[GQ_LIN_Q + i], x, rows, alpha[i], out[i]);
    }
}

/* The rest of a block after attention, on `rows` rows: x <- LN(x + a Woᵀ + bo), then
 * x <- LN(x + GELU(x W1ᵀ + b1) W2ᵀ + b2), with ff (rows, hidden_dim) as scratch. */
static void output_and_ffn(const part *pt, int l, float *x, const float *a, float *ff, int rows) {
    const gq_encoder_layer *L = &pt->r->m->layers[l];
    const gq_linear *lin = L->lin;
    int d = pt->r->m->cfg.dim, hd = pt->r->m->cfg.hidden_dim;
    observe(pt, l, GQ_LIN_O, a, rows, d);
    linear_acc(&lin[GQ_LIN_O], a, rows, 1.0f, x);
    bias_layer_norm(x, lin[GQ_LIN_O].b, rows, d, L->sa_ln_w, L->sa_ln_b, pt->r->m->cfg.ln_eps);
    observe(pt, l, GQ_LIN_FF1, x, rows, d);
    fill_rows(ff, lin[GQ_LIN_FF1].b, rows, hd, 1.0f);
    linear_acc(&lin[GQ_LIN_FF1], x, rows, 1.0f, ff);
    gelu(ff, (size_t)rows * hd);
    observe(pt, l, GQ_LIN_FF2, ff, rows, hd);
    linear_acc(&lin[GQ_LIN_FF2], ff, rows, 1.0f, x);
    bias_layer_norm(x, lin[GQ_LIN_FF2].b, rows, d, L->out_ln_w, L->out_ln_b, pt->r->m->cfg.ln_eps);
}

/* Block l on every token of the part, in place on h. */
static void block(const part *pt, int l) {
    project(pt, l, pt->h, pt->n, pt->q, pt->k, pt->v);
    attention(pt);
    output_and_ffn(pt, l, pt->h, pt->q, pt->ff, pt->n);
}

/* cls_in <- the first-token (CLS) state of each sequence of the part. */
static void gather_cls(const part *pt) {
    int d = pt->r->m->cfg.dim;
    for (int s = pt->s0; s < pt->s1; s++)
        memcpy(pt->cls_in + (size_t)(s - pt->s0) * d, seq_row(pt, pt->h, s, d), (size_t)d * sizeof(float));
}

/* y += a x over n entries, in double. */
static void axpy_d(double *restrict y, double a, const float *restrict x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* a · b over n entries in double, in 8 lanes so that it vectorizes. */
static double dot_d(const double *restrict a, const float *restrict b, int n) {
    enum { LANES = 8 };
    double s[LANES] = {0}, sum = 0;
    int body = n - n % LANES;
    for (int i = 0; i < body; i += LANES)
        for (int u = 0; u < LANES; u++) s[u] += a[i + u] * b[i + u];
    for (int i = body; i < n; i++) s[0] += a[i] * b[i];
    for (int u = 0; u < LANES; u++) sum += s[u];
    return sum;
}

/* Head hd of the last block for a [CLS] query alone, without the keys and values of the
 * sequence's T rows x (input rows, d apart; q: the head's dh query values, pre-scaled):
 *   q·k_t = q·(Wk_h x_t + bk_h) = u·x_t + q·bk_h,  u = Wk_hᵀ q,
 * and q·bk_h is the same for every t, which softmax ignores; with p = softmax_t(u·x_t),
 *   Σ_t p_t (Wv_h x_t + bv_h) = Wv_h z + bv_h,  z = Σ_t p_t x_t  (Σ_t p_t = 1),
 * which overwrites q. Wk_h, Wv_h: rows hd·dh .. of Wk, Wv. That is 2·T·d + 2·dh·d
 * multiply-adds in place of K's and V's 2·T·d·dh. The sums run in double, so that what
 * moves the logits from the K and V route's (by up to 6e-7 on the shipped models' dev
 * sets) is that route's own float rounding, not this one's. */
PHASE static void cls_attend_head(float *q, const float *x, int T, const gq_encoder_layer *L, int hd, int d, int dh,
                                  const att_scratch *sc) {
    const float *wk = L->lin[GQ_LIN_K].w + (size_t)hd * dh * d, *wv = L->lin[GQ_LIN_V].w + (size_t)hd * dh * d;
    const float *bv = L->lin[GQ_LIN_V].b + (size_t)hd * dh;
    for (int i = 0; i < d; i++) sc->u[i] = sc->z[i] = 0;
    for (int c = 0; c < dh; c++) axpy_d(sc->u, q[c], wk + (size_t)c * d, d);
    for (int t = 0; t < T; t++) sc->p[t] = (float)dot_d(sc->u, x + (size_t)t * d, d);
    block_softmax(sc->p, T, T, 1);
    for (int t = 0; t < T; t++) axpy_d(sc->z, sc->p[t], x + (size_t)t * d, d);
    for (int c = 0; c < dh; c++) q[c] = (float)(bv[c] + dot_d(sc->z, wv + (size_t)c * d, d));
}

/* Block l (the last) for the logits alone, which read only each sequence's [CLS] row:
 * the other rows reach that row only through attention's keys and values, and
 * cls_attend_head folds those into the [CLS] query. So Q, attention, out_lin, the
 * LayerNorms and the FFN run for the [CLS] rows (already gathered into cls_in) alone, and
 * the other rows are read once more as they are (h), with no projection at all. */
static void last_block_cls(const part *pt, int l) {
    const gq_encoder_cpu *r = pt->r;
    const gq_encoder_layer *L = &r->m->layers[l];
    int d = r->m->cfg.dim, nh = r->m->cfg.n_heads, dh = d / nh, ns = pt->s1 - pt->s0;
    float *x = pt->cls_in, *q = pt->q; /* ns <= n rows of q are free */
    project(pt, l, x, ns, q, NULL, NULL);
    for (int s = pt->s0; s < pt->s1; s++)
        for (int hd = 0; hd < nh; hd++)
            cls_attend_head(q + (size_t)(s - pt->s0) * d + (size_t)hd * dh, seq_row(pt, pt->h, s, d), pt->lens[s], L,
                            hd, d, dh, &pt->sc);
    output_and_ffn(pt, l, x, q, pt->ff, ns);
}

/* logits = act(cls_in Wpreᵀ + bpre) Wclsᵀ + bcls for the part's sequences, act the
 * family's: ReLU or tanh. */
static void classify(const part *pt) {
    const gq_encoder *m = pt->r->m;
    int d = m->cfg.dim, nl = m->cfg.n_labels, ns = pt->s1 - pt->s0;
    float *in = pt->cls_in, *hid = pt->cls_h;
    fill_rows(hid, m->pre.b, ns, d, 1.0f);
    linear_acc(&m->pre, in, ns, 1.0f, hid);
    if (m->cfg.family->head_act == GQ_HEAD_TANH)
        for (size_t i = 0; i < (size_t)ns * d; i++) hid[i] = tanhf(hid[i]);
    else
        for (size_t i = 0; i < (size_t)ns * d; i++) hid[i] = fmaxf(hid[i], 0.0f);
    fill_rows(pt->logits + (size_t)pt->s0 * nl, m->cls.b, ns, nl, 1.0f);
    linear_acc(&m->cls, hid, ns, 1.0f, pt->logits + (size_t)pt->s0 * nl);
}

static void hidden(const part *pt, int index) {
    if (pt->hk && pt->hk->hidden) pt->hk->hidden(pt->hk->ctx, index, pt->h, pt->n, pt->r->m->cfg.dim);
}

/* Hooks observe every row of every block, so the CLS-only last block is for forwards
 * without them (evaluation) only. */
static int observed(const gq_encoder_hooks *hk) { return hk && (hk->linear_input || hk->hidden); }

static void run_part(const part *pt) {
    if (pt->s0 == pt->s1) return;
    int full = pt->r->m->cfg.n_layers - !observed(pt->hk);
    embed(pt);
    hidden(pt, 0);
    for (int l = 0; l < full; l++) {
        block(pt, l);
        hidden(pt, l + 1);
    }
    gather_cls(pt);
    if (full < pt->r->m->cfg.n_layers) last_block_cls(pt, full);
    classify(pt);
}

/* ---- rounds and parts
 * Without hooks, a batch runs in rounds of about GQ_ENCODER_CPU_ROUND_TOKENS tokens of whole
 * sequences, each round cut into one part per thread. Every thread runs its part of each
 * round in turn, on rows of the buffers of its own, and the threads wait for each other
 * only at the end of the batch. A part's sequences are whole, so parts cannot all have
 * the same tokens; each round's cut is therefore placed so that every thread's tokens so
 * far, not only in this round, come out as equal as whole sequences allow (a thread that
 * one round shorted gets more of the next), and the threads end the batch together
 * instead of one waiting at every round's end. The cut depends on the batch and the thread
 * count alone, so results are deterministic. */

/* The sequence boundary in [lo, hi] nearest to the token position pos / scale (start:
 * first tokens; ties to the lower). */
static int nearest_boundary(const int *start, int lo, int hi, int64_t pos, int64_t scale) {
    int s = lo;
    while (s < hi && (int64_t)start[s + 1] * scale <= pos) s++;
    if (s < hi && (int64_t)start[s + 1] * scale - pos < pos - (int64_t)start[s] * scale) s++;
    return s;
}

/* Cuts the nseq sequences into rounds and each round into nt parts: bounds[b (nt + 1) + i]
 * is the first sequence of part i of round b, and bounds[b (nt + 1) + nt] the round's end.
 * Returns the number of rounds; sets part_rows and part_cls to the largest part's tokens
 * and sequences. */
static int schedule(gq_encoder_cpu *r, int nseq, int nt) {
    const int *start = r->start;
    int64_t *load = r->load;
    int64_t ntok = start[nseq], nrounds = (ntok + GQ_ENCODER_CPU_ROUND_TOKENS - 1) / GQ_ENCODER_CPU_ROUND_TOKENS;
    if (nrounds > nseq) nrounds = nseq;
    for (int i = 0; i < nt; i++) load[i] = 0;
    r->part_rows = r->part_cls = 0;
    for (int b = 0; b < nrounds; b++) {
        int *bd = r->bounds + (size_t)b * (nt + 1);
        bd[0] = b == 0 ? 0 : bd[-1];
        /* the round ends at the boundary nearest its share of the tokens, searched from
         * where it starts (the nearest boundary only moves forward with the position) */
        int end = nearest_boundary(start, bd[0], nseq, ntok * (b + 1), nrounds);
        /* thread i should end the round at start[end] / nt tokens: its part takes
         * start[end] / nt - load[i], positions kept multiplied by nt */
        int64_t pos = (int64_t)start[bd[0]] * nt;
        for (int i = 0; i < nt; i++) {
            pos += start[end] - nt * load[i];
            bd[i + 1] = i + 1 == nt ? end : nearest_boundary(start, bd[i], end, pos, nt);
            int rows = start[bd[i + 1]] - start[bd[i]], cls = bd[i + 1] - bd[i];
            load[i] += rows;
            r->part_rows = rows > r->part_rows ? rows : r->part_rows;
            r->part_cls = cls > r->part_cls ? cls : r->part_cls;
        }
    }
    return (int)nrounds;
}

/* pt with thread i's rows of the buffers and its attention scratch. */
static part with_rows(const gq_encoder_cpu *r, part pt, int i) {
    size_t rows = (size_t)i * r->part_rows, cls = (size_t)i * r->part_cls;
    int d = r->m->cfg.dim;
    pt.h = r->h + rows * d, pt.q = r->q + rows * d, pt.k = r->k + rows * d, pt.v = r->v + rows * d;
    pt.ff = r->ff + rows * r->m->cfg.hidden_dim;
    pt.cls_in = r->cls_in + cls * d, pt.cls_h = r->cls_h + cls * d;
    pt.sc = thread_scratch(r, i);
    return pt;
}

typedef struct {
    part batch; /* the whole batch */
    int rounds;
} round_job;

/* Thread i of nparts: its part of every round, in order. */
static void run_rounds(void *arg, int i, int nparts) {
    const round_job *job = arg;
    gq_encoder_cpu *r = job->batch.r;
    part pt = with_rows(r, job->batch, i);
    for (int b = 0; b < job->rounds; b++) {
        const int *bd = r->bounds + (size_t)b * (nparts + 1);
        pt.s0 = bd[i], pt.s1 = bd[i + 1], pt.t0 = r->start[pt.s0], pt.n = r->start[pt.s1] - pt.t0;
        run_part(&pt);
    }
}

gq_status gq_encoder_cpu_forward(gq_encoder_cpu *r, const int32_t *ids, const int *lens, const int *seg_a, int nseq,
                                 int n, int max_len, float *logits, const gq_encoder_hooks *hooks, gq_err *err) {
    int nt = gq_pool_threads(r->pool);
    if (!reserve_sequences(r, nseq)) return gq_fail(err, GQ_ERR_NOMEM, "cannot allocate buffers for %d sequences", nseq);
    r->start[0] = 0;
    for (int i = 0; i < nseq; i++) r->start[i + 1] = r->start[i] + lens[i];
    part whole = {.r = r, .ids = ids, .lens = lens, .seg_a = seg_a, .logits = logits, .hk = hooks, .s1 = nseq, .n = n};
    if (hooks || nseq == 1) {
        /* Hooks want all tokens of a Linear at once: one part, and OpenBLAS threads the
         * GEMMs (as it does for a lone sequence). */
        r->part_rows = n, r->part_cls = nseq;
        if (!reserve_parts(r, n, nseq, max_len))
            return gq_fail(err, GQ_ERR_NOMEM, "cannot allocate buffers for %d tokens", n);
        whole = with_rows(r, whole, 0);
        run_part(&whole);
        return GQ_OK;
    }
    round_job job = {whole, schedule(r, nseq, nt)};
    if (!reserve_parts(r, nt * r->part_rows, nt * r->part_cls, max_len))
        return gq_fail(err, GQ_ERR_NOMEM, "cannot allocate buffers for %d tokens", nt * r->part_rows);
    /* One single-threaded sgemm per part; OpenBLAS's setting is restored for the rest of
     * the process. */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    gq_pool_run(r->pool, run_rounds, &job);
    openblas_set_num_threads(blas_threads);
    return GQ_OK;
}

/* FLOPs (2 per multiply-add) of T rows through n_dd Linears of (dim, dim) and n_dh of
 * (dim, hidden_dim) or (hidden_dim, dim), and of attention for nq queries over T keys
 * (scores and the weighted sum of values). */
static double linear_flops(const gq_encoder_config *c, double T, int n_dd, int n_dh) {
    return 2 * T * ((double)n_dd * c->dim * c->dim + (double)n_dh * c->dim * c->hidden_dim);
}

static double attention_flops(const gq_encoder_config *c, double nq, double T) { return 4 * nq * T * c->dim; }

static double classifier_flops(const gq_encoder_config *c) { return 2.0 * ((double)c->dim * c->dim + (double)c->dim * c->n_labels); }

double gq_encoder_flops_full(const gq_encoder_config *c, const int *lens, int nseq) {
    double f = 0;
    for (int s = 0; s < nseq; s++) {
        double T = lens[s];
        f += c->n_layers * (linear_flops(c, T, 4, 2) + attention_flops(c, T, T)) + classifier_flops(c);
    }
    return f;
}

/* The last block of the cut: one row through Q, out_lin, the FFN and, per head, Wk_hᵀ q
 * and Wv_h z (together two more d x d products); scores u·x_t and z = Σ p_t x_t over T
 * rows of d for each of n_heads heads (cls_attend_head). */
static double last_block_flops(const gq_encoder_config *c, double T) {
    return linear_flops(c, 1, 4, 2) + 4 * T * c->dim * c->n_heads;
}

double gq_encoder_flops(const gq_encoder_config *c, const int *lens, int nseq) {
    double f = 0;
    for (int s = 0; s < nseq; s++) {
        double T = lens[s];
        f += (c->n_layers - 1) * (linear_flops(c, T, 4, 2) + attention_flops(c, T, T)) + classifier_flops(c);
        f += last_block_flops(c, T);
    }
    return f;
}
