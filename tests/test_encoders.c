/* BERT and RoBERTa against transformers (tests/fixtures/encoders, made by
 * tests/fixtures/gen/gen_encoder_refs.py): per fixture, the logits of token-id sequences
 * (BERT pairs with token types, RoBERTa's pair template with a pad token inside one
 * sequence, the longest sequence each model takes) batched on 1 and 3 threads (the
 * last block cut to the [CLS] rows), with hooks (every row of every block) and one at a
 * time; the hidden states the generator kept; the logits of texts through HF's tokenizer,
 * and the uncased WordPiece tokenizer on those texts. Then quantization (a calibrated
 * method, a rotating one, GPTQ) and export: the exported checkpoint has the source's
 * tensor names and config, and reloads to the in-memory logits bit for bit
 * ($GLUEQ_TEST_EXPORTS: the exports and glueq's logits are also written there, for
 * tests/fixtures/gen/check_export_hf.py). Last, the errors: another model_type, an
 * architecture of another family, sizes that disagree with the tensors, over-long
 * sequences, a negative first segment. */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "export.h"
#include "lookup.h"
#include "testenc.h"
#include "tokenizer.h"

/* Logits against the references' FP32 ones (one sequence at a time, unpadded): measured at
 * most 2.1e-7 (bert-uncased with hooks; the test prints each "max err"); about 10x that.
 * Hidden states (values up to ~4.3): at most 1.2e-6, likewise. */
#define ENC_LOGIT_ATOL 2e-6
#define ENC_HIDDEN_ATOL 1.2e-5

typedef struct {
    const char *name, *model_type;
} encoder_fixture;

static const encoder_fixture FIXTURES[] = {{"bert-uncased", "bert"}, {"bert-cased", "bert"}, {"roberta", "roberta"}};
enum { N_FIXTURES = sizeof FIXTURES / sizeof *FIXTURES };

static char tmpdir[256];

static gq_encoder *load(gq_test_ctx *t, const char *name) { return gq_test_encoder_load(t, name); }

static float *forward(gq_test_ctx *t, gq_encoder *m, int threads, const gq_test_sequences *s) {
    gq_encoder_runner *r = gq_encoder_runner_new(m, threads);
    float *logits = r ? gq_test_encoder_logits(t, r, s, NULL) : NULL;
    GQ_CHECK(t, r != NULL, "runner: out of memory");
    gq_encoder_runner_free(r);
    return logits;
}

/* The sequences as gq_eval_run takes them (a tokenized split): batched by length, token
 * types from seg_a; its logits in the sequences' order. */
static void check_eval(gq_test_ctx *t, const char *name, gq_encoder *m, const gq_test_sequences *s) {
    gq_encoded enc = {.n = s->n, .ids = s->ids, .len = s->lens, .seg_a = s->seg_a};
    int64_t *off = calloc((size_t)s->n, sizeof *off);
    int *label = calloc((size_t)s->n, sizeof *label), *order = calloc((size_t)s->n, sizeof *order);
    for (int i = 0; i < s->n; i++) {
        off[i] = enc.tokens, enc.tokens += s->lens[i], label[i] = -1, order[i] = i;
        if (s->lens[i] > enc.max_len) enc.max_len = s->lens[i];
        for (int j = i; j > 0 && s->lens[order[j - 1]] > s->lens[order[j]]; j--) /* by length */
            order[j] = order[j - 1], order[j - 1] = i;
    }
    enc.off = off, enc.label = label, enc.order = order;
    gq_encoder_runner *r = gq_encoder_runner_new(m, 2);
    gq_eval_result res = {0};
    gq_err err = {{0}};
    GQ_CHECK(t, r && gq_eval_run(r, &enc, NULL, NULL, NULL, &res, &err) == GQ_OK, "%s", err.msg);
    char what[128];
    snprintf(what, sizeof what, "%s logits through gq_eval_run", name);
    if (res.logits) gq_check_close(t, what, res.logits, s->logits, (size_t)s->n * m->cfg.n_labels, ENC_LOGIT_ATOL, 0);
    gq_eval_result_free(&res);
    gq_encoder_runner_free(r);
    free(off), free(label), free(order);
}

