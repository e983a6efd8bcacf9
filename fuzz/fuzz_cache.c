/* fuzz_cache: a score-cache entry (quant/session.c) on arbitrary bytes, decoded for the
 * key and matrix count its seeds were made with (fuzz/make_corpus.py). The checksum is
 * not enforced in the fuzzing build, so mutations reach the size checks behind it. */
#include "fuzz.h"
#include "quant_internal.h"

#define FUZZ_CACHE_KEY "glueq fuzz cache key"
#define FUZZ_CACHE_MATS 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    double *st[FUZZ_CACHE_MATS] = {0};
    size_t n[FUZZ_CACHE_MATS] = {0};
    const char *why = gq_quant_cache_decode(data, size, FUZZ_CACHE_KEY, FUZZ_CACHE_MATS, st, n);
    volatile double sink = 0;
    (void)sink;
    for (int i = 0; !why && i < FUZZ_CACHE_MATS; i++)
        for (size_t j = 0; j < n[i]; j++) sink += st[i][j];
    for (int i = 0; i < FUZZ_CACHE_MATS; i++) {
        if (why && st[i]) abort(); /* a refused entry must leave nothing allocated */
        free(st[i]);
    }
    return 0;
}
