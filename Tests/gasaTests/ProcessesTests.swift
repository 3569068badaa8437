// gasa train under Open MPI's mpirun, as a user runs it: 2 and 3 processes train what one process
// trains (dropout on), a 2-process run resumes in one process, and the errors: more processes than rows,
// processes started on different prepared folders, a rank that dies. Skipped, saying so, where mpirun
// is not installed, unless GASA_REQUIRE_MPI is set (the test script sets it: there a missing mpirun is a
// failure, not a skip).
import Foundation
import XCTest

final class ProcessesTests: BinaryTestCase {
    /// The tolerance for "the same computation up to the order of floating-point sums" after 20 Adam steps
    /// of a small model: relative on losses, absolute on weights (measured differences are about 1e-6).
    static let lossTolerance = 1e-5
    static let weightTolerance: Float = 2e-5

    var mpirun = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard let found = path.map({ $0 + "/mpirun" }).first(where: FileManager.default.isExecutableFile) else {
            if ProcessInfo.processInfo.environment["GASA_REQUIRE_MPI"] != nil {
                XCTFail("mpirun not found on PATH but GASA_REQUIRE_MPI is set (install openmpi-bin)")
            }
            throw XCTSkip("mpirun not found: install openmpi-bin to test training over processes")
        }
        mpirun = found
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("data/constitution_ko/constitution_ko.txt").path
        let r = try gasa("prepare", corpus, "--out", "prep", "--batch-size", "6", "--seq-length", "16")
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    /// mpirun -np N gasa ARGS in the test's folder (root allowed, as in CI containers; processes may
    /// outnumber cores).
    func mpi(_ n: Int, _ arguments: [String], timeout: Double = 300) throws -> Result {
        try command(mpirun, ["--oversubscribe", "-np", "\(n)", try XCTUnwrap(Self.binary)] + arguments,
                    timeout: timeout)
    }

