/* test_scrape_parse.c - unit tests for src/scrape's pure parts: label names, labels files,
 * result-page parsers of every source, the manifest CSV and the dHash. */
#include "common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scrape/scrape.h"
#include "util/fs.h"

static void test_label_names(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(petal_scrape_label_canonical("Queen Anne's Lace", out, sizeof out), 0);
    assert_string_equal(out, "queen annes lace");
    assert_int_equal(petal_scrape_label_folder("Queen Anne's Lace", out, sizeof out), 0);
    assert_string_equal(out, "queen_annes_lace");
    assert_int_equal(petal_scrape_label_folder("  bird   of--paradise ", out, sizeof out), 0);
    assert_string_equal(out, "bird_of_paradise");
    /* Nothing that could leave image_dir survives. */
    assert_int_equal(petal_scrape_label_folder("../../etc/passwd", out, sizeof out), 0);
    assert_string_equal(out, "etc_passwd");
    assert_int_equal(petal_scrape_label_folder("a\x01\x1b/b", out, sizeof out), 0);
    assert_string_equal(out, "a_b");
    assert_int_equal(petal_scrape_label_folder("..", out, sizeof out), -1);
    assert_int_equal(petal_scrape_label_folder("/", out, sizeof out), -1);
    assert_int_equal(petal_scrape_label_folder("", out, sizeof out), -1);
}

static void test_labels_file_syntax(void **state)
{
    (void)state;
    petal_scrape_labels l = {0};
    petal_error err;
    assert_int_equal(petal_scrape_labels_add_line(&l, "# comment", "f:1", &err), PETAL_OK);
    assert_int_equal(petal_scrape_labels_add_line(&l, "snapdragon", "f:2", &err), PETAL_OK);
    assert_int_equal(petal_scrape_labels_add_line(&l, "anemomne | anemone flower\r", "f:3", &err),
                     PETAL_OK);
    assert_int_equal(petal_scrape_labels_add_line(&l, "snapdragons = snapdragon", "f:4", &err),
                     PETAL_OK);
    assert_int_equal(petal_scrape_labels_add_line(&l, "Snapdragon  # again", "f:5", &err),
                     PETAL_OK);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.items[1].name, "anemomne");
    assert_string_equal(l.items[1].folder, "anemomne");
    assert_string_equal(l.items[1].query, "anemone flower");
    assert_int_equal(petal_scrape_labels_add_line(&l, "x = nothing", "f:6", &err), PETAL_ERR_ARG);
    assert_non_null(strstr(err.msg, "f:6"));
    assert_int_equal(petal_scrape_labels_add_line(&l, "../..", "f:7", &err), PETAL_ERR_ARG);
    petal_scrape_labels_free(&l);

    /* A file: control characters and path parts become separators; a NUL byte refuses it. */
    char *dir = petal_test_tmpdir("scrape-labels");
    char *path = petal_path_join(dir, "labels.txt");
    static const char ok_text[] = "../../etc/passwd\r\nsweet\tpea\x1b[1m\n\n.hidden/../x\n";
    petal_test_write(path, ok_text, sizeof ok_text - 1);
    assert_int_equal(petal_scrape_labels_load(&l, path, &err), PETAL_OK);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.items[0].folder, "etc_passwd");
    assert_string_equal(l.items[1].folder, "sweet_pea_1m");
    assert_string_equal(l.items[2].folder, "hidden_x");
    petal_scrape_labels_free(&l);
    static const char nul_text[] = "rose\nli\0ly\n";
    petal_test_write(path, nul_text, sizeof nul_text - 1);
    assert_int_equal(petal_scrape_labels_load(&l, path, &err), PETAL_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "NUL byte"));
    assert_int_equal(l.count, 0);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(path);
    free(dir);
}

