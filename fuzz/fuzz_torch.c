/* fuzz_torch_zip / fuzz_torch_legacy: PyTorch checkpoints on arbitrary bytes. One source,
 * two targets: FUZZ_FORMAT is gq_ckpt_read_buffer for the zip target (format detection
 * included, so its mutants reach every reader) and gq_ckpt_read_torch_legacy for the
 * legacy one. In the fuzzing build the zip CRC is not enforced, so mutated pickles inside
 * a zip get parsed. */
#include "checkpoint_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gq_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) abort();
    gq_err err = {{0}};
    gq_status st = FUZZ_FORMAT(ck, data, size, FUZZ_PATH, &err);
    fuzz_check_error(st, &err);
    volatile float sink = 0;
    (void)sink;
    for (int i = 0; st == GQ_OK && i < ck->n; i++)
        for (int64_t j = 0; j < ck->tensors[i].numel; j++) sink += ck->tensors[i].data[j];
    gq_ckpt_free(ck);
    return 0;
}
