/* glueq: the C API (glueq.h) over the engine of the glueq command. A model handle keeps
 * what consecutive evaluations share: the tokenizer, the tokenized split and the runner,
 * each rebuilt only when the options that made it change. */
#include "glueq.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare.h"
#include "sweep_config.h"
#include "version.h"

_Static_assert(GLUEQ_ERR_INTERRUPTED == (int)GQ_ERR_INTERRUPTED && GLUEQ_ERR_INTERNAL == (int)GQ_ERR_INTERNAL,
               "glueq_status mirrors gq_status");
_Static_assert(sizeof(int) == sizeof(int32_t), "predictions are handed out as int32");


/* The engine runs one call at a time in a process: OpenBLAS's thread count is process-wide,
 * every forward and quantizer sets it, and results depend on it; and an evaluation writes
 * its model's weights in place. */
static pthread_mutex_t engine = PTHREAD_MUTEX_INITIALIZER;

struct glueq_model {
    gq_encoder *model;
    char *spec;           /* as given: the vocab's search order starts beside it */
    char *info;           /* glueq_model_info's JSON */
    char (*names)[128];   /* (n_matrices) checkpoint names of the quantized matrices */
    /* what the last evaluation used, kept while the options that made it hold */
    gq_tok *tok;
    char *tok_vocab;
    gq_utf8_policy tok_utf8;
    int n_sets;
    gq_glue_set *sets[GQ_GLUE_MAX_DEV]; /* the split's files */
    const char *parts[GQ_GLUE_MAX_DEV];
    gq_encoded *enc;
    char *enc_key;        /* task, data root, split, max_len, limit */
    gq_encoder_runner *runner;
    gq_encoder_runner_opts runner_opts;
};

struct glueq_result {
    char *json;
    int n, n_labels;
    int32_t *pred, *label;
    float *logits;
};

static glueq_status fail_out(glueq_error *err, gq_status s, const gq_err *e) {
    if (err) {
        err->status = (glueq_status)s;
        snprintf(err->message, sizeof err->message, "%s", e->msg[0] ? e->msg : gq_status_str(s));
    }
    return (glueq_status)s;
}

static glueq_status done(glueq_error *err, gq_status s, const gq_err *e) {
    if (s != GQ_OK) return fail_out(err, s, e);
    if (err) err->status = GLUEQ_OK, err->message[0] = '\0';
    return GLUEQ_OK;
}

int glueq_api_version(void) { return GLUEQ_API_VERSION; }

static char version_text[160];

static void version_fill(void) {
    snprintf(version_text, sizeof version_text, "%s (%s)", gq_version(), gq_version_revision());
}

const char *glueq_version(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, version_fill);
    return version_text;
}

void glueq_set_log_level(int level) {
    gq_log_set_level(level <= 0 ? GQ_LOG_QUIET : level == 1 ? GQ_LOG_WARN : GQ_LOG_INFO);
}

/* ---- models ---- */

