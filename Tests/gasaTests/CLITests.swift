// The gasa command line, one behaviour a test: the built binary run as a user would run it
// (BinaryTestCase), its exit status, output and files checked.
import Common
import Corpus
import Foundation
import Compute
import XCTest

final class CLITests: BinaryTestCase {
    func testPrepareWritesAPreparedFolder() throws {
        let text = try writeCorpus()
        let r = try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "10")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("Prepared prep (char, nfc)"), r.stdout)
        let files = try entries(dir + "/prep")
        for f in ["manifest.json", "vocab.json", "report.json", "train-00000.bin", "val-00000.bin", "test-00000.bin"] {
            XCTAssert(files.contains(f), "\(f) missing from \(files)")
        }
        XCTAssertFalse(files.contains { $0.contains(".tmp") }, "scratch files left: \(files)")
        let m = try Manifest.load(directory: dir + "/prep")
        try m.verifyShards(directory: dir + "/prep")
        XCTAssertEqual([m.granularity.rawValue, m.normalization.rawValue], ["char", "nfc"])
        XCTAssertEqual(m.batchSize, 4)
        XCTAssertEqual(m.seqLength, 10)
        let report = try gasaJSONDecoder().decode(PrepareReport.self,
            from: Data(contentsOf: URL(fileURLWithPath: dir + "/prep/report.json")))
        XCTAssertEqual(report.characters, text.unicodeScalars.count)
        XCTAssertEqual(report.vocabSize, m.vocabSize)
        XCTAssertEqual(try Vocabulary.load(path: dir + "/prep/vocab.json").count, m.vocabSize)
        // --quiet prints nothing; several granularities go to subfolders.
        let q = try gasa("prepare", "corpus.txt", "--out", "multi", "--granularity", "char,jamo", "--quiet")
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertEqual(q.stdout, "")
        XCTAssertEqual(try entries(dir + "/multi"), ["char", "jamo"])
        XCTAssertEqual(try Manifest.load(directory: dir + "/multi/jamo").granularity, .jamo)
    }

    func testVersionAndThreads() throws {
        let v = try gasa("--version")
        XCTAssertEqual(v.status, 0)
        XCTAssertEqual(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
        _ = try writeCorpus(lines: 8000)   // about 160,000 UTF-16 units: more than one parallel job
        let bad = try gasa("prepare", "corpus.txt", "--out", "prep", "--threads", "-1")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.stderr.contains("--threads"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/prep"))
        let one = try gasa("prepare", "corpus.txt", "--out", "one", "--threads", "1", "-q")
        let two = try gasa("prepare", "corpus.txt", "--out", "two", "--threads", "2", "-q")
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(two.status, 0, two.stderr)
        for f in try entries(dir + "/one") where f != "report.json" {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/one/" + f)),
                           try Data(contentsOf: URL(fileURLWithPath: dir + "/two/" + f)), f)
        }
    }

    /// A prepared folder `prep` (B 4, T 8) of the small corpus and a run `run` of an 8-unit model, 3 iterations.
    func tinyRun() throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        XCTAssertEqual(try run(["train", "prep", "--out", "run", "--rnn-size", "8", "--max-iters", "3",
                                "--quiet"]).status, 0)
    }

    func testSampleReadsFilesWithInvalidPolicyAndExitsQuietlyOnAClosedPipe() throws {
        try tinyRun()
        try Data([0xEC, 0x82, 0xAC, 0xFF,
                  0x0A]).write(to: URL(fileURLWithPath: dir + "/prime.txt"))   // 사, then a stray byte
        let strict = try gasa("sample", "run", "--prime-file", "prime.txt", "--length", "5", "--seed", "1")
        XCTAssertEqual(strict.status, 1)
        XCTAssert(strict.stderr.contains("prime.txt: line 1, byte offset 3")
                  && strict.stderr.contains("--invalid replace"), strict.stderr)
        XCTAssertEqual(strict.stdout, "", "nothing printed before the error")
        let lenient = try gasa("sample", "run", "--prime-file", "prime.txt", "--invalid", "replace", "--unknown",
                               "skip", "--length", "5", "--seed", "1")
        XCTAssertEqual(lenient.status, 0, lenient.stderr)
        XCTAssert(lenient.stdout.hasPrefix("사\n"), lenient.stdout)
        // A reader that went away: a quiet exit with 141, no trap and no message.
        let pipe = Pipe(), errors = dir + "/sample.err"
        try pipe.fileHandleForReading.close()
        let p = try launch(["sample", "run", "--length", "100000", "--seed", "2"], stdout: pipe, stderr: errors)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 141)
        XCTAssertEqual(try String(contentsOfFile: errors, encoding: .utf8), "")
    }

    func testVocabularyOfOnlyUnkIsRefused() throws {
        try writeCorpus()
        let one = try gasa("prepare", "corpus.txt", "--out", "p1", "--max-vocab", "1")
        XCTAssertEqual(one.status, 64)
        XCTAssert(one.stderr.contains("--max-vocab must be 0 (no limit) or at least 2"), one.stderr)
        let rare = try gasa("prepare", "corpus.txt", "--out", "p2", "--min-count", "100000")
        XCTAssertEqual(rare.status, 1)
        XCTAssert(rare.stderr.contains("every token would become <unk>"), rare.stderr)
        XCTAssertEqual(try entries(dir), ["corpus.txt"], "nothing written")
    }

    func testOutputThatCannotBeWrittenIsAnErrorNotATrap() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full here") }
        let full = try run(["normalize"], stdin: Array("사랑은 늘 도망가\n".utf8), stdoutTo: "/dev/full")
        XCTAssertEqual(full.status, 1)
        XCTAssert(full.stderr.contains("cannot write to standard output"), full.stderr)
        // Messages and progress are best effort: a training whose stderr is full still finishes.
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        let train = try run(["train", "prep", "--out", "run", "--rnn-size", "8", "--max-iters", "3", "--print-every",
                             "1"],
                            stderrTo: "/dev/full")
        XCTAssertEqual(train.status, 0)
        XCTAssert(train.stdout.contains("stopped at iteration 3"), train.stdout)
    }

    func testBadUTF8IsAOneLineErrorAndWritesNothing() throws {
        // The invalid byte 0xC3 0x28 (a lead byte without its continuation) is the third byte of line 2.
        let first = Array("사랑은 ㅠㅠ\n".utf8)
        let bytes = first + Array("ab".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/bad.txt"))
        let r = try gasa("prepare", "bad.txt", "--out", "prep")
        XCTAssertNotEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssert(r.stderr.contains("bad.txt: line 2, byte offset \(first.count + 2): invalid UTF-8"), r.stderr)
        XCTAssertEqual(try entries(dir), ["bad.txt"], "nothing is written")
        // The same from standard input is named <stdin>.
        let s = try run(["prepare", "-", "--out", "prep"], stdin: bytes)
        XCTAssertNotEqual(s.status, 0)
        XCTAssert(s.stderr.contains("<stdin>: line 2, byte offset \(first.count + 2)"), s.stderr)
        XCTAssertEqual(try entries(dir), ["bad.txt"])
        // Several granularities: still nothing written.
        let m = try gasa("prepare", "bad.txt", "--out", "prep", "--granularity", "char,jamo")
        XCTAssertNotEqual(m.status, 0)
        XCTAssert(m.stderr.contains("bad.txt: line 2, byte offset \(first.count + 2)"), m.stderr)
        XCTAssertEqual(try entries(dir), ["bad.txt"])
        // And from tokenize; --invalid replace goes on.
        let t = try run(["tokenize"], stdin: bytes)
        XCTAssertNotEqual(t.status, 0)
        XCTAssert(t.stderr.contains("<stdin>: line 2, byte offset \(first.count + 2)"), t.stderr)
        let t2 = try run(["tokenize", "--invalid", "replace"], stdin: bytes)
        XCTAssertEqual(t2.status, 0, t2.stderr)
        XCTAssert(t2.stdout.hasSuffix("a b \u{FFFD} ( \\n\n"), t2.stdout)
    }

    func testRefusedCombinationWritesNothing() throws {
        try writeCorpus()
        // char would be fine with --normalization none, jamo is not: refused before char is written.
        let r = try gasa("prepare", "corpus.txt", "--out", "prep", "--granularity", "char,jamo", "--normalization",
                         "none")
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("--granularity jamo needs normalisation"), r.stderr)
        XCTAssertEqual(try entries(dir), ["corpus.txt"])
        let one = try gasa("prepare", "corpus.txt", "--out", "prep", "--granularity", "coda", "--normalization", "none")
        XCTAssertNotEqual(one.status, 0)
        XCTAssertEqual(try entries(dir), ["corpus.txt"])
    }

    func testTokenizeJamo() throws {
        let r = try gasa("tokenize", "--granularity", "jamo", stdin: "사랑은 ㅠㅠ\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        // Syllables become conjoining jamo; compatibility jamo ㅠ stay as they are under NFC.
        XCTAssertEqual(r.stdout.unicodeScalars.map(\.value),
                       ("\u{1109} \u{1161} \u{1105} \u{1161} \u{11BC} \u{110B} \u{1173} \u{11AB} ␣ \u{3160} \u{3160} "
                           + "\\n\n").unicodeScalars.map(\.value))
        let c = try gasa("tokenize", "--granularity", "coda", stdin: "사랑은\n")
        XCTAssertEqual(c.stdout.unicodeScalars.map(\.value),
                       "사 라 \u{11BC} 으 \u{11AB} \\n\n".unicodeScalars.map(\.value))
        let n = try gasa("normalize", "--normalization", "nfkc", stdin: "ㄱㅏ ㅋㅋ\r\n")
        XCTAssertEqual(n.stdout.unicodeScalars.map(\.value), [0xAC00, 0x20, 0x110F, 0x110F, 0x0A])
        let refused = try gasa("tokenize", "--granularity", "jamo", "--normalization", "none", stdin: "가\n")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.stderr.contains("--normalization nfc"), refused.stderr)
    }

    func testIdsRoundTripThroughDetokenize() throws {
        for g in ["char", "jamo", "coda", "grapheme", "word"] {
            let text = "사랑은 늘 도망가 ㅠㅠ 👍🏽 e\u{0301}\n\u{1100}\u{1161}\u{11A8} 愛！\n"
            let corpus = String(repeating: text, count: 20)
            try Data(corpus.utf8).write(to: URL(fileURLWithPath: dir + "/c-\(g).txt"))
            let p = try gasa("prepare", "c-\(g).txt", "--out", "p-\(g)", "--granularity", g, "--quiet", "--batch-size",
                             "2")
            XCTAssertEqual(p.status, 0, p.stderr)
            let ids = try gasa("tokenize", "--ids", "--vocab", "p-\(g)/vocab.json", stdin: text)
            XCTAssertEqual(ids.status, 0, ids.stderr)
            XCTAssertEqual(ids.stdout.split(separator: "\n").count, 2, "one output line per input line")
            XCTAssert(ids.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).allSatisfy { Int($0) != nil },
                      ids.stdout)
            let back = try gasa("detokenize", "--vocab", "p-\(g)/vocab.json", stdin: ids.stdout)
            XCTAssertEqual(back.status, 0, back.stderr)
            let normalized = try TextPipeline(granularity: .char).normalize(text)
            XCTAssertEqual(back.stdout.unicodeScalars.map(\.value), normalized.unicodeScalars.map(\.value), g)
        }
        // A character the vocabulary never saw, with no <unk> to stand for it.
        let unknown = try gasa("tokenize", "--ids", "--vocab", "p-char/vocab.json", stdin: "사랑 X\n")
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssert(unknown.stderr.contains("no id for: 'X'"), unknown.stderr)
        let badID = try gasa("detokenize", "--vocab", "p-char/vocab.json", stdin: "1 2 99999\n")
        XCTAssertNotEqual(badID.status, 0)
        XCTAssert(badID.stderr.contains("word 3 ('99999') is not an id"), badID.stderr)
    }

    func testInspectVerifiesAndCatchesACorruptShard() throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--quiet", "--batch-size", "4").status, 0)
        let good = try gasa("inspect", "prep")
        XCTAssertEqual(good.status, 0, good.stderr)
        let shards = try Manifest.load(directory: dir + "/prep").splits.reduce(0) { $0 + $1.shards.count }
        XCTAssert(good.stdout.contains("verified \(shards) shard(s)"), good.stdout)
        XCTAssert(good.stdout.contains("ids within the vocabulary"), good.stdout)
        XCTAssert(good.stdout.contains("char, nfc"), good.stdout)
        // One flipped byte in the middle of the val shard's payload.
        let path = dir + "/prep/val-00000.bin"
        var b = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        b[64 + (b.count - 64) / 2] ^= 0x01
        try Data(b).write(to: URL(fileURLWithPath: path))
        let bad = try gasa("inspect", "prep")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.stderr.contains("val-00000.bin: payload checksum mismatch"), bad.stderr)
        // A vocabulary changed behind the manifest's back.
        b[64 + (b.count - 64) / 2] ^= 0x01
        try Data(b).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try gasa("inspect", "prep").status, 0)
        let vocab = dir + "/prep/vocab.json"
        try (try String(contentsOfFile: vocab, encoding: .utf8) + " ").write(toFile: vocab, atomically: true,
                                                                             encoding: .utf8)
        let v = try gasa("inspect", "prep")
        XCTAssertNotEqual(v.status, 0)
        XCTAssert(v.stderr.contains("vocab.json: checksum does not match the manifest"), v.stderr)
        let missing = try gasa("inspect", "nowhere")
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("not a prepared folder"), missing.stderr)
    }

    func testDirectoryInputsAreWalkedInPathOrderWithoutHiddenFiles() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/songs/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/songs/.git", withIntermediateDirectories: true)
        for (name, text) in [("b.txt", "둘째 노래\n"), ("a.txt", "첫 노래\n"), ("sub/c.txt", "셋째\n"),
                             (".hidden.txt", "Z\n"), (".git/config", "Q\n")] {
            try Data(String(repeating: text, count: 30).utf8).write(to: URL(fileURLWithPath: dir + "/songs/" + name))
        }
        let r = try gasa("prepare", "songs", "--out", "prep", "--quiet", "--split", "1,0,0")
        XCTAssertEqual(r.status, 0, r.stderr)
        let m = try Manifest.load(directory: dir + "/prep")
        XCTAssertEqual(m.inputs, ["songs/a.txt", "songs/b.txt", "songs/sub/c.txt"])
        let v = try Vocabulary.load(path: dir + "/prep/vocab.json")
        XCTAssertNil(v.id(single: 0x5A), "hidden files are skipped")
        XCTAssertNil(v.id(single: 0x51), "hidden folders are skipped")
        try fm.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        let e = try gasa("prepare", "empty", "--out", "prep2")
        XCTAssertNotEqual(e.status, 0)
        XCTAssert(e.stderr.contains("empty: the directory holds no files"), e.stderr)
        let missing = try gasa("prepare", "nothing.txt", "--out", "prep3")
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("nothing.txt: no such file or directory"), missing.stderr)
    }
}

