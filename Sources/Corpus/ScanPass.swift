// Pass 1 of gasa prepare: decode, normalise and dedup the inputs (TextScanner), count every token, and
// keep the kept text in a scratch UTF-16 file (memory-mapped by pass 2) with a sparse index of where
// pass 2's parallel jobs may start. It does not build the vocabulary or write ids.
import Common
import Foundation
import Storage

/// What pass 1 learnt of the corpus.
struct ScanResult {
    var stats: TextStats
    var counts: [[UInt32]: Int]     // occurrences of every token (its scalars)
    var tokens: Int                 // tokens in all
    var keptCharacters: Int
    var keptUnits: Int              // UTF-16 units of the kept text in the scratch file
    var index: [IndexEntry]         // about every `pieceUnits` units, at line ends
    var corpusCRC: UInt32
    var documentStarts: [Int]       // kept characters before each kept document (document mode)
}

/// Where pass 1 was when a piece of the kept text began.
struct IndexEntry {
    var chars: Int      // characters before it
    var offset: Int     // UTF-16 offset
    var tokens: Int     // tokens before it
}

enum ScanPass {
    /// Runs pass 1 over `inputs`, writing the kept text to `textPath`. With `table` (char, jamo and
    /// coda; ScalarTokens.swift) tokens are counted by one lookup per scalar instead of the Segmenter.
    static func run(inputs: [String], displayNames: [String: String], options: PrepareOptions, table: ScalarTokens?,
                    textPath: String, progress: WorkProgress?) throws -> ScanResult {
        var scanner = TextScanner(inputs: inputs, displayNames: displayNames, text: options.text,
                                  splitBy: options.splitBy, dedup: options.dedup,
                                  documentSeparator: Array(options.documentSeparator.utf16))
        var segmenter = Segmenter(options.granularity)
        var counter = CountSink()
        defer { counter.release() }
        var scalarCounter = table.map { ScalarCounter($0) }
        defer { scalarCounter?.release() }
        let textFile = try AtomicFile(path: textPath)
        var index: [IndexEntry] = []
        var keptChars = 0, keptUnits = 0
        let pieceUnits = max(1, options.pieceUnits)
        let stats = try scanner.scan(progress: progress) { text, chars in
            var start = 0
            while start < text.count {
                var end = min(start + pieceUnits, text.count)
                while end < text.count && text[end - 1] != 0x0A { end += 1 }
                let piece = UnsafeBufferPointer(rebasing: text[start..<end])
                index.append(IndexEntry(chars: keptChars, offset: keptUnits,
                                        tokens: scalarCounter?.tokens ?? counter.tokens))
                if scalarCounter != nil { scalarCounter!.count(piece) } else {
                    try segmenter.segment(piece, into: &counter)
                }
                keptChars += start == 0 && end == text.count ? chars : scalarCount(piece)
                keptUnits += piece.count
                start = end
            }
            try textFile.write(UnsafeRawBufferPointer(text))
        }
        try textFile.commit(durable: false)   // scratch: removed before the output is committed
        progress?.finish()
        return ScanResult(stats: stats, counts: scalarCounter?.all() ?? counter.all(),
                          tokens: scalarCounter?.tokens ?? counter.tokens, keptCharacters: keptChars,
                              keptUnits: keptUnits,
                          index: index, corpusCRC: scanner.corpusCRC, documentStarts: scanner.documentStarts)
    }
}

/// Pass 1's sink: counts of every token. One-scalar tokens of the Basic Multilingual Plane count in a
/// flat table behind a pointer (no copy-on-write check per token).
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
