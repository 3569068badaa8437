// The vocabulary: ids by frequency then code point, <unk> for what min-count and max-vocab leave
// out, exact scalar keys (no canonical equivalence), and its JSON form.
import Foundation
import XCTest
@testable import Corpus

final class VocabularyTests: XCTestCase {
    func testOrderingAndUnknown() {
        let counts: [[UInt32]: Int] = [[0x61]: 5, [0x62]: 5, [0xAC00]: 9, [0x63]: 1, [0x1F44D, 0x1F3FD]: 2]
        let all = Vocabulary.build(counts: counts, granularity: .grapheme, normalization: .nfc)
        XCTAssertEqual(all.tokens, [[0xAC00], [0x61], [0x62], [0x1F44D, 0x1F3FD], [0x63]])
        XCTAssertNil(all.unkID)
        let min2 = Vocabulary.build(counts: counts, granularity: .grapheme, normalization: .nfc, minCount: 2)
        XCTAssertEqual(min2.count, 5)
        XCTAssertEqual(min2.unkID, 4)
        XCTAssertEqual(min2.counts[4], 1, "<unk> counts what it stands for")
        XCTAssertNil(min2.id(single: 0x63))
        XCTAssertEqual(min2.text(4), "<unk>")
        let max3 = Vocabulary.build(counts: counts, granularity: .grapheme, normalization: .nfc, maxVocab: 3)
        XCTAssertEqual(max3.count, 3, "max-vocab includes <unk>")
        XCTAssertEqual(max3.tokens, [[0xAC00], [0x61], []])
        XCTAssertEqual(max3.counts[2], 5 + 2 + 1)
    }

    func testKeysAreExactScalars() {
        // é precomposed and e + U+0301 are canonically equivalent but different tokens.
        let v = Vocabulary.build(counts: [[0xE9]: 2, [0x65, 0x301]: 1], granularity: .grapheme, normalization: .none)
        XCTAssertEqual(v.count, 2)
        XCTAssertEqual(v.id([0xE9]), 0)
        XCTAssertEqual(v.id([0x65, 0x301]), 1)
        XCTAssertNil(v.id([0x65]))
    }

    func testJSONRoundTrip() throws {
        var v = Vocabulary.build(counts: [[0xAC00]: 3, [0x0A]: 2, [0x1F600]: 1, [0x1100, 0x1161]: 1],
                                 granularity: .word, normalization: .nfkc, minCount: 1, maxVocab: 4)
        v.provenance.corpusBytes = 1234
        let bytes = try v.jsonBytes()
        let back = try Vocabulary.decode(bytes, path: "vocab.json")
        XCTAssertEqual(back.tokens, v.tokens)
        XCTAssertEqual(back.counts, v.counts)
        XCTAssertEqual(back.unkID, v.unkID)
        XCTAssertEqual(back.granularity, .word)
        XCTAssertEqual(back.normalization, .nfkc)
        XCTAssertEqual(back.provenance, v.provenance)
        XCTAssertEqual(try back.jsonBytes(), bytes, "writing is deterministic")
    }

    func testPrepareWithMinCountAndUnseenShare() throws {
        let dir = try makeTemporaryDirectory(self)
        // X appears only in the last lines (the test split), Y once in train.
        let text = "가나다Y\n" + String(repeating: "가나다\n", count: 80) + String(repeating: "X가\n", count: 10)
        var o = options(.char, batch: 1, steps: 8, split: [0.8, 0.1, 0.1])
        let (out, r) = try prepare(text, in: dir, options: o)
        let test = r.splits.first { $0.name == .test }!
        XCTAssertEqual(test.unseenInTrainShare!, 10.0 / Double(test.tokens), accuracy: 1e-12)
        XCTAssertEqual(r.splits.first { $0.name == .val }!.unseenInTrainShare, 0)
        XCTAssertNil(r.splits.first { $0.name == .train }!.unseenInTrainShare)
        XCTAssertEqual(r.unkTokens, 0)
        XCTAssertEqual(try Vocabulary.load(path: out + "/vocab.json").count, r.vocabSize)
        o.minCount = 2
        let (out2, r2) = try prepare(text, in: dir, name: "min2", options: o)
        let v = try Vocabulary.load(path: out2 + "/vocab.json")
        XCTAssertEqual(r2.unkTokens, 1, "the single Y")
        XCTAssertEqual(v.unkID, v.count - 1)
        XCTAssertNil(v.id(single: 0x59))
        XCTAssertEqual(try singleRowStream(out2, .train).filter { $0 == Int32(v.unkID!) }.count, 1)
    }

    /// A jamo or coda vocabulary built from a text that uses only a few letters still spells every one of
    /// the 11,172 modern syllables; the letters it never saw come last with count 0, and min-count spares them.
    func testJamoAndCodaVocabulariesSpellEverySyllable() throws {
        for g in [Granularity.jamo, .coda] {
            let pipeline = try TextPipeline(granularity: g)
            var counts: [[UInt32]: Int] = [:]
            for t in try pipeline.tokenize("가나 가나다 abc") { counts[t, default: 0] += 1 }
            let v = Vocabulary.build(counts: counts, granularity: g, normalization: .nfc, minCount: 2)
            XCTAssertEqual(v.tokens.count - (v.unkID == nil ? 0 : 1), Vocabulary.spelling(g).count + 1,
                           "\(g): the alphabet and the space")
            for k in 0..<Int(Hangul.sCount) {
                let syllable = String(Character(Unicode.Scalar(Hangul.sBase + UInt32(k))!))
                for piece in try pipeline.tokenize(syllable) {
                    XCTAssertNotNil(v.id(piece), "\(g) cannot spell \(syllable)")
                }
            }
            let seen = counts.filter { Vocabulary.spelling(g).contains($0.key) }.count
            let zeros = v.counts.enumerated().filter { $0.element == 0 && $0.offset != v.unkID }.map(\.offset)
            XCTAssertEqual(zeros.count, Vocabulary.spelling(g).count - seen)
            XCTAssertEqual(zeros.first, seen + 1, "unseen letters follow the seen tokens")
        }
        XCTAssertTrue(Vocabulary.spelling(.char).isEmpty)
    }
}
