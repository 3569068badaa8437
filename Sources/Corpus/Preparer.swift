// gasa prepare as a library call: two passes over the input (count, then write ids, in parallel), the vocabulary,
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
    public var threads = 0                            // threads for writing ids and shards (0 = one per core)
    /// Text between two entries of pass 1's index (UTF-16 units, moved to a line end): where pass 2's
    /// parallel jobs may start. Smaller only in tests, to make many jobs of a small corpus.
    var pieceUnits = 1 << 16
    /// Whether char, jamo and coda take the table-driven fast path (ScalarTokens.swift); off only in tests,
    /// which check that both paths write the same bytes.
    var scalarTables = true
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
    /// Further paths of the caller's own (a spooled standard input, a folder made for several
    /// granularities) that an interrupting signal removes too.
    public var removeOnInterrupt: [String] = []

    public init(options: PrepareOptions, inputs: [String]) throws {
        try checkLossless(granularity: options.granularity, normalization: options.text.normalization)
        guard options.splitFractions.count == 3, options.splitFractions.allSatisfy({ $0 >= 0 }),
              abs(options.splitFractions.reduce(0, +) - 1) < 1e-6, options.splitFractions[0] > 0 else {
            throw CorpusError.badInput("--split needs three non-negative shares for train,val,test that add up to 1, e.g. 0.9,0.05,0.05")
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
        let leftoverNotes = Preparer.cleanLeftovers(of: output)
        if fileExists(output) || isSymbolicLink(output) {
            guard force else {
                throw CorpusError.badInput("\(output) already exists; choose another --out or add --force to replace it")
            }
            try Preparer.checkReplaceable(output, inputs: inputs)
        }
        let totalBytes = inputs.reduce(0) { $0 + fileSize($1) }
        let temp = output + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: temp)
        do { try makeDirectories(temp) } catch {
            // The error names the temporary folder beside the output; the user knows the output's name.
            throw CorpusError.badInput("\(error)".replacingOccurrences(of: temp, with: output) + "; choose another --out")
        }
        var committed = false
        defer { if !committed { try? FileManager.default.removeItem(atPath: temp) } }
        try OwnedFolder.mark(temp, as: .prepared)   // what --force later requires before replacing it
        try OwnedFolder.markLeftover(temp)          // until it is in place: what tells a dead prepare's leftover
        // Ctrl-C or a kill with SIGTERM removes the temporary folder before the process ends.
        let interrupt = Preparer.removeOnSignal(temp, also: removeOnInterrupt)
        defer { interrupt.forEach { $0.cancel() }; for s in [SIGINT, SIGTERM] { signal(s, SIG_DFL) } }

        var scanner = TextScanner(inputs: inputs, displayNames: displayNames, text: options.text, splitBy: options.splitBy, dedup: options.dedup,
                                  documentSeparator: Array(options.documentSeparator.utf16))
        var segmenter = Segmenter(options.granularity)
        let big = showProgress && totalBytes > 4 << 20

        // Pass 1: decode, normalise, dedup, count tokens; the kept text goes to a temporary UTF-16 file
        // (memory-mapped in pass 2), with a sparse index of (characters, offset, tokens) about every
        // `pieceUnits` units, at line ends.
        var counter = CountSink()
        let scalarTable = options.scalarTables ? ScalarTokens(options.granularity) : nil
        var scalarCounter = scalarTable.map { ScalarCounter($0) }
        let textPath = temp + "/text.utf16"
        let textFile = try AtomicFile(path: textPath)
        var index: [IndexEntry] = []
        var keptChars = 0, keptUnits = 0
        let pieceUnits = max(1, options.pieceUnits)
        let p1 = big ? Progress(label: "prepare \(options.granularity.rawValue): reading", total: totalBytes) : nil
        let stats = try scanner.scan(progress: p1) { text, chars in
            var start = 0
            while start < text.count {
                var end = min(start + pieceUnits, text.count)
                while end < text.count && text[end - 1] != 0x0A { end += 1 }
                let piece = UnsafeBufferPointer(rebasing: text[start..<end])
                index.append(IndexEntry(chars: keptChars, offset: keptUnits, tokens: scalarCounter?.tokens ?? counter.tokens))
                if scalarCounter != nil { scalarCounter!.count(piece) } else { try segmenter.segment(piece, into: &counter) }
                keptChars += start == 0 && end == text.count ? chars : scalarCount(piece)
                keptUnits += piece.count
                start = end
            }
            try textFile.write(UnsafeRawBufferPointer(text))
        }
        try textFile.commit(durable: false)   // scratch: removed before the output is committed
        p1?.finish()
        guard stats.keptCharacters > 0 else {
            let shown = inputs.prefix(3).map { displayNames[$0] ?? $0 }.joined(separator: ", ") + (inputs.count > 3 ? ", ..." : "")
            throw CorpusError.badInput("\(shown): no text to prepare" + (stats.dedupRemovedUnits > 0 ? " after dedup" : " (it holds no characters)"))
        }
        let tokenCounts = scalarCounter?.all() ?? counter.all()
        var vocab = Vocabulary.build(counts: tokenCounts, granularity: options.granularity,
                                     normalization: options.text.normalization,
                                     minCount: options.minCount, maxVocab: options.maxVocab)
        guard vocab.count - (vocab.unkID == nil ? 0 : 1) >= 1 else {
            throw CorpusError.badInput("every token would become <unk> (--min-count \(options.minCount), --max-vocab \(options.maxVocab)): "
                                       + "the most frequent is seen \(tokenCounts.values.max() ?? 0) times; lower --min-count or raise --max-vocab")
        }
        guard vocab.count >= 2 else {
            throw CorpusError.badInput("the text holds a single distinct token (\(vocab.text(0).debugDescription)): "
                                       + "there is nothing for a language model to learn")
        }
        vocab.provenance.corpusBytes = stats.bytes
        vocab.provenance.corpusCrc32 = hex32(scanner.corpusCRC)
        let distinct = tokenCounts.count
        let totalTokens = scalarCounter?.tokens ?? counter.tokens
        counter.release()
        scalarCounter?.release()

        // Pass 2: the kept text again, as ids into one raw token file (train, then val, then test), by
        // parallel jobs that each start at an index entry, so each knows where its ids go.
        let tokenBytes = vocab.count <= 65536 ? 2 : 4
        let text = try MappedFile(path: textPath)
        let units = UnsafeBufferPointer(start: text.bytes.baseAddress?.assumingMemoryBound(to: UInt16.self), count: keptUnits)
        let cutter = SplitCutter(text: units, index: index, totalChars: keptChars,
                                 documentStarts: options.splitBy == .document ? scanner.documentStarts : nil)
        let K = Double(keptChars), f = options.splitFractions
        let cuts = [cutter.cut(atChar: Int(K * f[0])), cutter.cut(atChar: Int(K * (f[0] + f[1])))]
        let bounds = [0, cuts[0], max(cuts[0], cuts[1]), keptUnits]
        let threads = options.threads > 0 ? options.threads : max(1, ProcessInfo.processInfo.activeProcessorCount)
        let tokensPath = temp + "/tokens.bin"
        let tokenFile = try AtomicFile(path: tokensPath)
        let ids = IdTable(vocab: vocab)
        defer { ids.release() }
        let scalarIds = scalarTable.map { ScalarIds(table: $0, ids: ids) }
        // Job starts: the index entries nearest to equal shares of the tokens.
        var starts: [Int] = [0]
        for j in 1..<threads {
            let target = totalTokens * j / threads
            var lo = 0, hi = index.count - 1
            while lo < hi { let m = (lo + hi + 1) / 2; if index[m].tokens <= target { lo = m } else { hi = m - 1 } }
            if lo > starts.last! { starts.append(lo) }
        }
        let jobs = starts.indices.map { j -> (units: Range<Int>, tokens: Int) in
            let u0 = index[starts[j]].offset, u1 = j + 1 < starts.count ? index[starts[j + 1]].offset : keptUnits
            return (u0..<u1, index[starts[j]].tokens)
        }
        let p2 = big ? Progress(label: "prepare \(options.granularity.rawValue): writing", total: keptUnits * 2) : nil
        let progressLock = NSLock()
        var results = [Result<[SplitPart], Error>](repeating: .success([]), count: jobs.count)
        let resultLock = NSLock()
        DispatchQueue.concurrentPerform(iterations: jobs.count) { j in
            let r = Result { () throws -> [SplitPart] in
                var parts: [SplitPart] = []
                if let sids = scalarIds {
                    var offset = jobs[j].tokens * tokenBytes
                    for split in 0..<3 {
                        let start = max(jobs[j].units.lowerBound, bounds[split])
                        let stop = min(jobs[j].units.upperBound, bounds[split + 1])
                        if start >= stop { continue }
                        parts.append(try sids.write(UnsafeBufferPointer(rebasing: units[start..<stop]), split: split,
                                                    tokenBytes: tokenBytes, file: tokenFile, fileOffset: &offset,
                                                    ringSize: options.batchSize + 1) { read in
                            // That text is not read again: its pages can leave this process's memory.
                            text.advise(willNeed: false, offset: (start + read.lowerBound) * 2, length: read.count * 2)
                            if let p = p2 { progressLock.lock(); p.advance(read.count * 2); progressLock.unlock() }
                        })
                    }
                    return parts
                }
                var seg = Segmenter(options.granularity)
                var sink = IdWriter(ids: ids, tokenBytes: tokenBytes, file: tokenFile, firstToken: jobs[j].tokens,
                                    ringSize: options.batchSize + 1)
                defer { sink.release() }
                for split in 0..<3 {
                    var start = max(jobs[j].units.lowerBound, bounds[split])
                    let stop = min(jobs[j].units.upperBound, bounds[split + 1])
                    if start >= stop { continue }
                    while start < stop {
                        // Pieces of about a megabyte that end at a line end (a boundary of every granularity).
                        var end = min(start + (1 << 20), stop)
                        while end < stop && units[end - 1] != 0x0A { end += 1 }
                        try seg.segment(UnsafeBufferPointer(rebasing: units[start..<end]), into: &sink)
                        text.advise(willNeed: false, offset: start * 2, length: (end - start) * 2)
                        if let p = p2 { progressLock.lock(); p.advance((end - start) * 2); progressLock.unlock() }
                        start = end
                    }
                    parts.append(try sink.endPart(split: split))
                }
                return parts
            }
            resultLock.lock(); results[j] = r; resultLock.unlock()
        }
        p2?.finish()
        var splits = (0..<3).map { _ in SplitTokens(vocabSize: vocab.count) }
        for r in results { for part in try r.get() { splits[part.split].append(part, ringSize: options.batchSize + 1) } }
        let written = splits.reduce(0) { $0 + $1.tokens }
        guard written == totalTokens else {
            throw CorpusError.badInput("internal error: pass 2 wrote \(written) tokens where pass 1 counted \(totalTokens); please report it")
        }
        try tokenFile.commit(durable: false)   // scratch: shards are written from it
        try? FileManager.default.removeItem(atPath: textPath)
        let tokens = try PositionalFile(path: tokensPath)

        // Shards. Each file is committed (fsynced and renamed) in the background while the next is written.
        let commits = BackgroundWork()
        defer { try? commits.wait() }   // on an error too: nothing may still be writing when the folder goes
        var splitInfos: [SplitInfo] = []
        var splitReports: [SplitReport] = []
        let names = ["train", "val", "test"]
        var firstToken = 0
        for (i, name) in names.enumerated() {
            let s = splits[i]
            let info = try writeShards(name: name, split: s, tokens: tokens, firstToken: firstToken, tokenBytes: tokenBytes,
                                       directory: temp, train: i == 0, threads: threads, commits: commits)
            firstToken += s.tokens
            splitInfos.append(info)
            var unseen: Double? = nil
            if i > 0 && s.tokens > 0 {
                var n = 0
                for id in 0..<vocab.count where splits[0].idCounts[id] == 0 { n += s.idCounts[id] }
                unseen = Double(n) / Double(s.tokens)
            }
            splitReports.append(SplitReport(name: name, tokens: s.tokens, characters: s.characters, minibatches: info.minibatches,
                                            batchSize: info.batchSize, unseenInTrainShare: unseen, shards: info.shards.count))
        }
        try? FileManager.default.removeItem(atPath: tokensPath)   // scratch: every shard is written
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

        let unk = vocab.unkID.map { id in splits.reduce(0) { $0 + $1.idCounts[id] } } ?? 0
        var notes: [String] = leftoverNotes
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
            inputBytes: stats.bytes, text: stats, tokens: totalTokens, characters: stats.keptCharacters,
            tokensPerCharacter: Double(totalTokens) / Double(stats.keptCharacters),
            vocabSize: vocab.count, distinctTokens: distinct, unkTokens: unk,
            unkRate: totalTokens > 0 ? Double(unk) / Double(totalTokens) : 0,
            topTokens: (0..<min(12, vocab.count)).filter { $0 != vocab.unkID }.map { vocab.text($0) },
            splits: splitReports, seconds: seconds, megabytesPerSecond: Double(stats.bytes) / 1e6 / seconds, notes: notes)
        try AtomicFile.write(Array(try gasaJSONEncoder().encode(report)) + [0x0A], to: temp + "/report.json")

        try commits.wait()
        // Into place: the old folder (with --force) is moved aside first and removed after.
        var aside: String? = nil
        if fileExists(output) {
            aside = output + ".old-\(ProcessInfo.processInfo.processIdentifier)"
            guard !fileExists(aside!) && !isSymbolicLink(aside!) else {
                throw CorpusError.badInput("\(aside!) is in the way of replacing \(output); move it away and prepare again")
            }
            try OwnedFolder.markLeftover(output)   // so that, if this process dies now, the next prepare can put it back
            try FileManager.default.moveItem(atPath: output, toPath: aside!)
        }
        try FileManager.default.moveItem(atPath: temp, toPath: output)
        committed = true
        OwnedFolder.clearLeftover(output)
        syncDirectory(of: output)
        if let a = aside { try? FileManager.default.removeItem(atPath: a) }
        return report
    }

    /// What interrupted prepares of `output` left beside it, by processes that are gone: OUT.tmp-PID (an
    /// unfinished folder) is removed; OUT.old-PID (the folder a --force was replacing when it was killed
    /// between its two renames) is put back as OUT when OUT is missing, else removed. Only folders with
    /// prepare's mark are touched. Returns a note for each.
    static func cleanLeftovers(of output: String) -> [String] {
        let (base, listing, sibling) = pathSiblings(output)
        guard !base.isEmpty, let names = OwnedFolder.names(in: listing) else { return [] }
        var notes: [String] = []
        for name in names where leftoverBase(name) == base {
            let path = sibling(name)
            // Only what a gasa prepare that is gone recorded as its own, holding only files prepare writes.
            guard OwnedFolder.isMarked(path, as: .prepared), OwnedFolder.isStaleLeftover(path),
                  foreignEntry(in: path, scratch: true) == nil else { continue }
            let setAside = leftoverBase(name, marks: [".old-"]) != nil
            if setAside && !fileExists(output) && !isSymbolicLink(output) && isPreparedFolder(path) {
                if rename(path, output) == 0 {
                    OwnedFolder.clearLeftover(output)
                    notes.append("put back \(output) from \(path), left by a --force that was interrupted")
                }
            } else if (try? FileManager.default.removeItem(atPath: path)) != nil {
                notes.append("removed \(path), left by an interrupted gasa prepare" + (setAside ? " (the folder it replaced)" : ""))
            }
        }
        return notes
    }

    /// Signal sources that, on SIGINT or SIGTERM, remove `folder` and end the process (status 130 or 143).
    static func removeOnSignal(_ folder: String, also others: [String] = []) -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { s in
            signal(s, SIG_IGN)   // delivered to the source instead
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler {
                // Renamed first, so the passes still running cannot create files in it while it goes
                // (their paths name the old one); if the removal is cut short, the name still reads as
                // a leftover of a dead process, which the next prepare removes.
                let doomed = folder + "0"
                let target = rename(folder, doomed) == 0 ? doomed : folder
                try? FileManager.default.removeItem(atPath: target)
                for p in others { try? FileManager.default.removeItem(atPath: p) }
                fputs("\ninterrupted: removed \(([folder] + others).joined(separator: ", "))\n", stderr)
                _exit(128 + s)
            }
            src.resume()
            return src
        }
    }

    /// What --force may replace: an empty folder, a prepared folder, or a folder of prepared folders (as
    /// several granularities write), holding nothing gasa prepare does not write; never one that holds an
    /// input or the working directory. Anything else is refused: --force is not a way to delete a user's files.
    public static func checkReplaceable(_ output: String, inputs: [String]) throws {
        let fm = FileManager.default
        guard isDirectory(output), !isSymbolicLink(output) else {
            throw CorpusError.badInput("\(output) exists and is a link or not a folder; --force only replaces prepared folders. Choose another --out")
        }
        let targets = [canonicalPath(output), lexicalPath(output)]
        func inside(_ p: String) -> Bool {
            [canonicalPath(p), lexicalPath(p)].contains { r in targets.contains { r == $0 || r.hasPrefix($0 + "/") } }
        }
        for i in inputs where inside(i) {
            throw CorpusError.badInput("\(output) holds the input \(i); --force would delete it. Choose another --out")
        }
        if inside(fm.currentDirectoryPath) {
            throw CorpusError.badInput("\(output) is the working directory or holds it; choose another --out")
        }
        guard let entries = try? fm.contentsOfDirectory(atPath: output) else {
            throw CorpusError.badInput("\(output): cannot list its contents, so --force cannot tell what it would delete. Choose another --out")
        }
        // A folder of prepared folders: each entry one of them, or one left by an interrupted prepare
        // (NAME.tmp-PID or NAME.old-PID, marked, holding only files prepare writes there).
        let isParent = !entries.isEmpty && entries.allSatisfy { e in
            let sub = output + "/" + e
            return isPreparedFolder(sub) || (leftoverBase(e) != nil && OwnedFolder.isMarked(sub, as: .prepared)
                && foreignEntry(in: sub, scratch: true) == nil)
        }
        guard entries.isEmpty || isPreparedFolder(output) || isParent else {
            let why: String
            if !OwnedFolder.isMarked(output, as: .prepared) && !entries.contains(where: { OwnedFolder.isMarked(output + "/" + $0, as: .prepared) }) {
                why = " (it has no \(OwnedFolder.markFile) mark of gasa prepare: not written by it, or by a gasa before marks; "
                    + "remove it yourself if it is to go)"
            } else if let f = foreignEntry(in: output, scratch: false) {
                why = " (it holds \(output)/\(f), which gasa prepare does not write)"
            } else {
                why = ""
            }
            throw CorpusError.badInput("\(output) exists and is not a prepared folder" + why
                                       + "; --force only replaces prepared folders. Choose another --out")
        }
    }

    /// Scratch files of the temporary folder prepare works in.
    static let scratchFiles = ["text.utf16", "tokens.bin"]

    /// Names gasa prepare writes in a prepared folder: manifest, vocabulary, report, shards
    /// (<split>-NNNNN.bin), and any of them being written atomically (NAME.tmp-PID).
    static func isPreparedEntry(_ name: String) -> Bool {
        if let base = leftoverBase(name, marks: [".tmp-"]) { return isPreparedEntry(base) }
        if [Manifest.fileName, "vocab.json", "report.json", OwnedFolder.markFile, OwnedFolder.leftoverFile].contains(name) { return true }
        guard name.hasSuffix(".bin"), let dash = name.lastIndex(of: "-") else { return false }
        let split = name[..<dash], number = name[name.index(after: dash)..<name.index(name.endIndex, offsetBy: -4)]
        return ["train", "val", "test"].contains(split) && !number.isEmpty && number.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// A real folder (not a link) with gasa prepare's mark, holding a manifest and nothing but files gasa
    /// prepare writes (a folder or link named like a shard is foreign too).
    static func isPreparedFolder(_ path: String) -> Bool {
        OwnedFolder.isMarked(path, as: .prepared) && OwnedFolder.entryKind(path + "/" + Manifest.fileName) == .file
            && foreignEntry(in: path, scratch: false) == nil
    }

    /// The first entry of a prepared folder (or, with `scratch`, of prepare's temporary folder) that is not
    /// a file gasa prepare writes there; nil when there is none.
    static func foreignEntry(in path: String, scratch: Bool) -> String? {
        OwnedFolder.firstForeign(in: path) { rel, kind in
            kind == .file && !rel.contains("/") && (isPreparedEntry(rel) || (scratch && scratchFiles.contains(rel)))
        }
    }

    /// Lays a split (`s.tokens` ids from `firstToken` of `tokens`) out as B streams of L targets and writes
    /// its minibatches into shard files, each file's minibatches in parallel pieces.
    private func writeShards(name: String, split s: SplitTokens, tokens: PositionalFile, firstToken: Int, tokenBytes tb: Int,
                             directory: String, train: Bool, threads: Int, commits: BackgroundWork) throws -> SplitInfo {
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

        precondition(tokens.count >= (firstToken + s.tokens) * tb, "token file size mismatch")
        let perShard = max(1, options.shardBytes / (B * (T + 1) * tb))
        var groups: [(first: Int, count: Int, steps: Int)] = []
        var k = 0
        while k < full { let c = min(perShard, full - k); groups.append((k, c, T)); k += c }
        if rest > 0 { groups.append((full, 1, rest)) }
        for (gi, g) in groups.enumerated() {
            let file = "\(name)-\(String(format: "%05d", gi)).bin"
            let w = try ShardWriter(path: directory + "/" + file, tokenBytes: tb, batch: B, steps: g.steps, count: g.count, first: g.first)
            // The file's minibatches in `pieces` contiguous ranges, one per thread; each reads a block of
            // every stream (one read per stream), gathers the rows, writes them at their place and
            // checksums them.
            let pieces = min(threads, g.count)
            let rowBytes = (g.steps + 1) * tb
            var crcs = [(crc: UInt32, bytes: Int)](repeating: (0, 0), count: pieces)
            var failure: Error? = nil
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: pieces) { p in
                let from = g.count * p / pieces, to = g.count * (p + 1) / pieces
                let perBlock = max(1, (1 << 20) / w.minibatchBytes)
                let streamBytes = ((perBlock - 1) * T + g.steps + 1) * tb    // one stream's span of a block
                let staged = UnsafeMutableRawPointer.allocate(byteCount: B * streamBytes, alignment: 16)
                let block = UnsafeMutableRawPointer.allocate(byteCount: perBlock * w.minibatchBytes, alignment: 16)
                defer { staged.deallocate(); block.deallocate() }
                var crc: UInt32 = 0, bytes = 0
                do {
                    var m = from
                    while m < to {
                        let n = min(perBlock, to - m)
                        let span = ((n - 1) * T + g.steps + 1) * tb
                        for b in 0..<B {
                            try tokens.read(into: UnsafeMutableRawBufferPointer(start: staged + b * streamBytes, count: span),
                                            at: (firstToken + b * L + (g.first + m) * T) * tb)
                        }
                        var o = 0
                        for k in 0..<n {
                            for b in 0..<B {
                                (block + o).copyMemory(from: staged + b * streamBytes + k * T * tb, byteCount: rowBytes)
                                o += rowBytes
                            }
                        }
                        let c = try w.write(UnsafeRawBufferPointer(start: block, count: o), minibatch: m)
                        crc = CRC32.combine(crc, c, lengthOfB: o)
                        bytes += o
                        m += n
                    }
                } catch {
                    lock.lock(); failure = failure ?? error; lock.unlock()
                }
                lock.lock(); crcs[p] = (crc, bytes); lock.unlock()
            }
            if let e = failure { throw e }
            let payloadCRC = crcs.reduce(UInt32(0)) { CRC32.combine($0, $1.crc, lengthOfB: $1.bytes) }
            let (h, size) = try w.finish(payloadCRC: payloadCRC)
            commits.run { try w.commit() }
            info.shards.append(ShardInfo(file: file, first: g.first, minibatches: g.count, steps: g.steps, bytes: size,
                                         crc32: hex32(h.payloadCRC)))
        }
        return info
    }
}

