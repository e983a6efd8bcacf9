/* report: CSV, JSON, JSONL, Markdown and SVG views of a sweep's rows; see report.h.
 * Every writer prints into a memory stream and hands the bytes to gq_write_file_atomic,
 * so an interrupted write never leaves a half file behind. */
#define _POSIX_C_SOURCE 200809L
#include "report.h"

#include "glue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const gq_report_columns[] = {
    "point_id", "index", "task", "method", "bits", "k", "p", "global", "scheme", "granularity", "clip",
    "stats_exclude_protected", "algorithm", "act_order", "damp", "sarqc_lambda", "sarqc_saliency", "calib_from",
    "method_options", "seed", "calibration", "max_len", "limit", "correct", "total",
    "accuracy", "acc_lo", "acc_hi", "f1", "f1_lo", "f1_hi", "mcc", "mcc_lo", "mcc_hi", "pearson", "pearson_lo",
    "pearson_hi", "spearman", "spearman_lo", "spearman_hi", "correct_mm", "total_mm", "accuracy_mm", "acc_lo_mm",
    "acc_hi_mm", "main_metric", "label_order", "flips", "agreement", "kl", "rmse", "protected",
    "protected_fraction", "effective_bits", "seconds", "checkpoint_sha256", "data_sha256", "calib_sha256", NULL,
};

void gq_report_fidelity(const int *ref_pred, const float *ref_logits, const int *pred, const float *logits, int n,
                        int n_labels, int *flips, double *agreement, double *kl) {
    int f = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        f += ref_pred[i] != pred[i];
        const float *a = ref_logits + (size_t)i * n_labels, *b = logits + (size_t)i * n_labels;
        double ma = a[0], mb = b[0], za = 0, zb = 0;
        for (int j = 1; j < n_labels; j++) ma = fmax(ma, a[j]), mb = fmax(mb, b[j]);
        for (int j = 0; j < n_labels; j++) za += exp(a[j] - ma), zb += exp(b[j] - mb);
        double lza = log(za), lzb = log(zb), d = 0;
        /* KL(p‖q) = Σ p (log p − log q) with log p = a − ma − log Σ exp(a − ma) */
        for (int j = 0; j < n_labels; j++) {
            double lp = a[j] - ma - lza, lq = b[j] - mb - lzb;
            d += exp(lp) * (lp - lq);
        }
        sum += d;
    }
    *flips = f;
    *agreement = n ? 1.0 - (double)f / n : 1.0;
    *kl = n ? sum / n : 0.0;
}

/* Rows come from journals, which may be damaged: their numbers are printed as doubles
 * (%.15g shows an integer as one), never cast to int. */
static double num(const cJSON *row, const char *key, double def) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsNumber(x) ? x->valuedouble : def;
}

static const char *str(const cJSON *row, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsString(x) ? x->valuestring : "";
}

static int cmp_index(const void *a, const void *b) {
    double x = num(*(cJSON *const *)a, "index", 0), y = num(*(cJSON *const *)b, "index", 0);
    return (x > y) - (x < y);
}

static const void *row_point_id(const void *v, int i, size_t *len) {
    const char *id = str(((cJSON *const *)v)[i], "point_id");
    *len = strlen(id);
    return id;
}

int gq_report_sort_rows(cJSON *rows, uint64_t *compares) {
    int n = cJSON_GetArraySize(rows), dropped = 0;
    if (n == 0) return 0;
    cJSON **v = gq_malloc_array((size_t)n, sizeof *v);
    int *first = gq_malloc_array((size_t)n, sizeof *first);
    if (!v || !first) {
        free(v), free(first);
        return -1;
    }
    n = 0;
    for (cJSON *c = rows->child; c; c = c->next) v[n++] = c;
    /* stable for equal indices: qsort is not, so ties are rare repeats (dropped below) */
    qsort(v, (size_t)n, sizeof *v, cmp_index);
    if (gq_mark_repeats(n, row_point_id, v, first, compares) != 0) {
        free(v), free(first);
        return -1;
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (first[i] == i) {
            v[m++] = v[i];
            continue;
        }
        v[i]->next = v[i]->prev = NULL; /* cJSON_Delete frees an item's later siblings too */
        cJSON_Delete(v[i]);
        dropped++;
    }
    for (int i = 0; i < m; i++) {
        v[i]->prev = i ? v[i - 1] : v[m - 1];
        v[i]->next = i + 1 < m ? v[i + 1] : NULL;
    }
    rows->child = m ? v[0] : NULL;
    free(v), free(first);
    return dropped;
}

/* "[a,b,c]" of n values, value i printed by put(f, v, i); NULL when out of memory. */
static char *format_array(const void *v, int64_t n, void (*put)(FILE *, const void *, int64_t)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        put(f, v, i);
    }
    fputc(']', f);
    return fclose(f) == 0 ? buf : (free(buf), NULL);
}