static void check_logits(gq_test_ctx *t, const encoder_fixture *fx) {
    gq_encoder *m = load(t, fx->name);
    if (!m) return;
    GQ_CHECK(t, !strcmp(m->cfg.family->model_type, fx->model_type), "%s: read as %s", fx->name,
             m->cfg.family->model_type);
    gq_test_sequences s, tx;
    gq_test_sequences_load(t, fx->name, "", &s);
    size_t nv = (size_t)s.n * m->cfg.n_labels;
    char what[128];
    for (int threads = 1; threads <= 3; threads += 2) {
        float *got = forward(t, m, threads, &s);
        snprintf(what, sizeof what, "%s logits (%d thread%s, [CLS] cut)", fx->name, threads, threads > 1 ? "s" : "");
        if (got) gq_check_close(t, what, got, s.logits, nv, ENC_LOGIT_ATOL, 0);
        free(got);
    }
    check_eval(t, fx->name, m, &s);
    gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
    if (r) gq_test_encoder_hidden(t, fx->name, r, &s, ENC_HIDDEN_ATOL, ENC_LOGIT_ATOL);
    /* one sequence at a time */
    float *got = calloc(nv, sizeof *got);
    gq_err err = {{0}};
    for (int k = 0, off = 0; r && k < s.n; off += s.lens[k++])
        GQ_CHECK(t, gq_encoder_forward(r, s.ids + off, &s.lens[k], &s.seg_a[k], 1, got + (size_t)k * m->cfg.n_labels,
                                       NULL, &err) == GQ_OK, "%s", err.msg);
    snprintf(what, sizeof what, "%s logits (one sequence at a time)", fx->name);
    gq_check_close(t, what, got, s.logits, nv, ENC_LOGIT_ATOL, 0);
    free(got);
    if (gq_ckpt_find(s.ck, "text_ids")) {
        gq_test_sequences_load(t, fx->name, "text_", &tx);
        got = r ? gq_test_encoder_logits(t, r, &tx, NULL) : NULL;
        snprintf(what, sizeof what, "%s logits of texts tokenized by transformers", fx->name);
        if (got) gq_check_close(t, what, got, tx.logits, (size_t)tx.n * m->cfg.n_labels, ENC_LOGIT_ATOL, 0);
        free(got);
        gq_test_sequences_free(&tx);
    } else {
        printf("--   %s: no texts tokenized by transformers in the references\n", fx->name);
    }
    gq_encoder_runner_free(r);
    gq_test_sequences_free(&s);
    gq_encoder_free(m);
}

/* The uncased WordPiece tokenizer on the texts, against transformers' BertTokenizer. */
static void check_wordpiece(gq_test_ctx *t) {
    char *dir = gq_test_encoder_dir("bert-uncased"), *vocab = gq_path_join(dir, "vocab.txt");
    char *json = gq_path_join(dir, "expected_texts.json"), *text = NULL;
    gq_tok *tok = NULL;
    gq_err err = {{0}};
    if (!gq_file_exists(json)) {
        printf("--   bert-uncased: no texts tokenized by transformers in the references\n");
        free(dir), free(vocab), free(json);
        return;
    }
    GQ_CHECK(t, gq_tok_load(vocab, &tok, &err) == GQ_OK && gq_read_file(json, 0, &text, NULL, &err) == GQ_OK, "%s",
             err.msg);
    cJSON *rows = text ? cJSON_Parse(text) : NULL, *row;
    gq_ids ids = {0};
    int n = 0, same = 0;
    cJSON_ArrayForEach(row, rows) {
        const cJSON *a = cJSON_GetObjectItem(row, "a"), *b = cJSON_GetObjectItem(row, "b");
        const cJSON *want = cJSON_GetObjectItem(row, "ids"), *seg = cJSON_GetObjectItem(row, "seg_a");
        n++;
        if (!tok || gq_tok_encode(tok, a->valuestring, cJSON_IsString(b) ? b->valuestring : NULL, 0, &ids, &err))
            continue;
        int ok = ids.n == cJSON_GetArraySize(want) && ids.seg_a == seg->valueint;
        for (int i = 0; ok && i < ids.n; i++) ok = ids.v[i] == cJSON_GetArrayItem(want, i)->valueint;
        GQ_CHECK(t, ok, "bert-uncased: '%s' tokenized unlike BertTokenizer", a->valuestring);
        same += ok;
    }
    GQ_CHECK(t, n > 0, "%s: no texts", json);
    printf("ok   bert-uncased WordPiece: %d of %d texts tokenized as BertTokenizer does, token types included\n", same,
           n);
    gq_ids_free(&ids);
    cJSON_Delete(rows);
    gq_tok_free(tok);
    free(dir), free(vocab), free(json), free(text);
}

