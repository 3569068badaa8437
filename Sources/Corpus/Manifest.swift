// manifest.json: what a prepared folder holds (vocabulary, splits, shards, counts), validated on load,
// and SplitStream, which serves a split's minibatches in stream order from its shards.
import Common
import Foundation
import Storage

/// The three splits a prepared folder holds, in the order their tokens are written.
public enum SplitName: String, Codable, Sendable, CaseIterable {
    case train, val, test
}

public struct ShardInfo: Codable, Sendable, Equatable {
    public var file: String          // file name inside the prepared folder
    public var first: Int            // index of its first minibatch within the split
    public var minibatches: Int
    public var steps: Int            // T of its minibatches
    public var bytes: Int
    public var crc32: String         // payload CRC-32, hex
}

public struct SplitInfo: Codable, Sendable, Equatable {
    public var name: SplitName
    public var tokens: Int               // tokens of the split's text
    public var characters: Int           // characters (scalars of the normalised text) of the split
    public var batchSize: Int            // B rows (parallel streams) of this split
    public var streamLength: Int         // L: targets per row
    public var minibatches: Int
    public var servedTargets: Int        // B * L: every token but the first and the dropped tail
    public var targetCharacters: Int     // characters begun by the served targets (for bits per character)
    public var droppedTokens: Int        // tokens at the end that do not fill a row (fewer than B)
    public var shards: [ShardInfo]
}

/// The largest minibatch gasa prepares or reads, in one place for prepare's options and the manifest
/// reader, so that no count from a file or the command line can ask for an allocation out of reach.
public enum MinibatchLimits {
    public static let maxBatchSize = 1 << 16            // B: rows (parallel streams)
    public static let maxSeqLength = 1 << 20            // T: steps
    public static let maxTokens = 1 << 24               // B x T: 16 Mi tokens (64 MiB of inputs as Int32)

    /// nil when B and T are within the limits, else what is wrong, naming the options.
    public static func problem(batchSize b: Int, seqLength t: Int) -> String? {
        guard b >= 1, t >= 1 else { return "batch size and sequence length must be positive (batch \(b), seq \(t))" }
        guard b <= maxBatchSize else { return "batch size \(b) is above the most gasa takes, \(maxBatchSize)" }
        guard t <= maxSeqLength else { return "sequence length \(t) is above the most gasa takes, \(maxSeqLength)" }
        guard b * t <= maxTokens else {
            return "batch size x sequence length = \(b * t) tokens per minibatch is above the most gasa takes, "
                + "\(maxTokens)"
        }
        return nil
    }
}

public struct Manifest: Codable, Sendable {
    public static let fileName = "manifest.json"
    public static let format = "gasa-manifest"

    public var format: String = Manifest.format
    public var version: Int = 1
    public var granularity: Granularity
    public var normalization: Normalization
    public var vocabFile: String
    public var vocabChecksum: String     // CRC-32 of vocab.json, hex
    public var vocabSize: Int
    public var tokenBytes: Int           // 2 (uint16) or 4 (uint32)
    public var batchSize: Int            // requested B
    public var seqLength: Int            // T
    public var icuVersion: String
    public var unicodeVersion: String
    public var inputs: [String]
    public var corpusBytes: Int
    public var corpusCrc32: String
    public var splitBy: SplitBy
    public var dedup: Dedup
    public var splitFractions: [Double]
    public var splits: [SplitInfo]

    public func split(_ name: SplitName) -> SplitInfo? { splits.first { $0.name == name } }

    public func jsonBytes() throws -> [UInt8] { Array(try gasaJSONEncoder().encode(self)) + [0x0A] }

