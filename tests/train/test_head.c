/* test_head.c - the softmax last layer: init statistics, gradients against finite
 * differences, SGD/Adam learning a separable problem, and bit-exact determinism by seed. */
#include "common/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/head.h"

static void test_init_truncated_normal(void **state)
{
    (void)state;
    uint64_t rng = petal_train_rng_seed(1);
    petal_head h;
    petal_error err;
    assert_int_equal(petal_head_init(&h, 10, 1000, 0.001f, &rng, &err), PETAL_OK);
    double sum = 0, sum2 = 0;
    for (int i = 0; i < 10000; i++) {
        assert_true(fabsf(h.weights[i]) <= 0.002f);
        sum += h.weights[i];
        sum2 += (double)h.weights[i] * h.weights[i];
    }
    double mean = sum / 10000, sd = sqrt(sum2 / 10000 - mean * mean);
    assert_true(fabs(mean) < 5e-5);
    /* A normal truncated at 2 sigma has stddev 0.88 sigma. */
    assert_true(sd > 0.00082 && sd < 0.00094);
    for (int c = 0; c < 10; c++)
        assert_true(h.bias[c] == 0.0f);
    petal_head_free(&h);
}

/* Makes n points of C Gaussian blobs in N dims. */
static void make_blobs(int C, int N, size_t n, uint64_t seed, float *x, int *y)
{
    uint64_t rng = petal_train_rng_seed(seed);
    for (size_t r = 0; r < n; r++) {
        int c = (int)(r % (size_t)C);
        y[r] = c;
        for (int k = 0; k < N; k++) {
            float centre = (k % C == c) ? 1.0f : 0.0f;
            x[r * (size_t)N + (size_t)k] =
                centre + 0.3f * (float)(petal_train_rng_uniform(&rng) - 0.5);
        }
    }
}

/* Loss on a batch for the finite-difference check. */
static double loss_of(const petal_head *h, const float *x, const int *y, size_t n)
{
    double acc, ce;
    petal_error err;
    assert_int_equal(petal_head_evaluate(h, x, y, n, &acc, &ce, NULL, &err), PETAL_OK);
    return ce;
}

static void test_gradient_matches_finite_differences(void **state)
{
    (void)state;
    enum { C = 3, N = 4, B = 5 };
    float x[B * N];
    int y[B];
    make_blobs(C, N, B, 3, x, y);
    uint64_t rng = petal_train_rng_seed(2);
    petal_head h, before;
    petal_error err;
    assert_int_equal(petal_head_init(&h, C, N, 0.5f, &rng, &err), PETAL_OK);
    memset(&before, 0, sizeof before);
    assert_int_equal(petal_head_copy(&before, &h, &err), PETAL_OK);

    /* One SGD step with lr = 1 moves each weight by minus its gradient. */
    petal_head_train_options opt = {PETAL_OPT_SGD, 1.0f, 0.0f};
    petal_head_trainer *t;
    assert_int_equal(petal_head_trainer_new(&h, &opt, B, &t, &err), PETAL_OK);
    petal_head_train_step(t, &h, x, y, B);
    for (int i = 0; i < C * N; i++) {
        petal_head probe;
        memset(&probe, 0, sizeof probe);
        assert_int_equal(petal_head_copy(&probe, &before, &err), PETAL_OK);
        double eps = 1e-3;
        probe.weights[i] += (float)eps;
        double up = loss_of(&probe, x, y, B);
        probe.weights[i] -= (float)(2 * eps);
        double down = loss_of(&probe, x, y, B);
        double numeric = (up - down) / (2 * eps);
        double analytic = before.weights[i] - h.weights[i];
        assert_true(fabs(numeric - analytic) < 2e-3);
        petal_head_free(&probe);
    }
    petal_head_trainer_free(t);
    petal_head_free(&h);
    petal_head_free(&before);
}

static double train_blobs(petal_optimizer_kind kind, float lr, float l2, uint64_t seed,
                          petal_head *out)
{
    enum { C = 4, N = 32, NT = 400 };
    float *x = malloc(sizeof(float) * NT * N);
    int y[NT];
    make_blobs(C, N, NT, 9, x, y);
    uint64_t rng = petal_train_rng_seed(seed);
    petal_error err;
    assert_int_equal(petal_head_init(out, C, N, 0.001f, &rng, &err), PETAL_OK);
    petal_head_train_options opt = {kind, lr, l2};
    petal_head_trainer *t;
    assert_int_equal(petal_head_trainer_new(out, &opt, 50, &t, &err), PETAL_OK);
    for (int step = 0; step < 200; step++)
        petal_head_train_step(t, out, x + (size_t)(step % 8) * 50 * N, y + (step % 8) * 50, 50);
    double acc, ce;
    assert_int_equal(petal_head_evaluate(out, x, y, NT, &acc, &ce, NULL, &err), PETAL_OK);
    petal_head_trainer_free(t);
    free(x);
    return acc;
}

static void test_sgd_and_adam_learn(void **state)
{
    (void)state;
    petal_head a, b, c;
    assert_true(train_blobs(PETAL_OPT_SGD, 0.5f, 0.0f, 1, &a) > 0.98);
    assert_true(train_blobs(PETAL_OPT_ADAM, 0.01f, 0.0f, 1, &b) > 0.98);
    assert_true(train_blobs(PETAL_OPT_SGD, 0.5f, 0.1f, 1, &c) > 0.9);
    /* Weight decay keeps the weights smaller. */
    double na = 0, nc = 0;
    for (int i = 0; i < a.n_classes * a.n_features; i++) {
        na += (double)a.weights[i] * a.weights[i];
        nc += (double)c.weights[i] * c.weights[i];
    }
    assert_true(nc < na);
    petal_head_free(&a);
    petal_head_free(&b);
    petal_head_free(&c);
}

static void test_same_seed_same_bits(void **state)
{
    (void)state;
    petal_head a, b, c;
    train_blobs(PETAL_OPT_ADAM, 0.01f, 0.01f, 42, &a);
    train_blobs(PETAL_OPT_ADAM, 0.01f, 0.01f, 42, &b);
    train_blobs(PETAL_OPT_ADAM, 0.01f, 0.01f, 43, &c);
    size_t n = (size_t)a.n_classes * (size_t)a.n_features;
    assert_memory_equal(a.weights, b.weights, n * sizeof(float));
    assert_memory_equal(a.bias, b.bias, (size_t)a.n_classes * sizeof(float));
    assert_memory_not_equal(a.weights, c.weights, n * sizeof(float));
    petal_head_free(&a);
    petal_head_free(&b);
    petal_head_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_truncated_normal),
        cmocka_unit_test(test_gradient_matches_finite_differences),
        cmocka_unit_test(test_sgd_and_adam_learn),
        cmocka_unit_test(test_same_seed_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
