// The training loop: truncated BPTT over the train split's minibatches in stream order (state carried
// from minibatch to minibatch, reset at each epoch start), global-norm clipping, an optimizer step,
// periodic validation with checkpoints, metrics and a progress line. Setting up (fresh, --resume,
// --init-from) is in Trainer+Setup.swift. The loop allocates nothing per iteration: every buffer is
// made before it starts, and strings are built only when a line is due.
import Common
import Corpus
import Foundation
import Model
import Compute
import Storage

public final class Trainer {
    public struct Options {
        public var prepared: String?               // folder written by gasa prepare (--resume: default the run's)
        public var run: String                     // run folder (created, or resumed)
        public var settings = SettingChanges()     // settings given (see TrainConfig.swift for what each way in keeps)
        public var limits = LimitChanges()         // this invocation's stop conditions, threads and cadence, given
        public var resume = false                  // continue the run in `run` from its latest checkpoint
        public var initFrom: String? = nil         // start from these weights (same vocabulary), fresh optimizer
        public var force = false                   // replace an existing run folder
        public var quiet = false                   // no progress on stderr
        public var warmupIterations = 5            // excluded from the steady-state throughput
        public var plot = true                     // write loss.svg at the end
        public var processes: ProcessGroup? = nil  // under mpirun: the job's processes (Trainer+Processes.swift)

        public init(prepared: String?, run: String) {
            self.prepared = prepared
            self.run = withoutTrailingSlashes(run)
        }
    }

    public let options: Options
    public let manifest: Manifest
    public let model: LanguageModel
    public let optimizer: Optimizer
    public internal(set) var state: TrainingState
    public let config: TrainConfig                       // settings and limits in force for this invocation
    /// The prepared folder trained on, as given (and, absolute, as recorded in checkpoints).
    public let prepared: String
    let preparedPath: String                             // `prepared` made absolute, as checkpoints record it
    let trainStream: SplitStream
    /// The carried state of the whole batch, as checkpoints hold it.
    let recurrent: RecurrentState
    /// Under mpirun: this process's block of every train minibatch's rows and its carried state (without
    /// it, the whole batch and `recurrent` itself).
    let group: ProcessGroup?
    public let slice: BatchSlice
    let blockState: RecurrentState
    /// Whether this process writes the run folder (rank 0, or the only process).
    let writes: Bool
    /// Stop decisions every process agreed on in the last step's exchange (Trainer+Processes.swift).
    var agreedStop = (signal: false, minutes: false)
    var runStart = 0.0
    let workspace: Workspace
    let inputs: UnsafeMutablePointer<Int32>
    let targets: UnsafeMutablePointer<Int32>
    let vocabBytes: [UInt8]
    let metrics: MetricsLog?                             // nil in the processes that do not write
    let progress: ProgressLine
    var valEvaluator: SplitEvaluator?
    var bestSaved = false
    var lastValResult: EvalResult?

