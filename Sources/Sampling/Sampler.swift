// Picks the next token from logits: temperature, top-k, top-p (nucleus), or argmax at temperature 0.
// It owns its scratch buffers (allocated once) and takes the random generator from the caller, so the
// same seed gives the same choices. It does not run the model.
import Foundation
import Compute

public struct SamplerConfig: Codable, Equatable, Sendable {
    public var temperature: Float = 1.0   // 0 = argmax; below 1 sharper, above 1 flatter
    public var topK = 0                   // keep only the k most likely tokens (0 = all)
    public var topP: Float = 1.0          // keep the smallest set whose probability reaches p (1 = all)
    public init(temperature: Float = 1.0, topK: Int = 0, topP: Float = 1.0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    /// nil when the settings can sample, else what is wrong, naming the option (sample, compare).
    public var problem: String? {
        if !(temperature >= 0 && temperature.isFinite) {
            return "--temperature must be a number, 0 or more (it is \(temperature))"
        }
        if topK < 0 { return "--top-k must be 0 (all) or more" }
        if !(topP > 0 && topP <= 1) { return "--top-p must be within (0, 1] (it is \(topP))" }
        return nil
    }
}

public final class Sampler {
    public let config: SamplerConfig
    public let vocabSize: Int
    private var order: [Int32]
    private var probs: [Double]

    public init(config: SamplerConfig, vocabSize: Int) {
        self.config = config
        self.vocabSize = vocabSize
        order = [Int32](repeating: 0, count: vocabSize)
        probs = [Double](repeating: 0, count: vocabSize)
    }

    /// The next token for `logits` (V values; not modified). `allowed(i)` false excludes a token.
    public func sample(_ logits: UnsafePointer<Float>, rng: inout RNG, allowed: ((Int) -> Bool)? = nil) -> Int32 {
        let V = vocabSize
        let ok: (Int) -> Bool = allowed ?? { _ in true }
        if config.temperature <= 0 || config.topK == 1 {
            var best = -1
            for i in 0..<V where ok(i) && (best < 0 || logits[i] > logits[best]) { best = i }
            return Int32(max(best, 0))
        }
        let invT = 1.0 / Double(config.temperature)
        var n = 0
        for i in 0..<V where ok(i) { order[n] = Int32(i); n += 1 }
        if n == 0 { return 0 }
        let restrict = config.topK > 0 || config.topP < 1
        if restrict {
            // Highest logit first; ties by id so the order is deterministic.
            order[0..<n].sort { a, b in
                let la = logits[Int(a)], lb = logits[Int(b)]
                return la != lb ? la > lb : a < b
            }
            if config.topK > 0 { n = min(n, config.topK) }
        }
        var maxLogit = -Double.infinity
        for j in 0..<n { maxLogit = max(maxLogit, Double(logits[Int(order[j])])) }
        var total = 0.0
        for j in 0..<n {
            let p = exp((Double(logits[Int(order[j])]) - maxLogit) * invT)
            probs[j] = p
            total += p
        }
        if config.topP < 1 {
            var cum = 0.0
            let target = Double(config.topP) * total
            var keep = n
            for j in 0..<n {
                cum += probs[j]
                if cum >= target { keep = j + 1; break }
            }
            n = keep
            total = cum
        }
        var u = rng.uniformDouble() * total
        for j in 0..<n {
            u -= probs[j]
            if u < 0 { return order[j] }
        }
        return order[n - 1]
    }
}
