// The embedding layer, forward and backward side by side: a token's row of the (V, E) table is its
// input vector; the gradient of the table is the scatter-add of the rows' gradients into their tokens' rows.
// Embedding dropout (AWD-LSTM's) drops whole rows of the table for a minibatch: every occurrence of a
// dropped token reads zeros, the kept rows are scaled by 1/(1-p), and the gradient of the table's rows
// is scaled the same way.
import Compute

enum Embedding {
    /// Rows of `table` (V, E) for the N tokens, into `dst` (N, E); each row times rowScale[token] when given.
    static func forward(table: UnsafePointer<Float>, width E: Int, tokens: UnsafePointer<Int32>, rows N: Int,
                        into dst: UnsafeMutablePointer<Float>, rowScale: UnsafePointer<Float>? = nil) {
        guard let rowScale else {
            for r in 0..<N { (dst + r * E).update(from: table + Int(tokens[r]) * E, count: E) }
            return
        }
        for r in 0..<N {
            let t = Int(tokens[r]), s = rowScale[t], src = table + t * E, out = dst + r * E
            for j in 0..<E { out[j] = src[j] * s }
        }
    }

    /// dL/d(table) (V, E), overwritten: the sum over rows of dL/d(row) (N, E) into each row's token.
    static func backward(width E: Int, vocabulary V: Int, tokens: UnsafePointer<Int32>, rows N: Int,
                         dRows: UnsafePointer<Float>, dTable: UnsafeMutablePointer<Float>) {
        dTable.update(repeating: 0, count: V * E)
        let E8 = E & ~7
        for r in 0..<N {
            let dst = dTable + Int(tokens[r]) * E, src = dRows + r * E
            var j = 0
            while j < E8 { store8(load8(dst + j) + load8(src + j), dst + j); j += 8 }
            while j < E { dst[j] += src[j]; j += 1 }
        }
    }

    /// Embedding dropout's draw for one minibatch: rowScale[v] = 1/(1-p) for a kept row, 0 for a dropped
    /// one, one draw per row from `rng` (compared as Dropout compares).
    static func drawRowDropout(rowScale: UnsafeMutablePointer<Float>, vocabulary V: Int, p: Float, rng: inout RNG) {
        let threshold = UInt64((Double(p) * 16_777_216).rounded(.up)), keep = 1 / (1 - p)
        for v in 0..<V { rowScale[v] = rng.next() >> 40 >= threshold ? keep : 0 }
    }

    /// The table's gradient (V, E) after backward, for embedding dropout: each row times rowScale[row].
    static func scaleRowGradients(_ dTable: UnsafeMutablePointer<Float>, width E: Int, vocabulary V: Int,
                                  rowScale: UnsafePointer<Float>) {
        for v in 0..<V where rowScale[v] != 1 {
            let s = rowScale[v], row = dTable + v * E
            for j in 0..<E { row[j] *= s }
        }
    }
}
