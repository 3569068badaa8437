// gasa train: parse options into the settings given and this invocation's limits, start a Trainer
// (which decides what a fresh run, --init-from and --resume keep), report.
import ArgumentParser
import Corpus
import Foundation
import Compute
import Model
import Training

extension Optimizer.Kind: ExpressibleByArgument {}
extension ParallelMode: ExpressibleByArgument {}
extension Cell: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// Named combinations of the regularisers (--regularize).
enum RegularizeRecipe: String, ExpressibleByArgument, CaseIterable {
    /// The combination that measured best at equal wall time on the ballad corpus's honest split, char and
    /// jamo together (README, "셀과 정규화"): every other one, alone or combined, fell behind plain dropout
    /// at one granularity or both.
    case awd

    /// What the recipe sets; flags given explicitly override it.
    func apply(to c: inout SettingChanges, hasDropout: Bool) {
        c.set(\.regularization.lockedDropout, true)
        if !hasDropout { c.set(\.dropout, 0.25) }
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a recurrent (LSTM, GRU or RNN) language model on a prepared folder.",
        discussion: """
        Minibatches are streamed from the shards in order; the recurrent state is carried from one minibatch to the next (truncated backpropagation through time) and reset at the start of each epoch. The whole val split is scored every --eval-every iterations and at the end, the test split once at the end (with the best weights), in nats per token and in bits per original character.

        Regularisers (AWD-LSTM, Merity et al. 2018), each off by default and kept by --resume: --weight-drop P drops recurrent weights (W_hh) with one mask per minibatch (against over-fitting recurrent weights, on small corpora and large --rnn-size); --locked-dropout makes --dropout's masks one per sequence, shared by all its time steps; --embedding-dropout P drops whole rows of the embedding for a minibatch (against memorising rare characters); --tie-weights makes the output layer share the embedding matrix (needs --embedding-size equal to --rnn-size; fewer parameters). --regularize awd sets --locked-dropout, and --dropout 0.25 unless --dropout is given: of the combinations measured at equal wall time (10 minutes, ballad lyrics, honest split, char and jamo) it was the only one within 0.1% of plain dropout's validation loss or better at both granularities (so it buys nothing measurable at that length); the others fell behind, by up to 11%, at one granularity or both. Flags given beside it add to or override it.

        --precision bf16 runs the training products on bfloat16 operands with float32 accumulation (the weights, the optimizer and the cells stay float32; validation and sampling are float32), on CPUs with AVX512_BF16 or AMX only: on the 3 x 300 model 1.6-1.8 times the iterations per minute of f32 on a 2-core AMD EPYC with AVX512_BF16, with the same validation loss per iteration. --resume keeps the run's precision unless given another (the run then goes on in that one; bit-exact resumption needs the same).

        RUN receives vocab.json, metrics.jsonl, loss.svg and two checkpoint folders, latest/ and best/ (model.safetensors with PyTorch names, optimizer.safetensors, recurrent.safetensors, meta.json, state.json). Ctrl-C (or SIGTERM) finishes the current step, saves latest/ and exits; --resume RUN continues exactly where it stopped (same results as an uninterrupted run with the same --threads).

        Examples:
          gasa train prep --out run
          gasa train prep --out big --layers 3 --rnn-size 300 --dropout 0.4
          gasa train prep --out gru --cell gru --layers 2 --rnn-size 256
          gasa train prep --out awd --layers 3 --rnn-size 300 --regularize awd
          gasa train prep --out wd --dropout 0.3 --locked-dropout --weight-drop 0.3
          gasa train prep --out run --max-minutes 60 --threads 2 --eval-every 200
          gasa train prep --out run --optimizer rmsprop --lr-decay 0.97
          gasa train prep --out fast --layers 3 --rnn-size 300 --dropout 0.2 --precision bf16
          gasa train prep --resume run --max-iters 20000
          gasa train prep --out run2 --init-from run/best --learning-rate 5e-4
          gasa plot run
          mpirun -np 2 gasa train prep --out run --threads 1        (2 processes, one model)
          mpirun --hostfile hosts -np 4 gasa train prep --out run    (over machines; see README)

        Under Open MPI's mpirun, the processes train one model together: each takes a contiguous block of every minibatch's rows, the gradients are summed over all of them once per step, and every process then takes the same optimizer step. Rank 0 alone writes RUN (it need not be shared); the prepared folder must be at the same path on every machine, and --resume reads RUN on every process (a shared folder, or a copy). Results do not depend on how many processes or threads share the rows, beyond the order of floating-point sums, so a run resumes with other counts.
        """)

    @Argument(help: "A folder written by gasa prepare (with --resume, defaults to the one the run was trained on).")
    var prepared: String?

    @Option(name: .shortAndLong, help: "Run folder to create (refused if it exists, unless --force).")
    var out: String?

    @Option(help: "Continue the run in this folder from its latest checkpoint.")
    var resume: String?

