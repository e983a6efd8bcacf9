/* compare: paired tests between two sweep results; see compare.h. */
#define _POSIX_C_SOURCE 200809L
#include "compare.h"

#include <math.h>

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

enum { BOOTSTRAP_DRAWS = 2000, BOOTSTRAP_SEED = 20251201 };

void gq_compare_paired(const int *labels, const int *pred_a, const int *pred_b, int n, gq_compare_stats *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    int *ca = gq_calloc_array((size_t)(n ? n : 1), sizeof *ca), *cb = gq_calloc_array((size_t)(n ? n : 1), sizeof *cb);
    for (int i = 0; ca && cb && i < n; i++) {
        ca[i] = pred_a[i] == labels[i], cb[i] = pred_b[i] == labels[i];
        out->correct_a += ca[i], out->correct_b += cb[i];
        out->only_a += ca[i] && !cb[i], out->only_b += cb[i] && !ca[i];
    }
    out->p = gq_mcnemar_exact(out->only_a, out->only_b);
    if (ca && cb && n) gq_paired_bootstrap(ca, cb, n, BOOTSTRAP_DRAWS, BOOTSTRAP_SEED, &out->diff, &out->lo, &out->hi);
    free(ca), free(cb);
}

/* metric(B) − metric(A) with its paired-bootstrap 95% interval, and the values of A and
 * B (class ids or scores as doubles; NaN where the metric is undefined). */
static gq_status compare_metric(gq_metric metric, const double *labels, const double *pred_a, const double *pred_b,
                                int n, int n_classes, gq_compare_line *l) {
    l->a = gq_metric_score(metric, labels, pred_a, n, n_classes);
    l->b = gq_metric_score(metric, labels, pred_b, n, n_classes);
    l->p = NAN;
    return gq_paired_bootstrap_metric(metric, labels, pred_a, pred_b, n, n_classes, BOOTSTRAP_DRAWS, BOOTSTRAP_SEED,
                                      &l->diff, &l->lo, &l->hi);
}

static void side_free(gq_compare_side *s) {
    for (int i = 0; i < s->n; i++) free(s->p[i].labels), free(s->p[i].preds);
    free(s->p), free(s->results), free(s->predictions);
}

static void describe(const cJSON *r, char *buf, size_t n) {
    const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "method"));
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(r, "bits"), *k = cJSON_GetObjectItemCaseSensitive(r, "k"),
                *p = cJSON_GetObjectItemCaseSensitive(r, "p");
    if (!method || !strcmp(method, "fp32")) {
        snprintf(buf, n, "fp32");
    } else if (cJSON_IsNumber(p)) {
        snprintf(buf, n, "%s int%d p=%g", method, bits ? bits->valueint : 0, p->valuedouble);
    } else {
        snprintf(buf, n, "%s int%d k=%lld", method, bits ? bits->valueint : 0,
                 cJSON_IsNumber(k) ? (long long)k->valuedouble : 0LL);
    }
}

static gq_status num_array(const cJSON *a, int n, double **out, const char *path, int line, const char *key,
                           gq_err *err) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: \"%s\" must be a list of %d numbers", path, line, key, n);
    if (!(*out = gq_malloc_array((size_t)(n ? n : 1), sizeof **out))) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    int i = 0;
    for (const cJSON *x = a->child; x; x = x->next, i++) {
        if (!cJSON_IsNumber(x))
            return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: \"%s\"[%d] is not a number", path, line, key, i);
        (*out)[i] = x->valuedouble;
    }
    return GQ_OK;
}

/* "parts": the sizes of a split's files (MNLI's two dev files); absent: one file. */
static gq_status read_parts(const cJSON *parts, gq_compare_point *p, const char *path, int line, gq_err *err) {
    p->n_parts = 1, p->part_end[0] = p->n;
    if (!parts) return GQ_OK;
    int k = cJSON_GetArraySize(parts), end = 0;
    if (!cJSON_IsArray(parts) || k < 1 || k > GQ_GLUE_MAX_DEV)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: \"parts\" must list 1 to %d sizes", path, line, GQ_GLUE_MAX_DEV);
    p->n_parts = 0;
    for (const cJSON *x = parts->child; x; x = x->next) {
        if (!cJSON_IsNumber(x) || x->valueint < 0 || x->valueint > p->n - end)
            return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: \"parts\" do not add up to %d examples", path, line, p->n);
        p->part_end[p->n_parts++] = end += x->valueint;
    }
    return end == p->n ? GQ_OK
                       : gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: \"parts\" do not add up to %d examples", path, line, p->n);
}

