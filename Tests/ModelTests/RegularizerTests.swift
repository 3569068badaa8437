// The AWD-LSTM regularisers: each one's gradients against central differences of the model's own loss with
// the same masks (the same random stream), proof that each changes the computation, locked dropout's
// one-mask-per-sequence layout, and old configurations decoding as a plain LSTM.
import XCTest
import Foundation
import Compute
@testable import Model

final class RegularizerTests: XCTestCase {
    func config(_ cell: Cell = .lstm, dropout: Float = 0, _ set: (inout Regularization) -> Void) -> ModelConfig {
        var r = Regularization()
        set(&r)
        return ModelConfig(vocabSize: 9, embeddingSize: 10, hiddenSize: 10, layers: 2, dropout: dropout, cell: cell,
                           regularization: r)
    }

    func testEachRegularizerGradientMatchesFiniteDifferencesWithTheSameMasks() {
        let cases: [(String, ModelConfig)] = [
            ("weight drop", config { $0.weightDrop = 0.4 }),
            ("locked dropout", config(dropout: 0.3) { $0.lockedDropout = true }),
            ("embedding dropout", config { $0.embeddingDropout = 0.4 }),
            ("tied weights", config { $0.tieWeights = true }),
            ("all, LSTM", config(dropout: 0.3) {
                $0 = Regularization(); $0.weightDrop = 0.3; $0.lockedDropout = true; $0.embeddingDropout = 0.3
                $0.tieWeights = true }),
            ("all, GRU", config(.gru, dropout: 0.3) {
                $0.weightDrop = 0.3; $0.lockedDropout = true; $0.embeddingDropout = 0.3; $0.tieWeights = true }),
            ("weight drop, RNN", config(.rnn) { $0.weightDrop = 0.4 }),
        ]
        for (name, cfg) in cases { check(name, cfg) }
    }

    func check(_ name: String, _ cfg: ModelConfig) {
        let B = 3, T = 4
        var rng = RNG(seed: 31)
        let model = LanguageModel(config: cfg, rng: &rng)
        let x = (0..<(B * T)).map { _ in Int32(rng.next() % 9) }, y = (0..<(B * T)).map { _ in Int32(rng.next() % 9) }
        let saved = (0..<(2 * cfg.layers * B * cfg.hiddenSize)).map { _ in 0.6 * (2 * rng.uniform() - 1) }
        let ws = model.makeWorkspace(batch: B, steps: T)
        func loss(seed: UInt64 = 77) -> Double {
            let st = model.makeState(batch: B)
            for k in 0..<saved.count { st.values[k] = saved[k] }
            var r = RNG(seed: seed)
            return model.trainStep(inputs: x, targets: y, steps: T, state: st, workspace: ws, rng: &r) / Double(B * T)
        }
        let base = loss()
        let grads = Array(model.gradients)
        let p = model.parameters
        let tied = cfg.regularization.tieWeights
        let embed = model.view("embed.weight")!, head = model.view("head.weight")!
        if tied {
            XCTAssertEqual(Array(p[embed.offset..<(embed.offset + embed.count)]),
                           Array(p[head.offset..<(head.offset + head.count)]), "\(name): tied at initialisation")
            for k in 0..<embed.count { XCTAssertEqual(grads[embed.offset + k], grads[head.offset + k]) }
        } else {
            // The masks matter: another random stream gives another loss.
            XCTAssertNotEqual(loss(seed: 78), base, name)
            _ = loss()
        }
        var pick = RNG(seed: 5)
        let eps: Float = 2e-3
        for v in model.layout {
            if tied && v.name == "head.weight" { continue }   // one parameter with embed.weight
            for _ in 0..<10 {
                let i = Int(pick.next() % UInt64(v.count)), k = v.offset + i
                // A tied weight is one value in two places: move both.
                let twin = tied && v.name == "embed.weight" ? head.offset + i : nil
                func set(_ value: Float) { p[k] = value; if let twin { p[twin] = value } }
                let keep = p[k]
                set(keep + eps)
                let up = loss()
                set(keep - eps)
                let down = loss()
                set(keep)
                let numeric = (up - down) / Double(2 * eps)
                XCTAssertEqual(Double(grads[k]), numeric, accuracy: 3e-3 + 2e-2 * abs(numeric), "\(name): \(v.name)[\(i)]")
            }
        }
    }

