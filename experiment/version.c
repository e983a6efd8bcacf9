/* version: see version.h. gq_version.h is generated at build time (cmake/version.cmake). */
#include "version.h"

#include <stdlib.h>

#include "blas.h"
#include "gq_version.h"

char *openblas_get_corename(void);

const char *gq_version(void) { return GQ_VERSION; }

const char *gq_version_revision(void) { return GQ_GIT_REVISION; }

void gq_version_print(FILE *f) {
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    fprintf(f, "glueq %s\n", GQ_VERSION);
    fprintf(f, "revision: %s\n", GQ_GIT_REVISION);
    fprintf(f, "BLAS: %s\n", gq_blas_config());
    if (coretype) fprintf(f, "kernels: %s (OPENBLAS_CORETYPE=%s)\n", openblas_get_corename(), coretype);
    else fprintf(f, "kernels: %s (chosen by OpenBLAS for this CPU)\n", openblas_get_corename());
}
