/* glueq: command-line entry point; the commands are the table of cli/commands.c. */
#include <stdio.h>
#include <unistd.h>

#include "blas.h"
#include "cli.h"

int main(int argc, char **argv) {
    gq_blas_select_kernels(argv);
    gq_err err = {{0}};
    if (gq_blas_reserve(&err) != GQ_OK) {
        fprintf(stderr, "glueq: %s\n", err.msg);
        return 1;
    }
    int rc = gq_cli_main(argc, argv);
    if (gq_blas_address_space_limited()) { /* OpenBLAS's exit handler could wait forever (blas.h) */
        fflush(NULL);
        _exit(rc);
    }
    return rc;
}
