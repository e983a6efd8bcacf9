/* glue: the GLUE tasks glueq evaluates (MRPC, RTE, QNLI), their TSV files and labels.
 *
 *     const gq_glue_task *t = gq_glue_task_find("rte");
 *     gq_glue_set *set = NULL;
 *     if (gq_glue_load(t, "glue/RTE/dev.tsv", &set, &err) != GQ_OK) ...
 *     for (int i = 0; i < set->n; i++) use(set->rows[i].a, set->rows[i].b, set->rows[i].label);
 *     gq_glue_free(set);
 *
 * Files are tab-separated with a header line; `"` is an ordinary character. The header
 * names and the field count of every row are checked; text must be valid UTF-8.
 */
#ifndef GQ_GLUE_H
#define GQ_GLUE_H

#include "common.h"

/* Limits on a split file, checked while it is read, before memory is spent on it. GLUE's
 * largest split (MNLI train) has 393k rows; the longest line of the shipped files has
 * 1.5 KB. */
#define GQ_GLUE_MAX_FILE_BYTES ((size_t)1 << 30)
#define GQ_GLUE_MAX_LINES 2000000
#define GQ_GLUE_MAX_LINE_BYTES ((size_t)1 << 20)

typedef struct {
    const char *name;      /* "mrpc", "rte", "qnli" */
    const char *dir;       /* directory under the GLUE root: "MRPC", "RTE", "QNLI" */
    int n_labels;          /* 2 */
    const char *labels[2]; /* label strings in id order, as in the TSV */
    int has_f1;            /* MRPC: F1 of the positive class (label 1) */
} gq_glue_task;

/* Finds a task by (case-insensitive) name; NULL if unknown. */
const gq_glue_task *gq_glue_task_find(const char *name);
/* Comma-separated list of the known task names, for error messages. */
const char *gq_glue_task_names(void);

typedef struct {
    const char *a, *b; /* NUL-terminated UTF-8 texts, pointing into the set's storage */
    int label;         /* 0..n_labels-1, or -1 for an unlabelled split (QNLI test) */
    int line;          /* 1-based line number in the file */
} gq_glue_row;

typedef struct {
    const gq_glue_task *task;
    gq_glue_row *rows;
    int n;
    int labelled;    /* 0 for a split without labels */
    char *path;
    char sha256[65]; /* of the file */
    char *storage;   /* the texts */
} gq_glue_set;

/* Loads a split file (dev.tsv, train.tsv, or QNLI's test.tsv, which has no labels).
 * *out is owned by the caller; free with gq_glue_free. */
gq_status gq_glue_load(const gq_glue_task *task, const char *path, gq_glue_set **out, gq_err *err);
void gq_glue_free(gq_glue_set *set);
/* The same from len bytes at buf, which the caller owns and which is changed in place
 * (line ends folded); `path` is used in messages only. */
gq_status gq_glue_parse(const gq_glue_task *task, const char *path, char *buf, size_t len, gq_glue_set **out,
                        gq_err *err);

/* Path of a split under a GLUE root: root/DIR/split.tsv (caller frees). */
char *gq_glue_split_path(const gq_glue_task *task, const char *root, const char *split);

#endif
