// RUN/metrics.jsonl: one JSON object per line, appended as training goes. "train" lines carry the mean
// training loss over the last logEvery iterations; "eval" lines the loss over a whole split, in nats per
// token and bits per original character. On resume the lines beyond the checkpoint (and the test score
// of the earlier end) are dropped first, so the log of a resumed run is the log of the uninterrupted one.
import Common
import Corpus
import Foundation
import Storage
#if canImport(Glibc)
import Glibc
#endif

public struct MetricsRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case train, eval }
    public var type: Kind
    public var iter: Int
    public var epoch: Double
    public var minutes: Double
    // train lines
    public var trainLoss: Double?        // mean nats per token over the interval
    public var lr: Double?
    public var tokensPerS: Double?
    public var gradNorm: Double?         // before clipping, of the interval's last iteration
    // eval lines
    public var split: SplitName?
    public var natsPerToken: Double?
    public var bitsPerChar: Double?
    public var targets: Int?
    public var characters: Int?
    public var best: Bool?

    public init(type: Kind, iter: Int, epoch: Double, minutes: Double) {
        self.type = type
        self.iter = iter
        self.epoch = epoch
        self.minutes = minutes
    }

    /// One line of JSON (no newline); non-finite numbers become null.
    public func jsonLine() -> String {
        var parts = ["\"type\":\"\(type.rawValue)\"", "\"iter\":\(iter)", "\"epoch\":\(num(epoch))",
                     "\"minutes\":\(num(minutes))"]
        func add(_ k: String, _ v: Double?) { if let v { parts.append("\"\(k)\":\(num(v))") } }
        add("train_loss", trainLoss)
        add("lr", lr)
        add("tokens_per_s", tokensPerS)
        add("grad_norm", gradNorm)
        if let s = split { parts.append("\"split\":\"\(s.rawValue)\"") }
        add("nats_per_token", natsPerToken)
        add("bits_per_char", bitsPerChar)
        if let t = targets { parts.append("\"targets\":\(t)") }
        if let c = characters { parts.append("\"characters\":\(c)") }
        if let b = best { parts.append("\"best\":\(b)") }
        return "{" + parts.joined(separator: ",") + "}"
    }

    private func num(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
}

public final class MetricsLog {
    public static let fileName = "metrics.jsonl"
    public let path: String
    private var fd: Int32 = -1
    private var pending: [UInt8]?   // the log as it becomes when the first record is appended

    /// A log at RUN/metrics.jsonl that keeps only the lines up to `keepThrough` (nil: a new, empty log).
    /// The file is read now but rewritten only when the first record is appended: a resumed run with
    /// nothing left to do leaves it as it was, test score included.
    public init(runDirectory: String, keepThrough: Int?) throws {
        path = runDirectory + "/" + MetricsLog.fileName
        var kept: [UInt8] = []
        if let last = keepThrough, fileExists(path) {
            // The test split is scored once, at the very end: a resumed run will score it again.
            for (line, r) in try MetricsLog.lines(path: path) where r.iter <= last && r.split != .test {
                kept += line
                kept.append(0x0A)
            }
        }
        pending = kept
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends one record. A failure to write it is an error (a full disk): the log is part of the run.
    public func append(_ r: MetricsRecord) throws {
        if let kept = pending {
            try AtomicFile.write(kept, to: path)
            fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            if fd < 0 { throw FileError(path, "cannot open for appending: \(String(cString: strerror(errno)))") }
            pending = nil
        }
        let line = Array((r.jsonLine() + "\n").utf8)
        try line.withUnsafeBytes { try writeFully(fd, $0, path: path) }
    }

    /// Reads every record of a log (lines that are not records are skipped).
    public static func read(path: String) throws -> [MetricsRecord] { try lines(path: path).map(\.record) }

    /// The one reader of the file: each line that is a record, with its bytes.
    static func lines(path: String) throws -> [(bytes: ArraySlice<UInt8>, record: MetricsRecord)] {
        let bytes = try readFileBytes(path, limit: 1 << 30)
        let decoder = gasaJSONDecoder()
        return bytes.split(separator: 0x0A, omittingEmptySubsequences: true).compactMap { line in
            (try? decoder.decode(MetricsRecord.self, from: Data(line))).map { (line, $0) }
        }
    }
}
