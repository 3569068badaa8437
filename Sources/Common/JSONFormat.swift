// JSON as gasa writes and reads it (vocabularies, manifests, reports, checkpoint metadata), one
// summary of what is wrong with a file that does not decode, and the hex form of CRC-32 checksums
// those files record.
import Foundation

/// snake_case keys, sorted, pretty, non-ASCII left readable.
public func gasaJSONEncoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.keyEncodingStrategy = .convertToSnakeCase
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return e
}

public func gasaJSONDecoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.keyDecodingStrategy = .convertFromSnakeCase
    return d
}

/// What a decoding error says about the file, in a few words with the path of the field
/// ("missing key \"vocab_file\" (truncated or not written by this gasa)", "wrong type at batchSize").
public func describeJSONError(_ error: Error) -> String {
    func path(_ keys: [CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }
    switch error {
    case DecodingError.keyNotFound(let k, let c):
        return "missing key \"\(path(c.codingPath + [k]))\" (truncated or not written by this gasa)"
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
        return "wrong type at \(path(c.codingPath))"
    case DecodingError.dataCorrupted(let c):
        return c.codingPath.isEmpty ? "malformed JSON (truncated or corrupt)" : "bad value at \(path(c.codingPath))"
    default: return "\(error)"
    }
}

/// The "format" and "version" fields every gasa JSON file starts with, read before the rest so that a
/// file of another kind or a newer version is named as such, not as the first field this one lacks.
public struct FormatHeader: Decodable {
    public var format: String?
    public var version: Int?

    /// nil when `bytes` is (as far as its header says) a `format` file of version 1, else what is wrong.
    public static func problem(_ bytes: [UInt8], expected format: String) -> String? {
        guard let h = try? gasaJSONDecoder().decode(FormatHeader.self, from: Data(bytes)) else { return nil }
        if let f = h.format, f != format { return "format is \"\(f)\", expected \"\(format)\"" }
        if let v = h.version, v != 1 { return "version \(v) is not supported (this gasa reads version 1)" }
        return nil
    }
}

/// A CRC-32 as the files record it: eight lowercase hex digits.
public func hex32(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: 8 - h.count) + h
}
