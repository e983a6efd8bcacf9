/* torchbin: reads PyTorch `torch.save` state dicts, in the zip format (torch >= 1.6) and in
 * the legacy pre-1.6 stream of pickles, into a gq_ckpt as FP32 tensors.
 *
 * Pickles come from untrusted files, so they are never "executed": a small stack machine
 * accepts only the opcodes a state dict needs and only the globals collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter and torch.<T>Storage, and it
 * interprets REDUCE on those itself. Stack, MARK depth, memo and object counts are
 * bounded, every read is checked against the buffer, and every tensor's offset, sizes and
 * strides are checked against its storage before a byte of it is read.
 */
#include "checkpoint_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Limits that no real state dict comes near (the pickler batches SETITEMS by 1000, nests
 * MARKs about 4 deep and memoizes ~8 objects per tensor) but that keep hostile input from
 * allocating without bound. */
#define PK_MAX_STACK (1u << 16)
#define PK_MAX_MARKS 64
#define PK_MAX_MEMO (1u << 22)
#define PK_MAX_OBJECTS (1u << 20)
#define PK_MAX_GLOBAL_LEN 256

/* ------------------------------------------------------------------------------------ */
/* byte order                                                                           */

/* Storages are little-endian on disk whatever the host is, hence the explicit byte order. */
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* ------------------------------------------------------------------------------------ */
/* the restricted unpickler                                                             */

typedef enum {
    V_NONE,
    V_BOOL,
    V_INT,
    V_BIGINT,
    V_FLOAT,
    V_STR,
    V_TUPLE,
    V_LIST,
    V_DICT,
    V_GLOBAL,
    V_STORAGE,
    V_TENSOR
} vkind;
typedef enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE } gkind;

typedef struct val val;

typedef struct {
    int dtype;
    const char *key; /* the storage key (zip: data/<key>; legacy: the root storage) */
    size_t keylen;
    int64_t numel;                /* elements of that storage */
    int64_t view_off, view_numel; /* legacy storage views; else 0 and numel */
} storage_info;

typedef struct {
    const val *storage; /* a V_STORAGE */
    int64_t offset;
    int ndim;
    int64_t size[GQ_MAX_DIMS], stride[GQ_MAX_DIMS];
} tensor_info;

struct val {
    vkind kind;
    int sub; /* V_GLOBAL: the gkind; V_DICT: 1 when made by OrderedDict() */
    union {
        int64_t i; /* V_BOOL, V_INT, V_GLOBAL of a storage: its dtype */
        double f;
        struct {
            const char *p; /* into the pickle buffer, not NUL-terminated */
            size_t n;
        } s; /* V_STR, V_BIGINT (little-endian two's complement bytes) */
        struct {
            val **v;
            size_t n, cap;
        } seq; /* V_TUPLE, V_LIST, V_DICT (key, value, key, value, ...) */
        storage_info *st;
        tensor_info *t;
    } u;
};

typedef struct {
    const uint8_t *p;
    size_t len, pos, op_pos;
    const char *path, *what; /* for error messages */
    gq_err *err;
    val **all; /* every object made, freed together */
    size_t nall, capall;
    val **stack;
    size_t nstack, capstack;
    size_t marks[PK_MAX_MARKS];
    int nmarks;
    val **memo;
    size_t capmemo, memo_count;
    val *result;
    gq_status status; /* of the last failure, for callers that only got a NULL */
} unpickler;

static gq_status pk_fail(unpickler *u, gq_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static gq_status pk_fail(unpickler *u, gq_status st, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    u->status = st;
    return gq_fail(u->err, st, "%s: %s, byte %zu: %s", u->path, u->what, u->op_pos, msg);
}

/* Copies at most 80 bytes of untrusted text into out, printable ASCII only, for messages. */
static const char *printable(const char *s, size_t n, char out[96]) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < 80; i++) out[k++] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    if (n > 80) memcpy(out + k, "...", 3), k += 3;
    out[k] = '\0';
    return out;
}

static void pk_free(unpickler *u) {
    for (size_t i = 0; i < u->nall; i++) {
        val *v = u->all[i];
        if (v->kind == V_TUPLE || v->kind == V_LIST || v->kind == V_DICT)
            free(v->u.seq.v);
        else if (v->kind == V_STORAGE)
            free(v->u.st);
        else if (v->kind == V_TENSOR)
            free(v->u.t);
        free(v);
    }
    free(u->all);
    free(u->stack);
    free(u->memo);
    memset(u, 0, sizeof *u);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}

