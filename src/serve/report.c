/* report.c - the training report page (curves, confusion heat map, per-class scores,
 * misclassified thumbnails) written by `petal train --report` and `petal evaluate --report`. */
#include "serve/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/fs.h"
#include "util/log.h"

#define DEFAULT_THUMBNAILS 120
#define DEFAULT_THUMB_PX   128
#define THUMB_QUALITY      80

/* ---- A growing string ------------------------------------------------------------------- */

typedef struct buf {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed; further appends are ignored */
} buf;

static int buf_reserve(buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

static void buf_add(buf *b, const char *text, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(buf *b, const char *text)
{
    buf_add(b, text, strlen(text));
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Appends text with &, <, >, " and ' escaped (safe in element content and attributes). */
static void buf_escape(buf *b, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&#39;");
            break;
        default:
            buf_add(b, p, 1);
        }
    }
}

/* ---- Thumbnails ---------------------------------------------------------------------------- */

static void buf_base64(buf *b, const unsigned char *data, size_t n)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (buf_reserve(b, (n + 2) / 3 * 4) != 0)
        return;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = digits[v >> 18];
        *o++ = digits[(v >> 12) & 63];
        *o++ = digits[(v >> 6) & 63];
        *o++ = digits[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = digits[v >> 18];
        *o++ = digits[(v >> 12) & 63];
        *o++ = i + 1 < n ? digits[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

petal_status petal_report_thumbnail(const char *path, int max_px, char **data_uri, petal_error *err)
{
    *data_uri = NULL;
    if (max_px < 1)
        return petal_error_set(err, PETAL_ERR_ARG, "%s: thumbnail size must be positive", path);
    petal_decode_options opts = {.target_width = max_px, .target_height = max_px};
    petal_image img = {0}, small = {0};
    petal_status st = petal_image_load(path, &opts, &img, err);
    if (st != PETAL_OK)
        return st;

    int w = img.width, h = img.height;
    if (w > max_px || h > max_px) {
        double scale = (double)max_px / (w > h ? w : h);
        w = (int)lround(w * scale);
        h = (int)lround(h * scale);
        w = w < 1 ? 1 : w;
        h = h < 1 ? 1 : h;
    }
    st = petal_image_resize(&img, w, h, &small, err);
    petal_image_free(&img);
    if (st != PETAL_OK)
        return st;

    uint8_t *jpeg = NULL;
    size_t jpeg_len = 0;
    st = petal_image_encode_jpeg(&small, THUMB_QUALITY, &jpeg, &jpeg_len, path, err);
    petal_image_free(&small);
    if (st != PETAL_OK)
        return st;
    buf b = {0};
    buf_puts(&b, "data:image/jpeg;base64,");
    buf_base64(&b, jpeg, jpeg_len);
    free(jpeg);
    if (b.failed) {
        free(b.data);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    }
    *data_uri = b.data;
    return PETAL_OK;
}

/* ---- Curves (inline SVG) --------------------------------------------------------------------- */

#define SVG_W   640
#define SVG_H   280
#define PLOT_L  64
#define PLOT_R  20
#define PLOT_T  16
#define PLOT_B  48
#define TRAIN_C "#0a58a8"
#define VALID_C "#b34700"

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `ticks` intervals. */
static double nice_step(double range, int ticks)
{
    if (!(range > 0))
        return 1;
    double raw = range / ticks;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

typedef struct chart {
    double x0, x1, y0, y1;
} chart;

static double chart_x(const chart *c, double x)
{
    double w = SVG_W - PLOT_L - PLOT_R;
    return PLOT_L + (c->x1 > c->x0 ? (x - c->x0) / (c->x1 - c->x0) * w : w / 2);
}

static double chart_y(const chart *c, double y)
{
    double h = SVG_H - PLOT_T - PLOT_B;
    return PLOT_T + h - (y - c->y0) / (c->y1 - c->y0) * h;
}

static float step_value(const petal_report_step *s, int which)
{
    switch (which) {
    case 0:
        return s->train_accuracy;
    case 1:
        return s->validation_accuracy;
    case 2:
        return s->train_cross_entropy;
    default:
        return s->validation_cross_entropy;
    }
}

/* Draws one series (which: 0 train acc, 1 validation acc, 2 train xent, 3 validation xent).
 * Returns the number of points drawn. */
static int draw_series(buf *b, const petal_report *r, const chart *c, int which, double scale,
                       const char *color, const char *dash)
{
    int n = 0;
    for (int i = 0; i < r->n_steps; i++)
        n += isfinite(step_value(&r->steps[i], which));
    if (n == 0)
        return 0;
    if (n == 1) {
        for (int i = 0; i < r->n_steps; i++) {
            float v = step_value(&r->steps[i], which);
            if (isfinite(v))
                buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
                           chart_x(c, r->steps[i].step), chart_y(c, v * scale), color);
        }
        return 1;
    }
    buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
               dash);
    for (int i = 0; i < r->n_steps; i++) {
        float v = step_value(&r->steps[i], which);
        if (isfinite(v))
            buf_printf(b, "%.1f,%.1f ", chart_x(c, r->steps[i].step), chart_y(c, v * scale));
    }
    buf_puts(b, "\"/>\n");
    return n;
}

/* One line chart: train and validation series of a metric (accuracy in % or cross-entropy). */
static void draw_chart(buf *b, const petal_report *r, int accuracy)
{
    const char *id = accuracy ? "acc" : "xent";
    const char *what = accuracy ? "Accuracy" : "Cross-entropy";
    int first = accuracy ? 0 : 2;
    double scale = accuracy ? 100 : 1;
    chart c = {r->steps[0].step, r->steps[r->n_steps - 1].step, 0, accuracy ? 100 : 0};
    if (!accuracy) {
        for (int i = 0; i < r->n_steps; i++)
            for (int k = 2; k < 4; k++) {
                float v = step_value(&r->steps[i], k);
                if (isfinite(v) && v > c.y1)
                    c.y1 = v;
            }
        double step = nice_step(c.y1 > 0 ? c.y1 : 1, 5);
        c.y1 = ceil((c.y1 > 0 ? c.y1 : 1) / step) * step;
    }

    buf_printf(
        b,
        "<figure>\n<h3>%s</h3>\n<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"%s-t\" "
        "class=\"chart\">\n<title id=\"%s-t\">%s per step, train and validation</title>\n",
        what, SVG_W, SVG_H, id, id, what);
    /* Axes, grid and tick labels. */
    double ystep = nice_step(c.y1 - c.y0, 5);
    for (double y = c.y0; y <= c.y1 + ystep * 1e-6; y += ystep) {
        double py = chart_y(&c, y);
        buf_printf(b,
                   "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g%s</text>\n",
                   PLOT_L, SVG_W - PLOT_R, py, py, PLOT_L - 6, py + 4, y, accuracy ? "%" : "");
    }
    double xstep = nice_step(c.x1 - c.x0, 6);
    if (xstep < 1)
        xstep = 1;
    for (double x = ceil(c.x0 / xstep) * xstep; x <= c.x1 + 1e-9; x += xstep) {
        double px = chart_x(&c, x);
        buf_printf(b,
                   "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" class=\"axis\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                   px, px, SVG_H - PLOT_B, SVG_H - PLOT_B + 5, px, SVG_H - PLOT_B + 20, x);
    }
    buf_printf(b,
               "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"axis\"/>\n"
               "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n",
               PLOT_L, SVG_W - PLOT_R, SVG_H - PLOT_B, SVG_H - PLOT_B, (PLOT_L + SVG_W) / 2,
               SVG_H - 8);

    int n_train = draw_series(b, r, &c, first, scale, TRAIN_C, "");
    int n_valid = draw_series(b, r, &c, first + 1, scale, VALID_C, " stroke-dasharray=\"6 4\"");
    buf_puts(b, "</svg>\n<figcaption>");
    if (n_train)
        buf_printf(b, "<span class=\"key\" style=\"border-color:%s\"></span>train ", TRAIN_C);
    if (n_valid)
        buf_printf(b, "<span class=\"key dashed\" style=\"border-color:%s\"></span>validation",
                   VALID_C);
    buf_puts(b, "</figcaption>\n</figure>\n");
}

/* ---- Tables -------------------------------------------------------------------------------------
 */

static size_t row_total(const petal_report *r, int t)
{
    size_t sum = 0;
    for (int p = 0; p < r->n_classes; p++)
        sum += r->confusion[t * r->n_classes + p];
    return sum;
}

static size_t column_total(const petal_report *r, int p)
{
    size_t sum = 0;
    for (int t = 0; t < r->n_classes; t++)
        sum += r->confusion[t * r->n_classes + p];
    return sum;
}

static void draw_confusion(buf *b, const petal_report *r)
{
    int k = r->n_classes;
    int compact = k > 30;
    buf_printf(b,
               "<div class=\"scroll\"><table class=\"confusion%s\">\n<caption>Rows: true class; "
               "columns: predicted class; shade: share of the row</caption>\n<thead><tr>"
               "<th scope=\"col\">true \\ predicted</th>",
               compact ? " compact" : "");
    for (int p = 0; p < k; p++) {
        buf_puts(b, "<th scope=\"col\"><span>");
        buf_escape(b, r->class_names[p]);
        buf_puts(b, "</span></th>");
    }
    buf_puts(b, "</tr></thead>\n<tbody>\n");
    for (int t = 0; t < k; t++) {
        size_t total = row_total(r, t);
        buf_puts(b, "<tr><th scope=\"row\">");
        buf_escape(b, r->class_names[t]);
        buf_puts(b, "</th>");
        for (int p = 0; p < k; p++) {
            size_t n = r->confusion[t * k + p];
            double share = total > 0 ? (double)n / total : 0;
            /* White to a dark blue; text turns white where the shade gets dark. */
            int red = (int)lround(255 - share * (255 - 10));
            int green = (int)lround(255 - share * (255 - 60));
            int blue = (int)lround(255 - share * (255 - 130));
            buf_printf(b, "<td style=\"background:#%02x%02x%02x;color:%s\"%s title=\"true ", red,
                       green, blue, share > 0.45 ? "#fff" : "#111",
                       t == p ? " class=\"diag\"" : "");
            buf_escape(b, r->class_names[t]);
            buf_puts(b, ", predicted ");
            buf_escape(b, r->class_names[p]);
            buf_printf(b, ": %zu (%.1f%%)\">%zu</td>", n, 100 * share, n);
        }
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</tbody></table></div>\n");
}

static void print_fraction(buf *b, size_t num, size_t den)
{
    if (den > 0)
        buf_printf(b, "<td>%.1f%%</td>", 100.0 * num / den);
    else
        buf_puts(b, "<td>&ndash;</td>");
}

static void draw_per_class(buf *b, const petal_report *r)
{
    int k = r->n_classes;
    buf_puts(b, "<table class=\"per-class\">\n<thead><tr><th scope=\"col\">class</th>"
                "<th scope=\"col\">test photos</th><th scope=\"col\">precision</th>"
                "<th scope=\"col\">recall</th></tr></thead>\n<tbody>\n");
    for (int c = 0; c < k; c++) {
        size_t tp = r->confusion[c * k + c];
        buf_puts(b, "<tr><th scope=\"row\">");
        buf_escape(b, r->class_names[c]);
        buf_printf(b, "</th><td>%zu</td>", row_total(r, c));
        print_fraction(b, tp, column_total(r, c));
        print_fraction(b, tp, row_total(r, c));
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</tbody></table>\n");
}

static void draw_misses(buf *b, const petal_report *r)
{
    int limit = r->max_thumbnails > 0 ? r->max_thumbnails : DEFAULT_THUMBNAILS;
    int px = r->thumbnail_px > 0 ? r->thumbnail_px : DEFAULT_THUMB_PX;
    buf_puts(b, "<ul class=\"misses\">\n");
    for (int i = 0; i < r->n_misses && i < limit; i++) {
        const petal_report_miss *m = &r->misses[i];
        char *uri = NULL;
        petal_error err;
        if (petal_report_thumbnail(m->path, px, &uri, &err) != PETAL_OK)
            petal_warn("report: no thumbnail for %s", err.msg);
        buf_puts(b, "<li><figure>");
        if (uri != NULL) {
            buf_printf(b, "<img src=\"%s\" alt=\"", uri);
            buf_escape(b, petal_path_basename(m->path));
            buf_puts(b, "\">");
        } else {
            buf_printf(b,
                       "<div class=\"nothumb\" style=\"width:%dpx;height:%dpx\">"
                       "photo could not be read</div>",
                       px, px);
        }
        free(uri);
        buf_puts(b, "<figcaption><span class=\"true\">true: ");
        buf_escape(b, r->class_names[m->true_label]);
        buf_puts(b, "</span><br><span class=\"pred\">predicted: ");
        buf_escape(b, r->class_names[m->predicted_label]);
        buf_printf(b, " (%.1f%%)</span><br><span class=\"file\">", 100.0 * m->score);
        buf_escape(b, petal_path_basename(m->path));
        buf_puts(b, "</span></figcaption></figure></li>\n");
    }
    buf_puts(b, "</ul>\n");
    if (r->n_misses > limit) {
        buf_printf(b, "<details><summary>%d more misclassified photos</summary><ul>\n",
                   r->n_misses - limit);
        for (int i = limit; i < r->n_misses; i++) {
            const petal_report_miss *m = &r->misses[i];
            buf_puts(b, "<li>");
            buf_escape(b, m->path);
            buf_puts(b, ": true ");
            buf_escape(b, r->class_names[m->true_label]);
            buf_puts(b, ", predicted ");
            buf_escape(b, r->class_names[m->predicted_label]);
            buf_printf(b, " (%.1f%%)</li>\n", 100.0 * m->score);
        }
        buf_puts(b, "</ul></details>\n");
    }
}

/* ---- The page
 * ------------------------------------------------------------------------------------ */

static const char page_style[] =
    "<style>\n"
    ":root{--fg:#1b1b1b;--bg:#fdfdfb;--muted:#4a4a4a;--line:#c9ced6}\n"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}\n"
    "main{max-width:64rem;margin:0 auto;padding:1rem}\n"
    "h1{font-size:1.7rem;margin:.4rem 0}h2{font-size:1.25rem;margin:1.6rem 0 .5rem;"
    "border-bottom:1px solid var(--line)}\n"
    "dl.info{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:0}\n"
    "dl.info dt{color:var(--muted)}dl.info dd{margin:0;overflow-wrap:anywhere}\n"
    ".headline{font-size:1.3rem;font-weight:600}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:1.5rem}figure{margin:0}\n"
    ".charts figure{flex:1 1 440px;max-width:640px}h3{font-size:1.05rem;margin:.4rem 0}\n"
    "svg.chart{width:100%;height:auto;font-size:14px;fill:var(--fg)}\n"
    "svg .grid{stroke:#e1e4e8}svg .axis{stroke:#767676}\n"
    ".key{display:inline-block;width:2rem;border-top:3px solid;vertical-align:middle;"
    "margin:0 .4rem 0 .8rem}.key.dashed{border-top-style:dashed}\n"
    ".scroll{overflow-x:auto}table{border-collapse:collapse}\n"
    "th,td{padding:.25rem .5rem;border:1px solid var(--line);text-align:right}\n"
    "th{text-align:left;font-weight:600}\n"
    "table.confusion td{min-width:2.6rem;text-align:center;font-variant-numeric:tabular-nums}\n"
    "table.confusion td.diag{outline:2px solid #111;outline-offset:-3px}\n"
    "table.confusion.compact{font-size:10px}table.confusion.compact td{min-width:0;"
    "padding:0 2px}\n"
    "table.confusion.compact thead th span{writing-mode:vertical-rl}\n"
    "caption{caption-side:bottom;text-align:left;color:var(--muted);padding:.3rem 0}\n"
    "ul.misses{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.8rem;"
    "align-items:flex-start}\n"
    "ul.misses figcaption{font-size:.85rem;max-width:10rem;overflow-wrap:anywhere}\n"
    ".pred{color:#a4161a}.file{color:var(--muted)}\n"
    ".nothumb{display:flex;align-items:center;justify-content:center;text-align:center;"
    "background:#eee;color:#444;font-size:.8rem}\n"
    "</style>\n";

static petal_status check_report(const petal_report *r, petal_error *err)
{
    if (r->n_classes < 1 || r->class_names == NULL)
        return petal_error_set(err, PETAL_ERR_ARG, "report: no classes");
    for (int c = 0; c < r->n_classes; c++)
        if (r->class_names[c] == NULL)
            return petal_error_set(err, PETAL_ERR_ARG, "report: class %d has no name", c);
    if (r->n_steps < 0 || (r->n_steps > 0 && r->steps == NULL) || r->n_misses < 0 ||
        (r->n_misses > 0 && r->misses == NULL) || r->n_info < 0 ||
        (r->n_info > 0 && r->info == NULL))
        return petal_error_set(err, PETAL_ERR_ARG, "report: a list has a count but no entries");
    for (int i = 0; i < r->n_misses; i++) {
        const petal_report_miss *m = &r->misses[i];
        if (m->path == NULL || m->true_label < 0 || m->true_label >= r->n_classes ||
            m->predicted_label < 0 || m->predicted_label >= r->n_classes)
            return petal_error_set(err, PETAL_ERR_ARG,
                                   "report: misclassified photo %d has no path or a class "
                                   "index outside 0..%d",
                                   i, r->n_classes - 1);
    }
    for (int i = 0; i < r->n_info; i++)
        if (r->info[i].key == NULL || r->info[i].value == NULL)
            return petal_error_set(err, PETAL_ERR_ARG, "report: info line %d is incomplete", i);
    return PETAL_OK;
}

static void draw_summary(buf *b, const petal_report *r)
{
    if (r->confusion != NULL) {
        size_t correct = 0, total = 0;
        for (int c = 0; c < r->n_classes; c++) {
            correct += r->confusion[c * r->n_classes + c];
            total += row_total(r, c);
        }
        if (total > 0)
            buf_printf(b, "<p class=\"headline\">Test accuracy = %.1f%% (N=%zu)</p>\n",
                       100.0 * correct / total, total);
    }
    if (r->n_steps > 0) {
        const petal_report_step *last = &r->steps[r->n_steps - 1];
        buf_printf(b, "<p>After step %d:", last->step);
        if (isfinite(last->train_accuracy))
            buf_printf(b, " train accuracy %.1f%%", 100.0 * last->train_accuracy);
        if (isfinite(last->validation_accuracy))
            buf_printf(b, ", validation accuracy %.1f%%", 100.0 * last->validation_accuracy);
        if (isfinite(last->train_cross_entropy))
            buf_printf(b, ", cross-entropy %.4g", last->train_cross_entropy);
        buf_puts(b, ".</p>\n");
    }
    if (r->n_info > 0) {
        buf_puts(b, "<dl class=\"info\">\n");
        for (int i = 0; i < r->n_info; i++) {
            buf_puts(b, "<dt>");
            buf_escape(b, r->info[i].key);
            buf_puts(b, "</dt><dd>");
            buf_escape(b, r->info[i].value);
            buf_puts(b, "</dd>\n");
        }
        buf_puts(b, "</dl>\n");
    }
}

petal_status petal_report_render(const petal_report *r, char **html, size_t *len, petal_error *err)
{
    *html = NULL;
    *len = 0;
    petal_status st = check_report(r, err);
    if (st != PETAL_OK)
        return st;
    const char *title = r->title ? r->title : "petal training report";

    buf b = {0};
    buf_puts(&b, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                 "<title>");
    buf_escape(&b, title);
    buf_puts(&b, "</title>\n");
    buf_puts(&b, page_style);
    buf_puts(&b, "</head>\n<body>\n<main>\n<h1>");
    buf_escape(&b, title);
    buf_puts(&b, "</h1>\n");
    draw_summary(&b, r);

    if (r->n_steps > 0) {
        buf_puts(&b, "<section id=\"curves\">\n<h2>Training curves</h2>\n<div class=\"charts\">\n");
        draw_chart(&b, r, 1);
        draw_chart(&b, r, 0);
        buf_puts(&b, "</div>\n</section>\n");
    }
    if (r->confusion != NULL) {
        buf_puts(&b, "<section id=\"confusion\">\n<h2>Confusion matrix</h2>\n");
        draw_confusion(&b, r);
        buf_puts(&b, "</section>\n<section id=\"per-class\">\n<h2>Precision and recall per "
                     "class</h2>\n");
        draw_per_class(&b, r);
        buf_puts(&b, "</section>\n");
    }
    buf_printf(&b, "<section id=\"misses\">\n<h2>Misclassified photos (%d)</h2>\n", r->n_misses);
    if (r->n_misses > 0)
        draw_misses(&b, r);
    else
        buf_puts(&b, "<p>None.</p>\n");
    buf_puts(&b, "</section>\n</main>\n</body>\n</html>\n");

    if (b.failed) {
        free(b.data);
        return petal_error_set(err, PETAL_ERR_NOMEM, "report: out of memory");
    }
    *html = b.data;
    *len = b.len;
    return PETAL_OK;
}

petal_status petal_report_write(const petal_report *report, const char *path, petal_error *err)
{
    char *html;
    size_t len;
    petal_status st = petal_report_render(report, &html, &len, err);
    if (st != PETAL_OK)
        return st;
    st = petal_write_file_atomic(path, html, len, err);
    free(html);
    return st;
}