static void put_int(FILE *f, const void *v, int64_t i) { fprintf(f, "%d", ((const int *)v)[i]); }
static void put_float(FILE *f, const void *v, int64_t i) { fprintf(f, "%.9g", (double)((const float *)v)[i]); }
static void put_double(FILE *f, const void *v, int64_t i) { fprintf(f, "%.15g", ((const double *)v)[i]); }

char *gq_report_int_array(const int *v, int n) { return format_array(v, n, put_int); }
char *gq_report_float_array(const float *v, int64_t n) { return format_array(v, n, put_float); }
char *gq_report_double_array(const double *v, int n) { return format_array(v, n, put_double); }

double gq_report_rmse(const float *ref, const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += ((double)v[i] - ref[i]) * ((double)v[i] - ref[i]);
    return n ? sqrt(s / n) : 0;
}

/* Closes the memory stream f and writes its bytes to dir/name atomically; nothing is
 * written unless the text is complete (its lists did not run out of memory). */
static gq_status finish(FILE *f, int complete, char **buf, size_t *len, const char *dir, const char *name,
                        gq_err *err) {
    int bad = ferror(f) || !complete;
    if (fclose(f) != 0 || bad) {
        free(*buf);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory while formatting", name);
    }
    char *path = gq_path_join(dir, name);
    gq_status st =
        path ? gq_write_file_atomic(path, *buf, *len, err) : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", name);
    free(path);
    free(*buf);
    *buf = NULL;
    return st;
}

/* ---- results.csv ---- */

static void csv_cell(FILE *f, const cJSON *x) {
    if (!x || cJSON_IsNull(x)) return;
    if (cJSON_IsBool(x)) {
        fputs(cJSON_IsTrue(x) ? "true" : "false", f);
    } else if (cJSON_IsNumber(x)) {
        double v = x->valuedouble;
        if (v == floor(v) && fabs(v) < 1e15) fprintf(f, "%lld", (long long)v);
        else fprintf(f, "%.9g", v);
    } else if (cJSON_IsString(x)) {
        const char *s = x->valuestring;
        if (!strpbrk(s, ",\"\n\r")) {
            fputs(s, f);
            return;
        }
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    }
}

static gq_status write_csv(const char *dir, const cJSON *rows, gq_err *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return gq_fail(err, GQ_ERR_NOMEM, "results.csv: out of memory");
    for (int c = 0; gq_report_columns[c]; c++) fprintf(f, c ? ",%s" : "%s", gq_report_columns[c]);
    fputc('\n', f);
    for (const cJSON *r = rows->child; r; r = r->next) {
        for (int c = 0; gq_report_columns[c]; c++) {
            if (c) fputc(',', f);
            csv_cell(f, cJSON_GetObjectItemCaseSensitive(r, gq_report_columns[c]));
        }
        fputc('\n', f);
    }
    return finish(f, 1, &buf, &len, dir, "results.csv", err);
}

/* ---- results.json and predictions.jsonl ---- */

static int is_per_example(const char *key) {
    return !strcmp(key, "labels") || !strcmp(key, "preds") || !strcmp(key, "logits") || !strcmp(key, "parts");
}

/* Adds a deep copy of item to o under key; 0 when out of memory. */
static int add_copy(cJSON *o, const char *key, const cJSON *item) {
    cJSON *x = cJSON_Duplicate(item, 1);
    if (x && cJSON_AddItemToObject(o, key, x)) return 1;
    cJSON_Delete(x);
    return 0;
}

