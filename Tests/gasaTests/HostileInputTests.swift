// Hostile inputs through the binary: damaged manifests and training states, options at the edge of
// their types, FIFOs in place of files, standard input without an end. Each must end in a one-line
// error naming the file or option and a non-zero status, leaving nothing half-made: never a trap, a
// hang or an allocation without bound. (One test per class of failure a hostile test found.)
import Corpus
import Foundation
import Storage
import XCTest

final class HostileInputTests: BinaryTestCase {
    /// A prepared folder P (B 4, T 8) and, when asked, a run R of a 1 x 8 model trained 6 iterations.
    func preparedAndRun(run: Bool) throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "P", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        if run {
            let r = try gasa("train", "P", "--out", "R", "--layers", "1", "--rnn-size", "8", "--max-iters", "6",
                             "--eval-every", "3", "--threads", "1", "-q")
            XCTAssertEqual(r.status, 0, r.stderr)
        }
    }

    func editJSON(_ path: String, _ edit: (inout String) -> Void) throws {
        var text = try String(contentsOfFile: dir + "/" + path, encoding: .utf8)
        edit(&text)
        try text.write(toFile: dir + "/" + path, atomically: true, encoding: .utf8)
    }

    func expectRefusal(_ r: Result, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, "accepted: \(r.stdout)", file: file, line: line)
        for w in words { XCTAssertTrue(r.stderr.contains(w), "\(w) not in: \(r.stderr)", file: file, line: line) }
    }

    func testHugeSequenceLengthInAManifestIsRefusedBeforeAnyAllocation() throws {
        try preparedAndRun(run: false)
        for huge in ["1000000000000000", "\(Int.max)"] {
            try? FileManager.default.removeItem(atPath: dir + "/Q")
            try FileManager.default.copyItem(atPath: dir + "/P", toPath: dir + "/Q")
            try editJSON("Q/manifest.json") { $0 = $0.replacingOccurrences(of: "\"seq_length\" : 8", with: "\"seq_length\" : \(huge)") }
            expectRefusal(try gasa("inspect", "Q"), mentioning: ["Q/manifest.json", "sequence length \(huge)"])
            expectRefusal(try gasa("train", "Q", "--out", "R2", "--max-iters", "1", "-q"),
                          mentioning: ["Q/manifest.json", "sequence length"])
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/R2"), "a half-made run folder was left")
        }
    }

    func testPrepareRefusesMinibatchesBeyondItsLimitsAndLeavesNothing() throws {
        try writeCorpus()
        for (b, t) in [("4", "100000000"), ("4", "\(Int.max)"), ("100000", "8"), ("65536", "1024")] {
            let r = try gasa("prepare", "corpus.txt", "--out", "P", "--batch-size", b, "--seq-length", t, "-q")
            expectRefusal(r, mentioning: ["--batch-size/--seq-length", "the most gasa takes"])
        }
        XCTAssertEqual(try entries(dir), ["corpus.txt"], "prepare left files behind")
    }

    func testOptionsAtTheEdgeOfTheirTypesAreRefused() throws {
        try preparedAndRun(run: true)
        expectRefusal(try gasa("inspect", "P", "--top=-1"), mentioning: ["--top"])
        expectRefusal(try gasa("compare", "R", "--temperature", "nan"), mentioning: ["--temperature", "nan"])
        expectRefusal(try gasa("sample", "R", "--temperature", "nan"), mentioning: ["--temperature"])
        expectRefusal(try gasa("train", "P", "--out", "R3", "--max-epochs", "1e300", "-q"),
                      mentioning: ["--max-epochs"])
        expectRefusal(try gasa("train", "P", "--out", "R3", "--lr-decay-after", "1e300", "-q"),
                      mentioning: ["--lr-decay-after"])
        expectRefusal(try gasa("train", "P", "--out", "R3", "--max-minutes", "inf", "-q"), mentioning: ["--max-"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/R3"))
        // The largest accepted epoch count trains as asked.
        let ok = try gasa("train", "P", "--out", "R4", "--layers", "1", "--rnn-size", "8", "--max-epochs",
                          "1000000000", "--max-iters", "2", "--threads", "1", "-q")
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    func testATrainingStateWhoseCountsDisagreeIsRefused() throws {
        try preparedAndRun(run: true)
        for (field, value) in [("epoch", "\(Int.max)"), ("optimizer_steps", "7"), ("iteration", "-1")] {
            try? FileManager.default.removeItem(atPath: dir + "/S")
            try FileManager.default.copyItem(atPath: dir + "/R", toPath: dir + "/S")
            try editJSON("S/latest/state.json") { text in
                let r = try! NSRegularExpression(pattern: "\"\(field)\" : -?[0-9]+")
                text = r.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                                  withTemplate: "\"\(field)\" : \(value)")
            }
            let r = try gasa("train", "P", "--resume", "S", "--max-iters", "8", "-q")
            expectRefusal(r, mentioning: ["S/latest/state.json"])
        }
    }

    func testAFIFOInPlaceOfAnyFileIsRefusedWithoutWaiting() throws {
        try preparedAndRun(run: true)
        let files = ["P/manifest.json", "P/vocab.json", "P/train-00000.bin", "R/latest/meta.json",
                     "R/latest/model.safetensors", "R/latest/state.json", "R/latest/optimizer.safetensors",
                     "R/latest/recurrent.safetensors"]
        let fm = FileManager.default
        for f in files {
            for d in ["Pf", "Rf"] { try? fm.removeItem(atPath: dir + "/" + d) }
            try fm.copyItem(atPath: dir + "/P", toPath: dir + "/Pf")
            try fm.copyItem(atPath: dir + "/R", toPath: dir + "/Rf")
            let g = f.hasPrefix("P/") ? "Pf" + f.dropFirst(1) : "Rf" + f.dropFirst(1)
            try fm.removeItem(atPath: dir + "/" + g)
            XCTAssertEqual(mkfifo(dir + "/" + g, 0o644), 0)
            let r = f.hasPrefix("P/") ? try run(["train", "Pf", "--out", "Rx", "--max-iters", "1", "-q"], timeout: 60)
                                      : try run(["train", "Pf", "--resume", "Rf", "--max-iters", "8", "-q"],
                                                timeout: 60)
            expectRefusal(r, mentioning: [g, "FIFO"])
            try? fm.removeItem(atPath: dir + "/Rx")
        }
        XCTAssertEqual(mkfifo(dir + "/in.fifo", 0o644), 0)
        expectRefusal(try run(["prepare", "in.fifo", "--out", "Q", "-q"], timeout: 60), mentioning: ["in.fifo", "FIFO",
                                                                                                     "'-'"])
        try fm.removeItem(atPath: dir + "/Pf/train-00000.bin")
        XCTAssertEqual(mkfifo(dir + "/Pf/train-00000.bin", 0o644), 0)
        expectRefusal(try run(["inspect", "Pf"], timeout: 60), mentioning: ["Pf/train-00000.bin", "FIFO"])
    }

    func testStandardInputWithoutAnEndIsAnErrorNotAnAllocation() throws {
        for command in ["normalize", "tokenize"] {
            let r = try run([command], stdinFrom: "/dev/zero", timeout: 120)
            expectRefusal(r, mentioning: ["standard input holds more than 256 MiB"])
        }
        // Ordinary input still works.
        let ok = try gasa("normalize", stdin: "가나다\n")
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "가나다\n")
    }
}

