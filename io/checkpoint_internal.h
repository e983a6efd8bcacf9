/* checkpoint_internal: what the format readers (safetensors.c, torchbin.c) share with
 * checkpoint.c, and the from-memory entry points the tests and fuzzers call. Not part of
 * glueq's API: only io/, tests/ and bench/ include it. */
#ifndef GQ_CHECKPOINT_INTERNAL_H
#define GQ_CHECKPOINT_INTERNAL_H

#include "checkpoint.h"

/* Stored element types: safetensors' names and torch's storage classes for the same thing. */
typedef enum { GQ_DT_F32, GQ_DT_F16, GQ_DT_BF16, GQ_DT_F64, GQ_DT_I64, GQ_DT_I32, GQ_DT_U8, GQ_DT_COUNT } gq_dtype;

typedef struct {
    const char *name;    /* safetensors dtype ("F32"), also what `glueq info` shows */
    const char *storage; /* the torch.<name> global of a pickled storage ("FloatStorage"); NULL: none */
    int size;            /* bytes per element */
} gq_dtype_info;

extern const gq_dtype_info gq_dtypes[GQ_DT_COUNT];

/* The dtype whose safetensors name is `name`, or -1. */
int gq_dtype_by_name(const char *name);

/* Converts n little-endian elements of type dt, `step` elements apart, starting at src,
 * into FP32 at dst (integers and F64 are rounded to the nearest float). */
void gq_ckpt_convert(float *dst, const uint8_t *src, gq_dtype dt, int64_t n, int64_t step);

/* One entry point per format: `buf` holds the whole file (len bytes) and `path` is used in
 * error messages only. They append to ck (made by gq_ckpt_load, or calloc'ed by a test
 * or fuzzer with no mapping) and return a status. */
gq_status gq_ckpt_read_safetensors(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err);
gq_status gq_ckpt_read_torch_zip(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err);
gq_status gq_ckpt_read_torch_legacy(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err);

/* Reads a checkpoint held in memory, picking the format from its first bytes as
 * gq_ckpt_load does, and refuses a tensor name that appears twice; ck->format is set. */
gq_status gq_ckpt_read_buffer(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err);

/* Appends a tensor named `name` with the given shape to ck and sets *data to its
 * (uninitialised) values, in amortised O(1); fails when the shape is invalid or memory
 * runs out (repeated names are gq_ckpt_read_buffer's check, made once for all). */
gq_status gq_ckpt_add(gq_ckpt *ck, const char *name, int ndim, const int64_t *shape, float **data, const char *path,
                      gq_err *err);

/* Adds a tensor whose FP32 data already lies in the checkpoint's file mapping (suitably
 * aligned); no copy is made. */
gq_status gq_ckpt_add_view(gq_ckpt *ck, const char *name, int ndim, const int64_t *shape, float *data,
                           const char *path, gq_err *err);

/* CRC-32 as zip computes it (reflected polynomial 0xEDB88320), io/crc32.c. Its tables
 * and constants live in the caller's context: a table filled on first use would be global
 * mutable state, and a data race between threads that load models. */
typedef struct {
    uint32_t t[8][256];    /* slicing-by-8 */
    uint64_t fold512[2];   /* carry-less folding constants (see crc32.c) */
    uint64_t fold128[2];
    int clmul;             /* 1: fold with PCLMULQDQ (set by cpuid; 0 forces the tables) */
} gq_crc32_tables;
void gq_ckpt_crc32_tables(gq_crc32_tables *tab);
uint32_t gq_ckpt_crc32(const gq_crc32_tables *tab, const uint8_t *p, size_t n);

/* Records that a tensor was stored as dtype (for `glueq info`). */
void gq_ckpt_note_dtype(gq_ckpt *ck, const char *dtype);

#endif
