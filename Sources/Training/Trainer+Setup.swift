// Building a Trainer: a fresh run (new weights from the seed, or --init-from weights), or --resume of
// an existing run from its latest checkpoint. This is where what each way in keeps is decided: a fresh
// run applies the given settings to the defaults; --init-from to the checkpoint's model shape (and they
// must agree with it); --resume keeps the run's settings and refuses any given that differ, and takes
// the run's last limits with the given ones over them. Everything is checked before the first iteration: the run
// folder, the prepared folder's vocabulary against the checkpoint's, every checkpoint file, the memory it needs.
import Corpus
import Foundation
import Model
import Compute
import Storage

extension Trainer {
    public convenience init(options o: Options) throws {
        guard !(o.resume && (o.initFrom != nil || o.force)) else {
            throw TrainingError.badOptions("--resume cannot be combined with --init-from or --force")
        }
        if o.resume {
            try self.init(resuming: o)
        } else {
            try self.init(fresh: o)
        }
    }

    /// The prepared folder and what training needs of it.
    private static func loadPrepared(_ dir: String) throws -> (Manifest, SplitInfo, [UInt8]) {
        let manifest = try Manifest.load(directory: dir)
        guard let trainInfo = manifest.split(.train), trainInfo.minibatches > 0 else {
            throw TrainingError.badOptions("\(dir): the train split holds no minibatch; prepare a larger corpus")
        }
        return (manifest, trainInfo, try readFileBytes(dir + "/" + manifest.vocabFile, limit: 256 << 20))
    }

    /// Refuses a model and batch whose training would not fit in this machine's memory, before any of it
    /// is allocated (an allocation that fails is a crash, not an error).
    static func checkMemory(_ m: ModelConfig, batch: Int, steps: Int, rowParts: Int) throws {
        let need = Workspace.trainingBytes(config: m, batch: batch, steps: steps, rowParts: rowParts)
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return }
        var have = Double(pages) * Double(size)
        // A container's memory limit (cgroup v2), when lower.
        if let b = try? readFileBytes("/sys/fs/cgroup/memory.max", limit: 64),
           let limit = Double(String(decoding: b, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
            have = min(have, limit)
        }
        guard need < have else {
            let gib = { (x: Double) in String(format: "%.1f GiB", x / 1_073_741_824) }
            throw TrainingError.badOptions("training \(m.layers) x \(m.hiddenSize) (\(m.parameterCount) parameters) "
                                           + "on batches of \(batch) x \(steps) needs about \(gib(need)) of memory; "
                                           + "this machine has \(gib(have)). "
                                           + "Lower --rnn-size or --layers, or prepare with a smaller --batch-size or "
                                           + "--seq-length")
        }
    }

    private convenience init(resuming o: Options) throws {
        let writes = (o.processes?.rank ?? 0) == 0
        if writes, let note = try RunFolder.recoverInterruptedForce(run: o.run), !o.quiet { fputs(note + "\n", stderr) }
        _ = o.processes?.any(false)   // the other ranks read the run folder once rank 0 has put it in order
        let dir = try Checkpoint.resolve(o.run, prefer: [Checkpoint.latest])
        var state = try TrainingState.load(directory: dir)
        let meta = try CheckpointMeta.load(directory: dir)
        try Trainer.crossCheck(meta: meta, state: state, directory: dir)
        let differing = o.settings.conflicts(with: state.config.settings)
        guard differing.isEmpty else {
            throw TrainingError.badOptions("--resume keeps the run's settings; these do not match "
                                           + "\(dir)/\(TrainingState.fileName): "
                                           + "\(differing.joined(separator: ", ")); drop those options or start a new "
                                           + "run with --out")
        }
        let prepared = o.prepared ?? meta.preparedDirectory
        let (manifest, trainInfo, vocabBytes) = try Trainer.loadPrepared(prepared)
        guard meta.vocabChecksum == manifest.vocabChecksum, meta.vocabSize == manifest.vocabSize else {
            throw TrainingError.badOptions("\(prepared) has a different vocabulary (checksum "
                                           + "\(manifest.vocabChecksum), "
                                           + "\(manifest.vocabSize) tokens) from the run \(o.run) (checksum "
                                           + "\(meta.vocabChecksum), "
                                           + "\(meta.vocabSize) tokens); resume with the prepared folder it was "
                                           + "trained on")
        }
        guard state.minibatchesPerEpoch == trainInfo.minibatches, state.trainBatch == trainInfo.batchSize else {
            throw TrainingError.badOptions("\(prepared)'s train split (\(trainInfo.minibatches) minibatches of "
                                           + "\(trainInfo.batchSize) "
                                           + "rows) is not the one the run was trained on "
                                           + "(\(state.minibatchesPerEpoch) of "
                                           + "\(state.trainBatch)); resume with the same prepared folder")
        }
        // Settings in force: the run's; limits: the run's last, with those given now.
        let config = TrainConfig(settings: state.config.settings, limits: o.limits.applied(to: state.config.limits))
        try config.limits.validate()
        let threadsBefore = state.threadUse, processesBefore = state.processes ?? 1
        let precisionBefore = state.config.limits.productPrecision
        state.config = config
        state.threadUse = config.limits.threadUse
        state.processes = o.processes?.size ?? 1
        Kernels.setThreads(config.limits.productThreads)
        try Trainer.checkMemory(meta.model, batch: trainInfo.batchSize, steps: manifest.seqLength,
                                rowParts: config.limits.rowParts)
        let model = LanguageModel(config: meta.model)
        let optimizer = Optimizer(kind: config.settings.optimizer, count: model.config.parameterCount)
        let recurrent = model.makeState(batch: trainInfo.batchSize)
        try Checkpoint.restore(directory: dir, meta: meta, state: state, model: model, optimizer: optimizer,
                               recurrent: recurrent)
        let metrics = writes ? try MetricsLog(runDirectory: o.run, keepThrough: state.iteration) : nil
        try self.init(options: o, prepared: prepared, config: config, manifest: manifest, model: model,
                      optimizer: optimizer, state: state, recurrent: recurrent, vocabBytes: vocabBytes,
                      metrics: metrics)
        lastCheckpointIteration = state.iteration
        if (threadsBefore != config.limits.threadUse || processesBefore != state.processes) && !o.quiet {
            progress.message("note: the run was trained with other --threads, --parallel or process counts "
                             + "(\(processesBefore) x \(threadsBefore.threads)) than this resume's "
                             + "(\(state.processes ?? 1) x \(config.limits.threadCount)); the computation is the "
                             + "same, but its sums run in another order, so results may differ in the last bits")
        }
        if precisionBefore != config.limits.productPrecision && !o.quiet {
            progress.message("note: the run was trained with --precision \(precisionBefore.rawValue) and goes on in "
                             + "\(config.limits.productPrecision.rawValue): from here its results differ from a run "
                             + "kept in one precision")
        }
        if !o.quiet {
            let recovered = dir.hasSuffix(".new") || dir.hasSuffix(".old")
            progress.message("resuming \(o.run) from \(dir) at iteration \(state.iteration) (epoch "
                             + "\(String(format: "%.2f", state.fractionalEpoch)))"
                             + (recovered ? ": a complete checkpoint an interrupted save left; the next save puts it "
                                + "back as \(Checkpoint.latest)" : ""))
        }
    }