extension HostileInputTests {
    func testAManifestThatContradictsItsVocabularyOrItsGranularityIsRefused() throws {
        try preparedAndRun(run: false)
        // Zero characters for served char targets would give a bits/char of thousands.
        try FileManager.default.copyItem(atPath: dir + "/P", toPath: dir + "/Z")
        try editJSON("Z/manifest.json") { text in
            let r = try! NSRegularExpression(pattern: "\"target_characters\" : [0-9]+")
            if let m = r.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                text = (text as NSString).replacingCharacters(in: m.range, with: "\"target_characters\" : 0")
            }
        }
        expectRefusal(try gasa("inspect", "Z"), mentioning: ["Z/manifest.json", "target_characters 0"])
        // Another corpus's vocabulary, with the manifest's checksum and size forged to agree with it.
        try Data((0..<200).map { "다른 말뭉치 \($0) abc" }.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/other.txt"))
        XCTAssertEqual(try gasa("prepare", "other.txt", "--out", "O", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        try FileManager.default.copyItem(atPath: dir + "/P", toPath: dir + "/F")
        try FileManager.default.removeItem(atPath: dir + "/F/vocab.json")
        try FileManager.default.copyItem(atPath: dir + "/O/vocab.json", toPath: dir + "/F/vocab.json")
        let other = try Manifest.load(directory: dir + "/O")
        try editJSON("F/manifest.json") { text in
            for (field, value) in [("vocab_checksum", "\"\(other.vocabChecksum)\""), ("vocab_size",
                                                                                      "\(other.vocabSize)"),
                                   ("token_bytes", "\(other.tokenBytes)")] {
                let r = try! NSRegularExpression(pattern: "\"\(field)\" : [^,\n]+")
                text = r.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                                  withTemplate: "\"\(field)\" : \(value)")
            }
        }
        expectRefusal(try gasa("inspect", "F"), mentioning: ["F/manifest.json", "built from another corpus"])
    }

    func testSampleStatsAfterThePreparedFolderWasPreparedAgain() throws {
        try preparedAndRun(run: true)
        // A larger corpus: more distinct characters, so ids beyond the model's vocabulary.
        let more = (0..<300).map { "사랑은 늘 도망가 ㅠㅠ \($0) 👍🏽 가나다라마바사아자차카타파하 \($0 * 7)" }.joined(separator: "\n") + "\n"
        try Data(more.utf8).write(to: URL(fileURLWithPath: dir + "/corpus.txt"))
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "P", "--force", "--batch-size", "4", "--seq-length",
                                "8", "-q").status, 0)
        let r = try gasa("sample", "R", "--length", "20", "--stats", "--seed", "1")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("was prepared again"), r.stderr)
        XCTAssertFalse(r.stdout.isEmpty)
    }
}