/* gq_encoder_config_json of a loaded config parses back to the same config. */
static void check_config_json(gq_test_ctx *t, const encoder_fixture *fx) {
    gq_encoder *m = load(t, fx->name);
    if (!m) return;
    char *json = gq_encoder_config_json(&m->cfg);
    gq_encoder_config c;
    gq_err err = {{0}};
    GQ_CHECK(t, json && gq_encoder_config_parse(json, strlen(json), fx->name, &c, &err) == GQ_OK, "%s", err.msg);
    const gq_encoder_config *a = &m->cfg;
    GQ_CHECK(t, c.family == a->family && c.dim == a->dim && c.n_layers == a->n_layers && c.n_heads == a->n_heads &&
                    c.hidden_dim == a->hidden_dim && c.vocab_size == a->vocab_size && c.max_pos == a->max_pos &&
                    c.type_vocab_size == a->type_vocab_size && c.pad_id == a->pad_id && c.ln_eps == a->ln_eps &&
                    c.n_labels == a->n_labels && !strcmp(c.labels[0], a->labels[0]),
             "%s: gq_encoder_config_json does not read back as the config it was written from", fx->name);
    gq_encoder_config_free(&c);
    free(json);
    gq_encoder_free(m);
}

/* ---- quantization and export */

typedef struct {
    gq_encoder_runner *r;
    const gq_test_sequences *s;
} calib_ctx;

static gq_status calib_run(void *ctx, const gq_encoder_hooks *hooks, gq_err *err) {
    const calib_ctx *c = ctx;
    float *logits = malloc((size_t)c->s->n * gq_encoder_runner_model(c->r)->cfg.n_labels * sizeof *logits);
    gq_status s = logits ? gq_encoder_forward(c->r, c->s->ids, c->s->lens, c->s->seg_a, c->s->n, logits, hooks, err)
                         : GQ_ERR_NOMEM;
    free(logits);
    return s;
}

/* glueq's logits of the exported model, for check_export_hf.py: {name: [{ids, seg_a, logits}]}. */
static void record_logits(cJSON *all, const char *name, const gq_test_sequences *s, const float *logits, int nl) {
    cJSON *list = cJSON_AddArrayToObject(all, name);
    for (int k = 0, off = 0; k < s->n; off += s->lens[k++]) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "ids", cJSON_CreateIntArray((const int *)s->ids + off, s->lens[k]));
        cJSON_AddNumberToObject(e, "seg_a", s->seg_a[k]);
        cJSON *l = cJSON_AddArrayToObject(e, "logits");
        for (int j = 0; j < nl; j++) cJSON_AddItemToArray(l, cJSON_CreateNumber(logits[(size_t)k * nl + j]));
        cJSON_AddItemToArray(list, e);
    }
}

/* Every tensor of the source under its own name in the export, and a mask for every
 * quantized matrix under the family's name of its weight. */
