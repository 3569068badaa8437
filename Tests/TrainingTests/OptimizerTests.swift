// Optimizer updates, clipping and the learning-rate schedule against values worked out by hand.
import Foundation
import XCTest
import Common
@testable import Training

final class OptimizerTests: XCTestCase {
    private func buffers(_ p: [Float], _ g: [Float]) -> (UnsafeMutableBufferPointer<Float>,
                                                         UnsafeMutableBufferPointer<Float>) {
        let pb = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.count)
        _ = pb.initialize(from: p)
        let gb = UnsafeMutableBufferPointer<Float>.allocate(capacity: g.count)
        _ = gb.initialize(from: g)
        return (pb, gb)
    }

    func testAdamTwoStepsWithBiasCorrection() {
        let (p, g) = buffers([1.0, -2.0], [0.5, -0.25])
        defer { p.deallocate(); g.deallocate() }
        let opt = Optimizer(kind: .adam, count: 2)
        let lr = 0.1
        // Step 1: m = 0.1 g, v = 0.001 g^2; corrected m/(1-0.9) = g, v/(1-0.999) = g^2 -> update lr * g/(|g| + eps) =
        // lr * sign(g).
        opt.step(parameters: p, gradients: g, learningRate: lr)
        XCTAssertEqual(Double(p[0]), 1.0 - 0.1, accuracy: 1e-6)
        XCTAssertEqual(Double(p[1]), -2.0 + 0.1, accuracy: 1e-6)
        XCTAssertEqual(opt.steps, 1)
        // Step 2 with gradient 1 for the first parameter, by hand in Double.
        g[0] = 1.0; g[1] = -0.25
        opt.step(parameters: p, gradients: g, learningRate: lr)
        func expected(_ g1: Double, _ g2: Double, _ p1: Double) -> Double {
            let m = 0.9 * (0.1 * g1) + 0.1 * g2
            let v = 0.999 * (0.001 * g1 * g1) + 0.001 * g2 * g2
            let mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999)
            return p1 - lr * mh / (vh.squareRoot() + 1e-8)
        }
        XCTAssertEqual(Double(p[0]), expected(0.5, 1.0, 0.9), accuracy: 1e-6)
        XCTAssertEqual(Double(p[1]), expected(-0.25, -0.25, -1.9), accuracy: 1e-6)
        XCTAssertEqual(Double(opt.first[0]), 0.9 * 0.05 + 0.1, accuracy: 1e-7)
        XCTAssertEqual(Double(opt.second[0]), 0.999 * 0.00025 + 0.001, accuracy: 1e-7)
    }

    func testRMSpropAsCharRNN() {
        let (p, g) = buffers([0.5], [2.0])
        defer { p.deallocate(); g.deallocate() }
        let opt = Optimizer(kind: .rmsprop, count: 1)
        opt.step(parameters: p, gradients: g, learningRate: 0.01)
        // m = 0.05 * 4 = 0.2; x -= lr * g / (sqrt(m) + eps)
        let m1 = 0.05 * 4.0
        var x = 0.5 - 0.01 * 2.0 / (m1.squareRoot() + 1e-8)
        XCTAssertEqual(Double(p[0]), x, accuracy: 1e-6)
        g[0] = -1.0
        opt.step(parameters: p, gradients: g, learningRate: 0.01)
        let m2 = 0.95 * m1 + 0.05 * 1.0
        x -= 0.01 * -1.0 / (m2.squareRoot() + 1e-8)
        XCTAssertEqual(Double(p[0]), x, accuracy: 1e-6)
        XCTAssertEqual(Double(opt.first[0]), m2, accuracy: 1e-7)
        XCTAssertEqual(opt.second.count, 0)
    }

    func testUpdatesAreTheSameBitsWhateverTheSplitAndLanes() {
        // 200,003 elements (three parts of 64 Ki or more, a tail off the 8-lane grid): one thread, three
        // threads and an element-by-element Float loop of the documented formula agree bit for bit.
        let n = 200_003
        var rng = SystemRandomNumberGenerator()
        let p0 = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        let grads = (0..<3).map { _ in (0..<n).map { _ in Float.random(in: -0.1...0.1, using: &rng) } }
        for kind in Optimizer.Kind.allCases {
            var results: [[Float]] = []
            for threads in [1, 3] {
                let (p, g) = buffers(p0, grads[0])
                defer { p.deallocate(); g.deallocate() }
                let opt = Optimizer(kind: kind, count: n)
                for s in 0..<3 {
                    _ = g.update(fromContentsOf: grads[s])
                    opt.step(parameters: p, gradients: g, learningRate: 0.01, threads: threads)
                }
                results.append(Array(p))
            }
            XCTAssertEqual(results[0], results[1], "\(kind): 1 vs 3 threads")
            var p = p0, m = [Float](repeating: 0, count: n), v = m
            for s in 0..<3 {
                let t = Double(s + 1)
                for i in 0..<n {
                    let gi = grads[s][i]
                    switch kind {
                    case .adam:
                        let b1: Float = 0.9, b2: Float = 0.999
                        let stepSize = Float(0.01 / (1 - pow(Double(b1), t))), bc2Sqrt = Float((1 - pow(Double(b2),
                            t)).squareRoot())
                        m[i] = b1 * m[i] + (1 - b1) * gi
                        v[i] = b2 * v[i] + (1 - b2) * (gi * gi)
                        p[i] -= stepSize * (m[i] / (v[i].squareRoot() / bc2Sqrt + 1e-8))
                    case .rmsprop:
                        let a: Float = 0.95, lr: Float = 0.01
                        m[i] = a * m[i] + (1 - a) * (gi * gi)
                        p[i] -= lr * (gi / (m[i].squareRoot() + 1e-8))
                    }
                }
            }
            XCTAssertEqual(results[0], p, "\(kind): lanes vs one by one")
        }
    }

    func testGlobalNormClipping() {
        let (p, g) = buffers([0, 0, 0], [3, 4, 0])
        defer { p.deallocate(); g.deallocate() }
        XCTAssertEqual(GradientClip.norm(UnsafeBufferPointer(g)), 5, accuracy: 1e-12)
        // Below the limit: untouched.
        XCTAssertEqual(GradientClip.clip(g, maxNorm: 10), 5, accuracy: 1e-12)
        XCTAssertEqual(Array(g), [3, 4, 0])
        // Above: scaled by maxNorm / (norm + 1e-6), as PyTorch.
        XCTAssertEqual(GradientClip.clip(g, maxNorm: 1), 5, accuracy: 1e-12)
        let c = 1 / (5 + 1e-6)
        XCTAssertEqual(Double(g[0]), 3 * c, accuracy: 1e-7)
        XCTAssertEqual(Double(g[1]), 4 * c, accuracy: 1e-7)
        XCTAssertEqual(GradientClip.norm(UnsafeBufferPointer(g)), 1, accuracy: 1e-6)
        // A NaN or infinite gradient shows in the norm (the divergence probe).
        g[2] = .nan
        XCTAssertTrue(GradientClip.clip(g, maxNorm: 5).isNaN)
        g[2] = .infinity
        XCTAssertFalse(GradientClip.clip(g, maxNorm: 0).isFinite)
    }

    func testLearningRateSchedule() {
        let constant = LearningRateSchedule(base: 0.002)
        XCTAssertEqual(constant.rate(completedEpochs: 100), 0.002)
        let s = LearningRateSchedule(base: 1, decay: 0.5, decayAfter: 3)
        // char-rnn: at the end of epoch e >= decayAfter the rate is multiplied by decay.
        XCTAssertEqual((0...6).map { s.rate(completedEpochs: $0) }, [1, 1, 1, 0.5, 0.25, 0.125, 0.0625])
        let fromStart = LearningRateSchedule(base: 1, decay: 0.5, decayAfter: 0)
        XCTAssertEqual((0...2).map { fromStart.rate(completedEpochs: $0) }, [1, 0.5, 0.25])
        // A first decay epoch beyond any run never decays, whatever its size (no conversion to Int traps).
        for late in [1e9, 1e300, Double.infinity] {
            let never = LearningRateSchedule(base: 1, decay: 0.5, decayAfter: late)
            XCTAssertEqual(never.rate(completedEpochs: 999_999_999), 1)
            XCTAssertEqual(never.rate(completedEpochs: Int.max / 2), late > 1e18 ? 1 : 0)
        }
    }

    func testConfigValidation() {
        var c = RunSettings()
        XCTAssertNoThrow(try c.validate())
        c.dropout = 1
        XCTAssertThrowsError(try c.validate())
        c = RunSettings(); c.lrDecay = 1.5
        XCTAssertThrowsError(try c.validate())
        c = RunSettings(); c.learningRate = 0
        XCTAssertThrowsError(try c.validate())
    }

    func testMetricsLineIsJSONAndNonFiniteIsNull() throws {
        var r = MetricsRecord(type: .train, iter: 3, epoch: 0.5, minutes: 1)
        r.trainLoss = 1.25
        r.gradNorm = .nan
        let line = r.jsonLine()
        XCTAssertTrue(line.contains("\"grad_norm\":null"))
        let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        XCTAssertEqual(obj?["train_loss"] as? Double, 1.25)
    }

    func testPlotTicksAndSVG() {
        XCTAssertEqual(LineChart.ticks(0, 10), [0, 2, 4, 6, 8, 10])
        // A span below the values' resolution ends (it looped forever), with a few ticks inside the range.
        let tight = LineChart.ticks(1e17, 1.0000000000000002e17)
        XCTAssertFalse(tight.isEmpty)
        XCTAssertLessThanOrEqual(tight.count, 12)
        XCTAssertTrue(tight.allSatisfy { $0 >= 1e17 - 64 && $0 <= 1.0000000000000002e17 + 64 })
        var a = MetricsRecord(type: .train, iter: 1, epoch: 0, minutes: 0), b = a
        a.trainLoss = 1e17; b.iter = 2; b.trainLoss = 1.0000000000000002e17
        XCTAssertTrue(LossPlot.svg([a, b], title: "huge").hasPrefix("<svg"))
        var t = MetricsRecord(type: .train, iter: 10, epoch: 0.1, minutes: 0.5)
        t.trainLoss = 3
        var v = MetricsRecord(type: .eval, iter: 10, epoch: 0.1, minutes: 0.5)
        v.split = .val; v.natsPerToken = 3.5; v.bitsPerChar = 5
        let svg = LossPlot.svg([t, v], title: "a<b")
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertTrue(svg.contains("<polyline"))
        XCTAssertTrue(svg.contains("<circle"))
        XCTAssertTrue(svg.contains("a&lt;b"))
    }
}
