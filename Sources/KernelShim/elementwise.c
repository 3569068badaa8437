// The fused elementwise kernels (elementwise_body.h: the LSTM, GRU and RNN cells, the dropout mask, column sums,
// softmax cross-entropy, bfloat16 conversion) for three
// instruction sets, and the choice among them, made
// once from what the CPU reports: AVX-512 where it has AVX-512F, else AVX2, else SSE2 (every x86-64).
// ONEDNN_MAX_CPU_ISA, the variable that caps oneDNN's kernels, caps this choice the same way, so one
// setting forces one path for every kernel (the test suite runs once per path that way).
#include "kernelshim.h"
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#pragma clang fp contract(off)
// The sixteen-lane helpers are inlined into the kernels of their own path, so no vector crosses a call
// and the calling-convention warning for wide vectors on narrower paths does not apply.
#pragma clang diagnostic ignored "-Wpsabi"

#define LANES 16
typedef float VF __attribute__((vector_size(64)));
typedef int32_t VI __attribute__((vector_size(64)));
typedef uint32_t VU __attribute__((vector_size(64)));
typedef uint16_t VH __attribute__((vector_size(32)));
#define SPLAT(x) ((VF){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})

#define EXP_HI 88.3f
#define EXP_LO -87.3f
#define LOG2E 1.44269504f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUND_MAGIC 12582912.0f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

