// What a training run is told, in two parts. RunSettings decide what the run computes (the model's
// shape, the optimizer, the schedule, clipping, the seed, the logging cadence): chosen when the run
// starts and kept by --resume. SessionLimits belong to one invocation (when to stop, threads, the
// precision of the products, validation cadence, patience, progress lines): --resume takes the run's last ones and may change any.
// Both are saved, as one flat object (TrainConfig), in every checkpoint's state.json. Changes are what
// a command line gave: applied to the defaults for a fresh run, over the checkpoint's model shape with
// --init-from, over the run's limits on --resume, and for settings on --resume, refused when they differ
// from the run's. A new option is a property of RunSettings or SessionLimits and its entry in `flags`.
import Foundation
import Model
import Compute

/// A type whose properties command-line flags set: the flag of each, for messages.
public protocol FlagNamed {
    static var flags: [PartialKeyPath<Self>: String] { get }
}

public struct RunSettings: Codable, Equatable, Sendable, FlagNamed {
    public var cell: Cell = .lstm                      // the recurrent cell: lstm, gru, rnn, rnn-relu
    public var layers = 2                              // recurrent layers
    public var hiddenSize = 128                        // H: hidden units per layer (--rnn-size)
    public var embeddingSize: Int? = nil               // E: embedding width (nil: the hidden size)
    public var dropout: Float = 0                      // dropout between layers and before the head
    public var optimizer: Optimizer.Kind = .adam       // adam, or rmsprop as in char-rnn (alpha 0.95, eps 1e-8)
    public var learningRate = 2e-3                     // base rate
    public var lrDecay = 1.0                           // factor per epoch once decaying (1: none)
    public var lrDecayAfter = 10.0                     // epoch whose end applies the first decay
    public var gradClip = 5.0                          // global-norm clip (0: none)
    public var seed: UInt64 = 123                      // initial weights and dropout masks
    public var logEvery = 10                           // iterations per metrics.jsonl train line
    public var regularization = Regularization()       // AWD-LSTM's regularisers (ModelConfig, Regularizers.swift)

    public init() {}

    enum CodingKeys: String, CodingKey {
        case cell, layers, hiddenSize = "rnnSize", embeddingSize, dropout, optimizer, learningRate, lrDecay
        case lrDecayAfter, gradClip, seed, logEvery, regularization
    }

