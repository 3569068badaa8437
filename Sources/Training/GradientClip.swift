// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_: the L2 norm over every gradient is
// computed (here in Double, in a fixed order, so it is the same on every run), and when it exceeds
// maxNorm all gradients are scaled by maxNorm / (norm + 1e-6). It also serves as the divergence probe:
// a NaN or infinite gradient anywhere makes the norm non-finite.

import Compute

public enum GradientClip {
    /// The L2 norm of `gradients`.
    public static func norm(_ gradients: UnsafeBufferPointer<Float>) -> Double {
        let g = gradients.baseAddress!, n = gradients.count
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i + 4 <= n {
            let a = Double(g[i]), b = Double(g[i + 1]), c = Double(g[i + 2]), d = Double(g[i + 3])
            s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
            i += 4
        }
        while i < n { let a = Double(g[i]); s0 += a * a; i += 1 }
        return ((s0 + s1) + (s2 + s3)).squareRoot()
    }

    /// Scales `gradients` so that their global norm is at most `maxNorm` (0 or less: no clipping).
    /// Returns the norm before clipping. `counting`: the ranges the norm sums (a tied matrix's second
    /// copy counts once, as in PyTorch, where it is one tensor); nil: all of them.
    @discardableResult
    public static func clip(_ gradients: UnsafeMutableBufferPointer<Float>, maxNorm: Double,
                            counting: [Range<Int>]? = nil) -> Double {
        let total: Double
        if let counting, counting != [0..<gradients.count] {
            var sq = 0.0
            for r in counting { let n = norm(UnsafeBufferPointer(rebasing: gradients[r])); sq += n * n }
            total = sq.squareRoot()
        } else {
            total = norm(UnsafeBufferPointer(gradients))
        }
        guard maxNorm > 0, total.isFinite else { return total }
        let coef = maxNorm / (total + 1e-6)
        if coef < 1 {
            Kernels.scale(gradients.count, Float(coef), gradients.baseAddress!)
        }
        return total
    }
}
