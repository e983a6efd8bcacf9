/* glue: the GLUE task table and the loader of their TSV split files (see glue.h).
 *
 * A file is read whole and hashed; then one pass checks that it is valid UTF-8 without NUL
 * bytes (so that an error can name the line) and folds CRLF to LF. libcsv then parses it
 * as plain TSV: tab delimiter, only LF ends a row, no byte counts as space (fields keep
 * their leading and trailing blanks), and the quote byte is 0xFF, which never occurs in
 * valid UTF-8, so `"` is an ordinary character as the GLUE files need (their texts open
 * and close with quotes that are part of the sentence).
 */
#include "glue.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

/* Line numbers and row counts are ints; real GLUE splits are a few MB. */

/* A byte that valid UTF-8 never contains: libcsv's quote, i.e. no quoting at all. */
#define NO_QUOTE 0xFF

static const gq_glue_task tasks[] = {
    {"mrpc", "MRPC", 2, {"0", "1"}, 1},
    {"rte", "RTE", 2, {"entailment", "not_entailment"}, 0},
    {"qnli", "QNLI", 2, {"entailment", "not_entailment"}, 0},
};

/* The columns of one kind of split file; col_label < 0 marks an unlabelled split. */
typedef struct {
    const char *task;
    int ncols;
    const char *cols[5];
    int col_a, col_b, col_label;
} layout;

static const layout layouts[] = {
    {"mrpc", 5, {"Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"}, 3, 4, 0},
    {"rte", 4, {"index", "sentence1", "sentence2", "label"}, 1, 2, 3},
    {"qnli", 4, {"index", "question", "sentence", "label"}, 1, 2, 3},
    {"qnli", 3, {"index", "question", "sentence"}, 1, 2, -1}, /* test.tsv */
};
#define N_LAYOUTS ((int)(sizeof layouts / sizeof layouts[0]))

static int lower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

const gq_glue_task *gq_glue_task_find(const char *name) {
    if (!name) return NULL;
    for (size_t t = 0; t < sizeof tasks / sizeof tasks[0]; t++) {
        const char *a = tasks[t].name, *b = name;
        while (*a && lower_ascii((unsigned char)*a) == lower_ascii((unsigned char)*b)) a++, b++;
        if (!*a && !*b) return &tasks[t];
    }
    return NULL;
}

const char *gq_glue_task_names(void) { return "mrpc, rte, qnli"; }

char *gq_glue_split_path(const gq_glue_task *task, const char *root, const char *split) {
    size_t n = strlen(root) + strlen(task->dir) + strlen(split) + sizeof "//.tsv";
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s/%s.tsv", root, task->dir, split);
    return p;
}

void gq_glue_free(gq_glue_set *set) {
    if (!set) return;
    free(set->rows);
    free(set->path);
    free(set->storage);
    free(set);
}

/* Length of the UTF-8 sequence starting at s (at most n bytes available), or 0 if it is
 * invalid: overlong forms, surrogates and code points above U+10FFFF are refused. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Checks that s[0..*n) is valid UTF-8 without NUL bytes, folds each CRLF to LF in place
 * (shrinking *n) and counts the LFs into *n_lf. Errors name the line of the bad byte. */
static gq_status check_text(const char *path, char *s, size_t *n, size_t *n_lf, gq_err *err) {
    unsigned char *u = (unsigned char *)s;
    size_t len = *n, w = 0, line_start = 0, lf = 0;
    for (size_t r = 0; r < len;) {
        unsigned c = u[r];
        size_t k = 1;
        if (c == '\r' && r + 1 < len && u[r + 1] == '\n') {
            r++; /* drop the CR of a CRLF; the LF is copied next round */
            continue;
        }
        if (c == '\n') {
            lf++;
            line_start = r + 1;
        } else if (c == 0) {
            return gq_fail(err, GQ_ERR_FORMAT, "%s: line %zu: NUL byte at byte %zu of the line", path, lf + 1,
                           r - line_start + 1);
        } else if (c >= 0x80 && (k = utf8_seq(u + r, len - r)) == 0) {
            return gq_fail(err, GQ_ERR_UTF8, "%s: line %zu: invalid UTF-8 (byte 0x%02X at byte %zu of the line)", path,
                           lf + 1, c, r - line_start + 1);
        }
        memmove(u + w, u + r, k);
        w += k;
        r += k;
    }
    *n = w;
    *n_lf = lf;
    return GQ_OK;
}