extension HostileInputTests {
    func flipLastByte(_ path: String) throws {
        var d = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + path))
        d[d.count - 2] ^= 0x01
        try d.write(to: URL(fileURLWithPath: dir + "/" + path))
    }

    func testEveryCheckpointFileIsCheckedAgainstTheChecksumsInMetaJSON() throws {
        try preparedAndRun(run: true)
        let meta = try String(contentsOfFile: dir + "/R/latest/meta.json", encoding: .utf8)
        for f in ["model.safetensors", "optimizer.safetensors", "recurrent.safetensors", "state.json"] {
            XCTAssertTrue(meta.contains("\"\(f)\""), "meta.json records no checksum of \(f)")
        }
        for f in ["model.safetensors", "optimizer.safetensors", "recurrent.safetensors", "state.json"] {
            try? FileManager.default.removeItem(atPath: dir + "/S")
            try FileManager.default.copyItem(atPath: dir + "/R", toPath: dir + "/S")
            try flipLastByte("S/latest/" + f)
            expectRefusal(try gasa("train", "P", "--resume", "S", "--max-iters", "8", "-q"),
                          mentioning: ["S/latest/\(f)", "checksum"])
        }
        // Sampling reads the weights of best/: one flipped bit there is refused, not sampled from.
        try flipLastByte("R/best/model.safetensors")
        expectRefusal(try gasa("sample", "R", "--length", "5"), mentioning: ["R/best/model.safetensors", "checksum"])
    }

    func testNonFiniteStateIsNamedAsDamageAndMetaMustAgreeWithState() throws {
        try preparedAndRun(run: true)
        // An older checkpoint without checksums: a NaN in the carried state is the file's damage, not divergence.
        try editJSON("R/latest/meta.json") { text in
            let r = try! NSRegularExpression(pattern: ",\\s*\"checksums\" : \\{[^}]*\\}")
            text = r.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "")
        }
        var d = try Data(contentsOf: URL(fileURLWithPath: dir + "/R/latest/recurrent.safetensors"))
        let nan = Float.nan.bitPattern
        for k in 0..<4 { d[d.count - 4 + k] = UInt8((nan >> (8 * UInt32(k))) & 0xFF) }
        try d.write(to: URL(fileURLWithPath: dir + "/R/latest/recurrent.safetensors"))
        let r = try gasa("train", "P", "--resume", "R", "--max-iters", "8", "-q")
        expectRefusal(r, mentioning: ["R/latest/recurrent.safetensors", "nan", "damaged"])
        XCTAssertFalse(r.stderr.contains("learning-rate"), r.stderr)
        // meta.json and state.json must describe the same model.
        try editJSON("R/best/meta.json") { $0 = $0.replacingOccurrences(of: "\"dropout\" : 0,", with: "\"dropout\" : 0.5,") }
        let b = try gasa("train", "P", "--resume", "R/best", "--max-iters", "8", "-q")
        expectRefusal(b, mentioning: ["R/best/meta.json", "disagrees with state.json", "dropout"])
    }
}

