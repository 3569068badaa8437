// What `gasa compare` (and `gasa serve`'s cards) show of a run, read from the run's files: its best
// checkpoint's metadata (granularity, vocabulary; the weights are not loaded), the prepared folder it names (tokens per
// character of train, the val split's share of tokens unseen in train), and metrics.jsonl (the validation curve in bits
// per character against minutes, the best of it, the mean training speed, the minutes trained). Missing optional files
// leave their figures out rather than failing.
import Common
import Corpus
import Foundation
import Storage

public struct RunSummary {
    public var name: String
    public var directory: String         // the checkpoint folder described (RUN/best, else RUN/latest)
    public var meta: CheckpointMeta
    public var granularity: Granularity { meta.granularity }
    public var vocabSize: Int { meta.vocabSize }
    public var tokensPerCharacter: Double?
    public var valUnseenShare: Double?
    public var bestValBitsPerChar: Double?
    public var bestIteration: Int?
    public var tokensPerSecond: Double?
    public var minutes = 0.0
    public var valCurve: [(minutes: Double, bitsPerChar: Double)] = []

    /// Characters per second of training (tokens per second over tokens per character).
    public var charactersPerSecond: Double? { tokensPerSecond.flatMap { s in tokensPerCharacter.map { s / $0 } } }

    public init(run: String) throws {
        name = (run as NSString).standardizingPath.split(separator: "/").last.map(String.init) ?? run
        directory = try Checkpoint.resolve(run, prefer: [Checkpoint.best, Checkpoint.latest])
        meta = try CheckpointMeta.load(directory: directory)
        let prepared = meta.preparedDirectory
        if let manifest = try? Manifest.load(directory: prepared), let t = manifest.split(.train), t.characters > 0 {
            tokensPerCharacter = Double(t.tokens) / Double(t.characters)
        }
        if let bytes = try? readFileBytes(prepared + "/" + PrepareReport.fileName),
           let report = try? gasaJSONDecoder().decode(PrepareReport.self, from: Data(bytes)) {
            valUnseenShare = report.split(.val)?.unseenInTrainShare
        }
        var speeds: [Double] = []
        for m in (try? MetricsLog.read(path: run + "/" + MetricsLog.fileName)) ?? [] {
            minutes = max(minutes, m.minutes)
            if m.type == .train, let s = m.tokensPerS { speeds.append(s) }
            if m.type == .eval, m.split == .val, let b = m.bitsPerChar {
                valCurve.append((m.minutes, b))
                if bestValBitsPerChar == nil
                    || b < bestValBitsPerChar! { bestValBitsPerChar = b; bestIteration = m.iter }
            }
        }
        if !speeds.isEmpty { tokensPerSecond = speeds.reduce(0, +) / Double(speeds.count) }
    }
}