static void check_names(gq_test_ctx *t, const gq_encoder *m, const char *out) {
    char *w = gq_path_join(out, "model.safetensors"), *p = gq_path_join(out, "protected.safetensors");
    gq_ckpt *got = NULL, *masks = NULL;
    gq_err err = {{0}};
    GQ_CHECK(t, gq_ckpt_load(w, &got, &err) == GQ_OK && gq_ckpt_load(p, &masks, &err) == GQ_OK, "%s", err.msg);
    int same = got && got->n == m->ckpt->n;
    for (int i = 0; same && i < m->ckpt->n; i++) same = gq_ckpt_find(got, m->ckpt->tensors[i].name) != NULL;
    GQ_CHECK(t, same, "%s: the export's tensors are not the source's", out);
    int named = masks && masks->n == m->cfg.n_layers * GQ_LIN_COUNT;
    char want[160];
    snprintf(want, sizeof want, "%s.%d.%s.weight", m->cfg.family->layer, m->cfg.n_layers - 1,
             m->cfg.family->lin[GQ_LIN_FF2]);
    GQ_CHECK(t, named && gq_ckpt_find(masks, want), "%s: protected.safetensors lacks '%s'", out, want);
    gq_ckpt_free(got), gq_ckpt_free(masks);
    free(w), free(p);
    /* the source's tokenizer files, byte for byte */
    static const char *const TOKENIZER[] = {"vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof TOKENIZER / sizeof *TOKENIZER; i++) {
        char *src = gq_path_join(m->dir, TOKENIZER[i]), *dst = gq_path_join(out, TOKENIZER[i]), *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        if (gq_file_exists(src)) {
            gq_read_file(src, 0, &a, &na, NULL), gq_read_file(dst, 0, &b, &nb, NULL);
            GQ_CHECK(t, a && b && na == nb && !memcmp(a, b, na), "%s: %s is not the source's", out, TOKENIZER[i]);
        }
        free(src), free(dst), free(a), free(b);
    }
}

/* Quantizes a fixture in memory with method `method` (algorithm `algo`), exports it and
 * reloads it: same family, bit-identical logits. */
static void check_export(gq_test_ctx *t, const encoder_fixture *fx, const char *method, const char *algo, cJSON *record) {
    gq_encoder *m = load(t, fx->name), *back = NULL;
    if (!m) return;
    gq_test_sequences s;
    gq_test_sequences_load(t, fx->name, "", &s);
    gq_encoder_runner *r = gq_encoder_runner_new(m, 1);
    calib_ctx cc = {r, &s};
    gq_quant_session *qs = NULL;
    gq_quant_scores *sc = NULL;
    gq_quant_opts q;
    gq_quant_opts_default(&q, 3);
    gq_method_opts mo = {0};
    gq_quant_budget b = {.k = 64, .p = -1};
    gq_quant_report rep;
    gq_err err = {{0}};
    char out[512], cache[300], name[64];
    snprintf(name, sizeof name, "%s-%s-%s", fx->name, method, algo);
    snprintf(out, sizeof out, "%s/%s", tmpdir, name);
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    gq_status st = gq_quant_opts_set(&q, "algorithm", algo, &err);
    if (st == GQ_OK) st = gq_quant_session_new(m, cache, &qs, &err);
    if (st == GQ_OK) gq_quant_session_set_calibration(qs, fx->name, calib_run, &cc);
    if (st == GQ_OK) st = gq_quant_scores_compute(qs, method, &mo, &q, &sc, &err);
    if (st == GQ_OK) st = gq_quant_apply(qs, sc, &q, &b, &rep, &err);
    gq_export x = {.model = m, .session = qs, .rep = &rep};
    if (st == GQ_OK) st = gq_export_write(out, &x, &err);
    if (st == GQ_OK) st = gq_encoder_load(out, &back, &err);
    GQ_CHECK(t, st == GQ_OK, "%s: %s", name, err.msg);
    if (st == GQ_OK) {
        float *mem = forward(t, m, 1, &s), *disk = forward(t, back, 1, &s);
        size_t nv = (size_t)s.n * m->cfg.n_labels;
        GQ_CHECK(t, mem && disk && back->cfg.family == m->cfg.family && !memcmp(mem, disk, nv * sizeof *mem),
                 "%s: the reloaded export differs from the model quantized in memory", name);
        double moved = 0;
        for (size_t i = 0; mem && i < nv; i++) moved = fmax(moved, fabs((double)mem[i] - s.logits[i]));
        GQ_CHECK(t, moved > 0, "%s: quantizing left the logits unchanged", name);
        printf("ok   %s: exported and reloaded as %s, logits bit for bit (moved by up to %.3g from FP32)\n", name,
               back->cfg.family->architecture, moved);
        check_names(t, m, out);
        if (record && mem) record_logits(record, name, &s, mem, m->cfg.n_labels);
        const char *keep = getenv("GLUEQ_TEST_EXPORTS");
        char kept[600];
        snprintf(kept, sizeof kept, "%s/%s", keep ? keep : "", name);
        if (keep && *keep) GQ_CHECK(t, gq_export_write(kept, &x, &err) == GQ_OK, "%s", err.msg);
        free(mem), free(disk);
    }
    gq_quant_scores_free(sc), gq_quant_session_free(qs);
    gq_encoder_runner_free(r);
    gq_test_sequences_free(&s);
    gq_encoder_free(back), gq_encoder_free(m);
}

