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

    public static func checksum(_ data: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32()
        c.update(data)
        return c.value
    }
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}