    /// The common part of every way in (see Trainer+Setup.swift).
    init(options o: Options, prepared: String, config: TrainConfig, manifest: Manifest, model: LanguageModel,
         optimizer: Optimizer, state: TrainingState, recurrent: RecurrentState, vocabBytes: [UInt8],
             metrics: MetricsLog?) throws {
        options = o
        self.prepared = prepared
        self.config = config
        self.manifest = manifest
        self.model = model
        self.optimizer = optimizer
        self.state = state
        self.recurrent = recurrent
        self.vocabBytes = vocabBytes
        self.metrics = metrics
        model.trainingPrecision = config.limits.productPrecision
        preparedPath = absolutePath(prepared)
        trainStream = try SplitStream(directory: prepared, manifest: manifest, split: .train)
        group = o.processes
        writes = (o.processes?.rank ?? 0) == 0
        let B = trainStream.batchSize
        if let g = group {
            guard g.size <= B else {
                throw TrainingError.badOptions("\(g.size) processes need at least \(g.size) rows per minibatch, one "
                                               + "block each; \(prepared)'s train split has \(B) (start at most "
                                               + "\(B) processes, or prepare with --batch-size \(g.size) or more)")
            }
            slice = BatchSlice(block: g.rank, of: g.size, totalRows: B)
            blockState = model.makeState(batch: slice.rows)
            Trainer.copyRows(slice, from: recurrent, to: blockState)
        } else {
            slice = BatchSlice(firstRow: 0, rows: B, totalRows: B)
            blockState = recurrent
        }
        workspace = model.makeWorkspace(batch: slice.rows, steps: manifest.seqLength,
                                        rowParts: config.limits.rowParts)
        inputs = .allocate(capacity: trainStream.batchSize * manifest.seqLength)
        targets = .allocate(capacity: trainStream.batchSize * manifest.seqLength)
        progress = ProgressLine(every: config.limits.printEvery, quiet: o.quiet)
        // Validation runs between training steps, in memory the training workspace lends meanwhile.
        valEvaluator = try SplitEvaluator(model: model, directory: prepared, manifest: manifest, split: .val,
                                          rowParts: config.limits.rowParts, group: group,
                                          borrowing: workspace.evaluationScratch)
        if valEvaluator == nil && !o.quiet {
            progress.message("note: \(prepared) has no validation minibatch; no validation, no best checkpoint, "
                             + "--patience has no effect")
        }
        if let g = group { try checkSameStart(g) }
    }

    deinit {
        inputs.deallocate()
        targets.deallocate()
    }

    /// Wall time of the run: this invocation's clock on top of what earlier ones spent.
    struct RunClock {
        let start = monotonicSeconds()
        let before: Double
        func elapsed(_ now: Double = monotonicSeconds()) -> Double { before + now - start }
    }

    /// Tokens and seconds of the training steps (evaluation excluded): all of this invocation's, those
    /// after the warm-up, and those since the last progress line.
    struct Speed {
        var steadySeconds = 0.0, steadyTokens = 0, steadyIterations = 0
        var allSeconds = 0.0, allTokens = 0
        var windowSeconds = 0.0, windowTokens = 0

        mutating func add(tokens: Int, seconds: Double, steady: Bool) {
            if steady { steadySeconds += seconds; steadyTokens += tokens; steadyIterations += 1 }
            windowSeconds += seconds; windowTokens += tokens
            allSeconds += seconds; allTokens += tokens
        }
    }

    /// Runs until a stop condition, a stop request (SIGINT/SIGTERM via StopSignal) or divergence (thrown,
    /// leaving the last checkpoint as it was).
    public func run() throws -> TrainingSummary {
        let c = config.limits
        let (limit, limitReason) = iterationLimit()
        let clock = RunClock(before: state.elapsedSeconds)
        runStart = clock.start
        let startIteration = state.iteration
        var speed = Speed()
        var reason: TrainingSummary.StopReason? = state.iteration >= limit ? .alreadyDone : nil

        // A validation that was due at this iteration but did not finish (a signal landed during it) is
        // done first, so that a resumed run validates, and keeps best/, where the uninterrupted one did.
        if reason == nil, c.evalEvery > 0, state.iteration > 0, state.iteration % c.evalEvery == 0, valEvaluator != nil,
           state.lastEvalIteration != state.iteration {
            if !options.quiet {
                progress.message("validating at iteration \(state.iteration) first: the last run was interrupted "
                                 + "during it")
            }
            reason = try validateAndSave(clock)
        }

        while reason == nil {
            if group == nil ? StopSignal.requested : agreedStop.signal { reason = .interrupted; break }
            if state.iteration >= limit { reason = limitReason; break }
            let now = monotonicSeconds()
            if group == nil ? timeIsUp(now) : agreedStop.minutes { reason = .minutes; break }

            let step = try trainIteration()
            let after = monotonicSeconds()
            speed.add(tokens: step.tokens, seconds: after - now,
                      steady: state.iteration - startIteration > options.warmupIterations)
            state.intervalLossSum += step.loss
            state.intervalCount += 1
            state.intervalTokens += step.tokens
            state.intervalSeconds += after - now
            state.lastTrainLoss = step.loss
            if state.iteration % config.settings.logEvery == 0 {
                try logInterval(step, minutes: clock.elapsed(after) / 60)
            }
            if c.evalEvery > 0 && state.iteration % c.evalEvery == 0 && valEvaluator != nil {
                reason = try validateAndSave(clock)
                if reason == .interrupted { break }
            }
            // After the evaluation, so that the line of an evaluation's iteration shows its new val loss.
            if progress.due(iteration: state.iteration, now: after) {
                let perIter = (after - clock.start) / Double(max(1, state.iteration - startIteration))
                var eta = limit == Int.max ? Double.infinity : Double(limit - state.iteration) * perIter
                if c.maxMinutes > 0 { eta = min(eta, c.maxMinutes * 60 - (after - clock.start)) }
                progress.draw(progressText(limit: limit, loss: step.loss,
                                           tokensPerSecond: Double(speed.windowTokens) / max(speed.windowSeconds, 1e-9),
                                           lr: step.lr, elapsed: clock.elapsed(after), eta: eta), now: after)
                speed.windowSeconds = 0; speed.windowTokens = 0
            }
        }
        progress.endLine()
        return try end(reason!, clock: clock, speed: speed, iterations: state.iteration - startIteration)
    }