/* ---- the model's own tokenizer, and a sweep over the three families */

/* Without --vocab a run reads the model directory's tokenizer: the cased BERT's keeps "The"
 * apart from "the", RoBERTa's is byte-level BPE. */
static void check_tokenizer_choice(gq_test_ctx *t) {
    static const char *const NAMES[] = {"bert-cased", "roberta"}, *const KINDS[] = {"wordpiece", "bpe"};
    for (int i = 0; i < 2; i++) {
        char *dir = gq_test_encoder_dir(NAMES[i]), *path = gq_lookup_tokenizer(NULL, dir);
        gq_tok *tok = NULL;
        gq_err err = {{0}};
        GQ_CHECK(t, path && !strcmp(path, dir) && gq_lookup_load_tokenizer(path, &tok, &err) == GQ_OK &&
                        !strcmp(gq_tok_kind(tok), KINDS[i]),
                 "%s: its own tokenizer (%s) was not chosen: %s", NAMES[i], KINDS[i], err.msg);
        if (tok && i == 0)
            GQ_CHECK(t, gq_tok_id(tok, "The") >= 0 && gq_tok_id(tok, "The") != gq_tok_id(tok, "the"),
                     "bert-cased: its vocabulary lost the case");
        gq_tok_free(tok);
        free(dir), free(path);
    }
}

/* `glueq eval --json` of a model on a task's first 16 dev rows at max_len 64; NULL on failure. */
static cJSON *eval_json(gq_test_ctx *t, const char *model, const char *task) {
    char cmd[2000], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "'%s' eval --quiet --json --model '%s' --task %s --limit 16 --max-len 64 --threads 2",
             t->glueq, model, task);
    int rc = gq_test_run(cmd, &out, &err);
    cJSON *ev = rc == 0 && out ? cJSON_Parse(out) : NULL;
    GQ_CHECK(t, ev, "%s: rc %d: %s%s", cmd, rc, out ? out : "", err ? err : "");
    free(out), free(err);
    return ev;
}

/* One sweep with a DistilBERT for RTE, the uncased BERT for MRPC and RoBERTa for QNLI, each
 * with its own tokenizer (BERT's token types from the pairs): it runs, and the FP32 rows of
 * the BERT and the RoBERTa score what `glueq eval` scores on them alone. */
