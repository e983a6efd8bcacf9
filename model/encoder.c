/* encoder: the models' definition: their config, their parameters and how they bind to a
 * checkpoint's tensors, for every family of model/families.c (SPEC.md §1). The CPU forward
 * is encoder_cpu.c. */
#define _POSIX_C_SOURCE 200809L
#include "runner_impl.h"
#include "hub.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The LayerNorm epsilon of DistilBERT, and of BERT and RoBERTa configs that do not set one. */
#define DEFAULT_LN_EPS 1e-12

const char *gq_lin_name(const gq_encoder_family *f, gq_lin_kind kind) {
    return f && (int)kind >= 0 && kind < GQ_LIN_COUNT ? f->lin[kind] : "?";
}

void gq_encoder_weight_name(const gq_encoder_family *f, int idx, char *buf, size_t n) {
    snprintf(buf, n, "%s.%d.%s.weight", f ? f->layer : "?", idx / GQ_LIN_COUNT,
             gq_lin_name(f, (gq_lin_kind)(idx % GQ_LIN_COUNT)));
}

int gq_encoder_max_len(const gq_encoder_config *cfg) {
    return cfg->max_pos - (cfg->family && cfg->family->positions == GQ_POS_AFTER_PAD ? cfg->pad_id + 1 : 0);
}

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

/* An optional integer key: *out keeps its default when the key is absent or null. */
static gq_status get_opt_int(const cJSON *root, const char *key, int lo, int hi, int *out, const char *path,
                             gq_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return !v || cJSON_IsNull(v) ? GQ_OK : get_int(root, key, lo, hi, out, path, err);
}

/* The family: model_type's, else the one architectures[0] names; a config with neither is
 * read as DistilBERT's. */
static gq_status find_family(const cJSON *root, const gq_encoder_family **out, const char *path, gq_err *err) {
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(arch) ? cJSON_GetArrayItem(arch, 0) : NULL;
    const gq_encoder_family *f = gq_encoder_families[0];
    if (mt && !cJSON_IsString(mt)) return gq_fail(err, GQ_ERR_FORMAT, "%s: 'model_type' must be a string", path);
    for (int i = 0; !mt && cJSON_IsString(a0) && gq_encoder_families[i]; i++)
        if (strcmp(gq_encoder_families[i]->architecture, a0->valuestring) == 0) f = gq_encoder_families[i];
    if (mt && !(f = gq_encoder_family_find(mt->valuestring))) {
        char list[128] = "";
        for (int i = 0; gq_encoder_families[i]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     gq_encoder_families[i]->model_type);
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (supported: %s)", path,
                       mt->valuestring, list);
    }
    if (cJSON_IsString(a0) && strcmp(a0->valuestring, f->architecture) != 0)
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported for model_type '%s' (only %s)",
                       path, a0->valuestring, f->model_type, f->architecture);
    *out = f;
    return GQ_OK;
}

static gq_status read_sizes(const cJSON *root, gq_encoder_config *cfg, const char *path, gq_err *err) {
    const gq_encoder_family *f = cfg->family;
    gq_status s;
    if ((s = get_int(root, f->key_dim, 1, 1 << 16, &cfg->dim, path, err)) ||
        (s = get_int(root, f->key_layers, 1, 1024, &cfg->n_layers, path, err)) ||
        (s = get_int(root, f->key_heads, 1, 1024, &cfg->n_heads, path, err)) ||
        (s = get_int(root, f->key_hidden, 1, 1 << 18, &cfg->hidden_dim, path, err)) ||
        (s = get_int(root, "vocab_size", 1, 1 << 24, &cfg->vocab_size, path, err)) ||
        (s = get_int(root, "max_position_embeddings", 1, 1 << 16, &cfg->max_pos, path, err)))
        return s;
    if (cfg->dim % cfg->n_heads != 0)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: %s %d is not a multiple of %s %d", path, f->key_dim, cfg->dim,
                       f->key_heads, cfg->n_heads);
    cfg->type_vocab_size = f->token_types ? 2 : 0;
    cfg->pad_id = f->default_pad_id;
    if (f->token_types && (s = get_opt_int(root, "type_vocab_size", 1, 1 << 16, &cfg->type_vocab_size, path, err)))
        return s;
    if (f->positions == GQ_POS_AFTER_PAD) {
        if ((s = get_opt_int(root, "pad_token_id", 0, cfg->max_pos, &cfg->pad_id, path, err))) return s;
        if (gq_encoder_max_len(cfg) < 1)
            return gq_fail(err, GQ_ERR_FORMAT, "%s: max_position_embeddings %d leaves no position after pad_token_id %d",
                           path, cfg->max_pos, cfg->pad_id);
    }
    return GQ_OK;
}

