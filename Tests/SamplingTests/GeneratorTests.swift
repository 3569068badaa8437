import XCTest
import Foundation
import Corpus
import Model
import Compute
@testable import Sampling

final class GeneratorTests: XCTestCase {
    struct Golden: Decodable {
        let prime: String
        let embedding_size, hidden_size, layers: Int
        let text: String
    }

    func fixture(_ granularity: String) throws -> (Generator, Golden) {
        let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(granularity)
        let golden = try JSONDecoder().decode(Golden.self,
                                              from: Data(contentsOf: dir.appendingPathComponent("golden.json")))
        let vocab = try Vocabulary.load(path: dir.appendingPathComponent("vocab.json").path)
        let model = LanguageModel(config: ModelConfig(vocabSize: vocab.tokens.count,
                                                      embeddingSize: golden.embedding_size,
                                                      hiddenSize: golden.hidden_size, layers: golden.layers,
                                                      dropout: 0))
        try model.loadWeights(path: dir.appendingPathComponent("model.safetensors").path)
        return (try Generator(model: model, vocab: vocab), golden)
    }

    func generate(_ g: Generator, prime: String, length: Int, temperature: Float = 0, topK: Int = 0, topP: Float = 1,
                  seed: UInt64 = 1, unknown: UnknownPolicy = .error) throws -> (String, GenerationStats) {
        var config = GenerationConfig()
        config.prime = prime
        config.length = length
        config.unknown = unknown
        config.sampler = SamplerConfig(temperature: temperature, topK: topK, topP: topP)
        var rng = RNG(seed: seed)
        var streamed = ""
        let stats = try g.generate(config, rng: &rng) { streamed += $0 }
        XCTAssertEqual(Array(streamed.utf8), Array(stats.text.utf8), "the streamed pieces add up to the text")
        return (streamed, stats)
    }

    /// Greedy output equals PyTorch's greedy continuation from the same weights, byte for byte.
    func testArgmaxOutputMatchesPyTorchGolden() throws {
        for granularity in ["char", "jamo"] {
            let (g, golden) = try fixture(granularity)
            let n = golden.text.count - 4      // the golden's last characters may be cut mid-syllable
            let (text, stats) = try generate(g, prime: golden.prime, length: n)
            XCTAssertEqual(Array(text.utf8), Array(String(golden.text.prefix(n)).utf8), granularity)
            XCTAssertEqual(stats.characters, n)
        }
    }

    func testSameSeedSameOutputAndTopK1IsArgmax() throws {
        let (g, golden) = try fixture("char")
        let a = try generate(g, prime: "국회는 ", length: 80, temperature: 1, seed: 5).0
        let b = try generate(g, prime: "국회는 ", length: 80, temperature: 1, seed: 5).0
        let c = try generate(g, prime: "국회는 ", length: 80, temperature: 1, seed: 6).0
        XCTAssertEqual(Array(a.utf8), Array(b.utf8))
        XCTAssertNotEqual(a, c, "a different seed gives a different sample")
        let greedy = try generate(g, prime: golden.prime, length: 60).0
        let top1 = try generate(g, prime: golden.prime, length: 60, temperature: 1.3, topK: 1, seed: 9).0
        XCTAssertEqual(Array(greedy.utf8), Array(top1.utf8))
        // top-p small enough keeps only the best token too.
        let topP = try generate(g, prime: golden.prime, length: 60, temperature: 1, topP: 1e-6, seed: 9).0
        XCTAssertEqual(Array(greedy.utf8), Array(topP.utf8))
    }

    func testLengthCountsCharactersForEveryGranularity() throws {
        for granularity in ["char", "jamo"] {
            let (g, _) = try fixture(granularity)
            for length in [1, 37, 150] {
                let (text, stats) = try generate(g, prime: "", length: length, temperature: 0.9, seed: UInt64(length))
                XCTAssertEqual(text.count, length, "\(granularity): \(length) grapheme clusters")
                XCTAssertEqual(stats.characters, length)
            }
        }
    }

