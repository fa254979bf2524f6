/* fuzz_multipart.c - libFuzzer target for the multipart/form-data parser behind `petal serve`'s
 * POST /v1/classify. Input: a Content-Type header value, a newline, then the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl == NULL)
        return 0;
    size_t type_len = (size_t)(nl - data);
    char *type = malloc(type_len + 1);
    memcpy(type, data, type_len);
    type[type_len] = '\0';

    /* The body in its own allocation, so reads past its end are caught. */
    size_t body_len = size - type_len - 1;
    uint8_t *body = malloc(body_len ? body_len : 1);
    memcpy(body, nl + 1, body_len);

    char boundary[PETAL_MULTIPART_MAX_BOUNDARY + 1];
    petal_error err;
    if (petal_multipart_is_form_data(type) &&
        petal_multipart_boundary(type, boundary, &err) == PETAL_OK) {
        const uint8_t *field;
        size_t field_len;
        if (petal_multipart_find(body, body_len, boundary, "image", "fuzz", &field, &field_len,
                                 &err) == PETAL_OK) {
            if (field < body || field + field_len > body + body_len)
                abort();
        }
    }
    free(body);
    free(type);
    return 0;
}
