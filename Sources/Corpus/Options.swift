// The knobs of the corpus stage: granularity, normalisation, splitting and dedup, with their defaults.

/// What one token is.
public enum Granularity: String, CaseIterable, Codable, Sendable {
    /// One Unicode scalar of the normalised text (after NFC, one Hangul syllable is one token).
    case char
    /// One ICU extended grapheme cluster (UAX #29).
    case grapheme
    /// Hangul syllables decomposed into conjoining jamo L, V, (T); everything else as `char`.
    case jamo
    /// A syllable with a final consonant becomes its open syllable plus the final as a conjoining T.
    case coda
    /// ICU word-break segments, spaces and punctuation kept as their own tokens.
    case word

    /// Whether every token is exactly one Unicode scalar (the fast path).
    public var singleScalar: Bool { self == .char || self == .jamo || self == .coda }
    /// Whether detokenising must recompose (NFC) the concatenated tokens.
    public var recomposes: Bool { self == .jamo || self == .coda }
}

public enum Normalization: String, CaseIterable, Codable, Sendable {
    case nfc, nfkc, none
}

public enum SplitBy: String, CaseIterable, Codable, Sendable {
    /// Cut at a character offset, moved forward to the next line end.
    case offset
    /// Cut between documents (blocks separated by a separator line, by default an empty line).
    case document
    /// char-rnn's split: the token stream in B rows, each row's first share train, then val, then test
    /// (StreamSplit.swift). Leaky on repetitive text; for reproducing char-rnn's published numbers.
    case stream
}

public enum Dedup: String, CaseIterable, Codable, Sendable {
    case none, lines, documents
}

public enum InvalidPolicy: String, CaseIterable, Codable, Sendable {
    /// Invalid UTF-8 is an error naming file, line and byte offset.
    case error
    /// Invalid UTF-8 becomes U+FFFD, counted in the report.
    case replace
}

/// How raw text becomes the normalised text that is tokenised.
public struct TextOptions: Codable, Equatable, Sendable {
    public var normalization: Normalization = .nfc   // ICU normal form applied before segmentation
    public var keepCR: Bool = false                    // keep CR and CRLF as they are (default: both become LF)
    public var invalid: InvalidPolicy = .error         // what to do with invalid UTF-8
    public init(normalization: Normalization = .nfc, keepCR: Bool = false, invalid: InvalidPolicy = .error) {
        self.normalization = normalization
        self.keepCR = keepCR
        self.invalid = invalid
    }
}

/// Refuses combinations that cannot be lossless, saying why and what to use instead.
public func checkLossless(granularity: Granularity, normalization: Normalization) throws {
    if granularity.recomposes && normalization == .none {
        throw CorpusError.unsupported(
            "--granularity \(granularity.rawValue) needs normalisation: its tokens are recomposed with NFC, "
            + "so text that is not already NFC would not come back unchanged. Use --normalization nfc (or nfkc), "
            + "or --granularity char with --normalization none.")
    }
}
