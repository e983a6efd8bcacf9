/* checkpoint: reads the tensors of a model file into FP32 memory.
 *
 * Formats: safetensors (F32, F16, BF16), PyTorch `pytorch_model.bin` in the zip format
 * (torch >= 1.6) and the legacy pre-1.6 pickle format. Pickles are read by a restricted
 * unpickler that only accepts the opcodes and globals a state dict needs and never
 * executes anything. Every size, offset and shape is validated against the file before
 * it is used.
 *
 *     gq_err err = {0};
 *     gq_ckpt *ck = NULL;
 *     if (gq_ckpt_load("dir/model.safetensors", &ck, &err) != GQ_OK) ...
 *     const gq_tensor *t = gq_ckpt_find(ck, "classifier.weight");
 *     gq_ckpt_free(ck);
 */
#ifndef GQ_CHECKPOINT_H
#define GQ_CHECKPOINT_H

#include "common.h"

#define GQ_MAX_DIMS 8
/* A safetensors header (JSON) longer than this is refused before it is parsed; real ones
 * have about 100 bytes per tensor. Every other size in a checkpoint is checked against
 * the file's own size, so nothing is allocated beyond what the file holds. */
#define GQ_CKPT_MAX_HEADER_BYTES (100u << 20)

typedef struct {
    char *name;
    int ndim;
    int64_t shape[GQ_MAX_DIMS];
    int64_t numel;
    float *data; /* numel FP32 values, row-major; owned by the checkpoint */
    int owned;   /* 1: data was malloc'ed; 0: it points into the checkpoint's file mapping */
} gq_tensor;

typedef struct {
    gq_tensor *tensors;
    int n;
    char *path;      /* the file the tensors came from */
    char sha256[65]; /* of that file */
    const char *format; /* "safetensors", "torch-zip" or "torch-legacy" */
    char dtypes[64];    /* stored dtypes, comma-separated (e.g. "F32" or "F16,I64") */
    void *map;       /* private (copy-on-write) mapping of the file, or NULL */
    size_t map_len;
    int cap;                 /* entries allocated in tensors (doubled as they fill) */
    uint64_t name_compares;  /* made by the duplicate-name check: tests bound a header's work by it */
} gq_ckpt;

/* Loads a checkpoint file, picking the format from its first bytes. On success *out
 * is owned by the caller (free with gq_ckpt_free). Integer tensors (e.g. position_ids)
 * are converted to FP32 too. */
gq_status gq_ckpt_load(const char *path, gq_ckpt **out, gq_err *err);

/* Finds a tensor by exact name; NULL if absent. The pointer lives as long as ck. */
const gq_tensor *gq_ckpt_find(const gq_ckpt *ck, const char *name);

/* Frees ck and every tensor in it; accepts NULL. */
void gq_ckpt_free(gq_ckpt *ck);

/* Writes tensors as an F32 safetensors file (atomically). Used by tests and tools. */
gq_status gq_safetensors_write(const char *path, const gq_tensor *tensors, int n, gq_err *err);

/* One tensor of any stored type for gq_safetensors_write_entries: dtype "F32", "U8" or
 * "I64", data holds numel elements of it in little-endian order. */
typedef struct {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[GQ_MAX_DIMS];
    const void *data;
} gq_st_entry;

/* Writes entries, in order, as a safetensors file (atomically). */
gq_status gq_safetensors_write_entries(const char *path, const gq_st_entry *entries, int n, gq_err *err);

#endif
