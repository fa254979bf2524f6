/* scrape.c - `petal scrape` end to end: reconcile image_dir with its manifest, then for every
 * label page through the sources, download candidates, validate, dedupe and store them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scrape/scrape.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"

#define CONFLICTS_FILE "cross_label_duplicates.csv"

/* ---- per-run state --------------------------------------------------------------------- */

typedef struct reason_count {
    char *reason;
    int count;
} reason_count;

typedef struct reasons {
    reason_count *items;
    size_t count;
} reasons;

typedef struct label_state {
    const petal_scrape_label *label;
    petal_scrape_label_summary *sum;
    reasons rejected, failed;
    size_t source; /* index into the run's sources */
    int page;      /* next result page of that source */
    char *next;    /* continuation text of that source */
    int exhausted; /* every source is done */
    char **seen;   /* image URLs already tried in this run */
    size_t nseen;
    int lost; /* images removed as cross-label duplicates after this label ran */
} label_state;

typedef struct hash_info {
    uint64_t dhash;
    int has_dhash;
} hash_info;

typedef struct banned {
    char sha256[PETAL_SHA256_HEX];
    uint64_t dhash;
} banned;

typedef struct run {
    const petal_scrape_options *o;
    char *manifest_path;
    petal_manifest m;
    hash_info *info; /* parallel to m.items */
    size_t info_cap;
    banned *ban;
    size_t nban;
    const petal_scrape_source *sources[8];
    const char *source_names[8];
    size_t nsources;
    label_state *labels;
    size_t nlabels;
    petal_progress *progress;
    int64_t done_images, total_images, failures;
    long long bytes;
    size_t labels_done; /* labels whose first round is over */
    int stopped;        /* the manifest cannot be written: the run stops with stop_err */
    petal_error stop_err;
} run;

static void reason_add(reasons *r, const char *reason)
{
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(r->items[i].reason, reason)) {
            r->items[i].count++;
            return;
        }
    reason_count *p = realloc(r->items, (r->count + 1) * sizeof *p);
    if (!p)
        return;
    r->items = p;
    p[r->count].reason = strdup(reason);
    p[r->count].count = p[r->count].reason ? 1 : 0;
    if (p[r->count].reason)
        r->count++;
}

static char *reasons_text(const reasons *r)
{
    size_t n = 1;
    for (size_t i = 0; i < r->count; i++)
        n += strlen(r->items[i].reason) + 16;
    char *s = malloc(n);
    if (!s)
        return NULL;
    size_t o = 0;
    s[0] = '\0';
    for (size_t i = 0; i < r->count; i++)
        o += (size_t)snprintf(s + o, n - o, "%s%d %s", i ? ", " : "", r->items[i].count,
                              r->items[i].reason);
    return s;
}

static void reasons_free(reasons *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->items[i].reason);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static void now_utc(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Keeps run->info the same length as run->m. */
static int info_push(run *r, uint64_t dhash, int has)
{
    if (r->m.count > r->info_cap) {
        size_t cap = r->m.count * 2;
        hash_info *p = realloc(r->info, cap * sizeof *p);
        if (!p)
            return -1;
        r->info = p;
        r->info_cap = cap;
    }
    r->info[r->m.count - 1].dhash = dhash;
    r->info[r->m.count - 1].has_dhash = has;
    return 0;
}

static void entry_remove(run *r, size_t i)
{
    memmove(&r->info[i], &r->info[i + 1], (r->m.count - i - 1) * sizeof *r->info);
    petal_manifest_remove(&r->m, i);
}

/* A manifest file path is "folder/name" with plain components, so it stays in image_dir. */
static int safe_rel_path(const char *f)
{
    const char *slash = strchr(f, '/');
    if (!slash || strchr(slash + 1, '/') || f[0] == '.' || slash[1] == '.' || slash[1] == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)f; *p; p++)
        if (*p < 0x20 || *p == '\\')
            return 0;
    return 1;
}

static char *part_path(const char *dir, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    size_t n = strlen(dir) + strlen(rel) + 16;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%.*s/.%s.part", dir, (int)(slash - rel), rel, slash + 1);
    return p;
}

