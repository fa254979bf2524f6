/* events.c - TFRecord framing and hand-written Event/Summary protobufs for TensorBoard. */
#include "train/events.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/fs.h"

/* ---- CRC-32C ------------------------------------------------------------------------ */

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t petal_crc32c(const void *data, size_t len)
{
    if (!crc_ready)
        crc_init();
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t petal_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- A growable protobuf buffer ----------------------------------------------------- */

typedef struct pb {
    uint8_t *data;
    size_t len, cap;
    int failed;
} pb;

static void pb_bytes(pb *b, const void *data, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    pb_bytes(b, tmp, n);
}

static void pb_key(pb *b, int field, int wire)
{
    pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

static void pb_double(pb *b, int field, double v)
{
    uint8_t le[8];
    uint64_t u;
    memcpy(&u, &v, 8);
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(u >> (8 * i));
    pb_key(b, field, 1);
    pb_bytes(b, le, 8);
}

static void pb_float(pb *b, int field, float v)
{
    uint8_t le[4];
    uint32_t u;
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++)
        le[i] = (uint8_t)(u >> (8 * i));
    pb_key(b, field, 5);
    pb_bytes(b, le, 4);
}

static void pb_len(pb *b, int field, const void *data, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_bytes(b, data, n);
}

static void pb_packed_doubles(pb *b, int field, const double *v, size_t n)
{
    pb_key(b, field, 2);
    pb_varint(b, n * 8);
    for (size_t i = 0; i < n; i++) {
        uint8_t le[8];
        uint64_t u;
        memcpy(&u, &v[i], 8);
        for (int k = 0; k < 8; k++)
            le[k] = (uint8_t)(u >> (8 * k));
        pb_bytes(b, le, 8);
    }
}

/* ---- Event file ----------------------------------------------------------------------- */

struct petal_events {
    FILE *f;
    char *path;
};

static double wall_time(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Frames one record: u64 length, masked crc of length, data, masked crc of data. */
static petal_status write_record(petal_events *ev, const pb *event, petal_error *err)
{
    if (event->failed)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ev->path);
    uint8_t head[12];
    uint64_t n = event->len;
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(n >> (8 * i));
    uint32_t c = petal_crc32c_mask(petal_crc32c(head, 8));
    for (int i = 0; i < 4; i++)
        head[8 + i] = (uint8_t)(c >> (8 * i));
    uint32_t d = petal_crc32c_mask(petal_crc32c(event->data, event->len));
    uint8_t tail[4];
    for (int i = 0; i < 4; i++)
        tail[i] = (uint8_t)(d >> (8 * i));
    if (fwrite(head, 1, 12, ev->f) != 12 ||
        fwrite(event->data, 1, event->len, ev->f) != event->len || fwrite(tail, 1, 4, ev->f) != 4 ||
        fflush(ev->f) != 0)
        return petal_error_set(err, PETAL_ERR_IO, "%s: write failed", ev->path);
    return PETAL_OK;
}

/* Event { wall_time = 1; step = 2; summary = 5 } around an encoded Summary. */
static petal_status write_summary(petal_events *ev, int64_t step, const pb *summary,
                                  petal_error *err)
{
    pb event = {0};
    pb_double(&event, 1, wall_time());
    pb_key(&event, 2, 0);
    pb_varint(&event, (uint64_t)step);
    pb_len(&event, 5, summary->data, summary->len);
    petal_status st = summary->failed
                          ? petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ev->path)
                          : write_record(ev, &event, err);
    free(event.data);
    return st;
}

