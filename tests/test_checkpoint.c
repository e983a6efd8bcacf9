/* test_checkpoint: the checkpoint readers.
 *
 * 1. Every PyTorch fixture (zip and legacy) holds bit-exactly the tensors of the
 *    safetensors one, with the same names and shapes; load times are printed.
 * 2. Hand-made files: F16/BF16 conversion, strided and offset tensors, zip64.
 * 3. Corrupt and hostile files (written into a mkdtemp directory, or fed from memory to
 *    the format readers): each must fail with a message naming the file, never crash
 *    (run under the ASan build to mean it).
 */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint_internal.h"
#include "testlib.h"

static char tmpdir[256];

/* ---- small helpers ---------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put8(bytes *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}
static void put16(bytes *b, unsigned v) { put8(b, v & 0xff), put8(b, (v >> 8) & 0xff); }
static void put32(bytes *b, uint32_t v) { put16(b, v & 0xffff), put16(b, v >> 16); }
static void put64(bytes *b, uint64_t v) { put32(b, (uint32_t)v), put32(b, (uint32_t)(v >> 32)); }
static void puts_(bytes *b, const char *s) { put(b, s, strlen(s)); }

static char *tmp_path(const char *name) { return gq_path_join(tmpdir, name); }

static char *write_tmp(const char *name, const void *data, size_t n) {
    char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "FATAL cannot write %s\n", p);
        exit(2);
    }
    return p;
}

static bytes read_fixture(gq_test_ctx *t, const char *rel) {
    char *p = gq_test_path(t, rel), *data = NULL;
    size_t n = 0;
    gq_err err = {{0}};
    if (gq_read_file(p, 0, &data, &n, &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        exit(2);
    }
    free(p);
    return (bytes){(uint8_t *)data, n, n};
}

/* Loading `path` must fail, with a message that names the file and contains `want`. */
static void expect_fail(gq_test_ctx *t, const char *path, const char *want) {
    gq_ckpt *ck = NULL;
    gq_err err = {{0}};
    gq_status st = gq_ckpt_load(path, &ck, &err);
    GQ_CHECK(t, st != GQ_OK && ck == NULL, "%s: loaded although it should fail (%s)", gq_basename(path), want);
    GQ_CHECK(t, strstr(err.msg, gq_basename(path)) != NULL, "message does not name the file: %s", err.msg);
    GQ_CHECK(t, !want || strstr(err.msg, want) != NULL, "message lacks '%s': %s", want, err.msg);
    if (st != GQ_OK) printf("ok   refused %-28s %s\n", gq_basename(path), err.msg);
    gq_ckpt_free(ck);
}

static void expect_fail_bytes(gq_test_ctx *t, const char *name, const bytes *b, const char *want) {
    char *p = write_tmp(name, b->p, b->n);
    expect_fail(t, p, want);
    unlink(p);
    free(p);
}

static gq_ckpt *load_ok(gq_test_ctx *t, const char *path) {
    gq_ckpt *ck = NULL;
    gq_err err = {{0}};
    gq_status st = gq_ckpt_load(path, &ck, &err);
    GQ_CHECK(t, st == GQ_OK, "%s: %s", gq_basename(path), err.msg);
    return st == GQ_OK ? ck : NULL;
}

static void check_tensor(gq_test_ctx *t, const gq_ckpt *ck, const char *name, int ndim, const int64_t *shape,
                         const float *want) {
    const gq_tensor *x = ck ? gq_ckpt_find(ck, name) : NULL;
    GQ_CHECK(t, x != NULL, "tensor '%s' missing", name);
    if (!x) return;
    int same = x->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = x->shape[d] == shape[d];
    GQ_CHECK(t, same, "tensor '%s' has the wrong shape", name);
    if (same) gq_check_close(t, name, x->data, want, (size_t)x->numel, 0, 0);
}

/* ---- 1. fixtures ---------------------------------------------------------------------- */

/* Every tensor of `other` equals the one of the same name in `ref`, bit for bit. */
static void check_same(gq_test_ctx *t, const gq_ckpt *ref, const gq_ckpt *other, const char *what) {
    GQ_CHECK(t, ref->n == other->n, "%s: %d tensors, safetensors has %d", what, other->n, ref->n);
    int bad = 0;
    for (int i = 0; i < ref->n; i++) {
        const gq_tensor *a = &ref->tensors[i], *b = gq_ckpt_find(other, a->name);
        if (!b) {
            fprintf(stderr, "  %s: tensor '%s' missing\n", what, a->name);
            bad++;
            continue;
        }
        int same = a->ndim == b->ndim && a->numel == b->numel;
        for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
        if (!same) {
            fprintf(stderr, "  %s: tensor '%s' has another shape\n", what, a->name);
            bad++;
        } else if (memcmp(a->data, b->data, (size_t)a->numel * sizeof(float))) {
            int64_t j = 0;
            while (!memcmp(&a->data[j], &b->data[j], sizeof(float))) j++;
            fprintf(stderr, "  %s: tensor '%s' differs first at %lld: %.9g vs %.9g\n", what, a->name, (long long)j,
                    b->data[j], a->data[j]);
            bad++;
        }
    }
    GQ_CHECK(t, bad == 0, "%s: %d of %d tensors differ from safetensors", what, bad, ref->n);
    if (!bad) printf("ok   %s: %d tensors bit-identical to safetensors\n", what, ref->n);
}

/* Loads `rel` a few times and returns the best time in ms (and the checkpoint). */
static gq_ckpt *timed_load(gq_test_ctx *t, const char *rel, double *ms) {
    char *p = gq_test_path(t, rel);
    gq_ckpt *ck = NULL;
    *ms = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        gq_ckpt_free(ck);
        double t0 = gq_now();
        ck = load_ok(t, p);
        double dt = (gq_now() - t0) * 1e3;
        if (dt < *ms) *ms = dt;
        if (!ck) break;
    }
    free(p);
    return ck;
}

