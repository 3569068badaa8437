// prepare's fast path for the granularities whose tokens depend on each scalar alone (char, jamo, coda).
// The Segmenter is run once on every BMP scalar by itself and its tokens are kept in tables, so that the
// two passes over the corpus look tokens up per UTF-16 unit instead of segmenting: pass 1 counts scalars
// (a histogram, expanded into token counts at the end), pass 2 copies each scalar's ids. Scalars outside
// the BMP (rare: emoji, historic scripts) are segmented as they come. Grapheme and word, whose tokens
// span scalars, go through the Segmenter and its sinks.
import Storage

/// The tokens of every BMP scalar at a scalar-wise granularity.
final class ScalarTokens: @unchecked Sendable {
    static let maxTokens = 3
    let granularity: Granularity
    /// Per UTF-16 unit: how many tokens the scalar makes (0 for surrogate code units).
    let count: UnsafeMutablePointer<UInt8>
    /// Per UTF-16 unit: its tokens' scalars, `maxTokens` slots each.
    let tokens: UnsafeMutablePointer<UInt32>

    /// nil when `granularity` is not scalar-wise, or when some scalar's tokens do not have the shape the
    /// tables hold (1 to 3 one-scalar tokens, only the first beginning a character): the Segmenter then
    /// does the work.
    init?(_ granularity: Granularity) {
        guard granularity.singleScalar else { return nil }
        self.granularity = granularity
        count = .allocate(capacity: 0x10000)
        count.initialize(repeating: 0, count: 0x10000)
        tokens = .allocate(capacity: 0x10000 * Self.maxTokens)
        tokens.initialize(repeating: 0, count: 0x10000 * Self.maxTokens)
        var seg = Segmenter(granularity)
        var sink = ScalarSink()
        var ok = true
        for u in 0..<0x10000 where u & 0xF800 != 0xD800 {
            guard Self.segment(UInt32(u), &seg, &sink) else { ok = false; break }
            count[u] = UInt8(sink.n)
            for k in 0..<sink.n { tokens[u * Self.maxTokens + k] = sink.scalars[k] }
        }
        if !ok {
            count.deallocate()
            tokens.deallocate()
            return nil
        }
    }

    deinit {
        count.deallocate()
        tokens.deallocate()
    }

    /// Tokens of any scalar (outside the BMP: segmented now).
    func tokens(of c: UInt32) -> [UInt32] {
        if c < 0x10000 { return (0..<Int(count[Int(c)])).map { tokens[Int(c) * Self.maxTokens + $0] } }
        var seg = Segmenter(granularity)
        var sink = ScalarSink()
        if Self.segment(c, &seg, &sink) { return Array(sink.scalars[0..<sink.n]) }
        return [c]   // not reached for char, jamo and coda (checked for the BMP in init)
    }

    /// Segments one scalar alone; false when its tokens do not fit the tables.
    private static func segment(_ c: UInt32, _ seg: inout Segmenter, _ sink: inout ScalarSink) -> Bool {
        sink.reset()
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 2) { buf in
            let n: Int
            if c < 0x10000 {
                buf[0] = UInt16(c)
                n = 1
            } else {
                buf[0] = UInt16(0xD800 + ((c - 0x10000) >> 10))
                buf[1] = UInt16(0xDC00 + ((c - 0x10000) & 0x3FF))
                n = 2
            }
            do { try seg.segment(UnsafeBufferPointer(rebasing: buf[0..<n]), into: &sink) } catch { sink.fits = false }
        }
        return sink.fits
    }
}

/// Records the tokens of one scalar and whether they fit ScalarTokens' tables.
private struct ScalarSink: TokenSink {
    var scalars = [UInt32](repeating: 0, count: ScalarTokens.maxTokens)
    var n = 0
    var fits = true
    mutating func reset() { n = 0; fits = true }
    mutating func single(_ scalar: UInt32, chars: Int) {
        guard n < ScalarTokens.maxTokens, chars == (n == 0 ? 1 : 0) else { fits = false; return }
        scalars[n] = scalar
        n += 1
    }
    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>) { fits = false }
}

/// Pass 1 at a scalar-wise granularity: a histogram of scalars and the running number of tokens.
struct ScalarCounter {
    let table: ScalarTokens
    private let bmp: UnsafeMutablePointer<Int>
    private var other: [UInt32: Int] = [:]
    private(set) var tokens = 0

    init(_ table: ScalarTokens) {
        self.table = table
        bmp = .allocate(capacity: 0x10000)
        bmp.initialize(repeating: 0, count: 0x10000)
    }

    mutating func count(_ text: UnsafeBufferPointer<UInt16>) {
        var t = tokens, i = 0
        let n = text.count, perUnit = table.count
        while i < n {
            let u = Int(text[i])
            if u & 0xF800 != 0xD800 {
                bmp[u] += 1
                t += Int(perUnit[u])
                i += 1
            } else {
                let c = nextScalar(text, &i)
                other[c, default: 0] += 1
                t += table.tokens(of: c).count
            }
        }
        tokens = t
    }

    /// Token counts.
    func all() -> [[UInt32]: Int] {
        var d: [[UInt32]: Int] = [:]
        for u in 0..<0x10000 where bmp[u] > 0 {
            for t in table.tokens(of: UInt32(u)) { d[[t], default: 0] += bmp[u] }
        }
        for (c, n) in other { for t in table.tokens(of: c) { d[[t], default: 0] += n } }
        return d
    }

