// Inverted dropout between layers, forward and backward side by side: kept values are scaled by
// 1/(1-p), so evaluation needs no change; the mask is kept, one bit per value (value k at bit k%8 of
// byte k/8, 1 = kept), and serves the backward pass and the rebuilding of the dropped-out values
// (which the backward pass needs again but which are not stored). Locked (variational) dropout draws
// one mask per sequence and repeats it at every time step; weight drop uses forward on a weight matrix.
import KernelShim
import Compute

enum Dropout {
    /// dst = src with each value dropped (0) with probability p, else scaled by 1/(1-p); the mask of the
    /// n values into `mask`. The draws come from `rng` in value order.
    static func forward(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count n: Int, p: Float,
                        mask: UnsafeMutablePointer<UInt8>, rng: inout RNG) {
        let scale = 1 / (1 - p)
        // rng.uniform() >= p, compared as integers: uniform() is u / 2^24 for the top 24 bits u of next(),
        // exact in Float, so it is >= p exactly when u >= ceil(p * 2^24) (exact in Double).
        let threshold = UInt64((Double(p) * 16_777_216).rounded(.up))
        var k = 0
        while k < n {
            var bits: UInt8 = 0
            for j in 0..<min(8, n - k) {
                let keep = rng.next() >> 40 >= threshold
                if keep { bits |= 1 << j }
                dst[k + j] = keep ? src[k + j] * scale : 0
            }
            mask[k >> 3] = bits
            k += 8
        }
    }

    /// Locked (variational) dropout over T time-major steps of B rows of H values: one mask of B*H values,
    /// drawn from `rng` as forward draws, shared by every step; `mask` receives all T*B*H bits, so
    /// rebuild and backward work unchanged.
    static func forwardLocked(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows B: Int,
                              width H: Int, steps T: Int, p: Float, mask: UnsafeMutablePointer<UInt8>,
                              rng: inout RNG) {
        let block = B * H, n = T * block
        forward(src, dst, count: block, p: p, mask: mask, rng: &rng)
        guard T > 1 else { return }
        if block % 8 == 0 {
            for t in 1..<T { (mask + t * block / 8).update(from: mask, count: block / 8) }
        } else {
            var k = block
            while k < n {
                let from = k % block
                let bit = mask[from >> 3] >> UInt8(from & 7) & 1
                if k & 7 == 0 { mask[k >> 3] = 0 }
                mask[k >> 3] |= bit << UInt8(k & 7)
                k += 1
            }
        }
        apply(mask, count: n, src, dst, scale: 1 / (1 - p))   // every step, the first again (same bits)
    }

    /// The forward pass's output again, from its input and mask (the same values, bit for bit).
    static func rebuild(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count n: Int, p: Float,
                        mask: UnsafePointer<UInt8>) {
        apply(mask, count: n, src, dst, scale: 1 / (1 - p))
    }

    /// dL/d(input) from dL/d(output), in place: the same mask and scale.
    static func backward(_ grad: UnsafeMutablePointer<Float>, count n: Int, p: Float, mask: UnsafePointer<UInt8>) {
        apply(mask, count: n, grad, grad, scale: 1 / (1 - p))
    }

    /// dst[k] = src[k] * scale where the mask keeps value k, else 0 (dst may be src): KernelShim's
    /// gasa_apply_mask, sixteen values per step on the CPU's vectors.
    private static func apply(_ mask: UnsafePointer<UInt8>, count n: Int, _ src: UnsafePointer<Float>,
                              _ dst: UnsafeMutablePointer<Float>, scale: Float) {
        gasa_apply_mask(mask, Int64(n), src, dst, scale)
    }
}