    /// Whether --max-minutes has run out for this invocation.
    func timeIsUp(_ now: Double = monotonicSeconds()) -> Bool {
        config.limits.maxMinutes > 0 && now - runStart >= config.limits.maxMinutes * 60
    }

    /// The iteration to stop at (Int.max: none) and what it is.
    private func iterationLimit() -> (Int, TrainingSummary.StopReason) {
        let c = config.limits
        var limit = Int.max, reason = TrainingSummary.StopReason.iterations
        if c.maxIters > 0 { limit = c.maxIters }
        if c.maxEpochs > 0 {
            let e = (c.maxEpochs * Double(trainStream.count)).rounded(.up)   // at most 1e9 x 2^24-ish: exact in Double
            if e < Double(limit) { limit = Int(e); reason = .epochs }
        }
        return (limit, reason)
    }

    /// One iteration: the next minibatch, forward and backward, clipping, the optimizer's step, and the
    /// data position moved on. A loss or gradient that has blown up is thrown, before the step.
    private func trainIteration() throws -> (loss: Double, gradNorm: Double, lr: Double, tokens: Int) {
        let schedule = config.settings.schedule
        if state.position == 0 { blockState.reset() }      // each epoch starts from a zero state
        let lr = schedule.rate(completedEpochs: state.epoch)
        state.learningRate = lr
        let steps = try trainStream.load(state.position, inputs: inputs, targets: targets)
        let tokens = trainStream.batchSize * steps
        var nats = model.trainStep(inputs: inputs + slice.firstRow * steps, targets: targets + slice.firstRow * steps,
                                   steps: steps, state: blockState, workspace: workspace, rng: &state.rng,
                                   slice: slice)
        if let g = group { nats = exchangeStep(g, loss: nats) }
        let loss = nats / Double(tokens)
        let gradNorm = GradientClip.clip(model.gradients, maxNorm: config.settings.gradClip,
                                         counting: model.distinctGradientRanges)
        guard Trainer.isSane(loss), gradNorm.isFinite else {
            progress.endLine()
            throw TrainingError.diverged(
                iteration: state.iteration + 1,
                what: !Trainer.isSane(loss) ? "the training loss is \(Trainer.describe(loss))"
                                            : "the gradient norm is not finite (\(gradNorm))",
                hint: "Lower --learning-rate (now \(lr)) or --grad-clip; the last good checkpoint "
                    + "\(options.run)/\(Checkpoint.latest) (iteration \(lastCheckpointIteration)) was kept")
        }
        optimizer.step(parameters: model.parameters, gradients: model.gradients, learningRate: lr,
                       threads: config.limits.threadCount)
        state.optimizerSteps = optimizer.steps
        state.iteration += 1
        state.position += 1
        if state.position == trainStream.count {
            state.position = 0
            state.epoch += 1
            state.learningRate = schedule.rate(completedEpochs: state.epoch)
        }
        return (loss, gradNorm, lr, tokens)
    }