    /// Runs started before the cells and the regularisers existed have neither key: LSTM, none.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cell = try c.decodeIfPresent(Cell.self, forKey: .cell) ?? .lstm
        layers = try c.decode(Int.self, forKey: .layers)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        embeddingSize = try c.decodeIfPresent(Int.self, forKey: .embeddingSize)
        dropout = try c.decode(Float.self, forKey: .dropout)
        optimizer = try c.decode(Optimizer.Kind.self, forKey: .optimizer)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        lrDecay = try c.decode(Double.self, forKey: .lrDecay)
        lrDecayAfter = try c.decode(Double.self, forKey: .lrDecayAfter)
        gradClip = try c.decode(Double.self, forKey: .gradClip)
        seed = try c.decode(UInt64.self, forKey: .seed)
        logEvery = try c.decode(Int.self, forKey: .logEvery)
        regularization = try c.decodeIfPresent(Regularization.self, forKey: .regularization) ?? Regularization()
    }

    public static let flags: [PartialKeyPath<RunSettings>: String] = [
        \.layers: "--layers", \.hiddenSize: "--rnn-size", \.embeddingSize: "--embedding-size", \.dropout: "--dropout",
        \.optimizer: "--optimizer", \.learningRate: "--learning-rate", \.lrDecay: "--lr-decay",
        \.lrDecayAfter: "--lr-decay-after", \.gradClip: "--grad-clip", \.seed: "--seed", \.logEvery: "--log-every",
        \.cell: "--cell", \.regularization.weightDrop: "--weight-drop",
        \.regularization.lockedDropout: "--locked-dropout",
        \.regularization.embeddingDropout: "--embedding-dropout", \.regularization.tieWeights: "--tie-weights",
    ]

    /// The embedding width in effect.
    public var embeddingWidth: Int { embeddingSize ?? hiddenSize }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(base: learningRate, decay: lrDecay, decayAfter: lrDecayAfter)
    }

    /// Throws a readable error for values that cannot work.
    public func validate() throws {
        func bad(_ m: String) -> TrainingError { .badOptions(m) }
        guard layers >= 1 else { throw bad("--layers must be at least 1") }
        guard hiddenSize >= 1 else { throw bad("--rnn-size must be at least 1") }
        guard (embeddingSize ?? 1) >= 1 else { throw bad("--embedding-size must be at least 1") }
        guard dropout >= 0 && dropout < 1 else { throw bad("--dropout must be in [0, 1)") }
        let r = regularization
        guard r.weightDrop >= 0 && r.weightDrop < 1 else { throw bad("--weight-drop must be in [0, 1)") }
        guard r.embeddingDropout >= 0 && r.embeddingDropout < 1 else {
            throw bad("--embedding-dropout must be in [0, 1)")
        }
        guard !r.tieWeights || embeddingWidth == hiddenSize else {
            throw bad("--tie-weights needs --embedding-size equal to --rnn-size (\(embeddingWidth) vs \(hiddenSize))")
        }
        guard learningRate > 0, learningRate.isFinite else { throw bad("--learning-rate must be a positive number") }
        guard lrDecay > 0 && lrDecay <= 1 else { throw bad("--lr-decay must be in (0, 1] (1: no decay)") }
        guard lrDecayAfter >= 0, lrDecayAfter <= SessionLimits.maxEpochCount else {
            throw bad("--lr-decay-after must be within 0...\(Int(SessionLimits.maxEpochCount)) epochs")
        }
        guard gradClip >= 0, gradClip.isFinite else { throw bad("--grad-clip must not be negative (0: no clipping)") }
        guard logEvery >= 1 else { throw bad("--log-every must be at least 1") }
    }
}

/// Values given explicitly (on a command line), to be applied to or checked against a run's.
public struct Changes<Root: FlagNamed> {
    private struct Change {
        let key: PartialKeyPath<Root>
        let apply: (inout Root) -> Void
        let differs: (Root) -> (theirs: String, ours: String)?
    }
    private var changes: [Change] = []

    public init() {}

    /// Sets `key` to `value` (a later change of the same key wins).
    public mutating func set<V: Equatable>(_ key: WritableKeyPath<Root, V>, _ value: V) {
        changes.removeAll { $0.key == key }
        changes.append(Change(key: key, apply: { $0[keyPath: key] = value }, differs: { s in
            s[keyPath: key] == value ? nil : (describe(s[keyPath: key]), describe(value))
        }))
    }

    /// `base` with every change applied.
    public func applied(to base: Root) -> Root {
        var s = base
        for c in changes { c.apply(&s) }
        return s
    }

    /// The changes that differ from `values`, as "--flag (X in the run, Y now)".
    public func conflicts(with values: Root) -> [String] {
        changes.compactMap { c in
            c.differs(values).map { "\(Root.flags[c.key] ?? "a setting") (\($0.theirs) in the run, \($0.ours) now)" }
        }.sorted()
    }
}

public typealias SettingChanges = Changes<RunSettings>
public typealias LimitChanges = Changes<SessionLimits>

/// A value as a message shows it: optionals unwrapped ("default" for none), enums by their raw value.
private func describe<V>(_ v: V) -> String {
    if let o = v as? any OptionalProtocol { return o.shown }
    if let r = v as? any RawRepresentable { return "\(r.rawValue)" }
    return "\(v)"
}

private protocol OptionalProtocol { var shown: String { get } }
extension Optional: OptionalProtocol {
    var shown: String { map { describe($0) } ?? "default" }
}

/// How training uses its threads.
public enum ParallelMode: String, Codable, Sendable, CaseIterable {
    case batch   // each batch's rows split over the threads (data parallel); products single-threaded
    case blas    // one part; the threads work inside each matrix product
}

