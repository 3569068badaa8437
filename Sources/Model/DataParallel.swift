// Data parallelism inside one process: a batch's rows split into blocks, one per thread, each with its
// own workspace and state (a RowPart; its dropout masks come from the rows' own streams, as they would
// in one part), running the forward pass, the head and the backward pass through time on its own. The
// recurrent weight gradients wait: then each thread computes a block of rows of them from every part's
// gate gradients, adding the parts in order, straight into the model's gradients; the embedding and
// head gradients of the parts after the first are summed at the end. Deterministic for a given part
// count; other part counts differ only in the order of the sums.
import Dispatch
import Compute

extension LanguageModel {
    /// trainStep for a workspace with parts (LanguageModel.trainStep calls it).
    func trainStepDataParallel(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, steps: Int,
                               state: RecurrentState, ws: Workspace, masks: MaskStreams, scale: Float)
        -> Double {
        let H = config.hiddenSize, L = config.layers, G = config.gateRows
        let R = ws.parts.count
        let main = GradientTargets(model: self, base: grads.pointer)
        DispatchQueue.concurrentPerform(iterations: R) { i in
            let r = ws.parts[i]
            let b0 = r.rows.lowerBound, nb = r.rows.count
            r.inputs.update(from: inputs + b0 * steps, count: nb * steps)
            r.targets.update(from: targets + b0 * steps, count: nb * steps)
            for l in 0..<L {
                r.state.h(l).update(from: state.h(l) + b0 * H, count: nb * H)
                r.state.c(l).update(from: state.c(l) + b0 * H, count: nb * H)
            }
            var targets = i == 0 ? main : r.gradientTargets(config: config)
            targets.recurrent = nil
            r.loss = trainRows(inputs: r.inputs, targets: r.targets, steps: steps, state: r.state, ws: r.workspace,
                               masks: masks.offset(by: b0), grads: targets, scale: scale)
            for l in 0..<L {
                (state.h(l) + b0 * H).update(from: r.state.h(l), count: nb * H)
                (state.c(l) + b0 * H).update(from: r.state.c(l), count: nb * H)
            }
        }
        let g = grads.pointer
        let layerInputs = ws.layerInputs
        for l in 0..<L {
            DispatchQueue.concurrentPerform(iterations: R) { i in
                let w = ws.parts[i].workspace
                layerInputs[i] = rebuildInput(l, steps: steps, ws: w, into: w.input.pointer)
            }
            let into = layerGradients(l, base: g)
            DispatchQueue.concurrentPerform(iterations: R) { part in
                let rows = (G * part / R)..<(G * (part + 1) / R)
                Kernels.withPrecision(trainingPrecision) {
                    for (i, r) in ws.parts.enumerated() {
                        let w = r.workspace, layer = recurrentLayer(l, batch: w.batch, steps: steps)
                        layer.weightGradients(rows: rows, x: layerInputs[i], gates: w.gates[l].pointer,
                                              gatesHalf: gatesHalf(layer, l, ws: w).map { UnsafePointer($0) },
                                              h: w.h[l].pointer, into: into, accumulate: i > 0)
                    }
                }
            }
        }
        var total = ws.parts[0].loss
        for r in ws.parts.dropFirst() {
            let t = r.gradientTargets(config: config)
            Kernels.axpy(config.vocabSize * config.embeddingSize, 1, t.embed, main.embed)
            Kernels.axpy(config.vocabSize * H, 1, t.headW, main.headW)
            Kernels.axpy(config.vocabSize, 1, t.headB, main.headB)
            total += r.loss
        }
        return total
    }
}

/// One data-parallel part of a training workspace: rows `rows` of the batch, with its own scratch,
/// state, inputs and (except the first, which writes the model's own) embedding and head gradients.
final class RowPart {
    let rows: Range<Int>
    let workspace: Workspace
    let state: RecurrentState
    let grads: FloatBuffer
    let inputs: UnsafeMutablePointer<Int32>
    let targets: UnsafeMutablePointer<Int32>
    var loss = 0.0

    init(config: ModelConfig, rows: Range<Int>, steps: Int, ownGradients: Bool) {
        self.rows = rows
        workspace = Workspace(config: config, batch: rows.count, steps: steps, training: true)
        state = RecurrentState(layers: config.layers, batch: rows.count, hiddenSize: config.hiddenSize)
        let V = config.vocabSize
        grads = FloatBuffer(count: ownGradients ? V * config.embeddingSize + V * config.hiddenSize + V : 0)
        inputs = .allocate(capacity: rows.count * steps)
        inputs.initialize(repeating: 0, count: rows.count * steps)
        targets = .allocate(capacity: rows.count * steps)
        targets.initialize(repeating: 0, count: rows.count * steps)
    }

    deinit {
        inputs.deallocate()
        targets.deallocate()
    }

    /// This part's own embedding and head gradients (parts after the first).
    func gradientTargets(config: ModelConfig) -> LanguageModel.GradientTargets {
        let V = config.vocabSize, E = config.embeddingSize, H = config.hiddenSize
        let p = grads.pointer
        return .init(embed: p, headW: p + V * E, headB: p + V * E + V * H)
    }
}
