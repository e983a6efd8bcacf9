/* sweep: the engine of `glueq sweep` and `glueq merge`; see sweep.h. */
#define _GNU_SOURCE /* gethostname, readlink, popen */
#include "sweep.h"

#include "blas.h"

#include <cblas.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calib_rows.h"
#include "lookup.h"
#include "eval.h"
#include "hub.h"
#include "journal.h"
#include "report.h"
#include "version.h"

/* ---- provenance ---- */

static void iso_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The git revision of the tree the running binary was built in (the build directory
 * lives inside the checkout), "+dirty" when tracked files differ; "unknown" elsewhere. */
static void git_revision(char *buf, size_t n) {
    char exe[4096], cmd[4300], line[128] = "";
    snprintf(buf, n, "unknown");
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash || strchr(exe, '\'')) return;
    *slash = '\0';
    snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse HEAD 2>/dev/null", exe);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    int ok = fgets(line, sizeof line, p) != NULL;
    pclose(p);
    line[strcspn(line, "\n")] = '\0';
    if (!ok || strlen(line) < 40) return;
    snprintf(cmd, sizeof cmd, "git -C '%s' status --porcelain --untracked-files=no 2>/dev/null", exe);
    int dirty = 0;
    if ((p = popen(cmd, "r"))) {
        char tmp[8];
        dirty = fgets(tmp, sizeof tmp, p) != NULL;
        pclose(p);
    }
    snprintf(buf, n, "%s%s", line, dirty ? "+dirty" : "");
}

static cJSON *run_info(const gq_sweep_config *cfg, int threads, int shard, int n_shards) {
    cJSON *r = cJSON_CreateObject();
    char buf[256];
    if (!r) return NULL;
    if (gethostname(buf, sizeof buf) != 0) snprintf(buf, sizeof buf, "unknown");
    buf[sizeof buf - 1] = '\0';
    cJSON_AddStringToObject(r, "host", buf);
    git_revision(buf, sizeof buf);
    if (!strcmp(buf, "unknown")) snprintf(buf, sizeof buf, "%s", gq_version_revision()); /* installed: the build's */
    cJSON_AddStringToObject(r, "glueq_revision", buf);
    cJSON_AddStringToObject(r, "blas", gq_blas_config());
    cJSON_AddNumberToObject(r, "threads", threads > 0 ? threads : openblas_get_num_procs());
    cJSON_AddStringToObject(r, "device", gq_device_name(cfg->runner.device));
    cJSON_AddBoolToObject(r, "tf32", cfg->runner.tf32);
    snprintf(buf, sizeof buf, "%d/%d", shard, n_shards);
    cJSON_AddStringToObject(r, "shard", buf);
    iso_now(buf, sizeof buf);
    cJSON_AddStringToObject(r, "started", buf);
    return r;
}

/* results.json's provenance: this process's environment, every run that contributed
 * (journal headers), and per task the checkpoint, data and calibration hashes. */
static cJSON *final_provenance(const char *hash, const cJSON *runs, const cJSON *config, const cJSON *rows) {
    cJSON *p = cJSON_CreateObject();
    if (!p) return NULL;
    cJSON_AddStringToObject(p, "config_hash", hash);
    const cJSON *first = cJSON_GetArrayItem(runs, 0);
    for (const char *const *k = (const char *const[]){"glueq_revision", "blas", "threads", "device", "tf32", "host", "started", NULL}; *k;
         k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(first, *k);
        if (x) cJSON_AddItemToObject(p, *k, cJSON_Duplicate(x, 1));
    }
    char now[32];
    iso_now(now, sizeof now);
    cJSON_AddStringToObject(p, "finished", now);
    cJSON_AddItemToObject(p, "runs", cJSON_Duplicate(runs, 1));
    cJSON *tasks = cJSON_AddObjectToObject(p, "tasks");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(config, "models");
    for (const cJSON *r = rows ? rows->child : NULL; r; r = r->next) {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "task"));
        if (!t) continue;
        cJSON *e = cJSON_GetObjectItemCaseSensitive(tasks, t);
        if (!e) {
            e = cJSON_AddObjectToObject(tasks, t);
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(models, t);
            if (m) cJSON_AddItemToObject(e, "checkpoint", cJSON_Duplicate(m, 1));
            cJSON_AddItemToObject(e, "checkpoint_sha256",
                                  cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "checkpoint_sha256"), 1));
            cJSON_AddItemToObject(e, "data_sha256",
                                  cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "data_sha256"), 1));
        }
        const cJSON *cal = cJSON_GetObjectItemCaseSensitive(r, "calibration");
        if (cJSON_IsString(cal) && !cJSON_GetObjectItemCaseSensitive(e, "calibration")) {
            cJSON_AddItemToObject(e, "calibration", cJSON_Duplicate(cal, 1));
            cJSON_AddItemToObject(e, "calib_sha256",
                                  cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "calib_sha256"), 1));
        }
    }
    return p;
}

/* ---- checks before running ---- */

gq_status gq_sweep_check_paths(const gq_sweep_config *cfg, gq_err *err) {
    for (int t = 0; t < cfg->n_tasks; t++) {
        char *dir = NULL, *cj = NULL;
        gq_err e = {{0}};
        if (gq_hub_resolve(cfg->models[t], &dir, &e) != GQ_OK) /* a directory or a cached Hub id */
            return gq_fail(err, GQ_ERR_IO, "%s: models.%s: %s", cfg->path, cfg->tasks[t], e.msg);
        cj = gq_path_join(dir, "config.json");
        int ok = cj && gq_file_exists(cj);
        free(cj), free(dir);
        if (!ok)
            return gq_fail(err, GQ_ERR_IO, "%s: models.%s: %s: no checkpoint there (config.json missing)", cfg->path,
                           cfg->tasks[t], cfg->models[t]);
        const gq_glue_task *task = gq_glue_task_find(cfg->tasks[t]);
        for (int p = 0; p < task->n_dev; p++) {
            char *dev = gq_glue_split_path(task, cfg->data, task->dev[p]);
            ok = dev && gq_file_exists(dev);
            gq_status st = ok ? GQ_OK : gq_fail(err, GQ_ERR_IO, "%s: data: %s: missing", cfg->path, dev ? dev : cfg->data);
            free(dev);
            if (st != GQ_OK) return st;
        }
    }
    if (cfg->vocab && !gq_file_exists(cfg->vocab))
        return gq_fail(err, GQ_ERR_IO, "%s: vocab: %s: missing", cfg->path, cfg->vocab);
    return GQ_OK;
}

