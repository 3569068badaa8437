// Dedup removes exact repeats (after normalisation) and reports them; splits cut at line starts, or
// between documents with --split-by document; split shares are validated. Split texts are read back
// from the shards (batch size 1 serves every token), so these check what training will see.
import Foundation
import XCTest
@testable import Corpus

final class DedupSplitTests: XCTestCase {
    func prepared(_ text: String, dedup: Dedup = .none, splitBy: SplitBy = .offset, separator: String = "",
                  split: [Double] = [1, 0, 0]) throws -> (String, PrepareReport) {
        var o = options(.char, batch: 1, steps: 5, split: split)
        o.dedup = dedup
        o.splitBy = splitBy
        o.documentSeparator = separator
        return try prepare(text, in: try makeTemporaryDirectory(self), options: o)
    }

    func testDedupLinesRemovesExactRepeatsAfterNormalisation() throws {
        // The NFD spelling of 가 is the same line once normalised; "a " is not "a"; empty lines stay.
        let text = "a\nb\na\n\nb\n가\n\u{1100}\u{1161}\na \n\nc\n"
        let (out, r) = try prepared(text, dedup: .lines)
        XCTAssertEqual(try singleRowText(out, .train), "a\nb\n\n가\na \n\nc\n")
        XCTAssertEqual(r.text.dedupUnits, 8)
        XCTAssertEqual(r.text.dedupRemovedUnits, 3)
        XCTAssertEqual(r.text.dedupRemovedCharacters, 6)
        XCTAssertEqual(r.characters, 13)
        // Without dedup everything stays.
        let (all, r0) = try prepared(text)
        XCTAssertEqual(scalars(of: try singleRowText(all, .train)),
                       scalars(of: try TextPipeline(granularity: .char).normalize(text)))
        XCTAssertEqual(r0.text.dedupUnits, 0)
        XCTAssertEqual(r0.text.dedupRemovedUnits, 0)
    }

    func testDedupDocumentsRemovesRepeatedBlocks() throws {
        let text = "A\nB\n\nC\n\nA\nB\n\nB\nA\n\nD\n"
        let (out, r) = try prepared(text, dedup: .documents)
        XCTAssertEqual(try singleRowText(out, .train), "A\nB\n\nC\n\nB\nA\n\nD\n")
        XCTAssertEqual(r.text.documents, 5)
        XCTAssertEqual(r.text.dedupUnits, 5)
        XCTAssertEqual(r.text.dedupRemovedUnits, 1)
        XCTAssertEqual(r.text.dedupRemovedCharacters, 5)
        // A repeated line inside other documents is not a repeated document.
        let (keep, r2) = try prepared("X\nA\n\nY\nA\n", dedup: .documents)
        XCTAssertEqual(try singleRowText(keep, .train), "X\nA\n\nY\nA\n")
        XCTAssertEqual(r2.text.dedupRemovedUnits, 0)
    }

    func testDocumentsAreCountedByTheirContent() throws {
        // Blank lines before the first document and runs of blank lines between documents are not documents.
        let text = "\n\nA\nB\n\nC\n\n\nD\n"
        let (out, r) = try prepared(text, splitBy: .document)
        XCTAssertEqual(r.text.documents, 3)
        XCTAssertEqual(try singleRowText(out, .train), text, "the blank lines are kept as text")
        let (_, d) = try prepared("\n\nA\n\nA\n\nB\n", dedup: .documents)
        XCTAssertEqual(d.text.documents, 3)
        XCTAssertEqual(d.text.dedupRemovedUnits, 1)
    }

    func testInputWithoutTextIsAnError() throws {
        // Dedup keeps the first of repeats, so it never empties an input; an input of no characters
        // (nothing, or only a BOM) is refused, and so is one too short for a single training target.
        let (out, r) = try prepared("same line\nsame line\nsame line\n", dedup: .lines)
        XCTAssertEqual(try singleRowText(out, .train), "same line\n")
        XCTAssertEqual(r.text.dedupRemovedUnits, 2)
        for empty in ["", "\u{FEFF}"] {
            XCTAssertThrowsError(try prepared(empty, dedup: .lines)) { e in
                guard case .badInput(let message)? = e as? CorpusError else { return XCTFail("\(e)") }
                XCTAssertTrue(message.hasSuffix(": no text to prepare (it holds no characters)"), message)
                XCTAssertTrue(message.contains(".txt"), "names the input: \(message)")
            }
        }
        XCTAssertThrowsError(try prepared("\n")) { e in
            XCTAssertEqual(e as? CorpusError,
                .badInput("the text holds a single distinct token (\"\\n\"): there is nothing for a language model to "
                          + "learn"))
        }
        XCTAssertThrowsError(try prepared("가나다라마바사\n", split: [0.1, 0.9, 0])) { e in
            XCTAssertEqual(e as? CorpusError,
                           .badInput("the train split has fewer than 2 tokens: the corpus is too small to train on"))
        }
    }

