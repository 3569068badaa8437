// Shared fixtures of the corpus tests: temporary folders, preparing a corpus in memory through the
// library, reading a prepared split back in full, and a seeded generator for property tests.
import Foundation
import XCTest
@testable import Corpus

/// A fresh folder under the system temporary directory, removed when the test case ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let dir = NSTemporaryDirectory() + "gasa-corpus-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func writeFile(_ path: String, _ text: String) throws { try writeFile(path, Array(text.utf8)) }

func readBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Writes `text` to DIR/NAME.txt and prepares it into DIR/NAME with `options` (progress off).
@discardableResult
func prepare(_ text: [UInt8], in dir: String, name: String = "prep", options: PrepareOptions) throws -> (String,
    PrepareReport) {
    let input = dir + "/\(name).txt"
    try writeFile(input, text)
    let p = try Preparer(options: options, inputs: [input])
    p.showProgress = false
    let out = dir + "/" + name
    return (out, try p.run(output: out, force: false))
}

func prepare(_ text: String, in dir: String, name: String = "prep", options: PrepareOptions) throws -> (String,
                                                                                                        PrepareReport) {
    try prepare(Array(text.utf8), in: dir, name: name, options: options)
}

func options(_ g: Granularity = .char, batch: Int = 1, steps: Int = 4, split: [Double] = [0.8, 0.1, 0.1],
             shardBytes: Int = 64 << 20) -> PrepareOptions {
    var o = PrepareOptions()
    o.granularity = g
    o.batchSize = batch
    o.seqLength = steps
    o.splitFractions = split
    o.shardBytes = shardBytes
    return o
}

/// Every minibatch of a split, in order: (steps, inputs, targets), row-major [b*steps + t].
func minibatches(_ dir: String, _ split: SplitName) throws -> [(steps: Int, inputs: [Int32], targets: [Int32])] {
    let m = try Manifest.load(directory: dir)
    let s = try SplitStream(directory: dir, manifest: m, split: split)
    var out: [(Int, [Int32], [Int32])] = []
    let size = max(1, s.batchSize * m.seqLength)
    var x = [Int32](repeating: -1, count: size), y = [Int32](repeating: -1, count: size)
    for k in 0..<s.count {
        let steps = try s.load(k, inputs: &x, targets: &y)
        out.append((steps, Array(x[0..<(s.batchSize * steps)]), Array(y[0..<(s.batchSize * steps)])))
    }
    return out
}

/// The whole token stream of a split prepared with batch size 1 (one row: every token is served, the
/// first as an input, the rest as targets), as ids.
func singleRowStream(_ dir: String, _ split: SplitName) throws -> [Int32] {
    let m = try Manifest.load(directory: dir)
    guard let info = m.split(split) else { throw CorpusError.badInput("no split \(split)") }
    if info.tokens == 0 { return [] }
    precondition(info.batchSize == 1 && info.droppedTokens == 0, "needs a one-row split")
    var ids: [Int32] = []
    for mb in try minibatches(dir, split) {
        if ids.isEmpty { ids.append(mb.inputs[0]) }
        ids += mb.targets
    }
    return ids
}

/// The text of a one-row split, rebuilt from its ids through vocab.json.
func singleRowText(_ dir: String, _ split: SplitName) throws -> String {
    let v = try Vocabulary.load(path: dir + "/vocab.json")
    let pipeline = try TextPipeline(granularity: v.granularity, text: TextOptions(normalization: v.normalization))
    return try pipeline.detokenize(try singleRowStream(dir, split).map { v.tokens[Int($0)] })
}

/// splitmix64: a small seeded generator, so that a failing property case can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Code points as "U+XXXX U+YYYY" for failure messages.
func codePoints(_ s: [UInt32]) -> String {
    s.map { "U+" + String($0, radix: 16, uppercase: true) }.joined(separator: " ")
}

/// Flips every bit of the byte at `offset` of a file in place.
func flipByte(_ path: String, at offset: Int) throws {
    var b = try readBytes(path)
    b[offset] ^= 0xFF
    try writeFile(path, b)
}

/// Reads a JSON file as a mutable dictionary, lets `edit` change it, and writes it back.
func editJSON(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
    var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    edit(&obj)
    try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
}

/// The package root, from this file's path (Tests/CorpusTests/Support.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