extension HostileInputTests {
    func testAResumeWithNothingLeftToDoLeavesTheLogAsItWas() throws {
        try preparedAndRun(run: true)
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/R/metrics.jsonl"))
        XCTAssertTrue(String(decoding: before, as: UTF8.self).contains("\"split\":\"test\""))
        let r = try gasa("train", "P", "--resume", "R", "--max-iters", "6")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("already reached its limit") || r.stderr.contains("already at iteration 6"),
                      r.stdout + r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/R/metrics.jsonl")), before)
        // Resuming further drops the old end's test score and scores the test split again at the new end.
        XCTAssertEqual(try gasa("train", "P", "--resume", "R", "--max-iters", "8", "-q").status, 0)
        let after = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir + "/R/metrics.jsonl")),
                           as: UTF8.self)
        XCTAssertEqual(after.components(separatedBy: "\"split\":\"test\"").count - 1, 1)
        XCTAssertTrue(after.contains("\"type\":\"eval\",\"iter\":8"), after)
    }
}

extension HostileInputTests {
    /// --force replaces only folders gasa marked as its own, and only when everything inside is what gasa
    /// writes there, of the kind it writes: the hostile test's three cases of lost data.
    func testForceReplacesOnlyFoldersGasaMarkedAndNothingForeignInside() throws {
        try preparedAndRun(run: true)
        let fm = FileManager.default
        XCTAssertTrue(fm.fileExists(atPath: dir + "/P/.gasa-folder"))
        XCTAssertTrue(fm.fileExists(atPath: dir + "/R/.gasa-folder"))
        // Another program's folder that holds only a manifest.json.
        try fm.createDirectory(atPath: dir + "/theirs", withIntermediateDirectories: false)
        try Data("{\"not\": \"gasa\"}".utf8).write(to: URL(fileURLWithPath: dir + "/theirs/manifest.json"))
        expectRefusal(try gasa("prepare", "corpus.txt", "--out", "theirs", "--force", "-q"), mentioning: ["theirs",
            "no .gasa-folder mark"])
        XCTAssertEqual(try entries(dir + "/theirs"), ["manifest.json"])
        // A folder named like a shard, with a document inside, in a real prepared folder.
        try fm.createDirectory(atPath: dir + "/P/train-00009.bin", withIntermediateDirectories: false)
        try Data("my notes".utf8).write(to: URL(fileURLWithPath: dir + "/P/train-00009.bin/notes.txt"))
        expectRefusal(try gasa("prepare", "corpus.txt", "--out", "P", "--force", "-q"),
                      mentioning: ["P/train-00009.bin"])
        XCTAssertTrue(fm.fileExists(atPath: dir + "/P/train-00009.bin/notes.txt"))
        // A photo inside a run's checkpoint folder.
        try Data([0xFF, 0xD8, 0xFF]).write(to: URL(fileURLWithPath: dir + "/R/latest/photo.jpg"))
        try fm.removeItem(atPath: dir + "/P/train-00009.bin")
        expectRefusal(try gasa("train", "P", "--out", "R", "--force", "-q"), mentioning: ["R/latest/photo.jpg",
                                                                                          "does not write"])
        XCTAssertTrue(fm.fileExists(atPath: dir + "/R/latest/photo.jpg"))
        // A folder holding latest/ and metrics.jsonl but no mark (not gasa's, or from before marks) is refused.
        try fm.createDirectory(atPath: dir + "/lookalike/latest", withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: dir + "/lookalike/metrics.jsonl"))
        expectRefusal(try gasa("train", "P", "--out", "lookalike", "--force", "-q"), mentioning: ["lookalike",
            "no .gasa-folder mark"])
        XCTAssertTrue(fm.fileExists(atPath: dir + "/lookalike/latest"))
        // What gasa wrote itself is still replaced.
        try fm.removeItem(atPath: dir + "/R/latest/photo.jpg")
        let again = try gasa("train", "P", "--out", "R", "--force", "--layers", "1", "--rnn-size", "8", "--max-iters",
                             "2", "--threads", "1", "-q")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "P", "--force", "--batch-size", "4", "--seq-length",
                                "8", "-q").status, 0)
    }
}

