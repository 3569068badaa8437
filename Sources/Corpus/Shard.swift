// Shard files: minibatches of token ids, each B rows of T+1 tokens (inputs are columns 0..<T, targets
// columns 1...T), little-endian, behind a 64-byte header. numpy reads one with
//   np.memmap(path, dtype="<u2" (or "<u4"), mode="r", offset=64, shape=(count, B, T + 1)).
// Header (all little-endian):
//   0  8 bytes  magic "GASASHRD"        24 u32 count (minibatches in this file)
//   8  u32      version (1)             28 u32 first (index of the first minibatch within its split)
//   12 u32      token bytes (2 or 4)    32 u32 CRC-32 of the payload
//   16 u32      B (rows)                36 u32 CRC-32 of header bytes 0..<36
//   20 u32      T (steps per minibatch) 40..<64 zero
import Storage

public enum ShardFormat {
    public static let magic: [UInt8] = Array("GASASHRD".utf8)
    public static let version: UInt32 = 1
    public static let headerSize = 64

    public struct Header: Equatable, Sendable {
        public var tokenBytes: Int
        public var batch: Int
        public var steps: Int
        public var count: Int
        public var first: Int
        public var payloadCRC: UInt32

        public var payloadBytes: Int { count * batch * (steps + 1) * tokenBytes }

        func encode() -> [UInt8] {
            var b = ShardFormat.magic
            b.appendLE(ShardFormat.version)
            for v in [tokenBytes, batch, steps, count, first] { b.appendLE(UInt32(v)) }
            b.appendLE(payloadCRC)
            b.appendLE(CRC32.checksum(b))
            b += [UInt8](repeating: 0, count: ShardFormat.headerSize - b.count)
            return b
        }

        static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
            func bad(_ m: String) -> CorpusError { .corruptFile(path: path, problem: m) }
            guard bytes.count >= ShardFormat.headerSize else {
                throw bad("\(bytes.count) bytes is too short for a shard (header alone is \(ShardFormat.headerSize))")
            }
            var r = ByteReader(bytes)
            guard Array(try r.take(8)) == ShardFormat.magic else { throw bad("not a gasa shard (bad magic)") }
            let version = try r.u32()
            guard version == ShardFormat.version else { throw bad("shard version \(version) is not supported") }
            var f = [Int]()
            for _ in 0..<5 { f.append(Int(try r.u32())) }
            let crc = try r.u32()
            let headerCRC = try r.u32()
            guard headerCRC == CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<36])) else {
                throw bad("header checksum mismatch (the file is corrupt)")
            }
            // The reserved bytes are outside the header checksum: check them too, so that any
            // damage to the header is an error.
            guard bytes[40..<ShardFormat.headerSize].allSatisfy({ $0 == 0 }) else {
                throw bad("reserved header bytes 40..<64 are not zero (the file is corrupt)")
            }
            guard f[0] == 2 || f[0] == 4 else { throw bad("token size \(f[0]) bytes; expected 2 or 4") }
            guard f[1] > 0, f[2] > 0, f[3] > 0, f[1] <= 1 << 16, f[2] <= 1 << 20 else {
                throw bad("implausible shape B=\(f[1]) T=\(f[2]) count=\(f[3])")
            }
            let h = Header(tokenBytes: f[0], batch: f[1], steps: f[2], count: f[3], first: f[4], payloadCRC: crc)
            let (payload, overflow) = h.count.multipliedReportingOverflow(by: h.batch * (h.steps + 1) * h.tokenBytes)
            guard !overflow, payload == bytes.count - ShardFormat.headerSize else {
                throw bad("size \(bytes.count) bytes does not match its header (\(ShardFormat.headerSize) + "
                          + "\(payload)); "
                          + "the file is truncated or corrupt")
            }
            return h
        }
    }
}

/// One shard file, memory-mapped and verified (header, size and payload checksum) when opened.
public final class ShardReader {
    public let path: String
    public let header: ShardFormat.Header
    private let file: MappedFile

