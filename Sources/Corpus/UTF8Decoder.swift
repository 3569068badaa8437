// Strict, streaming UTF-8 to UTF-16 decoding with line and byte-offset tracking. A read boundary may
// fall anywhere, inside a character too: the caller keeps the unconsumed tail and passes it again.
// It also drops a leading BOM and turns CRLF and lone CR into LF (unless asked to keep them).
// It does not normalise or segment.

struct UTF8StreamDecoder {
    let file: String
    let keepCR: Bool
    let replace: Bool
    /// File byte offset of the next byte to decode.
    private(set) var offset = 0
    /// Line (from 1) of the next byte.
    private(set) var line = 1
    /// U+FFFD substitutions made (replace mode).
    private(set) var replacements = 0
    private var lastWasCR = false
    private var atStart = true

    init(file: String, keepCR: Bool, replace: Bool) {
        self.file = file
        self.keepCR = keepCR
        self.replace = replace
    }

    private func fail(_ at: Int, _ problem: String) -> CorpusError {
        .invalidText(file: file, line: line, byteOffset: at, problem: problem)
    }

    /// Decodes `p[0..<n]`, appending UTF-16 to `out`. Returns how many bytes were consumed: all of them,
    /// except an incomplete sequence at the end when `final` is false.
    mutating func decode(_ p: UnsafePointer<UInt8>, _ n: Int, final: Bool, into out: inout [UInt16]) throws -> Int {
        // Room for the worst case (one UTF-16 unit per byte), trimmed at the end.
        let base = out.count
        out.append(contentsOf: repeatElement(0, count: n + 1))
        var written = 0
        defer { out.removeLast(n + 1 - written) }
        return try out.withUnsafeMutableBufferPointer { buf -> Int in
            let r = try decode(p, n, final: final, to: buf.baseAddress! + base)
            written = r.written
            return r.consumed
        }
    }

