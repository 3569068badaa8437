// The models gasa serve offers: the runs named on its command line, loaded once at start (their best
// checkpoint, else their latest) and shared read-only by every generation, each with what its card on
// the page shows. Clients name a model by its index in this list; no path from a client is ever opened.
import Common
import Corpus
import Foundation
import Model
import Training

public final class ServedModel: @unchecked Sendable {
    public let id: Int
    public let name: String
    public let checkpoint: LoadedCheckpoint
    public let card: Card
    /// RUN/loss.svg's picture, drawn from the run's metrics.jsonl at start (nil: the run has no log).
    public let lossCurve: String?

    /// What the page shows of a model.
    public struct Card: Codable, Sendable {
        public var id: Int
        public var name: String
        public var granularity: Granularity
        public var vocabSize: Int
        public var cell: Cell
        public var layers: Int
        public var hiddenSize: Int
        public var iteration: Int
        public var bestValBitsPerChar: Double?
        public var lossCurve: String?            // URL of the picture, when there is one
    }

    init(id: Int, run: String) throws {
        let summary = try RunSummary(run: run)
        self.id = id
        name = summary.name
        checkpoint = try Checkpoint.load(path: summary.directory)
        let log = run + "/" + MetricsLog.fileName
        lossCurve = (try? MetricsLog.read(path: log)).map { LossPlot.svg($0, title: summary.name) }
        let m = checkpoint.meta
        card = Card(id: id, name: summary.name, granularity: m.granularity, vocabSize: m.vocabSize,
                    cell: m.model.cell, layers: m.model.layers, hiddenSize: m.model.hiddenSize,
                    iteration: m.iteration,
                    bestValBitsPerChar: summary.bestValBitsPerChar,
                    lossCurve: lossCurve == nil ? nil : "/api/models/\(id)/loss.svg")
    }

    /// Loads every run; the first that cannot be loaded is an error naming it.
    public static func load(runs: [String]) throws -> [ServedModel] {
        try runs.enumerated().map { i, run in
            do { return try ServedModel(id: i, run: run) } catch { throw ServeError.badRun("\(run): \(error)") }
        }
    }
}

public enum ServeError: Error, CustomStringConvertible {
    case badRun(String)
    case badOptions(String)

    public var description: String {
        switch self {
        case .badRun(let s), .badOptions(let s): return s
        }
    }
}
