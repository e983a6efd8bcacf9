/* testtok: see testtok.h. */
#include "testtok.h"

#include <stdlib.h>
#include <string.h>

void gq_test_print_ids(const char *label, const int32_t *v, int n) {
    fprintf(stderr, "    %s (%d):", label, n);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", v[i]);
    fputc('\n', stderr);
}

int gq_test_ids_equal(const gq_ids *ids, const cJSON *want, const char *what, int *reported) {
    int n = cJSON_GetArraySize(want), same = cJSON_IsArray(want) && n == ids->n;
    for (int i = 0; same && i < n; i++) same = cJSON_GetArrayItem(want, i)->valueint == ids->v[i];
    if (same) return 1;
    if ((*reported)++ < GQ_TEST_MAX_REPORTED) {
        fprintf(stderr, "  mismatch: %s\n", what);
        gq_test_print_ids("got ", ids->v, ids->n);
        int32_t *w = malloc(((size_t)n + 1) * sizeof *w);
        for (int i = 0; w && i < n; i++) w[i] = cJSON_GetArrayItem(want, i)->valueint;
        if (w) gq_test_print_ids("want", w, n);
        free(w);
    }
    return 0;
}

/* U+0000 cannot reach the tokenizer: its texts are C strings, and the GLUE loader rejects
 * NUL bytes. WordPiece's cleaning drops U+0000, so removing each JSON escape \u0000 from
 * a line leaves the text whose ids the fixture expects. */
static void drop_json_nul(char *line) {
    char *w = line;
    for (const char *r = line; *r;) {
        if (strncmp(r, "\\u0000", 6) == 0 && (r == line || r[-1] != '\\')) {
            r += 6;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

int gq_test_each_json_line(gq_test_ctx *t, const char *path, void (*fn)(gq_test_ctx *, const cJSON *, void *),
                          void *ctx) {
    char *buf = NULL;
    gq_err err = {{0}};
    gq_status st = gq_read_file(path, 0, &buf, NULL, &err);
    GQ_CHECK(t, st == GQ_OK, "%s", err.msg);
    if (st != GQ_OK) return -1;
    int lines = 0;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        drop_json_nul(line);
        cJSON *j = cJSON_Parse(line);
        GQ_CHECK(t, j != NULL, "%s: line %d is not JSON", path, lines + 1);
        if (j) fn(t, j, ctx);
        cJSON_Delete(j);
        lines++;
    }
    free(buf);
    return lines;
}