/// What `gasa bench` and `gasa train` say about the kernels that run.
extension CLITests {
    func testBenchNamesTheKernelsAndTimesEachProduct() throws {
        let r = try gasa("bench", "--layers", "1", "--rnn-size", "16", "--vocab", "40", "--batch-size", "4",
                         "--seq-length", "5", "--threads", "2", "--products")
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("kernels: oneDNN ") ?? false, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("products of one training step, 1 x 16, batch 4 in 2 parts of 2 rows") }, r.stdout)
        for name in ["per-step forward h W_hh^T", "per-step backward dG W_hh", "input product X W_ih^T",
                     "weight gradient dG^T X", "input gradient dG W_ih", "head logits", "head weight gradient",
                     "head input gradient", "sampling step (batch 1)"] {
            let row = try XCTUnwrap(lines.first { $0.hasPrefix(name) }, "no row for \(name)")
            let rate = try XCTUnwrap(Double(row.split(separator: " ").last.map(String.init) ?? ""), row)
            XCTAssertGreaterThan(rate, 0, row)
        }
        // The per-step forward of 2 rows reads W_hh^T (16 x 64).
        XCTAssertTrue(lines.contains { $0.hasPrefix("per-step forward h W_hh^T") && $0.contains("2 x 64 x 16") },
                      r.stdout)
    }

    func testTrainSaysWhichKernelsRunAndWarnsWhenCapped() throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        let r = try run(["train", "prep", "--out", "run", "--layers", "1", "--rnn-size", "8", "--max-iters", "2",
                         "--threads", "1"],
                        environment: ["ONEDNN_MAX_CPU_ISA": "SSE41"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("kernels: oneDNN "), r.stderr)
        XCTAssertTrue(r.stderr.contains("sse41; elementwise sse2; 1 thread, inside each product"), r.stderr)
        if KernelInfo.cpu.vectorBits > 128 {
            XCTAssertTrue(r.stderr.contains("ONEDNN_MAX_CPU_ISA=SSE41 limits them; unset it for the full speed"),
                          r.stderr)
        }
    }

    /// --precision bf16 trains where the CPU has native bfloat16 products and says so; where it has not
    /// (here forced with ONEDNN_MAX_CPU_ISA=AVX2) it is refused before anything is written, with what to do.
    func testBF16PrecisionRunsOrIsRefusedWithWhatToDo() throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        let args = ["train", "prep", "--layers", "1", "--rnn-size", "8", "--max-iters", "2", "--threads", "1",
                    "--precision", "bf16"]
        let capped = try run(args + ["--out", "capped"], environment: ["ONEDNN_MAX_CPU_ISA": "AVX2"])
        XCTAssertNotEqual(capped.status, 0)
        XCTAssertTrue(capped.stderr.contains("--precision bf16 needs a CPU with AVX512_BF16"), capped.stderr)
        XCTAssertTrue(capped.stderr.contains("use --precision f32"), capped.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/capped"))
        if Kernels.bf16Supported {
            let r = try run(args + ["--out", "run"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("; bf16 products; 1 thread"), r.stderr)
            let state = try String(contentsOfFile: dir + "/run/latest/state.json", encoding: .utf8)
            XCTAssertTrue(state.contains("\"precision\" : \"bf16\"") || state.contains("\"precision\":\"bf16\""),
                          state)
        }
    }

    func testTheRecipeSetsWhatItsHelpSaysAndGivenFlagsOverrideIt() throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        func regularization(_ extra: [String], out: String) throws -> (dropout: Double, r: [String: Any]) {
            let r = try run(["train", "prep", "--out", out, "--layers", "1", "--rnn-size", "8", "--max-iters", "2",
                             "--threads", "1", "-q", "--regularize", "awd"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
                dir + "/" + out + "/latest/meta.json"))) as! [String: Any]
            let model = meta["model"] as! [String: Any]
            return (model["dropout"] as! Double, model["regularization"] as! [String: Any])
        }
        let plain = try regularization([], out: "awd")
        XCTAssertEqual(plain.dropout, 0.25, accuracy: 1e-6)
        XCTAssertEqual(plain.r["weight_drop"] as! Double, 0, accuracy: 0)
        XCTAssertEqual(plain.r["locked_dropout"] as? Bool, true)
        XCTAssertEqual(plain.r["embedding_dropout"] as! Double, 0, accuracy: 0)
        XCTAssertEqual(plain.r["tie_weights"] as? Bool, false)
        let help = try gasa("train", "--help")
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")   // help is wrapped
        XCTAssertTrue(words.contains("--regularize awd sets --locked-dropout, and --dropout 0.25 unless --dropout is "
                                     + "given"), help.stdout)
        let given = try regularization(["--dropout", "0.1", "--weight-drop", "0.5"], out: "own")
        XCTAssertEqual(given.dropout, 0.1, accuracy: 1e-6)
        XCTAssertEqual(given.r["weight_drop"] as! Double, 0.5, accuracy: 1e-6)
        XCTAssertEqual(given.r["locked_dropout"] as? Bool, true)
    }
}

