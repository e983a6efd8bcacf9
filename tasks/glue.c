/* glue: the GLUE task table, the loader of their TSV split files and the label orders
 * (see glue.h).
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
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Line numbers and row counts are ints; real GLUE splits are a few hundred MB at most. */

/* A byte that valid UTF-8 never contains: libcsv's quote, i.e. no quoting at all. */
#define NO_QUOTE 0xFF

#define ACC GQ_METRIC_BIT(GQ_METRIC_ACCURACY)
#define F1 GQ_METRIC_BIT(GQ_METRIC_F1)
#define MCC GQ_METRIC_BIT(GQ_METRIC_MCC)
#define CORR (GQ_METRIC_BIT(GQ_METRIC_PEARSON) | GQ_METRIC_BIT(GQ_METRIC_SPEARMAN))

/* Label strings and their default order are those of the GLUE files and of Hugging
 * Face's GLUE processors, which the textattack checkpoints were trained with (MNLI:
 * contradiction, entailment, neutral). CoLA also reports accuracy, beside GLUE's MCC. */
const gq_glue_task gq_glue_tasks[] = {
    {"cola", "CoLA", "CoLA", 2, {"0", "1"}, {"unacceptable", "acceptable"}, 1, ACC | MCC, GQ_METRIC_MCC, 1, {"dev"}, {""}},
    {"sst2", "SST-2", "SST-2", 2, {"0", "1"}, {"negative", "positive"}, 1, ACC, GQ_METRIC_ACCURACY, 1, {"dev"}, {""}},
    {"mrpc", "MRPC", "MRPC", 2, {"0", "1"}, {"not_equivalent", "equivalent"}, 0, ACC | F1, GQ_METRIC_ACCURACY, 1,
     {"dev"}, {""}},
    {"stsb", "STS-B", "STS-B", 1, {NULL}, {NULL}, 0, CORR, GQ_METRIC_PEARSON, 1, {"dev"}, {""}},
    {"qqp", "QQP", "QQP", 2, {"0", "1"}, {"not_duplicate", "duplicate"}, 0, ACC | F1, GQ_METRIC_ACCURACY, 1, {"dev"},
     {""}},
    {"mnli", "MNLI", "MNLI", 3, {"contradiction", "entailment", "neutral"}, {"contradiction", "entailment", "neutral"},
     0, ACC, GQ_METRIC_ACCURACY, 2, {"dev_matched", "dev_mismatched"}, {"m", "mm"}},
    {"qnli", "QNLI", "QNLI", 2, {"entailment", "not_entailment"}, {"entailment", "not_entailment"}, 0, ACC,
     GQ_METRIC_ACCURACY, 1, {"dev"}, {""}},
    {"rte", "RTE", "RTE", 2, {"entailment", "not_entailment"}, {"entailment", "not_entailment"}, 0, ACC,
     GQ_METRIC_ACCURACY, 1, {"dev"}, {""}},
    {"wnli", "WNLI", "WNLI", 2, {"0", "1"}, {"not_entailment", "entailment"}, 0, ACC, GQ_METRIC_ACCURACY, 1, {"dev"},
     {""}},
};
const int gq_glue_n_tasks = (int)(sizeof gq_glue_tasks / sizeof gq_glue_tasks[0]);

/* Where a task's texts and label are: column names in the header; for CoLA also the
 * positions in its headerless train and dev files. */
typedef struct {
    const char *a, *b, *label; /* b NULL: one text */
    int bare_fields, bare_a, bare_label; /* bare_fields 0: every file has a header */
} layout;

static const layout layouts[] = { /* in gq_glue_tasks' order */
    {"sentence", NULL, "label", 4, 3, 1},
    {"sentence", NULL, "label", 0, 0, 0},
    {"#1 String", "#2 String", "Quality", 0, 0, 0},
    {"sentence1", "sentence2", "score", 0, 0, 0},
    {"question1", "question2", "is_duplicate", 0, 0, 0},
    {"sentence1", "sentence2", "gold_label", 0, 0, 0},
    {"question", "sentence", "label", 0, 0, 0},
    {"sentence1", "sentence2", "label", 0, 0, 0},
    {"sentence1", "sentence2", "label", 0, 0, 0},
};

/* STS-B's similarity scores. */
#define SCORE_MIN 0.0
#define SCORE_MAX 5.0

/* MNLI's genres: the matched sets (train, dev_matched, test_matched) and the others. */
static const char *const MATCHED_GENRES[] = {"fiction", "government", "slate", "telephone", "travel", NULL};
static const char *const MISMATCHED_GENRES[] = {"facetoface", "letters", "nineeleven", "oup", "verbatim", NULL};