static const char wikimedia_json[] =
    "{\"batchcomplete\":true,\"continue\":{\"gsroffset\":2,\"continue\":\"gsroffset||\"},"
    "\"query\":{\"pages\":["
    "{\"pageid\":7,\"ns\":6,\"title\":\"File:Second.jpg\",\"index\":2,\"imageinfo\":[{"
    "\"url\":\"https://up.example/b.jpg\",\"descriptionurl\":\"https://c.example/File:Second\","
    "\"mime\":\"image/jpeg\",\"width\":800,\"height\":600}]},"
    "{\"pageid\":5,\"ns\":6,\"title\":\"File:First.png\",\"index\":1,\"imageinfo\":[{"
    "\"url\":\"https://up.example/a.png\",\"thumburl\":\"https://up.example/thumb/a.png\","
    "\"descriptionurl\":\"https://c.example/File:First\",\"mime\":\"image/png\","
    "\"extmetadata\":{\"LicenseShortName\":{\"value\":\"CC BY-SA 4.0\"},"
    "\"Artist\":{\"value\":\"<a href=\\\"//x\\\">Ann &amp; Bo</a>\\n \"}}}]},"
    "{\"pageid\":9,\"ns\":6,\"title\":\"File:Clip.ogg\",\"index\":3,\"imageinfo\":[{"
    "\"url\":\"https://up.example/c.ogg\",\"mime\":\"audio/ogg\"}]}]}}";

static void test_parse_wikimedia(void **state)
{
    (void)state;
    petal_scrape_page p = {0};
    petal_error err;
    assert_int_equal(
        petal_scrape_parse_wikimedia(wikimedia_json, strlen(wikimedia_json), "wm", &p, &err),
        PETAL_OK);
    assert_int_equal(p.count, 2);
    assert_string_equal(p.items[0].image_url, "https://up.example/thumb/a.png");
    assert_string_equal(p.items[0].page_url, "https://c.example/File:First");
    assert_string_equal(p.items[0].licence, "CC BY-SA 4.0");
    assert_string_equal(p.items[0].author, "Ann & Bo");
    assert_string_equal(p.items[1].licence, "unknown");
    assert_non_null(p.next);
    assert_string_equal(p.next, "&gsroffset=2&continue=gsroffset%7C%7C");
    petal_scrape_page_free(&p);
    assert_int_equal(
        petal_scrape_parse_wikimedia("{\"error\":{\"info\":\"bad\"}}", 24, "wm", &p, &err),
        PETAL_ERR_FORMAT);
    assert_int_equal(petal_scrape_parse_wikimedia("{\"query\":", 9, "wm", &p, &err),
                     PETAL_ERR_FORMAT);
    petal_scrape_page_free(&p);

    const petal_scrape_source *s = petal_scrape_source_find("wikimedia");
    char *url = s->page_url("http://h/w/api.php", "sweet pea", 1, 20, "&gsroffset=20");
    assert_non_null(strstr(url, "gsrsearch=sweet%20pea%20filetype%3Abitmap"));
    assert_non_null(strstr(url, "generator=search&gsrnamespace=6"));
    assert_non_null(strstr(url, "formatversion=2"));
    assert_non_null(strstr(url, "&gsroffset=20"));
    assert_non_null(strstr(url, "&gsrlimit=20&"));
    assert_non_null(strstr(url, "iiprop=url%7Csize%7Cmime%7Cextmetadata&iiurlwidth="));
    free(url);
    url = s->page_url("http://h/w/api.php", "rose", 0, 200, NULL); /* thumbnails: 50 at most */
    assert_non_null(strstr(url, "&gsrlimit=50&"));
    free(url);
}