static void test_fixtures(gq_test_ctx *t) {
    static const char *files[][2] = {
        {"fixtures/tiny-a/model.safetensors", NULL},
        {"fixtures/tiny-a/pytorch_model.bin", "fixtures/tiny-a/model.safetensors"},
        {"fixtures/tiny-a/pytorch_model_legacy.bin", "fixtures/tiny-a/model.safetensors"},
        {"fixtures/tiny-b/model.safetensors", NULL},
        {"fixtures/tiny-b/pytorch_model.bin", "fixtures/tiny-b/model.safetensors"},
    };
    gq_ckpt *ref = NULL;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        double ms;
        gq_ckpt *ck = timed_load(t, files[i][0], &ms);
        if (ck) printf("time %-42s %3d tensors, best of 5 loads %.2f ms\n", files[i][0], ck->n, ms);
        if (!files[i][1]) {
            gq_ckpt_free(ref);
            ref = ck;
            GQ_CHECK(t, ref && ref->n > 0, "%s: no tensors", files[i][0]);
            if (!ref) return;
            continue;
        }
        if (ck) check_same(t, ref, ck, files[i][0]);
        /* torch aligns zip entries to 64 bytes and these tensors share no storage, so each
         * must be used in place in the file mapping, not copied */
        int views = 0;
        for (int k = 0; ck && k < ck->n; k++) views += !ck->tensors[k].owned;
        if (ck && strstr(files[i][0], "pytorch_model.bin"))
            GQ_CHECK(t, views == ck->n, "%s: only %d of %d tensors used in place", files[i][0], views, ck->n);
        gq_ckpt_free(ck);
    }
    gq_ckpt_free(ref);
}

/* ---- 2. safetensors: hand-made files ---------------------------------------------- */

static bytes safetensors(const char *header, const void *data, size_t n) {
    bytes b = {0};
    put64(&b, strlen(header));
    puts_(&b, header);
    put(&b, data, n);
    return b;
}

static void test_half(gq_test_ctx *t) {
    /* F16: 1.0, -2.0, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0; BF16: 1.0, -2.0, 3.140625 */
    static const uint16_t f16[] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000};
    static const uint16_t bf16[] = {0x3F80, 0xC000, 0x4049};
    static const float want16[] = {1.0f, -2.0f, 0.5f, 65504.0f, 5.9604644775390625e-8f, -0.0f};
    static const float wantbf[] = {1.0f, -2.0f, 3.140625f};
    bytes data = {0};
    for (int i = 0; i < 6; i++) put16(&data, f16[i]);
    for (int i = 0; i < 3; i++) put16(&data, bf16[i]);
    bytes b = safetensors("{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                          "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]}}",
                          data.p, data.n);
    char *p = write_tmp("half.safetensors", b.p, b.n);
    gq_ckpt *ck = load_ok(t, p);
    check_tensor(t, ck, "h", 2, (int64_t[]){2, 3}, want16);
    check_tensor(t, ck, "b", 1, (int64_t[]){3}, wantbf);
    const gq_tensor *h = ck ? gq_ckpt_find(ck, "h") : NULL;
    GQ_CHECK(t, h && h->data[5] == 0 && 1 / h->data[5] < 0, "F16 0x8000 is not -0");
    gq_ckpt_free(ck);
    unlink(p);
    free(p);
    free(b.p);
    free(data.p);
}