/* ---- where the time goes ----
 * The stages a sweep spends its time in. A row's "timing" holds the point stages (scores
 * to restore), each a part of the row's "seconds"; loading a task, its FP32 reference and
 * journalling rows are counted in the summary at the end only. */
typedef enum {
    STAGE_SCORES,        /* method scores and preparation, their calibration aside */
    STAGE_CALIB_FORWARD, /* calibration forwards (the FP32 statistics, or from quantized) */
    STAGE_CALIB_STATS,   /* accumulating the statistics on the CPU (a GPU's: in the forward) */
    STAGE_QUANTIZE,      /* gq_quant_apply: select, SARQC scores, quantizers */
    STAGE_CHECK,         /* gq_quant_apply's check of what it wrote */
    STAGE_EVALUATE,      /* the dev set's forward (a GPU's upload of changed weights included) */
    STAGE_RESTORE,       /* the FP32 weights written back */
    N_POINT_STAGES,
    STAGE_LOAD = N_POINT_STAGES, /* a task's model, data and calibration rows */
    STAGE_FP32,                  /* a task's FP32 reference */
    STAGE_JOURNAL,               /* rows made and journalled */
    N_STAGES
} sweep_stage;

static const char *const STAGE_NAMES[N_STAGES] = {"scores", "calib_forward", "calib_stats", "quantize", "check",
                                                  "evaluate", "restore", "load", "fp32", "journal"};

/* ---- one task's state ---- */

typedef struct {
    gq_eval_task ev; /* task, tokenizer, dev set, its encoding, model, runner */
    gq_quant_session *session;
    gq_calib_source *calib;
    int n_labels;
    int *ref_pred;     /* (n) FP32 predictions */
    float *ref_logits; /* (n, n_labels) FP32 logits */
    gq_quant_scores *scores; /* the last computed scores and what they are for */
    char scores_key[GQ_METHOD_MAX_OPTS * (GQ_METHOD_MAX_VALUE + 40) + 300]; /* method|options|quantizer */
} task_state;

static void task_free(task_state *ts) {
    gq_quant_scores_free(ts->scores);
    gq_quant_session_free(ts->session); /* before the rows it may run */
    gq_calib_source_free(ts->calib);
    gq_eval_task_free(&ts->ev);
    free(ts->ref_pred), free(ts->ref_logits);
    memset(ts, 0, sizeof *ts);
}

/* The calibration data the config describes, for the session of ts. */
static gq_status task_calibration(const gq_sweep_config *cfg, task_state *ts, gq_err *err) {
    gq_calib_opts co;
    gq_calib_opts_default(&co);
    snprintf(co.split, sizeof co.split, "%s", cfg->calib_split);
    co.n = cfg->calib_n;
    co.random = strcmp(cfg->calib_sample, "random") == 0;
    co.seed = (uint64_t)cfg->calib_seed;
    gq_status st = gq_calib_source_load(ts->ev.tok, ts->ev.task, cfg->data, &co, cfg->max_len, &ts->calib, err);
    if (st == GQ_OK) {
        ts->calib->runner = ts->ev.runner;
        gq_quant_session_set_calibration(ts->session, ts->calib->key, gq_calib_run, ts->calib);
    }
    return st;
}

static gq_status task_load(const gq_sweep_config *cfg, int t, const char *cache_dir, int threads, int need_calib,
                           task_state *ts, gq_err *err) {
    memset(ts, 0, sizeof *ts);
    const gq_glue_task *task = gq_glue_task_find(cfg->tasks[t]);
    gq_eval_task_opts eo = {.model_dir = cfg->models[t], .data_root = cfg->data, .split = "dev",
                            .label_map = cfg->label_maps ? cfg->label_maps + t * GQ_GLUE_MAX_LABELS : NULL,
                            .max_len = cfg->max_len, .limit = cfg->limit, .need_labels = 1, .runner = cfg->runner};
    if (eo.label_map && eo.label_map[0] < 0) eo.label_map = NULL; /* the map names other tasks only */
    eo.runner.threads = threads;
    char *vocab = gq_lookup_tokenizer(cfg->vocab, cfg->models[t]);
    gq_status st = GQ_OK;
    if (!vocab)
        st = gq_fail(err, GQ_ERR_IO, "%s: no tokenizer beside %s and no vocab.txt in the assets; set \"vocab\"", cfg->path,
                     cfg->models[t]);
    eo.vocab = vocab;
    if (st == GQ_OK) st = gq_eval_task_load(task, &eo, &ts->ev, err);
    free(vocab);
    if (st == GQ_OK) st = gq_quant_session_new(ts->ev.model, cache_dir, &ts->session, err);
    if (st == GQ_OK) gq_quant_session_set_threads(ts->session, threads);
    if (st == GQ_OK && need_calib) st = task_calibration(cfg, ts, err);
    ts->n_labels = gq_glue_regression(task) ? 1 : task->n_labels;
    return st;
}

/* Takes the FP32 reference from a journalled row, so that a resumed or merged run
 * measures fidelity against exactly the predictions it reports. */
static int ref_from_row(task_state *ts, const cJSON *row) {
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(row, "preds"), *lg = cJSON_GetObjectItemCaseSensitive(row, "logits");
    int n = ts->ev.enc->n;
    if (cJSON_GetArraySize(pr) != n || cJSON_GetArraySize(lg) != n * ts->n_labels) return 0;
    ts->ref_pred = gq_malloc_array((size_t)n, sizeof *ts->ref_pred);
    ts->ref_logits = gq_malloc_array((size_t)n * ts->n_labels, sizeof *ts->ref_logits);
    if (!ts->ref_pred || !ts->ref_logits) return 0;
    int i = 0;
    for (const cJSON *x = pr->child; x; x = x->next) ts->ref_pred[i++] = x->valueint;
    i = 0;
    for (const cJSON *x = lg->child; x; x = x->next) ts->ref_logits[i++] = (float)x->valuedouble;
    return 1;
}

/* ---- rows ---- */