/// Work on a background thread (the commits of finished files, mostly waiting on the disk); `wait()`
/// waits for all of it and throws the first error.
final class BackgroundWork: @unchecked Sendable {
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var failure: Error?

    func run(_ work: @escaping () throws -> Void) {
        DispatchQueue.global().async(group: group) {
            do { try work() } catch {
                self.lock.lock(); if self.failure == nil { self.failure = error }; self.lock.unlock()
            }
        }
    }

    func wait() throws {
        group.wait()
        lock.lock(); defer { lock.unlock() }
        if let e = failure { throw e }
    }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}

/// Finds where splits may begin in the kept text: the first line start (or document start) at or
/// after a character index, as a UTF-16 offset.
struct SplitCutter {
    let text: UnsafeBufferPointer<UInt16>
    let index: [IndexEntry]
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

    private(set) var tokens = 0

    @inline(__always) mutating func single(_ c: UInt32, chars: Int) {
        tokens += 1
        if c < 0x10000 { bmp[Int(c)] += 1 } else { other[c, default: 0] += 1 }
    }
    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>) {
        tokens += 1
        multiCounts[Array(scalars), default: 0] += 1
    }

    func all() -> [[UInt32]: Int] {
        var d = multiCounts
        for c in 0..<0x10000 where bmp[c] > 0 { d[[UInt32(c)]] = bmp[c] }
        for (c, n) in other { d[[c]] = n }
        return d
    }

    func release() { bmp.deallocate() }
}

