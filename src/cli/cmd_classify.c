/* cmd_classify.c - `petal classify`: label photos with a TFLite classifier, flag for flag
 * like TensorFlow's label_image.py. Photo -> decode (image/) -> resize to the model input ->
 * executor (nn/) -> top-k labels printed as text or one JSON object per photo. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "image/image.h"
#include "nn/exec.h"
#include "nn/model.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timer.h"

#define LABELS_MAX_BYTES (64u * 1024 * 1024)

typedef struct classify_args {
    const char *graph;
    const char *labels;
    const char *output_layer;
    char **images; /* paths as given (folders still unexpanded) */
    int n_images;
    int top_k;
    float input_mean, input_std;
    int threads;
    petal_backend backend;
    int crop_center;
    long long max_pixels;
    int json;
} classify_args;

typedef struct label_list {
    char *text; /* the file's bytes, split in place */
    char **names;
    size_t count;
} label_list;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: petal classify --graph MODEL.tflite --labels LABELS.txt --image PHOTO "
            "[flags]\n\n"
            "Prints the top labels of each photo, best first: `label (score = 0.92572)`.\n\n"
            "  --graph, --model PATH   TFLite classifier (required)\n"
            "  --labels PATH           one label per line, as many as the model outputs\n"
            "                          (without it, output indices are printed)\n"
            "  --image PATH            photo or folder of photos (repeatable; folders sorted)\n"
            "  --top_k N               labels per photo (default 5)\n"
            "  --input_mean X          float models: (pixel - mean) / std (default 127.5)\n"
            "  --input_std X           (default 127.5)\n"
            "  --output_layer NAME     tensor to read (default: the model's output)\n"
            "  --threads N             inference threads (default: all cores)\n"
            "  --backend NAME          auto, reference, onednn-f32 or onednn-int8 (default auto)\n"
            "  --crop center           centre-crop to the input's aspect ratio before resizing\n"
            "                          (default: whole photo resized)\n"
            "  --max_pixels N          largest photo accepted, width*height (default 64000000)\n"
            "  --json                  one JSON object per photo and line\n"
            "  --log_level LEVEL       error, warn, info or debug (default warn)\n");
}

/* ---- Flags -------------------------------------------------------------------------- */

/* Parses one flag at argv[*i]; 1 if handled, 0 if unknown, -1 on a bad value. */
static int parse_flag(int argc, char **argv, int *i, classify_args *a)
{
    const char *v;
    long n;
    double x;
    int r;
    if ((r = petal_flag_value(argc, argv, i, "graph", &a->graph)) != 0 ||
        (r = petal_flag_value(argc, argv, i, "model", &a->graph)) != 0 ||
        (r = petal_flag_value(argc, argv, i, "labels", &a->labels)) != 0 ||
        (r = petal_flag_value(argc, argv, i, "output_layer", &a->output_layer)) != 0)
        return r;
    if ((r = petal_flag_value(argc, argv, i, "image", &v)) != 0) {
        if (r > 0)
            a->images[a->n_images++] = (char *)v;
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "top_k", &v)) != 0) {
        if (r > 0 && petal_parse_int("top_k", v, 1, 1000000, &n) != 0)
            return -1;
        if (r > 0)
            a->top_k = (int)n;
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "threads", &v)) != 0) {
        if (r > 0 && petal_parse_int("threads", v, 0, 1024, &n) != 0)
            return -1;
        if (r > 0)
            a->threads = (int)n;
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "max_pixels", &v)) != 0) {
        if (r > 0 && petal_parse_int("max_pixels", v, 1, 1L << 40, &n) != 0)
            return -1;
        if (r > 0)
            a->max_pixels = n;
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "input_mean", &v)) != 0) {
        if (r > 0 && petal_parse_float("input_mean", v, &x) != 0)
            return -1;
        if (r > 0)
            a->input_mean = (float)x;
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "input_std", &v)) != 0) {
        if (r > 0 && (petal_parse_float("input_std", v, &x) != 0))
            return -1;
        if (r > 0 && x == 0) {
            fprintf(stderr, "petal: error: --input_std must not be 0\n");
            return -1;
        }
        if (r > 0)
            a->input_std = (float)x;
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "backend", &v)) != 0) {
        if (r > 0 && petal_backend_parse(v, &a->backend) != 0) {
            fprintf(stderr,
                    "petal: error: --backend: '%s' is not auto, reference, onednn-f32 or "
                    "onednn-int8\n",
                    v);
            return -1;
        }
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "crop", &v)) != 0) {
        if (r > 0 && strcmp(v, "center") != 0 && strcmp(v, "none") != 0) {
            fprintf(stderr, "petal: error: --crop: '%s' is not center or none\n", v);
            return -1;
        }
        a->crop_center = r > 0 && strcmp(v, "center") == 0;
        return r;
    }
    if ((r = petal_flag_value(argc, argv, i, "log_level", &v)) != 0) {
        petal_log_level level;
        if (r > 0 && petal_log_parse_level(v, &level) != 0) {
            fprintf(stderr, "petal: error: --log_level: '%s' is not error, warn, info or debug\n",
                    v);
            return -1;
        }
        if (r > 0)
            petal_log_set_level(level);
        return r;
    }
    return petal_flag_bool(argc, argv, i, "json", &a->json);
}

