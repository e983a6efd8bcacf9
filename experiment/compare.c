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

static gq_status int_array(const cJSON *a, int n, int **out, const char *path, int line, const char *key,
                           gq_err *err) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: \"%s\" must be a list of %d integers", path, line, key, n);
    if (!(*out = gq_malloc_array((size_t)(n ? n : 1), sizeof **out))) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    int i = 0;
    for (const cJSON *x = a->child; x; x = x->next, i++) {
        if (!cJSON_IsNumber(x))
            return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: \"%s\"[%d] is not a number", path, line, key, i);
        (*out)[i] = x->valueint;
    }
    return GQ_OK;
}

/* Reads spec's rows of results.json and the predictions of the wanted points into *s,
 * owned by the caller (side_free), also on failure. */
static gq_status side_load(const char *spec, gq_compare_side *s, gq_err *err) {
    memset(s, 0, sizeof *s);
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
    if (!s->results || !s->predictions) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");

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

    if ((st = gq_read_file(s->predictions, 0, &text, &len, err)) != GQ_OK) return st;
    int line = 0;
    for (char *ln = text, *next; st == GQ_OK && ln && *ln; ln = next) {
        line++;
        next = strchr(ln, '\n');
        if (next) *next++ = '\0';
        cJSON *o = cJSON_Parse(ln);
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "point_id"));
        if (!id) st = gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: not a predictions record", s->predictions, line);
        for (int i = 0; st == GQ_OK && i < s->n; i++) {
            gq_compare_point *p = &s->p[i];
            if (strcmp(p->id, id) || p->n >= 0) continue;
            const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
            p->n = cJSON_GetArraySize(labels);
            st = int_array(labels, p->n, &p->labels, s->predictions, line, "labels", err);
            if (st == GQ_OK)
                st = int_array(cJSON_GetObjectItemCaseSensitive(o, "preds"), p->n, &p->preds, s->predictions, line,
                               "preds", err);
        }
        cJSON_Delete(o);
    }
    free(text);
    for (int i = 0; st == GQ_OK && i < s->n; i++)
        if (s->p[i].n < 0)
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: no predictions for point %s", s->predictions, s->p[i].id);
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

/* Appends the pair (pa, pb) and its statistics to c->pairs (*cap allocated). */
static gq_status add_pair(gq_comparison *c, int *cap, const gq_compare_point *pa, const gq_compare_point *pb,
                          gq_err *err) {
    if (strcmp(pa->task, pb->task) || pa->n != pb->n || memcmp(pa->labels, pb->labels, (size_t)pa->n * sizeof(int)))
        return gq_fail(err, GQ_ERR_ARG, "compare: %s (%s, %d examples) and %s (%s, %d examples) are not scored on "
                       "the same examples", pa->id, pa->task, pa->n, pb->id, pb->task, pb->n);
    if (c->n == *cap) {
        int grown = *cap ? 2 * *cap : 16;
        gq_compare_pair *p = realloc(c->pairs, (size_t)grown * sizeof *p);
        if (!p) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        c->pairs = p, *cap = grown;
    }
    gq_compare_pair *p = &c->pairs[c->n++];
    p->a = pa, p->b = pb;
    gq_compare_paired(pa->labels, pa->preds, pb->preds, pa->n, &p->stats);
    return GQ_OK;
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
