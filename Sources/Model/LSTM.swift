// One LSTM layer over T steps of B rows, forward and backward side by side, over flat buffers.
//
//   G   = X W_ih^T                             all T steps in one GEMM          (N, 4H)
//   G_t += h_{t-1} W_hh^T + (b_ih + b_hh)      one GEMM per step, bias in the cell pass (B, 4H)
//   i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of G_t's four column blocks  (gate order i, f, g, o)
//   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
// The nonlinearities and the cell update are one fused pass (in C, Sources/KernelShim/elementwise_body.h,
// compiled for SSE2, AVX2 and AVX-512 and chosen at run time); the backward pass fuses the cell's
// derivatives the same way and overwrites the stored activations with the gate gradients, so the
// weight gradients are then three products over all steps at once (and can wait, or be split by rows):
// RecurrentLayer.swift's gatedWeightGradients and gatedInputGradient, which the RNN shares.
import KernelShim
import Compute

enum LSTMLayer {
    /// Fused forward of one step (KernelShim's elementwise kernels, on the widest vectors the CPU has). gates (B, 4H)
    /// in: pre-activations (less `bias` (4H), which is added there), out: activations; cPrev (B, H) in;
    /// cOut, hOut (B, H) out (they may be cPrev and the state's h: sampling updates in place).
    @inline(__always)
    static func cellForward(batch B: Int, hidden H: Int, gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
                            cPrev: UnsafePointer<Float>, cOut: UnsafeMutablePointer<Float>,
                            hOut: UnsafeMutablePointer<Float>) {
        gasa_lstm_cell_forward(Int64(B), Int64(H), gates, bias, cPrev, cOut, hOut)
    }

    /// Fused backward of one step. gates (B, 4H) in: activations, out: gradients of the pre-activations;
    /// c (B, H) and cPrev (B, H) in; dh (B, H) in; dc (B, H) in: dL/dc_t from step t+1, out: dL/dc_{t-1}.
    @inline(__always)
    static func cellBackward(batch B: Int, hidden H: Int, gates: UnsafeMutablePointer<Float>,
                             c: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
                             dh: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>) {
        gasa_lstm_cell_backward(Int64(B), Int64(H), gates, c, cPrev, dh, dc)
    }

    /// Forward over `steps` steps. whhT (H, 4H) is W_hh transposed. x (N, In) input rows; h, c (N + B, H) with block 0
    /// holding the initial state; gates (N, 4H) receives the activations; biasSum (4H) scratch.
    static func forward(batch B: Int, steps T: Int, input In: Int, hidden H: Int,
                        x: UnsafePointer<Float>, wih: UnsafePointer<Float>, whhT: UnsafePointer<Float>,
                        whhTHalf: UnsafePointer<UInt16>?,
                        bih: UnsafePointer<Float>, bhh: UnsafePointer<Float>, biasSum: UnsafeMutablePointer<Float>,
                        gates: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>,
                            c: UnsafeMutablePointer<Float>) {
        let N = B * T, G = 4 * H
        for k in 0..<G { biasSum[k] = bih[k] + bhh[k] }   // added by cellForward
        Kernels.gemm(transA: false, transB: true, m: N, n: G, k: In, a: x, lda: In, b: wih, ldb: In,
                     beta: 0, c: gates, ldc: G)
        for t in 0..<T {
            let gt = gates + t * B * G
            Kernels.gemm(transA: false, transB: false, m: B, n: G, k: H, a: h + t * B * H, lda: H, b: whhT,
                         bHalf: whhTHalf, ldb: G,
                         beta: 1, c: gt, ldc: G)
            cellForward(batch: B, hidden: H, gates: gt, bias: biasSum, cPrev: c + t * B * H, cOut: c + (t + 1) * B * H,
                        hOut: h + (t + 1) * B * H)
        }
    }

    /// Backward through time over `steps` steps after `forward`. dhOut (N, H) in: dL/dh_t from above
    /// (destroyed: the recurrent gradient is accumulated into it); dc (B, H) scratch. Leaves dL/dG, the
    /// gradients of the gate pre-activations, in `gates` for weightGradients and inputGradient, and (bf16
    /// training) rounded to bfloat16 in `gatesHalf` (N, 4H), which the per-step product reads too.
    static func backwardThroughTime(batch B: Int, steps T: Int, hidden H: Int, whh: UnsafePointer<Float>,
                                    whhHalf: UnsafePointer<UInt16>?,
                                    gates: UnsafeMutablePointer<Float>, gatesHalf: UnsafeMutablePointer<UInt16>?,
                                    c: UnsafePointer<Float>,
                                    dhOut: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>) {
        let G = 4 * H
        dc.update(repeating: 0, count: B * H)   // truncated BPTT: nothing flows in from after the last step
        var t = T - 1
        while t >= 0 {
            let gt = gates + t * B * G
            cellBackward(batch: B, hidden: H, gates: gt, c: c + (t + 1) * B * H, cPrev: c + t * B * H,
                         dh: dhOut + t * B * H, dc: dc)
            let gtHalf = gatesHalf.map { $0 + t * B * G }
            if let gtHalf { Kernels.toBF16(rows: B, cols: G, gt, ld: G, gtHalf) }
            if t > 0 {
                // dL/dh_{t-1} += dG_t W_hh
                Kernels.gemm(transA: false, transB: false, m: B, n: H, k: G, a: gt, aHalf: gtHalf, lda: G, b: whh,
                             bHalf: whhHalf, ldb: H,
                             beta: 1, c: dhOut + (t - 1) * B * H, ldc: H)
            }
            t -= 1
        }
    }
}
