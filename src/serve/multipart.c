/* multipart.c - locating a field in a multipart/form-data body for `petal serve`. */
#include "serve/multipart.h"

#include <string.h>
#include <strings.h>

#define MAX_PARTS        256
#define MAX_HEADER_BYTES 8192

/* RFC 2046 bchars (space is allowed except as the last character). */
static int is_boundary_char(int c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t';
}

/* Length of the media type at the start of a header value (up to ';' or the end). */
static size_t media_type_len(const char *value, size_t n)
{
    size_t i = 0;
    while (i < n && value[i] != ';')
        i++;
    while (i > 0 && is_space(value[i - 1]))
        i--;
    return i;
}

int petal_multipart_is_form_data(const char *content_type)
{
    if (content_type == NULL)
        return 0;
    while (is_space(*content_type))
        content_type++;
    size_t n = media_type_len(content_type, strlen(content_type));
    return n == strlen("multipart/form-data") &&
           strncasecmp(content_type, "multipart/form-data", n) == 0;
}

/* Finds parameter `want` in the "; a=b; c="d"" list of a header value of n bytes. On success
 * points *val and *val_len at its value (quotes removed) and returns 1; returns 0 if absent and -1
 * if the list is malformed (an unterminated quote). */
static int header_param(const char *value, size_t n, const char *want, const char **val,
                        size_t *val_len)
{
    size_t i = media_type_len(value, n);
    size_t want_len = strlen(want);
    while (i < n) {
        if (value[i] == ';' || is_space(value[i])) {
            i++;
            continue;
        }
        size_t name = i;
        while (i < n && value[i] != '=' && value[i] != ';')
            i++;
        size_t name_len = i;
        while (name_len > name && is_space(value[name_len - 1]))
            name_len--;
        name_len -= name;
        if (i >= n || value[i] == ';')
            continue; /* a parameter without a value */
        i++;
        while (i < n && is_space(value[i]))
            i++;
        const char *v = value + i;
        size_t v_len;
        if (i < n && value[i] == '"') {
            const char *close = memchr(value + i + 1, '"', n - i - 1);
            if (close == NULL)
                return -1;
            v = value + i + 1;
            v_len = (size_t)(close - v);
            i = (size_t)(close - value) + 1;
        } else {
            while (i < n && value[i] != ';' && !is_space(value[i]))
                i++;
            v_len = (size_t)(value + i - v);
        }
        if (name_len == want_len && strncasecmp(value + name, want, want_len) == 0) {
            *val = v;
            *val_len = v_len;
            return 1;
        }
    }
    return 0;
}

petal_status petal_multipart_boundary(const char *content_type,
                                      char out[PETAL_MULTIPART_MAX_BOUNDARY + 1], petal_error *err)
{
    const char *b;
    size_t b_len;
    out[0] = '\0';
    if (content_type == NULL)
        return petal_error_set(err, PETAL_ERR_FORMAT, "multipart body without a Content-Type");
    int found = header_param(content_type, strlen(content_type), "boundary", &b, &b_len);
    if (found < 0)
        return petal_error_set(err, PETAL_ERR_FORMAT,
                               "multipart Content-Type has an unterminated quote");
    if (found == 0)
        return petal_error_set(err, PETAL_ERR_FORMAT,
                               "multipart Content-Type has no boundary parameter");
    if (b_len == 0 || b_len > PETAL_MULTIPART_MAX_BOUNDARY)
        return petal_error_set(err, PETAL_ERR_FORMAT,
                               "multipart boundary must have 1 to %d characters, not %zu",
                               PETAL_MULTIPART_MAX_BOUNDARY, b_len);
    for (size_t i = 0; i < b_len; i++)
        if (!is_boundary_char((unsigned char)b[i]))
            return petal_error_set(err, PETAL_ERR_FORMAT,
                                   "multipart boundary has a character RFC 2046 does not allow");
    if (b[b_len - 1] == ' ')
        return petal_error_set(err, PETAL_ERR_FORMAT, "multipart boundary ends with a space");
    memcpy(out, b, b_len);
    out[b_len] = '\0';
    return PETAL_OK;
}

