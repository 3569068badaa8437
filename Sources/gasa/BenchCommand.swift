// `gasa bench model`: raw speed of the model's kernels on random tokens, without data loading:
// training steps (forward + backward), evaluation and batch-1 sampling steps, plus peak memory.
// The side-by-side comparison with PyTorch on the real corpus is tools/bench_train.sh.
import ArgumentParser
import Foundation
import Model
import Numerics

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the model's training, evaluation and sampling speed on random tokens.",
        discussion: """
        Examples:
          gasa bench --layers 3 --rnn-size 300 --dropout 0.4 --vocab 1209      (char-rnn-korean's configuration)
          gasa bench --layers 2 --rnn-size 128 --vocab 1209 --threads 1
        """)

    @Option(help: "LSTM layers.") var layers = 2
    @Option(help: "Hidden units per layer.") var rnnSize = 128
    @Option(help: "Embedding size (default: the rnn size).") var embeddingSize: Int?
    @Option(help: "Dropout.") var dropout: Float = 0
    @Option(help: "Vocabulary size.") var vocab = 1209
    @Option(help: "Batch size B.") var batchSize = 50
    @Option(help: "Steps per minibatch T.") var seqLength = 50
    @Option(help: "Timed training iterations (after 3 untimed).") var iters = 20
    @Option(help: "Sampling steps to time (batch 1, one thread).") var sampleSteps = 3000
    @Option(help: "Threads for training.") var threads = 2
    @Option(help: "How threads are used: 'batch' splits each batch's rows over the threads (data parallel, products single-threaded), 'blas' gives them to each matrix product.") var parallel: ParallelMode = .batch

    func validate() throws {
        guard layers >= 1, rnnSize >= 1, batchSize >= 1, seqLength >= 1, iters >= 1 else {
            throw ValidationError("--layers, --rnn-size, --batch-size, --seq-length and --iters must be at least 1")
        }
        guard vocab >= 2 else { throw ValidationError("--vocab must be at least 2") }
        guard sampleSteps >= 1 else { throw ValidationError("--sample-steps must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let config = ModelConfig(vocabSize: vocab, embeddingSize: embeddingSize ?? rnnSize, hiddenSize: rnnSize,
                                 layers: layers, dropout: dropout)
        try config.validate()
        let replicas = parallel == .batch ? threads : 1
        Kernels.setThreads(replicas > 1 ? 1 : threads)
        var rng = RNG(seed: 1)
        let model = LanguageModel(config: config, rng: &rng)
        let B = batchSize, T = seqLength
        let x = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(vocab)) }
        let y = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(vocab)) }
        let state = model.makeState(batch: B)
        let ws = model.makeWorkspace(batch: B, steps: T, replicas: replicas)
        for _ in 0..<3 { _ = model.trainStep(inputs: x, targets: y, steps: T, state: state, workspace: ws, rng: &rng) }
        var t0 = monotonicSeconds()
        for _ in 0..<iters { _ = model.trainStep(inputs: x, targets: y, steps: T, state: state, workspace: ws, rng: &rng) }
        let train = Double(iters * B * T) / (monotonicSeconds() - t0)
        // Evaluation as training's validation runs it: with --parallel batch, row blocks on their own threads.
        let blocks = BlockEvaluator(model: model, batch: B, parts: replicas, chunkSteps: min(T, 10), borrowing: ws.evaluationScratch)
        model.prepareForEvaluation()
        t0 = monotonicSeconds()
        for _ in 0..<max(1, iters / 2) { _ = blocks.evaluate(model, inputs: x, targets: y, steps: T) }
        let eval = Double(max(1, iters / 2) * B * T) / (monotonicSeconds() - t0)
        Kernels.setThreads(1)
        let one = model.makeState(batch: 1)
        let stepWS = model.makeWorkspace(batch: 1, steps: 1, training: false)
        var logits = [Float](repeating: 0, count: vocab)
        t0 = monotonicSeconds()
        for k in 0..<sampleSteps { model.step(token: x[k % x.count], state: one, workspace: stepWS, logits: &logits) }
        let sample = Double(sampleSteps) / (monotonicSeconds() - t0)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        emit(KernelInfo.summary)
        if let w = KernelInfo.shortfall { emit(w) }
        emit("config: \(layers) x \(rnnSize), embedding \(config.embeddingSize), vocab \(vocab), dropout \(dropout), batch \(B), seq \(T), \(config.parameterCount) parameters")
        emit(String(format: "train: %.0f tokens/s (%d threads, %@)   eval: %.0f tokens/s   sample: %.0f tokens/s (batch 1, 1 thread)   peak RSS: %.1f MiB",
                     train, threads, parallel.rawValue, eval, sample, Double(usage.ru_maxrss) / 1024))
    }
}

enum ParallelMode: String, ExpressibleByArgument, CaseIterable {
    case batch, blas
}