static int lower_ascii(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

static int same_ci(const char *a, const char *b) {
    while (*a && lower_ascii((unsigned char)*a) == lower_ascii((unsigned char)*b)) a++, b++;
    return !*a && !*b;
}

const gq_glue_task *gq_glue_task_find(const char *name) {
    if (!name) return NULL;
    for (int t = 0; t < gq_glue_n_tasks; t++)
        if (same_ci(gq_glue_tasks[t].name, name) || same_ci(gq_glue_tasks[t].display, name)) return &gq_glue_tasks[t];
    return NULL;
}

const char *gq_glue_task_names(void) { return "cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli"; }

int gq_glue_task_rank(const char *name) {
    const gq_glue_task *t = gq_glue_task_find(name);
    return t ? (int)(t - gq_glue_tasks) : gq_glue_n_tasks;
}

/* The layout of a task of the table; NULL for any other task. */
static const layout *layout_of(const gq_glue_task *task) {
    for (int t = 0; t < gq_glue_n_tasks; t++)
        if (!strcmp(gq_glue_tasks[t].name, task->name)) return &layouts[t];
    return NULL;
}

char *gq_glue_split_path(const gq_glue_task *task, const char *root, const char *split) {
    if (!strcmp(task->name, "mnli") && (!strcmp(split, "dev") || !strcmp(split, "test")))
        split = !strcmp(split, "dev") ? "dev_matched" : "test_matched";
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

enum { GENRES_ANY, GENRES_MATCHED, GENRES_MISMATCHED };

/* Which MNLI genres a file may hold, from its name (see glue.h). */
static int genres_of(const gq_glue_task *task, const char *path) {
    if (strcmp(task->name, "mnli")) return GENRES_ANY;
    const char *b = gq_basename(path);
    if (!strcmp(b, "train.tsv") || !strcmp(b, "dev_matched.tsv") || !strcmp(b, "test_matched.tsv"))
        return GENRES_MATCHED;
    if (!strcmp(b, "dev_mismatched.tsv") || !strcmp(b, "test_mismatched.tsv")) return GENRES_MISMATCHED;
    return GENRES_ANY;
}

static int in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

typedef struct {
    const char *path;
    const gq_glue_task *task;
    const layout *lay;
    int header_done;   /* line 1 has been read: as the header, or as CoLA's first row */
    int bare;          /* no header: CoLA's train and dev files */
    int ncols;         /* fields every row has */
    int col_a, col_b, col_label, col_genre; /* -1: absent */
    int genres;        /* GENRES_*: MNLI's split check */
    gq_glue_set *set;
    size_t used;       /* bytes of set->storage in use */
    int line;          /* 1-based line of the row being read */
    int nfields;       /* fields seen so far in this row */
    size_t a, b;       /* offsets in storage of this row's texts */
    char label[48];    /* this row's label field, truncated to fit */
    size_t label_len;  /* its full length */
    char genre[24];    /* this row's MNLI genre, truncated to fit */
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

/* Copies a short field into dst (cap bytes), truncated to fit. */
static void keep_short(char *dst, size_t cap, const void *s, size_t len) {
    size_t k = len < cap - 1 ? len : cap - 1;
    if (k) memcpy(dst, s, k);
    dst[k] = '\0';
}

static void on_field(void *s, size_t len, void *data) {
    parser *p = data;
    if (p->status != GQ_OK) return;
    int i = p->nfields++;
    if (!p->header_done) { /* line 1: keep every field until the row ends */
        store_field(p, s, len);
    } else if (i == p->col_a) {
        p->a = store_field(p, s, len);
    } else if (i == p->col_b) {
        p->b = store_field(p, s, len);
    } else if (i == p->col_label) {
        keep_short(p->label, sizeof p->label, s, len);
        p->label_len = len;
    } else if (i == p->col_genre) {
        keep_short(p->genre, sizeof p->genre, s, len);
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

/* Index of the field called name among n, -1 if none, -2 if more than one. */
static int find_column(const char *const *names, int n, const char *name) {
    int at = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) at = at == -1 ? i : -2;
    return at;
}

static void end_row(parser *p);

/* CoLA's train and dev files start with a row: line 1, already stored, is data. */
static void read_bare_first_row(parser *p, const char *const *fields) {
    const layout *L = p->lay;
    p->bare = 1;
    p->ncols = L->bare_fields, p->col_a = L->bare_a, p->col_b = -1, p->col_label = L->bare_label;
    p->set->labelled = 1;
    if (p->nfields == L->bare_fields) {
        p->a = (size_t)(fields[L->bare_a] - p->set->storage);
        size_t len = strlen(fields[L->bare_label]);
        keep_short(p->label, sizeof p->label, fields[L->bare_label], len);
        p->label_len = len;
    }
    end_row(p);
}

/* The MNLI checks a header allows: a dev file has the five annotators' labels. */
static void check_mnli_header(parser *p, const char *const *seen, int n) {
    const char *b = gq_basename(p->path);
    if (p->genres && !strncmp(b, "dev_", 4) && p->col_label >= 0 && find_column(seen, n, "label5") < 0)
        p->status = gq_fail(p->err, GQ_ERR_FORMAT,
                            "%s: line 1: no column 'label5': MNLI's dev files have five annotator labels "
                            "(label1..label5); is this train.tsv?", p->path);
}

static void read_header(parser *p) {
    const char *seen[64];
    int n = p->nfields < 64 ? p->nfields : 64;
    const char *s = p->set->storage;
    for (int i = 0; i < n; i++, s += strlen(s) + 1) seen[i] = s;
    const layout *L = p->lay;
    p->header_done = 1;
    p->col_a = find_column(seen, n, L->a);
    if (p->col_a == -1 && L->bare_fields) return read_bare_first_row(p, seen);
    p->col_b = L->b ? find_column(seen, n, L->b) : -1;
    p->col_label = find_column(seen, n, L->label);
    p->col_genre = p->genres ? find_column(seen, n, "genre") : -1;
    const char *missing = p->col_a == -1 ? L->a : L->b && p->col_b == -1 ? L->b : NULL;
    const char *twice = p->col_a == -2 ? L->a : p->col_b == -2 ? L->b : p->col_label == -2 ? L->label
                      : p->col_genre == -2 ? "genre" : NULL;
    char got[256];
    join_names(got, sizeof got, seen, n);
    if (missing)
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line 1: header is '%s': no column '%s' (%s needs '%s'%s%s%s, "
                            "and '%s' for labels)", p->path, got, missing, p->task->display, L->a, L->b ? " and '" : "",
                            L->b ? L->b : "", L->b ? "'" : "", L->label);
    else if (twice)
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line 1: header is '%s': column '%s' appears twice", p->path, got,
                            twice);
    else if (p->genres && p->col_genre < 0)
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line 1: header is '%s': no column 'genre'", p->path, got);
    if (p->status != GQ_OK) return;
    check_mnli_header(p, seen, n);
    p->ncols = p->nfields;
    p->set->labelled = p->col_label >= 0;
    p->used = 0; /* the names are no longer needed */
}

/* Checks a row's field count; the message says what the file's rows must have. */
static int check_fields(parser *p) {
    if (p->nfields == p->ncols) return 1;
    if (p->nfields == 0)
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: empty line, expected %d tab-separated fields", p->path,
                            p->line, p->ncols);
    else if (p->bare)
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: %d tab-separated fields, expected %d (source, label, "
                            "original label, sentence)", p->path, p->line, p->nfields, p->ncols);
    else
        p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: %d tab-separated fields, the header has %d", p->path,
                            p->line, p->nfields, p->ncols);
    return 0;
}

/* The label field as a class id (*label) or a regression score (*score). */
static int parse_label(parser *p, int *label, double *score) {
    const gq_glue_task *t = p->task;
    const char *more = p->label_len >= sizeof p->label ? "..." : "";
    if (gq_glue_regression(t)) {
        char *end = NULL;
        double v = p->label_len < sizeof p->label ? strtod(p->label, &end) : NAN;
        if (!end || end == p->label || *end || !isfinite(v)) {
            p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: score '%s%s' is not a number", p->path, p->line,
                                p->label, more);
            return 0;
        }
        if (v < SCORE_MIN || v > SCORE_MAX) {
            p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: score %s is outside %g..%g", p->path, p->line,
                                p->label, SCORE_MIN, SCORE_MAX);
            return 0;
        }
        *label = 0, *score = v;
        return 1;
    }
    for (int i = 0; i < t->n_labels; i++)
        if (p->label_len == strlen(t->labels[i]) && strcmp(p->label, t->labels[i]) == 0) {
            *label = i;
            return 1;
        }
    char want[160];
    if (t->n_labels == 2) snprintf(want, sizeof want, "'%s' or '%s'", t->labels[0], t->labels[1]);
    else snprintf(want, sizeof want, "'%s', '%s' or '%s'", t->labels[0], t->labels[1], t->labels[2]);
    p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: unknown label '%s%s' (expected %s)", p->path, p->line,
                        p->label, more, want);
    return 0;
}