public struct SessionLimits: Codable, Equatable, Sendable, FlagNamed {
    public var maxEpochs = 50.0                        // stop after this many epochs (0: no limit)
    public var maxIters = 0                            // stop at this iteration (0: no limit)
    public var maxMinutes = 0.0                        // stop after this many minutes of this invocation (0: no limit)
    public var threads = 0                             // threads (0: one per core)
    public var parallel: ParallelMode? = nil           // how they are used (nil: batch)
    public var precision: Precision? = nil             // of the training products (nil: f32)
    public var evalEvery = 1000                        // iterations between validations (0: only at the end)
    public var patience = 0                            // stop after this many validations without a new best (0: never)
    public var printEvery = 100                        // progress line period when stderr is not a terminal

    public init() {}

    public static let flags: [PartialKeyPath<SessionLimits>: String] = [
        \.maxEpochs: "--max-epochs", \.maxIters: "--max-iters", \.maxMinutes: "--max-minutes", \.threads: "--threads",
        \.parallel: "--parallel", \.precision: "--precision", \.evalEvery: "--eval-every", \.patience: "--patience", \.printEvery: "--print-every",
    ]

    /// The largest epoch count (and minute count) an option may name: far beyond any run, and small
    /// enough that epochs times minibatches per epoch stays an exact integer.
    public static let maxEpochCount = 1e9

    public func validate() throws {
        func bad(_ m: String) -> TrainingError { .badOptions(m) }
        guard evalEvery >= 0, patience >= 0 else { throw bad("--eval-every and --patience must not be negative") }
        guard printEvery >= 1 else { throw bad("--print-every must be at least 1") }
        guard maxEpochs >= 0, maxIters >= 0, maxMinutes >= 0 else {
            throw bad("--max-epochs, --max-iters and --max-minutes must not be negative")
        }
        guard maxEpochs <= SessionLimits.maxEpochCount, maxMinutes <= SessionLimits.maxEpochCount else {
            throw bad("--max-epochs and --max-minutes must be at most \(Int(SessionLimits.maxEpochCount)) (0: no "
                      + "limit)")
        }
        guard threads >= 0 else { throw bad("--threads must not be negative") }
        if productPrecision == .bf16, let why = KernelInfo.bf16Refusal { throw bad(why) }
    }

    /// What the training products compute in.
    public var productPrecision: Precision { precision ?? .f32 }

    /// Threads in use: --threads, else one per core (under mpirun, the cores shared among this machine's
    /// processes of the job).
    public var threadCount: Int {
        if threads > 0 { return threads }
        let local = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, local))
    }
    /// Parts the rows of a batch are split into, one per thread, in training (data parallel) and in
    /// validation and testing alike; 1 with --parallel blas.
    public var rowParts: Int { (parallel ?? .batch) == .batch ? threadCount : 1 }
    /// Threads inside each matrix product: 1 when the rows are split over the threads.
    public var productThreads: Int { rowParts > 1 ? 1 : threadCount }
    /// What a resumed run must match to continue bit-exactly (the order of sums).
    public var threadUse: ThreadUse { ThreadUse(threads: threadCount, dataParallel: rowParts > 1) }
}

/// The threads a run was trained with: results are bit-exact only for the same use.
public struct ThreadUse: Codable, Equatable, Sendable {
    public var threads: Int
    public var dataParallel: Bool

    /// Saved as one number (as state.json always had it): the thread count, negative when data parallel,
    /// 0 when not recorded.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let n = try c.decode(Int.self)
        guard n.magnitude <= 1 << 20 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "thread count \(n)"))
        }
        threads = Int(n.magnitude)
        dataParallel = n < 0
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(dataParallel ? -threads : threads)
    }
    public init(threads: Int, dataParallel: Bool) {
        self.threads = threads
        self.dataParallel = dataParallel
    }
}

/// Both parts as state.json holds them: one flat object.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var settings: RunSettings
    public var limits: SessionLimits

    public init(settings: RunSettings = RunSettings(), limits: SessionLimits = SessionLimits()) {
        self.settings = settings
        self.limits = limits
    }
    public init(from decoder: Decoder) throws {
        settings = try RunSettings(from: decoder)
        limits = try SessionLimits(from: decoder)
    }
    public func encode(to encoder: Encoder) throws {
        try settings.encode(to: encoder)
        try limits.encode(to: encoder)
    }
}
