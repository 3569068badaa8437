// The vocabulary: token <-> id, keyed by exact scalar sequences (never by String or Character, whose
// equality is canonical equivalence and would merge distinct code point sequences). Ids are ordered by
// frequency, then by code points, so the same corpus always gives the same ids. Saved as JSON.
import Common
import Foundation
import Storage

public struct Vocabulary: Sendable {
    /// Its file name in a prepared folder, a run folder and a checkpoint folder.
    public static let fileName = "vocab.json"

    public let granularity: Granularity
    public let normalization: Normalization
    /// Scalars of each token by id; empty for the `<unk>` entry.
    public let tokens: [[UInt32]]
    /// Occurrences of each token in the corpus that built it.
    public let counts: [Int]
    /// The id standing for everything that fell out of the vocabulary, if anything did.
    public let unkID: Int?
    /// Where the vocabulary came from (written to JSON, informational).
    public var provenance = Provenance()

    public struct Provenance: Codable, Sendable, Equatable {
        public var icuVersion: String = ICU.version
        public var unicodeVersion: String = ICU.unicodeVersion
        public var corpusBytes: Int = 0
        public var corpusCrc32: String = ""
        public var minCount: Int = 1
        public var maxVocab: Int = 0
        public init() {}
    }

    private var bmp: [Int32]            // scalar < 0x10000 -> id, or -1
    private var astral: [UInt32: Int32] // other single scalars
    private var multi: [[UInt32]: Int32]

    public var count: Int { tokens.count }

    public init(granularity: Granularity, normalization: Normalization, tokens: [[UInt32]], counts: [Int],
                unkID: Int?) {
        self.granularity = granularity
        self.normalization = normalization
        self.tokens = tokens
        self.counts = counts
        self.unkID = unkID
        bmp = [Int32](repeating: -1, count: 0x10000)
        astral = [:]
        multi = [:]
        for (id, t) in tokens.enumerated() where !t.isEmpty {
            if t.count == 1 {
                if t[0] < 0x10000 { bmp[Int(t[0])] = Int32(id) } else { astral[t[0]] = Int32(id) }
            } else {
                multi[t] = Int32(id)
            }
        }
    }

    /// Builds a vocabulary from token counts: frequency descending, then code points ascending;
    /// tokens below `minCount` or beyond `maxVocab` (0 = no limit, `<unk>` included) become `<unk>`.
    /// A jamo or coda vocabulary always holds the whole modern Hangul alphabet of its granularity (see
    /// `spelling`), unseen letters with count 0 after the seen tokens, so that such a model can spell any
    /// modern syllable; they count towards `maxVocab` and are exempt from `minCount`.
    public static func build(counts: [[UInt32]: Int], granularity: Granularity, normalization: Normalization,
                             minCount: Int = 1, maxVocab: Int = 0) -> Vocabulary {
        let alphabet = spelling(granularity)
        var entries = counts.filter { $0.value > 0 }.sorted { a, b in
            if a.value != b.value { return a.value > b.value }
            return a.key.lexicographicallyPrecedes(b.key)
        }
        var dropped = 0
        var kept: [([UInt32], Int)] = []
        var rest: [([UInt32], Int)] = []
        for e in entries {
            if alphabet.contains(e.key) { kept.append((e.key, e.value)) }
            else if e.value >= minCount { rest.append((e.key, e.value)) }
            else { dropped += e.value }
        }
        let missing = alphabet.subtracting(kept.map(\.0)).sorted { $0.lexicographicallyPrecedes($1) }
        if maxVocab > 0 {
            let room = max(0, maxVocab - 1 - kept.count - missing.count)   // 1: <unk>
            if rest.count > room {
                dropped += rest[room...].reduce(0) { $0 + $1.1 }
                rest.removeLast(rest.count - room)
            }
        }
        let selected = Set(kept.map(\.0) + rest.map(\.0))
        entries = entries.filter { selected.contains($0.key) }
        var toks = entries.map { $0.key } + missing
        var cnts = entries.map { $0.value } + missing.map { _ in 0 }
        var unk: Int? = nil
        if dropped > 0 || entries.count < counts.count {
            unk = toks.count
            toks.append([])
            cnts.append(dropped)
        }
        var v = Vocabulary(granularity: granularity, normalization: normalization, tokens: toks, counts: cnts,
                           unkID: unk)
        v.provenance.minCount = minCount
        v.provenance.maxVocab = maxVocab
        return v
    }

