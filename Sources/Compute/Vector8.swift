// Eight-lane Float vectors and unaligned loads and stores of them, for the vector loops written in Swift
// (the optimizer, gradient sums). The fused elementwise kernels of training live in C
// (Sources/KernelShim/elementwise_body.h), compiled for the CPU's widest vectors.

public typealias Float8 = SIMD8<Float>

@inlinable @inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }

@inlinable @inline(__always)
public func store8(_ v: Float8,
                   _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self) }
