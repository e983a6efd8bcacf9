/* journal: append-only, fsync'd record of finished sweep points; see journal.h. */
#define _DEFAULT_SOURCE /* flock */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct gq_journal {
    int fd;
    char *path;
    cJSON *header;  /* the header JSON of the file */
    int resumed;    /* an existing journal was continued */
};

/* A JSON number that is an integer from 0 to hi, as an int; -1 otherwise (not a number,
 * a fraction, out of range, inf). Nothing out of int's range is ever cast to it. */
static int whole_number(const cJSON *x, int hi) {
    if (!cJSON_IsNumber(x)) return -1;
    double d = x->valuedouble;
    return d >= 0 && d <= hi && d == floor(d) ? (int)d : -1;
}

/* Refuses the `key` of obj on line `line` unless it is an integer from 0 to hi. */
static gq_status check_number(const char *path, int line, const cJSON *obj, const char *key, int hi, int *out,
                              gq_err *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    if ((*out = whole_number(x, hi)) >= 0) return GQ_OK;
    char value[40] = "(not a number)";
    if (cJSON_IsNumber(x)) snprintf(value, sizeof value, "%.15g", x->valuedouble);
    return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: %s %s is not an integer from 0 to %d", path, line, key, value, hi);
}

gq_status gq_journal_parse(const char *path, char *text, size_t len, char hash[65], cJSON **header,
                               cJSON **rows, size_t *complete_len, gq_err *err) {
    char *nl = memchr(text, '\n', len);
    size_t magic_len = strlen(GQ_JOURNAL_MAGIC);
    if (!nl || len < magic_len + 1 || memcmp(text, GQ_JOURNAL_MAGIC " ", magic_len + 1) != 0)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: not a glueq journal (no '%s' header line)", path, GQ_JOURNAL_MAGIC);
    *nl = '\0';
    int version = 0, off = 0;
    char h[65] = "";
    if (sscanf(text + magic_len + 1, "%d %64[0-9a-f] %n", &version, h, &off) < 2 || off == 0)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line 1: malformed journal header", path);
    if (version != GQ_JOURNAL_VERSION)
        return gq_fail(err, GQ_ERR_FORMAT, "%s: journal version %d, this glueq reads version %d", path, version,
                       GQ_JOURNAL_VERSION);
    if (strlen(h) != 64) return gq_fail(err, GQ_ERR_FORMAT, "%s: line 1: malformed config hash", path);
    if (hash) memcpy(hash, h, 65);
    cJSON *hdr = cJSON_Parse(text + magic_len + 1 + off);
    if (!cJSON_IsObject(hdr)) {
        cJSON_Delete(hdr);
        return gq_fail(err, GQ_ERR_FORMAT, "%s: line 1: header JSON is invalid", path);
    }
    int n_points = 0, index = 0;
    gq_status st = check_number(path, 1, hdr, "n_points", INT_MAX, &n_points, err);
    if (st != GQ_OK) {
        cJSON_Delete(hdr);
        return st;
    }
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        cJSON_Delete(hdr);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    char *p = nl + 1, *end = text + len;
    int line = 2;
    while (p < end) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) break; /* a truncated last line: the write of a killed process */
        *e = '\0';
        cJSON *row = cJSON_Parse(p);
        if (!cJSON_IsObject(row) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(row, "point_id")))
            st = gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: corrupt journal row", path, line);
        else st = check_number(path, line, row, "index", n_points - 1, &index, err);
        if (st != GQ_OK) {
            cJSON_Delete(row), cJSON_Delete(arr), cJSON_Delete(hdr);
            return st;
        }
        cJSON_AddItemToArray(arr, row);
        p = e + 1;
        line++;
    }
    *complete_len = (size_t)(p - text);
    if (header) *header = hdr;
    else cJSON_Delete(hdr);
    if (rows) *rows = arr;
    else cJSON_Delete(arr);
    return GQ_OK;
}