    func release() { bmp.deallocate() }
}

/// Pass 2 at a scalar-wise granularity: every BMP scalar's ids (up to three, in the token file's width),
/// shared read-only by the jobs.
final class ScalarIds: @unchecked Sendable {
    let table: ScalarTokens
    let ids: IdTable
    /// Per UTF-16 unit: its ids in four 16-bit slots (copied as one 8-byte store) when ids fit 16 bits.
    let ids16: UnsafeMutablePointer<UInt64>
    /// Per UTF-16 unit: its ids, `maxTokens` slots each.
    let ids32: UnsafeMutablePointer<Int32>

    init(table: ScalarTokens, ids: IdTable) {
        self.table = table
        self.ids = ids
        ids16 = .allocate(capacity: 0x10000)
        ids32 = .allocate(capacity: 0x10000 * ScalarTokens.maxTokens)
        for u in 0..<0x10000 {
            var packed: UInt64 = 0
            for k in 0..<ScalarTokens.maxTokens {
                let id = k < Int(table.count[u]) ? ids.id(single: table.tokens[u * ScalarTokens.maxTokens + k]) : 0
                ids32[u * ScalarTokens.maxTokens + k] = id
                packed |= UInt64(UInt16(truncatingIfNeeded: id)) << (16 * k)
            }
            ids16[u] = packed
        }
    }

    deinit {
        ids16.deallocate()
        ids32.deallocate()
    }

    /// Writes the ids of `text` (a whole part of one split, starting at a line start) at `fileOffset` of
    /// the token file and returns the part.
    /// `done(units)` is told each block of the text that has been read.
    func write(_ text: UnsafeBufferPointer<UInt16>, split: Int, tokenBytes: Int, file: AtomicFile,
               fileOffset: inout Int, ringSize: Int, done: (Range<Int>) -> Void) throws -> SplitPart {
        let block = 1 << 18                       // units per block: at most three ids each
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: (block + 2) * ScalarTokens.maxTokens * tokenBytes + 8,
                                                      alignment: 8)
        defer { buffer.deallocate() }
        let hist = UnsafeMutablePointer<Int>.allocate(capacity: 0x10000)   // the part's BMP scalars
        hist.initialize(repeating: 0, count: 0x10000)
        defer { hist.deallocate() }
        var idCounts = [Int](repeating: 0, count: ids.vocab.count)
        var tokens = 0, characters = 0
        var start = 0
        while start < text.count {
            var end = min(start + block, text.count)
            if end < text.count && text[end - 1] & 0xFC00 == 0xD800 { end += 1 }   // keep a surrogate pair whole
            var w = 0, chars = 0, i = start
            if tokenBytes == 2 {
                while i < end {
                    let u = Int(text[i])
                    if u & 0xF800 != 0xD800 {
                        (buffer + w).storeBytes(of: ids16[u].littleEndian, as: UInt64.self)
                        w += 2 * Int(table.count[u])
                        hist[u] += 1
                        i += 1
                    } else {
                        let c = nextScalar(UnsafeBufferPointer(rebasing: text[..<end]), &i)
                        for t in table.tokens(of: c) {
                            let id = ids.id(single: t)
                            (buffer + w).storeBytes(of: UInt16(truncatingIfNeeded: id).littleEndian, as: UInt16.self)
                            w += 2
                            idCounts[Int(id)] += 1
                        }
                    }
                    chars += 1
                }
            } else {
                while i < end {
                    let c = nextScalar(UnsafeBufferPointer(rebasing: text[..<end]), &i)
                    if c < 0x10000 {
                        let u = Int(c)
                        for k in 0..<Int(table.count[u]) {
                            (buffer + w).storeBytes(of: UInt32(ids32[u * ScalarTokens.maxTokens + k]).littleEndian,
                                                    as: UInt32.self)
                            w += 4
                        }
                        hist[u] += 1
                    } else {
                        for t in table.tokens(of: c) {
                            let id = ids.id(single: t)
                            (buffer + w).storeBytes(of: UInt32(id).littleEndian, as: UInt32.self)
                            w += 4
                            idCounts[Int(id)] += 1
                        }
                    }
                    chars += 1
                }
            }
            try file.write(UnsafeRawBufferPointer(start: buffer, count: w), at: fileOffset)
            fileOffset += w
            tokens += w / tokenBytes
            characters += chars
            done(start..<end)
            start = end
        }
        for u in 0..<0x10000 where hist[u] != 0 {
            for k in 0..<Int(table.count[u]) { idCounts[Int(ids32[u * ScalarTokens.maxTokens + k])] += hist[u] }
        }
        // Characters begun by the last tokens: each scalar's first token begins one, its others none.
        var tail: [Int] = []
        var i = text.count
        while i > 0 && tail.count < ringSize {
            var j = i - 1
            if j > 0 && text[j] & 0xFC00 == 0xDC00 && text[j - 1] & 0xFC00 == 0xD800 { j -= 1 }
            var k = j
            let n = table.tokens(of: nextScalar(text, &k)).count
            tail.insert(contentsOf: [1] + [Int](repeating: 0, count: n - 1), at: 0)
            i = j
        }
        return SplitPart(split: split, tokens: tokens, characters: characters, idCounts: idCounts,
                         firstChars: tokens > 0 ? 1 : -1, tail: Array(tail.suffix(ringSize)))
    }
}
