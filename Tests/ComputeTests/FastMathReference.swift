// The LSTM cell's and softmax's math in Swift, as the C kernels (Sources/KernelShim/elementwise_body.h)
// compute it: Cephes' expf (range reduction by ln 2, degree-6 polynomial), sigmoid(x) = 1 / (1 + exp(-x)),
// tanh(x) = 2 / (1 + exp(-2x)) - 1, each step one IEEE operation in the same order. The tests check it
// against libm, and the C kernels against it bit for bit on every instruction-set path.
import Compute

let expHi: Float = 88.3
let expLo: Float = -87.3
let log2e: Float = 1.442_695_04
let ln2Hi: Float = 0.693_359_375
let ln2Lo: Float = -2.121_944_4e-4
let roundMagic: Float = 12_582_912.0   // 1.5 * 2^23: adding it rounds to an integer

/// Lane-wise min and max, as Swift.min and Swift.max per lane. The standard library's pointwiseMin and
/// pointwiseMax are not inlined and go lane by lane with branches; these compile to compares and blends.
func lanesMin(_ a: Float8, _ b: Float8) -> Float8 {
    var r = a
    r.replace(with: b, where: b .< a)
    return r
}
func lanesMax(_ a: Float8, _ b: Float8) -> Float8 {
    var r = a
    r.replace(with: b, where: b .> a)
    return r
}

func fastExp(_ x: Float8) -> Float8 {
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

func fastExp(_ x: Float) -> Float {
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

func fastSigmoid(_ x: Float8) -> Float8 { 1 / (1 + fastExp(-x)) }
func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }
func fastTanh(_ x: Float8) -> Float8 { 2 / (1 + fastExp(-2 * x)) - 1 }
func fastTanh(_ x: Float) -> Float { 2 / (1 + fastExp(-2 * x)) - 1 }