static void test_bad_safetensors(gq_test_ctx *t) {
    bytes fx = read_fixture(t, "fixtures/tiny-a/model.safetensors"), b = {0};
    /* truncated: the last tensor's data is cut */
    put(&b, fx.p, fx.n - 100);
    expect_fail_bytes(t, "st_truncated.safetensors", &b, NULL);
    b.n = 0;
    /* header length larger than the file */
    put(&b, fx.p, fx.n);
    for (int i = 0; i < 8; i++) b.p[i] = (uint8_t)((fx.n + 1) >> (8 * i));
    expect_fail_bytes(t, "st_hlen.safetensors", &b, NULL);
    memset(b.p, 0xff, 8);
    expect_fail_bytes(t, "st_hlen_huge.safetensors", &b, NULL);
    b.n = 0;
    /* header not JSON (a closing brace turned into garbage) */
    put(&b, fx.p, fx.n);
    b.p[8 + 20] = '\x01';
    expect_fail_bytes(t, "st_notjson.safetensors", &b, NULL);
    free(b.p);
    free(fx.p);

    static const struct {
        const char *name, *header, *want;
    } cases[] = {
        {"st_past_end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", "data_offsets"},
        {"st_overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         "overlap"},
        {"st_size_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "need 12"},
        {"st_reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", "data_offsets"},
        {"st_dtype", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "Q4"},
        {"st_negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2,-1],\"data_offsets\":[0,8]}}", "'a'"},
        {"st_huge_dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", "'a'"},
        {"st_overflow_dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2,4,8,16,32,64,128,256],\"data_offsets\":[0,8]}}",
         "'a'"},
        {"st_fraction", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", "'a'"},
        {"st_no_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "'a'"},
        {"st_not_object", "[1,2,3]", NULL},
        {"st_dup",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         "twice"},
    };
    static const float four[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes c = safetensors(cases[i].header, four, sizeof four);
        char name[64];
        snprintf(name, sizeof name, "%s.safetensors", cases[i].name);
        expect_fail_bytes(t, name, &c, cases[i].want);
        free(c.p);
    }
}

/* ---- 3. zip: a writer for hand-made archives and mutations of the fixtures ------------ */

static uint32_t crc32_(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

/* The kernel's reading of cpuid: 1 when /proc/cpuinfo's flags include `flag`, 0 when
 * they do not, -1 when there are none (not x86 Linux). */
static int cpuinfo_flag(const char *flag) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    static char line[1 << 16];
    char word[64];
    snprintf(word, sizeof word, " %s", flag);
    int has = -1;
    while (has < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) has = strstr(line, word) != NULL;
    fclose(f);
    return has;
}

/* The CRC-32 of `text` repeated `times` times, or of n bytes (i*131+7) mod 256 when text
 * is NULL, with both ways of computing it. */
static void crc32_both(const gq_crc32_tables *tab, const char *text, size_t times, size_t n, uint32_t out[2]) {
    size_t len = text ? strlen(text) * times : n;
    uint8_t *b = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) b[i] = text ? (uint8_t)text[i % strlen(text)] : (uint8_t)(i * 131 + 7);
    gq_crc32_tables tables = *tab;
    tables.clmul = 0;
    out[0] = gq_ckpt_crc32(tab, b, len), out[1] = gq_ckpt_crc32(&tables, b, len);
    free(b);
}

/* zip's CRC-32 against published check values (the CRC catalogue's CRC-32/ISO-HDLC:
 * "123456789" -> cbf43926) and, for messages long enough for the carry-less folding,
 * Python's zlib.crc32; the folding against the tables and both against the bitwise crc32_
 * above on every length to 300 at 16 alignments. */
static void test_crc32(gq_test_ctx *t) {
    gq_crc32_tables tab, tables;
    gq_ckpt_crc32_tables(&tab);
    int kernel = cpuinfo_flag("pclmulqdq");
    GQ_CHECK(t, kernel < 0 || tab.clmul == kernel, "PCLMULQDQ folding %s, but /proc/cpuinfo says pclmulqdq is %s",
             tab.clmul ? "used" : "not used", kernel ? "there" : "absent");
    static const struct {
        const char *text; /* NULL: 1,000,003 bytes (i*131+7) mod 256 */
        size_t times;
        uint32_t crc;
    } known[] = {{"", 1, 0},
                 {"a", 1, 0xe8b7be43u},
                 {"123456789", 1, 0xcbf43926u},
                 {"The quick brown fox jumps over the lazy dog", 1, 0x414fa339u},
                 {"The quick brown fox jumps over the lazy dog", 100, 0x9f5fa465u},
                 {NULL, 1, 0x80b27ce7u}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        uint32_t got[2];
        crc32_both(&tab, known[i].text, known[i].times, 1000003, got);
        GQ_CHECK(t, got[0] == known[i].crc && got[1] == known[i].crc,
                 "crc32(\"%.20s\" x %zu) = %08x (tables %08x), want %08x", known[i].text ? known[i].text : "(i*131+7)",
                 known[i].times, got[0], got[1], known[i].crc);
    }
    enum { MAXN = 300, ALIGN = 16 };
    uint8_t buf[MAXN + ALIGN];
    gq_rng r;
    gq_rng_seed(&r, 32);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)gq_rng_next(&r);
    tables = tab, tables.clmul = 0;
    for (size_t off = 0; off < ALIGN; off++)
        for (size_t n = 0; n <= MAXN; n++) {
            uint32_t a = gq_ckpt_crc32(&tab, buf + off, n), b = gq_ckpt_crc32(&tables, buf + off, n);
            GQ_CHECK(t, a == b && b == crc32_(buf + off, n), "crc32 of %zu bytes at %zu: %08x, tables %08x, bitwise %08x",
                     n, off, a, b, crc32_(buf + off, n));
        }
}

typedef struct {
    const char *name;
    const void *data;
    size_t n;
} zin;

/* Writes a zip of STORED entries; with zip64, every size and offset goes through the
 * zip64 extra field and end records, as writers do for files over 4 GiB. */
static bytes make_zip(const zin *e, int n, int zip64) {
    bytes b = {0};
    size_t *off = calloc((size_t)n, sizeof *off);
    for (int i = 0; i < n; i++) {
        off[i] = b.n;
        put32(&b, 0x04034b50), put16(&b, zip64 ? 45 : 20), put16(&b, 0), put16(&b, 0), put32(&b, 0);
        put32(&b, crc32_(e[i].data, e[i].n)), put32(&b, zip64 ? 0xFFFFFFFF : (uint32_t)e[i].n);
        put32(&b, zip64 ? 0xFFFFFFFF : (uint32_t)e[i].n);
        put16(&b, (unsigned)strlen(e[i].name)), put16(&b, zip64 ? 20 : 0);
        puts_(&b, e[i].name);
        if (zip64) put16(&b, 1), put16(&b, 16), put64(&b, e[i].n), put64(&b, e[i].n);
        put(&b, e[i].data, e[i].n);
    }
    size_t cd = b.n;
    for (int i = 0; i < n; i++) {
        put32(&b, 0x02014b50), put16(&b, 45), put16(&b, zip64 ? 45 : 20), put16(&b, 0), put16(&b, 0);
        put32(&b, 0), put32(&b, crc32_(e[i].data, e[i].n));
        put32(&b, zip64 ? 0xFFFFFFFF : (uint32_t)e[i].n), put32(&b, zip64 ? 0xFFFFFFFF : (uint32_t)e[i].n);
        put16(&b, (unsigned)strlen(e[i].name)), put16(&b, zip64 ? 28 : 0), put16(&b, 0);
        put16(&b, 0), put16(&b, 0), put32(&b, 0), put32(&b, zip64 ? 0xFFFFFFFF : (uint32_t)off[i]);
        puts_(&b, e[i].name);
        if (zip64) put16(&b, 1), put16(&b, 24), put64(&b, e[i].n), put64(&b, e[i].n), put64(&b, off[i]);
    }
    size_t cdsize = b.n - cd;
    if (zip64) {
        size_t rec = b.n;
        put32(&b, 0x06064b50), put64(&b, 44), put16(&b, 45), put16(&b, 45), put32(&b, 0), put32(&b, 0);
        put64(&b, (uint64_t)n), put64(&b, (uint64_t)n), put64(&b, cdsize), put64(&b, cd);
        put32(&b, 0x07064b50), put32(&b, 0), put64(&b, rec), put32(&b, 1);
    }
    put32(&b, 0x06054b50), put16(&b, 0), put16(&b, 0);
    put16(&b, zip64 ? 0xFFFF : (unsigned)n), put16(&b, zip64 ? 0xFFFF : (unsigned)n);
    put32(&b, zip64 ? 0xFFFFFFFF : (uint32_t)cdsize), put32(&b, zip64 ? 0xFFFFFFFF : (uint32_t)cd), put16(&b, 0);
    free(off);
    return b;
}

/* A pickle builder for hand-made state dicts. */
static void p_str(bytes *b, const char *s) { put8(b, 'X'), put32(b, (uint32_t)strlen(s)), puts_(b, s); }
static void p_int(bytes *b, int32_t v) { put8(b, 'J'), put32(b, (uint32_t)v); }
static void p_global(bytes *b, const char *mod, const char *name) {
    put8(b, 'c'), puts_(b, mod), put8(b, '\n'), puts_(b, name), put8(b, '\n');
}
static void p_tuple(bytes *b, const int64_t *v, int n) {
    put8(b, '(');
    for (int i = 0; i < n; i++) p_int(b, (int32_t)v[i]);
    put8(b, 't');
}

typedef struct {
    const char *name, *storage_type, *key;
    int64_t numel, offset;
    int ndim;
    int64_t size[4], stride[4];
} ptensor;

/* Legacy storage ids name a view of their storage: elements [off, off + numel) of it. */
typedef struct {
    const char *key; /* NULL: no view (None) */
    int64_t off, numel;
} pview;

/* {name: _rebuild_tensor_v2(persistent_load(('storage', T, key, 'cpu', numel)), offset,
 *  size, stride, False, OrderedDict())} for each tensor, in protocol 2, like torch.save;
 * the legacy format adds a sixth element to the storage id: None or a view. */
static bytes make_pickle_fmt(const ptensor *ts, int n, const pview *legacy) {
    bytes b = {0};
    put8(&b, 0x80), put8(&b, 2), put8(&b, '}'), put8(&b, '(');
    for (int i = 0; i < n; i++) {
        p_str(&b, ts[i].name);
        p_global(&b, "torch._utils", "_rebuild_tensor_v2");
        put8(&b, '('), put8(&b, '(');
        p_str(&b, "storage");
        p_global(&b, "torch", ts[i].storage_type);
        p_str(&b, ts[i].key), p_str(&b, "cpu"), p_int(&b, (int32_t)ts[i].numel);
        if (legacy && legacy[i].key) {
            put8(&b, '('), p_str(&b, legacy[i].key), p_int(&b, (int32_t)legacy[i].off);
            p_int(&b, (int32_t)legacy[i].numel), put8(&b, 't');
        } else if (legacy) {
            put8(&b, 'N');
        }
        put8(&b, 't'), put8(&b, 'Q');
        p_int(&b, (int32_t)ts[i].offset);
        p_tuple(&b, ts[i].size, ts[i].ndim);
        p_tuple(&b, ts[i].stride, ts[i].ndim);
        put8(&b, 0x89);
        p_global(&b, "collections", "OrderedDict");
        put8(&b, ')'), put8(&b, 'R'), put8(&b, 't'), put8(&b, 'R');
    }
    put8(&b, 'u'), put8(&b, '.');
    return b;
}

static bytes make_pickle(const ptensor *ts, int n) { return make_pickle_fmt(ts, n, NULL); }

/* A legacy file: magic, protocol 1001, sys_info, the state dict, the key list ['0'] and
 * storage '0' = `data` (numel elements). */
static bytes make_legacy(const ptensor *ts, const pview *views, int n, const void *data, size_t nbytes,
                         uint64_t numel) {
    static const uint8_t head[] = {0x80, 2,   0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50,
                                   0x19, '.', 0x80, 2,  'M',  0xe9, 0x03, '.',  0x80, 2,    '}',  '.'};
    bytes b = {0}, sd = make_pickle_fmt(ts, n, views);
    put(&b, head, sizeof head);
    put(&b, sd.p, sd.n);
    put8(&b, 0x80), put8(&b, 2), put8(&b, ']'), put8(&b, '('), p_str(&b, "0"), put8(&b, 'e'), put8(&b, '.');
    put64(&b, numel);
    put(&b, data, nbytes);
    free(sd.p);
    return b;
}

/* A torch-style zip holding pickle `pkl` and storage "0" = `data`. */
static bytes zip_with(const bytes *pkl, const void *data, size_t n) {
    zin e[] = {{"archive/data.pkl", pkl->p, pkl->n}, {"archive/data/0", data, n}, {"archive/version", "3\n", 2}};
    return make_zip(e, 3, 0);
}

static const float six[6] = {0, 1, 2, 3, 4, 5};

/* Hand-made zips that must load: transposed strides, offsets, dtypes, zip64. */
static void test_zip_good(gq_test_ctx *t) {
    ptensor ts[] = {
        {"plain", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}},
        {"transposed", "FloatStorage", "0", 6, 0, 2, {3, 2}, {1, 3}},
        {"offset", "FloatStorage", "0", 6, 2, 1, {3}, {1}},
        {"every_other", "FloatStorage", "0", 6, 1, 2, {1, 3}, {99, 2}},
        {"scalar", "FloatStorage", "0", 6, 5, 0, {0}, {0}},
        {"empty", "FloatStorage", "0", 6, 0, 2, {0, 3}, {3, 1}},
        {"empty_far", "FloatStorage", "0", 6, 0x7fffffff, 1, {0}, {1}},
    };
    bytes pkl = make_pickle(ts, 7);
    for (int zip64 = 0; zip64 < 2; zip64++) {
        zin e[] = {{"archive/data.pkl", pkl.p, pkl.n},
                   {"archive/data/0", six, sizeof six},
                   {"archive/byteorder", "little", 6}};
        bytes z = make_zip(e, 3, zip64);
        char *p = write_tmp(zip64 ? "good_zip64.bin" : "good.bin", z.p, z.n);
        gq_ckpt *ck = load_ok(t, p);
        check_tensor(t, ck, "plain", 2, (int64_t[]){2, 3}, six);
        check_tensor(t, ck, "transposed", 2, (int64_t[]){3, 2}, (float[]){0, 3, 1, 4, 2, 5});
        check_tensor(t, ck, "offset", 1, (int64_t[]){3}, (float[]){2, 3, 4});
        check_tensor(t, ck, "every_other", 2, (int64_t[]){1, 3}, (float[]){1, 3, 5});
        check_tensor(t, ck, "scalar", 0, NULL, (float[]){5});
        check_tensor(t, ck, "empty", 2, (int64_t[]){0, 3}, NULL);
        check_tensor(t, ck, "empty_far", 1, (int64_t[]){0}, NULL);
        /* "plain" shares its storage with the others, so it must be a copy: writing into
         * it must not show through another tensor */
        if (ck && gq_ckpt_find(ck, "plain") && gq_ckpt_find(ck, "offset")) {
            gq_ckpt_find(ck, "plain")->data[2] = 42;
            GQ_CHECK(t, gq_ckpt_find(ck, "offset")->data[0] == 2, "tensors sharing a storage alias each other");
        }
        gq_ckpt_free(ck);
        unlink(p);
        free(p);
        free(z.p);
    }
    zin big[] = {
        {"archive/data.pkl", pkl.p, pkl.n}, {"archive/data/0", six, sizeof six}, {"archive/byteorder", "big", 3}};
    bytes zbig = make_zip(big, 3, 0);
    expect_fail_bytes(t, "big_endian.bin", &zbig, "byteorder");
    free(zbig.p);
    free(pkl.p);

    /* other storage types: F16, BF16, F64, I64, I32 */
    static const struct {
        const char *type;
        int size;
        uint64_t bits[3];
    } dt[] = {
        {"HalfStorage", 2, {0x3C00, 0xC000, 0x3800}},
        {"BFloat16Storage", 2, {0x3F80, 0xC000, 0x3F00}},
        {"DoubleStorage", 8, {0x3FF0000000000000, 0xC000000000000000, 0x3FE0000000000000}},
        {"LongStorage", 8, {1, (uint64_t)-2, 7}},
        {"IntStorage", 4, {1, (uint32_t)-2, 7}},
    };
    for (size_t i = 0; i < sizeof dt / sizeof dt[0]; i++) {
        ptensor x = {"x", dt[i].type, "0", 3, 0, 1, {3}, {1}};
        bytes pk = make_pickle(&x, 1), data = {0};
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < dt[i].size; j++) put8(&data, (unsigned)(dt[i].bits[k] >> (8 * j)) & 0xff);
        bytes z = zip_with(&pk, data.p, data.n);
        char *p = write_tmp("dtype.bin", z.p, z.n);
        gq_ckpt *ck = load_ok(t, p);
        int ints = dt[i].type[0] == 'L' || dt[i].type[0] == 'I';
        check_tensor(t, ck, "x", 1, (int64_t[]){3}, ints ? (float[]){1, -2, 7} : (float[]){1, -2, 0.5f});
        gq_ckpt_free(ck);
        unlink(p);
        free(p);
        free(z.p);
        free(pk.p);
        free(data.p);
    }
}

