// The char-rnn language model: Embedding (V, E) -> L recurrent layers of H units (LSTM, GRU or RNN;
// dropout after each layer's output when training) -> Linear (H -> V) -> softmax cross-entropy, over one
// flat parameter buffer (see ModelConfig for its layout). The layers are their own files, each with its
// forward and backward side by side (Embedding, RecurrentLayer with LSTM, GRU and RNN, Dropout, Head);
// this file composes them into the model's forward and backward passes, evaluation and one-token
// sampling steps, with the regularisers of ModelConfig.regularization (Regularizers.swift draws their
// per-minibatch masks and finishes their gradients). Splitting a batch's rows over threads is
// DataParallel.swift. It knows nothing of files, optimisers or data order: callers pass
// token ids and a carried state.
import Dispatch
import Compute

/// Rows [firstRow, firstRow + rows) of a batch of totalRows: the block one process trains.
public struct BatchSlice: Equatable, Sendable {
    public let firstRow: Int
    public let rows: Int
    public let totalRows: Int

    public init(firstRow: Int, rows: Int, totalRows: Int) {
        self.firstRow = firstRow
        self.rows = rows
        self.totalRows = totalRows
    }

    /// Block `index` of `count` contiguous blocks of a batch of `total` rows (sizes differing by at most one).
    public init(block index: Int, of count: Int, totalRows total: Int) {
        let lo = total * index / count, hi = total * (index + 1) / count
        self.init(firstRow: lo, rows: hi - lo, totalRows: total)
    }

    public var range: Range<Int> { firstRow..<(firstRow + rows) }
}

public final class LanguageModel {
    public let config: ModelConfig
    public let layout: [TensorView]
    private let params: FloatBuffer
    // Allocated on first use: a model loaded only for sampling or evaluation never needs them.
    lazy var grads = FloatBuffer(count: config.parameterCount)
    // W_hh^T of every layer, (H, R) each, copied from the parameters (after weight drop, in training) at the
    // start of each trainStep and evaluate call: the per-step product h_{t-1} W_hh^T then reads its right
    // operand untransposed, which the kernels take faster (the per-step products are small, so reading
    // W_hh across is much of their cost).
    private lazy var whhT = FloatBuffer(count: config.layers * config.gateRows * config.hiddenSize)
    /// What trainStep's products compute in (evaluation and sampling are always float32). With bf16 the
    /// recurrent weights (W_hh and W_hh^T of every layer) and the head's W are rounded into `halfWeights`
    /// at the start of each step, after weight drop, for the products that read them once per time step.
    public var trainingPrecision: Precision = .f32
    private lazy var halfWeights = BF16Buffer(count: config.layers * 2 * config.gateRows * config.hiddenSize
                                              + config.vocabSize * config.hiddenSize)
    // The regularisers' per-minibatch draws (Regularizers.swift), allocated on the first training step.
    let minibatchMasks: MinibatchMasks
    private let index: [String: TensorView]
    // Offsets of the tensors the passes use.
    let embedOffset: Int
    let wihOffset: [Int], whhOffset: [Int], bihOffset: [Int], bhhOffset: [Int]
    let headWOffset: Int, headBOffset: Int

    public var parameters: UnsafeMutableBufferPointer<Float> { params.buffer }
    public var gradients: UnsafeMutableBufferPointer<Float> { grads.buffer }

    /// A model with every parameter zero (to be loaded into).
    public init(config: ModelConfig) {
        self.config = config
        layout = config.layout
        params = FloatBuffer(count: config.parameterCount)
        var idx: [String: TensorView] = [:]
        for v in layout { idx[v.name] = v }
        index = idx
        embedOffset = idx["embed.weight"]!.offset
        let m = config.cell.moduleName
        wihOffset = (0..<config.layers).map { idx["\(m).weight_ih_l\($0)"]!.offset }
        whhOffset = (0..<config.layers).map { idx["\(m).weight_hh_l\($0)"]!.offset }
        bihOffset = (0..<config.layers).map { idx["\(m).bias_ih_l\($0)"]!.offset }
        bhhOffset = (0..<config.layers).map { idx["\(m).bias_hh_l\($0)"]!.offset }
        headWOffset = idx["head.weight"]!.offset
        headBOffset = idx["head.bias"]!.offset
        minibatchMasks = MinibatchMasks(config: config)
    }

