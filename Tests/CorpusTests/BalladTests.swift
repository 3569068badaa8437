// Known facts about the Korean ballad lyrics corpus, when it is present beside the repository
// (../shared/corpora/lyrics_ballad.txt from the package root). It is not part of the repository.
import Foundation
import XCTest
@testable import Corpus

final class BalladTests: XCTestCase {
    func corpusPath() throws -> String {
        let path = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/lyrics_ballad.txt").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("the ballad corpus is not at \(path); these checks need it")
        }
        return path
    }

    func prepareBallad(_ g: Granularity) throws -> PrepareReport {
        let dir = try makeTemporaryDirectory(self)
        var o = PrepareOptions()
        o.granularity = g
        let p = try Preparer(options: o, inputs: [try corpusPath()])
        p.showProgress = false
        let r = try p.run(output: dir + "/" + g.rawValue, force: false)
        XCTAssertEqual(r.characters, 742_966)
        XCTAssertEqual(r.text.replacements, 0)
        XCTAssertEqual(r.unkTokens, 0, "no min-count: nothing is unknown")
        return r
    }

    func testChar() throws {
        let r = try prepareBallad(.char)
        XCTAssertEqual(r.tokens, 742_966)
        XCTAssertEqual(r.vocabSize, 1_209)
        XCTAssertEqual(r.distinctTokens, 1_209)
    }

    func testJamo() throws {
        let r = try prepareBallad(.jamo)
        XCTAssertEqual(r.distinctTokens, 125, "the corpus never uses the final ㄾ (U+11B3)")
        XCTAssertEqual(r.vocabSize, 126, "the whole modern alphabet is in the vocabulary")
        XCTAssertEqual(r.tokensPerCharacter, 1.96, accuracy: 0.005)
    }

    func testCoda() throws {
        let r = try prepareBallad(.coda)
        XCTAssertEqual(r.distinctTokens, 341)
        XCTAssertEqual(r.vocabSize, 485, "341 seen plus the 144 open syllables and finals the corpus never uses")
        XCTAssertEqual(r.tokensPerCharacter, 1.28, accuracy: 0.005)
    }

    func testWholeCorpusRoundTripsAtJamoAndCoda() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: try corpusPath())))
        for g in [Granularity.jamo, .coda] {
            let p = try TextPipeline(granularity: g)
            let normalized = try p.normalize(bytes: bytes, name: "lyrics_ballad.txt")
            let back = try p.detokenize(try p.segment(normalized: normalized))
            XCTAssert(Array(back.utf16) == normalized, "\(g.rawValue) round trip of the whole corpus")
        }
    }
}
