// What a call of Trainer.run reports back: why it stopped, where it got to, the throughput and losses.

public struct TrainingSummary: Sendable {
    public enum StopReason: String, Sendable {
        case iterations = "reached --max-iters"
        case epochs = "reached --max-epochs"
        case minutes = "reached --max-minutes"
        case patience = "no validation improvement for --patience evaluations"
        case interrupted = "interrupted"
        case alreadyDone = "the run had already reached its limit"
    }

    public var stopReason: StopReason
    public var runDirectory: String
    public var iteration: Int
    public var epoch: Double
    public var iterationsThisRun: Int
    /// Training tokens per second of this invocation, evaluation, checkpoints and warm-up excluded.
    public var steadyTokensPerSecond: Double?
    public var steadyIterations: Int
    public var warmupIterations: Int
    public var lastTrainLoss: Double?
    public var val: EvalResult?
    public var test: EvalResult?
    public var testCheckpoint: String?        // "best" or "latest": the weights the test split was scored with
    public var bestValLoss: Double?
    public var bestIteration: Int?
    public var plotPath: String?
    /// Under mpirun: the processes, and the mean time per step in the gradient all-reduce (seconds).
    public var processes = 1
    public var reduceSecondsPerStep: Double? = nil
}
