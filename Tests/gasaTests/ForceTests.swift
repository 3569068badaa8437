// What --force may replace, one case a test: prepare and train replace only folders gasa wrote (or an
// empty folder), never a user's folder, a folder holding an input or the prepared folder, a link, or a
// look-alike; a trailing slash names the same folder; nothing is left beside it afterwards.
import Corpus
import Foundation
import XCTest

final class ForceTests: BinaryTestCase {
    /// A refusal (status 1) whose message says `saying`, leaving `kept` (a path in the test's folder) in place.
    private func expectRefused(_ r: Result, saying: String? = nil, kept: String, file: StaticString = #filePath,
                               line: UInt = #line) {
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        if let saying { XCTAssert(r.stderr.contains(saying), r.stderr, file: file, line: line) }
        XCTAssertNotNil(try? FileManager.default.attributesOfItem(atPath: dir + "/" + kept), "\(kept) is gone",
                        file: file, line: line)
    }
    // MARK: prepare

    /// A folder `prep` holding one file of the user's.
    private func usersFolder() throws {
        try writeCorpus()
        try FileManager.default.createDirectory(atPath: dir + "/prep", withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: dir + "/prep/keep.txt", contents: Data("mine".utf8))
    }

    private func prepared(_ out: String = "prep") throws {
        try writeCorpus()
        let r = try gasa("prepare", "corpus.txt", "--out", out, "--quiet")
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testPrepareRefusesAnExistingFolderWithoutForce() throws {
        try usersFolder()
        let r = try gasa("prepare", "corpus.txt", "--out", "prep")
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("prep already exists") && r.stderr.contains("--force"), r.stderr)
        XCTAssertEqual(try entries(dir + "/prep"), ["keep.txt"], "the existing folder is left alone")
    }

    func testPrepareForceRefusesAFolderOfTheUsersFiles() throws {
        try usersFolder()
        expectRefused(try gasa("prepare", "corpus.txt", "--out", "prep", "--force", "--quiet"),
                      saying: "not a prepared folder", kept: "prep/keep.txt")
        XCTAssertEqual(try entries(dir + "/prep"), ["keep.txt"])
    }

    func testPrepareForceReplacesAnEmptyOrPreparedFolderAndLeavesNothingBeside() throws {
        try writeCorpus()
        try FileManager.default.createDirectory(atPath: dir + "/prep", withIntermediateDirectories: false)
        let empty = try gasa("prepare", "corpus.txt", "--out", "prep", "--force", "--quiet")
        XCTAssertEqual(empty.status, 0, empty.stderr)
        let again = try gasa("prepare", "corpus.txt", "--out", "prep", "--force", "--quiet")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertNoThrow(try Manifest.load(directory: dir + "/prep"))
        XCTAssertEqual(try entries(dir).filter { $0.hasPrefix("prep") }, ["prep"], "no .tmp or .old folders left")
    }

    func testPrepareForceRefusesAFolderHoldingItsInput() throws {
        try prepared()
        try FileManager.default.copyItem(atPath: dir + "/corpus.txt", toPath: dir + "/prep/corpus.txt")
        expectRefused(try gasa("prepare", "prep/corpus.txt", "--out", "prep", "--force", "--quiet"),
                      saying: "holds the input prep/corpus.txt", kept: "prep/corpus.txt")
    }

    func testPrepareForceRefusesAPreparedFolderHoldingTheUsersFiles() throws {
        try prepared()
        try FileManager.default.copyItem(atPath: dir + "/corpus.txt", toPath: dir + "/prep/corpus.txt")
        expectRefused(try gasa("prepare", "corpus.txt", "--out", "prep", "--force", "--quiet"),
                      saying: "not a prepared folder (it holds prep/corpus.txt, which gasa prepare does not write)",
                          kept: "prep/corpus.txt")
    }

    func testPrepareOutWithATrailingSlashNamesTheSameFolder() throws {
        try prepared()
        let slash = try gasa("prepare", "corpus.txt", "--out", "prep/", "--force", "--quiet")
        XCTAssertEqual(slash.status, 0, slash.stderr)
        XCTAssertEqual(try entries(dir).filter { $0.hasPrefix("prep") }, ["prep"])
        let fresh = try gasa("prepare", "corpus.txt", "--out", "fresh/", "--quiet")
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
        XCTAssertNoThrow(try Manifest.load(directory: dir + "/fresh"))
    }

