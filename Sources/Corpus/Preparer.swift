// gasa prepare as a library call: two passes over the input (count, then write ids), the vocabulary,
// train/val/test token streams, shards of B parallel streams by T steps, manifest.json and report.json,
// all inside a temporary folder renamed into place at the end. It does not parse command lines or print.
import Foundation
import Storage

public struct PrepareOptions: Codable, Sendable {
    public var text = TextOptions()                   // decoding and normalisation
    public var granularity: Granularity = .char       // what one token is
    public var minCount = 1                           // tokens seen fewer times become <unk>
    public var maxVocab = 0                           // vocabulary size limit, <unk> included (0 = none)
    public var splitFractions = [0.90, 0.05, 0.05]    // train, val, test shares of the characters
    public var splitBy: SplitBy = .offset             // cut at a character offset (next line end) or between documents
    public var documentSeparator = ""                 // a line equal to this ends a document ("" = an empty line)
    public var dedup: Dedup = .none                   // drop exact repeats of lines or documents before splitting
    public var batchSize = 50                         // B parallel streams
    public var seqLength = 50                         // T steps per minibatch
    public var shardBytes = 64 << 20                  // target size of one shard file
    public init() {}
}

public struct SplitReport: Codable, Sendable {
    public var name: String
    public var tokens: Int
    public var characters: Int
    public var minibatches: Int
    public var batchSize: Int
    public var unseenInTrainShare: Double?            // share of tokens whose id never occurs in train
    public var shards: Int
}

public struct PrepareReport: Codable, Sendable {
    public var granularity: Granularity
    public var normalization: Normalization
    public var output: String
    public var inputBytes: Int
    public var text: TextStats
    public var tokens: Int
    public var characters: Int
    public var tokensPerCharacter: Double
    public var vocabSize: Int
    public var distinctTokens: Int
    public var unkTokens: Int
    public var unkRate: Double
    public var topTokens: [String]
    public var splits: [SplitReport]
    public var seconds: Double
    public var megabytesPerSecond: Double
    public var notes: [String]
}

public final class Preparer {
    public let options: PrepareOptions
    public let inputs: [String]
    /// Names to use in messages instead of paths (e.g. "<stdin>" for a spooled standard input).
    public var displayNames: [String: String] = [:]
    /// Called with progress lines for long inputs (nil: silent).
    public var showProgress = true

    public init(options: PrepareOptions, inputs: [String]) throws {
        try checkLossless(granularity: options.granularity, normalization: options.text.normalization)
        guard options.splitFractions.count == 3, options.splitFractions.allSatisfy({ $0 >= 0 }),
              abs(options.splitFractions.reduce(0, +) - 1) < 1e-6, options.splitFractions[0] > 0 else {
            throw CorpusError.badInput("--split needs three non-negative shares for train,val,test that add up to 1, e.g. 0.9,0.05,0.05")
        }
        guard options.batchSize > 0, options.seqLength > 0 else { throw CorpusError.badInput("--batch-size and --seq-length must be positive") }
        guard !inputs.isEmpty else { throw CorpusError.badInput("no input files") }
        self.options = options
        self.inputs = inputs
    }

    /// Runs both passes and writes `output` (which must not exist unless `force`).
    public func run(output: String, force: Bool) throws -> PrepareReport {
        let t0 = monotonicSeconds()
        if fileExists(output) && !force {
            throw CorpusError.badInput("\(output) already exists; choose another --out or add --force to replace it")
        }
        let totalBytes = inputs.reduce(0) { $0 + fileSize($1) }
        let temp = output + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: temp)
        try makeDirectories(temp)
        var committed = false
        defer { if !committed { try? FileManager.default.removeItem(atPath: temp) } }

        var scanner = TextScanner(inputs: inputs, displayNames: displayNames, text: options.text, splitBy: options.splitBy, dedup: options.dedup,
                                  documentSeparator: Array(options.documentSeparator.utf16))
        var segmenter = Segmenter(options.granularity)
        let big = showProgress && totalBytes > 4 << 20