static gq_status add_raw(cJSON *row, const char *key, char *raw) {
    if (!raw) return GQ_ERR_NOMEM;
    cJSON *x = cJSON_AddRawToObject(row, key, raw);
    free(raw);
    return x ? GQ_OK : GQ_ERR_NOMEM;
}

static cJSON *num_or_null(int defined, double v) { return defined ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* The quantizer algorithm's columns: null for the FP32 baseline; options an
 * algorithm does not use are null too (act_order outside gptq, damp and SARQC for rtn). */
static void add_algorithm_columns(cJSON *r, const gq_quant_opts *q) {
    int calibrated = q && q->algorithm != GQ_ALGO_RTN;
    cJSON_AddItemToObject(r, "algorithm", q ? cJSON_CreateString(gq_quant_algorithm_name(q->algorithm)) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "act_order",
                          q && q->algorithm == GQ_ALGO_GPTQ ? cJSON_CreateBool(q->act_order) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "damp", num_or_null(calibrated, calibrated ? q->damp : 0));
    cJSON_AddItemToObject(r, "sarqc_lambda", num_or_null(calibrated, calibrated ? q->sarqc_lambda : 0));
    cJSON_AddItemToObject(r, "sarqc_saliency", calibrated ? cJSON_CreateString(q->sarqc_saliency) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "calib_from",
                          calibrated ? cJSON_CreateString(q->calib_from_quantized ? "quantized" : "fp32")
                                     : cJSON_CreateNull());
}

static cJSON *num_if(int defined, double v) { return num_or_null(defined && isfinite(v), v); }

/* One column per metric (null where the task does not report it or it is undefined),
 * MNLI's mismatched dev set in the "_mm" columns, the main metric's name and where the
 * label order came from. */
static void add_metric_columns(cJSON *r, const task_state *ts, const gq_eval_result *res) {
    const gq_glue_task *task = ts->ev.task;
    static const char *const SFX[GQ_GLUE_MAX_DEV] = {"", "_mm"};
    int acc = (task->metrics & GQ_METRIC_BIT(GQ_METRIC_ACCURACY)) != 0;
    for (int p = 0; p < GQ_GLUE_MAX_DEV; p++) {
        const gq_metrics *m = &res->metrics[p];
        int here = p < res->n_parts;
        char key[32];
#define PART_COLUMN(name, defined, value) \
    (snprintf(key, sizeof key, "%s%s", name, SFX[p]), cJSON_AddItemToObject(r, key, num_if(defined, value)))
        PART_COLUMN("correct", here && acc, m->correct);
        PART_COLUMN("total", here, m->total);
        PART_COLUMN("accuracy", here && acc, m->accuracy);
        PART_COLUMN("acc_lo", here && acc, m->acc_lo);
        PART_COLUMN("acc_hi", here && acc, m->acc_hi);
#undef PART_COLUMN
        if (p > 0) continue;
        static const struct {
            gq_metric metric;
            const char *keys[3];
        } OTHERS[] = {{GQ_METRIC_F1, {"f1", "f1_lo", "f1_hi"}},
                      {GQ_METRIC_MCC, {"mcc", "mcc_lo", "mcc_hi"}},
                      {GQ_METRIC_PEARSON, {"pearson", "pearson_lo", "pearson_hi"}},
                      {GQ_METRIC_SPEARMAN, {"spearman", "spearman_lo", "spearman_hi"}}};
        for (size_t o = 0; o < sizeof OTHERS / sizeof OTHERS[0]; o++) {
            int has = (task->metrics & GQ_METRIC_BIT(OTHERS[o].metric)) != 0;
            double v[3];
            gq_metrics_triple(m, OTHERS[o].metric, v);
            for (int k = 0; k < 3; k++) cJSON_AddItemToObject(r, OTHERS[o].keys[k], num_if(has, v[k]));
        }
    }
    cJSON_AddStringToObject(r, "main_metric", gq_metric_name(task->main));
    const char *order = gq_label_source_name(ts->ev.labels.source);
    cJSON_AddItemToObject(r, "label_order", order ? cJSON_CreateString(order) : cJSON_CreateNull());
}

/* Fidelity to the FP32 model on the same examples: flips, agreement and KL of the class
 * probabilities, or for a regression the RMS difference of the predicted scores. */
static void add_fidelity_columns(cJSON *r, const task_state *ts, const gq_eval_result *res) {
    int regression = gq_glue_regression(ts->ev.task), flips = 0;
    double agreement = 0, kl = 0;
    if (!regression)
        gq_report_fidelity(ts->ref_pred, ts->ref_logits, res->pred, res->logits, res->n, ts->n_labels, &flips,
                           &agreement, &kl);
    cJSON_AddItemToObject(r, "flips", num_or_null(!regression, flips));
    cJSON_AddItemToObject(r, "agreement", num_or_null(!regression, agreement));
    cJSON_AddItemToObject(r, "kl", num_or_null(!regression, kl));
    cJSON_AddItemToObject(r, "rmse", num_or_null(regression, regression ? gq_report_rmse(ts->ref_logits, res->logits, res->n) : 0));
}

/* The sha256 of the split's file, or of each file, comma-separated (MNLI). */
static char *data_hashes(const gq_eval_task *ev) {
    char *buf = malloc(GQ_GLUE_MAX_DEV * 66 + 2);
    if (!buf) return NULL;
    size_t w = 0;
    buf[w++] = '"';
    for (int p = 0; p < ev->n_sets; p++) w += (size_t)sprintf(buf + w, "%s%s", p ? "," : "", ev->sets[p]->sha256);
    buf[w++] = '"';
    buf[w] = '\0';
    return buf;
}

/* labels, preds and logits of every example (a regression's labels and preds are the
 * gold and predicted scores), and the files' sizes when the split has several. */
static gq_status add_example_arrays(cJSON *r, const task_state *ts, const gq_eval_result *res) {
    const gq_encoded *enc = ts->ev.enc;
    int regression = gq_glue_regression(ts->ev.task);
    if (enc->n_parts > 1) {
        int sizes[GQ_GLUE_MAX_DEV];
        for (int p = 0; p < enc->n_parts; p++) sizes[p] = enc->part_end[p] - (p ? enc->part_end[p - 1] : 0);
        if (!cJSON_AddItemToObject(r, "parts", cJSON_CreateIntArray(sizes, enc->n_parts))) return GQ_ERR_NOMEM;
    }
    gq_status st = add_raw(r, "labels", regression ? gq_report_double_array(enc->score, enc->n)
                                                   : gq_report_int_array(enc->label, enc->n));
    if (st == GQ_OK)
        st = add_raw(r, "preds", regression ? gq_report_float_array(res->logits, res->n)
                                            : gq_report_int_array(res->pred, res->n));
    if (st == GQ_OK) st = add_raw(r, "logits", gq_report_float_array(res->logits, (int64_t)res->n * ts->n_labels));
    return st;
}

/* The point stages of a row (N_POINT_STAGES seconds), as an object. */
static cJSON *timing_object(const double *stages) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < N_POINT_STAGES; i++) cJSON_AddNumberToObject(o, STAGE_NAMES[i], stages[i]);
    return o;
}