    @Option(help: "Start from the weights of this checkpoint or run (same vocabulary; fresh optimizer).")
    var initFrom: String?

    @Option(help: "Recurrent cell: lstm, gru, rnn (tanh) or rnn-relu (default lstm).")
    var cell: Cell?

    @Option(help: "Recurrent layers (default 2).")
    var layers: Int?

    @Option(help: "Hidden units per layer (default 128).")
    var rnnSize: Int?

    @Option(help: "Embedding width (default: the rnn size).")
    var embeddingSize: Int?

    @Option(help: "Dropout between layers and before the output layer (default 0).")
    var dropout: Float?

    @Option(help: "Weight drop: DropConnect on the recurrent weights, one mask per minibatch (default 0).")
    var weightDrop: Float?

    @Flag(help: "Share each --dropout mask across the time steps of a sequence (variational dropout).")
    var lockedDropout = false

    @Option(help: "Drop whole rows of the embedding per minibatch with this probability (default 0).")
    var embeddingDropout: Float?

    @Flag(help: "Tie the output layer's weights to the embedding (needs --embedding-size = --rnn-size).")
    var tieWeights = false

    @Option(help: "A named set of regularisers: awd (see above; explicit flags override it).")
    var regularize: RegularizeRecipe?

    @Option(help: "adam or rmsprop (char-rnn's: alpha 0.95, eps 1e-8) (default adam).")
    var optimizer: Optimizer.Kind?

    @Option(help: "Learning rate (default 2e-3).")
    var learningRate: Double?

    @Option(help: "Multiply the learning rate by this at the end of each epoch from --lr-decay-after on (default 1: no decay).")
    var lrDecay: Double?

    @Option(help: "Epoch whose end applies the first decay (default 10).")
    var lrDecayAfter: Double?

    @Option(help: "Clip the gradients' global norm to this (default 5; 0: no clipping).")
    var gradClip: Double?

    @Option(help: "Stop after this many epochs (default 50; 0: no limit).")
    var maxEpochs: Double?

    @Option(help: "Stop at this iteration (0: no limit).")
    var maxIters: Int?

    @Option(help: "Stop after this many minutes of this invocation (0: no limit).")
    var maxMinutes: Double?

    @Option(help: "Seed of the initial weights and dropout masks (default 123).")
    var seed: UInt64?

    @Option(help: "Threads (default: one per core; under mpirun, the cores shared among a machine's processes).")
    var threads: Int?

    @Option(help: "Precision of the training products: f32 (the default) or bf16 (bfloat16 operands, float32 accumulation; needs AVX512_BF16).")
    var precision: Precision?

    @Option(help: "How threads are used: batch (each batch's rows split over the threads, the default) or blas (threads inside each matrix product).")
    var parallel: ParallelMode?

    @Option(help: "Validate every N iterations (default 1000; 0: only at the end).")
    var evalEvery: Int?

    @Option(help: "Stop after this many validations without a new best (default 0: never).")
    var patience: Int?

    @Option(help: "Iterations per line of metrics.jsonl (default 10).")
    var logEvery: Int?

    @Option(help: "Iterations per progress line when stderr is not a terminal (default 100).")
    var printEvery: Int?

    @Flag(help: "Replace an existing run folder or an empty folder (never one holding other files, the prepared folder or the working directory).")
    var force = false

    @Flag(name: .shortAndLong, help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        if resume == nil && out == nil {
            throw ValidationError("give --out RUN for a new run, or --resume RUN to continue one")
        }
        if resume == nil && prepared == nil {
            throw ValidationError("give the prepared folder to train on (written by gasa prepare)")
        }
        if let r = resume, let o = out, r != o {
            throw ValidationError("--resume continues the run in place; drop --out (or make it the same folder)")
        }
        if resume != nil && (initFrom != nil || force) {
            throw ValidationError("--resume cannot be combined with --init-from or --force")
        }
    }

    func run() throws {
        StopSignal.install()
        // Under mpirun: one of several processes training one model (rank 0 alone reports and writes).
        let group = try ProcessGroup.joinIfLaunched()
        do {
            try train(group)
        } catch {
            guard let g = group, g.size > 1 else { throw error }
            // The others may be waiting in a collective for this one: end the whole job.
            g.abort("error: " + TrainCommand.message(for: error))
        }
        group?.finish()
    }