static val *newval(unpickler *u, vkind kind) {
    if (u->nall >= PK_MAX_OBJECTS) {
        pk_fail(u, GQ_ERR_FORMAT, "more than %u objects", PK_MAX_OBJECTS);
        return NULL;
    }
    val *v = calloc(1, sizeof *v);
    if (!v || !grow((void **)&u->all, &u->capall, u->nall + 1, sizeof *u->all)) {
        free(v);
        pk_fail(u, GQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    v->kind = kind;
    u->all[u->nall++] = v;
    return v;
}

static gq_status seq_add(unpickler *u, val *s, val *item) {
    if (!grow((void **)&s->u.seq.v, &s->u.seq.cap, s->u.seq.n + 1, sizeof(val *)))
        return pk_fail(u, GQ_ERR_NOMEM, "out of memory");
    s->u.seq.v[s->u.seq.n++] = item;
    return GQ_OK;
}

static gq_status push(unpickler *u, val *v) {
    if (!v) return u->status; /* newval has set the message */
    if (u->nstack >= PK_MAX_STACK) return pk_fail(u, GQ_ERR_FORMAT, "stack deeper than %u", PK_MAX_STACK);
    if (!grow((void **)&u->stack, &u->capstack, u->nstack + 1, sizeof *u->stack))
        return pk_fail(u, GQ_ERR_NOMEM, "out of memory");
    u->stack[u->nstack++] = v;
    return GQ_OK;
}

/* The stack above the innermost MARK; Python's unpickler refuses to reach below it too. */
static size_t floor_(const unpickler *u) { return u->nmarks ? u->marks[u->nmarks - 1] : 0; }

static val *pop(unpickler *u) {
    if (u->nstack <= floor_(u)) {
        pk_fail(u, GQ_ERR_FORMAT, "stack underflow");
        return NULL;
    }
    return u->stack[--u->nstack];
}

static val *top(unpickler *u) {
    if (u->nstack <= floor_(u)) {
        pk_fail(u, GQ_ERR_FORMAT, "stack underflow");
        return NULL;
    }
    return u->stack[u->nstack - 1];
}

/* Pops everything above the innermost MARK and the MARK itself; the items stay in
 * u->stack[*base .. *base + *n) until the next push. */
static gq_status pop_mark(unpickler *u, size_t *base, size_t *n) {
    if (!u->nmarks) return pk_fail(u, GQ_ERR_FORMAT, "no MARK on the stack");
    *base = u->marks[--u->nmarks];
    *n = u->nstack - *base;
    u->nstack = *base;
    return GQ_OK;
}

static gq_status rd(unpickler *u, size_t n, const uint8_t **out) {
    if (n > u->len - u->pos) return pk_fail(u, GQ_ERR_FORMAT, "truncated pickle (needs %zu more bytes)", n);
    *out = u->p + u->pos;
    u->pos += n;
    return GQ_OK;
}

static gq_status make_tuple(unpickler *u, val **items, size_t n) {
    val *t = newval(u, V_TUPLE);
    if (!t) return u->status;
    if (n) {
        t->u.seq.v = malloc(n * sizeof(val *));
        if (!t->u.seq.v) return pk_fail(u, GQ_ERR_NOMEM, "out of memory");
        memcpy(t->u.seq.v, items, n * sizeof(val *));
        t->u.seq.n = t->u.seq.cap = n;
    }
    return push(u, t);
}

static gq_status push_str(unpickler *u, size_t n) {
    const uint8_t *s = NULL;
    gq_status st = rd(u, n, &s);
    if (st) return st;
    val *v = newval(u, V_STR);
    if (!v) return u->status;
    v->u.s.p = (const char *)s;
    v->u.s.n = n;
    return push(u, v);
}

static gq_status push_int(unpickler *u, int64_t i, vkind kind) {
    val *v = newval(u, kind);
    if (!v) return u->status;
    v->u.i = i;
    return push(u, v);
}

static gq_status memo_put(unpickler *u, size_t idx) {
    val *v = top(u);
    if (!v) return u->status;
    /* A pickler numbers memo entries 0, 1, 2, ...: an index beyond the pickle's length is
     * hostile and would only make us allocate. */
    if (idx >= PK_MAX_MEMO || idx >= u->len) return pk_fail(u, GQ_ERR_FORMAT, "memo index %zu too large", idx);
    if (idx >= u->capmemo) {
        size_t old = u->capmemo;
        if (!grow((void **)&u->memo, &u->capmemo, idx + 1, sizeof *u->memo))
            return pk_fail(u, GQ_ERR_NOMEM, "out of memory");
        memset(u->memo + old, 0, (u->capmemo - old) * sizeof *u->memo);
    }
    if (!u->memo[idx]) u->memo_count++;
    u->memo[idx] = v;
    return GQ_OK;
}

static gq_status memo_get(unpickler *u, size_t idx) {
    if (idx >= u->capmemo || !u->memo[idx]) return pk_fail(u, GQ_ERR_FORMAT, "memo index %zu was never set", idx);
    return push(u, u->memo[idx]);
}

static gq_status push_global(unpickler *u, const char *mod, size_t nmod, const char *name, size_t nname) {
    static const struct {
        const char *mod, *name;
        gkind g;
    } allowed[] = {
        {"collections", "OrderedDict", G_ORDERED_DICT},
        {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2},
        {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER},
    };
    int g = -1, dt = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0] && g < 0; i++)
        if (nmod == strlen(allowed[i].mod) && !memcmp(mod, allowed[i].mod, nmod) && nname == strlen(allowed[i].name) &&
            !memcmp(name, allowed[i].name, nname))
            g = (int)allowed[i].g;
    if (g < 0 && nmod == 5 && !memcmp(mod, "torch", 5))
        for (dt = 0; dt < GQ_DT_COUNT; dt++)
            if (gq_dtypes[dt].storage && nname == strlen(gq_dtypes[dt].storage) &&
                !memcmp(name, gq_dtypes[dt].storage, nname)) {
                g = G_STORAGE;
                break;
            }
    if (g < 0) {
        char a[96], b[96];
        return pk_fail(u, GQ_ERR_FORMAT, "hostile or unsupported pickle: global '%s.%s'", printable(mod, nmod, a),
                       printable(name, nname, b));
    }
    val *v = newval(u, V_GLOBAL);
    if (!v) return u->status;
    v->sub = g;
    v->u.i = dt;
    return push(u, v);
}

/* GLOBAL's operand: "module\nname\n". */
static gq_status read_line(unpickler *u, const char **s, size_t *n) {
    size_t max = u->len - u->pos < PK_MAX_GLOBAL_LEN ? u->len - u->pos : PK_MAX_GLOBAL_LEN;
    const uint8_t *nl = memchr(u->p + u->pos, '\n', max);
    if (!nl) return pk_fail(u, GQ_ERR_FORMAT, "GLOBAL name unterminated or longer than %d bytes", PK_MAX_GLOBAL_LEN);
    *s = (const char *)(u->p + u->pos);
    *n = (size_t)(nl - (u->p + u->pos));
    u->pos += *n + 1;
    return GQ_OK;
}

static int is_str(const val *v, const char *s) {
    return v->kind == V_STR && v->u.s.n == strlen(s) && !memcmp(v->u.s.p, s, v->u.s.n);
}

static int is_int(const val *v) { return v->kind == V_INT || v->kind == V_BOOL; }

