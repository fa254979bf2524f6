/* cmd_scrape.c - `petal scrape`: collect labelled, licensed photos into a folder per label
 * (the successor of the old Google-Images scraper), see src/scrape/scrape.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "scrape/scrape.h"
#include "util/log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: petal scrape (--label NAME... | --labels a,b,c | --labels_file F) "
            "--image_dir DIR [flags]\n\n"
            "  --label NAME         a label (repeatable)\n"
            "  --labels LIST        comma-separated labels\n"
            "  --labels_file F      one label per line ('label | search terms', "
            "'alias = label', # comments)\n"
            "  --image_dir DIR      output: DIR/<label>/<image>, DIR/manifest.csv\n"
            "  --per_class N        images wanted per label (100)\n"
            "  --source LIST        wikimedia, inaturalist, bing, google; comma list filled in "
            "order (wikimedia)\n"
            "  --base_url URL       replaces the source endpoint (wikimedia: api.php URL; "
            "others: site root)\n"
            "  --concurrency N      downloads at once (8)\n"
            "  --per_host N         downloads at once per host (2)\n"
            "  --delay_ms N         pause between two requests to one host (100)\n"
            "  --timeout S          seconds per request (15)\n"
            "  --retries N          retries on timeouts, resets, 429 and 5xx (2)\n"
            "  --max_bytes N        largest download in bytes (20971520)\n"
            "  --max_redirects N    redirects followed (5; 0 = none)\n"
            "  --user_agent TEXT    User-Agent header; include a contact address\n"
            "  --min_size N         smallest width and height accepted (64)\n"
            "  --dhash_distance N   near duplicate at or below this dHash distance (4; -1 off)\n"
            "  --max_pages N        result pages per label and source (20)\n"
            "  --per_page N         results asked per page (50; wikimedia: 50 at most)\n"
            "  --dry_run            list what would be fetched, download nothing\n"
            "  --log_level L        error, warn, info, debug (info)\n");
}

static int add_labels(petal_scrape_labels *labels, const char *list, const char *flag, int split)
{
    char *copy = strdup(list);
    petal_error err;
    int rc = 0;
    if (!copy)
        return -1;
    char *save = NULL;
    for (char *t = split ? strtok_r(copy, ",", &save) : copy; t && rc == 0;
         t = split ? strtok_r(NULL, ",", &save) : NULL) {
        if (strchr(t, '|') || strchr(t, '=') || strchr(t, '#') ||
            petal_scrape_labels_add_line(labels, t, flag, &err) != PETAL_OK) {
            fprintf(stderr, "petal: error: %s: '%s' is not a usable label\n", flag, t);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

int petal_cmd_scrape(int argc, char **argv)
{
    petal_scrape_labels labels = {0};
    petal_scrape_options o = {0};
    const char *labels_file = NULL, *v = NULL;
    long n;
    int rc = 2, b;
    petal_log_set_level(PETAL_LOG_INFO); /* the progress bar and per-label lines are the product */
    o.labels = &labels;
    o.per_class = 100;
    o.min_size = 64;
    o.dhash_distance = 4;
    o.max_pages = 20;
    o.per_page = 50;
    o.sources = "wikimedia";
    o.http.concurrency = 8;
    o.http.per_host = 2;
    o.http.delay_ms = 100;
    o.http.timeout_s = 15;
    o.http.retries = 2;
    o.http.max_redirects = 5;
    o.http.max_bytes = 20LL * 1024 * 1024;

    for (int i = 1; i < argc; i++) {
        int m;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            petal_scrape_labels_free(&labels);
            return 0;
        }