/* Fills a from argv; returns 0, or the exit status (0 for --help, 2 for usage errors). */
static int parse_args(int argc, char **argv, classify_args *a, int *done)
{
    *done = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            *done = 1;
            return 0;
        }
        int r = parse_flag(argc, argv, &i, a);
        if (r < 0)
            return 2;
        if (r == 0) {
            petal_flag_unknown("classify", argv[i]);
            return 2;
        }
    }
    if (a->graph == NULL || a->n_images == 0) {
        fprintf(stderr, "petal: error: classify needs --graph and at least one --image "
                        "(see petal classify --help)\n");
        return 2;
    }
    return 0;
}

/* ---- Labels ------------------------------------------------------------------------- */

static void labels_free(label_list *l)
{
    free(l->text);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* Reads one label per line (a trailing newline and '\r' line ends are fine). */
static petal_status labels_load(const char *path, label_list *l, petal_error *err)
{
    uint8_t *data;
    size_t len;
    memset(l, 0, sizeof *l);
    petal_status st = petal_read_file(path, LABELS_MAX_BYTES, &data, &len, err);
    if (st != PETAL_OK)
        return st;
    if (memchr(data, '\0', len) != NULL) {
        free(data);
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: not a text file of labels", path);
    }
    l->text = (char *)data;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    l->names = malloc(lines * sizeof *l->names);
    if (l->names == NULL) {
        labels_free(l);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    }
    char *p = l->text, *end = l->text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        if (stop > p && stop[-1] == '\r')
            stop[-1] = '\0';
        *stop = '\0';
        l->names[l->count++] = p;
        p = stop + 1;
    }
    return PETAL_OK;
}

/* ---- Photos ------------------------------------------------------------------------- */

static int has_image_extension(const char *name)
{
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(name + n - e, ext[i]) == 0)
            return 1;
    }
    return 0;
}

/* A file in a folder is a photo if its name says so or its first bytes are an image's. */
static int looks_like_image(const char *path)
{
    if (!petal_is_file(path))
        return 0;
    if (has_image_extension(path))
        return 1;
    uint8_t head[32];
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return petal_image_sniff(head, n) != PETAL_FORMAT_UNKNOWN;
}

/* Appends path, or the photos of the folder path, to *list. */
static petal_status expand_image(const char *path, char ***list, size_t *count, size_t *cap,
                                 petal_error *err)
{
    char **names = NULL;
    size_t n = 0;
    int is_dir = petal_is_dir(path);
    if (is_dir) {
        petal_status st = petal_list_dir(path, &names, &n, err);
        if (st != PETAL_OK)
            return st;
    }
    size_t add = is_dir ? n : 1;
    if (*count + add > *cap) {
        size_t cap2 = (*count + add) * 2;
        char **grown = realloc(*list, cap2 * sizeof **list);
        if (grown == NULL) {
            petal_free_list(names, n);
            return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory listing %s", path);
        }
        *list = grown;
        *cap = cap2;
    }
    if (!is_dir) {
        (*list)[(*count)++] = strdup(path);
        return PETAL_OK;
    }
    size_t before = *count;
    for (size_t i = 0; i < n; i++) {
        char *full = petal_path_join(path, names[i]);
        if (full != NULL && looks_like_image(full))
            (*list)[(*count)++] = full;
        else
            free(full);
    }
    petal_free_list(names, n);
    if (*count == before)
        petal_warn("%s: no photos in this folder", path);
    return PETAL_OK;
}