static gq_status write_json(const char *dir, const cJSON *config, const cJSON *provenance, const cJSON *rows,
                            gq_err *err) {
    cJSON *o = cJSON_CreateObject();
    int ok = o && add_copy(o, "config", config) && add_copy(o, "provenance", provenance);
    cJSON *arr = ok ? cJSON_AddArrayToObject(o, "rows") : NULL;
    ok = arr != NULL;
    for (const cJSON *r = rows->child; r && ok; r = r->next) {
        cJSON *x = cJSON_CreateObject();
        ok = cJSON_AddItemToArray(arr, x);
        for (const cJSON *c = ok ? r->child : NULL; c && ok; c = c->next)
            if (!is_per_example(c->string)) ok = add_copy(x, c->string, c);
    }
    if (!ok) {
        cJSON_Delete(o);
        return gq_fail(err, GQ_ERR_NOMEM, "results.json: out of memory");
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return gq_fail(err, GQ_ERR_NOMEM, "results.json: out of memory");
    size_t len = strlen(text);
    char *buf = realloc(text, len + 2);
    if (!buf) {
        free(text);
        return gq_fail(err, GQ_ERR_NOMEM, "results.json: out of memory");
    }
    buf[len++] = '\n';
    char *path = gq_path_join(dir, "results.json");
    gq_status st = path ? gq_write_file_atomic(path, buf, len, err)
                        : gq_fail(err, GQ_ERR_NOMEM, "results.json: out of memory");
    free(path);
    free(buf);
    return st;
}

/* How a per-example array is printed: class ids, floats (9 digits, as the logits), or
 * doubles (15 digits, as a regression's gold scores). */
enum { AS_INT, AS_FLOAT, AS_DOUBLE };

static void print_array(FILE *f, const cJSON *a, int as) {
    if (cJSON_IsRaw(a)) { /* rows made in this process carry their arrays preformatted */
        fputs(a->valuestring, f);
        return;
    }
    fputc('[', f);
    for (const cJSON *x = a ? a->child : NULL; x; x = x->next) {
        if (x != a->child) fputc(',', f);
        if (as == AS_FLOAT) fprintf(f, "%.9g", (double)(float)x->valuedouble);
        else if (as == AS_DOUBLE) fprintf(f, "%.15g", x->valuedouble);
        else fprintf(f, "%d", x->valueint);
    }
    fputc(']', f);
}

static gq_status write_predictions(const char *dir, const cJSON *rows, gq_err *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return gq_fail(err, GQ_ERR_NOMEM, "predictions.jsonl: out of memory");
    for (const cJSON *r = rows->child; r; r = r->next) {
        double n_labels = num(r, "n_labels", 2);
        int regression = n_labels == 1;
        fprintf(f, "{\"point_id\":\"%s\",\"task\":\"%s\",\"n_labels\":%.15g,\"labels\":", str(r, "point_id"),
                str(r, "task"), n_labels);
        print_array(f, cJSON_GetObjectItemCaseSensitive(r, "labels"), regression ? AS_DOUBLE : AS_INT);
        fputs(",\"preds\":", f);
        print_array(f, cJSON_GetObjectItemCaseSensitive(r, "preds"), regression ? AS_FLOAT : AS_INT);
        fputs(",\"logits\":", f);
        print_array(f, cJSON_GetObjectItemCaseSensitive(r, "logits"), AS_FLOAT);
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(r, "parts");
        if (cJSON_IsArray(parts)) {
            fputs(",\"parts\":", f);
            print_array(f, parts, AS_INT);
        }
        fputs("}\n", f);
    }
    return finish(f, 1, &buf, &len, dir, "predictions.jsonl", err);
}

/* ---- grouping rows for tables and plots ---- */

/* A point's budget: k (> 0) or p (> 0); 0 for FP32 and uniform. */
static double budget_of(const cJSON *r) {
    double k = num(r, "k", -1), p = num(r, "p", -1);
    return p > 0 ? p : k > 0 ? k : 0;
}

static int uses_p(const cJSON *rows) {
    for (const cJSON *r = rows->child; r; r = r->next)
        if (num(r, "p", -1) > 0) return 1;
    return 0;
}

static void quantizer_label(const cJSON *r, char *buf, size_t n) {
    char algo[96] = "";
    const char *a = str(r, "algorithm");
    if (*a && strcmp(a, "rtn")) { /* rows without the column are rtn */
        int u = snprintf(algo, sizeof algo, " %s", a);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "act_order")) && u > 0 && (size_t)u < sizeof algo)
            u += snprintf(algo + u, sizeof algo - (size_t)u, " act_order");
        if (num(r, "sarqc_lambda", 0) > 0 && u > 0 && (size_t)u < sizeof algo)
            u += snprintf(algo + u, sizeof algo - (size_t)u, " sarqc:%g:%s", num(r, "sarqc_lambda", 0),
                          str(r, "sarqc_saliency"));
        if (!strcmp(str(r, "calib_from"), "quantized") && u > 0 && (size_t)u < sizeof algo)
            snprintf(algo + u, sizeof algo - (size_t)u, " from:quantized");
    }
    snprintf(buf, n, "%s %s %s%s%s", str(r, "scheme"), str(r, "granularity"), str(r, "clip"),
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "stats_exclude_protected")) ? " exclude" : "", algo);
}

/* Whether rows of `task` (NULL = all) use more than one quantizer, which then enters the
 * series labels. */
static int quantizers_vary(const cJSON *rows, const char *task) {
    char q0[160] = "", q[160];
    for (const cJSON *r = rows->child; r; r = r->next) {
        if ((task && strcmp(str(r, "task"), task)) || !strcmp(str(r, "method"), "fp32")) continue;
        quantizer_label(r, q, sizeof q);
        if (!*q0) snprintf(q0, sizeof q0, "%s", q);
        else if (strcmp(q, q0)) return 1;
    }
    return 0;
}

/* Whether rows of `method` differ in their options (e.g. seeds): only then do the
 * options enter the labels. */
static int options_vary(const cJSON *rows, const char *method) {
    const char *first = NULL;
    for (const cJSON *r = rows->child; r; r = r->next) {
        if (strcmp(str(r, "method"), method)) continue;
        if (!first) first = str(r, "method_options");
        else if (strcmp(first, str(r, "method_options"))) return 1;
    }
    return 0;
}