static void test_parse_inaturalist(void **state)
{
    (void)state;
    const char *j =
        "{\"total_results\":3,\"page\":1,\"per_page\":2,\"results\":["
        "{\"id\":1,\"uri\":\"https://inat.example/observations/1\",\"taxon\":{\"name\":\"Viola\","
        "\"preferred_common_name\":\"Pansy\"},\"photos\":["
        "{\"id\":10,\"license_code\":\"cc-by\",\"attribution\":\"(c) Kim, some rights reserved\","
        "\"url\":\"https://img.example/photos/10/square.jpeg\"},"
        "{\"id\":11,\"license_code\":null,\"url\":\"https://img.example/photos/11/square.jpg\"},"
        "{\"id\":12,\"license_code\":\"cc-by-nc\",\"url\":\"https://img.example/photos/12/"
        "square.jpg\"},"
        "{\"id\":13,\"license_code\":\"CC-BY-SA\",\"url\":\"https://img.example/photos/13/"
        "square.png\"}]},"
        "{\"id\":2,\"photos\":[]}]}";
    petal_scrape_page p = {0};
    petal_error err;
    assert_int_equal(petal_scrape_parse_inaturalist(j, strlen(j), "inat", &p, &err), PETAL_OK);
    assert_int_equal(p.count, 2); /* no licence and non-commercial (cc-by-nc) skipped */
    assert_string_equal(p.items[0].image_url, "https://img.example/photos/10/medium.jpeg");
    assert_string_equal(p.items[1].image_url, "https://img.example/photos/13/medium.png");
    assert_string_equal(p.items[0].licence, "cc-by");
    assert_string_equal(p.items[0].author, "(c) Kim, some rights reserved");
    assert_string_equal(p.items[0].title, "Pansy");
    assert_non_null(p.next);
    petal_scrape_page_free(&p);
    assert_int_equal(petal_scrape_parse_inaturalist("[1,2]", 5, "inat", &p, &err),
                     PETAL_ERR_FORMAT);
    const petal_scrape_source *s = petal_scrape_source_find("inaturalist");
    char *url = s->page_url("http://h:1/", "bird of paradise", 2, 30, NULL);
    assert_non_null(strstr(url, "http://h:1/v1/observations?taxon_name=bird%20of%20paradise"));
    assert_non_null(strstr(url, "quality_grade=research"));
    assert_non_null(strstr(url, "&page=3"));
    free(url);
}

static void test_parse_bing_and_google(void **state)
{
    (void)state;
    const char *bing =
        "<html><div><a class=\"iusc\" style=\"x\" m=\"{&quot;murl&quot;:&quot;https://a.example/"
        "1.jpg&quot;,&quot;purl&quot;:&quot;https://a.example/p1&quot;,&quot;t&quot;:&quot;Red "
        "&amp;amp; pink&quot;}\" href=\"/x\">"
        "<a class='other iusc' m='{\"murl\":\"http://b.example/2.png\"}'>"
        "<a class=\"iuscx\" m=\"{&quot;murl&quot;:&quot;https://c.example/3.jpg&quot;}\">"
        "<a class=\"iusc\" m=\"{&quot;murl&quot;:&quot;javascript:alert(1)&quot;}\">"
        "<a class=\"iusc\" m=\"{broken\"></div>";
    petal_scrape_page p = {0};
    petal_error err;
    assert_int_equal(petal_scrape_parse_bing(bing, strlen(bing), "bing", &p, &err), PETAL_OK);
    assert_int_equal(p.count, 2);
    assert_string_equal(p.items[0].image_url, "https://a.example/1.jpg");
    assert_string_equal(p.items[0].page_url, "https://a.example/p1");
    assert_string_equal(p.items[0].title, "Red & pink");
    assert_string_equal(p.items[0].licence, "unknown");
    assert_string_equal(p.items[1].image_url, "http://b.example/2.png");
    petal_scrape_page_free(&p);

    const char *google =
        "<html><img src=\"https://www.gstatic.com/logo.png\"><img alt=\"pansy\" "
        "data-src=\"https://d.example/t.jpg?a=1&amp;b=2\" src=\"data:image/gif;base64,R0l\">"
        "<script>var x=[\"https://e.example/full\\u003d1.jpg\",1200,800],y=[\"https://"
        "encrypted-tbn0.gstatic.com/images?q\",10,10];</script></html>";
    assert_int_equal(petal_scrape_parse_google(google, strlen(google), "g", &p, &err), PETAL_OK);
    assert_int_equal(p.count, 2);
    assert_string_equal(p.items[0].image_url, "https://e.example/full=1.jpg");
    assert_string_equal(p.items[1].image_url, "https://d.example/t.jpg?a=1&b=2");
    assert_string_equal(p.items[1].title, "pansy");
    petal_scrape_page_free(&p);
    assert_int_equal(petal_scrape_parse_google("", 0, "g", &p, &err), PETAL_OK);
    assert_int_equal(p.count, 0);
    assert_null(p.next);
}

