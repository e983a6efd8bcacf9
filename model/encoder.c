/* distilbert: the model's definition: its config, its parameters and how they bind to a
 * checkpoint's tensors (SPEC.md §1). The CPU forward is encoder_cpu.c. */
#define _POSIX_C_SOURCE 200809L
#include "runner_impl.h"
#include "hub.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *LIN_NAMES[GQ_LIN_COUNT] = {"attention.q_lin", "attention.k_lin", "attention.v_lin",
                                              "attention.out_lin", "ffn.lin1", "ffn.lin2"};

const char *gq_lin_name(gq_lin_kind kind) { return kind < GQ_LIN_COUNT ? LIN_NAMES[kind] : "?"; }

/* ---------------------------------------------------------------- config ---- */

static gq_status get_int(const cJSON *root, const char *key, int lo, int hi, int *out, const char *path, gq_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return gq_fail(err, GQ_ERR_FORMAT, "%s: missing key '%s'", path, key);
    /* the range first: converting a double outside int's range is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: '%s' must be an integer in [%d, %d]", path, key, lo, hi);
    *out = v->valueint;
    return GQ_OK;
}

/* id2label {"0": "...", "1": "..."} gives the number of labels and their names. */
static gq_status read_labels(const cJSON *root, gq_encoder_config *cfg, const char *path, gq_err *err) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    int n = m ? cJSON_GetArraySize(m) : 2;
    if (m && (!cJSON_IsObject(m) || n < 1 || n > 1000))
        return gq_fail(err, GQ_ERR_FORMAT, "%s: 'id2label' must be an object with 1 to 1000 labels", path);
    cfg->labels = gq_calloc_array((size_t)n, sizeof *cfg->labels);
    if (!cfg->labels) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    cfg->n_labels = n;
    for (int i = 0; i < n; i++) {
        char key[16], def[32];
        snprintf(key, sizeof key, "%d", i);
        snprintf(def, sizeof def, "LABEL_%d", i);
        const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
        if (m && !cJSON_IsString(v))
            return gq_fail(err, GQ_ERR_FORMAT, "%s: 'id2label' lacks a string for id %d", path, i);
        if (!(cfg->labels[i] = gq_strdup(v ? v->valuestring : def)))
            return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    return GQ_OK;
}

static gq_status parse_config(const cJSON *root, gq_encoder_config *cfg, const char *path, gq_err *err) {
    if (!cJSON_IsObject(root)) return gq_fail(err, GQ_ERR_FORMAT, "%s: not a JSON object", path);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "distilbert") != 0)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (only distilbert)", path,
                       mt->valuestring);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(arch) ? cJSON_GetArrayItem(arch, 0) : NULL;
    if (cJSON_IsString(a0) && strcmp(a0->valuestring, "DistilBertForSequenceClassification") != 0)
        return gq_fail(err, GQ_ERR_UNSUPPORTED,
                       "%s: architecture '%s' is not supported (only DistilBertForSequenceClassification)", path,
                       a0->valuestring);
    gq_status s;
    if ((s = get_int(root, "dim", 1, 1 << 16, &cfg->dim, path, err)) ||
        (s = get_int(root, "n_layers", 1, 1024, &cfg->n_layers, path, err)) ||
        (s = get_int(root, "n_heads", 1, 1024, &cfg->n_heads, path, err)) ||
        (s = get_int(root, "hidden_dim", 1, 1 << 18, &cfg->hidden_dim, path, err)) ||
        (s = get_int(root, "vocab_size", 1, 1 << 24, &cfg->vocab_size, path, err)) ||
        (s = get_int(root, "max_position_embeddings", 1, 1 << 16, &cfg->max_pos, path, err)))
        return s;
    if (cfg->dim % cfg->n_heads != 0)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: dim %d is not a multiple of n_heads %d", path, cfg->dim, cfg->n_heads);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: activation '%s' is not supported (only gelu)", path,
                       cJSON_IsString(act) ? act->valuestring : "?");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "sinusoidal_pos_embds")))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: sinusoidal_pos_embds is not supported", path);
    return read_labels(root, cfg, path, err);
}

gq_status gq_encoder_config_parse(const char *text, size_t len, const char *path, gq_encoder_config *cfg, gq_err *err) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) return gq_fail(err, GQ_ERR_FORMAT, "%s: not valid JSON", path);
    gq_status s = parse_config(root, cfg, path, err);
    cJSON_Delete(root);
    if (s != GQ_OK) gq_encoder_config_free(cfg);
    return s;
}

