// One Elman RNN layer (PyTorch's nn.RNN, tanh or relu) over T steps of B rows, forward and backward side
// by side, over flat buffers:
//
//   A   = X W_ih^T                              all T steps in one GEMM     (N, H)
//   A_t += h_{t-1} W_hh^T;  h_t = tanh(A_t + b_ih + b_hh)   (or relu)   one GEMM and one fused pass per step
// gates keeps h_t; the backward pass overwrites it with dL/dA_t, so the weight and input gradients are
// RecurrentLayer.swift's gated products with one block of H, as the LSTM's are with four.
import KernelShim
import Compute

enum RNNLayer {
    /// Forward over `steps` steps. whhT (H, H) is W_hh transposed; x (N, In); h (N + B, H) with block 0 the
    /// initial state; gates (N, H) receives the outputs; biasSum (H) scratch.
    static func forward(batch B: Int, steps T: Int, input In: Int, hidden H: Int, relu: Bool,
                        x: UnsafePointer<Float>, wih: UnsafePointer<Float>, whhT: UnsafePointer<Float>,
                        whhTHalf: UnsafePointer<UInt16>?,
                        bih: UnsafePointer<Float>, bhh: UnsafePointer<Float>, biasSum: UnsafeMutablePointer<Float>,
                        gates: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        let N = B * T
        for k in 0..<H { biasSum[k] = bih[k] + bhh[k] }
        Kernels.gemm(transA: false, transB: true, m: N, n: H, k: In, a: x, lda: In, b: wih, ldb: In,
                     beta: 0, c: gates, ldc: H)
        for t in 0..<T {
            let gt = gates + t * B * H
            Kernels.gemm(transA: false, transB: false, m: B, n: H, k: H, a: h + t * B * H, lda: H, b: whhT,
                         bHalf: whhTHalf, ldb: H,
                         beta: 1, c: gt, ldc: H)
            gasa_rnn_cell_forward(Int64(B), Int64(H), gt, biasSum, relu ? 1 : 0, h + (t + 1) * B * H)
        }
    }

    /// The cell of one step: gates (B, H) in: pre-activations less `bias`; out: the outputs, also in hOut.
    @inline(__always)
    static func cell(batch B: Int, hidden H: Int, relu: Bool, gates: UnsafeMutablePointer<Float>,
                     bias: UnsafePointer<Float>, hOut: UnsafeMutablePointer<Float>) {
        gasa_rnn_cell_forward(Int64(B), Int64(H), gates, bias, relu ? 1 : 0, hOut)
    }

    /// Backward through time after `forward`. dhOut (N, H) in: dL/dh_t from above (destroyed: the recurrent
    /// gradient is accumulated into it). Leaves dL/dA in `gates`.
    /// gatesHalf (bf16 training): receives dL/dA rounded to bfloat16, which the per-step product reads too.
    static func backwardThroughTime(batch B: Int, steps T: Int, hidden H: Int, relu: Bool, whh: UnsafePointer<Float>,
                                    whhHalf: UnsafePointer<UInt16>?,
                                    gates: UnsafeMutablePointer<Float>, gatesHalf: UnsafeMutablePointer<UInt16>?,
                                    dhOut: UnsafeMutablePointer<Float>) {
        var t = T - 1
        while t >= 0 {
            let gt = gates + t * B * H
            gasa_rnn_cell_backward(Int64(B), Int64(H), gt, dhOut + t * B * H, relu ? 1 : 0)
            let gtHalf = gatesHalf.map { $0 + t * B * H }
            if let gtHalf { Kernels.toBF16(rows: B, cols: H, gt, ld: H, gtHalf) }
            if t > 0 {
                Kernels.gemm(transA: false, transB: false, m: B, n: H, k: H, a: gt, aHalf: gtHalf, lda: H, b: whh,
                             bHalf: whhHalf, ldb: H,
                             beta: 1, c: dhOut + (t - 1) * B * H, ldc: H)
            }
            t -= 1
        }
    }
}
