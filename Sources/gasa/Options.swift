// Option groups shared by several subcommands, and small helpers for reading input.
import ArgumentParser
import Corpus
import Foundation
import Storage

extension Granularity: ExpressibleByArgument {}
extension Normalization: ExpressibleByArgument {}
extension SplitBy: ExpressibleByArgument {}
extension Dedup: ExpressibleByArgument {}
extension InvalidPolicy: ExpressibleByArgument {}

struct TextOptionGroup: ParsableArguments {
    @Option(help: "Unicode normalisation before segmentation: nfc, nfkc or none.")
    var normalization: Normalization = .nfc

    @Flag(help: "Keep CR and CRLF line ends as they are (default: both become LF).")
    var keepCr = false

    @Option(help: "Invalid UTF-8: 'error' (stop, naming file, line and byte offset) or 'replace' (U+FFFD, counted).")
    var invalid: InvalidPolicy = .error

    var text: TextOptions { TextOptions(normalization: normalization, keepCR: keepCr, invalid: invalid) }
}

/// The most of standard input the commands that hold it whole (normalize, tokenize, detokenize) read,
/// and the most prepare spools from it (it reads its input twice, so '-' is copied to a file first).
let standardInputLimit = 1 << 28
let standardInputSpoolLimit = 1 << 33

/// Calls `body` with each chunk of standard input until its end; a read error (stdin a directory, an
/// I/O error) is a CLIError.
func forEachStandardInputChunk(_ body: (ArraySlice<UInt8>) throws -> Void) throws {
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
        if n == 0 { return }
        if n < 0 {
            if errno == EINTR { continue }
            throw CLIError("cannot read standard input: \(String(cString: strerror(errno)))")
        }
        try body(chunk[0..<n])
    }
}

/// Reads all of standard input, at most `limit` bytes (more is an error, not an allocation without end).
func readStandardInput(limit: Int = standardInputLimit) throws -> [UInt8] {
    var bytes: [UInt8] = []
    try forEachStandardInputChunk { chunk in
        guard bytes.count + chunk.count <= limit else {
            throw CLIError("standard input holds more than \(limit >> 20) MiB, the most this command reads at once; "
                           + "split the text, or give it to gasa prepare as a file")
        }
        bytes += chunk
    }
    return bytes
}

/// Copies standard input to `path` chunk by chunk (prepare reads it from there like any file), stopping
/// with an error past 8 GiB or before it would leave less than 1 GiB free on that disk.
func spoolStandardInput(to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw CLIError("cannot spool standard input to \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var fs = statvfs()
    let free = statvfs(path, &fs) == 0 ? Double(fs.f_bavail) * Double(fs.f_frsize) : Double(Int.max)
    let allowance = Int(min(Double(standardInputSpoolLimit), max(0, free - Double(1 << 30))))
    var written = 0
    try forEachStandardInputChunk { chunk in
        guard written + chunk.count <= allowance else {
            throw CLIError("standard input is larger than \(allowance >> 20) MiB, the most prepare spools from it "
                           + "(8 GiB, or the free space of \((path as NSString).deletingLastPathComponent) less 1 "
                           + "GiB); give the corpus as a file instead of '-'")
        }
        do { try chunk.withUnsafeBytes { try writeFully(fd, $0, path: path) } } catch let e as FileError {
            throw CLIError("cannot spool standard input to \(path): \(e.message)")
        }
        written += chunk.count
    }
}

/// Files named on the command line: files as given, directories walked recursively in byte order of
/// their paths (hidden files skipped), "-" for standard input (spooled to a temporary file, which is
/// then a key of `names`: the caller removes it).
func expandInputs(_ args: [String]) throws -> (paths: [String], names: [String: String]) {
    var out: [String] = []
    var names: [String: String] = [:]
    let fm = FileManager.default
    // A later argument that fails must not leave the spool of an earlier '-' behind.
    do {
        for a in args {
            if a == "-" {
                guard !names.values.contains("<stdin>") else {
                    throw CLIError("'-' (standard input) is given twice; it can be read only once")
                }
                let tmp = NSTemporaryDirectory() + "gasa-stdin-\(ProcessInfo.processInfo.processIdentifier).txt"
                unlink(tmp)   // a leftover of an earlier process with this id
                do { try spoolStandardInput(to: tmp) } catch {
                    unlink(tmp)   // a spool that failed half-way
                    throw error
                }
                out.append(tmp)
                names[tmp] = "<stdin>"
                continue
            }
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: a, isDirectory: &isDir) else {
                throw CLIError("\(a): no such file or directory")
            }
            if !isDir.boolValue { out.append(a); continue }
            guard let walker = fm.enumerator(atPath: a) else { throw CLIError("\(a): cannot list the directory") }
            var files: [String] = []
            for case let rel as String in walker {
                if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
                var d: ObjCBool = false
                let full = a + "/" + rel
                if fm.fileExists(atPath: full, isDirectory: &d), !d.boolValue { files.append(full) }
            }
            files.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            if files.isEmpty { throw CLIError("\(a): the directory holds no files") }
            out += files
        }
    } catch {
        for p in names.keys { unlink(p) }
        throw error
    }
    return (out, names)
}

func fmt(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
func pct(_ x: Double) -> String { String(format: "%.2f%%", x * 100) }

/// A failure to report in one line (ArgumentParser prints it as "Error: ..." and exits non-zero).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