/* The series a row belongs to: what stays fixed along a budget axis. */
static void series_label(const cJSON *rows, const cJSON *r, int need_q, char *buf, size_t n) {
    if (!strcmp(str(r, "method"), "fp32")) {
        snprintf(buf, n, "FP32");
        return;
    }
    char q[160] = "";
    if (need_q) quantizer_label(r, q + 2, sizeof q - 2), q[0] = ',', q[1] = ' ';
    const char *mo = options_vary(rows, str(r, "method")) ? str(r, "method_options") : "";
    snprintf(buf, n, "%s int%.15g%s%s%s%s", str(r, "method"), num(r, "bits", 0), *mo ? " (" : "", mo, *mo ? ")" : "",
             q);
}

typedef struct {
    int n;
    char **v;
    int oom; /* an add ran out of memory: the list is incomplete */
} strlist;

static void strlist_add(strlist *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return;
    char **g = realloc(l->v, (size_t)(l->n + 1) * sizeof *g);
    if (g) l->v = g;
    if (!g || !(l->v[l->n] = gq_strdup(s))) l->oom = 1;
    else l->n++;
}

static void strlist_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->n = 0;
    l->v = NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct budgets > 0 of the rows of task (NULL: all tasks); returns the count. */
static int budgets_of(const cJSON *rows, const char *task, double *out, int cap) {
    int n = 0;
    for (const cJSON *r = rows->child; r; r = r->next) {
        if (task && strcmp(str(r, "task"), task)) continue;
        double b = budget_of(r);
        int seen = b <= 0;
        for (int i = 0; i < n && !seen; i++) seen = out[i] == b;
        if (!seen && n < cap) out[n++] = b;
    }
    qsort(out, (size_t)n, sizeof *out, cmp_double);
    return n;
}

static void budget_str(double b, int is_p, char *buf, size_t n) {
    if (is_p) snprintf(buf, n, "%.6g", b);
    else snprintf(buf, n, "%lld", (long long)b);
}

/* ---- table.md ---- */

/* A metric column of a row: its key and the dev file's suffix ("" or MNLI's "_mm"). */
typedef struct {
    const char *key, *sfx;
} column;

#define MAX_COLUMNS 8

/* The metric columns of a task's rows, the main metric first (on each of MNLI's dev
 * files), then the others it reports; a task glueq does not know shows accuracy (and F1
 * where its rows have it). */
static int task_columns(const cJSON *rows, const char *task, column *out) {
    const gq_glue_task *t = gq_glue_task_find(task);
    static const char *const SFX[GQ_GLUE_MAX_DEV] = {"", "_mm"};
    int n = 0;
    if (!t) {
        out[n++] = (column){"accuracy", ""};
        for (const cJSON *r = rows->child; r; r = r->next)
            if (!strcmp(str(r, "task"), task) && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "f1"))) {
                out[n++] = (column){"f1", ""};
                break;
            }
        return n;
    }
    for (int p = 0; p < t->n_dev; p++) out[n++] = (column){gq_metric_name(t->main), SFX[p]};
    for (gq_metric m = 0; m < GQ_METRIC_COUNT; m++)
        if (m != t->main && (t->metrics & GQ_METRIC_BIT(m))) out[n++] = (column){gq_metric_name(m), ""};
    return n;
}

/* The headline of a task as GLUE reports it: its metrics but accuracy where that is not
 * the main one (CoLA), on each dev file. */
static int headline_columns(const char *task, column *out) {
    const gq_glue_task *t = gq_glue_task_find(task);
    column all[MAX_COLUMNS];
    int n = 0, m = task_columns(NULL, task, all);
    if (!t) return out[0] = all[0], 1;
    for (int i = 0; i < m; i++)
        if (strcmp(all[i].key, "accuracy") || t->main == GQ_METRIC_ACCURACY) out[n++] = all[i];
    return n;
}

static gq_metric metric_named(const char *key) {
    gq_metric m = 0;
    while (m < GQ_METRIC_COUNT && strcmp(gq_metric_name(m), key)) m++;
    return m;
}

static const cJSON *row_value(const cJSON *r, column c) {
    char k[64];
    snprintf(k, sizeof k, "%s%s", c.key, c.sfx);
    return cJSON_GetObjectItemCaseSensitive(r, k);
}

/* A metric cell: accuracy with its counts, the others x100; "n/a" where undefined. */
static void md_cell(FILE *f, const cJSON *r, column c) {
    const cJSON *v = row_value(r, c);
    if (!cJSON_IsNumber(v)) {
        fputs(" n/a |", f);
    } else if (!strcmp(c.key, "accuracy")) {
        fprintf(f, " %.2f (%.15g/%.15g) |", 100 * v->valuedouble, cJSON_GetNumberValue(row_value(r, (column){"correct", c.sfx})),
                cJSON_GetNumberValue(row_value(r, (column){"total", c.sfx})));
    } else {
        fprintf(f, " %.2f |", 100 * v->valuedouble);
    }
}

