/* compare: `glueq compare`, paired tests between two sweep results; see compare.h. */
#define _POSIX_C_SOURCE 200809L
#include "compare.h"

#include <math.h>

#include "cli.h"

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

typedef struct {
    char id[64], task[32], desc[160];
    int n; /* -1 until its predictions are read */
    int *labels, *preds;
} cpoint;

typedef struct {
    char *results, *predictions; /* paths */
    char want[64];               /* "" = every point */
    int n;
    cpoint *p;
} cside;

static void side_free(cside *s) {
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

/* Reads the rows of results.json and the predictions of the wanted points. */
static gq_status load_side(const char *spec, cside *s, gq_err *err) {
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
        cpoint *p = &s->p[s->n++];
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
            cpoint *p = &s->p[i];
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

static const char *COMPARE_HELP =
    "usage: glueq compare A B [--task T] [--fail-if-worse DELTA]\n"
    "  A, B: RESULTS or RESULTS#POINT_ID, RESULTS = a sweep output directory or its\n"
    "        results.json (predictions.jsonl beside it). With ids on both sides those two\n"
    "        points are compared; with none, every point id found in both.\n"
    "  --task T               only points of task T\n"
    "  --fail-if-worse DELTA  exit 3 when B is significantly worse than A: McNemar\n"
    "                         p < 0.05 and B - A < -DELTA percentage points\n"
    "Prints acc A, acc B, B - A with a paired-bootstrap 95% interval, exact McNemar p.\n"
    "Exit: 0 ok, 1 bad input, 2 usage, 3 significantly worse (with --fail-if-worse).\n";

static const gq_arg_spec COMPARE_SPEC[] = {{"task", 1}, {"fail-if-worse", 1}, {"help", 0}, {NULL, 0}};

int gq_cmd_compare(int argc, char **argv) {
    gq_args args;
    gq_err perr = {{0}};
    double delta = 0;
    gq_status ps = gq_args_parse(&args, COMPARE_SPEC, argc, argv, &perr);
    if (ps == GQ_OK && gq_args_has(&args, "help")) return fputs(COMPARE_HELP, stdout), 0;
    if (ps == GQ_OK) ps = gq_args_double(&args, "fail-if-worse", 0, HUGE_VAL, 0, &delta, &perr);
    if (ps == GQ_OK && args.npos != 2)
        ps = gq_fail(&perr, GQ_ERR_ARG, "compare needs two result sets A and B (see glueq compare --help)");
    if (ps != GQ_OK) return gq_cli_fail(&perr, ps);
    const char *const *pos = args.pos, *task = gq_args_get(&args, "task");
    int fail_if_worse = gq_args_has(&args, "fail-if-worse");
    gq_err err = {{0}};
    cside a, b;
    gq_status st = load_side(pos[0], &a, &err);
    if (st == GQ_OK) st = load_side(pos[1], &b, &err);
    else memset(&b, 0, sizeof b);
    if (st == GQ_OK && (!*a.want) != (!*b.want))
        st = gq_fail(&err, GQ_ERR_ARG, "compare: give a #POINT_ID on both sides or on neither");
    int rc = 0, pairs = 0;
    if (st == GQ_OK)
        printf("%-6s %-26s %-26s %-16s %-16s %-24s %s\n", "task", "A", "B", "acc A", "acc B", "B-A [95% CI]",
               "McNemar p");
    for (int i = 0; st == GQ_OK && i < a.n; i++)
        for (int j = 0; st == GQ_OK && j < b.n; j++) {
            cpoint *pa = &a.p[i], *pb = &b.p[j];
            if (!*a.want && strcmp(pa->id, pb->id)) continue;
            if (task && strcmp(pa->task, task)) continue;
            if (strcmp(pa->task, pb->task) || pa->n != pb->n || memcmp(pa->labels, pb->labels, (size_t)pa->n * sizeof(int))) {
                st = gq_fail(&err, GQ_ERR_ARG, "compare: %s (%s, %d examples) and %s (%s, %d examples) are not scored on the same examples",
                             pa->id, pa->task, pa->n, pb->id, pb->task, pb->n);
                break;
            }
            gq_compare_stats cs;
            gq_compare_paired(pa->labels, pa->preds, pb->preds, pa->n, &cs);
            char acc_a[32], acc_b[32], diff[48], da[192], db[192];
            snprintf(acc_a, sizeof acc_a, "%.2f (%d/%d)", 100.0 * cs.correct_a / (cs.n ? cs.n : 1), cs.correct_a, cs.n);
            snprintf(acc_b, sizeof acc_b, "%.2f (%d/%d)", 100.0 * cs.correct_b / (cs.n ? cs.n : 1), cs.correct_b, cs.n);
            snprintf(diff, sizeof diff, "%+.2f [%+.2f, %+.2f]", 100 * cs.diff, 100 * cs.lo, 100 * cs.hi);
            snprintf(da, sizeof da, "%s %.8s", pa->desc, pa->id);
            snprintf(db, sizeof db, "%s %.8s", pb->desc, pb->id);
            int worse = cs.p < 0.05 && 100 * cs.diff < -delta;
            printf("%-6s %-26s %-26s %-16s %-16s %-24s %.4g%s\n", pa->task, da, db, acc_a, acc_b, diff, cs.p,
                   worse ? "  B worse" : "");
            if (worse && fail_if_worse) rc = GQ_COMPARE_WORSE;
            pairs++;
        }
    if (st == GQ_OK && pairs == 0)
        st = gq_fail(&err, GQ_ERR_ARG, "compare: no common points%s%s", task ? " for task " : "", task ? task : "");
    side_free(&a), side_free(&b);
    return st == GQ_OK ? rc : gq_cli_fail_run(&err);
}
