// End-to-end training on a tiny prepared corpus: learning, the untrained loss, exact resume,
// checkpoint round trips, damaged files and the divergence guard. Tiny models (H 12) keep it fast.
import Corpus
import Foundation
import Model
import Compute
import XCTest
@testable import Training

final class TrainerTests: XCTestCase {
    static var prepared = ""
    var scratch = ""

    /// One prepared corpus for the whole class: mixed Korean and ASCII lines, B 4, T 16.
    override class func setUp() {
        super.setUp()
        let dir = NSTemporaryDirectory() + "gasa-training-tests-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var text = ""
        let lines = ["사랑은 언제나 오래 참고", "the quick brown fox jumps", "바람이 불어오는 곳 그곳으로 가네", "abc abc abd abe",
                     "하늘을 우러러 한 점 부끄럼이 없기를", "hello world, hello again"]
        for i in 0..<60 { text += lines[i % lines.count] + " \(i % 7)\n" }
        let input = dir + "/corpus.txt"
        try! text.write(toFile: input, atomically: true, encoding: .utf8)
        var o = PrepareOptions()
        o.batchSize = 4
        o.seqLength = 16
        o.splitFractions = [0.8, 0.1, 0.1]
        let p = try! Preparer(options: o, inputs: [input])
        p.showProgress = false
        _ = try! p.run(output: dir + "/prep", force: true)
        prepared = dir + "/prep"
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: (prepared as NSString).deletingLastPathComponent)
        super.tearDown()
    }

    override func setUp() {
        super.setUp()
        scratch = NSTemporaryDirectory() + "gasa-training-run-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        StopSignal.clear()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: scratch)
        super.tearDown()
    }

    func options(_ run: String, iters: Int, evalEvery: Int = 10, dropout: Float = 0) -> Trainer.Options {
        var o = Trainer.Options(prepared: Self.prepared, run: scratch + "/" + run)
        o.settings.set(\.layers, 2)
        o.settings.set(\.hiddenSize, 12)
        o.settings.set(\.dropout, dropout)
        o.limits.set(\.maxIters, iters)
        o.limits.set(\.maxEpochs, 0)
        o.limits.set(\.evalEvery, evalEvery)
        o.settings.set(\.logEvery, 1)
        o.limits.set(\.threads, 1)
        o.quiet = true
        o.plot = false
        return o
    }

    func trainLosses(_ run: String) throws -> [Double] {
        try MetricsLog.read(path: scratch + "/" + run
                            + "/metrics.jsonl").filter { $0.type == .train }.map { $0.trainLoss! }
    }

    func testTrainLossDecreases() throws {
        var o = options("learn", iters: 60, evalEvery: 0)
        o.settings.set(\.learningRate, 1e-2)
        let s = try Trainer(options: o).run()
        XCTAssertEqual(s.stopReason, .iterations)
        XCTAssertEqual(s.iteration, 60)
        let losses = try trainLosses("learn")
        XCTAssertEqual(losses.count, 60)
        let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
        XCTAssertLessThan(last, first - 0.5, "train loss should fall clearly: \(first) -> \(last)")
        XCTAssertNotNil(s.val)
        XCTAssertNotNil(s.test)
        XCTAssertNotNil(s.steadyTokensPerSecond)
    }

    func testUntrainedValidationLossIsNearLogV() throws {
        let m = try Manifest.load(directory: Self.prepared)
        var rng = RNG(seed: 5)
        let model = LanguageModel(config: ModelConfig(vocabSize: m.vocabSize, embeddingSize: 12, hiddenSize: 12,
                                                      layers: 2, dropout: 0), rng: &rng)
        let ev = try XCTUnwrap(try SplitEvaluator(model: model, directory: Self.prepared, manifest: m, split: .val))
        let r = try XCTUnwrap(try ev.run(model))
        XCTAssertEqual(r.targets, m.split(.val)!.servedTargets)
        XCTAssertEqual(r.natsPerToken, log(Double(m.vocabSize)), accuracy: 0.25)
        XCTAssertEqual(r.bitsPerCharacter, r.nats / Double(m.split(.val)!.targetCharacters) / log(2), accuracy: 1e-12)
    }

    func testForceRecognisesOnlyWhatTrainWrites() {
        for name in ["latest", "best", "latest.new", "best.old", "metrics.jsonl", "loss.svg", "vocab.json",
                     "loss.svg.tmp-99"] {
            XCTAssertTrue(RunFolder.isRunEntry(name), name)
        }
        for name in ["notes.txt", "latest2", "notes.tmp-12", "loss.svg.tmp-x", "run.old-12", "prep"] {
            XCTAssertFalse(RunFolder.isRunEntry(name), name)
        }
    }

    func testSplitEvaluationOverRowBlocksMatchesOneThread() throws {
        // The val split (B 4) scored in 1, 2, 3 and 4 row blocks on their own threads: the same loss, each
        // block carrying its rows' state from minibatch to minibatch; and twice in a row, the same result.
        let manifest = try Manifest.load(directory: Self.prepared)
        var rng = RNG(seed: 11)
        let model = LanguageModel(config: ModelConfig(vocabSize: manifest.vocabSize, embeddingSize: 12, hiddenSize: 12,
                                                      layers: 2, dropout: 0), rng: &rng)
        let one = try XCTUnwrap(try SplitEvaluator(model: model, directory: Self.prepared, manifest: manifest,
                                                   split: .val))
        XCTAssertGreaterThan(one.stream.count, 1, "several minibatches, so that state is carried")
        let reference = try XCTUnwrap(try one.run(model))
        for parts in [2, 3, 4] {
            let ev = try XCTUnwrap(try SplitEvaluator(model: model, directory: Self.prepared, manifest: manifest,
                                                      split: .val, rowParts: parts))
            let r = try XCTUnwrap(try ev.run(model))
            XCTAssertEqual(r.nats, reference.nats, accuracy: 1e-6 * reference.nats, "\(parts) parts")
            XCTAssertEqual(try XCTUnwrap(try ev.run(model)).nats, r.nats, "deterministic")
        }
        // Changed parameters are seen by the next pass of an existing evaluator (W_hh^T is not stale).
        let two = try XCTUnwrap(try SplitEvaluator(model: model, directory: Self.prepared, manifest: manifest,
                                                   split: .val, rowParts: 2))
        _ = try two.run(model)
        let p = model.parameters
        for k in 0..<p.count { p[k] *= 0.5 }
        let after = try XCTUnwrap(try two.run(model)).nats
        let fresh = try XCTUnwrap(try SplitEvaluator(model: model, directory: Self.prepared, manifest: manifest,
                                                     split: .val))
        XCTAssertEqual(after, try XCTUnwrap(try fresh.run(model)).nats, accuracy: 1e-6 * after)
        XCTAssertNotEqual(after, reference.nats, accuracy: 1e-3)
    }

    /// 2N iterations in one go and N then N more after --resume end with the same bits and the same log.

    func testResumeIsBitExact() throws {
        try resumeIsBitExact(tag: "lstm") { _ in }
    }

    /// The same with a GRU and every regulariser: their masks come from the run's random state too.
    func testResumeIsBitExactWithAGRUAndTheRegularizers() throws {
        try resumeIsBitExact(tag: "gru-awd") { o in
            o.settings.set(\.cell, .gru)
            o.settings.set(\.regularization.weightDrop, 0.3)
            o.settings.set(\.regularization.lockedDropout, true)
            o.settings.set(\.regularization.embeddingDropout, 0.2)
            o.settings.set(\.regularization.tieWeights, true)
        }
        // Tied weights stay one matrix through 50 Adam steps and a resume.
        let m = try Checkpoint.load(path: scratch + "/split-gru-awd/latest").model
        let e = m.view("embed.weight")!, h = m.view("head.weight")!
        XCTAssertEqual(m.config.cell, .gru)
        XCTAssertTrue(m.config.regularization.tieWeights)
        XCTAssertEqual(Array(m.parameters[e.offset..<(e.offset + e.count)]),
                       Array(m.parameters[h.offset..<(h.offset + h.count)]))
    }

    /// bf16 products: a resume that does not name --precision keeps the run's and is as exact as in
    /// float32; one that names f32 goes on in float32.
    func testResumeIsBitExactWithBF16Products() throws {
        try XCTSkipUnless(Kernels.bf16Supported, "no native bfloat16 products here (\(KernelInfo.effective))")
        try resumeIsBitExact(tag: "bf16", resumeKeepsLimits: true) { o in o.limits.set(\.precision, .bf16) }
        let s = try TrainingState.load(directory: scratch + "/split-bf16/latest")
        XCTAssertEqual(s.config.limits.productPrecision, .bf16)
        var other = options("split-bf16", iters: 60, evalEvery: 5, dropout: 0.25)
        other.resume = true
        other.limits = LimitChanges()
        other.limits.set(\.maxIters, 60)
        other.limits.set(\.precision, .f32)
        _ = try Trainer(options: other).run()
        let after = try TrainingState.load(directory: scratch + "/split-bf16/latest")
        XCTAssertEqual(after.iteration, 60)
        XCTAssertEqual(after.config.limits.productPrecision, .f32)
    }

    /// `resumeKeepsLimits`: the resume names none of the limits `configure` set (the run's are kept).
    func resumeIsBitExact(tag: String, resumeKeepsLimits: Bool = false,
                          _ configure: (inout Trainer.Options) -> Void) throws {
        let n = 25   // crosses the epoch boundary, so the state reset and the epoch count are covered too
        let whole = "whole-" + tag, split = "split-" + tag
        func opts(_ run: String, _ iters: Int) -> Trainer.Options {
            var o = options(run, iters: iters, evalEvery: 5, dropout: 0.25)
            configure(&o)
            return o
        }
        _ = try Trainer(options: opts(whole, 2 * n)).run()
        _ = try Trainer(options: opts(split, n)).run()
        var resume = resumeKeepsLimits ? options(split, iters: 2 * n, evalEvery: 5, dropout: 0.25) : opts(split, 2 * n)
        resume.resume = true
        let s = try Trainer(options: resume).run()
        XCTAssertEqual(s.iteration, 2 * n)
        XCTAssertGreaterThan(try Manifest.load(directory: Self.prepared).split(.train)!.minibatches, 0)

        let a = try Checkpoint.load(path: scratch + "/" + whole + "/latest"),
            b = try Checkpoint.load(path: scratch + "/" + split + "/latest")
        XCTAssertEqual(a.model.parameters.count, b.model.parameters.count)
        for i in 0..<a.model.parameters.count where a.model.parameters[i].bitPattern != b.model.parameters[i].bitPattern {
            XCTFail("parameter \(i) differs: \(a.model.parameters[i]) vs \(b.model.parameters[i])")
            break
        }
        XCTAssertEqual(try trainLosses(whole), try trainLosses(split))
        let evals = { (run: String) in try MetricsLog.read(path: self.scratch + "/" + run + "/metrics.jsonl").filter { $0.type == .eval }.map { [$0.split!.rawValue, "\($0.iter)", "\($0.natsPerToken!)"] } }
        XCTAssertEqual(try evals(whole), try evals(split))
        let sa = try TrainingState.load(directory: scratch + "/" + whole + "/latest"),
            sb = try TrainingState.load(directory: scratch + "/" + split + "/latest")
        XCTAssertEqual(sa.rng, sb.rng)
        XCTAssertEqual(sa.optimizerSteps, sb.optimizerSteps)
        XCTAssertEqual(sa.epoch, sb.epoch)
        XCTAssertEqual(sa.position, sb.position)
    }

    func testCheckpointRoundTrip() throws {
        let t = try Trainer(options: options("rt", iters: 12, evalEvery: 6))
        _ = try t.run()
        // A run folder loads its best checkpoint; the latest folder loads as itself.
        let best = try Checkpoint.load(path: scratch + "/rt")
        XCTAssertTrue(best.directory.hasSuffix("/best"))
        let latest = try Checkpoint.load(path: scratch + "/rt/latest")
        XCTAssertEqual(latest.meta.iteration, 12)
        XCTAssertEqual(latest.meta.model, t.model.config)
        XCTAssertEqual(latest.vocabulary.count, t.manifest.vocabSize)
        XCTAssertEqual(latest.meta.vocabChecksum, t.manifest.vocabChecksum)
        XCTAssertEqual(Array(latest.model.parameters), Array(t.model.parameters))
        let state = try TrainingState.load(directory: scratch + "/rt/latest")
        XCTAssertEqual(state.iteration, 12)
        XCTAssertEqual(state.rng, t.state.rng)
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch + "/rt/vocab.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/rt/latest.new"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/rt/latest.old"))
        // An interrupted replacement (latest renamed away, new one not yet in place) still loads.
        try FileManager.default.moveItem(atPath: scratch + "/rt/latest", toPath: scratch + "/rt/latest.old")
        XCTAssertEqual(try Checkpoint.resolve(scratch + "/rt", prefer: [Checkpoint.latest]), scratch + "/rt/latest.old")
    }

    func testDamagedCheckpointFilesAreErrorsNamingTheFile() throws {
        _ = try Trainer(options: options("bad", iters: 4, evalEvery: 0)).run()
        let dir = scratch + "/bad/latest"
        let fm = FileManager.default
        func expectError(_ file: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body()) { e in
                XCTAssertTrue("\(e)".contains(file), "error should name \(file): \(e)")
            }
        }
        func damage(_ file: String, _ f: (inout Data) -> Void, _ check: () throws -> Void) throws {
            let path = dir + "/" + file
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            var d = original
            f(&d)
            try d.write(to: URL(fileURLWithPath: path))
            expectError(file, check)
            try original.write(to: URL(fileURLWithPath: path))
        }
        var resume = options("bad", iters: 8, evalEvery: 0)
        resume.resume = true
        let load = { _ = try Checkpoint.load(path: dir) }
        let train = { _ = try Trainer(options: resume) }
        try damage("model.safetensors", { $0 = $0.prefix($0.count / 2) }, load)
        try damage("meta.json", { $0 = $0.prefix(40) }, load)
        try damage("meta.json", { $0 = Data("{\"format\": \"gasa-checkpoint\"}".utf8) }, load)
        try damage("vocab.json", { $0[$0.count - 3] ^= 0x01 }, load)
        try damage("state.json", { $0 = $0.prefix($0.count - 10) }, train)
        try damage("optimizer.safetensors", { $0 = $0.prefix(100) }, train)
        try damage("recurrent.safetensors", { $0.append(contentsOf: [1, 2, 3]) }, train)
        // Undamaged again: it loads and resumes.
        XCTAssertNoThrow(try load())
        XCTAssertNoThrow(try train())
        // A missing file is named too.
        try fm.removeItem(atPath: dir + "/optimizer.safetensors")
        expectError("optimizer.safetensors", train)
    }

    func testNaNGuardStopsAndKeepsTheLastCheckpoint() throws {
        var o = options("nan", iters: 20, evalEvery: 0)
        o.settings.set(\.learningRate, 1e30)
        o.settings.set(\.gradClip, 0)
        XCTAssertThrowsError(try Trainer(options: o).run()) { e in
            guard case TrainingError.diverged = e else { return XCTFail("expected divergence, got \(e)") }
            XCTAssertTrue("\(e)".contains("learning-rate"))
        }
        let c = try Checkpoint.load(path: scratch + "/nan")
        XCTAssertEqual(c.meta.iteration, 0)
        XCTAssertTrue(c.model.parameters.allSatisfy(\.isFinite))
    }

    func testExistingRunFolderNeedsResumeOrForce() throws {
        _ = try Trainer(options: options("exists", iters: 2, evalEvery: 0)).run()
        XCTAssertThrowsError(try Trainer(options: options("exists", iters: 2, evalEvery: 0))) { e in
            XCTAssertTrue("\(e)".contains("--resume"))
        }
        var forced = options("exists", iters: 2, evalEvery: 0)
        forced.force = true
        XCTAssertNoThrow(try Trainer(options: forced).run())
        // --force does not delete a folder that is not a run.
        try FileManager.default.createDirectory(atPath: scratch + "/other", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch + "/other/keep.txt"))
        var other = options("other", iters: 2, evalEvery: 0)
        other.force = true
        XCTAssertThrowsError(try Trainer(options: other))
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch + "/other/keep.txt"))
        // Resume refuses changed settings.
        var changed = options("exists", iters: 4, evalEvery: 0)
        changed.resume = true
        changed.settings.set(\.hiddenSize, 16)
        XCTAssertThrowsError(try Trainer(options: changed)) { e in XCTAssertTrue("\(e)".contains("--rnn-size")) }
    }

    func testStopRequestSavesLatestAndReturns() throws {
        let t = try Trainer(options: options("stop", iters: 1000, evalEvery: 0))
        StopSignal.request()
        let s = try t.run()
        StopSignal.clear()
        XCTAssertEqual(s.stopReason, .interrupted)
        XCTAssertEqual(try Checkpoint.load(path: scratch + "/stop").meta.iteration, s.iteration)
    }

    func testInitFromCopiesWeights() throws {
        _ = try Trainer(options: options("src", iters: 5, evalEvery: 0)).run()
        var o = options("dst", iters: 0, evalEvery: 0)
        o.limits.set(\.maxIters, 1)
        o.initFrom = scratch + "/src/latest"
        let t = try Trainer(options: o)
        let src = try Checkpoint.load(path: scratch + "/src/latest")
        XCTAssertEqual(Array(t.model.parameters), Array(src.model.parameters))
        XCTAssertEqual(t.optimizer.steps, 0)
        var wrong = options("dst2", iters: 1, evalEvery: 0)
        wrong.settings.set(\.hiddenSize, 8)
        wrong.initFrom = scratch + "/src/latest"
        XCTAssertThrowsError(try Trainer(options: wrong))
    }
}
