// meta.json of a checkpoint folder: what the weights are (model shape), which vocabulary they speak
// (file, checksum, size, granularity, normalisation), where they came from (prepared folder,
// iteration, epoch) and how good they were (losses). Everything a sampler needs besides the weights.
import Common
import Corpus
import Foundation
import Model
import Storage

public struct CheckpointMeta: Codable, Sendable {
    public static let fileName = "meta.json"
    public static let format = "gasa-checkpoint"

    public var format = CheckpointMeta.format
    public var version = 1
    public var model: ModelConfig
    public var parameterCount: Int
    public var weightsFile = Checkpoint.weightsFile   // PyTorch names: embed.*, lstm.*_l{k}, head.*
    public var vocabFile = Vocabulary.fileName      // beside this file (and in the run folder)
    public var vocabChecksum: String               // CRC-32 of the vocabulary file, hex (as in manifest.json)
    public var vocabSize: Int
    public var granularity: Granularity
    public var normalization: Normalization
    public var preparedDirectory: String           // the prepared folder trained on (absolute path)
    public var iteration: Int
    public var epoch: Double                       // completed epochs plus the share of the current one
    public var trainLoss: Double?                  // nats per token, mean of the last logged interval
    public var valLoss: Double?                    // nats per token of the latest validation
    public var valBitsPerChar: Double?             // bits per original character of the latest validation
    public var bestValLoss: Double?                // best validation so far, nats per token
    public var bestIteration: Int?
    /// CRC-32 (hex) of the folder's other files as written: model.safetensors, optimizer.safetensors,
    /// recurrent.safetensors and state.json. Checked whenever one is loaded; absent in older checkpoints.
    public var checksums: [String: String]? = nil

    /// Reads and checks DIR/meta.json; errors name the file.
    public static func load(directory: String) throws -> CheckpointMeta {
        let path = directory + "/" + fileName
        let m: CheckpointMeta = try readJSON(path, what: "checkpoint metadata", format: format)
        func bad(_ p: String) -> TrainingError { .badCheckpoint(path: path, problem: p) }
        guard m.format == format else { throw bad("format is \"\(m.format)\", expected \"\(format)\"") }
        guard m.version == 1 else { throw bad("version \(m.version) is not supported (this gasa reads version 1)") }
        do { try m.model.validate() } catch { throw bad("\(error)") }
        guard m.model.vocabSize == m.vocabSize else {
            throw bad("the model's vocabulary size \(m.model.vocabSize) differs from the vocabulary's \(m.vocabSize)")
        }
        guard m.parameterCount == m.model.parameterCount else {
            throw bad("parameter count \(m.parameterCount) does not match the model configuration "
                      + "(\(m.model.parameterCount))")
        }
        for f in [m.weightsFile, m.vocabFile] where f.isEmpty || f.contains("/") || f == "." || f == ".." {
            throw bad("file name \"\(f)\" is not a plain file name")
        }
        return m
    }
}

/// Decodes a JSON file written by gasa (of `format`, version 1); a missing, unreadable, malformed or
/// foreign file is an error naming it.
func readJSON<T: Decodable>(_ path: String, what: String, format: String) throws -> T {
    let bytes = try readFileBytesChecked(path)
    if let p = FormatHeader.problem(bytes, expected: format) {
        throw TrainingError.badCheckpoint(path: path, problem: p)
    }
    do {
        return try gasaJSONDecoder().decode(T.self, from: Data(bytes))
    } catch {
        throw TrainingError.badCheckpoint(path: path, problem: "cannot read the \(what): \(describeJSONError(error))")
    }
}

func readFileBytesChecked(_ path: String) throws -> [UInt8] {
    guard fileExists(path) else { throw TrainingError.badCheckpoint(path: path, problem: "missing") }
    do {
        return try readFileBytes(path, limit: 1 << 30)
    } catch {
        throw TrainingError.badCheckpoint(path: path,
                                          problem: (error as? FileError)?.message ?? "cannot read: \(error)")
    }
}
