// Read-only memory-mapped files, files read by offset (pread), and a bounds-checked little-endian
// reader over raw bytes.
// Readers of gasa's formats go through ByteReader so that a short or hostile file is an error,
// never an out-of-bounds read.
#if canImport(Glibc)
import Glibc
#endif

/// Opens `path` for reading only if it is a regular file, and returns the descriptor and its size. The
/// open does not block (O_NONBLOCK: a FIFO or a device in place of a file would otherwise wait for a
/// writer forever), the type is checked on the open descriptor (no race with a rename), and the flag is
/// cleared again for the reads. Every reader of gasa's files opens through here.
public func openRegularFile(_ path: String) throws -> (fd: Int32, size: Int) {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    if fd < 0 { throw FileError.errno(path, "cannot open") }
    var st = stat()
    if fstat(fd, &st) != 0 {
        let e = FileError.errno(path, "cannot stat")
        close(fd)
        throw e
    }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
        close(fd)
        let kind: String
        switch st.st_mode & S_IFMT {
        case S_IFDIR: kind = "a directory"
        case S_IFIFO: kind = "a FIFO (named pipe)"
        case S_IFCHR, S_IFBLK: kind = "a device"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        throw FileError(path, "is \(kind), not a regular file")
    }
    let flags = fcntl(fd, F_GETFL)
    if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    return (fd, Int(st.st_size))
}

public final class MappedFile {
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let (fd, size) = try openRegularFile(path)
        defer { close(fd) }
        count = size
        if count == 0 {
            base = nil
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil { throw FileError.errno(path, "cannot map") }
        base = p
        madvise(p, count, MADV_SEQUENTIAL)
    }

    deinit { if let b = base { munmap(b, count) } }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Tells the kernel the range will be needed soon (prefetch) or not any more.
    public func advise(willNeed: Bool, offset: Int, length: Int) {
        guard let b = base, offset >= 0, length > 0, offset < count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        let len = min(count, offset + length) - start
        madvise(b + start, len, willNeed ? MADV_WILLNEED : MADV_DONTNEED)
    }
}

/// Reads whole files into memory (small files: JSON, headers).
public func readFileBytes(_ path: String, limit: Int = 1 << 30) throws -> [UInt8] {
    let (fd, size) = try openRegularFile(path)
    defer { close(fd) }
    if size > limit { throw FileError(path, "larger than \(limit) bytes; not a file gasa wrote") }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileError.errno(path, "read failed")
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
        if out.count > limit { throw FileError(path, "larger than \(limit) bytes; not a file gasa wrote") }
    }
    return out
}

public struct ByteReaderError: Error, CustomStringConvertible {
    public let offset: Int
    public let needed: Int
    public var description: String { "truncated: needed \(needed) bytes at offset \(offset)" }
}

/// Sequential little-endian reads with bounds checks.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var remaining: Int { bytes.count - offset }

    public mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw ByteReaderError(offset: offset, needed: n) }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
    }
    public mutating func u32() throws -> UInt32 {
        let b = try take(4)
        return UInt32(littleEndian: b.loadUnaligned(as: UInt32.self))
    }
}

extension Array where Element == UInt8 {
    public mutating func appendLE(_ v: UInt32) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    public mutating func appendLE(_ v: UInt64) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
}

/// A file read by offset (pread), for readers that jump around a large file without keeping what they
/// read mapped in memory. Reads may come from several threads at once.
public final class PositionalFile {
    public let path: String
    public let count: Int
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        (fd, count) = try openRegularFile(path)
    }

    deinit { close(fd) }

    /// Fills `buffer` with the bytes at `offset`; a short file is an error.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.errno(path, "read failed")
            }
            if n == 0 { throw FileError(path, "ends at byte \(offset + done), \(buffer.count - done) bytes short") }
            done += n
        }
    }
}
