/* lookup: the documented search orders for what a run reads besides its arguments
 * (docs/models-and-data.md). Each returns a new string (the caller frees it), or NULL
 * when nothing was found or memory ran out. */
#ifndef GQ_LOOKUP_H
#define GQ_LOOKUP_H

/* The vocabulary: flag when given, else the vocab.txt of model_dir's Hub snapshot (when
 * model_dir is a cached Hub id), else the shared assets' vocab/vocab.txt. */
char *gq_lookup_vocab(const char *flag, const char *model_dir);
/* The GLUE data root: flag, else $GLUE_DIR, else the shared assets' glue/. */
char *gq_lookup_data_root(const char *flag);
/* The cache directory: flag, else $GLUEQ_CACHE_DIR, $XDG_CACHE_HOME/glueq, ~/.cache/glueq,
 * else ./.glueq-cache. */
char *gq_lookup_cache_dir(const char *flag);

#endif
