// The model's shape and the layout of its parameters in one flat Float32 buffer.
//
// Dimensions: V vocabulary, E embedding, H hidden units, L layers; In = E for layer 0, H above.
// Tensors, in buffer order, named and shaped exactly as PyTorch's nn.Embedding / nn.LSTM / nn.Linear
// state_dict entries so `load_state_dict` takes a gasa checkpoint as it is:
//   embed.weight            (V, E)
//   lstm.weight_ih_l{k}     (4H, In)   rows in gate order i, f, g, o (PyTorch's)
//   lstm.weight_hh_l{k}     (4H, H)
//   lstm.bias_ih_l{k}       (4H)
//   lstm.bias_hh_l{k}       (4H)       both biases are added; their gradients are equal
//   head.weight             (V, H)
//   head.bias               (V)
// Initialisation follows PyTorch's defaults: embedding N(0, 1); every LSTM and head weight and bias
// U(-1/sqrt(H), 1/sqrt(H)). No forget-gate bias is added (PyTorch adds none either).

public struct ModelConfig: Codable, Equatable, Sendable {
    public var cell: String = "lstm"   // the recurrent cell; only "lstm" is implemented
    public var vocabSize: Int          // V
    public var embeddingSize: Int      // E
    public var hiddenSize: Int         // H
    public var layers: Int             // L
    public var dropout: Float          // Zaremba dropout after each layer's output (before the next layer and the head)

    public init(vocabSize: Int, embeddingSize: Int, hiddenSize: Int, layers: Int, dropout: Float) {
        self.vocabSize = vocabSize
        self.embeddingSize = embeddingSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.dropout = dropout
    }

    public func validate() throws {
        func bad(_ s: String) -> ModelError { ModelError.badConfig(s) }
        guard cell == "lstm" else { throw bad("cell '\(cell)' is not supported (use lstm)") }
        guard vocabSize >= 2 && vocabSize <= 1 << 24 else {
            throw bad("vocabulary size \(vocabSize) must be within 2...16777216")
        }
        guard embeddingSize >= 1 && embeddingSize <= 1 << 14 else {
            throw bad("embedding size \(embeddingSize) must be within 1...16384")
        }
        guard hiddenSize >= 1 && hiddenSize <= 1 << 14 else {
            throw bad("rnn size \(hiddenSize) must be within 1...16384")
        }
        guard layers >= 1 && layers <= 64 else { throw bad("layers \(layers) must be within 1...64") }
        guard dropout >= 0 && dropout < 1 else { throw bad("dropout \(dropout) must be within [0, 1)") }
        guard parameterCount <= 1 << 31 else { throw bad("\(parameterCount) parameters is too many") }
    }

    public func inputSize(layer: Int) -> Int { layer == 0 ? embeddingSize : hiddenSize }

    /// Names, shapes and offsets of every tensor, in buffer order.
    public var layout: [TensorView] {
        var views: [TensorView] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) {
            let v = TensorView(name: name, shape: shape, offset: offset)
            views.append(v)
            offset += v.count
        }
        let H = hiddenSize, G = 4 * hiddenSize
        add("embed.weight", [vocabSize, embeddingSize])
        for k in 0..<layers {
            add("lstm.weight_ih_l\(k)", [G, inputSize(layer: k)])
            add("lstm.weight_hh_l\(k)", [G, H])
            add("lstm.bias_ih_l\(k)", [G])
            add("lstm.bias_hh_l\(k)", [G])
        }
        add("head.weight", [vocabSize, H])
        add("head.bias", [vocabSize])
        return views
    }

    public var parameterCount: Int {
        let H = hiddenSize, G = 4 * hiddenSize
        var n = vocabSize * embeddingSize + vocabSize * H + vocabSize
        for k in 0..<layers { n += G * inputSize(layer: k) + G * H + 2 * G }
        return n
    }
}

public struct TensorView: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

public enum ModelError: Error, CustomStringConvertible {
    case badConfig(String)
    case badCheckpoint(path: String, problem: String)

    public var description: String {
        switch self {
        case .badConfig(let s): return "model configuration: \(s)"
        case .badCheckpoint(let path, let problem): return "\(path): \(problem)"
        }
    }
}
