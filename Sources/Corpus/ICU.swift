// Thin Swift face of system ICU (through the ICUShim C target): versions, normalisers, break iterators.
// It deals in UTF-16 buffers, ICU's native form; deciding what to normalise or segment is elsewhere.
import ICUShim

public enum ICU {
    /// ICU library version, e.g. "72.1".
    public static var version: String { versionString(gasa_icu_version) }
    /// Unicode version of ICU's character data, e.g. "15.0".
    public static var unicodeVersion: String { versionString(gasa_unicode_version) }

    private static func versionString(_ f: (UnsafeMutablePointer<UInt8>?) -> Void) -> String {
        var v: [UInt8] = [0, 0, 0, 0]
        f(&v)
        return "\(v[0]).\(v[1])" + (v[2] != 0 ? ".\(v[2])" : "")
    }

    static func errorName(_ e: Int32) -> String { String(cString: gasa_icu_error_name(e)) }
}

/// One of ICU's normalisers (owned by ICU for the life of the process).
final class ICUNormalizer {
    /// The composed forms gasa normalises to (the numbers are the shim's).
    enum Form: Int32, CaseIterable { case nfc = 0, nfkc = 1 }

    private let handle: UnsafeRawPointer
    private let form: Int32
    /// Per BMP code unit, filled on first sight: 1 = keeps any text normalised (quick check Yes and
    /// combining class 0), 2 = may not (surrogates included), 0 = not asked yet.
    private let stable: UnsafeMutablePointer<UInt8>

    /// The normaliser of `normalization` (nil for none).
    static func of(_ normalization: Normalization) throws -> ICUNormalizer? {
        switch normalization {
        case .nfc: return try ICUNormalizer(form: .nfc)
        case .nfkc: return try ICUNormalizer(form: .nfkc)
        case .none: return nil
        }
    }

    init(form f: Form) throws {
        let form = f.rawValue
        var err: Int32 = 0
        guard let h = gasa_normalizer(form, &err), err <= 0 else {
            throw CorpusError.icu("cannot load normalisation data (\(ICU.errorName(err)))")
        }
        handle = h
        self.form = form
        stable = .allocate(capacity: 0x10000)
        stable.initialize(repeating: 0, count: 0x10000)
    }
    deinit { stable.deallocate() }

    /// True when every unit of `src` is a BMP character that keeps any text normalised, which proves
    /// `src` normalised (UAX #15 quick check answering Yes) at a table lookup per unit; ASCII and
    /// precomposed Hangul syllables, nearly all of a Korean corpus, are decided without a lookup.
    private func surelyNormalized(_ src: UnsafeBufferPointer<UInt16>) -> Bool {
        for u in src {
            if u < 0x80 || u &- 0xAC00 < 11172 { continue }
            var f = stable[Int(u)]
            if f == 0 {
                f = isStable(u) ? 1 : 2
                stable[Int(u)] = f
            }
            if f != 1 { return false }
        }
        return true
    }

    /// Whether the BMP character `u` keeps any text normalised, asked of ICU.
    func isStable(_ u: UInt16) -> Bool { (u & 0xF800) != 0xD800 && gasa_stable_in_form(form, Int32(u)) != 0 }

    /// Normalises `src` into `out` (replaced). Returns false, leaving `out` untouched, when `src` is
    /// already normalised (the common case, which costs no copy).
    func normalize(_ src: UnsafeBufferPointer<UInt16>, into out: inout [UInt16]) throws -> Bool {
        if surelyNormalized(src) { return false }
        return try normalizeByICU(src, into: &out)
    }

    /// `normalize` without the shortcut: ICU's quick check, then ICU's normaliser.
    func normalizeByICU(_ src: UnsafeBufferPointer<UInt16>, into out: inout [UInt16]) throws -> Bool {
        var err: Int32 = 0
        let span = Int(gasa_span_quick_check_yes(handle, src.baseAddress, Int32(src.count), &err))
        if err > 0 { throw CorpusError.icu("normalisation quick check failed (\(ICU.errorName(err)))") }
        if span == src.count { return false }
        var capacity = src.count + src.count / 2 + 16
        while true {
            out = [UInt16](repeating: 0, count: capacity)
            err = 0
            let n = out.withUnsafeMutableBufferPointer {
                Int(gasa_normalize(handle, src.baseAddress, Int32(src.count), $0.baseAddress, Int32(capacity), &err))
            }
            if err == 15 /* U_BUFFER_OVERFLOW_ERROR */ { capacity = n + 16; continue }
            if err > 0 { throw CorpusError.icu("normalisation failed (\(ICU.errorName(err)))") }
            out.removeLast(capacity - n)
            return true
        }
    }
}

/// ICU break iterator (UAX #29 grapheme clusters or words) over one UTF-16 buffer.
final class ICUBreaks {
    enum Kind: Int32 { case grapheme = 0, word = 1 }
    private let handle: UnsafeMutableRawPointer

    /// `text` must stay alive and unchanged while the iterator is used.
    init(_ kind: Kind, text: UnsafeBufferPointer<UInt16>) throws {
        var err: Int32 = 0
        guard let h = gasa_break_open(kind.rawValue, "", text.baseAddress, Int32(text.count), &err), err <= 0 else {
            throw CorpusError.icu("cannot open the \(kind) break iterator (\(ICU.errorName(err)))")
        }
        handle = h
    }
    deinit { gasa_break_close(handle) }

    /// The next boundary (UTF-16 offset), or nil at the end.
    func next() -> Int? {
        let r = gasa_break_next(handle)
        return r < 0 ? nil : Int(r)
    }
}