gq_status gq_encoder_config_load(const char *path, gq_encoder_config *cfg, gq_err *err) {
    memset(cfg, 0, sizeof *cfg);
    char *text = NULL;
    size_t len = 0;
    gq_status s = gq_read_file(path, 1 << 20, &text, &len, err);
    if (s != GQ_OK) return s;
    s = gq_encoder_config_parse(text, len, path, cfg, err);
    free(text);
    return s;
}

void gq_encoder_config_free(gq_encoder_config *cfg) {
    if (!cfg) return;
    for (int i = 0; i < cfg->n_labels && cfg->labels; i++) free(cfg->labels[i]);
    free(cfg->labels);
    cfg->labels = NULL;
    cfg->n_labels = 0;
}

/* --------------------------------------------------------------- weights ---- */

typedef struct {
    const gq_ckpt *ck;
    const char *path;
    gq_err *err;
    gq_status status; /* of the first failure */
    int used;         /* tensors bound so far, to spot unexpected extras */
    size_t params;    /* their values: the model's parameters */
} binder;

/* Finds `name` (or its LayerNorm alias with gamma/beta) and checks its shape. */
static float *bind(binder *b, const char *name, int64_t d0, int64_t d1) {
    const gq_tensor *t = gq_ckpt_find(b->ck, name);
    char alias[256];
    size_t n = strlen(name);
    if (!t && n > 7 && strcmp(name + n - 7, ".weight") == 0 && strstr(name, "orm.")) {
        snprintf(alias, sizeof alias, "%.*s.gamma", (int)(n - 7), name);
        t = gq_ckpt_find(b->ck, alias);
    } else if (!t && n > 5 && strcmp(name + n - 5, ".bias") == 0 && strstr(name, "orm.")) {
        snprintf(alias, sizeof alias, "%.*s.beta", (int)(n - 5), name);
        t = gq_ckpt_find(b->ck, alias);
    }
    if (!t) {
        b->status = gq_fail(b->err, GQ_ERR_FORMAT, "%s: missing tensor '%s'", b->path, name);
        return NULL;
    }
    int want_ndim = d1 ? 2 : 1;
    if (t->ndim != want_ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[96] = "", *p = got;
        for (int i = 0; i < t->ndim && p < got + sizeof got - 24; i++)
            p += snprintf(p, (size_t)(got + sizeof got - p), "%s%lld", i ? "," : "", (long long)t->shape[i]);
        if (d1)
            b->status = gq_fail(b->err, GQ_ERR_SHAPE, "%s: tensor '%s' has shape [%s], config says [%lld,%lld]", b->path, name, got,
                    (long long)d0, (long long)d1);
        else
            b->status = gq_fail(b->err, GQ_ERR_SHAPE, "%s: tensor '%s' has shape [%s], config says [%lld]", b->path, name, got,
                    (long long)d0);
        return NULL;
    }
    b->used++;
    b->params += (size_t)t->numel;
    return t->data;
}

static int bind_linear(binder *b, gq_linear *lin, const char *prefix, int out, int in) {
    char name[300];
    snprintf(name, sizeof name, "%s.weight", prefix);
    lin->w = bind(b, name, out, in);
    snprintf(name, sizeof name, "%s.bias", prefix);
    lin->b = lin->w ? bind(b, name, out, 0) : NULL;
    lin->out = out, lin->in = in;
    return lin->w && lin->b;
}

static int bind_layer(binder *b, gq_encoder_layer *L, int l, const gq_encoder_config *c) {
    char p[256];
    for (int k = 0; k < GQ_LIN_COUNT; k++) {
        int out = k == GQ_LIN_FF1 ? c->hidden_dim : c->dim, in = k == GQ_LIN_FF2 ? c->hidden_dim : c->dim;
        snprintf(p, sizeof p, "distilbert.transformer.layer.%d.%s", l, LIN_NAMES[k]);
        if (!bind_linear(b, &L->lin[k], p, out, in)) return 0;
    }
    snprintf(p, sizeof p, "distilbert.transformer.layer.%d.sa_layer_norm.weight", l);
    L->sa_ln_w = bind(b, p, c->dim, 0);
    snprintf(p, sizeof p, "distilbert.transformer.layer.%d.sa_layer_norm.bias", l);
    L->sa_ln_b = L->sa_ln_w ? bind(b, p, c->dim, 0) : NULL;
    snprintf(p, sizeof p, "distilbert.transformer.layer.%d.output_layer_norm.weight", l);
    L->out_ln_w = L->sa_ln_b ? bind(b, p, c->dim, 0) : NULL;
    snprintf(p, sizeof p, "distilbert.transformer.layer.%d.output_layer_norm.bias", l);
    L->out_ln_b = L->out_ln_w ? bind(b, p, c->dim, 0) : NULL;
    return L->out_ln_b != NULL;
}

