/* journal: the crash-safe record of a sweep's finished points.
 *
 * Format (text, one record per line):
 *     glueq-journal 1 <config sha256> <header JSON>\n       magic, version, config hash
 *     <row JSON>\n                                          one line per finished point
 * One process at a time: gq_journal_open and gq_journal_write take an exclusive advisory
 * lock (flock) on the journal file and hold it until gq_journal_close, so a second sweep
 * or merge on the same output directory is refused with a message saying so instead of
 * running the points again beside the first. The kernel drops the lock when its process
 * ends, however it ends: a killed sweep leaves no stale lock (flock works across NFS
 * clients on Linux; some other network filesystems ignore it).
 *
 * The header is written under the lock with one write(); a journal cut inside its header
 * line (killed while being created) holds no rows and is started again. Each row is
 * appended with write() followed by fsync(), so a SIGKILL or a power cut leaves at most a
 * truncated last line; readers ignore a last line without its '\n', and resuming cuts it
 * off before appending. A failed append (disk full) cuts the file back to its last
 * complete line and reports the errno's text. Row lines never contain '\n' (JSON escapes
 * it). A corrupt line followed by others, or a complete last line that is not a row, is an
 * error naming the line: glueq cannot tell which point it held.
 *
 *     gq_journal *j = NULL;
 *     cJSON *rows = NULL;
 *     gq_journal_open(path, hash, header, resume, &j, &rows, &err);  // rows: finished points
 *     gq_journal_append(j, row, &err);                                  // after each point
 *     gq_journal_close(j);
 */
#ifndef GQ_JOURNAL_H
#define GQ_JOURNAL_H

#include <cJSON.h>

#include "common.h"

#define GQ_JOURNAL_MAGIC "glueq-journal"
#define GQ_JOURNAL_VERSION 1

typedef struct gq_journal gq_journal;

/* Reads a journal without changing it: *header (the header JSON) and *rows (a JSON array
 * of the complete rows, in file order: row i is line i + 2) are owned by the caller
 * (cJSON_Delete); hash gets the config hash. A row that is not valid JSON, other than a
 * truncated last line, is an error naming the line, and so is a header "n_points" or a
 * row "index" that is not an integer from 0 to INT_MAX or to n_points - 1: readers may
 * take them as ints. Either output pointer may be NULL. */
gq_status gq_journal_read(const char *path, char hash[65], cJSON **header, cJSON **rows, gq_err *err);

/* Parses a whole journal held in text[0..len) (NUL-terminated at len; lines are cut in
 * place), as gq_journal_read does; `path` is used in messages only. *complete_len gets the
 * length of the header and the complete lines (where appending continues). */
gq_status gq_journal_parse(const char *path, char *text, size_t len, char hash[65], cJSON **header, cJSON **rows,
                           size_t *complete_len, gq_err *err);

/* Locks path (refused with a message when another process holds it) and opens it for
 * appending. Without resume, path must not exist yet (or be empty) and is created with
 * the header (config_hash, header JSON). With resume, an existing journal must carry
 * config_hash (else GQ_ERR_ARG saying so), its finished rows go to *rows (caller owns)
 * and a truncated last line is cut off; a missing journal is created as without resume.
 * *out is owned by the caller: gq_journal_close. */
gq_status gq_journal_open(const char *path, const char *config_hash, const cJSON *header, int resume,
                          gq_journal **out, cJSON **rows, gq_err *err);

/* Appends row as one line, then fsync(). A failure leaves the journal as it was. */
gq_status gq_journal_append(gq_journal *j, const cJSON *row, gq_err *err);

/* The header JSON of the open journal (the existing one when resumed), owned by j. */
const cJSON *gq_journal_header(const gq_journal *j);
/* 1 when gq_journal_open continued an existing journal, 0 when it created one. */
int gq_journal_resumed(const gq_journal *j);

/* Writes a whole journal (header and rows, e.g. merged ones) atomically, under the lock. */
gq_status gq_journal_write(const char *path, const char *config_hash, const cJSON *header, const cJSON *rows,
                           gq_err *err);

/* Closes the file and releases the lock (accepts NULL). */
void gq_journal_close(gq_journal *j);

#endif