/// Where pass 1 was when a piece of the kept text began.
struct IndexEntry {
    var chars: Int      // characters before it
    var offset: Int     // UTF-16 offset
    var tokens: Int     // tokens before it
}

/// Token -> id, shared read-only by pass 2's jobs: a table for the BMP, the vocabulary for the rest.
struct IdTable: @unchecked Sendable {
    let vocab: Vocabulary
    let bmp: UnsafeMutablePointer<Int32>   // BMP scalar -> id (or -1)
    let unk: Int32

    init(vocab: Vocabulary) {
        self.vocab = vocab
        bmp = .allocate(capacity: 0x10000)
        for c in 0..<0x10000 { bmp[c] = vocab.id(single: UInt32(c)) ?? -1 }
        unk = Int32(vocab.unkID ?? -1)
    }

    @inline(__always) func id(single c: UInt32) -> Int32 {
        var id: Int32 = -1
        if c < 0x10000 { id = bmp[Int(c)] } else if let i = vocab.id(single: c) { id = i }
        return id >= 0 ? id : unk
    }

    func release() { bmp.deallocate() }
}

/// What one job wrote of one split: a run of its tokens, in text order.
struct SplitPart {
    var split: Int
    var tokens: Int
    var characters: Int
    var idCounts: [Int]
    var firstChars: Int      // characters the first token begins (-1: no token)
    var tail: [Int]          // characters begun by its last tokens (up to the ring size), oldest first
}

