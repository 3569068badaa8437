// The shard loader serves every token of a split exactly once, in stream order: row b of minibatch
// k+1 continues row b of minibatch k, and targets are the inputs shifted by one. Checked against a
// reconstruction of each split made independently of prepare, from the tokenised text.
import Foundation
import XCTest
@testable import Corpus

final class ShardStreamTests: XCTestCase {
    /// A corpus with lines of varied length, Hangul, jamo, emoji and words, so that every granularity
    /// has multi-scalar or multi-token characters somewhere.
    static func corpus(lines: Int) -> String {
        var rng = SeededGenerator(seed: 42)
        let words = ["사랑은", "늘", "도망가", "ㅠㅠ", "눈물이", "흘러", "love", "you", "👨‍👩‍👧", "e\u{0301}", "愛", "！", "각\u{11A8}"]
        return (0..<lines).map { i in
            (0..<Int.random(in: 0...9,
                using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ") + " \(i)"
        }.joined(separator: "\n") + "\n"
    }

    /// Ids of the whole kept text, tokenised and looked up independently of prepare.
    func referenceIDs(_ text: String, _ dir: String) throws -> [Int32] {
        let v = try Vocabulary.load(path: dir + "/vocab.json")
        let p = try TextPipeline(granularity: v.granularity, text: TextOptions(normalization: v.normalization))
        return try p.tokenize(text).map { piece in
            guard let id = v.id(piece) ?? v.unkID.map(Int32.init) else {
                throw CorpusError.badInput("no id for \(piece)")
            }
            return id
        }
    }

    /// Characters each token of the whole text begins, found by tokenising one character at a time
    /// (single-scalar granularities) or counting the scalars of each token (grapheme, word).
    func referenceCharacters(_ text: String, _ g: Granularity) throws -> [Int] {
        let p = try TextPipeline(granularity: g)
        if !g.singleScalar { return try p.tokenize(text).map(\.count) }
        var chars: [Int] = []
        for c in scalars(of: try p.normalize(text)) {
            let n = try p.segment(normalized: utf16Units([c])).count
            chars += [1] + [Int](repeating: 0, count: n - 1)
        }
        return chars
    }

    func utf16Units(_ s: [UInt32]) -> [UInt16] { Array(string(of: s).utf16) }

    func checkStreams(_ g: Granularity, batch: Int, steps: Int, shardBytes: Int, lines: Int = 300,
                      adjust: (inout PrepareOptions) -> Void = { _ in },
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try makeTemporaryDirectory(self)
        let text = Self.corpus(lines: lines)
        var o = options(g, batch: batch, steps: steps, split: [0.7, 0.2, 0.1], shardBytes: shardBytes)
        adjust(&o)
        let (out, report) = try prepare(text, in: dir, options: o)
        let m = try Manifest.load(directory: out)
        let v = try Vocabulary.load(path: out + "/vocab.json")
        let newline = v.id(single: 0x0A)!
        let all = try referenceIDs(text, out)
        XCTAssertEqual(report.tokens, all.count, file: file, line: line)
        XCTAssertEqual(m.splits.map(\.tokens).reduce(0, +), all.count, file: file, line: line)

        let chars = try referenceCharacters(text, g)
        XCTAssertEqual(chars.count, all.count, file: file, line: line)
        var start = 0
        for info in m.splits {
            // Characters of the split, and those begun by its served targets (for bits per character).
            XCTAssertEqual(chars[start..<(start + info.tokens)].reduce(0, +), info.characters,
                           "\(info.name) characters", file: file, line: line)
            if info.tokens >= 2 {
                let served = chars[(start + 1)...(start + info.batchSize * info.streamLength)].reduce(0, +)
                XCTAssertEqual(info.targetCharacters, served, "\(g.rawValue) \(info.name) target characters",
                               file: file, line: line)
            }
            // The split's tokens: the next info.tokens of the whole text, starting after a line end.
            let ids = Array(all[start..<(start + info.tokens)])
            if start > 0 && info.tokens > 0 {
                XCTAssertEqual(all[start - 1], newline, "\(info.name) starts at a line start", file: file, line: line)
            }
            start += info.tokens
            guard info.tokens >= 2 else { XCTAssertEqual(info.minibatches, 0, file: file, line: line); continue }
            let B = info.batchSize, L = info.streamLength
            XCTAssertEqual(B * L + info.droppedTokens, info.tokens - 1, file: file, line: line)
            XCTAssertLessThan(info.droppedTokens, B, "only a tail shorter than one token per row is dropped",
                              file: file, line: line)
            XCTAssertEqual(info.minibatches, (L + steps - 1) / steps, file: file, line: line)

            var servedAsTarget = [Int](repeating: 0, count: info.tokens)
            var previous: (steps: Int, inputs: [Int32], targets: [Int32])? = nil
            for (k, mb) in try minibatches(out, info.name).enumerated() {
                XCTAssertEqual(mb.steps, min(steps, L - k * steps), "\(info.name) minibatch \(k) steps", file: file,
                               line: line)
                for b in 0..<B {
                    for t in 0..<mb.steps {
                        let position = b * L + k * steps + t          // stream b, step k*T + t
                        let x = mb.inputs[b * mb.steps + t], y = mb.targets[b * mb.steps + t]
                        if x != ids[position] || y != ids[position + 1] {
                            return XCTFail("\(g.rawValue) \(info.name) minibatch \(k) row \(b) step \(t): (\(x), "
                                           + "\(y)), expected "
                                           + "(\(ids[position]), \(ids[position + 1]))", file: file, line: line)
                        }
                        servedAsTarget[position + 1] += 1
                        if t > 0 {
                            XCTAssertEqual(x, mb.targets[b * mb.steps + t - 1], "targets are inputs shifted by one",
                                           file: file, line: line)
                        }
                    }
                    if let p = previous {
                        // Row b picks up where it stopped: its first input is its last target of the minibatch before.
                        XCTAssertEqual(mb.inputs[b * mb.steps], p.targets[b * p.steps + p.steps - 1],
                                       "\(info.name) row \(b) continues into minibatch \(k)", file: file, line: line)
                    }
                }
                previous = mb
            }
            // Every token but the first (only ever an input) and the dropped tail is a target exactly once.
            XCTAssertEqual(servedAsTarget[0], 0, file: file, line: line)
            XCTAssert(servedAsTarget[1...(B * L)].allSatisfy { $0 == 1 }, "\(info.name): each token served once",
                      file: file, line: line)
            XCTAssert(servedAsTarget[(B * L + 1)...].allSatisfy { $0 == 0 }, file: file, line: line)
            XCTAssertEqual(info.servedTargets, B * L, file: file, line: line)
        }
        XCTAssertEqual(start, all.count, file: file, line: line)
        try m.verifyShards(directory: out)
    }

    func testCharStreamsOneMinibatchPerShard() throws {
        // A tiny shard size forces one minibatch per shard: SplitStream has to move between files.
        try checkStreams(.char, batch: 3, steps: 5, shardBytes: 1)
    }

    func testEveryGranularityWithSeveralMinibatchesPerShard() throws {
        for g in Granularity.allCases { try checkStreams(g, batch: 4, steps: 7, shardBytes: 4 * 8 * 2 * 3) }
    }

    func testOneStreamAndManyStreams() throws {
        try checkStreams(.jamo, batch: 1, steps: 16, shardBytes: 1 << 20)
        try checkStreams(.coda, batch: 50, steps: 3, shardBytes: 1 << 20, lines: 600)
    }

    func testManyParallelJobs() throws {
        // Pass 2 and the shards run as parallel jobs starting at pass 1's index entries: with an entry
        // every ~17 units and 64 jobs, this small corpus's splits come in many parts, most of them
        // holding fewer tokens than the 51 whose characters are kept for the dropped tail (batch 50).
        for g in Granularity.allCases {
            for tables in [true, false] {
                try checkStreams(g, batch: 50, steps: 3, shardBytes: 50 * 4 * 2 * 3) { o in
                    o.threads = 64
                    o.pieceUnits = 17
                    o.scalarTables = tables
                }
            }
        }
    }

    func testSameBytesWhateverTheThreadsAndPath() throws {
        // One thread through the Segmenter is the reference; parallel jobs of any size, and the
        // table-driven path of char, jamo and coda, must write the very same files.
        let dir = try makeTemporaryDirectory(self)
        let input = dir + "/corpus.txt"
        try writeFile(input, Self.corpus(lines: 400) + "𝄞 🙂 \u{1F469}\u{200D}\u{1F4BB} 한\u{11A8} 𠜎\n")
        for g in Granularity.allCases {
            func run(_ name: String, threads: Int, piece: Int, tables: Bool) throws -> [String: [UInt8]] {
                var o = options(g, batch: 7, steps: 5, split: [0.6, 0.3, 0.1], shardBytes: 7 * 6 * 2 * 4)
                o.threads = threads
                o.pieceUnits = piece
                o.scalarTables = tables
                let p = try Preparer(options: o, inputs: [input])
                p.showProgress = false
                let out = dir + "/\(g.rawValue)-\(name)"
                _ = try p.run(output: out, force: false)
                var files: [String: [UInt8]] = [:]
                for f in try FileManager.default.contentsOfDirectory(atPath: out) where f != "report.json" {
                    files[f] = try readBytes(out + "/" + f)
                }
                var r = try JSONSerialization.jsonObject(with: Data(readBytes(out + "/report.json"))) as! [String: Any]
                for timing in ["seconds", "megabytes_per_second", "megabytesPerSecond", "output"] {
                    r.removeValue(forKey: timing)
                }
                files["report.json"] = Array(try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys]))
                return files
            }
            let reference = try run("reference", threads: 1, piece: 1 << 16, tables: false)
            XCTAssertGreaterThan(reference.keys.filter { $0.hasPrefix("train-") }.count, 1, "several train shards")
            for (threads, piece, tables) in [(2, 1 << 16, true), (2, 23, true), (3, 5, true), (2, 31, false), (1,
                1 << 16, true)] {
                let got = try run("\(threads)-\(piece)-\(tables)", threads: threads, piece: piece, tables: tables)
                XCTAssertEqual(Set(got.keys), Set(reference.keys),
                               "\(g.rawValue) threads \(threads) piece \(piece) tables \(tables)")
                for (f, bytes) in reference where got[f] != bytes {
                    XCTFail("\(g.rawValue) threads \(threads) piece \(piece) tables \(tables): \(f) differs")
                }
            }
        }
    }

