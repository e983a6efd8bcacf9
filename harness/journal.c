/* journal: append-only, fsync'd record of finished sweep points; see journal.h. */
#define _POSIX_C_SOURCE 200809L
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct gq_journal {
    int fd;
    char *path;
};

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
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        cJSON_Delete(hdr);
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    }
    char *p = nl + 1, *end = text + len;
    int line = 2;
    while (p < end) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e) break; /* a truncated last line: the write of a killed process */
        *e = '\0';
        cJSON *row = cJSON_Parse(p);
        if (!cJSON_IsObject(row) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(row, "point_id"))) {
            cJSON_Delete(row), cJSON_Delete(arr), cJSON_Delete(hdr);
            return gq_fail(err, GQ_ERR_FORMAT, "%s: line %d: corrupt journal row", path, line);
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

static gq_status open_append(const char *path, off_t truncate_to, gq_journal **out, gq_err *err) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return gq_fail(err, GQ_ERR_IO, "%s: cannot open for appending: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (truncate_to >= 0 && sb.st_size != truncate_to &&
                                (ftruncate(fd, truncate_to) != 0 || fsync(fd) != 0))) {
        close(fd);
        return gq_fail(err, GQ_ERR_IO, "%s: cannot cut off the truncated last line: %s", path, strerror(errno));
    }
    gq_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->path = gq_strdup(path))) {
        free(j);
        close(fd);
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    }
    j->fd = fd;
    *out = j;
    return GQ_OK;
}

gq_status gq_journal_open(const char *path, const char *config_hash, const cJSON *header, int resume,
                          gq_journal **out, cJSON **rows, gq_err *err) {
    *out = NULL;
    if (rows) *rows = NULL;
    if (gq_file_exists(path)) {
        if (!resume)
            return gq_fail(err, GQ_ERR_ARG,
                           "%s: a journal of an earlier run exists; pass --resume to continue it, or remove it", path);
        char *text = NULL, hash[65];
        size_t len = 0, complete = 0;
        cJSON *got = NULL;
        gq_status st = gq_read_file(path, 0, &text, &len, err);
        if (st == GQ_OK) st = gq_journal_parse(path, text, len, hash, NULL, &got, &complete, err);
        free(text);
        if (st == GQ_OK && strcmp(hash, config_hash) != 0)
            st = gq_fail(err, GQ_ERR_ARG,
                         "%s: written for config hash %.12s..., this config hashes to %.12s...; the config "
                         "changed since that run: use another output directory or remove the journal",
                         path, hash, config_hash);
        if (st == GQ_OK) st = open_append(path, (off_t)complete, out, err);
        if (st != GQ_OK || !rows) cJSON_Delete(got);
        else *rows = got;
        return st;
    }
    char *hdr = cJSON_PrintUnformatted(header);
    if (!hdr) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    size_t n = strlen(GQ_JOURNAL_MAGIC) + strlen(hdr) + 100;
    char *line = malloc(n);
    if (!line) {
        free(hdr);
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    }
    snprintf(line, n, "%s %d %s %s\n", GQ_JOURNAL_MAGIC, GQ_JOURNAL_VERSION, config_hash, hdr);
    free(hdr);
    gq_status st = gq_write_file_atomic(path, line, strlen(line), err);
    free(line);
    if (st == GQ_OK) st = open_append(path, -1, out, err);
    if (st == GQ_OK && rows && !(*rows = cJSON_CreateArray())) {
        gq_journal_close(*out);
        *out = NULL;
        st = gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    }
    return st;
}

gq_status gq_journal_append(gq_journal *j, const cJSON *row, gq_err *err) {
    char *text = cJSON_PrintUnformatted(row);
    if (!text) return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return gq_fail(err, GQ_ERR_NOMEM, "out of memory");
    }
    line[len++] = '\n';
    /* One write() of the whole line: a kill lands before or after it. A short write
     * (disk full) leaves a line without '\n', which readers ignore. */
    ssize_t w;
    do w = write(j->fd, line, len);
    while (w < 0 && errno == EINTR);
    free(line);
    if (w != (ssize_t)len)
        return gq_fail(err, GQ_ERR_IO, "%s: cannot append a row: %s", j->path, w < 0 ? strerror(errno) : "short write");
    if (fsync(j->fd) != 0) return gq_fail(err, GQ_ERR_IO, "%s: fsync failed: %s", j->path, strerror(errno));
    return GQ_OK;
}

void gq_journal_close(gq_journal *j) {
    if (!j) return;
    close(j->fd);
    free(j->path);
    free(j);
}
