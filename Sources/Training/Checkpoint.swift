// Checkpoint folders: RUN/latest and RUN/best, each holding model.safetensors (PyTorch names),
// optimizer.safetensors (moments), recurrent.safetensors (the carried h and c), meta.json, state.json
// and a copy of vocab.json. A folder is replaced atomically: the new one is written completely as
// NAME.new (every file fsynced), the old one renamed to NAME.old, NAME.new renamed to NAME, NAME.old
// removed (the renames are Storage's moveFolderIntoPlace, as for prepared and run folders). A kill at any
// moment leaves NAME, NAME.new (complete once its meta.json, written last, is there) or NAME.old
// complete; the loader takes NAME, else NAME.new, else NAME.old, and the next save first puts that one
// back as NAME.
import Common
import Corpus
import Foundation
import Model
import Compute
import Storage

public enum Checkpoint {
    public static let latest = "latest"
    public static let best = "best"
    public static let vocabFile = Vocabulary.fileName
    public static let weightsFile = "model.safetensors"

    /// Loads a checkpoint for sampling. `path` is a run folder (its best checkpoint if there is one,
    /// else its latest) or a checkpoint folder. Everything is validated: metadata, the vocabulary's
    /// checksum and size, every weight's name and shape.
    public static func load(path: String) throws -> LoadedCheckpoint {
        let dir = try resolve(path, prefer: [best, latest])
        let meta = try CheckpointMeta.load(directory: dir)
        let (vocab, vocabPath) = try loadVocabulary(directory: dir, meta: meta)
        try verify(meta.weightsFile, in: dir, meta: meta)
        try checkWeightsSize(dir + "/" + meta.weightsFile, meta: meta)
        let model = LanguageModel(config: meta.model)
        try loadWeights(model, path: dir + "/" + meta.weightsFile)
        return LoadedCheckpoint(directory: dir, meta: meta, model: model, vocabulary: vocab, vocabularyPath: vocabPath)
    }

    /// The checkpoint folder `path` stands for: the folder itself if it holds meta.json, else the first
    /// of `prefer` inside it that holds one (or, failing that, its `.old` twin left by an interrupted save).
    public static func resolve(_ path: String, prefer: [String]) throws -> String {
        if fileExists(path + "/" + CheckpointMeta.fileName) { return path }
        guard isDirectory(path) else {
            throw TrainingError.badRun(fileExists(path) ? "\(path) is a file, not a checkpoint or run folder"
                                                        : "\(path): no such checkpoint or run folder")
        }
        // NAME, else what an interrupted save left: NAME.new once complete (it is the newer), else NAME.old.
        for name in prefer {
            for candidate in [path + "/" + name, path + "/" + name + ".new",
                              path + "/" + name + ".old"] where isComplete(candidate) {
                return candidate
            }
        }
        throw TrainingError.badRun("\(path) holds no checkpoint (expected "
                                   + "\(prefer.map { path + "/" + $0 }.joined(separator: " or ")) with a meta.json); "
                                   + "is it a folder written by gasa train?")
    }

    /// A checkpoint folder whose meta.json was written: the last file a save writes.
    static func isComplete(_ dir: String) -> Bool { fileExists(dir + "/" + CheckpointMeta.fileName) }

    /// The vocabulary of a checkpoint: its own copy, else the run folder's; the checksum must match meta.json.
    static func loadVocabulary(directory dir: String, meta: CheckpointMeta) throws -> (Vocabulary, String) {
        let own = dir + "/" + meta.vocabFile
        let parent = (dir as NSString).deletingLastPathComponent + "/" + meta.vocabFile
        guard let path = [own, parent].first(where: fileExists) else {
            throw TrainingError.badCheckpoint(path: own,
                                              problem: "missing (and no \(meta.vocabFile) in the run folder either)")
        }
        let bytes = try readFileBytesChecked(path)
        let crc = hex32(CRC32.checksum(bytes))
        guard crc == meta.vocabChecksum else {
            throw TrainingError.badCheckpoint(path: path,
                                              problem: "checksum \(crc) differs from meta.json's \(meta.vocabChecksum) "
                                              + "(the vocabulary was replaced or is corrupt)")
        }
        let v: Vocabulary
        do { v = try Vocabulary.decode(bytes, path: path) } catch {
            throw TrainingError.badCheckpoint(path: path, problem: "\(error)")
        }
        guard v.count == meta.vocabSize else {
            throw TrainingError.badCheckpoint(path: path,
                                              problem: "holds \(v.count) tokens, meta.json says \(meta.vocabSize)")
        }
        return (v, path)
    }

