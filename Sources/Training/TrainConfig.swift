// Everything that decides what a training run computes: the model shape, the optimizer, the schedule,
// clipping, the seed and the evaluation cadence. Saved in every checkpoint's state.json, so that
// --resume continues with exactly the settings the run started with. Stop conditions (max-*) and the
// thread count are per invocation and may change on resume.
import Foundation

public struct TrainConfig: Codable, Equatable, Sendable {
    public var layers = 2                              // LSTM layers
    public var rnnSize = 128                           // H: hidden units per layer
    public var embeddingSize: Int? = nil               // E: embedding width (nil: the rnn size)
    public var dropout: Float = 0                      // dropout between layers and before the head
    public var optimizer: Optimizer.Kind = .adam       // adam, or rmsprop as in char-rnn (alpha 0.95, eps 1e-8)
    public var learningRate = 2e-3                     // base rate
    public var lrDecay = 1.0                           // factor per epoch once decaying (1: none)
    public var lrDecayAfter = 10.0                     // epoch whose end applies the first decay
    public var gradClip = 5.0                          // global-norm clip (0: none)
    public var seed: UInt64 = 123                      // initial weights and dropout masks
    public var evalEvery = 1000                        // iterations between validations (0: only at the end)
    public var logEvery = 10                           // iterations per metrics.jsonl train line
    public var patience = 0                            // stop after this many validations without a new best (0: never)

    public var maxEpochs = 50.0                        // stop after this many epochs (0: no limit)
    public var maxIters = 0                            // stop at this iteration (0: no limit)
    public var maxMinutes = 0.0                        // stop after this many minutes of this invocation (0: no limit)
    public var threads = 0                             // threads (0: one per core)
    public var parallel: String? = nil                 // "batch" (default): rows split over threads; "blas": threads inside each product
    public var printEvery = 100                        // progress line period when stderr is not a terminal

    public init() {}

    /// The largest epoch count (and minute count) an option may name: far beyond any run, and small
    /// enough that epochs times minibatches per epoch stays an exact integer.
    public static let maxEpochCount = 1e9

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(base: learningRate, decay: lrDecay, decayAfter: lrDecayAfter)
    }

    /// Throws a readable error for values that cannot work.
    public func validate() throws {
        func bad(_ m: String) -> TrainingError { .badOptions(m) }
        guard layers >= 1 else { throw bad("--layers must be at least 1") }
        guard rnnSize >= 1 else { throw bad("--rnn-size must be at least 1") }
        guard (embeddingSize ?? 1) >= 1 else { throw bad("--embedding-size must be at least 1") }
        guard dropout >= 0 && dropout < 1 else { throw bad("--dropout must be in [0, 1)") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("--learning-rate must be a positive number") }
        guard lrDecay > 0 && lrDecay <= 1 else { throw bad("--lr-decay must be in (0, 1] (1: no decay)") }
        guard lrDecayAfter >= 0, lrDecayAfter <= TrainConfig.maxEpochCount else {
            throw bad("--lr-decay-after must be within 0...\(Int(TrainConfig.maxEpochCount)) epochs")
        }
        guard gradClip >= 0, gradClip.isFinite else { throw bad("--grad-clip must not be negative (0: no clipping)") }
        guard evalEvery >= 0, patience >= 0 else { throw bad("--eval-every and --patience must not be negative") }
        guard logEvery >= 1 else { throw bad("--log-every must be at least 1") }
        guard printEvery >= 1 else { throw bad("--print-every must be at least 1") }
        guard maxEpochs >= 0, maxIters >= 0, maxMinutes >= 0 else { throw bad("--max-epochs, --max-iters and --max-minutes must not be negative") }
        guard maxEpochs <= TrainConfig.maxEpochCount, maxMinutes <= TrainConfig.maxEpochCount else {
            throw bad("--max-epochs and --max-minutes must be at most \(Int(TrainConfig.maxEpochCount)) (0: no limit)")
        }
        guard threads >= 0 else { throw bad("--threads must not be negative") }
        guard parallel == nil || parallel == "batch" || parallel == "blas" else { throw bad("--parallel must be batch or blas") }
    }

    /// Threads in use: --threads, else one per core.
    public var effectiveThreads: Int { threads > 0 ? threads : max(1, ProcessInfo.processInfo.activeProcessorCount) }
    /// Data-parallel replicas of the training step (1: the step is one call and its products get the threads).
    public var replicas: Int { (parallel ?? "batch") == "batch" ? effectiveThreads : 1 }
    public var blasThreads: Int { replicas > 1 ? 1 : effectiveThreads }

    /// The settings a resumed run must keep (everything but the stop conditions, threads and printing).
    public var fixedPart: TrainConfig {
        var c = self
        c.maxEpochs = 0; c.maxIters = 0; c.maxMinutes = 0; c.threads = 0; c.parallel = nil; c.printEvery = 1
        c.evalEvery = 0; c.patience = 0
        return c
    }
}
