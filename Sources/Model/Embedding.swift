// The embedding layer, forward and backward side by side: a token's row of the (V, E) table is its
// input vector; the gradient of the table is the scatter-add of the rows' gradients into their tokens' rows.
import Compute

enum Embedding {
    /// Rows of `table` (V, E) for the N tokens, into `dst` (N, E).
    static func forward(table: UnsafePointer<Float>, width E: Int, tokens: UnsafePointer<Int32>, rows N: Int,
                        into dst: UnsafeMutablePointer<Float>) {
        for r in 0..<N { (dst + r * E).update(from: table + Int(tokens[r]) * E, count: E) }
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
}