/* Fidelity to FP32: agreement and flips, or a regression's RMS score difference. */
static void md_fidelity(FILE *f, const cJSON *r) {
    const cJSON *rmse = cJSON_GetObjectItemCaseSensitive(r, "rmse");
    if (cJSON_IsNumber(rmse))
        fprintf(f, " %.4g |", rmse->valuedouble);
    else
        fprintf(f, " %.2f (%.15g flip%s) |", 100 * num(r, "agreement", 0), num(r, "flips", 0),
                num(r, "flips", 0) == 1 ? "" : "s");
}

#define MAX_BUDGETS 256

/* A table of one task: series x budgets, cells of column c (c.key NULL: fidelity). Returns
 * 0 when out of memory (the table is then incomplete). */
static int md_pivot(FILE *f, const cJSON *rows, const char *task, column c, const char *title) {
    double b[MAX_BUDGETS];
    int nb = budgets_of(rows, task, b, MAX_BUDGETS), is_p = uses_p(rows), need_q = quantizers_vary(rows, task);
    fprintf(f, "%s\n\n| method | %s=0 |", title, is_p ? "p" : "k");
    for (int i = 0; i < nb; i++) {
        char s[32];
        budget_str(b[i], is_p, s, sizeof s);
        fprintf(f, " %s=%s |", is_p ? "p" : "k", s);
    }
    fputs("\n|---|---:|", f);
    for (int i = 0; i < nb; i++) fputs("---:|", f);
    fputc('\n', f);
    strlist series = {0};
    char lab[512], lab2[512];
    for (const cJSON *r = rows->child; r; r = r->next)
        if (!strcmp(str(r, "task"), task)) series_label(rows, r, need_q, lab, sizeof lab), strlist_add(&series, lab);
    for (int s = 0; s < series.n; s++) {
        fprintf(f, "| %s |", series.v[s]);
        for (int col = -1; col < nb; col++) {
            const cJSON *hit = NULL;
            for (const cJSON *r = rows->child; r && !hit; r = r->next) {
                if (strcmp(str(r, "task"), task)) continue;
                series_label(rows, r, need_q, lab2, sizeof lab2);
                double bud = budget_of(r);
                if (!strcmp(lab2, series.v[s]) && (col < 0 ? bud == 0 : bud == b[col])) hit = r;
            }
            if (!hit) fputs("  |", f);
            else if (c.key) md_cell(f, hit, c);
            else md_fidelity(f, hit);
        }
        fputc('\n', f);
    }
    fputc('\n', f);
    int ok = !series.oom;
    strlist_free(&series);
    return ok;
}

/* "Accuracy % on dev_mismatched (correct/total):" */
static void column_title(const char *task, column c, char *buf, size_t n) {
    const gq_glue_task *t = gq_glue_task_find(task);
    const char *file = t && t->n_dev > 1 ? t->dev[*c.sfx ? 1 : 0] : NULL;
    char on[64] = "";
    if (file) snprintf(on, sizeof on, " on %s", file);
    if (!strcmp(c.key, "accuracy")) snprintf(buf, n, "Accuracy %%%s (correct/total):", on);
    else if (!strcmp(c.key, "f1")) snprintf(buf, n, "F1 %%%s (positive class 1):", on);
    else if (!strcmp(c.key, "mcc")) snprintf(buf, n, "Matthews corr. x100%s:", on);
    else if (!strcmp(c.key, "pearson")) snprintf(buf, n, "Pearson r x100%s (of predicted and gold scores):", on);
    else snprintf(buf, n, "Spearman rho x100%s (of predicted and gold scores):", on);
}

/* The rows' tasks in GLUE's order (tasks glueq does not know last, as they come). */
static void tasks_in_glue_order(const cJSON *rows, strlist *tasks) {
    for (const cJSON *r = rows->child; r; r = r->next) strlist_add(tasks, str(r, "task"));
    for (int i = 1; i < tasks->n; i++) /* insertion sort: stable, and a handful of tasks */
        for (int j = i; j > 0 && gq_glue_task_rank(tasks->v[j - 1]) > gq_glue_task_rank(tasks->v[j]); j--) {
            char *x = tasks->v[j];
            tasks->v[j] = tasks->v[j - 1], tasks->v[j - 1] = x;
        }
}

/* "CoLA (mcc)", "MRPC (accuracy/f1)", "MNLI (m/mm)": a headline column's heading. */
static void headline_heading(const char *task, char *buf, size_t n) {
    const gq_glue_task *t = gq_glue_task_find(task);
    column c[MAX_COLUMNS];
    int k = headline_columns(task, c);
    size_t w = (size_t)snprintf(buf, n, "%s (", t ? t->display : task);
    for (int i = 0; i < k && w < n; i++)
        w += (size_t)snprintf(buf + w, n - w, "%s%s", i ? "/" : "", t && t->n_dev > 1 ? t->dev_short[*c[i].sfx ? 1 : 0]
                                                                                 : c[i].key);
    if (w < n) snprintf(buf + w, n - w, ")");
}

