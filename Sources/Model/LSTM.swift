// One LSTM layer over T steps of B rows, forward and backward side by side, over flat buffers.
//
//   G   = X W_ih^T                             all T steps in one GEMM          (N, 4H)
//   G_t += h_{t-1} W_hh^T + (b_ih + b_hh)      one GEMM per step, bias in the cell pass (B, 4H)
//   i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of G_t's four column blocks  (gate order i, f, g, o)
//   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
// The nonlinearities and the cell update are one fused pass; the backward pass fuses the cell's
// derivatives the same way and overwrites the stored activations with the gate gradients, so the
// weight gradients are then three products over all steps at once (and can wait, or be split by rows).
import Numerics

enum LSTMLayer {
    /// Fused forward of one step: gates (B, 4H) in: pre-activations (less `bias` (4H), which is added
    /// here), out: activations; cPrev (B, H) in; cOut, hOut (B, H) out.
    @inline(__always)
    static func cellForward(batch B: Int, hidden H: Int, gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
                            cPrev: UnsafePointer<Float>, cOut: UnsafeMutablePointer<Float>,
                            hOut: UnsafeMutablePointer<Float>) {
        let H8 = H & ~7
        let bi = bias, bf = bias + H, bg = bias + 2 * H, bo = bias + 3 * H
        for b in 0..<B {
            let gi = gates + b * 4 * H, gf = gi + H, gg = gi + 2 * H, go = gi + 3 * H
            let cp = cPrev + b * H, cn = cOut + b * H, hn = hOut + b * H
            var j = 0
            while j < H8 {
                let i = fastSigmoid(load8(gi + j) + load8(bi + j)), f = fastSigmoid(load8(gf + j) + load8(bf + j))
                let g = fastTanh(load8(gg + j) + load8(bg + j)), o = fastSigmoid(load8(go + j) + load8(bo + j))
                let c = f * load8(cp + j) + i * g
                store8(i, gi + j); store8(f, gf + j); store8(g, gg + j); store8(o, go + j)
                store8(c, cn + j)
                j += 8
            }
            // h = o tanh(c) in a second pass over the row: each pass's iterations are shorter chains of
            // dependent operations, which the processor overlaps better than one long chain (same values).
            var k = 0
            while k < H8 {
                store8(load8(go + k) * fastTanh(load8(cn + k)), hn + k)
                k += 8
            }
            while j < H {
                let i = fastSigmoid(gi[j] + bi[j]), f = fastSigmoid(gf[j] + bf[j])
                let g = fastTanh(gg[j] + bg[j]), o = fastSigmoid(go[j] + bo[j])
                let c = f * cp[j] + i * g
                gi[j] = i; gf[j] = f; gg[j] = g; go[j] = o
                cn[j] = c
                hn[j] = o * fastTanh(c)
                j += 1
            }
        }
    }

    /// Fused backward of one step. gates (B, 4H) in: activations, out: gradients of the pre-activations;
    /// c (B, H) and cPrev (B, H) in; dh (B, H) in; dc (B, H) in: dL/dc_t from step t+1, out: dL/dc_{t-1}.
    @inline(__always)
    static func cellBackward(batch B: Int, hidden H: Int, gates: UnsafeMutablePointer<Float>,
                             c: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
                             dh: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>) {
        let H8 = H & ~7
        let one = Float8(repeating: 1)
        for b in 0..<B {
            let gi = gates + b * 4 * H, gf = gi + H, gg = gi + 2 * H, go = gi + 3 * H
            let ct = c + b * H, cp = cPrev + b * H, dhb = dh + b * H, dcb = dc + b * H
            var j = 0
            while j < H8 {
                let i = load8(gi + j), f = load8(gf + j), g = load8(gg + j), o = load8(go + j)
                let tc = fastTanh(load8(ct + j))
                let d = load8(dhb + j)
                let dct = d * o * (one - tc * tc) + load8(dcb + j)
                store8(dct * g * i * (one - i), gi + j)
                store8(dct * load8(cp + j) * f * (one - f), gf + j)
                store8(dct * i * (one - g * g), gg + j)
                store8(d * tc * o * (one - o), go + j)
                store8(dct * f, dcb + j)
                j += 8
            }
            while j < H {
                let i = gi[j], f = gf[j], g = gg[j], o = go[j]
                let tc = fastTanh(ct[j])
                let d = dhb[j]
                let dct = d * o * (1 - tc * tc) + dcb[j]
                gi[j] = dct * g * i * (1 - i)
                gf[j] = dct * cp[j] * f * (1 - f)
                gg[j] = dct * i * (1 - g * g)
                go[j] = d * tc * o * (1 - o)
                dcb[j] = dct * f
                j += 1
            }
        }
    }

