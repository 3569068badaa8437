// CRC-32 (IEEE 802.3, the one zlib.crc32 and Python's binascii.crc32 compute), by zlib itself.
// Used as the checksum of every binary gasa writes so that other tools can verify it too.
import CZlib

public struct CRC32 {
    public private(set) var value: UInt32 = 0
    public init() {}

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        guard var p = data.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var n = data.count
        var crc = UInt(value)
        while n > 0 {   // zlib takes a 32-bit length
            let chunk = min(n, 1 << 30)
            crc = crc32(crc, p, uInt(chunk))
            p += chunk
            n -= chunk
        }
        value = UInt32(truncatingIfNeeded: crc)
    }

    /// The CRC-32 of A followed by B, from the CRC-32 of each and B's length (zlib's crc32_combine), so
    /// that pieces of one file can be checksummed apart, in parallel.
    public static func combine(_ a: UInt32, _ b: UInt32, lengthOfB: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: crc32_combine(UInt(a), UInt(b), Int(lengthOfB)))
    }

    public static func checksum(_ data: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32()
        c.update(data)
        return c.value
    }
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}
