/* scrape.h - `petal scrape`: builds a folder-per-label photo set from the web, with provenance.
 *
 * Life of a photo: a label ("queen anne's lace") gets a folder name that `petal train` maps back
 * to the same label -> a source (wikimedia, inaturalist, bing, google) turns the label's search
 * terms and a page number into a result-page URL and parses the page into results (image URL,
 * page URL, title, licence, author) -> the HTTP client downloads candidates with libcurl's
 * multi interface (concurrency, per-host politeness, retries, byte and time limits) -> the bytes
 * are sniffed and decoded with petal's image decoder, too-small images are rejected, exact
 * (SHA-256) and near (dHash) duplicates are dropped within and across labels -> the file is
 * written under a temporary name, its line appended to image_dir/manifest.csv, then renamed.
 * A rerun first reconciles folder and manifest, then tops every label up to --per_class.
 */
#ifndef PETAL_SCRAPE_SCRAPE_H
#define PETAL_SCRAPE_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"
#include "util/status.h"

/* ---- labels ---------------------------------------------------------------------------- */

/* The label `petal train` derives from a folder name: lower case, every run of characters
 * outside [a-z0-9] turned into one space, trimmed. Apostrophes are dropped first (so
 * "queen anne's lace" -> "queen annes lace"). Writes at most n bytes (NUL included) into out
 * and returns 0, or -1 when nothing is left (e.g. "..", "/", "'''"). */
int petal_scrape_label_canonical(const char *label, char *out, size_t n);

/* The folder name for a label: its canonical form with spaces as '_' ("queen_annes_lace").
 * Never contains '/', "..", control characters or leading dots. Returns 0 or -1 as above. */
int petal_scrape_label_folder(const char *label, char *out, size_t n);

/* One label to collect: its canonical name, folder and the terms sent to the search. */
typedef struct petal_scrape_label {
    char *name;   /* canonical label, as `petal train` will call it */
    char *folder; /* folder under image_dir */
    char *query;  /* search terms (the label itself unless the labels file says otherwise) */
} petal_scrape_label;

typedef struct petal_scrape_labels {
    petal_scrape_label *items;
    size_t count;
    size_t cap;
} petal_scrape_labels;

/* Adds one labels-file line. Syntax (blank lines and '#' comments ignored):
 *     label                  search for the label itself
 *     label | search terms   folder named after label, search with other terms
 *     alias = label          alias is merged into label (no folder of its own)
 * A label whose canonical form already exists is merged into it (its query kept from the
 * first line). Fails with PETAL_ERR_ARG naming the line when a label has no letters or digits
 * or an alias points to an unknown label. where is used in messages ("flowers.txt:12"). */
petal_status petal_scrape_labels_add_line(petal_scrape_labels *labels, const char *line,
                                          const char *where, petal_error *err);

/* Reads a labels file (one entry per line as above). */
petal_status petal_scrape_labels_load(petal_scrape_labels *labels, const char *path,
                                      petal_error *err);

void petal_scrape_labels_free(petal_scrape_labels *labels);

/* ---- sources --------------------------------------------------------------------------- */

/* One search result: what to download and where it came from. All strings malloc'd. */
typedef struct petal_scrape_result {
    char *image_url;
    char *page_url; /* the page that shows the image ("" if unknown) */
    char *title;
    char *licence; /* "CC BY-SA 4.0", "cc-by", or "unknown" */
    char *author;  /* plain text, HTML stripped ("" if unknown) */
} petal_scrape_result;

/* One parsed result page. next is NULL when the source says there is nothing more; otherwise
 * it is extra query text for the next page request ("" when pages are simply numbered). */
typedef struct petal_scrape_page {
    petal_scrape_result *items;
    size_t count;
    size_t cap;
    char *next;
} petal_scrape_page;

/* A search source: builds result-page URLs and parses result pages. */
typedef struct petal_scrape_source {
    const char *name;
    const char *default_base; /* endpoint (wikimedia: api.php URL; others: site root) */
    /* Returns a new malloc'd URL for result page `page` (0-based) of query, per_page results
     * wanted, next = the previous page's next text (NULL on the first page). */
    char *(*page_url)(const char *base, const char *query, int page, int per_page,
                      const char *next);
    /* Parses a result page body into out (appending). name is used in messages. Never reads
     * outside body[0..len). Fails with PETAL_ERR_FORMAT on a page that is not the expected
     * kind (malformed JSON, an error object). */
    petal_status (*parse)(const char *body, size_t len, const char *name, petal_scrape_page *out,
                          petal_error *err);
} petal_scrape_source;