    func testUnknownPrimeCharactersAreAnErrorThatNamesThem() throws {
        let (g, _) = try fixture("char")
        XCTAssertThrowsError(try generate(g, prime: "사랑은 😀 뷁", length: 10)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("'😀'") && m.contains("'뷁'"), m)
            XCTAssertTrue(m.contains("--unknown skip"), m)
        }
        let (text, stats) = try generate(g, prime: "대한민국 😀", length: 10, unknown: .skip)
        XCTAssertEqual(text.count, 10)
        XCTAssertEqual(stats.primeTokens, 5)
        // A prime whose every character is skipped starts after a newline, as no prime does.
        let (allSkipped, skippedStats) = try generate(g, prime: "😀🙂", length: 30, temperature: 1, seed: 4,
                                                      unknown: .skip)
        XCTAssertEqual(skippedStats.primeTokens, 1)
        XCTAssertEqual(Array(allSkipped.utf8), Array(try generate(g, prime: "", length: 30, temperature: 1,
                                                                  seed: 4).0.utf8))
        XCTAssertThrowsError(try generate(g, prime: "😀", length: 10, unknown: .unk)) { e in
            XCTAssertTrue("\(e)".contains("<unk>"))
        }
        // A jamo model spells any syllable whose jamo it has, even one it never saw whole.
        let (jg, _) = try fixture("jamo")
        XCTAssertNoThrow(try generate(jg, prime: "국민민주", length: 5))
        XCTAssertEqual(try jg.primeIDs("국", unknown: .error).count, 3)
        // What the jamo model prints for lone jamo (compatibility letters) reads back as those jamo.
        XCTAssertEqual(try jg.primeIDs("ㄱㅏㅄ", unknown: .error),
                       [0x1100, 0x1161, 0x11B9].map { jg.vocab.id(single: $0)! },
                           "ㄱ as a leading consonant, ㅏ, ㅄ as a final")
        // The prime is echoed as the model reads it: normalised, without skipped characters.
        XCTAssertEqual(Array(try g.primeText("\u{1100}\u{1161} 😀국민", unknown: .skip).unicodeScalars),
                       Array("가 국민".unicodeScalars))
        XCTAssertNil(g.vocab.id(single: 0x314B))
        XCTAssertThrowsError(try g.primeIDs("ㅋ", unknown: .error), "a char model has no such fallback")
        for c in UInt32(0x3131)...UInt32(0x3163) {
            let forms = Hangul.conjoining(fromCompatibility: c)
            XCTAssertFalse(forms.isEmpty, String(c, radix: 16))
            for f in forms {
                XCTAssertEqual(Hangul.compatibility(f), c, "\(String(c, radix: 16)) -> \(String(f, radix: 16))")
            }
        }
    }
}

final class StreamingDecoderTests: XCTestCase {
    let samples = ["각 가나 닭이 울면, 새벽이 온다.\n", "한글 ABC 漢字 😀 끝", "ᄀ각 ㄱㅏ 쀍"]

    /// Whatever the decoder has released after any prefix of the tokens is a prefix of the final text,
    /// so a syllable is never shown before it is complete; all of it is the normalised input.
    func testNeverEmitsAPartialSyllableAtAnySplitPoint() throws {
        for granularity in [Granularity.jamo, .coda, .char] {
            let pipeline = try TextPipeline(granularity: granularity)
            for s in samples {
                let normalized = try pipeline.normalize(s)
                let tokens = try pipeline.tokenize(s)
                var full = StreamingDecoder(granularity: granularity)
                var expected = tokens.map { full.push($0) }.joined()
                expected += full.finish()
                if granularity != .jamo || !s.contains("ᄀ가") {
                    XCTAssertEqual(scalars(of: expected), scalars(of: normalized), "\(granularity) \(s)")
                }
                for k in 0...tokens.count {
                    var d = StreamingDecoder(granularity: granularity)
                    let shown = tokens[0..<k].map { d.push($0) }.joined()
                    let shownScalars = scalars(of: shown), all = scalars(of: expected)
                    XCTAssertTrue(shownScalars.count <= all.count
                                  && Array(all.prefix(shownScalars.count)) == shownScalars,
                                  "\(granularity) after \(k) tokens of \(s): showed \(shown.debugDescription)")
                }
            }
        }
    }

