// Reads input files as a stream of normalised, deduplicated text units (lines or documents) and hands
// runs of kept text, in order, to a callback, never holding more than a block of text in memory.
// It records where kept documents start (document mode) so that splits can cut between them.
// It does not segment or split.
import Common
import Foundation
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// What reading and cleaning the text changed, for the report.
public struct TextStats: Codable, Sendable, Equatable {
    public var files = 0
    public var bytes = 0                    // input bytes read
    public var lines = 0                    // lines of the decoded text
    public var decodedCharacters = 0        // scalars after decoding (BOM dropped, CR/CRLF -> LF)
    public var normalizedCharacters = 0     // scalars after normalisation
    public var linesChangedByNormalization = 0
    public var hangulCompatibilityLettersRewritten = 0   // compatibility/half-width jamo NFKC turned into other scalars
    public var replacements = 0             // U+FFFD substituted for invalid UTF-8 (--invalid replace)
    public var documents = 0
    public var dedupUnits = 0               // lines or documents considered for dedup
    public var dedupRemovedUnits = 0
    public var dedupRemovedCharacters = 0
    public var keptCharacters = 0           // characters that reach segmentation
}

struct TextScanner {
    let inputs: [String]
    let displayNames: [String: String]       // path -> name used in messages (e.g. "<stdin>")
    let text: TextOptions
    let splitBy: SplitBy
    let dedup: Dedup
    let documentSeparator: [UInt16]        // a line with exactly this content ends a document ([] = empty line)
    /// CRC-32 of all input bytes.
    private(set) var corpusCRC: UInt32 = 0
    /// Kept characters before each kept document (document mode only), ascending.
    private(set) var documentStarts: [Int] = []

    var documentMode: Bool { splitBy == .document || dedup == .documents }

    /// Reads every input; `run(text)` receives the kept text in order, in pieces that end at line ends.
    mutating func scan(progress: WorkProgress?, run: @escaping (UnsafeBufferPointer<UInt16>,
                                                                Int) throws -> Void) throws -> TextStats {
        var st = TextStats()
        st.files = inputs.count
        var state = ScanState(run: run)
        documentStarts = []
        let normalizer = try ICUNormalizer.of(text.normalization)
        // A reading thread decodes the files into blocks that end at a line end; this one normalises,
        // deduplicates and hands them on, so the two overlap.
        let reader = BlockReader(inputs: inputs, displayNames: displayNames, text: text, progress: progress)
        reader.start()
        defer { reader.stop() }
        var normalized: [UInt16] = []
        readLoop: while true {
            switch try reader.next() {
            case .block(var buffer):
                let block = UnsafeBufferPointer(start: buffer.units, count: buffer.count)
                let decoded = scalarCount(block)
                st.decodedCharacters += decoded
                if let nz = normalizer, try nz.normalize(block, into: &normalized) {
                    try normalized.withUnsafeBufferPointer { q in
                        countChanges(original: block, normalized: q, &st)
                        let chars = scalarCount(q)
                        st.normalizedCharacters += chars
                        try lines(q, chars: chars, &state, &st)
                    }
                } else {
                    st.normalizedCharacters += decoded
                    try lines(block, chars: decoded, &state, &st)
                }
                buffer.count = 0
                reader.recycle(buffer)
            case .endOfFile:
                try endDocument(&state, &st)      // a file always ends a document
            case .done(let bytes, let crc, let replacements):
                st.bytes = bytes
                st.replacements = replacements
                corpusCRC = crc
                break readLoop
            }
        }
        try state.flush()
        return st
    }

    /// Splits a block (ending in LF, `chars` scalars) into lines and feeds units.
    private mutating func lines(_ block: UnsafeBufferPointer<UInt16>, chars: Int, _ s: inout ScanState,
                                _ st: inout TextStats) throws {
        if !documentMode && dedup == .none {
            // Nothing to decide per line: hand the block over as it is, without copying.
            var lf = 0
            for u in block where u == 0x0A { lf += 1 }
            st.lines += lf
            try s.flush()
            try s.run(block, chars)
            st.keptCharacters += chars
            return
        }
        var start = 0
        for i in 0..<block.count where block[i] == 0x0A {
            let line = UnsafeBufferPointer(rebasing: block[start...i])
            start = i + 1
            st.lines += 1
            let content = UnsafeBufferPointer(rebasing: line.dropLast())
            let isSeparator = content.elementsEqual(documentSeparator)
            if !documentMode {
                try unit(line, candidate: !content.isEmpty, &s, &st)
                continue
            }
            if isSeparator {
                s.document.append(contentsOf: line)
                s.documentHasSeparator = true
                continue
            }
            if s.documentHasSeparator { try endDocument(&s, &st) }
            if dedup == .lines && !content.isEmpty {
                // lines deduplicated inside documents
                if !decideKeep(hash(content), &s, &st) {
                    st.dedupRemovedCharacters += scalarCount(line)
                    continue
                }
            }
            s.document.append(contentsOf: line)
            s.documentHash = mix(s.documentHash ^ hash(content))
            s.documentContentLines += 1
        }
    }