extension HostileInputTests {
    func testResumeRecoversTheCompleteCheckpointAnInterruptedSaveLeft() throws {
        try preparedAndRun(run: true)
        let fm = FileManager.default
        // Two kills at chosen moments of a save: latest moved aside and removed, the complete latest.new not yet
        // renamed.
        try fm.moveItem(atPath: dir + "/R/latest", toPath: dir + "/R/latest.new")
        let r = try gasa("train", "P", "--resume", "R", "--max-iters", "8")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("from R/latest.new at iteration 6"), r.stderr)
        XCTAssertTrue(r.stderr.contains("an interrupted save left"), r.stderr)
        XCTAssertEqual(try entries(dir + "/R").filter { $0.hasPrefix("latest") }, ["latest"])
        XCTAssertEqual(try Manifest.load(directory: dir + "/P").seqLength, 8)
        XCTAssertTrue(try String(contentsOfFile: dir + "/R/latest/meta.json",
                                 encoding: .utf8).contains("\"iteration\" : 8"))
    }

    func testAValidationInterruptedBySignalIsDoneOnResume() throws {
        try preparedAndRun(run: true)
        // As a signal during the validation at iteration 6 leaves it: state.json's last validation is
        // iteration 3 and the log has no line for the one at 6.
        let statePath = dir + "/R/latest/state.json"
        var state = try String(contentsOfFile: statePath, encoding: .utf8)
        state = state.replacingOccurrences(of: "\"last_eval_iteration\" : 6", with: "\"last_eval_iteration\" : 3")
        try state.write(toFile: statePath, atomically: true, encoding: .utf8)
        let sum = String(format: "%08x", CRC32.checksum(Array(state.utf8)))
        try editJSON("R/latest/meta.json") { text in
            let r = try! NSRegularExpression(pattern: "\"state.json\" : \"[0-9a-f]{8}\"")
            text = r.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text),
                                              withTemplate: "\"state.json\" : \"\(sum)\"")
        }
        let log = try String(contentsOfFile: dir + "/R/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .filter { !($0.contains("\"type\":\"eval\",\"iter\":6,") && $0.contains("\"split\":\"val\"")) }
        try (log.joined(separator: "\n") + "\n").write(toFile: dir + "/R/metrics.jsonl", atomically: true,
                                                       encoding: .utf8)
        let r = try gasa("train", "P", "--resume", "R", "--max-iters", "9", "--eval-every", "3")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("validating at iteration 6 first"), r.stderr)
        let after = try String(contentsOfFile: dir + "/R/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let vals = after.filter { $0.contains("\"split\":\"val\"") }.compactMap { l -> Int? in
            guard let r = l.range(of: "\"iter\":") else { return nil }
            return Int(l[r.upperBound...].prefix { $0.isNumber })
        }
        XCTAssertEqual(vals, [3, 6, 9])
    }
}

