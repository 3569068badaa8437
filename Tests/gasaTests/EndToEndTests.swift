// The whole journey through the real binary, as a user runs it: prepare -> train -> resume -> sample
// -> compare, on the shipped constitution. Small sizes keep it to seconds.
import Foundation
import XCTest

final class EndToEndTests: BinaryTestCase {
    func bytes(_ path: String) -> Data { FileManager.default.contents(atPath: dir + "/" + path) ?? Data() }

    func testPrepareTrainResumeSampleCompare() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("data/constitution_ko/constitution_ko.txt").path
        var r = try gasa("prepare", corpus, "--out", "prep", "--batch-size", "8", "--seq-length", "32")
        XCTAssertEqual(r.status, 0, r.stderr)

        let model = ["--layers", "2", "--rnn-size", "24", "--dropout", "0.2", "--threads", "2", "--eval-every", "10",
                     "--quiet"]
        r = try run(["train", "prep", "--out", "whole", "--max-iters", "30"] + model)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("steady-state:"), r.stdout)
        // The same run cut in two: 12 iterations, then resumed to 30 (two threads, data parallel).
        r = try run(["train", "prep", "--out", "split", "--max-iters", "12"] + model)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try gasa("train", "--resume", "split", "--max-iters", "30", "--threads", "2", "--quiet")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(bytes("whole/latest/model.safetensors").isEmpty)
        XCTAssertEqual(bytes("whole/latest/model.safetensors"), bytes("split/latest/model.safetensors"),
                       "resume is bit-exact")
        XCTAssertEqual(bytes("whole/latest/optimizer.safetensors"), bytes("split/latest/optimizer.safetensors"))
        XCTAssertEqual(bytes("whole/metrics.jsonl").count > 0, true)

        // An existing run folder is never overwritten silently.
        r = try run(["train", "prep", "--out", "whole", "--max-iters", "5"] + model)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--force") || r.stderr.contains("--resume"), r.stderr)

        // Sampling: the prime, then exactly --length characters; the same seed gives the same bytes.
        r = try gasa("sample", "whole", "--prime", "대한민국은 ", "--length", "60", "--seed", "3", "--temperature", "0.8")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("대한민국은 "))
        XCTAssertEqual(r.stdout.count, "대한민국은 ".count + 60 + 1, "prime + 60 characters + final newline: \(r.stdout)")
        let again = try gasa("sample", "whole", "--prime", "대한민국은 ", "--length", "60", "--seed", "3", "--temperature",
                             "0.8")
        XCTAssertEqual(Array(again.stdout.utf8), Array(r.stdout.utf8))
        let stats = try gasa("sample", "whole/best", "--length", "40", "--seed", "1", "--stats")
        XCTAssertEqual(stats.status, 0, stats.stderr)
        XCTAssertTrue(stats.stderr.contains("tokens/s") && stats.stderr.contains("novelty"), stats.stderr)

        // Unknown prime characters: one clear line, a hint, nothing on stdout.
        r = try gasa("sample", "whole", "--prime", "😀 사랑")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("'😀'") && r.stderr.contains("--unknown skip"), r.stderr)
        XCTAssertEqual(r.stdout, "")

        r = try gasa("compare", "whole", "split", "--svg", "cmp.svg", "--length", "20")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("best val bits/char"), r.stdout)
        XCTAssertTrue(r.stdout.contains("model") && r.stdout.contains("lstm "), "the cell is shown: \(r.stdout)")
        XCTAssertTrue(String(decoding: bytes("cmp.svg"), as: UTF8.self).hasPrefix("<svg"))
        r = try gasa("compare", "whole", "--svg", "cmp.svg")
        XCTAssertNotEqual(r.status, 0, "an existing SVG is not overwritten without --force")
    }
}
