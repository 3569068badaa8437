// The update rules over the flat parameter buffer: Adam (PyTorch's, with bias correction) and RMSprop
// (char-rnn's optim.rmsprop: square average with decay alpha, epsilon added after the square root).
// Moments live in flat buffers in the parameters' layout, so one loop updates everything and the whole
// state is two arrays and a step count. It does not clip or schedule; the trainer does that first.
import Dispatch
import Foundation
import Compute

public final class Optimizer {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case adam, rmsprop
    }

    public let kind: Kind
    /// Parameters updated (the model's parameterCount).
    public let count: Int
    public let beta1: Float = 0.9          // Adam: first-moment decay
    public let beta2: Float = 0.999        // Adam: second-moment decay
    public let alpha: Float = 0.95         // RMSprop: square-average decay (char-rnn's decay_rate)
    public let epsilon: Float = 1e-8
    /// Updates applied so far (Adam's bias correction uses it; saved for an exact resume).
    public internal(set) var steps = 0
    /// Adam: exp_avg; RMSprop: square_avg.
    public let first: UnsafeMutableBufferPointer<Float>
    /// Adam: exp_avg_sq; empty for RMSprop.
    public let second: UnsafeMutableBufferPointer<Float>

    public init(kind: Kind, count: Int) {
        self.kind = kind
        self.count = count
        first = .allocate(capacity: count)
        first.initialize(repeating: 0)
        second = .allocate(capacity: kind == .adam ? count : 0)
        second.initialize(repeating: 0)
    }

    deinit {
        first.deallocate()
        second.deallocate()
    }

    /// One update of `parameters` from `gradients` (same layout) at `learningRate`, split into `threads`
    /// contiguous parts updated at once. Every element is computed alone by the same formula (eight lanes
    /// at a time, the tail one by one, with the same IEEE operations), so the result does not depend on
    /// the split or the thread count.
    public func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>,
                     learningRate: Double, threads: Int = 1) {
        precondition(parameters.count == count && gradients.count == count, "optimizer built for \(count) parameters")
        steps += 1
        let p = parameters.baseAddress!, g = gradients.baseAddress!, m = first.baseAddress!
        let n = count
        // Parts of at least 64 Ki elements, each starting at a multiple of 8.
        let parts = max(1, min(threads, n / 65_536))
        let bounds = (0...parts).map { min(n, (n / parts * $0) & ~7) }
        switch kind {
        case .adam:
            // PyTorch: step_size = lr / (1 - b1^t); denom = sqrt(v) / sqrt(1 - b2^t) + eps.
            let v = second.baseAddress!
            let bc1 = 1 - pow(Double(beta1), Double(steps))
            let bc2 = 1 - pow(Double(beta2), Double(steps))
            let rule = AdamRule(b1: beta1, b2: beta2, stepSize: Float(learningRate / bc1),
                                bc2Sqrt: Float(bc2.squareRoot()), eps: epsilon)
            run(parts) { k in
                let hi = k == parts - 1 ? n : bounds[k + 1]
                rule.apply(p, g, m, v, from: bounds[k], to: hi)
            }
        case .rmsprop:
            let rule = RMSpropRule(a: alpha, lr: Float(learningRate), eps: epsilon)
            run(parts) { k in
                let hi = k == parts - 1 ? n : bounds[k + 1]
                rule.apply(p, g, m, from: bounds[k], to: hi)
            }
        }
    }

    private func run(_ parts: Int, _ body: (Int) -> Void) {
        if parts == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: body) }
    }

    /// Names and buffers of the moments, as saved in optimizer.safetensors.
    public var tensors: [(name: String, data: UnsafeMutableBufferPointer<Float>)] {
        switch kind {
        case .adam: return [("exp_avg", first), ("exp_avg_sq", second)]
        case .rmsprop: return [("square_avg", first)]
        }
    }
}

/// Adam's update of elements lo..<hi: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p -= stepSize * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
struct AdamRule {
    let b1: Float, b2: Float, stepSize: Float, bc2Sqrt: Float, eps: Float

    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
               _ v: UnsafeMutablePointer<Float>, from lo: Int, to hi: Int) {
        let c1 = 1 - b1, c2 = 1 - b2
        var i = lo
        while i + 8 <= hi {
            let gi = load8(g + i)
            let mi = b1 * load8(m + i) + c1 * gi
            let vi = b2 * load8(v + i) + c2 * (gi * gi)
            store8(mi, m + i)
            store8(vi, v + i)
            store8(load8(p + i) - stepSize * (mi / (vi.squareRoot() / bc2Sqrt + eps)), p + i)
            i += 8
        }
        while i < hi {
            let gi = g[i]
            let mi = b1 * m[i] + c1 * gi
            let vi = b2 * v[i] + c2 * (gi * gi)
            m[i] = mi
            v[i] = vi
            p[i] -= stepSize * (mi / (vi.squareRoot() / bc2Sqrt + eps))
            i += 1
        }
    }
}

/// RMSprop's update of elements lo..<hi: m = a m + (1 - a) g^2; p -= lr * g / (sqrt(m) + eps).
struct RMSpropRule {
    let a: Float, lr: Float, eps: Float

    @inline(__always)
    func apply(_ p: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
               from lo: Int, to hi: Int) {
        let c = 1 - a
        var i = lo
        while i + 8 <= hi {
            let gi = load8(g + i)
            let mi = a * load8(m + i) + c * (gi * gi)
            store8(mi, m + i)
            store8(load8(p + i) - lr * (gi / (mi.squareRoot() + eps)), p + i)
            i += 8
        }
        while i < hi {
            let gi = g[i]
            let mi = a * m[i] + c * (gi * gi)
            m[i] = mi
            p[i] -= lr * (gi / (mi.squareRoot() + eps))
            i += 1
        }
    }
}