static void check_mixed_sweep(gq_test_ctx *t) {
    char *bert = gq_test_encoder_dir("bert-uncased"), *roberta = gq_test_encoder_dir("roberta");
    char cfg[512], json[3000], cmd[2000], *out = NULL, *err = NULL;
    snprintf(cfg, sizeof cfg, "%s/mixed.json", tmpdir);
    snprintf(json, sizeof json,
             "{\"name\": \"mixed\", \"data\": \"%s/assets/glue\", \"tasks\": [\"rte\", \"mrpc\", \"qnli\"],\n"
             " \"models\": {\"rte\": \"%s/fixtures/tiny-a\", \"mrpc\": \"%s\", \"qnli\": \"%s\"},\n"
             " \"methods\": [\"svd\", \"awq\"], \"bits\": [4], \"budgets\": {\"k\": [16]},\n"
             " \"calibration\": {\"n\": 8}, \"max_len\": 64, \"limit\": 16, \"threads\": 2,\n"
             " \"output\": \"%s/mixed\", \"cache_dir\": \"%s/cache\"}\n",
             t->shared, t->shared, bert, roberta, tmpdir, tmpdir);
    gq_write_file_atomic(cfg, json, strlen(json), NULL);
    snprintf(cmd, sizeof cmd, "'%s' sweep --quiet '%s'", t->glueq, cfg);
    int rc = gq_test_run(cmd, &out, &err);
    GQ_CHECK(t, rc == 0, "%s: rc %d: %s", cmd, rc, err ? err : "");
    char *csv = NULL, path[600];
    snprintf(path, sizeof path, "%s/mixed/results.csv", tmpdir);
    gq_read_file(path, 0, &csv, NULL, NULL);
    int rows = 0;
    for (const char *p = csv; p && (p = strchr(p, '\n')); p++) rows++;
    GQ_CHECK(t, csv && rows == 1 + 3 * 3, "%s: %d lines, want a header and 3 points for each task", path, rows);
    const char *const TASKS[] = {"mrpc", "qnli"}, *const MODELS[] = {bert, roberta};
    for (int i = 0; i < 2; i++) {
        cJSON *ev = eval_json(t, MODELS[i], TASKS[i]);
        const cJSON *correct = cJSON_GetObjectItem(ev, "correct"), *total = cJSON_GetObjectItem(ev, "total");
        char want[64], row[32];
        /* the FP32 row's max_len, limit, correct and total */
        snprintf(want, sizeof want, ",64,16,%d,%d,", cJSON_IsNumber(correct) ? correct->valueint : -1,
                 cJSON_IsNumber(total) ? total->valueint : -1);
        snprintf(row, sizeof row, ",%s,fp32,", TASKS[i]);
        const char *fp32 = csv ? strstr(csv, row) : NULL, *eol = fp32 ? strchr(fp32, '\n') : NULL;
        const char *hit = fp32 ? strstr(fp32, want) : NULL;
        GQ_CHECK(t, hit && hit < eol, "%s: the FP32 %s row does not score %s as glueq eval does", path, TASKS[i], want);
        cJSON_Delete(ev);
    }
    printf("ok   a sweep over a DistilBERT (rte), a BERT (mrpc) and a RoBERTa (qnli): %d points; the FP32 rows of the "
           "BERT and the RoBERTa as glueq eval scores them\n", rows - 1);
    free(out), free(err), free(csv), free(bert), free(roberta);
}

/* ---- errors */

/* The fixture's config.json with `edit` applied, written to tmpdir/NAME/config.json. */
static char *edited_config(const char *fixture, const char *name, void (*edit)(cJSON *)) {
    char *dir = gq_test_encoder_dir(fixture), *src = gq_path_join(dir, "config.json"), *text = NULL;
    gq_read_file(src, 0, &text, NULL, NULL);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    if (o) edit(o);
    char sub[400], *out = NULL;
    snprintf(sub, sizeof sub, "%s/%s", tmpdir, name);
    gq_mkdirs(sub, NULL);
    char *printed = o ? cJSON_Print(o) : NULL;
    if (printed) {
        out = gq_path_join(sub, "config.json");
        gq_write_file_atomic(out, printed, strlen(printed), NULL);
    }
    cJSON_Delete(o);
    free(dir), free(src), free(text), free(printed);
    return out;
}

static void electra(cJSON *o) { cJSON_ReplaceItemInObject(o, "model_type", cJSON_CreateString("electra")); }
static void other_arch(cJSON *o) {
    cJSON_ReplaceItemInObject(o, "architectures", cJSON_CreateStringArray((const char *[]){"RobertaForSequenceClassification"}, 1));
}
static void wider(cJSON *o) { cJSON_ReplaceItemInObject(o, "intermediate_size", cJSON_CreateNumber(38)); }

/* Loading config (an edited copy of fixture's) with the fixture's weights fails with
 * `want` and a message naming `file` (config or weights) and holding `needle`. */
