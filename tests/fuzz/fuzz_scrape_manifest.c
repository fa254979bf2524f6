/* fuzz_scrape_manifest.c - libFuzzer target: manifest.csv parsing (RFC 4180) and the
 * format -> parse round trip of every entry it yields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scrape/scrape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    petal_manifest m = {0};
    petal_error err;
    size_t skipped;
    petal_manifest_parse((const char *)data, size, &m, &skipped, &err);
    for (size_t i = 0; i < m.count; i++) {
        char *line = petal_manifest_format(&m.items[i]);
        if (!line)
            continue;
        petal_manifest again = {0};
        petal_manifest_parse(line, strlen(line), &again, &skipped, &err);
        /* A formatted line always parses back to one entry with the same file and size. */
        if (again.count != 1 || strcmp(again.items[0].file, m.items[i].file) != 0 ||
            again.items[0].width != m.items[i].width)
            __builtin_trap();
        petal_manifest_free(&again);
        free(line);
    }
    petal_manifest_free(&m);
    return 0;
}
