// One recurrent layer of any cell, as the model composes it: the cell's forward, backward through time,
// weight and input gradients and single-token step, dispatched to LSTM.swift, GRU.swift or RNN.swift.
// Adding a cell is a file like those plus a case in each switch here. Also home of the gradient
// products the LSTM and the RNN share (their stored gate gradients are the pre-activations' of both
// the input and the recurrent side, so dW_ih, dW_hh and both biases come from one set of columns).
import KernelShim
import Compute

/// The weights a layer's passes read. whh is the recurrent matrix the forward pass used (after weight
/// drop, when training with it); whhT its transpose (H, R). whhHalf and whhTHalf: the same two rounded to
/// bfloat16, for the per-step products of bf16 training (nil otherwise).
struct LayerWeights {
    let wih: UnsafePointer<Float>
    let whh: UnsafePointer<Float>
    let whhT: UnsafePointer<Float>
    let bih: UnsafePointer<Float>
    let bhh: UnsafePointer<Float>
    var whhHalf: UnsafePointer<UInt16>? = nil
    var whhTHalf: UnsafePointer<UInt16>? = nil
}

/// Where a layer's weight gradients go.
struct LayerGradients {
    let wih: UnsafeMutablePointer<Float>
    let whh: UnsafeMutablePointer<Float>
    let bih: UnsafeMutablePointer<Float>
    let bhh: UnsafeMutablePointer<Float>
}

struct RecurrentLayer {
    let cell: Cell
    let batch: Int     // B
    let steps: Int     // T
    let input: Int     // In
    let hidden: Int    // H

    /// Forward over the steps: x (N, In); h, c (N + B, H) with block 0 holding the initial state (c: LSTM
    /// only); gates (N, storedBlocks H) receives what backward needs; biasSum (4H) and gh (B, 3H) scratch.
    func forward(x: UnsafePointer<Float>, weights w: LayerWeights, gates: UnsafeMutablePointer<Float>,
                 h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
                 biasSum: UnsafeMutablePointer<Float>, gh: UnsafeMutablePointer<Float>) {
        let (B, T, In, H) = (batch, steps, input, hidden)
        switch cell {
        case .lstm:
            LSTMLayer.forward(batch: B, steps: T, input: In, hidden: H, x: x, wih: w.wih, whhT: w.whhT,
                              whhTHalf: w.whhTHalf, bih: w.bih, bhh: w.bhh, biasSum: biasSum, gates: gates, h: h, c: c)
        case .gru:
            GRULayer.forward(batch: B, steps: T, input: In, hidden: H, x: x, wih: w.wih, whhT: w.whhT,
                             whhTHalf: w.whhTHalf, bih: w.bih, bhh: w.bhh, gh: gh, gates: gates, h: h)
        case .rnn, .rnnRelu:
            RNNLayer.forward(batch: B, steps: T, input: In, hidden: H, relu: cell == .rnnRelu, x: x, wih: w.wih,
                             whhT: w.whhT, whhTHalf: w.whhTHalf, bih: w.bih, bhh: w.bhh, biasSum: biasSum,
                             gates: gates, h: h)
        }
    }

    /// Backward through time: dhOut (N, H) in: dL/dh from above (destroyed); dc (B, H) scratch. Leaves the
    /// gate gradients in `gates` for weightGradients and inputGradient, and in bf16 training (gatesHalf,
    /// the LSTM and the RNN: see halvesGates) rounded to bfloat16 there too.
    func backwardThroughTime(weights w: LayerWeights, gates: UnsafeMutablePointer<Float>,
                             gatesHalf: UnsafeMutablePointer<UInt16>?, h: UnsafePointer<Float>,
                             c: UnsafePointer<Float>, dhOut: UnsafeMutablePointer<Float>,
                             dc: UnsafeMutablePointer<Float>) {
        let (B, T, H) = (batch, steps, hidden)
        switch cell {
        case .lstm:
            LSTMLayer.backwardThroughTime(batch: B, steps: T, hidden: H, whh: w.whh, whhHalf: w.whhHalf, gates: gates,
                                          gatesHalf: gatesHalf, c: c, dhOut: dhOut, dc: dc)
        case .gru:
            GRULayer.backwardThroughTime(batch: B, steps: T, hidden: H, whh: w.whh, whhHalf: w.whhHalf, gates: gates,
                                         h: h, dhOut: dhOut, sink: dc)
        case .rnn, .rnnRelu:
            RNNLayer.backwardThroughTime(batch: B, steps: T, hidden: H, relu: cell == .rnnRelu, whh: w.whh,
                                         whhHalf: w.whhHalf, gates: gates, gatesHalf: gatesHalf, dhOut: dhOut)
        }
    }

