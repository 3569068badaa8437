// The char-rnn language model: Embedding (V, E) -> L LSTM layers of H units (dropout after each
// layer's output when training) -> Linear (H -> V) -> softmax cross-entropy, with hand-written
// forward and backward passes over one flat parameter buffer (see ModelConfig for its layout).
// It knows nothing of files, optimisers or data order: callers pass token ids and a carried state.
import Dispatch
import KernelShim
import Numerics

public final class LanguageModel {
    public let config: ModelConfig
    public let layout: [TensorView]
    private let params: FloatBuffer
    // Allocated on first use: a model loaded only for sampling or evaluation never needs them.
    private lazy var grads = FloatBuffer(count: config.parameterCount)
    // W_hh^T of every layer, (H, 4H) each, copied from the parameters at the start of each trainStep and
    // evaluate call: the per-step product h_{t-1} W_hh^T then reads its right operand untransposed, which
    // the kernels take faster (the per-step products are small, so reading W_hh across is much of their cost).
    private lazy var whhT = FloatBuffer(count: config.layers * 4 * config.hiddenSize * config.hiddenSize)
    private let index: [String: TensorView]
    // Offsets of the tensors the passes use.
    private let embedOffset: Int
    private let wihOffset: [Int], whhOffset: [Int], bihOffset: [Int], bhhOffset: [Int]
    private let headWOffset: Int, headBOffset: Int

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
        wihOffset = (0..<config.layers).map { idx["lstm.weight_ih_l\($0)"]!.offset }
        whhOffset = (0..<config.layers).map { idx["lstm.weight_hh_l\($0)"]!.offset }
        bihOffset = (0..<config.layers).map { idx["lstm.bias_ih_l\($0)"]!.offset }
        bhhOffset = (0..<config.layers).map { idx["lstm.bias_hh_l\($0)"]!.offset }
        headWOffset = idx["head.weight"]!.offset
        headBOffset = idx["head.bias"]!.offset
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
    }

    public func view(_ name: String) -> TensorView? { index[name] }

    public func makeState(batch: Int) -> RecurrentState {
        RecurrentState(layers: config.layers, batch: batch, hidden: config.hiddenSize)
    }

    /// `replicas` > 1 (training only) splits the batch's rows over that many threads (data parallel);
    /// each thread then calls the products single-threaded.
    public func makeWorkspace(batch: Int, steps: Int, training: Bool = true, replicas: Int = 1) -> Workspace {
        Workspace(config: config, batch: batch, steps: steps, training: training, replicas: training ? replicas : 1)
    }

    // MARK: - Training and evaluation

    /// One training minibatch: forward with dropout (masks drawn from rng), loss, backward. Overwrites the
    /// gradients with d(mean loss over the B*steps targets)/d(parameters). `state` holds the initial state
    /// and receives the final one. inputs and targets are row-major [b*steps + t]. Returns the summed loss
    /// in nats.
    public func trainStep(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, steps: Int,
                          state: RecurrentState, workspace ws: Workspace, rng: inout RNG) -> Double {
        precondition(ws.training, "trainStep needs a training workspace")
        precondition(steps >= 1 && steps <= ws.steps && state.batch == ws.batch)
        let scale = 1 / Float(ws.batch * steps)
        transposeRecurrentWeights()
        if ws.replicas.isEmpty {
            return trainRows(inputs: inputs, targets: targets, steps: steps, state: state, ws: ws, rng: &rng,
                             grads: GradientTargets(model: self, base: grads.pointer), scale: scale)
        }
        // Data parallel: each replica takes a block of rows on its own thread with its own workspace, state
        // and dropout stream, and runs the forward pass, the head and the backward pass through time. The
        // LSTM weight gradients wait: then each thread computes a block of rows of them from every
        // replica's gate gradients, adding the replicas in order, straight into the model's gradients.
        // The embedding and head gradients of the replicas after the first are summed at the end.
        // Deterministic for a given replica count.
        let H = config.hiddenSize, L = config.layers, G = 4 * H
        let R = ws.replicas.count
        let main = GradientTargets(model: self, base: grads.pointer)
        for r in ws.replicas { r.seed = rng.next() }
        DispatchQueue.concurrentPerform(iterations: R) { i in
            let r = ws.replicas[i]
            let b0 = r.rows.lowerBound, nb = r.rows.count
            r.inputs.update(from: inputs + b0 * steps, count: nb * steps)
            r.targets.update(from: targets + b0 * steps, count: nb * steps)
            for l in 0..<L {
                r.state.h(l).update(from: state.h(l) + b0 * H, count: nb * H)
                r.state.c(l).update(from: state.c(l) + b0 * H, count: nb * H)
            }
            var local = RNG(seed: r.seed)
            var targets = i == 0 ? main : r.gradientTargets(config: config)
            targets.lstm = nil
            r.loss = trainRows(inputs: r.inputs, targets: r.targets, steps: steps, state: r.state, ws: r.workspace,
                               rng: &local, grads: targets, scale: scale)
            for l in 0..<L {
                (state.h(l) + b0 * H).update(from: r.state.h(l), count: nb * H)
                (state.c(l) + b0 * H).update(from: r.state.c(l), count: nb * H)
            }
        }
        let g = grads.pointer
        let layerInputs = ws.layerInputs
        for l in 0..<L {
            DispatchQueue.concurrentPerform(iterations: R) { i in
                let w = ws.replicas[i].workspace
                layerInputs[i] = rebuildInput(l, steps: steps, ws: w, into: w.input.pointer)
            }
            let In = config.inputSize(layer: l)
            DispatchQueue.concurrentPerform(iterations: R) { part in
                let rows = (G * part / R)..<(G * (part + 1) / R)
                for (i, r) in ws.replicas.enumerated() {
                    let w = r.workspace
                    LSTMLayer.weightGradients(batch: w.batch, steps: steps, input: In, hidden: H, rows: rows,
                                              x: layerInputs[i], gates: w.gates[l].pointer, h: w.h[l].pointer,
                                              dwih: g + wihOffset[l], dwhh: g + whhOffset[l],
                                              dbih: g + bihOffset[l], accumulate: i > 0)
                }
                (g + bhhOffset[l] + rows.lowerBound).update(from: g + bihOffset[l] + rows.lowerBound, count: rows.count)
            }
        }
        var total = ws.replicas[0].loss
        for r in ws.replicas.dropFirst() {
            let t = r.gradientTargets(config: config)
            Kernels.axpy(config.vocabSize * config.embeddingSize, 1, t.embed, main.embed)
            Kernels.axpy(config.vocabSize * H, 1, t.headW, main.headW)
            Kernels.axpy(config.vocabSize, 1, t.headB, main.headB)
            total += r.loss
        }
        return total
    }

    /// Where one part of the batch puts its gradients: the embedding's and the head's, and the LSTM
    /// layers' at their offsets from `lstm` (nil: computed later, from every part at once).
    struct GradientTargets {
        var embed: UnsafeMutablePointer<Float>
        var headW: UnsafeMutablePointer<Float>
        var headB: UnsafeMutablePointer<Float>
        var lstm: UnsafeMutablePointer<Float>?

        /// All into a flat buffer laid out like the parameters.
        init(model m: LanguageModel, base: UnsafeMutablePointer<Float>) {
            embed = base + m.embedOffset
            headW = base + m.headWOffset
            headB = base + m.headBOffset
            lstm = base
        }

        init(embed: UnsafeMutablePointer<Float>, headW: UnsafeMutablePointer<Float>, headB: UnsafeMutablePointer<Float>) {
            self.embed = embed
            self.headW = headW
            self.headB = headB
        }
    }

    /// Forward, loss and backward of B rows; gradients (already scaled by `scale` per target) go to `g`.
    private func trainRows(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, steps: Int, state: RecurrentState,
                           ws: Workspace, rng: inout RNG, grads g: GradientTargets, scale: Float) -> Double {
        gather(inputs: inputs, targets: targets, rowStride: steps, from: 0, steps: steps, ws: ws)
        forward(steps: steps, state: state, ws: ws, dropout: config.dropout > 0 ? config.dropout : nil, rng: &rng)
        let loss = headForwardBackward(steps: steps, ws: ws, grads: g, scale: scale)
        backward(steps: steps, ws: ws, grads: g)
        return loss
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
        var unused = RNG(seed: 0)
        while s0 < steps {
            let n = min(ws.steps, steps - s0)
            gather(inputs: inputs, targets: targets, rowStride: steps, from: s0, steps: n, ws: ws)
            forward(steps: n, state: state, ws: ws, dropout: nil, rng: &unused)
            total += headLoss(steps: n, ws: ws, rowLoss: rowLoss, rowStride: steps, from: s0)
            s0 += n
        }
        return total
    }

    /// Readies the weights for evaluate(..., refreshWeights: false) calls until the parameters change.
    public func prepareForEvaluation() { transposeRecurrentWeights() }

    /// whhT from the current parameters (see its declaration), in 32 x 32 tiles.
    private func transposeRecurrentWeights() {
        let H = config.hiddenSize, G = 4 * H, tile = 32
        let p = UnsafePointer(params.pointer)
        for l in 0..<config.layers {
            let src = p + whhOffset[l], dst = whhT.pointer + l * G * H
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

    /// Copies steps [from, from+n) of the row-major batch into the workspace's time-major token arrays.
    private func gather(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, rowStride: Int,
                        from s0: Int, steps n: Int, ws: Workspace) {
        let B = ws.batch
        for b in 0..<B {
            for t in 0..<n {
                ws.tokens[t * B + b] = inputs[b * rowStride + s0 + t]
                ws.targets[t * B + b] = targets[b * rowStride + s0 + t]
            }
        }
    }

    /// Embedding lookup and the LSTM layers; leaves the top layer's (dropped-out) output ready for the head.
    private func forward(steps T: Int, state: RecurrentState, ws: Workspace, dropout: Float?, rng: inout RNG) {
        let B = ws.batch, H = config.hiddenSize, N = B * T
        let p = UnsafePointer(params.pointer)
        embed(rows: N, ws: ws, into: ws.input.pointer)
        for l in 0..<config.layers {
            let h = ws.h[l].pointer, c = ws.c[l].pointer
            h.update(from: state.h(l), count: B * H)
            c.update(from: state.c(l), count: B * H)
            LSTMLayer.forward(batch: B, steps: T, input: config.inputSize(layer: l), hidden: H,
                              x: layerInput(l, ws: ws, dropout: dropout),
                              wih: p + wihOffset[l], whhT: whhT.pointer + l * 4 * H * H,
                              bih: p + bihOffset[l], bhh: p + bhhOffset[l], biasSum: ws.biasSum.pointer, gates: ws.gates[l].pointer, h: h, c: c)
            state.h(l).update(from: h + N * H, count: B * H)
            state.c(l).update(from: c + N * H, count: B * H)
            if let p = dropout { applyDropout(layer: l, rows: N, p: p, ws: ws, rng: &rng) }
        }
    }

    /// The embeddings of the workspace's N tokens, into rows of `dst` (N, E).
    private func embed(rows N: Int, ws: Workspace, into dst: UnsafeMutablePointer<Float>) {
        let E = config.embeddingSize
        let emb = UnsafePointer(params.pointer) + embedOffset
        for r in 0..<N { (dst + r * E).update(from: emb + Int(ws.tokens[r]) * E, count: E) }
    }

    /// The input rows of layer l (N, In) during the forward pass: the embeddings or, with dropout, the
    /// layer below's dropped-out output, both in ws.input; without dropout, the layer below's output itself.
    private func layerInput(_ l: Int, ws: Workspace, dropout: Float?) -> UnsafePointer<Float> {
        if l == 0 || dropout != nil { return UnsafePointer(ws.input.pointer) }
        return UnsafePointer(ws.h[l - 1].pointer + ws.batch * config.hiddenSize)
    }

    /// Inverted dropout on layer l's output, into ws.input: kept values are scaled by 1/(1-p) so evaluation
    /// needs no change. The mask is kept for the backward pass, one bit per value.
    private func applyDropout(layer l: Int, rows N: Int, p: Float, ws: Workspace, rng: inout RNG) {
        let H = config.hiddenSize
        let src = ws.h[l].pointer + ws.batch * H
        let dst = ws.input.pointer
        let mask = ws.masks[l]
        let scale = 1 / (1 - p)
        let n = N * H
        // rng.uniform() >= p, compared as integers: uniform() is u / 2^24 for the top 24 bits u of next(),
        // exact in Float, so it is >= p exactly when u >= ceil(p * 2^24) (exact in Double).
        let threshold = UInt64((Double(p) * 16_777_216).rounded(.up))
        var k = 0
        while k < n {
            var bits: UInt8 = 0
            for j in 0..<min(8, n - k) {
                let keep = rng.next() >> 40 >= threshold
                if keep { bits |= 1 << j }
                dst[k + j] = keep ? src[k + j] * scale : 0
            }
            mask[k >> 3] = bits
            k += 8
        }
    }

    /// dst[k] = src[k] * scale where the mask keeps value k, else 0 (dst may be src): KernelShim's
    /// gasa_apply_mask, sixteen values per step on the CPU's vectors.
    private func applyMask(_ mask: UnsafePointer<UInt8>, count n: Int, _ src: UnsafePointer<Float>,
                           _ dst: UnsafeMutablePointer<Float>, scale: Float) {
        gasa_apply_mask(mask, Int64(n), src, dst, scale)
    }

    /// Layer l's output after dropout, rebuilt from h and the mask into `dst` (the same values as the
    /// forward pass computed).
    private func redoDropout(layer l: Int, rows N: Int, ws: Workspace, into dst: UnsafeMutablePointer<Float>) {
        let H = config.hiddenSize
        applyMask(ws.masks[l], count: N * H, ws.h[l].pointer + ws.batch * H, dst, scale: 1 / (1 - config.dropout))
    }

    /// Layer l's input rows as the forward pass saw them, for its weight gradients: the embeddings or, with
    /// dropout, the layer below's dropped-out output, rebuilt into `dst`; without dropout, the layer
    /// below's output itself.
    private func rebuildInput(_ l: Int, steps T: Int, ws: Workspace, into dst: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let N = ws.batch * T
        if l == 0 {
            embed(rows: N, ws: ws, into: dst)
        } else if config.dropout > 0 {
            redoDropout(layer: l - 1, rows: N, ws: ws, into: dst)
        } else {
            return UnsafePointer(ws.h[l - 1].pointer + ws.batch * config.hiddenSize)
        }
        return UnsafePointer(dst)
    }

    /// The top layer's output as the head sees it: after dropout (in ws.input) or as it is.
    private func topOutput(ws: Workspace, dropout: Bool) -> UnsafePointer<Float> {
        if dropout { return UnsafePointer(ws.input.pointer) }
        return UnsafePointer(ws.h[config.layers - 1].pointer + ws.batch * config.hiddenSize)
    }

    /// The head over the top layer's output in chunks of whole steps: logits, softmax cross-entropy and,
    /// for training, the head's gradients and dL/d(top output) into ws.dA.
    private func headForwardBackward(steps T: Int, ws: Workspace, grads g: GradientTargets, scale: Float) -> Double {
        let B = ws.batch, H = config.hiddenSize, V = config.vocabSize, N = B * T
        let top = topOutput(ws: ws, dropout: config.dropout > 0)
        let w = UnsafePointer(params.pointer) + headWOffset
        var total = 0.0
        var r0 = 0
        while r0 < N {
            let rows = min(ws.headRows, N - r0)
            let logits = headLogits(rows: rows, top: top + r0 * H, ws: ws)
            total += SoftmaxCrossEntropy.apply(rows: rows, classes: V, logits: logits, targets: ws.targets + r0,
                                               gradScale: scale)
            let first = r0 == 0
            Kernels.gemm(transA: true, transB: false, m: V, n: H, k: rows, a: logits, lda: V, b: top + r0 * H, ldb: H,
                         beta: first ? 0 : 1, c: g.headW, ldc: H)
            Kernels.columnSums(rows: rows, cols: V, a: logits, lda: V, beta: first ? 0 : 1, y: g.headB)
            Kernels.gemm(transA: false, transB: false, m: rows, n: H, k: V, a: logits, lda: V, b: w, ldb: H,
                         beta: 0, c: ws.dA.pointer + r0 * H, ldc: H)
            r0 += rows
        }
        return total
    }

    /// Logits (rows, V) = top (rows, H) W_head^T + b_head, into the workspace's chunk buffer.
    private func headLogits(rows: Int, top: UnsafePointer<Float>, ws: Workspace) -> UnsafeMutablePointer<Float> {
        let H = config.hiddenSize, V = config.vocabSize
        let p = UnsafePointer(params.pointer)
        let logits = ws.logits.pointer
        for r in 0..<rows { (logits + r * V).update(from: p + headBOffset, count: V) }
        Kernels.gemm(transA: false, transB: true, m: rows, n: V, k: H, a: top, lda: H, b: p + headWOffset, ldb: H,
                     beta: 1, c: logits, ldc: V)
        return logits
    }

    /// Loss only (evaluation): rowLoss[b*rowStride + from + t] receives each target's loss when given.
    private func headLoss(steps T: Int, ws: Workspace, rowLoss: UnsafeMutablePointer<Float>?,
                          rowStride: Int, from s0: Int) -> Double {
        let B = ws.batch, H = config.hiddenSize, V = config.vocabSize, N = B * T
        let top = topOutput(ws: ws, dropout: false)
        var total = 0.0
        var r0 = 0
        while r0 < N {
            let rows = min(ws.headRows, N - r0)
            let logits = headLogits(rows: rows, top: top + r0 * H, ws: ws)
            if let rowLoss {
                // Rows are time-major; the caller's layout is [b*rowStride + t].
                let chunk = ws.rowLoss.pointer
                total += SoftmaxCrossEntropy.apply(rows: rows, classes: V, logits: logits,
                                                   targets: ws.targets + r0, gradScale: nil, rowLoss: chunk)
                for r in 0..<rows { let q = r0 + r; rowLoss[(q % B) * rowStride + s0 + q / B] = chunk[r] }
            } else {
                total += SoftmaxCrossEntropy.apply(rows: rows, classes: V, logits: logits, targets: ws.targets + r0,
                                                   gradScale: nil)
            }
            r0 += rows
        }
        return total
    }

    /// Backward through the dropout masks and the LSTM layers into the embedding; dL/d(top output) is in ws.dA.
    /// Each layer's input is rebuilt (embeddings, or the layer below's output after dropout) for its weight
    /// gradients in the buffer that then receives dL/d(that input), the next layer's dL/d(output).
    private func backward(steps T: Int, ws: Workspace, grads g: GradientTargets) {
        let B = ws.batch, H = config.hiddenSize, E = config.embeddingSize, N = B * T
        let p = UnsafePointer(params.pointer)
        let hasDropout = config.dropout > 0
        let scale = hasDropout ? 1 / (1 - config.dropout) : 1
        var dOut = ws.dA.pointer, other = ws.input.pointer
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            if hasDropout { applyMask(ws.masks[l], count: N * H, dOut, dOut, scale: scale) }
            let In = config.inputSize(layer: l)
            LSTMLayer.backwardThroughTime(batch: B, steps: T, hidden: H, whh: p + whhOffset[l], gates: ws.gates[l].pointer,
                                          c: ws.c[l].pointer, dhOut: dOut, dc: ws.dc.pointer)
            if let lstm = g.lstm {
                LSTMLayer.weightGradients(batch: B, steps: T, input: In, hidden: H, rows: 0..<(4 * H),
                                          x: rebuildInput(l, steps: T, ws: ws, into: other),
                                          gates: ws.gates[l].pointer, h: ws.h[l].pointer,
                                          dwih: lstm + wihOffset[l], dwhh: lstm + whhOffset[l], dbih: lstm + bihOffset[l],
                                          accumulate: false)
                (lstm + bhhOffset[l]).update(from: lstm + bihOffset[l], count: 4 * H)
            }
            LSTMLayer.inputGradient(batch: B, steps: T, input: In, hidden: H, wih: p + wihOffset[l],
                                    gates: ws.gates[l].pointer, dx: other)
            swap(&dOut, &other)
        }
        // dOut now holds dL/dx0 (N, E): scatter-add into the embedding rows.
        let de = g.embed
        de.update(repeating: 0, count: config.vocabSize * E)
        let E8 = E & ~7
        for r in 0..<N {
            let dst = de + Int(ws.tokens[r]) * E, src = dOut + r * E
            var j = 0
            while j < E8 { store8(load8(dst + j) + load8(src + j), dst + j); j += 8 }
            while j < E { dst[j] += src[j]; j += 1 }
        }
    }

    // MARK: - Sampling

    /// Batch-1 inference: feeds one token, advances the state and writes V logits. Matrix-vector products.
    public func step(token: Int32, state: RecurrentState, workspace ws: Workspace, logits: UnsafeMutablePointer<Float>) {
        precondition(state.batch == 1 && token >= 0 && Int(token) < config.vocabSize)
        let H = config.hiddenSize, E = config.embeddingSize, V = config.vocabSize, G = 4 * H
        let p = UnsafePointer(params.pointer)
        var x = UnsafePointer(p + embedOffset + Int(token) * E)
        let gates = ws.gates[0].pointer
        for l in 0..<config.layers {
            let In = config.inputSize(layer: l)
            let h = state.h(l), c = state.c(l)
            let bias = ws.biasSum.pointer, bih = p + bihOffset[l], bhh = p + bhhOffset[l]
            for k in 0..<G { bias[k] = bih[k] + bhh[k] }
            Kernels.gemv(m: G, n: In, a: p + wihOffset[l], lda: In, x: x, beta: 0, y: gates)
            Kernels.gemv(m: G, n: H, a: p + whhOffset[l], lda: H, x: h, beta: 1, y: gates)
            // c and h are updated in place: each element reads its own previous value before writing.
            LSTMLayer.cellForward(batch: 1, hidden: H, gates: gates, bias: bias, cPrev: c, cOut: c, hOut: h)
            x = UnsafePointer(h)
        }
        logits.update(from: p + headBOffset, count: V)
        Kernels.gemv(m: V, n: H, a: p + headWOffset, lda: H, x: x, beta: 1, y: logits)
    }
}
