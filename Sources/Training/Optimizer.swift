// The update rules over the flat parameter buffer: Adam (PyTorch's, with bias correction) and RMSprop
// (char-rnn's optim.rmsprop: square average with decay alpha, epsilon added after the square root).
// Moments live in flat buffers in the parameters' layout, so one loop updates everything and the whole
// state is two arrays and a step count. It does not clip or schedule; the trainer does that first.
import Foundation

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

    /// One update of `parameters` from `gradients` (same layout) at `learningRate`.
    public func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>, learningRate: Double) {
        precondition(parameters.count == count && gradients.count == count, "optimizer built for \(count) parameters")
        steps += 1
        let p = parameters.baseAddress!, g = gradients.baseAddress!, m = first.baseAddress!
        let n = count, eps = epsilon
        switch kind {
        case .adam:
            // PyTorch: step_size = lr / (1 - b1^t); denom = sqrt(v) / sqrt(1 - b2^t) + eps.
            let v = second.baseAddress!
            let b1 = beta1, b2 = beta2
            let c1 = 1 - b1, c2 = 1 - b2
            let bc1 = 1 - pow(Double(b1), Double(steps))
            let bc2 = 1 - pow(Double(b2), Double(steps))
            let stepSize = Float(learningRate / bc1)
            let bc2Sqrt = Float(bc2.squareRoot())
            for i in 0..<n {
                let gi = g[i]
                let mi = b1 * m[i] + c1 * gi
                let vi = b2 * v[i] + c2 * (gi * gi)
                m[i] = mi
                v[i] = vi
                p[i] -= stepSize * (mi / (vi.squareRoot() / bc2Sqrt + eps))
            }
        case .rmsprop:
            let a = alpha, c = 1 - alpha
            let lr = Float(learningRate)
            for i in 0..<n {
                let gi = g[i]
                let mi = a * m[i] + c * (gi * gi)
                m[i] = mi
                p[i] -= lr * (gi / (mi.squareRoot() + eps))
            }
        }
    }

    /// Names and buffers of the moments, as saved in optimizer.safetensors.
    public var tensors: [(name: String, data: UnsafeMutableBufferPointer<Float>)] {
        switch kind {
        case .adam: return [("exp_avg", first), ("exp_avg_sq", second)]
        case .rmsprop: return [("square_avg", first)]
        }
    }

    /// Zeroes the moments and the step count.
    public func reset() {
        first.update(repeating: 0)
        second.update(repeating: 0)
        steps = 0
    }
}