/* A row's setting across tasks: its series and budget ("svd int4, k=16"). */
static void setting_label(const cJSON *rows, const cJSON *r, int need_q, int is_p, char *buf, size_t n) {
    char lab[512], b[40] = "";
    if (budget_of(r) > 0) budget_str(budget_of(r), is_p, b, sizeof b);
    series_label(rows, r, need_q, lab, sizeof lab);
    snprintf(buf, n, "%s%s%s", lab, *b ? (is_p ? ", p=" : ", k=") : "", b);
}

/* One row per setting (series and budget), one column per task with its headline
 * metrics x100, as GLUE's tables show them. Returns 0 when out of memory. */
static int md_headline(FILE *f, const cJSON *rows, const strlist *tasks) {
    int need_q = quantizers_vary(rows, NULL), is_p = uses_p(rows);
    fputs("## Headline metrics (x100)\n\n| setting |", f);
    char lab[640];
    for (int t = 0; t < tasks->n; t++) headline_heading(tasks->v[t], lab, sizeof lab), fprintf(f, " %s |", lab);
    fputs("\n|---|", f);
    for (int t = 0; t < tasks->n; t++) fputs("---:|", f);
    fputc('\n', f);
    strlist settings = {0};
    for (const cJSON *r = rows->child; r; r = r->next)
        setting_label(rows, r, need_q, is_p, lab, sizeof lab), strlist_add(&settings, lab);
    for (int s = 0; s < settings.n; s++) {
        fprintf(f, "| %s |", settings.v[s]);
        for (int t = 0; t < tasks->n; t++) {
            const cJSON *hit = NULL;
            for (const cJSON *r = rows->child; r && !hit; r = r->next) {
                if (strcmp(str(r, "task"), tasks->v[t])) continue;
                setting_label(rows, r, need_q, is_p, lab, sizeof lab);
                if (!strcmp(lab, settings.v[s])) hit = r;
            }
            column c[MAX_COLUMNS];
            int k = hit ? headline_columns(tasks->v[t], c) : 0;
            fputc(' ', f);
            for (int i = 0; i < k; i++) {
                const cJSON *v = row_value(hit, c[i]);
                if (cJSON_IsNumber(v)) fprintf(f, "%s%.2f", i ? "/" : "", 100 * v->valuedouble);
                else fprintf(f, "%sn/a", i ? "/" : "");
            }
            fputs(" |", f);
        }
        fputc('\n', f);
    }
    fputc('\n', f);
    int ok = !settings.oom;
    strlist_free(&settings);
    return ok;
}

static gq_status write_markdown(const char *dir, const cJSON *config, const cJSON *rows, gq_err *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return gq_fail(err, GQ_ERR_NOMEM, "table.md: out of memory");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(config, "name");
    int is_p = uses_p(rows);
    fprintf(f, "# %s\n\nColumns: protected weights per matrix (%s); k=0 holds FP32 and uniform quantization. "
               "Cells: accuracy %% (correct/total), other metrics x100; tasks in GLUE's order.\n\n",
            cJSON_IsString(name) ? name->valuestring : "glueq sweep",
            is_p ? "p = fraction of each matrix" : "k = count per matrix");
    strlist tasks = {0};
    tasks_in_glue_order(rows, &tasks);
    int ok = !tasks.oom && (tasks.n < 2 || md_headline(f, rows, &tasks));
    for (int t = 0; t < tasks.n && ok; t++) {
        const cJSON *any = NULL, *fp = NULL;
        for (const cJSON *r = rows->child; r; r = r->next) {
            if (strcmp(str(r, "task"), tasks.v[t])) continue;
            if (!any) any = r;
            if (!fp && !strcmp(str(r, "method"), "fp32")) fp = r;
        }
        const char *data = str(any, "data_sha256"), *second = strchr(data, ',');
        fprintf(f, "## %s\n\n%.15g dev examples", tasks.v[t], num(any, "total", 0));
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(any, "total_mm")))
            fprintf(f, " (dev_matched) and %.15g (dev_mismatched)", num(any, "total_mm", 0));
        fprintf(f, "; checkpoint sha256 %.12s; data sha256 %.12s", str(any, "checkpoint_sha256"), data);
        if (second) fprintf(f, ", %.12s", second + 1);
        fputs(".\n\n", f);
        column c[MAX_COLUMNS];
        int nc = task_columns(rows, tasks.v[t], c);
        for (int i = 0; i < nc && ok; i++) {
            char title[160];
            column_title(tasks.v[t], c[i], title, sizeof title);
            ok = md_pivot(f, rows, tasks.v[t], c[i], title);
        }
        const char *fid = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(any, "rmse"))
                              ? "Fidelity to FP32: RMS difference of the predicted scores:"
                              : "Fidelity to FP32: agreement % (predictions that flipped):";
        if (ok)
            ok = md_pivot(f, rows, tasks.v[t], (column){NULL, ""},
                          fp ? fid : "Fidelity to FP32 (no FP32 row in these results):");
    }
    strlist_free(&tasks);
    return finish(f, ok, &buf, &len, dir, "table.md", err);
}