/* dHashes always come from a small decode (JPEGs DCT-scaled to at least 64x64, other formats
 * in full), for downloads and for files already on disk alike, so that they compare exactly
 * and a rerun over thousands of photos does not pay for full-size decodes. */
static const petal_decode_options dhash_decode = {0, 64, 64};

static int bytes_dhash(const uint8_t *data, size_t len, const char *name, uint64_t *dh)
{
    petal_image img = {0};
    petal_error err;
    if (petal_image_decode(data, len, name, &dhash_decode, &img, &err) != PETAL_OK)
        return -1;
    int rc = petal_scrape_dhash(&img, dh, &err) == PETAL_OK ? 0 : -1;
    petal_image_free(&img);
    return rc;
}

/* The dHash of a stored image; fails if it no longer decodes. */
static int file_dhash(const char *path, uint64_t *dh)
{
    petal_image img = {0};
    petal_error err;
    if (petal_image_load(path, &dhash_decode, &img, &err) != PETAL_OK)
        return -1;
    int rc = petal_scrape_dhash(&img, dh, &err) == PETAL_OK ? 0 : -1;
    petal_image_free(&img);
    return rc;
}

/* ---- reconcile: make image_dir and manifest.csv agree ----------------------------------- */

static int entry_for_file(const run *r, const char *rel)
{
    for (size_t i = 0; i < r->m.count; i++)
        if (!strcmp(r->m.items[i].file, rel))
            return (int)i;
    return -1;
}

static int is_label_folder(const run *r, const char *folder)
{
    for (size_t i = 0; i < r->nlabels; i++)
        if (!strcmp(r->labels[i].label->folder, folder))
            return 1;
    return 0;
}

/* Scans one label folder: removes temp files left by an interrupted run and gives files
 * without a manifest line one (if they are valid images, as source "local"), else removes
 * them. Returns 1 if the manifest changed. */
static int reconcile_folder(run *r, const char *folder, petal_scrape_summary *sum)
{
    char *dirpath = petal_path_join(r->o->image_dir, folder);
    DIR *d = dirpath ? opendir(dirpath) : NULL;
    int changed = 0;
    if (!d) {
        free(dirpath);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *path = petal_path_join(dirpath, e->d_name);
        if (!path)
            continue;
        size_t nl = strlen(e->d_name);
        if (e->d_name[0] == '.' && nl > 5 && !strcmp(e->d_name + nl - 5, ".part")) {
            unlink(path);
            sum->reconciled_removed_files++;
            free(path);
            continue;
        }
        if (e->d_name[0] == '.' || !petal_is_file(path)) {
            free(path);
            continue;
        }
        size_t rl = strlen(folder) + nl + 2;
        char *rel = malloc(rl);
        if (rel)
            snprintf(rel, rl, "%s/%s", folder, e->d_name);
        if (rel && entry_for_file(r, rel) < 0) {
            petal_image img = {0};
            petal_error err;
            uint64_t dh = 0;
            char sha[PETAL_SHA256_HEX];
            int ok = petal_image_load(path, NULL, &img, &err) == PETAL_OK &&
                     img.width >= r->o->min_size && img.height >= r->o->min_size &&
                     file_dhash(path, &dh) == 0 && petal_sha256_file(path, sha, &err) == PETAL_OK;
            petal_manifest_entry me = {0};
            char when[32];
            now_utc(when, sizeof when);
            char canon[256];
            if (petal_scrape_label_canonical(folder, canon, sizeof canon) != 0)
                ok = 0;
            if (ok) {
                me.label = canon;
                me.file = rel;
                me.sha256 = sha;
                me.width = img.width;
                me.height = img.height;
                me.source = "local";
                me.licence = "unknown";
                me.fetched_at = when;
                ok = petal_manifest_push(&r->m, &me) == PETAL_OK;
                if (ok && info_push(r, dh, 1) != 0) {
                    petal_manifest_remove(&r->m, r->m.count - 1);
                    ok = 0;
                }
            }
            if (ok) {
                petal_warn("%s: no manifest line; kept as source 'local', licence unknown", path);
                sum->reconciled_added_files++;
                changed = 1;
            } else {
                petal_warn("%s: no manifest line and not a usable image; removed", path);
                unlink(path);
                sum->reconciled_removed_files++;
            }
            petal_image_free(&img);
        }
        free(rel);
        free(path);
    }
    closedir(d);
    free(dirpath);
    return changed;
}

