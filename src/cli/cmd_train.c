/* cmd_train.c - `petal train`: retrain.py's flags parsed into petal_train_options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "train/arch.h"
#include "train/train.h"
#include "util/log.h"

typedef enum { F_STR, F_INT, F_FLOAT, F_BOOL, F_PERCENT } flag_kind;

typedef struct flag {
    const char *name;
    flag_kind kind;
    void *target;
    const char *help;
} flag;

static void usage(FILE *out, const flag *flags, size_t n)
{
    fprintf(out,
            "usage: petal train --image_dir DIR [flags]\n\n"
            "Retrains the last layer of a pretrained MobileNet on a folder with one sub-folder "
            "of photos per\nclass, logs as retrain.py does, and writes a .tflite classifier and "
            "its labels.\n\nflags:\n");
    for (size_t i = 0; i < n; i++)
        if (*flags[i].help) /* flags with their own lines below have none */
            fprintf(out, "  --%-32s %s\n", flags[i].name, flags[i].help);
    fprintf(out, "  --%-32s %s\n", "architecture NAME", "backbone (default mobilenet_v2):");
    size_t na;
    const petal_arch *a = petal_arch_list(&na);
    for (size_t i = 0; i < na; i++)
        fprintf(out, "  %36s %-18s %s\n", "", a[i].name, a[i].about);
    fprintf(out, "  --%-32s %s\n", "optimizer sgd|adam", "how the last layer learns (sgd)");
    fprintf(out, "  --%-32s %s\n", "shard K/N", "with --cache_only: cache every N-th photo from K");
    fprintf(out, "  --%-32s %s\n", "backend NAME", "auto, reference, onednn-f32, onednn-int8");
    fprintf(out, "  --%-32s %s\n", "seed N", "random seed: same seed and data, same model (0)");
    fprintf(out, "  --%-32s %s\n", "log_level LEVEL", "error, warn, info (default), debug");
}

/* Parses one flag of the table; returns 1 if matched, 0 if not, -1 on error. */
static int parse_table(int argc, char **argv, int *i, const flag *flags, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const flag *f = &flags[k];
        const char *v = NULL;
        int r;
        if (f->kind == F_BOOL) {
            r = petal_flag_bool(argc, argv, i, f->name, (int *)f->target);
            if (r != 0)
                return r;
            continue;
        }
        r = petal_flag_value(argc, argv, i, f->name, &v);
        if (r <= 0) {
            if (r < 0)
                return -1;
            continue;
        }
        long iv;
        double dv;
        switch (f->kind) {
        case F_STR:
            *(const char **)f->target = *v ? v : NULL; /* "" turns an output off */
            return 1;
        case F_INT:
            if (petal_parse_int(f->name, v, -1, 1000000000L, &iv) != 0)
                return -1;
            *(int *)f->target = (int)iv;
            return 1;
        case F_FLOAT:
            if (petal_parse_float(f->name, v, &dv) != 0)
                return -1;
            *(double *)f->target = dv;
            return 1;
        case F_PERCENT:
            if (petal_parse_float(f->name, v, &dv) != 0)
                return -1;
            if (dv < 0 || dv > 100) {
                fprintf(stderr, "petal: error: --%s: %s is not a percentage\n", f->name, v);
                return -1;
            }
            *(float *)f->target = (float)dv;
            return 1;
        case F_BOOL:
            break;
        }
    }
    return 0;
}

static int parse_special(int argc, char **argv, int *i, petal_train_options *o)
{
    const char *v;
    int r;
    if ((r = petal_flag_value(argc, argv, i, "optimizer", &v)) != 0) {
        if (r < 0)
            return -1;
        if (!strcmp(v, "sgd"))
            o->optimizer = PETAL_OPT_SGD;
        else if (!strcmp(v, "adam"))
            o->optimizer = PETAL_OPT_ADAM;
        else {
            fprintf(stderr, "petal: error: --optimizer: '%s' is not sgd or adam\n", v);
            return -1;
        }
        return 1;
    }
    if ((r = petal_flag_value(argc, argv, i, "shard", &v)) != 0) {
        if (r < 0)
            return -1;
        if (sscanf(v, "%d/%d", &o->shard_index, &o->shard_count) != 2 || o->shard_count < 1 ||
            o->shard_index < 0 || o->shard_index >= o->shard_count) {
            fprintf(stderr, "petal: error: --shard: '%s' is not K/N with 0 <= K < N\n", v);
            return -1;
        }
        return 1;
    }
    if ((r = petal_flag_value(argc, argv, i, "backend", &v)) != 0) {
        if (r < 0)
            return -1;
        if (petal_backend_parse(v, &o->backend) != 0) {
            fprintf(stderr, "petal: error: --backend: unknown backend '%s'\n", v);
            return -1;
        }
        return 1;
    }
    if ((r = petal_flag_value(argc, argv, i, "seed", &v)) != 0) {
        if (r < 0)
            return -1;
        char *end;
        o->seed = strtoull(v, &end, 10);
        if (end == v || *end) {
            fprintf(stderr, "petal: error: --seed: '%s' is not a whole number\n", v);
            return -1;
        }
        return 1;
    }
    if ((r = petal_flag_value(argc, argv, i, "log_level", &v)) != 0) {
        petal_log_level level;
        if (r < 0 || petal_log_parse_level(v, &level) != 0) {
            if (r > 0)
                fprintf(stderr, "petal: error: --log_level: unknown level '%s'\n", v);
            return -1;
        }
        petal_log_set_level(level);
        return 1;
    }
    return 0;
}