static void test_html_helpers(void **state)
{
    (void)state;
    char *s = petal_scrape_html_unescape("a&amp;b&#39;c&#x41;&bogus;&", 27);
    assert_string_equal(s, "a&b'cA&bogus;&");
    free(s);
    s = petal_scrape_html_to_text("<span class=\"x\">Jo\n  Bloggs</span> &lt;3");
    assert_string_equal(s, "Jo Bloggs <3");
    free(s);
}

static void test_manifest_roundtrip(void **state)
{
    (void)state;
    petal_manifest_entry e = {"queen annes lace",
                              "queen_annes_lace/ab.jpg",
                              "ab",
                              640,
                              480,
                              "wikimedia",
                              "https://x/a,b.jpg",
                              "",
                              "CC BY 4.0",
                              "Jo \"JJ\" Smith\nline2",
                              "2026-12-03T18:00:00Z"};
    char *line = petal_manifest_format(&e);
    assert_string_equal(line, "queen annes lace,queen_annes_lace/ab.jpg,ab,640,480,wikimedia,"
                              "\"https://x/a,b.jpg\",,CC BY 4.0,\"Jo \"\"JJ\"\" Smith line2\","
                              "2026-12-03T18:00:00Z\n");
    size_t n = strlen(PETAL_MANIFEST_HEADER) + strlen(line) * 2 + 64;
    char *text = malloc(n);
    snprintf(text, n, "%s\r\n%sbad,line\n\"unterminated,%s", PETAL_MANIFEST_HEADER, line, line);
    petal_manifest m = {0};
    size_t skipped = 0;
    petal_error err;
    assert_int_equal(petal_manifest_parse(text, strlen(text), &m, &skipped, &err), PETAL_OK);
    assert_int_equal(m.count, 1);
    assert_int_equal(skipped, 2);
    assert_string_equal(m.items[0].image_url, "https://x/a,b.jpg");
    assert_string_equal(m.items[0].author, "Jo \"JJ\" Smith line2");
    assert_int_equal(m.items[0].height, 480);
    petal_manifest_free(&m);
    free(text);
    free(line);
}

static void test_dhash(void **state)
{
    (void)state;
    uint8_t px[64 * 48 * 3];
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++)
            for (int c = 0; c < 3; c++)
                px[(y * 64 + x) * 3 + c] = (uint8_t)(x * 3 + y);
    petal_image a = {64, 48, px};
    uint64_t h1, h2;
    petal_error err;
    assert_int_equal(petal_scrape_dhash(&a, &h1, &err), PETAL_OK);
    assert_int_equal(h1, 0); /* brightness rises left to right: no bit set */
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(255 - px[i]);
    assert_int_equal(petal_scrape_dhash(&a, &h2, &err), PETAL_OK);
    assert_int_equal(petal_scrape_hamming(h1, h2), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_names),           cmocka_unit_test(test_labels_file_syntax),
        cmocka_unit_test(test_parse_wikimedia),       cmocka_unit_test(test_parse_inaturalist),
        cmocka_unit_test(test_parse_bing_and_google), cmocka_unit_test(test_html_helpers),
        cmocka_unit_test(test_manifest_roundtrip),    cmocka_unit_test(test_dhash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