/* ---- plot.svg ---- */

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define N_COLORS (int)(sizeof COLORS / sizeof COLORS[0])

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else fputc(*s, f);
    }
}

enum { PW = 420, PH = 300, ML = 60, MR = 20, MT = 40, MB = 55 };

/* What every panel of the plot shares: the series, the budgets on the x axis (log2 range
 * x0..x1) and how rows are labelled. */
typedef struct {
    const cJSON *rows;
    const strlist *series;
    int need_q, is_p, nb;
    const double *b;
    double x0, x1;
} svg_plot;

/* One panel's frame: its origin, size and y range (y0..y1 in ticks of step). */
typedef struct {
    int ox, oy, w, h;
    double y0, y1, step;
} svg_frame;

static double svg_x(const svg_plot *pl, const svg_frame *fr, double v) {
    return fr->ox + (log2(v) - pl->x0) / (pl->x1 - pl->x0) * fr->w;
}

static double svg_y(const svg_frame *fr, double v) { return fr->oy + fr->h - (v - fr->y0) / (fr->y1 - fr->y0) * fr->h; }

/* The y range of task's main metric x100, rounded out to a tick step that gives at most
 * 6 ticks; an empty panel when no value is defined. */
static void svg_y_range(const cJSON *rows, const char *task, column main, svg_frame *fr) {
    double y0 = 1e9, y1 = -1e9;
    for (const cJSON *r = rows->child; r; r = r->next)
        if (!strcmp(str(r, "task"), task) && cJSON_IsNumber(row_value(r, main))) {
            double a = 100 * row_value(r, main)->valuedouble;
            y0 = fmin(y0, a), y1 = fmax(y1, a);
        }
    if (y0 > y1) y0 = 0, y1 = 1;
    static const double steps[] = {0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 25, 50};
    double step = 50;
    for (int i = 0; i < 10; i++)
        if ((y1 - y0 + 1) / steps[i] <= 5) {
            step = steps[i];
            break;
        }
    fr->step = step, fr->y0 = floor((y0 - 0.5) / step) * step, fr->y1 = ceil((y1 + 0.5) / step) * step;
}

/* The panel's title, frame, grid, ticks and axis labels. */
static void svg_axes(FILE *f, const svg_plot *pl, const svg_frame *fr, const char *task, column main) {
    int ox = fr->ox, oy = fr->oy, w = fr->w, h = fr->h;
    fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">", ox + w / 2,
            MT - 14);
    xml_text(f, task);
    fprintf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", ox, oy,
            w, h);
    for (double y = fr->y0; y <= fr->y1 + 1e-9; y += fr->step)
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" "
                "text-anchor=\"end\">%g</text>\n",
                ox, svg_y(fr, y), ox + w, svg_y(fr, y), ox - 4, svg_y(fr, y) + 4, y);
    for (int i = 0; i < pl->nb; i++) {
        char s[32];
        double x = svg_x(pl, fr, pl->b[i]);
        budget_str(pl->b[i], pl->is_p, s, sizeof s);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/><text x=\"%.1f\" y=\"%d\" "
                "text-anchor=\"middle\">%s</text>\n",
                x, oy + h, x, oy + h + 4, x, oy + h + 16, s);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", ox + w / 2, oy + h + 34,
            pl->is_p ? "protected fraction per matrix p (log scale)" : "protected weights per matrix k (log scale)");
    char ylab[96];
    if (!strcmp(main.key, "accuracy")) snprintf(ylab, sizeof ylab, "accuracy (%%)");
    else snprintf(ylab, sizeof ylab, "%s (x100)", gq_metric_title(metric_named(main.key)));
    fprintf(f, "<text transform=\"translate(%d %d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", ox - 40,
            oy + h / 2, ylab);
}

/* Series s of one panel: FP32 and uniform (no budget) as dashed horizontal lines, the
 * others as a polyline over their budgets in ascending order. */