        // Pass 1: decode, normalise, dedup, count tokens; the kept text goes to a temporary UTF-16 file
        // (memory-mapped in pass 2), with a sparse index of (characters, offset) at each piece.
        var counter = CountSink()
        let textPath = temp + "/text.utf16"
        let textFile = try AtomicFile(path: textPath)
        var index: [(chars: Int, offset: Int)] = []
        var keptChars = 0, keptUnits = 0
        let p1 = big ? Progress(label: "prepare \(options.granularity.rawValue): reading", total: totalBytes) : nil
        let stats = try scanner.scan(progress: p1) { text, chars in
            index.append((keptChars, keptUnits))
            try segmenter.segment(text, into: &counter)
            try textFile.write(UnsafeRawBufferPointer(text))
            keptChars += chars
            keptUnits += text.count
        }
        try textFile.commit(durable: false)   // scratch: removed before the output is committed
        p1?.finish()
        guard stats.keptCharacters > 0 else {
            throw CorpusError.badInput("the input holds no text" + (stats.dedupRemovedUnits > 0 ? " after dedup" : ""))
        }
        var vocab = Vocabulary.build(counts: counter.all(), granularity: options.granularity,
                                     normalization: options.text.normalization,
                                     minCount: options.minCount, maxVocab: options.maxVocab)
        vocab.provenance.corpusBytes = stats.bytes
        vocab.provenance.corpusCrc32 = hex32(scanner.corpusCRC)

        // Pass 2: the kept text again, cut into splits, as ids into one raw token file per split.
        let tokenBytes = vocab.count <= 65536 ? 2 : 4
        let text = try MappedFile(path: textPath)
        let units = UnsafeBufferPointer(start: text.bytes.baseAddress?.assumingMemoryBound(to: UInt16.self), count: keptUnits)
        let cutter = SplitCutter(text: units, index: index, totalChars: keptChars,
                                 documentStarts: options.splitBy == .document ? scanner.documentStarts : nil)
        let K = Double(keptChars), f = options.splitFractions
        let cuts = [cutter.cut(atChar: Int(K * f[0])), cutter.cut(atChar: Int(K * (f[0] + f[1])))]
        let bounds = [0, cuts[0], max(cuts[0], cuts[1]), keptUnits]
        var writer = try WriteSink(vocab: vocab, tokenBytes: tokenBytes, directory: temp, ringSize: options.batchSize + 1)
        let p2 = big ? Progress(label: "prepare \(options.granularity.rawValue): writing", total: keptUnits * 2) : nil
        for split in 0..<3 {
            try writer.select(split)
            var start = bounds[split]
            while start < bounds[split + 1] {
                // Pieces of about a megabyte that end at a line end (a boundary of every granularity).
                var end = min(start + (1 << 20), bounds[split + 1])
                while end < bounds[split + 1] && units[end - 1] != 0x0A { end += 1 }
                try segmenter.segment(UnsafeBufferPointer(rebasing: units[start..<end]), into: &writer)
                text.advise(willNeed: false, offset: start * 2, length: (end - start) * 2)
                p2?.advance((end - start) * 2)
                start = end
            }
        }
        p2?.finish()
        try writer.close()
        try? FileManager.default.removeItem(atPath: textPath)
        let distinct = counter.distinct
        counter.release()

        // Shards.
        var splitInfos: [SplitInfo] = []
        var splitReports: [SplitReport] = []
        let names = ["train", "val", "test"]
        for (i, name) in names.enumerated() {
            let s = writer.splits[i]
            let info = try writeShards(name: name, split: s, tokenBytes: tokenBytes, directory: temp, train: i == 0)
            splitInfos.append(info)
            var unseen: Double? = nil
            if i > 0 && s.tokens > 0 {
                var n = 0
                for id in 0..<vocab.count where writer.splits[0].idCounts[id] == 0 { n += s.idCounts[id] }
                unseen = Double(n) / Double(s.tokens)
            }
            splitReports.append(SplitReport(name: name, tokens: s.tokens, characters: s.characters, minibatches: info.minibatches,
                                            batchSize: info.batchSize, unseenInTrainShare: unseen, shards: info.shards.count))
            try? FileManager.default.removeItem(atPath: s.path)
        }
        guard splitInfos[0].minibatches > 0 else {
            throw CorpusError.badInput("the train split has fewer than 2 tokens: the corpus is too small to train on")
        }

