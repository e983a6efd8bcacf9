/* report: the result files of a sweep, written from its rows (journal lines):
 *
 *   results.csv        one row per point, columns gq_report_columns
 *   results.json       {"config", "provenance", "rows"}: rows without per-example data
 *   predictions.jsonl  one line per point: point_id, task, n_labels, labels, preds, logits,
 *                      and "parts" (the files' sizes) where the split has several (MNLI)
 *   table.md           the headline metrics of every task in GLUE's order, then per task
 *                      one pivot per metric, main metric first (methods × budgets, FP32 on
 *                      top), and the fidelity pivot (agreement and flips; RMSE for STS-B)
 *   plot.svg           each task's main metric vs budget, one panel per task in GLUE's
 *                      order, one line per method, FP32 dashed, uniform dotted, log-scale
 *                      budget axis
 * Each file is written atomically (temporary file + rename).
 *
 * A row is a JSON object with the keys of gq_report_columns (null where not defined, e.g.
 * k for a fraction budget, f1 for RTE) plus "n_labels", "labels", "preds" and "logits"
 * ((total, n_labels), row-major; a regression's labels and preds are the gold and
 * predicted scores) and, for MNLI, "parts".
 */
#ifndef GQ_REPORT_H
#define GQ_REPORT_H

#include <cJSON.h>

#include "common.h"

/* The columns of results.csv, in order, NULL-terminated. */
extern const char *const gq_report_columns[];

/* Fidelity of a quantized model's outputs to the FP32 model's on the same n examples:
 * flips = predictions that differ, agreement = 1 − flips/n, kl = mean over examples of
 * KL(softmax(ref) ‖ softmax(q)), in double with log-softmax (max subtracted). */
void gq_report_fidelity(const int *ref_pred, const float *ref_logits, const int *pred, const float *logits, int n,
                        int n_labels, int *flips, double *agreement, double *kl);

/* Sorts rows (a JSON array) by their "index" and drops repeated point_ids (keeping the
 * first), in O(n log n). Returns the number dropped, or -1 when out of memory (rows
 * unchanged). *compares (may be NULL) grows by the comparisons of the check for repeats:
 * tests bound the work of large merges by it. */
int gq_report_sort_rows(cJSON *rows, uint64_t *compares);

/* Writes the five files into dir (which must exist). config and provenance go into
 * results.json as given; rows are in grid order (gq_report_sort_rows). */
gq_status gq_report_write(const char *dir, const cJSON *config, const cJSON *provenance, const cJSON *rows,
                          gq_err *err);

/* Formats a JSON array of numbers (ints or floats) compactly for rows: "[1,0,1]". Caller
 * frees. floats are written with 9 significant digits, which round-trips a float. */
char *gq_report_int_array(const int *v, int n);
char *gq_report_float_array(const float *v, int64_t n);
/* doubles with 15 significant digits: a decimal of up to 15 digits (a gold score) reads back as written. */
char *gq_report_double_array(const double *v, int n);

/* Root mean square of the differences of n scores (a regression's fidelity to FP32). */
double gq_report_rmse(const float *ref, const float *v, int n);

#endif
