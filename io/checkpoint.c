/* checkpoint: format detection, the tensor table and its memory.
 *
 * The file is mapped privately (copy-on-write): F32 tensors that are aligned in the
 * file are used in place, so a loaded safetensors checkpoint costs about its own size
 * in memory, and writing quantized weights into it never touches the file. */
#define _DEFAULT_SOURCE
#include "checkpoint_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static gq_status map_file(const char *path, gq_ckpt *ck, gq_err *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return gq_fail(err, GQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gq_fail(err, GQ_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 8) {
        close(fd);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: file is only %lld bytes, too short for a checkpoint", path,
                       (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return gq_fail(err, GQ_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    ck->map = m;
    ck->map_len = (size_t)st.st_size;
    return GQ_OK;
}

static const void *tensor_name(const void *ck, int i, size_t *len) {
    const char *name = ((const gq_ckpt *)ck)->tensors[i].name;
    *len = strlen(name);
    return name;
}

/* Refuses a name that appears twice (a state dict's keys are unique). */
static gq_status check_names(gq_ckpt *ck, const char *path, gq_err *err) {
    int earlier = 0, i = gq_first_repeat(ck->n, tensor_name, ck, &earlier, &ck->name_compares);
    if (i == -2) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    if (i >= 0) return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' appears twice", path, ck->tensors[i].name);
    return GQ_OK;
}

gq_status gq_ckpt_read_buffer(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err) {
    gq_status s;
    if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0) {
        ck->format = "torch-zip";
        s = gq_ckpt_read_torch_zip(ck, buf, len, path, err);
    } else if (len >= 1 && buf[0] == 0x80) {
        ck->format = "torch-legacy";
        s = gq_ckpt_read_torch_legacy(ck, buf, len, path, err);
    } else {
        ck->format = "safetensors";
        s = gq_ckpt_read_safetensors(ck, buf, len, path, err);
    }
    return s == GQ_OK ? check_names(ck, path, err) : s;
}

gq_status gq_ckpt_load(const char *path, gq_ckpt **out, gq_err *err) {
    *out = NULL;
    gq_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->path = gq_strdup(path))) {
        free(ck);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    gq_status s = map_file(path, ck, err);
    if (s == GQ_OK) {
        gq_sha256_hex(ck->map, ck->map_len, ck->sha256);
        s = gq_ckpt_read_buffer(ck, ck->map, ck->map_len, path, err);
    }
    if (s != GQ_OK) {
        gq_ckpt_free(ck);
        return s;
    }
    *out = ck;
    return GQ_OK;
}

const gq_tensor *gq_ckpt_find(const gq_ckpt *ck, const char *name) {
    for (int i = 0; i < ck->n; i++)
        if (strcmp(ck->tensors[i].name, name) == 0) return &ck->tensors[i];
    return NULL;
}

void gq_ckpt_free(gq_ckpt *ck) {
    if (!ck) return;
    for (int i = 0; i < ck->n; i++) {
        free(ck->tensors[i].name);
        if (ck->tensors[i].owned) free(ck->tensors[i].data);
    }
    free(ck->tensors);
    if (ck->map) munmap(ck->map, ck->map_len);
    free(ck->path);
    free(ck);
}

/* Validates a shape and appends an entry (*out); data is filled in by the caller. */
static gq_status append(gq_ckpt *ck, const char *name, int ndim, const int64_t *shape, const char *path,
                        gq_tensor **out, gq_err *err) {
    if (ndim < 0 || ndim > GQ_MAX_DIMS)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has %d dimensions", path, name, ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && numel > INT64_MAX / 4 / shape[i]))
            return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has an invalid dimension %lld", path, name,
                           (long long)shape[i]);
        numel *= shape[i];
    }
    if (ck->n == ck->cap) { /* doubling: adding n tensors copies O(n) entries in all */
        int cap = ck->cap == 0 ? 64 : ck->cap <= INT_MAX / 2 ? ck->cap * 2 : 0;
        gq_tensor *grown = cap > ck->cap ? realloc(ck->tensors, (size_t)cap * sizeof *grown) : NULL;
        if (!grown) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
        ck->tensors = grown, ck->cap = cap;
    }
    gq_tensor *t = &ck->tensors[ck->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = gq_strdup(name))) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    ck->n++;
    *out = t;
    return GQ_OK;
}

