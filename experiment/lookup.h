/* lookup: the documented search orders for what a run reads besides its arguments
 * (docs/models-and-data.md). Each returns a new string (the caller frees it), or NULL
 * when nothing was found or memory ran out. */
#ifndef GQ_LOOKUP_H
#define GQ_LOOKUP_H

#include "tokenizer.h"

/* The tokenizer of a model: flag (a vocab.txt, read as uncased WordPiece) when given, else
 * model_dir itself (a Hub id: its snapshot) when it holds a tokenizer (vocab.txt, or
 * vocab.json and merges.txt), else the shared assets' vocab/vocab.txt. A file or that
 * directory: load it with gq_lookup_load_tokenizer. */
char *gq_lookup_tokenizer(const char *flag, const char *model_dir);
/* Loads what gq_lookup_tokenizer found: a model directory as its tokenizer_config.json says
 * (gq_tok_load_dir: cased or uncased WordPiece, byte-level BPE), a vocab.txt as uncased
 * WordPiece. *out is owned by the caller. */
gq_status gq_lookup_load_tokenizer(const char *path, gq_tok **out, gq_err *err);
/* The GLUE data root: flag, else $GLUE_DIR, else the shared assets' glue/. */
char *gq_lookup_data_root(const char *flag);
/* The cache directory: flag, else $GLUEQ_CACHE_DIR, $XDG_CACHE_HOME/glueq, ~/.cache/glueq,
 * else ./.glueq-cache. */
char *gq_lookup_cache_dir(const char *flag);

#endif
