// Atomic file output: write to a temporary file beside the target, fsync it, rename it over the
// target, fsync the directory. A crash at any moment leaves either the old file or the new one.
// It does not decide whether overwriting is allowed: callers check that (and --force) first.
import SysShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    /// The errno of the failed call (0 when the error is not a system call's).
    public var code: Int32 = 0
    public init(_ path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
    static func errno(_ path: String, _ what: String) -> FileError {
        let code = Glibc.errno
        var e = FileError(path, "\(what): \(String(cString: strerror(code)))")
        e.code = code
        return e
    }
}

/// A file being written through a temporary name; `commit()` makes it appear atomically.
public final class AtomicFile {
    public let path: String
    public let tempPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var committed = false

    public init(path: String) throws {
        self.path = path
        self.tempPath = path + ".tmp-\(getpid())"
        fd = open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileError.errno(path, "cannot create (as \(tempPath))") }
        buffer.reserveCapacity(bufferLimit)
    }

    deinit {
        if !committed {
            if fd >= 0 { close(fd) }
            unlink(tempPath)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > bufferLimit { try flush() }
        if bytes.count >= bufferLimit {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    public func write(_ string: String) throws { try write(Array(string.utf8)) }

    /// Writes `bytes` at byte `offset`, past the buffer (which must be empty, or flushed before). Calls on
    /// disjoint ranges may come from several threads at once.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        precondition(buffer.isEmpty, "positional write with buffered bytes pending")
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw FileError.errno(path, "write failed")
            }
            done += n
        }
    }

    /// Starts the disk on bytes [offset, offset + length) already written, without waiting, so that
    /// commit's fsync has less left to wait for. Safe beside positional writes from other threads.
    public func startWriteback(offset: Int, length: Int) {
        _ = gasa_start_writeback(fd, Int64(offset), Int64(length))   // only a hint: commit's fsync is what counts
    }

    private func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws { try writeFully(fd, bytes, path: path) }

    /// Flushes, fsyncs and renames over `path`, then fsyncs the directory. `durable: false` skips the
    /// fsyncs, for scratch files that are deleted before the work they belong to is committed.
    public func commit(durable: Bool = true) throws {
        try flush()
        if durable && fsync(fd) != 0 { throw FileError.errno(path, "fsync failed") }
        close(fd)
        fd = -1
        if rename(tempPath, path) != 0 { throw FileError.errno(path, "cannot rename \(tempPath) into place") }
        committed = true
        if durable { syncDirectory(of: path) }
    }

    /// Writes `bytes` to `path` atomically in one call.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let f = try AtomicFile(path: path)
        try f.write(bytes)
        try f.commit()
    }
}

/// fsyncs the directory holding `path`, so that a rename survives a power cut.
/// Writes all of `bytes` to `fd` (retrying short writes and EINTR); a failure names `path`.
public func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var done = 0
    while done < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 {
            if Glibc.errno == EINTR { continue }
            throw FileError.errno(path, "write failed")
        }
        done += n
    }
}

public func syncDirectory(of path: String) {
    let dir: String
    if let slash = path.lastIndex(of: "/") {
        dir = slash == path.startIndex ? "/" : String(path[..<slash])
    } else {
        dir = "."
    }
    let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 {
        fsync(dfd)
        close(dfd)
    }
}