/* glueq info's facts as a JSON object (NULL when out of memory). */
static char *info_json(const gq_encoder *m) {
    const gq_encoder_config *c = &m->cfg;
    int64_t quantizable = 0;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) quantizable += (int64_t)m->layers[l].lin[k].out * m->layers[l].lin[k].in;
    cJSON *o = cJSON_CreateObject(), *cfg = cJSON_AddObjectToObject(o, "config");
    cJSON_AddStringToObject(o, "model", m->dir);
    cJSON_AddStringToObject(o, "weights", m->weights_path);
    cJSON_AddStringToObject(o, "format", m->ckpt->format);
    cJSON_AddStringToObject(o, "sha256", m->sha256);
    cJSON_AddStringToObject(o, "architecture", "DistilBertForSequenceClassification");
    cJSON_AddNumberToObject(cfg, "dim", c->dim);
    cJSON_AddNumberToObject(cfg, "n_layers", c->n_layers);
    cJSON_AddNumberToObject(cfg, "n_heads", c->n_heads);
    cJSON_AddNumberToObject(cfg, "hidden_dim", c->hidden_dim);
    cJSON_AddNumberToObject(cfg, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(cfg, "max_position_embeddings", c->max_pos);
    cJSON *labels = cJSON_AddArrayToObject(cfg, "labels");
    for (int i = 0; i < c->n_labels; i++) cJSON_AddItemToArray(labels, cJSON_CreateString(c->labels[i]));
    cJSON_AddNumberToObject(o, "parameters", (double)m->n_params);
    cJSON_AddNumberToObject(o, "tensors", m->ckpt->n);
    cJSON_AddNumberToObject(o, "quantizable", (double)quantizable);
    cJSON_AddNumberToObject(o, "matrices", c->n_layers * GQ_LIN_COUNT);
    cJSON_AddStringToObject(o, "dtypes", m->ckpt->dtypes);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

glueq_status glueq_model_load(const char *model, glueq_model **out, glueq_error *err) {
    gq_err e = {{0}};
    *out = NULL;
    glueq_model *m = calloc(1, sizeof *m);
    if (!m) return fail_out(err, gq_fail(&e, GQ_ERR_NOMEM, "out of memory"), &e);
    gq_status s = model ? gq_encoder_load(model, &m->model, &e) : gq_fail(&e, GQ_ERR_ARG, "no model given");
    int n = s == GQ_OK ? m->model->cfg.n_layers * GQ_LIN_COUNT : 0;
    if (s == GQ_OK && (!(m->spec = gq_strdup(model)) || !(m->info = info_json(m->model)) ||
                       !(m->names = gq_calloc_array((size_t)n, sizeof *m->names))))
        s = gq_fail(&e, GQ_ERR_NOMEM, "%s: out of memory", model);
    for (int i = 0; s == GQ_OK && i < n; i++)
        gq_encoder_weight_name(m->model->cfg.family, i, m->names[i], sizeof m->names[i]);
    if (s != GQ_OK) {
        glueq_model_free(m);
        return fail_out(err, s, &e);
    }
    *out = m;
    return done(err, s, &e);
}

/* The files of the split kept for the next evaluation. */
static void drop_sets(glueq_model *m) {
    for (int p = 0; p < m->n_sets; p++) gq_glue_free(m->sets[p]), m->sets[p] = NULL;
    m->n_sets = 0;
}

void glueq_model_free(glueq_model *m) {
    if (!m) return;
    gq_encoder_runner_free(m->runner);
    gq_encoded_free(m->enc);
    drop_sets(m);
    gq_tok_free(m->tok);
    gq_encoder_free(m->model);
    free(m->enc_key), free(m->tok_vocab), free(m->names), free(m->info), free(m->spec);
    free(m);
}

const char *glueq_model_info(const glueq_model *m) { return m->info; }

int glueq_model_n_matrices(const glueq_model *m) { return m->model->cfg.n_layers * GQ_LIN_COUNT; }

const float *glueq_model_matrix(const glueq_model *m, int i, const char **name, int64_t *rows, int64_t *cols) {
    if (i < 0 || i >= glueq_model_n_matrices(m)) return NULL;
    const gq_linear *l = &m->model->layers[i / GQ_LIN_COUNT].lin[i % GQ_LIN_COUNT];
    if (name) *name = m->names[i];
    if (rows) *rows = l->out;
    if (cols) *cols = l->in;
    return l->w;
}

/* ---- what an evaluation reuses ---- */


/* Replaces *slot with a copy of s; 0 when out of memory. */
static int set_text(char **slot, const char *s) {
    char *c = gq_strdup(s);
    if (!c) return 0;
    free(*slot);
    *slot = c;
    return 1;
}

static gq_status ensure_tokenizer(glueq_model *m, const gq_cli_eval *ce, gq_err *e) {
    if (m->tok && !strcmp(m->tok_vocab, ce->vocab)) {
        if (m->tok_utf8 != ce->eo.utf8) { /* the encoding depends on the policy */
            gq_tok_set_utf8_policy(m->tok, ce->eo.utf8);
            m->tok_utf8 = ce->eo.utf8;
            gq_encoded_free(m->enc), m->enc = NULL;
        }
        return GQ_OK;
    }
    gq_encoded_free(m->enc), m->enc = NULL;
    gq_tok_free(m->tok), m->tok = NULL;
    gq_status s = gq_lookup_load_tokenizer(ce->vocab, &m->tok, e);
    if (s == GQ_OK && !set_text(&m->tok_vocab, ce->vocab)) s = gq_fail(e, GQ_ERR_NOMEM, "out of memory");
    if (s != GQ_OK) return gq_tok_free(m->tok), m->tok = NULL, s;
    gq_tok_set_utf8_policy(m->tok, ce->eo.utf8);
    m->tok_utf8 = ce->eo.utf8;
    return GQ_OK;
}

static gq_status ensure_split(glueq_model *m, const gq_cli_eval *ce, gq_err *e) {
    char key[4096];
    snprintf(key, sizeof key, "%s\n%s\n%s\n%d\n%d", ce->task->name, ce->data_root, ce->split, ce->eo.max_len,
             ce->eo.limit);
    if (m->enc && !strcmp(m->enc_key, key)) return GQ_OK;
    gq_encoded_free(m->enc), m->enc = NULL;
    drop_sets(m);
    gq_status s = gq_eval_load_split(ce->task, ce->data_root, ce->split, 0, m->sets, m->parts, &m->n_sets, e);
    if (s == GQ_OK)
        s = gq_encode_sets(m->tok, (const gq_glue_set *const *)m->sets, m->n_sets, ce->eo.limit, ce->eo.max_len,
                           &m->enc, e);
    if (s == GQ_OK && !set_text(&m->enc_key, key)) s = gq_fail(e, GQ_ERR_NOMEM, "out of memory");
    if (s != GQ_OK) gq_encoded_free(m->enc), m->enc = NULL;
    return s;
}

static gq_status ensure_runner(glueq_model *m, const gq_encoder_runner_opts *o, gq_err *e) {
    if (m->runner && !memcmp(&m->runner_opts, o, sizeof *o)) return GQ_OK;
    gq_encoder_runner_free(m->runner), m->runner = NULL;
    gq_status s = gq_encoder_runner_open(m->model, o, &m->runner, e);
    if (s == GQ_OK) m->runner_opts = *o;
    return s;
}

/* The flags, parsed as glueq eval parses them (cq, ce) and the in-memory scores as a
 * checkpoint of tensors that do not own their data (*given, owning only its array). */
typedef struct {
    gq_args a;
    gq_quant_setup cq;
    gq_cli_eval ce;
    gq_label_order labels; /* the model's label ids as the task's labels */
    gq_ckpt given;
} call_opts;

static void call_opts_free(call_opts *c) {
    free(c->given.tensors);
    gq_cli_eval_free(&c->ce);
}

static gq_status take_scores(const glueq_tensor *t, int n, call_opts *c, gq_err *e) {
    if (n <= 0) return GQ_OK;
    if (!c->cq.method || gq_args_has(&c->a, "scores"))
        return gq_fail(e, GQ_ERR_ARG, "scores in memory need --method external and no --scores FILE");
    c->given.tensors = gq_calloc_array((size_t)n, sizeof *c->given.tensors);
    if (!c->given.tensors) return gq_fail(e, GQ_ERR_NOMEM, "scores: out of memory");
    for (int i = 0; i < n; i++) {
        gq_tensor *g = &c->given.tensors[i];
        if (!t[i].name || !t[i].data || t[i].rows < 0 || t[i].cols < 0)
            return gq_fail(e, GQ_ERR_ARG, "scores: entry %d has no name, no data or a negative shape", i);
        g->name = (char *)t[i].name, g->data = (float *)t[i].data, g->ndim = 2; /* read only */
        g->shape[0] = t[i].rows, g->shape[1] = t[i].cols, g->numel = t[i].rows * t[i].cols;
    }
    c->given.n = n;
    c->given.path = (char *)"scores";
    snprintf(c->given.dtypes, sizeof c->given.dtypes, "F32");
    c->cq.scores = &c->given;
    return GQ_OK;
}

static gq_status parse_call(const glueq_model *m, const char *const *args, const glueq_tensor *scores, int n_scores,
                            int with_split, call_opts *c, gq_err *e) {
    int argc = 0;
    while (args && args[argc]) argc++;
    memset(c, 0, sizeof *c);
    gq_status s = gq_args_parse(&c->a, gq_cli_eval_groups, argc, (char **)args, e);
    if (s == GQ_OK && c->a.npos) s = gq_fail(e, GQ_ERR_ARG, "unexpected argument '%s'", c->a.pos[0]);
    /* glueq eval's flags after --model; the output is the result */
    for (const char *const *f = (const char *const[]){"model", "json", "quiet", NULL}; s == GQ_OK && *f; f++)
        if (gq_args_has(&c->a, *f)) s = gq_fail(e, GQ_ERR_ARG, "unknown option '--%s'", *f);
    if (s == GQ_OK) s = gq_cli_quant_parse(&c->a, &c->cq, e);
    if (s == GQ_OK) s = gq_cli_eval_parse(&c->a, m->spec, with_split, &c->ce, e);
    if (s == GQ_OK) s = gq_eval_label_order(c->ce.task, m->model, c->ce.eo.label_map, m->spec, &c->labels, e);
    return s == GQ_OK ? take_scores(scores, n_scores, c, e) : s;
}

/* Tokenizer, split (with_split) and runner of the call, reused when they match. */
static gq_status prepare(glueq_model *m, const call_opts *c, int with_split, gq_eval_task *ev, gq_err *e) {
    gq_status s = ensure_tokenizer(m, &c->ce, e);
    if (s == GQ_OK && with_split) s = ensure_split(m, &c->ce, e);
    if (s == GQ_OK) s = ensure_runner(m, &c->ce.eo.runner, e);
    *ev = (gq_eval_task){.task = c->ce.task, .tok = m->tok, .labels = c->labels, .model = m->model,
                         .runner = m->runner};
    for (int p = 0; with_split && p < m->n_sets; p++) ev->sets[p] = m->sets[p], ev->parts[p] = m->parts[p];
    ev->n_sets = with_split ? m->n_sets : 0;
    ev->enc = with_split ? m->enc : NULL;
    return s;
}

/* ---- results ---- */

/* The id `glueq sweep` gives the evaluated point, and its settings, into o. */
static gq_status add_point_id(const call_opts *c, const gq_quant_report *rep, cJSON *o, gq_err *e) {
    const gq_quant_setup *cq = &c->cq;
    const gq_method *meth = cq->method ? gq_method_find(cq->method) : NULL;
    int calibrated = meth && (gq_method_needs_calibration(meth) || cq->q.algorithm != GQ_ALGO_RTN);
    gq_point_spec ps = {.task = c->ce.task->name, .method = cq->method ? cq->method : "fp32",
                        .max_len = c->ce.eo.max_len, .limit = c->ce.eo.limit, .q = &cq->q, .budget = cq->budget,
                        .mopts = &rep->method_opts, .calib = calibrated ? &cq->calib : NULL};
    char *settings = NULL, id[17];
    gq_status s = gq_point_settings(&ps, &settings, id, e);
    if (s != GQ_OK) return s;
    cJSON_AddStringToObject(o, "point_id", id);
    cJSON_AddRawToObject(o, "settings", settings);
    free(settings);
    return GQ_OK;
}

static gq_status result_new(const gq_eval_task *ev, const call_opts *c, const gq_eval_result *res,
                            const gq_quant_report *rep, glueq_result **out, gq_err *e) {
    glueq_result *r = calloc(1, sizeof *r);
    cJSON *o = r ? gq_cli_eval_json(ev, &c->ce, res, &c->cq, rep) : NULL;
    gq_status s = o ? add_point_id(c, rep, o, e) : gq_fail(e, GQ_ERR_NOMEM, "out of memory");
    size_t n = (size_t)(res->n > 0 ? res->n : 1), nl = (size_t)res->n_labels;
    if (s == GQ_OK) {
        r->n = res->n, r->n_labels = res->n_labels;
        r->json = cJSON_PrintUnformatted(o);
        r->pred = gq_malloc_array(n, sizeof *r->pred);
        r->label = gq_malloc_array(n, sizeof *r->label);
        r->logits = gq_malloc_array(n * nl, sizeof *r->logits);
        if (!r->json || !r->pred || !r->label || !r->logits) s = gq_fail(e, GQ_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(o);
    if (s != GQ_OK) {
        glueq_result_free(r);
        return s;
    }
    memcpy(r->pred, res->pred, (size_t)res->n * sizeof *r->pred);
    memcpy(r->label, ev->enc->label, (size_t)res->n * sizeof *r->label);
    memcpy(r->logits, res->logits, (size_t)res->n * nl * sizeof *r->logits);
    *out = r;
    return GQ_OK;
}

const char *glueq_result_json(const glueq_result *r) { return r->json; }
int glueq_result_n(const glueq_result *r) { return r->n; }
int glueq_result_n_labels(const glueq_result *r) { return r->n_labels; }
const int32_t *glueq_result_predictions(const glueq_result *r) { return r->pred; }
const int32_t *glueq_result_labels(const glueq_result *r) { return r->label; }
const float *glueq_result_logits(const glueq_result *r) { return r->logits; }

void glueq_result_free(glueq_result *r) {
    if (!r) return;
    free(r->json), free(r->pred), free(r->label), free(r->logits);
    free(r);
}

/* ---- evaluation and quantization ---- */

glueq_status glueq_evaluate(glueq_model *m, const char *const *args, const glueq_tensor *scores, int n_scores,
                            glueq_progress_fn progress, void *ctx, glueq_result **out, glueq_error *err) {
    gq_err e = {{0}};
    call_opts c;
    *out = NULL;
    gq_status s = parse_call(m, args, scores, n_scores, 1, &c, &e);
    gq_eval_task ev;
    gq_quant_session *session = NULL;
    gq_quant_report rep;
    gq_eval_result res = {0};
    pthread_mutex_lock(&engine);
    if (s == GQ_OK) s = prepare(m, &c, 1, &ev, &e);
    if (s == GQ_OK)
        s = gq_quant_setup_apply(&c.cq, m->model, m->runner, m->tok, c.ce.task, c.ce.data_root, c.ce.eo.max_len, &session,
                            &rep, NULL, &e);
    if (s == GQ_OK) s = gq_eval_run(m->runner, m->enc, NULL, progress, ctx, &res, &e);
    if (s == GQ_OK) s = gq_eval_score(c.ce.task, &c.labels, m->enc, &res, &e);
    if (session) gq_quant_session_restore(session);
    if (s == GQ_OK) s = result_new(&ev, &c, &res, &rep, out, &e);
    pthread_mutex_unlock(&engine);
    gq_eval_result_free(&res);
    gq_quant_session_free(session);
    call_opts_free(&c);
    return done(err, s, &e);
}

glueq_status glueq_quantize(glueq_model *m, const char *const *args, const glueq_tensor *scores, int n_scores,
                            const char *out, glueq_error *err) {
    gq_err e = {{0}};
    call_opts c;
    gq_status s = parse_call(m, args, scores, n_scores, 0, &c, &e);
    if (s == GQ_OK && (!out || !c.cq.method)) s = gq_fail(&e, GQ_ERR_ARG, "quantize needs an output directory and --method M");
    gq_eval_task ev;
    gq_quant_report rep;
    pthread_mutex_lock(&engine);
    if (s == GQ_OK) s = prepare(m, &c, 0, &ev, &e);
    if (s == GQ_OK) s = gq_cli_quantize_to(&c.cq, &ev, &c.ce, out, &rep, &e);
    pthread_mutex_unlock(&engine);
    call_opts_free(&c);
    return done(err, s, &e);
}

/* The caller's progress callback, which takes the row as text. */
typedef struct {
    glueq_sweep_progress_fn fn;
    void *ctx;
} sweep_progress;

static void sweep_point_done(void *ctx, int done, int total, const cJSON *row) {
    const sweep_progress *p = ctx;
    char *text = cJSON_PrintUnformatted(row);
    if (text) p->fn(p->ctx, done, total, text);
    free(text);
}

glueq_status glueq_sweep(const char *const *args, glueq_sweep_progress_fn progress, void *ctx,
                         const volatile sig_atomic_t *stop, glueq_error *err) {
    gq_err e = {{0}};
    gq_args a;
    int argc = 0;
    while (args && args[argc]) argc++;
    sweep_progress p = {progress, ctx};
    gq_sweep_opts o = {.n_shards = 1, .stop = stop, .progress = progress ? sweep_point_done : NULL, .progress_ctx = &p};
    const char *config = NULL;
    gq_sweep_config *cfg = NULL;
    gq_status s = gq_args_parse(&a, gq_cli_sweep_groups, argc, (char **)args, &e);
    for (const char *const *f = (const char *const[]){"check", "quiet", NULL}; s == GQ_OK && *f; f++)
        if (gq_args_has(&a, *f)) s = gq_fail(&e, GQ_ERR_ARG, "unknown option '--%s'", *f);
    if (s == GQ_OK) s = gq_cli_sweep_parse(&a, &o, &config, &e);
    if (s == GQ_OK) s = gq_sweep_config_load(config, &cfg, &e);
    pthread_mutex_lock(&engine);
    if (s == GQ_OK) s = gq_sweep_run(cfg, &o, &e);
    pthread_mutex_unlock(&engine);
    gq_sweep_config_free(cfg);
    return done(err, s, &e);
}

void glueq_compare_paired(const int32_t *labels, const int32_t *pred_a, const int32_t *pred_b, int n,
                          glueq_compare_stats *out) {
    gq_compare_stats cs;
    gq_compare_paired(labels, pred_a, pred_b, n, &cs);
    *out = (glueq_compare_stats){cs.n, cs.correct_a, cs.correct_b, cs.only_a, cs.only_b, cs.diff, cs.lo, cs.hi, cs.p};
}

struct glueq_comparison {
    char *json;
};

/* One pair as the JSON object glueq_comparison_json describes. */
static cJSON *num_or_null(double v) { return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v); }

/* "metrics": the lines glueq compare prints for the pair, one per metric and dev file. */
static void add_metric_lines(cJSON *o, const gq_compare_pair *p) {
    const gq_glue_task *t = gq_glue_task_find(p->a->task);
    cJSON *list = cJSON_AddArrayToObject(o, "metrics");
    for (int k = 0; list && k < p->n_lines; k++) {
        const gq_compare_line *l = &p->lines[k];
        cJSON *x = cJSON_CreateObject();
        if (!x || !cJSON_AddItemToArray(list, x)) {
            cJSON_Delete(x);
            return;
        }
        cJSON_AddStringToObject(x, "metric", gq_metric_name(l->metric));
        cJSON_AddStringToObject(x, "file", t && t->n_dev > 1 ? t->dev[l->part] : "dev");
        cJSON_AddBoolToObject(x, "main", l->main);
        const char *keys[] = {"a", "b", "diff", "ci_low", "ci_high", "p"};
        const double vals[] = {l->a, l->b, l->diff, l->lo, l->hi, l->p};
        for (int i = 0; i < 6; i++) cJSON_AddItemToObject(x, keys[i], num_or_null(vals[i]));
    }
}

static cJSON *pair_json(const gq_compare_pair *p) {
    const gq_compare_stats *s = &p->stats;
    double n = s->n ? s->n : 1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", p->a->task);
    cJSON_AddStringToObject(o, "point_id_a", p->a->id);
    cJSON_AddStringToObject(o, "point_id_b", p->b->id);
    cJSON_AddStringToObject(o, "description_a", p->a->desc);
    cJSON_AddStringToObject(o, "description_b", p->b->desc);
    const char *keys[] = {"n", "correct_a", "correct_b", "only_a", "only_b"};
    const int counts[] = {s->n, s->correct_a, s->correct_b, s->only_a, s->only_b};
    for (int i = 0; i < 5; i++) cJSON_AddNumberToObject(o, keys[i], counts[i]);
    cJSON_AddNumberToObject(o, "accuracy_a", s->correct_a / n);
    cJSON_AddNumberToObject(o, "accuracy_b", s->correct_b / n);
    cJSON_AddNumberToObject(o, "diff", s->diff);
    cJSON_AddNumberToObject(o, "ci_low", s->lo);
    cJSON_AddNumberToObject(o, "ci_high", s->hi);
    cJSON_AddNumberToObject(o, "p", s->p);
    add_metric_lines(o, p);
    return o;
}

/* The pairs as a JSON list (NULL when out of memory). */
static char *comparison_json(const gq_comparison *c) {
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < c->n; i++) {
        cJSON *o = pair_json(&c->pairs[i]);
        if (!o || !cJSON_AddItemToArray(list, o)) cJSON_Delete(o), cJSON_Delete(list), list = NULL;
    }
    char *text = list ? cJSON_PrintUnformatted(list) : NULL;
    cJSON_Delete(list);
    return text;
}

glueq_status glueq_compare(const char *a, const char *b, const char *task, glueq_comparison **out,
                           glueq_error *err) {
    gq_err e = {{0}};
    gq_comparison c = {0};
    glueq_comparison *r = NULL;
    *out = NULL;
    gq_status s = a && b ? gq_compare_load(a, b, task, &c, &e)
                         : gq_fail(&e, GQ_ERR_ARG, "compare needs two result sets A and B");
    if (s == GQ_OK && (!(r = calloc(1, sizeof *r)) || !(r->json = comparison_json(&c)))) {
        glueq_comparison_free(r), r = NULL;
        s = gq_fail(&e, GQ_ERR_NOMEM, "out of memory");
    }
    gq_comparison_free(&c);
    *out = r;
    return done(err, s, &e);
}

const char *glueq_comparison_json(const glueq_comparison *c) { return c->json; }

void glueq_comparison_free(glueq_comparison *c) {
    if (!c) return;
    free(c->json);
    free(c);
}