/* Offsets of the fixture's central directory and of the entry named `name` in it. */
static size_t cd_entry(const bytes *z, const char *name) {
    size_t eocd = z->n - 22;
    size_t p = z->p[eocd + 16] | z->p[eocd + 17] << 8 | (size_t)z->p[eocd + 18] << 16 | (size_t)z->p[eocd + 19] << 24;
    while (p + 46 < eocd) {
        size_t nl = z->p[p + 28] | z->p[p + 29] << 8, xl = z->p[p + 30] | z->p[p + 31] << 8,
               cl = z->p[p + 32] | z->p[p + 33] << 8;
        if (nl == strlen(name) && !memcmp(z->p + p + 46, name, nl)) return p;
        p += 46 + nl + xl + cl;
    }
    fprintf(stderr, "FATAL fixture has no entry %s\n", name);
    exit(2);
}

static void test_bad_zip(gq_test_ctx *t) {
    bytes fx = read_fixture(t, "fixtures/tiny-a/pytorch_model.bin"), b = {0};
    size_t eocd = fx.n - 22;
    size_t cd = fx.p[eocd + 16] | fx.p[eocd + 17] << 8 | (size_t)fx.p[eocd + 18] << 16 | (size_t)fx.p[eocd + 19] << 24;
#define MUTATE(name, want, ...)                                                                                        \
    do {                                                                                                               \
        b.n = 0;                                                                                                       \
        put(&b, fx.p, fx.n);                                                                                           \
        __VA_ARGS__;                                                                                                   \
        expect_fail_bytes(t, name, &b, want);                                                                          \
    } while (0)
    MUTATE("zip_no_eocd.bin", "end-of-central-directory", b.n -= 10);
    /* the central directory cut in half, the end record kept */
    MUTATE("zip_cd_cut.bin", "central directory", memmove(b.p + cd + (fx.n - cd) / 2, b.p + eocd, 22);
           b.n = cd + (fx.n - cd) / 2 + 22);
    MUTATE("zip_cd_count.bin", "central directory", b.p[eocd + 10] = 0xff; b.p[eocd + 11] = 0x7f);
    MUTATE("zip_cd_offset.bin", "central directory", b.p[eocd + 19] = 0x7f);
    MUTATE("zip_compressed.bin", "compressed", b.p[cd_entry(&fx, "pytorch_model/data.pkl") + 10] = 8);
    MUTATE("zip_no_pkl.bin", "data.pkl", b.p[cd_entry(&fx, "pytorch_model/data.pkl") + 46 + 21] = 'x');
    MUTATE("zip_no_storage.bin", "'pytorch_model/data/3' missing",
           b.p[cd_entry(&fx, "pytorch_model/data/3") + 46 + 19] = 'x');
    MUTATE("zip_storage_compressed.bin", "compressed", b.p[cd_entry(&fx, "pytorch_model/data/3") + 10] = 8);
    MUTATE("zip_local_offset.bin", "local header", b.p[cd_entry(&fx, "pytorch_model/data/3") + 45] = 0x7f);
    MUTATE("zip_size.bin", "pytorch_model/data/3", b.p[cd_entry(&fx, "pytorch_model/data/3") + 27] = 0x7f);
    MUTATE("zip_crc.bin", "CRC", b.p[8000] ^= 1); /* inside pytorch_model/data/0 */
    /* torch writes zip64 end records too: make the plain one defer to them, then break them */
    MUTATE("zip_zip64_locator.bin", "zip64", b.p[eocd + 10] = 0xff; b.p[eocd + 11] = 0xff; b.p[eocd - 20] ^= 1);
    MUTATE("zip_zip64_record.bin", "zip64", b.p[eocd + 10] = 0xff; b.p[eocd + 11] = 0xff; b.p[eocd - 20 + 12] = 0x7f);
    size_t z64 = fx.p[eocd - 12] | fx.p[eocd - 11] << 8 | (size_t)fx.p[eocd - 10] << 16 | (size_t)fx.p[eocd - 9] << 24;
    MUTATE("zip_zip64_count.bin", "central directory", b.p[eocd + 10] = 0xff; b.p[eocd + 11] = 0xff;
           b.p[z64 + 32 + 7] = 0x7f);
#undef MUTATE
    free(b.p);
    free(fx.p);

    /* hand-made archives with inconsistent state dicts */
    ptensor over = {"w", "FloatStorage", "0", 6, 4, 1, {3}, {1}};
    ptensor numel = {"w", "FloatStorage", "0", 7, 0, 1, {3}, {1}};
    ptensor stride = {"w", "FloatStorage", "0", 6, 0, 2, {2, 3}, {4, 1}};
    ptensor big = {"w", "FloatStorage", "0", 6, 0, 2, {0x7fffffff, 0x7fffffff}, {0, 0}};
    ptensor bcast = {"w", "FloatStorage", "0", 6, 0, 1, {7}, {0}};
    ptensor dims = {"w", "FloatStorage", "0", 6, 0, 0, {0}, {0}};
    ptensor neg = {"w", "FloatStorage", "0", 6, 0, 1, {-3}, {1}};
    ptensor dup[2] = {{"w", "FloatStorage", "0", 6, 0, 1, {3}, {1}}, {"w", "FloatStorage", "0", 6, 0, 1, {3}, {1}}};
    ptensor badtype = {"w", "ByteStorage", "0", 6, 0, 1, {3}, {1}};
    const struct {
        const char *name, *want;
        const ptensor *ts;
        int n;
    } cases[] = {
        {"pk_offset.bin", "reaches past", &over, 1},
        {"pk_numel.bin", "expected 7 elements", &numel, 1},
        {"pk_stride.bin", "reaches past", &stride, 1},
        {"pk_big.bin", "elements", &big, 1},
        {"pk_broadcast.bin", "elements", &bcast, 1},
        {"pk_0dim_past.bin", NULL, &dims, 1},
        {"pk_negative.bin", "negative", &neg, 1},
        {"pk_dup.bin", "twice", dup, 2},
        {"pk_bytestorage.bin", "torch.ByteStorage", &badtype, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ptensor ts[2];
        memcpy(ts, cases[i].ts, (size_t)cases[i].n * sizeof *ts);
        if (cases[i].ts == &dims) ts[0].offset = 6; /* a scalar at the very end of the storage */
        bytes pk = make_pickle(ts, cases[i].n), z = zip_with(&pk, six, sizeof six);
        expect_fail_bytes(t, cases[i].name, &z, cases[i].want);
        free(pk.p);
        free(z.p);
    }
}

/* ---- 4. hostile pickles ------------------------------------------------------------- */

static void test_hostile(gq_test_ctx *t) {
    static const struct {
        const char *name, *pickle;
        size_t n;
        const char *want;
    } cases[] = {
#define P(s) s, sizeof(s) - 1
        {"os_system.bin",
         P("\x80\x02"
           "cos\nsystem\nX\x02\x00\x00\x00ls\x85R."),
         "global 'os.system'"},
        {"eval.bin",
         P("\x80\x02"
           "cbuiltins\neval\nX\x01\x00\x00\x00"
           "1\x85R."),
         "global 'builtins.eval'"},
        {"posix_stack.bin", P("\x80\x04\x8c\x05posix\x8c\x06system\x93X\x02\x00\x00\x00ls\x85R."),
         "global 'posix.system'"},
        {"nonprintable.bin",
         P("\x80\x02"
           "cos\x01\nsystem\x1b\nN\x85R."),
         "global 'os?.system?'"},
        {"unterminated.bin",
         P("\x80\x02"
           "cos"),
         "GLOBAL"},
        {"inst.bin", P("\x80\x02(ios\nsystem\nX\x02\x00\x00\x00lsq."), "opcode 0x69"},
        {"obj.bin", P("\x80\x02(cos\nsystem\no."), "global 'os.system'"},
        {"obj2.bin", P("\x80\x02(N\x85o."), "opcode 0x6f"},
        {"ext1.bin", P("\x80\x02\x82\x01)R."), "opcode 0x82"},
        {"newobj.bin", P("\x80\x02N)\x81."), "opcode 0x81"},
        {"build_dict.bin", P("\x80\x02}}b."), "BUILD"},
        {"build_tuple.bin", P("\x80\x02)}b."), "BUILD"},
        {"reduce_none.bin", P("\x80\x02N)R."), "REDUCE"},
        {"reduce_storage.bin",
         P("\x80\x02"
           "ctorch\nFloatStorage\n)R."),
         "REDUCE"},
        {"reduce_od_args.bin",
         P("\x80\x02"
           "ccollections\nOrderedDict\n]\x85R."),
         "OrderedDict"},
        {"persid_str.bin",
         P("\x80\x02X\x01\x00\x00\x00"
           "0Q."),
         "persistent id"},
        {"persid_text.bin", P("\x80\x02(S'x'\nP0\n."), "opcode 0x53"},
        {"marks.bin", P("\x80\x02(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((."), "MARK"},
        {"long_binput.bin", P("\x80\x02Nr\xff\xff\xff\x7f."), "memo index"},
        {"binput_big.bin", P("\x80\x02Nq\xf0."), "memo index"},
        {"long_binget.bin", P("\x80\x02j\xff\xff\xff\x7f."), "never set"},
        {"underflow.bin", P("\x80\x02R."), "underflow"},
        {"mark_underflow.bin", P("\x80\x02N(\x85."), "underflow"},
        {"setitems_odd.bin", P("\x80\x02}(Nu."), "SETITEMS"},
        {"appends_dict.bin", P("\x80\x02}(Ne."), "APPENDS"},
        {"no_stop.bin", P("\x80\x02}"), "no STOP"},
        {"binunicode_long.bin", P("\x80\x02X\xff\xff\xff\xff"), "truncated"},
        {"binstring_neg.bin", P("\x80\x02T\xff\xff\xff\xff"), "negative"},
        {"proto.bin", P("\x80\x09}."), "protocol"},
        {"not_dict.bin", P("\x80\x02]."), "state dict"},
        {"not_tensor.bin",
         P("\x80\x02}X\x01\x00\x00\x00"
           "aNs."),
         "'a' is not a tensor"},
        {"key_not_str.bin", P("\x80\x02}NNs."), "key 0"},
        {"key_nul.bin", P("\x80\x02}X\x01\x00\x00\x00\x00Ns."), "key 0"},
#undef P
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes pk = {0};
        put(&pk, cases[i].pickle, cases[i].n);
        bytes z = zip_with(&pk, six, sizeof six);
        expect_fail_bytes(t, cases[i].name, &z, cases[i].want);
        free(pk.p);
        free(z.p);
    }

    /* A deep stack: bounded, refused with a message, no crash. */
    bytes pk = {0};
    put8(&pk, 0x80), put8(&pk, 2);
    for (int i = 0; i < 70000; i++) put8(&pk, 'N');
    put8(&pk, '.');
    bytes z = zip_with(&pk, six, sizeof six);
    expect_fail_bytes(t, "deep_stack.bin", &z, "stack deeper");
    free(z.p);
    /* Deep nesting without MARKs (TUPLE1 of TUPLE1 of ...) must not recurse anywhere. */
    pk.n = 2;
    put8(&pk, 'N');
    for (int i = 0; i < 100000; i++) put8(&pk, 0x85);
    put8(&pk, '.');
    z = zip_with(&pk, six, sizeof six);
    expect_fail_bytes(t, "deep_tuple.bin", &z, "state dict");
    free(z.p);
    /* ... and the number of objects is bounded */
    pk.n--; /* drop the STOP */
    for (int i = 0; i < 1100000; i++) put8(&pk, 0x85);
    put8(&pk, '.');
    z = zip_with(&pk, six, sizeof six);
    expect_fail_bytes(t, "many_objects.bin", &z, "objects");
    free(z.p);
    free(pk.p);
}

/* Every prefix and many one-byte mutations of a valid pickle, fed to the zip reader from
 * memory: nothing may crash or leak (ASan), and every prefix must be refused. */
static void test_fuzz(gq_test_ctx *t) {
    ptensor ts[] = {{"a", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}}, {"b", "HalfStorage", "0", 12, 1, 1, {2}, {4}}};
    bytes pk = make_pickle(ts, 2);
    int refused = 0, total = 0, loaded = 0;
    for (size_t cut = 0; cut < pk.n; cut++) {
        bytes part = {pk.p, cut, cut};
        bytes z = zip_with(&part, six, sizeof six);
        gq_ckpt *ck = calloc(1, sizeof *ck);
        gq_err err = {{0}};
        gq_status st = gq_ckpt_read_torch_zip(ck, z.p, z.n, "fuzz.bin", &err);
        total++;
        refused += st != GQ_OK && strstr(err.msg, "fuzz.bin") != NULL;
        gq_ckpt_free(ck);
        free(z.p);
    }
    GQ_CHECK(t, refused == total, "%d of %d truncated pickles refused", refused, total);
    static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, '(', 't',
                                   'R',  'Q',  'b',  'u',  'h',  'q',  'N', '.'};
    for (size_t pos = 0; pos < pk.n; pos++)
        for (size_t v = 0; v < sizeof vals; v++) {
            uint8_t keep = pk.p[pos];
            pk.p[pos] = vals[v];
            bytes z = zip_with(&pk, six, sizeof six);
            gq_ckpt *ck = calloc(1, sizeof *ck);
            gq_err err = {{0}};
            gq_status st = gq_ckpt_read_torch_zip(ck, z.p, z.n, "fuzz.bin", &err);
            loaded += st == GQ_OK;
            GQ_CHECK(t, st == GQ_OK || strstr(err.msg, "fuzz.bin"), "mutation at %zu: message lacks the file: %s", pos,
                     err.msg);
            gq_ckpt_free(ck);
            free(z.p);
            pk.p[pos] = keep;
        }
    printf("ok   fuzz: %d truncations refused, %zu mutations survived (%d loaded)\n", total, pk.n * sizeof vals,
           loaded);
    free(pk.p);
}

