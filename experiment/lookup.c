/* lookup: where models' vocabularies, GLUE data and the cache live; see lookup.h. */
#define _POSIX_C_SOURCE 200809L
#include "lookup.h"

#include <stdlib.h>

#include "hub.h"

char *gq_lookup_vocab(const char *flag, const char *model_dir) {
    if (flag) return gq_strdup(flag);
    char *dir = NULL;
    if (model_dir && gq_hub_resolve(model_dir, &dir, NULL) == GQ_OK) { /* a Hub id: its snapshot */
        char *p = gq_path_join(dir, "vocab.txt");
        free(dir);
        if (p && gq_file_exists(p)) return p;
        free(p);
    }
    return gq_find_asset(NULL, NULL, "vocab/vocab.txt");
}

char *gq_lookup_data_root(const char *flag) { return gq_find_asset(flag, "GLUE_DIR", "glue"); }

char *gq_lookup_cache_dir(const char *flag) {
    if (flag) return gq_strdup(flag);
    const char *v = getenv("GLUEQ_CACHE_DIR");
    if (v && *v) return gq_strdup(v);
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) return gq_path_join(v, "glueq");
    v = getenv("HOME");
    return v && *v ? gq_path_join(v, ".cache/glueq") : gq_strdup(".glueq-cache");
}
