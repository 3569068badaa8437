// Forward passes over a whole split (val or test) with their own recurrent state and workspace sized
// for that split's batch size, which may differ from train's. The state starts at zero and is carried
// from minibatch to minibatch, as the rows continue one another. No dropout, no gradients.
import Corpus
import Model

final class SplitEvaluator {
    let stream: SplitStream
    let state: RecurrentState
    let workspace: Workspace
    private let inputs: UnsafeMutablePointer<Int32>
    private let targets: UnsafeMutablePointer<Int32>

    /// nil when the split holds no minibatch.
    init?(model: LanguageModel, directory: String, manifest: Manifest, split: String) throws {
        let s = try SplitStream(directory: directory, manifest: manifest, split: split)
        guard s.count > 0, s.batchSize > 0 else { return nil }
        stream = s
        state = model.makeState(batch: s.batchSize)
        // Evaluation runs in chunks of a few steps (the state carries across them), which keeps its
        // scratch memory small next to training's.
        workspace = model.makeWorkspace(batch: s.batchSize, steps: min(manifest.seqLength, 10), training: false)
        inputs = .allocate(capacity: s.batchSize * manifest.seqLength)
        targets = .allocate(capacity: s.batchSize * manifest.seqLength)
    }

    deinit {
        inputs.deallocate()
        targets.deallocate()
    }

    /// The loss of `model` over the split; nil if `shouldStop` turned true on the way.
    func run(_ model: LanguageModel, shouldStop: () -> Bool = { false }) throws -> EvalResult? {
        state.reset()
        var nats = 0.0
        for k in 0..<stream.count {
            if shouldStop() { return nil }
            let steps = try stream.load(k, inputs: inputs, targets: targets)
            nats += model.evaluate(inputs: inputs, targets: targets, steps: steps, state: state, workspace: workspace)
        }
        return EvalResult(split: stream.info.name, nats: nats, targets: stream.info.servedTargets,
                          characters: stream.info.targetCharacters)
    }
}
