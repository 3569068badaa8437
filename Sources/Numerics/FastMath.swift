// Vectorised exp, sigmoid and tanh for the fused LSTM and softmax kernels: eight lanes at a time with a
// scalar twin that computes bit-identical values for the tails, so results never depend on where a
// row's tail falls. exp is Cephes' expf (range reduction by ln 2, degree-6 polynomial), relative error
// about 1e-7; sigmoid(x) = 1 / (1 + exp(-x)); tanh(x) = 2 sigmoid(2x) - 1 (absolute error about 1e-7).

public typealias Float8 = SIMD8<Float>

@usableFromInline let expHi: Float = 88.3
@usableFromInline let expLo: Float = -87.3
@usableFromInline let log2e: Float = 1.442_695_04
@usableFromInline let ln2Hi: Float = 0.693_359_375
@usableFromInline let ln2Lo: Float = -2.121_944_4e-4
@usableFromInline let roundMagic: Float = 12_582_912.0   // 1.5 * 2^23: adding it rounds to an integer

/// Lane-wise min and max, as Swift.min and Swift.max per lane. The standard library's pointwiseMin and
/// pointwiseMax are not inlined and go lane by lane with branches; these compile to compares and blends.
@inlinable @inline(__always) public func lanesMin(_ a: Float8, _ b: Float8) -> Float8 {
    var r = a
    r.replace(with: b, where: b .< a)
    return r
}
@inlinable @inline(__always) public func lanesMax(_ a: Float8, _ b: Float8) -> Float8 {
    var r = a
    r.replace(with: b, where: b .> a)
    return r
}

@inlinable @inline(__always)
public func fastExp(_ x: Float8) -> Float8 {
    let x = lanesMax(lanesMin(x, Float8(repeating: expHi)), Float8(repeating: expLo))
    let r = x * log2e + roundMagic
    let n = r - roundMagic
    let ni = unsafeBitCast(r, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let f = x - n * ln2Hi - n * ln2Lo
    var p = Float8(repeating: 1.987_569_150_0e-4)
    p = p * f + 1.398_199_950_7e-3
    p = p * f + 8.333_451_907_3e-3
    p = p * f + 4.166_579_589_4e-2
    p = p * f + 1.666_666_545_9e-1
    p = p * f + 5.000_000_120_1e-1
    let y = p * (f * f) + f + 1
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: Float8.self)
    return y * scale
}

@inlinable @inline(__always)
public func fastExp(_ x: Float) -> Float {
    let x = max(min(x, expHi), expLo)
    let r = x * log2e + roundMagic
    let n = r - roundMagic
    let ni = Int32(bitPattern: r.bitPattern) &- 0x4B40_0000
    let f = x - n * ln2Hi - n * ln2Lo
    var p: Float = 1.987_569_150_0e-4
    p = p * f + 1.398_199_950_7e-3
    p = p * f + 8.333_451_907_3e-3
    p = p * f + 4.166_579_589_4e-2
    p = p * f + 1.666_666_545_9e-1
    p = p * f + 5.000_000_120_1e-1
    let y = p * (f * f) + f + 1
    return y * Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
}

@inlinable @inline(__always) public func fastSigmoid(_ x: Float8) -> Float8 { 1 / (1 + fastExp(-x)) }
@inlinable @inline(__always) public func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }
@inlinable @inline(__always) public func fastTanh(_ x: Float8) -> Float8 { 2 / (1 + fastExp(-2 * x)) - 1 }
@inlinable @inline(__always) public func fastTanh(_ x: Float) -> Float { 2 / (1 + fastExp(-2 * x)) - 1 }

@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }

@inlinable @inline(__always)
public func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self) }
