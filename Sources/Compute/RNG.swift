// The one source of randomness: xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64.
// Its whole state is four words and Codable, so a checkpoint can resume the exact random stream.

public struct RNG: Codable, Sendable, Equatable {
    // Internal but usable from inlined code, so next() and uniform() inline into other modules' hot loops.
    @usableFromInline var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    public var words: [UInt64] { [s0, s1, s2, s3] }

    public init(seed: UInt64) {
        var x = seed
        var words: [UInt64] = []
        for _ in 0..<4 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let words = try c.decode([UInt64].self)
        guard words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw DecodingError.dataCorruptedError(in: c,
                                                   debugDescription: "RNG state must be four words, not all zero")
        }
        (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(words)
    }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inlinable @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Standard normal (Box-Muller; one value per call, so the stream position is simple to reason about).
    public mutating func normal() -> Float {
        let u1 = 1.0 - uniformDouble()   // (0, 1]
        let u2 = uniformDouble()
        return Float((-2.0 * _log(u1)).squareRoot() * _cos(2.0 * Double.pi * u2))
    }

    @inlinable @inline(__always) func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