    func testPrepareForceRefusesALookAlikeLeftoverInAFolderOfPreparedFolders() throws {
        try FileManager.default.createDirectory(atPath: dir + "/multi", withIntermediateDirectories: false)
        try prepared("multi/char")
        _ = FileManager.default.createFile(atPath: dir + "/multi/notes.old-v2.txt", contents: Data("mine".utf8))
        expectRefused(try gasa("prepare", "corpus.txt", "--out", "multi", "--force", "--quiet"),
                      kept: "multi/notes.old-v2.txt")
    }

    func testPrepareForceRefusesALinkEvenADanglingOne() throws {
        try writeCorpus()
        try FileManager.default.createSymbolicLink(atPath: dir + "/dangling", withDestinationPath: dir + "/nowhere")
        expectRefused(try gasa("prepare", "corpus.txt", "--out", "dangling", "--force", "--quiet"),
                      saying: "is a link or not a folder", kept: "dangling")
    }

    // MARK: train

    private let model = ["--rnn-size", "8", "--layers", "1", "--max-iters", "3", "--quiet"]

    /// A prepared folder `prep` and a run `run` trained on it.
    private func preparedAndRun() throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "8",
                                "-q").status, 0)
        XCTAssertEqual(try run(["train", "prep", "--out", "run"] + model).status, 0)
    }

    func testTrainForceKeepsInitFromWeightsInsideTheReplacedRun() throws {
        try preparedAndRun()
        let again = try run(["train", "prep", "--out", "run", "--force", "--init-from", "run/latest"] + model)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/latest/model.safetensors"))
    }

    func testTrainOutWithATrailingSlashNamesTheSameRun() throws {
        try preparedAndRun()
        // The old run is moved aside beside it, not into it.
        let slash = try run(["train", "prep", "--out", "run/", "--force"] + model)
        XCTAssertEqual(slash.status, 0, slash.stderr)
        XCTAssertEqual(try entries(dir).filter { $0.hasPrefix("run") }, ["run"], "no run.old-PID left")
    }

    func testTrainForceRefusesADanglingLink() throws {
        try preparedAndRun()
        try FileManager.default.createSymbolicLink(atPath: dir + "/dangling", withDestinationPath: dir + "/nowhere")
        expectRefused(try run(["train", "prep", "--out", "dangling", "--force"] + model), kept: "dangling")
    }

    func testTrainForceRefusesARunHoldingTheUsersFiles() throws {
        try preparedAndRun()
        _ = FileManager.default.createFile(atPath: dir + "/run/notes.txt", contents: Data("mine".utf8))
        expectRefused(try run(["train", "prep", "--out", "run", "--force"] + model),
                      saying: "not a gasa run folder (it holds run/notes.txt, which gasa train does not write)",
                          kept: "run/notes.txt")
    }

    func testTrainForceRefusesARunHoldingThePreparedFolder() throws {
        try preparedAndRun()
        // As a foreign entry...
        try FileManager.default.moveItem(atPath: dir + "/prep", toPath: dir + "/run/prep")
        expectRefused(try run(["train", "run/prep", "--out", "run", "--force"] + model),
                      saying: "not a gasa run folder (it holds run/prep, which gasa train does not write)",
                          kept: "run/prep/manifest.json")
        // ... or through a link named like a checkpoint (a link where gasa writes a checkpoint folder is
        // foreign in itself).
        try FileManager.default.moveItem(atPath: dir + "/run/prep", toPath: dir + "/prep")
        try FileManager.default.createSymbolicLink(atPath: dir + "/run/latest.new", withDestinationPath: dir + "/prep")
        let linked = try run(["train", "run/latest.new", "--out", "run", "--force"] + model)
        XCTAssertEqual(linked.status, 1)
        XCTAssert(linked.stderr.contains("it holds run/latest.new")
                  || linked.stderr.contains("--force would delete it"), linked.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/latest/model.safetensors"),
                      "the old run is intact")
    }
}