/* layer_norm_eps where the family reads it: a number in (0, 1). */
static gq_status read_eps(const cJSON *root, gq_encoder_config *cfg, const char *path, gq_err *err) {
    const cJSON *v = cfg->family->has_eps ? cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps") : NULL;
    cfg->ln_eps = DEFAULT_LN_EPS;
    if (!v || cJSON_IsNull(v)) return GQ_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1))
        return gq_fail(err, GQ_ERR_FORMAT, "%s: 'layer_norm_eps' must be a number in (0, 1)", path);
    cfg->ln_eps = v->valuedouble;
    return GQ_OK;
}

/* What the forward does not implement: another activation, sinusoidal or relative
 * positions, a decoder's causal attention. */
static gq_status check_supported(const cJSON *root, const gq_encoder_config *cfg, const char *path, gq_err *err) {
    const char *key = cfg->family->key_act;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, key);
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: %s '%s' is not supported (only gelu)", path, key,
                       cJSON_IsString(act) ? act->valuestring : "?");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "sinusoidal_pos_embds")))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: sinusoidal_pos_embds is not supported", path);
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    if (pe && !cJSON_IsNull(pe) && (!cJSON_IsString(pe) || strcmp(pe->valuestring, "absolute") != 0))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: position_embedding_type '%s' is not supported (only absolute)",
                       path, cJSON_IsString(pe) ? pe->valuestring : "?");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "is_decoder")))
        return gq_fail(err, GQ_ERR_UNSUPPORTED, "%s: is_decoder is not supported (an encoder's attention sees every token)",
                       path);
    return GQ_OK;
}

