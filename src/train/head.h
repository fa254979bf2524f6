/* head.h - the new last layer `petal train` learns: a softmax classifier on bottlenecks.
 *
 * logits = x W^T + b, probabilities = softmax(logits), loss = mean cross-entropy (+ l2/2 |W|^2).
 * Weights start from a truncated normal (stddev 0.001, resampled beyond two stddevs) drawn from
 * a seeded generator and biases at zero, as retrain.py's final layer; training is plain SGD
 * (retrain.py) or Adam on mini-batches. Matrix products go through oneDNN's sgemm.
 */
#ifndef PETAL_TRAIN_HEAD_H
#define PETAL_TRAIN_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

typedef struct petal_head {
    int n_classes;
    int n_features;
    float *weights; /* [n_classes][n_features], row-major (TFLite FULLY_CONNECTED layout) */
    float *bias;    /* [n_classes] */
} petal_head;

typedef enum petal_optimizer_kind { PETAL_OPT_SGD = 0, PETAL_OPT_ADAM } petal_optimizer_kind;

typedef struct petal_head_train_options {
    petal_optimizer_kind optimizer;
    float learning_rate;
    float l2; /* weight decay on W (not on b); 0 = none */
} petal_head_train_options;

/* A deterministic random generator (splitmix64 seeded, xorshift64* steps); state never 0. */
uint64_t petal_train_rng_seed(uint64_t seed);
uint64_t petal_train_rng_next(uint64_t *state);
/* Uniform integer in [0, n) and uniform float in [0, 1). */
uint32_t petal_train_rng_below(uint64_t *state, uint32_t n);
double petal_train_rng_uniform(uint64_t *state);

/* Allocates a head with truncated-normal weights (stddev) drawn from *rng and zero biases. */
petal_status petal_head_init(petal_head *head, int n_classes, int n_features, float stddev,
                             uint64_t *rng, petal_error *err);

/* Copies src into dst (dst allocated here, or reused if shapes match). */
petal_status petal_head_copy(petal_head *dst, const petal_head *src, petal_error *err);

void petal_head_free(petal_head *head);

/* Probabilities for n rows of features x ([n][n_features]) into probs ([n][n_classes]). */
void petal_head_predict(const petal_head *head, const float *x, size_t n, float *probs);

/* Accuracy (fraction) and mean cross-entropy of the head on n labelled rows; predictions
 * (may be NULL) gets the argmax class per row. Uses a scratch buffer of n*n_classes floats
 * allocated internally. */
petal_status petal_head_evaluate(const petal_head *head, const float *x, const int *labels,
                                 size_t n, double *accuracy, double *cross_entropy,
                                 int *predictions, petal_error *err);

typedef struct petal_head_trainer petal_head_trainer;

/* State for training head on batches of up to max_batch rows (optimizer moments, scratch). */
petal_status petal_head_trainer_new(const petal_head *head, const petal_head_train_options *opt,
                                    size_t max_batch, petal_head_trainer **out, petal_error *err);
void petal_head_trainer_free(petal_head_trainer *t);

/* One optimizer step on a batch x ([n][n_features]) with labels. */
void petal_head_train_step(petal_head_trainer *t, petal_head *head, const float *x,
                           const int *labels, size_t n);

#endif
