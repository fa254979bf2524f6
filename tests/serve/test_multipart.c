/* test_multipart.c - the multipart/form-data field finder behind POST /v1/classify. */
#include "common/testutil.h"
#include "serve/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static petal_status find(const char *body, const char *field, const char **data, size_t *len,
                         petal_error *err)
{
    const uint8_t *d;
    petal_status st = petal_multipart_find((const uint8_t *)body, strlen(body), "XyZ", field, "req",
                                           &d, len, err);
    *data = (const char *)d;
    return st;
}

static void test_boundary(void **state)
{
    (void)state;
    char b[PETAL_MULTIPART_MAX_BOUNDARY + 1];
    petal_error err;
    assert_int_equal(petal_multipart_boundary("multipart/form-data; boundary=abc-1", b, &err),
                     PETAL_OK);
    assert_string_equal(b, "abc-1");
    assert_int_equal(
        petal_multipart_boundary("Multipart/Form-Data;charset=x; BOUNDARY=\"a b:c\"", b, &err),
        PETAL_OK);
    assert_string_equal(b, "a b:c");
    assert_int_equal(petal_multipart_boundary("multipart/form-data", b, &err), PETAL_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no boundary"));
    assert_int_equal(petal_multipart_boundary("multipart/form-data; boundary=", b, &err),
                     PETAL_ERR_FORMAT);
    assert_int_equal(petal_multipart_boundary("multipart/form-data; boundary=\"abc", b, &err),
                     PETAL_ERR_FORMAT);
    assert_int_equal(petal_multipart_boundary("multipart/form-data; boundary=a<b", b, &err),
                     PETAL_ERR_FORMAT);
    char longer[200] = "multipart/form-data; boundary=";
    memset(longer + strlen(longer), 'x', 71);
    assert_int_equal(petal_multipart_boundary(longer, b, &err), PETAL_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "70"));

    assert_true(petal_multipart_is_form_data("multipart/form-data; boundary=x"));
    assert_true(petal_multipart_is_form_data(" MULTIPART/FORM-DATA"));
    assert_false(petal_multipart_is_form_data("multipart/form-datax"));
    assert_false(petal_multipart_is_form_data("application/x-www-form-urlencoded"));
    assert_false(petal_multipart_is_form_data(NULL));
}

static void test_find_field(void **state)
{
    (void)state;
    const char *body = "preamble\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"top_k\"\r\n"
                       "\r\n"
                       "3\r\n"
                       "--XyZ  \r\n"
                       "content-disposition: form-data; filename=\"r.jpg\"; name=image\r\n"
                       "Content-Type: image/jpeg\r\n"
                       "\r\n"
                       "\xff\xd8 binary\r\n--Xy not yet\r\n"
                       "--XyZ--\r\n";
    const char *data;
    size_t len;
    petal_error err;
    assert_int_equal(find(body, "image", &data, &len, &err), PETAL_OK);
    assert_int_equal(len, strlen("\xff\xd8 binary\r\n--Xy not yet"));
    assert_memory_equal(data, "\xff\xd8 binary\r\n--Xy not yet", len);
    assert_int_equal(find(body, "top_k", &data, &len, &err), PETAL_OK);
    assert_int_equal(len, 1);
    assert_int_equal(data[0], '3');
    assert_int_equal(find(body, "missing", &data, &len, &err), PETAL_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no field 'missing'"));
    /* "filename" is not "name". */
    assert_int_equal(find("--XyZ\r\nContent-Disposition: form-data; filename=\"image\"\r\n\r\n"
                          "x\r\n--XyZ--",
                          "image", &data, &len, &err),
                     PETAL_ERR_NOT_FOUND);
    /* An empty part and a part without headers. */
    assert_int_equal(find("--XyZ\r\n\r\nabc\r\n--XyZ\r\n"
                          "Content-Disposition: form-data; name=\"image\"\r\n\r\n\r\n--XyZ--",
                          "image", &data, &len, &err),
                     PETAL_OK);
    assert_int_equal(len, 0);
}

static void test_bad_bodies(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "no boundary here",
        "--XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n",
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nunterminated",
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\ndata\r\n--XyZ",
        "--XyZjunk\r\n\r\n\r\n--XyZ--",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *data;
        size_t len;
        petal_error err;
        petal_status st = find(bad[i], "image", &data, &len, &err);
        assert_int_equal(st, PETAL_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "req: multipart"));
        assert_null(data);
    }

    /* Every prefix of a good body is rejected or found, never read past its end (ASan). */
    const char *good = "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n"
                       "payload\r\n--XyZ--\r\n";
    for (size_t n = 0; n <= strlen(good); n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, good, n);
        const uint8_t *data;
        size_t len;
        petal_error err;
        petal_status st = petal_multipart_find(copy, n, "XyZ", "image", "req", &data, &len, &err);
        if (st == PETAL_OK)
            assert_memory_equal(data, "payload", 7);
        free(copy);
    }
}

static void test_too_many_parts(void **state)
{
    (void)state;
    size_t cap = 300 * 16 + 64, n = 0;
    char *body = malloc(cap);
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(body + n, cap - n, "--XyZ\r\n\r\nx\r\n");
    n += (size_t)snprintf(body + n, cap - n, "--XyZ--\r\n");
    const char *data;
    size_t len;
    petal_error err;
    assert_int_equal(find(body, "image", &data, &len, &err), PETAL_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "over 256 parts"));
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),
        cmocka_unit_test(test_find_field),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_too_many_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
