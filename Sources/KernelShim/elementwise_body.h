// The fused elementwise kernels, written once and compiled three times by elementwise.c (for SSE2, AVX2
// and AVX-512), each name suffixed by V(): the LSTM, GRU and RNN cells forward and backward, the dropout mask, the
// column sums of the bias gradients, softmax cross-entropy and the bfloat16 conversion. Sixteen lanes of generic
// vectors, which each instruction set splits into its own registers, and a scalar twin for a row's
// tail that performs the same IEEE operations in the same order, so every path and every tail
// position gives the same bits. No multiply-add is fused (elementwise.c turns contraction off).
//
//   forward:  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (G + bias)'s four blocks of H
//             c = f c_prev + i g;   h = o tanh(c);   G <- (i, f, g, o)
//   backward: dc_t = dh o (1 - tanh(c)^2) + dc;      G <- (dc_t g i (1 - i), dc_t c_prev f (1 - f),
//             dc_t i (1 - g^2), dh tanh(c) o (1 - o));   dc <- dc_t f
// exp is Cephes' expf (range reduction by ln 2, degree-6 polynomial); sigmoid(x) = 1 / (1 + exp(-x)),
// tanh(x) = 2 / (1 + exp(-2x)) - 1, as Tests/ComputeTests/FastMathReference.swift computes them.

static inline __attribute__((always_inline)) VF V(vmin)(VF a, VF b) { VI m = b < a; return (VF)(((VI)b & m) | ((VI)a & ~m)); }
static inline __attribute__((always_inline)) VF V(vmax)(VF a, VF b) { VI m = b > a; return (VF)(((VI)b & m) | ((VI)a & ~m)); }