static cJSON *make_row(const gq_sweep_config *cfg, const gq_sweep_point *pt, const task_state *ts,
                       const gq_eval_result *res, const gq_quant_report *rep, double seconds, const double *stages) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    int quant = pt->method >= 0, budgeted = pt->k > 0 || pt->p > 0;
    cJSON_AddStringToObject(r, "point_id", pt->id);
    cJSON_AddNumberToObject(r, "index", pt->index);
    cJSON_AddStringToObject(r, "task", cfg->tasks[pt->task]);
    cJSON_AddStringToObject(r, "method", pt->method_name);
    cJSON_AddNumberToObject(r, "bits", pt->bits);
    cJSON_AddItemToObject(r, "k", num_or_null(pt->p <= 0, pt->p > 0 ? 0 : (double)pt->k));
    cJSON_AddItemToObject(r, "p", num_or_null(pt->p > 0, pt->p));
    cJSON_AddItemToObject(r, "global", budgeted ? cJSON_CreateBool(cfg->budget_global) : cJSON_CreateNull());
    char q[160], scheme[16] = "", gran[32] = "", clip[48] = "";
    if (quant) {
        gq_quant_opts_str_unsized(&cfg->quantizers[pt->quantizer], q, sizeof q);
        sscanf(q, "%15s %31s %47s", scheme, gran, clip);
    }
    cJSON_AddItemToObject(r, "scheme", quant ? cJSON_CreateString(scheme) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "granularity", quant ? cJSON_CreateString(gran) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "clip", quant ? cJSON_CreateString(clip) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "stats_exclude_protected",
                          quant ? cJSON_CreateBool(cfg->quantizers[pt->quantizer].stats_exclude_protected)
                                : cJSON_CreateNull());
    add_algorithm_columns(r, quant ? &pt->qopts : NULL);
    char mo[GQ_METHOD_MAX_OPTS * (GQ_METHOD_MAX_VALUE + 40)] = "";
    if (pt->mopts.n) gq_method_opts_str(&pt->mopts, mo, sizeof mo);
    cJSON_AddItemToObject(r, "method_options", *mo ? cJSON_CreateString(mo) : cJSON_CreateNull());
    cJSON_AddItemToObject(r, "seed", num_or_null(pt->seed >= 0, (double)pt->seed));
    cJSON_AddItemToObject(r, "calibration",
                          pt->calibrated ? cJSON_CreateString(ts->calib->description) : cJSON_CreateNull());
    cJSON_AddNumberToObject(r, "max_len", cfg->max_len);
    cJSON_AddItemToObject(r, "limit", num_or_null(cfg->limit > 0, cfg->limit));
    add_metric_columns(r, ts, res);
    add_fidelity_columns(r, ts, res);
    cJSON_AddItemToObject(r, "protected", num_or_null(quant, quant ? (double)rep->total_protected : 0));
    cJSON_AddItemToObject(r, "protected_fraction",
                          num_or_null(quant, quant && rep->total_numel ? (double)rep->total_protected / (double)rep->total_numel : 0));
    cJSON_AddNumberToObject(r, "effective_bits", quant ? rep->effective_bits_total : 32.0);
    cJSON_AddNumberToObject(r, "seconds", seconds);
    cJSON_AddItemToObject(r, "timing", timing_object(stages));
    cJSON_AddStringToObject(r, "checkpoint_sha256", ts->ev.model->sha256);
    add_raw(r, "data_sha256", data_hashes(&ts->ev));
    cJSON_AddItemToObject(r, "calib_sha256", pt->calibrated ? cJSON_CreateString(ts->calib->key) : cJSON_CreateNull());
    cJSON_AddNumberToObject(r, "n_labels", ts->n_labels);
    if (add_example_arrays(r, ts, res) != GQ_OK) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* ---- progress ---- */

