/* testutil.h - helpers shared by petal's cmocka tests: finding the shared models and photo
 * sets, temporary folders under build/, and skipping (or, under CI=true, failing) when a
 * real model or photo set is missing. Include after <cmocka.h>'s prerequisites. */
#ifndef PETAL_TESTS_TESTUTIL_H
#define PETAL_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Path of a file from the shared models folder ($PETAL_MODEL_DIR, ./models, ../shared/models),
 * or NULL. The result is a static buffer per call site's argument; copy it to keep it. */
const char *petal_test_model_path(const char *file);

/* Path of a photo set folder under $PETAL_DATA_DIR or ../shared/data, or NULL. */
const char *petal_test_data_path(const char *set);

/* 1 when running in CI (CI=true), where a missing model or photo set is a failure. */
int petal_test_in_ci(void);

/* A fresh, empty folder build/test-tmp/<name>-<pid>; the caller frees the string. */
char *petal_test_tmpdir(const char *name);

/* Removes a folder tree (for tmpdirs). */
void petal_test_rmtree(const char *path);

/* Writes bytes to a file, failing the test on error. */
void petal_test_write(const char *path, const void *data, size_t len);

/* Finds a shared model or skips the test (fails it under CI=true), saying which file. */
#define PETAL_REQUIRE_MODEL(var, file)                                                             \
    const char *var = petal_test_model_path(file);                                                 \
    do {                                                                                           \
        if (var == NULL) {                                                                         \
            if (petal_test_in_ci())                                                                \
                fail_msg("model %s not found (CI=true: a missing model is a failure)", file);      \
            print_message("skip: model %s not found (set PETAL_MODEL_DIR)\n", file);               \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

#define PETAL_REQUIRE_DATA(var, set)                                                               \
    const char *var = petal_test_data_path(set);                                                   \
    do {                                                                                           \
        if (var == NULL) {                                                                         \
            if (petal_test_in_ci())                                                                \
                fail_msg("photo set %s not found (CI=true: a missing set is a failure)", set);     \
            print_message("skip: photo set %s not found (set PETAL_DATA_DIR)\n", set);             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

#endif
