// Where the train/val/test splits begin in the kept text: at the first line start (or, splitting by
// document, the first document start) at or after a share of the characters.
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