/* Reads a tuple of ints (a tensor's size or stride) into out. */
static gq_status int_tuple(unpickler *u, const val *t, int64_t *out, int *n, const char *what) {
    if (t->kind != V_TUPLE) return pk_fail(u, GQ_ERR_FORMAT, "tensor %s is not a tuple", what);
    if (t->u.seq.n > GQ_MAX_DIMS)
        return pk_fail(u, GQ_ERR_UNSUPPORTED, "tensor has %zu dimensions, at most %d supported", t->u.seq.n,
                       GQ_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (t->u.seq.v[i]->kind != V_INT) return pk_fail(u, GQ_ERR_FORMAT, "tensor %s has a non-integer entry", what);
        out[i] = t->u.seq.v[i]->u.i;
        if (out[i] < 0)
            return pk_fail(u, GQ_ERR_UNSUPPORTED, "tensor %s has a negative entry %lld", what, (long long)out[i]);
    }
    *n = (int)t->u.seq.n;
    return GQ_OK;
}

/* REDUCE: calls one of the allowed callables, by interpreting it. */
static gq_status reduce(unpickler *u) {
    val *args = pop(u), *f = args ? pop(u) : NULL;
    if (!f) return u->status;
    if (f->kind != V_GLOBAL || args->kind != V_TUPLE)
        return pk_fail(u, GQ_ERR_FORMAT, "hostile or unsupported pickle: REDUCE on something not an allowed global");
    val **a = args->u.seq.v;
    size_t n = args->u.seq.n;
    switch ((gkind)f->sub) {
    case G_ORDERED_DICT: {
        if (n) return pk_fail(u, GQ_ERR_UNSUPPORTED, "OrderedDict() with arguments");
        val *d = newval(u, V_DICT);
        if (!d) return u->status;
        d->sub = 1;
        return push(u, d);
    }
    case G_REBUILD_PARAMETER:
        /* _rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself */
        if (n != 3 || a[0]->kind != V_TENSOR) return pk_fail(u, GQ_ERR_FORMAT, "bad _rebuild_parameter arguments");
        return push(u, a[0]);
    case G_REBUILD_TENSOR_V2: {
        /* (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
        if ((n != 6 && n != 7) || a[0]->kind != V_STORAGE || a[1]->kind != V_INT || !is_int(a[4]))
            return pk_fail(u, GQ_ERR_FORMAT, "bad _rebuild_tensor_v2 arguments");
        if (a[5]->kind != V_DICT || a[5]->u.seq.n) return pk_fail(u, GQ_ERR_UNSUPPORTED, "tensor with backward hooks");
        val *t = newval(u, V_TENSOR);
        if (!t) return u->status;
        tensor_info *ti = calloc(1, sizeof *ti);
        if (!ti) return pk_fail(u, GQ_ERR_NOMEM, "out of memory");
        t->u.t = ti;
        ti->storage = a[0];
        ti->offset = a[1]->u.i;
        if (ti->offset < 0) return pk_fail(u, GQ_ERR_FORMAT, "negative storage offset");
        int nstride = 0;
        gq_status st = int_tuple(u, a[2], ti->size, &ti->ndim, "size");
        if (!st) st = int_tuple(u, a[3], ti->stride, &nstride, "stride");
        if (st) return st;
        if (nstride != ti->ndim) return pk_fail(u, GQ_ERR_FORMAT, "tensor size and stride differ in length");
        return push(u, t);
    }
    case G_STORAGE: break;
    }
    return pk_fail(u, GQ_ERR_FORMAT, "hostile or unsupported pickle: REDUCE on torch.%s", gq_dtypes[f->u.i].storage);
}

/* BINPERSID: ('storage', torch.<T>Storage, key, location, numel[, view_metadata]), where
 * the legacy format's view_metadata is None or (view_key, offset, numel). */
static gq_status persistent_load(unpickler *u) {
    val *pid = pop(u);
    if (!pid) return u->status;
    val **a = pid->u.seq.v;
    size_t n = pid->kind == V_TUPLE ? pid->u.seq.n : 0;
    if ((n != 5 && n != 6) || !is_str(a[0], "storage") || a[1]->kind != V_GLOBAL || a[1]->sub != G_STORAGE ||
        a[2]->kind != V_STR || a[3]->kind != V_STR || a[4]->kind != V_INT)
        return pk_fail(u, GQ_ERR_FORMAT, "unsupported persistent id (not a storage reference)");
    int dt = (int)a[1]->u.i;
    if (a[4]->u.i < 0 || a[4]->u.i > INT64_MAX / 8)
        return pk_fail(u, GQ_ERR_FORMAT, "storage has %lld elements", (long long)a[4]->u.i);
    val *v = newval(u, V_STORAGE);
    if (!v) return u->status;
    storage_info *si = calloc(1, sizeof *si);
    if (!si) return pk_fail(u, GQ_ERR_NOMEM, "out of memory");
    v->u.st = si;
    *si = (storage_info){dt, a[2]->u.s.p, a[2]->u.s.n, a[4]->u.i, 0, a[4]->u.i};
    if (n == 6 && a[5]->kind != V_NONE) {
        val *m = a[5];
        if (m->kind != V_TUPLE || m->u.seq.n != 3 || m->u.seq.v[1]->kind != V_INT || m->u.seq.v[2]->kind != V_INT)
            return pk_fail(u, GQ_ERR_FORMAT, "bad storage view metadata");
        si->view_off = m->u.seq.v[1]->u.i;
        si->view_numel = m->u.seq.v[2]->u.i;
        if (si->view_off < 0 || si->view_numel < 0 || si->view_off > si->numel ||
            si->view_numel > si->numel - si->view_off)
            return pk_fail(u, GQ_ERR_FORMAT, "storage view [%lld, +%lld) outside its storage of %lld elements",
                           (long long)si->view_off, (long long)si->view_numel, (long long)si->numel);
    }
    return push(u, v);
}

/* Runs the pickle at p[0..len) up to its STOP. On success u->result is the unpickled
 * object and u->pos the number of bytes used; u owns every object until pk_free. */
static gq_status unpickle(unpickler *u, const uint8_t *p, size_t len, const char *path, const char *what, gq_err *err) {
    memset(u, 0, sizeof *u);
    u->p = p;
    u->len = len;
    u->path = path;
    u->what = what;
    u->err = err;
    gq_status st = GQ_OK;
    while (!st) {
        const uint8_t *b = NULL;
        u->op_pos = u->pos;
        if (u->pos >= u->len) return pk_fail(u, GQ_ERR_FORMAT, "truncated pickle (no STOP opcode)");
        uint8_t op = u->p[u->pos++];
        switch (op) {
        case 0x80: /* PROTO */
            if (!(st = rd(u, 1, &b)) && (b[0] < 2 || b[0] > 5))
                st = pk_fail(u, GQ_ERR_UNSUPPORTED, "pickle protocol %d", b[0]);
            break;
        case 0x95: st = rd(u, 8, &b); break; /* FRAME: only a read-ahead hint */
        case '.':                            /* STOP */
            if (!(u->result = pop(u))) return u->status;
            return GQ_OK;
        case '}': st = push(u, newval(u, V_DICT)); break;
        case ']': st = push(u, newval(u, V_LIST)); break;
        case ')': st = make_tuple(u, NULL, 0); break;
        case '(':
            if (u->nmarks >= PK_MAX_MARKS)
                st = pk_fail(u, GQ_ERR_FORMAT, "MARKs nested deeper than %d", PK_MAX_MARKS);
            else
                u->marks[u->nmarks++] = u->nstack;
            break;
        case 't': {
            size_t base = 0, n = 0;
            /* an empty stack may not be allocated yet: no pointer arithmetic on NULL */
            if (!(st = pop_mark(u, &base, &n))) st = make_tuple(u, n ? u->stack + base : NULL, n);
            break;
        }
        case 0x85:
        case 0x86:
        case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            if (u->nstack < floor_(u) + n)
                st = pk_fail(u, GQ_ERR_FORMAT, "stack underflow");
            else
                u->nstack -= n, st = make_tuple(u, u->stack + u->nstack, n);
            break;
        }
        case 'J':
            if (!(st = rd(u, 4, &b))) st = push_int(u, (int32_t)le32(b), V_INT);
            break;
        case 'K':
            if (!(st = rd(u, 1, &b))) st = push_int(u, b[0], V_INT);
            break;
        case 'M':
            if (!(st = rd(u, 2, &b))) st = push_int(u, le16(b), V_INT);
            break;
        case 0x8a: { /* LONG1: n-byte little-endian two's complement */
            const uint8_t *nb = NULL;
            if ((st = rd(u, 1, &nb)) || (st = rd(u, nb[0], &b))) break;
            if (nb[0] > 8) {
                val *v = newval(u, V_BIGINT);
                if (v) v->u.s.p = (const char *)b, v->u.s.n = nb[0];
                st = push(u, v);
                break;
            }
            uint64_t x = 0;
            for (int i = 0; i < nb[0]; i++) x |= (uint64_t)b[i] << (8 * i);
            if (nb[0] && nb[0] < 8 && (b[nb[0] - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * nb[0]);
            st = push_int(u, (int64_t)x, V_INT);
            break;
        }
        case 'X': /* BINUNICODE */
        case 'T': /* BINSTRING */
            if (!(st = rd(u, 4, &b))) {
                if (op == 'T' && (int32_t)le32(b) < 0)
                    st = pk_fail(u, GQ_ERR_FORMAT, "negative string length");
                else
                    st = push_str(u, le32(b));
            }
            break;
        case 0x8c: /* SHORT_BINUNICODE */
        case 'U':  /* SHORT_BINSTRING */
            if (!(st = rd(u, 1, &b))) st = push_str(u, b[0]);
            break;
        case 'q':
            if (!(st = rd(u, 1, &b))) st = memo_put(u, b[0]);
            break;
        case 'r':
            if (!(st = rd(u, 4, &b))) st = memo_put(u, le32(b));
            break;
        case 0x94: st = memo_put(u, u->memo_count); break; /* MEMOIZE */
        case 'h':
            if (!(st = rd(u, 1, &b))) st = memo_get(u, b[0]);
            break;
        case 'j':
            if (!(st = rd(u, 4, &b))) st = memo_get(u, le32(b));
            break;
        case 's': { /* SETITEM */
            val *v = pop(u), *k = v ? pop(u) : NULL, *d = k ? top(u) : NULL;
            if (!d)
                st = u->status;
            else if (d->kind != V_DICT)
                st = pk_fail(u, GQ_ERR_FORMAT, "SETITEM on a non-dict");
            else if (!(st = seq_add(u, d, k)))
                st = seq_add(u, d, v);
            break;
        }
        case 'u': { /* SETITEMS */
            size_t base = 0, n = 0;
            if ((st = pop_mark(u, &base, &n))) break;
            val *d = top(u);
            if (!d)
                st = u->status;
            else if (d->kind != V_DICT || n % 2)
                st = pk_fail(u, GQ_ERR_FORMAT, "SETITEMS on a non-dict or odd items");
            for (size_t i = 0; i < n && !st; i++) st = seq_add(u, d, u->stack[base + i]);
            break;
        }
        case 'a': { /* APPEND */
            val *v = pop(u), *l = v ? top(u) : NULL;
            if (!l)
                st = u->status;
            else if (l->kind != V_LIST)
                st = pk_fail(u, GQ_ERR_FORMAT, "APPEND on a non-list");
            else
                st = seq_add(u, l, v);
            break;
        }
        case 'e': { /* APPENDS */
            size_t base = 0, n = 0;
            if ((st = pop_mark(u, &base, &n))) break;
            val *l = top(u);
            if (!l)
                st = u->status;
            else if (l->kind != V_LIST)
                st = pk_fail(u, GQ_ERR_FORMAT, "APPENDS on a non-list");
            for (size_t i = 0; i < n && !st; i++) st = seq_add(u, l, u->stack[base + i]);
            break;
        }
        case 'c': { /* GLOBAL */
            const char *m = NULL, *n = NULL;
            size_t nm = 0, nn = 0;
            if (!(st = read_line(u, &m, &nm)) && !(st = read_line(u, &n, &nn))) st = push_global(u, m, nm, n, nn);
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            val *n = pop(u), *m = n ? pop(u) : NULL;
            if (!m)
                st = u->status;
            else if (m->kind != V_STR || n->kind != V_STR)
                st = pk_fail(u, GQ_ERR_FORMAT, "STACK_GLOBAL on non-strings");
            else
                st = push_global(u, m->u.s.p, m->u.s.n, n->u.s.p, n->u.s.n);
            break;
        }
        case 'R': st = reduce(u); break;
        case 'b': { /* BUILD: only OrderedDict's attributes (torch's `_metadata`), which we drop */
            val *state = pop(u), *obj = state ? top(u) : NULL;
            if (!obj)
                st = u->status;
            else if (obj->kind != V_DICT || !obj->sub || (state->kind != V_DICT && state->kind != V_NONE))
                st = pk_fail(u, GQ_ERR_FORMAT, "hostile or unsupported pickle: BUILD on something not an OrderedDict");
            break;
        }
        case 'Q': st = persistent_load(u); break;
        case 0x88: st = push_int(u, 1, V_BOOL); break;
        case 0x89: st = push_int(u, 0, V_BOOL); break;
        case 'N': st = push(u, newval(u, V_NONE)); break;
        case 'G': { /* BINFLOAT: big-endian double */
            if ((st = rd(u, 8, &b))) break;
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x = x << 8 | b[i];
            val *v = newval(u, V_FLOAT);
            if (v) memcpy(&v->u.f, &x, 8);
            st = push(u, v);
            break;
        }
        default: st = pk_fail(u, GQ_ERR_FORMAT, "hostile or unsupported pickle: opcode 0x%02x not allowed", op);
        }
    }
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* from a state dict to tensors                                                         */

/* Gives the bytes of the storage named by si (numel elements of its dtype, validated by
 * the resolver against the file), or fails with err set. */
typedef gq_status (*resolve_fn)(void *ctx, const storage_info *si, const uint8_t **data);

/* Copies tensor ti (gathering by strides) out of its storage into dst. */
static void gather(float *dst, const tensor_info *ti, const uint8_t *base, int dt) {
    int nd = ti->ndim;
    if (nd == 0) {
        gq_ckpt_convert(dst, base, (gq_dtype)dt, 1, 1);
        return;
    }
    int64_t idx[GQ_MAX_DIMS] = {0}, inner = ti->size[nd - 1];
    size_t esz = (size_t)gq_dtypes[dt].size;
    for (;;) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; d++) off += idx[d] * ti->stride[d];
        gq_ckpt_convert(dst, base + (size_t)off * esz, (gq_dtype)dt, inner, ti->stride[nd - 1]);
        dst += inner;
        int d = nd - 2;
        while (d >= 0 && ++idx[d] == ti->size[d]) idx[d--] = 0;
        if (d < 0) return;
    }
}

static int is_contiguous(const tensor_info *ti) {
    int64_t want = 1;
    for (int d = ti->ndim - 1; d >= 0; d--) {
        if (ti->size[d] != 1 && ti->stride[d] != want) return 0;
        want *= ti->size[d];
    }
    return 1;
}

/* Adds tensor `name` to ck. With may_view, a contiguous aligned F32 tensor stays in the
 * checkpoint's copy-on-write file mapping instead of being copied. */
static gq_status emit_tensor(gq_ckpt *ck, const char *name, const tensor_info *ti, const uint8_t *storage, int may_view,
                             const char *path, gq_err *err) {
    const storage_info *si = ti->storage->u.st;
    /* Every element index offset + sum(i_d * stride_d) must lie inside the storage view;
     * the sums are bounded step by step, so nothing overflows. */
    int64_t avail = si->view_numel, numel = 1, last = ti->offset;
    for (int d = 0; d < ti->ndim; d++) {
        if (ti->size[d] && numel > INT64_MAX / ti->size[d])
            return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has too many elements", path, name);
        numel *= ti->size[d];
    }
    if (numel > avail)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has %lld elements but its storage only %lld", path, name,
                       (long long)numel, (long long)avail);
    if (!numel) { /* nothing to read, and its offset may point anywhere */
        float *empty = NULL;
        return gq_ckpt_add(ck, name, ti->ndim, ti->size, &empty, path, err);
    }
    for (int d = 0; d < ti->ndim; d++) {
        if (ti->stride[d] && ti->size[d] - 1 > (avail - last) / ti->stride[d]) {
            last = avail;
            break;
        }
        last += (ti->size[d] - 1) * ti->stride[d];
    }
    if (last >= avail)
        return gq_fail(err, GQ_ERR_FORMAT,
                       "%s: tensor '%s' (offset %lld, %d dims) reaches past its storage of %lld elements", path, name,
                       (long long)ti->offset, ti->ndim, (long long)avail);
    const uint8_t *first = storage + (size_t)(si->view_off + ti->offset) * (size_t)gq_dtypes[si->dtype].size;
    gq_ckpt_note_dtype(ck, gq_dtypes[si->dtype].name);
    if (may_view && si->dtype == GQ_DT_F32 && is_contiguous(ti) && (uintptr_t)first % sizeof(float) == 0)
        return gq_ckpt_add_view(ck, name, ti->ndim, ti->size, (float *)(uintptr_t)first, path, err);
    float *dst = NULL;
    gq_status st = gq_ckpt_add(ck, name, ti->ndim, ti->size, &dst, path, err);
    if (st == GQ_OK) gather(dst, ti, first, si->dtype);
    return st;
}

/* Whether the tensor at item i of state dict sd shares its storage with another entry
 * (tied weights): such tensors are copied, so that writing into one (quantization) does
 * not change the other, as with the other formats. */
static int shared(const val *sd, size_t i) {
    const storage_info *a = sd->u.seq.v[i + 1]->u.t->storage->u.st;
    for (size_t j = 1; j < sd->u.seq.n; j += 2) {
        const val *v = sd->u.seq.v[j];
        if (j == i + 1 || v->kind != V_TENSOR) continue;
        const storage_info *b = v->u.t->storage->u.st;
        if (a->keylen == b->keylen && !memcmp(a->key, b->key, a->keylen)) return 1;
    }
    return 0;
}

/* Adds every tensor of the unpickled state dict `sd` to ck; buf[0..len) is the file. */
static gq_status emit_state_dict(gq_ckpt *ck, const val *sd, resolve_fn resolve, void *ctx, const uint8_t *buf,
                                 size_t len, const char *path, gq_err *err) {
    if (sd->kind != V_DICT) return gq_fail(err, GQ_ERR_FORMAT, "%s: the pickle is not a state dict", path);
    /* Views are safe only into ck's own mapping, which lives as long as ck, and only where
     * the host reads little-endian floats as they are. */
    uintptr_t b = (uintptr_t)buf, m = (uintptr_t)ck->map;
    int in_map = ck->map && b >= m && len <= ck->map_len && b - m <= ck->map_len - len &&
                 __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    for (size_t i = 0; i + 1 < sd->u.seq.n; i += 2) {
        const val *k = sd->u.seq.v[i], *v = sd->u.seq.v[i + 1];
        if (k->kind != V_STR || memchr(k->u.s.p, '\0', k->u.s.n) || k->u.s.n > 4096)
            return gq_fail(err, GQ_ERR_FORMAT, "%s: state dict key %zu is not a tensor name", path, i / 2);
        char *name = malloc(k->u.s.n + 1);
        if (!name) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
        memcpy(name, k->u.s.p, k->u.s.n);
        name[k->u.s.n] = '\0';
        const uint8_t *data = NULL;
        gq_status st = GQ_OK;
        if (v->kind != V_TENSOR)
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: state dict entry '%s' is not a tensor", path, name);
        if (!st) st = resolve(ctx, v->u.t->storage->u.st, &data);
        if (!st) st = emit_tensor(ck, name, v->u.t, data, in_map && !shared(sd, i), path, err);
        free(name);
        if (st) return st;
    }
    return GQ_OK;
}

/* ------------------------------------------------------------------------------------ */
/* zip (torch >= 1.6)                                                                   */

typedef struct {
    const char *name;
    size_t namelen;
    uint16_t method;
    uint32_t crc;
    uint64_t size, csize, local; /* uncompressed and compressed size, local header offset */
    int checked;                 /* local header, bounds and CRC verified */
} zentry;

typedef struct {
    const uint8_t *buf;
    size_t len;
    const char *path;
    gq_err *err;
    zentry *e; /* sorted by name */
    size_t n;
    const char *prefix; /* "<archive>/" */
    size_t prefixlen;
    gq_crc32_tables crc;
} zipfile;

static int zcmp(const void *a, const void *b) {
    const zentry *x = a, *y = b;
    size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->namelen > y->namelen) - (x->namelen < y->namelen);
}

/* Reads the central directory (zip64 included) into z->e, checking it lies in the file. */
static gq_status zip_open(zipfile *z) {
    const uint8_t *b = z->buf;
    size_t len = z->len, eocd = 0;
    int found = 0;
    /* The end-of-central-directory record is the last 22 bytes plus a comment of < 64 KiB. */
    for (size_t back = 22; back <= len && back <= 22 + 65535 && !found; back++) {
        size_t at = len - back;
        if (le32(b + at) == 0x06054b50 && at + 22 + le16(b + at + 20) <= len) eocd = at, found = 1;
    }
    if (!found)
        return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: no end-of-central-directory record (truncated?)", z->path);
    uint64_t count = le16(b + eocd + 10), cdsize = le32(b + eocd + 12), cdoff = le32(b + eocd + 16);
    if (count == 0xFFFF || cdsize == 0xFFFFFFFF || cdoff == 0xFFFFFFFF) {
        if (eocd < 20 || le32(b + eocd - 20) != 0x07064b50)
            return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: zip64 locator missing", z->path);
        uint64_t r = le64(b + eocd - 20 + 8);
        if (r > len || len - r < 56 || le32(b + r) != 0x06064b50)
            return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: zip64 end record outside the file or corrupt", z->path);
        count = le64(b + r + 32);
        cdsize = le64(b + r + 40);
        cdoff = le64(b + r + 48);
    }
    if (cdoff > len || cdsize > len - cdoff || count > cdsize / 46)
        return gq_fail(z->err, GQ_ERR_FORMAT,
                       "%s: zip: central directory (%llu entries, %llu bytes at %llu) does not fit in the file",
                       z->path, (unsigned long long)count, (unsigned long long)cdsize, (unsigned long long)cdoff);
    z->e = calloc(count ? count : 1, sizeof *z->e);
    if (!z->e) return gq_fail(z->err, GQ_ERR_NOMEM, "%s: out of memory", z->path);
    const uint8_t *p = b + cdoff, *end = p + cdsize;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || le32(p) != 0x02014b50)
            return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: central directory entry %llu is corrupt or truncated",
                           z->path, (unsigned long long)i);
        size_t nl = le16(p + 28), xl = le16(p + 30), cl = le16(p + 32);
        if ((size_t)(end - p) < 46 + nl + xl + cl)
            return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: central directory entry %llu is truncated", z->path,
                           (unsigned long long)i);
        zentry *e = &z->e[z->n++];
        e->name = (const char *)p + 46;
        e->namelen = nl;
        e->method = le16(p + 10);
        e->crc = le32(p + 16);
        e->csize = le32(p + 20);
        e->size = le32(p + 24);
        e->local = le32(p + 42);
        /* zip64 extra field: the 8-byte values of exactly those fields that are 0xFFFFFFFF */
        for (const uint8_t *x = p + 46 + nl, *xe = x + xl; xe - x >= 4;) {
            size_t id = le16(x), sz = le16(x + 2);
            if ((size_t)(xe - x) - 4 < sz) break;
            if (id == 1) {
                const uint8_t *q = x + 4, *qe = q + sz;
                uint64_t *fields[3] = {&e->size, &e->csize, &e->local};
                for (int f = 0; f < 3; f++) {
                    if (*fields[f] != 0xFFFFFFFF) continue;
                    if (qe - q < 8)
                        return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: entry %llu has a truncated zip64 field",
                                       z->path, (unsigned long long)i);
                    *fields[f] = le64(q);
                    q += 8;
                }
            }
            x += 4 + sz;
        }
        p += 46 + nl + xl + cl;
    }
    qsort(z->e, z->n, sizeof *z->e, zcmp);
    return GQ_OK;
}

