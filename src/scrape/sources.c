/* sources.c - the search sources of `petal scrape`: result-page URLs and result-page parsers
 * for Wikimedia Commons (MediaWiki Action API), iNaturalist (API v1), Bing and Google (HTML). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "scrape/scrape.h"

/* ---- small text helpers ---------------------------------------------------------------- */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static char *sb_take(strbuf *b)
{
    if (b->oom) {
        free(b->s);
        return NULL;
    }
    if (!b->s)
        return strdup("");
    return b->s;
}

/* Appends code point cp as UTF-8 (invalid ones as U+FFFD). */
static void sb_utf8(strbuf *b, unsigned long cp)
{
    char u[4];
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        u[0] = (char)cp;
        sb_add(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        sb_add(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        sb_add(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        sb_add(b, u, 4);
    }
}

char *petal_scrape_html_unescape(const char *text, size_t len)
{
    static const struct {
        const char *name;
        const char *value;
    } named[] = {{"amp", "&"}, {"quot", "\""}, {"apos", "'"},       {"lt", "<"},
                 {"gt", ">"},  {"nbsp", " "},  {"copy", "\xC2\xA9"}};
    strbuf b = {0};
    for (size_t i = 0; i < len;) {
        if (text[i] != '&') {
            size_t j = i;
            while (j < len && text[j] != '&')
                j++;
            sb_add(&b, text + i, j - i);
            i = j;
            continue;
        }
        size_t semi = i + 1;
        while (semi < len && semi - i < 12 && text[semi] != ';')
            semi++;
        int done = 0;
        if (semi < len && text[semi] == ';') {
            const char *ent = text + i + 1;
            size_t elen = semi - i - 1;
            if (elen >= 2 && ent[0] == '#') {
                unsigned long cp = 0;
                int ok = 1, hex = (ent[1] == 'x' || ent[1] == 'X');
                size_t k = hex ? 2 : 1;
                if (k >= elen)
                    ok = 0;
                for (; ok && k < elen; k++) {
                    int c = (unsigned char)ent[k];
                    int d = isdigit(c) ? c - '0' : hex && isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
                    if (d < 0 || cp > 0x10FFFF)
                        ok = 0;
                    else
                        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
                }
                if (ok) {
                    sb_utf8(&b, cp);
                    done = 1;
                }
            } else {
                for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
                    if (strlen(named[k].name) == elen && !memcmp(named[k].name, ent, elen)) {
                        sb_str(&b, named[k].value);
                        done = 1;
                        break;
                    }
            }
        }
        if (done) {
            i = semi + 1;
        } else {
            sb_add(&b, "&", 1);
            i++;
        }
    }
    return sb_take(&b);
}

char *petal_scrape_html_to_text(const char *html)
{
    strbuf raw = {0};
    for (const char *p = html; *p;) {
        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (!end)
                break;
            sb_add(&raw, " ", 1);
            p = end + 1;
        } else {
            sb_add(&raw, p, 1);
            p++;
        }
    }
    char *r = sb_take(&raw);
    if (!r)
        return NULL;
    char *text = petal_scrape_html_unescape(r, strlen(r));
    free(r);
    if (!text)
        return NULL;
    /* Collapse whitespace (and control characters) into single spaces, trim. */
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; text[i]; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isspace(c) || c < 0x20 || c == 0x7F) {
            space = 1;
            continue;
        }
        if (space && o > 0)
            text[o++] = ' ';
        space = 0;
        text[o++] = (char)c;
    }
    text[o] = '\0';
    return text;
}