    /// Forward over `steps` steps. whhT (H, 4H) is W_hh transposed. x (N, In) input rows; h, c (N + B, H) with block 0 holding the initial
    /// state; gates (N, 4H) receives the activations; biasSum (4H) scratch.
    static func forward(batch B: Int, steps T: Int, input In: Int, hidden H: Int,
                        x: UnsafePointer<Float>, wih: UnsafePointer<Float>, whhT: UnsafePointer<Float>,
                        bih: UnsafePointer<Float>, bhh: UnsafePointer<Float>, biasSum: UnsafeMutablePointer<Float>,
                        gates: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>) {
        let N = B * T, G = 4 * H
        for k in 0..<G { biasSum[k] = bih[k] + bhh[k] }   // added by cellForward
        BLAS.gemm(transA: false, transB: true, m: N, n: G, k: In, a: x, lda: In, b: wih, ldb: In,
                  beta: 0, c: gates, ldc: G)
        for t in 0..<T {
            let gt = gates + t * B * G
            BLAS.gemm(transA: false, transB: false, m: B, n: G, k: H, a: h + t * B * H, lda: H, b: whhT, ldb: G,
                      beta: 1, c: gt, ldc: G)
            cellForward(batch: B, hidden: H, gates: gt, bias: biasSum, cPrev: c + t * B * H, cOut: c + (t + 1) * B * H,
                        hOut: h + (t + 1) * B * H)
        }
    }

    /// Backward through time over `steps` steps after `forward`. dhOut (N, H) in: dL/dh_t from above
    /// (destroyed: the recurrent gradient is accumulated into it); dc (B, H) scratch. Leaves dL/dG, the
    /// gradients of the gate pre-activations, in `gates` for weightGradients and inputGradient.
    static func backwardThroughTime(batch B: Int, steps T: Int, hidden H: Int, whh: UnsafePointer<Float>,
                                    gates: UnsafeMutablePointer<Float>, c: UnsafePointer<Float>,
                                    dhOut: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>) {
        let G = 4 * H
        dc.update(repeating: 0, count: B * H)   // truncated BPTT: nothing flows in from after the last step
        var t = T - 1
        while t >= 0 {
            let gt = gates + t * B * G
            cellBackward(batch: B, hidden: H, gates: gt, c: c + (t + 1) * B * H, cPrev: c + t * B * H,
                         dh: dhOut + t * B * H, dc: dc)
            if t > 0 {
                // dL/dh_{t-1} += dG_t W_hh
                BLAS.gemm(transA: false, transB: false, m: B, n: H, k: G, a: gt, lda: G, b: whh, ldb: H,
                          beta: 1, c: dhOut + (t - 1) * B * H, ldc: H)
            }
            t -= 1
        }
    }

    /// Rows `rows` (of 0..<4H) of the weight and bias gradients from dL/dG (in `gates`), the input x (N, In)
    /// and h (whose first N rows are h_{t-1}): dW_ih = dG^T x, dW_hh = dG^T h_prev, db = column sums of dG.
    /// Overwrites those rows, or adds to them when `accumulate` (another part of the batch came first).
    /// dbhh is left to the caller (it equals dbih).
    static func weightGradients(batch B: Int, steps T: Int, input In: Int, hidden H: Int, rows: Range<Int>,
                                x: UnsafePointer<Float>, gates: UnsafePointer<Float>, h: UnsafePointer<Float>,
                                ones: UnsafePointer<Float>, dwih: UnsafeMutablePointer<Float>,
                                dwhh: UnsafeMutablePointer<Float>, dbih: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let N = B * T, G = 4 * H, r0 = rows.lowerBound, m = rows.count
        let beta: Float = accumulate ? 1 : 0
        BLAS.gemm(transA: true, transB: false, m: m, n: In, k: N, a: gates + r0, lda: G, b: x, ldb: In,
                  beta: beta, c: dwih + r0 * In, ldc: In)
        BLAS.gemm(transA: true, transB: false, m: m, n: H, k: N, a: gates + r0, lda: G, b: h, ldb: H,
                  beta: beta, c: dwhh + r0 * H, ldc: H)
        BLAS.gemv(trans: true, m: N, n: m, a: gates + r0, lda: G, x: ones, beta: beta, y: dbih + r0)
    }

    /// dL/dx (N, In) = dG W_ih. dx may be the memory of the layer's input x once its weight gradients are done.
    static func inputGradient(batch B: Int, steps T: Int, input In: Int, hidden H: Int, wih: UnsafePointer<Float>,
                              gates: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        BLAS.gemm(transA: false, transB: false, m: B * T, n: In, k: 4 * H, a: gates, lda: 4 * H, b: wih, ldb: In,
                  beta: 0, c: dx, ldc: In)
    }
}