    /// A train line of metrics.jsonl: the interval's mean loss and speed, and the last step's gradient norm.
    private func logInterval(_ step: (loss: Double, gradNorm: Double, lr: Double, tokens: Int),
                             minutes: Double) throws {
        var r = MetricsRecord(type: .train, iter: state.iteration, epoch: state.fractionalEpoch, minutes: minutes)
        r.trainLoss = state.intervalLossSum / Double(state.intervalCount)
        r.lr = step.lr
        r.tokensPerS = Double(state.intervalTokens) / max(state.intervalSeconds, 1e-9)
        r.gradNorm = step.gradNorm
        try metrics?.append(r)
        state.intervalLossSum = 0; state.intervalCount = 0; state.intervalTokens = 0; state.intervalSeconds = 0
    }

    /// Validates and saves the checkpoint (best/ too when it improved); returns .interrupted when a stop
    /// request cut the validation short, .patience when patience ran out, else nil.
    private func validateAndSave(_ clock: RunClock) throws -> TrainingSummary.StopReason? {
        guard let improved = try validate(elapsed: { clock.elapsed() }) else { return .interrupted }
        state.elapsedSeconds = clock.elapsed()
        try save(best: improved)
        let c = config.limits
        return c.patience > 0 && state.evalsWithoutImprovement >= c.patience ? .patience : nil
    }

    /// The end of a run: validate (unless just done), save, score the test split once, draw the plot.
    private func end(_ stop: TrainingSummary.StopReason, clock: RunClock, speed: Speed,
                     iterations: Int) throws -> TrainingSummary {
        var summary = TrainingSummary(
            stopReason: stop, runDirectory: options.run, iteration: state.iteration, epoch: state.fractionalEpoch,
            iterationsThisRun: iterations,
            steadyTokensPerSecond: speed.steadyIterations > 0 ? Double(speed.steadyTokens) / speed.steadySeconds : nil,
            steadyIterations: speed.steadyIterations, warmupIterations: min(options.warmupIterations, iterations),
            lastTrainLoss: state.lastTrainLoss, val: lastValResult, test: nil, testCheckpoint: nil,
            bestValLoss: state.bestValLoss, bestIteration: state.bestIteration, plotPath: nil)
        if let g = group {
            summary.processes = g.size
            summary.reduceSecondsPerStep = g.reduceCount > 0 ? g.reduceSeconds / Double(g.reduceCount) : nil
        }
        if speed.steadyIterations == 0 && speed.allTokens > 0 {
            // Too short a run to skip a warm-up: report what there is, saying so.
            summary.steadyTokensPerSecond = Double(speed.allTokens) / speed.allSeconds
            summary.warmupIterations = 0
            summary.steadyIterations = iterations
        }
        if stop == .alreadyDone {
            progress.message("\(options.run) is already at iteration \(state.iteration); raise --max-iters or "
                             + "--max-epochs to train further")
            return summary
        }
        if stop != .interrupted, valEvaluator != nil, state.lastEvalIteration != state.iteration {
            guard let improved = try validate(elapsed: { clock.elapsed() }) else {
                state.elapsedSeconds = clock.elapsed()
                try save(best: false)
                summary.stopReason = .interrupted
                return finish(summary)
            }
            state.elapsedSeconds = clock.elapsed()
            try save(best: improved)
        } else {
            state.elapsedSeconds = clock.elapsed()
            try save(best: false)
        }
        summary.val = lastValResult
        summary.bestValLoss = state.bestValLoss
        summary.bestIteration = state.bestIteration
        if stop != .interrupted {
            let (test, which) = try scoreTest(elapsedMinutes: clock.elapsed() / 60)
            summary.test = test
            summary.testCheckpoint = which
        }
        return finish(summary)
    }

