// The errors of the corpus stage. Each carries what a person needs to find and fix the input.

public enum CorpusError: Error, CustomStringConvertible, Equatable {
    /// Invalid text at a byte offset of a file (line counted from 1).
    case invalidText(file: String, line: Int, byteOffset: Int, problem: String)
    case icu(String)
    /// A combination of options that cannot be honoured, with what to use instead.
    case unsupported(String)
    case badInput(String)
    /// One of gasa's own files (vocab, manifest, shard) failed validation.
    case corruptFile(path: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidText(file, line, offset, problem):
            return "\(file): line \(line), byte offset \(offset): \(problem)"
        case let .icu(m): return "ICU: \(m)"
        case let .unsupported(m): return m
        case let .badInput(m): return m
        case let .corruptFile(path, problem): return "\(path): \(problem)"
        }
    }
}