static void fmt_duration(double s, char *buf, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

static void point_label(const gq_sweep_config *cfg, const gq_sweep_point *pt, char *buf, size_t n) {
    if (pt->method < 0) {
        snprintf(buf, n, "%s fp32", cfg->tasks[pt->task]);
        return;
    }
    char b[48] = "", q[160] = "", s[32] = "";
    if (pt->p > 0) snprintf(b, sizeof b, " p=%g", pt->p);
    else if (pt->k > 0) snprintf(b, sizeof b, " k=%lld", (long long)pt->k);
    if (cfg->n_quantizers > 1) {
        q[0] = ' ';
        gq_quant_opts_str_unsized(&cfg->quantizers[pt->quantizer], q + 1, sizeof q - 1);
    }
    if (pt->seed >= 0) snprintf(s, sizeof s, " seed=%lld", (long long)pt->seed);
    snprintf(buf, n, "%s %s int%d%s%s%s", cfg->tasks[pt->task], pt->method_name, pt->bits, b, q, s);
}

/* ---- the run ---- */

static char *journal_path(const char *out, int shard, int n_shards) {
    char name[64];
    if (n_shards == 1) snprintf(name, sizeof name, "journal.jsonl");
    else snprintf(name, sizeof name, "journal-%d-of-%d.jsonl", shard, n_shards);
    return gq_path_join(out, name);
}

/* Execution order: by task, then what the scores depend on, so that one cached scores
 * object serves consecutive points; the grid index only decides the row order. */
static int cmp_exec(const void *a, const void *b) {
    const gq_sweep_point *x = *(const gq_sweep_point *const *)a, *y = *(const gq_sweep_point *const *)b;
    if (x->task != y->task) return x->task - y->task;
    if (x->method != y->method) return x->method - y->method;
    if (x->seed != y->seed) return x->seed < y->seed ? -1 : 1;
    if (x->bits != y->bits) return x->bits - y->bits;
    if (x->quantizer != y->quantizer) return x->quantizer - y->quantizer;
    return x->index - y->index;
}

/* Scores for pt, reusing the previous ones when method, options and quantizer match. */
static gq_status scores_for(task_state *ts, const gq_sweep_point *pt, gq_err *err) {
    char mo[GQ_METHOD_MAX_OPTS * (GQ_METHOD_MAX_VALUE + 40)], q[200], key[sizeof mo + 300];
    gq_quant_opts rounding; /* scores depend on the rounding, not on the algorithm */
    gq_quant_opts_default(&rounding, pt->qopts.bits);
    rounding.scheme = pt->qopts.scheme, rounding.granularity = pt->qopts.granularity, rounding.group = pt->qopts.group;
    rounding.clip = pt->qopts.clip, rounding.alpha = pt->qopts.alpha;
    rounding.stats_exclude_protected = pt->qopts.stats_exclude_protected;
    gq_method_opts_str(&pt->mopts, mo, sizeof mo);
    gq_quant_opts_str(&rounding, q, sizeof q);
    snprintf(key, sizeof key, "%s|%s|%s", pt->method_name, mo, q);
    if (ts->scores && !strcmp(key, ts->scores_key)) return GQ_OK;
    gq_quant_scores_free(ts->scores);
    ts->scores = NULL;
    gq_status st = gq_quant_scores_compute(ts->session, pt->method_name, &pt->mopts, &rounding, &ts->scores, err);
    if (st == GQ_OK) snprintf(ts->scores_key, sizeof ts->scores_key, "%s", key);
    return st;
}

/* A journal's header: which shard wrote it, the grid size, the canonical config and the
 * runs that contributed (the sweep's and merge's journals alike). */
static cJSON *journal_header(int shard, int n_shards, int n_points, const cJSON *config, const cJSON *runs) {
    cJSON *h = cJSON_CreateObject();
    if (!h) return NULL;
    cJSON_AddItemToObject(h, "shard", cJSON_CreateIntArray((const int[]){shard, n_shards}, 2));
    cJSON_AddNumberToObject(h, "n_points", n_points);
    cJSON_AddItemToObject(h, "config", cJSON_Duplicate(config, 1));
    cJSON_AddItemToObject(h, "runs", cJSON_Duplicate(runs, 1));
    return h;
}

/* One run of gq_sweep_run: its journal, what is done, the current task, the pace. */
typedef struct {
    const gq_sweep_config *cfg;
    int shard, n_shards, threads;
    char *jpath, *cache_dir;
    gq_journal *journal;
    cJSON *rows;    /* the rows journalled before this run; this run's live in the journal
                       only (memory stays flat however many points run) */
    cJSON *runs;    /* the runs of the journal's header, then this one */
    uint8_t *done;  /* (n_points) journalled */
    task_state ts;
    double t0, busy, task_busy;
    double spent[N_STAGES]; /* seconds by stage, this run */
    int n_run, n_todo, task_run;
    char last_fidelity[48]; /* of the row journalled last, for the progress line: "flips 3" */
    const gq_sweep_opts *opts; /* the caller's stop request and progress callback */
} sweep_run;

static int stop_requested(const sweep_run *r) { return r->opts->stop && *r->opts->stop; }

static void sweep_run_free(sweep_run *r) {
    task_free(&r->ts);
    gq_journal_close(r->journal);
    cJSON_Delete(r->rows), cJSON_Delete(r->runs);
    free(r->done), free(r->jpath), free(r->cache_dir);
}

static int owned(const sweep_run *r, const gq_sweep_point *pt) { return pt->index % r->n_shards == r->shard; }

/* Opens (locks) the shard's journal, creating it or resuming it: marks its rows done and
 * collects the runs of its header followed by this one (info). */
static gq_status journal_start(sweep_run *r, int resume, const cJSON *info, gq_err *err) {
    const gq_sweep_config *cfg = r->cfg;
    cJSON *runs = cJSON_CreateArray();
    if (runs) cJSON_AddItemToArray(runs, cJSON_Duplicate(info, 1));
    cJSON *header = runs ? journal_header(r->shard, r->n_shards, cfg->n_points, cfg->canonical, runs) : NULL;
    cJSON_Delete(runs);
    if (!header) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    gq_status st = gq_journal_open(r->jpath, cfg->hash, header, resume, &r->journal, &r->rows, err);
    cJSON_Delete(header);
    if (st == GQ_OK) { /* the runs of the journal's header; this one's is the last when just created */
        r->runs = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(gq_journal_header(r->journal), "runs"), 1);
        if (!cJSON_IsArray(r->runs)) cJSON_Delete(r->runs), r->runs = cJSON_CreateArray();
        if (gq_journal_resumed(r->journal)) cJSON_AddItemToArray(r->runs, cJSON_Duplicate(info, 1));
    }
    int line = 2; /* gq_journal_read: row i is line i + 2, its index an int (< its header's n_points) */
    for (const cJSON *row = r->rows ? r->rows->child : NULL; st == GQ_OK && row; row = row->next, line++) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "point_id"));
        int idx = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "index"));
        if (idx >= cfg->n_points || strcmp(cfg->points[idx].id, id))
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: point %s (index %d) is not in this config's grid", r->jpath,
                         line, id, idx);
        else r->done[idx] = 1;
    }
    return st;
}

/* Journals a finished point's row (taking it and freeing it: the reports read the rows
 * back from the journal), marks the point done and reports it to the caller. */
static gq_status record_row(sweep_run *r, const gq_sweep_point *pt, cJSON *row, gq_err *err) {
    gq_status st = row ? gq_journal_append(r->journal, row, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    if (st == GQ_OK) {
        const cJSON *flips = cJSON_GetObjectItemCaseSensitive(row, "flips");
        if (cJSON_IsNumber(flips)) snprintf(r->last_fidelity, sizeof r->last_fidelity, "flips %d", flips->valueint);
        else snprintf(r->last_fidelity, sizeof r->last_fidelity, "rmse %.4g",
                      cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "rmse")));
        r->done[pt->index] = 1;
        r->n_run++;
        if (r->opts->progress) r->opts->progress(r->opts->progress_ctx, r->n_run, r->n_todo, row);
    }
    cJSON_Delete(row);
    return st;
}

