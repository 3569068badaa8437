// The matrix products of training, evaluation and sampling, on oneDNN's SGEMM (Debian libdnnl-dev), whose
// kernels are generated at run time for the instruction sets the CPU reports (AVX2, AVX-512, ...), so
// one binary runs its fastest path on any x86-64 CPU without settings. Row-major Float32 buffers; shapes
// are named at the call sites. This file is the only place that knows which library does the products.
// A thread may run its products in bfloat16 with float32 accumulation (Precision, withPrecision).
import KernelShim
#if canImport(Glibc)
import Glibc
#endif

/// What the training products compute in: float32 throughout, or bfloat16 operands with float32
/// accumulation and results (weights, optimizer and everything outside the products stay float32).
public enum Precision: String, Codable, CaseIterable, Sendable {
    case f32, bf16
}

public enum Kernels {
    /// Threads each product may use (1: the calling thread only). Applies on every thread that calls a
    /// product afterwards: the data-parallel step sets 1 and calls products from each of its threads.
    public static func setThreads(_ n: Int) { gasa_kernels_set_threads(Int32(clamping: max(1, n))) }

    /// C (m x n) = alpha * op(A) * op(B) + beta * C, row-major; op(A) is m x k, op(B) is k x n.
    /// In bfloat16 mode (withPrecision(.bf16)) the operands are rounded to bfloat16 first, A or B read
    /// from `aHalf` or `bHalf` instead when given: the same matrix already rounded (toBF16), laid out as a
    /// or b with row stride lda or ldb; outside that mode aHalf and bHalf are ignored.
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, aHalf: UnsafePointer<UInt16>? = nil, lda: Int,
                            b: UnsafePointer<Float>, bHalf: UnsafePointer<UInt16>? = nil, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let status = gasa_gemm(transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, aHalf,
                               Int64(lda), b, bHalf, Int64(ldb), beta, c, Int64(ldc))
        // Only malformed shapes fail, which callers never pass: a bug, not a user error.
        precondition(status == 0, "oneDNN sgemm failed (status \(status)) for \(m) x \(n) x \(k)")
    }

    /// Runs `body` with this thread's products in `precision` (then back to what it was). Products of one
    /// row (sampling) stay float32 in either.
    @inline(__always)
    public static func withPrecision<R>(_ precision: Precision, _ body: () throws -> R) rethrows -> R {
        let before = gasa_kernels_bf16()
        gasa_kernels_set_bf16(precision == .bf16 ? 1 : 0)
        defer { gasa_kernels_set_bf16(before) }
        return try body()
    }

    /// Whether this CPU runs bfloat16 products natively (AVX512_BF16 or AMX): without it oneDNN would
    /// fall back to slow reference code, so `--precision bf16` is refused.
    public static var bf16Supported: Bool { gasa_kernels_bf16_supported() != 0 }

    /// rows x cols of `src` (row stride ld) rounded to bfloat16 into `dst`, packed.
    @inline(__always)
    public static func toBF16(rows: Int, cols: Int, _ src: UnsafePointer<Float>, ld: Int,
                              _ dst: UnsafeMutablePointer<UInt16>) {
        gasa_to_bf16(Int64(rows), Int64(cols), src, Int64(ld), dst)
    }

    /// y (m) = alpha * A x + beta * y, A row-major m x n (batch-1 sampling). A one-row product,
    /// y^T = x^T A^T: oneDNN has no separate matrix-vector call, and its SGEMM takes this shape as fast as
    /// a BLAS gemv (both are bound by reading A).
    @inline(__always)
    public static func gemv(m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        gemm(transA: false, transB: true, m: 1, n: m, k: n, alpha: alpha, a: x, lda: n, b: a, ldb: lda,
             beta: beta, c: y, ldc: m)
    }

    /// y (cols) = beta * y + the column sums of A (rows x cols, row stride lda), beta 0 or 1: the bias
    /// gradients. A vector loop rather than a product with a vector of ones, which oneDNN's SGEMM would
    /// pack (the whole gate-gradient matrix, about 6 MB for K, on every call).
    @inline(__always)
    public static func columnSums(rows: Int, cols: Int, a: UnsafePointer<Float>, lda: Int, beta: Float,
                                  y: UnsafeMutablePointer<Float>) {
        precondition(beta == 0 || beta == 1)
        gasa_column_sums(Int64(rows), Int64(cols), a, Int64(lda), beta, y)
    }

    /// x *= alpha.
    @inline(__always)
    public static func scale(_ n: Int, _ alpha: Float, _ x: UnsafeMutablePointer<Float>) {
        let n8 = n & ~7
        var k = 0
        while k < n8 { store8(load8(x + k) * alpha, x + k); k += 8 }
        while k < n { x[k] *= alpha; k += 1 }
    }

    /// y += alpha * x (a multiply, then an add: no fused multiply-add, so every path rounds the same way).
    @inline(__always)
    public static func axpy(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let n8 = n & ~7
        var k = 0
        while k < n8 { store8(load8(y + k) + load8(x + k) * alpha, y + k); k += 8 }
        while k < n { y[k] += x[k] * alpha; k += 1 }
    }
}