typedef struct {
    const char *path;
    const gq_glue_task *task;
    const layout *lay; /* NULL until the header (line 1) has been matched */
    gq_glue_set *set;
    size_t used;       /* bytes of set->storage in use */
    int line;          /* 1-based line of the row being read */
    int nfields;       /* fields seen so far in this row */
    size_t a, b;       /* offsets in storage of this row's two texts */
    char label[48];    /* this row's label field, truncated to fit */
    size_t label_len;  /* its full length */
    gq_status status;  /* the first failure; later callbacks do nothing */
    gq_err *err;
} parser;

/* Appends a field and its NUL to the storage. The storage has one byte more than the
 * file, and every field is followed in the file by a tab or LF (or is the file's end),
 * so it always fits. */
static size_t store_field(parser *p, const void *s, size_t len) {
    size_t at = p->used;
    if (len) memcpy(p->set->storage + at, s, len);
    p->set->storage[at + len] = '\0';
    p->used += len + 1;
    return at;
}

static void on_field(void *s, size_t len, void *data) {
    parser *p = data;
    if (p->status != GQ_OK) return;
    int i = p->nfields++;
    if (!p->lay) { /* header: keep every name until the row ends */
        store_field(p, s, len);
    } else if (i == p->lay->col_a) {
        p->a = store_field(p, s, len);
    } else if (i == p->lay->col_b) {
        p->b = store_field(p, s, len);
    } else if (i == p->lay->col_label) {
        size_t k = len < sizeof p->label - 1 ? len : sizeof p->label - 1;
        if (k) memcpy(p->label, s, k);
        p->label[k] = '\0';
        p->label_len = len;
    }
}

/* Writes names joined by a visible "\t" into dst (cap bytes), truncating with "...". */
static void join_names(char *dst, size_t cap, const char *const *names, int n) {
    size_t w = 0;
    dst[0] = '\0';
    for (int i = 0; i < n && w < cap; i++) {
        int k = snprintf(dst + w, cap - w, "%s%s", i ? "\\t" : "", names[i]);
        if (k < 0 || (size_t)k >= cap - w) {
            if (cap > 4) memcpy(dst + cap - 4, "...", 4);
            return;
        }
        w += (size_t)k;
    }
}

static void match_header(parser *p) {
    const char *seen[64];
    int n = p->nfields < 64 ? p->nfields : 64;
    const char *s = p->set->storage;
    for (int i = 0; i < n; i++, s += strlen(s) + 1) seen[i] = s;
    const layout *first = NULL;
    for (int l = 0; l < N_LAYOUTS; l++) {
        const layout *L = &layouts[l];
        if (strcmp(L->task, p->task->name) != 0) continue;
        if (!first) first = L;
        int ok = L->ncols == p->nfields;
        for (int i = 0; ok && i < L->ncols; i++) ok = strcmp(L->cols[i], seen[i]) == 0;
        if (ok) {
            p->lay = L;
            p->set->labelled = L->col_label >= 0;
            p->used = 0; /* the names are no longer needed */
            return;
        }
    }
    char want[256], got[256];
    join_names(want, sizeof want, first->cols, first->ncols);
    join_names(got, sizeof got, seen, n);
    p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line 1: header is '%s', expected '%s'%s", p->path, got, want,
                        strcmp(p->task->name, "qnli") == 0 ? " (or, unlabelled, without 'label')" : "");
}

static void end_row(parser *p) {
    const layout *L = p->lay;
    if (p->nfields == 0) {
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: empty line, expected %d tab-separated fields", p->path,
                            p->line, L->ncols);
        return;
    }
    if (p->nfields != L->ncols) {
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: %d tab-separated fields, the header has %d", p->path,
                            p->line, p->nfields, L->ncols);
        return;
    }
    int label = -1;
    if (L->col_label >= 0) {
        const gq_glue_task *t = p->task;
        for (int i = 0; i < t->n_labels && label < 0; i++)
            if (p->label_len == strlen(t->labels[i]) && strcmp(p->label, t->labels[i]) == 0) label = i;
        if (label < 0) {
            p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: unknown label '%s%s' (expected '%s' or '%s')",
                                p->path, p->line, p->label, p->label_len >= sizeof p->label ? "..." : "",
                                t->labels[0], t->labels[1]);
            return;
        }
    }
    gq_glue_set *set = p->set;
    set->rows[set->n++] = (gq_glue_row){set->storage + p->a, set->storage + p->b, label, p->line};
}

