// Softmax cross-entropy over rows of logits, fused: one pass for the maximum, one for the exponentials
// and their sum, one to turn them into the gradient in place. The loss is accumulated in Double.
#if canImport(Glibc)
import Glibc
#endif

public enum SoftmaxCrossEntropy {
    /// logits: (N, V). Returns the summed loss in nats over the N rows. When gradScale is given, the logits
    /// are overwritten with gradScale * (softmax - onehot(target)). rowLoss, if given, receives each row's loss.
    public static func apply(rows n: Int, classes v: Int, logits: UnsafeMutablePointer<Float>,
                             targets: UnsafePointer<Int32>, gradScale: Float?,
                             rowLoss: UnsafeMutablePointer<Float>? = nil) -> Double {
        var total = 0.0
        let v8 = v & ~7
        for r in 0..<n {
            let x = logits + r * v
            var mx8 = Float8(repeating: -.greatestFiniteMagnitude)
            var j = 0
            while j < v8 { mx8 = lanesMax(mx8, load8(x + j)); j += 8 }
            var mx = mx8.max()
            while j < v { mx = max(mx, x[j]); j += 1 }
            let t = Int(targets[r])
            let target = x[t] - mx
            var s8 = Float8.zero
            j = 0
            if gradScale != nil {
                while j < v8 { let e = fastExp(load8(x + j) - mx); store8(e, x + j); s8 += e; j += 8 }
                var s = s8.sum()
                while j < v { let e = fastExp(x[j] - mx); x[j] = e; s += e; j += 1 }
                let loss = Double(log(s)) - Double(target)
                total += loss
                rowLoss?[r] = Float(loss)
                let k = gradScale! / s
                j = 0
                while j < v8 { store8(load8(x + j) * k, x + j); j += 8 }
                while j < v { x[j] *= k; j += 1 }
                x[t] -= gradScale!
            } else {
                while j < v8 { s8 += fastExp(load8(x + j) - mx); j += 8 }
                var s = s8.sum()
                while j < v { s += fastExp(x[j] - mx); j += 1 }
                let loss = Double(log(s)) - Double(target)
                total += loss
                rowLoss?[r] = Float(loss)
            }
        }
        return total
    }
}