    // MARK: Writing

    /// Everything a checkpoint folder holds, by reference to the live training objects.
    struct Contents {
        var meta: CheckpointMeta
        var state: TrainingState
        var model: LanguageModel
        var optimizer: Optimizer
        var recurrent: RecurrentState
        var vocabBytes: [UInt8]
    }

    /// Writes RUN/NAME atomically (see the file comment).
    static func write(_ c: Contents, run: String, name: String) throws {
        let final = run + "/" + name, fresh = final + ".new", old = final + ".old"
        // An earlier save interrupted after NAME was moved aside left NAME.new (complete once it holds
        // meta.json) or NAME.old: put it back as NAME first, so that this save never deletes the only
        // complete copy before the new one is in place.
        if !fileExists(final) {
            if isComplete(fresh) {
                try moveFolderIntoPlace(fresh, final)
            } else if isComplete(old) {
                try moveFolderIntoPlace(old, final)
            }
        }
        try removeTree(fresh)
        try makeDirectories(fresh)
        let tag = ["format": CheckpointMeta.format, "iteration": String(c.state.iteration)]
        var sums: [String: String] = [:]
        sums[c.meta.weightsFile] = hex32(try c.model.saveWeights(path: fresh + "/" + c.meta.weightsFile, metadata: tag))
        var moments: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)] = []
        for t in c.optimizer.tensors { moments.append((t.name, [t.data.count], UnsafeBufferPointer(t.data))) }
        let momentsMeta = ["optimizer": c.optimizer.kind.rawValue, "steps": String(c.optimizer.steps),
                           "layout": "flat, in the order of model.safetensors"]
        sums[TrainingState.optimizerFile] = hex32(try SafeTensors.write(path: fresh + "/" + TrainingState.optimizerFile,
                                                                        tensors: moments, metadata: momentsMeta))
        let r = c.recurrent
        let half = r.layers * r.batch * r.hiddenSize
        let values = UnsafeBufferPointer(r.values)
        sums[TrainingState.recurrentFile] = hex32(try SafeTensors.write(path: fresh + "/" + TrainingState.recurrentFile,
                              tensors: [("h", [r.layers, r.batch, r.hiddenSize],
                                         UnsafeBufferPointer(rebasing: values[0..<half])),
                                        ("c", [r.layers, r.batch, r.hiddenSize],
                                         UnsafeBufferPointer(rebasing: values[half..<(2 * half)]))],
                              metadata: ["iteration": String(c.state.iteration)]))
        let stateBytes = Array(try gasaJSONEncoder().encode(c.state)) + [0x0A]
        try AtomicFile.write(stateBytes, to: fresh + "/" + TrainingState.fileName)
        sums[TrainingState.fileName] = hex32(CRC32.checksum(stateBytes))
        try AtomicFile.write(c.vocabBytes, to: fresh + "/" + c.meta.vocabFile)
        // meta.json last: NAME.new holding one is complete (every file before it is fsynced).
        var meta = c.meta
        meta.checksums = sums
        try AtomicFile.write(Array(try gasaJSONEncoder().encode(meta)) + [0x0A],
                             to: fresh + "/" + CheckpointMeta.fileName)
        syncDirectory(of: fresh + "/" + CheckpointMeta.fileName)

        try removeTree(old)
        if fileExists(final) { try moveFolderIntoPlace(final, old) }
        try moveFolderIntoPlace(fresh, final)
        try removeTree(old)
    }

    /// Checks DIR/NAME against the checksum meta.json recorded for it (older checkpoints record none).
    static func verify(_ name: String, in dir: String, meta: CheckpointMeta) throws {
        guard let want = meta.checksums?[name] else { return }
        let path = dir + "/" + name
        guard fileExists(path) else { throw TrainingError.badCheckpoint(path: path, problem: "missing") }
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch let e as FileError { throw TrainingError.badCheckpoint(path: path, problem: e.message) }
        var crc = CRC32()
        crc.update(file.bytes)
        guard hex32(crc.value) == want else {
            throw TrainingError.badCheckpoint(path: path,
                                              problem: "checksum \(hex32(crc.value)) differs from meta.json's \(want): "
                                              + "the file was changed or is damaged; use another checkpoint (best, "
                                              + "latest)")
        }
    }

    /// A weights file must hold at least the 4-byte values of every parameter meta.json declares: checked
    /// before the model is allocated, so a meta.json claiming billions of parameters beside a small file is
    /// an error, not gigabytes allocated first.
    static func checkWeightsSize(_ path: String, meta: CheckpointMeta) throws {
        guard fileExists(path) else { throw TrainingError.badCheckpoint(path: path, problem: "missing") }
        var st = stat()
        let size = stat(path, &st) == 0 ? Int(st.st_size) : 0
        guard size >= 4 * meta.parameterCount else {
            throw TrainingError.badCheckpoint(path: path,
                problem: "holds \(size) bytes, too few for the \(meta.parameterCount) parameters meta.json declares")
        }
    }

    /// Values loaded from a checkpoint file must be finite: a NaN there is damage, not divergence.
    static func requireFinite(_ values: [Float], tensor: String, path: String) throws {
        for v in values where !v.isFinite {
            throw TrainingError.badCheckpoint(path: path,
                problem: "tensor \(tensor) holds \(v): the file is damaged; use another checkpoint")
        }
    }

    // MARK: Reading everything back for --resume

    /// Restores a training checkpoint folder into live objects already built for its configuration.
    static func restore(directory dir: String, meta: CheckpointMeta, state: TrainingState, model: LanguageModel,
                        optimizer: Optimizer, recurrent: RecurrentState) throws {
        for f in [meta.weightsFile, TrainingState.optimizerFile, TrainingState.recurrentFile] {
            try verify(f, in: dir, meta: meta)
        }
        try loadWeights(model, path: dir + "/" + meta.weightsFile)
        let optPath = dir + "/" + TrainingState.optimizerFile
        let opt = try readTensors(optPath)
        guard opt.metadata["optimizer"] == optimizer.kind.rawValue else {
            throw TrainingError.badCheckpoint(path: optPath,
                problem: "holds \(opt.metadata["optimizer"] ?? "no") optimizer state, the run uses "
                + "\(optimizer.kind.rawValue)")
        }
        for t in optimizer.tensors {
            guard let saved = opt.tensors.first(where: { $0.name == t.name }) else {
                throw TrainingError.badCheckpoint(path: optPath, problem: "no tensor \(t.name)")
            }
            guard saved.shape == [t.data.count], saved.data.count == t.data.count else {
                throw TrainingError.badCheckpoint(path: optPath,
                    problem: "\(t.name) has shape \(saved.shape), expected [\(t.data.count)]")
            }
            try requireFinite(saved.data, tensor: t.name, path: optPath)
            _ = t.data.update(from: saved.data)
        }
        guard opt.tensors.count == optimizer.tensors.count else {
            throw TrainingError.badCheckpoint(path: optPath, problem: "unexpected extra tensors")
        }
        optimizer.steps = state.optimizerSteps

        let recPath = dir + "/" + TrainingState.recurrentFile
        let rec = try readTensors(recPath)
        let shape = [recurrent.layers, recurrent.batch, recurrent.hiddenSize]
        let half = recurrent.layers * recurrent.batch * recurrent.hiddenSize
        for (i, name) in ["h", "c"].enumerated() {
            guard let t = rec.tensors.first(where: { $0.name == name }), t.shape == shape, t.data.count == half else {
                throw TrainingError.badCheckpoint(path: recPath, problem: "\(name) is missing or not of shape \(shape)")
            }
            try requireFinite(t.data, tensor: name, path: recPath)
            for j in 0..<half { recurrent.values[i * half + j] = t.data[j] }
        }
    }

    static func readTensors(_ path: String) throws -> (tensors: [SafeTensors.Tensor], metadata: [String: String]) {
        guard fileExists(path) else { throw TrainingError.badCheckpoint(path: path, problem: "missing") }
        do { return try SafeTensors.read(path: path) } catch { throw wrap(error, path: path) }
    }

    /// Loads weights into `model`, with errors as TrainingError naming the file.
    static func loadWeights(_ model: LanguageModel, path: String) throws {
        guard fileExists(path) else { throw TrainingError.badCheckpoint(path: path, problem: "missing") }
        do { try model.loadWeights(path: path) } catch { throw wrap(error, path: path) }
    }

    static func wrap(_ error: Error, path: String) -> TrainingError {
        switch error {
        case let e as TrainingError: return e
        case ModelError.badCheckpoint(let p, let problem): return .badCheckpoint(path: p, problem: problem)
        default: return .badCheckpoint(path: path, problem: "\(error)")
        }
    }
}
