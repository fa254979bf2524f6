/* cmd_evaluate.c - `petal evaluate`: accuracy, per-class precision/recall and confusion of a
 * classifier on a folder of labelled photos, as text or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "train/evaluate.h"
#include "util/log.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: petal evaluate --graph FILE --labels FILE --image_dir DIR [flags]\n\n"
            "Classifies every photo of a folder-per-class tree and reports accuracy, per-class\n"
            "precision and recall and the confusion matrix. Folder names are matched to labels\n"
            "as training names them (lowercase, runs of other characters -> one space).\n\n"
            "flags:\n"
            "  --graph FILE       the .tflite classifier (alias --model)\n"
            "  --labels FILE      its labels, one per line\n"
            "  --image_dir DIR    one sub-folder of photos per class\n"
            "  --json             one JSON object: accuracy (fraction), n, per_class, confusion\n"
            "  --threads N        workers (0 = all cores)\n"
            "  --backend NAME     auto, reference, onednn-f32, onednn-int8\n"
            "  --input_mean X     for float models (127.5)\n"
            "  --input_std X      for float models (127.5)\n"
            "  --log_level LEVEL  error, warn (default), info, debug\n");
}

int petal_cmd_evaluate(int argc, char **argv)
{
    petal_evaluate_options o = {NULL, NULL, NULL, 0, PETAL_BACKEND_AUTO, 127.5f, 127.5f, 0};
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if ((r = petal_flag_value(argc, argv, &i, "graph", &o.graph)) != 0 ||
            (r = petal_flag_value(argc, argv, &i, "model", &o.graph)) != 0 ||
            (r = petal_flag_value(argc, argv, &i, "labels", &o.labels)) != 0 ||
            (r = petal_flag_value(argc, argv, &i, "image_dir", &o.image_dir)) != 0 ||
            (r = petal_flag_bool(argc, argv, &i, "json", &json)) != 0) {
            if (r < 0)
                return 2;
            continue;
        }
        if ((r = petal_flag_value(argc, argv, &i, "threads", &v)) != 0) {
            long n;
            if (r < 0 || petal_parse_int("threads", v, 0, 1024, &n) != 0)
                return 2;
            o.threads = (int)n;
            continue;
        }
        if ((r = petal_flag_value(argc, argv, &i, "backend", &v)) != 0) {
            if (r < 0)
                return 2;
            if (petal_backend_parse(v, &o.backend) != 0) {
                fprintf(stderr, "petal: error: --backend: unknown backend '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = petal_flag_value(argc, argv, &i, "input_mean", &v)) != 0) {
            double d;
            if (r < 0 || petal_parse_float("input_mean", v, &d) != 0)
                return 2;
            o.input_mean = (float)d;
            continue;
        }
        if ((r = petal_flag_value(argc, argv, &i, "input_std", &v)) != 0) {
            double d;
            if (r < 0 || petal_parse_float("input_std", v, &d) != 0)
                return 2;
            o.input_std = (float)d;
            continue;
        }
        if ((r = petal_flag_value(argc, argv, &i, "log_level", &v)) != 0) {
            petal_log_level level;
            if (r < 0 || petal_log_parse_level(v, &level) != 0) {
                fprintf(stderr, "petal: error: --log_level: unknown level '%s'\n", v ? v : "");
                return 2;
            }
            petal_log_set_level(level);
            continue;
        }
        petal_flag_unknown("evaluate", argv[i]);
        return 2;
    }
    if (!o.graph || !o.labels || !o.image_dir) {
        fprintf(stderr, "petal: error: --graph, --labels and --image_dir are required "
                        "(see petal evaluate --help)\n");
        return 2;
    }

    petal_metrics m;
    petal_evaluate_result res;
    petal_error err;
    if (petal_evaluate_folder(&o, &m, &res, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        return 1;
    }
    if (json) {
        char *s = petal_metrics_json(&m);
        if (!s) {
            fprintf(stderr, "petal: error: out of memory\n");
            petal_metrics_free(&m);
            return 1;
        }
        printf("%s\n", s);
        free(s);
    } else {
        petal_metrics_print(&m, stdout);
        if (res.n_failed || res.n_unmatched)
            printf("\n%zu photos could not be decoded, %zu were in folders matching no label\n",
                   res.n_failed, res.n_unmatched);
    }
    int ok = m.n > 0;
    petal_metrics_free(&m);
    if (!ok) {
        fprintf(stderr, "petal: error: %s: no photo could be evaluated\n", o.image_dir);
        return 1;
    }
    return 0;
}
