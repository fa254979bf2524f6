/* label.c - labels for `petal scrape`: labels-file syntax, canonical names and folder names
 * that `petal train` maps back to the same label, and that can never leave image_dir. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scrape/scrape.h"
#include "util/fs.h"

int petal_scrape_label_canonical(const char *label, char *out, size_t n)
{
    size_t o = 0;
    int pending_space = 0;
    if (n == 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
        if (*p == '\'')
            continue; /* "anne's" -> "annes": an apostrophe does not split a word */
        int c = tolower(*p);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (pending_space && o > 0 && o + 1 < n)
                out[o++] = ' ';
            pending_space = 0;
            if (o + 1 < n)
                out[o++] = (char)c;
        } else {
            pending_space = 1;
        }
    }
    out[o] = '\0';
    return o > 0 ? 0 : -1;
}

int petal_scrape_label_folder(const char *label, char *out, size_t n)
{
    if (petal_scrape_label_canonical(label, out, n) != 0)
        return -1;
    for (char *p = out; *p; p++)
        if (*p == ' ')
            *p = '_';
    return 0;
}

static char *dup_range(const char *s, size_t len)
{
    char *r = malloc(len + 1);
    if (r) {
        memcpy(r, s, len);
        r[len] = '\0';
    }
    return r;
}

/* Trims spaces and tabs (and a trailing CR) from both ends of s[0..*len) in place. */
static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)s[0])) {
        s++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)s[*len - 1]))
        (*len)--;
    return s;
}

static petal_scrape_label *find_label(petal_scrape_labels *labels, const char *canonical)
{
    for (size_t i = 0; i < labels->count; i++)
        if (!strcmp(labels->items[i].name, canonical))
            return &labels->items[i];
    return NULL;
}

petal_status petal_scrape_labels_add_line(petal_scrape_labels *labels, const char *line,
                                          const char *where, petal_error *err)
{
    size_t len = strcspn(line, "#\n");
    const char *s = trim(line, &len);
    if (len == 0)
        return PETAL_OK;

    /* "alias = label": merge alias into an existing label. */
    const char *eq = memchr(s, '=', len);
    if (eq) {
        char *target = dup_range(eq + 1, (size_t)(s + len - eq - 1));
        char canon[256];
        if (!target)
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", where);
        int bad = petal_scrape_label_canonical(target, canon, sizeof canon);
        free(target);
        if (bad || !find_label(labels, canon))
            return petal_error_set(err, PETAL_ERR_ARG,
                                   "%s: '=' must name a label listed on an earlier line", where);
        return PETAL_OK;
    }

    const char *bar = memchr(s, '|', len);
    size_t name_len = bar ? (size_t)(bar - s) : len;
    const char *name = trim(s, &name_len);
    char *name_s = dup_range(name, name_len);
    char *query_s = NULL;
    if (bar) {
        size_t qlen = (size_t)(s + len - bar - 1);
        const char *q = trim(bar + 1, &qlen);
        query_s = dup_range(q, qlen);
    } else {
        query_s = dup_range(name, name_len);
    }
    char canon[256], folder[256];
    if (!name_s || !query_s) {
        free(name_s);
        free(query_s);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", where);
    }
    if (petal_scrape_label_canonical(name_s, canon, sizeof canon) != 0 || query_s[0] == '\0') {
        petal_status st = petal_error_set(
            err, PETAL_ERR_ARG, "%s: label '%s' has no letters or digits (or no search terms)",
            where, name_s);
        free(name_s);
        free(query_s);
        return st;
    }
    petal_scrape_label_folder(name_s, folder, sizeof folder);
    free(name_s);
    if (find_label(labels, canon)) {
        free(query_s);
        return PETAL_OK; /* same label twice: merged */
    }
    if (labels->count == labels->cap) {
        size_t cap = labels->cap ? labels->cap * 2 : 16;
        petal_scrape_label *items = realloc(labels->items, cap * sizeof *items);
        if (!items) {
            free(query_s);
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", where);
        }
        labels->items = items;
        labels->cap = cap;
    }
    petal_scrape_label *l = &labels->items[labels->count];
    l->name = strdup(canon);
    l->folder = strdup(folder);
    l->query = query_s;
    if (!l->name || !l->folder) {
        free(l->name);
        free(l->folder);
        free(query_s);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", where);
    }
    labels->count++;
    return PETAL_OK;
}

petal_status petal_scrape_labels_load(petal_scrape_labels *labels, const char *path,
                                      petal_error *err)
{
    uint8_t *data;
    size_t len;
    petal_status st = petal_read_file(path, 1 << 20, &data, &len, err);
    if (st != PETAL_OK)
        return st;
    if (memchr(data, '\0', len)) {
        free(data);
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: not a text file (NUL byte)", path);
    }
    char *text = (char *)data;
    int lineno = 0;
    for (char *line = text; line && *line && st == PETAL_OK;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char where[512];
        snprintf(where, sizeof where, "%s:%d", path, ++lineno);
        st = petal_scrape_labels_add_line(labels, line, where, err);
        line = nl ? nl + 1 : NULL;
    }
    free(data);
    return st;
}

void petal_scrape_labels_free(petal_scrape_labels *labels)
{
    for (size_t i = 0; i < labels->count; i++) {
        free(labels->items[i].name);
        free(labels->items[i].folder);
        free(labels->items[i].query);
    }
    free(labels->items);
    memset(labels, 0, sizeof *labels);
}