/* Makes and journals a finished point's row (record_row), counting the time. */
static gq_status journal_row(sweep_run *r, const gq_sweep_point *pt, const gq_eval_result *res,
                             const gq_quant_report *rep, double secs, const double *stages, gq_err *err) {
    double t0 = gq_now();
    gq_status st = record_row(r, pt, make_row(r->cfg, pt, &r->ts, res, rep, secs, stages), err);
    r->spent[STAGE_JOURNAL] += gq_now() - t0;
    return st;
}

/* The journalled row of point pt, or NULL. */
static const cJSON *journalled_row(const sweep_run *r, const gq_sweep_point *pt) {
    if (!r->done[pt->index]) return NULL;
    for (const cJSON *row = r->rows->child; row; row = row->next)
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "point_id")), pt->id)) return row;
    return NULL;
}

/* The FP32 reference of the current task (r->ts): from the journal when there, so that a
 * resumed or merged run measures fidelity against exactly the predictions it reports;
 * else computed here, and journalled when this shard owns the FP32 point (its own
 * fidelity: flips 0, KL 0). */
static gq_status fp32_reference(sweep_run *r, int task, gq_err *err) {
    const gq_sweep_config *cfg = r->cfg;
    const gq_sweep_point *fp = NULL;
    for (int k = 0; k < cfg->n_points && !fp; k++)
        if (cfg->points[k].task == task && cfg->points[k].method < 0) fp = &cfg->points[k];
    const cJSON *ref = journalled_row(r, fp);
    if (ref)
        return ref_from_row(&r->ts, ref) ? GQ_OK
                                         : gq_fail(err, GQ_ERR_FORMAT, "%s: the FP32 row of %s does not match %d examples",
                                                   r->jpath, cfg->tasks[task], r->ts.ev.enc->n);
    gq_eval_result res = {0};
    double t0 = gq_now();
    gq_status st = gq_eval_task_run(&r->ts.ev, NULL, NULL, &res, err);
    if (st != GQ_OK) {
        gq_eval_result_free(&res);
        return st;
    }
    r->ts.ref_pred = res.pred, r->ts.ref_logits = res.logits;
    double secs = gq_now() - t0;
    char main[160];
    gq_eval_main_str(r->ts.ev.task, &res, main, sizeof main);
    gq_info("sweep: %s fp32: %s in %.1f s", cfg->tasks[task], main, secs);
    r->spent[STAGE_FP32] += secs;
    if (owned(r, fp)) {
        double stages[N_POINT_STAGES] = {[STAGE_EVALUATE] = secs};
        st = journal_row(r, fp, &res, NULL, secs, stages, err);
        r->busy += secs;
    }
    res.pred = NULL, res.logits = NULL; /* now owned by ts */
    gq_eval_result_free(&res);
    return st;
}

/* Loads task t's model, data and calibration (when a pending point needs it) and its
 * FP32 reference. */
static gq_status task_start(sweep_run *r, int t, const gq_sweep_point *const *todo, int n_todo, gq_err *err) {
    task_free(&r->ts);
    r->task_busy = 0, r->task_run = 0;
    int need_calib = 0;
    for (int k = 0; k < n_todo; k++) need_calib |= todo[k]->task == t && todo[k]->calibrated;
    double t0 = gq_now();
    gq_status st = task_load(r->cfg, t, r->cache_dir, r->threads, need_calib, &r->ts, err);
    r->spent[STAGE_LOAD] += gq_now() - t0;
    return st == GQ_OK ? fp32_reference(r, t, err) : st;
}

/* Seconds the session spent in its counted stages between a and b. */
static double session_spent(const gq_quant_times *a, const gq_quant_times *b) {
    return (b->calib_forward - a->calib_forward) + (b->calib_stats - a->calib_stats) + (b->check - a->check) +
           (b->restore - a->restore);
}

/* A point's stages from the wall time of its scores, apply and evaluation and the
 * session's counters at its start (a), after the scores (b), after apply (c) and at its
 * end (d): what the session counted is taken out of the step it ran in. */
static void point_stages(double scores, double apply, double evaluate, const gq_quant_times *a,
                         const gq_quant_times *b, const gq_quant_times *c, const gq_quant_times *d,
                         double *stages) {
    stages[STAGE_SCORES] = fmax(0, scores - session_spent(a, b));
    stages[STAGE_QUANTIZE] = fmax(0, apply - session_spent(b, c));
    stages[STAGE_CALIB_FORWARD] = d->calib_forward - a->calib_forward;
    stages[STAGE_CALIB_STATS] = d->calib_stats - a->calib_stats;
    stages[STAGE_CHECK] = d->check - a->check;
    stages[STAGE_RESTORE] = d->restore - a->restore;
    stages[STAGE_EVALUATE] = evaluate;
}

/* Quantizes as pt says, evaluates, restores the FP32 weights and journals the row. */
static gq_status run_point(sweep_run *r, const gq_sweep_point *pt, gq_eval_result *res, double *secs,
                           gq_err *err) {
    double t0 = gq_now();
    gq_quant_report rep;
    const gq_quant_scores *sc = NULL;
    gq_status st = GQ_OK;
    const gq_quant_times *now = gq_quant_session_times(r->ts.session);
    gq_quant_times a = *now, b, c = {0}, d;
    if (pt->k > 0 || pt->p > 0) {
        if ((st = scores_for(&r->ts, pt, err)) != GQ_OK) return st;
        sc = r->ts.scores;
    }
    b = *now;
    double t1 = gq_now(), t2 = 0, t3 = 0;
    gq_quant_budget bud = {.k = pt->k > 0 ? pt->k : 0, .p = pt->p > 0 ? pt->p : -1, .global = r->cfg->budget_global};
    if ((st = gq_quant_apply(r->ts.session, sc, &pt->qopts, &bud, &rep, err)) == GQ_OK) {
        t2 = gq_now(), c = *now;
        st = gq_eval_task_run(&r->ts.ev, NULL, NULL, res, err);
        t3 = gq_now();
    }
    gq_quant_session_restore(r->ts.session);
    d = *now;
    *secs = gq_now() - t0;
    double stages[N_POINT_STAGES];
    point_stages(t1 - t0, t2 - t1, t3 - t2, &a, &b, &c, &d, stages);
    if (st == GQ_OK) st = journal_row(r, pt, res, &rep, *secs, stages, err);
    if (st == GQ_OK) {
        r->busy += *secs, r->task_busy += *secs, r->task_run++;
        for (int i = 0; i < N_POINT_STAGES; i++) r->spent[i] += stages[i];
    }
    return st;
}

