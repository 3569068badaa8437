// Thin wrappers over OpenBLAS's CBLAS for row-major Float32 buffers. Every matrix product in gasa goes
// through here; shapes are named at the call sites.
import CBLAS
#if canImport(Glibc)
import Glibc
#endif

public enum BLAS {
    /// OpenBLAS worker threads for the products (1 = the calling thread only).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Stops OpenBLAS's worker threads, which otherwise spin on the other cores for a while after the
    /// library loads, for work that makes no products and wants every core itself (prepare). A later
    /// product would start them again. Looked up at run time: only OpenBLAS's pthreads build has it.
    public static func stopWorkers() {
        typealias Shutdown = @convention(c) () -> Int32
        guard let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_") else { return }
        _ = unsafeBitCast(f, to: Shutdown.self)()
    }

    /// C (m x n) = alpha * op(A) * op(B) + beta * C, row-major; op(A) is m x k, op(B) is k x n.
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y (len m, or n when trans) = alpha * op(A) * x + beta * y, A row-major m x n.
    @inline(__always)
    public static func gemv(trans: Bool, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda),
                    x, 1, beta, y, 1)
    }

    @inline(__always)
    public static func scale(_ n: Int, _ alpha: Float, _ x: UnsafeMutablePointer<Float>) {
        cblas_sscal(Int32(n), alpha, x, 1)
    }

    @inline(__always)
    public static func axpy(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(n), alpha, x, 1, y, 1)
    }
}

/// A 64-byte aligned Float buffer that lives as long as its owner (no copy-on-write, no allocation later).
public final class FloatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public func zero() { pointer.update(repeating: 0, count: count) }
}

/// OpenBLAS picks its kernels for the CPU it detects when the library loads (or as OPENBLAS_CORETYPE
/// says); benchmarks print which, since speed depends on it.
public enum BLASKernels {
    /// The kernel set OpenBLAS is using, e.g. "Haswell".
    public static var current: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
}