    private mutating func endDocument(_ s: inout ScanState, _ st: inout TextStats) throws {
        guard documentMode, !s.document.isEmpty else { return }
        // Separator lines before the first document form a block of their own: text, not a document.
        if s.documentContentLines > 0 { st.documents += 1 }
        let doc = s.document
        let candidate = dedup == .documents && s.documentContentLines > 0
        try doc.withUnsafeBufferPointer { try unit($0, candidate: candidate, hashValue: s.documentHash, &s, &st) }
        s.document.removeAll(keepingCapacity: true)
        s.documentHasSeparator = false
        s.documentHash = 0
        s.documentContentLines = 0
    }

    /// One unit (a line or a document): dedup decision, split assignment, then into the current run.
    private mutating func unit(_ u: UnsafeBufferPointer<UInt16>, candidate: Bool, hashValue: UInt64? = nil,
                               _ s: inout ScanState, _ st: inout TextStats) throws {
        let chars = scalarCount(u)
        let unitDedup = dedup == (documentMode ? .documents : .lines)
        if candidate && unitDedup {
            let h = hashValue ?? hash(UnsafeBufferPointer(rebasing: u.dropLast()))
            if !decideKeep(h, &s, &st) {
                st.dedupRemovedCharacters += chars
                return
            }
        }
        if documentMode { documentStarts.append(st.keptCharacters) }
        s.runText.append(contentsOf: u)
        s.runChars += chars
        st.keptCharacters += chars
        if s.runText.count >= 1 << 18 { try s.flush() }
    }

    /// Whether a dedup candidate is seen for the first time (kept).
    private func decideKeep(_ h: UInt64, _ s: inout ScanState, _ st: inout TextStats) -> Bool {
        st.dedupUnits += 1
        let kept = s.seen.insert(h).inserted
        if !kept { st.dedupRemovedUnits += 1 }
        return kept
    }

    private func countChanges(original: UnsafeBufferPointer<UInt16>, normalized: UnsafeBufferPointer<UInt16>,
                              _ st: inout TextStats) {
        // LF is never created or removed by normalisation, so lines correspond one to one.
        var a = 0, b = 0
        while a < original.count && b < normalized.count {
            var ae = a; while original[ae] != 0x0A { ae += 1 }
            var be = b; while normalized[be] != 0x0A { be += 1 }
            let x = UnsafeBufferPointer(rebasing: original[a..<ae]),
                y = UnsafeBufferPointer(rebasing: normalized[b..<be])
            if !x.elementsEqual(y) {
                st.linesChangedByNormalization += 1
                if text.normalization == .nfkc {
                    var compat = 0
                    forEachScalar(x) { if Hangul.isCompatibilityLetter($0) { compat += 1 } }
                    var left = 0
                    forEachScalar(y) { if Hangul.isCompatibilityLetter($0) { left += 1 } }
                    st.hangulCompatibilityLettersRewritten += compat - left
                }
            }
            a = ae + 1
            b = be + 1
        }
    }
}

/// The reading side of TextScanner.scan, on its own thread: reads each file, checksums it, decodes it
/// strictly and hands over blocks of decoded text that end at a line end, through a short queue.
private final class BlockReader: @unchecked Sendable {
    enum Item {
        case block(UnitBuffer)
        case endOfFile
        case done(bytes: Int, crc: UInt32, replacements: Int)
    }

    let inputs: [String]
    let displayNames: [String: String]
    let text: TextOptions
    let progress: WorkProgress?
    private let cond = NSCondition()
    private var queue: [Result<Item, Error>] = []   // guarded by cond
    private var spare: [UnitBuffer] = []             // guarded by cond: buffers the scanner is done with
    private var stopped = false                       // guarded by cond
    private var finished = false                      // guarded by cond: the thread has returned
    private let depth = 2

    init(inputs: [String], displayNames: [String: String], text: TextOptions, progress: WorkProgress?) {
        self.inputs = inputs
        self.displayNames = displayNames
        self.text = text
        self.progress = progress
    }

    func start() {
        Thread.detachNewThread { [self] in
            let r = Result { try readAll() }
            cond.lock()
            if case .failure(let e) = r { queue.append(.failure(e)) }
            finished = true
            cond.broadcast()
            cond.unlock()
        }
    }

    /// The next item; rethrows the reading thread's error.
    func next() throws -> Item {
        cond.lock()
        defer { cond.unlock() }
        while queue.isEmpty { cond.wait() }
        let item = queue.removeFirst()
        cond.broadcast()
        return try item.get()
    }

    /// Gives a block's buffer back for reuse.
    func recycle(_ b: UnitBuffer) {
        cond.lock()
        spare.append(b)
        cond.unlock()
    }

    /// Stops the thread (the scanner is done, or failed) and waits for it; frees the buffers.
    func stop() {
        cond.lock()
        stopped = true
        cond.broadcast()
        while !finished { cond.wait() }
        for item in queue { if case .success(.block(let b)) = item { b.free() } }
        for b in spare { b.free() }
        queue = []
        spare = []
        cond.unlock()
    }

