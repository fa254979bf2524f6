/* fuzz_scrape_json.c - libFuzzer target: the JSON result-page parsers of `petal scrape`
 * (MediaWiki Action API and iNaturalist API v1) on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "scrape/scrape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    petal_scrape_page page = {0};
    petal_error err;
    petal_scrape_parse_wikimedia((const char *)data, size, "fuzz", &page, &err);
    for (size_t i = 0; i < page.count; i++) /* every result is a usable string set */
        if (strncmp(page.items[i].image_url, "http", 4) != 0 || !page.items[i].licence)
            __builtin_trap();
    petal_scrape_page_free(&page);
    petal_scrape_parse_inaturalist((const char *)data, size, "fuzz", &page, &err);
    for (size_t i = 0; i < page.count; i++) {
        const char *lic = page.items[i].licence;
        if (strncmp(page.items[i].image_url, "http", 4) != 0 || !page.items[i].author)
            __builtin_trap();
        /* only openly licensed photos ever come out */
        if (strcasecmp(lic, "cc0") != 0 && strcasecmp(lic, "cc-by") != 0 &&
            strcasecmp(lic, "cc-by-sa") != 0)
            __builtin_trap();
    }
    petal_scrape_page_free(&page);
    return 0;
}
