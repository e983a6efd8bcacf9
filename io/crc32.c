/* crc32: zip's CRC-32 (reflected polynomial 0xEDB88320), which the torch zip reader checks
 * over every entry, i.e. over the whole checkpoint (the paper's models are such files).
 *
 * Two ways with one result: slicing-by-8 tables, and on x86 CPUs with PCLMULQDQ a folding
 * of 64 bytes at a time by carry-less multiplication, several times faster. Folding keeps a
 * 128-bit X congruent (mod P) to the message read so far: with X = A·x^64 + B (A its first
 * 8 bytes), moving it k bits on past the next k bits is X·x^k + next ≡ A·(x^(k+64) mod P) +
 * B·(x^k mod P) + next, two 64x32-bit carry-less products with constants computed here.
 * The 16 bytes of the last X then go through the tables as message bytes would, since the
 * CRC of a message depends only on its polynomial mod P. */
#include "checkpoint_internal.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define GQ_CRC32_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define GQ_CRC32_X86 0
#endif

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* c: the running (reflected) CRC state before p; no initial or final inversion. */
static uint32_t crc32_update_tables(const gq_crc32_tables *tab, uint32_t c, const uint8_t *p, size_t n) {
    const uint32_t(*t)[256] = tab->t;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = c ^ le32(p), hi = le32(p + 4);
        c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][hi & 0xff] ^
            t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    }
    while (n--) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

/* x^n mod P, P = x^32 + 0x04C11DB7 (the unreflected polynomial), as a 32-bit coefficient
 * vector (bit d: x^d). */
static uint32_t xpow_mod_p(int n) {
    uint64_t r = 1;
    for (int i = 0; i < n; i++) {
        r <<= 1;
        if (r >> 32) r ^= 0x104C11DB7ull;
    }
    return (uint32_t)r;
}

/* A 64-bit lane of message bits holds the polynomial sum of bit i * x^(63-i) (the first
 * bit read is the highest power). pclmulqdq of two such lanes a, b yields 128 bits that,
 * read the same way, are x·a·b: so the lane that multiplies by x^n (mod P) holds x^(n-1). */
static uint64_t lane_of_xpow(int n) {
    uint32_t r = xpow_mod_p(n - 1);
    uint64_t lane = 0;
    for (int d = 0; d < 32; d++)
        if (r >> d & 1) lane |= 1ull << (63 - d);
    return lane;
}

#if GQ_CRC32_X86
#define CLMUL __attribute__((target("pclmul,sse2")))

/* X·x^k + next, reduced to 128 bits: k holds the lanes that multiply by x^(k+64) and x^k. */
static inline CLMUL __m128i fold(__m128i x, __m128i k, __m128i next) {
    __m128i a = _mm_clmulepi64_si128(x, k, 0x00), b = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(a, b), next);
}

static inline CLMUL __m128i load(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }

/* n >= 64. Four remainders, each folded 512 bits ahead, run in parallel, then fold into
 * one; what is left (X and fewer than 16 bytes) goes through the tables. */
static CLMUL uint32_t crc32_update_clmul(const gq_crc32_tables *tab, uint32_t c, const uint8_t *p, size_t n) {
    const __m128i k512 = _mm_loadu_si128((const __m128i *)(const void *)tab->fold512);
    const __m128i k128 = _mm_loadu_si128((const __m128i *)(const void *)tab->fold128);
    __m128i x[4] = {_mm_xor_si128(load(p), _mm_cvtsi32_si128((int)c)), load(p + 16), load(p + 32), load(p + 48)};
    for (p += 64, n -= 64; n >= 64; p += 64, n -= 64)
        for (int i = 0; i < 4; i++) x[i] = fold(x[i], k512, load(p + 16 * i));
    __m128i r = fold(fold(fold(x[0], k128, x[1]), k128, x[2]), k128, x[3]);
    for (; n >= 16; p += 16, n -= 16) r = fold(r, k128, load(p));
    uint8_t rest[16];
    _mm_storeu_si128((__m128i *)(void *)rest, r);
    return crc32_update_tables(tab, crc32_update_tables(tab, 0, rest, 16), p, n);
}

/* cpuid leaf 1, ECX bit 1. */
static int cpu_has_clmul(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_PCLMUL);
}
#endif

void gq_ckpt_crc32_tables(gq_crc32_tables *tab) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        tab->t[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++) tab->t[t][i] = (tab->t[t - 1][i] >> 8) ^ tab->t[0][tab->t[t - 1][i] & 0xff];
    tab->fold512[0] = lane_of_xpow(512 + 64), tab->fold512[1] = lane_of_xpow(512);
    tab->fold128[0] = lane_of_xpow(128 + 64), tab->fold128[1] = lane_of_xpow(128);
#if GQ_CRC32_X86
    tab->clmul = cpu_has_clmul();
#else
    tab->clmul = 0;
#endif
}

uint32_t gq_ckpt_crc32(const gq_crc32_tables *tab, const uint8_t *p, size_t n) {
#if GQ_CRC32_X86
    if (tab->clmul && n >= 64) return ~crc32_update_clmul(tab, 0xFFFFFFFFu, p, n);
#endif
    return ~crc32_update_tables(tab, 0xFFFFFFFFu, p, n);
}