    func testIllFormedJamoBecomeCompatibilityLettersAndAreCounted() {
        var d = StreamingDecoder(granularity: .jamo)
        var out = ""
        for t: UInt32 in [0x1161, 0x20, 0x1100, 0x20, 0x11A8, 0x1100, 0x1161, 0x11A8] { out += d.push([t]) }
        out += d.finish()
        XCTAssertEqual(out, "ㅏ ㄱ ㄱ각")
        XCTAssertEqual(d.illFormed, 3)
        XCTAssertEqual(d.syllables, 1)
        XCTAssertEqual(d.wellFormedShare, 0.25, accuracy: 1e-9)
    }
}

final class SamplerTests: XCTestCase {
    func testTemperatureTopKAndTopP() {
        let logits: [Float] = [1, 3, 2, 3, -1]
        var rng = RNG(seed: 1)
        XCTAssertEqual(Sampler(config: SamplerConfig(temperature: 0), vocabSize: 5).sample(logits, rng: &rng), 1,
                       "ties go to the lower id")
        XCTAssertEqual(Sampler(config: SamplerConfig(temperature: 0), vocabSize: 5).sample(logits, rng: &rng,
                                                                                           allowed: { $0 != 1 }), 3)
        // top-k 2 only ever gives the two best; frequencies follow the softmax at temperature 1.
        let s = Sampler(config: SamplerConfig(temperature: 1, topK: 3), vocabSize: 5)
        var counts = [Int](repeating: 0, count: 5)
        for _ in 0..<30_000 { counts[Int(s.sample(logits, rng: &rng))] += 1 }
        XCTAssertEqual(counts[0] + counts[4], 0)
        let z = exp(3.0) * 2 + exp(2.0)
        XCTAssertEqual(Double(counts[2]) / 30_000, exp(2.0) / z, accuracy: 0.01)
        // top-p 0.5: the two tied best tokens hold 2e^3/(2e^3+e^2+e+e^-1) > 0.5, the first alone less.
        let p = Sampler(config: SamplerConfig(temperature: 1, topP: 0.5), vocabSize: 5)
        var seen = Set<Int32>()
        for _ in 0..<2000 { seen.insert(p.sample(logits, rng: &rng)) }
        XCTAssertEqual(seen, [1, 3])
        // A high temperature flattens: every token shows up.
        let hot = Sampler(config: SamplerConfig(temperature: 5), vocabSize: 5)
        seen = []
        for _ in 0..<5000 { seen.insert(hot.sample(logits, rng: &rng)) }
        XCTAssertEqual(seen.count, 5)
    }

    func testNoveltyCountsWindowsMissingFromTheCorpus() {
        let corpus = scalars(of: "가나다라마바사아자차카타파하")
        let index = NoveltyIndex(corpus: corpus, window: 3)
        XCTAssertEqual(index.novel(scalars(of: "나다라마")).novel, 0)
        let r = index.novel(scalars(of: "가나다하"))
        XCTAssertEqual(r.total, 2)
        XCTAssertEqual(r.novel, 1)
    }
}

final class GenerationLimitTests: XCTestCase {
    func testTokenLimitSaturatesInsteadOfOverflowing() {
        var c = GenerationConfig()
        c.length = 200
        XCTAssertEqual(c.tokenLimit, 4100)
        c.length = 500_000_000_000_000_000
        XCTAssertEqual(c.tokenLimit, Int.max)
        c.length = (Int.max - 100) / 20
        XCTAssertEqual(c.tokenLimit, 20 * c.length + 100)
        c.length = (Int.max - 100) / 20 + 1
        XCTAssertEqual(c.tokenLimit, Int.max)
        c.maxTokens = 7
        XCTAssertEqual(c.tokenLimit, 7)
    }
}
