// Pass 2 of gasa prepare: the kept text again, as ids into one raw token file (train, then val, then
// test), by parallel jobs that each start at an entry of pass 1's index, so that each knows where its
// ids go; with each split's counts (tokens, characters, ids) merged in text order. It does not lay the
// ids out into shards (ShardLayout.swift).
import Common
import Dispatch
import Foundation
import Storage

/// What pass 2 wrote: the token file and each split's counts.
struct IdPassResult {
    var tokenBytes: Int           // 2 (uint16) or 4 (uint32)
    var splits: [SplitTokens]     // train, val, test
}

enum IdPass {
    /// Writes the ids of the kept text (`units`, the scratch file of pass 1) to `tokensPath`; `bounds`
    /// are the UTF-16 offsets where the splits begin and end (4 values).
    static func run(units: UnsafeBufferPointer<UInt16>, text: MappedFile, scan: ScanResult, bounds: [Int],
                    vocab: Vocabulary, table: ScalarTokens?, options: PrepareOptions, threads: Int, tokensPath: String,
                    progress p2: WorkProgress?) throws -> IdPassResult {
        let tokenBytes = vocab.count <= 65536 ? 2 : 4
        let index = scan.index, totalTokens = scan.tokens
        let tokenFile = try AtomicFile(path: tokensPath)
        let ids = IdTable(vocab: vocab)
        defer { ids.release() }
        let scalarIds = table.map { ScalarIds(table: $0, ids: ids) }
        let jobs = IdPass.jobs(index: index, totalTokens: totalTokens, keptUnits: scan.keptUnits, threads: threads)
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
        for r in results {
            for part in try r.get() { splits[part.split].append(part, ringSize: options.batchSize + 1) }
        }
        let written = splits.reduce(0) { $0 + $1.tokens }
        guard written == totalTokens else {
            throw CorpusError.badInput("internal error: pass 2 wrote \(written) tokens where pass 1 counted "
                                       + "\(totalTokens); please report it")
        }
        try tokenFile.commit(durable: false)   // scratch: shards are written from it
        return IdPassResult(tokenBytes: tokenBytes, splits: splits)
    }

    /// The jobs' pieces of the kept text: starts at the index entries nearest to equal shares of the tokens.
    static func jobs(index: [IndexEntry], totalTokens: Int, keptUnits: Int, threads: Int) -> [(units: Range<Int>,
                                                                                               tokens: Int)] {
        var starts: [Int] = [0]
        for j in 1..<max(1, threads) {
            let target = totalTokens * j / threads
            var lo = 0, hi = index.count - 1
            while lo < hi { let m = (lo + hi + 1) / 2; if index[m].tokens <= target { lo = m } else { hi = m - 1 } }
            if lo > starts.last! { starts.append(lo) }
        }
        return starts.indices.map { j in
            let u0 = index[starts[j]].offset, u1 = j + 1 < starts.count ? index[starts[j + 1]].offset : keptUnits
            return (u0..<u1, index[starts[j]].tokens)
        }
    }
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