char *petal_scrape_url_escape(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(text);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

static int is_web_url(const char *u)
{
    return u && (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) && !strchr(u, ' ') &&
           strlen(u) < 4096;
}

/* Appends a result (copying the strings; NULL means ""). Silently ignores non-web URLs and
 * URLs already on the page. */
static petal_status page_add(petal_scrape_page *out, const char *image_url, const char *page_url,
                             const char *title, const char *licence, const char *author,
                             petal_error *err)
{
    if (!is_web_url(image_url))
        return PETAL_OK;
    for (size_t i = 0; i < out->count; i++)
        if (!strcmp(out->items[i].image_url, image_url))
            return PETAL_OK;
    if (out->count == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 32;
        petal_scrape_result *items = realloc(out->items, cap * sizeof *items);
        if (!items)
            return petal_error_set(err, PETAL_ERR_NOMEM, "result page: out of memory");
        out->items = items;
        out->cap = cap;
    }
    petal_scrape_result *r = &out->items[out->count];
    r->image_url = strdup(image_url);
    r->page_url = strdup(page_url && is_web_url(page_url) ? page_url : "");
    r->title = strdup(title ? title : "");
    r->licence = strdup(licence && *licence ? licence : "unknown");
    r->author = strdup(author ? author : "");
    if (!r->image_url || !r->page_url || !r->title || !r->licence || !r->author) {
        free(r->image_url);
        free(r->page_url);
        free(r->title);
        free(r->licence);
        free(r->author);
        return petal_error_set(err, PETAL_ERR_NOMEM, "result page: out of memory");
    }
    out->count++;
    return PETAL_OK;
}

void petal_scrape_page_free(petal_scrape_page *page)
{
    for (size_t i = 0; i < page->count; i++) {
        free(page->items[i].image_url);
        free(page->items[i].page_url);
        free(page->items[i].title);
        free(page->items[i].licence);
        free(page->items[i].author);
    }
    free(page->items);
    free(page->next);
    memset(page, 0, sizeof *page);
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- wikimedia ------------------------------------------------------------------------- */

static char *wikimedia_page_url(const char *base, const char *query, int page, int per_page,
                                const char *next)
{
    (void)page;
    char *terms = malloc(strlen(query) + 32);
    if (!terms)
        return NULL;
    sprintf(terms, "%s filetype:bitmap", query);
    char *q = petal_scrape_url_escape(terms);
    free(terms);
    if (!q)
        return NULL;
    strbuf b = {0};
    char num[32];
    /* The API scales at most 50 images per request (iiurlwidth); past that it would hand out
     * originals, which can be far over --max_bytes. */
    snprintf(num, sizeof num, "%d", per_page > 0 && per_page <= 50 ? per_page : 50);
    sb_str(&b, base);
    sb_str(&b, strchr(base, '?') ? "&" : "?");
    sb_str(&b, "action=query&format=json&formatversion=2&generator=search&gsrnamespace=6"
               "&gsrsearch=");
    sb_str(&b, q);
    sb_str(&b, "&gsrlimit=");
    sb_str(&b, num);
    sb_str(&b, "&prop=imageinfo&iiprop=url%7Csize%7Cmime%7Cextmetadata&iiurlwidth=1024"
               "&iiextmetadatafilter=LicenseShortName%7CArtist%7CObjectName");
    if (next && *next)
        sb_str(&b, next);
    free(q);
    return sb_take(&b);
}

typedef struct wm_item {
    long index;
    const cJSON *page;
} wm_item;

static int wm_cmp(const void *a, const void *b)
{
    long x = ((const wm_item *)a)->index, y = ((const wm_item *)b)->index;
    return (x > y) - (x < y);
}

/* Builds "&key=value..." from the API's continue object (values escaped). */
static char *wikimedia_next(const cJSON *cont)
{
    strbuf b = {0};
    const cJSON *v;
    cJSON_ArrayForEach(v, cont)
    {
        char num[64];
        const char *val = NULL;
        if (cJSON_IsString(v)) {
            val = v->valuestring;
        } else if (cJSON_IsNumber(v)) {
            snprintf(num, sizeof num, "%.0f", v->valuedouble);
            val = num;
        }
        if (!val || !v->string)
            continue;
        char *k = petal_scrape_url_escape(v->string);
        char *e = petal_scrape_url_escape(val);
        if (k && e) {
            sb_str(&b, "&");
            sb_str(&b, k);
            sb_str(&b, "=");
            sb_str(&b, e);
        } else {
            b.oom = 1;
        }
        free(k);
        free(e);
    }
    return sb_take(&b);
}

petal_status petal_scrape_parse_wikimedia(const char *body, size_t len, const char *name,
                                          petal_scrape_page *out, petal_error *err)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: not a MediaWiki JSON answer", name);
    }
    const cJSON *apierr = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (apierr) {
        const char *info = json_str(apierr, "info");
        petal_status st = petal_error_set(err, PETAL_ERR_FORMAT, "%s: API error: %.200s", name,
                                          info ? info : "(no detail)");
        cJSON_Delete(root);
        return st;
    }
    petal_status st = PETAL_OK;
    const cJSON *query = cJSON_GetObjectItemCaseSensitive(root, "query");
    const cJSON *pages = query ? cJSON_GetObjectItemCaseSensitive(query, "pages") : NULL;
    int n = cJSON_IsArray(pages) ? cJSON_GetArraySize(pages) : 0;
    wm_item *order = n > 0 ? calloc((size_t)n, sizeof *order) : NULL;
    int count = 0;
    const cJSON *pg;
    if (n > 0 && order) {
        cJSON_ArrayForEach(pg, pages)
        {
            const cJSON *idx = cJSON_GetObjectItemCaseSensitive(pg, "index");
            double d = cJSON_IsNumber(idx) ? idx->valuedouble : count;
            order[count].index = d > 1e9 ? 1000000000L : d > -1e9 ? (long)d : -1000000000L;
            order[count].page = pg;
            count++;
        }
        qsort(order, (size_t)count, sizeof *order, wm_cmp);
    }
    for (int i = 0; i < count && st == PETAL_OK; i++) {
        pg = order[i].page;
        const cJSON *infos = cJSON_GetObjectItemCaseSensitive(pg, "imageinfo");
        const cJSON *info = cJSON_IsArray(infos) ? cJSON_GetArrayItem(infos, 0) : NULL;
        if (!cJSON_IsObject(info))
            continue;
        const char *mime = json_str(info, "mime");
        if (mime && strncmp(mime, "image/", 6) != 0)
            continue;
        const char *url = json_str(info, "thumburl");
        if (!url)
            url = json_str(info, "url");
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(info, "extmetadata");
        const cJSON *lic = meta ? cJSON_GetObjectItemCaseSensitive(meta, "LicenseShortName") : NULL;
        const cJSON *art = meta ? cJSON_GetObjectItemCaseSensitive(meta, "Artist") : NULL;
        const char *lic_v = lic ? json_str(lic, "value") : NULL;
        const char *art_v = art ? json_str(art, "value") : NULL;
        char *licence = lic_v ? petal_scrape_html_to_text(lic_v) : NULL;
        char *author = art_v ? petal_scrape_html_to_text(art_v) : NULL;
        st = page_add(out, url, json_str(info, "descriptionurl"), json_str(pg, "title"), licence,
                      author, err);
        free(licence);
        free(author);
    }
    free(order);
    if (n > 0 && !order && st == PETAL_OK)
        st = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", name);
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(root, "continue");
    free(out->next);
    out->next = cJSON_IsObject(cont) ? wikimedia_next(cont) : NULL;
    cJSON_Delete(root);
    return st;
}

