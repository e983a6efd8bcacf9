/* replay: runs a fuzz target's LLVMFuzzerTestOneInput over files and directories outside
 * libFuzzer, so that the normal builds (Release and ASan + UBSan) test every past finding
 * (fuzz/regress/<target>/) and the hand-made seeds (fuzz/seeds/<target>/) with the same
 * checks as the fuzzer. A finding aborts; success prints the number of inputs. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path) {
    char *buf = NULL;
    size_t len = 0;
    gq_err err = {{0}};
    if (gq_read_file(path, 0, &buf, &len, &err) != GQ_OK) {
        fprintf(stderr, "replay: %s\n", err.msg);
        exit(1);
    }
    fprintf(stderr, "replay: %s\n", path); /* the last line before an abort names the input */
    LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    free(buf);
    return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int replay(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* a target without regressions or seeds yet */
    if (!S_ISDIR(st.st_mode)) return replay_file(path);
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, by_name), count = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *p = gq_path_join(path, names[i]->d_name);
            if (!p) exit(1);
            count += replay_file(p);
            free(p);
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int count = 0;
    for (int i = 1; i < argc; i++) count += replay(argv[i]);
    printf("ok   %d inputs replayed without a finding\n", count);
    return 0;
}