    private func finish(_ s: TrainingSummary) -> TrainingSummary {
        var s = s
        if options.plot && writes {
            do { s.plotPath = try LossPlot.write(runDirectory: options.run) } catch {
                progress.message("note: could not write the loss plot: \(error)")
            }
        }
        return s
    }

    /// A mean loss (nats per token) above this means the weights have blown up: the model then gives the
    /// average target a probability below e^-1000, where an untrained one gives 1/V (ln V is about 7 for
    /// V = 1209). A blown-up model need not produce NaN: once products overflow, the matrix kernels may
    /// return an infinity where IEEE arithmetic would give NaN (oneDNN's do), and the saturating
    /// nonlinearities then keep every value finite.
    static let blownUpLoss = 1000.0

    static func isSane(_ loss: Double) -> Bool { loss.isFinite && loss <= blownUpLoss }

    static func describe(_ loss: Double) -> String {
        loss.isFinite ? "\(loss) nats per token (above \(Int(blownUpLoss)): the weights have blown up)" : "not finite "
            + "(\(loss))"
    }

    /// Validates over the whole val split, logs it and updates the best. Returns whether it is a new best,
    /// or nil if a stop was requested meanwhile.
    private func validate(elapsed: () -> Double) throws -> Bool? {
        guard let ev = valEvaluator else { return false }
        guard let r = try ev.run(model, shouldStop: { self.stopRequestedNow() }) else { return nil }
        guard Trainer.isSane(r.natsPerToken) else {
            progress.endLine()
            throw TrainingError.diverged(iteration: state.iteration,
                                         what: "the validation loss is \(Trainer.describe(r.natsPerToken))",
                                         hint: "Lower --learning-rate or --grad-clip; the last good checkpoint "
                                         + "\(options.run)/\(Checkpoint.latest) "
                                            + "(iteration \(lastCheckpointIteration)) was kept")
        }
        let improved = state.bestValLoss.map { r.natsPerToken < $0 } ?? true
        if improved {
            state.bestValLoss = r.natsPerToken
            state.bestIteration = state.iteration
            state.evalsWithoutImprovement = 0
        } else {
            state.evalsWithoutImprovement += 1
        }
        state.lastValLoss = r.natsPerToken
        state.lastEvalIteration = state.iteration
        lastValResult = r
        var rec = MetricsRecord(type: .eval, iter: state.iteration, epoch: state.fractionalEpoch,
                                minutes: elapsed() / 60)
        rec.split = .val
        rec.natsPerToken = r.natsPerToken
        rec.bitsPerChar = r.bitsPerCharacter
        rec.targets = r.targets
        rec.characters = r.characters
        rec.best = improved
        try metrics?.append(rec)
        progress.message(String(format: "iter %d: val %.4f nats/token, %.4f bits/char%@", state.iteration,
                                r.natsPerToken, r.bitsPerCharacter,
                                improved ? " (best)" : " (best \(String(format: "%.4f", state.bestValLoss ?? .nan)) "
                                + "at \(state.bestIteration ?? 0))"))
        return improved
    }