/* 1 if the header block [h, h+n) has a Content-Disposition: form-data with name == field. */
static int part_has_name(const uint8_t *h, size_t n, const char *field)
{
    static const char key[] = "content-disposition:";
    const size_t key_len = sizeof key - 1;
    size_t i = 0;
    while (i < n) {
        const uint8_t *eol = memmem(h + i, n - i, "\r\n", 2);
        size_t line_end = eol ? (size_t)(eol - h) : n;
        const char *line = (const char *)h + i;
        size_t line_len = line_end - i;
        i = eol ? line_end + 2 : n;
        if (line_len < key_len || strncasecmp(line, key, key_len) != 0)
            continue;
        const char *v = line + key_len;
        size_t v_len = line_len - key_len;
        while (v_len > 0 && is_space(*v)) {
            v++;
            v_len--;
        }
        size_t type_len = media_type_len(v, v_len);
        if (type_len != strlen("form-data") || strncasecmp(v, "form-data", type_len) != 0)
            return 0;
        const char *name;
        size_t name_len;
        if (header_param(v, v_len, "name", &name, &name_len) != 1)
            return 0;
        return name_len == strlen(field) && memcmp(name, field, name_len) == 0;
    }
    return 0;
}

/* 1 if the n bytes at p, which follow a delimiter, make it a full delimiter line: "--" for
 * the closing one, else optional padding and CRLF. */
static int delimiter_line_ok(const uint8_t *p, size_t n)
{
    if (n >= 2 && p[0] == '-' && p[1] == '-')
        return 1;
    size_t i = 0;
    while (i < n && is_space(p[i]))
        i++;
    return n - i >= 2 && p[i] == '\r' && p[i + 1] == '\n';
}

petal_status petal_multipart_find(const uint8_t *body, size_t len, const char *boundary,
                                  const char *field, const char *name, const uint8_t **data,
                                  size_t *data_len, petal_error *err)
{
    char delim[PETAL_MULTIPART_MAX_BOUNDARY + 5] = "\r\n--";
    size_t b_len = strlen(boundary);
    *data = NULL;
    *data_len = 0;
    if (b_len == 0 || b_len > PETAL_MULTIPART_MAX_BOUNDARY)
        return petal_error_set(err, PETAL_ERR_ARG, "%s: bad multipart boundary", name);
    memcpy(delim + 4, boundary, b_len + 1);
    size_t d_len = b_len + 4; /* "\r\n--" + boundary */

    /* The first delimiter opens the body or follows a preamble line. */
    size_t pos;
    if (len >= d_len - 2 && memcmp(body, delim + 2, d_len - 2) == 0) {
        pos = d_len - 2;
    } else {
        const uint8_t *first = memmem(body, len, delim, d_len);
        if (first == NULL)
            return petal_error_set(err, PETAL_ERR_FORMAT,
                                   "%s: multipart body has no opening boundary", name);
        pos = (size_t)(first - body) + d_len;
    }

    for (int part = 1;; part++) {
        /* After a delimiter: "--" closes the body; otherwise padding and CRLF. */
        if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-')
            return petal_error_set(err, PETAL_ERR_NOT_FOUND, "%s: multipart body has no field '%s'",
                                   name, field);
        if (part > MAX_PARTS)
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: multipart body has over %d parts",
                                   name, MAX_PARTS);
        while (pos < len && is_space(body[pos]))
            pos++;
        if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n')
            return petal_error_set(err, PETAL_ERR_FORMAT,
                                   "%s: multipart boundary line %d is not followed by CRLF", name,
                                   part);
        pos += 2;

        /* Headers end with an empty line (a part may have no headers at all). */
        size_t headers = pos, headers_len, content;
        if (len - pos >= 2 && body[pos] == '\r' && body[pos + 1] == '\n') {
            headers_len = 0;
            content = pos + 2;
        } else {
            size_t window = len - pos < MAX_HEADER_BYTES ? len - pos : MAX_HEADER_BYTES;
            const uint8_t *end = memmem(body + pos, window, "\r\n\r\n", 4);
            if (end == NULL)
                return petal_error_set(err, PETAL_ERR_FORMAT,
                                       "%s: multipart part %d has no end of headers "
                                       "(or over %d bytes of them)",
                                       name, part, MAX_HEADER_BYTES);
            headers_len = (size_t)(end - (body + pos));
            content = pos + headers_len + 4;
        }

        const uint8_t *close = memmem(body + content, len - content, delim, d_len);
        if (close == NULL)
            return petal_error_set(err, PETAL_ERR_FORMAT,
                                   "%s: multipart part %d is not closed by a boundary", name, part);
        size_t content_end = (size_t)(close - body);
        size_t after = content_end + d_len;
        if (!delimiter_line_ok(body + after, len - after))
            return petal_error_set(err, PETAL_ERR_FORMAT,
                                   "%s: multipart boundary after part %d is cut short", name, part);
        if (part_has_name(body + headers, headers_len, field)) {
            *data = body + content;
            *data_len = content_end - content;
            return PETAL_OK;
        }
        pos = after;
    }
}
