/* glueq tokenize / info / overlap: inspection tools. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hub.h"

static void print_ids(const gq_ids *ids) {
    for (int i = 0; i < ids->n; i++) printf(i ? " %d" : "%d", ids->v[i]);
    putchar('\n');
}

static gq_status tokenize_tsv(const gq_tok *tok, const char *tsv, const char *task_name, int max_len, gq_err *err) {
    const gq_glue_task *task = task_name ? gq_glue_task_find(task_name) : NULL;
    if (!task)
        return gq_fail(err, GQ_ERR_ARG, "--tsv needs --task {%s}%s%s", gq_glue_task_names(),
                       task_name ? ": unknown task " : "", task_name ? task_name : "");
    gq_glue_set *set = NULL;
    gq_status s = gq_glue_load(task, tsv, &set, err);
    gq_ids ids = {0};
    for (int i = 0; s == GQ_OK && i < set->n; i++) {
        gq_err e = {{0}};
        s = gq_tok_encode(tok, set->rows[i].a, set->rows[i].b, max_len, &ids, &e);
        if (s != GQ_OK) gq_fail(err, s, "%s: line %d: %s", tsv, set->rows[i].line, e.msg);
        else print_ids(&ids);
    }
    gq_ids_free(&ids);
    gq_glue_free(set);
    return s;
}

int gq_cmd_tokenize(const gq_args *a) {
    gq_err err = {{0}};
    long max_len = 128;
    gq_status s = gq_args_int(a, "max-len", 0, 1 << 20, 128, &max_len, &err);
    if (s == GQ_OK && max_len > 0 && max_len < 3) s = gq_fail(&err, GQ_ERR_ARG, "option '--max-len': must be 0 or at least 3");
    if (s == GQ_OK && gq_args_has(a, "text") == gq_args_has(a, "tsv"))
        s = gq_fail(&err, GQ_ERR_ARG, "tokenize needs exactly one of --text or --tsv (see glueq tokenize --help)");
    const char *u = gq_args_get(a, "utf8");
    if (s == GQ_OK && u && strcmp(u, "strict") && strcmp(u, "replace"))
        s = gq_fail(&err, GQ_ERR_ARG, "option '--utf8': '%s' is not strict or replace", u);
    if (s == GQ_OK && gq_args_has(a, "model") && gq_args_has(a, "vocab"))
        s = gq_fail(&err, GQ_ERR_ARG, "tokenize takes --model or --vocab, not both");
    char *model_dir = NULL; /* a missing model is an error, not a fall-back to the assets' vocabulary */
    if (s == GQ_OK && gq_args_has(a, "model")) s = gq_hub_resolve(gq_args_get(a, "model"), &model_dir, &err);
    free(model_dir);
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    /* the tokenizer eval would use: a model without tokenizer files falls back as eval does */
    char *vocab = gq_lookup_tokenizer(gq_args_get(a, "vocab"), gq_args_get(a, "model"));
    gq_tok *tok = NULL;
    s = vocab ? gq_lookup_load_tokenizer(vocab, &tok, &err) : gq_fail(&err, GQ_ERR_IO, "no vocab.txt found (use --vocab)");
    if (s == GQ_OK && u) gq_tok_set_utf8_policy(tok, strcmp(u, "replace") == 0 ? GQ_UTF8_REPLACE : GQ_UTF8_STRICT);
    if (s == GQ_OK && gq_args_has(a, "tsv")) {
        s = tokenize_tsv(tok, gq_args_get(a, "tsv"), gq_args_get(a, "task"), (int)max_len, &err);
    } else if (s == GQ_OK) {
        gq_ids ids = {0};
        s = gq_tok_encode(tok, gq_args_get(a, "text"), gq_args_get(a, "pair"), (int)max_len, &ids, &err);
        if (s == GQ_OK) print_ids(&ids);
        gq_ids_free(&ids);
    }
    gq_tok_free(tok);
    free(vocab);
    return s == GQ_OK ? 0 : gq_cli_fail(&err, s);
}

int gq_cmd_info(const gq_args *a) {
    gq_err err = {{0}};
    gq_status s = GQ_OK;
    if (!gq_args_has(a, "model")) s = gq_fail(&err, GQ_ERR_ARG, "info needs --model DIR");
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    gq_encoder *m = NULL;
    if ((s = gq_encoder_load(gq_args_get(a, "model"), &m, &err)) != GQ_OK) return gq_cli_fail(&err, s);
    const gq_encoder_config *c = &m->cfg;
    int64_t enc = 0;
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) enc += (int64_t)m->layers[l].lin[k].out * m->layers[l].lin[k].in;
    printf("model:        %s\n", m->dir);
    printf("weights:      %s (%s)\n", m->weights_path, m->ckpt->format);
    printf("sha256:       %s\n", m->sha256);
    printf("architecture: %s\n", c->family->architecture);
    printf("dim %d, layers %d, heads %d (head size %d), ffn %d, vocab %d, positions %d\n", c->dim, c->n_layers,
           c->n_heads, c->dim / c->n_heads, c->hidden_dim, c->vocab_size, c->max_pos);
    printf("labels:      ");
    for (int i = 0; i < c->n_labels; i++) printf(" %d=%s", i, c->labels[i]);
    printf("\nparameters:   %zu (%d tensors", m->n_params, m->n_param_tensors);
    if (m->ckpt->n > m->n_param_tensors) printf("; the file holds %d more, not used", m->ckpt->n - m->n_param_tensors);
    printf(")\n");
    printf("quantizable:  %lld encoder Linear weights in %d matrices\n", (long long)enc, c->n_layers * GQ_LIN_COUNT);
    printf("dtype:        %s stored, computed in F32\n", m->ckpt->dtypes);
    gq_encoder_free(m);
    return 0;
}

