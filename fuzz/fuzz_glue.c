/* fuzz_glue: GLUE TSV files on arbitrary bytes; the first byte picks the task (its columns)
 * and the name the file is read as (MNLI's split check), the rest is the file. */
#include "fuzz.h"
#include "glue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {FUZZ_PATH, FUZZ_PATH "/dev_matched.tsv", FUZZ_PATH "/dev_mismatched.tsv"};
    if (size < 1) return 0;
    const gq_glue_task *task = &gq_glue_tasks[data[0] % gq_glue_n_tasks];
    const char *path = names[data[0] / gq_glue_n_tasks % 3];
    char *buf = fuzz_cstr(data + 1, size - 1);
    if (!buf) return 0;
    gq_glue_set *set = NULL;
    gq_err err = {{0}};
    gq_status st = gq_glue_parse(task, path, buf, size - 1, &set, &err);
    fuzz_check_error(st, &err);
    for (int i = 0; st == GQ_OK && i < set->n; i++) {
        const gq_glue_row *r = &set->rows[i];
        if (!r->a || (r->b == NULL) != task->single || r->label < -1 || r->label >= task->n_labels ||
            (set->labelled && r->label < 0) || !(r->score >= 0 && r->score <= 5))
            abort();
        (void)strlen(r->a), (void)(r->b && strlen(r->b));
    }
    gq_glue_free(set);
    free(buf);
    return 0;
}
