/* test_tokenizer_qnli: every QNLI dev pair (5463) against fixtures/tokrefs/qnli-dev.jsonl,
 * untruncated (`ids`) and truncated to 128 (`ids128`). The time the whole set takes is
 * printed, not asserted (a timed check fails under load and sanitizers; bench/ measures
 * speed). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "testlib.h"
#include "tokenizer.h"

#define MAX_REPORTED 5 /* mismatching rows printed in full */


static void print_ids(const char *label, const int32_t *v, int n) {
    fprintf(stderr, "    %s (%d):", label, n);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", v[i]);
    fputc('\n', stderr);
}

/* Whether got equals the JSON array want; prints both the first few times it does not. */
static int ids_equal(const gq_ids *got, const cJSON *want, int row, const char *field, int *reported) {
    int n = cJSON_GetArraySize(want), same = cJSON_IsArray(want) && n == got->n;
    for (int i = 0; same && i < n; i++) same = cJSON_GetArrayItem(want, i)->valueint == got->v[i];
    if (same) return 1;
    if ((*reported)++ < MAX_REPORTED) {
        fprintf(stderr, "  mismatch: qnli row %d %s\n", row, field);
        print_ids("got ", got->v, got->n);
        fprintf(stderr, "    want (%d):", n);
        for (int i = 0; i < n; i++) fprintf(stderr, " %d", cJSON_GetArrayItem(want, i)->valueint);
        fputc('\n', stderr);
    }
    return 0;
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_err err = {{0}};
    char *vocab = gq_test_path(&t, "assets/vocab/vocab.txt"), *root = gq_test_path(&t, "assets/glue");
    char *fixture = gq_test_path(&t, "fixtures/tokrefs/qnli-dev.jsonl");
    const gq_glue_task *task = gq_glue_task_find("qnli");
    char *dev = gq_glue_split_path(task, root, "dev");
    gq_tok *tok = NULL;
    gq_glue_set *set = NULL;
    char *json = NULL;
    if (gq_tok_load(vocab, &tok, &err) != GQ_OK || gq_glue_load(task, dev, &set, &err) != GQ_OK ||
        gq_read_file(fixture, 0, &json, NULL, &err) != GQ_OK) {
        fprintf(stderr, "FATAL %s\n", err.msg);
        return 2;
    }

    /* Timing first, on its own: both encodings of every pair. */
    gq_ids ids = {0};
    double t0 = gq_now();
    long total = 0;
    for (int r = 0; r < set->n; r++) {
        gq_status st = gq_tok_encode(tok, set->rows[r].a, set->rows[r].b, 0, &ids, &err);
        if (st == GQ_OK) total += ids.n;
        if (st == GQ_OK) st = gq_tok_encode(tok, set->rows[r].a, set->rows[r].b, 128, &ids, &err);
        GQ_CHECK(&t, st == GQ_OK, "qnli row %d: %s", r, err.msg);
    }
    double secs = gq_now() - t0;
    printf("qnli: %d pairs (%ld tokens untruncated) encoded twice in %.3f s\n", set->n, total, secs);

    int rows = 0, matched = 0, reported = 0;
    for (char *line = json, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        cJSON *j = cJSON_Parse(line);
        const cJSON *row = cJSON_GetObjectItem(j, "row");
        int r = cJSON_IsNumber(row) ? row->valueint : -1;
        rows++;
        GQ_CHECK(&t, r >= 0 && r < set->n, "fixture line %d: row %d is not a row of dev.tsv", rows, r);
        if (r >= 0 && r < set->n) {
            int ok = 1;
            for (int pass = 0; pass < 2; pass++) {
                gq_status st = gq_tok_encode(tok, set->rows[r].a, set->rows[r].b, pass ? 128 : 0, &ids, &err);
                GQ_CHECK(&t, st == GQ_OK, "qnli row %d: %s", r, err.msg);
                const char *field = pass ? "ids128" : "ids";
                ok &= st == GQ_OK && ids_equal(&ids, cJSON_GetObjectItem(j, field), r, field, &reported);
            }
            matched += ok;
        }
        cJSON_Delete(j);
    }
    GQ_CHECK(&t, rows == set->n, "%d fixture lines for %d dev rows", rows, set->n);
    GQ_CHECK(&t, matched == rows && rows > 0, "%d of %d rows differ", rows - matched, rows);
    printf("qnli  %d/%d rows match (ids and ids128)\n", matched, rows);

    gq_ids_free(&ids);
    gq_glue_free(set);
    gq_tok_free(tok);
    free(json);
    free(vocab);
    free(root);
    free(fixture);
    free(dev);
    return gq_test_done(&t);
}
