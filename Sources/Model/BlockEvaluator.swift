// Forward-only scoring of a batch whose rows are split into blocks, each with its own recurrent state
// and workspace, scored on its own thread (products single-threaded); the blocks' losses are added in block
// order, so the result depends on the block count only. States carry from call to call, as rows of
// consecutive minibatches continue one another. Used for validation, testing and `gasa bench`.
import Dispatch
import Compute

public final class BlockEvaluator {
    public let batch: Int
    private let blocks: [(rows: Range<Int>, state: RecurrentState, workspace: Workspace)]

    /// `parts` blocks (at most one per row); each workspace runs `chunkSteps` steps at a time. Block i
    /// carves its scratch out of `borrowing[i]` where given (a training workspace's evaluationScratch,
    /// whose owner must not run while this evaluates).
    public init(model: LanguageModel, batch B: Int, rowParts parts: Int, chunkSteps: Int,
                borrowing scratch: [FloatBuffer] = []) {
        batch = B
        let n = min(max(1, parts), max(1, B))
        blocks = (0..<n).map { p in
            let rows = (B * p / n)..<(B * (p + 1) / n)
            let ws = Workspace(config: model.config, batch: rows.count, steps: chunkSteps, training: false,
                               borrowing: p < scratch.count ? scratch[p] : nil)
            return (rows, model.makeState(batch: rows.count), ws)
        }
    }

    /// Zero state for every row.
    public func reset() { for b in blocks { b.state.reset() } }

    /// Summed loss in nats of `steps` steps of the whole batch (inputs and targets row-major,
    /// [b*steps + t]). Call model.prepareForEvaluation() first, and again after the parameters change.
    public func evaluate(_ model: LanguageModel, inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>,
                         steps: Int) -> Double {
        let blocks = self.blocks
        var nats = [Double](repeating: 0, count: blocks.count)
        nats.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            func score(_ i: Int) {
                let b = blocks[i], b0 = b.rows.lowerBound   // row-major: a block of rows is contiguous
                out[i] = model.evaluate(inputs: inputs + b0 * steps, targets: targets + b0 * steps, steps: steps,
                                        state: b.state, workspace: b.workspace, refreshWeights: false)
            }
            if blocks.count == 1 { score(0) } else {
                DispatchQueue.concurrentPerform(iterations: blocks.count, execute: score)
            }
        }
        return nats.reduce(0, +)
    }
}