/// A 64-byte aligned Float buffer that lives as long as its owner (no copy-on-write, no allocation later),
/// or a view of part of another one, which it keeps alive (scratch memory lent while its owner is idle).
public final class FloatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let lender: FloatBuffer?

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
        lender = nil
    }

    /// `count` floats of `lender` from `offset` (no copy, contents as they are).
    public init(viewOf lender: FloatBuffer, offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset + count <= lender.count, "view outside its buffer")
        self.count = count
        pointer = lender.pointer + offset
        self.lender = lender
    }

    deinit { if lender == nil { UnsafeMutableRawPointer(pointer).deallocate() } }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public func zero() { pointer.update(repeating: 0, count: count) }
}

/// A 64-byte aligned buffer of bfloat16 values (their bits) that lives as long as its owner.
public final class BF16Buffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<UInt16>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 2, alignment: 64)
        pointer = raw.bindMemory(to: UInt16.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// What runs the products on this machine: oneDNN's version and the instruction set it generates code for,
/// against the widest one the CPU reports. Printed by `gasa bench` and the first progress line of `gasa train`.
public enum KernelInfo {
    /// An instruction-set level in oneDNN's numbering (dnnl_cpu_isa_t).
    public struct ISA: Comparable, CustomStringConvertible, Sendable {
        public let code: Int
        public static func < (a: ISA, b: ISA) -> Bool { a.rank < b.rank }
        /// oneDNN's codes are bit sets in which each level contains the ones below it.
        private var rank: Int { code.nonzeroBitCount }
        public var description: String {
            switch code {
            case 0x1: return "sse41"
            case 0x3: return "avx"
            case 0x7: return "avx2"
            case 0x407: return "avx2_vnni"
            case 0xf: return "avx512_mic"
            case 0x1f: return "avx512_mic_4ops"
            case 0x27: return "avx512_core"
            case 0x67: return "avx512_core_vnni"
            case 0xe7: return "avx512_core_bf16"
            case 0x3e7: return "avx512_core_amx"
            case 0: return "no vector extension"
            default: return "isa 0x" + String(code, radix: 16)
            }
        }
        /// Vector width in bits of the float kernels at this level.
        public var vectorBits: Int { code & 0x28 != 0 ? 512 : code & 0x2 != 0 ? 256 : 128 }
    }

    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        gasa_kernels_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
    /// The instruction set oneDNN's kernels use here (lowered by ONEDNN_MAX_CPU_ISA when that is set).
    public static var effective: ISA { ISA(code: Int(gasa_kernels_isa())) }
    /// The widest float instruction set the CPU reports (avx512_core, avx2, ...).
    public static var cpu: ISA { ISA(code: Int(gasa_cpu_vector_isa())) }

    /// Vector width in bits of the fused elementwise kernels (the LSTM cell): 512, 256 or 128.
    public static var elementwiseBits: Int { Int(gasa_elementwise_bits()) }
    static var elementwiseName: String { elementwiseBits == 512 ? "avx512" : elementwiseBits == 256 ? "avx2" : "sse2" }

    /// One line, e.g. "kernels: oneDNN 2.6.3, avx512_core_bf16; elementwise avx512".
    public static var summary: String { "kernels: oneDNN \(version), \(effective); elementwise \(elementwiseName)" }

    /// Why `--precision bf16` cannot run here, with what to do; nil where it can (Kernels.bf16Supported).
    public static var bf16Refusal: String? {
        if Kernels.bf16Supported { return nil }
        return "--precision bf16 needs a CPU with AVX512_BF16 (or AMX); oneDNN runs \(effective) here, where "
            + "bfloat16 products would be slower than float32: use --precision f32"
    }

    /// A warning when the kernels use narrower vectors than the CPU has, with what to do; nil otherwise.
    public static var shortfall: String? {
        let e = effective, c = cpu
        guard min(e.vectorBits, elementwiseBits) < c.vectorBits else { return nil }
        let why: String
        if let v = getenv("ONEDNN_MAX_CPU_ISA") ?? getenv("DNNL_MAX_CPU_ISA") {
            why = "ONEDNN_MAX_CPU_ISA=\(String(cString: v)) limits them; unset it for the full speed"
        } else {
            why = "this oneDNN does not use them here; a newer libdnnl may"
        }
        return "warning: the CPU has \(c) but the kernels run \(e) and \(elementwiseName) "
            + "(\(min(e.vectorBits, elementwiseBits))-bit vectors): \(why)"
    }
}