    /// A freshly initialised model (PyTorch's default initialisation; see ModelConfig).
    public convenience init(config: ModelConfig, rng: inout RNG) {
        self.init(config: config)
        let p = params.pointer
        let bound = 1 / Float(config.hiddenSize).squareRoot()
        for v in layout {
            if v.name == "embed.weight" {
                for k in 0..<v.count { p[v.offset + k] = rng.normal() }
            } else {
                for k in 0..<v.count { p[v.offset + k] = (2 * rng.uniform() - 1) * bound }
            }
        }
        if config.regularization.tieWeights {   // the embedding takes the head's values
            (p + embedOffset).update(from: p + headWOffset, count: config.vocabSize * config.hiddenSize)
        }
    }

    public func view(_ name: String) -> TensorView? { index[name] }

    public func makeState(batch: Int) -> RecurrentState {
        RecurrentState(layers: config.layers, batch: batch, hiddenSize: config.hiddenSize)
    }

    /// `rowParts` > 1 (training only) splits the batch's rows over that many threads (data parallel,
    /// DataParallel.swift); each thread then calls the products single-threaded.
    public func makeWorkspace(batch: Int, steps: Int, training: Bool = true, rowParts: Int = 1) -> Workspace {
        Workspace(config: config, batch: batch, steps: steps, training: training, rowParts: training ? rowParts : 1)
    }

    // MARK: - Training and evaluation

    /// One training minibatch: forward with dropout, loss, backward. Overwrites the gradients with
    /// d(mean loss over the B*steps targets)/d(parameters). `state` holds the initial state and receives
    /// the final one. inputs and targets are row-major [b*steps + t]. Returns the summed loss in nats. With
    /// a data-parallel workspace the rows are split over its parts (DataParallel.swift).
    /// The masks: one seed per step and the per-minibatch regularisers' masks come from `rng`, each row's
    /// dropout masks from that seed and the row's index in the whole batch (MaskStreams). `slice` says
    /// which rows of a larger batch these are (another process trains the others): the gradients are then
    /// this block's share of the whole batch's mean, and the whole batch's gradient is the sum of its
    /// blocks', whatever the blocks (up to the order of the sums).
    public func trainStep(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, steps: Int,
                          state: RecurrentState, workspace ws: Workspace, rng: inout RNG,
                          slice: BatchSlice? = nil) -> Double {
        precondition(ws.training, "trainStep needs a training workspace")
        precondition(steps >= 1 && steps <= ws.steps && state.batch == ws.batch)
        let whole = slice ?? BatchSlice(firstRow: 0, rows: ws.batch, totalRows: ws.batch)
        precondition(whole.rows == ws.batch && whole.firstRow + whole.rows <= whole.totalRows)
        let scale = 1 / Float(whole.totalRows * steps)
        let masks = MaskStreams(seed: rng.next(), firstRow: whole.firstRow)
        drawMinibatchMasks(rng: &rng)
        transposeRecurrentWeights(dropped: config.regularization.weightDrop > 0)
        if trainingPrecision == .bf16 { roundWeightsToHalf(dropped: config.regularization.weightDrop > 0) }
        let loss: Double
        if ws.parts.isEmpty {
            loss = trainRows(inputs: inputs, targets: targets, steps: steps, state: state, ws: ws, masks: masks,
                             grads: GradientTargets(model: self, base: grads.pointer), scale: scale)
        } else {
            loss = trainStepDataParallel(inputs: inputs, targets: targets, steps: steps, state: state, ws: ws,
                                         masks: masks, scale: scale)
        }
        finishRegularizedGradients()
        return loss
    }

