// Thin Swift face of system ICU (through the ICUShim C target): versions and error names.
import ICUShim

public enum ICU {
    /// ICU library version, e.g. "72.1".
    public static var version: String {
        var v: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &v) { gasa_icu_version($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        return "\(v.0).\(v.1)" + (v.2 != 0 ? ".\(v.2)" : "")
    }
    /// Unicode version of ICU's character data, e.g. "15.0".
    public static var unicodeVersion: String {
        var v: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &v) { gasa_unicode_version($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        return "\(v.0).\(v.1)" + (v.2 != 0 ? ".\(v.2)" : "")
    }
    static func errorName(_ e: Int32) -> String { String(cString: gasa_icu_error_name(e)) }
}
