import XCTest
import Foundation
import Compute
@testable import Model

final class SafeTensorsTests: XCTestCase {
    var dir: String = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "gasa-st-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func model() -> LanguageModel {
        var rng = RNG(seed: 1)
        return LanguageModel(config: ModelConfig(vocabSize: 9, embeddingSize: 4, hiddenSize: 5, layers: 2, dropout: 0),
                             rng: &rng)
    }

    func testRoundTripKeepsEveryBitAndMetadata() throws {
        let m = model()
        let path = dir + "/model.safetensors"
        try m.saveWeights(path: path, metadata: ["note": "가사 \"quoted\"\n"])
        let (tensors, meta) = try SafeTensors.read(path: path)
        XCTAssertEqual(meta["note"], "가사 \"quoted\"\n")
        XCTAssertEqual(tensors.map(\.name), m.layout.map(\.name))
        let copy = LanguageModel(config: m.config)
        try copy.loadWeights(path: path)
        XCTAssertEqual(Array(copy.parameters).map(\.bitPattern), Array(m.parameters).map(\.bitPattern))
        // The header length is a multiple of 8 and the file size is exact.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(bytes.count, 8 + n + 4 * m.config.parameterCount)
    }

    func write(_ bytes: [UInt8]) -> String {
        let p = dir + "/bad-\(UUID().uuidString).safetensors"
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    func file(header: String, data: Int) -> [UInt8] {
        let h = Array(header.utf8)
        var out = (0..<8).map { UInt8((h.count >> (8 * $0)) & 0xFF) }
        out += h
        out += [UInt8](repeating: 0, count: data)
        return out
    }

    func testCorruptOrHostileFilesAreRejected() throws {
        let m = model()
        let good = dir + "/model.safetensors"
        try m.saveWeights(path: good)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        var cases: [(String, [UInt8])] = [
            ("empty", []),
            ("truncated", Array(bytes.prefix(bytes.count - 3))),
            ("header only", Array(bytes.prefix(20))),
            ("huge header length", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + bytes.dropFirst(8)),
            ("extra bytes", bytes + [1, 2, 3, 4]),
            ("not json", file(header: "{not json", data: 0)),
            ("array", file(header: "[1,2]", data: 0)),
            ("f16", file(header: #"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: 4)),
            ("shape mismatch", file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8)),
            ("out of bounds", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: 4)),
            ("negative", file(header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: 8)),
            ("overflowing shape",
             file(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#, data: 8)),
            ("overlap", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12)),
            ("bad metadata", file(header: #"{"__metadata__":{"k":3}}"#, data: 0)),
        ]
        // A flipped byte inside the JSON header.
        var flipped = bytes
        flipped[12] ^= 0x40
        cases.append(("flipped header byte", flipped))
        for (name, b) in cases {
            let p = write(b)
            XCTAssertThrowsError(try LanguageModel(config: m.config).loadWeights(path: p), name) { e in
                XCTAssertTrue("\(e)".contains(p), "\(name): the error names the file: \(e)")
            }
        }
        // A well-formed file for another configuration is refused with the tensor named.
        var rng = RNG(seed: 2)
        let other = LanguageModel(config: ModelConfig(vocabSize: 9, embeddingSize: 4, hiddenSize: 6, layers: 2,
                                                      dropout: 0), rng: &rng)
        let otherPath = dir + "/other.safetensors"
        try other.saveWeights(path: otherPath)
        XCTAssertThrowsError(try LanguageModel(config: m.config).loadWeights(path: otherPath)) { e in
            XCTAssertTrue("\(e)".contains("lstm.weight_ih_l0"), "\(e)")
        }
        // NaN weights are refused.
        m.parameters[3] = .nan
        let nanPath = dir + "/nan.safetensors"
        try m.saveWeights(path: nanPath)
        XCTAssertThrowsError(try LanguageModel(config: m.config).loadWeights(path: nanPath))
    }

    func testTiedWeightsThatDifferAreRejected() throws {
        var r = Regularization()
        r.tieWeights = true
        var rng = RNG(seed: 3)
        let tied = LanguageModel(config: ModelConfig(vocabSize: 9, embeddingSize: 5, hiddenSize: 5, layers: 1,
                                                     dropout: 0, regularization: r), rng: &rng)
        let good = dir + "/tied.safetensors"
        try tied.saveWeights(path: good)
        XCTAssertNoThrow(try LanguageModel(config: tied.config).loadWeights(path: good))
        // One element of the head moved: the two copies no longer agree.
        tied.parameters[tied.headWOffset + 7] += 0.5
        let edited = dir + "/tied-edited.safetensors"
        try tied.saveWeights(path: edited)
        XCTAssertThrowsError(try LanguageModel(config: tied.config).loadWeights(path: edited)) { e in
            XCTAssertTrue("\(e)".contains("differ (first at element 7)"), "\(e)")
            XCTAssertTrue("\(e)".contains(edited), "\(e)")
        }
        // The same file is fine for an untied model of the same shape.
        var untied = tied.config
        untied.regularization.tieWeights = false
        XCTAssertNoThrow(try LanguageModel(config: untied).loadWeights(path: edited))
    }
}
