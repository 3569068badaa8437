// Plain-text tables for the terminal: columns padded to their widest cell in terminal columns, where
// East Asian wide characters (Hangul syllables and jamo, CJK) take two and combining marks none, so a
// table of Korean run names or tokens lines up.
public enum TextTable {
    /// Left-aligned rows (the first is the header), columns separated by two spaces, no trailing spaces.
    public static func render(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], width(c)) } }
        return rows.map { r in
            r.enumerated().map { i, c in
                i == r.count - 1 || i >= widths.count ? c : c + String(repeating: " ", count: widths[i] - width(c))
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Terminal columns of a string.
    public static func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { w, u in
            let v = u.value
            let wide = (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
                || (0xF900...0xFAFF).contains(v) || (0xFF00...0xFF60).contains(v) || (0x1F300...0x1FAFF).contains(v)
            let zero = (0x1160...0x11FF).contains(v) || (0x0300...0x036F).contains(v) || v == 0x200D
                || (0xFE00...0xFE0F).contains(v)
            return w + (zero ? 0 : (wide ? 2 : 1))
        }
    }
}