/* Points every weight of m into ck, checking names and shapes against the config. */
static gq_status bind_all(gq_encoder *m, const gq_ckpt *ck, const char *path, gq_err *err) {
    const gq_encoder_config *c = &m->cfg;
    binder b = {ck, path, err, GQ_OK, 0, 0};
    m->word_emb = bind(&b, "distilbert.embeddings.word_embeddings.weight", c->vocab_size, c->dim);
    m->pos_emb = m->word_emb ? bind(&b, "distilbert.embeddings.position_embeddings.weight", c->max_pos, c->dim) : NULL;
    m->emb_ln_w = m->pos_emb ? bind(&b, "distilbert.embeddings.LayerNorm.weight", c->dim, 0) : NULL;
    m->emb_ln_b = m->emb_ln_w ? bind(&b, "distilbert.embeddings.LayerNorm.bias", c->dim, 0) : NULL;
    if (!m->emb_ln_b) return b.status;
    for (int l = 0; l < c->n_layers; l++)
        if (!bind_layer(&b, &m->layers[l], l, c)) return b.status;
    if (!bind_linear(&b, &m->pre, "pre_classifier", c->dim, c->dim) ||
        !bind_linear(&b, &m->cls, "classifier", c->n_labels, c->dim))
        return b.status;
    m->n_params = b.params, m->n_param_tensors = b.used;
    int ignored = gq_ckpt_find(ck, "distilbert.embeddings.position_ids") != NULL;
    if (b.used + ignored < ck->n)
        gq_warn("%s: %d tensor(s) not used by DistilBertForSequenceClassification and were ignored", path,
                ck->n - b.used - ignored);
    return GQ_OK;
}

static gq_encoder *alloc_model(gq_err *err, const char *what) {
    gq_encoder *m = calloc(1, sizeof *m);
    if (!m) gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", what);
    return m;
}

gq_status gq_encoder_load_file(const char *config_path, const char *weights_path, gq_encoder **out, gq_err *err) {
    *out = NULL;
    gq_encoder *m = alloc_model(err, config_path);
    if (!m) return GQ_ERR_NOMEM;
    gq_status s = gq_encoder_config_load(config_path, &m->cfg, err);
    if (s == GQ_OK) {
        m->layers = gq_calloc_array((size_t)m->cfg.n_layers, sizeof *m->layers);
        m->weights_path = gq_strdup(weights_path);
        s = m->layers && m->weights_path ? gq_ckpt_load(weights_path, &m->ckpt, err)
                                         : gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", weights_path);
    }
    if (s == GQ_OK) s = bind_all(m, m->ckpt, weights_path, err);
    if (s != GQ_OK) {
        gq_encoder_free(m);
        return s;
    }
    memcpy(m->sha256, m->ckpt->sha256, sizeof m->sha256);
    *out = m;
    return GQ_OK;
}

gq_status gq_encoder_load(const char *spec, gq_encoder **out, gq_err *err) {
    *out = NULL;
    char *dir = NULL;
    gq_status s = gq_hub_resolve(spec, &dir, err);
    if (s != GQ_OK) return s;
    char *cfg = gq_path_join(dir, "config.json");
    char *st = gq_path_join(dir, "model.safetensors");
    char *bin = gq_path_join(dir, "pytorch_model.bin");
    if (!cfg || !st || !bin)
        s = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", dir);
    else if (!gq_file_exists(cfg))
        s = gq_fail(err, GQ_ERR_IO, "%s: missing config.json", dir);
    else if (!gq_file_exists(st) && !gq_file_exists(bin))
        s = gq_fail(err, GQ_ERR_IO, "%s: no model.safetensors or pytorch_model.bin", dir);
    else
        s = gq_encoder_load_file(cfg, gq_file_exists(st) ? st : bin, out, err);
    if (s == GQ_OK) (*out)->dir = dir, dir = NULL;
    free(dir), free(cfg), free(st), free(bin);
    return s;
}

/* Carves every parameter out of one allocation, in checkpoint order. */
static float *carve(float **cursor, size_t n) {
    float *p = *cursor;
    *cursor += n;
    return p;
}

