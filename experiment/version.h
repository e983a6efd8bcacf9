/* version: what `glueq --version` prints — the release, the git revision the binary was
 * built from, and the BLAS library and kernel set it runs with (for bug reports and
 * benchmark provenance). */
#ifndef GQ_VERSION_H
#define GQ_VERSION_H

#include <stdio.h>

/* "0.1.0" (the CMake project version). */
const char *gq_version(void);
/* The commit the binary was built from ("+dirty" when tracked files differed), or "unknown". */
const char *gq_version_revision(void);
/* Prints the four lines of `glueq --version` to f. */
void gq_version_print(FILE *f);

#endif
