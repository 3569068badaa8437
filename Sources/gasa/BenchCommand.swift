// `gasa bench`: raw speed of the model's kernels on random tokens, without data loading: training
// steps (forward + backward), evaluation and batch-1 sampling steps, plus peak memory; with --products,
// the one-thread rate of each matrix product a training step of this shape makes, as gasa calls it.
// The side-by-side comparison with PyTorch on the real corpus is tools/bench_train.sh.
import ArgumentParser
import Common
import Foundation
import Model
import Compute
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the model's training, evaluation and sampling speed on random tokens.",
        discussion: """
        Examples:
          gasa bench --layers 3 --rnn-size 300 --dropout 0.4 --vocab 1209      (char-rnn-korean's configuration)
          gasa bench --layers 2 --rnn-size 128 --vocab 1209 --threads 1
          gasa bench --layers 3 --rnn-size 300 --vocab 1209 --products             (GFLOP/s of each product)
          gasa bench --layers 3 --rnn-size 300 --vocab 1209 --products --precision bf16
        """)

    @Option(help: "Recurrent cell: lstm, gru, rnn or rnn-relu.") var cell: Cell = .lstm
    @Option(help: "Recurrent layers.") var layers = 2
    @Option(help: "Hidden units per layer.") var rnnSize = 128
    @Option(help: "Embedding size (default: the rnn size).") var embeddingSize: Int?
    @Option(help: "Dropout.") var dropout: Float = 0
    @Option(help: "Vocabulary size.") var vocab = 1209
    @Option(help: "Batch size B.") var batchSize = 50
    @Option(help: "Steps per minibatch T.") var seqLength = 50
    @Option(help: "Timed training iterations (after 3 untimed).") var iters = 20
    @Option(help: "Sampling steps to time (batch 1, one thread).") var sampleSteps = 3000
    @Option(help: "Threads for training.") var threads = 2
    @Flag(help: "Time each matrix product of a training step on one thread instead (GFLOP/s, best of 5).")
    var products = false
    @Option(help: "How threads are used: 'batch' splits each batch's rows over the threads (data parallel, products single-threaded), 'blas' gives them to each matrix product.")
    var parallel: ParallelMode = .batch
    @Option(help: "Precision of the training products: f32 or bf16 (as gasa train --precision; needs AVX512_BF16).")
    var precision: Precision = .f32

    func validate() throws {
        guard layers >= 1, rnnSize >= 1, batchSize >= 1, seqLength >= 1, iters >= 1 else {
            throw ValidationError("--layers, --rnn-size, --batch-size, --seq-length and --iters must be at least 1")
        }
        guard vocab >= 2 else { throw ValidationError("--vocab must be at least 2") }
        guard sampleSteps >= 1 else { throw ValidationError("--sample-steps must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if precision == .bf16, let why = KernelInfo.bf16Refusal { throw ValidationError(why) }
    }

    func run() throws {
        let config = ModelConfig(vocabSize: vocab, embeddingSize: embeddingSize ?? rnnSize, hiddenSize: rnnSize,
                                 layers: layers, dropout: dropout, cell: cell)
        try config.validate()
        if products { return timeProducts(config) }
        let rowParts = parallel == .batch ? threads : 1
        Kernels.setThreads(rowParts > 1 ? 1 : threads)
        var rng = RNG(seed: 1)
        let model = LanguageModel(config: config, rng: &rng)
        model.trainingPrecision = precision
        let B = batchSize, T = seqLength
        let x = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(vocab)) }
        let y = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(vocab)) }
        let state = model.makeState(batch: B)
        let ws = model.makeWorkspace(batch: B, steps: T, rowParts: rowParts)
        for _ in 0..<3 { _ = model.trainStep(inputs: x, targets: y, steps: T, state: state, workspace: ws, rng: &rng) }
        var t0 = monotonicSeconds()
        for _ in 0..<iters {
            _ = model.trainStep(inputs: x, targets: y, steps: T, state: state, workspace: ws, rng: &rng)
        }
        let train = Double(iters * B * T) / (monotonicSeconds() - t0)
        // Evaluation as training's validation runs it: with --parallel batch, row blocks on their own threads.
        let blocks = BlockEvaluator(model: model, batch: B, rowParts: rowParts, chunkSteps: min(T, 10),
                                    borrowing: ws.evaluationScratch)
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
        emit("config: \(layers) x \(rnnSize) \(cell.rawValue), embedding \(config.embeddingSize), vocab \(vocab), dropout \(dropout), "
             + "batch \(B), seq \(T), \(config.parameterCount) parameters")
        emit(String(format: "train: %.0f tokens/s (%d threads, %@, %@)   eval: %.0f tokens/s   sample: %.0f tokens/s "
                    + "(batch 1, 1 thread)   peak RSS: %.1f MiB",
                     train, threads, parallel.rawValue, precision.rawValue, eval, sample, Double(usage.ru_maxrss) / 1024))
    }
}