    private convenience init(fresh o: Options) throws {
        guard let prepared = o.prepared else {
            throw TrainingError.badOptions("give the prepared folder to train on (written by gasa prepare)")
        }
        // --init-from: the model's shape comes from its checkpoint, unless given (then it must match).
        var base = RunSettings()
        var source: (dir: String, meta: CheckpointMeta)? = nil
        if let from = o.initFrom {
            do {
                let dir = try Checkpoint.resolve(from, prefer: [Checkpoint.best, Checkpoint.latest])
                source = (dir, try CheckpointMeta.load(directory: dir))
            } catch { throw TrainingError.badOptions("--init-from: \(error)") }
            let m = source!.meta.model
            base.layers = m.layers
            base.hiddenSize = m.hiddenSize
            base.embeddingSize = m.embeddingSize
            base.cell = m.cell
            base.regularization.tieWeights = m.regularization.tieWeights
        }
        let c = TrainConfig(settings: o.settings.applied(to: base), limits: o.limits.applied(to: SessionLimits()))
        try c.limits.validate()
        try c.settings.validate()
        let (manifest, trainInfo, vocabBytes) = try Trainer.loadPrepared(prepared)
        Kernels.setThreads(c.limits.productThreads)
        // Under mpirun only rank 0 touches the run folder (the others may be on other machines).
        let writes = (o.processes?.rank ?? 0) == 0
        let replacing = writes && (fileExists(o.run) || isSymbolicLink(o.run))
        if replacing {
            guard o.force else {
                let why: String
                if (try? Checkpoint.resolve(o.run, prefer: [Checkpoint.latest])) != nil {
                    why = "; continue it with --resume \(o.run), replace it with --force, or choose another --out"
                } else if isDirectory(o.run) && (OwnedFolder.names(in: o.run) ?? ["?"]).isEmpty {
                    why = " (an empty folder); add --force to use it, or choose another --out"
                } else {
                    why = " and is not a run folder; choose another --out"
                }
                throw TrainingError.badRun("\(o.run) already exists" + why)
            }
            try RunFolder.checkReplaceable(o.run, keeping: [prepared])
        }
        let s = c.settings
        let modelConfig = ModelConfig(vocabSize: manifest.vocabSize, embeddingSize: s.embeddingWidth,
                                      hiddenSize: s.hiddenSize, layers: s.layers, dropout: s.dropout, cell: s.cell,
                                      regularization: s.regularization)
        do { try modelConfig.validate() } catch { throw TrainingError.badOptions("\(error)") }
        try Trainer.checkMemory(modelConfig, batch: trainInfo.batchSize, steps: manifest.seqLength,
                                rowParts: c.limits.rowParts)
        var rng = RNG(seed: s.seed)
        let model: LanguageModel
        if let (dir, meta) = source, let from = o.initFrom {
            guard meta.vocabChecksum == manifest.vocabChecksum, meta.vocabSize == manifest.vocabSize else {
                throw TrainingError.badOptions("--init-from \(from): its vocabulary (checksum \(meta.vocabChecksum)) "
                                               + "is not the one of \(prepared) (\(manifest.vocabChecksum)); weights "
                                               + "only transfer between runs on the same vocabulary")
            }
            var theirs = meta.model
            theirs.dropout = modelConfig.dropout
            // The regularisers may change, except tying: two different matrices cannot become one.
            let tie = theirs.regularization.tieWeights
            theirs.regularization = modelConfig.regularization
            theirs.regularization.tieWeights = tie
            guard theirs == modelConfig else {
                throw TrainingError.badOptions("--init-from \(from) has \(meta.model.layers) x "
                                               + "\(meta.model.hiddenSize) \(meta.model.cell.rawValue) (embedding "
                                               + "\(meta.model.embeddingSize), tied weights \(tie)), not "
                                               + "\(s.layers) x \(s.hiddenSize) \(s.cell.rawValue) (embedding "
                                               + "\(modelConfig.embeddingSize), tied weights "
                                               + "\(s.regularization.tieWeights)); drop --cell/--layers/--rnn-size/"
                                               + "--embedding-size/--tie-weights or make them match")
            }
            let loaded: LoadedCheckpoint
            do { loaded = try Checkpoint.load(path: dir) } catch { throw TrainingError.badOptions("--init-from: \(error)") }
            model = LanguageModel(config: modelConfig)
            _ = model.parameters.update(from: loaded.model.parameters)
        } else {
            model = LanguageModel(config: modelConfig, rng: &rng)
        }
        // Only now, with --init-from's weights in memory (they may come from the folder being replaced), the
        // old folder is set aside; it is removed once the new run holds its first checkpoint. Until then
        // the new folder is scratch: a failure (a full disk, say) removes it and puts the old one back, so
        // that what is left is never a run folder without a checkpoint, nor no run at all. (A process killed
        // in between leaves the old run as RUN.old-PID, which --resume puts back.)
        let old: SetAsideFolder?
        do {
            old = replacing ? try SetAsideFolder(o.run, record: OwnedFolder.isMarked(o.run, as: .run)) : nil
        } catch let e as FileError { throw TrainingError.badRun(e.description) }
        var started = false
        defer {
            if !started && writes {
                if let old { old.putBack() } else { try? FileManager.default.removeItem(atPath: o.run) }
            }
        }
        if writes {
            try makeDirectories(o.run)
            try OwnedFolder.mark(o.run, as: .run)   // what --force later requires before replacing it
            try AtomicFile.write(vocabBytes, to: o.run + "/" + Checkpoint.vocabFile)
        }
        let optimizer = Optimizer(kind: s.optimizer, count: modelConfig.parameterCount)
        let recurrent = model.makeState(batch: trainInfo.batchSize)
        var state = TrainingState(config: c, minibatchesPerEpoch: trainInfo.minibatches,
                                  trainBatch: trainInfo.batchSize, rng: rng)
        state.threadUse = c.limits.threadUse
        state.processes = o.processes?.size ?? 1
        let metrics = writes ? try MetricsLog(runDirectory: o.run, keepThrough: nil) : nil
        try self.init(options: o, prepared: prepared, config: c, manifest: manifest, model: model, optimizer: optimizer,
                      state: state, recurrent: recurrent, vocabBytes: vocabBytes, metrics: metrics)
        // A run folder always holds a loadable checkpoint, from iteration 0 on.
        try save(best: false)
        started = true
        old?.discard()
    }