static inline __attribute__((always_inline)) VF V(vexp)(VF x) {
    x = V(vmax)(V(vmin)(x, SPLAT(EXP_HI)), SPLAT(EXP_LO));
    VF r = x * LOG2E + ROUND_MAGIC;
    VF n = r - ROUND_MAGIC;
    VI ni = (VI)r - 0x4B400000;
    VF f = x - n * LN2_HI - n * LN2_LO;
    VF p = SPLAT(P0);
    p = p * f + P1;
    p = p * f + P2;
    p = p * f + P3;
    p = p * f + P4;
    p = p * f + P5;
    VF y = p * (f * f) + f + 1.0f;
    return y * (VF)((ni + 127) << 23);
}
static inline __attribute__((always_inline)) VF V(vsigmoid)(VF x) { return 1.0f / (1.0f + V(vexp)(-x)); }
static inline __attribute__((always_inline)) VF V(vtanh)(VF x) { return 2.0f / (1.0f + V(vexp)(-2.0f * x)) - 1.0f; }
static inline __attribute__((always_inline)) VF V(load)(const float *p) { VF v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void V(store)(VF v, float *p) { memcpy(p, &v, sizeof v); }

static void V(cell_forward)(int64_t B, int64_t H, float *restrict gates, const float *restrict bias,
                       const float *cprev, float *cout, float *hout) {
    const int64_t HV = H & ~(int64_t)(LANES - 1);
    const float *bi = bias, *bf = bias + H, *bg = bias + 2 * H, *bo = bias + 3 * H;
    for (int64_t b = 0; b < B; b++) {
        float *gi = gates + b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const float *cp = cprev + b * H;
        float *cn = cout + b * H, *hn = hout + b * H;
        int64_t j = 0;
        for (; j < HV; j += LANES) {
            VF i = V(vsigmoid)(V(load)(gi + j) + V(load)(bi + j)), f = V(vsigmoid)(V(load)(gf + j) + V(load)(bf + j));
            VF g = V(vtanh)(V(load)(gg + j) + V(load)(bg + j)), o = V(vsigmoid)(V(load)(go + j) + V(load)(bo + j));
            VF c = f * V(load)(cp + j) + i * g;
            V(store)(i, gi + j); V(store)(f, gf + j); V(store)(g, gg + j); V(store)(o, go + j);
            V(store)(c, cn + j);
        }
        // h = o tanh(c) in a second pass: shorter chains of dependent operations per iteration.
        for (int64_t k = 0; k < HV; k += LANES) V(store)(V(load)(go + k) * V(vtanh)(V(load)(cn + k)), hn + k);
        for (; j < H; j++) {
            float i = scalar_sigmoid(gi[j] + bi[j]), f = scalar_sigmoid(gf[j] + bf[j]);
            float g = scalar_tanh(gg[j] + bg[j]), o = scalar_sigmoid(go[j] + bo[j]);
            float c = f * cp[j] + i * g;
            gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o;
            cn[j] = c;
            hn[j] = o * scalar_tanh(c);
        }
    }
}

static void V(cell_backward)(int64_t B, int64_t H, float *restrict gates, const float *restrict c,
                        const float *restrict cprev, const float *restrict dh, float *restrict dc) {
    const int64_t HV = H & ~(int64_t)(LANES - 1);
    const VF one = SPLAT(1.0f);
    for (int64_t b = 0; b < B; b++) {
        float *gi = gates + b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const float *ct = c + b * H, *cp = cprev + b * H, *dhb = dh + b * H;
        float *dcb = dc + b * H;
        int64_t j = 0;
        for (; j < HV; j += LANES) {
            VF i = V(load)(gi + j), f = V(load)(gf + j), g = V(load)(gg + j), o = V(load)(go + j);
            VF tc = V(vtanh)(V(load)(ct + j));
            VF d = V(load)(dhb + j);
            VF dct = d * o * (one - tc * tc) + V(load)(dcb + j);
            V(store)(dct * g * i * (one - i), gi + j);
            V(store)(dct * V(load)(cp + j) * f * (one - f), gf + j);
            V(store)(dct * i * (one - g * g), gg + j);
            V(store)(d * tc * o * (one - o), go + j);
            V(store)(dct * f, dcb + j);
        }
        for (; j < H; j++) {
            float i = gi[j], f = gf[j], g = gg[j], o = go[j];
            float tc = scalar_tanh(ct[j]);
            float d = dhb[j];
            float dct = d * o * (1 - tc * tc) + dcb[j];
            gi[j] = dct * g * i * (1 - i);
            gf[j] = dct * cp[j] * f * (1 - f);
            gg[j] = dct * i * (1 - g * g);
            go[j] = d * tc * o * (1 - o);
            dcb[j] = dct * f;
        }
    }
}

// GRU step, PyTorch's equations. gates (B, 4H) in: columns 0..3H hold x W_ih^T (no bias); gh (B, 3H) in:
// h_prev W_hh^T (no bias). r = sigmoid(gx_r + b_ir + gh_r + b_hr), z likewise, hn = gh_n + b_hn,
// n = tanh(gx_n + b_in + r hn), h = (1 - z) n + z h_prev; gates <- (r, z, n, hn). hout may be hprev.
static void V(gru_forward)(int64_t B, int64_t H, float *restrict gates, const float *restrict gh,
                           const float *restrict bih, const float *restrict bhh, const float *hprev, float *hout) {
    const int64_t HV = H & ~(int64_t)(LANES - 1);
    const VF one = SPLAT(1.0f);
    for (int64_t b = 0; b < B; b++) {
        float *gr = gates + b * 4 * H, *gz = gr + H, *gn = gr + 2 * H, *ghn = gr + 3 * H;
        const float *hr = gh + b * 3 * H, *hz = hr + H, *hh = hr + 2 * H;
        const float *hp = hprev + b * H;
        float *ho = hout + b * H;
        int64_t j = 0;
        for (; j < HV; j += LANES) {
            VF r = V(vsigmoid)((V(load)(gr + j) + V(load)(bih + j)) + (V(load)(hr + j) + V(load)(bhh + j)));
            VF z = V(vsigmoid)((V(load)(gz + j) + V(load)(bih + H + j)) + (V(load)(hz + j) + V(load)(bhh + H + j)));
            VF hn = V(load)(hh + j) + V(load)(bhh + 2 * H + j);
            VF n = V(vtanh)((V(load)(gn + j) + V(load)(bih + 2 * H + j)) + r * hn);
            VF h = (one - z) * n + z * V(load)(hp + j);
            V(store)(r, gr + j); V(store)(z, gz + j); V(store)(n, gn + j); V(store)(hn, ghn + j);
            V(store)(h, ho + j);
        }
        for (; j < H; j++) {
            float r = scalar_sigmoid((gr[j] + bih[j]) + (hr[j] + bhh[j]));
            float z = scalar_sigmoid((gz[j] + bih[H + j]) + (hz[j] + bhh[H + j]));
            float hn = hh[j] + bhh[2 * H + j];
            float n = scalar_tanh((gn[j] + bih[2 * H + j]) + r * hn);
            float h = (1 - z) * n + z * hp[j];
            gr[j] = r; gz[j] = z; gn[j] = n; ghn[j] = hn;
            ho[j] = h;
        }
    }
}

// GRU step backward. gates (B, 4H) in: (r, z, n, hn); out: (dr, dz, dn r, dn), the gradients of the
// pre-activations, where dn is that of n's (the input side's) and dn r that of the reset product's
// (W_hn h + b_hn); hprev, dh (B, H) in; dhprev (B, H) += dh z (the path that skips the products).
static void V(gru_backward)(int64_t B, int64_t H, float *restrict gates, const float *restrict hprev,
                            const float *restrict dh, float *restrict dhprev) {
    const int64_t HV = H & ~(int64_t)(LANES - 1);
    const VF one = SPLAT(1.0f);
    for (int64_t b = 0; b < B; b++) {
        float *gr = gates + b * 4 * H, *gz = gr + H, *gn = gr + 2 * H, *ghn = gr + 3 * H;
        const float *hp = hprev + b * H, *d = dh + b * H;
        float *dp = dhprev + b * H;
        int64_t j = 0;
        for (; j < HV; j += LANES) {
            VF r = V(load)(gr + j), z = V(load)(gz + j), n = V(load)(gn + j), hn = V(load)(ghn + j);
            VF dv = V(load)(d + j);
            VF dn = dv * (one - z) * (one - n * n);
            VF dz = dv * (V(load)(hp + j) - n) * z * (one - z);
            VF dr = dn * hn * r * (one - r);
            V(store)(dr, gr + j); V(store)(dz, gz + j); V(store)(dn * r, gn + j); V(store)(dn, ghn + j);
            V(store)(V(load)(dp + j) + dv * z, dp + j);
        }
        for (; j < H; j++) {
            float r = gr[j], z = gz[j], n = gn[j], hn = ghn[j];
            float dv = d[j];
            float dn = dv * (1 - z) * (1 - n * n);
            float dz = dv * (hp[j] - n) * z * (1 - z);
            float dr = dn * hn * r * (1 - r);
            gr[j] = dr; gz[j] = dz; gn[j] = dn * r; ghn[j] = dn;
            dp[j] = dp[j] + dv * z;
        }
    }
}

// Elman RNN step: gates (B, H) in: x W_ih^T + h_prev W_hh^T without `bias` (H), added here; out: the
// output a = tanh(pre) (relu when `relu`), also written to hout (which may be the state itself).
static void V(rnn_forward)(int64_t B, int64_t H, float *restrict gates, const float *restrict bias, int relu,
                           float *hout) {
    const int64_t HV = H & ~(int64_t)(LANES - 1);
    const VF zero = SPLAT(0.0f);
    for (int64_t b = 0; b < B; b++) {
        float *g = gates + b * H, *ho = hout + b * H;
        int64_t j = 0;
        for (; j < HV; j += LANES) {
            VF x = V(load)(g + j) + V(load)(bias + j);
            VF a = relu ? V(vmax)(x, zero) : V(vtanh)(x);
            V(store)(a, g + j); V(store)(a, ho + j);
        }
        for (; j < H; j++) {
            float x = g[j] + bias[j];
            float a = relu ? (0.0f > x ? 0.0f : x) : scalar_tanh(x);   // as vmax(x, 0): NaN stays NaN
            g[j] = a; ho[j] = a;
        }
    }
}

// Elman RNN step backward: gates (B, H) in: the outputs a; out: dh (1 - a^2) (relu: dh where a > 0).
static void V(rnn_backward)(int64_t B, int64_t H, float *restrict gates, const float *restrict dh, int relu) {
    const int64_t n = B * H, nv = n & ~(int64_t)(LANES - 1);
    const VF one = SPLAT(1.0f), zero = SPLAT(0.0f);
    int64_t k = 0;
    for (; k < nv; k += LANES) {
        VF a = V(load)(gates + k), d = V(load)(dh + k);
        VF out = relu ? (VF)((VI)d & (a > zero)) : d * (one - a * a);
        V(store)(out, gates + k);
    }
    for (; k < n; k++) {
        float a = gates[k], d = dh[k];
        gates[k] = relu ? (a > 0 ? d : 0.0f) : d * (1 - a * a);
    }
}

// dst = src * scale where the mask keeps a value, else +0 (dst may be src). Mask bit k % 8 of byte k / 8
// is value k; sixteen values take two bytes, spread over the lanes and compared, then one select.
static void V(apply_mask)(const uint8_t *restrict mask, int64_t n, const float *src, float *dst, float scale) {
    const VI bits = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
    const int64_t nv = n & ~(int64_t)(LANES - 1);
    int64_t k = 0;
    for (; k < nv; k += LANES) {
        int32_t word = (int32_t)mask[k >> 3] | (int32_t)mask[(k >> 3) + 1] << 8;
        VI keep = ((VI){0} + word & bits) != 0;
        V(store)((VF)((VI)(V(load)(src + k) * scale) & keep), dst + k);
    }
    for (; k < n; k++) dst[k] = mask[k >> 3] & (1 << (k & 7)) ? src[k] * scale : 0.0f;
}

// y[j] = beta y[j] + sum over i of a[i lda + j], j < cols (beta 0 or 1). Row after row into y, which
// stays in L1, so each column is summed in row order whatever the vector width.
static void V(column_sums)(int64_t rows, int64_t cols, const float *restrict a, int64_t lda, float beta,
                           float *restrict y) {
    if (beta == 0.0f) memset(y, 0, (size_t)cols * sizeof(float));
    const int64_t cv = cols & ~(int64_t)(LANES - 1);
    for (int64_t i = 0; i < rows; i++) {
        const float *r = a + i * lda;
        int64_t j = 0;
        for (; j < cv; j += LANES) V(store)(V(load)(y + j) + V(load)(r + j), y + j);
        for (; j < cols; j++) y[j] += r[j];
    }
}

// Softmax cross-entropy over n rows of v logits, fused: one pass for the maximum, one for the
// exponentials and their sum (sixteen partial sums, added lane by lane in order, then the tail), one to
// turn them into the gradient in place when `grad` (logits <- grad_scale (softmax - onehot(target))).
// Returns the summed loss in nats, accumulated in double; row_loss, if given, receives each row's.
static double V(softmax_xent)(int64_t n, int64_t v, float *restrict logits, const int32_t *restrict targets,
                              int grad, float grad_scale, float *restrict row_loss) {
    const int64_t vv = v & ~(int64_t)(LANES - 1);
    double total = 0;
    for (int64_t r = 0; r < n; r++) {
        float *x = logits + r * v;
        VF mx16 = SPLAT(-3.40282347e38f);
        int64_t j = 0;
        for (; j < vv; j += LANES) mx16 = V(vmax)(mx16, V(load)(x + j));
        float mx = -3.40282347e38f;
        for (int l = 0; l < LANES; l++) mx = mx16[l] > mx ? mx16[l] : mx;
        for (; j < v; j++) mx = x[j] > mx ? x[j] : mx;
        const int64_t t = targets[r];
        const float target = x[t] - mx;
        VF s16 = SPLAT(0.0f);
        j = 0;
        if (grad) {
            for (; j < vv; j += LANES) { VF e = V(vexp)(V(load)(x + j) - mx); V(store)(e, x + j); s16 += e; }
        } else {
            for (; j < vv; j += LANES) s16 += V(vexp)(V(load)(x + j) - mx);
        }
        float s = 0;
        for (int l = 0; l < LANES; l++) s += s16[l];
        for (; j < v; j++) { float e = scalar_exp(x[j] - mx); if (grad) x[j] = e; s += e; }
        const double loss = (double)logf(s) - (double)target;
        total += loss;
        if (row_loss) row_loss[r] = (float)loss;
        if (grad) {
            const float k = grad_scale / s;
            for (j = 0; j < vv; j += LANES) V(store)(V(load)(x + j) * k, x + j);
            for (; j < v; j++) x[j] *= k;
            x[t] -= grad_scale;
        }
    }
    return total;
}

// bfloat16 copies for the products of `--precision bf16` training (kernelshim.c): rows x cols of a (row
// stride lda) into out, packed (row stride cols); each value rounded to the nearest bfloat16, ties to
// even, a NaN kept a (quiet) NaN. Integer arithmetic on the bits, so every path gives the same result.
static void V(to_bf16)(int64_t rows, int64_t cols, const float *restrict a, int64_t lda, uint16_t *restrict out) {
    const int64_t cv = cols & ~(int64_t)(LANES - 1);
    for (int64_t i = 0; i < rows; i++) {
        const float *r = a + i * lda;
        uint16_t *o = out + i * cols;
        int64_t j = 0;
        for (; j < cv; j += LANES) {
            VU u;
            memcpy(&u, r + j, sizeof u);
            VU rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
            VU nan = (VU)((u & 0x7FFFFFFFu) > 0x7F800000u);
            VU q = (u >> 16) | 0x40u;
            VH h = __builtin_convertvector((rounded & ~nan) | (q & nan), VH);
            memcpy(o + j, &h, sizeof h);
        }
        for (; j < cols; j++) o[j] = scalar_to_bf16(r[j]);
    }
}