    public init(path: String, verify: Bool = true) throws {
        self.path = path
        file = try MappedFile(path: path)
        header = try ShardFormat.Header.decode(file.bytes, path: path)
        if verify {
            let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: file.bytes[ShardFormat.headerSize...]))
            guard crc == header.payloadCRC else {
                throw CorpusError.corruptFile(path: path,
                                              problem: "payload checksum mismatch (the file is corrupt; prepare again)")
            }
        }
    }

    /// Token at (minibatch i, row b, column t) with t in 0...steps.
    @inline(__always) public func token(_ i: Int, _ b: Int, _ t: Int) -> UInt32 {
        let index = (i * header.batch + b) * (header.steps + 1) + t
        let base = file.bytes.baseAddress! + ShardFormat.headerSize
        if header.tokenBytes == 2 {
            return UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)))
        }
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
    }

    /// Copies minibatch i (row-major [b*T + t]) into inputs and targets.
    public func copy(_ i: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        let B = header.batch, T = header.steps
        let base = file.bytes.baseAddress! + ShardFormat.headerSize
        for b in 0..<B {
            let row = (i * B + b) * (T + 1)
            if header.tokenBytes == 2 {
                let p = (base + row * 2).bindMemory(to: UInt16.self, capacity: T + 1)
                for t in 0..<T {
                    inputs[b * T + t] = Int32(UInt16(littleEndian: p[t]))
                    targets[b * T + t] = Int32(UInt16(littleEndian: p[t + 1]))
                }
            } else {
                let p = (base + row * 4).bindMemory(to: UInt32.self, capacity: T + 1)
                for t in 0..<T {
                    inputs[b * T + t] = Int32(bitPattern: UInt32(littleEndian: p[t]))
                    targets[b * T + t] = Int32(bitPattern: UInt32(littleEndian: p[t + 1]))
                }
            }
        }
    }

    /// Asks the kernel to read minibatches [from, from+n) ahead of use.
    public func prefetch(from: Int, count n: Int) {
        let rowBytes = header.batch * (header.steps + 1) * header.tokenBytes
        file.advise(willNeed: true, offset: ShardFormat.headerSize + from * rowBytes, length: n * rowBytes)
    }
}

/// Writes one shard file. Its minibatches may be written in any order and from several threads at
/// once (each to its own range): every call checksums its bytes, and the pieces' checksums combine
/// into the payload's at the end.
final class ShardWriter {
    private let out: AtomicFile
    private var header: ShardFormat.Header
    let minibatchBytes: Int

    init(path: String, tokenBytes: Int, batch: Int, steps: Int, count: Int, first: Int) throws {
        out = try AtomicFile(path: path)
        header = .init(tokenBytes: tokenBytes, batch: batch, steps: steps, count: count, first: first, payloadCRC: 0)
        minibatchBytes = batch * (steps + 1) * tokenBytes
    }

    /// Writes `bytes`, whole minibatches starting with minibatch `k` of this file (B rows of T+1 ids each,
    /// already in the file's little-endian token format), and returns their CRC-32.
    func write(_ bytes: UnsafeRawBufferPointer, minibatch k: Int) throws -> UInt32 {
        precondition(bytes.count % minibatchBytes == 0 && k >= 0 && k * minibatchBytes
                     + bytes.count <= header.payloadBytes, "shard write out of range")
        let offset = ShardFormat.headerSize + k * minibatchBytes
        try out.write(bytes, at: offset)
        out.startWriteback(offset: offset, length: bytes.count)   // the disk works while the rest is gathered
        return CRC32.checksum(bytes)
    }

    /// Writes the header with the payload's CRC-32 (of all minibatches, in order); returns the header and
    /// the file's size. The file appears under its name at `commit()`.
    func finish(payloadCRC: UInt32) throws -> (ShardFormat.Header, Int) {
        header.payloadCRC = payloadCRC
        try header.encode().withUnsafeBytes { try out.write($0, at: 0) }
        return (header, ShardFormat.headerSize + header.payloadBytes)
    }

    /// fsyncs the file and renames it into place (AtomicFile.commit).
    func commit() throws { try out.commit() }
}
