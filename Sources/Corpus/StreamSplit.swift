// --split-by stream: char-rnn's own split (its CharSplitLMMinibatchLoader), so that published char-rnn
// numbers can be reproduced. The whole token stream is cut into B rows of R tokens (R a multiple of T,
// the tail that does not fill a minibatch dropped), each row into minibatch-wide columns, and the
// columns shared out in order: the first ones of every row are train, the next val, the last test. So
// val is the end of each of the B rows, not a contiguous tail: on repetitive text (lyrics repeat whole
// lines) it is full of lines train has seen, which is why --split-by document with --dedup is the
// honest choice. Every target's characters are counted by segmenting the kept text once more.
import Foundation
import Storage

enum StreamSplit {
    struct Plan {
        let batch: Int            // B rows
        let steps: Int            // T
        let rowLength: Int        // R: inputs per row
        let chunks: [Int]         // minibatches of train, val, test
        let firstChunk: [Int]     // where each split starts in a row, in minibatches

        /// Token index of row b's first input of `split`.
        func start(_ split: Int, row b: Int) -> Int { b * rowLength + firstChunk[split] * steps }
        /// Targets per row of `split`.
        func length(_ split: Int) -> Int { chunks[split] * steps }
    }

    static func plan(tokens n: Int, options: PrepareOptions) throws -> Plan {
        let B = options.batchSize, T = options.seqLength
        let total = (n - 1) / (B * T)   // minibatches of a row; every input needs the token after it as target
        guard total >= 1 else {
            throw CorpusError.badInput("--split-by stream needs at least batch size x sequence length + 1 = \(B * T + 1) "
                                       + "tokens; the text has \(n). Lower --batch-size or --seq-length")
        }
        let f = options.splitFractions
        let train = Int((Double(total) * f[0]).rounded(.down)), test = Int((Double(total) * f[2]).rounded(.down))
        guard train >= 1 else {
            throw CorpusError.badInput("--split-by stream: the train share of \(total) minibatches per row is none; "
                                       + "raise the train share of --split or lower --batch-size or --seq-length")
        }
        let chunks = [train, total - train - test, test]
        return Plan(batch: B, steps: T, rowLength: total * T, chunks: chunks, firstChunk: [0, chunks[0], chunks[0] + chunks[1]])
    }

    /// Characters begun by every split's targets (split, then row), from the kept text segmented again.
    static func targetCharacters(units: UnsafeBufferPointer<UInt16>, plan: Plan, granularity: Granularity) throws -> [[Int]] {
        // The running character count at each token index where a split's targets begin or end.
        var wanted = Set<Int>()
        for s in 0..<3 {
            for b in 0..<plan.batch { wanted.insert(plan.start(s, row: b) + 1); wanted.insert(plan.start(s, row: b) + 1 + plan.length(s)) }
        }
        var sink = CharactersAt(wanted: wanted.sorted())
        var seg = Segmenter(granularity)
        var start = 0
        while start < units.count && !sink.done {
            var end = min(start + (1 << 20), units.count)
            while end < units.count && units[end - 1] != 0x0A { end += 1 }
            try seg.segment(UnsafeBufferPointer(rebasing: units[start..<end]), into: &sink)
            start = end
        }
        sink.finish()
        return (0..<3).map { s in
            (0..<plan.batch).map { b in
                let from = plan.start(s, row: b) + 1
                return sink.found[from + plan.length(s)]! - sink.found[from]!
            }
        }
    }

    /// Writes the three splits' shards; returns their SplitInfo and, for the report, their counts (tokens
    /// and characters of the targets, and how often each id is a target).
    static func write(_ plan: Plan, characters: [[Int]], tokens: PositionalFile, tokenBytes tb: Int, vocabSize: Int,
                      options: PrepareOptions, directory: String, threads: Int,
                      commits: BackgroundWork) throws -> (infos: [SplitInfo], counts: [SplitTokens]) {
        var infos: [SplitInfo] = [], counts: [SplitTokens] = []
        for (s, name) in SplitName.allCases.enumerated() {
            let L = plan.length(s), B = plan.batch
            var c = SplitTokens(vocabSize: vocabSize)
            c.tokens = B * L
            c.characters = characters[s].reduce(0, +)
            try countTargets(plan, split: s, tokens: tokens, tokenBytes: tb, into: &c.idCounts)
            counts.append(c)
            let info = SplitInfo(name: name, tokens: c.tokens, characters: c.characters, batchSize: 0, streamLength: 0,
                                 minibatches: 0, servedTargets: 0, targetCharacters: c.characters, droppedTokens: 0,
                                 shards: [])
            guard L > 0 else { infos.append(info); continue }
            let rows = ShardLayout.Rows(batch: B, length: L) { plan.start(s, row: $0) }
            infos.append(try ShardLayout.write(rows, info: info, tokens: tokens, tokenBytes: tb, options: options,
                                               directory: directory, threads: threads, commits: commits))
        }
        return (infos, counts)
    }

    /// How often each id is one of `split`'s targets.
    private static func countTargets(_ plan: Plan, split s: Int, tokens: PositionalFile, tokenBytes tb: Int,
                                     into counts: inout [Int]) throws {
        let block = 1 << 18
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block * tb, alignment: 8)
        defer { buffer.deallocate() }
        for b in 0..<plan.batch {
            var i = plan.start(s, row: b) + 1, left = plan.length(s)
            while left > 0 {
                let n = min(block, left)
                try tokens.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(n * tb)]), at: i * tb)
                for k in 0..<n {
                    let id = tb == 2 ? Int(buffer.load(fromByteOffset: 2 * k, as: UInt16.self).littleEndian)
                                     : Int(buffer.load(fromByteOffset: 4 * k, as: UInt32.self).littleEndian)
                    counts[id] += 1
                }
                i += n
                left -= n
            }
        }
    }
}

/// A sink that only counts: the characters begun before each wanted token index.
private struct CharactersAt: TokenSink {
    let wanted: [Int]
    private(set) var found: [Int: Int] = [:]
    private var next = 0, index = 0, characters = 0
    var done: Bool { next == wanted.count }

    init(wanted: [Int]) { self.wanted = wanted }

    private mutating func token(_ chars: Int) {
        while next < wanted.count && wanted[next] == index { found[index] = characters; next += 1 }
        characters += chars
        index += 1
    }

    mutating func single(_ scalar: UInt32, chars: Int) { token(chars) }
    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>) { token(scalars.count) }

    /// Indices at the very end (after the last token).
    mutating func finish() { while next < wanted.count && wanted[next] == index { found[index] = characters; next += 1 } }
}