gq_status gq_journal_read(const char *path, char hash[65], cJSON **header, cJSON **rows, gq_err *err) {
    char *text = NULL;
    size_t len = 0, complete = 0;
    if (header) *header = NULL;
    if (rows) *rows = NULL;
    gq_status st = gq_read_file(path, 0, &text, &len, err);
    if (st != GQ_OK) return st;
    st = gq_journal_parse(path, text, len, hash, header, rows, &complete, err);
    free(text);
    return st;
}

/* Opens path (created empty when missing) and takes an exclusive advisory lock on it for
 * the life of the descriptor: the kernel drops it when the process ends, however it ends,
 * so a killed sweep never leaves a stale lock behind. */
static gq_status lock_journal(const char *path, int *fd_out, gq_err *err) {
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return gq_fail(err, GQ_ERR_IO, "%s: cannot open the journal: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return gq_fail(err, GQ_ERR_IO,
                           "%s: in use by another glueq process (a sweep or merge still running on this output "
                           "directory, maybe on another node); wait for it to end or use another --out",
                           path);
        return gq_fail(err, GQ_ERR_IO, "%s: cannot lock the journal: %s", path, strerror(e));
    }
    *fd_out = fd;
    return GQ_OK;
}

/* "glueq-journal 1 <hash> <header JSON>\n", malloc'd; NULL when out of memory. */
static char *header_line(const char *config_hash, const cJSON *header) {
    char *hdr = cJSON_PrintUnformatted(header);
    size_t n = hdr ? strlen(GQ_JOURNAL_MAGIC) + strlen(hdr) + 100 : 0;
    char *line = hdr ? malloc(n) : NULL;
    if (line) snprintf(line, n, "%s %d %s %s\n", GQ_JOURNAL_MAGIC, GQ_JOURNAL_VERSION, config_hash, hdr);
    free(hdr);
    return line;
}

/* Appends len bytes to the journal and fsyncs. On failure the file is cut back to where it
 * ended, so that it still ends on a complete line, and the message carries the errno text
 * (a full disk says "No space left on device"). */
static gq_status append_bytes(gq_journal *j, const char *what, const char *data, size_t len, gq_err *err) {
    off_t end = lseek(j->fd, 0, SEEK_END);
    size_t done = 0;
    int e = 0;
    while (done < len && !e) {
        ssize_t w = write(j->fd, data + done, len - done);
        if (w > 0) done += (size_t)w;
        else if (w == 0) e = EIO;
        else if (errno != EINTR) e = errno;
    }
    if (!e && fsync(j->fd) != 0) e = errno;
    if (!e) return GQ_OK;
    if (end >= 0 && ftruncate(j->fd, end) == 0) fsync(j->fd);
    return gq_fail(err, GQ_ERR_IO, "%s: cannot append %s: %s%s", j->path, what, strerror(e),
                   e == ENOSPC ? " (the disk is full: free space, then continue with --resume)" : "");
}

/* A journal cut inside its header line (killed while creating it): it holds no rows and
 * is started again. */
static int header_cut(const char *text, size_t len) {
    size_t magic_len = strlen(GQ_JOURNAL_MAGIC);
    return !memchr(text, '\n', len) && !memcmp(text, GQ_JOURNAL_MAGIC, len < magic_len ? len : magic_len);
}

/* Reads the locked journal j for resuming: checks its config hash, cuts off a truncated
 * last line and returns the finished rows. */
