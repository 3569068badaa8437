// detokenize(tokenize(normalize(x))) must give back normalize(x) exactly, scalar for scalar, at every
// granularity. Strings are compared as scalar arrays: String == is canonical equivalence and would
// hide a composed/decomposed mix-up, which is exactly the bug these tests look for.
import Foundation
import XCTest
@testable import Corpus

final class RoundTripTests: XCTestCase {
    /// Inputs that have broken Hangul-aware tokenisers before, each with a name for failure messages.
    static let tricky: [(String, String)] = [
        ("empty", ""),
        ("one syllable", "가"),
        ("NFD Hangul", "\u{1100}\u{1161}\u{11A8}\u{1109}\u{1161}\u{11BC}"),            // 각상 decomposed
        ("compatibility jamo", "ㅋㅋㅋ ㅠㅠ ㄱㅏ"),
        ("archaic jamo without a precomposed form", "\u{1112}\u{119E}\u{11AB} \u{1112}\u{119E}"),
        ("LV syllable then a lone T", "가\u{11A8} 나\u{11AB}"),
        ("LVT syllable then a lone T", "각\u{11A8}"),
        ("LV syllable then a lone V", "가\u{1161}"),
        ("lone L before a syllable", "\u{1100}가"),
        ("lone V and T", "\u{1161}\u{11A8}"),
        ("jamo fillers", "\u{115F}\u{1160}\u{11A8}"),
        ("half-width jamo", "\u{FFA1}\u{FFC2}\u{FFA4} \u{FFDA}"),
        ("full-width punctuation", "사랑！？（노래）、。「가사」"),
        ("emoji ZWJ sequence", "👨‍👩‍👧‍👦 ❤️ 🇰🇷 👍🏽"),
        ("combining marks", "e\u{0301} cafe\u{0301} a\u{0323}\u{0302} 가\u{0301}\u{11A8}"),
        ("Hanja", "愛情 사랑(愛) 漢字"),
        ("CRLF and CR", "첫 줄\r\n둘째 줄\r셋째\n\r\n"),
        ("mixed scripts", "Love 사랑 любовь 愛 حب प्रेम ❤ 1,234.5"),
        ("tabs and controls", "a\tb\u{7}c\u{7F}"),
        ("astral letters", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀𪚥"),
    ]

    static let normalizations: [Normalization] = [.nfc, .nfkc, .none]

    /// Checks the round trip of `x` for one granularity and normal form; returns false on failure.
    @discardableResult
    func checkRoundTrip(_ x: String, _ g: Granularity, _ n: Normalization, _ label: String, keepCR: Bool = false,
                        file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
        if g.recomposes && n == .none { return true }   // refused, see testLossyCombinationsAreRefused
        let p = try TextPipeline(granularity: g, text: TextOptions(normalization: n, keepCR: keepCR))
        let normalized = try p.normalize(bytes: Array(x.utf8), name: "<test>")
        let expected = Array(String(decoding: normalized, as: UTF16.self).unicodeScalars.map(\.value))
        let pieces = try p.segment(normalized: normalized)
        let back = scalars(of: try p.detokenize(pieces))
        guard back == expected else {
            XCTFail("\(label), \(g.rawValue)/\(n.rawValue): \(codePoints(expected)) came back as \(codePoints(back))",
                    file: file, line: line)
            return false
        }
        XCTAssert(pieces.allSatisfy { !$0.isEmpty }, "\(label): empty token", file: file, line: line)
        if !g.recomposes {
            // Nothing is recomposed: the tokens are a partition of the text.
            XCTAssertEqual(pieces.flatMap { $0 }, expected, "\(label)", file: file, line: line)
        }
        if g.singleScalar {
            XCTAssert(pieces.allSatisfy { $0.count == 1 }, "\(label): \(g.rawValue) token of several scalars",
                      file: file, line: line)
        }
        return true
    }

    func testTrickyInputsRoundTripAtEveryGranularity() throws {
        for (label, x) in Self.tricky {
            for g in Granularity.allCases {
                for n in Self.normalizations {
                    try checkRoundTrip(x, g, n, label)
                    try checkRoundTrip(x, g, n, label + " (--keep-cr)", keepCR: true)
                }
            }
        }
        // With --keep-cr, CR LF is one grapheme cluster.
        XCTAssertEqual(try TextPipeline(granularity: .grapheme, text: TextOptions(keepCR: true)).tokenize("a\r\nb"),
                       [[0x61], [0x0D, 0x0A], [0x62]])
    }

    func testNormalizationNoneKeepsScalarsExactly() throws {
        // Only decoding happens: CRLF and CR become LF, nothing else changes (NFD stays NFD).
        let p = try TextPipeline(granularity: .char, text: TextOptions(normalization: .none))
        let x = "\u{1100}\u{1161}e\u{0301}\r\nㅋ\r"
        XCTAssertEqual(scalars(of: try p.normalize(x)), [0x1100, 0x1161, 0x65, 0x301, 0x0A, 0x314B, 0x0A])
    }

    func testNormalizationShortcutAgreesWithICU() throws {
        // The normaliser decides ASCII and precomposed syllables without asking ICU: they must be what
        // ICU says, characters that keep any text normalised (quick check Yes, combining class 0).
        for form in ICUNormalizer.Form.allCases {
            let n = try ICUNormalizer(form: form)
            for u in 0..<0x80 { XCTAssert(n.isStable(UInt16(u)), "form \(form) U+\(String(u, radix: 16))") }
            for u in 0xAC00...0xD7A3 { XCTAssert(n.isStable(UInt16(u)), "form \(form) U+\(String(u, radix: 16))") }
            XCTAssertFalse(n.isStable(0x11A8), "a trailing jamo composes with the syllable before it")
            XCTAssertFalse(n.isStable(0x0301), "a combining mark")
            XCTAssertFalse(n.isStable(0xD800), "a surrogate code unit")
        }
        // And whole texts normalise the same with the shortcut as through ICU alone.
        var rng = SeededGenerator(seed: 5)
        let palette: [[UInt16]] = ["가", "각", "a", " ", "\n", "\u{11A8}", "\u{1100}", "\u{1161}", "\u{0301}", "ㅋ",
                                   "\u{FFA1}", "！", "\u{F900}", "Å", "\u{00A0}", "…", "🙂",
                                   "\u{1112}\u{119E}"].map { Array($0.utf16) }
        for form in ICUNormalizer.Form.allCases {
            let n = try ICUNormalizer(form: form)
            for _ in 0..<2000 {
                let text = (0..<Int.random(in: 1...12,
                                           using: &rng)).flatMap { _ in palette.randomElement(using: &rng)! }
                var viaShortcut: [UInt16] = [], viaICU: [UInt16] = []
                let a = try text.withUnsafeBufferPointer { try n.normalize($0, into: &viaShortcut) }
                let b = try text.withUnsafeBufferPointer { try n.normalizeByICU($0, into: &viaICU) }
                XCTAssertEqual(a ? viaShortcut : text, b ? viaICU : text, "form \(form): \(text)")
            }
        }
    }

    func testNormalFormsOfKoreanSpecialCases() throws {
        let nfc = try TextPipeline(granularity: .char)
        let nfkc = try TextPipeline(granularity: .char, text: TextOptions(normalization: .nfkc))
        // NFC composes conjoining jamo and an LV syllable with a following T, but leaves archaic jamo
        // (which have no precomposed syllables) and compatibility jamo alone.
        XCTAssertEqual(scalars(of: try nfc.normalize("\u{1100}\u{1161}\u{11A8}")), [0xAC01])
        XCTAssertEqual(scalars(of: try nfc.normalize("가\u{11A8}")), [0xAC01])
        XCTAssertEqual(scalars(of: try nfc.normalize("\u{1112}\u{119E}")), [0x1112, 0x119E])
        XCTAssertEqual(scalars(of: try nfc.normalize("ㅋㅋ")), [0x314B, 0x314B])
        XCTAssertEqual(scalars(of: try nfc.normalize("e\u{0301}")), [0xE9])
        // NFKC turns compatibility and half-width letters into conjoining jamo (and ㄱㅏ into 가).
        XCTAssertEqual(scalars(of: try nfkc.normalize("ㅋㅋ")), [0x110F, 0x110F])
        XCTAssertEqual(scalars(of: try nfkc.normalize("ㄱㅏ")), [0xAC00])
        XCTAssertEqual(scalars(of: try nfkc.normalize("\u{FFA1}")), [0x1100])
        XCTAssertEqual(scalars(of: try nfkc.normalize("！")), [0x21])
        // A leading BOM is dropped.
        XCTAssertEqual(try nfc.normalize(bytes: [0xEF, 0xBB, 0xBF, 0x61], name: "x"), [0x61])
    }

    func testTokensOfKnownInputs() throws {
        func tokens(_ g: Granularity, _ s: String) throws -> [[UInt32]] { try TextPipeline(granularity: g).tokenize(s) }
        XCTAssertEqual(try tokens(.char, "각 é"), [[0xAC01], [0x20], [0xE9]])
        XCTAssertEqual(try tokens(.jamo, "각a"), [[0x1100], [0x1161], [0x11A8], [0x61]])
        XCTAssertEqual(try tokens(.jamo, "가"), [[0x1100], [0x1161]])
        XCTAssertEqual(try tokens(.coda, "각가"), [[0xAC00], [0x11A8], [0xAC00]])
        XCTAssertEqual(try tokens(.grapheme, "e\u{0301}👍🏽"), [[0xE9], [0x1F44D, 0x1F3FD]])
        XCTAssertEqual(try tokens(.grapheme, "\u{1112}\u{119E}a"), [[0x1112, 0x119E], [0x61]])
        XCTAssertEqual(try tokens(.word, "사랑은 좋아, ok"),
                       [scalars(of: "사랑은"), [0x20], scalars(of: "좋아"), [0x2C], [0x20], scalars(of: "ok")])
    }

    func testEveryHangulSyllableRoundTrips() throws {
        let all = (0..<Hangul.sCount).map { Unicode.Scalar(Hangul.sBase + $0)! }
        // All syllables as one text, at every granularity and (lossless) normal form.
        var text = String.UnicodeScalarView()
        for (i, s) in all.enumerated() { text.append(s); if i % 40 == 39 { text.append("\n") } }
        for g in Granularity.allCases {
            for n in Self.normalizations { try checkRoundTrip(String(text), g, n, "all syllables") }
        }
        // Syllable by syllable, jamo and coda tokens checked against an independent decomposition
        // (Foundation's NFD), which is what the jamo of a syllable must be.
        let jamo = try TextPipeline(granularity: .jamo), coda = try TextPipeline(granularity: .coda)
        var failures = 0
        for s in all where failures < 5 {
            let str = String(s)
            let nfd = scalars(of: str.decomposedStringWithCanonicalMapping)
            let j = try jamo.tokenize(str)
            let c = try coda.tokenize(str)
            let jamoBack = scalars(of: try jamo.detokenize(j)), codaBack = scalars(of: try coda.detokenize(c))
            let codaExpected: [[UInt32]] = nfd.count == 2 ? [[s.value]] : [[s.value - (nfd[2] - 0x11A7)], [nfd[2]]]
            let ok = j.count == nfd.count && j.map { $0[0] } == nfd && c == codaExpected
                && jamoBack == [s.value] && codaBack == [s.value]
            if !ok {
                failures += 1
                XCTFail("U+\(String(s.value, radix: 16, uppercase: true)): jamo \(j), coda \(c), NFD "
                        + "\(codePoints(nfd))")
            }
        }
    }

    /// Random strings drawn from pools of troublesome scalars (seeded, so failures replay).
    func testRandomMixedStringsRoundTrip() throws {
        let pools: [[UInt32]] = [
            Array(0x20...0x7E), [0x0A, 0x0A, 0x0D, 0x09],
            (0..<200).map { Hangul.sBase + UInt32($0) * 53 },           // syllables, with and without finals
            Array(0x1100...0x1112), Array(0x1161...0x1175), Array(0x11A8...0x11C2),   // modern conjoining jamo
            Array(0x1113...0x115F), Array(0x1176...0x11A7), Array(0x11C3...0x11FF),   // archaic jamo, fillers
            Array(0xA960...0xA97C), Array(0xD7B0...0xD7C6), Array(0xD7CB...0xD7FB),
            Array(0x3131...0x318E), Array(0xFFA0...0xFFBE), Array(0xFFC2...0xFFDC),   // compatibility, half-width
            Array(0x0300...0x036F), [0x3099, 0x309A, 0x302E, 0x302F],
                               // combining marks, Hangul tone marks
            [0x200D, 0xFE0F, 0x1F468, 0x1F469, 0x1F467, 0x1F3FD, 0x2764, 0x1F1F0, 0x1F1F7, 0x1F44D],
            Array(0x4E00...0x4E40), Array(0xF900...0xF910),                          // Hanja, compatibility ideographs
            Array(0xFF01...0xFF5E), Array(0x3000...0x3011),
                                         // full-width forms, CJK punctuation
            [0xE9, 0xC5, 0x212B, 0x1E9B, 0x0958, 0x0915, 0x093C, 0x0627, 0x0644, 0xFB01, 0x2460],
        ]
        var rng = SeededGenerator(seed: 0x6A5A)
        var failures = 0
        for case_ in 0..<300 where failures < 10 {
            let length = Int.random(in: 0...24, using: &rng)
            var s = String.UnicodeScalarView()
            for _ in 0..<length {
                let pool = pools.randomElement(using: &rng)!
                s.append(Unicode.Scalar(pool.randomElement(using: &rng)!)!)
            }
            let x = String(s)
            for g in Granularity.allCases {
                for n in Self.normalizations where try !checkRoundTrip(x, g, n,
                    "random case \(case_) [\(codePoints(scalars(of: x)))]") {
                    failures += 1
                }
            }
        }
    }

    func testLossyCombinationsAreRefused() throws {
        for g in [Granularity.jamo, .coda] {
            XCTAssertThrowsError(try TextPipeline(granularity: g, text: TextOptions(normalization: .none))) { error in
                guard case let CorpusError.unsupported(message) = error else { return XCTFail("\(error)") }
                XCTAssert(message.contains("--granularity \(g.rawValue)"), message)
                XCTAssert(message.contains("--normalization nfc"), message)
            }
            var o = PrepareOptions()
            o.granularity = g
            o.text.normalization = .none
            XCTAssertThrowsError(try Preparer(options: o, inputs: ["unused.txt"])) { error in
                guard case CorpusError.unsupported = error else { return XCTFail("\(error)") }
            }
        }
        for g in [Granularity.char, .grapheme, .word] {
            XCTAssertNoThrow(try TextPipeline(granularity: g, text: TextOptions(normalization: .none)))
        }
    }
}