/* ---- iNaturalist ----------------------------------------------------------------------- */

/* Photo licences that allow any use with attribution (what a company can show customers). */
#define INAT_OPEN_LICENCES "cc0,cc-by,cc-by-sa"

static char *inaturalist_page_url(const char *base, const char *query, int page, int per_page,
                                  const char *next)
{
    (void)next;
    char *q = petal_scrape_url_escape(query);
    if (!q)
        return NULL;
    size_t n = strlen(base) + strlen(q) + 256;
    char *url = malloc(n);
    if (url) {
        size_t bl = strlen(base);
        snprintf(url, n,
                 "%.*s/v1/observations?taxon_name=%s&photos=true&quality_grade=research"
                 "&photo_license=" INAT_OPEN_LICENCES "&order_by=votes&per_page=%d&page=%d",
                 (int)(bl > 0 && base[bl - 1] == '/' ? bl - 1 : bl), base, q,
                 per_page > 0 && per_page <= 200 ? per_page : 50, page + 1);
    }
    free(q);
    return url;
}

/* 1 when code (as iNaturalist writes it, any case) is one of INAT_OPEN_LICENCES. The query
 * asks for those only, but photo_license selects observations with at least one such photo:
 * their other photos may carry any licence, or none. */
static int inat_open_licence(const char *code)
{
    static const char *const open[] = {"cc0", "cc-by", "cc-by-sa"};
    for (size_t i = 0; code && i < sizeof open / sizeof open[0]; i++)
        if (!strcasecmp(code, open[i]))
            return 1;
    return 0;
}