extension HostileInputTests {
    /// The pid of a process that has ended.
    func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func testPrepareCleansWhatInterruptedPreparesLeftAndPutsBackAReplacedFolder() throws {
        try preparedAndRun(run: false)
        let fm = FileManager.default
        let a = try deadPid(), b = try deadPid(), c = try deadPid()
        // As a dead prepare leaves them: each folder records the process that built it or set it aside.
        try fm.copyItem(atPath: dir + "/P", toPath: dir + "/P.tmp-\(a)")
        try Data("\(a)\n".utf8).write(to: URL(fileURLWithPath: dir + "/P.tmp-\(a)/.gasa-leftover"))
        try fm.copyItem(atPath: dir + "/P", toPath: dir + "/backup")
        try fm.moveItem(atPath: dir + "/P", toPath: dir + "/P.old-\(b)")   // killed between --force's two renames
        try Data("\(b)\n".utf8).write(to: URL(fileURLWithPath: dir + "/P.old-\(b)/.gasa-leftover"))
        // A backup the user renamed to a leftover-like name (a copy of a gasa folder, mark and all) and
        // someone else's folder with such a name are never touched.
        try fm.moveItem(atPath: dir + "/backup", toPath: dir + "/P.old-\(c)")
        try fm.createDirectory(atPath: dir + "/P.tmp-\(a)0", withIntermediateDirectories: false)
        let r = try gasa("prepare", "corpus.txt", "--out", "P", "--force", "--batch-size", "4", "--seq-length", "8")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("put back P from P.old-\(b)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("removed P.tmp-\(a), left by an interrupted gasa prepare"), r.stdout)
        XCTAssertEqual(try entries(dir).filter { $0.hasPrefix("P") }.sorted(), ["P", "P.old-\(c)",
                                                                                "P.tmp-\(a)0"].sorted())
        XCTAssertFalse(fm.fileExists(atPath: dir + "/P/.gasa-leftover"))
    }

    func testInterruptedPrepareRemovesItsTemporaryFolder() throws {
        let line = (0..<40).map { "가나다라마바사 \($0) 사랑은 늘 도망가" }.joined(separator: " ") + "\n"
        try Data(String(repeating: line, count: 20_000).utf8).write(to: URL(fileURLWithPath: dir + "/big.txt"))
        // Sooner and sooner until the signal lands while prepare works (it must, at least once).
        var interrupted = false
        for delay: useconds_t in [60_000, 20_000, 5_000] where !interrupted {
            for e in try entries(dir) where e.hasPrefix("B") {
                try FileManager.default.removeItem(atPath: dir + "/" + e)
            }
            let p = try launch(["prepare", "big.txt", "--out", "B", "-q"])
            usleep(delay)
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            let left = try entries(dir).filter { $0.hasPrefix("B") }
            if p.terminationStatus == 0 {   // finished before the signal: a complete folder, nothing else
                XCTAssertEqual(left, ["B"])
            } else {
                interrupted = true
                XCTAssertEqual(p.terminationStatus, 130)
                XCTAssertEqual(left, [], "an interrupted prepare left \(left)")
            }
        }
        XCTAssertTrue(interrupted, "prepare always finished before the signal; the test did not exercise it")
    }
}

extension HostileInputTests {
    func testResumeRecoversTheRunAnInterruptedForceWasReplacing() throws {
        try preparedAndRun(run: true)
        let fm = FileManager.default
        let pid = try deadPid()
        // Killed after moving the old run aside and creating the new folder, before its first checkpoint.
        try fm.moveItem(atPath: dir + "/R", toPath: dir + "/R.old-\(pid)")
        try Data("\(pid)\n".utf8).write(to: URL(fileURLWithPath: dir + "/R.old-\(pid)/.gasa-leftover"))
        try fm.createDirectory(atPath: dir + "/R", withIntermediateDirectories: false)
        try Data("gasa run folder\n".utf8).write(to: URL(fileURLWithPath: dir + "/R/.gasa-folder"))
        try fm.copyItem(atPath: dir + "/R.old-\(pid)/vocab.json", toPath: dir + "/R/vocab.json")
        let r = try gasa("train", "P", "--resume", "R", "--max-iters", "8")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("recovered R from R.old-\(pid)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("at iteration 6"), r.stderr)
        XCTAssertEqual(try entries(dir).filter { $0.hasPrefix("R") }, ["R"])
        XCTAssertFalse(fm.fileExists(atPath: dir + "/R/.gasa-leftover"))
        // A folder merely named like a leftover (no record of a gasa process) is not taken for the run.
        try fm.moveItem(atPath: dir + "/R", toPath: dir + "/R.old-\(pid)")
        try fm.createDirectory(atPath: dir + "/R", withIntermediateDirectories: false)
        try Data("gasa run folder\n".utf8).write(to: URL(fileURLWithPath: dir + "/R/.gasa-folder"))
        expectRefusal(try gasa("train", "P", "--resume", "R", "--max-iters", "9", "-q"),
                      mentioning: ["R holds no checkpoint"])
        XCTAssertTrue(fm.fileExists(atPath: dir + "/R.old-\(pid)/latest/meta.json"))
    }
}

extension HostileInputTests {
    func testAModelTooLargeForTheMachineIsRefusedBeforeAllocating() throws {
        try preparedAndRun(run: false)
        // About 2 x 10^9 parameters: within the configuration's limits, far beyond this machine's memory.
        let r = try gasa("train", "P", "--out", "Huge", "--layers", "4", "--rnn-size", "8000", "--max-iters", "1", "-q")
        expectRefusal(r, mentioning: ["needs about", "GiB of memory; this machine has", "--rnn-size"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/Huge"))
    }
}
