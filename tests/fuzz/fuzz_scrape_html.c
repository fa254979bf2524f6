/* fuzz_scrape_html.c - libFuzzer target: the HTML result-page parsers of `petal scrape` (Bing's
 * `m` attributes, Google's img tags and script arrays) and the HTML text helpers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scrape/scrape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    petal_scrape_page page = {0};
    petal_error err;
    petal_scrape_parse_bing((const char *)data, size, "fuzz", &page, &err);
    petal_scrape_page_free(&page);
    petal_scrape_parse_google((const char *)data, size, "fuzz", &page, &err);
    for (size_t i = 0; i < page.count; i++)
        if (strncmp(page.items[i].image_url, "http", 4) != 0)
            __builtin_trap();
    petal_scrape_page_free(&page);

    char *s = petal_scrape_html_unescape((const char *)data, size);
    if (s) {
        char *t = petal_scrape_html_to_text(s);
        char *u = petal_scrape_url_escape(s);
        free(t);
        free(u);
    }
    free(s);
    return 0;
}
