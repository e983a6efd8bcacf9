/* glueq: command-line entry point; dispatches to the subcommands in cli/. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "cli.h"
#include "version.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} command;

static const command COMMANDS[] = {
    {"eval", gq_cmd_eval, "evaluate a model (optionally quantized) on a GLUE split"},
    {"quantize", gq_cmd_quantize, "write a quantized model as a Hugging Face checkpoint directory"},
    {"logits", gq_cmd_logits, "print the logits of one input"},
    {"tokenize", gq_cmd_tokenize, "print BertTokenizer ids of a text, a pair or a TSV file"},
    {"info", gq_cmd_info, "describe a checkpoint"},
    {"overlap", gq_cmd_overlap, "compare the weights two saliency methods protect"},
    {"sweep", gq_cmd_sweep, "run a config's grid of tasks x methods x bits x budgets (resumable, shardable)"},
    {"merge", gq_cmd_merge, "combine the journals of sharded sweeps"},
    {"compare", gq_cmd_compare, "paired comparison of two result sets (McNemar, bootstrap CI)"},
};

static void usage(FILE *f) {
    fputs("usage: glueq COMMAND [OPTIONS]   (glueq COMMAND --help for each)\n"
          "       glueq --version          (version, git revision, BLAS library and kernels)\n\ncommands:\n", f);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].what);
}

int main(int argc, char **argv) {
    gq_blas_select_kernels(argv);
    gq_err err = {{0}};
    if (gq_blas_reserve(&err) != GQ_OK) {
        fprintf(stderr, "glueq: %s\n", err.msg);
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        gq_version_print(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) {
            int rc = COMMANDS[i].run(argc - 2, argv + 2);
            if (gq_blas_address_space_limited()) { /* OpenBLAS's exit handler could wait forever (blas.h) */
                fflush(NULL);
                _exit(rc);
            }
            return rc;
        }
    fprintf(stderr, "glueq: unknown command '%s' (see glueq --help)\n", argv[1]);
    return 2;
}