/* spec is a results directory, a results.json, either followed by '#' and a point id: sets
 * s->want and the paths of its results.json and predictions.jsonl. */
static gq_status side_paths(const char *spec, gq_compare_side *s, gq_err *err) {
    char *path = gq_strdup(spec);
    if (!path) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    char *hash = strrchr(path, '#');
    if (hash) {
        *hash = '\0';
        if (!hash[1] || strlen(hash + 1) >= sizeof s->want) {
            free(path);
            return gq_fail(err, GQ_ERR_ARG, "%s: a point id must follow '#'", spec);
        }
        snprintf(s->want, sizeof s->want, "%s", hash + 1);
    }
    if (gq_dir_exists(path)) {
        s->results = gq_path_join(path, "results.json");
        s->predictions = gq_path_join(path, "predictions.jsonl");
    } else {
        s->results = gq_strdup(path);
        char *slash = strrchr(path, '/');
        if (slash) slash[1] = '\0';
        s->predictions = gq_path_join(slash ? path : ".", "predictions.jsonl");
    }
    free(path);
    return s->results && s->predictions ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
}

/* The wanted points (all, or the one s->want names) from the rows of s->results, their
 * predictions not read yet (n = -1). */
static gq_status side_rows(gq_compare_side *s, gq_err *err) {
    char *text = NULL;
    size_t len;
    gq_status st = gq_read_file(s->results, 0, &text, &len, err);
    if (st != GQ_OK) return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    if (!cJSON_IsArray(rows)) {
        cJSON_Delete(root);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: not a glueq results.json (no \"rows\" list)", s->results);
    }
    s->p = gq_calloc_array((size_t)cJSON_GetArraySize(rows) + 1, sizeof *s->p);
    if (!s->p) {
        cJSON_Delete(root);
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    }
    for (const cJSON *r = rows->child; r; r = r->next) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "point_id"));
        const char *task = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "task"));
        if (!id || !task || (*s->want && strcmp(id, s->want))) continue;
        gq_compare_point *p = &s->p[s->n++];
        snprintf(p->id, sizeof p->id, "%s", id);
        snprintf(p->task, sizeof p->task, "%s", task);
        describe(r, p->desc, sizeof p->desc);
        p->n = -1;
    }
    cJSON_Delete(root);
    if (*s->want && s->n == 0) return gq_fail(err, GQ_ERR_ARG, "%s: no point with id %s", s->results, s->want);
    return GQ_OK;
}

static int cmp_point_id(const void *x, const void *y) {
    const gq_compare_point *a = *(const gq_compare_point *const *)x, *b = *(const gq_compare_point *const *)y;
    return strcmp(a->id, b->id);
}

/* The labels, predictions and parts of one predictions record o (line `line`) into every
 * point of by_id[0..n) (sorted by id) with o's id that has none yet: the first record of
 * an id serves all its rows. */
static gq_status side_record(gq_compare_side *s, gq_compare_point **by_id, const cJSON *o, int line, gq_err *err) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "point_id"));
    if (!id) return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: not a predictions record", s->predictions, line);
    int lo = 0, hi = s->n; /* the first point whose id is not below id */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(by_id[mid]->id, id) < 0) lo = mid + 1;
        else hi = mid;
    }
    gq_status st = GQ_OK;
    for (int i = lo; st == GQ_OK && i < s->n && !strcmp(by_id[i]->id, id); i++) {
        gq_compare_point *p = by_id[i];
        if (p->n >= 0) continue;
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
        p->n = cJSON_GetArraySize(labels);
        st = num_array(labels, p->n, &p->labels, s->predictions, line, "labels", err);
        if (st == GQ_OK)
            st = num_array(cJSON_GetObjectItemCaseSensitive(o, "preds"), p->n, &p->preds, s->predictions, line, "preds",
                           err);
        if (st == GQ_OK) st = read_parts(cJSON_GetObjectItemCaseSensitive(o, "parts"), p, s->predictions, line, err);
    }
    return st;
}

/* The predictions of every wanted point from s->predictions, each record found by a
 * binary search over the points sorted by id (linear-log in points and records). */