static petal_status reconcile(run *r, petal_scrape_summary *sum, petal_error *err)
{
    petal_error lerr;
    petal_error_clear(&lerr);
    petal_status st = petal_manifest_load(r->manifest_path, &r->m, &lerr);
    if (st != PETAL_OK) {
        *err = lerr;
        return st;
    }
    int changed = lerr.msg[0] != '\0'; /* malformed lines: rewrite without them */
    if (changed)
        petal_warn("%s", lerr.msg);
    r->info_cap = r->m.count + 16;
    r->info = calloc(r->info_cap, sizeof *r->info);
    if (!r->info)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");

    /* Lines whose file is missing: finish the rename if the complete temp file is there,
     * else drop the line. Also drop unsafe paths and repeated files. */
    for (size_t i = 0; i < r->m.count;) {
        petal_manifest_entry *e = &r->m.items[i];
        int keep = safe_rel_path(e->file) && entry_for_file(r, e->file) == (int)i;
        char *path = keep ? petal_path_join(r->o->image_dir, e->file) : NULL;
        if (keep && !petal_is_file(path)) {
            keep = 0;
            char *part = part_path(r->o->image_dir, e->file);
            char sha[PETAL_SHA256_HEX];
            if (part && !r->o->dry_run && petal_is_file(part) &&
                petal_sha256_file(part, sha, &lerr) == PETAL_OK && !strcmp(sha, e->sha256) &&
                rename(part, path) == 0)
                keep = 1;
            free(part);
        }
        if (keep && file_dhash(path, &r->info[i].dhash) == 0) {
            r->info[i].has_dhash = 1;
        } else if (keep) {
            petal_warn("%s: no longer a valid image; removed", path);
            if (!r->o->dry_run)
                unlink(path);
            keep = 0;
        }
        free(path);
        if (keep) {
            i++;
        } else {
            entry_remove(r, i);
            sum->reconciled_dropped_lines++;
            changed = 1;
        }
    }
    if (r->o->dry_run)
        return PETAL_OK;

    /* Files without a line, and temp files, in every folder we manage. */
    char **folders = NULL;
    size_t nfolders = 0;
    for (size_t i = 0; i < r->m.count; i++) {
        const char *f = r->m.items[i].file;
        size_t len = (size_t)(strchr(f, '/') - f);
        int dup = 0;
        for (size_t k = 0; k < nfolders; k++)
            dup |= strlen(folders[k]) == len && !strncmp(folders[k], f, len);
        if (dup)
            continue;
        char **p = realloc(folders, (nfolders + 1) * sizeof *p);
        if (!p)
            break;
        folders = p;
        folders[nfolders] = strndup(f, len);
        if (folders[nfolders])
            nfolders++;
    }
    for (size_t i = 0; i < r->nlabels; i++)
        changed |= reconcile_folder(r, r->labels[i].label->folder, sum);
    for (size_t i = 0; i < nfolders; i++) {
        if (!is_label_folder(r, folders[i]))
            changed |= reconcile_folder(r, folders[i], sum);
        free(folders[i]);
    }
    free(folders);
    if (changed || sum->reconciled_dropped_lines)
        return petal_manifest_save(r->manifest_path, &r->m, err);
    return PETAL_OK;
}

