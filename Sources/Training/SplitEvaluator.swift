// Forward passes over a whole split (val or test) with their own recurrent state and workspace sized
// for that split's batch size, which may differ from train's. The state starts at zero and is carried
// from minibatch to minibatch, as the rows continue one another. No dropout, no gradients.
// With `parts` > 1 (training's data-parallel threads, products single-threaded) each minibatch's rows are
// split into that many blocks evaluated on their own threads, and their losses added in block order.
// Under mpirun (`group`) each process scores its own block of every minibatch's rows and the losses
// are summed over the processes.
import Corpus
import Model
import Compute

final class SplitEvaluator {
    let stream: SplitStream
    private let blocks: BlockEvaluator?        // nil: this process's block of rows is empty
    private let slice: BatchSlice
    private let group: ProcessGroup?
    private let inputs: UnsafeMutablePointer<Int32>
    private let targets: UnsafeMutablePointer<Int32>

    /// nil when the split holds no minibatch.
    /// `borrowing`: a training workspace's evaluationScratch, used between its training steps.
    init?(model: LanguageModel, directory: String, manifest: Manifest, split: SplitName, rowParts parts: Int = 1,
          group: ProcessGroup? = nil, borrowing scratch: [FloatBuffer] = []) throws {
        let s = try SplitStream(directory: directory, manifest: manifest, split: split)
        guard s.count > 0, s.batchSize > 0 else { return nil }
        stream = s
        self.group = group
        slice = group.map { BatchSlice(block: $0.rank, of: $0.size, totalRows: s.batchSize) }
            ?? BatchSlice(firstRow: 0, rows: s.batchSize, totalRows: s.batchSize)
        // Evaluation runs in chunks of a few steps (the state carries across them), which keeps its
        // scratch memory small next to training's.
        blocks = slice.rows == 0 ? nil
            : BlockEvaluator(model: model, batch: slice.rows, rowParts: parts, chunkSteps: min(manifest.seqLength, 10),
                             borrowing: scratch)
        inputs = .allocate(capacity: s.batchSize * manifest.seqLength)
        targets = .allocate(capacity: s.batchSize * manifest.seqLength)
    }

    deinit {
        inputs.deallocate()
        targets.deallocate()
    }

    /// The loss of `model` over the split; nil if `shouldStop` turned true on the way (under mpirun it
    /// must answer the same on every process: Trainer's agreed request).
    func run(_ model: LanguageModel, shouldStop: () -> Bool = { false }) throws -> EvalResult? {
        blocks?.reset()
        model.prepareForEvaluation()
        var nats = 0.0
        for k in 0..<stream.count {
            if shouldStop() { return nil }
            let steps = try stream.load(k, inputs: inputs, targets: targets)
            let first = slice.firstRow * steps
            nats += blocks?.evaluate(model, inputs: inputs + first, targets: targets + first, steps: steps) ?? 0
        }
        if let g = group {
            var v = [nats]
            g.sum(&v)
            nats = v[0]
        }
        return EvalResult(split: stream.info.name, nats: nats, targets: stream.info.servedTargets,
                          characters: stream.info.targetCharacters)
    }
}
