// Forward passes over a whole split (val or test) with their own recurrent state and workspace sized
// for that split's batch size, which may differ from train's. The state starts at zero and is carried
// from minibatch to minibatch, as the rows continue one another. No dropout, no gradients.
// With `parts` > 1 (training's data-parallel threads, BLAS single-threaded) each minibatch's rows are
// split into that many blocks evaluated on their own threads, and their losses added in block order.
import Corpus
import Dispatch
import Model

final class SplitEvaluator {
    let stream: SplitStream
    private let parts: [(rows: Range<Int>, state: RecurrentState, workspace: Workspace)]
    private let inputs: UnsafeMutablePointer<Int32>
    private let targets: UnsafeMutablePointer<Int32>

    /// nil when the split holds no minibatch.
    init?(model: LanguageModel, directory: String, manifest: Manifest, split: String, parts: Int = 1) throws {
        let s = try SplitStream(directory: directory, manifest: manifest, split: split)
        guard s.count > 0, s.batchSize > 0 else { return nil }
        stream = s
        let B = s.batchSize, n = min(max(1, parts), B)
        // Evaluation runs in chunks of a few steps (the state carries across them), which keeps its
        // scratch memory small next to training's.
        self.parts = (0..<n).map { p in
            let rows = (B * p / n)..<(B * (p + 1) / n)
            return (rows, model.makeState(batch: rows.count),
                    model.makeWorkspace(batch: rows.count, steps: min(manifest.seqLength, 10), training: false))
        }
        inputs = .allocate(capacity: B * manifest.seqLength)
        targets = .allocate(capacity: B * manifest.seqLength)
    }

    deinit {
        inputs.deallocate()
        targets.deallocate()
    }

    /// The loss of `model` over the split; nil if `shouldStop` turned true on the way.
    func run(_ model: LanguageModel, shouldStop: () -> Bool = { false }) throws -> EvalResult? {
        for p in parts { p.state.reset() }
        model.prepareForEvaluation()
        var nats = 0.0
        var partNats = [Double](repeating: 0, count: parts.count)
        for k in 0..<stream.count {
            if shouldStop() { return nil }
            let steps = try stream.load(k, inputs: inputs, targets: targets)
            partNats.withUnsafeMutableBufferPointer { out in
                DispatchQueue.concurrentPerform(iterations: parts.count) { i in
                    let p = parts[i], b0 = p.rows.lowerBound   // inputs are row-major: a block of rows is contiguous
                    out[i] = model.evaluate(inputs: inputs + b0 * steps, targets: targets + b0 * steps, steps: steps,
                                            state: p.state, workspace: p.workspace, refreshWeights: false)
                }
            }
            for x in partNats { nats += x }
        }
        return EvalResult(split: stream.info.name, nats: nats, targets: stream.info.servedTargets,
                          characters: stream.info.targetCharacters)
    }
}
