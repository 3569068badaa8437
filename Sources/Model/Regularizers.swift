// The AWD-LSTM regularisers' per-minibatch part (Merity et al. 2018, "Regularizing and Optimizing LSTM
// Language Models"); each is off unless ModelConfig.regularization turns it on:
//   weight drop        DropConnect on every layer's W_hh: one mask over the matrix per minibatch, the
//                      kept weights scaled by 1/(1-p); the forward and backward passes read the dropped
//                      copy, and dW_hh goes back through the same mask. Helps when the recurrent
//                      weights over-fit: small corpora, large H.
//   locked dropout     the between-layer dropout masks drawn once per sequence and shared by every time
//                      step (Gal and Ghahramani's variational dropout), in Dropout.forwardLocked.
//   embedding dropout  whole rows of the embedding dropped for the minibatch (Embedding.swift): a dropped
//                      token reads zeros everywhere in the batch. Helps against memorising rare tokens.
//   tied weights       head.weight is embed.weight (E == H): the two tensors keep equal values because
//                      they start equal and their gradients are summed into both, so Adam moves both
//                      the same way; clipping counts the shared gradient once. Fewer free parameters.
// Masks come from the training step's random stream, before the rows are split over threads, so a
// resumed run draws the same ones and the data-parallel parts share them.
import Compute

/// This minibatch's draws: the weight-dropped W_hh of each layer with its mask, and the embedding rows' scales.
final class MinibatchMasks {
    let config: ModelConfig
    private let dropped: FloatBuffer                  // (L, R, H) W_hh after weight drop
    private let weightMask: UnsafeMutablePointer<UInt8>
    private let rowScale: FloatBuffer                 // (V) 0 or 1/(1-p)

    init(config: ModelConfig) {
        self.config = config
        let r = config.regularization, perLayer = config.gateRows * config.hiddenSize
        dropped = FloatBuffer(count: r.weightDrop > 0 ? config.layers * perLayer : 0)
        let maskBytes = r.weightDrop > 0 ? config.layers * ((perLayer + 7) / 8) : 1
        weightMask = .allocate(capacity: maskBytes)
        weightMask.initialize(repeating: 0xFF, count: maskBytes)
        rowScale = FloatBuffer(count: r.embeddingDropout > 0 ? config.vocabSize : 0)
    }

    deinit { weightMask.deallocate() }

    private var perLayer: Int { config.gateRows * config.hiddenSize }
    func droppedRecurrent(_ l: Int) -> UnsafeMutablePointer<Float> { dropped.pointer + l * perLayer }
    func recurrentMask(_ l: Int) -> UnsafeMutablePointer<UInt8> { weightMask + l * ((perLayer + 7) / 8) }

    /// The embedding rows' scales of this minibatch, or nil without embedding dropout.
    var embeddingRowScale: UnsafePointer<Float>? {
        config.regularization.embeddingDropout > 0 ? UnsafePointer(rowScale.pointer) : nil
    }
    var embeddingRowScaleForWriting: UnsafeMutablePointer<Float> { rowScale.pointer }
}

extension LanguageModel {
    /// Draws this minibatch's weight-drop and embedding-dropout masks from `rng` (nothing when both are off).
    func drawMinibatchMasks(rng: inout RNG) {
        let r = config.regularization
        guard r.weightDrop > 0 || r.embeddingDropout > 0 else { return }
        let masks = minibatchMasks
        if r.weightDrop > 0 {
            for l in 0..<config.layers {
                Dropout.forward(recurrentWeights(l, dropped: false), masks.droppedRecurrent(l),
                                count: config.gateRows * config.hiddenSize, p: r.weightDrop,
                                mask: masks.recurrentMask(l), rng: &rng)
            }
        }
        if r.embeddingDropout > 0 {
            Embedding.drawRowDropout(rowScale: masks.embeddingRowScaleForWriting, vocabulary: config.vocabSize,
                                     p: r.embeddingDropout, rng: &rng)
        }
    }

    /// After the backward pass: dW_hh through the weight-drop masks, the embedding's gradient through its
    /// row scales, and the tied matrix's two gradients summed into both.
    func finishRegularizedGradients() {
        let r = config.regularization
        let g = grads.pointer
        if r.weightDrop > 0 {
            for l in 0..<config.layers {
                Dropout.backward(g + whhOffset[l], count: config.gateRows * config.hiddenSize, p: r.weightDrop,
                                 mask: minibatchMasks.recurrentMask(l))
            }
        }
        if let scale = minibatchMasks.embeddingRowScale {
            Embedding.scaleRowGradients(g + embedOffset, width: config.embeddingSize, vocabulary: config.vocabSize,
                                        rowScale: scale)
        }
        if r.tieWeights {
            let n = config.vocabSize * config.hiddenSize
            Kernels.axpy(n, 1, g + headWOffset, g + embedOffset)
            (g + headWOffset).update(from: g + embedOffset, count: n)
        }
    }

    /// The gradients that count once in the global norm: all but head.weight's when it is tied to the
    /// embedding (its gradient is the embedding's, a second time).
    public var distinctGradientRanges: [Range<Int>] {
        guard config.regularization.tieWeights else { return [0..<config.parameterCount] }
        let w = headWOffset, n = config.vocabSize * config.hiddenSize
        return [0..<w, (w + n)..<config.parameterCount]
    }
}
