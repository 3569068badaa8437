import XCTest
@testable import Storage

final class StorageTests: XCTestCase {
    func testCRC32MatchesZlibGoldenValues() {
        // zlib.crc32(b"123456789") == 0xCBF43926 (the standard check value); b"" -> 0.
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        // python3 -c 'import zlib; print(hex(zlib.crc32("가사 lyrics 🎵".encode())))'
        XCTAssertEqual(CRC32.checksum(Array("가사 lyrics 🎵".utf8)), 0x801B_754B)
    }

    func testCRC32IncrementalEqualsWhole() {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<1037).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC32.checksum(bytes)
        for cut in [0, 1, 7, 8, 9, 500, 1036, 1037] {
            var c = CRC32()
            bytes[0..<cut].withUnsafeBytes { c.update($0) }
            bytes[cut...].withUnsafeBytes { c.update($0) }
            XCTAssertEqual(c.value, whole, "cut at \(cut)")
        }
    }

    func testCRC32CombineEqualsWhole() {
        // Shards are checksummed in pieces on several threads and combined.
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<2053).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC32.checksum(bytes)
        for cut in [0, 1, 8, 1000, 2052, 2053] {
            let a = CRC32.checksum(Array(bytes[0..<cut])), b = CRC32.checksum(Array(bytes[cut...]))
            XCTAssertEqual(CRC32.combine(a, b, lengthOfB: bytes.count - cut), whole, "cut at \(cut)")
        }
    }

    func testAtomicFilePositionalWrites() throws {
        // Pieces written at their offsets, in any order, make the file.
        let dir = NSTemporaryDirectory() + "gasa-storage-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = try AtomicFile(path: dir + "/out.bin")
        let bytes = (0..<100).map { UInt8($0) }
        for range in [60..<100, 0..<10, 10..<60] {
            try bytes[range].withUnsafeBytes { try f.write($0, at: range.lowerBound) }
        }
        try f.commit()
        XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/out.bin"))), bytes)
    }

    func testAtomicFileReplacesOnlyOnCommit() throws {
        let dir = NSTemporaryDirectory() + "gasa-storage-\(UUID().uuidString)"
        try makeDirectories(dir + "/a/b")
        let path = dir + "/a/b/f.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        do {
            let f = try AtomicFile(path: path)
            try f.write([9, 9, 9, 9])
            // dropped without commit: the old content stays and no temp file is left behind
        }
        XCTAssertEqual(try readFileBytes(path), [1, 2, 3])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/a/b"), ["f.bin"])
        let m = try MappedFile(path: path)
        var r = ByteReader(m.bytes)
        XCTAssertThrowsError(try r.u32())
        XCTAssertEqual(Array(try r.take(3)), [1, 2, 3])
    }
}