    /// Decodes `p[0..<n]` into `o`, which has room for `n + 1` units (the worst case). Returns how many
    /// bytes were consumed (all, except an incomplete sequence at the end when `final` is false) and
    /// how many units were written.
    mutating func decode(_ p: UnsafePointer<UInt8>, _ n: Int, final: Bool,
                         to o: UnsafeMutablePointer<UInt16>) throws -> (consumed: Int, written: Int) {
        var i = 0
        if atStart {
            if n < 3 && !final { return (0, 0) }   // too short to tell whether a BOM starts the file
            atStart = false
            if n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)) {
                throw fail(0, "this is UTF-16 (byte order mark \(hex(p[0])) \(hex(p[1]))), not UTF-8; "
                           + "convert it first, e.g. iconv -f UTF-16 -t UTF-8")
            }
            if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3 }
        }
        // Loop state in locals (kept in registers), stored back on every exit.
        var w = 0, cr = lastWasCR, ln = line
        defer { lastWasCR = cr; line = ln }
        while i < n {
            let b0 = p[i]
            // Fast paths: printable ASCII runs, and three-byte characters (all of Hangul) that need no range check.
            if b0 >= 0x20 && b0 < 0x80 {
                o[w] = UInt16(b0); w += 1; i += 1
                cr = false
                while i < n, p[i] >= 0x20, p[i] < 0x80 { o[w] = UInt16(p[i]); w += 1; i += 1 }
                continue
            }
            if b0 >= 0xE1 && b0 <= 0xEC && i + 2 < n && p[i + 1] & 0xC0 == 0x80 && p[i + 2] & 0xC0 == 0x80 {
                o[w] = UInt16(b0 & 0x0F) << 12 | UInt16(p[i + 1] & 0x3F) << 6 | UInt16(p[i + 2] & 0x3F)
                w += 1; i += 3
                cr = false
                continue
            }
            if b0 < 0x80 {
                if b0 == 0x0A {
                    if cr { cr = false } else { o[w] = 0x0A; w += 1; ln += 1 }
                } else if b0 == 0x0D && !keepCR {
                    o[w] = 0x0A; w += 1
                    ln += 1
                    cr = true
                } else if b0 == 0 {
                    line = ln
                    throw fail(offset + i,
                               "NUL byte: this looks like a binary file or UTF-16 without a byte order mark, "
                               + "not UTF-8 text")
                } else {
                    o[w] = UInt16(b0); w += 1
                    cr = false
                }
                i += 1
                continue
            }
            cr = false
            line = ln
            // Well-formed sequences per the Unicode Standard, Table 3-7.
            let need: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch b0 {
            case 0xC2...0xDF: need = 2
            case 0xE0: need = 3; lo = 0xA0
            case 0xE1...0xEC, 0xEE, 0xEF: need = 3
            case 0xED: need = 3; hi = 0x9F   // excludes UTF-16 surrogates D800-DFFF
            case 0xF0: need = 4; lo = 0x90
            case 0xF1...0xF3: need = 4
            case 0xF4: need = 4; hi = 0x8F   // nothing above U+10FFFF
            default:
                let what: String
                switch b0 {
                case 0x80...0xBF: what = "continuation byte \(hex(b0)) without a lead byte"
                case 0xC0, 0xC1: what = "overlong encoding (lead byte \(hex(b0)))"
                default: what = "byte \(hex(b0)) never occurs in UTF-8"
                }
                try invalid(&i, 1, what, o, &w)
                continue
            }
            // How many bytes of the sequence are present and valid.
            var valid = 1
            while valid < need && i + valid < n {
                let b = p[i + valid]
                let ok = valid == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF)
                if !ok { break }
                valid += 1
            }
            if valid < need {
                if i + valid == n && !final {   // cut by the read boundary: wait for more bytes
                    offset += i
                    return (i, w)
                }
                let problem: String
                if i + valid == n {
                    problem = "file ends in the middle of a \(need)-byte character"
                } else if valid == 1 && (b0 == 0xE0 || b0 == 0xF0) && p[i + 1] >= 0x80 && p[i + 1] < lo {
                    problem = "overlong encoding"
                } else if valid == 1 && b0 == 0xED && p[i + 1] > 0x9F && p[i + 1] <= 0xBF {
                    problem = "encoded UTF-16 surrogate (not allowed in UTF-8)"
                } else if valid == 1 && b0 == 0xF4 && p[i + 1] > 0x8F && p[i + 1] <= 0xBF {
                    problem = "code point above U+10FFFF"
                } else {
                    problem = "truncated \(need)-byte character (byte \(hex(p[i + valid])) is not a continuation)"
                }
                try invalid(&i, valid, problem, o, &w)
                continue
            }
            switch need {
            case 2:
                o[w] = UInt16(b0 & 0x1F) << 6 | UInt16(p[i + 1] & 0x3F); w += 1
            case 3:
                o[w] = UInt16(b0 & 0x0F) << 12 | UInt16(p[i + 1] & 0x3F) << 6 | UInt16(p[i + 2] & 0x3F); w += 1
            default:
                let c = UInt32(b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12
                    | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F)
                let v = c - 0x10000
                o[w] = UInt16(0xD800 + (v >> 10)); o[w + 1] = UInt16(0xDC00 + (v & 0x3FF)); w += 2
            }
            i += need
        }
        offset += i
        return (i, w)
    }

    /// Either throws, or (replace mode) writes one U+FFFD for the maximal invalid subpart of `length` bytes.
    private mutating func invalid(_ i: inout Int, _ length: Int, _ problem: String,
                                  _ o: UnsafeMutablePointer<UInt16>, _ w: inout Int) throws {
        if !replace {
            throw fail(offset + i, "invalid UTF-8: " + problem + " (use --invalid replace to substitute U+FFFD)")
        }
        o[w] = 0xFFFD
        w += 1
        replacements += 1
        i += length
    }
}

private func hex(_ b: UInt8) -> String {
    let d = Array("0123456789ABCDEF")
    return "0x" + String(d[Int(b >> 4)]) + String(d[Int(b & 15)])
}
