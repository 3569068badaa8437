// One GRU layer over T steps of B rows, forward and backward side by side, over flat buffers; PyTorch's
// nn.GRU equations (gate order r, z, n; b_hn inside the reset product):
//
//   Gx  = X W_ih^T                              all T steps in one GEMM, columns 0..3H of gates (N, 4H)
//   Gh  = h_{t-1} W_hh^T                        one GEMM per step into a (B, 3H) scratch
//   r = sigmoid(Gx_r + b_ir + Gh_r + b_hr),  z = sigmoid(Gx_z + b_iz + Gh_z + b_hz)
//   n = tanh(Gx_n + b_in + r * (Gh_n + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}
// gates keeps (r, z, n, Gh_n + b_hn) per step for the backward pass, which overwrites them with
// (dr, dz, dn r, dn): the gradients of the recurrent side's pre-activations are the first three blocks
// (so dL/dh_{t-1} is one product with W_hh), those of the input side blocks 0, 1 and 3. The cell passes are
// fused C kernels (KernelShim's elementwise_body.h), like the LSTM's.
import KernelShim
import Compute

enum GRULayer {
    /// Forward over `steps` steps. whhT (H, 3H) is W_hh transposed; x (N, In); h (N + B, H) with block 0 the
    /// initial state; gates (N, 4H) receives what the backward pass needs; gh (B, 3H) scratch.
    static func forward(batch B: Int, steps T: Int, input In: Int, hidden H: Int,
                        x: UnsafePointer<Float>, wih: UnsafePointer<Float>, whhT: UnsafePointer<Float>,
                        whhTHalf: UnsafePointer<UInt16>?,
                        bih: UnsafePointer<Float>, bhh: UnsafePointer<Float>, gh: UnsafeMutablePointer<Float>,
                        gates: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        let N = B * T, G = 4 * H, R = 3 * H
        Kernels.gemm(transA: false, transB: true, m: N, n: R, k: In, a: x, lda: In, b: wih, ldb: In,
                     beta: 0, c: gates, ldc: G)
        for t in 0..<T {
            step(batch: B, hidden: H, gates: gates + t * B * G, hPrev: h + t * B * H, whhT: whhT, whhTHalf: whhTHalf,
                 bih: bih, bhh: bhh,
                 gh: gh, hOut: h + (t + 1) * B * H)
        }
    }

    /// One step after the input product (already in gates' first 3H columns): the recurrent product and
    /// the cell. hOut may be hPrev (sampling).
    @inline(__always)
    static func step(batch B: Int, hidden H: Int, gates: UnsafeMutablePointer<Float>, hPrev: UnsafePointer<Float>,
                     whhT: UnsafePointer<Float>, whhTHalf: UnsafePointer<UInt16>?, bih: UnsafePointer<Float>,
                     bhh: UnsafePointer<Float>,
                     gh: UnsafeMutablePointer<Float>, hOut: UnsafeMutablePointer<Float>) {
        let R = 3 * H
        Kernels.gemm(transA: false, transB: false, m: B, n: R, k: H, a: hPrev, lda: H, b: whhT,
                     bHalf: whhTHalf, ldb: R,
                     beta: 0, c: gh, ldc: R)
        gasa_gru_cell_forward(Int64(B), Int64(H), gates, gh, bih, bhh, hPrev, hOut)
    }

    /// Backward through time after `forward`. dhOut (N, H) in: dL/dh_t from above (destroyed: the recurrent
    /// gradient is accumulated into it); sink (B, H) scratch for the gradient of the initial state, which
    /// truncated BPTT drops. Leaves (dr, dz, dn r, dn) in `gates`.
    static func backwardThroughTime(batch B: Int, steps T: Int, hidden H: Int, whh: UnsafePointer<Float>,
                                    whhHalf: UnsafePointer<UInt16>?,
                                    gates: UnsafeMutablePointer<Float>, h: UnsafePointer<Float>,
                                    dhOut: UnsafeMutablePointer<Float>, sink: UnsafeMutablePointer<Float>) {
        let G = 4 * H
        var t = T - 1
        while t >= 0 {
            let gt = gates + t * B * G
            let dPrev = t > 0 ? dhOut + (t - 1) * B * H : sink
            gasa_gru_cell_backward(Int64(B), Int64(H), gt, h + t * B * H, dhOut + t * B * H, dPrev)
            if t > 0 {
                // dL/dh_{t-1} += dGh_t W_hh
                Kernels.gemm(transA: false, transB: false, m: B, n: H, k: 3 * H, a: gt, lda: G, b: whh,
                             bHalf: whhHalf, ldb: H,
                             beta: 1, c: dPrev, ldc: H)
            }
            t -= 1
        }
    }

    /// Rows `rows` (of 0..<3H) of the weight and bias gradients, overwritten or (`accumulate`) added to.
    /// Input side: (dr, dz, dn) are gates' blocks 0, 1, 3; recurrent side: (dr, dz, dn r), blocks 0, 1, 2.
    static func weightGradients(batch B: Int, steps T: Int, input In: Int, hidden H: Int, rows: Range<Int>,
                                x: UnsafePointer<Float>, gates: UnsafePointer<Float>, h: UnsafePointer<Float>,
                                dwih: UnsafeMutablePointer<Float>, dwhh: UnsafeMutablePointer<Float>,
                                dbih: UnsafeMutablePointer<Float>, dbhh: UnsafeMutablePointer<Float>,
                                accumulate: Bool) {
        let N = B * T, G = 4 * H
        let beta: Float = accumulate ? 1 : 0
        // Recurrent side: weight rows = gate columns.
        let r0 = rows.lowerBound, m = rows.count
        Kernels.gemm(transA: true, transB: false, m: m, n: H, k: N, a: gates + r0, lda: G, b: h, ldb: H,
                     beta: beta, c: dwhh + r0 * H, ldc: H)
        Kernels.columnSums(rows: N, cols: m, a: gates + r0, lda: G, beta: beta, y: dbhh + r0)
        // Input side: rows below 2H read their own columns, the n rows read block 3.
        func inputSide(_ piece: Range<Int>, column: Int) {
            guard !piece.isEmpty else { return }
            Kernels.gemm(transA: true, transB: false, m: piece.count, n: In, k: N, a: gates + column, lda: G, b: x,
                         ldb: In, beta: beta, c: dwih + piece.lowerBound * In, ldc: In)
            Kernels.columnSums(rows: N, cols: piece.count, a: gates + column, lda: G, beta: beta,
                               y: dbih + piece.lowerBound)
        }
        let rz = rows.clamped(to: 0..<(2 * H)), n = rows.clamped(to: (2 * H)..<(3 * H))
        inputSide(rz, column: rz.lowerBound)
        inputSide(n, column: n.lowerBound + H)
    }

    /// dL/dx (N, In) = (dr, dz, dn) W_ih: two products (blocks 0-1 with W_ih's r, z rows, block 3 with its n rows).
    static func inputGradient(batch B: Int, steps T: Int, input In: Int, hidden H: Int, wih: UnsafePointer<Float>,
                              gates: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let N = B * T, G = 4 * H
        Kernels.gemm(transA: false, transB: false, m: N, n: In, k: 2 * H, a: gates, lda: G, b: wih, ldb: In,
                     beta: 0, c: dx, ldc: In)
        Kernels.gemm(transA: false, transB: false, m: N, n: In, k: H, a: gates + 3 * H, lda: G,
                     b: wih + 2 * H * In, ldb: In, beta: 1, c: dx, ldc: In)
    }
}