    /// Scores the test split once, with the best weights if there are any, else the current ones.
    private func scoreTest(elapsedMinutes: Double) throws -> (EvalResult?, String?) {
        let scored = model
        guard let ev = try SplitEvaluator(model: scored, directory: prepared, manifest: manifest, split: .test,
                                          rowParts: config.limits.rowParts, group: group,
                                          borrowing: workspace.evaluationScratch) else {
            return (nil, nil)
        }
        var which = Checkpoint.latest
        // The process that writes the run folder decides (the others may not see it) and, under mpirun,
        // hands the best weights to the others.
        var useBest = writes && (bestSaved || fileExists(options.run + "/" + Checkpoint.best + "/"
                                                         + CheckpointMeta.fileName))
        if let g = group { useBest = g.any(useBest) }
        if useBest {
            which = Checkpoint.best
            if state.bestIteration != state.iteration {
                if writes {
                    let dir = try Checkpoint.resolve(options.run, prefer: [Checkpoint.best])
                    // Training is over and saved: the best weights go into the model itself (no second copy in
                    // memory).
                    let bestMeta = try CheckpointMeta.load(directory: dir)
                    try Checkpoint.verify(bestMeta.weightsFile, in: dir, meta: bestMeta)
                    try Checkpoint.loadWeights(model, path: dir + "/" + bestMeta.weightsFile)
                }
                group?.broadcast(UnsafeMutableRawBufferPointer(model.parameters))
            }
        }
        guard let r = try ev.run(scored, shouldStop: { self.stopRequestedNow() }) else { return (nil, nil) }
        var rec = MetricsRecord(type: .eval, iter: state.iteration, epoch: state.fractionalEpoch,
                                minutes: elapsedMinutes)
        rec.split = .test
        rec.natsPerToken = r.natsPerToken
        rec.bitsPerChar = r.bitsPerCharacter
        rec.targets = r.targets
        rec.characters = r.characters
        try metrics?.append(rec)
        return (r, which)
    }

    var lastCheckpointIteration = 0

    /// Saves RUN/latest, and RUN/best when `best`.
    func save(best: Bool) throws {
        if let g = group { gatherState(g) }
        guard writes else {
            if best { bestSaved = true }
            lastCheckpointIteration = state.iteration
            return
        }
        let meta = makeMeta()
        let contents = Checkpoint.Contents(meta: meta, state: state, model: model, optimizer: optimizer,
                                           recurrent: recurrent, vocabBytes: vocabBytes)
        // best/ before latest/: a kill between the two then leaves latest/ at the previous checkpoint, and
        // the resumed run validates at this iteration again and rewrites best/. (The other order could
        // leave latest/ saying this iteration is the best while best/ still held older weights.)
        if best {
            try Checkpoint.write(contents, run: options.run, name: Checkpoint.best)
            bestSaved = true
        }
        try Checkpoint.write(contents, run: options.run, name: Checkpoint.latest)
        lastCheckpointIteration = state.iteration
    }

    func makeMeta() -> CheckpointMeta {
        CheckpointMeta(model: model.config, parameterCount: model.config.parameterCount,
                       vocabChecksum: manifest.vocabChecksum, vocabSize: manifest.vocabSize,
                       granularity: manifest.granularity, normalization: manifest.normalization,
                       preparedDirectory: preparedPath, iteration: state.iteration, epoch: state.fractionalEpoch,
                       trainLoss: state.lastTrainLoss, valLoss: state.lastValLoss,
                           valBitsPerChar: lastValResult?.bitsPerCharacter,
                       bestValLoss: state.bestValLoss, bestIteration: state.bestIteration)
    }

    private func progressText(limit: Int, loss: Double, tokensPerSecond: Double, lr: Double, elapsed: Double,
                              eta: Double) -> String {
        var s = "iter \(state.iteration)" + (limit == Int.max ? "" : "/\(limit)")
        s += String(format: " | epoch %.2f | loss %.4f", state.fractionalEpoch, loss)
        if let v = state.lastValLoss { s += String(format: " | val %.4f", v) }
        s += " | " + (tokensPerSecond >= 1e4 ? String(format: "%.1fk", tokensPerSecond / 1000) : String(format: "%.0f",
            tokensPerSecond)) + " tok/s"
        s += String(format: " | lr %.2e", lr)
        s += " | " + formatDuration(elapsed) + (eta.isFinite ? " | ETA " + formatDuration(max(0, eta)) : "")
        return s
    }
}