/* iNaturalist gives square thumbnails (".../square.jpg"); the medium size (500 px) is what a
 * classifier needs. */
static char *inat_sized_url(const char *url)
{
    const char *sq = strstr(url, "/square.");
    if (!sq)
        return strdup(url);
    size_t pre = (size_t)(sq - url);
    char *r = malloc(strlen(url) + 8);
    if (r)
        sprintf(r, "%.*s/medium.%s", (int)pre, url, sq + 8);
    return r;
}

petal_status petal_scrape_parse_inaturalist(const char *body, size_t len, const char *name,
                                            petal_scrape_page *out, petal_error *err)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *results = root ? cJSON_GetObjectItemCaseSensitive(root, "results") : NULL;
    if (!cJSON_IsObject(root) || !cJSON_IsArray(results)) {
        cJSON_Delete(root);
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: not an iNaturalist observations answer",
                               name);
    }
    petal_status st = PETAL_OK;
    const cJSON *obs;
    int n_obs = 0;
    cJSON_ArrayForEach(obs, results)
    {
        n_obs++;
        const char *uri = json_str(obs, "uri");
        const cJSON *taxon = cJSON_GetObjectItemCaseSensitive(obs, "taxon");
        const char *title = NULL;
        if (cJSON_IsObject(taxon)) {
            title = json_str(taxon, "preferred_common_name");
            if (!title)
                title = json_str(taxon, "name");
        }
        const cJSON *photos = cJSON_GetObjectItemCaseSensitive(obs, "photos");
        const cJSON *ph;
        cJSON_ArrayForEach(ph, photos)
        {
            const char *lic = json_str(ph, "license_code");
            const char *url = json_str(ph, "url");
            if (!inat_open_licence(lic) || !url)
                continue; /* all rights reserved or non-commercial: not ours to take */
            char *sized = inat_sized_url(url);
            if (!sized)
                st = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", name);
            else
                st = page_add(out, sized, uri, title, lic, json_str(ph, "attribution"), err);
            free(sized);
            if (st != PETAL_OK)
                break;
        }
        if (st != PETAL_OK)
            break;
    }
    /* More pages while this one was full and the total says there is more. */
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(root, "total_results");
    const cJSON *page = cJSON_GetObjectItemCaseSensitive(root, "page");
    const cJSON *per = cJSON_GetObjectItemCaseSensitive(root, "per_page");
    int more = n_obs > 0;
    if (cJSON_IsNumber(total) && cJSON_IsNumber(page) && cJSON_IsNumber(per))
        more = more && page->valuedouble * per->valuedouble < total->valuedouble;
    free(out->next);
    out->next = more ? strdup("") : NULL;
    cJSON_Delete(root);
    return st;
}

/* ---- HTML pages: Bing and Google ------------------------------------------------------- */

/* Finds attribute attr in the tag text tag[0..len) (case-insensitive name, quoted or bare
 * value). Returns a pointer to the raw value and its length, or NULL. */
static const char *tag_attr(const char *tag, size_t len, const char *attr, size_t *vlen)
{
    size_t alen = strlen(attr);
    size_t i = 0;
    while (i < len && !isspace((unsigned char)tag[i])) /* skip the tag name */
        i++;
    while (i < len) {
        while (i < len && (isspace((unsigned char)tag[i]) || tag[i] == '/'))
            i++;
        size_t ns = i;
        while (i < len && !isspace((unsigned char)tag[i]) && tag[i] != '=' && tag[i] != '>')
            i++;
        size_t nlen = i - ns;
        while (i < len && isspace((unsigned char)tag[i]))
            i++;
        const char *val = NULL;
        size_t vl = 0;
        if (i < len && tag[i] == '=') {
            i++;
            while (i < len && isspace((unsigned char)tag[i]))
                i++;
            if (i < len && (tag[i] == '"' || tag[i] == '\'')) {
                char q = tag[i++];
                val = tag + i;
                while (i < len && tag[i] != q)
                    i++;
                vl = (size_t)(tag + i - val);
                if (i < len)
                    i++;
            } else {
                val = tag + i;
                while (i < len && !isspace((unsigned char)tag[i]) && tag[i] != '>')
                    i++;
                vl = (size_t)(tag + i - val);
            }
        }
        if (nlen == alen && !strncasecmp(tag + ns, attr, alen) && val) {
            *vlen = vl;
            return val;
        }
        if (nlen == 0 && i < len && tag[i] != '=')
            i++; /* stray character: step over it */
    }
    return NULL;
}

