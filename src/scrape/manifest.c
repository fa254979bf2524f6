/* manifest.c - image_dir/manifest.csv, the record of every scraped photo and where it came
 * from: RFC 4180 parsing, one-write appends, atomic rewrites. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scrape/scrape.h"
#include "util/fs.h"

#define MANIFEST_FIELDS 11

void petal_manifest_entry_free(petal_manifest_entry *e)
{
    free(e->label);
    free(e->file);
    free(e->sha256);
    free(e->source);
    free(e->image_url);
    free(e->page_url);
    free(e->licence);
    free(e->author);
    free(e->fetched_at);
    memset(e, 0, sizeof *e);
}

void petal_manifest_free(petal_manifest *m)
{
    for (size_t i = 0; i < m->count; i++)
        petal_manifest_entry_free(&m->items[i]);
    free(m->items);
    memset(m, 0, sizeof *m);
}

void petal_manifest_remove(petal_manifest *m, size_t i)
{
    if (i >= m->count)
        return;
    petal_manifest_entry_free(&m->items[i]);
    memmove(&m->items[i], &m->items[i + 1], (m->count - i - 1) * sizeof *m->items);
    m->count--;
}

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

petal_status petal_manifest_push(petal_manifest *m, const petal_manifest_entry *e)
{
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        petal_manifest_entry *items = realloc(m->items, cap * sizeof *items);
        if (!items)
            return PETAL_ERR_NOMEM;
        m->items = items;
        m->cap = cap;
    }
    petal_manifest_entry c = {dup0(e->label),     e->file ? strdup(e->file) : NULL,
                              dup0(e->sha256),    e->width,
                              e->height,          dup0(e->source),
                              dup0(e->image_url), dup0(e->page_url),
                              dup0(e->licence),   dup0(e->author),
                              dup0(e->fetched_at)};
    if (!c.label || !c.file || !c.sha256 || !c.source || !c.image_url || !c.page_url ||
        !c.licence || !c.author || !c.fetched_at) {
        petal_manifest_entry_free(&c);
        return PETAL_ERR_NOMEM;
    }
    m->items[m->count++] = c;
    return PETAL_OK;
}

/* Reads one CSV record starting at *pos into fields (malloc'd, up to max). Returns the number
 * of fields, or -1 at the end of text, or -2 on a malformed record (unterminated quote, too
 * many fields); *pos moves past the record either way. */
static int csv_record(const char *t, size_t len, size_t *pos, char **fields, int max)
{
    size_t i = *pos;
    if (i >= len)
        return -1;
    int n = 0, bad = 0;
    for (;;) {
        size_t cap = 32, o = 0;
        char *f = malloc(cap);
        if (!f) {
            bad = 1;
            break;
        }
        if (i < len && t[i] == '"') {
            i++;
            for (;;) {
                if (i >= len || t[i] == '\n' || t[i] == '\r') {
                    bad = 1; /* a record never spans lines: this one was torn */
                    break;
                }
                if ((unsigned char)t[i] < 0x20 || t[i] == 0x7F)
                    bad = 1;
                if (t[i] == '"') {
                    if (i + 1 < len && t[i + 1] == '"') {
                        i += 2;
                        f[o++] = '"';
                    } else {
                        i++;
                        break;
                    }
                } else {
                    f[o++] = t[i++];
                }
                if (o + 1 >= cap) {
                    char *g = realloc(f, cap *= 2);
                    if (!g) {
                        bad = 1;
                        break;
                    }
                    f = g;
                }
            }
            /* Anything between the closing quote and the separator makes the record bad. */
            if (i < len && t[i] != ',' && t[i] != '\n' && t[i] != '\r')
                bad = 1;
        } else {
            while (i < len && t[i] != ',' && t[i] != '\n' && t[i] != '\r') {
                if (t[i] == '"' || (unsigned char)t[i] < 0x20 || t[i] == 0x7F)
                    bad = 1;
                f[o++] = t[i++];
                if (o + 1 >= cap) {
                    char *g = realloc(f, cap *= 2);
                    if (!g) {
                        bad = 1;
                        break;
                    }
                    f = g;
                }
            }
        }
        f[o] = '\0';
        if (n < max)
            fields[n] = f;
        else {
            free(f);
            bad = 1;
        }
        n++;
        /* Skip to the separator or the end of the record. */
        while (i < len && t[i] != ',' && t[i] != '\n')
            i++;
        if (i < len && t[i] == ',') {
            i++;
            continue;
        }
        if (i < len)
            i++; /* '\n' */
        break;
    }
    *pos = i;
    if (n > max)
        n = max;
    if (bad) {
        for (int k = 0; k < n; k++)
            free(fields[k]);
        return -2;
    }
    return n;
}