/* Decodes a photo and brings it to the model input size. */
static petal_status load_photo(const char *path, const classify_args *a, int width, int height,
                               petal_image *out, petal_error *err)
{
    petal_decode_options opts = {a->max_pixels, width, height};
    petal_image img = {0};
    petal_status st = petal_image_load(path, &opts, &img, err);
    if (st != PETAL_OK)
        return st;
    if (a->crop_center)
        st = petal_image_resize_center_crop(&img, width, height, out, err);
    else
        st = petal_image_resize(&img, width, height, out, err);
    petal_image_free(&img);
    return st;
}

/* ---- Results ------------------------------------------------------------------------ */

/* Indices of the k largest scores, best first (ties: lower index first). */
static void top_k(const float *scores, size_t n, int k, int *best)
{
    for (int j = 0; j < k; j++)
        best[j] = -1;
    for (size_t i = 0; i < n; i++) {
        int pos = k;
        while (pos > 0 && (best[pos - 1] < 0 || scores[i] > scores[best[pos - 1]]))
            pos--;
        if (pos >= k)
            continue;
        memmove(best + pos + 1, best + pos, (size_t)(k - pos - 1) * sizeof *best);
        best[pos] = (int)i;
    }
}

static const char *label_of(const label_list *labels, int index, char *buf, size_t size)
{
    if (labels->count > 0)
        return labels->names[index];
    snprintf(buf, size, "%d", index);
    return buf;
}

static void print_text(const char *path, int header, const label_list *labels, const float *scores,
                       const int *best, int k)
{
    char buf[32];
    if (header)
        printf("%s:\n", path);
    for (int j = 0; j < k && best[j] >= 0; j++)
        printf("%s (score = %.5f)\n", label_of(labels, best[j], buf, sizeof buf), scores[best[j]]);
}

/* Rounds to 6 decimals so the JSON reads 0.92549, not 0.92549020051956177. */
static double round6(double x)
{
    return round(x * 1e6) / 1e6;
}

static void print_json(const char *path, const label_list *labels, const float *scores,
                       const int *best, int k, double decode_ms, double ms, const char *error)
{
    char buf[32];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "file", path);
    if (error != NULL) {
        cJSON_AddStringToObject(o, "error", error);
    } else {
        cJSON *preds = cJSON_AddArrayToObject(o, "predictions");
        for (int j = 0; j < k && best[j] >= 0 && preds; j++) {
            cJSON *p = cJSON_CreateObject();
            if (p == NULL)
                break;
            cJSON_AddStringToObject(p, "label", label_of(labels, best[j], buf, sizeof buf));
            cJSON_AddNumberToObject(p, "score", round6(scores[best[j]]));
            cJSON_AddItemToArray(preds, p);
        }
        cJSON_AddNumberToObject(o, "decode_ms", round(decode_ms * 1000) / 1000);
        cJSON_AddNumberToObject(o, "ms", round(ms * 1000) / 1000);
    }
    char *text = cJSON_PrintUnformatted(o);
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

/* ---- The command -------------------------------------------------------------------- */