petal_status petal_events_open(const char *dir, petal_events **out, petal_error *err)
{
    *out = NULL;
    petal_status st = petal_mkdirs(dir, err);
    if (st != PETAL_OK)
        return st;
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    petal_events *ev = calloc(1, sizeof *ev);
    if (!ev)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", dir);
    size_t n = strlen(dir) + strlen(host) + 96;
    ev->path = malloc(n);
    if (!ev->path) {
        free(ev);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", dir);
    }
    /* Seconds name the file; a suffix keeps two runs in the same second apart. */
    long secs = (long)wall_time();
    for (int k = 0; k < 1000; k++) {
        if (k == 0)
            snprintf(ev->path, n, "%s/events.out.tfevents.%ld.%s", dir, secs, host);
        else
            snprintf(ev->path, n, "%s/events.out.tfevents.%ld.%s.%d", dir, secs, host, k);
        if (!petal_is_file(ev->path))
            break;
    }
    ev->f = fopen(ev->path, "wbx");
    if (!ev->f) {
        st = petal_error_set(err, PETAL_ERR_IO, "%s: cannot create event file", ev->path);
        free(ev->path);
        free(ev);
        return st;
    }
    pb event = {0};
    pb_double(&event, 1, wall_time());
    pb_len(&event, 3, "brain.Event:2", 13);
    st = write_record(ev, &event, err);
    free(event.data);
    if (st != PETAL_OK) {
        petal_events_close(ev);
        return st;
    }
    *out = ev;
    return PETAL_OK;
}

petal_status petal_events_scalar(petal_events *ev, const char *tag, int64_t step, float value,
                                 petal_error *err)
{
    /* Summary { repeated Value value = 1 }; Value { tag = 1; simple_value = 2 } */
    pb val = {0}, summary = {0};
    pb_len(&val, 1, tag, strlen(tag));
    pb_float(&val, 2, value);
    pb_len(&summary, 1, val.data, val.len);
    summary.failed |= val.failed;
    petal_status st = write_summary(ev, step, &summary, err);
    free(val.data);
    free(summary.data);
    return st;
}

/* TensorFlow's default histogram bucket limits: +-1e-12 * 1.1^k up to 1e20, and DBL_MAX. */
static size_t bucket_limits(double *limits, size_t cap)
{
    double pos[800];
    size_t np = 0;
    for (double v = 1e-12; v < 1e20 && np < 800; v *= 1.1)
        pos[np++] = v;
    size_t n = 0;
    for (size_t i = np; i-- > 0 && n < cap;)
        limits[n++] = -pos[i];
    if (n < cap)
        limits[n++] = 0.0;
    for (size_t i = 0; i < np && n < cap; i++)
        limits[n++] = pos[i];
    if (n < cap)
        limits[n++] = 1.7976931348623157e308;
    return n;
}

petal_status petal_events_histogram(petal_events *ev, const char *tag, int64_t step,
                                    const float *values, size_t n, petal_error *err)
{
    double limits[1700];
    size_t nl = bucket_limits(limits, sizeof limits / sizeof limits[0]);
    double *counts = calloc(nl, sizeof *counts);
    if (!counts)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ev->path);
    double mn = INFINITY, mx = -INFINITY, sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        double v = values[i];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
        sum2 += v * v;
        size_t lo = 0, hi = nl - 1; /* first limit >= v: bucket i holds (limit[i-1], limit[i]] */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (limits[mid] < v)
                lo = mid + 1;
            else
                hi = mid;
        }
        counts[lo] += 1;
    }
    if (n == 0)
        mn = mx = 0;
    /* Only the non-empty range of buckets is stored, as TensorFlow does. */
    size_t first = 0, last = nl;
    while (first < nl && counts[first] == 0)
        first++;
    while (last > first && counts[last - 1] == 0)
        last--;
    pb histo = {0}, val = {0}, summary = {0};
    pb_double(&histo, 1, mn);
    pb_double(&histo, 2, mx);
    pb_double(&histo, 3, (double)n);
    pb_double(&histo, 4, sum);
    pb_double(&histo, 5, sum2);
    pb_packed_doubles(&histo, 6, limits + first, last - first);
    pb_packed_doubles(&histo, 7, counts + first, last - first);
    pb_len(&val, 1, tag, strlen(tag));
    pb_len(&val, 5, histo.data, histo.len);
    pb_len(&summary, 1, val.data, val.len);
    summary.failed |= val.failed | histo.failed;
    petal_status st = write_summary(ev, step, &summary, err);
    free(histo.data);
    free(val.data);
    free(summary.data);
    free(counts);
    return st;
}

const char *petal_events_path(const petal_events *ev)
{
    return ev->path;
}

void petal_events_close(petal_events *ev)
{
    if (!ev)
        return;
    if (ev->f)
        fclose(ev->f);
    free(ev->path);
    free(ev);
}
