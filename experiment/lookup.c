/* lookup: where models' vocabularies, GLUE data and the cache live; see lookup.h. */
#define _POSIX_C_SOURCE 200809L
#include "lookup.h"

#include <stdlib.h>

#include "hub.h"

/* Whether dir holds a tokenizer's vocabulary: WordPiece's vocab.txt or BPE's vocab.json. */
static int has_tokenizer(const char *dir) {
    char *txt = gq_path_join(dir, "vocab.txt"), *json = gq_path_join(dir, "vocab.json");
    int found = (txt && gq_file_exists(txt)) || (json && gq_file_exists(json));
    free(txt), free(json);
    return found;
}

char *gq_lookup_tokenizer(const char *flag, const char *model_dir) {
    if (flag) return gq_strdup(flag);
    char *dir = NULL;
    if (model_dir && gq_hub_resolve(model_dir, &dir, NULL) == GQ_OK) { /* a Hub id: its snapshot */
        if (has_tokenizer(dir)) return dir;
        free(dir);
    }
    return gq_find_asset(NULL, NULL, "vocab/vocab.txt");
}

gq_status gq_lookup_load_tokenizer(const char *path, gq_tok **out, gq_err *err) {
    return gq_dir_exists(path) ? gq_tok_load_dir(path, out, err) : gq_tok_load(path, out, err);
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
