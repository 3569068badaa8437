// The calls gasa makes into oneDNN, with the thread count of the library's OpenMP pool kept per calling
// thread (see kernelshim.c), and the CPU's own report of its vector instruction sets.
#ifndef GASA_KERNELSHIM_H
#define GASA_KERNELSHIM_H
#include <stdint.h>

/// Threads each product may use from now on, on whichever thread calls it (at least 1).
void gasa_kernels_set_threads(int threads);

/// C (m x n) = alpha op(A) op(B) + beta C, row-major; 0 on success, else oneDNN's status code.
int gasa_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/// gasa_sgemm with, in bf16 mode, either operand given in bfloat16 (a_half, b_half: laid out as a and b
/// would be, row strides lda and ldb) when not null; outside bf16 mode a_half and b_half are ignored.
int gasa_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
              const uint16_t *a_half, int64_t lda, const float *b, const uint16_t *b_half, int64_t ldb, float beta,
              float *c, int64_t ldc);

/// bf16 mode of the calling thread (0 or 1, initially 0): products of more than one row then round their
/// operands to bfloat16 and accumulate in float32 (see kernelshim.c).
void gasa_kernels_set_bf16(int on);
int gasa_kernels_bf16(void);
/// 1 when oneDNN runs bfloat16 products natively here (avx512_core_bf16 or newer), else 0.
int gasa_kernels_bf16_supported(void);

/// oneDNN's effective instruction set (a dnnl_cpu_isa_t value) and version.
int gasa_kernels_isa(void);
void gasa_kernels_version(int *major, int *minor, int *patch);

/// The widest f32 instruction set the CPU reports (cpuid) in oneDNN's terms: 0x27 avx512_core (F, BW,
/// VL, DQ), 0x7 avx2 (with FMA), 0x3 avx, 0x1 sse41, 0 none of these.
int gasa_cpu_vector_isa(void);

// MARK: - Fused elementwise kernels (elementwise.c), on the widest vectors the CPU has

/// Vector width in bits of the path chosen for the elementwise kernels: 512, 256 or 128.
int gasa_elementwise_bits(void);

/// One step's cell forward. gates (B, 4H) in: pre-activations without `bias` (4H), which is added here;
/// out: the activations i, f, g, o. c_prev (B, H) in; c_out, h_out (B, H) out. c_out and h_out may be
/// c_prev and the hidden state itself (batch-1 sampling updates them in place).
void gasa_lstm_cell_forward(int64_t batch, int64_t hidden, float *gates, const float *bias, const float *c_prev,
                            float *c_out, float *h_out);

/// One step's cell backward. gates (B, 4H) in: activations, out: gradients of the pre-activations;
/// c, c_prev, dh (B, H) in; dc (B, H) in: dL/dc_t from step t+1, out: dL/dc_{t-1}.
void gasa_lstm_cell_backward(int64_t batch, int64_t hidden, float *gates, const float *c, const float *c_prev,
                             const float *dh, float *dc);

/// One GRU step (PyTorch's equations, gate order r, z, n, b_hn inside the reset product). gates (B, 4H) in:
/// columns 0..3H hold x W_ih^T without bias; gh (B, 3H) in: h_prev W_hh^T without bias; out: gates hold
/// r, z, n and W_hn h_prev + b_hn. h_out (B, H) may be h_prev (sampling updates in place).
void gasa_gru_cell_forward(int64_t batch, int64_t hidden, float *gates, const float *gh, const float *b_ih,
                           const float *b_hh, const float *h_prev, float *h_out);

/// One GRU step backward. gates (B, 4H) in: forward's values; out: the gradients of the r, z pre-activations,
/// of the reset product (W_hn h + b_hn) and of n's input side. h_prev, dh (B, H) in; dh_prev (B, H) += dh z.
void gasa_gru_cell_backward(int64_t batch, int64_t hidden, float *gates, const float *h_prev, const float *dh,
                            float *dh_prev);

/// One Elman RNN step: gates (B, H) in: pre-activations without `bias`; out: tanh (or relu when `relu`) of
/// them plus bias, also into h_out (which may be the state itself).
void gasa_rnn_cell_forward(int64_t batch, int64_t hidden, float *gates, const float *bias, int relu, float *h_out);

/// One Elman RNN step backward: gates (B, H) in: the outputs; out: the gradients of the pre-activations.
void gasa_rnn_cell_backward(int64_t batch, int64_t hidden, float *gates, const float *dh, int relu);

/// dst[k] = src[k] * scale where bit k % 8 of mask[k / 8] is set, else 0, for k < count (dst may be src).
void gasa_apply_mask(const uint8_t *mask, int64_t count, const float *src, float *dst, float scale);

/// y[j] = beta y[j] + the sum of column j of a (rows x cols, row stride lda), each column in row order;
/// beta is 0 or 1.
void gasa_column_sums(int64_t rows, int64_t cols, const float *a, int64_t lda, float beta, float *y);

/// rows x cols of a (row stride lda) rounded to bfloat16 (nearest, ties to even) into out, packed (row
/// stride cols).
void gasa_to_bf16(int64_t rows, int64_t cols, const float *a, int64_t lda, uint16_t *out);

/// Softmax cross-entropy over rows of logits (rows x classes): the summed loss in nats. When grad is
/// non-zero the logits are overwritten with grad_scale (softmax - onehot(target)); row_loss, if not
/// null, receives each row's loss.
double gasa_softmax_xent(int64_t rows, int64_t classes, float *logits, const int32_t *targets, int grad,
                         float grad_scale, float *row_loss);
#endif
