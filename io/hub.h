/* hub: finds a model named by its Hugging Face Hub id in the local Hugging Face cache,
 * offline (glueq never downloads anything).
 *
 *     char *dir = NULL;
 *     if (gq_hub_resolve("textattack/distilbert-base-uncased-RTE@main", &dir, &err) != GQ_OK) ...
 *     ... dir is the snapshot directory (config.json, pytorch_model.bin, ...) ...
 *     free(dir);
 *
 * The cache is laid out as the Hub client writes it:
 *   ROOT/models--ORG--NAME/refs/REF            the commit hash a ref (e.g. main) points to
 *   ROOT/models--ORG--NAME/snapshots/COMMIT/   the files, symlinks into ../../blobs/
 * ROOT is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub (the Hub client's own order). */
#ifndef GQ_HUB_H
#define GQ_HUB_H

#include "common.h"

/* Resolves a model spec to a directory (a new string in *dir, caller frees):
 *   - an existing directory is returned as it is (it always wins over a Hub id);
 *   - else ID[@REV] with ID = ORG/NAME or NAME is looked up in the cache; REV (default
 *     "main") is a ref name or a 40-digit commit hash.
 * Fails with GQ_ERR_IO naming the places it looked and the download command. */
gq_status gq_hub_resolve(const char *spec, char **dir, gq_err *err);

/* The cache root the lookup uses (a new string, caller frees), or NULL without $HOME. */
char *gq_hub_cache_root(void);

#endif
