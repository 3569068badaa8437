// The model's shape, its recurrent cell, its regularisers and the layout of its parameters in one flat
// Float32 buffer.
//
// Dimensions: V vocabulary, E embedding, H hidden units, L layers; In = E for layer 0, H above; the cell's
// weight rows R = 4H (LSTM), 3H (GRU) or H (RNN). Tensors, in buffer order, named and shaped exactly as
// PyTorch's nn.Embedding / nn.LSTM, nn.GRU or nn.RNN / nn.Linear state_dict entries (the recurrent module
// is called `lstm`, `gru` or `rnn`), so `load_state_dict` takes a gasa checkpoint as it is:
//   embed.weight            (V, E)
//   {cell}.weight_ih_l{k}   (R, In)    rows in PyTorch's gate order: LSTM i, f, g, o; GRU r, z, n
//   {cell}.weight_hh_l{k}   (R, H)
//   {cell}.bias_ih_l{k}     (R)
//   {cell}.bias_hh_l{k}     (R)        LSTM and RNN add both biases; the GRU keeps b_hn inside the reset product
//   head.weight             (V, H)     with tied weights it holds the same values as embed.weight
//   head.bias               (V)
// Initialisation follows PyTorch's defaults: embedding N(0, 1); every recurrent and head weight and bias
// U(-1/sqrt(H), 1/sqrt(H)); a tied embedding takes the head's initialisation. No forget-gate bias is added.

/// The recurrent cell of every layer (PyTorch's nn.LSTM, nn.GRU, nn.RNN with tanh or relu).
public enum Cell: String, Codable, CaseIterable, Sendable {
    case lstm
    case gru
    case rnn                    // tanh
    case rnnRelu = "rnn-relu"

    /// Weight rows per hidden unit: the gates' blocks of H.
    public var gateBlocks: Int {
        switch self {
        case .lstm: return 4
        case .gru: return 3
        case .rnn, .rnnRelu: return 1
        }
    }

    /// Columns per row (in units of H) of what a training step keeps per time step: the LSTM's four gates,
    /// the GRU's r, z, n and its reset product's (W_hn h + b_hn), the RNN's output.
    var storedBlocks: Int { self == .gru ? 4 : gateBlocks }

    /// The recurrent module's name in the state_dict.
    public var moduleName: String {
        switch self {
        case .lstm: return "lstm"
        case .gru: return "gru"
        case .rnn, .rnnRelu: return "rnn"
        }
    }

    /// Whether the cell carries a memory c besides h (only the LSTM).
    public var hasMemory: Bool { self == .lstm }

    public var displayName: String {
        switch self {
        case .lstm: return "LSTM"
        case .gru: return "GRU"
        case .rnn: return "RNN (tanh)"
        case .rnnRelu: return "RNN (relu)"
        }
    }
}

/// The AWD-LSTM regularisers (Merity et al. 2018), each off by default; all masks are drawn from the
/// training step's random stream. See Regularizers.swift for what each does.
public struct Regularization: Codable, Equatable, Sendable {
    public var weightDrop: Float = 0          // DropConnect on W_hh, one mask per minibatch
    public var lockedDropout = false          // the dropout masks shared across the time steps of a sequence
    public var embeddingDropout: Float = 0    // whole rows of the embedding dropped per minibatch
    public var tieWeights = false             // head.weight is embed.weight (needs E == H)

    public init() {}

    public var isOff: Bool { self == Regularization() }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weightDrop = try c.decodeIfPresent(Float.self, forKey: .weightDrop) ?? 0
        lockedDropout = try c.decodeIfPresent(Bool.self, forKey: .lockedDropout) ?? false
        embeddingDropout = try c.decodeIfPresent(Float.self, forKey: .embeddingDropout) ?? 0
        tieWeights = try c.decodeIfPresent(Bool.self, forKey: .tieWeights) ?? false
    }

    /// A short description for progress lines ("none" when off).
    public var summary: String {
        var parts: [String] = []
        if weightDrop > 0 { parts.append("weight drop \(weightDrop)") }
        if lockedDropout { parts.append("locked dropout") }
        if embeddingDropout > 0 { parts.append("embedding dropout \(embeddingDropout)") }
        if tieWeights { parts.append("tied weights") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

public struct ModelConfig: Codable, Equatable, Sendable {
    public var cell: Cell = .lstm      // the recurrent cell of every layer
    public var vocabSize: Int          // V
    public var embeddingSize: Int      // E
    public var hiddenSize: Int         // H
    public var layers: Int             // L
    public var dropout: Float          // dropout after each layer's output (before the next layer and the head)
    public var regularization = Regularization()

    public init(vocabSize: Int, embeddingSize: Int, hiddenSize: Int, layers: Int, dropout: Float,
                cell: Cell = .lstm, regularization: Regularization = Regularization()) {
        self.vocabSize = vocabSize
        self.embeddingSize = embeddingSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.dropout = dropout
        self.cell = cell
        self.regularization = regularization
    }

    enum CodingKeys: String, CodingKey {
        case cell, vocabSize, embeddingSize, hiddenSize, layers, dropout, regularization
    }

    /// Checkpoints written before GRU, RNN and the regularisers existed have no regularization and say "lstm".
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decodeIfPresent(String.self, forKey: .cell) ?? "lstm"
        guard let cell = Cell(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .cell, in: c, debugDescription:
                "unknown cell '\(name)' (known: \(Cell.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.cell = cell
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        embeddingSize = try c.decode(Int.self, forKey: .embeddingSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        layers = try c.decode(Int.self, forKey: .layers)
        dropout = try c.decode(Float.self, forKey: .dropout)
        regularization = try c.decodeIfPresent(Regularization.self, forKey: .regularization) ?? Regularization()
    }

    public func validate() throws {
        func bad(_ s: String) -> ModelError { ModelError.badConfig(s) }
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
        let r = regularization
        guard r.weightDrop >= 0 && r.weightDrop < 1 else {
            throw bad("weight drop \(r.weightDrop) must be within [0, 1)")
        }
        guard r.embeddingDropout >= 0 && r.embeddingDropout < 1 else {
            throw bad("embedding dropout \(r.embeddingDropout) must be within [0, 1)")
        }
        guard !r.tieWeights || embeddingSize == hiddenSize else {
            throw bad("tied weights need the embedding size (\(embeddingSize)) to equal the rnn size (\(hiddenSize))")
        }
        guard parameterCount <= 1 << 31 else { throw bad("\(parameterCount) parameters is too many") }
    }

    public func inputSize(layer: Int) -> Int { layer == 0 ? embeddingSize : hiddenSize }

    /// Weight rows of each recurrent layer (R).
    public var gateRows: Int { cell.gateBlocks * hiddenSize }

    /// Names, shapes and offsets of every tensor, in buffer order.
    public var layout: [TensorView] {
        var views: [TensorView] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) {
            let v = TensorView(name: name, shape: shape, offset: offset)
            views.append(v)
            offset += v.count
        }
        let H = hiddenSize, G = gateRows, m = cell.moduleName
        add("embed.weight", [vocabSize, embeddingSize])
        for k in 0..<layers {
            add("\(m).weight_ih_l\(k)", [G, inputSize(layer: k)])
            add("\(m).weight_hh_l\(k)", [G, H])
            add("\(m).bias_ih_l\(k)", [G])
            add("\(m).bias_hh_l\(k)", [G])
        }
        add("head.weight", [vocabSize, H])
        add("head.bias", [vocabSize])
        return views
    }

    public var parameterCount: Int {
        let H = hiddenSize, G = gateRows
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