    /// Loads DIR/manifest.json and checks it against itself and the vocabulary file's checksum.
    /// Shard payload checksums are checked when a shard is opened (SplitStream) or by `verifyShards`.
    public static func load(directory: String) throws -> Manifest {
        let path = directory + "/" + fileName
        guard fileExists(path) else {
            throw CorpusError.badInput("\(directory) is not a prepared folder (no \(fileName)); run gasa prepare first")
        }
        let bytes = try readFileBytes(path, limit: 64 << 20)
        func bad(_ m: String) -> CorpusError { .corruptFile(path: path, problem: m) }
        if let p = FormatHeader.problem(bytes, expected: format) { throw bad(p) }
        let m: Manifest
        do {
            m = try gasaJSONDecoder().decode(Manifest.self, from: Data(bytes))
        } catch DecodingError.dataCorrupted(let c)
                    where ["granularity", "normalization"].contains(c.codingPath.last?.stringValue ?? "") {
            throw bad("unknown granularity or normalisation")
        } catch {
            throw bad("cannot read the manifest: \(describeJSONError(error))")
        }
        guard m.format == format else { throw bad("format is \"\(m.format)\", expected \"\(format)\"") }
        guard m.version == 1 else { throw bad("version \(m.version) is not supported (this gasa reads version 1)") }
        guard isPlainFileName(m.vocabFile) else {
            throw bad("vocabulary file name \"\(m.vocabFile)\" is not a plain file name")
        }
        guard m.tokenBytes == (m.vocabSize <= 65536 ? 2 : 4), m.vocabSize > 0 else {
            throw bad("token size does not fit the vocabulary size")
        }
        if let p = MinibatchLimits.problem(batchSize: m.batchSize, seqLength: m.seqLength) {
            throw bad("seq_length/batch_size: " + p)
        }
        let vocabPath = directory + "/" + m.vocabFile
        let vocabBytes = try readFileBytes(vocabPath, limit: 256 << 20)
        guard hex32(CRC32.checksum(vocabBytes)) == m.vocabChecksum else {
            throw CorpusError.corruptFile(path: vocabPath,
                problem: "checksum does not match the manifest (the file was changed or is corrupt)")
        }
        // The checksum only proves vocab.json is the file the manifest was written with, not that the
        // manifest's own description of it is right: a wrong size would size the model's embedding wrongly.
        let vocab = try Vocabulary.decode(vocabBytes, path: vocabPath)
        guard vocab.count == m.vocabSize else {
            throw bad("vocab_size is \(m.vocabSize), but the vocabulary \(m.vocabFile) holds \(vocab.count) tokens")
        }
        guard vocab.granularity == m.granularity, vocab.normalization == m.normalization else {
            throw bad("granularity/normalisation \(m.granularity.rawValue)/\(m.normalization.rawValue) do not match "
                      + "the vocabulary's \(vocab.granularity.rawValue)/\(vocab.normalization.rawValue)")
        }
        // Both were written from one corpus by one prepare: another corpus's vocabulary is refused even
        // when the checksum and size in the manifest were made to agree with it.
        guard vocab.provenance.corpusCrc32 == m.corpusCrc32, vocab.provenance.corpusBytes == m.corpusBytes else {
            throw bad("corpus_crc32/corpus_bytes \(m.corpusCrc32)/\(m.corpusBytes) differ from the vocabulary's "
                      + "\(vocab.provenance.corpusCrc32)/\(vocab.provenance.corpusBytes): \(m.vocabFile) was built "
                      + "from another corpus")
        }
        for s in m.splits {
            guard s.batchSize > 0 || s.minibatches == 0 else {
                throw bad("split \(s.name): batch size must be positive")
            }
            if s.minibatches > 0, let p = MinibatchLimits.problem(batchSize: s.batchSize, seqLength: m.seqLength) {
                throw bad("split \(s.name): " + p)
            }
            guard s.minibatches >= 0, s.streamLength >= 0, s.characters >= 0, s.targetCharacters >= 0,
                s.tokens >= 0 else {
                throw bad("split \(s.name): a count is negative")
            }
            var next = 0
            for sh in s.shards {
                guard isPlainFileName(sh.file) else {
                    throw bad("shard file name \"\(sh.file)\" is not a plain file name")
                }
                guard sh.first == next, sh.minibatches > 0, sh.steps > 0, sh.steps <= m.seqLength else {
                    throw bad("split \(s.name): shard \(sh.file) does not continue the previous one")
                }
                let (end, overflow) = next.addingReportingOverflow(sh.minibatches)
                guard !overflow else {
                    throw bad("split \(s.name): shard \(sh.file): minibatch count \(sh.minibatches) is out of range")
                }
                next = end
            }
            guard next == s.minibatches else {
                throw bad("split \(s.name): shards hold \(next) minibatches, manifest says \(s.minibatches)")
            }
            let (served, overflow) = s.batchSize.multipliedReportingOverflow(by: s.streamLength)
            guard !overflow, s.servedTargets == served, s.targetCharacters <= s.characters else {
                throw bad("split \(s.name): inconsistent counts")
            }
            // What each granularity's tokens begin: one character each (char), at least one (grapheme,
            // word: clusters and words cover all their scalars), at most one (jamo, coda: a syllable's
            // later jamo begin none). A count outside these cannot come from prepare.
            let g = m.granularity
            let fits: Bool
            switch g {
            case .char: fits = s.targetCharacters == s.servedTargets
            case .grapheme, .word: fits = s.targetCharacters >= s.servedTargets
            case .jamo, .coda: fits = s.targetCharacters <= s.servedTargets
            }
            guard fits else {
                throw bad("split \(s.name): target_characters \(s.targetCharacters) cannot go with \(s.servedTargets) "
                          + "served \(g.rawValue) targets")
            }
        }
        return m
    }