/* The source called name ("wikimedia", "inaturalist", "bing", "google"), or NULL. */
const petal_scrape_source *petal_scrape_source_find(const char *name);

/* The parsers, also exposed for tests and fuzzing. */
petal_status petal_scrape_parse_wikimedia(const char *body, size_t len, const char *name,
                                          petal_scrape_page *out, petal_error *err);
petal_status petal_scrape_parse_inaturalist(const char *body, size_t len, const char *name,
                                            petal_scrape_page *out, petal_error *err);
petal_status petal_scrape_parse_bing(const char *body, size_t len, const char *name,
                                     petal_scrape_page *out, petal_error *err);
petal_status petal_scrape_parse_google(const char *body, size_t len, const char *name,
                                       petal_scrape_page *out, petal_error *err);

void petal_scrape_page_free(petal_scrape_page *page);

/* Text helpers used by the parsers: decodes HTML character references (&amp; &quot; &#39;
 * &#x27; ...) and strips tags, collapsing whitespace. Both return new malloc'd strings. */
char *petal_scrape_html_unescape(const char *text, size_t len);
char *petal_scrape_html_to_text(const char *html);

/* Percent-encodes text for a URL query value (new malloc'd string). */
char *petal_scrape_url_escape(const char *text);

/* ---- HTTP ------------------------------------------------------------------------------ */

typedef struct petal_http_options {
    int concurrency;     /* transfers at once (default 8) */
    int per_host;        /* transfers at once per host (default 2) */
    int delay_ms;        /* pause between starting two requests to the same host */
    int timeout_s;       /* whole-request timeout in seconds (default 15) */
    int retries;         /* extra attempts on timeouts, resets, 429, 5xx (default 2) */
    int backoff_ms;      /* first retry delay, doubled each time (default 500) */
    int max_redirects;   /* default 5 (when 0); -1 follows none */
    long long max_bytes; /* body limit; larger bodies are aborted while streaming */
    const char *user_agent;
} petal_http_options;

/* Sent when no User-Agent is given; sites such as Wikimedia ask for a contact address, which
 * only the user can supply (--user_agent). */
#define PETAL_HTTP_DEFAULT_USER_AGENT                                                              \
    "petal-scrape/0.1 (photo set builder for image classifiers; contact: none given, "             \
    "set --user_agent)"

/* Fills defaults into zero fields (concurrency 8, per_host 2, timeout 15 s, backoff 500 ms,
 * 5 redirects, 20 MB, the default User-Agent); retries and delay_ms keep 0, and a negative
 * max_redirects becomes -1 (no redirect followed). */
void petal_http_options_default(petal_http_options *o);

/* The outcome of one request. */
typedef struct petal_http_response {
    long status;   /* last HTTP status (0 if none) */
    uint8_t *body; /* malloc'd, NUL-terminated one byte past len; NULL on failure */
    size_t len;
    int attempts;
    petal_status code; /* PETAL_OK for a 2xx body, else why it failed */
    char reason[160];  /* short failure reason ("HTTP 404", "timed out", "over 20971520 bytes") */
} petal_http_response;

/* Called as each request finishes (from the calling thread). The callee may take ownership of
 * resp->body by setting it to NULL. Return nonzero to cancel every request not yet finished. */
typedef int (*petal_http_done_fn)(void *ctx, size_t index, petal_http_response *resp);

/* Fetches urls[0..n) with the options, calling done for each. Only http and https are followed.
 * Fails only when libcurl cannot be set up; per-request failures go to done. */
petal_status petal_http_fetch_all(const petal_http_options *opts, const char *const *urls, size_t n,
                                  petal_http_done_fn done, void *ctx, petal_error *err);

/* Fetches one URL into a new buffer (convenience over petal_http_fetch_all). */
petal_status petal_http_get(const petal_http_options *opts, const char *url,
                            petal_http_response *out, petal_error *err);

void petal_http_response_free(petal_http_response *resp);

/* ---- manifest -------------------------------------------------------------------------- */

#define PETAL_MANIFEST_HEADER                                                                      \
    "label,file,sha256,width,height,source,image_url,page_url,licence,author,fetched_at"

