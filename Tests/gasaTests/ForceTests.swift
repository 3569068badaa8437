// What --force may replace, one case a test: prepare and train replace only folders gasa wrote (or an
// empty folder), never a user's folder, a folder holding an input or the prepared folder, a link, or a
// look-alike; a trailing slash names the same folder; nothing is left beside it afterwards.
import Corpus
import Foundation
import XCTest

final class ForceTests: BinaryTestCase {
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
        let mine = try gasa("prepare", "corpus.txt", "--out", "prep", "--force", "--quiet")
        XCTAssertEqual(mine.status, 1)
        XCTAssert(mine.stderr.contains("not a prepared folder"), mine.stderr)
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
        let inside = try gasa("prepare", "prep/corpus.txt", "--out", "prep", "--force", "--quiet")
        XCTAssertEqual(inside.status, 1)
        XCTAssert(inside.stderr.contains("holds the input prep/corpus.txt"), inside.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/prep/corpus.txt"))
    }

    func testPrepareForceRefusesAPreparedFolderHoldingTheUsersFiles() throws {
        try prepared()
        try FileManager.default.copyItem(atPath: dir + "/corpus.txt", toPath: dir + "/prep/corpus.txt")
        let extra = try gasa("prepare", "corpus.txt", "--out", "prep", "--force", "--quiet")
        XCTAssertEqual(extra.status, 1)
        XCTAssert(extra.stderr.contains("not a prepared folder (it holds prep/corpus.txt, which gasa prepare does not write)"),
                  extra.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/prep/corpus.txt"))
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
        let looksLeft = try gasa("prepare", "corpus.txt", "--out", "multi", "--force", "--quiet")
        XCTAssertEqual(looksLeft.status, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/multi/notes.old-v2.txt"))
    }

    func testPrepareForceRefusesALinkEvenADanglingOne() throws {
        try writeCorpus()
        try FileManager.default.createSymbolicLink(atPath: dir + "/dangling", withDestinationPath: dir + "/nowhere")
        let link = try gasa("prepare", "corpus.txt", "--out", "dangling", "--force", "--quiet")
        XCTAssertEqual(link.status, 1)
        XCTAssert(link.stderr.contains("is a link or not a folder"), link.stderr)
        XCTAssertNotNil(try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/dangling"))
    }

    // MARK: train

    private let model = ["--rnn-size", "8", "--layers", "1", "--max-iters", "3", "--quiet"]

    /// A prepared folder `prep` and a run `run` trained on it.
    private func preparedAndRun() throws {
        try writeCorpus()
        XCTAssertEqual(try gasa("prepare", "corpus.txt", "--out", "prep", "--batch-size", "4", "--seq-length", "8", "-q").status, 0)
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
        let link = try run(["train", "prep", "--out", "dangling", "--force"] + model)
        XCTAssertEqual(link.status, 1)
        XCTAssertNotNil(try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/dangling"))
    }

    func testTrainForceRefusesARunHoldingTheUsersFiles() throws {
        try preparedAndRun()
        _ = FileManager.default.createFile(atPath: dir + "/run/notes.txt", contents: Data("mine".utf8))
        let notes = try run(["train", "prep", "--out", "run", "--force"] + model)
        XCTAssertEqual(notes.status, 1)
        XCTAssert(notes.stderr.contains("not a gasa run folder (it holds run/notes.txt, which gasa train does not write)"), notes.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/notes.txt"))
    }

    func testTrainForceRefusesARunHoldingThePreparedFolder() throws {
        try preparedAndRun()
        // As a foreign entry...
        try FileManager.default.moveItem(atPath: dir + "/prep", toPath: dir + "/run/prep")
        let holds = try run(["train", "run/prep", "--out", "run", "--force"] + model)
        XCTAssertEqual(holds.status, 1)
        XCTAssert(holds.stderr.contains("not a gasa run folder (it holds run/prep, which gasa train does not write)"), holds.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/prep/manifest.json"))
        // ... or through a link named like a checkpoint (a link where gasa writes a checkpoint folder is
        // foreign in itself).
        try FileManager.default.moveItem(atPath: dir + "/run/prep", toPath: dir + "/prep")
        try FileManager.default.createSymbolicLink(atPath: dir + "/run/latest.new", withDestinationPath: dir + "/prep")
        let linked = try run(["train", "run/latest.new", "--out", "run", "--force"] + model)
        XCTAssertEqual(linked.status, 1)
        XCTAssert(linked.stderr.contains("it holds run/latest.new") || linked.stderr.contains("--force would delete it"), linked.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/latest/model.safetensors"), "the old run is intact")
    }
}
