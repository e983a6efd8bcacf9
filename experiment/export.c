/* export: see export.h. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The tokenizer files of a model directory, copied with the model when it has them. */
static const char *const TOKENIZER_FILES[] = {"vocab.txt",      "vocab.json",            "merges.txt",
                                              "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
enum { N_TOKENIZER_FILES = sizeof TOKENIZER_FILES / sizeof TOKENIZER_FILES[0] };
/* What an export writes besides them. */
static const char *const FILES[] = {"config.json", "model.safetensors", "quantization.json", "protected.safetensors"};
enum { N_FILES = sizeof FILES / sizeof FILES[0] };

static gq_status write_text(const char *dir, const char *name, const char *text, gq_err *err) {
    char *path = gq_path_join(dir, name);
    gq_status s = path ? gq_write_file_atomic(path, text, strlen(text), err)
                       : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", dir);
    free(path);
    return s;
}

/* The source config with the dtype keys saying float32: transformers would otherwise
 * load the FP32 weights in the source's float16. */
static gq_status write_config(const char *dir, const gq_encoder *m, gq_err *err) {
    char *src = gq_path_join(m->dir, "config.json"), *text = NULL;
    size_t len = 0;
    gq_status s = src ? gq_read_file(src, 1 << 20, &text, &len, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    cJSON *cfg = s == GQ_OK ? cJSON_Parse(text) : NULL;
    if (s == GQ_OK && !cJSON_IsObject(cfg)) s = gq_fail(err, GQ_ERR_FORMAT, "%s: not a JSON object", src);
    if (s == GQ_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "torch_dtype");
        cJSON_AddStringToObject(cfg, "torch_dtype", "float32");
        if (cJSON_GetObjectItemCaseSensitive(cfg, "dtype")) {
            cJSON_DeleteItemFromObjectCaseSensitive(cfg, "dtype");
            cJSON_AddStringToObject(cfg, "dtype", "float32");
        }
        char *out = cJSON_Print(cfg);
        s = out ? write_text(dir, "config.json", out, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        free(out);
    }
    cJSON_Delete(cfg);
    free(text), free(src);
    return s;
}

static gq_status copy_file(const char *src, const char *dir, const char *name, gq_err *err) {
    char *text = NULL;
    size_t len = 0;
    gq_status s = gq_read_file(src, 0, &text, &len, err);
    char *path = s == GQ_OK ? gq_path_join(dir, name) : NULL;
    if (s == GQ_OK) s = path ? gq_write_file_atomic(path, text, len, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    free(path), free(text);
    return s;
}

/* The tokenizer the model was used with: vocab_path as vocab.txt when given, and the
 * model directory's other tokenizer files (RoBERTa's vocab.json and merges.txt, the
 * tokenizer_config.json that says how to lowercase, ...). */
static gq_status copy_tokenizer(const char *dir, const gq_export *x, gq_err *err) {
    gq_status s = x->vocab_path ? copy_file(x->vocab_path, dir, "vocab.txt", err) : GQ_OK;
    for (int i = 0; s == GQ_OK && i < N_TOKENIZER_FILES; i++) {
        if (x->vocab_path && strcmp(TOKENIZER_FILES[i], "vocab.txt") == 0) continue;
        char *src = gq_path_join(x->model->dir, TOKENIZER_FILES[i]);
        if (!src) s = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", dir);
        else if (gq_file_exists(src)) s = copy_file(src, dir, TOKENIZER_FILES[i], err);
        free(src);
    }
    return s;
}

static int is_position_ids(const char *name) {
    size_t n = strlen(name);
    return n >= 12 && strcmp(name + n - 12, "position_ids") == 0;
}

/* Every tensor of the source checkpoint (the model's weights point into it, so the
 * quantized matrices are there); integer position ids go back to I64. */
static gq_status write_weights(const char *dir, const gq_encoder *m, gq_err *err) {
    const gq_ckpt *ck = m->ckpt;
    gq_st_entry *e = gq_calloc_array((size_t)ck->n, sizeof *e);
    int64_t **ids = gq_calloc_array((size_t)ck->n, sizeof *ids);
    char *path = gq_path_join(dir, "model.safetensors");
    gq_status s = e && ids && path ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", dir);
    for (int i = 0; s == GQ_OK && i < ck->n; i++) {
        const gq_tensor *t = &ck->tensors[i];
        e[i] = (gq_st_entry){.name = t->name, .dtype = "F32", .ndim = t->ndim, .data = t->data};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        if (!is_position_ids(t->name)) continue;
        if (!(ids[i] = gq_malloc_array((size_t)t->numel, sizeof **ids))) {
            s = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        for (int64_t j = 0; j < t->numel; j++) ids[i][j] = (int64_t)t->data[j];
        e[i].dtype = "I64", e[i].data = ids[i];
    }
    if (s == GQ_OK) s = gq_safetensors_write_entries(path, e, ck->n, err);
    for (int i = 0; ids && i < ck->n; i++) free(ids[i]);
    free(ids), free(e), free(path);
    return s;
}

static gq_status write_masks(const char *dir, const gq_encoder_family *f, const gq_quant_session *s, gq_err *err) {
    int n = gq_quant_session_n_mats(s);
    gq_st_entry e[GQ_QUANT_MAX_MATS];
    char names[GQ_QUANT_MAX_MATS][128];
    size_t largest = 1;
    for (int i = 0; i < n; i++) {
        int rows, cols;
        gq_quant_session_fp32(s, i, &rows, &cols);
        gq_encoder_weight_name(f, i, names[i], sizeof names[i]);
        e[i] = (gq_st_entry){.name = names[i], .dtype = "U8", .ndim = 2, .shape = {rows, cols},
                             .data = gq_quant_session_mask(s, i)};
        if ((size_t)rows * cols > largest) largest = (size_t)rows * cols;
    }
    uint8_t *zeros = gq_calloc_array(largest, 1); /* the masks of a session never applied */
    char *path = gq_path_join(dir, "protected.safetensors");
    gq_status st = zeros && path ? GQ_OK : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", dir);
    for (int i = 0; i < n; i++)
        if (!e[i].data) e[i].data = zeros;
    if (st == GQ_OK) st = gq_safetensors_write_entries(path, e, n, err);
    free(path), free(zeros);
    return st;
}

static gq_status write_report(const char *dir, const gq_export *x, gq_err *err) {
    const gq_quant_report *r = x->rep;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "glueq-quantized-v1");
    cJSON *src = cJSON_AddObjectToObject(o, "source");
    cJSON_AddStringToObject(src, "model", x->model->dir);
    cJSON_AddStringToObject(src, "weights_sha256", x->model->sha256);
    cJSON_AddItemToObject(o, "options", x->options ? cJSON_Duplicate(x->options, 1) : cJSON_CreateObject());
    cJSON *mats = cJSON_AddArrayToObject(o, "matrices");
    for (int i = 0; i < r->n_mats; i++) {
        char name[128];
        int rows, cols;
        gq_encoder_weight_name(x->model->cfg.family, i, name, sizeof name);
        gq_quant_session_fp32(x->session, i, &rows, &cols);
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", name);
        cJSON_AddNumberToObject(m, "rows", rows);
        cJSON_AddNumberToObject(m, "cols", cols);
        cJSON_AddNumberToObject(m, "protected", (double)r->protected_count[i]);
        cJSON_AddNumberToObject(m, "effective_bits", r->effective_bits[i]);
        cJSON_AddNumberToObject(m, "sq_err", r->sq_err[i]);
        cJSON_AddItemToArray(mats, m);
    }
    cJSON *tot = cJSON_AddObjectToObject(o, "total");
    cJSON_AddNumberToObject(tot, "quantized_weights", (double)r->total_numel);
    cJSON_AddNumberToObject(tot, "protected", (double)r->total_protected);
    cJSON_AddNumberToObject(tot, "effective_bits", r->effective_bits_total);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    gq_status s = text ? write_text(dir, "quantization.json", text, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    free(text);
    return s;
}

static void remove_files(const char *dir, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        char *p = gq_path_join(dir, names[i]);
        if (p) unlink(p);
        free(p);
    }
}

static void remove_tree(const char *dir) {
    remove_files(dir, FILES, N_FILES);
    remove_files(dir, TOKENIZER_FILES, N_TOKENIZER_FILES);
    rmdir(dir);
}

/* out_dir may not exist yet or be an empty directory (which rename replaces). */
static gq_status check_target(const char *out_dir, gq_err *err) {
    struct stat st;
    if (stat(out_dir, &st) != 0) return GQ_OK;
    if (!S_ISDIR(st.st_mode)) return gq_fail(err, GQ_ERR_IO, "%s: exists and is not a directory", out_dir);
    if (rmdir(out_dir) == 0) return GQ_OK;
    return gq_fail(err, GQ_ERR_IO, "%s: exists and is not empty (choose another --out or remove it)", out_dir);
}

gq_status gq_export_write(const char *out_dir, const gq_export *x, gq_err *err) {
    if (!x->model->ckpt || !x->model->dir)
        return gq_fail(err, GQ_ERR_ARG, "%s: only a model loaded from a checkpoint directory can be exported", out_dir);
    size_t n = strlen(out_dir);
    while (n > 1 && out_dir[n - 1] == '/') n--;
    char *tmp = malloc(n + 16);
    if (!tmp) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", out_dir);
    snprintf(tmp, n + 16, "%.*s.tmp-XXXXXX", (int)n, out_dir);
    /* the masks and counts written are those of the weights written */
    gq_status s = gq_quant_session_check(x->session, x->rep, err);
    if (s == GQ_OK) s = check_target(out_dir, err);
    if (s == GQ_OK && !mkdtemp(tmp))
        s = gq_fail(err, GQ_ERR_IO, "%s: cannot create a temporary directory beside it: %s", out_dir, strerror(errno));
    int made = s == GQ_OK;
    if (s == GQ_OK) s = write_config(tmp, x->model, err);
    if (s == GQ_OK) s = copy_tokenizer(tmp, x, err);
    if (s == GQ_OK) s = write_weights(tmp, x->model, err);
    if (s == GQ_OK) s = write_masks(tmp, x->model->cfg.family, x->session, err);
    if (s == GQ_OK) s = write_report(tmp, x, err);
    if (s == GQ_OK && chmod(tmp, 0755) != 0)
        s = gq_fail(err, GQ_ERR_IO, "%s: cannot set permissions: %s", tmp, strerror(errno));
    if (s == GQ_OK && rename(tmp, out_dir) != 0)
        s = gq_fail(err, GQ_ERR_IO, "%s: cannot move the finished export into place: %s", out_dir, strerror(errno));
    if (s != GQ_OK && made) remove_tree(tmp);
    free(tmp);
    return s;
}