/* What CPython's own pickler (protocol 2) writes for a torch-style state dict: an
 * OrderedDict with its `_metadata` attribute set by BUILD, tensors sharing one storage,
 * and an nn.Parameter (_rebuild_parameter). Made with fake torch globals and
 * Pickler.persistent_id returning ('storage', torch.FloatStorage, '0', 'cpu', 6) for
 * sd = {'a': [2,3] strides (3,1); 'b.t': [3,2] strides (1,3); 'c': Parameter([2] offset 1
 * stride 2)}. */
static const char cpython_pickle[] =
    "\x80\x02\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x71"
    "\x00\x29\x52\x71\x01\x28\x58\x01\x00\x00\x00\x61\x71\x02\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a"
    "\x5f\x72\x65\x62\x75\x69\x6c\x64\x5f\x74\x65\x6e\x73\x6f\x72\x5f\x76\x32\x0a\x71\x03\x28\x28\x58\x07\x00\x00\x00"
    "\x73\x74\x6f\x72\x61\x67\x65\x71\x04\x63\x74\x6f\x72\x63\x68\x0a\x46\x6c\x6f\x61\x74\x53\x74\x6f\x72\x61\x67\x65"
    "\x0a\x71\x05\x58\x01\x00\x00\x00\x30\x71\x06\x58\x03\x00\x00\x00\x63\x70\x75\x71\x07\x4b\x06\x74\x71\x08\x51\x4b"
    "\x00\x4b\x02\x4b\x03\x86\x71\x09\x4b\x03\x4b\x01\x86\x71\x0a\x89\x68\x00\x29\x52\x71\x0b\x74\x71\x0c\x52\x71\x0d"
    "\x58\x03\x00\x00\x00\x62\x2e\x74\x71\x0e\x68\x03\x28\x28\x68\x04\x68\x05\x68\x06\x68\x07\x4b\x06\x74\x71\x0f\x51"
    "\x4b\x00\x4b\x03\x4b\x02\x86\x71\x10\x4b\x01\x4b\x03\x86\x71\x11\x89\x68\x00\x29\x52\x71\x12\x74\x71\x13\x52\x71"
    "\x14\x58\x01\x00\x00\x00\x63\x71\x15\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a\x5f\x72\x65\x62\x75"
    "\x69\x6c\x64\x5f\x70\x61\x72\x61\x6d\x65\x74\x65\x72\x0a\x71\x16\x68\x03\x28\x28\x68\x04\x68\x05\x68\x06\x68\x07"
    "\x4b\x06\x74\x71\x17\x51\x4b\x01\x4b\x02\x85\x71\x18\x68\x18\x89\x68\x00\x29\x52\x71\x19\x74\x71\x1a\x52\x71\x1b"
    "\x88\x68\x00\x29\x52\x71\x1c\x87\x71\x1d\x52\x71\x1e\x75\x7d\x71\x1f\x58\x09\x00\x00\x00\x5f\x6d\x65\x74\x61\x64"
    "\x61\x74\x61\x71\x20\x68\x00\x29\x52\x71\x21\x28\x58\x00\x00\x00\x00\x71\x22\x7d\x71\x23\x58\x07\x00\x00\x00\x76"
    "\x65\x72\x73\x69\x6f\x6e\x71\x24\x4b\x01\x73\x58\x03\x00\x00\x00\x65\x6e\x63\x71\x25\x7d\x71\x26\x68\x24\x4b\x02"
    "\x73\x75\x73\x62\x2e";