static gq_status side_predictions(gq_compare_side *s, gq_err *err) {
    gq_compare_point **by_id = gq_malloc_array((size_t)s->n + 1, sizeof *by_id);
    if (!by_id) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n; i++) by_id[i] = &s->p[i];
    qsort(by_id, (size_t)s->n, sizeof *by_id, cmp_point_id);
    char *text = NULL;
    size_t len;
    gq_status st = gq_read_file(s->predictions, 0, &text, &len, err);
    int line = 0;
    for (char *ln = text, *next; st == GQ_OK && ln && *ln; ln = next) {
        line++;
        next = strchr(ln, '\n');
        if (next) *next++ = '\0';
        cJSON *o = cJSON_Parse(ln);
        st = side_record(s, by_id, o, line, err);
        cJSON_Delete(o);
    }
    free(text), free(by_id);
    for (int i = 0; st == GQ_OK && i < s->n; i++)
        if (s->p[i].n < 0)
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: no predictions for point %s", s->predictions, s->p[i].id);
    return st;
}

/* Reads spec's rows of results.json and the predictions of the wanted points into *s,
 * owned by the caller (side_free), also on failure. */
static gq_status side_load(const char *spec, gq_compare_side *s, gq_err *err) {
    memset(s, 0, sizeof *s);
    gq_status st = side_paths(spec, s, err);
    if (st == GQ_OK) st = side_rows(s, err);
    if (st == GQ_OK) st = side_predictions(s, err);
    return st;
}

/* B's points ordered by id, then by row. */
static int cmp_by_id(const void *x, const void *y) {
    const gq_compare_point *a = *(const gq_compare_point *const *)x, *b = *(const gq_compare_point *const *)y;
    int c = strcmp(a->id, b->id);
    return c ? c : (a > b) - (a < b);
}

/* The first of by_id[0..n) whose id is not below id. */
static int first_with_id(const gq_compare_point *const *by_id, int n, const char *id) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(by_id[mid]->id, id) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The accuracy of pa and pb on their examples [from, from + n): McNemar and the paired
 * bootstrap, into *s (0 when out of memory). */
static int accuracy_stats(const gq_compare_point *pa, const gq_compare_point *pb, int from, int n,
                          gq_compare_stats *s) {
    int *buf = gq_malloc_array((size_t)(3 * n + 1), sizeof *buf);
    if (!buf) return 0;
    int *gold = buf, *xa = buf + n, *xb = buf + 2 * n;
    for (int i = 0; i < n; i++)
        gold[i] = (int)pa->labels[from + i], xa[i] = (int)pa->preds[from + i], xb[i] = (int)pb->preds[from + i];
    gq_compare_paired(gold, xa, xb, n, s);
    free(buf);
    return 1;
}

/* The metrics compare reports for a task, its main metric first; accuracy alone for a
 * task glueq does not know. */
static int metrics_of(const gq_glue_task *t, gq_metric *out) {
    int n = 0;
    out[n++] = t ? t->main : GQ_METRIC_ACCURACY;
    for (gq_metric m = 0; t && m < GQ_METRIC_COUNT; m++)
        if (m != t->main && (t->metrics & GQ_METRIC_BIT(m))) out[n++] = m;
    return n;
}

/* Every metric of the pair's task on each of its dev files (p->lines). */
static gq_status pair_lines(gq_compare_pair *p, gq_err *err) {
    const gq_compare_point *pa = p->a, *pb = p->b;
    const gq_glue_task *t = gq_glue_task_find(pa->task);
    gq_metric ms[GQ_METRIC_COUNT];
    int nm = metrics_of(t, ms);
    p->n_lines = 0;
    for (int part = 0, from = 0; part < pa->n_parts; from = pa->part_end[part++]) {
        int n = pa->part_end[part] - from;
        for (int k = 0; k < nm; k++) {
            gq_compare_line *l = &p->lines[p->n_lines++];
            memset(l, 0, sizeof *l);
            l->metric = ms[k], l->part = part, l->main = k == 0;
            int ok = 1;
            if (ms[k] == GQ_METRIC_ACCURACY) {
                ok = accuracy_stats(pa, pb, from, n, &l->acc);
                l->a = n ? (double)l->acc.correct_a / n : 0, l->b = n ? (double)l->acc.correct_b / n : 0;
                l->diff = l->acc.diff, l->lo = l->acc.lo, l->hi = l->acc.hi, l->p = l->acc.p;
            } else {
                ok = compare_metric(ms[k], pa->labels + from, pa->preds + from, pb->preds + from, n,
                                    t ? t->n_labels : 2, l) == GQ_OK;
            }
            if (!ok) return gq_fail(err, GQ_ERR_NOMEM, "compare: out of memory");
        }
    }
    return GQ_OK;
}