    func testShardFilesAreReadableAsDocumented() throws {
        // The header layout of Shard.swift, read by hand: what numpy users rely on.
        let dir = try makeTemporaryDirectory(self)
        let (out, _) = try prepare(Self.corpus(lines: 100), in: dir, options: options(.char, batch: 2, steps: 6))
        let m = try Manifest.load(directory: out)
        let train = m.split(.train)!
        let sh = train.shards[0]
        let b = try readBytes(out + "/" + sh.file)
        func u32(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }
        XCTAssertEqual(Array(b[0..<8]), Array("GASASHRD".utf8))
        XCTAssertEqual([u32(8), u32(12), u32(16), u32(20), u32(24), u32(28)], [1, 2, 2, 6, sh.minibatches, sh.first])
        XCTAssertEqual(b.count, 64 + sh.minibatches * 2 * 7 * 2)
        XCTAssertEqual(String(u32(32), radix: 16), String(UInt32(sh.crc32, radix: 16)!, radix: 16))
        XCTAssert(b[40..<64].allSatisfy { $0 == 0 })
        // Row 0 of minibatch 0 is the first 7 tokens of the train stream.
        let first = (0..<7).map { Int32(b[64 + 2 * $0]) | Int32(b[65 + 2 * $0]) << 8 }
        let mb = try minibatches(out, .train)[0]
        XCTAssertEqual(first, Array(mb.inputs[0..<6]) + [mb.targets[5]])
    }