    /// One mask per sequence: value (t, b, j) is kept exactly when (0, b, j) is, at every step, for a row
    /// width that is not a multiple of 8 (the mask bytes do not line up with the steps) and one that is.
    func testLockedDropoutSharesOneMaskAcrossTimeSteps() {
        for (B, H) in [(3, 5), (2, 8)] {
            let T = 6, n = B * H * T
            let src = (0..<n).map { Float($0 + 1) }
            var dst = [Float](repeating: -1, count: n)
            var mask = [UInt8](repeating: 0, count: (n + 7) / 8)
            Dropout.forwardLocked(src, &dst, rows: B, width: H, steps: T, p: 0.5, mask: &mask,
                                  streams: MaskStreams(seed: 4, firstRow: 0))
            var kept = 0
            for k in 0..<n {
                let first = k % (B * H)
                XCTAssertEqual(dst[k] == 0, dst[first] == 0, "value \(k)")
                XCTAssertEqual(dst[k], dst[first] == 0 ? 0 : src[k] * 2)
                XCTAssertEqual(mask[k >> 3] >> UInt8(k & 7) & 1, dst[k] == 0 ? 0 : 1)
                if dst[k] != 0 { kept += 1 }
            }
            XCTAssertGreaterThan(kept, 0)
            XCTAssertLessThan(kept, n)
        }
    }

    /// A row's dropout mask is drawn from its own stream (the step's seed, the layer and the row's index
    /// in the whole batch), so it is the same whether the row is trained with all the others or in a
    /// block of them (another thread's or process's), for per-step and locked masks alike; and another
    /// layer or seed draws another mask.
    func testEachRowsDropoutMaskIsItsOwnWhicheverBlockItIsIn() {
        let B = 5, H = 7, T = 4
        func masks(rows: Range<Int>, locked: Bool, seed: UInt64 = 9, layer: Int = 1) -> [[UInt8]] {
            let nb = rows.count, n = T * nb * H
            let src = [Float](repeating: 1, count: n)
            var dst = [Float](repeating: 0, count: n)
            var mask = [UInt8](repeating: 0xAA, count: (n + 7) / 8)
            let streams = MaskStreams(seed: seed, layer: layer, firstRow: rows.lowerBound)
            if locked {
                Dropout.forwardLocked(src, &dst, rows: nb, width: H, steps: T, p: 0.4, mask: &mask, streams: streams)
            } else {
                Dropout.forward(src, &dst, rows: nb, width: H, steps: T, p: 0.4, mask: &mask, streams: streams)
            }
            // Per row: its kept (1) or dropped (0) values over all steps, read from dst and checked against the mask.
            return (0..<nb).map { b in
                (0..<T).flatMap { t in (0..<H).map { j -> UInt8 in
                    let k = (t * nb + b) * H + j
                    let bit = mask[k >> 3] >> UInt8(k & 7) & 1
                    XCTAssertEqual(dst[k], bit == 1 ? 1 / 0.6 : 0, accuracy: 1e-6)
                    return bit
                } }
            }
        }
        for locked in [false, true] {
            let whole = masks(rows: 0..<B, locked: locked)
            XCTAssertEqual(masks(rows: 0..<2, locked: locked) + masks(rows: 2..<B, locked: locked), whole)
            XCTAssertEqual(masks(rows: 3..<4, locked: locked)[0], whole[3])
            XCTAssertNotEqual(masks(rows: 0..<B, locked: locked, layer: 2), whole)
            XCTAssertNotEqual(masks(rows: 0..<B, locked: locked, seed: 10), whole)
            let kept = whole.joined().filter { $0 == 1 }.count
            XCTAssertGreaterThan(kept, 0)
            XCTAssertLessThan(kept, B * T * H)
        }
    }

    /// A checkpoint's meta.json from before the cells and regularisers existed loads as a plain LSTM; an
    /// unknown cell is an error that names the known ones.
    func testOlderConfigurationsDecodeAsAPlainLSTM() throws {
        let old = #"{"cell":"lstm","vocabSize":9,"embeddingSize":4,"hiddenSize":6,"layers":1,"dropout":0}"#
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(old.utf8))
        XCTAssertEqual(c.cell, .lstm)
        XCTAssertTrue(c.regularization.isOff)
        XCTAssertEqual(c.layout.map(\.name).filter { $0.hasPrefix("lstm.") }.count, 4)
        let gru = try JSONDecoder().decode(ModelConfig.self, from: Data(old.replacingOccurrences(of: "lstm", with: "gru").utf8))
        XCTAssertEqual(gru.layout[1].name, "gru.weight_ih_l0")
        XCTAssertEqual(gru.layout[1].shape, [18, 4])
        let bad = old.replacingOccurrences(of: "lstm", with: "transformer")
        XCTAssertThrowsError(try JSONDecoder().decode(ModelConfig.self, from: Data(bad.utf8))) { e in
            XCTAssertTrue("\(e)".contains("rnn-relu"), "\(e)")
        }
        var tied = c
        tied.regularization.tieWeights = true
        XCTAssertThrowsError(try tied.validate())   // E 4 != H 6
    }
}
