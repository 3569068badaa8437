// Segmentation of normalised UTF-16 text into tokens at one granularity. Tokens go to a sink, with the
// number of characters (scalars of the normalised text) each token begins, so that losses can be
// reported per original character whatever the granularity. It does not assign ids.

/// Receives tokens in text order.
protocol TokenSink {
    /// A token of exactly one scalar, beginning `chars` characters (0 for the V and T of a decomposed syllable).
    mutating func single(_ scalar: UInt32, chars: Int)
    /// A token of two or more scalars (a grapheme cluster or a word), covering scalars.count characters.
    mutating func multi(_ scalars: UnsafeBufferPointer<UInt32>)
}

struct Segmenter {
    let granularity: Granularity
    private var scratch: [UInt32] = []

    init(_ granularity: Granularity) { self.granularity = granularity }

    mutating func segment<S: TokenSink>(_ text: UnsafeBufferPointer<UInt16>, into sink: inout S) throws {
        switch granularity {
        // Plain loops rather than closures: this is the hot path of prepare.
        case .char:
            var i = 0
            while i < text.count { sink.single(nextScalar(text, &i), chars: 1) }
        case .jamo:
            var i = 0
            while i < text.count {
                let c = nextScalar(text, &i)
                if Hangul.isSyllable(c) {
                    let (l, v, t) = Hangul.decompose(c)
                    sink.single(l, chars: 1)
                    sink.single(v, chars: 0)
                    if t != 0 { sink.single(t, chars: 0) }
                } else {
                    sink.single(c, chars: 1)
                }
            }
        case .coda:
            var i = 0
            while i < text.count {
                let c = nextScalar(text, &i)
                let t = (c &- Hangul.sBase) % Hangul.tCount
                if Hangul.isSyllable(c) && t != 0 {
                    sink.single(c - t, chars: 1)
                    sink.single(Hangul.tBase + t, chars: 0)
                } else {
                    sink.single(c, chars: 1)
                }
            }
        case .grapheme, .word:
            if text.isEmpty { return }
            let breaks = try ICUBreaks(granularity == .word ? .word : .grapheme, text: text)
            var start = 0
            while let end = breaks.next() {
                scratch.removeAll(keepingCapacity: true)
                forEachScalar(UnsafeBufferPointer(rebasing: text[start..<end])) { scratch.append($0) }
                if scratch.count == 1 {
                    sink.single(scratch[0], chars: 1)
                } else if !scratch.isEmpty {
                    scratch.withUnsafeBufferPointer { sink.multi($0) }
                }
                start = end
            }
        }
    }
}

/// The scalar at text[i] (well-formed UTF-16), advancing i past it.
@inline(__always)
func nextScalar(_ text: UnsafeBufferPointer<UInt16>, _ i: inout Int) -> UInt32 {
    let u = UInt32(text[i])
    if u & 0xFC00 == 0xD800 && i + 1 < text.count {
        let c = 0x10000 + ((u - 0xD800) << 10) + (UInt32(text[i + 1]) - 0xDC00)
        i += 2
        return c
    }
    i += 1
    return u
}

/// Calls `body` with each scalar of well-formed UTF-16.
@inline(__always)
func forEachScalar(_ text: UnsafeBufferPointer<UInt16>, _ body: (UInt32) -> Void) {
    var i = 0
    let n = text.count
    while i < n {
        let u = UInt32(text[i])
        if u & 0xFC00 == 0xD800 && i + 1 < n {
            body(0x10000 + ((u - 0xD800) << 10) + (UInt32(text[i + 1]) - 0xDC00))
            i += 2
        } else {
            body(u)
            i += 1
        }
    }
}

/// Number of scalars in well-formed UTF-16.
@inline(__always)
func scalarCount(_ text: UnsafeBufferPointer<UInt16>) -> Int {
    var lows = 0
    for u in text where u & 0xFC00 == 0xDC00 { lows += 1 }
    return text.count - lows
}

/// UTF-16 of a scalar sequence.
func utf16(_ scalars: [UInt32]) -> [UInt16] {
    var out: [UInt16] = []
    out.reserveCapacity(scalars.count)
    for c in scalars {
        if c >= 0x10000 {
            let v = c - 0x10000
            out.append(UInt16(0xD800 + (v >> 10)))
            out.append(UInt16(0xDC00 + (v & 0x3FF)))
        } else {
            out.append(UInt16(c))
        }
    }
    return out
}