/* "sweep: [n/total] #index label: accuracy flips | seconds | elapsed, ETA": the current
 * task's remaining points at its own pace (QNLI's dev set is 13x RTE's), later tasks' at
 * the mean pace so far. */
static void report_progress(const sweep_run *r, const gq_sweep_point *pt, const gq_eval_result *res, double secs,
                            const gq_sweep_point *const *rest, int n_rest) {
    char lab[400], el[32], eta[32];
    point_label(r->cfg, pt, lab, sizeof lab);
    int rem_task = 0, rem_other = 0;
    for (int k = 0; k < n_rest; k++)
        if (!r->done[rest[k]->index]) *(rest[k]->task == pt->task ? &rem_task : &rem_other) += 1;
    fmt_duration(gq_now() - r->t0, el, sizeof el);
    fmt_duration(r->task_busy / r->task_run * rem_task + r->busy / r->n_run * rem_other, eta, sizeof eta);
    char main[160];
    gq_eval_main_str(r->ts.ev.task, res, main, sizeof main);
    gq_info("sweep: [%d/%d] #%d %s: %s %s | %.1f s | elapsed %s, ETA %s", r->n_run, r->n_todo, pt->index, lab, main,
            r->last_fidelity, secs, el, eta);
}

/* The pending points of the shard in execution order; *n gets their count. */
static const gq_sweep_point **pending_points(const sweep_run *r, int *n) {
    const gq_sweep_config *cfg = r->cfg;
    const gq_sweep_point **todo = gq_calloc_array((size_t)cfg->n_points, sizeof *todo);
    *n = 0;
    for (int i = 0; todo && i < cfg->n_points; i++)
        if (owned(r, &cfg->points[i]) && !r->done[i]) todo[(*n)++] = &cfg->points[i];
    if (todo) qsort(todo, (size_t)*n, sizeof *todo, cmp_exec);
    return todo;
}

/* "sweep: where the time went: wall W s; stage S s P%, ..., other S s P%" on stderr:
 * each stage's total over this run and its share of the wall time since the first task
 * started; "other" is the rest (progress lines, freeing a task). */
static void report_time(const sweep_run *r) {
    double wall = gq_now() - r->t0, counted = 0;
    char line[1024];
    int len = snprintf(line, sizeof line, "sweep: where the time went: wall %.2f s", wall);
    for (int i = 0; i < N_STAGES + 1 && len < (int)sizeof line; i++) {
        double v = i < N_STAGES ? r->spent[i] : fmax(0, wall - counted);
        counted += v;
        len += snprintf(line + len, sizeof line - (size_t)len, "%s %s %.2f s %.1f%%", i ? "," : ";",
                        i < N_STAGES ? STAGE_NAMES[i] : "other", v, wall > 0 ? 100 * v / wall : 0);
    }
    gq_info("%s", line);
}

/* Runs the pending points until done or a stop signal. */
static gq_status run_points(sweep_run *r, gq_err *err) {
    int n_todo = 0, n_journalled = cJSON_GetArraySize(r->rows);
    const gq_sweep_point **todo = pending_points(r, &n_todo);
    if (!todo) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    r->n_todo = n_todo;
    if (n_journalled) gq_info("sweep: %s: %d points already journalled, %d to run", r->jpath, n_journalled, n_todo);
    else gq_info("sweep: %s: %d of %d points in shard %d/%d", r->cfg->name, n_todo, r->cfg->n_points, r->shard,
                 r->n_shards);
    r->t0 = gq_now();
    gq_status st = GQ_OK;
    for (int i = 0, cur_task = -1; st == GQ_OK && i < n_todo && !stop_requested(r); i++) {
        const gq_sweep_point *pt = todo[i];
        if (pt->task != cur_task && (st = task_start(r, cur_task = pt->task, todo + i, n_todo - i, err)) != GQ_OK) break;
        if (r->done[pt->index]) continue; /* the FP32 point, journalled by task_start */
        gq_eval_result res = {0};
        double secs = 0;
        if ((st = run_point(r, pt, &res, &secs, err)) == GQ_OK)
            report_progress(r, pt, &res, secs, todo + i + 1, n_todo - i - 1);
        gq_eval_result_free(&res);
    }
    free(todo);
    if (n_todo) report_time(r);
    if (st == GQ_OK && stop_requested(r))
        st = gq_fail(err, GQ_ERR_INTERRUPTED, "%s: stopped by signal %d after %d points; continue with --resume",
                     r->jpath, (int)*r->opts->stop, r->n_run);
    return st;
}