    /// Opens every shard and checks its header against the manifest and its payload checksum.
    public func verifyShards(directory: String, progress: ((Int, Int) -> Void)? = nil) throws {
        let all = splits.flatMap { s in s.shards.map { (s, $0) } }
        for (i, (s, sh)) in all.enumerated() {
            let r = try ShardReader(path: directory + "/" + sh.file)
            try check(r.header, s, sh, path: r.path)
            progress?(i + 1, all.count)
        }
    }

    func check(_ h: ShardFormat.Header, _ s: SplitInfo, _ sh: ShardInfo, path: String) throws {
        guard h.tokenBytes == tokenBytes, h.batch == s.batchSize, h.steps == sh.steps, h.count == sh.minibatches,
              h.first == sh.first, hex32(h.payloadCRC) == sh.crc32 else {
            throw CorpusError.corruptFile(path: path,
                                          problem: "header does not match the manifest (mixed or replaced shard)")
        }
    }
}

func isPlainFileName(_ s: String) -> Bool {
    !s.isEmpty && !s.contains("/") && s != "." && s != ".." && !s.contains("\0")
}

/// A split's minibatches in stream order: minibatch k+1 row b continues minibatch k row b.
/// Shards are memory-mapped one at a time and verified when first opened, so memory does not grow
/// with the corpus.
public final class SplitStream {
    public let directory: String
    public let manifest: Manifest
    public let info: SplitInfo
    public var batchSize: Int { info.batchSize }
    public var count: Int { info.minibatches }
    private var current: (index: Int, reader: ShardReader)?

    public init(directory: String, manifest: Manifest, split: SplitName) throws {
        guard let s = manifest.split(split) else {
            throw CorpusError.badInput("\(directory) has no \(split) split")
        }
        self.directory = directory
        self.manifest = manifest
        self.info = s
    }

    /// Copies minibatch k into inputs/targets (row-major [b*steps + t]); returns its steps.
    public func load(_ k: Int, inputs: UnsafeMutablePointer<Int32>,
                     targets: UnsafeMutablePointer<Int32>) throws -> Int {
        precondition(k >= 0 && k < count, "minibatch \(k) out of range 0..<\(count)")
        let shardIndex = try locate(k)
        let reader = current!.reader
        let sh = info.shards[shardIndex]
        reader.copy(k - sh.first, inputs: inputs, targets: targets)
        if k - sh.first + 1 < sh.minibatches { reader.prefetch(from: k - sh.first + 1, count: 4) }
        let vocab = Int32(manifest.vocabSize)
        for i in 0..<(info.batchSize * sh.steps) where inputs[i] >= vocab || targets[i] >= vocab || inputs[i] < 0
            || targets[i] < 0 {
            // Where it sits in the file: minibatch, row b, column (inputs are columns 0..<T, targets 1...T).
            let b = i / sh.steps, column = i % sh.steps + (inputs[i] >= 0 && inputs[i] < vocab ? 1 : 0)
            let id = column == i % sh.steps ? inputs[i] : targets[i]
            let offset = ShardFormat.headerSize + (((k - sh.first) * info.batchSize + b) * (sh.steps + 1)
                                                   + column) * manifest.tokenBytes
            throw CorpusError.corruptFile(path: reader.path,
                                          problem: "byte offset \(offset) (minibatch \(k - sh.first) of this "
                                          + "file, row \(b), column \(column)): token id \(id) is outside the "
                                          + "vocabulary's 0..<\(vocab)")
        }
        return sh.steps
    }

    private func locate(_ k: Int) throws -> Int {
        if let c = current, k >= info.shards[c.index].first,
            k < info.shards[c.index].first + info.shards[c.index].minibatches {
            return c.index
        }
        var lo = 0, hi = info.shards.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if info.shards[mid].first <= k { lo = mid } else { hi = mid - 1 }
        }
        current = nil
        let sh = info.shards[lo]
        let reader = try ShardReader(path: directory + "/" + sh.file)
        try manifest.check(reader.header, info, sh, path: reader.path)
        current = (lo, reader)
        return lo
    }
}
