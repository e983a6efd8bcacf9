/* metrics_dump: glueq's metrics of the cases on stdin, one JSON object a line, for
 * test_metrics_sklearn.sh to compare with scikit-learn and scipy. Input lines:
 *   {"kind": "class", "k": 2, "gold": [0, 1, ...], "pred": [1, 1, ...]}
 *   {"kind": "reg", "gold": [3.8, ...], "pred": [0.25, ...]}
 * Output: the gq_metrics fields with 17 significant digits, null where NaN. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void add(cJSON *o, const char *key, double v) {
    cJSON_AddItemToObject(o, key, isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v));
}

/* The numbers of a JSON array as doubles (and ints when ints is not NULL). */
static int numbers(const cJSON *a, int n, double *d, int *ints) {
    int i = 0;
    for (const cJSON *x = a ? a->child : NULL; x && i < n; x = x->next, i++) {
        if (!cJSON_IsNumber(x)) return 0;
        d[i] = x->valuedouble;
        if (ints) ints[i] = (int)x->valuedouble;
    }
    return i == n;
}

static cJSON *score(const cJSON *in) {
    const cJSON *gold = cJSON_GetObjectItem(in, "gold"), *pred = cJSON_GetObjectItem(in, "pred");
    int n = cJSON_GetArraySize(gold), k = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(in, "k"));
    int cls = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(in, "kind")), "class");
    size_t cap = (size_t)(n > 0 ? n : 1);
    double *g = calloc(cap, sizeof *g), *p = calloc(cap, sizeof *p);
    int *gi = calloc(cap, sizeof *gi), *pi = calloc(cap, sizeof *pi);
    cJSON *o = NULL;
    if (g && p && gi && pi && cJSON_GetArraySize(pred) == n && numbers(gold, n, g, gi) && numbers(pred, n, p, pi)) {
        gq_metrics m;
        o = cJSON_CreateObject();
        if (cls) {
            gq_metrics_compute(pi, gi, n, k, &m);
            add(o, "correct", m.correct), add(o, "total", m.total);
            add(o, "accuracy", m.accuracy), add(o, "acc_lo", m.acc_lo), add(o, "acc_hi", m.acc_hi);
            add(o, "f1", m.f1), add(o, "mcc", m.mcc);
            add(o, "mcc_lo", m.mcc_lo), add(o, "mcc_hi", m.mcc_hi), add(o, "f1_lo", m.f1_lo), add(o, "f1_hi", m.f1_hi);
            add(o, "mcc_score", gq_metric_score(GQ_METRIC_MCC, g, p, n, k));
            if (k == 2) add(o, "f1_score", gq_metric_score(GQ_METRIC_F1, g, p, n, k));
        } else {
            gq_metrics_regress(p, g, n, &m);
            add(o, "pearson", m.pearson), add(o, "pearson_lo", m.pearson_lo), add(o, "pearson_hi", m.pearson_hi);
            add(o, "spearman", m.spearman), add(o, "spearman_lo", m.spearman_lo), add(o, "spearman_hi", m.spearman_hi);
            add(o, "pearson_score", gq_metric_score(GQ_METRIC_PEARSON, g, p, n, 0));
            add(o, "spearman_score", gq_metric_score(GQ_METRIC_SPEARMAN, g, p, n, 0));
        }
    }
    free(g), free(p), free(gi), free(pi);
    return o;
}

int main(void) {
    static char line[1 << 20];
    int rc = 0;
    while (fgets(line, sizeof line, stdin)) {
        cJSON *in = cJSON_Parse(line), *o = in ? score(in) : NULL;
        char *text = o ? cJSON_PrintUnformatted(o) : NULL;
        if (text) puts(text);
        else fprintf(stderr, "metrics_dump: bad input line: %.80s\n", line), rc = 1;
        free(text);
        cJSON_Delete(o), cJSON_Delete(in);
    }
    return rc;
}
