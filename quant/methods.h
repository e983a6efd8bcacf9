/* methods: the saliency methods by name and their options as text (the caller's side; a method's
 * own side is quant_method.h) */
#ifndef GQ_METHODS_H
#define GQ_METHODS_H

#include "common.h"

/* ------------------------------------------------------------------------------------
 * Methods by name. A method is a plugin (quant/quant_method.h, one file each); the caller
 * only names it and passes its options as text.
 * ------------------------------------------------------------------------------------ */
#define GQ_METHOD_MAX_OPTS 8
#define GQ_METHOD_MAX_VALUE 512 /* bytes of an option's text, NUL included (file paths) */

/* A small key/value set of method options, as text ("rank" -> "8", "sequential" -> "true"). */
typedef struct {
    int n;
    char key[GQ_METHOD_MAX_OPTS][32];
    char value[GQ_METHOD_MAX_OPTS][GQ_METHOD_MAX_VALUE];
} gq_method_opts;

/* Adds or replaces key. Validation against a method happens in gq_method_resolve. */
gq_status gq_method_opts_set(gq_method_opts *o, const char *key, const char *value, gq_err *err);

typedef struct gq_method gq_method; /* defined in quant_method.h */

/* The registered method called name, or NULL when unknown. */
const gq_method *gq_method_find(const char *name);
/* "uniform, magnitude, ...": the registered names, for messages (at most n bytes). */
void gq_method_names(char *buf, size_t n);
/* Whether m accepts option key (e.g. "seed": the method is seeded). */
int gq_method_has_opt(const gq_method *m, const char *key);
/* Whether m reads activations: the caller then declares calibration data to the session. */
int gq_method_needs_calibration(const gq_method *m);

/* Checks user options against m (unknown key or bad value: GQ_ERR_ARG naming method, key
 * and value) and writes all of m's options, defaults filled in, to *resolved. A file
 * option KEY also gets KEY_sha256, the sha256 of the file (so that results and point ids
 * follow its content); when user already has KEY_sha256 (resolved options resolved
 * again), the file must still have that hash. */
gq_status gq_method_resolve(const gq_method *m, const gq_method_opts *user, gq_method_opts *resolved,
                            gq_err *err);
/* Canonical "k=v,k=v" of resolved options (for results and cache keys). */
void gq_method_opts_str(const gq_method_opts *resolved, char *buf, size_t n);

#endif