static void svg_series(FILE *f, const svg_plot *pl, const svg_frame *fr, const char *task, column main, int s) {
    const char *color = COLORS[s % N_COLORS];
    double px[MAX_BUDGETS], py[MAX_BUDGETS];
    int npts = 0;
    char lab[512];
    for (const cJSON *r = pl->rows->child; r; r = r->next) {
        if (strcmp(str(r, "task"), task)) continue;
        series_label(pl->rows, r, pl->need_q, lab, sizeof lab);
        if (strcmp(lab, pl->series->v[s]) || !cJSON_IsNumber(row_value(r, main))) continue;
        double a = 100 * row_value(r, main)->valuedouble, bud = budget_of(r);
        if (bud <= 0)
            fprintf(f,
                    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"1.5\" stroke-dasharray=\"%s\"/>\n",
                    fr->ox, svg_y(fr, a), fr->ox + fr->w, svg_y(fr, a), color, strcmp(lab, "FP32") ? "2 3" : "7 4");
        else if (npts < MAX_BUDGETS)
            px[npts] = bud, py[npts++] = a;
    }
    /* budgets in config order need not ascend; at most MAX_BUDGETS of them */
    for (int i = 1; i < npts; i++)
        for (int j = i; j > 0 && px[j - 1] > px[j]; j--) {
            double tx = px[j], ty = py[j];
            px[j] = px[j - 1], py[j] = py[j - 1], px[j - 1] = tx, py[j - 1] = ty;
        }
    if (npts > 1) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
        for (int i = 0; i < npts; i++)
            fprintf(f, i ? " %.1f,%.1f" : "%.1f,%.1f", svg_x(pl, fr, px[i]), svg_y(fr, py[i]));
        fputs("\"/>\n", f);
    }
    for (int i = 0; i < npts; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", svg_x(pl, fr, px[i]), svg_y(fr, py[i]),
                color);
}

/* Panel t of the plot: one task's main metric against the budget, every series. */
static void svg_panel(FILE *f, const svg_plot *pl, const char *task, int t) {
    column cols[MAX_COLUMNS];
    task_columns(pl->rows, task, cols);
    svg_frame fr = {.ox = PW * t + ML, .oy = MT, .w = PW - ML - MR, .h = PH - MT - MB};
    svg_y_range(pl->rows, task, cols[0], &fr);
    svg_axes(f, pl, &fr, task, cols[0]);
    for (int s = 0; s < pl->series->n; s++) svg_series(f, pl, &fr, task, cols[0], s);
    fputs("</g>\n", f);
}

/* The legend under the panels, three series a row, dashed as their lines are. */
static void svg_legend(FILE *f, const strlist *series, int width) {
    for (int s = 0; s < series->n; s++) {
        int lx = 20 + (s % 3) * (width - 20) / 3, ly = PH + 10 + 18 * (s / 3);
        const char *dash = !strcmp(series->v[s], "FP32")               ? " stroke-dasharray=\"7 4\""
                           : !strncmp(series->v[s], "uniform ", 8) ? " stroke-dasharray=\"2 3\""
                                                                   : "";
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>", lx, ly, lx + 24,
                ly, COLORS[s % N_COLORS], dash);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", lx + 30, ly + 4);
        xml_text(f, series->v[s]);
        fputs("</text>\n", f);
    }
}

/* plot.svg: one panel per task (GLUE's order), the main metric against log2 of the budget. */
static gq_status write_svg(const char *dir, const cJSON *rows, gq_err *err) {
    strlist tasks = {0}, series = {0};
    double b[MAX_BUDGETS];
    svg_plot pl = {.rows = rows, .series = &series, .need_q = quantizers_vary(rows, NULL), .is_p = uses_p(rows), .b = b};
    char lab[512];
    tasks_in_glue_order(rows, &tasks);
    for (const cJSON *r = rows->child; r; r = r->next) {
        series_label(rows, r, pl.need_q, lab, sizeof lab);
        strlist_add(&series, lab);
    }
    pl.nb = budgets_of(rows, NULL, b, MAX_BUDGETS);
    pl.x0 = pl.nb ? log2(b[0]) : 0, pl.x1 = pl.nb ? log2(b[pl.nb - 1]) : 1;
    pl.x0 -= 0.5, pl.x1 += 0.5; /* half an octave of air so end points sit inside the frame */
    int width = PW * (tasks.n ? tasks.n : 1), height = PH + 20 + 18 * ((series.n + 2) / 3);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        strlist_free(&tasks), strlist_free(&series);
        return gq_fail(err, GQ_ERR_NOMEM, "plot.svg: out of memory");
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    for (int t = 0; t < tasks.n; t++) svg_panel(f, &pl, tasks.v[t], t);
    svg_legend(f, &series, width);
    fputs("</svg>\n", f);
    int complete = !tasks.oom && !series.oom;
    strlist_free(&tasks), strlist_free(&series);
    return finish(f, complete, &buf, &len, dir, "plot.svg", err);
}

gq_status gq_report_write(const char *dir, const cJSON *config, const cJSON *provenance, const cJSON *rows,
                          gq_err *err) {
    gq_status st = write_csv(dir, rows, err);
    if (st == GQ_OK) st = write_json(dir, config, provenance, rows, err);
    if (st == GQ_OK) st = write_predictions(dir, rows, err);
    if (st == GQ_OK) st = write_markdown(dir, config, rows, err);
    if (st == GQ_OK) st = write_svg(dir, rows, err);
    return st;
}