    func testLargeVocabularyUsesFourByteIds() throws {
        // More than 65,536 distinct words: ids no longer fit uint16.
        let dir = try makeTemporaryDirectory(self)
        let text = (0..<70_000).map { "w\($0)" }.joined(separator: "\n") + "\n"
        var o = options(.word, batch: 8, steps: 32, split: [0.9, 0.05, 0.05])
        o.shardBytes = 1 << 20
        let (out, r) = try prepare(text, in: dir, options: o)
        let m = try Manifest.load(directory: out)
        XCTAssertEqual(m.tokenBytes, 4)
        XCTAssertEqual(r.vocabSize, 70_001)
        let ids = try referenceIDs(text, out)
        let mbs = try minibatches(out, .train)
        let L = m.split(.train)!.streamLength
        XCTAssertEqual(mbs[1].inputs[3 * 32 + 5], ids[3 * L + 32 + 5])
        XCTAssertEqual(mbs.last!.targets.last!, ids[8 * L])
        XCTAssert(mbs.flatMap(\.inputs).contains { $0 > 65535 })
    }
    func testOneLineLongerThanEveryBuffer() throws {
        // 300,000 syllables and spaces without a line end: the decoder's pending text grows past its
        // first buffer and the 1 MiB read blocks, and the line is one piece for pass 1.
        var rng = SeededGenerator(seed: 11)
        let text = String(String.UnicodeScalarView((0..<300_000).map { i in
            i % 7 == 6 ? " " : Unicode.Scalar(0xAC00 + UInt32.random(in: 0..<11172, using: &rng))!
        }))
        for g in [Granularity.char, .jamo] {
            let dir = try makeTemporaryDirectory(self)
            let (out, r) = try prepare(text, in: dir, options: options(g, batch: 1, steps: 4096, split: [1, 0, 0]))
            XCTAssertEqual(r.characters, 300_001, "the line and the line end added at the end of the file")
            XCTAssertEqual(try singleRowText(out, .train), text + "\n")
        }
    }

