/* test_events.c - TensorBoard event files: CRC-32C test vectors, and a small TFRecord and
 * protobuf reader that checks every CRC and decodes the scalars and the histogram back. */
#include "common/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/events.h"
#include "util/fs.h"

static void test_crc32c_vectors(void **state)
{
    (void)state;
    /* RFC 3720 B.4 and the standard check value. */
    assert_int_equal(petal_crc32c("123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xFF, sizeof ones);
    assert_int_equal(petal_crc32c(zeros, 32), 0x8A9136AAu);
    assert_int_equal(petal_crc32c(ones, 32), 0x62A8AB43u);
}

/* ---- A reader for what the writer produces ---- */

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static uint64_t rd_varint(reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
    fail_msg("bad varint");
    return 0;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

typedef struct decoded {
    int n_scalars;
    char tags[16][64];
    int64_t steps[16];
    float values[16];
    int has_version;
    double histo_num, histo_sum, histo_min, histo_max, bucket_total;
    char histo_tag[64];
} decoded;

/* Decodes a HistogramProto. */
static void decode_histo(reader r, decoded *d)
{
    while (r.p < r.end) {
        uint64_t key = rd_varint(&r);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 1) {
            uint64_t u = rd_le(r.p, 8);
            double v;
            memcpy(&v, &u, 8);
            r.p += 8;
            if (field == 1)
                d->histo_min = v;
            if (field == 2)
                d->histo_max = v;
            if (field == 3)
                d->histo_num = v;
            if (field == 4)
                d->histo_sum = v;
        } else if (wire == 2) {
            uint64_t n = rd_varint(&r);
            assert_true(n % 8 == 0 && r.p + n <= r.end);
            if (field == 7)
                for (uint64_t i = 0; i < n; i += 8) {
                    uint64_t u = rd_le(r.p + i, 8);
                    double v;
                    memcpy(&v, &u, 8);
                    d->bucket_total += v;
                }
            r.p += n;
        } else {
            fail_msg("unexpected wire type %d in histogram", wire);
        }
    }
}

/* Decodes Summary.Value { tag = 1; simple_value = 2; histo = 5 }. */
static void decode_value(reader r, int64_t step, decoded *d)
{
    char tag[64] = "";
    while (r.p < r.end) {
        uint64_t key = rd_varint(&r);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 2) {
            uint64_t n = rd_varint(&r);
            assert_true(r.p + n <= r.end);
            if (field == 1) {
                assert_true(n < sizeof tag);
                memcpy(tag, r.p, n);
                tag[n] = '\0';
            } else if (field == 5) {
                snprintf(d->histo_tag, sizeof d->histo_tag, "%s", tag);
                decode_histo((reader){r.p, r.p + n}, d);
            }
            r.p += n;
        } else if (wire == 5 && field == 2) {
            uint32_t u = (uint32_t)rd_le(r.p, 4);
            r.p += 4;
            assert_true(d->n_scalars < 16);
            memcpy(&d->values[d->n_scalars], &u, 4);
            snprintf(d->tags[d->n_scalars], 64, "%s", tag);
            d->steps[d->n_scalars++] = step;
        } else {
            fail_msg("unexpected field %d wire %d in Value", field, wire);
        }
    }
}

/* Decodes one Event { wall_time = 1; step = 2; file_version = 3; summary = 5 }. */
static void decode_event(reader r, decoded *d)
{
    int64_t step = 0;
    while (r.p < r.end) {
        uint64_t key = rd_varint(&r);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 1) {
            r.p += 8;
        } else if (wire == 0) {
            uint64_t v = rd_varint(&r);
            if (field == 2)
                step = (int64_t)v;
        } else if (wire == 2) {
            uint64_t n = rd_varint(&r);
            assert_true(r.p + n <= r.end);
            if (field == 3) {
                assert_int_equal(n, 13);
                assert_memory_equal(r.p, "brain.Event:2", 13);
                d->has_version = 1;
            } else if (field == 5) {
                reader s = {r.p, r.p + n};
                while (s.p < s.end) {
                    uint64_t k = rd_varint(&s);
                    assert_int_equal(k, (1 << 3) | 2);
                    uint64_t m = rd_varint(&s);
                    decode_value((reader){s.p, s.p + m}, step, d);
                    s.p += m;
                }
            }
            r.p += n;
        } else {
            fail_msg("unexpected wire type %d in Event", wire);
        }
    }
}