/* Loads the hashes of images once found for two labels (kept for neither). */
static void load_banned(run *r)
{
    char *path = petal_path_join(r->o->image_dir, CONFLICTS_FILE);
    uint8_t *data = NULL;
    size_t len = 0;
    petal_error err;
    if (path && petal_is_file(path) &&
        petal_read_file(path, 64 << 20, &data, &len, &err) == PETAL_OK) {
        for (char *line = (char *)data; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            char sha[PETAL_SHA256_HEX];
            unsigned long long dh;
            if (sscanf(line, "%64[0-9a-f],%16llx", sha, &dh) == 2 && strlen(sha) == 64) {
                banned *b = realloc(r->ban, (r->nban + 1) * sizeof *b);
                if (b) {
                    r->ban = b;
                    memcpy(b[r->nban].sha256, sha, sizeof sha);
                    b[r->nban].dhash = dh;
                    r->nban++;
                }
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    free(data);
    free(path);
}

/* ---- one downloaded image -------------------------------------------------------------- */

typedef struct batch {
    run *r;
    label_state *ls;
    const char *source;
    petal_scrape_result **cands;
    char *delivered; /* delivered[i]: candidate i was downloaded (or failed), not cancelled */
    int wanted_left;
} batch;

static int label_have(const run *r, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < r->m.count; i++)
        n += !strcmp(r->m.items[i].label, name);
    return n;
}

static label_state *state_for(run *r, const char *name)
{
    for (size_t i = 0; i < r->nlabels; i++)
        if (!strcmp(r->labels[i].label->name, name))
            return &r->labels[i];
    return NULL;
}

/* An image matching entry j of another label: remove it there too and remember it. */
static void cross_label_conflict(run *r, label_state *ls, size_t j, const char *sha, uint64_t dh,
                                 const char *url)
{
    petal_manifest_entry *e = &r->m.items[j];
    petal_warn("%s: found for both '%s' and '%s'; kept for neither", url, ls->label->name,
               e->label);
    char line[512];
    snprintf(line, sizeof line, "%s,%016llx,%s,%s\n", sha, (unsigned long long)dh, ls->label->name,
             e->label);
    char *cpath = petal_path_join(r->o->image_dir, CONFLICTS_FILE);
    petal_error err;
    if (cpath && petal_append_file(cpath, line, strlen(line), &err) != PETAL_OK)
        petal_warn("%s", err.msg);
    free(cpath);
    banned *b = realloc(r->ban, (r->nban + 1) * sizeof *b);
    if (b) {
        r->ban = b;
        snprintf(b[r->nban].sha256, sizeof b[r->nban].sha256, "%s", sha);
        b[r->nban].dhash = dh;
        r->nban++;
    }
    label_state *other = state_for(r, e->label);
    if (other) {
        other->sum->cross_label++;
        other->lost++;
    }
    ls->sum->cross_label++;
    char *path = petal_path_join(r->o->image_dir, e->file);
    if (path)
        unlink(path);
    free(path);
    entry_remove(r, j);
    if (petal_manifest_save(r->manifest_path, &r->m, &err) != PETAL_OK)
        petal_warn("%s", err.msg);
}

/* Checks an image against everything kept and banned. Returns 0 if new, 1 if a duplicate. */
static int is_duplicate(run *r, label_state *ls, const char *sha, uint64_t dh, int has_dh,
                        const char *url)
{
    int near = r->o->dhash_distance;
    for (size_t i = 0; i < r->nban; i++)
        if (!strcmp(r->ban[i].sha256, sha) ||
            (has_dh && near >= 0 && petal_scrape_hamming(r->ban[i].dhash, dh) <= near)) {
            ls->sum->cross_label++;
            return 1;
        }
    for (size_t i = 0; i < r->m.count; i++) {
        int same = !strcmp(r->m.items[i].sha256, sha) ||
                   (has_dh && near >= 0 && r->info[i].has_dhash &&
                    petal_scrape_hamming(r->info[i].dhash, dh) <= near);
        if (!same)
            continue;
        if (!strcmp(r->m.items[i].label, ls->label->name))
            ls->sum->duplicates++;
        else
            cross_label_conflict(r, ls, i, sha, dh, url);
        return 1;
    }
    return 0;
}

static int write_part(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(path);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(path);
        return -1;
    }
    return 0;
}

/* Stores an accepted image: temp file, manifest line, rename. */
static int store_image(run *r, label_state *ls, const petal_scrape_result *res, const char *source,
                       const uint8_t *data, size_t len, const char *sha, petal_image_format fmt,
                       const petal_image *img, uint64_t dh)
{
    char rel[512], when[32];
    snprintf(rel, sizeof rel, "%s/%.16s.%s", ls->label->folder, sha,
             petal_image_format_extension(fmt));
    char *path = petal_path_join(r->o->image_dir, rel);
    char *part = part_path(r->o->image_dir, rel);
    int rc = -1;
    petal_error err;
    now_utc(when, sizeof when);
    petal_manifest_entry e = {
        ls->label->name, rel,           (char *)sha,  img->width,  img->height, (char *)source,
        res->image_url,  res->page_url, res->licence, res->author, when};
    if (!path || !part || write_part(part, data, len) != 0) {
        petal_warn("%s: cannot write %s", res->image_url, part ? part : rel);
    } else if (petal_manifest_append(r->manifest_path, &e, &err) != PETAL_OK) {
        /* Without its record no photo may stay: stop rather than fetch what cannot be kept. */
        r->stopped = 1;
        r->stop_err = err;
        unlink(part);
    } else if (rename(part, path) != 0) {
        petal_warn("%s: cannot rename to %s: %s", part, path, strerror(errno));
    } else if (petal_manifest_push(&r->m, &e) == PETAL_OK && info_push(r, dh, 1) == 0) {
        rc = 0;
    }
    free(path);
    free(part);
    return rc;
}

static void draw_progress(run *r)
{
    char extra[96];
    snprintf(extra, sizeof extra, "%zu/%zu labels done, %.1f MB, %lld failed", r->labels_done,
             r->nlabels, (double)r->bytes / 1e6, (long long)r->failures);
    petal_progress_update(r->progress, r->done_images, extra);
}

static int on_image(void *ctx, size_t index, petal_http_response *resp)
{
    batch *b = ctx;
    run *r = b->r;
    label_state *ls = b->ls;
    const petal_scrape_result *res = b->cands[index];
    b->delivered[index] = 1;
    if (resp->code != PETAL_OK) {
        ls->sum->failed++;
        r->failures++;
        reason_add(&ls->failed, resp->reason);
        petal_debug("%s: %s", res->image_url, resp->reason);
        draw_progress(r);
        return 0;
    }
    r->bytes += (long long)resp->len;
    petal_image_format fmt = petal_image_sniff(resp->body, resp->len);
    if (fmt == PETAL_FORMAT_UNKNOWN) {
        const char *p = (const char *)resp->body;
        size_t i = 0;
        while (i < resp->len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
            i++;
        ls->sum->rejected++;
        reason_add(&ls->rejected,
                   i < resp->len && p[i] == '<' ? "HTML, not an image" : "not an image");
        return 0;
    }
    char sha[PETAL_SHA256_HEX];
    petal_sha256_hex(resp->body, resp->len, sha);
    if (is_duplicate(r, ls, sha, 0, 0, res->image_url))
        return 0;
    petal_image img = {0};
    petal_error err;
    petal_status st = petal_image_decode(resp->body, resp->len, res->image_url, NULL, &img, &err);
    if (st != PETAL_OK) {
        ls->sum->rejected++;
        reason_add(&ls->rejected, st == PETAL_ERR_LIMIT ? "over the pixel limit" : "undecodable");
        petal_debug("%s", err.msg);
        return 0;
    }
    int keep = 0;
    uint64_t dh = 0;
    if (img.width < r->o->min_size || img.height < r->o->min_size) {
        char why[64];
        snprintf(why, sizeof why, "smaller than %dx%d", r->o->min_size, r->o->min_size);
        ls->sum->rejected++;
        reason_add(&ls->rejected, why);
    } else if (bytes_dhash(resp->body, resp->len, res->image_url, &dh) == 0 &&
               !is_duplicate(r, ls, sha, dh, 1, res->image_url)) {
        keep = store_image(r, ls, res, b->source, resp->body, resp->len, sha, fmt, &img, dh) == 0;
        if (!keep && !r->stopped) {
            ls->sum->failed++;
            r->failures++;
            reason_add(&ls->failed, "could not be stored");
        }
    }
    petal_image_free(&img);
    if (keep) {
        r->done_images++;
        b->wanted_left--;
        draw_progress(r);
    }
    return b->wanted_left <= 0 || r->stopped;
}

/* ---- one label ------------------------------------------------------------------------- */

static int seen_before(run *r, label_state *ls, const char *url)
{
    for (size_t i = 0; i < ls->nseen; i++)
        if (!strcmp(ls->seen[i], url))
            return 1;
    /* Already stored for this label: nothing to fetch. (Stored for another label, it is
     * fetched again so that the cross-label check sees it.) */
    for (size_t i = 0; i < r->m.count; i++)
        if (!strcmp(r->m.items[i].image_url, url) && !strcmp(r->m.items[i].label, ls->label->name))
            return 1;
    char **p = realloc(ls->seen, (ls->nseen + 1) * sizeof *p);
    if (p) {
        ls->seen = p;
        p[ls->nseen] = strdup(url);
        if (p[ls->nseen])
            ls->nseen++;
    }
    return 0;
}

/* Forgets url as tried (its download was cancelled because the label was full), so that a
 * later round may still fetch it. */
static void unsee(label_state *ls, const char *url)
{
    for (size_t i = ls->nseen; i-- > 0;)
        if (!strcmp(ls->seen[i], url)) {
            free(ls->seen[i]);
            ls->seen[i] = ls->seen[--ls->nseen];
            return;
        }
}

static void next_source(label_state *ls, size_t nsources)
{
    ls->source++;
    ls->page = 0;
    free(ls->next);
    ls->next = NULL;
    if (ls->source >= nsources)
        ls->exhausted = 1;
}

static void fill_label(run *r, label_state *ls)
{
    const petal_scrape_options *o = r->o;
    int have = label_have(r, ls->label->name);
    int listed = 0;
    while (!ls->exhausted && !r->stopped && o->per_class - have - listed > 0) {
        const petal_scrape_source *src = r->sources[ls->source];
        if (ls->page >= o->max_pages) {
            next_source(ls, r->nsources);
            continue;
        }
        const char *base = o->base_url && *o->base_url ? o->base_url : src->default_base;
        char *url = src->page_url(base, ls->label->query, ls->page, o->per_page, ls->next);
        petal_http_response resp = {0};
        petal_error err;
        petal_scrape_page page = {0};
        char why[256];
        petal_status st = url ? petal_http_get(&o->http, url, &resp, &err) : PETAL_ERR_NOMEM;
        if (st == PETAL_OK)
            st = src->parse((const char *)resp.body, resp.len, url, &page, &err);
        if (st != PETAL_OK) {
            snprintf(why, sizeof why, "%s result page: %s", src->name,
                     url && resp.code != PETAL_OK ? resp.reason : "not a result page");
            petal_warn("%s", url ? err.msg : why);
            ls->sum->failed++;
            r->failures++;
            reason_add(&ls->failed, why);
            petal_http_response_free(&resp);
            petal_scrape_page_free(&page);
            free(url);
            next_source(ls, r->nsources);
            continue;
        }
        petal_http_response_free(&resp);
        free(url);
        ls->page++;
        free(ls->next);
        ls->next = page.next;
        page.next = NULL;
        int last_page = ls->next == NULL || page.count == 0;

        petal_scrape_result **cands = calloc(page.count + 1, sizeof *cands);
        const char **urls = calloc(page.count + 1, sizeof *urls);
        size_t nc = 0;
        for (size_t i = 0; cands && urls && i < page.count; i++)
            if (!seen_before(r, ls, page.items[i].image_url)) {
                cands[nc] = &page.items[i];
                urls[nc++] = page.items[i].image_url;
            }
        if (o->dry_run) {
            for (size_t i = 0; i < nc && listed < o->per_class - have; i++, listed++)
                printf("%s\t%s\t%s\t%s\n", ls->label->name, src->name, urls[i], cands[i]->licence);
        } else if (nc > 0) {
            char *delivered = calloc(nc, 1);
            batch b = {r, ls, src->name, cands, delivered, o->per_class - have};
            if (!delivered)
                petal_warn("%s: out of memory", ls->label->name);
            else if (petal_http_fetch_all(&o->http, urls, nc, on_image, &b, &err) != PETAL_OK)
                petal_warn("%s", err.msg);
            for (size_t i = 0; delivered && i < nc; i++)
                if (!delivered[i])
                    unsee(ls, urls[i]);
            free(delivered);
            have = label_have(r, ls->label->name);
        }
        free(cands);
        free(urls);
        petal_scrape_page_free(&page);
        if (last_page)
            next_source(ls, r->nsources);
    }
    if (o->dry_run)
        ls->sum->got = have + listed;
}

/* ---- the run --------------------------------------------------------------------------- */

static petal_status parse_sources(run *r, const char *list, petal_error *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list && *list ? list : "wikimedia");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        const petal_scrape_source *s = petal_scrape_source_find(tok);
        if (!s)
            return petal_error_set(err, PETAL_ERR_ARG,
                                   "--source: unknown source '%s' (wikimedia, inaturalist, "
                                   "bing, google)",
                                   tok);
        if (r->nsources < sizeof r->sources / sizeof r->sources[0])
            r->sources[r->nsources++] = s;
    }
    if (r->nsources == 0)
        return petal_error_set(err, PETAL_ERR_ARG, "--source: no source given");
    return PETAL_OK;
}

