// CRC-32 (IEEE 802.3, the one zlib.crc32 and Python's binascii.crc32 compute), slice-by-8.
// Used as the checksum of every binary gasa writes so that other tools can verify it too.

public struct CRC32 {
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (0xEDB8_8320 ^ (c >> 1)) : (c >> 1) }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()

    public private(set) var value: UInt32 = 0
    public init() {}

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        var crc = ~value
        var p = 0
        let n = data.count
        CRC32.tables.withUnsafeBufferPointer { t in
            while n - p >= 8 {
                let lo = data.loadUnaligned(fromByteOffset: p, as: UInt32.self).littleEndian ^ crc
                let hi = data.loadUnaligned(fromByteOffset: p + 4, as: UInt32.self).littleEndian
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8
            }
            while p < n {
                crc = t[Int((crc ^ UInt32(data[p])) & 0xFF)] ^ (crc >> 8)
                p += 1
            }
        }
        value = ~crc
    }

    public static func checksum(_ data: UnsafeRawBufferPointer) -> UInt32 {
        var c = CRC32()
        c.update(data)
        return c.value
    }
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}