#define INT_FLAG(name, lo, hi, dst)                                                                \
    if ((m = petal_flag_value(argc, argv, &i, name, &v)) != 0) {                                   \
        if (m < 0 || petal_parse_int(name, v, lo, hi, &n) != 0)                                    \
            goto out;                                                                              \
        dst = n;                                                                                   \
        continue;                                                                                  \
    }
        INT_FLAG("per_class", 1, 1000000, o.per_class)
        INT_FLAG("concurrency", 1, 256, o.http.concurrency)
        INT_FLAG("per_host", 1, 64, o.http.per_host)
        INT_FLAG("delay_ms", 0, 600000, o.http.delay_ms)
        INT_FLAG("timeout", 1, 3600, o.http.timeout_s)
        INT_FLAG("retries", 0, 20, o.http.retries)
        INT_FLAG("max_bytes", 1024, 2147483647L, o.http.max_bytes)
        INT_FLAG("max_redirects", 0, 50, o.http.max_redirects)
        INT_FLAG("min_size", 1, 100000, o.min_size)
        INT_FLAG("dhash_distance", -1, 64, o.dhash_distance)
        INT_FLAG("max_pages", 1, 100000, o.max_pages)
        INT_FLAG("per_page", 1, 500, o.per_page)
#undef INT_FLAG
        if ((m = petal_flag_value(argc, argv, &i, "labels_file", &v)) != 0) {
            if (m < 0)
                goto out;
            labels_file = v;
        } else if ((m = petal_flag_value(argc, argv, &i, "labels", &v)) != 0) {
            if (m < 0 || add_labels(&labels, v, "--labels", 1) != 0)
                goto out;
        } else if ((m = petal_flag_value(argc, argv, &i, "label", &v)) != 0) {
            if (m < 0 || add_labels(&labels, v, "--label", 0) != 0)
                goto out;
        } else if ((m = petal_flag_value(argc, argv, &i, "image_dir", &v)) != 0) {
            if (m < 0)
                goto out;
            o.image_dir = v;
        } else if ((m = petal_flag_value(argc, argv, &i, "source", &v)) != 0) {
            if (m < 0)
                goto out;
            o.sources = v;
        } else if ((m = petal_flag_value(argc, argv, &i, "base_url", &v)) != 0) {
            if (m < 0)
                goto out;
            o.base_url = v;
        } else if ((m = petal_flag_value(argc, argv, &i, "user_agent", &v)) != 0) {
            if (m < 0)
                goto out;
            o.http.user_agent = v;
        } else if ((m = petal_flag_value(argc, argv, &i, "log_level", &v)) != 0) {
            petal_log_level level;
            if (m < 0 || petal_log_parse_level(v, &level) != 0) {
                fprintf(stderr, "petal: error: --log_level: use error, warn, info or debug\n");
                goto out;
            }
            petal_log_set_level(level);
        } else if ((m = petal_flag_bool(argc, argv, &i, "dry_run", &b)) != 0) {
            if (m < 0)
                goto out;
            o.dry_run = b;
        } else {
            petal_flag_unknown("scrape", argv[i]);
            goto out;
        }
    }
    if (o.http.max_redirects == 0)
        o.http.max_redirects = -1; /* --max_redirects 0: follow none (0 in the struct = default) */
    petal_error err;
    if (labels_file && petal_scrape_labels_load(&labels, labels_file, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    if (labels.count == 0 || !o.image_dir) {
        fprintf(stderr, "petal: error: scrape needs labels (--label, --labels or --labels_file) "
                        "and --image_dir (see petal scrape --help)\n");
        goto out;
    }

    if (!o.http.user_agent && !o.base_url)
        petal_warn("no --user_agent given: please set one with a contact address (e.g. "
                   "\"myshop-photos/1.0 (ops@myshop.example)\"); Wikimedia asks for it");

    petal_scrape_summary sum;
    petal_status st = petal_scrape_run(&o, &sum, &err);
    if (st != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        petal_scrape_summary_free(&sum);
        rc = st == PETAL_ERR_ARG ? 2 : 1;
        goto out;
    }
    petal_scrape_summary_print(&sum, o.dry_run ? stderr : stdout);
    rc = 0;
    for (size_t i = 0; i < sum.count; i++)
        if (sum.labels[i].got == 0) {
            fprintf(stderr, "petal: error: label '%s' got no images\n", sum.labels[i].name);
            rc = 1;
        }
    petal_scrape_summary_free(&sum);
out:
    petal_scrape_labels_free(&labels);
    return rc;
}