extension BenchCommand {
    /// One product of the training step: C (m x n) = op(A) op(B) + beta C, as the model calls it.
    struct Product {
        let name: String
        let m: Int, n: Int, k: Int
        let transA: Bool, transB: Bool, beta: Float
        var lda: Int? = nil   // A's row stride when the call reads a block of a wider matrix
        var weight = false    // B is a weight matrix, which bf16 training rounds once per step, not per call
        var shape: String { "\(m) x \(n) x \(k)" + (transA ? " (A^T)" : "") + (transB ? " (B^T)" : "") }
    }

    /// The products of one training step with this model and batch, per data-parallel part (rows B / threads
    /// with --parallel batch), each timed alone on one thread: best of five runs of about 0.2 GFLOP.
    func timeProducts(_ config: ModelConfig) {
        Kernels.setThreads(1)
        let parts = parallel == .batch ? min(threads, batchSize) : 1
        let b = batchSize / parts, n = b * seqLength, H = config.hiddenSize, G = config.gateRows, V = vocab
        let E = config.embeddingSize
        let headRows = max(1, min(seqLength, 256 / b)) * b   // the head's chunk of whole steps (Workspace)
        var list = [
            Product(name: "per-step forward h W_hh^T", m: b, n: G, k: H, transA: false, transB: false, beta: 1,
                    weight: true),
            Product(name: "per-step backward dG W_hh", m: b, n: H, k: G, transA: false, transB: false, beta: 1,
                    weight: true),
            Product(name: "input product X W_ih^T", m: n, n: G, k: H, transA: false, transB: true, beta: 0),
            // Each thread takes a block of rows of the weight gradients, reading its columns of dG (stride 4H).
            Product(name: "weight gradient dG^T X", m: G / parts, n: H, k: n, transA: true, transB: false, beta: 0,
                    lda: G),
            Product(name: "input gradient dG W_ih", m: n, n: H, k: G, transA: false, transB: false, beta: 0),
            Product(name: "head logits", m: headRows, n: V, k: H, transA: false, transB: true, beta: 1, weight: true),
            Product(name: "head weight gradient", m: V, n: H, k: headRows, transA: true, transB: false, beta: 1),
            Product(name: "head input gradient", m: headRows, n: H, k: V, transA: false, transB: false, beta: 0,
                    weight: true),
            Product(name: "sampling step (batch 1)", m: 1, n: G, k: H, transA: false, transB: true, beta: 1),
        ]
        if E != H {
            list.insert(Product(name: "input product, layer 0", m: n, n: G, k: E, transA: false, transB: true,
                                beta: 0), at: 3)
        }
        emit(KernelInfo.summary)
        if let w = KernelInfo.shortfall { emit(w) }
        emit("products of one training step, \(layers) x \(H), batch \(batchSize) in \(parts) "
             + "part\(parts == 1 ? "" : "s") of \(b) rows, "
             + "seq \(seqLength), vocab \(V); \(precision.rawValue); one thread, best of 5")
        emit(TextTable.render([["product", "m x n x k",
                                "GFLOP/s"]] + list.map { p in [p.name, p.shape, String(format: "%6.1f", rate(p))] }))
    }

    private func rate(_ p: Product) -> Double {
        var rng = RNG(seed: 7)
        let lda = p.lda ?? (p.transA ? p.m : p.k), ldb = p.transB ? p.k : p.n
        let aCount = (p.transA ? p.k : p.m) * lda, bCount = p.k * p.n
        let a = FloatBuffer(count: aCount), bm = FloatBuffer(count: bCount), c = FloatBuffer(count: p.m * p.n)
        for i in 0..<aCount { a.pointer[i] = rng.uniform() - 0.5 }
        for i in 0..<bCount { bm.pointer[i] = rng.uniform() - 0.5 }
        // bf16: a weight B is rounded once beforehand, as training rounds it once per step; everything else per
        // call (training hands the LSTM's and RNN's gate gradients over pre-rounded too, saving a little more).
        let half = BF16Buffer(count: precision == .bf16 && p.weight ? bCount : 0)
        if half.count > 0 { Kernels.toBF16(rows: 1, cols: bCount, bm.pointer, ld: bCount, half.pointer) }
        let bHalf = half.count > 0 ? UnsafePointer(half.pointer) : nil
        let flops = 2.0 * Double(p.m) * Double(p.n) * Double(p.k)
        let reps = max(1, Int(2e8 / flops))
        func once() {
            Kernels.withPrecision(precision) {
                Kernels.gemm(transA: p.transA, transB: p.transB, m: p.m, n: p.n, k: p.k, a: a.pointer, lda: lda,
                             b: bm.pointer, bHalf: bHalf, ldb: ldb, beta: p.beta, c: c.pointer, ldc: p.n)
            }
        }
        once()   // builds and caches the kernel for this shape
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = monotonicSeconds()
            for _ in 0..<reps { once() }
            best = min(best, (monotonicSeconds() - t0) / Double(reps))
        }
        return flops / best / 1e9
    }
}