gq_status gq_ckpt_add(gq_ckpt *ck, const char *name, int ndim, const int64_t *shape, float **data, const char *path,
                      gq_err *err) {
    gq_tensor *t = NULL;
    gq_status s = append(ck, name, ndim, shape, path, &t, err);
    if (s != GQ_OK) return s;
    if (!(t->data = gq_malloc_array(t->numel ? (size_t)t->numel : 1, sizeof(float))))
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for tensor '%s' (%lld values)", path, name,
                       (long long)t->numel);
    t->owned = 1;
    *data = t->data;
    return GQ_OK;
}

gq_status gq_ckpt_add_view(gq_ckpt *ck, const char *name, int ndim, const int64_t *shape, float *data,
                           const char *path, gq_err *err) {
    gq_tensor *t = NULL;
    gq_status s = append(ck, name, ndim, shape, path, &t, err);
    if (s == GQ_OK) t->data = data;
    return s;
}

void gq_ckpt_note_dtype(gq_ckpt *ck, const char *dtype) {
    size_t n = strlen(ck->dtypes), dl = strlen(dtype);
    for (const char *p = ck->dtypes; (p = strstr(p, dtype)); p += dl)
        if ((p == ck->dtypes || p[-1] == ',') && (p[dl] == ',' || p[dl] == '\0')) return;
    if (n + dl + 2 < sizeof ck->dtypes) snprintf(ck->dtypes + n, sizeof ck->dtypes - n, "%s%s", n ? "," : "", dtype);
}

const gq_dtype_info gq_dtypes[GQ_DT_COUNT] = {
    [GQ_DT_F32] = {"F32", "FloatStorage", 4},  [GQ_DT_F16] = {"F16", "HalfStorage", 2},
    [GQ_DT_BF16] = {"BF16", "BFloat16Storage", 2}, [GQ_DT_F64] = {"F64", "DoubleStorage", 8},
    [GQ_DT_I64] = {"I64", "LongStorage", 8},   [GQ_DT_I32] = {"I32", "IntStorage", 4},
    [GQ_DT_U8] = {"U8", NULL, 1}, /* safetensors only (glueq's protection masks) */
};

int gq_dtype_by_name(const char *name) {
    for (int dt = 0; dt < GQ_DT_COUNT; dt++)
        if (strcmp(gq_dtypes[dt].name, name) == 0) return dt;
    return -1;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do man <<= 1, e++;
            while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Files are little-endian whatever the host is, hence the explicit byte order. */
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

void gq_ckpt_convert(float *dst, const uint8_t *src, gq_dtype dt, int64_t n, int64_t step) {
    size_t stride = (size_t)step * (size_t)gq_dtypes[dt].size;
    if (dt == GQ_DT_F32 && step == 1 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
        return;
    }
    /* One loop per dtype, so the per-element work is only the conversion. */
    switch (dt) {
    case GQ_DT_F32:
        for (int64_t i = 0; i < n; i++, src += stride) dst[i] = bits_to_f32(le32(src));
        break;
    case GQ_DT_F16:
        for (int64_t i = 0; i < n; i++, src += stride) dst[i] = f16_to_f32(le16(src));
        break;
    case GQ_DT_BF16:
        for (int64_t i = 0; i < n; i++, src += stride) dst[i] = bits_to_f32((uint32_t)le16(src) << 16);
        break;
    case GQ_DT_F64:
        for (int64_t i = 0; i < n; i++, src += stride) {
            uint64_t u = le64(src);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
        }
        break;
    case GQ_DT_I64:
        for (int64_t i = 0; i < n; i++, src += stride) dst[i] = (float)(int64_t)le64(src);
        break;
    case GQ_DT_I32:
        for (int64_t i = 0; i < n; i++, src += stride) dst[i] = (float)(int32_t)le32(src);
        break;
    case GQ_DT_U8: /* glueq's own protection masks */
        for (int64_t i = 0; i < n; i++, src += stride) dst[i] = (float)*src;
        break;
    case GQ_DT_COUNT: break;
    }
}
