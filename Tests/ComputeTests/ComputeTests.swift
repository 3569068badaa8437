// The Compute module on its own: the fast exp, sigmoid and tanh of FastMathReference against libm, the random
// generator and its saved state, and the fused softmax cross-entropy against its gradient.
import XCTest
import Foundation
import Compute

final class ComputeTests: XCTestCase {
    func testFastMathAgainstLibm() {
        var worstExp = 0.0, worstSig = 0.0, worstTanh = 0.0
        var x: Float = -30
        while x <= 30 {
            let v = Float8((0..<8).map { x + Float($0) * 0.0013 })
            let e = fastExp(v), s = fastSigmoid(v), t = fastTanh(v)
            for k in 0..<8 {
                let xd = Double(v[k])
                worstExp = max(worstExp, abs(Double(e[k]) - exp(xd)) / exp(xd))
                worstSig = max(worstSig, abs(Double(s[k]) - 1 / (1 + exp(-xd))))
                worstTanh = max(worstTanh, abs(Double(t[k]) - tanh(xd)))
                // The scalar twin gives the same bits as the vector lane.
                XCTAssertEqual(fastExp(v[k]).bitPattern, e[k].bitPattern)
                XCTAssertEqual(fastTanh(v[k]).bitPattern, t[k].bitPattern)
            }
            x += 0.0517
        }
        XCTAssertLessThan(worstExp, 3e-7)
        XCTAssertLessThan(worstSig, 2e-7)
        XCTAssertLessThan(worstTanh, 5e-7)
        XCTAssertEqual(fastSigmoid(Float(-200)), 0, accuracy: 1e-30)
        XCTAssertEqual(fastSigmoid(Float(200)), 1)
        XCTAssertEqual(fastTanh(Float(-50)), -1)
        XCTAssertFalse(fastExp(Float(1000)).isNaN)
    }

    func testRNGIsDeterministicAndItsStateRoundTrips() throws {
        var a = RNG(seed: 42), b = RNG(seed: 42), c = RNG(seed: 43)
        let xs = (0..<100).map { _ in a.next() }
        XCTAssertEqual(xs, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(xs, (0..<100).map { _ in c.next() })
        let data = try JSONEncoder().encode(a)
        var restored = try JSONDecoder().decode(RNG.self, from: data)
        XCTAssertEqual((0..<50).map { _ in a.next() }, (0..<50).map { _ in restored.next() })
        XCTAssertThrowsError(try JSONDecoder().decode(RNG.self, from: Data("[0,0,0,0]".utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(RNG.self, from: Data("[1,2]".utf8)))
        var r = RNG(seed: 1)
        var sum = 0.0, sq = 0.0, lo: Float = 1, hi: Float = 0
        let n = 100_000
        for _ in 0..<n {
            let u = r.uniform(); lo = min(lo, u); hi = max(hi, u)
            let z = Double(r.normal()); sum += z; sq += z * z
        }
        XCTAssertGreaterThanOrEqual(lo, 0); XCTAssertLessThan(hi, 1)
        XCTAssertEqual(sum / Double(n), 0, accuracy: 0.02)
        XCTAssertEqual(sq / Double(n), 1, accuracy: 0.02)
    }

    func testSoftmaxCrossEntropyGradient() {
        let v = 13
        var rng = RNG(seed: 3)
        var logits = (0..<(2 * v)).map { _ in 4 * rng.normal() }
        let targets: [Int32] = [3, 12]
        let copy = logits
        let loss = SoftmaxCrossEntropy.apply(rows: 2, classes: v, logits: &logits, targets: targets, gradScale: 0.5)
        var expected = 0.0
        for r in 0..<2 {
            let row = copy[(r * v)..<(r * v + v)].map(Double.init)
            let m = row.max()!
            let z = row.reduce(0) { $0 + exp($1 - m) }
            expected += log(z) + m - row[Int(targets[r])]
            for k in 0..<v {
                let p = exp(row[k] - m) / z
                XCTAssertEqual(Double(logits[r * v + k]), 0.5 * (p - (k == Int(targets[r]) ? 1 : 0)), accuracy: 1e-6)
            }
        }
        XCTAssertEqual(loss, expected, accuracy: 1e-5)
    }
}