/// A whole split: its parts joined in text order.
struct SplitTokens {
    var tokens = 0
    var characters = 0
    var idCounts: [Int]
    var firstChars = 0
    var tail: [Int] = []     // characters begun by the split's last tokens, oldest first

    init(vocabSize: Int) { idCounts = [Int](repeating: 0, count: vocabSize) }

    mutating func append(_ p: SplitPart, ringSize: Int) {
        if tokens == 0 { firstChars = max(0, p.firstChars) }
        tokens += p.tokens
        characters += p.characters
        for i in idCounts.indices { idCounts[i] += p.idCounts[i] }
        tail = Array((tail + p.tail).suffix(ringSize))
    }

    /// Characters begun by the last n tokens (n below the ring size).
    func lastChars(_ n: Int) -> Int { tail.suffix(n).reduce(0, +) }
}

/// Pass 2's sink: ids into the token file from a given token onwards, with the counts of the current
/// split part. The counters live in the sink itself (the hot path touches nothing else).
struct IdWriter: TokenSink {
    let ids: IdTable
    let tokenBytes: Int
    let file: AtomicFile
    private var key: [UInt32] = []
    private var writeError: Error?
    private var fileOffset: Int          // byte offset of the buffer's first id
    // The current part.
    private var tokens = 0, characters = 0, firstChars = -1, ringPos = 0
    private let counts: UnsafeMutablePointer<Int>
    private let ring: UnsafeMutablePointer<Int>
    private let ringSize: Int
    private let buffer: UnsafeMutablePointer<UInt8>
    private var buffered = 0
    private let bufferSize = 1 << 20