extension CLITests {
    /// SIGINT and SIGTERM as a running gasa sees them: whether any handler is installed for them, and how
    /// many of its threads have them unblocked (the signal thread alone, while it waits in sigwait).
    func signalDisposition(_ pid: Int32) throws -> (caught: Bool, unblockedThreads: Int) {
        func mask(_ status: String, _ field: String) throws -> UInt64 {
            let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix(field + ":") })
            return try XCTUnwrap(UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces),
                                        radix: 16))
        }
        let bits: UInt64 = 1 << (UInt64(SIGINT) - 1) | 1 << (UInt64(SIGTERM) - 1)
        let caught = try mask(String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8), "SigCgt") & bits != 0
        var unblocked = 0
        for t in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
            guard let st = try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/status", encoding: .utf8) else {
                continue   // a thread that just ended
            }
            if try mask(st, "SigBlk") & bits != bits { unblocked += 1 }
        }
        return (caught, unblocked)
    }

    func testCtrlCStopsATwoThreadTrainingBetweenStepsWithNoHandlerOnItsThreads() throws {
        try writeCorpus(lines: 2000)
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "8", "--seq-length", "32",
                                "-q").status, 0)
        let err = dir + "/train.err", out = dir + "/train.out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let p = try launch(["train", "prep", "--out", "run", "--layers", "2", "--rnn-size", "96", "--threads", "2",
                            "--parallel", "batch", "--max-minutes", "5", "--max-epochs", "0", "--eval-every", "0"],
                           stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: out)), stderr: err)
        // Training is under way once the data-parallel step's threads exist.
        for _ in 0..<500 where p.isRunning {
            if let n = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.processIdentifier)/task").count,
               n >= 4 { break }
            usleep(20_000)
        }
        usleep(500_000)
        guard p.isRunning else {
            return XCTFail("gasa train ended (\(p.terminationReason.rawValue), \(p.terminationStatus)) before the signal: "
                           + ((try? String(contentsOfFile: err, encoding: .utf8)) ?? ""))
        }
        // A handler would run on whichever thread the signal lands on, inside a oneDNN kernel whose stack
        // register points into the heap (Signals.swift): there must be none, and only the signal thread may
        // take the signals.
        let seen = try signalDisposition(p.processIdentifier)
        XCTAssertFalse(seen.caught, "a SIGINT or SIGTERM handler is installed")
        XCTAssertLessThanOrEqual(seen.unblockedThreads, 1)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let said = try String(contentsOfFile: err, encoding: .utf8) + String(contentsOfFile: out, encoding: .utf8)
        XCTAssertEqual(p.terminationReason, .exit, said)
        XCTAssertEqual(p.terminationStatus, 0, said)
        XCTAssertTrue(said.contains("interrupted"), said)
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
            dir + "/run/latest/state.json"))) as? [String: Any]
        let stopped = try XCTUnwrap(state?["iteration"] as? Int)
        XCTAssertGreaterThan(stopped, 0)
        // The run goes on from there.
        let resumed = try gasa("train", "--resume", "run", "--max-iters", "\(stopped + 2)", "--quiet")
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
    }

    /// Starts `gasa serve` on a free port and returns it with the address it printed.
    func startServe(_ args: [String]) throws -> (Process, String, String) {
        let err = dir + "/serve.err"
        let p = try launch(["serve"] + args + ["--port", "0"], stderr: err)
        var said = ""
        for _ in 0..<300 where !said.contains("http://") && p.isRunning {
            usleep(20_000)
            said = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        }
        return (p, said, err)
    }

    func testServeSaysItsAddressAndStopsCleanlyOnCtrlC() throws {
        try tinyRun()
        let (p, said, err) = try startServe(["run", "--max-length", "1000000"])
        let port = try XCTUnwrap(said.range(of: #"http://127\.0\.0\.1:([0-9]+)/"#, options: .regularExpression)
            .flatMap { Int(said[$0].split(separator: ":").last!.dropLast()) }, said)
        XCTAssertTrue(said.contains("run (char)"), said)
        let seen = try signalDisposition(p.processIdentifier)
        XCTAssertFalse(seen.caught, "a SIGINT or SIGTERM handler is installed")
        XCTAssertLessThanOrEqual(seen.unblockedThreads, 1)
        // A generation that would take a minute is under way when Ctrl-C comes (its client reading all the
        // while, as a browser does): it is stopped, not awaited.
        let body = #"{"model": 0, "length": 1000000, "seed": 1}"#
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        XCTAssertEqual(withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }, 0)
        let request = "POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        let received = DispatchSemaphore(value: 0)
        let reader = Thread {   // reads until the server closes the stream
            var buffer = [UInt8](repeating: 0, count: 65536), first = true
            while recv(fd, &buffer, buffer.count, 0) > 0 { if first { first = false; received.signal() } }
        }
        reader.start()
        XCTAssertEqual(received.wait(timeout: .now() + 30), .success, "no answer to the generation")
        usleep(300_000)
        let t0 = Date()
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(t0), 20, "Ctrl-C waited for the generation")
        XCTAssertEqual(p.terminationReason, .exit)
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(try String(contentsOfFile: err, encoding: .utf8).contains("gasa serve: stopped"))
    }

    func testServeRefusesAFolderThatIsNotARun() throws {
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: false)
        let r = try gasa("serve", "empty", "--port", "0")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("empty") && r.stderr.contains("holds no checkpoint"), r.stderr)
    }
}