    /// The letters a granularity spells modern Hangul with: jamo, the 19 leading consonants, 21 vowels
    /// and 27 finals; coda, the 399 open syllables and the 27 finals; none for the others.
    public static func spelling(_ g: Granularity) -> Set<[UInt32]> {
        let finals = (1..<Hangul.tCount).map { [Hangul.tBase + $0] }
        switch g {
        case .jamo:
            return Set((0..<Hangul.lCount).map { [Hangul.lBase + $0] }
                       + (0..<Hangul.vCount).map { [Hangul.vBase + $0] } + finals)
        case .coda:
            var open: [[UInt32]] = []
            for l in 0..<Hangul.lCount {
                for v in 0..<Hangul.vCount { open.append([Hangul.compose(l: Hangul.lBase + l, v: Hangul.vBase + v)]) }
            }
            return Set(open + finals)
        default:
            return []
        }
    }

    /// Id of a one-scalar token, or nil.
    @inline(__always) public func id(single c: UInt32) -> Int32? {
        if c < 0x10000 {
            let i = bmp[Int(c)]
            return i < 0 ? nil : i
        }
        return astral[c]
    }

    /// Id of a token given by its scalars, or nil.
    public func id(_ scalars: [UInt32]) -> Int32? {
        scalars.count == 1 ? id(single: scalars[0]) : multi[scalars]
    }

    /// Printable form of a token ("<unk>" for the unknown entry).
    public func text(_ id: Int) -> String {
        tokens[id].isEmpty ? "<unk>" : scalarString(tokens[id])
    }

    // MARK: JSON

    struct Entry: Codable {
        var id: Int
        var text: String
        var scalars: [UInt32]
        var count: Int
        var special: String?
    }

    struct File: Codable {
        var format: String
        var version: Int
        var granularity: Granularity
        var normalization: Normalization
        var provenance: Provenance
        var size: Int
        var unkId: Int?
        var tokens: [Entry]
    }

    public static let format = "gasa-vocab"

    public func jsonBytes() throws -> [UInt8] {
        let entries = tokens.indices.map { i in
            Entry(id: i, text: text(i), scalars: tokens[i], count: counts[i], special: tokens[i].isEmpty ? "unk" : nil)
        }
        let f = File(format: Self.format, version: 1, granularity: granularity, normalization: normalization,
                     provenance: provenance, size: count, unkId: unkID, tokens: entries)
        return Array(try gasaJSONEncoder().encode(f)) + [0x0A]
    }

    /// Loads and validates a vocabulary file.
    public static func load(path: String) throws -> Vocabulary {
        let bytes = try readFileBytes(path, limit: 256 << 20)
        return try decode(bytes, path: path)
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> Vocabulary {
        func bad(_ m: String) -> CorpusError { .corruptFile(path: path, problem: m + " (not a valid gasa vocabulary; prepare the corpus again)") }
        let f: File
        do {
            f = try gasaJSONDecoder().decode(File.self, from: Data(bytes))
        } catch {
            throw bad("cannot read as vocabulary JSON: \(describeJSONError(error))")
        }
        guard f.format == format else { throw bad("format is \"\(f.format)\", expected \"\(format)\"") }
        guard f.version == 1 else { throw bad("version \(f.version) is not supported (this gasa reads version 1)") }
        guard f.size == f.tokens.count, f.size > 0 else { throw bad("size \(f.size) but \(f.tokens.count) tokens") }
        var seen = Set<[UInt32]>()
        var unk: Int? = nil
        for (i, e) in f.tokens.enumerated() {
            guard e.id == i else { throw bad("token \(i) has id \(e.id); ids must be 0, 1, 2, ... in order") }
            guard e.count >= 0 else { throw bad("token \(i) has a negative count") }
            if e.special != nil {
                guard e.special == "unk", e.scalars.isEmpty, unk == nil else {
                    throw bad("token \(i): bad special entry")
                }
                unk = i
                continue
            }
            guard !e.scalars.isEmpty else { throw bad("token \(i) is empty") }
            for c in e.scalars where c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) {
                throw bad("token \(i) holds U+\(String(c, radix: 16, uppercase: true)), which is not a Unicode scalar")
            }
            guard Array(e.text.unicodeScalars.map(\.value)) == e.scalars else {
                throw bad("token \(i): text and scalars disagree")
            }
            guard seen.insert(e.scalars).inserted else { throw bad("token \(i) appears twice") }
        }
        guard unk == f.unkId else { throw bad("unk_id does not match the <unk> entry") }
        var v = Vocabulary(granularity: f.granularity, normalization: f.normalization,
                           tokens: f.tokens.map(\.scalars), counts: f.tokens.map(\.count), unkID: unk)
        v.provenance = f.provenance
        return v
    }
}

func scalarString(_ scalars: [UInt32]) -> String {
    var s = String.UnicodeScalarView()
    for c in scalars { if let u = Unicode.Scalar(c) { s.append(u) } }
    return String(s)
}