    func command(_ tool: String, _ arguments: [String], timeout: Double = 300) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(
            ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]) { $1 }
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = dir + "/.out-\(UUID().uuidString)", err = out + ".err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try p.run()
        let watchdog = DispatchWorkItem { [p] in if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        p.waitUntilExit()
        watchdog.cancel()
        XCTAssertEqual(p.terminationReason, .exit, "\(tool) \(arguments) still running after \(timeout) s")
        func text(_ path: String) -> String { String(decoding: FileManager.default.contents(atPath: path) ?? Data(),
                                                     as: UTF8.self) }
        return Result(status: p.terminationStatus, stdout: text(out), stderr: text(err))
    }

    static let model = ["--layers", "2", "--rnn-size", "24", "--dropout", "0.3", "--weight-drop", "0.2",
                        "--eval-every", "10", "--log-every", "1", "--quiet"]

    /// Every iteration's training loss and every validation's loss of a run, from its metrics.jsonl.
    func losses(_ run: String) throws -> [String: Double] {
        let text = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: dir + "/" + run + "/metrics.jsonl")),
                          as: UTF8.self)
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let iter = try XCTUnwrap(o["iter"] as? Int)
            if let t = o["train_loss"] as? Double { out["train \(iter)"] = t }
            if let v = o["nats_per_token"] as? Double, let s = o["split"] as? String { out["\(s) \(iter)"] = v }
        }
        return out
    }

    /// The float tensors of a safetensors file, by name.
    func tensors(_ path: String) throws -> [String: [Float]] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: dir + "/" + path))
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        var out: [String: [Float]] = [:]
        for (name, v) in header where name != "__metadata__" {
            let offsets = try XCTUnwrap((v as? [String: Any])?["data_offsets"] as? [Int])
            let bytes = data.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1]))
            out[name] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        return out
    }

    func assertSameRun(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let la = try losses(a), lb = try losses(b)
        XCTAssertEqual(Set(la.keys), Set(lb.keys), "\(a) vs \(b)", file: file, line: line)
        XCTAssertTrue(la.keys.contains("val 20") && la.keys.contains("train 20") && la.keys.contains("test 20"),
                      "\(la.keys.sorted())", file: file, line: line)
        for (k, v) in la {
            XCTAssertEqual(v, lb[k] ?? .nan, accuracy: Self.lossTolerance * abs(v), "\(k): \(a) vs \(b)",
                           file: file, line: line)
        }
        for name in ["model", "optimizer", "recurrent"] {
            let ta = try tensors(a + "/latest/\(name).safetensors"), tb = try tensors(b + "/latest/\(name).safetensors")
            XCTAssertEqual(Set(ta.keys), Set(tb.keys), file: file, line: line)
            var worst: Float = 0
            for (k, v) in ta {
                let w = try XCTUnwrap(tb[k])
                XCTAssertEqual(v.count, w.count, k, file: file, line: line)
                for i in 0..<min(v.count, w.count) { worst = max(worst, abs(v[i] - w[i])) }
            }
            // Adam's second moments are squares of gradients: compared relative to their size below.
            if name != "optimizer" {
                XCTAssertLessThanOrEqual(worst, Self.weightTolerance, "\(name): \(a) vs \(b)", file: file, line: line)
            }
        }
    }

    /// One process with two threads (rows split over them), two processes and three processes with one
    /// thread each: the same losses at every step and the same weights and carried state after 20 steps,
    /// with dropout and weight drop on; the run reports its processes and the all-reduce time.
    func testTwoAndThreeProcessesTrainWhatOneProcessTrains() throws {
        var r = try run(["train", "prep", "--out", "one", "--max-iters", "20", "--threads", "2"] + Self.model)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try mpi(2, ["train", "prep", "--out", "two", "--max-iters", "20", "--threads", "1"]
                    + Self.model.filter { $0 != "--quiet" })
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("processes: 2; gradient all-reduce"), r.stdout)
        XCTAssertEqual(r.stdout.components(separatedBy: "stopped at iteration 20").count, 2,
                       "rank 0 alone reports: \(r.stdout)")
        XCTAssertTrue(r.stderr.contains("in each of 2 processes (mpirun), rows 0..<3 of 6"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/two/latest.new"))
        try assertSameRun("one", "two")
        r = try mpi(3, ["train", "prep", "--out", "three", "--max-iters", "20", "--threads", "1"] + Self.model)
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertSameRun("one", "three")
        let state = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: try XCTUnwrap(FileManager.default.contents(atPath: dir + "/three/latest/state.json"))) as? [String: Any])
        XCTAssertEqual(state["processes"] as? Int, 3, "the checkpoint says how many processes trained it")
    }

    /// A run of two processes stopped at iteration 10 and resumed in one process to 20 is the run one
    /// process trains to 20, and says that the counts changed.
    func testATwoProcessRunResumesInOneProcess() throws {
        var r = try run(["train", "prep", "--out", "one", "--max-iters", "20", "--threads", "1"] + Self.model)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try mpi(2, ["train", "prep", "--out", "cut", "--max-iters", "10", "--threads", "1"] + Self.model)
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try gasa("train", "--resume", "cut", "--max-iters", "20", "--threads", "1")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("process counts (2 x 1) than this resume's (1 x 1)"), r.stderr)
        try assertSameRun("one", "cut")
    }

    func testMoreProcessesThanRowsAndDifferentFoldersAreRefused() throws {
        try writeCorpus(lines: 200)
        var r = try gasa("prepare", "corpus.txt", "--out", "narrow", "--batch-size", "2", "--seq-length", "8")
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try mpi(3, ["train", "narrow", "--out", "run", "--max-iters", "5", "--threads", "1", "--quiet"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("3 processes need at least 3 rows per minibatch") &&
                      r.stderr.contains("narrow's train split has 2"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run/latest"), "nothing trained")

        // Rank 1 started on another prepared folder: it names what differs and the job ends.
        let binary = try XCTUnwrap(Self.binary)
        r = try command(mpirun, ["--oversubscribe", "-np", "1", binary, "train", "prep", "--out", "mixed", "--threads",
                                 "1", "--max-iters", "5", ":", "-np", "1", binary, "train", "narrow", "--out", "mixed",
                                 "--threads", "1", "--max-iters", "5"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("gasa rank 1 of 2") && r.stderr.contains("different manifest.json"), r.stderr)
    }

    /// A rank killed mid-run ends the job with mpirun's message; the last checkpoint is complete and resumes.
    func testARankThatDiesEndsTheJobAndKeepsTheLastCheckpoint() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["--oversubscribe", "-np", "2", try XCTUnwrap(Self.binary), "train", "prep", "--out", "run",
                       "--threads", "1", "--max-iters", "100000", "--eval-every", "5", "--quiet"]
        p.environment = ProcessInfo.processInfo.environment.merging(
            ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]) { $1 }
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        // Wait for a checkpoint past iteration 0, then kill rank 1.
        let deadline = Date().addingTimeInterval(120)
        func iteration() -> Int {
            guard let d = FileManager.default.contents(atPath: dir + "/run/latest/meta.json"),
                  let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return 0 }
            return o["iteration"] as? Int ?? 0
        }
        while iteration() < 10 && Date() < deadline { usleep(100_000) }
        XCTAssertGreaterThanOrEqual(iteration(), 10)
        let rank1 = try XCTUnwrap(try rankPID(1, of: p.processIdentifier))
        kill(rank1, SIGKILL)
        let stop = Date().addingTimeInterval(60)
        while p.isRunning && Date() < stop { usleep(100_000) }
        XCTAssertFalse(p.isRunning, "the job ends when a rank dies")
        XCTAssertNotEqual(p.terminationStatus, 0)
        let r = try gasa("train", "--resume", "run", "--max-iters", "\(iteration() + 3)", "--threads", "1", "--quiet")
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    /// The pid of rank `rank` among mpirun's descendants (Open MPI puts the rank in each one's environment).
    func rankPID(_ rank: Int, of parent: Int32) throws -> Int32? {
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(name), pid != parent,
                  let env = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
            let vars = env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if vars.contains("OMPI_COMM_WORLD_RANK=\(rank)"),
               (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(name)/cwd")) == dir {
                return pid
            }
        }
        return nil
    }
}
