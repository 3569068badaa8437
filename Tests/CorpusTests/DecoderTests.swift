// Strict UTF-8 decoding: each class of invalid input is an error naming the line and byte offset,
// read boundaries may fall inside a character, a BOM is dropped, CRLF and CR become LF, and
// replace mode substitutes U+FFFD per maximal invalid subpart (the same as Swift's own decoder).
import Foundation
import XCTest
@testable import Corpus

final class DecoderTests: XCTestCase {
    /// The error that decoding `bytes` in one piece gives, as (line, byte offset, message).
    func decodeError(_ bytes: [UInt8], keepCR: Bool = false, file: StaticString = #filePath,
                     line: UInt = #line) -> (Int, Int, String)? {
        do {
            let p = try TextPipeline(granularity: .char, text: TextOptions(keepCR: keepCR))
            _ = try p.normalize(bytes: bytes, name: "lyrics.txt")
            XCTFail("\(bytes) decoded without an error", file: file, line: line)
        } catch let CorpusError.invalidText(name, l, offset, problem) {
            XCTAssertEqual(name, "lyrics.txt", file: file, line: line)
            let message = CorpusError.invalidText(file: name, line: l, byteOffset: offset, problem: problem).description
            XCTAssert(message.hasPrefix("lyrics.txt: line \(l), byte offset \(offset): "), message, file: file,
                      line: line)
            XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
            return (l, offset, problem)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        return nil
    }

    func assertInvalid(_ bytes: [UInt8], line: Int, offset: Int, mentions words: [String], keepCR: Bool = false,
                       file: StaticString = #filePath, sourceLine: UInt = #line) {
        guard let (l, o, problem) = decodeError(bytes, keepCR: keepCR, file: file, line: sourceLine) else { return }
        XCTAssertEqual(l, line, "line of \(problem)", file: file, line: sourceLine)
        XCTAssertEqual(o, offset, "byte offset of \(problem)", file: file, line: sourceLine)
        for w in words {
            XCTAssert(problem.contains(w), "'\(problem)' should mention '\(w)'", file: file, line: sourceLine)
        }
    }

    func testEachInvalidClassNamesLineAndOffset() {
        let gaNL: [UInt8] = Array("가\n".utf8)                                        // 4 bytes
        assertInvalid(Array("ab\n".utf8) + gaNL + [0xFF, 0x7A], line: 3, offset: 7, mentions: ["0xFF",
                                                                                               "--invalid replace"])
        assertInvalid([0x61, 0x80], line: 1, offset: 1, mentions: ["continuation byte 0x80"])
        assertInvalid(Array("x\n".utf8) + [0xE4, 0xB8, 0x41], line: 2, offset: 2, mentions: ["truncated 3-byte",
                                                                                             "0x41"])
        assertInvalid(Array("x\n".utf8) + [0xF0, 0x9F, 0x98, 0x20], line: 2, offset: 2, mentions: ["truncated 4-byte"])
        assertInvalid([0xC0, 0x80], line: 1, offset: 0, mentions: ["overlong"])
        assertInvalid([0x20, 0xC1, 0xBF], line: 1, offset: 1, mentions: ["overlong"])
        assertInvalid(Array("a\n\n".utf8) + [0xE0, 0x80, 0x80], line: 3, offset: 3, mentions: ["overlong"])
        assertInvalid([0xF0, 0x80, 0x80, 0x80], line: 1, offset: 0, mentions: ["overlong"])
        assertInvalid(Array("ok\n".utf8) + [0xED, 0xA0, 0x80], line: 2, offset: 3, mentions: ["surrogate"])
        assertInvalid([0xED, 0xBF, 0xBF], line: 1, offset: 0, mentions: ["surrogate"])
        assertInvalid([0xF4, 0x90, 0x80, 0x80], line: 1, offset: 0, mentions: ["above U+10FFFF"])
        assertInvalid([0xF5, 0x80, 0x80, 0x80], line: 1, offset: 0, mentions: ["0xF5"])
        // Cut at the end of the file.
        assertInvalid(Array("가".utf8) + [0xEA, 0xB0], line: 1, offset: 3,
                      mentions: ["file ends in the middle of a 3-byte character"])
        assertInvalid(Array("a\nb\n".utf8) + [0xF0, 0x9F], line: 3, offset: 4, mentions: ["file ends", "4-byte"])
        // UTF-16, with and without a byte order mark, and binary files.
        assertInvalid([0xFF, 0xFE, 0x00, 0xAC], line: 1, offset: 0, mentions: ["UTF-16", "iconv"])
        assertInvalid([0xFE, 0xFF, 0xAC, 0x00], line: 1, offset: 0, mentions: ["UTF-16"])
        assertInvalid(Array("a".utf16).flatMap { [UInt8($0), 0] } + [0x62, 0], line: 1, offset: 1,
                      mentions: ["NUL byte", "UTF-16"])
        assertInvalid(Array("text\n".utf8) + [0, 0, 0x13, 0x37], line: 2, offset: 5, mentions: ["NUL byte", "binary"])
    }

    func testLinesCountCRLFAndCROnceAndOffsetsCountTheBOM() {
        assertInvalid(Array("a\r\nb\r\nc".utf8) + [0xFF], line: 3, offset: 7, mentions: [])
        assertInvalid(Array("a\rb\r".utf8) + [0xFF], line: 3, offset: 4, mentions: [])
        assertInvalid(Array("a\n\r\n\rb".utf8) + [0xFF], line: 4, offset: 6, mentions: [])
        // With --keep-cr a lone CR is not a line end.
        assertInvalid(Array("a\rb\r".utf8) + [0xFF], line: 1, offset: 4, mentions: [], keepCR: true)
        // The offset is the file's: a dropped BOM still counts.
        assertInvalid([0xEF, 0xBB, 0xBF, 0x61, 0x62, 0xFF], line: 1, offset: 5, mentions: [])
    }

    func testBOMAndLineEnds() throws {
        let p = try TextPipeline(granularity: .char, text: TextOptions(normalization: .none))
        XCTAssertEqual(try p.normalize(bytes: [0xEF, 0xBB, 0xBF] + Array("가\r\n나\r다\n\r\n".utf8), name: "x"),
                       Array("가\n나\n다\n\n".utf16))
        // Only a leading BOM is dropped; U+FEFF elsewhere is text.
        XCTAssertEqual(try p.normalize(bytes: Array("a\u{FEFF}".utf8), name: "x"), [0x61, 0xFEFF])
        XCTAssertEqual(try p.normalize(bytes: [0xEF, 0xBB, 0xBF], name: "x"), [])
        // Two bytes of a BOM are a truncated character, not a BOM.
        assertInvalid([0xEF, 0xBB], line: 1, offset: 0, mentions: ["file ends"])
    }

    /// Decodes `bytes` fed in pieces cut at `cuts`, the way the file reader does: unconsumed bytes
    /// are passed again in front of the next read.
    func decodeInPieces(_ bytes: [UInt8], cuts: [Int], keepCR: Bool = false,
                        replace: Bool = false) throws -> ([UInt16], Int) {
        var d = UTF8StreamDecoder(file: "f", keepCR: keepCR, replace: replace)
        var out: [UInt16] = []
        var carried: [UInt8] = []
        let bounds = [0] + cuts + [bytes.count]
        for i in 0..<(bounds.count - 1) {
            let chunk = carried + bytes[bounds[i]..<bounds[i + 1]]
            let final = i == bounds.count - 2
            let used = try chunk.withUnsafeBufferPointer { p -> Int in
                guard let base = p.baseAddress, p.count > 0 else { return 0 }
                return try d.decode(base, p.count, final: final, into: &out)
            }
            carried = Array(chunk[used...])
        }
        XCTAssert(carried.isEmpty, "bytes left after the final piece")
        return (out, d.replacements)
    }

    func testReadBoundaryAnywhereInsideACharacter() throws {
        let bytes = [0xEF, 0xBB, 0xBF] + Array("가나\r\n👨‍👩‍👧 é\rö\u{10FFFF}끝".utf8)
        let (whole, _) = try decodeInPieces(bytes, cuts: [])
        XCTAssertEqual(whole, Array("가나\n👨‍👩‍👧 é\nö\u{10FFFF}끝".utf16))
        for cut in 0...bytes.count {
            XCTAssertEqual(try decodeInPieces(bytes, cuts: [cut]).0, whole, "cut at \(cut)")
        }
        for a in 0...bytes.count { for b in a...bytes.count {
            XCTAssertEqual(try decodeInPieces(bytes, cuts: [a, b]).0, whole, "cuts at \(a), \(b)")
        } }
        // One byte at a time.
        XCTAssertEqual(try decodeInPieces(bytes, cuts: Array(1..<bytes.count)).0, whole)
        // Errors are reported at the same place wherever the reads fall.
        let bad = Array("가\n나".utf8) + [0xE4, 0xB8] + Array("\n".utf8)
        for cut in 0...bad.count {
            XCTAssertThrowsError(try decodeInPieces(bad, cuts: [cut])) { e in
                XCTAssertEqual(e as? CorpusError, .invalidText(file: "f", line: 2, byteOffset: 7,
                    problem: "invalid UTF-8: truncated 3-byte character (byte 0x0A is not a continuation) (use "
                        + "--invalid replace to substitute U+FFFD)"),
                    "cut at \(cut)")
            }
        }
    }

    /// Replace mode agrees with Swift's decoder (maximal subparts, Unicode 3.9) on random bytes, and
    /// strict mode throws exactly when Swift finds the bytes invalid; both whatever the read boundaries.
    func testRandomBytesAgainstSwiftsDecoder() throws {
        var rng = SeededGenerator(seed: 0xB17E5)
        let interesting: [UInt8] = [0x41, 0x0A, 0x80, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xEA, 0xB0, 0xED, 0xEF,
                                    0xF0, 0xF4, 0xF5, 0xFF, 0x8F, 0x90]
        for case_ in 0..<2000 {
            let n = Int.random(in: 1...12, using: &rng)
            var bytes = (0..<n).map { _ in Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 1...255, using: &rng) }
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE,
                0xFF]) {
                bytes.insert(0x41, at: 0)   // BOM handling is tested on its own
            }
            let swift = Array(String(decoding: bytes, as: UTF8.self).utf16)
            let cut = Int.random(in: 0...n, using: &rng)
            let (replaced, count) = try decodeInPieces(bytes, cuts: [cut], keepCR: true, replace: true)
            XCTAssertEqual(replaced, swift, "case \(case_): \(bytes), cut \(cut)")
            XCTAssertEqual(count, swift.filter { $0 == 0xFFFD }.count, "case \(case_): \(bytes)")
            let valid = String(validating: bytes, as: UTF8.self) != nil
            do {
                let (strict, _) = try decodeInPieces(bytes, cuts: [cut], keepCR: true)
                XCTAssert(valid, "case \(case_): \(bytes) should have been refused")
                XCTAssertEqual(strict, swift)
            } catch CorpusError.invalidText(_, _, let offset, _) {
                XCTAssertFalse(valid, "case \(case_): \(bytes) is valid UTF-8")
                // The offset is where Swift's decoder also stops being able to decode.
                XCTAssertNotNil(String(validating: bytes[0..<offset], as: UTF8.self),
                                "case \(case_): \(bytes) at \(offset)")
            }
        }
    }

    func testFileReadsAcrossTheReaderBlockAndReplacementCounts() throws {
        let dir = try makeTemporaryDirectory(self)
        // The file reader reads 1 MiB at a time: put a syllable and an emoji across that boundary.
        let block = 1 << 20
        for shift in 1...3 {
            var bytes = [UInt8]()
            while bytes.count < block - shift - 40 { bytes += Array("0123456789 abcdefghijklmnopqrstuvwxyz\n".utf8) }
            bytes += [UInt8](repeating: 0x61, count: block - shift - bytes.count)
            bytes += Array("가😀\n".utf8)
            let (out, r) = try prepare(bytes, in: dir, name: "straddle\(shift)", options: options())
            let v = try Vocabulary.load(path: out + "/vocab.json")
            XCTAssertNotNil(v.id(single: 0xAC00), "가 across the read boundary (shift \(shift))")
            XCTAssertNotNil(v.id(single: 0x1F600))
            XCTAssertNil(v.id(single: 0xFFFD))
            XCTAssertEqual(r.text.replacements, 0)
            XCTAssertEqual(r.characters, String(decoding: bytes, as: UTF8.self).unicodeScalars.count)
        }
        // An error past the first block still names the file's byte offset and line.
        var bytes = [UInt8]()
        var lines = 0
        while bytes.count < block + 100 { bytes += Array("ten bytes\n".utf8); lines += 1 }
        let badAt = bytes.count + 2
        bytes += [0x61, 0x62, 0xC3, 0x28]
        XCTAssertThrowsError(try prepare(bytes, in: dir, name: "late", options: options())) { e in
            XCTAssertEqual((e as? CorpusError).map { "\($0)" }?.contains(": line \(lines + 1), byte offset \(badAt): "
                                                                         + ""), true, "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/late"), "nothing is written on error")
        // --invalid replace: one U+FFFD per maximal invalid subpart, counted in the report.
        var o = options()
        o.text.invalid = .replace
        let input: [UInt8] = Array("a".utf8) + [0xFF] + Array("b".utf8) + [0xE4, 0xB8] + Array("c".utf8) + [0xED, 0xA0,
                                                                                                            0x80]
            + Array("d\nmore text\n".utf8)
        let (_, r) = try prepare(input, in: dir, name: "replace", options: o)
        XCTAssertEqual(r.text.replacements, 5)
        XCTAssert(r.notes.contains { $0.contains("5 invalid UTF-8 sequences were replaced") }, "\(r.notes)")
        let p = try TextPipeline(granularity: .char, text: TextOptions(invalid: .replace))
        XCTAssertEqual(try p.normalize(bytes: input, name: "x"),
                       Array("a\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}\u{FFFD}d\nmore text\n".utf16))
    }
    func testSeveralFilesEachDropTheirBOMAndEndALine() throws {
        let dir = try makeTemporaryDirectory(self)
        try writeFile(dir + "/1.txt", [0xEF, 0xBB, 0xBF] + Array("첫 줄\r\n끝 없음".utf8))
        try writeFile(dir + "/2.txt", [0xEF, 0xBB, 0xBF] + Array("둘\r".utf8))
        let p = try Preparer(options: options(.char, batch: 1, steps: 4, split: [1, 0, 0]), inputs: [dir + "/1.txt",
                                                                                                     dir + "/2.txt"])
        p.showProgress = false
        let r = try p.run(output: dir + "/prep", force: false)
        XCTAssertEqual(try singleRowText(dir + "/prep", .train), "첫 줄\n끝 없음\n둘\n")
        XCTAssertEqual(r.text.files, 2)
        XCTAssertEqual(r.inputBytes, 3 + 19 + 3 + 4)
    }
}
