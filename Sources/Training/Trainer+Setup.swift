// Building a Trainer: a fresh run (new weights from the seed, or --init-from weights), or --resume of
// an existing run from its latest checkpoint. Everything is checked before the first iteration: the
// run folder's state, the prepared folder's vocabulary against the checkpoint's, the settings a
// resumed run must keep, every checkpoint file.
import Corpus
import Foundation
import Model
import Numerics
import Storage

extension Trainer {
    public convenience init(options: Options) throws {
        let o = options
        let manifest = try Manifest.load(directory: o.prepared)
        guard let trainInfo = manifest.split("train"), trainInfo.minibatches > 0 else {
            throw TrainingError.badOptions("\(o.prepared): the train split holds no minibatch; prepare a larger corpus")
        }
        let vocabBytes = try readFileBytes(o.prepared + "/" + manifest.vocabFile, limit: 256 << 20)
        try o.config.validate()
        Kernels.setThreads(o.config.blasThreads)

        if o.resume {
            try self.init(resuming: o, manifest: manifest, trainInfo: trainInfo, vocabBytes: vocabBytes)
        } else {
            try self.init(fresh: o, manifest: manifest, trainInfo: trainInfo, vocabBytes: vocabBytes)
        }
    }

    /// Refuses a model and batch whose training would not fit in this machine's memory, before any of it
    /// is allocated (an allocation that fails is a crash, not an error).
    static func checkMemory(_ m: ModelConfig, batch: Int, steps: Int, replicas: Int) throws {
        let need = Workspace.trainingBytes(config: m, batch: batch, steps: steps, replicas: replicas)
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
            throw TrainingError.badOptions("training \(m.layers) x \(m.hiddenSize) (\(m.parameterCount) parameters) on batches of \(batch) x \(steps) "
                                           + "needs about \(gib(need)) of memory; this machine has \(gib(have)). "
                                           + "Lower --rnn-size or --layers, or prepare with a smaller --batch-size or --seq-length")
        }
    }

    /// A train --force killed after it moved the old run aside (RUN.old-PID) and before the new run's
    /// first checkpoint leaves RUN without a checkpoint: the old run is put back as RUN (the new folder,
    /// holding nothing but what gasa writes and no checkpoint, is removed first). Returns what was done,
    /// for the user; nil when there is nothing to recover. Only folders marked as runs are touched.
    public static func recoverInterruptedForce(run: String) throws -> String? {
        let (base, listing, sibling) = pathSiblings(run)
        let path = sibling(base)
        guard !base.isEmpty, (try? Checkpoint.resolve(path, prefer: [Checkpoint.latest])) == nil,
              let names = OwnedFolder.names(in: listing) else { return nil }
        let candidates = names.filter { leftoverBase($0, marks: [".old-"]) == base }.map(sibling)
            .filter { OwnedFolder.isMarked($0, as: .run) && OwnedFolder.isStaleLeftover($0)
                && (try? Checkpoint.resolve($0, prefer: [Checkpoint.latest])) != nil }
        guard let old = candidates.last else { return nil }
        if fileExists(path) || isSymbolicLink(path) {
            guard isRunFolder(path) || ((try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty ?? false) else {
                throw TrainingError.badRun("\(old) holds the run an interrupted --force was replacing, but \(path) holds other files; "
                                           + "move one of them away and resume again")
            }
            try FileManager.default.removeItem(atPath: path)
        }
        guard rename(old, path) == 0 else { throw FileError(old, "cannot rename to \(path): \(String(cString: strerror(errno)))") }
        OwnedFolder.clearLeftover(path)
        syncDirectory(of: path)
        return "recovered \(path) from \(old), the run an interrupted train --force was replacing (the new run had no checkpoint yet)"
    }

    private convenience init(resuming o: Options, manifest: Manifest, trainInfo: SplitInfo, vocabBytes: [UInt8]) throws {
        if let note = try Trainer.recoverInterruptedForce(run: o.run), !o.quiet { fputs(note + "\n", stderr) }
        let dir = try Checkpoint.resolve(o.run, prefer: [Checkpoint.latest])
        let meta = try CheckpointMeta.load(directory: dir)
        var state = try TrainingState.load(directory: dir)
        try Trainer.crossCheck(meta: meta, state: state, directory: dir)
        let differing = Trainer.differences(o.config.fixedPart, state.config.fixedPart)
        guard differing.isEmpty else {
            throw TrainingError.badOptions("--resume keeps the run's settings; these do not match \(dir)/\(TrainingState.fileName): \(differing.joined(separator: ", ")); "
                                           + "drop those options or start a new run with --out")
        }
        guard meta.vocabChecksum == manifest.vocabChecksum, meta.vocabSize == manifest.vocabSize else {
            throw TrainingError.badOptions("\(o.prepared) has a different vocabulary (checksum \(manifest.vocabChecksum), \(manifest.vocabSize) tokens) "
                                           + "from the run \(o.run) (checksum \(meta.vocabChecksum), \(meta.vocabSize) tokens); resume with the prepared folder it was trained on")
        }
        guard state.minibatchesPerEpoch == trainInfo.minibatches, state.trainBatch == trainInfo.batchSize else {
            throw TrainingError.badOptions("\(o.prepared)'s train split (\(trainInfo.minibatches) minibatches of \(trainInfo.batchSize) rows) is not the one "
                                           + "the run was trained on (\(state.minibatchesPerEpoch) of \(state.trainBatch)); resume with the same prepared folder")
        }
        // Settings in force: the run's, with this invocation's stop conditions, threads and printing.
        var config = state.config
        config.maxEpochs = o.config.maxEpochs
        config.maxIters = o.config.maxIters
        config.maxMinutes = o.config.maxMinutes
        config.threads = o.config.threads
        config.parallel = o.config.parallel
        config.printEvery = o.config.printEvery
        config.evalEvery = o.config.evalEvery
        config.patience = o.config.patience
        state.config = config
        try Trainer.checkMemory(meta.model, batch: trainInfo.batchSize, steps: manifest.seqLength, replicas: config.replicas)
        let model = LanguageModel(config: meta.model)
        let optimizer = Optimizer(kind: config.optimizer, count: model.config.parameterCount)
        let recurrent = model.makeState(batch: trainInfo.batchSize)
        try Checkpoint.restore(directory: dir, meta: meta, state: state, model: model, optimizer: optimizer, recurrent: recurrent)
        let metrics = try MetricsLog(runDirectory: o.run, keepThrough: state.iteration)
        try self.init(options: o, config: config, manifest: manifest, model: model, optimizer: optimizer, state: state,
                      recurrent: recurrent, vocabBytes: vocabBytes, metrics: metrics)
        lastCheckpointIteration = state.iteration
        if state.threads != config.effectiveThreads * (config.replicas > 1 ? -1 : 1) && !o.quiet {
            progress.message("note: the run was trained with other --threads or --parallel settings than this resume's; "
                             + "results may differ (in the last bits, or in the dropout masks)")
        }
        self.state.threads = config.effectiveThreads * (config.replicas > 1 ? -1 : 1)
        if !o.quiet {
            let recovered = dir.hasSuffix(".new") || dir.hasSuffix(".old")
            progress.message("resuming \(o.run) from \(dir) at iteration \(state.iteration) (epoch \(String(format: "%.2f", state.fractionalEpoch)))"
                             + (recovered ? ": a complete checkpoint an interrupted save left; the next save puts it back as \(Checkpoint.latest)" : ""))
        }
    }

    private convenience init(fresh o: Options, manifest: Manifest, trainInfo: SplitInfo, vocabBytes: [UInt8]) throws {
        let c = o.config
        let replacing = fileExists(o.run) || isSymbolicLink(o.run)
        if replacing {
            guard o.force else {
                let isRun = (try? Checkpoint.resolve(o.run, prefer: [Checkpoint.latest])) != nil
                throw TrainingError.badRun(isRun ? "\(o.run) already exists; continue it with --resume \(o.run), replace it with --force, or choose another --out"
                                                 : isDirectory(o.run) && ((try? FileManager.default.contentsOfDirectory(atPath: o.run)) ?? ["?"]).isEmpty
                                                 ? "\(o.run) already exists (an empty folder); add --force to use it, or choose another --out"
                                                 : "\(o.run) already exists and is not a run folder; choose another --out")
            }
            try Trainer.checkRunFolder(o.run, keeping: [o.prepared])
        }
        let modelConfig = ModelConfig(vocabSize: manifest.vocabSize, embeddingSize: c.embeddingSize ?? c.rnnSize,
                                      hiddenSize: c.rnnSize, layers: c.layers, dropout: c.dropout)
        do { try modelConfig.validate() } catch { throw TrainingError.badOptions("\(error)") }
        try Trainer.checkMemory(modelConfig, batch: trainInfo.batchSize, steps: manifest.seqLength, replicas: c.replicas)
        var rng = RNG(seed: c.seed)
        let model: LanguageModel
        if let from = o.initFrom {
            let loaded: LoadedCheckpoint
            do { loaded = try Checkpoint.load(path: from) } catch { throw TrainingError.badOptions("--init-from: \(error)") }
            guard loaded.meta.vocabChecksum == manifest.vocabChecksum, loaded.meta.vocabSize == manifest.vocabSize else {
                throw TrainingError.badOptions("--init-from \(from): its vocabulary (checksum \(loaded.meta.vocabChecksum)) is not the one of \(o.prepared) "
                                               + "(\(manifest.vocabChecksum)); weights only transfer between runs on the same vocabulary")
            }
            var theirs = loaded.meta.model
            theirs.dropout = modelConfig.dropout
            guard theirs == modelConfig else {
                throw TrainingError.badOptions("--init-from \(from) has \(loaded.meta.model.layers) x \(loaded.meta.model.hiddenSize) (embedding "
                                               + "\(loaded.meta.model.embeddingSize)), not \(c.layers) x \(c.rnnSize) (embedding \(modelConfig.embeddingSize)); "
                                               + "drop --layers/--rnn-size/--embedding-size or make them match")
            }
            model = LanguageModel(config: modelConfig)
            _ = model.parameters.update(from: loaded.model.parameters)
        } else {
            model = LanguageModel(config: modelConfig, rng: &rng)
        }
        // Only now, with --init-from's weights in memory (they may come from the folder being replaced), the
        // old folder is moved aside; it is removed once the new run holds its first checkpoint. Until then
        // the new folder is scratch: a failure (a full disk, say) removes it and puts the old one back, so
        // that what is left is never a run folder without a checkpoint, nor no run at all. (A process killed
        // in between leaves the old run as RUN.old-PID.)
        let aside = o.run + ".old-\(ProcessInfo.processInfo.processIdentifier)"
        if replacing {
            guard !fileExists(aside) && !isSymbolicLink(aside) else {
                throw TrainingError.badRun("\(aside) is in the way of replacing \(o.run); move it away and train again")
            }
            // Recorded first, so that if this process dies before the new run's first checkpoint, --resume
            // can tell this folder from a user's and put it back.
            if OwnedFolder.isMarked(o.run, as: .run) { try OwnedFolder.markLeftover(o.run) }
            try FileManager.default.moveItem(atPath: o.run, toPath: aside)
        }
        var started = false
        defer {
            if !started {
                try? FileManager.default.removeItem(atPath: o.run)
                if replacing {
                    try? FileManager.default.moveItem(atPath: aside, toPath: o.run)
                    OwnedFolder.clearLeftover(o.run)
                }
            }
        }
        try makeDirectories(o.run)
        try OwnedFolder.mark(o.run, as: .run)   // what --force later requires before replacing it
        try AtomicFile.write(vocabBytes, to: o.run + "/" + Checkpoint.vocabFile)
        let optimizer = Optimizer(kind: c.optimizer, count: modelConfig.parameterCount)
        let recurrent = model.makeState(batch: trainInfo.batchSize)
        var state = TrainingState(config: c, minibatchesPerEpoch: trainInfo.minibatches, trainBatch: trainInfo.batchSize, rng: rng)
        state.threads = c.effectiveThreads * (c.replicas > 1 ? -1 : 1)
        let metrics = try MetricsLog(runDirectory: o.run, keepThrough: nil)
        try self.init(options: o, config: c, manifest: manifest, model: model, optimizer: optimizer, state: state,
                      recurrent: recurrent, vocabBytes: vocabBytes, metrics: metrics)
        // A run folder always holds a loadable checkpoint, from iteration 0 on.
        try save(best: false)
        started = true
        if replacing { try? FileManager.default.removeItem(atPath: aside) }
    }

    /// Names gasa train writes in a run folder (checkpoint folders with their .new/.old twins of an
    /// interrupted save, and files being written atomically, NAME.tmp-PID).
    static func isRunEntry(_ name: String) -> Bool {
        if let base = leftoverBase(name, marks: [".tmp-"]) { return isRunEntry(base) }
        let checkpoints = [Checkpoint.latest, Checkpoint.best]
        return checkpoints.contains(name) || checkpoints.contains { name == $0 + ".new" || name == $0 + ".old" }
            || [MetricsLog.fileName, LossPlot.fileName, Checkpoint.vocabFile, OwnedFolder.markFile, OwnedFolder.leftoverFile].contains(name)
    }

    /// Names gasa train writes inside a checkpoint folder (and files being written atomically).
    static func isCheckpointEntry(_ name: String) -> Bool {
        if let base = leftoverBase(name, marks: [".tmp-"]) { return isCheckpointEntry(base) }
        return [CheckpointMeta.fileName, TrainingState.fileName, "model.safetensors", TrainingState.optimizerFile,
                TrainingState.recurrentFile, Checkpoint.vocabFile].contains(name)
    }

    /// The first entry of a run folder, at any depth, that gasa train does not write there or not of
    /// that kind (checkpoint folders hold only checkpoint files; everything else is a file); nil if none.
    static func foreignRunEntry(in path: String) -> String? {
        OwnedFolder.firstForeign(in: path) { rel, kind in
            let parts = rel.split(separator: "/").map(String.init)
            let checkpoints = [Checkpoint.latest, Checkpoint.best].flatMap { [$0, $0 + ".new", $0 + ".old"] }
            switch parts.count {
            case 1: return checkpoints.contains(parts[0]) ? kind == .directory : kind == .file && isRunEntry(parts[0])
            case 2: return checkpoints.contains(parts[0]) && kind == .file && isCheckpointEntry(parts[1])
            default: return false
            }
        }
    }

    /// A folder with gasa train's mark, holding nothing gasa train does not write.
    static func isRunFolder(_ path: String) -> Bool {
        OwnedFolder.isMarked(path, as: .run) && foreignRunEntry(in: path) == nil
    }

    /// What --force may replace: an empty folder or a run folder holding only what gasa train writes,
    /// never one holding `keeping` (the prepared folder, even through a link) or the working directory.
    static func checkRunFolder(_ path: String, keeping: [String]) throws {
        let fm = FileManager.default
        guard isDirectory(path), !isSymbolicLink(path), let entries = try? fm.contentsOfDirectory(atPath: path) else {
            throw TrainingError.badRun("\(path) exists and is a link, not a folder, or cannot be listed; --force only replaces run folders. "
                                       + "Choose another --out")
        }
        guard entries.isEmpty || isRunFolder(path) else {
            let why: String
            if !OwnedFolder.isMarked(path, as: .run) {
                why = " (it has no \(OwnedFolder.markFile) mark of gasa train: not written by it, or by a gasa before marks; "
                    + "remove it yourself if it is to go)"
            } else if let f = foreignRunEntry(in: path) {
                why = " (it holds \(path)/\(f), which gasa train does not write)"
            } else {
                why = ""
            }
            throw TrainingError.badRun("\(path) exists and is not a gasa run folder" + why + "; --force only replaces run folders. Choose another --out")
        }
        let targets = [canonicalPath(path), lexicalPath(path)]
        for k in keeping + [fm.currentDirectoryPath] {
            for r in [canonicalPath(k), lexicalPath(k)] where targets.contains(where: { r == $0 || r.hasPrefix($0 + "/") }) {
                throw TrainingError.badRun("\(path) holds \(k); --force would delete it. Choose another --out")
            }
        }
    }

    /// Names of the settings that differ between two configurations (JSON keys, as --option names).
    static func differences(_ a: TrainConfig, _ b: TrainConfig) -> [String] {
        guard let da = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(a)) as? [String: Any],
              let db = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(b)) as? [String: Any] else { return a == b ? [] : ["the settings"] }
        let keys = Set(da.keys).union(db.keys).sorted()
        return keys.filter { k in "\(da[k] ?? "none")" != "\(db[k] ?? "none")" }.map { k in
            "--" + k.reduce(into: "") { s, ch in if ch.isUppercase { s += "-" + ch.lowercased() } else { s.append(ch) } }
                + " (\(db[k].map { "\($0)" } ?? "default") in the run, \(da[k].map { "\($0)" } ?? "default") now)"
        }
    }

    /// meta.json and state.json of one checkpoint describe the same model at the same iteration.
    static func crossCheck(meta: CheckpointMeta, state: TrainingState, directory dir: String) throws {
        let c = state.config, m = meta.model
        var differing: [String] = []
        if m.layers != c.layers { differing.append("layers \(m.layers) vs \(c.layers)") }
        if m.hiddenSize != c.rnnSize { differing.append("rnn size \(m.hiddenSize) vs \(c.rnnSize)") }
        if m.embeddingSize != (c.embeddingSize ?? c.rnnSize) { differing.append("embedding size \(m.embeddingSize) vs \(c.embeddingSize ?? c.rnnSize)") }
        if m.dropout != c.dropout { differing.append("dropout \(m.dropout) vs \(c.dropout)") }
        if meta.iteration != state.iteration { differing.append("iteration \(meta.iteration) vs \(state.iteration)") }
        guard differing.isEmpty else {
            throw TrainingError.badCheckpoint(path: dir + "/" + CheckpointMeta.fileName,
                                              problem: "disagrees with \(TrainingState.fileName) (\(differing.joined(separator: ", "))): "
                                                + "one of them was changed or is damaged")
        }
    }
}
