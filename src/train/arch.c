/* arch.c - the table of known backbones and the model-folder search used by `petal train`. */
#include "train/arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"

#define CORAL_TEST_DATA                                                                            \
    "https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41/"

static const petal_arch archs[] = {
    {"mobilenet_v2", "mobilenet_v2_1.0_224_quant.tflite",
     "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
     CORAL_TEST_DATA "mobilenet_v2_1.0_224_quant.tflite", "MobilenetV2/Logits/AvgPool", 224,
     "MobileNetV2 1.0 224, uint8 quantization-aware (default)"},
    {"mobilenet_v2_int8", "tf2_mobilenet_v2_1.0_224_ptq.tflite",
     "5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c",
     CORAL_TEST_DATA "tf2_mobilenet_v2_1.0_224_ptq.tflite", "MobileNetV2/top/GlobalPool/Mean", 224,
     "MobileNetV2 1.0 224, int8 per-channel post-training quantized"},
    {"mobilenet_v1", "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
     "f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319",
     CORAL_TEST_DATA "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", NULL, 224,
     "MobileNetV1 1.0 224 embedding extractor, uint8 (1024 features)"},
};

const petal_arch *petal_arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].name, name))
            return &archs[i];
    return NULL;
}

const petal_arch *petal_arch_list(size_t *count)
{
    *count = sizeof archs / sizeof archs[0];
    return archs;
}

petal_status petal_arch_locate(const char *file, const char *model_dir, char **path,
                               petal_error *err)
{
    const char *env = getenv("PETAL_MODEL_DIR");
    const char *dirs[4] = {model_dir, env && *env ? env : NULL, "./models", "../shared/models"};
    char searched[PETAL_ERROR_MAX / 2] = "";
    size_t used = 0;

    *path = NULL;
    for (size_t i = 0; i < 4; i++) {
        if (!dirs[i] || !*dirs[i])
            continue;
        char *candidate = petal_path_join(dirs[i], file);
        if (!candidate)
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", file);
        if (petal_is_file(candidate)) {
            *path = candidate;
            return PETAL_OK;
        }
        free(candidate);
        int n =
            snprintf(searched + used, sizeof searched - used, "%s%s", used ? ", " : "", dirs[i]);
        if (n > 0 && (size_t)n < sizeof searched - used)
            used += (size_t)n;
    }
    return petal_error_set(err, PETAL_ERR_NOT_FOUND,
                           "model %s not found (looked in %s); run `make models` to download it "
                           "or pass --model_dir",
                           file, searched);
}