static void test_cpython_pickle(gq_test_ctx *t) {
    bytes pk = {0};
    put(&pk, cpython_pickle, sizeof cpython_pickle - 1);
    bytes z = zip_with(&pk, six, sizeof six);
    char *p = write_tmp("cpython.bin", z.p, z.n);
    gq_ckpt *ck = load_ok(t, p);
    GQ_CHECK(t, ck && ck->n == 3, "expected 3 tensors");
    check_tensor(t, ck, "a", 2, (int64_t[]){2, 3}, six);
    check_tensor(t, ck, "b.t", 2, (int64_t[]){3, 2}, (float[]){0, 3, 1, 4, 2, 5});
    check_tensor(t, ck, "c", 1, (int64_t[]){2}, (float[]){1, 3});
    gq_ckpt_free(ck);
    unlink(p);
    free(p);
    free(z.p);
    free(pk.p);
}

/* ---- 5. legacy format ------------------------------------------------------------- */

static void test_legacy_views(gq_test_ctx *t) {
    ptensor ts[] = {{"whole", "FloatStorage", "0", 6, 0, 1, {6}, {1}},
                    {"view", "FloatStorage", "0", 6, 1, 1, {2}, {1}}};
    pview views[] = {{NULL, 0, 0}, {"0v", 2, 3}};
    bytes b = make_legacy(ts, views, 2, six, sizeof six, 6);
    char *p = write_tmp("legacy_views.bin", b.p, b.n);
    gq_ckpt *ck = load_ok(t, p);
    check_tensor(t, ck, "whole", 1, (int64_t[]){6}, six);
    check_tensor(t, ck, "view", 1, (int64_t[]){2}, (float[]){3, 4});
    gq_ckpt_free(ck);
    unlink(p);
    free(p);
    free(b.p);

    views[1].off = 4; /* [4, 7) is not inside the 6-element storage */
    b = make_legacy(ts, views, 2, six, sizeof six, 6);
    expect_fail_bytes(t, "legacy_bad_view.bin", &b, "storage view");
    free(b.p);
    views[1].off = 2, ts[1].offset = 2; /* the tensor [2, 4) of a 3-element view */
    b = make_legacy(ts, views, 2, six, sizeof six, 6);
    expect_fail_bytes(t, "legacy_past_view.bin", &b, "reaches past");
    free(b.p);
    ts[1].offset = 0;
    b = make_legacy(ts, views, 2, six, sizeof six, 5); /* the element count disagrees with the pickle */
    expect_fail_bytes(t, "legacy_numel.bin", &b, "wrong size");
    free(b.p);
}