static gq_status parse_config(const cJSON *root, gq_encoder_config *cfg, const char *path, gq_err *err) {
    if (!cJSON_IsObject(root)) return gq_fail(err, GQ_ERR_FORMAT, "%s: not a JSON object", path);
    gq_status s;
    if ((s = find_family(root, &cfg->family, path, err)) || (s = read_sizes(root, cfg, path, err)) ||
        (s = read_eps(root, cfg, path, err)) || (s = check_supported(root, cfg, path, err)))
        return s;
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

/* id2label and label2id: the config's names, or transformers' LABEL_i; 0 when out of memory. */
static int add_labels(cJSON *o, const gq_encoder_config *cfg) {
    cJSON *id2 = cJSON_AddObjectToObject(o, "id2label"), *to_id = cJSON_AddObjectToObject(o, "label2id");
    int ok = id2 && to_id;
    for (int i = 0; ok && i < cfg->n_labels; i++) {
        char key[16], def[32];
        snprintf(key, sizeof key, "%d", i);
        snprintf(def, sizeof def, "LABEL_%d", i);
        const char *name = cfg->labels ? cfg->labels[i] : def;
        ok = cJSON_AddStringToObject(id2, key, name) && cJSON_AddNumberToObject(to_id, name, i);
    }
    return ok;
}

char *gq_encoder_config_json(const gq_encoder_config *cfg) {
    const gq_encoder_family *f = cfg->family;
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_CreateStringArray(&f->architecture, 1);
    int ok = o && arch && cJSON_AddItemToObject(o, "architectures", arch);
    if (!ok) cJSON_Delete(arch);
    ok = ok && cJSON_AddStringToObject(o, "model_type", f->model_type) && cJSON_AddStringToObject(o, f->key_act, "gelu") &&
         cJSON_AddNumberToObject(o, f->key_dim, cfg->dim) && cJSON_AddNumberToObject(o, f->key_layers, cfg->n_layers) &&
         cJSON_AddNumberToObject(o, f->key_heads, cfg->n_heads) &&
         cJSON_AddNumberToObject(o, f->key_hidden, cfg->hidden_dim) &&
         cJSON_AddNumberToObject(o, "vocab_size", cfg->vocab_size) &&
         cJSON_AddNumberToObject(o, "max_position_embeddings", cfg->max_pos) &&
         (!f->token_types || cJSON_AddNumberToObject(o, "type_vocab_size", cfg->type_vocab_size)) &&
         (!f->has_eps || cJSON_AddNumberToObject(o, "layer_norm_eps", cfg->ln_eps)) &&
         cJSON_AddNumberToObject(o, "pad_token_id", cfg->pad_id) && add_labels(o, cfg);
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    return text;
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

/* ---- the parameter table
 * Every parameter of a model, in checkpoint order, with its tensor name under the family's
 * names: binding a checkpoint, building a random model and listing the tensors
 * (gq_encoder_each_param) all walk it, so a family's names live in its table entry alone. */

typedef enum { FILL_NORMAL, FILL_ONE, FILL_ZERO } fill_kind; /* gq_encoder_random's values */

typedef struct {
    const char *name;
    float **data; /* the model's pointer to the tensor */
    int64_t d0, d1; /* d1 = 0: a vector */
    fill_kind fill;
} param;

/* Called for each parameter; a non-zero return stops the walk and is returned. */
typedef int (*param_visit)(void *ctx, const param *p);

typedef struct {
    param_visit fn;
    void *ctx;
} walker;

/* Visits prefix.weight and prefix.bias (or, for a LayerNorm, its vectors). */
static int visit_pair(const walker *w, const char *prefix, float **wt, float **b, int64_t d0, int64_t d1,
                      fill_kind fill_w) {
    char name[300];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int r = w->fn(w->ctx, &(param){name, wt, d0, d1, fill_w});
    snprintf(name, sizeof name, "%s.bias", prefix);
    return r ? r : w->fn(w->ctx, &(param){name, b, d0, 0, FILL_ZERO});
}

static int visit_linear(const walker *w, const char *prefix, gq_linear *lin) {
    return visit_pair(w, prefix, &lin->w, &lin->b, lin->out, lin->in, FILL_NORMAL);
}

static int visit_layer(const walker *w, gq_encoder *m, int l) {
    const gq_encoder_family *f = m->cfg.family;
    gq_encoder_layer *L = &m->layers[l];
    int64_t d = m->cfg.dim;
    char p[256];
    int r = 0;
    for (int k = 0; k < GQ_LIN_COUNT && !r; k++) {
        snprintf(p, sizeof p, "%s.%d.%s", f->layer, l, f->lin[k]);
        r = visit_linear(w, p, &L->lin[k]);
    }
    snprintf(p, sizeof p, "%s.%d.%s", f->layer, l, f->ln_attn);
    if (!r) r = visit_pair(w, p, &L->sa_ln_w, &L->sa_ln_b, d, 0, FILL_ONE);
    snprintf(p, sizeof p, "%s.%d.%s", f->layer, l, f->ln_ffn);
    return r ? r : visit_pair(w, p, &L->out_ln_w, &L->out_ln_b, d, 0, FILL_ONE);
}

static int visit_embeddings(const walker *w, gq_encoder *m) {
    const gq_encoder_config *c = &m->cfg;
    char p[256];
    snprintf(p, sizeof p, "%s.word_embeddings.weight", c->family->embeddings);
    int r = w->fn(w->ctx, &(param){p, &m->word_emb, c->vocab_size, c->dim, FILL_NORMAL});
    snprintf(p, sizeof p, "%s.position_embeddings.weight", c->family->embeddings);
    if (!r) r = w->fn(w->ctx, &(param){p, &m->pos_emb, c->max_pos, c->dim, FILL_NORMAL});
    snprintf(p, sizeof p, "%s.token_type_embeddings.weight", c->family->embeddings);
    if (!r && c->type_vocab_size) r = w->fn(w->ctx, &(param){p, &m->type_emb, c->type_vocab_size, c->dim, FILL_NORMAL});
    snprintf(p, sizeof p, "%s.LayerNorm", c->family->embeddings);
    return r ? r : visit_pair(w, p, &m->emb_ln_w, &m->emb_ln_b, c->dim, 0, FILL_ONE);
}

/* Every parameter of m (whose Linears have their shapes: set_shapes), in checkpoint order. */
static int walk_params(gq_encoder *m, param_visit fn, void *ctx) {
    walker w = {fn, ctx};
    int r = visit_embeddings(&w, m);
    for (int l = 0; l < m->cfg.n_layers && !r; l++) r = visit_layer(&w, m, l);
    if (!r) r = visit_linear(&w, m->cfg.family->head_dense, &m->pre);
    return r ? r : visit_linear(&w, m->cfg.family->head_out, &m->cls);
}

/* The Linears' shapes, from the config. */
static void set_shapes(gq_encoder *m) {
    const gq_encoder_config *c = &m->cfg;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            gq_linear *lin = &m->layers[l].lin[k];
            lin->out = k == GQ_LIN_FF1 ? c->hidden_dim : c->dim;
            lin->in = k == GQ_LIN_FF2 ? c->hidden_dim : c->dim;
        }
    m->pre.out = m->pre.in = c->dim;
    m->cls.out = c->n_labels, m->cls.in = c->dim;
}

typedef struct {
    gq_encoder_param_fn fn;
    void *ctx;
} lister;

static int list_param(void *ctx, const param *p) {
    const lister *l = ctx;
    return l->fn(l->ctx, p->name, *p->data, p->d0, p->d1);
}

int gq_encoder_each_param(const gq_encoder *m, gq_encoder_param_fn fn, void *ctx) {
    lister l = {fn, ctx};
    /* the walk hands out pointers to m's fields; list_param only reads them */
    return walk_params((gq_encoder *)m, list_param, &l);
}

static int bind_param(void *ctx, const param *p) {
    binder *b = ctx;
    *p->data = bind(b, p->name, p->d0, p->d1);
    return *p->data == NULL;
}

/* Buffers that checkpoints of some transformers versions hold beside the weights. */
static int is_buffer(const char *name) {
    size_t n = strlen(name);
    return (n >= 12 && strcmp(name + n - 12, "position_ids") == 0) ||
           (n >= 14 && strcmp(name + n - 14, "token_type_ids") == 0);
}

/* Points every weight of m into ck, checking names and shapes against the config. */
static gq_status bind_all(gq_encoder *m, const gq_ckpt *ck, const char *path, gq_err *err) {
    binder b = {ck, path, err, GQ_OK, 0, 0};
    set_shapes(m);
    if (walk_params(m, bind_param, &b)) return b.status;
    m->n_params = b.params, m->n_param_tensors = b.used;
    int buffers = 0;
    for (int i = 0; i < ck->n; i++) buffers += is_buffer(ck->tensors[i].name);
    if (b.used + buffers < ck->n)
        gq_warn("%s: %d tensor(s) not used by %s and were ignored", path, ck->n - b.used - buffers,
                m->cfg.family->architecture);
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

typedef struct {
    size_t n;     /* floats carved so far */
    int tensors;  /* and tensors */
    float *base;  /* NULL while counting */
    gq_rng rng;
} carver;

/* Takes the next piece of one allocation for p, in checkpoint order, and fills it (or, in
 * the first pass, only counts it). */
static int carve_param(void *ctx, const param *p) {
    carver *c = ctx;
    size_t n = (size_t)p->d0 * (size_t)(p->d1 ? p->d1 : 1);
    if (c->base) {
        float *x = *p->data = c->base + c->n;
        for (size_t i = 0; i < n; i++)
            x[i] = p->fill == FILL_NORMAL ? 0.02f * gq_rng_normal(&c->rng) : p->fill == FILL_ONE ? 1.0f : 0.0f;
    }
    c->n += n, c->tensors++;
    return 0;
}

gq_status gq_encoder_random(const gq_encoder_config *cfg, uint64_t seed, gq_encoder **out, gq_err *err) {
    *out = NULL;
    if (!cfg->family) return gq_fail(err, GQ_ERR_ARG, "random model: the config names no family");
    gq_encoder *m = alloc_model(err, "random model");
    if (!m) return GQ_ERR_NOMEM;
    m->cfg = *cfg;
    m->cfg.labels = gq_calloc_array((size_t)cfg->n_labels, sizeof(char *));
    m->layers = gq_calloc_array((size_t)cfg->n_layers, sizeof *m->layers);
    carver c = {0};
    if (m->layers) {
        set_shapes(m);
        walk_params(m, carve_param, &c);
        m->params = gq_malloc_array(c.n, sizeof(float));
    }
    if (!m->cfg.labels || !m->layers || !m->params) {
        gq_encoder_free(m);
        return gq_fail(err, GQ_ERR_NOMEM, "random model: cannot allocate %zu parameters", c.n);
    }
    for (int i = 0; i < cfg->n_labels; i++) m->cfg.labels[i] = gq_strdup(cfg->labels ? cfg->labels[i] : "LABEL");
    m->n_params = c.n, m->n_param_tensors = c.tensors;
    c = (carver){.base = m->params};
    gq_rng_seed(&c.rng, seed);
    walk_params(m, carve_param, &c);
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