/* Scores of one method on the session (calibration prepared when the method needs it),
 * with the options it accepts: --scores and --method-opt may be meant for the other one. */
static gq_status overlap_scores(gq_quant_session *s, const char *method, const gq_quant_setup *cq,
                                gq_quant_scores **sc, gq_err *err) {
    const gq_method *m = gq_method_find(method);
    if (!m) return gq_fail(err, GQ_ERR_ARG, "unknown method '%s'", method);
    gq_method_opts mo = {0};
    for (int i = 0; i < cq->mo.n; i++)
        if (gq_method_has_opt(m, cq->mo.key[i]) && gq_method_opts_set(&mo, cq->mo.key[i], cq->mo.value[i], err) != GQ_OK)
            return GQ_ERR_ARG;
    return gq_quant_scores_compute(s, method, &mo, &cq->q, sc, err);
}

static void print_overlap(const gq_encoder *m, const char *a, const char *b, const gq_quant_setup *cq, const double *inter,
                          const double *jac, double it, double jt) {
    printf("overlap of %s and %s protected sets, k=%lld per matrix%s\n", a, b, (long long)cq->budget.k,
           cq->budget.global ? " (global top-k)" : "");
    printf("%-42s %10s %10s\n", "matrix", "|A∩B|/k", "jaccard");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < GQ_LIN_COUNT; k++) {
            char name[96];
            snprintf(name, sizeof name, "layer.%d.%s", l, gq_lin_name(m->cfg.family, (gq_lin_kind)k));
            int i = l * GQ_LIN_COUNT + k;
            printf("%-42s %10.4f %10.4f\n", name, inter[i], jac[i]);
        }
    printf("%-42s %10.4f %10.4f\n", "total", it, jt);
}

int gq_cmd_overlap(const gq_args *a) {
    gq_err err = {{0}};
    gq_status s = GQ_OK;
    gq_quant_setup cq;
    gq_encoder_runner_opts ro;
    if (s == GQ_OK) s = gq_cli_quant_parse(a, &cq, &err);
    if (s == GQ_OK) s = gq_cli_runner_parse(a, &ro, &err);
    const char *methods = gq_args_get(a, "methods"), *task_name = gq_args_get(a, "task");
    const char *comma = methods ? strchr(methods, ',') : NULL;
    if (s == GQ_OK && (!gq_args_has(a, "model") || !task_name || !comma || !gq_args_has(a, "k")))
        s = gq_fail(&err, GQ_ERR_ARG, "overlap needs --model DIR --task T --methods A,B --k K");
    const gq_glue_task *task = s == GQ_OK ? gq_glue_task_find(task_name) : NULL;
    if (s == GQ_OK && !task) s = gq_fail(&err, GQ_ERR_ARG, "unknown task '%s'", task_name);
    if (s != GQ_OK) return gq_cli_fail(&err, s);
    char ma[64], *vocab = gq_lookup_tokenizer(gq_args_get(a, "vocab"), gq_args_get(a, "model"));
    char *data = gq_lookup_data_root(gq_args_get(a, "data")), *cache = gq_lookup_cache_dir(cq.cache_dir);
    snprintf(ma, sizeof ma, "%.*s", (int)(comma - methods), methods);
    gq_encoder *m = NULL;
    gq_tok *tok = NULL;
    gq_encoder_runner *r = NULL;
    gq_quant_session *qs = NULL;
    gq_calib_source *cs = NULL;
    gq_quant_scores *sa = NULL, *sb = NULL;
    s = vocab ? gq_lookup_load_tokenizer(vocab, &tok, &err) : gq_fail(&err, GQ_ERR_IO, "no vocab.txt found (use --vocab)");
    if (s == GQ_OK) s = gq_encoder_load(gq_args_get(a, "model"), &m, &err);
    if (s == GQ_OK) s = gq_encoder_runner_open(m, &ro, &r, &err);
    if (s == GQ_OK) s = gq_quant_session_new(m, cache, &qs, &err);
    if (s == GQ_OK) gq_quant_session_set_threads(qs, ro.threads);
    const gq_method *meth_a = gq_method_find(ma), *meth_b = gq_method_find(comma + 1);
    if (s == GQ_OK && (gq_method_needs_calibration(meth_a) || gq_method_needs_calibration(meth_b))) {
        s = data ? gq_calib_source_load(tok, task, data, &cq.calib, 128, &cs, &err)
                 : gq_fail(&err, GQ_ERR_IO, "no GLUE data directory found for calibration (use --data)");
        if (s == GQ_OK) cs->runner = r, gq_quant_session_set_calibration(qs, cs->key, gq_calib_run, cs);
    }
    if (s == GQ_OK) s = overlap_scores(qs, ma, &cq, &sa, &err);
    if (s == GQ_OK) s = overlap_scores(qs, comma + 1, &cq, &sb, &err);
    int n = m ? m->cfg.n_layers * GQ_LIN_COUNT : 0;
    double *inter = calloc((size_t)n + 1, sizeof *inter), *jac = calloc((size_t)n + 1, sizeof *jac), it = 0, jt = 0;
    if (s == GQ_OK) s = gq_quant_overlap(qs, sa, sb, &cq.budget, inter, jac, &it, &jt, &err);
    if (s == GQ_OK) print_overlap(m, ma, comma + 1, &cq, inter, jac, it, jt);
    free(inter), free(jac);
    gq_quant_scores_free(sa), gq_quant_scores_free(sb);
    gq_calib_source_free(cs);
    gq_quant_session_free(qs);
    gq_encoder_runner_free(r);
    gq_encoder_free(m);
    gq_tok_free(tok);
    free(vocab), free(data), free(cache);
    return s == GQ_OK ? 0 : gq_cli_fail(&err, s);
}
