/* test_cache.c - bottleneck cache entries: round trip, torn and corrupt entries detected,
 * naming by content, no temporary files left behind. */
#include "common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cache.h"
#include "util/fs.h"

static void test_roundtrip_and_damage(void **state)
{
    (void)state;
    char *dir = petal_test_tmpdir("cache");
    const char *model = "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776";
    const char *image = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char *path = petal_bottleneck_path(dir, model, image, "");
    char *want = malloc(strlen(dir) + 128);
    sprintf(want, "%s/7aad0c74c5e3c06e/01/%s.bn", dir, image);
    assert_string_equal(path, want);
    free(want);
    char *dpath = petal_bottleneck_path(dir, model, image, "-dabc-3");
    assert_non_null(strstr(dpath, image));
    assert_non_null(strstr(dpath, "-dabc-3.bn"));

    float v[1280], back[1280];
    for (int i = 0; i < 1280; i++)
        v[i] = (float)i * 0.25f - 7.0f;
    petal_error err;
    assert_int_equal(petal_bottleneck_read(path, 1280, back, &err), PETAL_ERR_NOT_FOUND);
    assert_int_equal(petal_bottleneck_write(path, v, 1280, &err), PETAL_OK);
    assert_int_equal(petal_bottleneck_read(path, 1280, back, &err), PETAL_OK);
    assert_memory_equal(v, back, sizeof v);
    /* Wrong expected length (another backbone's width) is a format error. */
    assert_int_equal(petal_bottleneck_read(path, 1024, back, &err), PETAL_ERR_FORMAT);

    /* No temporary files remain next to the entry. */
    char *sub = petal_path_join(dir, "7aad0c74c5e3c06e/01");
    char **names;
    size_t count;
    assert_int_equal(petal_list_dir(sub, &names, &count, &err), PETAL_OK);
    assert_int_equal(count, 1);
    petal_free_list(names, count);

    uint8_t *data;
    size_t len;
    assert_int_equal(petal_read_file(path, 0, &data, &len, &err), PETAL_OK);
    assert_int_equal(len, 24 + 4 * 1280);
    /* Torn: every truncation is rejected. */
    for (size_t cut = 0; cut < len; cut += 97) {
        petal_test_write(path, data, cut);
        assert_int_equal(petal_bottleneck_read(path, 1280, back, &err), PETAL_ERR_FORMAT);
        assert_non_null(strstr(err.msg, path));
    }
    /* Corrupt: a flipped bit anywhere is rejected. */
    for (size_t at = 0; at < len; at += 131) {
        data[at] ^= 0x10;
        assert_int_equal(petal_bottleneck_decode(data, len, 1280, back, "x", &err),
                         PETAL_ERR_FORMAT);
        data[at] ^= 0x10;
    }
    /* Too long: rejected too. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, data, len);
    longer[len] = 0;
    petal_test_write(path, longer, len + 1);
    assert_int_equal(petal_bottleneck_read(path, 1280, back, &err), PETAL_ERR_FORMAT);
    assert_int_equal(petal_bottleneck_decode(data, len, 1280, back, "x", &err), PETAL_OK);
    free(longer);
    free(data);
    free(sub);
    free(path);
    free(dpath);
    petal_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roundtrip_and_damage)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