/* An MNLI row of the other split's genres means the file is the wrong split. */
static int check_genre(parser *p) {
    if (p->genres == GENRES_ANY) return 1;
    int matched = p->genres == GENRES_MATCHED;
    if (!in_list(p->genre, matched ? MISMATCHED_GENRES : MATCHED_GENRES)) return 1;
    p->status = gq_fail(p->err, GQ_ERR_FORMAT, "%s: line %d: genre '%s' belongs to MNLI's %smatched split, not to %s: "
                        "is the file the wrong split?", p->path, p->line, p->genre, matched ? "mis" : "",
                        gq_basename(p->path));
    return 0;
}

static void end_row(parser *p) {
    if (!check_fields(p)) return;
    int label = -1;
    double score = 0;
    if (p->col_label >= 0 && !parse_label(p, &label, &score)) return;
    if (!check_genre(p)) return;
    gq_glue_set *set = p->set;
    const char *b = p->col_b >= 0 ? set->storage + p->b : NULL;
    set->rows[set->n++] = (gq_glue_row){set->storage + p->a, b, label, score, p->line};
}

static void on_row(int c, void *data) {
    (void)c;
    parser *p = data;
    if (p->status == GQ_OK) {
        if (!p->header_done) read_header(p);
        else end_row(p);
    }
    p->line++;
    p->nfields = 0;
}

