/* serve.h - `petal serve`: a TFLite classifier behind an HTTP API and a web page.
 *
 * One model is loaded once and shared read-only; each inference worker thread owns its own
 * executor (planned buffers and primitives), so requests run side by side without locks
 * around the network. The HTTP side is libmicrohttpd with one internal polling thread: it
 * reads request bodies (bounded by max_body), answers the cheap routes itself and hands
 * classify requests to the workers, suspending the connection until the answer is ready.
 *
 * Routes:
 *   POST /v1/classify[?top_k=N]  body: the image bytes, or multipart/form-data with the image
 *                                in field "image" (a "top_k" field works too). Answer:
 *                                {"predictions":[{"label":..,"score":..}],"decode_ms":..,"ms":..}
 *                                where ms is the inference time alone, as in `petal classify
 *                                --json`.
 *   GET  /v1/labels              {"labels":[...]}
 *   GET  /healthz                {"status":"ok","model":..,"labels":N,"workers":N,...}
 *   GET  /                       the web page (pick, drop or shoot a photo, see the top 5)
 * Every error is a 4xx/5xx with {"error":"..."}: 400 bad request (corrupt image, bad
 * multipart, bad top_k), 404 unknown path, 405 wrong method, 413 body or pixel count over the
 * limit, 415 not an image format petal reads, 503 shutting down.
 *
 * Usage:
 *     petal_serve_options o = petal_serve_defaults();
 *     o.graph = "flowers.tflite"; o.labels = "flowers.txt"; o.port = 8080;
 *     petal_server *s;
 *     if (petal_server_start(&o, &s, &err) != PETAL_OK) ...
 *     ... wait for SIGINT ...
 *     petal_server_stop(s);
 */
#ifndef PETAL_SERVE_SERVE_H
#define PETAL_SERVE_SERVE_H

#include <stddef.h>

#include "nn/exec.h"
#include "util/status.h"

typedef struct petal_serve_options {
    const char *graph;        /* .tflite classifier (required) */
    const char *labels;       /* label file, one per line in output order (required) */
    const char *host;         /* address to listen on; default "127.0.0.1" */
    int port;                 /* TCP port; 0 picks a free one (see petal_server_port) */
    int threads;              /* cores for inference in total; 0 = all cores */
    int workers;              /* inference workers; 0 = threads (each worker then gets
                                 threads / workers kernel threads, at least 1) */
    petal_backend backend;    /* executor backend, default AUTO */
    const char *output_layer; /* tensor name to read scores from; NULL = model output */
    float input_mean;         /* for float models: (x - mean) / std; default 127.5 */
    float input_std;          /* default 127.5 */
    int center_crop;          /* 1: crop the centred square before resizing (default 0) */
    int top_k;                /* predictions returned when the request does not say; 5 */
    size_t max_body;          /* largest request body in bytes; default 10 MB */
    long long max_pixels;     /* decoded image size limit; 0 = the image area's default */
    int timeout_s;            /* idle connection timeout in seconds; default 30 */
    int max_connections;      /* simultaneous connections; default 64 */
} petal_serve_options;

typedef struct petal_server petal_server;

/* The defaults above (graph and labels NULL). */
petal_serve_options petal_serve_defaults(void);

/* Loads the model and labels, plans one executor per worker, starts the workers and the
 * HTTP daemon listening on host:port. On failure nothing keeps running, *out is NULL and err
 * says what failed: the model or label file (naming it), a label count that does not match
 * the model's outputs, or the address ("127.0.0.1:8080: Address already in use"). The caller
 * owns the server and must pass it to petal_server_stop. */
petal_status petal_server_start(const petal_serve_options *opts, petal_server **out,
                                petal_error *err);

/* The TCP port the server listens on (useful after asking for port 0). */
int petal_server_port(const petal_server *server);

/* Stops accepting connections, answers the requests already queued, stops the workers and
 * the daemon, and frees everything. NULL is fine. */
void petal_server_stop(petal_server *server);

/* The web page served at "/": one self-contained HTML document (no external assets). */
extern const char petal_serve_page_html[];

#endif