    /// Where one part of the batch puts its gradients: the embedding's and the head's, and the recurrent
    /// layers' at their offsets from `recurrent` (nil: computed later, from every part at once).
    struct GradientTargets {
        var embed: UnsafeMutablePointer<Float>
        var headW: UnsafeMutablePointer<Float>
        var headB: UnsafeMutablePointer<Float>
        var recurrent: UnsafeMutablePointer<Float>?

        /// All into a flat buffer laid out like the parameters.
        init(model m: LanguageModel, base: UnsafeMutablePointer<Float>) {
            embed = base + m.embedOffset
            headW = base + m.headWOffset
            headB = base + m.headBOffset
            recurrent = base
        }

        init(embed: UnsafeMutablePointer<Float>, headW: UnsafeMutablePointer<Float>,
             headB: UnsafeMutablePointer<Float>) {
            self.embed = embed
            self.headW = headW
            self.headB = headB
        }
    }

    /// Forward, loss and backward of B rows; gradients (already scaled by `scale` per target) go to `g`.
    func trainRows(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, steps: Int, state: RecurrentState,
                   ws: Workspace, masks: MaskStreams, grads g: GradientTargets, scale: Float) -> Double {
        Kernels.withPrecision(trainingPrecision) {
            gather(inputs: inputs, targets: targets, rowStride: steps, from: 0, steps: steps, ws: ws)
            forward(steps: steps, state: state, ws: ws, masks: masks)
            let N = ws.batch * steps
            let loss = trainingHead.forwardBackward(rows: N, top: topOutput(ws: ws, dropout: config.dropout > 0),
                                                    targets: ws.targets, scale: scale, ws: ws, dW: g.headW,
                                                    db: g.headB, dTop: ws.dA.pointer)
            backward(steps: steps, ws: ws, grads: g)
            return loss
        }
    }

    /// Forward only, without dropout, carrying `state` the same way; returns the summed loss in nats over
    /// the B*steps targets. Any steps count is accepted: it runs in chunks of the workspace's steps.
    /// rowLoss, if given, receives each target's loss at [b*steps + t].
    /// By default it first copies W_hh^T from the parameters into a buffer of the model's, so calls on one
    /// model must not overlap; callers that evaluate parts of a batch on several threads at once call
    /// prepareForEvaluation() once and then pass `refreshWeights: false`.
    public func evaluate(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, steps: Int,
                         state: RecurrentState, workspace ws: Workspace,
                         rowLoss: UnsafeMutablePointer<Float>? = nil, refreshWeights: Bool = true) -> Double {
        precondition(state.batch == ws.batch)
        if refreshWeights { transposeRecurrentWeights() }
        var total = 0.0
        var s0 = 0
        while s0 < steps {
            let n = min(ws.steps, steps - s0)
            gather(inputs: inputs, targets: targets, rowStride: steps, from: s0, steps: n, ws: ws)
            forward(steps: n, state: state, ws: ws, masks: nil)
            total += head.loss(rows: ws.batch * n, batch: ws.batch, top: topOutput(ws: ws, dropout: false),
                               targets: ws.targets, ws: ws, rowLoss: rowLoss, rowStride: steps, from: s0)
            s0 += n
        }
        return total
    }

    /// Readies the weights for evaluate(..., refreshWeights: false) calls until the parameters change.
    public func prepareForEvaluation() { transposeRecurrentWeights() }

    /// whhT from the current parameters (see its declaration), or from their weight-dropped copies
    /// (`dropped`, training with weight drop), in 32 x 32 tiles.
    func transposeRecurrentWeights(dropped: Bool = false) {
        let H = config.hiddenSize, G = config.gateRows, tile = 32
        for l in 0..<config.layers {
            let src = recurrentWeights(l, dropped: dropped), dst = whhT.pointer + l * G * H
            var r0 = 0
            while r0 < G {
                let r1 = min(r0 + tile, G)
                var c0 = 0
                while c0 < H {
                    let c1 = min(c0 + tile, H)
                    for r in r0..<r1 { for c in c0..<c1 { dst[c * G + r] = src[r * H + c] } }
                    c0 = c1
                }
                r0 = r1
            }
        }
    }

