/* fuzz_tflite.c - libFuzzer target for the TFLite reader: parses the input as a .tflite
 * file; when it parses, serialises the model with the writer and parses that again, which
 * must succeed and give the same graph. Seeds: tests/fuzz/corpus/tflite (tiny models). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"

static void check_same(const petal_model *a, const petal_model *b)
{
    if (a->n_tensors != b->n_tensors || a->n_ops != b->n_ops || a->n_inputs != b->n_inputs ||
        a->n_outputs != b->n_outputs)
        abort();
    for (int i = 0; i < a->n_tensors; i++) {
        const petal_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (x->type != y->type || x->rank != y->rank || x->data_size != y->data_size ||
            strcmp(x->name, y->name) != 0 || x->quant.n != y->quant.n ||
            (x->data_size && memcmp(x->data, y->data, x->data_size) != 0))
            abort();
    }
    for (int i = 0; i < a->n_ops; i++)
        if (a->ops[i].code != b->ops[i].code || a->ops[i].n_inputs != b->ops[i].n_inputs ||
            memcmp(&a->ops[i].opt, &b->ops[i].opt, sizeof a->ops[i].opt) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    petal_model *m;
    petal_error err;
    if (petal_model_parse(data, size, "fuzz.tflite", &m, &err) != PETAL_OK) {
        if (m != NULL || strncmp(err.msg, "fuzz.tflite: ", 13) != 0)
            abort();
        return 0;
    }
    uint8_t *bytes;
    size_t len;
    if (petal_model_serialize(m, &bytes, &len, &err) == PETAL_OK) {
        petal_model *back;
        if (petal_model_parse(bytes, len, "rewritten.tflite", &back, &err) != PETAL_OK)
            abort();
        check_same(m, back);
        petal_model_free(back);
        free(bytes);
    }
    petal_model_free(m);
    return 0;
}
