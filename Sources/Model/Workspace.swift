// All scratch memory for one batch size B and up to T steps, allocated once so that nothing is
// allocated inside the training loop. Rows are time-major: row r = t*B + b, N = T*B rows.
//
// Memory (floats), training: per layer gates N*S (S = 4H for the LSTM and the GRU, H for the RNN) +
// h (N+B)*H + c (N+B)*H (the LSTM's memory; none for the others), plus with dropout a bit mask of N*H;
// shared: the input rows of the layer at hand (embeddings, or the layer below's output after dropout,
// rebuilt from h and the mask when the backward pass needs it again) and one gradient buffer,
// N*max(E,H) each, and the head chunk's logits Nc*V. For inference only (training: false) one layer's
// buffers are shared by all layers, so evaluation can run in short chunks of steps with little memory,
// and its float buffers can be carved out of scratch that a training workspace lends while it is idle
// (validation between training steps: evaluationScratch), instead of memory of their own.
import Compute

public final class Workspace {
    public let batch: Int      // B
    public let steps: Int      // T: the most steps one call may take
    public let training: Bool
    let headRows: Int          // rows of logits computed at once (a chunk of whole steps)

    var gates: [FloatBuffer] = []    // per layer (N, S): pre-activations, then activations, then gate gradients
    var h: [FloatBuffer] = []        // per layer (N + B, H): block 0 = initial state, block t+1 = output of step t
    var c: [FloatBuffer] = []        // per layer (N + B, H)
    // Per layer, the gate gradients rounded to bfloat16 as the backward pass makes them (bf16 training of
    // the LSTM and the RNN), for the weight and input gradients; allocated on the first such step.
    lazy var gatesHalf: [BF16Buffer] = gates.map { BF16Buffer(count: $0.count) }
    var masks: [UnsafeMutablePointer<UInt8>] = []   // per layer (N, H) bits, value k at bit k%8 of byte k/8: 1 kept (training with dropout)
    // (N, max(E, H)) each. Forward: `input` holds the rows going into the layer at hand (embeddings, or the
    // layer below's output after dropout), and at the end the head's input. Backward: the two swap roles,
    // one holding dL/d(the layer's output), the other the layer's input rebuilt for its weight gradient,
    // then overwritten by dL/d(that input).
    let input: FloatBuffer
    let dA: FloatBuffer
    let logits: FloatBuffer          // (headRows, V)
    let rowLoss: FloatBuffer         // (headRows) per-row losses of a head chunk
    let dc: FloatBuffer              // (B, H) gradient flowing back through c
    let biasSum: FloatBuffer         // (4H) b_ih + b_hh of the layer at hand
    let recurrentProduct: FloatBuffer   // (B, 3H) the GRU's h_{t-1} W_hh^T of the step at hand (GRU only)
    let tokens: UnsafeMutablePointer<Int32>    // (N) time-major inputs
    let targets: UnsafeMutablePointer<Int32>   // (N) time-major targets

    let parts: [RowPart]          // data-parallel parts (DataParallel.swift; empty: this workspace does the work itself)
    // Per part, the input rows of the layer whose weight gradients are being computed (data parallel).
    let layerInputs: UnsafeMutablePointer<UnsafePointer<Float>>