    /// Twenty documents of three lines of different lengths, separated by `separator` lines.
    func documents(separator: String = "") -> [String] {
        (0..<20).map { i in
            (0..<3).map { j in String(repeating: ["가", "나", "다", "라"][(i + j) % 4], count: 1 + (i * 7 + j * 3) % 11) + " \(i).\(j)" }
                .joined(separator: "\n") + "\n" + separator + "\n"
        }
    }

    /// Whether `text` is a run of whole documents of `docs`.
    func isWholeDocuments(_ text: String, _ docs: [String]) -> Bool {
        if text.isEmpty { return true }
        for a in docs.indices { for b in a..<docs.count where docs[a...b].joined() == text { return true } }
        return false
    }

    func testSplitByDocumentCutsBetweenDocuments() throws {
        for separator in ["", "%%"] {
            let docs = documents(separator: separator)
            let (out, r) = try prepared(docs.joined(), splitBy: .document, separator: separator, split: [0.6, 0.2, 0.2])
            let parts = try SplitName.allCases.map { try singleRowText(out, $0) }
            XCTAssertEqual(parts.joined(), docs.joined())
            for (name, part) in zip(SplitName.allCases, parts) {
                XCTAssertFalse(part.isEmpty, name.rawValue)
                XCTAssert(isWholeDocuments(part, docs),
                          "\(name) (separator '\(separator)') is not whole documents: \(part.debugDescription)")
            }
            XCTAssertEqual(r.text.documents, 20)
            // The shares are honoured to within a document.
            let chars = parts.map { $0.unicodeScalars.count }
            let longest = docs.map { $0.unicodeScalars.count }.max()!
            XCTAssertLessThanOrEqual(abs(chars[0] - Int(0.6 * Double(r.characters))), longest)
        }
        // Cutting at an offset on the same text moves to the next line end, which here is inside a document.
        let docs = documents()
        let (out, _) = try prepared(docs.joined(), splitBy: .offset, split: [0.6, 0.2, 0.2])
        let val = try singleRowText(out, .val)
        XCTAssertFalse(isWholeDocuments(val, docs), "an offset cut is expected to fall inside a document here")
        XCTAssert(val.hasPrefix(val.split(separator: "\n", omittingEmptySubsequences: false)[0] + "\n"))
        XCTAssert(try singleRowText(out, .train).hasSuffix("\n"), "offset cuts fall at line ends")
    }

    func testSplitFractionsAreValidated() throws {
        for bad in [[0.5, 0.5], [0.9, 0.2, -0.1], [0.5, 0.3, 0.1], [0.0, 0.5, 0.5], [0.9, 0.05, 0.05, 0.0]] {
            var o = PrepareOptions()
            o.splitFractions = bad
            XCTAssertThrowsError(try Preparer(options: o, inputs: ["x.txt"]), "\(bad)") { e in
                guard case let CorpusError.badInput(m) = e else { return XCTFail("\(e)") }
                XCTAssert(m.contains("--split"), m)
            }
        }
        var o = PrepareOptions()
        o.splitFractions = [1, 0, 0]
        XCTAssertNoThrow(try Preparer(options: o, inputs: ["x.txt"]))
        o.batchSize = 0
        XCTAssertThrowsError(try Preparer(options: o, inputs: ["x.txt"]))
    }

    func testSplitSharesOfAnOffsetSplit() throws {
        let text = (0..<1000).map { "줄 \($0)" }.joined(separator: "\n") + "\n"
        let (out, r) = try prepared(text, split: [0.8, 0.15, 0.05])
        let parts = try SplitName.allCases.map { try singleRowText(out, $0) }
        XCTAssertEqual(parts.joined(), text)
        for (part, share) in zip(parts, [0.8, 0.15, 0.05]) {
            XCTAssertEqual(Double(part.unicodeScalars.count) / Double(r.characters), share, accuracy: 0.01)
            XCTAssert(part.hasSuffix("\n"))
        }
        XCTAssertEqual(r.splits.map(\.characters), parts.map { $0.unicodeScalars.count })
    }
}
