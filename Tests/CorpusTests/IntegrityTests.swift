// Damaged prepared folders: every kind of damage is an error naming the file (never a crash or a
// silent wrong answer), caught by Manifest.load, verifyShards (what gasa inspect runs) and SplitStream.
import Common
import Foundation
import XCTest
@testable import Corpus
import Storage

final class IntegrityTests: XCTestCase {
    var dir = ""
    var out = ""

    override func setUpWithError() throws {
        dir = try makeTemporaryDirectory(self)
        let text = (0..<400).map { "사랑은 늘 도망가 \($0) ㅠㅠ" }.joined(separator: "\n")
        (out, _) = try prepare(text, in: dir, options: options(.char, batch: 4, steps: 8, shardBytes: 4 * 9 * 2 * 5))
        // The folder is sound before it is damaged.
        let m = try Manifest.load(directory: out)
        try m.verifyShards(directory: out)
        XCTAssertGreaterThan(m.split(.train)!.shards.count, 2)
    }

    var manifest: Manifest { get throws { try Manifest.load(directory: out) } }
    var firstTrainShard: String { get throws { out + "/" + (try manifest.split(.train)!.shards[0].file) } }

    /// Asserts that `body` throws a CorpusError.corruptFile about `path` whose message mentions `words`.
    func assertCorrupt(_ path: String, _ words: String..., file: StaticString = #filePath, line: UInt = #line,
                       _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            guard case let CorpusError.corruptFile(p, problem) = e else {
                return XCTFail("not a corrupt-file error: \(e)", file: file, line: line)
            }
            XCTAssertEqual(p, path, file: file, line: line)
            for w in words {
                XCTAssert(problem.contains(w), "'\(problem)' should mention '\(w)'", file: file, line: line)
            }
        }
    }

    /// Every way of reading the damaged shard fails: the inspect check and loading its first minibatch.
    func assertShardRejected(_ path: String, _ words: String..., file: StaticString = #filePath,
                             line: UInt = #line) throws {
        let m = try manifest
        assertCorrupt(path, file: file, line: line) { _ = try ShardReader(path: path) }
        assertCorrupt(path, file: file, line: line) { try m.verifyShards(directory: out) }
        let stream = try SplitStream(directory: out, manifest: m, split: .train)
        var x = [Int32](repeating: 0, count: 32), y = x
        assertCorrupt(path, file: file, line: line) { _ = try stream.load(0, inputs: &x, targets: &y) }
        for w in words {
            XCTAssertThrowsError(try ShardReader(path: path), file: file, line: line) { e in
                XCTAssert("\(e)".contains(w), "'\(e)' should mention '\(w)'", file: file, line: line)
            }
        }
    }

    func testFlippedPayloadByte() throws {
        let path = try firstTrainShard
        let size = try readBytes(path).count
        for offset in [64, 65, 64 + (size - 64) / 2, size - 1] {
            try flipByte(path, at: offset)
            try assertShardRejected(path, "payload checksum mismatch")
            try flipByte(path, at: offset)   // restore
        }
        try manifest.verifyShards(directory: out)
    }

    func testFlippedHeaderByteAtEveryPosition() throws {
        let path = try firstTrainShard
        for offset in 0..<ShardFormat.headerSize {
            try flipByte(path, at: offset)
            try assertShardRejected(path)
            try flipByte(path, at: offset)
        }
        try manifest.verifyShards(directory: out)
    }

    func testTruncatedShard() throws {
        let path = try firstTrainShard
        let whole = try readBytes(path)
        for keep in [whole.count - 1, whole.count - 2, 64, 63, 10, 0] {
            try writeFile(path, Array(whole[0..<keep]))
            try assertShardRejected(path)
        }
        try writeFile(path, whole + [0])
        try assertShardRejected(path, "does not match its header")
    }

    func testMissingShard() throws {
        let path = try firstTrainShard
        try FileManager.default.removeItem(atPath: path)
        XCTAssertThrowsError(try manifest.verifyShards(directory: out)) { e in XCTAssert("\(e)".contains(path), "\(e)") }
    }

    func testShardSwappedForAnotherOne() throws {
        // Both files are intact, but the second is not what the manifest lists first.
        let shards = try manifest.split(.train)!.shards
        try FileManager.default.removeItem(atPath: out + "/" + shards[0].file)
        try FileManager.default.copyItem(atPath: out + "/" + shards[1].file, toPath: out + "/" + shards[0].file)
        try assertCorruptOnVerify(out + "/" + shards[0].file, "does not match the manifest")
    }

    func assertCorruptOnVerify(_ path: String, _ words: String...) throws {
        let m = try manifest
        XCTAssertThrowsError(try m.verifyShards(directory: out)) { e in
            guard case let CorpusError.corruptFile(p, problem) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(p, path)
            for w in words { XCTAssert(problem.contains(w), problem) }
        }
    }

    func testManifestVocabChecksumDisagrees() throws {
        try editJSON(out + "/manifest.json") { $0["vocab_checksum"] = "00000000" }
        assertCorrupt(out + "/vocab.json", "checksum") { _ = try Manifest.load(directory: out) }
    }

    func testManifestVocabSizeDisagrees() throws {
        let real = try manifest.vocabSize
        for size in [real - 1, real + 1, real + 500] {
            try editJSON(out + "/manifest.json") { $0["vocab_size"] = size }
            assertCorrupt(out + "/manifest.json", "vocabulary") { _ = try Manifest.load(directory: out) }
        }
    }

    func testManifestGranularityDisagreesWithVocabulary() throws {
        // A manifest that says jamo over a char vocabulary would make every id mean something else.
        try editJSON(out + "/manifest.json") { $0["granularity"] = "jamo" }
        assertCorrupt(out + "/manifest.json", "vocabulary") { _ = try Manifest.load(directory: out) }
    }

    func testCorruptVocabulary() throws {
        let path = out + "/vocab.json"
        let original = try readBytes(path)
        // Changed behind the manifest's back: the checksum catches it.
        try flipByte(path, at: original.count / 2)
        assertCorrupt(path, "checksum") { _ = try Manifest.load(directory: out) }
        // Damaged in ways the vocabulary's own validation must catch, whatever the manifest says.
        let cases: [(String, ([UInt8]) throws -> [UInt8])] = [
            ("malformed JSON", { Array($0[0..<($0.count / 2)]) }),
            ("malformed JSON", { _ in [0x00, 0xFF, 0x13] }),   // not JSON at all
            ("size", { try self.editedVocab($0) { $0["size"] = ($0["size"] as! Int) + 1 } }),
            ("text and scalars disagree", { try self.editedVocab($0) { v in
                var t = v["tokens"] as! [[String: Any]]; t[1]["text"] = "X"; v["tokens"] = t } }),
            ("appears twice", { try self.editedVocab($0) { v in
                var t = v["tokens"] as! [[String: Any]]; t[1]["scalars"] = t[0]["scalars"]; t[1]["text"] = t[0]["text"]; v["tokens"] = t } }),
            ("not a Unicode scalar", { try self.editedVocab($0) { v in
                var t = v["tokens"] as! [[String: Any]]; t[1]["scalars"] = [0xD800]; v["tokens"] = t } }),
            ("ids must be", { try self.editedVocab($0) { v in
                var t = v["tokens"] as! [[String: Any]]; t[1]["id"] = 7; v["tokens"] = t } }),
            ("format", { try self.editedVocab($0) { $0["format"] = "something-else" } }),
        ]
        for (words, damage) in cases {
            let bytes = try damage(original)
            assertCorrupt(path, words) { _ = try Vocabulary.decode(bytes, path: path) }
            // With the manifest's checksum updated to match, loading the folder still fails.
            try writeFile(path, bytes)
            try editJSON(out + "/manifest.json") { $0["vocab_checksum"] = hex32(CRC32.checksum(bytes)) }
            XCTAssertThrowsError(try Manifest.load(directory: out), words) { e in
                guard case CorpusError.corruptFile = e else { return XCTFail("\(words): \(e)") }
            }
        }
    }

    func editedVocab(_ bytes: [UInt8], _ edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
        var obj = try JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
        edit(&obj)
        return Array(try JSONSerialization.data(withJSONObject: obj))
    }

    func testDamagedManifest() throws {
        let path = out + "/manifest.json"
        let original = try readBytes(path)
        try writeFile(path, Array(original[0..<(original.count / 3)]))
        assertCorrupt(path, "cannot read the manifest") { _ = try Manifest.load(directory: out) }
        try writeFile(path, original)
        try editJSON(path) { m in
            var splits = m["splits"] as! [[String: Any]]
            var shards = splits[0]["shards"] as! [[String: Any]]
            shards[1]["first"] = 99
            splits[0]["shards"] = shards
            m["splits"] = splits
        }
        assertCorrupt(path, "does not continue") { _ = try Manifest.load(directory: out) }
        try writeFile(path, original)
        try editJSON(path) { m in
            var splits = m["splits"] as! [[String: Any]]
            var shards = splits[0]["shards"] as! [[String: Any]]
            shards[0]["file"] = "../../etc/passwd"
            splits[0]["shards"] = shards
            m["splits"] = splits
        }
        assertCorrupt(path, "not a plain file name") { _ = try Manifest.load(directory: out) }
        try FileManager.default.removeItem(atPath: path)
        XCTAssertThrowsError(try Manifest.load(directory: out)) { e in XCTAssert("\(e)".contains("not a prepared folder"), "\(e)") }
    }

    func testForceRecognisesOnlyWhatPrepareWrites() {
        for name in ["manifest.json", "vocab.json", "report.json", "train-00000.bin", "val-00012.bin", "test-99999.bin",
                     "manifest.json.tmp-4242", "train-00003.bin.tmp-17"] {
            XCTAssertTrue(PreparedFolder.isPreparedEntry(name), name)
        }
        for name in ["notes.txt", "firmware-2023.bin", "train-½.bin", "train-٣.bin", "train-.bin", "data.tmp-backup",
                     "notes.tmp-12", "manifest.json.tmp-", "report.json.old-3", "prep"] {
            XCTAssertFalse(PreparedFolder.isPreparedEntry(name), name)
        }
        XCTAssertEqual(leftoverBase("char.tmp-123"), "char")
        XCTAssertEqual(leftoverBase("char.old-9"), "char")
        XCTAssertNil(leftoverBase("char.old-9", marks: [".tmp-"]))
        XCTAssertNil(leftoverBase("notes.old-v2.txt"))
        XCTAssertEqual(withoutTrailingSlashes("prep///"), "prep")
        XCTAssertEqual(withoutTrailingSlashes("/"), "/")
        XCTAssertEqual(lexicalPath("/a/b/../c/./d/"), "/a/c/d")
        XCTAssertEqual(lexicalPath("/../x"), "/x")
    }

    func testOutOfRangeIdsAreRefusedByTheLoader() throws {
        // A shard whose checksums were recomputed over ids beyond the vocabulary (a foreign or
        // hand-made shard) still cannot feed an embedding lookup out of range.
        let m = try manifest
        let info = m.split(.train)!
        let sh = info.shards[0]
        let path = out + "/" + sh.file
        let original = try readBytes(path)
        XCTAssertEqual(m.tokenBytes, 2)
        let T = sh.steps, V = m.vocabSize
        // An input (row 0, column 0) and, separately, a target only (row 1, column T: the last of its row).
        for (offset, row, column) in [(64, 0, 0), (64 + ((info.batchSize > 1 ? 1 : 0) * (T + 1) + T) * 2,
                                                   info.batchSize > 1 ? 1 : 0, T)] {
            var b = original
            b[offset] = 0xFF; b[offset + 1] = 0xFF
            var h = try b.withUnsafeBytes { try ShardFormat.Header.decode($0, path: path) }
            h.payloadCRC = CRC32.checksum(Array(b[64...]))
            b.replaceSubrange(0..<64, with: h.encode())
            try writeFile(path, b)
            var edited = m
            edited.splits[0].shards[0].crc32 = hex32(h.payloadCRC)
            try writeFile(out + "/manifest.json", try edited.jsonBytes())
            let stream = try SplitStream(directory: out, manifest: try manifest, split: .train)
            var x = [Int32](repeating: 0, count: info.batchSize * T), y = x
            assertCorrupt(path,
                "byte offset \(offset) (minibatch 0 of this file, row \(row), column \(column)): token id 65535 is "
                + "outside the vocabulary's 0..<\(V)") {
                _ = try stream.load(0, inputs: &x, targets: &y)
            }
        }
    }
}