        let vocabBytes = try vocab.jsonBytes()
        try AtomicFile.write(vocabBytes, to: temp + "/vocab.json")
        let manifest = Manifest(
            granularity: options.granularity.rawValue, normalization: options.text.normalization.rawValue,
            vocabFile: "vocab.json", vocabChecksum: hex32(CRC32.checksum(vocabBytes)), vocabSize: vocab.count,
            tokenBytes: tokenBytes, batchSize: options.batchSize, seqLength: options.seqLength,
            icuVersion: ICU.version, unicodeVersion: ICU.unicodeVersion, inputs: inputs.map { displayNames[$0] ?? $0 },
            corpusBytes: stats.bytes, corpusCrc32: vocab.provenance.corpusCrc32,
            splitBy: options.splitBy.rawValue, dedup: options.dedup.rawValue,
            splitFractions: options.splitFractions, splits: splitInfos)
        try AtomicFile.write(try manifest.jsonBytes(), to: temp + "/" + Manifest.fileName)

        let tokens = writer.splits.reduce(0) { $0 + $1.tokens }
        let unk = vocab.unkID.map { id in writer.splits.reduce(0) { $0 + $1.idCounts[id] } } ?? 0
        var notes: [String] = []
        if options.text.normalization == .nfkc && stats.hangulCompatibilityLettersRewritten > 0 {
            notes.append("NFKC rewrote \(stats.hangulCompatibilityLettersRewritten) Hangul compatibility/half-width letters "
                         + "(e.g. ㅋㅋ becomes leading conjoining jamo, ㄱㅏ becomes 가); use --normalization nfc to keep them")
        }
        if stats.replacements > 0 { notes.append("\(stats.replacements) invalid UTF-8 sequences were replaced by U+FFFD") }
        for r in splitReports where r.name != "train" && r.tokens > 0 && r.minibatches == 0 {
            notes.append("the \(r.name) split is too small to form a minibatch")
        }
        for r in splitReports where r.name != "train" && r.tokens == 0 && options.splitFractions[names.firstIndex(of: r.name)!] > 0 {
            notes.append("the \(r.name) split is empty" + (options.splitBy == .document ? " (too few documents)" : ""))
        }
        let seconds = monotonicSeconds() - t0
        let report = PrepareReport(
            granularity: options.granularity, normalization: options.text.normalization, output: output,
            inputBytes: stats.bytes, text: stats, tokens: tokens, characters: stats.keptCharacters,
            tokensPerCharacter: Double(tokens) / Double(stats.keptCharacters),
            vocabSize: vocab.count, distinctTokens: distinct, unkTokens: unk,
            unkRate: tokens > 0 ? Double(unk) / Double(tokens) : 0,
            topTokens: (0..<min(12, vocab.count)).filter { $0 != vocab.unkID }.map { vocab.text($0) },
            splits: splitReports, seconds: seconds, megabytesPerSecond: Double(stats.bytes) / 1e6 / seconds, notes: notes)
        try AtomicFile.write(Array(try gasaJSONEncoder().encode(report)) + [0x0A], to: temp + "/report.json")

        // Into place: the old folder (with --force) is moved aside first and removed after.
        var aside: String? = nil
        if fileExists(output) {
            aside = output + ".old-\(ProcessInfo.processInfo.processIdentifier)"
            try FileManager.default.moveItem(atPath: output, toPath: aside!)
        }
        try FileManager.default.moveItem(atPath: temp, toPath: output)
        committed = true
        syncDirectory(of: output)
        if let a = aside { try? FileManager.default.removeItem(atPath: a) }
        return report
    }

    /// Lays a split out as B streams of L targets and writes its minibatches into shard files.
    private func writeShards(name: String, split s: WriteSink.Split, tokenBytes tb: Int, directory: String, train: Bool) throws -> SplitInfo {
        let T = options.seqLength
        let avail = s.tokens - 1
        var info = SplitInfo(name: name, tokens: s.tokens, characters: s.characters, batchSize: 0, streamLength: 0,
                             minibatches: 0, servedTargets: 0, targetCharacters: 0, droppedTokens: max(0, s.tokens), shards: [])
        guard avail >= 1 else { return info }
        let B = train ? min(options.batchSize, avail)
                      : (avail >= options.batchSize * T ? options.batchSize : max(1, min(options.batchSize, avail / T)))
        let L = avail / B
        let dropped = avail - B * L
        info.batchSize = B
        info.streamLength = L
        info.servedTargets = B * L
        info.droppedTokens = dropped
        info.targetCharacters = s.characters - s.firstChars - s.lastChars(dropped)
        let full = L / T, rest = L % T
        info.minibatches = full + (rest > 0 ? 1 : 0)

        let tokens = try MappedFile(path: s.path)
        precondition(tokens.count == s.tokens * tb, "token file size mismatch")
        let perShard = max(1, options.shardBytes / (B * (T + 1) * tb))
        var groups: [(first: Int, count: Int, steps: Int)] = []
        var k = 0
        while k < full { let c = min(perShard, full - k); groups.append((k, c, T)); k += c }
        if rest > 0 { groups.append((full, 1, rest)) }
        for (gi, g) in groups.enumerated() {
            let file = "\(name)-\(String(format: "%05d", gi)).bin"
            let w = try ShardWriter(path: directory + "/" + file, tokenBytes: tb, batch: B, steps: g.steps, count: g.count, first: g.first)
            for mb in g.first..<(g.first + g.count) {
                for b in 0..<B {
                    let start = (b * L + mb * T) * tb
                    try w.appendRow(UnsafeRawBufferPointer(rebasing: tokens.bytes[start..<(start + (g.steps + 1) * tb)]))
                }
            }
            let (h, size) = try w.finish()
            info.shards.append(ShardInfo(file: file, first: g.first, minibatches: g.count, steps: g.steps, bytes: size,
                                         crc32: hex32(h.payloadCRC)))
        }
        return info
    }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}