    /// `borrowing` (inference only): carve the float buffers out of that scratch while it lasts; its
    /// contents are overwritten by every call, and its owner must not run at the same time.
    public init(config: ModelConfig, batch: Int, steps: Int, training: Bool = true, rowParts: Int = 1,
                borrowing scratch: FloatBuffer? = nil) {
        precondition(batch >= 1 && steps >= 1)
        self.batch = batch
        self.steps = steps
        self.training = training
        let parts = min(max(1, rowParts), batch)
        if parts > 1 {
            var list: [RowPart] = []
            var b0 = 0
            for i in 0..<parts {
                let nb = batch / parts + (i < batch % parts ? 1 : 0)
                list.append(RowPart(config: config, rows: b0..<(b0 + nb), steps: steps, ownGradients: i > 0))
                b0 += nb
            }
            self.parts = list
        } else {
            self.parts = []
        }
        layerInputs = .allocate(capacity: max(1, self.parts.count))
        let H = config.hiddenSize, E = config.embeddingSize, V = config.vocabSize
        let S = config.cell.storedBlocks * H, memory = config.cell.hasMemory
        let L = parts > 1 ? 0 : config.layers
        let N = parts > 1 ? 0 : batch * steps
        // Head chunk: whole steps, about 256 rows (keeps the logits small and in cache).
        let stepsPerChunk = max(1, min(steps, 256 / batch))
        headRows = parts > 1 ? 0 : stepsPerChunk * batch
        var used = 0
        func buffer(_ count: Int) -> FloatBuffer {
            guard !training, let scratch, used + count <= scratch.count else { return FloatBuffer(count: count) }
            defer { used += (count + 15) & ~15 }   // each view starts on a 64-byte boundary
            return FloatBuffer(viewOf: scratch, offset: used, count: count)
        }
        if training && L > 0 {
            for _ in 0..<L {
                gates.append(FloatBuffer(count: N * S))
                h.append(FloatBuffer(count: (N + batch) * H))
                c.append(FloatBuffer(count: memory ? (N + batch) * H : 0))
                if config.dropout > 0 {
                    let m = UnsafeMutablePointer<UInt8>.allocate(capacity: (N * H + 7) / 8)
                    m.initialize(repeating: 0xFF, count: (N * H + 7) / 8)
                    masks.append(m)
                }
            }
        } else if L > 0 {
            let g = buffer(N * S)
            let hs = [buffer((N + batch) * H), buffer((N + batch) * H)]
            let cs = buffer(memory ? (N + batch) * H : 0)
            for l in 0..<L {
                gates.append(g)
                h.append(hs[l % 2])
                c.append(cs)
            }
        }
        let widest = max(E, H)
        input = buffer(N * widest)
        dA = FloatBuffer(count: training ? N * widest : 0)
        logits = buffer(headRows * V)
        rowLoss = buffer(headRows)
        dc = FloatBuffer(count: training ? batch * H : 0)
        biasSum = buffer(4 * H)
        recurrentProduct = buffer(config.cell == .gru && L > 0 ? batch * 3 * H : 0)
        tokens = .allocate(capacity: max(1, N))
        tokens.initialize(repeating: 0, count: max(1, N))
        targets = .allocate(capacity: max(1, N))
        targets.initialize(repeating: 0, count: max(1, N))
    }

    /// Bytes that training this model on batches of B rows and T steps allocates in all (the model's values,
    /// gradients, Adam's two moments and W_hh^T, and the training scratch of every data-parallel part),
    /// from the same sizes as the buffers above: checked before anything is allocated.
    public static func trainingBytes(config: ModelConfig, batch B: Int, steps T: Int, rowParts: Int) -> Double {
        let H = Double(config.hiddenSize), E = Double(config.embeddingSize), V = Double(config.vocabSize)
        let L = Double(config.layers), N = Double(B) * Double(T), b = Double(B)
        let R = Double(config.gateRows), S = Double(config.cell.storedBlocks) * H
        var model = Double(config.parameterCount) * 4 + L * R * H
        if config.regularization.weightDrop > 0 { model += L * R * H * (1 + 1.0 / 32) }   // dropped copy and mask
        if config.regularization.embeddingDropout > 0 { model += V }
        let parts = Double(max(1, min(rowParts, B)))
        let memory: Double = config.cell.hasMemory ? 1 : 0
        var scratch = L * (N * S + (1 + memory) * (N + b) * H) + 2 * N * max(E, H)
        if config.cell == .gru { scratch += b * 3 * H }   // each part holds its rows of the (B, 3H) product
        scratch += min(N, max(256, b) * parts) * V              // head chunks: about 256 rows of logits per part
        if config.dropout > 0 { scratch += L * N * H / 32 }   // one bit per value, in floats
        scratch += (parts - 1) * (V * E + V * H + V)           // the other parts' embedding and head gradients
        return 4 * (model + scratch)
    }

    /// Scratch this training workspace can lend to evaluation between its calls, one buffer per data-parallel
    /// part (each part's first gate buffer, N x 4H, the largest it has), or [] for an inference workspace.
    public var evaluationScratch: [FloatBuffer] {
        guard training else { return [] }
        if !parts.isEmpty { return parts.map { $0.workspace.gates[0] } }
        return gates.isEmpty ? [] : [gates[0]]
    }

    deinit {
        layerInputs.deallocate()
        for m in masks { m.deallocate() }
        tokens.deallocate()
        targets.deallocate()
    }
}