int gq_compare_line_worse(const gq_compare_line *l, double delta) {
    if (l->metric == GQ_METRIC_ACCURACY) return l->p < 0.05 && 100 * l->diff < -delta;
    return l->hi < 0 && 100 * l->diff < -delta; /* false where undefined (NaN) */
}

/* Appends the pair (pa, pb) and its statistics to c->pairs (*cap allocated). */
static gq_status add_pair(gq_comparison *c, int *cap, const gq_compare_point *pa, const gq_compare_point *pb,
                          gq_err *err) {
    if (strcmp(pa->task, pb->task) || pa->n != pb->n || pa->n_parts != pb->n_parts ||
        memcmp(pa->part_end, pb->part_end, sizeof pa->part_end) ||
        memcmp(pa->labels, pb->labels, (size_t)pa->n * sizeof *pa->labels))
        return gq_fail(err, GQ_ERR_ARG, "compare: %s (%s, %d examples) and %s (%s, %d examples) are not scored on "
                       "the same examples", pa->id, pa->task, pa->n, pb->id, pb->task, pb->n);
    if (c->n == *cap) {
        int grown = *cap ? 2 * *cap : 16;
        gq_compare_pair *p = realloc(c->pairs, (size_t)grown * sizeof *p);
        if (!p) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        c->pairs = p, *cap = grown;
    }
    gq_compare_pair *p = &c->pairs[c->n++];
    memset(p, 0, sizeof *p);
    p->a = pa, p->b = pb;
    const gq_glue_task *t = gq_glue_task_find(pa->task);
    if ((!t || !gq_glue_regression(t)) && !accuracy_stats(pa, pb, 0, pa->n, &p->stats))
        return gq_fail(err, GQ_ERR_NOMEM, "compare: out of memory");
    return pair_lines(p, err);
}

/* Pairs each point of A (of task) with B's of its id, or with B's point when ids were
 * given; B is searched sorted, so that large result sets pair in n log n. */
static gq_status pair_points(gq_comparison *c, const char *task, gq_err *err) {
    const gq_compare_side *a = &c->a, *b = &c->b;
    const gq_compare_point **by_id = gq_malloc_array((size_t)b->n + 1, sizeof *by_id);
    if (!by_id) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    for (int j = 0; j < b->n; j++) by_id[j] = &b->p[j];
    qsort(by_id, (size_t)b->n, sizeof *by_id, cmp_by_id);
    gq_status st = GQ_OK;
    for (int i = 0, cap = 0; st == GQ_OK && i < a->n; i++) {
        const gq_compare_point *pa = &a->p[i];
        if (task && strcmp(pa->task, task)) continue;
        int j = *a->want ? 0 : first_with_id(by_id, b->n, pa->id);
        for (; st == GQ_OK && j < b->n && (*a->want || !strcmp(by_id[j]->id, pa->id)); j++)
            st = add_pair(c, &cap, pa, by_id[j], err);
    }
    free(by_id);
    return st;
}

gq_status gq_compare_load(const char *a, const char *b, const char *task, gq_comparison *c, gq_err *err) {
    memset(c, 0, sizeof *c);
    gq_status st = side_load(a, &c->a, err);
    if (st == GQ_OK) st = side_load(b, &c->b, err);
    if (st == GQ_OK && (!*c->a.want) != (!*c->b.want))
        st = gq_fail(err, GQ_ERR_ARG, "compare: give a #POINT_ID on both sides or on neither");
    if (st == GQ_OK) st = pair_points(c, task, err);
    if (st == GQ_OK && c->n == 0)
        st = gq_fail(err, GQ_ERR_ARG, "compare: no common points%s%s", task ? " for task " : "", task ? task : "");
    return st;
}

void gq_comparison_free(gq_comparison *c) {
    side_free(&c->a), side_free(&c->b);
    free(c->pairs);
    memset(c, 0, sizeof *c);
}