    private func train(_ group: ProcessGroup?) throws {
        var o = Trainer.Options(prepared: prepared, run: resume ?? out ?? "")
        (o.settings, o.limits) = given
        o.resume = resume != nil
        o.initFrom = initFrom
        o.force = force
        o.processes = group
        let writer = (group?.rank ?? 0) == 0
        o.quiet = quiet || !writer
        let trainer = try Trainer(options: o)
        if !o.quiet {
            let m = trainer.model.config, train = trainer.manifest.split(.train)!
            printError("training \(m.layers) x \(m.hiddenSize) \(m.cell.displayName) (embedding \(m.embeddingSize), "
                       + "vocabulary \(m.vocabSize), "
                       + "\(m.parameterCount) parameters, dropout \(m.dropout), regularisers "
                       + "\(m.regularization.summary)) on \(trainer.prepared): B "
                       + "\(train.batchSize), "
                       + "T \(trainer.manifest.seqLength), \(train.minibatches) minibatches per epoch; "
                       + "\(trainer.config.settings.optimizer.rawValue), lr \(trainer.config.settings.learningRate)")
            let c = trainer.config.limits
            let plural = c.threadCount == 1 ? "" : "s"
            var use = c.rowParts > 1 ? "rows split over them (--parallel batch)"
                                     : "inside each product (--parallel blas)"
            if let g = group {
                use += "; in each of \(g.size) processes (mpirun), rows \(trainer.slice.range) of "
                    + "\(train.batchSize) in this one"
            }
            let products = c.productPrecision == .bf16 ? "; bf16 products" : ""
            printError("\(KernelInfo.summary)\(products); \(c.threadCount) thread\(plural), " + use)
            if let w = KernelInfo.shortfall { printError(w) }
        }
        let s = try trainer.run()
        if writer { report(s) }
    }

    /// What the command line gave: settings (what the run computes) and this invocation's limits.
    private var given: (settings: SettingChanges, limits: LimitChanges) {
        var c = SettingChanges(), l = LimitChanges()
        if let r = regularize {
            r.apply(to: &c, hasDropout: dropout != nil)
        }
        if let v = cell { c.set(\.cell, v) }
        if let v = weightDrop { c.set(\.regularization.weightDrop, v) }
        if lockedDropout { c.set(\.regularization.lockedDropout, true) }
        if let v = embeddingDropout { c.set(\.regularization.embeddingDropout, v) }
        if tieWeights { c.set(\.regularization.tieWeights, true) }
        if let v = layers { c.set(\.layers, v) }
        if let v = rnnSize { c.set(\.hiddenSize, v) }
        if let v = embeddingSize { c.set(\.embeddingSize, v) }
        if let v = dropout { c.set(\.dropout, v) }
        if let v = optimizer { c.set(\.optimizer, v) }
        if let v = learningRate { c.set(\.learningRate, v) }
        if let v = lrDecay { c.set(\.lrDecay, v) }
        if let v = lrDecayAfter { c.set(\.lrDecayAfter, v) }
        if let v = gradClip { c.set(\.gradClip, v) }
        if let v = seed { c.set(\.seed, v) }
        if let v = logEvery { c.set(\.logEvery, v) }
        if let v = maxEpochs { l.set(\.maxEpochs, v) }
        if let v = maxIters { l.set(\.maxIters, v) }
        if let v = maxMinutes { l.set(\.maxMinutes, v) }
        if let v = threads { l.set(\.threads, v) }
        if let v = parallel { l.set(\.parallel, v) }
        if let v = precision { l.set(\.precision, v) }
        if let v = evalEvery { l.set(\.evalEvery, v) }
        if let v = patience { l.set(\.patience, v) }
        if let v = printEvery { l.set(\.printEvery, v) }
        return (c, l)
    }

    private func report(_ s: TrainingSummary) {
        emit("stopped at iteration \(s.iteration) (epoch \(fmt(s.epoch))): \(s.stopReason.rawValue)")
        if let t = s.lastTrainLoss { emit("  train loss \(fmt(t, 4)) nats/token (last iteration)") }
        if let v = s.val {
            emit("  val   \(fmt(v.natsPerToken, 4)) nats/token, \(fmt(v.bitsPerCharacter, 4)) bits/char")
        }
        if let b = s.bestValLoss, let i = s.bestIteration {
            emit("  best  val \(fmt(b, 4)) nats/token at iteration \(i)")
        }
        if let t = s.test {
            emit("  test  \(fmt(t.natsPerToken, 4)) nats/token, \(fmt(t.bitsPerCharacter, 4)) bits/char "
                 + "(\(s.testCheckpoint ?? "latest") weights)")
        }
        emit("  checkpoints: \(s.runDirectory)/latest" + (s.bestIteration != nil ? ", \(s.runDirectory)/best" : ""))
        if let p = s.plotPath { emit("  plot: \(p)") }
        if let tps = s.steadyTokensPerSecond {
            emit("steady-state: \(fmt(tps, 1)) tokens/s over \(s.steadyIterations) iterations ("
                 + (s.warmupIterations > 0 ? "first \(s.warmupIterations) and evaluation excluded)" : "evaluation "
                    + "excluded; too few to leave out a warm-up)"))
        }
        if let r = s.reduceSecondsPerStep {
            emit("processes: \(s.processes); gradient all-reduce \(fmt(r * 1000, 2)) ms per step on average")
        }
    }
}