static int has_class(const char *val, size_t len, const char *cls)
{
    size_t cl = strlen(cls);
    for (size_t i = 0; i + cl <= len; i++)
        if ((i == 0 || isspace((unsigned char)val[i - 1])) && !strncmp(val + i, cls, cl) &&
            (i + cl == len || isspace((unsigned char)val[i + cl])))
            return 1;
    return 0;
}

/* Case-insensitive search for needle in hay[0..len). */
static const char *find_ci(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (!strncasecmp(hay + i, needle, nl))
            return hay + i;
    return NULL;
}

static char *html_page_url(const char *base, const char *path, const char *query, int page,
                           int per_page, const char *tail)
{
    char *q = petal_scrape_url_escape(query);
    if (!q)
        return NULL;
    size_t n = strlen(base) + strlen(q) + strlen(path) + strlen(tail) + 64;
    char *url = malloc(n);
    if (url) {
        size_t bl = strlen(base);
        snprintf(url, n, "%.*s%s%s%s%d", (int)(bl > 0 && base[bl - 1] == '/' ? bl - 1 : bl), base,
                 path, q, tail, page * (per_page > 0 ? per_page : 35));
    }
    free(q);
    return url;
}

static char *bing_page_url(const char *base, const char *query, int page, int per_page,
                           const char *next)
{
    (void)next;
    return html_page_url(base, "/images/search?q=", query, page, per_page, "&form=HDRSC2&first=");
}

static char *google_page_url(const char *base, const char *query, int page, int per_page,
                             const char *next)
{
    (void)next;
    return html_page_url(base, "/search?q=", query, page, per_page, "&tbm=isch&start=");
}

petal_status petal_scrape_parse_bing(const char *body, size_t len, const char *name,
                                     petal_scrape_page *out, petal_error *err)
{
    (void)name;
    petal_status st = PETAL_OK;
    size_t i = 0;
    while (i < len && st == PETAL_OK) {
        const char *lt = memchr(body + i, '<', len - i);
        if (!lt)
            break;
        size_t start = (size_t)(lt - body);
        const char *gt = memchr(lt, '>', len - start);
        size_t end = gt ? (size_t)(gt - body) : len;
        size_t tlen = end - start;
        i = end;
        if (tlen < 3 || strncasecmp(lt + 1, "a", 1) != 0 || !isspace((unsigned char)lt[2]))
            continue;
        size_t cl, ml;
        const char *cls = tag_attr(lt + 1, tlen - 1, "class", &cl);
        const char *m = tag_attr(lt + 1, tlen - 1, "m", &ml);
        if (!cls || !m || !has_class(cls, cl, "iusc"))
            continue;
        char *json = petal_scrape_html_unescape(m, ml);
        cJSON *o = json ? cJSON_Parse(json) : NULL;
        free(json);
        if (cJSON_IsObject(o)) {
            const char *t = json_str(o, "t");
            char *title = t ? petal_scrape_html_to_text(t) : NULL;
            st = page_add(out, json_str(o, "murl"), json_str(o, "purl"), title, "unknown", "", err);
            free(title);
        }
        cJSON_Delete(o);
    }
    free(out->next);
    out->next = out->count > 0 ? strdup("") : NULL;
    return st;
}

