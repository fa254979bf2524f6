/* head.c - softmax last layer: init, predict, cross-entropy gradients, SGD and Adam. */
#include "train/head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

/* OpenMP (libgomp, which oneDNN uses): the last layer's small GEMMs run on one thread, which
 * is faster than waking a thread team for every 100-row product, keeps results independent
 * of the core count, and does not suffer from busy neighbours. */
extern void omp_set_num_threads(int n);
extern int omp_get_max_threads(void);

/* Row-major C = alpha op(A) op(B) + beta C on the calling thread only. */
static void sgemm1(char ta, char tb, dnnl_dim_t m, dnnl_dim_t n, dnnl_dim_t k, float alpha,
                   const float *a, dnnl_dim_t lda, const float *b, dnnl_dim_t ldb, float beta,
                   float *c, dnnl_dim_t ldc)
{
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    omp_set_num_threads(threads);
}

/* ---- Random numbers ------------------------------------------------------------------- */

uint64_t petal_train_rng_seed(uint64_t seed)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1Dull;
}

uint64_t petal_train_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint32_t petal_train_rng_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(((petal_train_rng_next(state) >> 32) * (uint64_t)n) >> 32);
}

double petal_train_rng_uniform(uint64_t *state)
{
    return (double)(petal_train_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller; truncated by rejection beyond two standard deviations. */
static double truncated_normal(uint64_t *rng)
{
    for (;;) {
        double u1 = petal_train_rng_uniform(rng), u2 = petal_train_rng_uniform(rng);
        if (u1 <= 0)
            continue;
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        if (fabs(z) <= 2.0)
            return z;
    }
}

/* ---- The head ------------------------------------------------------------------------- */

petal_status petal_head_init(petal_head *head, int n_classes, int n_features, float stddev,
                             uint64_t *rng, petal_error *err)
{
    memset(head, 0, sizeof *head);
    if (n_classes < 1 || n_features < 1)
        return petal_error_set(err, PETAL_ERR_ARG, "head of %d classes x %d features", n_classes,
                               n_features);
    size_t nw = (size_t)n_classes * (size_t)n_features;
    head->weights = malloc(nw * sizeof(float));
    head->bias = calloc((size_t)n_classes, sizeof(float));
    if (!head->weights || !head->bias) {
        petal_head_free(head);
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory for the final layer");
    }
    head->n_classes = n_classes;
    head->n_features = n_features;
    for (size_t i = 0; i < nw; i++)
        head->weights[i] = (float)(truncated_normal(rng) * stddev);
    return PETAL_OK;
}

petal_status petal_head_copy(petal_head *dst, const petal_head *src, petal_error *err)
{
    size_t nw = (size_t)src->n_classes * (size_t)src->n_features;
    if (dst->n_classes != src->n_classes || dst->n_features != src->n_features) {
        petal_head_free(dst);
        dst->weights = malloc(nw * sizeof(float));
        dst->bias = malloc((size_t)src->n_classes * sizeof(float));
        if (!dst->weights || !dst->bias) {
            petal_head_free(dst);
            return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory for the final layer");
        }
        dst->n_classes = src->n_classes;
        dst->n_features = src->n_features;
    }
    memcpy(dst->weights, src->weights, nw * sizeof(float));
    memcpy(dst->bias, src->bias, (size_t)src->n_classes * sizeof(float));
    return PETAL_OK;
}

void petal_head_free(petal_head *head)
{
    free(head->weights);
    free(head->bias);
    memset(head, 0, sizeof *head);
}

/* logits[n][C] = x[n][N] W^T + b, then a numerically stable softmax per row in place. */
static void forward(const petal_head *head, const float *x, size_t n, float *probs)
{
    int C = head->n_classes, N = head->n_features;
    for (size_t r = 0; r < n; r++)
        memcpy(probs + r * (size_t)C, head->bias, (size_t)C * sizeof(float));
    sgemm1('N', 'T', (dnnl_dim_t)n, C, N, 1.0f, x, N, head->weights, N, 1.0f, probs, C);
    for (size_t r = 0; r < n; r++) {
        float *p = probs + r * (size_t)C;
        float mx = p[0];
        for (int c = 1; c < C; c++)
            mx = p[c] > mx ? p[c] : mx;
        double sum = 0;
        for (int c = 0; c < C; c++) {
            p[c] = expf(p[c] - mx);
            sum += p[c];
        }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++)
            p[c] *= inv;
    }
}

void petal_head_predict(const petal_head *head, const float *x, size_t n, float *probs)
{
    if (n > 0)
        forward(head, x, n, probs);
}

static int argmax(const float *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best])
            best = i;
    return best;
}

