// Generation from a trained model: the prime text goes through the corpus pipeline (decode, normalise,
// segment) and warms the state up; then tokens are sampled one by one and streamed out as text,
// whole syllables only, until enough characters (grapheme clusters) or a stop string.
// It does not load checkpoints or parse options.
import Common
import Corpus
import Model
import Compute

public enum UnknownPolicy: String, CaseIterable, Codable, Sendable {
    case error, skip, unk
}

public struct GenerationConfig: Codable, Sendable {
    public var prime = ""                       // text to continue ("" = start after a newline)
    public var length = 200                     // characters (grapheme clusters) to generate
    public var stopAt: String? = nil            // stop once the output contains this (e.g. "\n\n")
    public var unknown: UnknownPolicy = .error  // prime characters the vocabulary lacks
    public var sampler = SamplerConfig()
    public var maxTokens = 0                    // safety limit on sampled tokens (0 = 20 x length + 100)
    public init() {}

    /// Sampled tokens after which generation stops: maxTokens, else 20 per character plus 100, saturating
    /// at Int.max (a huge --length streams until it is stopped).
    public var tokenLimit: Int {
        if maxTokens > 0 { return maxTokens }
        return length > (Int.max - 100) / 20 ? Int.max : 20 * length + 100
    }
}

public struct GenerationStats: Sendable {
    public var primeTokens = 0
    public var tokens = 0
    public var characters = 0
    public var seconds = 0.0
    public var syllables = 0
    public var illFormed = 0
    public var wellFormedShare = 1.0
    public var text = ""
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}

public enum GenerationError: Error, CustomStringConvertible {
    case unknownCharacters([String])
    case noStart
    case noUnk

    public var description: String {
        switch self {
        case .unknownCharacters(let cs):
            return "the prime has characters this model's vocabulary lacks: "
                + cs.map { "'\($0)'" }.joined(separator: " ")
                + "; rerun with --unknown skip (drop them) or --unknown unk (feed <unk>)"
        case .noStart:
            return "the vocabulary has no newline to start from; give a --prime text with characters it knows"
        case .noUnk:
            return "--unknown unk: this vocabulary has no <unk> entry (prepare with --min-count or --max-vocab); use "
                + "--unknown skip"
        }
    }
}

public final class Generator {
    public let model: LanguageModel
    public let vocab: Vocabulary
    public let pipeline: TextPipeline
    private let state: RecurrentState
    private let workspace: Workspace
    private var logits: [Float]

    public init(model: LanguageModel, vocab: Vocabulary) throws {
        self.model = model
        self.vocab = vocab
        pipeline = try TextPipeline(granularity: vocab.granularity,
                                    text: TextOptions(normalization: vocab.normalization))
        state = model.makeState(batch: 1)
        workspace = model.makeWorkspace(batch: 1, steps: 1)
        logits = [Float](repeating: 0, count: model.config.vocabSize)
    }

    /// Ids of the prime text, per the unknown-character policy.
    /// An empty prime, or one whose every character was skipped, starts after a newline.
    public func primeIDs(_ prime: String, unknown: UnknownPolicy) throws -> [Int32] {
        let ids = try primeTokens(prime, unknown: unknown).ids
        if !ids.isEmpty { return ids }
        guard let nl = vocab.id(single: 0x0A) else { throw GenerationError.noStart }
        return [nl]
    }

    /// The prime as the model reads it, for echoing before the sample: normalised like the training text,
    /// without the characters --unknown skip drops.
    public func primeText(_ prime: String, unknown: UnknownPolicy) throws -> String {
        try pipeline.detokenize(try primeTokens(prime, unknown: unknown).shown)
    }

    private func primeTokens(_ prime: String, unknown: UnknownPolicy) throws -> (ids: [Int32], shown: [[UInt32]]) {
        var ids: [Int32] = []
        var shown: [[UInt32]] = []
        var missing: [String] = []
        var missingSeen = Set<[UInt32]>()
        let spellsJamo = vocab.granularity == .jamo || vocab.granularity == .coda
        for piece in try pipeline.tokenize(prime) {
            if let id = vocab.id(piece) {
                ids.append(id)
            } else if spellsJamo, piece.count == 1,
                      let id = Hangul.conjoining(fromCompatibility: piece[0]).lazy.compactMap({ self.vocab.id(single: $0) }).first {
                // A lone jamo this model printed as a compatibility letter (ㅋ, ㅏ) reads back as that jamo.
                ids.append(id)
            } else {
                switch unknown {
                case .error:
                    let shown = string(of: piece)
                    if missingSeen.insert(piece).inserted { missing.append(shown) }   // each once, in order
                case .skip: continue
                case .unk:
                    guard let u = vocab.unkID else { throw GenerationError.noUnk }
                    ids.append(Int32(u))
                }
            }
            shown.append(piece)
        }
        if !missing.isEmpty { throw GenerationError.unknownCharacters(missing) }
        return (ids, shown)
    }

    /// Generates text; `emit` receives each piece of final text as soon as it is known. `shouldStop`,
    /// asked before every token, ends the generation early (a client that went away, a time limit).
    public func generate(_ config: GenerationConfig, rng: inout RNG, shouldStop: () -> Bool = { false },
                         emit: (String) -> Void) throws -> GenerationStats {
        var stats = GenerationStats()
        let prime = try primeIDs(config.prime, unknown: config.unknown)
        stats.primeTokens = prime.count
        state.reset()
        let sampler = Sampler(config: config.sampler, vocabSize: model.config.vocabSize)
        var decoder = StreamingDecoder(granularity: vocab.granularity)
        var counter = CharacterCounter()
        var out = ""
        let limit = config.tokenLimit
        let t0 = monotonicSeconds()
        var done = false, stopped = false
        logits.withUnsafeMutableBufferPointer { lp in
            for id in prime {
                if shouldStop() { stopped = true; return }   // a long prime is work too
                model.step(token: id, state: state, workspace: workspace, logits: lp.baseAddress!)
            }
            // <unk> is never generated: it stands for many characters and prints as none of them.
            let allowed: ((Int) -> Bool)? = vocab.unkID.map { u in { $0 != u } }
            let stop = (config.stopAt ?? "").unicodeScalars.map(\.value)
            while !done && stats.tokens < limit {
                if shouldStop() { stopped = true; break }
                let next = sampler.sample(lp.baseAddress!, rng: &rng, allowed: allowed)
                stats.tokens += 1
                var text = decoder.push(vocab.tokens[Int(next)])
                if !text.isEmpty {
                    // One token may release two characters (a finished syllable and itself): never overshoot.
                    var trial = counter
                    trial.add(text)
                    if trial.count > config.length {
                        text = String(text.prefix(max(0, config.length - counter.count)))
                        trial = counter
                        trial.add(text)
                    }
                    emit(text)
                    out += text
                    counter = trial
                    if counter.count >= config.length { done = true }
                    if !stop.isEmpty && out.unicodeScalars.suffix(stop.count).map(\.value) == stop { done = true }
                }
                if !done { model.step(token: next, state: state, workspace: workspace, logits: lp.baseAddress!) }
            }
        }
        if !done && !stopped {
            let rest = decoder.finish()
            if !rest.isEmpty { emit(rest); out += rest; counter.add(rest) }
        }
        stats.seconds = monotonicSeconds() - t0
        stats.characters = counter.count
        stats.syllables = decoder.syllables
        stats.illFormed = decoder.illFormed
        stats.wellFormedShare = decoder.wellFormedShare
        stats.text = out
        return stats
    }
}