/* Classifies one photo; returns 0 or 1 (the photo failed; the error is printed). */
static int classify_one(const char *path, int header, const classify_args *a, petal_exec *exec,
                        const label_list *labels, int *best)
{
    petal_error err;
    int h, w, c;
    petal_exec_input_size(exec, &h, &w, &c);
    double t0 = petal_now_ms();
    petal_image img = {0};
    petal_status st = load_photo(path, a, w, h, &img, &err);
    double t1 = petal_now_ms();
    if (st == PETAL_OK)
        st = petal_exec_set_input_rgb(exec, img.pixels, a->input_mean, a->input_std, &err);
    if (st == PETAL_OK)
        st = petal_exec_run(exec, &err);
    double t2 = petal_now_ms();
    petal_image_free(&img);
    if (st != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        if (a->json) {
            print_json(path, labels, NULL, NULL, 0, 0, 0, err.msg);
            fflush(stdout);
        }
        return 1;
    }
    size_t n;
    const float *scores = petal_exec_output(exec, &n);
    int k = a->top_k < (int)n ? a->top_k : (int)n;
    top_k(scores, n, k, best);
    if (a->json)
        print_json(path, labels, scores, best, k, t1 - t0, t2 - t1, NULL);
    else
        print_text(path, header, labels, scores, best, k);
    fflush(stdout);
    return 0;
}

/* Loads the model and labels and plans the executor; prints the error and returns 1 on
 * failure. */
static int setup(const classify_args *a, petal_model **model, petal_exec **exec, label_list *labels)
{
    petal_error err;
    if (petal_model_load(a->graph, model, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        return 1;
    }
    petal_exec_options o = petal_exec_defaults();
    o.backend = a->backend;
    o.threads = a->threads;
    if (a->output_layer != NULL) {
        o.output = petal_model_find_tensor(*model, a->output_layer);
        if (o.output < 0) {
            fprintf(stderr, "petal: error: %s: no tensor named '%s' (see petal info --graph)\n",
                    a->graph, a->output_layer);
            return 1;
        }
    }
    if (petal_exec_create(*model, &o, exec, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        return 1;
    }
    petal_debug("%s: %s backend, %.0f MMAC per photo", a->graph,
                petal_backend_name(petal_exec_backend(*exec)), petal_exec_macs(*exec) / 1e6);
    if (a->labels == NULL)
        return 0;
    if (labels_load(a->labels, labels, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        return 1;
    }
    size_t n;
    petal_exec_output(*exec, &n);
    if (labels->count != n) {
        fprintf(stderr, "petal: error: %s has %zu labels but %s outputs %zu values\n", a->labels,
                labels->count, a->graph, n);
        return 1;
    }
    return 0;
}

int petal_cmd_classify(int argc, char **argv)
{
    classify_args a = {0};
    a.top_k = 5;
    a.input_mean = 127.5f;
    a.input_std = 127.5f;
    a.backend = PETAL_BACKEND_AUTO;
    a.images = calloc((size_t)argc + 1, sizeof *a.images);
    if (a.images == NULL)
        return 1;
    int done;
    int rc = parse_args(argc, argv, &a, &done);
    if (rc != 0 || done) {
        free(a.images);
        return rc;
    }

    petal_model *model = NULL;
    petal_exec *exec = NULL;
    label_list labels = {0};
    char **photos = NULL;
    size_t n_photos = 0, cap = 0;
    int *best = NULL;
    rc = setup(&a, &model, &exec, &labels);
    for (int i = 0; i < a.n_images && rc == 0; i++) {
        petal_error err;
        if (expand_image(a.images[i], &photos, &n_photos, &cap, &err) != PETAL_OK) {
            fprintf(stderr, "petal: error: %s\n", err.msg);
            rc = 1;
        }
    }
    if (rc == 0 && n_photos == 0) {
        fprintf(stderr, "petal: error: no photos to classify in the --image folders\n");
        rc = 1;
    }
    if (rc == 0 && (best = malloc((size_t)a.top_k * sizeof *best)) == NULL)
        rc = 1;
    int failed = 0;
    for (size_t i = 0; i < n_photos && rc == 0; i++)
        failed |= classify_one(photos[i], n_photos > 1, &a, exec, &labels, best);

    if (rc == 0 && failed)
        rc = 1;
    free(best);
    for (size_t i = 0; i < n_photos; i++)
        free(photos[i]);
    free(photos);
    labels_free(&labels);
    petal_exec_free(exec);
    petal_model_free(model);
    free(a.images);
    return rc;
}