    /// meta.json and state.json of one checkpoint describe the same model at the same iteration.
    static func crossCheck(meta: CheckpointMeta, state: TrainingState, directory dir: String) throws {
        let s = state.config.settings, m = meta.model
        var differing: [String] = []
        if m.layers != s.layers { differing.append("layers \(m.layers) vs \(s.layers)") }
        if m.hiddenSize != s.hiddenSize { differing.append("rnn size \(m.hiddenSize) vs \(s.hiddenSize)") }
        if m.embeddingSize != s.embeddingWidth {
            differing.append("embedding size \(m.embeddingSize) vs \(s.embeddingWidth)")
        }
        if m.dropout != s.dropout { differing.append("dropout \(m.dropout) vs \(s.dropout)") }
        if m.cell != s.cell { differing.append("cell \(m.cell.rawValue) vs \(s.cell.rawValue)") }
        if m.regularization != s.regularization {
            differing.append("regularisers \(m.regularization.summary) vs \(s.regularization.summary)")
        }
        if meta.iteration != state.iteration { differing.append("iteration \(meta.iteration) vs \(state.iteration)") }
        guard differing.isEmpty else {
            throw TrainingError.badCheckpoint(path: dir + "/" + CheckpointMeta.fileName,
                                              problem: "disagrees with \(TrainingState.fileName) "
                                                  + "(\(differing.joined(separator: ", "))): "
                                                + "one of them was changed or is damaged")
        }
    }
}