    /// Queues an item, waiting while the queue is full; false once stopped.
    private func put(_ item: Item) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while queue.count >= depth && !stopped { cond.wait() }
        if stopped { return false }
        queue.append(.success(item))
        cond.broadcast()
        return true
    }

    private func buffer() -> UnitBuffer {
        cond.lock()
        defer { cond.unlock() }
        return spare.popLast() ?? UnitBuffer()
    }

    private func readAll() throws {
        var raw = [UInt8](repeating: 0, count: 1 << 20)
        var crc = CRC32()
        var bytes = 0, replacements = 0
        // Decoded text not yet handed over: the carried part of a line, then the newly decoded text
        // (the decoder writes straight into it).
        var pending = buffer()
        defer { pending.free() }
        for path in inputs {
            let name = displayNames[path] ?? path
            // prepare reads its inputs twice: a FIFO or device is refused (use '-' for a stream).
            let fd: Int32
            do { fd = try openRegularFile(path).fd } catch let e as FileError {
                throw CorpusError.badInput("\(name): " + e.message
                                           + (e.message.contains("FIFO") ? "; pipe it to '-' instead" : ""))
            }
            defer { close(fd) }
            var decoder = UTF8StreamDecoder(file: name, keepCR: text.keepCR, replace: text.invalid == .replace)
            var carried = 0              // undecoded bytes kept at the front of `raw`
            var eof = false
            while !eof {
                let n = raw.withUnsafeMutableBytes { read(fd, $0.baseAddress! + carried, $0.count - carried) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CorpusError.badInput("\(name): read failed (\(String(cString: strerror(errno))))")
                }
                eof = n == 0
                bytes += n
                raw.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[carried..<(carried + n)])) }
                progress?.advance(n)
                let avail = carried + n
                pending.reserve(avail + 2)
                let (used, written) = try raw.withUnsafeBufferPointer {
                    try decoder.decode($0.baseAddress!, avail, final: eof, to: pending.end)
                }
                pending.count += written
                carried = avail - used
                if carried > 0 {
                    raw.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: $0.baseAddress! + used, count: carried) }
                }
                if eof && pending.count > 0
                    && pending.units[pending.count - 1] != 0x0A { pending.append(0x0A) }   // a file always ends a line
                var end = pending.count
                while end > 0 && pending.units[end - 1] != 0x0A { end -= 1 }
                if end == 0 { continue }
                // Hand over the text up to the last line end; the rest starts the next buffer.
                var next = buffer()
                next.reserve(pending.count - end)
                next.end.update(from: pending.units + end, count: pending.count - end)
                next.count = pending.count - end
                pending.count = end
                let block = pending
                pending = next
                if !put(.block(block)) { block.free(); return }
            }
            replacements += decoder.replacements
            if !put(.endOfFile) { return }
        }
        _ = put(.done(bytes: bytes, crc: crc.value, replacements: replacements))
    }
}

/// A growable run of UTF-16 units in raw memory, so that the decoder can write into its spare room.
private struct UnitBuffer {
    private(set) var units = UnsafeMutablePointer<UInt16>.allocate(capacity: 1 << 16)
    private var capacity = 1 << 16
    var count = 0

    init() {}

    /// The spare room after the last unit.
    var end: UnsafeMutablePointer<UInt16> { units + count }

    /// Makes room for `n` more units.
    mutating func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        capacity = max(capacity * 2, count + n)
        let bigger = UnsafeMutablePointer<UInt16>.allocate(capacity: capacity)
        bigger.update(from: units, count: count)
        units.deallocate()
        units = bigger
    }

    mutating func append(_ u: UInt16) {
        reserve(1)
        units[count] = u
        count += 1
    }

    func free() { units.deallocate() }
}

private struct ScanState {
    let run: (UnsafeBufferPointer<UInt16>, Int) throws -> Void
    var runText: [UInt16] = []
    var runChars = 0
    var seen = Set<UInt64>()
    var document: [UInt16] = []
    var documentHasSeparator = false
    var documentHash: UInt64 = 0
    var documentContentLines = 0

    init(run: @escaping (UnsafeBufferPointer<UInt16>, Int) throws -> Void) { self.run = run }

    mutating func flush() throws {
        if runText.isEmpty { return }
        try runText.withUnsafeBufferPointer { try run($0, runChars) }
        runText.removeAll(keepingCapacity: true)
        runChars = 0
    }
}

/// 64-bit hash of UTF-16 text for exact-repeat detection (collisions are ~1e-9 likely at a million units).
@inline(__always) func hash(_ t: UnsafeBufferPointer<UInt16>) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(t.count)
    var i = 0
    let n = t.count
    let raw = UnsafeRawBufferPointer(t)
    while i + 4 <= n {
        h = mix(h ^ raw.loadUnaligned(fromByteOffset: i * 2, as: UInt64.self))
        i += 4
    }
    while i < n { h = mix(h ^ UInt64(t[i])); i += 1 }
    return h
}

/// splitmix64's finaliser.
@inline(__always) func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