static gq_status resume_journal(gq_journal *j, char *text, size_t len, const char *config_hash, cJSON **rows,
                                gq_err *err) {
    char hash[65];
    size_t complete = 0;
    cJSON *got = NULL;
    gq_status st = gq_journal_parse(j->path, text, len, hash, &j->header, &got, &complete, err);
    if (st == GQ_OK && strcmp(hash, config_hash) != 0)
        st = gq_fail(err, GQ_ERR_ARG,
                     "%s: written for config hash %.12s..., this config hashes to %.12s...; the config "
                     "changed since that run: use another output directory or remove the journal",
                     j->path, hash, config_hash);
    if (st == GQ_OK && complete != len && (ftruncate(j->fd, (off_t)complete) != 0 || fsync(j->fd) != 0))
        st = gq_fail(err, GQ_ERR_IO, "%s: cannot cut off the truncated last line: %s", j->path, strerror(errno));
    if (st == GQ_OK && rows) *rows = got;
    else cJSON_Delete(got);
    return st;
}

gq_status gq_journal_open(const char *path, const char *config_hash, const cJSON *header, int resume,
                          gq_journal **out, cJSON **rows, gq_err *err) {
    *out = NULL;
    if (rows) *rows = NULL;
    gq_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->path = gq_strdup(path))) {
        free(j);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    }
    j->fd = -1;
    char *text = NULL;
    size_t len = 0;
    gq_status st = lock_journal(path, &j->fd, err);
    if (st == GQ_OK) st = gq_read_file(path, 0, &text, &len, err);
    if (st == GQ_OK && (len == 0 || header_cut(text, len))) {
        char *line = header_line(config_hash, header);
        if (!line) st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
        else if (len && ftruncate(j->fd, 0) != 0) st = gq_fail(err, GQ_ERR_IO, "%s: %s", path, strerror(errno));
        else st = append_bytes(j, "the header", line, strlen(line), err);
        free(line);
        if (st == GQ_OK && rows && !(*rows = cJSON_CreateArray()))
            st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    } else if (st == GQ_OK && !resume) {
        st = gq_fail(err, GQ_ERR_ARG, "%s: a journal of an earlier run exists; pass --resume to continue it, or remove it",
                     path);
    } else if (st == GQ_OK) {
        st = resume_journal(j, text, len, config_hash, rows, err);
        j->resumed = 1;
    }
    if (st == GQ_OK && !j->header && !(j->header = cJSON_Duplicate(header, 1)))
        st = gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path);
    free(text);
    if (st != GQ_OK) {
        gq_journal_close(j);
        return st;
    }
    *out = j;
    return GQ_OK;
}

gq_status gq_journal_append(gq_journal *j, const cJSON *row, gq_err *err) {
    char *text = cJSON_PrintUnformatted(row);
    if (!text) return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", j->path);
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", j->path);
    }
    line[len++] = '\n';
    gq_status st = append_bytes(j, "a row", line, len, err);
    free(line);
    return st;
}

gq_status gq_journal_write(const char *path, const char *config_hash, const cJSON *header, const cJSON *rows,
                           gq_err *err) {
    int fd = -1;
    gq_status st = lock_journal(path, &fd, err);
    if (st != GQ_OK) return st;
    char *buf = NULL, *line = header_line(config_hash, header);
    size_t len = 0;
    FILE *m = line ? open_memstream(&buf, &len) : NULL;
    int oom = !m;
    if (m) {
        fputs(line, m);
        for (const cJSON *r = rows ? rows->child : NULL; r; r = r->next) {
            char *row = cJSON_PrintUnformatted(r);
            oom |= !row;
            if (row) fprintf(m, "%s\n", row);
            free(row);
        }
        oom |= fclose(m) != 0;
    }
    free(line);
    st = oom ? gq_fail(err, GQ_ERR_NOMEM, "%s: out of memory", path) : gq_write_file_atomic(path, buf, len, err);
    free(buf);
    close(fd);
    return st;
}

const cJSON *gq_journal_header(const gq_journal *j) { return j->header; }

int gq_journal_resumed(const gq_journal *j) { return j->resumed; }

void gq_journal_close(gq_journal *j) {
    if (!j) return;
    if (j->fd >= 0) close(j->fd);
    cJSON_Delete(j->header);
    free(j->path);
    free(j);
}
