/* test_util.c - unit tests for src/util: errors, atomic writes, folder listing, hashes. */
#include "common/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/hash.h"
#include "util/status.h"

static void test_error_set_is_one_line(void **state)
{
    (void)state;
    petal_error err;
    assert_int_equal(petal_error_set(&err, PETAL_ERR_FORMAT, "a.jpg: bad\nthing %d", 3),
                     PETAL_ERR_FORMAT);
    assert_string_equal(err.msg, "a.jpg: bad thing 3");
    petal_error_prefix(&err, "run");
    assert_string_equal(err.msg, "run: a.jpg: bad thing 3");
    assert_int_equal(petal_error_set(NULL, PETAL_ERR_IO, "ignored"), PETAL_ERR_IO);
}

static void test_atomic_write_and_read(void **state)
{
    (void)state;
    char *dir = petal_test_tmpdir("util");
    char *path = petal_path_join(dir, "sub/deeper");
    petal_error err;
    assert_int_equal(petal_mkdirs(path, &err), PETAL_OK);
    char *file = petal_path_join(path, "f.bin");
    assert_int_equal(petal_write_file_atomic(file, "hello", 5, &err), PETAL_OK);
    assert_int_equal(petal_write_file_atomic(file, "bye", 3, &err), PETAL_OK);
    uint8_t *data;
    size_t len;
    assert_int_equal(petal_read_file(file, 0, &data, &len, &err), PETAL_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "bye", 3);
    free(data);
    assert_int_equal(petal_read_file(file, 2, &data, &len, &err), PETAL_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "f.bin"));
    char **names;
    size_t n;
    assert_int_equal(petal_list_dir(path, &names, &n, &err), PETAL_OK);
    assert_int_equal(n, 1); /* no temporary file left behind */
    assert_string_equal(names[0], "f.bin");
    petal_free_list(names, n);
    assert_int_equal(petal_read_file("build/no/such/file", 0, &data, &len, &err),
                     PETAL_ERR_NOT_FOUND);
    petal_test_rmtree(dir);
    free(file);
    free(path);
    free(dir);
}

static void test_hashes(void **state)
{
    (void)state;
    char sha1[PETAL_SHA1_HEX], sha256[PETAL_SHA256_HEX];
    petal_sha1_hex("abc", 3, sha1);
    assert_string_equal(sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
    petal_sha256_hex("abc", 3, sha256);
    assert_string_equal(sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_path_join(void **state)
{
    (void)state;
    char *p = petal_path_join("a/", "b");
    assert_string_equal(p, "a/b");
    free(p);
    p = petal_path_join("a", "b");
    assert_string_equal(p, "a/b");
    free(p);
    assert_string_equal(petal_path_basename("x/y/z.jpg"), "z.jpg");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_is_one_line),
        cmocka_unit_test(test_atomic_write_and_read),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_path_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