/* Reads every TFRecord, checking both masked CRCs; returns the record count. */
static int read_records(const uint8_t *data, size_t len, decoded *d)
{
    size_t off = 0;
    int n = 0;
    while (off < len) {
        assert_true(off + 12 <= len);
        uint64_t rec_len = rd_le(data + off, 8);
        assert_int_equal((uint32_t)rd_le(data + off + 8, 4),
                         petal_crc32c_mask(petal_crc32c(data + off, 8)));
        assert_true(off + 12 + rec_len + 4 <= len);
        const uint8_t *rec = data + off + 12;
        assert_int_equal((uint32_t)rd_le(rec + rec_len, 4),
                         petal_crc32c_mask(petal_crc32c(rec, rec_len)));
        decode_event((reader){rec, rec + rec_len}, d);
        off += 12 + rec_len + 4;
        n++;
    }
    return n;
}

static void test_event_file_roundtrip(void **state)
{
    (void)state;
    char *dir = petal_test_tmpdir("events");
    char *sub = petal_path_join(dir, "train");
    petal_events *ev;
    petal_error err;
    assert_int_equal(petal_events_open(sub, &ev, &err), PETAL_OK);
    assert_int_equal(petal_events_scalar(ev, "accuracy", 0, 0.25f, &err), PETAL_OK);
    assert_int_equal(petal_events_scalar(ev, "cross_entropy", 0, 1.5f, &err), PETAL_OK);
    assert_int_equal(petal_events_scalar(ev, "accuracy", 300, 0.875f, &err), PETAL_OK);
    float w[100];
    double sum = 0;
    for (int i = 0; i < 100; i++) {
        w[i] = (float)(i - 50) * 0.001f;
        sum += w[i];
    }
    assert_int_equal(petal_events_histogram(ev, "final_weights", 300, w, 100, &err), PETAL_OK);
    char *path = strdup(petal_events_path(ev));
    petal_events_close(ev);
    assert_non_null(strstr(path, "/train/events.out.tfevents."));

    uint8_t *data;
    size_t len;
    assert_int_equal(petal_read_file(path, 0, &data, &len, &err), PETAL_OK);
    decoded d;
    memset(&d, 0, sizeof d);
    assert_int_equal(read_records(data, len, &d), 5);
    assert_true(d.has_version);
    assert_int_equal(d.n_scalars, 3);
    assert_string_equal(d.tags[0], "accuracy");
    assert_string_equal(d.tags[1], "cross_entropy");
    assert_true(d.values[0] == 0.25f && d.values[1] == 1.5f && d.values[2] == 0.875f);
    assert_int_equal(d.steps[2], 300);
    assert_string_equal(d.histo_tag, "final_weights");
    assert_true(d.histo_num == 100 && d.bucket_total == 100);
    assert_true(fabs(d.histo_sum - sum) < 1e-9);
    assert_true(fabs(d.histo_min + 0.05) < 1e-7 && fabs(d.histo_max - 0.049) < 1e-7);

    /* A flipped byte is caught by the CRC check of this reader's kind. */
    data[20] ^= 1;
    assert_int_not_equal((uint32_t)rd_le(data + 12 + rd_le(data, 8), 4),
                         petal_crc32c_mask(petal_crc32c(data + 12, rd_le(data, 8))));
    free(data);

    /* A second writer in the same folder never touches the first file. */
    assert_int_equal(petal_events_open(sub, &ev, &err), PETAL_OK);
    assert_string_not_equal(petal_events_path(ev), path);
    petal_events_close(ev);
    assert_true(petal_is_file(path));
    free(path);
    petal_test_rmtree(dir);
    free(sub);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_event_file_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
