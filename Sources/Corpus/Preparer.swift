// gasa prepare as a library call, as a list of passes, each in its own file: the output folder
// (PreparedFolder.swift), pass 1 to scan and count (ScanPass.swift), the vocabulary, the split cuts
// (SplitCutter.swift), pass 2 to write ids (IdPass.swift), the shard layout (ShardLayout.swift), the
// manifest, and the report (PrepareReport.swift). All of it is written inside a temporary folder that
// is renamed into place at the end. It does not parse command lines; it prints only progress lines (and,
// when a signal interrupts it, what it removed).
import Common
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
    public var threads = 0                            // threads for writing ids and shards (0 = one per core)
    /// Text between two entries of pass 1's index (UTF-16 units, moved to a line end): where pass 2's
    /// parallel jobs may start. Smaller only in tests, to make many jobs of a small corpus.
    var pieceUnits = 1 << 16
    /// Whether char, jamo and coda take the table-driven fast path (ScalarTokens.swift); off only in tests,
    /// which check that both paths write the same bytes.
    var scalarTables = true
    public init() {}
}

public final class Preparer {
    public let options: PrepareOptions
    public let inputs: [String]
    /// Names to use in messages instead of paths (e.g. "<stdin>" for a spooled standard input).
    public var displayNames: [String: String] = [:]
    /// Whether progress lines for long inputs (over 4 MiB) go to stderr.
    public var showProgress = true
    /// Further paths of the caller's own (a spooled standard input, a folder made for several
    /// granularities) that an interrupting signal removes too.
    public var removeOnInterrupt: [String] = []

    public init(options: PrepareOptions, inputs: [String]) throws {
        try checkLossless(granularity: options.granularity, normalization: options.text.normalization)
        guard options.splitFractions.count == 3, options.splitFractions.allSatisfy({ $0 >= 0 }),
              abs(options.splitFractions.reduce(0, +) - 1) < 1e-6, options.splitFractions[0] > 0 else {
            throw CorpusError.badInput("--split needs three non-negative shares for train,val,test that add up to 1, "
                                       + "e.g. 0.9,0.05,0.05")
        }
        if let p = MinibatchLimits.problem(batchSize: options.batchSize, seqLength: options.seqLength) {
            throw CorpusError.badInput("--batch-size/--seq-length: " + p)
        }
        guard !inputs.isEmpty else { throw CorpusError.badInput("no input files") }
        self.options = options
        self.inputs = inputs
    }

    /// Runs both passes and writes `output` (which must not exist unless `force`).
    public func run(output: String, force: Bool) throws -> PrepareReport {
        let output = withoutTrailingSlashes(output)
        let t0 = monotonicSeconds()
        let folder = try PreparedFolder(output: output, force: force, inputs: inputs,
                                        removeOnInterrupt: removeOnInterrupt)
        defer { folder.close() }
        let totalBytes = inputs.reduce(0) { $0 + fileSize($1) }
        let big = showProgress && totalBytes > 4 << 20
        let label = "prepare \(options.granularity.rawValue)"
        let table = options.scalarTables ? ScalarTokens(options.granularity) : nil

        let textPath = folder.temp + "/" + PreparedFolder.textFile
        let scan = try ScanPass.run(inputs: inputs, displayNames: displayNames, options: options, table: table,
                                    textPath: textPath, progress: big ? WorkProgress(label: label + ": reading",
                                                                                     total: totalBytes) : nil)
        let vocab = try vocabulary(scan)

        let text = try MappedFile(path: textPath)
        let units = UnsafeBufferPointer(start: text.bytes.baseAddress?.assumingMemoryBound(to: UInt16.self),
                                        count: scan.keptUnits)
        // --split-by stream shares out the token stream itself: pass 2 writes it whole, as one run.
        let bounds = options.splitBy == .stream ? [0, scan.keptUnits, scan.keptUnits, scan.keptUnits] : splitBounds(units, scan)
        let tokensPath = folder.temp + "/" + PreparedFolder.tokensFile
        let threads = options.threads > 0 ? options.threads : max(1, ProcessInfo.processInfo.activeProcessorCount)
        let ids = try IdPass.run(units: units, text: text, scan: scan, bounds: bounds, vocab: vocab, table: table,
                                 options: options, threads: threads, tokensPath: tokensPath,
                                 progress: big ? WorkProgress(label: label + ": writing",
                                                              total: scan.keptUnits * 2) : nil)
        var stream: (plan: StreamSplit.Plan, characters: [[Int]])? = nil
        if options.splitBy == .stream {
            let plan = try StreamSplit.plan(tokens: scan.tokens, options: options)
            stream = (plan, try StreamSplit.targetCharacters(units: units, plan: plan, granularity: options.granularity))
        }
        try? FileManager.default.removeItem(atPath: textPath)

        // Shards. Each file is committed (fsynced and renamed) in the background while the next is written.
        let commits = BackgroundWork()
        defer { try? commits.wait() }   // on an error too: nothing may still be writing when the folder goes
        let tokens = try PositionalFile(path: tokensPath)
        var splits: [SplitInfo] = []
        var counted = ids
        var firstToken = 0
        if let (plan, characters) = stream {
            (splits, counted.splits) = try StreamSplit.write(plan, characters: characters, tokens: tokens, tokenBytes: ids.tokenBytes,
                                                            vocabSize: vocab.count, options: options, directory: folder.temp,
                                                            threads: threads, commits: commits)
        }
        for (i, name) in SplitName.allCases.enumerated() where stream == nil {
            let (rows, info) = ShardLayout.contiguous(name, split: ids.splits[i], firstToken: firstToken, options: options)
            splits.append(try rows.map {
                try ShardLayout.write($0, info: info, tokens: tokens, tokenBytes: ids.tokenBytes, options: options,
                                      directory: folder.temp, threads: threads, commits: commits)
            } ?? info)
            firstToken += ids.splits[i].tokens
        }
        try? FileManager.default.removeItem(atPath: tokensPath)   // scratch: every shard is written
        guard splits[0].minibatches > 0 else {
            throw CorpusError.badInput("the train split has fewer than 2 tokens: the corpus is too small to train on")
        }

        try writeManifest(in: folder.temp, vocab: vocab, scan: scan, tokenBytes: ids.tokenBytes, splits: splits)
        let report = PrepareReport(options: options, output: output, scan: scan, vocab: vocab, ids: counted, splits: splits,
                                   leftoverNotes: folder.leftoverNotes, seconds: monotonicSeconds() - t0)
        try AtomicFile.write(Array(try gasaJSONEncoder().encode(report)) + [0x0A],
                             to: folder.temp + "/" + PrepareReport.fileName)
        try commits.wait()
        try folder.commit()
        return report
    }

