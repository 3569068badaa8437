// --split-by stream against char-rnn's loader written out here from its definition: the token stream
// in B rows of R = (minibatches per row) x T inputs, each row's columns shared out in order (train,
// val, test), every target the token after its input; and the characters those targets begin counted
// exactly, at a granularity where some tokens begin none (jamo).
import Foundation
import XCTest
@testable import Corpus

final class StreamSplitTests: XCTestCase {
    let text = (0..<60).map { "가나다 \($0 % 9) 라마바사\n" }.joined()

    /// The whole token stream of `text` at granularity `g`, as ids of the vocabulary of `out`.
    func stream(_ g: Granularity, vocabOf out: String) throws -> [Int32] {
        let v = try Vocabulary.load(path: out + "/vocab.json")
        let p = try TextPipeline(granularity: g, text: TextOptions(normalization: .nfc))
        return try p.tokenize(text).map { try XCTUnwrap(v.id($0)) }
    }

    func testEveryRowIsSharedOutInColumnsAsCharRnnDoes() throws {
        for (B, T, split) in [(3, 4, [0.6, 0.2, 0.2]), (5, 7, [0.9, 0.1, 0.0]), (1, 16, [0.5, 0.25, 0.25])] {
            var o = options(.char, batch: B, steps: T, split: split)
            o.splitBy = .stream
            let (out, report) = try prepare(text, in: try makeTemporaryDirectory(self), options: o)
            let all = try stream(.char, vocabOf: out)
            let total = (all.count - 1) / (B * T), R = total * T
            let train = Int(Double(total) * split[0]), test = Int(Double(total) * split[2])
            let chunks = [train, total - train - test, test], first = [0, train, train + chunks[1]]
            for (s, name) in SplitName.allCases.enumerated() {
                let mbs = try minibatches(out, name)
                XCTAssertEqual(mbs.count, chunks[s], "\(name), B \(B), T \(T)")
                for (k, mb) in mbs.enumerated() {
                    XCTAssertEqual(mb.steps, T)
                    for b in 0..<B {
                        let at = b * R + (first[s] + k) * T
                        XCTAssertEqual(Array(mb.inputs[(b * T)..<(b * T + T)]), Array(all[at..<(at + T)]), "\(name) mb \(k) row \(b)")
                        XCTAssertEqual(Array(mb.targets[(b * T)..<(b * T + T)]), Array(all[(at + 1)...(at + T)]))
                    }
                }
                let info = try XCTUnwrap(try Manifest.load(directory: out).split(name))
                XCTAssertEqual(info.servedTargets, B * chunks[s] * T)
                XCTAssertEqual(info.targetCharacters, info.servedTargets, "one character per char token")
                XCTAssertEqual(report.split(name)?.tokens, B * chunks[s] * T)
            }
            XCTAssertEqual(try Manifest.load(directory: out).splitBy, .stream)
        }
    }

    func testTheCharactersOfTheTargetsAreCountedExactly() throws {
        for tables in [true, false] {
            var o = options(.jamo, batch: 4, steps: 5, split: [0.7, 0.2, 0.1])
            o.splitBy = .stream
            o.scalarTables = tables
            let (out, _) = try prepare(text, in: try makeTemporaryDirectory(self), options: o)
            let v = try Vocabulary.load(path: out + "/vocab.json")
            let all = try stream(.jamo, vocabOf: out)
            // A vowel or final jamo of a syllable begins no character; every other token begins one.
            let begins = all.map { id -> Int in
                let t = v.tokens[Int(id)]
                return t.count == 1 && (0x1160...0x11FF).contains(t[0]) ? 0 : 1
            }
            let m = try Manifest.load(directory: out)
            let T = 5, B = 4, total = (all.count - 1) / (B * T), R = total * T
            let train = Int(Double(total) * 0.7), test = Int(Double(total) * 0.1)
            let chunks = [train, total - train - test, test], first = [0, train, train + chunks[1]]
            for (s, name) in SplitName.allCases.enumerated() {
                var expected = 0
                for b in 0..<B {
                    let at = b * R + first[s] * T
                    expected += begins[(at + 1)..<(at + 1 + chunks[s] * T)].reduce(0, +)
                }
                XCTAssertEqual(m.split(name)?.targetCharacters, expected, "\(name), tables \(tables)")
                XCTAssertLessThan(expected, m.split(name)!.servedTargets)
            }
        }
    }

    func testATextTooShortForOneMinibatchPerRowIsRefused() throws {
        var o = options(.char, batch: 50, steps: 50)
        o.splitBy = .stream
        XCTAssertThrowsError(try prepare("짧은 글\n", in: try makeTemporaryDirectory(self), options: o)) { e in
            XCTAssertTrue("\(e)".contains("--split-by stream needs at least batch size x sequence length + 1 = 2501"), "\(e)")
        }
    }
}