gq_status gq_sweep_run(const gq_sweep_config *cfg, const gq_sweep_opts *o, gq_err *err) {
    const char *out = o->out ? o->out : cfg->output;
    sweep_run r = {.cfg = cfg, .shard = o->shard, .n_shards = o->n_shards > 0 ? o->n_shards : 1, .opts = o};
    if (r.shard < 0 || r.shard >= r.n_shards)
        return gq_fail(err, GQ_ERR_ARG, "--shard %d/%d: need 0 <= i < N", r.shard, r.n_shards);
    r.threads = o->threads > 0 ? o->threads : cfg->threads;
    gq_status st = gq_sweep_check_paths(cfg, err);
    if (st == GQ_OK) st = gq_mkdirs(out, err);
    if (st != GQ_OK) return st;
    r.jpath = journal_path(out, r.shard, r.n_shards);
    r.cache_dir = gq_lookup_cache_dir(o->cache_dir ? o->cache_dir : cfg->cache_dir);
    r.done = gq_calloc_array((size_t)cfg->n_points, 1);
    cJSON *info = run_info(cfg, r.threads, r.shard, r.n_shards);
    if (!r.jpath || !r.cache_dir || !r.done || !info) st = gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    if (st == GQ_OK) st = journal_start(&r, o->resume, info, err);
    cJSON_Delete(info);
    if (st == GQ_OK) st = run_points(&r, err);
    if (st == GQ_OK && r.n_shards > 1)
        gq_info("sweep: shard %d/%d done (%s); combine the shards with `glueq merge OUT DIR...`", r.shard, r.n_shards,
                r.jpath);
    if (st == GQ_OK && r.n_shards == 1) {
        cJSON_Delete(r.rows);
        r.rows = NULL;
        st = gq_journal_read(r.jpath, NULL, NULL, &r.rows, err);
    }
    if (st == GQ_OK && r.n_shards == 1 && gq_report_sort_rows(r.rows, NULL) < 0)
        st = gq_fail(err, GQ_ERR_NOMEM, "sweep: out of memory while sorting the rows");
    if (st == GQ_OK && r.n_shards == 1) {
        cJSON *prov = final_provenance(cfg->hash, r.runs, cfg->canonical, r.rows);
        st = prov ? gq_report_write(out, cfg->canonical, prov, r.rows, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        cJSON_Delete(prov);
        if (st == GQ_OK) gq_info("sweep: wrote %s/{results.csv,results.json,predictions.jsonl,table.md,plot.svg}", out);
    }
    sweep_run_free(&r);
    return st;
}

/* ---- merge ---- */

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The journal files an input names: itself, or a directory's journal*.jsonl (sorted). */
static gq_status list_journals(const char *input, char ***files, int *n, gq_err *err) {
    if (!gq_dir_exists(input)) {
        char **g = realloc(*files, (size_t)(*n + 1) * sizeof *g);
        if (!g || !(g[*n] = gq_strdup(input))) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        *files = g, (*n)++;
        return GQ_OK;
    }
    DIR *d = opendir(input);
    if (!d) return gq_fail(err, GQ_ERR_IO, "%s: cannot read the directory", input);
    int first = *n;
    struct dirent *e;
    gq_status st = GQ_OK;
    while (st == GQ_OK && (e = readdir(d))) {
        if (strncmp(e->d_name, "journal", 7) || !ends_with(e->d_name, ".jsonl")) continue;
        char **g = realloc(*files, (size_t)(*n + 1) * sizeof *g);
        if (!g || !(g[*n] = gq_path_join(input, e->d_name))) st = gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        else *files = g, (*n)++;
    }
    closedir(d);
    if (st == GQ_OK && *n == first) st = gq_fail(err, GQ_ERR_IO, "%s: no journal*.jsonl in this directory", input);
    if (st == GQ_OK) qsort(*files + first, (size_t)(*n - first), sizeof **files, cmp_str);
    return st;
}

gq_status gq_sweep_merge(const char *out, const char *const *inputs, int n_inputs, int partial, gq_err *err) {
    char **files = NULL, hash0[65] = "", *file0 = NULL;
    int n_files = 0, n_points = -1;
    gq_status st = GQ_OK;
    cJSON *rows = cJSON_CreateArray(), *runs = cJSON_CreateArray(), *config = NULL;
    if (!rows || !runs) st = gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    for (int i = 0; st == GQ_OK && i < n_inputs; i++) st = list_journals(inputs[i], &files, &n_files, err);
    for (int f = 0; st == GQ_OK && f < n_files; f++) {
        char hash[65];
        cJSON *hdr = NULL, *jr = NULL;
        if ((st = gq_journal_read(files[f], hash, &hdr, &jr, err)) != GQ_OK) break;
        if (!*hash0) {
            memcpy(hash0, hash, sizeof hash0);
            file0 = files[f];
            config = cJSON_DetachItemFromObjectCaseSensitive(hdr, "config");
            n_points = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(hdr, "n_points")); /* checked */
        } else if (strcmp(hash, hash0)) {
            st = gq_fail(err, GQ_ERR_ARG, "%s: config hash %.12s... differs from %s's %.12s...: not the same sweep",
                         files[f], hash, file0, hash0);
        }
        const cJSON *hr = cJSON_GetObjectItemCaseSensitive(hdr, "runs");
        for (const cJSON *r = hr ? hr->child : NULL; st == GQ_OK && r; r = r->next)
            cJSON_AddItemToArray(runs, cJSON_Duplicate(r, 1));
        while (st == GQ_OK && jr && jr->child) cJSON_AddItemToArray(rows, cJSON_DetachItemViaPointer(jr, jr->child));
        cJSON_Delete(hdr), cJSON_Delete(jr);
    }
    if (st == GQ_OK && !config) st = gq_fail(err, GQ_ERR_ARG, "merge: no journals given");
    if (st == GQ_OK) {
        int dropped = gq_report_sort_rows(rows, NULL), have = cJSON_GetArraySize(rows);
        if (dropped < 0) st = gq_fail(err, GQ_ERR_NOMEM, "merge: out of memory while sorting the rows");
        else gq_info("merge: %d journals, %d points%s", n_files, have, dropped ? " (repeated points dropped)" : "");
        if (st == GQ_OK && have != n_points && !partial)
            st = gq_fail(err, GQ_ERR_ARG, "merge: %d of the grid's %d points are missing (a shard not run or not "
                                          "finished?); pass --partial to write what there is",
                         n_points - have, n_points);
    }
    if (st == GQ_OK) st = gq_mkdirs(out, err);
    /* OUT's journal: one header (shard 0/1) and every row, so that `glueq sweep --resume
     * --out OUT` can fill in missing points. Written whole and atomically. */
    char *jpath = st == GQ_OK ? gq_path_join(out, "journal.jsonl") : NULL;
    if (st == GQ_OK) {
        cJSON *hdr = journal_header(0, 1, n_points, config, runs);
        st = hdr && jpath ? gq_journal_write(jpath, hash0, hdr, rows, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        cJSON_Delete(hdr);
    }
    if (st == GQ_OK) {
        cJSON *prov = final_provenance(hash0, runs, config, rows);
        st = prov ? gq_report_write(out, config, prov, rows, err) : gq_fail(err, GQ_ERR_NOMEM, "out of memory");
        cJSON_Delete(prov);
    }
    if (st == GQ_OK) gq_info("merge: wrote %s and the reports in %s", jpath, out);
    free(jpath);
    for (int f = 0; f < n_files; f++) free(files[f]);
    free(files);
    cJSON_Delete(rows), cJSON_Delete(runs), cJSON_Delete(config);
    return st;
}