    /// halfWeights from whhT, this step's W_hh (`dropped`: the weight-dropped copies) and the head's W.
    private func roundWeightsToHalf(dropped: Bool) {
        let H = config.hiddenSize, G = config.gateRows, V = config.vocabSize
        for l in 0..<config.layers {
            let (whh, t) = halfRecurrent(l)
            Kernels.toBF16(rows: G, cols: H, recurrentWeights(l, dropped: dropped), ld: H, whh)
            Kernels.toBF16(rows: H, cols: G, whhT.pointer + l * G * H, ld: G, t)
        }
        Kernels.toBF16(rows: V, cols: H, params.pointer + headWOffset, ld: H, halfHead)
    }

    /// Layer l's W_hh and W_hh^T in halfWeights.
    private func halfRecurrent(_ l: Int) -> (UnsafeMutablePointer<UInt16>, UnsafeMutablePointer<UInt16>) {
        let size = config.gateRows * config.hiddenSize, p = halfWeights.pointer + 2 * l * size
        return (p, p + size)
    }

    private var halfHead: UnsafeMutablePointer<UInt16> {
        halfWeights.pointer + 2 * config.layers * config.gateRows * config.hiddenSize
    }

    /// Copies steps [from, from+n) of the row-major batch into the workspace's time-major token arrays.
    func gather(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, rowStride: Int,
                        from s0: Int, steps n: Int, ws: Workspace) {
        let B = ws.batch
        for b in 0..<B {
            for t in 0..<n {
                ws.tokens[t * B + b] = inputs[b * rowStride + s0 + t]
                ws.targets[t * B + b] = targets[b * rowStride + s0 + t]
            }
        }
    }

    private var head: Head {
        let p = UnsafePointer(params.pointer)
        return Head(weight: p + headWOffset, bias: p + headBOffset, vocabulary: config.vocabSize,
                    width: config.hiddenSize)
    }

    /// The head as trainStep uses it: with its W rounded to bfloat16 in bf16 training.
    private var trainingHead: Head {
        var h = head
        if trainingPrecision == .bf16 { h.weightHalf = UnsafePointer(halfHead) }
        return h
    }

    /// W_hh of layer l as the passes use it: the parameters', or (`dropped`) this minibatch's weight-dropped copy.
    func recurrentWeights(_ l: Int, dropped: Bool) -> UnsafePointer<Float> {
        if dropped { return UnsafePointer(minibatchMasks.droppedRecurrent(l)) }
        return UnsafePointer(params.pointer + whhOffset[l])
    }

    /// Layer l's weights for a pass (`training`: with weight drop when the model has it).
    func layerWeights(_ l: Int, training: Bool) -> LayerWeights {
        let p = UnsafePointer(params.pointer)
        var w = LayerWeights(wih: p + wihOffset[l],
                             whh: recurrentWeights(l, dropped: training && config.regularization.weightDrop > 0),
                             whhT: whhT.pointer + l * config.gateRows * config.hiddenSize,
                             bih: p + bihOffset[l], bhh: p + bhhOffset[l])
        if training && trainingPrecision == .bf16 {
            let (whh, t) = halfRecurrent(l)
            w.whhHalf = UnsafePointer(whh)
            w.whhTHalf = UnsafePointer(t)
        }
        return w
    }

    func recurrentLayer(_ l: Int, batch: Int, steps: Int) -> RecurrentLayer {
        RecurrentLayer(cell: config.cell, batch: batch, steps: steps, input: config.inputSize(layer: l),
                       hidden: config.hiddenSize)
    }