petal_status petal_scrape_run(const petal_scrape_options *opts, petal_scrape_summary *summary,
                              petal_error *err)
{
    memset(summary, 0, sizeof *summary);
    if (!opts->labels || opts->labels->count == 0)
        return petal_error_set(err, PETAL_ERR_ARG,
                               "no labels (use --label, --labels or "
                               "--labels_file)");
    if (!opts->image_dir || !*opts->image_dir)
        return petal_error_set(err, PETAL_ERR_ARG, "--image_dir is required");
    petal_scrape_options o = *opts;
    if (o.per_class <= 0)
        o.per_class = 100;
    if (o.min_size <= 0)
        o.min_size = 64;
    if (o.max_pages <= 0)
        o.max_pages = 20;
    if (o.per_page <= 0)
        o.per_page = 50;
    petal_http_options_default(&o.http);

    run r = {0};
    r.o = &o;
    petal_status st = parse_sources(&r, o.sources, err);
    if (st != PETAL_OK)
        return st;
    if (!o.dry_run && (st = petal_mkdirs(o.image_dir, err)) != PETAL_OK)
        return st;
    r.manifest_path = petal_path_join(o.image_dir, "manifest.csv");
    r.nlabels = opts->labels->count;
    r.labels = calloc(r.nlabels, sizeof *r.labels);
    summary->labels = calloc(r.nlabels, sizeof *summary->labels);
    if (!r.manifest_path || !r.labels || !summary->labels) {
        free(r.manifest_path);
        free(r.labels);
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    }
    summary->count = r.nlabels;
    for (size_t i = 0; i < r.nlabels; i++) {
        r.labels[i].label = &opts->labels->items[i];
        r.labels[i].sum = &summary->labels[i];
        summary->labels[i].name = strdup(opts->labels->items[i].name);
        summary->labels[i].wanted = o.per_class;
    }

    /* One scrape per folder at a time: a second one would take the first one's temporary
     * files for leftovers of a crash. The lock goes away with the process, even on SIGKILL. */
    int lock_fd = -1;
    if (!o.dry_run) {
        char *lock_path = petal_path_join(o.image_dir, ".scrape.lock");
        lock_fd = lock_path ? open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
            st = petal_error_set(err, PETAL_ERR_IO,
                                 "%s: another petal scrape is working on this folder", o.image_dir);
        free(lock_path);
    }
    if (st == PETAL_OK)
        st = reconcile(&r, summary, err);
    if (st == PETAL_OK) {
        load_banned(&r);
        for (size_t i = 0; i < r.nlabels; i++) {
            int have = label_have(&r, r.labels[i].label->name);
            r.labels[i].sum->had = have;
            if (have < o.per_class)
                r.total_images += o.per_class - have;
        }
        if (!o.dry_run)
            r.progress = petal_progress_start("scrape", r.total_images, "images");
        /* Fill every label; labels that lost images to cross-label duplicates found later
         * get one more round. */
        for (int round = 0; round < 2 && st == PETAL_OK; round++) {
            int again = 0;
            for (size_t i = 0; i < r.nlabels; i++) {
                label_state *ls = &r.labels[i];
                if (round > 0 && !ls->lost)
                    continue;
                if (round > 0) { /* page through the sources again; tried URLs are skipped */
                    ls->source = 0;
                    ls->page = 0;
                    free(ls->next);
                    ls->next = NULL;
                    ls->exhausted = 0;
                }
                ls->lost = 0;
                if (!o.dry_run) {
                    char *dir = petal_path_join(o.image_dir, ls->label->folder);
                    st = dir ? petal_mkdirs(dir, err) : PETAL_ERR_NOMEM;
                    free(dir);
                    if (st != PETAL_OK)
                        break;
                }
                fill_label(&r, ls);
                if (r.stopped) {
                    st = r.stop_err.code != PETAL_OK ? r.stop_err.code : PETAL_ERR_IO;
                    if (err)
                        *err = r.stop_err;
                    break;
                }
                if (round == 0) {
                    r.labels_done++;
                    draw_progress(&r);
                }
                if (!o.dry_run)
                    petal_info("%s: %d/%d images (%d duplicates, %d cross-label, %d rejected, "
                               "%d failed)",
                               ls->label->name, label_have(&r, ls->label->name), o.per_class,
                               ls->sum->duplicates, ls->sum->cross_label, ls->sum->rejected,
                               ls->sum->failed);
            }
            for (size_t i = 0; i < r.nlabels; i++)
                again |= r.labels[i].lost;
            if (!again)
                break;
        }
        petal_progress_finish(r.progress);
    }
    for (size_t i = 0; i < r.nlabels; i++) {
        label_state *ls = &r.labels[i];
        if (!o.dry_run)
            ls->sum->got = label_have(&r, ls->label->name);
        ls->sum->rejected_reasons = reasons_text(&ls->rejected);
        ls->sum->failed_reasons = reasons_text(&ls->failed);
        reasons_free(&ls->rejected);
        reasons_free(&ls->failed);
        free(ls->next);
        for (size_t k = 0; k < ls->nseen; k++)
            free(ls->seen[k]);
        free(ls->seen);
    }
    free(r.labels);
    free(r.info);
    free(r.ban);
    petal_manifest_free(&r.m);
    free(r.manifest_path);
    if (lock_fd >= 0)
        close(lock_fd);
    return st;
}

