/* hub: see hub.h. */
#include "hub.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

char *gq_hub_cache_root(void) {
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) return gq_strdup(v);
    if ((v = getenv("HF_HOME")) && *v) return gq_path_join(v, "hub");
    if ((v = getenv("XDG_CACHE_HOME")) && *v) return gq_path_join(v, "huggingface/hub");
    return (v = getenv("HOME")) && *v ? gq_path_join(v, ".cache/huggingface/hub") : NULL;
}

/* A Hub name component: letters, digits, '-', '_', '.', not starting with '.'. */
static int valid_part(const char *s, size_t n) {
    if (n == 0 || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i])) return 0;
    return 1;
}

/* ORG/NAME or NAME. */
static int valid_id(const char *id) {
    const char *slash = strchr(id, '/');
    if (!slash) return valid_part(id, strlen(id));
    return valid_part(id, (size_t)(slash - id)) && valid_part(slash + 1, strlen(slash + 1));
}

/* A ref name may hold '/' (refs/pr/1 is "pr/1") but no empty or dot-leading component. */
static int valid_ref(const char *ref) {
    for (const char *p = ref;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!valid_part(p, n)) return 0;
        if (!end) return 1;
        p = end + 1;
    }
}

static int is_commit(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return n == 40;
}

/* s (n bytes) quoted for a message: at most REF_SHOWN bytes of it, '"' and '\\' escaped,
 * other bytes outside printable ASCII as \xNN, "..." after a cut. */
#define REF_SHOWN 40
#define REF_QUOTED_LEN (REF_SHOWN * 4 + 8)
static void quote_bytes(const char *s, size_t n, char out[REF_QUOTED_LEN]) {
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && i < REF_SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') o += (size_t)snprintf(out + o, REF_QUOTED_LEN - o, "\\%c", c);
        else if (c < 0x20 || c > 0x7e) o += (size_t)snprintf(out + o, REF_QUOTED_LEN - o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    snprintf(out + o, REF_QUOTED_LEN - o, "%s\"", n > REF_SHOWN ? "..." : "");
}

/* Reads the commit hash stored in a refs/ file into hash (41 bytes). Returns GQ_OK,
 * GQ_ERR_IO when the file is absent, or GQ_ERR_FORMAT with `held` (REF_QUOTED_LEN bytes)
 * quoting what it holds instead. */
static gq_status read_ref(const char *path, char hash[41], char *held) {
    char *text = NULL;
    size_t len = 0;
    if (!gq_file_exists(path)) return GQ_ERR_IO;
    gq_err e = {{0}};
    if (gq_read_file(path, 4096, &text, &len, &e) != GQ_OK) {
        snprintf(held, REF_QUOTED_LEN, "nothing readable (%.100s)", e.msg);
        return GQ_ERR_FORMAT;
    }
    while (len && isspace((unsigned char)text[len - 1])) text[--len] = '\0';
    int ok = len == 40 && is_commit(text);
    if (ok) memcpy(hash, text, 41);
    else quote_bytes(text, len, held);
    free(text);
    return ok ? GQ_OK : GQ_ERR_FORMAT;
}

/* Looks id@rev up under root; *dir is set when found. `looked` gets the path that decided;
 * `held` (REF_QUOTED_LEN bytes), what a ref file holds that is not a commit hash. */
static gq_status lookup(const char *root, const char *id, const char *rev, char **dir, char *looked, size_t n,
                        char *held) {
    char repo[1024], hash[41], path[2048];
    int len = snprintf(repo, sizeof repo, "%s/models--", root);
    for (const char *c = id; *c && len < (int)sizeof repo - 3; c++)
        len += *c == '/' ? snprintf(repo + len, sizeof repo - len, "--") : snprintf(repo + len, sizeof repo - len, "%c", *c);
    if (is_commit(rev)) {
        memcpy(hash, rev, 41);
    } else {
        snprintf(path, sizeof path, "%s/refs/%s", repo, rev);
        snprintf(looked, n, "%s", path);
        gq_status s = read_ref(path, hash, held);
        if (s != GQ_OK) return s;
    }
    snprintf(path, sizeof path, "%s/snapshots/%s", repo, hash);
    snprintf(looked, n, "%s", path);
    if (!gq_dir_exists(path)) return GQ_ERR_IO;
    *dir = gq_strdup(path);
    return *dir ? GQ_OK : GQ_ERR_NOMEM;
}

gq_status gq_hub_resolve(const char *spec, char **dir, gq_err *err) {
    *dir = NULL;
    if (gq_dir_exists(spec)) return (*dir = gq_strdup(spec)) ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    char id[512], rev[256] = "main";
    const char *at = strrchr(spec, '@');
    size_t idlen = at ? (size_t)(at - spec) : strlen(spec);
    if (idlen >= sizeof id || (at && strlen(at + 1) >= sizeof rev))
        return gq_fail(err, GQ_ERR_IO, "%s: model directory not found", spec);
    memcpy(id, spec, idlen);
    id[idlen] = '\0';
    if (at) snprintf(rev, sizeof rev, "%s", at + 1);
    if (!valid_id(id) || !valid_ref(rev)) return gq_fail(err, GQ_ERR_IO, "%s: model directory not found", spec);
    char *root = gq_hub_cache_root(), looked[2048] = "", held[REF_QUOTED_LEN] = "";
    if (!root)
        return gq_fail(err, GQ_ERR_IO, "%s: not a directory, and no Hugging Face cache ($HF_HUB_CACHE, $HF_HOME, "
                                       "$HOME unset)", spec);
    gq_status s = lookup(root, id, rev, dir, looked, sizeof looked, held);
    free(root);
    if (s == GQ_ERR_NOMEM) return gq_fail(err, s, "out of memory");
    if (s == GQ_ERR_FORMAT)
        return gq_fail(err, s,
                       "%s: not a directory, and the Hugging Face cache's %s holds %s, not a 40-digit hex commit "
                       "hash (a damaged cache?); download it again with: huggingface-cli download %s%s%s",
                       spec, looked, held, id, at ? " --revision " : "", at ? rev : "");
    if (s != GQ_OK)
        return gq_fail(err, GQ_ERR_IO,
                       "%s: not a directory, and not in the Hugging Face cache (looked for %s; cache from "
                       "$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub); download it with: "
                       "huggingface-cli download %s%s%s",
                       spec, looked, id, at ? " --revision " : "", at ? rev : "");
    return GQ_OK;
}