    /// Embedding lookup and the recurrent layers; leaves the top layer's (dropped-out) output ready for the
    /// head. `masks` (training): with dropout and the regularisers (this minibatch's masks); nil: evaluation.
    private func forward(steps T: Int, state: RecurrentState, ws: Workspace, masks: MaskStreams?) {
        let training = masks != nil
        let B = ws.batch, H = config.hiddenSize, N = B * T
        let p = UnsafePointer(params.pointer)
        let dropout: Float? = training && config.dropout > 0 ? config.dropout : nil
        Embedding.forward(table: p + embedOffset, width: config.embeddingSize, tokens: ws.tokens, rows: N,
                          into: ws.input.pointer, rowScale: training ? minibatchMasks.embeddingRowScale : nil)
        let memory = config.cell.hasMemory
        for l in 0..<config.layers {
            let h = ws.h[l].pointer, c = ws.c[l].pointer
            h.update(from: state.h(l), count: B * H)
            if memory { c.update(from: state.c(l), count: B * H) }
            recurrentLayer(l, batch: B, steps: T)
                .forward(x: layerInput(l, ws: ws, dropout: dropout), weights: layerWeights(l, training: training),
                         gates: ws.gates[l].pointer, h: h, c: c, biasSum: ws.biasSum.pointer,
                         gh: ws.recurrentProduct.pointer)
            state.h(l).update(from: h + N * H, count: B * H)
            if memory { state.c(l).update(from: c + N * H, count: B * H) }
            // Layer l's output after dropout goes into ws.input: the next layer's input, or the head's.
            if let p = dropout {
                if config.regularization.lockedDropout {
                    Dropout.forwardLocked(h + B * H, ws.input.pointer, rows: B, width: H, steps: T, p: p,
                                          mask: ws.masks[l], streams: masks!.layer(l))
                } else {
                    Dropout.forward(h + B * H, ws.input.pointer, rows: B, width: H, steps: T, p: p,
                                    mask: ws.masks[l], streams: masks!.layer(l))
                }
            }
        }
    }

    /// The input rows of layer l (N, In) during the forward pass: the embeddings or, with dropout, the
    /// layer below's dropped-out output, both in ws.input; without dropout, the layer below's output itself.
    private func layerInput(_ l: Int, ws: Workspace, dropout: Float?) -> UnsafePointer<Float> {
        if l == 0 || dropout != nil { return UnsafePointer(ws.input.pointer) }
        return UnsafePointer(ws.h[l - 1].pointer + ws.batch * config.hiddenSize)
    }

    /// Layer l's input rows as the forward pass saw them, for its weight gradients: the embeddings or, with
    /// dropout, the layer below's dropped-out output, rebuilt into `dst`; without dropout, the layer
    /// below's output itself.
    func rebuildInput(_ l: Int, steps T: Int, ws: Workspace,
                      into dst: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let N = ws.batch * T, H = config.hiddenSize
        if l == 0 {
            Embedding.forward(table: UnsafePointer(params.pointer) + embedOffset, width: config.embeddingSize,
                              tokens: ws.tokens, rows: N, into: dst, rowScale: minibatchMasks.embeddingRowScale)
        } else if config.dropout > 0 {
            Dropout.rebuild(ws.h[l - 1].pointer + ws.batch * H, dst, count: N * H, p: config.dropout,
                            mask: ws.masks[l - 1])
        } else {
            return UnsafePointer(ws.h[l - 1].pointer + ws.batch * H)
        }
        return UnsafePointer(dst)
    }

    /// The top layer's output as the head sees it: after dropout (in ws.input) or as it is.
    private func topOutput(ws: Workspace, dropout: Bool) -> UnsafePointer<Float> {
        if dropout { return UnsafePointer(ws.input.pointer) }
        return UnsafePointer(ws.h[config.layers - 1].pointer + ws.batch * config.hiddenSize)
    }