    /// Whether the backward pass keeps bfloat16 gate gradients for this cell (bf16 training): the LSTM's
    /// and the RNN's, whose three products read the stored columns as they are; the GRU's read pieces.
    var halvesGates: Bool { cell != .gru }

    /// Rows `rows` (of 0..<R) of the weight and bias gradients from the gate gradients (and their bfloat16
    /// copy, when backwardThroughTime made one), the layer's input x (N, In) and h (whose first N rows are
    /// h_{t-1}); overwritten, or added to when `accumulate`.
    func weightGradients(rows: Range<Int>, x: UnsafePointer<Float>, gates: UnsafePointer<Float>,
                         gatesHalf: UnsafePointer<UInt16>?, h: UnsafePointer<Float>, into d: LayerGradients,
                         accumulate: Bool) {
        let (B, T, In, H) = (batch, steps, input, hidden)
        switch cell {
        case .gru:
            GRULayer.weightGradients(batch: B, steps: T, input: In, hidden: H, rows: rows, x: x, gates: gates, h: h,
                                     dwih: d.wih, dwhh: d.whh, dbih: d.bih, dbhh: d.bhh, accumulate: accumulate)
        case .lstm, .rnn, .rnnRelu:
            let G = cell.gateBlocks * H, N = B * T, r0 = rows.lowerBound, m = rows.count
            let beta: Float = accumulate ? 1 : 0
            let half = gatesHalf.map { $0 + r0 }
            Kernels.gemm(transA: true, transB: false, m: m, n: In, k: N, a: gates + r0, aHalf: half, lda: G, b: x,
                         ldb: In, beta: beta, c: d.wih + r0 * In, ldc: In)
            Kernels.gemm(transA: true, transB: false, m: m, n: H, k: N, a: gates + r0, aHalf: half, lda: G, b: h,
                         ldb: H, beta: beta, c: d.whh + r0 * H, ldc: H)
            Kernels.columnSums(rows: N, cols: m, a: gates + r0, lda: G, beta: beta, y: d.bih + r0)
            (d.bhh + r0).update(from: d.bih + r0, count: m)   // both biases are added: equal gradients
        }
    }

    /// dL/dx (N, In). dx may be the memory of the layer's input x once its weight gradients are done.
    func inputGradient(weights w: LayerWeights, gates: UnsafePointer<Float>, gatesHalf: UnsafePointer<UInt16>?,
                       dx: UnsafeMutablePointer<Float>) {
        let (B, T, In, H) = (batch, steps, input, hidden)
        switch cell {
        case .gru:
            GRULayer.inputGradient(batch: B, steps: T, input: In, hidden: H, wih: w.wih, gates: gates, dx: dx)
        case .lstm, .rnn, .rnnRelu:
            let G = cell.gateBlocks * H
            Kernels.gemm(transA: false, transB: false, m: B * T, n: In, k: G, a: gates, aHalf: gatesHalf, lda: G,
                         b: w.wih, ldb: In, beta: 0, c: dx, ldc: In)
        }
    }

    /// Batch-1 inference step with matrix-vector products: x (In) in; h, c (H) the state, updated in place;
    /// gates (4H), gh (3H) and bias (4H) scratch. Reads W_hh untransposed (w.whhT is not used).
    static func step(cell: Cell, input In: Int, hidden H: Int, x: UnsafePointer<Float>, weights w: LayerWeights,
                     h: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>,
                     gates: UnsafeMutablePointer<Float>, gh: UnsafeMutablePointer<Float>,
                     bias: UnsafeMutablePointer<Float>) {
        let R = cell.gateBlocks * H
        Kernels.gemv(m: R, n: In, a: w.wih, lda: In, x: x, beta: 0, y: gates)
        switch cell {
        case .lstm, .rnn, .rnnRelu:
            for k in 0..<R { bias[k] = w.bih[k] + w.bhh[k] }
            Kernels.gemv(m: R, n: H, a: w.whh, lda: H, x: h, beta: 1, y: gates)
            // h and c are updated in place: each element reads its own previous value before writing.
            if cell == .lstm {
                LSTMLayer.cellForward(batch: 1, hidden: H, gates: gates, bias: bias, cPrev: c, cOut: c, hOut: h)
            } else {
                RNNLayer.cell(batch: 1, hidden: H, relu: cell == .rnnRelu, gates: gates, bias: bias, hOut: h)
            }
        case .gru:
            Kernels.gemv(m: R, n: H, a: w.whh, lda: H, x: h, beta: 0, y: gh)
            gasa_gru_cell_forward(1, Int64(H), gates, gh, w.bih, w.bhh, h, h)   // h in place, as above
        }
    }
}