int petal_cmd_train(int argc, char **argv)
{
    petal_train_options o;
    petal_train_defaults(&o);
    double lr = o.learning_rate, l2 = 0, vp = o.validation_percentage, tp = o.testing_percentage;
    double mean = o.input_mean, std = o.input_std, max_mp = 0;
    int flip = 0;
    const flag flags[] = {
        {"image_dir", F_STR, &o.image_dir, "folder of labelled photo folders (required)"},
        {"output_graph", F_STR, &o.output_graph, "where to save the trained .tflite graph"},
        {"output_labels", F_STR, &o.output_labels, "where to save the labels, one per line"},
        {"intermediate_output_graphs_dir", F_STR, &o.intermediate_output_graphs_dir,
         "where to save intermediate graphs"},
        {"intermediate_store_frequency", F_INT, &o.intermediate_store_frequency,
         "save an intermediate graph every N steps (0 = never)"},
        {"summaries_dir", F_STR, &o.summaries_dir,
         "TensorBoard event files (train/, validation/); never deleted"},
        {"how_many_training_steps", F_INT, &o.how_many_training_steps, "training steps (4000)"},
        {"learning_rate", F_FLOAT, &lr, "learning rate (0.01)"},
        {"testing_percentage", F_FLOAT, &tp, "percent of photos for the test set (10)"},
        {"validation_percentage", F_FLOAT, &vp, "percent of photos for validation (10)"},
        {"eval_step_interval", F_INT, &o.eval_step_interval, "log every N steps (10)"},
        {"train_batch_size", F_INT, &o.train_batch_size, "photos per training step (100)"},
        {"test_batch_size", F_INT, &o.test_batch_size, "test photos, -1 = all (-1)"},
        {"validation_batch_size", F_INT, &o.validation_batch_size,
         "validation photos per evaluation, -1 = all (100)"},
        {"print_misclassified_test_images", F_BOOL, &o.print_misclassified_test_images,
         "list the test photos classified wrong"},
        {"bottleneck_dir", F_STR, &o.bottleneck_dir, "bottleneck cache folder (/tmp/bottleneck)"},
        {"final_tensor_name", F_STR, &o.final_tensor_name, "output tensor name (final_result)"},
        {"flip_left_right", F_BOOL, &flip, "mirror half of the training photos"},
        {"random_crop", F_PERCENT, &o.distort.random_crop, "percent margin cropped at random"},
        {"random_scale", F_PERCENT, &o.distort.random_scale, "percent of random enlargement"},
        {"random_brightness", F_PERCENT, &o.distort.random_brightness,
         "percent of random brightness change"},
        {"distorted_copies", F_INT, &o.distorted_copies,
         "K distorted copies per training photo, cached (0 = recompute every step)"},
        {"architecture", F_STR, &o.architecture, ""},
        {"model", F_STR, &o.model_file, "any TFLite backbone file (with --bottleneck_tensor)"},
        {"bottleneck_tensor", F_STR, &o.bottleneck_tensor, "bottleneck tensor name"},
        {"model_dir", F_STR, &o.model_dir, "folder with the backbone files"},
        {"l2", F_FLOAT, &l2, "L2 weight decay (0)"},
        {"keep_best", F_BOOL, &o.keep_best, "keep the weights of the best validation step"},
        {"threads", F_INT, &o.threads, "bottleneck workers (0 = all cores)"},
        {"input_mean", F_FLOAT, &mean, "input mean for float models (127.5)"},
        {"input_std", F_FLOAT, &std, "input std for float models (127.5)"},
        {"max_megapixels", F_FLOAT, &max_mp, "largest photo decoded (64)"},
        {"cache_only", F_BOOL, &o.cache_only, "fill the bottleneck cache and stop"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    petal_log_set_level(PETAL_LOG_INFO);

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout, flags, nflags);
            return 0;
        }
        int r = parse_special(argc, argv, &i, &o);
        if (r == 0)
            r = parse_table(argc, argv, &i, flags, nflags);
        if (r < 0)
            return 2;
        if (r == 0) {
            petal_flag_unknown("train", argv[i]);
            return 2;
        }
    }
    if (!o.image_dir) {
        fprintf(stderr, "petal: error: --image_dir is required (see petal train --help)\n");
        return 2;
    }
    if (o.model_file && !o.bottleneck_tensor)
        petal_info("--model without --bottleneck_tensor: using the model's output as bottleneck");
    o.learning_rate = lr;
    o.l2 = l2;
    o.validation_percentage = vp;
    o.testing_percentage = tp;
    o.input_mean = (float)mean;
    o.input_std = (float)std;
    o.max_pixels = (long long)(max_mp * 1e6);
    o.distort.flip_left_right = flip;

    petal_train_result res;
    petal_error err;
    if (petal_train_run(&o, &res, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}