    /// Backward through the dropout masks and the recurrent layers into the embedding; dL/d(top output) is
    /// in ws.dA. Each layer's input is rebuilt (embeddings, or the layer below's output after dropout) for
    /// its weight gradients in the buffer that then receives dL/d(that input), the next layer's dL/d(output).
    private func backward(steps T: Int, ws: Workspace, grads g: GradientTargets) {
        let B = ws.batch, H = config.hiddenSize, N = B * T
        var dOut = ws.dA.pointer, other = ws.input.pointer
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            if config.dropout > 0 { Dropout.backward(dOut, count: N * H, p: config.dropout, mask: ws.masks[l]) }
            let layer = recurrentLayer(l, batch: B, steps: T), w = layerWeights(l, training: true)
            let half = gatesHalf(layer, l, ws: ws)
            layer.backwardThroughTime(weights: w, gates: ws.gates[l].pointer, gatesHalf: half, h: ws.h[l].pointer,
                                      c: ws.c[l].pointer, dhOut: dOut, dc: ws.dc.pointer)
            if let base = g.recurrent {
                layer.weightGradients(rows: 0..<config.gateRows, x: rebuildInput(l, steps: T, ws: ws, into: other),
                                      gates: ws.gates[l].pointer, gatesHalf: half.map { UnsafePointer($0) },
                                      h: ws.h[l].pointer, into: layerGradients(l, base: base), accumulate: false)
            }
            layer.inputGradient(weights: w, gates: ws.gates[l].pointer, gatesHalf: half.map { UnsafePointer($0) },
                                dx: other)
            swap(&dOut, &other)
        }
        // dOut now holds dL/dx0 (N, E).
        Embedding.backward(width: config.embeddingSize, vocabulary: config.vocabSize, tokens: ws.tokens, rows: N,
                           dRows: dOut, dTable: g.embed)
    }

    /// Where layer l's backward pass keeps its bfloat16 gate gradients: in bf16 training of a cell that
    /// keeps them, ws.gatesHalf; else nil.
    func gatesHalf(_ layer: RecurrentLayer, _ l: Int, ws: Workspace) -> UnsafeMutablePointer<UInt16>? {
        trainingPrecision == .bf16 && layer.halvesGates ? ws.gatesHalf[l].pointer : nil
    }

    /// Layer l's weight gradients within a buffer laid out like the parameters.
    func layerGradients(_ l: Int, base: UnsafeMutablePointer<Float>) -> LayerGradients {
        LayerGradients(wih: base + wihOffset[l], whh: base + whhOffset[l], bih: base + bihOffset[l],
                       bhh: base + bhhOffset[l])
    }

    // MARK: - Sampling

    /// Batch-1 inference: feeds one token, advances the state and writes V logits. Matrix-vector products.
    public func step(token: Int32, state: RecurrentState, workspace ws: Workspace,
                     logits: UnsafeMutablePointer<Float>) {
        precondition(state.batch == 1 && token >= 0 && Int(token) < config.vocabSize)
        let H = config.hiddenSize, E = config.embeddingSize, V = config.vocabSize
        let p = UnsafePointer(params.pointer)
        var x = UnsafePointer(p + embedOffset + Int(token) * E)
        for l in 0..<config.layers {
            RecurrentLayer.step(cell: config.cell, input: config.inputSize(layer: l), hidden: H, x: x,
                                weights: LayerWeights(wih: p + wihOffset[l], whh: p + whhOffset[l],
                                                      whhT: p + whhOffset[l],   // not read by step
                                                      bih: p + bihOffset[l], bhh: p + bhhOffset[l]),
                                h: state.h(l), c: state.c(l),
                                gates: ws.gates[0].pointer, gh: ws.recurrentProduct.pointer, bias: ws.biasSum.pointer)
            x = UnsafePointer(state.h(l))
        }
        logits.update(from: p + headBOffset, count: V)
        Kernels.gemv(m: V, n: H, a: p + headWOffset, lda: H, x: x, beta: 1, y: logits)
    }
}