/// Finds where splits may begin in the kept text: the first line start (or document start) at or
/// after a character index, as a UTF-16 offset.
struct SplitCutter {
    let text: UnsafeBufferPointer<UInt16>
    let index: [(chars: Int, offset: Int)]
    let totalChars: Int
    let documentStarts: [Int]?

    func cut(atChar c: Int) -> Int {
        if c >= totalChars { return text.count }
        if let docs = documentStarts {
            var lo = 0, hi = docs.count      // first document start >= c
            while lo < hi { let m = (lo + hi) / 2; if docs[m] >= c { hi = m } else { lo = m + 1 } }
            return lo == docs.count ? text.count : position(ofChar: docs[lo])
        }
        var p = position(ofChar: c)
        while p > 0 && p < text.count && text[p - 1] != 0x0A { p += 1 }
        return p
    }

    /// UTF-16 offset of character index c.
    private func position(ofChar c: Int) -> Int {
        var lo = 0, hi = index.count - 1     // last piece starting at or before c
        while lo < hi { let m = (lo + hi + 1) / 2; if index[m].chars <= c { lo = m } else { hi = m - 1 } }
        var chars = index[lo].chars, p = index[lo].offset
        while chars < c && p < text.count {
            p += (text[p] & 0xFC00 == 0xD800 && p + 1 < text.count) ? 2 : 1
            chars += 1
        }
        return p
    }
}

/// Pass 1: counts of every token. One-scalar tokens of the Basic Multilingual Plane count in a flat
/// table behind a pointer (no copy-on-write check per token).
struct CountSink: TokenSink {
    private let bmp: UnsafeMutablePointer<Int>
    private var other: [UInt32: Int] = [:]
    private var multiCounts: [[UInt32]: Int] = [:]

    init() {
        bmp = .allocate(capacity: 0x10000)
        bmp.initialize(repeating: 0, count: 0x10000)
    }

    @inline(__always) mutating func single(_ c: UInt32, chars: Int) {
        if c < 0x10000 { bmp[Int(c)] += 1 } else { other[c, default: 0] += 1 }
    }
    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>) { multiCounts[Array(scalars), default: 0] += 1 }

    var distinct: Int { (0..<0x10000).reduce(0) { $0 + (bmp[$1] > 0 ? 1 : 0) } + other.count + multiCounts.count }

    func all() -> [[UInt32]: Int] {
        var d = multiCounts
        for c in 0..<0x10000 where bmp[c] > 0 { d[[UInt32(c)]] = bmp[c] }
        for (c, n) in other { d[[c]] = n }
        return d
    }

    func release() { bmp.deallocate() }
}

/// Pass 2: ids into one raw little-endian token file per split, with per-split counts.
/// The current split's counters live in the sink itself (the hot path touches nothing else); they are
/// saved into `splits` when the split changes and at the end.
struct WriteSink: TokenSink {
    struct Split {
        var path: String
        var tokens = 0
        var characters = 0
        var idCounts: [Int]
        var firstChars = -1
        var ring: [Int]              // characters begun by the last tokens, for the dropped tail
        var ringPos = 0

        func lastChars(_ n: Int) -> Int {
            var sum = 0
            for i in 0..<n { sum += ring[(ringPos - 1 - i + ring.count * 2) % ring.count] }
            return sum
        }
    }

