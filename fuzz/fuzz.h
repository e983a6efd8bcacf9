/* fuzz: what the libFuzzer targets share.
 *
 * Each target feeds one parser the fuzzer's bytes from memory, as if they were a file
 * named FUZZ_PATH. Besides ASan and UBSan, every target checks glueq's rule for bad
 * input: a failure comes with one line of message naming the file. */
#ifndef GQ_FUZZ_H
#define GQ_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define FUZZ_PATH "fuzz-input"

/* Aborts (a finding) unless a failed call left one line that names FUZZ_PATH. */
static inline void fuzz_check_error(gq_status st, const gq_err *err) {
    if (st == GQ_OK) return;
    if (!strstr(err->msg, FUZZ_PATH) || strchr(err->msg, '\n')) {
        fprintf(stderr, "fuzz: status %s with a message that is not one line naming the file: '%s'\n",
                gq_status_str(st), err->msg);
        abort();
    }
}

/* A NUL-terminated copy of data (the parsers of text take C strings); NULL when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