static int parse_dim(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

petal_status petal_manifest_parse(const char *text, size_t len, petal_manifest *out,
                                  size_t *skipped, petal_error *err)
{
    size_t pos = 0, bad = 0;
    int first = 1;
    for (;;) {
        char *f[MANIFEST_FIELDS];
        int n = csv_record(text, len, &pos, f, MANIFEST_FIELDS);
        if (n == -1)
            break;
        if (n == -2) {
            bad++;
            first = 0;
            continue;
        }
        int is_header = first && n >= 2 && !strcmp(f[0], "label") && !strcmp(f[1], "file");
        int blank = n == 1 && f[0][0] == '\0';
        first = 0;
        petal_manifest_entry e = {0};
        int ok = !is_header && !blank && n == MANIFEST_FIELDS && f[1][0] &&
                 parse_dim(f[3], &e.width) == 0 && parse_dim(f[4], &e.height) == 0;
        if (ok) {
            e.label = f[0];
            e.file = f[1];
            e.sha256 = f[2];
            e.source = f[5];
            e.image_url = f[6];
            e.page_url = f[7];
            e.licence = f[8];
            e.author = f[9];
            e.fetched_at = f[10];
            if (out->count == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 64;
                petal_manifest_entry *items = realloc(out->items, cap * sizeof *items);
                if (!items) {
                    for (int k = 0; k < n; k++)
                        free(f[k]);
                    return petal_error_set(err, PETAL_ERR_NOMEM, "manifest: out of memory");
                }
                out->items = items;
                out->cap = cap;
            }
            free(f[3]);
            free(f[4]);
            out->items[out->count++] = e;
        } else {
            if (!is_header && !blank)
                bad++;
            for (int k = 0; k < n; k++)
                free(f[k]);
        }
    }
    if (skipped)
        *skipped = bad;
    return PETAL_OK;
}

petal_status petal_manifest_load(const char *path, petal_manifest *out, petal_error *err)
{
    if (!petal_is_file(path))
        return PETAL_OK;
    uint8_t *data;
    size_t len;
    petal_status st = petal_read_file(path, (size_t)1 << 30, &data, &len, err);
    if (st != PETAL_OK)
        return st;
    size_t skipped = 0;
    st = petal_manifest_parse((const char *)data, len, out, &skipped, err);
    free(data);
    if (st == PETAL_OK && skipped)
        petal_error_set(err, PETAL_OK, "%s: %zu malformed line(s) ignored", path, skipped);
    return st;
}

static void csv_field(char **buf, size_t *len, size_t *cap, const char *s, int last)
{
    size_t need = *len + strlen(s) * 2 + 4;
    if (need > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < need)
            c *= 2;
        char *p = realloc(*buf, c);
        if (!p) {
            free(*buf);
            *buf = NULL;
            return;
        }
        *buf = p;
        *cap = c;
    }
    if (!*buf)
        return;
    int quote = strpbrk(s, ",\"") != NULL;
    char *o = *buf + *len;
    if (quote)
        *o++ = '"';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7F)
            c = ' ';
        if (c == '"')
            *o++ = '"';
        *o++ = (char)c;
    }
    if (quote)
        *o++ = '"';
    *o++ = last ? '\n' : ',';
    *o = '\0';
    *len = (size_t)(o - *buf);
}

char *petal_manifest_format(const petal_manifest_entry *e)
{
    char w[16], h[16];
    snprintf(w, sizeof w, "%d", e->width);
    snprintf(h, sizeof h, "%d", e->height);
    const char *f[MANIFEST_FIELDS] = {e->label,   e->file,   e->sha256,    w,
                                      h,          e->source, e->image_url, e->page_url,
                                      e->licence, e->author, e->fetched_at};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (int i = 0; i < MANIFEST_FIELDS; i++) {
        csv_field(&buf, &len, &cap, f[i] ? f[i] : "", i == MANIFEST_FIELDS - 1);
        if (!buf)
            return NULL;
    }
    return buf;
}

petal_status petal_manifest_append(const char *path, const petal_manifest_entry *e,
                                   petal_error *err)
{
    if (!petal_is_file(path)) {
        petal_status st = petal_append_file(path, PETAL_MANIFEST_HEADER "\n",
                                            strlen(PETAL_MANIFEST_HEADER) + 1, err);
        if (st != PETAL_OK)
            return st;
    }
    char *line = petal_manifest_format(e);
    if (!line)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    petal_status st = petal_append_file(path, line, strlen(line), err);
    free(line);
    return st;
}

petal_status petal_manifest_save(const char *path, const petal_manifest *m, petal_error *err)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    len = (size_t)snprintf(buf, cap, "%s\n", PETAL_MANIFEST_HEADER);
    for (size_t i = 0; i < m->count; i++) {
        char *line = petal_manifest_format(&m->items[i]);
        if (!line) {
            free(buf);
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
        }
        size_t ll = strlen(line);
        if (len + ll + 1 > cap) {
            while (len + ll + 1 > cap)
                cap *= 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(line);
                free(buf);
                return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = p;
        }
        memcpy(buf + len, line, ll + 1);
        len += ll;
        free(line);
    }
    petal_status st = petal_write_file_atomic(path, buf, len, err);
    free(buf);
    return st;
}