static void test_bad_legacy(gq_test_ctx *t) {
    bytes fx = read_fixture(t, "fixtures/tiny-a/pytorch_model_legacy.bin"), b = {0};
    /* truncations inside each part: magic, protocol, sys_info, state dict, key list, storages */
    static const size_t cuts[] = {5, 17, 60, 1000, 5010, 5650, 6000};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        b.n = 0;
        put(&b, fx.p, cuts[i]);
        char name[64];
        snprintf(name, sizeof name, "legacy_cut%zu.bin", cuts[i]);
        expect_fail_bytes(t, name, &b, NULL);
    }
    b.n = 0;
    put(&b, fx.p, fx.n - 1);
    expect_fail_bytes(t, "legacy_cut_end.bin", &b, "truncated");
    b.n = 0;
    put(&b, fx.p, fx.n);
    put8(&b, 0);
    expect_fail_bytes(t, "legacy_trailing.bin", &b, "unexpected bytes");
    b.n = 0;
    put(&b, fx.p, fx.n);
    b.p[4] ^= 1;
    expect_fail_bytes(t, "legacy_magic.bin", &b, "magic");
    b.n = 0;
    put(&b, fx.p, fx.n);
    b.p[18] ^= 1; /* protocol version 1001 -> 1000 */
    expect_fail_bytes(t, "legacy_proto.bin", &b, "1001");
    b.n = 0;
    put(&b, fx.p, fx.n);
    b.p[73] = 0x89; /* little_endian: False */
    expect_fail_bytes(t, "legacy_bigendian.bin", &b, "big-endian");
    b.n = 0;
    put(&b, fx.p, fx.n);
    b.p[5648] ^= 1; /* the first storage's element count */
    expect_fail_bytes(t, "legacy_count.bin", &b, "wrong size");
    b.n = 0;
    put(&b, fx.p, fx.n);
    b.p[5006 + 5] = 'Z'; /* the first key of the storage key list */
    expect_fail_bytes(t, "legacy_key.bin", &b, "not used by any tensor");
    free(b.p);
    free(fx.p);
}