    func testLargeInputAcrossInternalPieceBoundaries() throws {
        // Over a million UTF-16 units: prepare reads 1 MiB blocks, hands pass 1 runs of 256 Ki units and
        // segments pass 2 in pieces of 1 Mi units. Counting and writing must see the same tokens:
        // no <unk>, and every id where an independent tokenisation of the whole text puts it.
        var rng = SeededGenerator(seed: 7)
        let words = ["사랑은", "늘", "도망가", "ㅠㅠ", "눈물이", "love", "👨‍👩‍👧", "e\u{0301}", "愛情", "！", "\u{1112}\u{119E}",
                     "1,234"]
        var lines: [String] = []
        var units = 0
        while units < 1_150_000 {
            let line = (0..<Int.random(in: 1...30,
                using: &rng)).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ")
            units += line.utf16.count + 1
            lines.append(line)
        }
        let text = lines.joined(separator: "\n") + "\n"
        for g in [Granularity.grapheme, .word] {
            let dir = try makeTemporaryDirectory(self)
            let (out, r) = try prepare(text, in: dir, options: options(g, batch: 1, steps: 4096, split: [0.5, 0.3,
                                                                                                         0.2]))
            XCTAssertEqual(r.unkTokens, 0, g.rawValue)
            XCTAssertEqual(r.vocabSize, r.distinctTokens, g.rawValue)
            let streams = try SplitName.allCases.map { try singleRowStream(out, $0) }
            let reference = try referenceIDs(text, out)
            XCTAssertEqual(streams.map(\.count).reduce(0, +), reference.count, g.rawValue)
            XCTAssert(streams.flatMap { $0 } == reference,
                      "\(g.rawValue): ids differ from the independent tokenisation")
        }
    }
}
