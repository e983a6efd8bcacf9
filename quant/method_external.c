/* external: saliency computed by any tool (numpy, PyTorch, ...) and handed over as a
 * safetensors file with one score tensor per quantized matrix, named like the weight
 * ("distilbert.transformer.layer.0.attention.q_lin.weight", BERT's
 * "bert.encoder.layer.0.attention.self.query.weight") and of its shape, F32, F16 or
 * BF16 (examples/saliency_numpy.py writes one). The file is read with the checkpoint
 * reader; every tensor is checked before any score is used. Options: scores=FILE (its
 * sha256 becomes the resolved option scores_sha256, so point ids follow the content).
 * The same tensors held in memory (the C API's scores) go through the same checks
 * (score_tensors, gq_quant_scores_given). */
#define _POSIX_C_SOURCE 200809L
#include "quant_method.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

/* The stored dtypes must all be floating point (integer scores are a mistake upstream). */
static gq_status check_dtypes(const gq_ckpt *ck, gq_err *err) {
    char list[sizeof ck->dtypes];
    snprintf(list, sizeof list, "%s", ck->dtypes);
    for (char *save = NULL, *d = strtok_r(list, ",", &save); d; d = strtok_r(NULL, ",", &save))
        if (strcmp(d, "F32") && strcmp(d, "F16") && strcmp(d, "BF16"))
            return gq_fail(err, GQ_ERR_FORMAT, "%s: scores must be F32, F16 or BF16 tensors (the file has %s)", ck->path,
                           d);
    return GQ_OK;
}

/* Matrix i's tensor: present, of the weight's shape and finite; copied into score. */
static gq_status take_matrix(const gq_ckpt *ck, const gq_method_model *mm, int i, uint8_t *used, float *score,
                             gq_err *err) {
    char name[128];
    gq_encoder_weight_name(mm->family, i, name, sizeof name);
    const gq_tensor *t = gq_ckpt_find(ck, name);
    if (!t) return gq_fail(err, GQ_ERR_FORMAT, "%s: no tensor '%s' (one score per weight of every quantized matrix)",
                           ck->path, name);
    used[t - ck->tensors] = 1;
    if (t->ndim != 2 || t->shape[0] != mm->rows[i] || t->shape[1] != mm->cols[i])
        return gq_fail(err, GQ_ERR_SHAPE, "%s: tensor '%s' has shape [%lld%s%lld], the weight is [%d,%d]", ck->path, name,
                       (long long)t->shape[0], t->ndim > 1 ? "," : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL,
                       mm->rows[i], mm->cols[i]);
    for (int64_t j = 0; j < t->numel; j++)
        if (!isfinite(t->data[j]))
            return gq_fail(err, GQ_ERR_FORMAT, "%s: tensor '%s' has a non-finite score (%g) at [%lld,%lld]", ck->path,
                           name, t->data[j], (long long)(j / mm->cols[i]), (long long)(j % mm->cols[i]));
    memcpy(score + mm->off[i], t->data, (size_t)t->numel * sizeof *score);
    return GQ_OK;
}

/* Every matrix's tensor checked and copied into score; a tensor that is no quantized
 * matrix is an error. ck->path names the tensors' source in messages. */
static gq_status score_tensors(const gq_method_model *mm, const gq_ckpt *ck, float *score, gq_err *err) {
    gq_status st = check_dtypes(ck, err);
    uint8_t *used = st == GQ_OK ? gq_calloc_array((size_t)ck->n + 1, 1) : NULL;
    if (st == GQ_OK && !used) st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", ck->path);
    for (int i = 0; st == GQ_OK && i < mm->n_mats; i++) st = take_matrix(ck, mm, i, used, score, err);
    for (int i = 0; st == GQ_OK && i < ck->n; i++)
        if (!used[i])
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: unexpected tensor '%s' (not a quantized matrix of this model)",
                         ck->path, ck->tensors[i].name);
    free(used);
    return st;
}

static gq_status score_all(const gq_method_model *mm, float *score, gq_err *err) {
    const char *path = gq_method_opt_str(mm->opts, "scores"), *sha = gq_method_opt_str(mm->opts, "scores_sha256");
    gq_ckpt *ck = NULL;
    gq_status st = gq_ckpt_load(path, &ck, err);
    if (st != GQ_OK) return st;
    if (sha && strcmp(sha, ck->sha256))
        st = gq_fail(err, GQ_ERR_ARG, "%s: sha256 is %s, not %s as when the options were resolved (the file changed)",
                     path, ck->sha256, sha);
    if (st == GQ_OK) st = score_tensors(mm, ck, score, err);
    gq_ckpt_free(ck);
    return st;
}

static const gq_method_opt opts[] = {{"scores", GQ_OPT_FILE, "", NULL}, {NULL, 0, NULL, NULL}};

const gq_method gq_method_external = {.name = "external", .needs_calibration = 0, .opts = opts, .score_all = score_all,
                                      .score_tensors = score_tensors};