/* ---- 6. many tensors: work linear in the header -------------------------------------- */

/* realloc calls, counted through -Wl,--wrap=realloc (tests/CMakeLists.txt). A test needs
 * this as a global: the wrapper has realloc's signature. */
static long reallocs;
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n) {
    reallocs++;
    return __real_realloc(p, n);
}

/* A safetensors file of n empty F32 tensors ("t0000000" ...), about 60 header bytes each. */
static bytes many_tensors(int n) {
    bytes b = {0}, h = {0};
    char entry[128];
    puts_(&h, "{");
    for (int i = 0; i < n; i++) {
        snprintf(entry, sizeof entry, "%s\"t%07d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                 i ? "," : "", i);
        puts_(&h, entry);
    }
    puts_(&h, "}");
    put64(&b, h.n);
    put(&b, h.p, h.n);
    free(h.p);
    return b;
}

/* Reads n tensors from memory: the name check's comparisons and the reallocs it took. */
static void read_many(gq_test_ctx *t, int n, uint64_t *compares, long *grows) {
    bytes b = many_tensors(n);
    gq_ckpt *ck = calloc(1, sizeof *ck);
    gq_err err = {{0}};
    reallocs = 0;
    gq_status st = gq_ckpt_read_buffer(ck, b.p, b.n, "many.safetensors", &err);
    *grows = reallocs, *compares = ck->name_compares;
    GQ_CHECK(t, st == GQ_OK && ck->n == n, "%d tensors: %s", n, err.msg);
    gq_ckpt_free(ck);
    free(b.p);
}

/* A header within the size limit can list millions of tensors: adding them and checking
 * their names must cost about n log n comparisons and O(log n) reallocs, not n^2. With n
 * and 2n tensors, sorting makes 2 (1 + 1/log2 n) ~ 2.1 times the comparisons (quadratic
 * work would make 4) and the table grows by doubling (one realloc more, not n). */
#define MANY_TENSORS 100000
#define MANY_MAX_COMPARE_RATIO 2.5
#define MANY_MAX_EXTRA_GROWS 2
static void test_many_tensors(gq_test_ctx *t) {
    uint64_t c1, c2;
    long g1, g2;
    read_many(t, MANY_TENSORS, &c1, &g1);
    read_many(t, 2 * MANY_TENSORS, &c2, &g2);
    printf("%d tensors: %llu name comparisons, %ld reallocs; %d: %llu, %ld\n", MANY_TENSORS, (unsigned long long)c1, g1,
           2 * MANY_TENSORS, (unsigned long long)c2, g2);
    GQ_CHECK(t, c1 > 0 && (double)c2 <= MANY_MAX_COMPARE_RATIO * (double)c1,
             "name comparisons grow from %llu to %llu for twice the tensors (more than %.1fx)", (unsigned long long)c1,
             (unsigned long long)c2, MANY_MAX_COMPARE_RATIO);
    GQ_CHECK(t, g2 - g1 <= MANY_MAX_EXTRA_GROWS, "%ld reallocs for %d tensors, %ld for %d: not geometric growth", g1,
             MANY_TENSORS, g2, 2 * MANY_TENSORS);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_ckpt", tmpdir, sizeof tmpdir);
    test_fixtures(&t);
    test_half(&t);
    test_bad_safetensors(&t);
    test_crc32(&t);
    test_zip_good(&t);
    test_bad_zip(&t);
    test_hostile(&t);
    test_fuzz(&t);
    test_cpython_pickle(&t);
    test_legacy_views(&t);
    test_bad_legacy(&t);
    test_many_tensors(&t);
    return gq_test_done(&t);
}
