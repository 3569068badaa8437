// Inverted dropout between layers, forward and backward side by side: kept values are scaled by
// 1/(1-p), so evaluation needs no change; the mask is kept, one bit per value (value k at bit k%8 of
// byte k/8, 1 = kept), and serves the backward pass and the rebuilding of the dropped-out values
// (which the backward pass needs again but which are not stored). Dropout on activations draws each row's
// mask from a generator of its own (MaskStreams: keyed by the step's seed, the layer and the row's index
// in the whole batch), so results do not depend on how the rows are split over threads or processes.
// Locked (variational) dropout draws one mask per sequence and repeats it at every time step; weight
// drop uses forward(count:) on a weight matrix with the run's generator (one mask for the whole batch).
import KernelShim
import Compute

enum Dropout {
    /// dst = src with each value dropped (0) with probability p, else scaled by 1/(1-p); the mask of the
    /// n values into `mask`. The draws come from `rng` in value order (weight drop's one mask per minibatch).
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

    /// Dropout over T time-major steps of B rows of H values (value (t, b, j) at (t*B + b)*H + j) whose
    /// masks come from `streams`: row b's values from its own generator, in step then value order, so a
    /// row's mask is the same whichever block of rows (thread or process) it is trained in.
    static func forward(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows B: Int, width H: Int,
                        steps T: Int, p: Float, mask: UnsafeMutablePointer<UInt8>, streams: MaskStreams) {
        drawRowMasks(rows: B, width: H, steps: T, p: p, mask: mask, streams: streams)
        apply(mask, count: T * B * H, src, dst, scale: 1 / (1 - p))
    }

    /// Locked (variational) dropout over T time-major steps of B rows of H values: one mask of B*H values,
    /// drawn as forward draws step 0's, shared by every step; `mask` receives all T*B*H bits, so rebuild
    /// and backward work unchanged.
    static func forwardLocked(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, rows B: Int,
                              width H: Int, steps T: Int, p: Float, mask: UnsafeMutablePointer<UInt8>,
                              streams: MaskStreams) {
        let block = B * H, n = T * block
        drawRowMasks(rows: B, width: H, steps: 1, p: p, mask: mask, streams: streams)
        if T > 1 {
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
        }
        apply(mask, count: n, src, dst, scale: 1 / (1 - p))
    }

    /// The bits of T*B*H values (layout as forward's), row b's from streams.generator(row: b).
    private static func drawRowMasks(rows B: Int, width H: Int, steps T: Int, p: Float,
                                     mask: UnsafeMutablePointer<UInt8>, streams: MaskStreams) {
        let n = T * B * H
        mask.update(repeating: 0, count: (n + 7) / 8)
        let threshold = UInt64((Double(p) * 16_777_216).rounded(.up))   // as in forward(count:)
        for b in 0..<B {
            var rng = streams.generator(row: b)
            for t in 0..<T {
                var k = (t * B + b) * H
                for _ in 0..<H {
                    let keep: UInt8 = rng.next() >> 40 >= threshold ? 1 : 0
                    mask[k >> 3] |= keep << UInt8(k & 7)
                    k += 1
                }
            }
        }
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

/// Where the dropout masks of a block of a batch's rows come from: one generator per (layer, row), keyed
/// by a seed drawn once per training step from the run's generator (so by the seed and the iteration),
/// the layer, and the row's index in the whole batch (its stream). Counter-based: a row's generator is
/// made from its key alone, whatever rows are trained beside it.
struct MaskStreams {
    let seed: UInt64
    var layer = 0
    let firstRow: Int   // index in the whole batch of this block's row 0

    func generator(row b: Int) -> RNG {
        RNG(seed: MaskStreams.mix(seed ^ MaskStreams.mix(UInt64(layer) << 40 ^ UInt64(firstRow + b))))
    }

    func offset(by rows: Int) -> MaskStreams { MaskStreams(seed: seed, layer: layer, firstRow: firstRow + rows) }
    func layer(_ l: Int) -> MaskStreams { MaskStreams(seed: seed, layer: l, firstRow: firstRow) }

    /// SplitMix64's finaliser: a bijection on 64 bits whose outputs for nearby inputs look unrelated.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