/* Decodes the JavaScript string escapes Google uses in page scripts (\u003d, \/, \x26). */
static char *js_unescape(const char *s, size_t len)
{
    strbuf b = {0};
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char c = s[i + 1];
            unsigned long cp = 0;
            int digits = c == 'u' ? 4 : c == 'x' ? 2 : 0;
            if (digits && i + 1 + (size_t)digits < len) {
                int ok = 1;
                for (int k = 0; k < digits; k++) {
                    int h = (unsigned char)s[i + 2 + k];
                    if (!isxdigit(h)) {
                        ok = 0;
                        break;
                    }
                    cp = cp * 16 + (unsigned long)(isdigit(h) ? h - '0' : tolower(h) - 'a' + 10);
                }
                if (ok) {
                    sb_utf8(&b, cp);
                    i += 1 + (size_t)digits;
                    continue;
                }
            }
            sb_add(&b, &s[i + 1], 1);
            i++;
            continue;
        }
        sb_add(&b, &s[i], 1);
    }
    return sb_take(&b);
}

/* Google's own thumbnails and artwork are not search results. */
static int google_own(const char *url)
{
    return strstr(url, "gstatic.com") || strstr(url, "google.com") ||
           strstr(url, "googleusercontent");
}

petal_status petal_scrape_parse_google(const char *body, size_t len, const char *name,
                                       petal_scrape_page *out, petal_error *err)
{
    (void)name;
    petal_status st = PETAL_OK;
    /* 1. Full-size URLs in page scripts: arrays ["https://...", height, width]. */
    for (size_t i = 0; i + 10 < len && st == PETAL_OK; i++) {
        if (body[i] != '[' || body[i + 1] != '"' || strncmp(body + i + 2, "http", 4) != 0)
            continue;
        size_t s = i + 2, e = s;
        while (e < len && body[e] != '"' && body[e] != '\n') {
            if (body[e] == '\\')
                e++;
            e++;
        }
        if (e >= len || body[e] != '"')
            continue;
        size_t k = e + 1;
        int nums = 0;
        while (nums < 2 && k < len && body[k] == ',') {
            k++;
            size_t d = k;
            while (k < len && isdigit((unsigned char)body[k]))
                k++;
            if (k == d)
                break;
            nums++;
        }
        if (nums == 2 && k < len && body[k] == ']') {
            char *url = js_unescape(body + s, e - s);
            if (url && !google_own(url))
                st = page_add(out, url, "", "", "unknown", "", err);
            free(url);
        }
        i = e;
    }
    /* 2. img tags whose source is a web URL (lazy-loaded ones in data-src). */
    for (size_t i = 0; i < len && st == PETAL_OK;) {
        const char *lt = find_ci(body + i, len - i, "<img");
        if (!lt)
            break;
        size_t start = (size_t)(lt - body);
        const char *gt = memchr(lt, '>', len - start);
        size_t end = gt ? (size_t)(gt - body) : len;
        i = end;
        size_t vl;
        const char *v = tag_attr(lt + 1, end - start - 1, "data-src", &vl);
        if (!v || vl < 4 || strncmp(v, "http", 4) != 0)
            v = tag_attr(lt + 1, end - start - 1, "src", &vl);
        if (!v)
            continue;
        char *url = petal_scrape_html_unescape(v, vl);
        size_t al;
        const char *alt = tag_attr(lt + 1, end - start - 1, "alt", &al);
        char *title = alt ? petal_scrape_html_unescape(alt, al) : NULL;
        if (url && !google_own(url))
            st = page_add(out, url, "", title, "unknown", "", err);
        free(url);
        free(title);
    }
    free(out->next);
    out->next = out->count > 0 ? strdup("") : NULL;
    return st;
}

/* ---- the table ------------------------------------------------------------------------- */

static const petal_scrape_source sources[] = {
    {"wikimedia", "https://commons.wikimedia.org/w/api.php", wikimedia_page_url,
     petal_scrape_parse_wikimedia},
    {"inaturalist", "https://api.inaturalist.org", inaturalist_page_url,
     petal_scrape_parse_inaturalist},
    {"bing", "https://www.bing.com", bing_page_url, petal_scrape_parse_bing},
    {"google", "https://www.google.com", google_page_url, petal_scrape_parse_google},
};

const petal_scrape_source *petal_scrape_source_find(const char *name)
{
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        if (!strcmp(sources[i].name, name))
            return &sources[i];
    return NULL;
}