    init(ids: IdTable, tokenBytes: Int, file: AtomicFile, firstToken: Int, ringSize: Int) {
        self.ids = ids
        self.tokenBytes = tokenBytes
        self.file = file
        fileOffset = firstToken * tokenBytes
        counts = .allocate(capacity: ids.vocab.count)
        counts.initialize(repeating: 0, count: ids.vocab.count)
        ring = .allocate(capacity: ringSize)
        ring.initialize(repeating: 0, count: ringSize)
        self.ringSize = ringSize
        buffer = .allocate(capacity: bufferSize + 8)
    }

    /// Writes out what is buffered and returns the part of `split` written since the last call.
    mutating func endPart(split: Int) throws -> SplitPart {
        try flush()
        let kept = min(tokens, ringSize)
        let tail = (0..<kept).map { ring[(ringPos - kept + $0 + ringSize) % ringSize] }
        let part = SplitPart(split: split, tokens: tokens, characters: characters,
                             idCounts: Array(UnsafeBufferPointer(start: counts, count: ids.vocab.count)),
                             firstChars: firstChars, tail: tail)
        tokens = 0; characters = 0; firstChars = -1; ringPos = 0
        counts.update(repeating: 0, count: ids.vocab.count)
        return part
    }

    private mutating func flush() throws {
        if let e = writeError { throw e }
        try file.write(UnsafeRawBufferPointer(start: buffer, count: buffered), at: fileOffset)
        fileOffset += buffered
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
            // A failed write is kept and thrown at the end of the part.
            do { try flush() } catch { writeError = error }
        }
    }

    @inline(__always) mutating func single(_ c: UInt32, chars: Int) { emit(ids.id(single: c), chars: chars) }

    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>) {
        key.removeAll(keepingCapacity: true)
        key.append(contentsOf: scalars)
        emit(ids.vocab.id(key) ?? ids.unk, chars: scalars.count)
    }

    func release() {
        counts.deallocate()
        ring.deallocate()
        buffer.deallocate()
    }
}