petal_status petal_head_evaluate(const petal_head *head, const float *x, const int *labels,
                                 size_t n, double *accuracy, double *cross_entropy,
                                 int *predictions, petal_error *err)
{
    *accuracy = 0;
    *cross_entropy = 0;
    if (n == 0)
        return PETAL_OK;
    int C = head->n_classes;
    float *probs = malloc(n * (size_t)C * sizeof(float));
    if (!probs)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory evaluating %zu rows", n);
    forward(head, x, n, probs);
    size_t correct = 0;
    double ce = 0;
    for (size_t r = 0; r < n; r++) {
        const float *p = probs + r * (size_t)C;
        int best = argmax(p, C);
        if (predictions)
            predictions[r] = best;
        correct += best == labels[r];
        ce -= log(p[labels[r]] > 1e-30f ? p[labels[r]] : 1e-30f);
    }
    free(probs);
    *accuracy = (double)correct / (double)n;
    *cross_entropy = ce / (double)n;
    return PETAL_OK;
}

/* ---- Training -------------------------------------------------------------------------- */

struct petal_head_trainer {
    petal_head_train_options opt;
    size_t max_batch;
    float *probs; /* [max_batch][C], becomes dlogits */
    float *grad_w;
    float *grad_b;
    float *m_w, *v_w, *m_b, *v_b; /* Adam moments */
    long t;
};

petal_status petal_head_trainer_new(const petal_head *head, const petal_head_train_options *opt,
                                    size_t max_batch, petal_head_trainer **out, petal_error *err)
{
    size_t C = (size_t)head->n_classes, nw = C * (size_t)head->n_features;
    petal_head_trainer *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory for training");
    t->opt = *opt;
    t->max_batch = max_batch;
    t->probs = malloc(max_batch * C * sizeof(float));
    t->grad_w = malloc(nw * sizeof(float));
    t->grad_b = malloc(C * sizeof(float));
    int ok = t->probs && t->grad_w && t->grad_b;
    if (opt->optimizer == PETAL_OPT_ADAM) {
        t->m_w = calloc(nw, sizeof(float));
        t->v_w = calloc(nw, sizeof(float));
        t->m_b = calloc(C, sizeof(float));
        t->v_b = calloc(C, sizeof(float));
        ok = ok && t->m_w && t->v_w && t->m_b && t->v_b;
    }
    if (!ok) {
        petal_head_trainer_free(t);
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory for training");
    }
    *out = t;
    return PETAL_OK;
}

void petal_head_trainer_free(petal_head_trainer *t)
{
    if (!t)
        return;
    free(t->probs);
    free(t->grad_w);
    free(t->grad_b);
    free(t->m_w);
    free(t->v_w);
    free(t->m_b);
    free(t->v_b);
    free(t);
}

static void adam_update(float *p, const float *g, float *m, float *v, size_t n, float lr_t)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
    }
}

void petal_head_train_step(petal_head_trainer *t, petal_head *head, const float *x,
                           const int *labels, size_t n)
{
    int C = head->n_classes, N = head->n_features;
    size_t nw = (size_t)C * (size_t)N;
    if (n == 0)
        return;
    if (n > t->max_batch)
        n = t->max_batch;

    /* dL/dlogits = (softmax - onehot) / n */
    forward(head, x, n, t->probs);
    float inv_n = 1.0f / (float)n;
    memset(t->grad_b, 0, (size_t)C * sizeof(float));
    for (size_t r = 0; r < n; r++) {
        float *d = t->probs + r * (size_t)C;
        d[labels[r]] -= 1.0f;
        for (int c = 0; c < C; c++) {
            d[c] *= inv_n;
            t->grad_b[c] += d[c];
        }
    }
    /* dW[C][N] = dlogits^T [C][n] x [n][N] (+ l2 W) */
    sgemm1('T', 'N', C, N, (dnnl_dim_t)n, 1.0f, t->probs, C, x, N, 0.0f, t->grad_w, N);
    if (t->opt.l2 > 0)
        for (size_t i = 0; i < nw; i++)
            t->grad_w[i] += t->opt.l2 * head->weights[i];

    if (t->opt.optimizer == PETAL_OPT_ADAM) {
        t->t++;
        double c1 = 1.0 - pow(0.9, (double)t->t), c2 = 1.0 - pow(0.999, (double)t->t);
        float lr_t = (float)(t->opt.learning_rate * sqrt(c2) / c1);
        adam_update(head->weights, t->grad_w, t->m_w, t->v_w, nw, lr_t);
        adam_update(head->bias, t->grad_b, t->m_b, t->v_b, (size_t)C, lr_t);
    } else {
        float lr = t->opt.learning_rate;
        for (size_t i = 0; i < nw; i++)
            head->weights[i] -= lr * t->grad_w[i];
        for (int c = 0; c < C; c++)
            head->bias[c] -= lr * t->grad_b[c];
    }
}