static void fill_normal(gq_rng *r, float *p, size_t n, float std) {
    for (size_t i = 0; i < n; i++) p[i] = std * gq_rng_normal(r);
}

static void fill_const(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

static void random_linear(gq_rng *r, float **cur, gq_linear *lin, int out, int in) {
    lin->out = out, lin->in = in;
    lin->w = carve(cur, (size_t)out * in);
    lin->b = carve(cur, (size_t)out);
    fill_normal(r, lin->w, (size_t)out * in, 0.02f);
    fill_const(lin->b, (size_t)out, 0.0f);
}

gq_status gq_encoder_random(const gq_encoder_config *cfg, uint64_t seed, gq_encoder **out, gq_err *err) {
    *out = NULL;
    size_t d = (size_t)cfg->dim, h = (size_t)cfg->hidden_dim;
    size_t per_layer = 4 * (d * d + d) + (h * d + h) + (d * h + d) + 4 * d;
    size_t n = (size_t)cfg->vocab_size * d + (size_t)cfg->max_pos * d + 2 * d + (size_t)cfg->n_layers * per_layer +
               d * d + d + (size_t)cfg->n_labels * (d + 1);
    gq_encoder *m = alloc_model(err, "random model");
    if (!m) return GQ_ERR_NOMEM;
    m->cfg = *cfg;
    m->cfg.labels = gq_calloc_array((size_t)cfg->n_labels, sizeof(char *));
    m->layers = gq_calloc_array((size_t)cfg->n_layers, sizeof *m->layers);
    m->params = gq_malloc_array(n, sizeof(float));
    if (!m->cfg.labels || !m->layers || !m->params) {
        gq_encoder_free(m);
        return gq_fail(err, GQ_ERR_NOMEM, "random model: cannot allocate %zu parameters", n);
    }
    for (int i = 0; i < cfg->n_labels; i++) m->cfg.labels[i] = gq_strdup(cfg->labels ? cfg->labels[i] : "LABEL");
    /* embeddings 4, pre_classifier and classifier 2 each; a layer's 6 Linears 2 each and 2 LayerNorms 2 each */
    m->n_params = n, m->n_param_tensors = 8 + 16 * cfg->n_layers;
    gq_rng r;
    gq_rng_seed(&r, seed);
    float *cur = m->params;
    m->word_emb = carve(&cur, (size_t)cfg->vocab_size * d);
    m->pos_emb = carve(&cur, (size_t)cfg->max_pos * d);
    m->emb_ln_w = carve(&cur, d), m->emb_ln_b = carve(&cur, d);
    fill_normal(&r, m->word_emb, (size_t)cfg->vocab_size * d, 0.02f);
    fill_normal(&r, m->pos_emb, (size_t)cfg->max_pos * d, 0.02f);
    fill_const(m->emb_ln_w, d, 1.0f), fill_const(m->emb_ln_b, d, 0.0f);
    for (int l = 0; l < cfg->n_layers; l++) {
        gq_encoder_layer *L = &m->layers[l];
        for (int k = 0; k < GQ_LIN_COUNT; k++)
            random_linear(&r, &cur, &L->lin[k], k == GQ_LIN_FF1 ? cfg->hidden_dim : cfg->dim,
                          k == GQ_LIN_FF2 ? cfg->hidden_dim : cfg->dim);
        L->sa_ln_w = carve(&cur, d), L->sa_ln_b = carve(&cur, d);
        L->out_ln_w = carve(&cur, d), L->out_ln_b = carve(&cur, d);
        fill_const(L->sa_ln_w, d, 1.0f), fill_const(L->sa_ln_b, d, 0.0f);
        fill_const(L->out_ln_w, d, 1.0f), fill_const(L->out_ln_b, d, 0.0f);
    }
    random_linear(&r, &cur, &m->pre, cfg->dim, cfg->dim);
    random_linear(&r, &cur, &m->cls, cfg->n_labels, cfg->dim);
    snprintf(m->sha256, sizeof m->sha256, "random-seed-%llu", (unsigned long long)seed);
    *out = m;
    return GQ_OK;
}

void gq_encoder_free(gq_encoder *m) {
    if (!m) return;
    gq_encoder_config_free(&m->cfg);
    gq_ckpt_free(m->ckpt);
    free(m->params);
    free(m->layers);
    free(m->dir);
    free(m->weights_path);
    free(m);
}
