/* sha256: SHA-256 (FIPS 180-4) of checkpoints, data files, configs and cache entries.
 *
 * Two compression functions with one contract: a portable one, and one on the x86 SHA
 * extensions (SHA-NI), several times faster; loading hashes the whole checkpoint, which
 * was 5% of a `glueq eval` profile on a DistilBERT-base checkpoint with the portable one.
 * The SHA-NI code is compiled for those instructions by a target attribute, so a build
 * without -march=native carries it too, and cpuid says whether this CPU can run it. */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define GQ_SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define GQ_SHA256_X86 0
#endif

/* 16-byte aligned: the SHA-NI rounds load four of them at a time. */
static const _Alignas(16) uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block_portable(uint32_t hs[8], const uint8_t *p) {
    uint32_t w[64], a, b, d, e, f, g, h, cc;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = hs[0], b = hs[1], cc = hs[2], d = hs[3], e = hs[4], f = hs[5], g = hs[6], h = hs[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g, g = f, f = e, e = d + t1, d = cc, cc = b, b = a, a = t1 + t2;
    }
    hs[0] += a, hs[1] += b, hs[2] += cc, hs[3] += d;
    hs[4] += e, hs[5] += f, hs[6] += g, hs[7] += h;
}

static void sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t n) {
    for (; n; n--, p += 64) sha256_block_portable(h, p);
}

#if GQ_SHA256_X86
#define SHANI __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds i..i+3, given w = W[i..i+3] (lane 0 first) and k = K256 + i. sha256rnds2
 * does two rounds with the W+K of its third operand's low half; the state it returns is
 * the new ABEF, and the ABEF it was given becomes CDGH. */
static inline SHANI void rounds4(__m128i *abef, __m128i *cdgh, __m128i w, const uint32_t *k) {
    __m128i wk = _mm_add_epi32(w, _mm_load_si128((const __m128i *)(const void *)k));
    __m128i mid = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
    *abef = _mm_sha256rnds2_epu32(*abef, mid, _mm_shuffle_epi32(wk, 0x0e));
    *cdgh = mid;
}

/* W[i..i+3] = σ1(W[i-2..i+1]) + W[i-7..i-4] + σ0(W[i-15..i-12]) + W[i-16..i-13], from
 * w0..w3 = W[i-16..i-13], .., W[i-4..i-1]: sha256msg1 gives the σ0 sum, alignr the
 * W[i-7..i-4] that straddles w2 and w3, sha256msg2 the σ1 terms (those of W[i+2] and
 * W[i+3] need W[i] and W[i+1], which it computes first). */
static inline SHANI __m128i schedule4(__m128i w0, __m128i w1, __m128i w2, __m128i w3) {
    __m128i x = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
    return _mm_sha256msg2_epu32(x, w3);
}

static SHANI void sha256_blocks_shani(uint32_t h[8], const uint8_t *p, size_t n) {
    const __m128i big_endian = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    /* The instructions hold the state as ABEF and CDGH with A and C in the top lanes:
     * from lanes (low to high) A B C D and E F G H to F E B A and H G D C. */
    __m128i badc = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)h), 0xb1);
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)(h + 4)), 0x1b);
    __m128i abef = _mm_alignr_epi8(badc, hgfe, 8), cdgh = _mm_blend_epi16(hgfe, badc, 0xf0);
    for (; n; n--, p += 64) {
        __m128i abef0 = abef, cdgh0 = cdgh, w[4];
        /* Unrolled also at -O2, so that w[] lives in registers. */
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)), big_endian);
            rounds4(&abef, &cdgh, w[i], K256 + 4 * i);
        }
        /* w[i & 3] holds W[4i-16..4i-13] until it is replaced by W[4i..4i+3]. */
#pragma GCC unroll 12
        for (int i = 4; i < 16; i++) {
            w[i & 3] = schedule4(w[i & 3], w[(i + 1) & 3], w[(i + 2) & 3], w[(i + 3) & 3]);
            rounds4(&abef, &cdgh, w[i & 3], K256 + 4 * i);
        }
        abef = _mm_add_epi32(abef, abef0), cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    /* Back to A B C D and E F G H. */
    __m128i abef_lo = _mm_shuffle_epi32(abef, 0x1b), ghcd = _mm_shuffle_epi32(cdgh, 0xb1);
    _mm_storeu_si128((__m128i *)(void *)h, _mm_blend_epi16(abef_lo, ghcd, 0xf0));
    _mm_storeu_si128((__m128i *)(void *)(h + 4), _mm_alignr_epi8(ghcd, abef_lo, 8));
}