/* Finds entry `name` (NUL-free, namelen bytes), checks it is stored, in bounds and intact,
 * and returns its data. A missing entry gives GQ_ERR_FORMAT with the name in err. */
static gq_status zip_get(zipfile *z, const char *name, size_t namelen, const uint8_t **data, uint64_t *size) {
    zentry key = {.name = name, .namelen = namelen};
    zentry *e = bsearch(&key, z->e, z->n, sizeof *z->e, zcmp);
    char pn[96];
    if (!e) return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: entry '%s' missing", z->path, printable(name, namelen, pn));
    if (e->method != 0)
        return gq_fail(z->err, GQ_ERR_UNSUPPORTED,
                       "%s: zip: entry '%s' is compressed (method %u); only stored entries are supported", z->path,
                       printable(name, namelen, pn), e->method);
    if (!e->checked) {
        const uint8_t *b = z->buf;
        if (e->local > z->len || z->len - e->local < 30 || le32(b + e->local) != 0x04034b50)
            return gq_fail(z->err, GQ_ERR_FORMAT,
                           "%s: zip: entry '%s': local header at %llu outside the file or corrupt", z->path,
                           printable(name, namelen, pn), (unsigned long long)e->local);
        uint64_t at = e->local + 30 + le16(b + e->local + 26) + le16(b + e->local + 28);
        if (le16(b + e->local + 26) != namelen || (at <= z->len && memcmp(b + e->local + 30, name, namelen)) ||
            e->csize != e->size || at > z->len || e->size > z->len - at)
            return gq_fail(z->err, GQ_ERR_FORMAT,
                           "%s: zip: entry '%s': data (%llu bytes at %llu) outside the file or corrupt", z->path,
                           printable(name, namelen, pn), (unsigned long long)e->size, (unsigned long long)at);
        if (gq_ckpt_crc32(&z->crc, b + at, (size_t)e->size) != e->crc && !GQ_FUZZING)
            return gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: entry '%s': CRC mismatch (corrupt file)", z->path,
                           printable(name, namelen, pn));
        e->local = at; /* from now on: where the data starts */
        e->checked = 1;
    }
    *data = z->buf + e->local;
    *size = e->size;
    return GQ_OK;
}

