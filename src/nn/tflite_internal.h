/* tflite_internal.h - TFLite schema numbers shared by the reader (tflite_read.c) and the
 * writer (tflite_write.c). Private to src/nn/. */
#ifndef PETAL_NN_TFLITE_INTERNAL_H
#define PETAL_NN_TFLITE_INTERNAL_H

/* Members of the BuiltinOptions union petal reads and writes (schema.fbs order, from 1). */
enum {
    PETAL_TFLITE_OPT_CONV_2D = 1,
    PETAL_TFLITE_OPT_DEPTHWISE_CONV_2D = 2,
    PETAL_TFLITE_OPT_POOL_2D = 5,
    PETAL_TFLITE_OPT_FULLY_CONNECTED = 8,
    PETAL_TFLITE_OPT_SOFTMAX = 9,
    PETAL_TFLITE_OPT_CONCATENATION = 10,
    PETAL_TFLITE_OPT_ADD = 11,
    PETAL_TFLITE_OPT_RESHAPE = 17,
    PETAL_TFLITE_OPT_REDUCER = 27,
    PETAL_TFLITE_OPT_SQUEEZE = 30
};

#define PETAL_TFLITE_CUSTOM_CODE      32  /* BuiltinOperator CUSTOM */
#define PETAL_TFLITE_PLACEHOLDER_CODE 127 /* deprecated_builtin_code of codes past 127 */

/* The options table an op code carries (as the TFLite runtime reads it), 0 for none. */
static inline int petal_tflite_options_type(int code)
{
    switch (code) {
    case 3: /* CONV_2D */
        return PETAL_TFLITE_OPT_CONV_2D;
    case 4: /* DEPTHWISE_CONV_2D */
        return PETAL_TFLITE_OPT_DEPTHWISE_CONV_2D;
    case 1:  /* AVERAGE_POOL_2D */
    case 17: /* MAX_POOL_2D */
        return PETAL_TFLITE_OPT_POOL_2D;
    case 9: /* FULLY_CONNECTED */
        return PETAL_TFLITE_OPT_FULLY_CONNECTED;
    case 25: /* SOFTMAX */
        return PETAL_TFLITE_OPT_SOFTMAX;
    case 2: /* CONCATENATION */
        return PETAL_TFLITE_OPT_CONCATENATION;
    case 0: /* ADD */
        return PETAL_TFLITE_OPT_ADD;
    case 22: /* RESHAPE */
        return PETAL_TFLITE_OPT_RESHAPE;
    case 40: /* MEAN */
        return PETAL_TFLITE_OPT_REDUCER;
    case 43: /* SQUEEZE */
        return PETAL_TFLITE_OPT_SQUEEZE;
    }
    return 0;
}

#endif