/* cpuid leaf 1: SSSE3 and SSE4.1; leaf 7: SHA. */
static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1)) return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#endif

typedef void (*blocks_fn)(uint32_t h[8], const uint8_t *p, size_t n);

static void start(gq_sha256 *c, blocks_fn blocks) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->nbytes = 0;
    c->nbuf = 0;
    c->blocks = blocks;
}

int gq_sha256_init_impl(gq_sha256 *c, gq_sha256_impl impl) {
    switch (impl) {
    case GQ_SHA256_PORTABLE: start(c, sha256_blocks_portable); return 1;
    case GQ_SHA256_SHANI:
#if GQ_SHA256_X86
        if (cpu_has_shani()) {
            start(c, sha256_blocks_shani);
            return 1;
        }
#endif
        return 0;
    }
    return 0;
}

void gq_sha256_init(gq_sha256 *c) { start(c, NULL); }

/* A context from gq_sha256_init picks its compression function at its first run of at
 * least this many blocks (4 kB), and uses the portable one until then: asking cpuid
 * costs about 15 us in a virtual machine (a VM exit), as long as the portable code takes
 * for 4 kB, and most hashes (cache keys, configs) are shorter. */
enum { CHOOSE_MIN_BLOCKS = 64 };

static blocks_fn blocks_for(gq_sha256 *c, size_t n) {
    if (c->blocks) return c->blocks;
    if (n < CHOOSE_MIN_BLOCKS) return sha256_blocks_portable;
#if GQ_SHA256_X86
    if (cpu_has_shani()) return c->blocks = sha256_blocks_shani;
#endif
    return c->blocks = sha256_blocks_portable;
}

void gq_sha256_update(gq_sha256 *c, const void *data, size_t len) {
    if (len == 0) return; /* data may then be NULL, which memcpy must not be given */
    const uint8_t *p = data;
    c->nbytes += len;
    if (c->nbuf) {
        size_t take = len < 64 - c->nbuf ? len : 64 - c->nbuf;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take, p += take, len -= take;
        if (c->nbuf < 64) return;
        blocks_for(c, 1)(c->h, c->buf, 1);
        c->nbuf = 0;
    }
    if (len >= 64) blocks_for(c, len / 64)(c->h, p, len / 64);
    p += len / 64 * 64, len %= 64;
    memcpy(c->buf, p, len);
    c->nbuf = len;
}

void gq_sha256_final(gq_sha256 *c, uint8_t out[32]) {
    uint64_t bits = c->nbytes * 8;
    uint8_t pad = 0x80;
    gq_sha256_update(c, &pad, 1);
    pad = 0;
    while (c->nbuf != 56) gq_sha256_update(c, &pad, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    gq_sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(c->h[i] >> (24 - 8 * j));
}

static void to_hex(const uint8_t d[32], char hex[65]) {
    static const char *x = "0123456789abcdef";
    for (int i = 0; i < 32; i++) hex[2 * i] = x[d[i] >> 4], hex[2 * i + 1] = x[d[i] & 15];
    hex[64] = '\0';
}

void gq_sha256_hex(const void *data, size_t len, char hex[65]) {
    gq_sha256 c;
    uint8_t d[32];
    gq_sha256_init(&c);
    gq_sha256_update(&c, data, len);
    gq_sha256_final(&c, d);
    to_hex(d, hex);
}

gq_status gq_sha256_file(const char *path, char hex[65], gq_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return gq_fail(err, GQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gq_sha256 c;
    gq_sha256_init(&c);
    static const size_t CHUNK = 1 << 16;
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n;
    while ((n = fread(buf, 1, CHUNK, f)) > 0) gq_sha256_update(&c, buf, n);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) return gq_fail(err, GQ_ERR_IO, "%s: read error", path);
    uint8_t d[32];
    gq_sha256_final(&c, d);
    to_hex(d, hex);
    return GQ_OK;
}