static int no_space(unsigned char c) { (void)c; return 0; }
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
    const layout *lay = layout_of(task);
    if (!lay) return gq_fail(err, GQ_ERR_ARG, "%s: task '%s' is not one of %s", path, task->name, gq_glue_task_names());
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
    parser p = {.path = path, .task = task, .lay = lay, .col_a = -1, .col_b = -1, .col_label = -1, .col_genre = -1,
                .genres = genres_of(task, path), .set = set, .line = 1, .status = GQ_OK, .err = err};
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

/* ---- label orders ---- */

const char *gq_label_source_name(gq_label_source s) {
    switch (s) {
    case GQ_LABELS_DEFAULT: return "default";
    case GQ_LABELS_CONFIG: return "config.json";
    case GQ_LABELS_MAP: return "label_map";
    default: return NULL;
    }
}

/* The task label a name stands for (its string or its meaning, any case); -1 if none. */
static int label_named(const gq_glue_task *t, const char *name) {
    for (int i = 0; i < t->n_labels && !gq_glue_regression(t); i++)
        if (same_ci(t->labels[i], name) || same_ci(t->meanings[i], name)) return i;
    return -1;
}

/* HF's placeholder for label id (LABEL_<id>) or the id itself: a name that says nothing. */
static int placeholder(const char *name, int id) {
    char a[32], b[32];
    snprintf(a, sizeof a, "LABEL_%d", id);
    snprintf(b, sizeof b, "%d", id);
    return same_ci(name, a) || !strcmp(name, b);
}

/* "'0' (negative), '1' (positive)": the task's labels, for messages. */
static void describe_labels(const gq_glue_task *t, char *buf, size_t n) {
    size_t w = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->n_labels && w < n; i++) {
        int k = strcmp(t->labels[i], t->meanings[i])
                    ? snprintf(buf + w, n - w, "%s'%s' (%s)", i ? ", " : "", t->labels[i], t->meanings[i])
                    : snprintf(buf + w, n - w, "%s'%s'", i ? ", " : "", t->labels[i]);
        if (k < 0) return;
        w += (size_t)k;
    }
}

static gq_status check_label_count(const gq_glue_task *t, int n_model, const char *where, gq_err *err) {
    if (n_model == t->n_labels) return GQ_OK;
    if (gq_glue_regression(t))
        return gq_fail(err, GQ_ERR_SHAPE, "%s: the model has %d labels; task %s is a regression and needs one output "
                       "(num_labels = 1)", where, n_model, t->name);
    if (n_model == 1)
        return gq_fail(err, GQ_ERR_SHAPE, "%s: the model has one output (a regression head); task %s is a "
                       "classification into %d labels", where, t->name, t->n_labels);
    return gq_fail(err, GQ_ERR_SHAPE, "%s: the model has %d labels, task %s has %d", where, n_model, t->name,
                   t->n_labels);
}

/* to_task from id2label's names when they are the task's labels; 0 if they are not. */
static int order_from_names(const gq_glue_task *t, const char *const *id2label, int *to_task) {
    int seen = 0;
    for (int id = 0; id < t->n_labels; id++) {
        int l = id2label[id] ? label_named(t, id2label[id]) : -1;
        if (l < 0 || (seen & (1 << l))) return 0;
        seen |= 1 << l;
        to_task[id] = l;
    }
    return 1;
}

