/* safetensors: reader (F32, F16, BF16, F64, I64, I32, U8 -> FP32) and a writer (F32, U8, I64).
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the
 * data section; offsets are relative to it. Every number is checked against the file
 * before any byte of data is read. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Reads one header entry: checks dtype, shape and offsets, then adds the tensor. */
static gq_status read_entry(gq_ckpt *ck, const cJSON *e, const uint8_t *data, uint64_t data_len, span *sp,
                            const char *path, gq_err *err) {
    const char *name = e->string;
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) ||
        cJSON_GetArraySize(jo) != 2)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: header entry '%s' lacks dtype, shape or data_offsets", path, name);
    int dt = gq_dtype_by_name(jd->valuestring);
    if (dt < 0) return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has unsupported dtype '%s'", path, name, jd->valuestring);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > GQ_MAX_DIMS) return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has %d dimensions", path, name, ndim);
    int64_t shape[GQ_MAX_DIMS];
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        const cJSON *d = cJSON_GetArrayItem(js, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0)
            return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has an invalid shape", path, name);
        /* No element count may exceed the data section's byte count: checked per factor,
         * before the double is converted and before the product can overflow. */
        if (d->valuedouble > (double)data_len || (d->valuedouble && (double)numel > (double)data_len / d->valuedouble))
            return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has a shape larger than the %llu-byte data section",
                           path, name, (unsigned long long)data_len);
        if (d->valuedouble != (double)(int64_t)d->valuedouble)
            return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has an invalid shape", path, name);
        shape[i] = (int64_t)d->valuedouble;
        numel *= (uint64_t)shape[i];
    }
    double b = cJSON_GetArrayItem(jo, 0)->valuedouble, en = cJSON_GetArrayItem(jo, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(jo, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(jo, 1)) || b < 0 || en < b ||
        en > (double)data_len || b != (double)(uint64_t)b || en != (double)(uint64_t)en)
        return gq_fail(err, GQ_ERR_FORMAT,
                       "%s: tensor '%s' has data_offsets [%.0f, %.0f] outside the %llu-byte data section", path, name,
                       b, en, (unsigned long long)data_len);
    sp->begin = (uint64_t)b, sp->end = (uint64_t)en, sp->name = name;
    if (sp->end - sp->begin != numel * (uint64_t)gq_dtypes[dt].size)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has %llu data bytes, its shape and dtype need %llu", path,
                       name, (unsigned long long)(sp->end - sp->begin), (unsigned long long)(numel * (uint64_t)gq_dtypes[dt].size));
    const uint8_t *src = data + sp->begin;
    gq_ckpt_note_dtype(ck, gq_dtypes[dt].name);
    /* A view is safe only into the checkpoint's own mapping, which lives as long as ck. */
    int in_map = ck->map && src >= (const uint8_t *)ck->map && src + numel * 4 <= (const uint8_t *)ck->map + ck->map_len;
    if (dt == GQ_DT_F32 && in_map && ((uintptr_t)src % sizeof(float)) == 0)
        return gq_ckpt_add_view(ck, name, ndim, shape, (float *)(void *)(uintptr_t)src, path, err);
    float *dst = NULL;
    gq_status s = gq_ckpt_add(ck, name, ndim, shape, &dst, path, err);
    if (s == GQ_OK) gq_ckpt_convert(dst, src, (gq_dtype)dt, (int64_t)numel, 1);
    return s;
}

gq_status gq_ckpt_read_safetensors(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err) {
    if (len < 8) return gq_fail(err, GQ_ERR_FORMAT, "%s: too short for a safetensors file", path);
    uint64_t hlen = read_le64(buf);
    if (hlen > GQ_CKPT_MAX_HEADER_BYTES)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: safetensors header claims %llu bytes, more than the limit of %u", path,
                       (unsigned long long)hlen, GQ_CKPT_MAX_HEADER_BYTES);
    if (hlen < 2 || hlen > len - 8)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: not a safetensors file: header length %llu does not fit the %zu-byte file",
                       path, (unsigned long long)hlen, len);
    if (buf[8] != '{')
        return gq_fail(err, GQ_ERR_FORMAT, "%s: not a safetensors file: header does not start with '{'", path);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: safetensors header is not valid JSON", path);
    }
    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    int n = cJSON_GetArraySize(root);
    span *spans = gq_calloc_array((size_t)n, sizeof *spans);
    gq_status s = spans ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    int nsp = 0;
    for (const cJSON *e = root->child; e && s == GQ_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        s = read_entry(ck, e, data, data_len, &spans[nsp], path, err);
        nsp++;
    }
    if (s == GQ_OK) {
        qsort(spans, (size_t)nsp, sizeof *spans, span_cmp);
        for (int i = 1; i < nsp && s == GQ_OK; i++)
            if (spans[i].begin < spans[i - 1].end)
                s = gq_fail(err, GQ_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", path,
                            spans[i - 1].name, spans[i].name);
    }
    free(spans);
    cJSON_Delete(root);
    return s;
}

static size_t entry_bytes(const gq_st_entry *e) {
    int64_t numel = 1;
    for (int d = 0; d < e->ndim; d++) numel *= e->shape[d];
    int dt = gq_dtype_by_name(e->dtype);
    return (size_t)numel * (size_t)(dt >= 0 ? gq_dtypes[dt].size : 4);
}

gq_status gq_safetensors_write_entries(const char *path, const gq_st_entry *entries, int n, gq_err *err) {
    cJSON *root = cJSON_CreateObject();
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, entries[i].name);
        cJSON_AddStringToObject(e, "dtype", entries[i].dtype);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < entries[i].ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)entries[i].shape[d]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += entry_bytes(&entries[i]);
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *h = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!h) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    size_t hl = strlen(h), pad = (8 - hl % 8) % 8, total = 8 + hl + pad + off;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(h);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    uint64_t hlen = hl + pad;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + 8, h, hl);
    memset(buf + 8 + hl, ' ', pad);
    uint8_t *p = buf + 8 + hlen;
    for (int i = 0; i < n; i++) {
        size_t nb = entry_bytes(&entries[i]);
        memcpy(p, entries[i].data, nb);
        p += nb;
    }
    free(h);
    gq_status s = gq_write_file_atomic(path, buf, total, err);
    free(buf);
    return s;
}

gq_status gq_safetensors_write(const char *path, const gq_tensor *tensors, int n, gq_err *err) {
    gq_st_entry *e = gq_calloc_array((size_t)(n > 0 ? n : 1), sizeof *e);
    if (!e) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        e[i] = (gq_st_entry){.name = tensors[i].name, .dtype = "F32", .ndim = tensors[i].ndim, .data = tensors[i].data};
        memcpy(e[i].shape, tensors[i].shape, sizeof e[i].shape);
    }
    gq_status s = gq_safetensors_write_entries(path, e, n, err);
    free(e);
    return s;
}
