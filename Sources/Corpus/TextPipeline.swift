// The corpus stage applied to one piece of text in memory: decode, normalise, segment, and back.
// prepare, the inspection commands (normalize, tokenize, detokenize) and the sampler's prime text all
// use it, so a prime is treated exactly as the training corpus was.

public struct TextPipeline: Sendable {
    public let granularity: Granularity
    public let text: TextOptions

    public init(granularity: Granularity, text: TextOptions = TextOptions()) throws {
        try checkLossless(granularity: granularity, normalization: text.normalization)
        self.granularity = granularity
        self.text = text
    }

    /// Strict UTF-8 decoding (errors name `name`, line and byte offset), BOM and CR handling, normalisation.
    public func normalize(bytes: [UInt8], name: String) throws -> [UInt16] {
        var decoder = UTF8StreamDecoder(file: name, keepCR: text.keepCR, replace: text.invalid == .replace)
        var utf16: [UInt16] = []
        _ = try bytes.withUnsafeBufferPointer { p -> Int in
            guard let base = p.baseAddress, !p.isEmpty else { return 0 }
            return try decoder.decode(base, p.count, final: true, into: &utf16)
        }
        return try normalize(utf16: utf16)
    }

    public func normalize(utf16: [UInt16]) throws -> [UInt16] {
        guard let normalizer = try ICUNormalizer.of(text.normalization) else { return utf16 }
        var out: [UInt16] = []
        let changed = try utf16.withUnsafeBufferPointer { try normalizer.normalize($0, into: &out) }
        return changed ? out : utf16
    }

    public func normalize(_ s: String) throws -> String { String(decoding: try normalize(bytes: Array(s.utf8), name: "<text>"), as: UTF16.self) }

    /// Tokens (as scalar sequences) of already-normalised UTF-16 text.
    public func segment(normalized: [UInt16]) throws -> [[UInt32]] {
        var sink = PieceSink()
        var seg = Segmenter(granularity)
        try normalized.withUnsafeBufferPointer { try seg.segment($0, into: &sink) }
        return sink.pieces
    }

    /// Normalises and segments `s`.
    public func tokenize(_ s: String) throws -> [[UInt32]] {
        try segment(normalized: try normalize(bytes: Array(s.utf8), name: "<text>"))
    }

    /// The text of a token sequence: concatenation, recomposed with NFC for jamo and coda.
    public func detokenize(_ pieces: [[UInt32]]) throws -> String {
        let units = utf16(pieces.flatMap { $0 })
        if !granularity.recomposes { return String(decoding: units, as: UTF16.self) }
        var out: [UInt16] = []
        let changed = try units.withUnsafeBufferPointer { try ICUNormalizer(form: .nfc).normalize($0, into: &out) }
        return String(decoding: changed ? out : units, as: UTF16.self)
    }
}

private struct PieceSink: TokenSink {
    var pieces: [[UInt32]] = []
    mutating func single(_ scalar: UInt32, chars: Int) { pieces.append([scalar]) }
    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>) { pieces.append(Array(scalars)) }
}

/// Scalars of a Swift string, exactly (no canonical equivalence involved).
public func scalars(of s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }
/// A string of exactly these scalars.
public func string(of scalars: [UInt32]) -> String { scalarString(scalars) }