    let vocab: Vocabulary
    let tokenBytes: Int
    private(set) var splits: [Split]
    private var files: [AtomicFile]
    private var key: [UInt32] = []
    private var writeError: Error?

    // The current split, unpacked.
    private var current = 0
    private var tokens = 0, characters = 0, firstChars = -1, ringPos = 0
    private let counts: UnsafeMutablePointer<Int>
    private let ring: UnsafeMutablePointer<Int>
    private let ringSize: Int
    private let table: UnsafeMutablePointer<Int32>   // BMP scalar -> id (or -1)
    private let unk: Int32
    private let buffer: UnsafeMutablePointer<UInt8>
    private var buffered = 0
    private let bufferSize = 1 << 20

    init(vocab: Vocabulary, tokenBytes: Int, directory: String, ringSize: Int) throws {
        self.vocab = vocab
        self.tokenBytes = tokenBytes
        splits = ["train", "val", "test"].map {
            Split(path: directory + "/\($0).tokens", idCounts: [Int](repeating: 0, count: vocab.count),
                  ring: [Int](repeating: 0, count: ringSize))
        }
        files = try splits.map { try AtomicFile(path: $0.path) }
        counts = .allocate(capacity: vocab.count)
        counts.initialize(repeating: 0, count: vocab.count)
        ring = .allocate(capacity: ringSize)
        ring.initialize(repeating: 0, count: ringSize)
        self.ringSize = ringSize
        table = .allocate(capacity: 0x10000)
        for c in 0..<0x10000 { table[c] = vocab.id(single: UInt32(c)) ?? -1 }
        unk = Int32(vocab.unkID ?? -1)
        buffer = .allocate(capacity: bufferSize + 8)
    }

    /// Makes `split` the current one.
    mutating func select(_ split: Int) throws {
        if split == current { return }
        try save()
        current = split
        let s = splits[split]
        tokens = s.tokens; characters = s.characters; firstChars = s.firstChars; ringPos = s.ringPos
        for i in 0..<vocab.count { counts[i] = s.idCounts[i] }
        for i in 0..<ringSize { ring[i] = s.ring[i] }
    }

    private mutating func save() throws {
        try flush()
        splits[current].tokens = tokens
        splits[current].characters = characters
        splits[current].firstChars = firstChars
        splits[current].ringPos = ringPos
        splits[current].idCounts = Array(UnsafeBufferPointer(start: counts, count: vocab.count))
        splits[current].ring = Array(UnsafeBufferPointer(start: ring, count: ringSize))
    }

    private mutating func flush() throws {
        if let e = writeError { throw e }
        try files[current].write(UnsafeRawBufferPointer(start: buffer, count: buffered))
        buffered = 0
    }

    @inline(__always) private mutating func emit(_ id: Int32, chars: Int) {
        counts[Int(id)] += 1
        tokens += 1
        characters += chars
        if firstChars < 0 { firstChars = chars }
        ring[ringPos] = chars
        ringPos = ringPos + 1 == ringSize ? 0 : ringPos + 1
        if tokenBytes == 2 {
            buffer[buffered] = UInt8(truncatingIfNeeded: id)
            buffer[buffered + 1] = UInt8(truncatingIfNeeded: id >> 8)
            buffered += 2
        } else {
            (UnsafeMutableRawPointer(buffer) + buffered).storeBytes(of: UInt32(id).littleEndian, as: UInt32.self)
            buffered += 4
        }
        if buffered >= bufferSize {
            // A failed write is kept and thrown at the next select() or at close().
            do { try flush() } catch { writeError = error }
        }
    }

    @inline(__always) mutating func single(_ c: UInt32, chars: Int) {
        var id: Int32 = -1
        if c < 0x10000 { id = table[Int(c)] } else if let i = vocab.id(single: c) { id = i }
        emit(id >= 0 ? id : unk, chars: chars)
    }

    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>) {
        key.removeAll(keepingCapacity: true)
        key.append(contentsOf: scalars)
        emit(vocab.id(key) ?? unk, chars: scalars.count)
    }

    /// Commits the three token files and frees the buffers.
    mutating func close() throws {
        try save()
        for f in files { try f.commit(durable: false) }   // scratch: shards are written from them
        for s in 0..<3 where splits[s].firstChars < 0 { splits[s].firstChars = 0 }
        counts.deallocate()
        ring.deallocate()
        table.deallocate()
        buffer.deallocate()
    }
}
