/* fuzz_journal: a sweep journal (header line and row lines) on arbitrary bytes. */
#include "fuzz.h"
#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    if (!text) return 0;
    char hash[65];
    cJSON *header = NULL, *rows = NULL;
    size_t complete = 0;
    gq_err err = {{0}};
    gq_status st = gq_journal_parse(FUZZ_PATH, text, size, hash, &header, &rows, &complete, &err);
    fuzz_check_error(st, &err);
    if (st == GQ_OK && (complete > size || strlen(hash) != 64 || !cJSON_IsObject(header) || !cJSON_IsArray(rows)))
        abort();
    cJSON_Delete(header);
    cJSON_Delete(rows);
    free(text);
    return 0;
}