static void on_row(int c, void *data) {
    parser *p = data;
    if (p->status == GQ_OK) {
        if (!p->lay) match_header(p);
        else end_row(p);
    }
    p->line++;
    p->nfields = 0;
}

static int no_space(unsigned char c) { return 0; }
static int is_lf(unsigned char c) { return c == '\n'; }

gq_status gq_glue_load(const gq_glue_task *task, const char *path, gq_glue_set **out, gq_err *err) {
    *out = NULL;
    if (!task || !path) return gq_fail(err, GQ_ERR_ARG, "gq_glue_load: no task or no path given");
    char *buf = NULL;
    size_t len = 0;
    const gq_text_limits lim = {GQ_GLUE_MAX_FILE_BYTES, GQ_GLUE_MAX_LINES, GQ_GLUE_MAX_LINE_BYTES};
    gq_status st = gq_read_text(path, &lim, &buf, &len, err);
    if (st != GQ_OK) return st;
    st = gq_glue_parse(task, path, buf, len, out, err);
    free(buf);
    return st;
}

gq_status gq_glue_parse(const gq_glue_task *task, const char *path, char *buf, size_t len, gq_glue_set **out,
                        gq_err *err) {
    *out = NULL;
    int known = 0;
    for (int l = 0; l < N_LAYOUTS; l++) known |= strcmp(layouts[l].task, task->name) == 0;
    if (!known) return gq_fail(err, GQ_ERR_ARG, "%s: task '%s' is not one of %s", path, task->name, gq_glue_task_names());
    gq_status st = GQ_OK;
    gq_glue_set *set = calloc(1, sizeof *set);
    if (!set || !(set->path = gq_strdup(path))) {
        st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    set->task = task;
    gq_sha256_hex(buf, len, set->sha256);

    size_t skip = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* MRPC's BOM */
    char *text = buf + skip;
    size_t n = len - skip, n_lf = 0;
    if (n == 0) {
        st = gq_fail(err, GQ_ERR_FORMAT, "%s: empty file (expected a header line)", path);
        goto done;
    }
    if ((st = check_text(path, text, &n, &n_lf, err)) != GQ_OK) goto done;
    set->storage = malloc(n + 1);
    set->rows = gq_malloc_array(n_lf + 1, sizeof *set->rows); /* at most one row per line */
    if (!set->storage || !set->rows) {
        st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory for %zu lines", path, n_lf + 1);
        goto done;
    }

    struct csv_parser cp;
    if (csv_init(&cp, CSV_REPALL_NL) != 0) {
        st = gq_fail(err, GQ_ERR_NOMEM, "%s: cannot initialise libcsv", path);
        goto done;
    }
    csv_set_delim(&cp, '\t');
    csv_set_quote(&cp, NO_QUOTE);
    csv_set_space_func(&cp, no_space);
    csv_set_term_func(&cp, is_lf); /* CR was folded; a lone CR stays part of the text */
    /* libcsv's buffer through this program's allocator, as every other allocation, so that
     * the allocation-failure tests (tests/testnomem.h) reach its growth too */
    csv_set_realloc_func(&cp, realloc);
    csv_set_free_func(&cp, free);
    parser p = {.path = path, .task = task, .set = set, .line = 1, .status = GQ_OK, .err = err};
    /* CSV_REPALL_NL: an empty line is reported as a row of zero fields, so that it is an
     * error with its line number and line counting stays exact. */
    if (csv_parse(&cp, text, n, on_field, on_row, &p) != n || csv_fini(&cp, on_field, on_row, &p) != 0) {
        if (p.status == GQ_OK) p.status = gq_fail(err, GQ_ERR_NOMEM, "%s: libcsv: %s", path, csv_strerror(csv_error(&cp)));
    }
    csv_free(&cp);
    st = p.status;

done:
    if (st != GQ_OK) {
        gq_glue_free(set);
        return st;
    }
    *out = set;
    return GQ_OK;
}
