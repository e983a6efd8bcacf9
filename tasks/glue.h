/* glue: the nine GLUE tasks, their TSV files (as the GLUE download script writes them),
 * their labels and metrics, and how a checkpoint's label ids map to a task's labels.
 *
 *     const gq_glue_task *t = gq_glue_task_find("rte");
 *     gq_glue_set *set = NULL;
 *     if (gq_glue_load(t, "glue/RTE/dev.tsv", &set, &err) != GQ_OK) ...
 *     for (int i = 0; i < set->n; i++) use(set->rows[i].a, set->rows[i].b, set->rows[i].label);
 *     gq_glue_free(set);
 *
 * Files are tab-separated; `"` is an ordinary character. Where a file has a header, the
 * texts and the label are found by their column names (other columns are ignored, and
 * every row must have the header's field count); CoLA's train and dev files have no
 * header: source, label, original label, sentence. A file without the label column is an
 * unlabelled split (GLUE's test files). Text must be valid UTF-8.
 *
 * An MNLI file named dev_matched.tsv, test_matched.tsv or train.tsv holds the matched
 * genres, one named dev_mismatched.tsv or test_mismatched.tsv the mismatched ones; a row
 * of the other kind is an error naming the line (the file is the wrong split).
 */
#ifndef GQ_GLUE_H
#define GQ_GLUE_H

#include "common.h"
#include "metrics.h"

/* Limits on a split file, checked while it is read, before memory is spent on it. GLUE's
 * largest split (MNLI train) has 393k rows; the longest line of the shipped files has
 * 1.5 KB. */
#define GQ_GLUE_MAX_FILE_BYTES ((size_t)1 << 30)
#define GQ_GLUE_MAX_LINES 2000000
#define GQ_GLUE_MAX_LINE_BYTES ((size_t)1 << 20)

#define GQ_GLUE_MAX_LABELS GQ_METRICS_MAX_CLASSES
/* Evaluation splits a task's "dev" stands for: MNLI has two. */
#define GQ_GLUE_MAX_DEV 2

typedef struct {
    const char *name;      /* "cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli" */
    const char *display;   /* "CoLA", "SST-2", ...: GLUE's spelling */
    const char *dir;       /* directory under the GLUE root */
    int n_labels;          /* classes; 1 for STS-B, whose label is a score (a regression head) */
    const char *labels[GQ_GLUE_MAX_LABELS];   /* label strings of the files, in the default id order */
    const char *meanings[GQ_GLUE_MAX_LABELS]; /* what each label says ("negative", "positive") */
    int single;            /* one text per example, encoded [CLS] a [SEP] */
    unsigned metrics;      /* GQ_METRIC_BIT of each metric reported */
    gq_metric main;        /* the headline metric */
    int n_dev;             /* files of the "dev" split */
    const char *dev[GQ_GLUE_MAX_DEV]; /* their names without .tsv: "dev"; MNLI's dev_matched, dev_mismatched */
    const char *dev_short[GQ_GLUE_MAX_DEV]; /* how results name them: "", MNLI's "m", "mm" */
} gq_glue_task;

/* The tasks in GLUE's order (CoLA ... WNLI). */
extern const gq_glue_task gq_glue_tasks[];
extern const int gq_glue_n_tasks;

/* Finds a task by name or GLUE's spelling, case-insensitively ("sst2", "SST-2"); NULL
 * if unknown. */
const gq_glue_task *gq_glue_task_find(const char *name);
/* Comma-separated list of the task names, for error messages. */
const char *gq_glue_task_names(void);
/* A task's position in GLUE's order (0 for CoLA); gq_glue_n_tasks for an unknown name. */
int gq_glue_task_rank(const char *name);
/* Whether a task is a regression (STS-B). */
static inline int gq_glue_regression(const gq_glue_task *t) { return t->n_labels == 1; }

typedef struct {
    const char *a, *b; /* NUL-terminated UTF-8 texts in the set's storage; b is NULL for single-text tasks */
    int label;         /* 0..n_labels-1 (0 for a regression), or -1 for an unlabelled split */
    double score;      /* the gold score of a regression task (STS-B: 0..5) */
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

/* Loads a split file. *out is owned by the caller; free with gq_glue_free. */
gq_status gq_glue_load(const gq_glue_task *task, const char *path, gq_glue_set **out, gq_err *err);
void gq_glue_free(gq_glue_set *set);
/* The same from len bytes at buf, which the caller owns and which is changed in place
 * (line ends folded); `path` names the file in messages and, for MNLI, the split. */
gq_status gq_glue_parse(const gq_glue_task *task, const char *path, char *buf, size_t len, gq_glue_set **out,
                        gq_err *err);

/* Path of a split under a GLUE root: root/DIR/FILE.tsv (caller frees), FILE the split's
 * name; for MNLI, "dev" and "test" name the matched files. */
char *gq_glue_split_path(const gq_glue_task *task, const char *root, const char *split);

/* ---- label order: which task label each of a checkpoint's label ids predicts ---- */

typedef enum {
    GQ_LABELS_NONE,    /* a regression: no labels */
    GQ_LABELS_DEFAULT, /* the task's default order (labels[]): id2label names no labels */
    GQ_LABELS_CONFIG,  /* the checkpoint's config.json id2label */
    GQ_LABELS_MAP,     /* an explicit map (--label-map, a sweep config's label_map) */
} gq_label_source;

typedef struct {
    gq_label_source source;
    int to_task[GQ_GLUE_MAX_LABELS]; /* model label id -> the task's label id */
} gq_label_order;

/* "default", "config.json", "label_map"; NULL for GQ_LABELS_NONE. */
const char *gq_label_source_name(gq_label_source s);

/* The order of a model with n_model_labels labels named id2label (config.json; NULL:
 * none) on task: map (map[task label] = model id, all set; NULL: none) when given; else
 * id2label when it names the task's labels by their strings or meanings (any case); else
 * the task's default order when its names are HF's placeholders (LABEL_0, ...) or the ids
 * themselves. A label count that is not the task's (a regression head on a classification
 * task, say) and names that are real labels but not the task's are errors naming `where`. */
gq_status gq_glue_label_order(const gq_glue_task *task, const char *const *id2label, int n_model_labels, const int *map,
                              const char *where, gq_label_order *out, gq_err *err);

/* Sets map[the task label named label] = id, checking the name and the id's range. Fill a
 * map (all entries -1 first) with this, then check it with gq_glue_label_map_check. */
gq_status gq_glue_label_map_set(const gq_glue_task *task, const char *label, long id, int *map, const char *where,
                                gq_err *err);
/* Every label given, no model id twice. */
gq_status gq_glue_label_map_check(const gq_glue_task *task, const int *map, const char *where, gq_err *err);
/* Parses "LABEL=ID,LABEL=ID..." (--label-map) into map (GQ_GLUE_MAX_LABELS entries). */
gq_status gq_glue_label_map_parse(const gq_glue_task *task, const char *text, int *map, gq_err *err);

#endif
