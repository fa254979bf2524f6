/* cmd_serve.c - `petal serve`: the classifier over HTTP with a web page, until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "serve/serve.h"
#include "util/log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: petal serve --graph MODEL.tflite --labels LABELS.txt [flags]\n\n"
            "Classifies photos over HTTP: POST /v1/classify (image bytes or multipart field\n"
            "'image', ?top_k=N), GET /v1/labels, GET /healthz, and a web page at /.\n\n"
            "flags:\n"
            "  --graph FILE         TFLite classifier (alias --model)\n"
            "  --labels FILE        labels, one per line in output order\n"
            "  --host ADDR          address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
            "  --port N             TCP port (default 8080; 0 = any free port)\n"
            "  --threads N          cores used for inference in total (default: all)\n"
            "  --workers N          inference workers sharing them (default: --threads)\n"
            "  --backend NAME       auto, reference, onednn-f32, onednn-int8 (default auto)\n"
            "  --max_body BYTES     largest request body (default 10485760)\n"
            "  --max_pixels N       largest decoded image, width*height (default 64000000)\n"
            "  --timeout SECONDS    idle connection timeout (default 30)\n"
            "  --max_connections N  simultaneous connections (default 64)\n"
            "  --top_k N            predictions per answer when the request says none (5)\n"
            "  --crop center|none   crop the centred square before resizing (default none)\n"
            "  --input_mean X       float models: (x - mean) / std (default 127.5)\n"
            "  --input_std X        (default 127.5)\n"
            "  --output_layer NAME  tensor to read scores from (default: the model output)\n"
            "  --log_level LEVEL    error, warn, info (one line per request), debug\n");
}

/* 1 if argv[*i] is --name, with *v its value or NULL when the value is missing (the error is
 * printed already); 0 for another flag. */
static int match(int argc, char **argv, int *i, const char *name, const char **v)
{
    *v = NULL;
    int m = petal_flag_value(argc, argv, i, name, v);
    if (m < 0)
        *v = NULL;
    return m != 0;
}

/* Parses a whole-number flag value in min..max into *out; 0 or -1 (error printed). */
static int number(const char *flag, const char *v, long min, long max, long *out)
{
    return v == NULL ? -1 : petal_parse_int(flag, v, min, max, out);
}

/* Parses the flags into o; returns 0, 1 for --help, or -1 after printing an error. */
static int parse_flags(int argc, char **argv, petal_serve_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n = 0;
        double x;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
#define FLAG(name) match(argc, argv, &i, name, &v)
        if (FLAG("graph") || FLAG("model")) {
            if ((o->graph = v) == NULL)
                return -1;
        } else if (FLAG("labels")) {
            if ((o->labels = v) == NULL)
                return -1;
        } else if (FLAG("host")) {
            if ((o->host = v) == NULL)
                return -1;
        } else if (FLAG("output_layer")) {
            if ((o->output_layer = v) == NULL)
                return -1;
        } else if (FLAG("port")) {
            if (number("port", v, 0, 65535, &n) != 0)
                return -1;
            o->port = (int)n;
        } else if (FLAG("threads")) {
            if (number("threads", v, 1, 1024, &n) != 0)
                return -1;
            o->threads = (int)n;
        } else if (FLAG("workers")) {
            if (number("workers", v, 1, 1024, &n) != 0)
                return -1;
            o->workers = (int)n;
        } else if (FLAG("max_body")) {
            if (number("max_body", v, 1, 1L << 40, &n) != 0)
                return -1;
            o->max_body = (size_t)n;
        } else if (FLAG("max_pixels")) {
            if (number("max_pixels", v, 1, 1L << 40, &n) != 0)
                return -1;
            o->max_pixels = n;
        } else if (FLAG("timeout")) {
            if (number("timeout", v, 0, 86400, &n) != 0)
                return -1;
            o->timeout_s = (int)n;
        } else if (FLAG("max_connections")) {
            if (number("max_connections", v, 1, 100000, &n) != 0)
                return -1;
            o->max_connections = (int)n;
        } else if (FLAG("top_k")) {
            if (number("top_k", v, 1, 1000, &n) != 0)
                return -1;
            o->top_k = (int)n;
        } else if (FLAG("backend")) {
            if (v == NULL)
                return -1;
            if (petal_backend_parse(v, &o->backend) != 0) {
                fprintf(stderr, "petal: error: --backend: unknown backend '%s'\n", v);
                return -1;
            }
        } else if (FLAG("crop")) {
            if (v == NULL)
                return -1;
            if (strcmp(v, "center") != 0 && strcmp(v, "none") != 0) {
                fprintf(stderr, "petal: error: --crop takes center or none, not '%s'\n", v);
                return -1;
            }
            o->center_crop = !strcmp(v, "center");
        } else if (FLAG("input_mean")) {
            if (v == NULL || petal_parse_float("input_mean", v, &x) != 0)
                return -1;
            o->input_mean = (float)x;
        } else if (FLAG("input_std")) {
            if (v == NULL || petal_parse_float("input_std", v, &x) != 0)
                return -1;
            if (x == 0) {
                fprintf(stderr, "petal: error: --input_std must not be 0\n");
                return -1;
            }
            o->input_std = (float)x;
        } else if (FLAG("log_level")) {
            petal_log_level level;
            if (v == NULL)
                return -1;
            if (petal_log_parse_level(v, &level) != 0) {
                fprintf(stderr, "petal: error: --log_level: unknown level '%s'\n", v);
                return -1;
            }
            petal_log_set_level(level);
        } else {
            return petal_flag_unknown("serve", argv[i]);
        }
#undef FLAG
    }
    if (o->graph == NULL || o->labels == NULL) {
        fprintf(stderr,
                "petal: error: serve needs --graph and --labels (see petal serve --help)\n");
        return -1;
    }
    return 0;
}

int petal_cmd_serve(int argc, char **argv)
{
    petal_serve_options o = petal_serve_defaults();
    int rc = parse_flags(argc, argv, &o);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc != 0)
        return 2;

    /* Threads started from here on inherit the mask, so only sigwait below sees the signals. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    petal_server *server;
    petal_error err;
    if (petal_server_start(&o, &server, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        return 1;
    }
    int v6 = strchr(o.host, ':') != NULL; /* an IPv6 address goes in brackets in a URL */
    fprintf(stderr, "petal: serving %s on http://%s%s%s:%d/ (Ctrl-C to stop)\n", o.graph,
            v6 ? "[" : "", o.host, v6 ? "]" : "", petal_server_port(server));
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "petal: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    petal_server_stop(server);
    return 0;
}