gq_status gq_glue_label_order(const gq_glue_task *task, const char *const *id2label, int n_model_labels, const int *map,
                              const char *where, gq_label_order *out, gq_err *err) {
    memset(out, 0, sizeof *out);
    gq_status st = check_label_count(task, n_model_labels, where, err);
    if (st != GQ_OK || gq_glue_regression(task)) return st;
    if (map) {
        if ((st = gq_glue_label_map_check(task, map, where, err)) != GQ_OK) return st;
        for (int l = 0; l < task->n_labels; l++) out->to_task[map[l]] = l;
        out->source = GQ_LABELS_MAP;
        return GQ_OK;
    }
    if (id2label && order_from_names(task, id2label, out->to_task)) {
        out->source = GQ_LABELS_CONFIG;
        return GQ_OK;
    }
    int generic = 1;
    for (int id = 0; id < task->n_labels && id2label; id++) generic &= !id2label[id] || placeholder(id2label[id], id);
    if (!generic) {
        char names[256] = "", want[256];
        size_t w = 0;
        for (int id = 0; id < task->n_labels && w < sizeof names; id++) {
            int k = snprintf(names + w, sizeof names - w, "%s%d=%s", id ? ", " : "", id, id2label[id]);
            w += k > 0 ? (size_t)k : 0;
        }
        describe_labels(task, want, sizeof want);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: config.json's id2label (%s) does not name task %s's labels %s; give "
                       "the order with --label-map LABEL=ID,... (label_map in a sweep config)", where, names,
                       task->name, want);
    }
    for (int id = 0; id < task->n_labels; id++) out->to_task[id] = id;
    out->source = GQ_LABELS_DEFAULT;
    return GQ_OK;
}

gq_status gq_glue_label_map_set(const gq_glue_task *task, const char *label, long id, int *map, const char *where,
                                gq_err *err) {
    if (gq_glue_regression(task))
        return gq_fail(err, GQ_ERR_ARG, "%s: task %s is a regression: it has no labels to map", where, task->name);
    char want[256];
    describe_labels(task, want, sizeof want);
    int l = label_named(task, label);
    if (l < 0) return gq_fail(err, GQ_ERR_ARG, "%s: '%s' is not a label of task %s (%s)", where, label, task->name, want);
    if (id < 0 || id >= task->n_labels)
        return gq_fail(err, GQ_ERR_ARG, "%s: label '%s': model id %ld is not in 0..%d", where, label, id,
                       task->n_labels - 1);
    if (map[l] >= 0) return gq_fail(err, GQ_ERR_ARG, "%s: label '%s' given twice", where, task->labels[l]);
    map[l] = (int)id;
    return GQ_OK;
}

gq_status gq_glue_label_map_check(const gq_glue_task *task, const int *map, const char *where, gq_err *err) {
    for (int l = 0; l < task->n_labels; l++) {
        if (map[l] < 0 || map[l] >= task->n_labels)
            return gq_fail(err, GQ_ERR_ARG, "%s: label '%s' has no model id (a label map names every label of task %s)",
                           where, task->labels[l], task->name);
        for (int j = 0; j < l; j++)
            if (map[j] == map[l])
                return gq_fail(err, GQ_ERR_ARG, "%s: labels '%s' and '%s' both map to model id %d", where,
                               task->labels[j], task->labels[l], map[l]);
    }
    return GQ_OK;
}

gq_status gq_glue_label_map_parse(const gq_glue_task *task, const char *text, int *map, gq_err *err) {
    for (int l = 0; l < GQ_GLUE_MAX_LABELS; l++) map[l] = -1;
    const char *where = "option '--label-map'";
    for (const char *s = text; s && *s;) {
        const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s), *eq = memchr(s, '=', (size_t)(end - s));
        char name[64], num[32], *stop = NULL;
        if (!eq || eq == s || (size_t)(eq - s) >= sizeof name || (size_t)(end - eq - 1) >= sizeof num || end == eq + 1)
            return gq_fail(err, GQ_ERR_ARG, "%s: '%.*s' is not LABEL=ID", where, (int)(end - s), s);
        memcpy(name, s, (size_t)(eq - s));
        name[eq - s] = '\0';
        memcpy(num, eq + 1, (size_t)(end - eq - 1));
        num[end - eq - 1] = '\0';
        long id = strtol(num, &stop, 10);
        if (*stop) return gq_fail(err, GQ_ERR_ARG, "%s: '%s' is not a model label id", where, num);
        gq_status st = gq_glue_label_map_set(task, name, id, map, where, err);
        if (st != GQ_OK) return st;
        s = comma ? comma + 1 : end;
    }
    return gq_glue_label_map_check(task, map, where, err);
}