/* One manifest line; all strings malloc'd. file is relative to image_dir ("rose/ab12.jpg"). */
typedef struct petal_manifest_entry {
    char *label, *file, *sha256;
    int width, height;
    char *source, *image_url, *page_url, *licence, *author, *fetched_at;
} petal_manifest_entry;

typedef struct petal_manifest {
    petal_manifest_entry *items;
    size_t count;
    size_t cap;
} petal_manifest;

/* Parses manifest CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF; a record never
 * spans lines, since petal never writes line breaks or control characters into a field). The
 * header line is skipped; malformed lines (wrong field count, bad numbers, control characters,
 * torn quotes) are skipped and counted in *skipped (may be NULL). Never reads outside
 * text[0..len). */
petal_status petal_manifest_parse(const char *text, size_t len, petal_manifest *out,
                                  size_t *skipped, petal_error *err);

/* Reads path; a missing file is an empty manifest. */
petal_status petal_manifest_load(const char *path, petal_manifest *out, petal_error *err);

/* Formats one entry as a CSV line ending in "\n" (new malloc'd string). Control characters in
 * fields become spaces; fields with , or " are quoted. */
char *petal_manifest_format(const petal_manifest_entry *e);

/* Appends one entry with a single O_APPEND write (writing the header first if the file is new). */
petal_status petal_manifest_append(const char *path, const petal_manifest_entry *e,
                                   petal_error *err);

/* Rewrites the whole manifest atomically (header + entries). */
petal_status petal_manifest_save(const char *path, const petal_manifest *m, petal_error *err);

/* Appends a copy of e to m. */
petal_status petal_manifest_push(petal_manifest *m, const petal_manifest_entry *e);

/* Removes entry i (freeing it), keeping order. */
void petal_manifest_remove(petal_manifest *m, size_t i);

void petal_manifest_entry_free(petal_manifest_entry *e);
void petal_manifest_free(petal_manifest *m);

/* ---- dedupe ---------------------------------------------------------------------------- */

/* Difference hash: the image shrunk to 9x8 grey levels, one bit per horizontally adjacent
 * pair (left brighter than right). Similar pictures differ in few bits. */
petal_status petal_scrape_dhash(const petal_image *img, uint64_t *out, petal_error *err);

/* Number of differing bits. */
int petal_scrape_hamming(uint64_t a, uint64_t b);

/* ---- the scrape ------------------------------------------------------------------------ */

typedef struct petal_scrape_options {
    const petal_scrape_labels *labels;
    const char *image_dir;
    const char *sources;  /* comma list, filled in order (default "wikimedia") */
    const char *base_url; /* replaces every chosen source's endpoint (NULL = default) */
    int per_class;        /* default 100 */
    int min_size;         /* smallest accepted width and height (default 64) */
    int dhash_distance;   /* near duplicate when Hamming distance <= this (default 4; -1 off) */
    int max_pages;        /* result pages per label and source (default 20) */
    int per_page;         /* results asked per page (default 50) */
    int dry_run;
    petal_http_options http;
} petal_scrape_options;

/* What happened to one label in a run. */
typedef struct petal_scrape_label_summary {
    char *name;
    int wanted, had, got; /* had = already there at start, got = total at the end */
    int duplicates;       /* exact or near duplicates within the label, or seen before */
    int cross_label;      /* images also found for another label (kept for neither) */
    int rejected, failed;
    char *rejected_reasons; /* "3 not an image, 1 too small (32x32)" - malloc'd, "" if none */
    char *failed_reasons;   /* "2 HTTP 404, 1 timed out" */
} petal_scrape_label_summary;

typedef struct petal_scrape_summary {
    petal_scrape_label_summary *labels;
    size_t count;
    int reconciled_dropped_lines, reconciled_removed_files, reconciled_added_files;
} petal_scrape_summary;

/* Runs a scrape. Per-image problems are counted in the summary, never fatal; the call fails
 * only on bad options or when image_dir or the manifest cannot be written. In dry-run mode the
 * result pages are fetched and the candidate images listed on stdout, nothing is downloaded or
 * written. summary is filled even on failure (free with petal_scrape_summary_free). */
petal_status petal_scrape_run(const petal_scrape_options *opts, petal_scrape_summary *summary,
                              petal_error *err);

/* Prints the per-label table to f (a FILE*). */
void petal_scrape_summary_print(const petal_scrape_summary *s, void *f);

void petal_scrape_summary_free(petal_scrape_summary *s);

#endif