static inline float scalar_exp(float x) {
    x = EXP_HI < x ? EXP_HI : x;           // min(x, hi) as Swift.min computes it (NaN stays NaN)
    x = EXP_LO > x ? EXP_LO : x;           // max(x, lo)
    float r = x * LOG2E + ROUND_MAGIC;
    float n = r - ROUND_MAGIC;
    int32_t rb; memcpy(&rb, &r, 4);
    int32_t ni = rb - 0x4B400000;
    float f = x - n * LN2_HI - n * LN2_LO;
    float p = P0;
    p = p * f + P1;
    p = p * f + P2;
    p = p * f + P3;
    p = p * f + P4;
    p = p * f + P5;
    float y = p * (f * f) + f + 1.0f;
    uint32_t sb = (uint32_t)(ni + 127) << 23;
    float s; memcpy(&s, &sb, 4);
    return y * s;
}
static inline float scalar_sigmoid(float x) { return 1.0f / (1.0f + scalar_exp(-x)); }
static inline uint16_t scalar_to_bf16(float x) {
    uint32_t u; memcpy(&u, &x, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
static inline float scalar_tanh(float x) { return 2.0f / (1.0f + scalar_exp(-2.0f * x)) - 1.0f; }

#define V(name) name##_sse2
#include "elementwise_body.h"
#undef V

#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define V(name) name##_avx2
#include "elementwise_body.h"
#undef V
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#define V(name) name##_avx512
#include "elementwise_body.h"
#undef V
#pragma clang attribute pop

typedef void (*Forward)(int64_t, int64_t, float *, const float *, const float *, float *, float *);
typedef void (*Backward)(int64_t, int64_t, float *, const float *, const float *, const float *, float *);
typedef void (*Mask)(const uint8_t *, int64_t, const float *, float *, float);
typedef void (*Sums)(int64_t, int64_t, const float *, int64_t, float, float *);
typedef double (*Softmax)(int64_t, int64_t, float *, const int32_t *, int, float, float *);
typedef void (*GRUForward)(int64_t, int64_t, float *, const float *, const float *, const float *, const float *,
                           float *);
typedef void (*GRUBackward)(int64_t, int64_t, float *, const float *, const float *, float *);
typedef void (*RNNForward)(int64_t, int64_t, float *, const float *, int, float *);
typedef void (*RNNBackward)(int64_t, int64_t, float *, const float *, int);
typedef void (*ToBF16)(int64_t, int64_t, const float *, int64_t, uint16_t *);
static struct {
    Forward forward; Backward backward; Mask mask; Sums sums; Softmax softmax;
    GRUForward gru_forward; GRUBackward gru_backward; RNNForward rnn_forward; RNNBackward rnn_backward;
    ToBF16 to_bf16; int bits;
} path = {
    cell_forward_sse2, cell_backward_sse2, apply_mask_sse2, column_sums_sse2, softmax_xent_sse2,
    gru_forward_sse2, gru_backward_sse2, rnn_forward_sse2, rnn_backward_sse2, to_bf16_sse2, 128};
static pthread_once_t chosen = PTHREAD_ONCE_INIT;

// The widest path ONEDNN_MAX_CPU_ISA allows (its names: SSE41, AVX, AVX2, AVX2_VNNI, AVX512_CORE, ...,
// ALL), in bits; no variable or an unknown value: no cap.
static int cap_bits(void) {
    const char *v = getenv("ONEDNN_MAX_CPU_ISA");
    if (!v) v = getenv("DNNL_MAX_CPU_ISA");
    if (!v) return 512;
    char s[32] = {0};
    for (int i = 0; v[i] && i < 31; i++) s[i] = (char)toupper((unsigned char)v[i]);
    if (strncmp(s, "AVX512", 6) == 0 || strcmp(s, "ALL") == 0) return 512;
    if (strncmp(s, "AVX2", 4) == 0) return 256;
    if (strcmp(s, "AVX") == 0 || strncmp(s, "SSE", 3) == 0) return 128;
    return 512;
}

static void choose(void) {
    __builtin_cpu_init();
    int cap = cap_bits();
    if (cap >= 512 && __builtin_cpu_supports("avx512f")) {
        path.forward = cell_forward_avx512; path.backward = cell_backward_avx512; path.mask = apply_mask_avx512;
        path.sums = column_sums_avx512; path.softmax = softmax_xent_avx512;
        path.gru_forward = gru_forward_avx512; path.gru_backward = gru_backward_avx512;
        path.rnn_forward = rnn_forward_avx512; path.rnn_backward = rnn_backward_avx512; path.to_bf16 = to_bf16_avx512;
        path.bits = 512;
    } else if (cap >= 256 && __builtin_cpu_supports("avx2")) {
        path.forward = cell_forward_avx2; path.backward = cell_backward_avx2; path.mask = apply_mask_avx2;
        path.sums = column_sums_avx2; path.softmax = softmax_xent_avx2;
        path.gru_forward = gru_forward_avx2; path.gru_backward = gru_backward_avx2;
        path.rnn_forward = rnn_forward_avx2; path.rnn_backward = rnn_backward_avx2; path.to_bf16 = to_bf16_avx2;
        path.bits = 256;
    }
}

int gasa_elementwise_bits(void) { pthread_once(&chosen, choose); return path.bits; }

void gasa_lstm_cell_forward(int64_t batch, int64_t hidden, float *gates, const float *bias, const float *c_prev,
                            float *c_out, float *h_out) {
    pthread_once(&chosen, choose);
    path.forward(batch, hidden, gates, bias, c_prev, c_out, h_out);
}

void gasa_lstm_cell_backward(int64_t batch, int64_t hidden, float *gates, const float *c, const float *c_prev,
                             const float *dh, float *dc) {
    pthread_once(&chosen, choose);
    path.backward(batch, hidden, gates, c, c_prev, dh, dc);
}

void gasa_gru_cell_forward(int64_t batch, int64_t hidden, float *gates, const float *gh, const float *b_ih,
                           const float *b_hh, const float *h_prev, float *h_out) {
    pthread_once(&chosen, choose);
    path.gru_forward(batch, hidden, gates, gh, b_ih, b_hh, h_prev, h_out);
}

void gasa_gru_cell_backward(int64_t batch, int64_t hidden, float *gates, const float *h_prev, const float *dh,
                            float *dh_prev) {
    pthread_once(&chosen, choose);
    path.gru_backward(batch, hidden, gates, h_prev, dh, dh_prev);
}

void gasa_rnn_cell_forward(int64_t batch, int64_t hidden, float *gates, const float *bias, int relu, float *h_out) {
    pthread_once(&chosen, choose);
    path.rnn_forward(batch, hidden, gates, bias, relu, h_out);
}

void gasa_rnn_cell_backward(int64_t batch, int64_t hidden, float *gates, const float *dh, int relu) {
    pthread_once(&chosen, choose);
    path.rnn_backward(batch, hidden, gates, dh, relu);
}

void gasa_apply_mask(const uint8_t *mask, int64_t count, const float *src, float *dst, float scale) {
    pthread_once(&chosen, choose);
    path.mask(mask, count, src, dst, scale);
}

void gasa_column_sums(int64_t rows, int64_t cols, const float *a, int64_t lda, float beta, float *y) {
    pthread_once(&chosen, choose);
    path.sums(rows, cols, a, lda, beta, y);
}

double gasa_softmax_xent(int64_t rows, int64_t classes, float *logits, const int32_t *targets, int grad,
                         float grad_scale, float *row_loss) {
    pthread_once(&chosen, choose);
    return path.softmax(rows, classes, logits, targets, grad, grad_scale, row_loss);
}

void gasa_to_bf16(int64_t rows, int64_t cols, const float *a, int64_t lda, uint16_t *out) {
    pthread_once(&chosen, choose);
    path.to_bf16(rows, cols, a, lda, out);
}