/* Gets entry "<archive>/<dir><key>"; when `optional` and it is absent, *data = NULL. */
static gq_status zip_member(zipfile *z, const char *dir, const char *key, size_t keylen, int optional,
                            const uint8_t **data, uint64_t *size) {
    size_t nd = strlen(dir), n = z->prefixlen + nd + keylen;
    char *name = malloc(n ? n : 1);
    if (!name) return gq_fail(z->err, GQ_ERR_NOMEM, "%s: out of memory", z->path);
    memcpy(name, z->prefix, z->prefixlen);
    memcpy(name + z->prefixlen, dir, nd);
    memcpy(name + z->prefixlen + nd, key, keylen);
    zentry k = {.name = name, .namelen = n};
    gq_status st = GQ_OK;
    *data = NULL;
    if (!optional || bsearch(&k, z->e, z->n, sizeof *z->e, zcmp)) st = zip_get(z, name, n, data, size);
    free(name);
    return st;
}

static gq_status zip_resolve(void *ctx, const storage_info *si, const uint8_t **data) {
    zipfile *z = ctx;
    uint64_t size = 0;
    gq_status st = zip_member(z, "data/", si->key, si->keylen, 0, data, &size);
    char pn[96];
    if (!st && size != (uint64_t)si->numel * (uint64_t)gq_dtypes[si->dtype].size)
        st = gq_fail(z->err, GQ_ERR_FORMAT, "%s: zip: storage '%s' has %llu bytes, expected %lld elements of %d bytes",
                     z->path, printable(si->key, si->keylen, pn), (unsigned long long)size, (long long)si->numel,
                     gq_dtypes[si->dtype].size);
    return st;
}

