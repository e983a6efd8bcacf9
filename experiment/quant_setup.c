/* quant_setup: quantizing a loaded model as a command's options say (see quant_setup.h). */
#include "quant_setup.h"
#include "lookup.h"

#include <stdlib.h>
#include <string.h>

/* gq_calib_source_free for the session that owns the source. */
static void free_calib_source(void *cs) { gq_calib_source_free(cs); }

gq_status gq_quant_setup_apply(const gq_quant_setup *cq, gq_encoder *m, gq_encoder_runner *r, const gq_tok *tok,
                          const gq_glue_task *task, const char *data_root, int max_len,
                          gq_quant_session **session, gq_quant_report *rep, char *calib_desc, gq_err *err) {
    *session = NULL;
    memset(rep, 0, sizeof *rep);
    if (calib_desc) calib_desc[0] = '\0';
    if (!cq->method) return GQ_OK;
    char *cache = gq_lookup_cache_dir(cq->cache_dir);
    gq_status s = gq_quant_session_new(m, cache, session, err);
    free(cache);
    if (s == GQ_OK) gq_quant_session_set_threads(*session, gq_encoder_runner_threads(r));
    /* one apply: no factor would be found again, so none is kept past its matrix */
    if (s == GQ_OK) gq_quant_session_set_factor_cache(*session, 0);
    const gq_method *meth = gq_method_find(cq->method);
    if (s == GQ_OK && (gq_method_needs_calibration(meth) || cq->q.algorithm != GQ_ALGO_RTN)) {
        gq_calib_source *cs = NULL;
        s = gq_calib_source_load(tok, task, data_root, &cq->calib, max_len, &cs, err);
        if (s == GQ_OK) {
            cs->runner = r;
            gq_info("calibration: %s", cs->description);
            if (calib_desc) snprintf(calib_desc, GQ_QUANT_SETUP_CALIB_DESC_LEN, "%s", cs->description);
            gq_quant_session_own_calibration(*session, cs->key, gq_calib_run, cs, free_calib_source);
        }
    }
    gq_quant_scores *sc = NULL;
    if (s == GQ_OK && cq->scores) s = gq_quant_scores_given(*session, cq->method, cq->scores, &sc, err);
    else if (s == GQ_OK) s = gq_quant_scores_compute(*session, cq->method, &cq->mo, &cq->q, &sc, err);
    if (s == GQ_OK) s = gq_quant_apply(*session, sc, &cq->q, &cq->budget, rep, err);
    gq_quant_scores_free(sc);
    return s;
}

cJSON *gq_quant_setup_json(const gq_quant_setup *cq, const gq_quant_report *rep, const char *calib_desc) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", cq->method ? cq->method : "fp32");
    if (!cq->method) return o;
    const gq_method *m = gq_method_find(cq->method);
    char text[1024];
    cJSON *mo = cJSON_AddObjectToObject(o, "method_options");
    for (int i = 0; i < rep->method_opts.n; i++)
        cJSON_AddStringToObject(mo, rep->method_opts.key[i], rep->method_opts.value[i]);
    gq_quant_opts_str(&cq->q, text, sizeof text);
    cJSON_AddNumberToObject(o, "bits", cq->q.bits);
    cJSON_AddStringToObject(o, "quantizer", text);
    cJSON_AddStringToObject(o, "scheme", cq->q.scheme == GQ_QUANT_ASYMMETRIC ? "asymmetric" : "symmetric");
    if (cq->q.granularity == GQ_QUANT_GROUP) snprintf(text, sizeof text, "group:%d", cq->q.group);
    else snprintf(text, sizeof text, "%s", cq->q.granularity == GQ_QUANT_ROW ? "row" : "tensor");
    cJSON_AddStringToObject(o, "granularity", text);
    if (cq->q.clip == GQ_QUANT_CLIP_STD) snprintf(text, sizeof text, "std:%g", cq->q.alpha);
    else snprintf(text, sizeof text, "absmax");
    cJSON_AddStringToObject(o, "clip", text);
    cJSON_AddBoolToObject(o, "stats_exclude_protected", cq->q.stats_exclude_protected);
    if (cq->budget.p >= 0) cJSON_AddNumberToObject(o, "p", cq->budget.p);
    else cJSON_AddNumberToObject(o, "k", (double)cq->budget.k);
    cJSON_AddBoolToObject(o, "global", cq->budget.global);
    const gq_quant_opts *q = &cq->q;
    int calibrated = q->algorithm != GQ_ALGO_RTN;
    cJSON_AddStringToObject(o, "algorithm", gq_quant_algorithm_name(q->algorithm));
    if (q->algorithm == GQ_ALGO_GPTQ) cJSON_AddBoolToObject(o, "act_order", q->act_order);
    if (calibrated) {
        cJSON_AddNumberToObject(o, "damp", q->damp);
        cJSON *sq = cJSON_AddObjectToObject(o, "sarqc");
        cJSON_AddNumberToObject(sq, "lambda", q->sarqc_lambda);
        cJSON_AddStringToObject(sq, "saliency", q->sarqc_saliency);
    }
    if ((m && gq_method_needs_calibration(m)) || calibrated) {
        cJSON *c = cJSON_AddObjectToObject(o, "calibration");
        cJSON_AddStringToObject(c, "split", cq->calib.split);
        cJSON_AddNumberToObject(c, "n", cq->calib.n);
        cJSON_AddStringToObject(c, "sample", cq->calib.random ? "random" : "first");
        cJSON_AddNumberToObject(c, "seed", (double)cq->calib.seed);
        cJSON_AddStringToObject(c, "from", q->calib_from_quantized ? "quantized" : "fp32");
        if (calib_desc && calib_desc[0]) cJSON_AddStringToObject(c, "rows", calib_desc);
    }
    return o;
}
