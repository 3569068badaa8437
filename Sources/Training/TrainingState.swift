// state.json of a checkpoint folder: where training stands, so that --resume continues bit-exactly:
// the settings, the data position (epoch and minibatch), the random generator, the optimizer's step
// count, elapsed time, the best validation so far and the partial metrics interval. The carried LSTM
// state (h and c of every layer) is in recurrent.safetensors beside it; the optimizer's moments are in
// optimizer.safetensors.
import Foundation
import Compute

public struct TrainingState: Codable, Sendable {
    public static let fileName = "state.json"
    public static let format = "gasa-training-state"
    public static let recurrentFile = "recurrent.safetensors"
    public static let optimizerFile = "optimizer.safetensors"

    public var format = TrainingState.format
    public var version = 1
    public var config: TrainConfig
    public var iteration = 0                   // iterations done (optimizer updates)
    public var epoch = 0                       // completed epochs
    public var position = 0                    // next minibatch of the train split within the epoch
    public var minibatchesPerEpoch: Int        // train split minibatches (checked on resume)
    public var trainBatch: Int                 // B of the train split (the carried state's batch)
    public var learningRate: Double            // rate in effect for the next iteration
    public var optimizerSteps = 0
    public var rng: RNG                        // dropout masks from here on
    public var elapsedSeconds = 0.0            // wall time of all invocations so far
    public var bestValLoss: Double? = nil      // nats per token
    public var bestIteration: Int? = nil
    public var lastValLoss: Double? = nil
    public var evalsWithoutImprovement = 0
    public var lastEvalIteration: Int? = nil   // iteration of the latest validation
    public var intervalLossSum = 0.0           // metrics interval not yet logged
    public var intervalCount = 0
    public var intervalTokens = 0
    public var intervalSeconds = 0.0
    public var lastTrainLoss: Double? = nil
    public var threadUse = ThreadUse(threads: 0, dataParallel: false)   // threads per process (0: not recorded)
    public var processes: Int? = nil           // processes (mpirun -np) of the last invocation (nil: one)

    enum CodingKeys: String, CodingKey {
        case format, version, config, iteration, epoch, position, minibatchesPerEpoch, trainBatch, learningRate
        case optimizerSteps, rng, elapsedSeconds, bestValLoss, bestIteration, lastValLoss, evalsWithoutImprovement
        case lastEvalIteration, intervalLossSum, intervalCount, intervalTokens, intervalSeconds, lastTrainLoss
        case threadUse = "threads", processes
    }

    public init(config: TrainConfig, minibatchesPerEpoch: Int, trainBatch: Int, rng: RNG) {
        self.config = config
        self.minibatchesPerEpoch = minibatchesPerEpoch
        self.trainBatch = trainBatch
        self.rng = rng
        self.learningRate = config.settings.learningRate
    }

    /// Completed epochs plus the share of the current one.
    public var fractionalEpoch: Double { Double(epoch) + Double(position) / Double(max(1, minibatchesPerEpoch)) }

    public static func load(directory: String) throws -> TrainingState {
        let path = directory + "/" + fileName
        func bad(_ p: String) -> TrainingError { .badCheckpoint(path: path, problem: p) }
        // Checked against the checksum meta.json recorded for it before it is decoded (if meta.json
        // itself cannot be read, loading it reports that).
        if let meta = try? CheckpointMeta.load(directory: directory) {
            try Checkpoint.verify(fileName, in: directory, meta: meta)
        }
        let s: TrainingState = try readJSON(path, what: "training state", format: format)
        guard s.format == format else { throw bad("format is \"\(s.format)\", expected \"\(format)\"") }
        guard s.version == 1 else { throw bad("version \(s.version) is not supported (this gasa reads version 1)") }
        guard s.iteration >= 0, s.epoch >= 0, s.position >= 0, s.position < max(1, s.minibatchesPerEpoch),
            s.trainBatch > 0 else {
            throw bad("iteration, epoch or position out of range")
        }
        guard s.optimizerSteps >= 0, s.elapsedSeconds >= 0, s.intervalCount >= 0, s.intervalTokens >= 0,
              s.intervalSeconds >= 0, s.evalsWithoutImprovement >= 0 else { throw bad("negative counters") }
        // What the counts say of one another: every epoch and every optimizer step took an iteration, and
        // no validation happened after the last iteration. No run comes near 2^48 iterations.
        guard s.iteration < 1 << 48, s.minibatchesPerEpoch > 0, s.epoch <= s.iteration, s.optimizerSteps <= s.iteration,
              (s.bestIteration ?? 0) >= 0, (s.bestIteration ?? 0) <= s.iteration,
              (s.lastEvalIteration ?? 0) >= 0, (s.lastEvalIteration ?? 0) <= s.iteration,
              s.evalsWithoutImprovement <= s.iteration, s.intervalCount <= s.iteration,
              s.intervalTokens <= s.intervalCount * (1 << 24) else {
            throw bad("iteration \(s.iteration), epoch \(s.epoch), optimizer steps \(s.optimizerSteps) and the "
                      + "validation iterations do not agree with one another")
        }
        // Times within a century: every duration printed or summed later stays an exact integer.
        guard s.elapsedSeconds.isFinite, s.intervalSeconds.isFinite, s.intervalLossSum.isFinite,
              s.elapsedSeconds < 3.2e9, s.intervalSeconds < 3.2e9,
              s.learningRate.isFinite, s.learningRate > 0,
              s.bestValLoss?.isFinite ?? true, s.lastValLoss?.isFinite ?? true, s.lastTrainLoss?.isFinite ?? true else {
            throw bad("a time, loss or learning rate is not a finite number")
        }
        do {
            try s.config.settings.validate()
            try s.config.limits.validate()
        } catch { throw bad("settings: \(error)") }
        return s
    }
}