    /// The vocabulary from pass 1's counts; a text with nothing left to learn is an error.
    private func vocabulary(_ scan: ScanResult) throws -> Vocabulary {
        guard scan.stats.keptCharacters > 0 else {
            let shown = inputs.prefix(3).map { displayNames[$0] ?? $0 }.joined(separator: ", ")
                + (inputs.count > 3 ? ", ..." : "")
            let why = scan.stats.dedupRemovedUnits > 0 ? " after dedup" : " (it holds no characters)"
            throw CorpusError.badInput("\(shown): no text to prepare" + why)
        }
        var vocab = Vocabulary.build(counts: scan.counts, granularity: options.granularity,
                                     normalization: options.text.normalization,
                                     minCount: options.minCount, maxVocab: options.maxVocab)
        guard vocab.count - (vocab.unkID == nil ? 0 : 1) >= 1 else {
            throw CorpusError.badInput("every token would become <unk> (--min-count \(options.minCount), "
                                       + "--max-vocab \(options.maxVocab)): the most frequent is seen "
                                       + "\(scan.counts.values.max() ?? 0) times; lower --min-count or raise "
                                       + "--max-vocab")
        }
        guard vocab.count >= 2 else {
            throw CorpusError.badInput("the text holds a single distinct token (\(vocab.text(0).debugDescription)): "
                                       + "there is nothing for a language model to learn")
        }
        vocab.provenance.corpusBytes = scan.stats.bytes
        vocab.provenance.corpusCrc32 = hex32(scan.corpusCRC)
        return vocab
    }

    /// UTF-16 offsets of the kept text where train, val and test begin and end (4 values).
    private func splitBounds(_ units: UnsafeBufferPointer<UInt16>, _ scan: ScanResult) -> [Int] {
        let cutter = SplitCutter(text: units, index: scan.index, totalChars: scan.keptCharacters,
                                 documentStarts: options.splitBy == .document ? scan.documentStarts : nil)
        let K = Double(scan.keptCharacters), f = options.splitFractions
        let cuts = [cutter.cut(atChar: Int(K * f[0])), cutter.cut(atChar: Int(K * (f[0] + f[1])))]
        return [0, cuts[0], max(cuts[0], cuts[1]), scan.keptUnits]
    }

    /// vocab.json and manifest.json.
    private func writeManifest(in dir: String, vocab: Vocabulary, scan: ScanResult, tokenBytes: Int,
                               splits: [SplitInfo]) throws {
        let vocabBytes = try vocab.jsonBytes()
        try AtomicFile.write(vocabBytes, to: dir + "/" + Vocabulary.fileName)
        let manifest = Manifest(
            granularity: options.granularity, normalization: options.text.normalization,
            vocabFile: Vocabulary.fileName, vocabChecksum: hex32(CRC32.checksum(vocabBytes)), vocabSize: vocab.count,
            tokenBytes: tokenBytes, batchSize: options.batchSize, seqLength: options.seqLength,
            icuVersion: ICU.version, unicodeVersion: ICU.unicodeVersion, inputs: inputs.map { displayNames[$0] ?? $0 },
            corpusBytes: scan.stats.bytes, corpusCrc32: vocab.provenance.corpusCrc32,
            splitBy: options.splitBy, dedup: options.dedup, splitFractions: options.splitFractions, splits: splits)
        try AtomicFile.write(try manifest.jsonBytes(), to: dir + "/" + Manifest.fileName)
    }
}