gq_status gq_ckpt_read_torch_zip(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err) {
    zipfile z = {.buf = buf, .len = len, .path = path, .err = err};
    unpickler u = {0};
    gq_ckpt_crc32_tables(&z.crc);
    gq_status st = zip_open(&z);
    /* The archive's top folder is named after the file torch.save wrote ("archive",
     * "pytorch_model", ...): take it from the one "<folder>/data.pkl" entry. */
    const zentry *pkl = NULL;
    for (size_t i = 0; !st && i < z.n; i++) {
        const zentry *e = &z.e[i];
        const char *slash = memchr(e->name, '/', e->namelen);
        if (slash && (size_t)(e->name + e->namelen - slash) == 9 && !memcmp(slash, "/data.pkl", 9)) {
            if (pkl) st = gq_fail(err, GQ_ERR_FORMAT, "%s: zip: more than one */data.pkl entry", path);
            pkl = e;
        }
    }
    if (!st && !pkl)
        st = gq_fail(err, GQ_ERR_FORMAT, "%s: zip: no <archive>/data.pkl entry (not a PyTorch checkpoint?)", path);
    const uint8_t *data = NULL;
    uint64_t size = 0;
    if (!st) {
        z.prefix = pkl->name;
        z.prefixlen = pkl->namelen - 8;
        st = zip_get(&z, pkl->name, pkl->namelen, &data, &size);
    }
    /* Torch writes byteorder "little" or "big" (absent before 1.10 means little). */
    const uint8_t *bo = NULL;
    uint64_t nbo = 0;
    if (!st && !(st = zip_member(&z, "byteorder", "", 0, 1, &bo, &nbo)) && bo &&
        !(nbo == 6 && !memcmp(bo, "little", 6)))
        st = gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: zip: byteorder is not 'little'", path);
    if (!st) st = unpickle(&u, data, (size_t)size, path, "data.pkl", err);
    if (!st) st = emit_state_dict(ck, u.result, zip_resolve, &z, buf, len, path, err);
    pk_free(&u);
    free(z.e);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* legacy (torch < 1.6): magic, protocol, sys_info, state dict, storage keys, storages  */

typedef struct {
    const char *key;
    size_t keylen;
    int dtype;
    int64_t numel;
    const uint8_t *data;
} lstorage;

typedef struct {
    lstorage *s;
    size_t n;
    const char *path;
    gq_err *err;
} legacy;

static gq_status legacy_resolve(void *ctx, const storage_info *si, const uint8_t **data) {
    legacy *l = ctx;
    for (size_t i = 0; i < l->n; i++)
        if (l->s[i].keylen == si->keylen && !memcmp(l->s[i].key, si->key, si->keylen)) {
            *data = l->s[i].data;
            return GQ_OK;
        }
    char pn[96];
    return gq_fail(l->err, GQ_ERR_FORMAT, "%s: storage '%s' is not in the file", l->path,
                   printable(si->key, si->keylen, pn));
}

/* The legacy magic number 0x1950a86a20f9469cfc6c as LONG1's little-endian bytes. */
static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

gq_status gq_ckpt_read_torch_legacy(gq_ckpt *ck, const uint8_t *buf, size_t len, const char *path, gq_err *err) {
    unpickler head = {0}, sd = {0}, keys = {0};
    legacy l = {.path = path, .err = err};
    size_t pos = 0;
    gq_status st = unpickle(&head, buf, len, path, "magic number", err);
    if (!st &&
        !(head.result->kind == V_BIGINT && head.result->u.s.n == 10 && !memcmp(head.result->u.s.p, legacy_magic, 10)))
        st = gq_fail(err, GQ_ERR_FORMAT, "%s: not a PyTorch file (bad magic number)", path);
    pos += head.pos;
    pk_free(&head);
    if (!st) st = unpickle(&head, buf + pos, len - pos, path, "protocol version", err);
    if (!st && !(head.result->kind == V_INT && head.result->u.i == 1001))
        st = gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: legacy protocol version is not 1001", path);
    pos += head.pos;
    pk_free(&head);
    if (!st) st = unpickle(&head, buf + pos, len - pos, path, "sys_info", err);
    if (!st) {
        const val *si = head.result;
        if (si->kind != V_DICT) st = gq_fail(err, GQ_ERR_FORMAT, "%s: sys_info is not a dict", path);
        for (size_t i = 0; !st && i + 1 < si->u.seq.n; i += 2)
            if (is_str(si->u.seq.v[i], "little_endian") &&
                !(si->u.seq.v[i + 1]->kind == V_BOOL && si->u.seq.v[i + 1]->u.i))
                st = gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: big-endian legacy checkpoint", path);
    }
    pos += head.pos;
    pk_free(&head);
    if (!st) st = unpickle(&sd, buf + pos, len - pos, path, "state dict pickle", err);
    pos += sd.pos;
    if (!st) st = unpickle(&keys, buf + pos, len - pos, path, "storage key list", err);
    pos += keys.pos;
    const val *kl = keys.result;
    if (!st && kl->kind != V_LIST) st = gq_fail(err, GQ_ERR_FORMAT, "%s: storage key list is not a list", path);
    if (!st && !(l.s = calloc(kl->u.seq.n ? kl->u.seq.n : 1, sizeof *l.s)))
        st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    /* Storages follow in key-list order, each as an 8-byte element count and raw data;
     * a storage's element size is known only from the state dict's references to it. */
    for (size_t i = 0; !st && i < kl->u.seq.n; i++) {
        const val *k = kl->u.seq.v[i];
        char pn[96];
        if (k->kind != V_STR) {
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: storage key %zu is not a string", path, i);
            break;
        }
        const storage_info *ref = NULL;
        for (size_t j = 0; j < sd.nall && !st; j++) {
            const val *v = sd.all[j];
            if (v->kind != V_STORAGE || v->u.st->keylen != k->u.s.n || memcmp(v->u.st->key, k->u.s.p, k->u.s.n))
                continue;
            if (ref && (ref->dtype != v->u.st->dtype || ref->numel != v->u.st->numel))
                st = gq_fail(err, GQ_ERR_FORMAT, "%s: storage '%s' is referenced with different types or sizes", path,
                             printable(k->u.s.p, k->u.s.n, pn));
            ref = v->u.st;
        }
        if (st) break;
        if (!ref) {
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: storage '%s' is not used by any tensor", path,
                         printable(k->u.s.p, k->u.s.n, pn));
            break;
        }
        for (size_t j = 0; j < l.n && !st; j++)
            if (l.s[j].keylen == k->u.s.n && !memcmp(l.s[j].key, k->u.s.p, k->u.s.n))
                st = gq_fail(err, GQ_ERR_FORMAT, "%s: storage '%s' listed twice", path,
                             printable(k->u.s.p, k->u.s.n, pn));
        if (st) break;
        uint64_t bytes = (uint64_t)ref->numel * (uint64_t)gq_dtypes[ref->dtype].size;
        if (len - pos < 8 || le64(buf + pos) != (uint64_t)ref->numel || bytes > len - pos - 8) {
            st = gq_fail(err, GQ_ERR_FORMAT,
                         "%s: storage '%s' (%lld elements at byte %zu) is truncated or has the wrong size", path,
                         printable(k->u.s.p, k->u.s.n, pn), (long long)ref->numel, pos);
            break;
        }
        l.s[l.n++] = (lstorage){k->u.s.p, k->u.s.n, ref->dtype, ref->numel, buf + pos + 8};
        pos += 8 + (size_t)bytes;
    }
    if (!st && pos != len)
        st = gq_fail(err, GQ_ERR_FORMAT, "%s: %zu unexpected bytes after the last storage", path, len - pos);
    if (!st) st = emit_state_dict(ck, sd.result, legacy_resolve, &l, buf, len, path, err);
    free(l.s);
    pk_free(&sd);
    pk_free(&keys);
    return st;
}
