/* fuzz_safetensors: the safetensors reader on arbitrary bytes, both with the file mapped
 * (F32 tensors become views into it) and from a plain buffer (every tensor is copied). */
#define _DEFAULT_SOURCE
#include <sys/mman.h>

#include "checkpoint_internal.h"
#include "fuzz.h"

/* A checkpoint whose mapping holds a copy of data, as gq_ckpt_load makes it. */
static gq_ckpt *mapped_ckpt(const uint8_t *data, size_t size) {
    gq_ckpt *ck = calloc(1, sizeof *ck);
    void *m = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!ck || m == MAP_FAILED) abort();
    memcpy(m, data, size);
    ck->map = m;
    ck->map_len = size ? size : 1;
    return ck;
}

/* Touches every value, so that ASan sees a view or copy that reaches outside its memory. */
static void read_all(const gq_ckpt *ck) {
    volatile float sink = 0;
    (void)sink;
    for (int i = 0; i < ck->n; i++)
        for (int64_t j = 0; j < ck->tensors[i].numel; j++) sink += ck->tensors[i].data[j];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int mapped = 0; mapped < 2; mapped++) {
        gq_ckpt *ck = mapped ? mapped_ckpt(data, size) : calloc(1, sizeof *ck);
        gq_err err = {{0}};
        const uint8_t *buf = mapped ? ck->map : data;
        gq_status st = gq_ckpt_read_safetensors(ck, buf, size, FUZZ_PATH, &err);
        fuzz_check_error(st, &err);
        if (st == GQ_OK) read_all(ck);
        gq_ckpt_free(ck);
    }
    return 0;
}
