// The output layer and the loss, forward and backward side by side: logits = top W^T + b over the top
// layer's output, softmax cross-entropy against the targets, and for training the gradients of W, b and
// of the top output. Rows go through in chunks of whole steps (the workspace's headRows), so the
// logits of all N rows never exist at once.
import Compute

struct Head {
    let weight: UnsafePointer<Float>   // (V, H)
    let bias: UnsafePointer<Float>     // (V)
    let vocabulary: Int                // V
    let width: Int                     // H
    var weightHalf: UnsafePointer<UInt16>? = nil   // W rounded to bfloat16 (bf16 training), else nil

    /// Logits (rows, V) = top (rows, H) W^T + b, into `logits`.
    func logits(rows: Int, top: UnsafePointer<Float>, into logits: UnsafeMutablePointer<Float>) {
        let V = vocabulary, H = width
        for r in 0..<rows { (logits + r * V).update(from: bias, count: V) }
        Kernels.gemm(transA: false, transB: true, m: rows, n: V, k: H, a: top, lda: H, b: weight,
                     bHalf: weightHalf, ldb: H,
                     beta: 1, c: logits, ldc: V)
    }

    /// Forward and backward over N rows: returns the summed loss in nats; dW (V, H) and db (V) are
    /// overwritten with the gradients of `scale` times the loss, dTop (N, H) with dL/d(top).
    func forwardBackward(rows N: Int, top: UnsafePointer<Float>, targets: UnsafePointer<Int32>, scale: Float,
                         ws: Workspace, dW: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
                         dTop: UnsafeMutablePointer<Float>) -> Double {
        let V = vocabulary, H = width
        var total = 0.0
        chunks(rows: N, top: top, ws: ws) { r0, rows, logits in
            total += SoftmaxCrossEntropy.apply(rows: rows, classes: V, logits: logits, targets: targets + r0,
                                               gradScale: scale)
            let first = r0 == 0
            Kernels.gemm(transA: true, transB: false, m: V, n: H, k: rows, a: logits, lda: V, b: top + r0 * H, ldb: H,
                         beta: first ? 0 : 1, c: dW, ldc: H)
            Kernels.columnSums(rows: rows, cols: V, a: logits, lda: V, beta: first ? 0 : 1, y: db)
            Kernels.gemm(transA: false, transB: false, m: rows, n: H, k: V, a: logits, lda: V, b: weight,
                         bHalf: weightHalf, ldb: H,
                         beta: 0, c: dTop + r0 * H, ldc: H)
        }
        return total
    }

    /// Loss only (evaluation) over N time-major rows of B: returns the summed loss in nats; rowLoss, when
    /// given, receives each target's loss at [b*rowStride + from + t] (the caller's row-major layout).
    func loss(rows N: Int, batch B: Int, top: UnsafePointer<Float>, targets: UnsafePointer<Int32>, ws: Workspace,
              rowLoss: UnsafeMutablePointer<Float>?, rowStride: Int, from s0: Int) -> Double {
        let V = vocabulary
        var total = 0.0
        chunks(rows: N, top: top, ws: ws) { r0, rows, logits in
            guard let rowLoss else {
                total += SoftmaxCrossEntropy.apply(rows: rows, classes: V, logits: logits, targets: targets + r0,
                                                   gradScale: nil)
                return
            }
            let chunk = ws.rowLoss.pointer
            total += SoftmaxCrossEntropy.apply(rows: rows, classes: V, logits: logits, targets: targets + r0,
                                               gradScale: nil, rowLoss: chunk)
            for r in 0..<rows { let q = r0 + r; rowLoss[(q % B) * rowStride + s0 + q / B] = chunk[r] }
        }
        return total
    }

    /// `body(first row, rows, logits)` for each chunk of the N rows, its logits computed in ws.logits.
    private func chunks(rows N: Int, top: UnsafePointer<Float>, ws: Workspace,
                        _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        var r0 = 0
        while r0 < N {
            let rows = min(ws.headRows, N - r0)
            logits(rows: rows, top: top + r0 * width, into: ws.logits.pointer)
            body(r0, rows, ws.logits.pointer)
            r0 += rows
        }
    }
}