static void expect_load_error(gq_test_ctx *t, const char *fixture, const char *name, void (*edit)(cJSON *),
                              gq_status want, int names_weights, const char *needle) {
    char *cfg = edited_config(fixture, name, edit), *dir = gq_test_encoder_dir(fixture);
    char *w = gq_path_join(dir, "model.safetensors");
    gq_encoder *m = NULL;
    gq_err err = {{0}};
    gq_status s = cfg ? gq_encoder_load_file(cfg, w, &m, &err) : GQ_ERR_IO;
    const char *file = names_weights ? w : cfg;
    GQ_CHECK(t, s == want && file && strstr(err.msg, file) && strstr(err.msg, needle) && !strchr(err.msg, '\n'),
             "%s: want status %d and one line naming %s with '%s', got %d: %s", name, want, file ? file : "?", needle,
             s, err.msg);
    if (s == want) printf("ok   %s: %s\n", name, err.msg);
    gq_encoder_free(m);
    free(cfg), free(dir), free(w);
}

static void check_errors(gq_test_ctx *t) {
    expect_load_error(t, "bert-uncased", "unknown-model-type", electra, GQ_ERR_UNSUPPORTED, 0, "'electra'");
    expect_load_error(t, "bert-cased", "other-architecture", other_arch, GQ_ERR_UNSUPPORTED, 0,
                      "RobertaForSequenceClassification");
    expect_load_error(t, "bert-uncased", "sizes-disagree", wider, GQ_ERR_SHAPE, 1, "intermediate.dense.weight");
    gq_encoder *m = load(t, "roberta");
    gq_encoder_runner *r = m ? gq_encoder_runner_new(m, 1) : NULL;
    if (r) {
        /* RoBERTa's positions start after pad_token_id: max_position_embeddings - 2 tokens */
        int longest = m->cfg.max_pos - 2, len = longest + 1, neg = -1;
        int32_t *ids = calloc((size_t)len, sizeof *ids);
        float logits[16];
        gq_err err = {{0}};
        GQ_CHECK(t, gq_encoder_forward(r, ids, &longest, NULL, 1, logits, NULL, &err) == GQ_OK, "%s", err.msg);
        GQ_CHECK(t, gq_encoder_forward(r, ids, &len, NULL, 1, logits, NULL, &err) == GQ_ERR_ARG &&
                     strstr(err.msg, "1 to 64"), "roberta: %d tokens must be refused: %s", len, err.msg);
        gq_encoder_runner_free(r);
        gq_encoder_free(m);
        m = load(t, "bert-uncased");
        r = m ? gq_encoder_runner_new(m, 1) : NULL;
        GQ_CHECK(t, r && gq_encoder_forward(r, ids, &longest, &neg, 1, logits, NULL, &err) == GQ_ERR_ARG,
                 "bert: a negative first segment must be refused");
        free(ids);
    }
    gq_encoder_runner_free(r);
    gq_encoder_free(m);
}

int main(int argc, char **argv) {
    gq_test_ctx t;
    gq_test_init(&t, argc, argv);
    gq_test_tmpdir(&t, "gq_test_encoders", tmpdir, sizeof tmpdir);
    for (int i = 0; i < N_FIXTURES; i++) check_logits(&t, &FIXTURES[i]);
    check_wordpiece(&t);
    for (int i = 0; i < N_FIXTURES; i++) check_config_json(&t, &FIXTURES[i]);
    cJSON *record = cJSON_CreateObject();
    for (int i = 0; i < N_FIXTURES; i++) {
        check_export(&t, &FIXTURES[i], "svd", "rtn", record);
        check_export(&t, &FIXTURES[i], "awq", "gptq", record);
        check_export(&t, &FIXTURES[i], "rosaq", "rtn", record);
    }
    const char *keep = getenv("GLUEQ_TEST_EXPORTS");
    char *text = cJSON_Print(record), *path = keep && *keep ? gq_path_join(keep, "glueq_logits.json") : NULL;
    if (path && text) gq_write_file_atomic(path, text, strlen(text), NULL);
    free(text), free(path);
    cJSON_Delete(record);
    check_tokenizer_choice(&t);
    check_mixed_sweep(&t);
    check_errors(&t);
    return gq_test_done(&t);
}
