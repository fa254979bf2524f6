/* multipart.h - finding one field of a multipart/form-data body (RFC 7578), as sent by a
 * browser form or `curl -F image=@photo.jpg`, for `petal serve`'s classify endpoint.
 *
 * The whole body is already in memory (bounded by --max_body); the parser only looks at it,
 * never copies it, and never reads outside body[0..len).
 */
#ifndef PETAL_SERVE_MULTIPART_H
#define PETAL_SERVE_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

/* Longest boundary RFC 2046 allows. */
#define PETAL_MULTIPART_MAX_BOUNDARY 70

/* Copies the boundary parameter of a Content-Type header value such as
 * `multipart/form-data; boundary="abc"` into out (NUL-terminated, unquoted).
 * Returns PETAL_OK, or PETAL_ERR_FORMAT with err saying what is missing or malformed
 * (no boundary, empty, over 70 characters, or characters RFC 2046 does not allow). */
petal_status petal_multipart_boundary(const char *content_type,
                                      char out[PETAL_MULTIPART_MAX_BOUNDARY + 1], petal_error *err);

/* 1 if a Content-Type header value names multipart/form-data (case-insensitive), else 0. */
int petal_multipart_is_form_data(const char *content_type);

/* Finds the part whose Content-Disposition is `form-data; name="<field>"` in body and points
 * *data / *len at its content (inside body). Parts are separated by "--boundary" lines; the
 * body must end with the closing "--boundary--" delimiter. At most 256 parts and 8 KB of
 * headers per part are examined.
 * Errors (PETAL_ERR_FORMAT, message prefixed by name): no opening delimiter, a part without
 * the blank line ending its headers, a part that is never closed, too many parts; and
 * PETAL_ERR_NOT_FOUND when the body is well formed but has no such field. */
petal_status petal_multipart_find(const uint8_t *body, size_t len, const char *boundary,
                                  const char *field, const char *name, const uint8_t **data,
                                  size_t *data_len, petal_error *err);

#endif
