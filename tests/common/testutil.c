/* testutil.c - locating shared test assets and managing temporary folders for tests. */
#include "common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"

static const char *find_in(const char *env, const char *const *dirs, const char *file)
{
    static __thread char buf[4][1024];
    static __thread int next;
    char *out = buf[next++ % 4];
    const char *e = getenv(env);
    if (e && *e) {
        snprintf(out, sizeof buf[0], "%s/%s", e, file);
        if (access(out, R_OK) == 0)
            return out;
    }
    for (int i = 0; dirs[i]; i++) {
        snprintf(out, sizeof buf[0], "%s/%s", dirs[i], file);
        if (access(out, R_OK) == 0)
            return out;
    }
    return NULL;
}

const char *petal_test_model_path(const char *file)
{
    static const char *const dirs[] = {"models", "../shared/models", NULL};
    return find_in("PETAL_MODEL_DIR", dirs, file);
}

const char *petal_test_data_path(const char *set)
{
    static const char *const dirs[] = {"data", "../shared/data", NULL};
    return find_in("PETAL_DATA_DIR", dirs, set);
}

int petal_test_in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

char *petal_test_tmpdir(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "build/test-tmp/%s-%d", name, (int)getpid());
    petal_test_rmtree(path);
    petal_error err;
    if (petal_mkdirs(path, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    return strdup(path);
}

void petal_test_rmtree(const char *path)
{
    char cmd[1200];
    if (strchr(path, '\'') != NULL)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", path);
}

void petal_test_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("cannot write %s", path);
    if (len && fwrite(data, 1, len, f) != len)
        fail_msg("short write to %s", path);
    fclose(f);
}