void petal_scrape_summary_print(const petal_scrape_summary *s, void *f)
{
    FILE *out = f;
    if (s->reconciled_dropped_lines || s->reconciled_removed_files || s->reconciled_added_files)
        fprintf(out,
                "reconciled: %d manifest line(s) without a file dropped, %d stray file(s) "
                "removed, %d file(s) added as 'local'\n",
                s->reconciled_dropped_lines, s->reconciled_removed_files,
                s->reconciled_added_files);
    fprintf(out, "%-24s %6s %6s %6s %6s %6s %6s %6s\n", "label", "wanted", "had", "got", "dups",
            "cross", "reject", "failed");
    for (size_t i = 0; i < s->count; i++) {
        const petal_scrape_label_summary *l = &s->labels[i];
        fprintf(out, "%-24s %6d %6d %6d %6d %6d %6d %6d\n", l->name ? l->name : "?", l->wanted,
                l->had, l->got, l->duplicates, l->cross_label, l->rejected, l->failed);
        if (l->rejected_reasons && *l->rejected_reasons)
            fprintf(out, "    rejected: %s\n", l->rejected_reasons);
        if (l->failed_reasons && *l->failed_reasons)
            fprintf(out, "    failed: %s\n", l->failed_reasons);
    }
}

void petal_scrape_summary_free(petal_scrape_summary *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->labels[i].name);
        free(s->labels[i].rejected_reasons);
        free(s->labels[i].failed_reasons);
    }
    free(s->labels);
    memset(s, 0, sizeof *s);
}
