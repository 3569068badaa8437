import XCTest
import Compute

/// bfloat16 products (`--precision bf16` training): the rounding against the nearer of the two bfloat16
/// neighbours of each value, worked out in Double; the products against a triple loop over the rounded
/// operands for every layout; a right operand given pre-rounded against the one the kernels round; and
/// the thread's mode confined to withPrecision. The product tests skip, saying so, where oneDNN has no
/// native bfloat16 matmul (no AVX512_BF16, or ONEDNN_MAX_CPU_ISA below it): training refuses bf16 there.
final class BF16Tests: XCTestCase {
    /// The value of bfloat16 bits, with the first pattern past the largest finite one (0x7F80, infinity)
    /// taken as 2^128, so that a value above the largest finite bfloat16 has a distance to round by.
    func value(_ h: UInt16) -> Double {
        let sign: Double = h & 0x8000 != 0 ? -1 : 1
        if h & 0x7FFF == 0x7F80 { return sign * 0x1p128 }
        return Double(Float(bitPattern: UInt32(h) << 16))
    }

    /// Round to nearest, ties to the even pattern, by distances: independent of the kernels' bit trick.
    func nearest(_ x: Float) -> UInt16 {
        if x.isNaN { return 0 }   // checked separately
        if x.isInfinite { return x > 0 ? 0x7F80 : 0xFF80 }
        let down = UInt16(x.bitPattern >> 16)   // truncation: toward zero
        let up = down &+ 1                       // the next pattern away from zero
        let dDown = abs(Double(x) - value(down)), dUp = abs(value(up) - Double(x))
        if dDown < dUp { return down }
        if dUp < dDown { return up }
        return down & 1 == 0 ? down : up
    }

    func round(_ xs: [Float], rows: Int, cols: Int, ld: Int) -> [UInt16] {
        var out = [UInt16](repeating: 0xDEAD, count: rows * cols)
        Kernels.toBF16(rows: rows, cols: cols, xs, ld: ld, &out)
        return out
    }

    func testRoundingIsToNearestEvenOnEveryLaneAndTail() {
        // Exact, halfway (even below, odd below), just past halfway, subnormal, overflow, infinities.
        let cases: [(UInt32, UInt16)] = [
            (0x3F80_0000, 0x3F80), (0x3F80_8000, 0x3F80), (0x3F81_8000, 0x3F82), (0x3F80_8001, 0x3F81),
            (0x3F80_7FFF, 0x3F80), (0xBF81_8000, 0xBF82), (0x0000_8000, 0x0000), (0x0001_8000, 0x0002),
            (0x7F7F_FFFF, 0x7F80), (0x7F7F_7FFF, 0x7F7F), (0x7F80_0000, 0x7F80), (0xFF80_0000, 0xFF80),
            (0x0000_0000, 0x0000), (0x8000_0000, 0x8000),
        ]
        let xs = cases.map { Float(bitPattern: $0.0) }
        XCTAssertEqual(round(xs, rows: 1, cols: xs.count, ld: xs.count), cases.map(\.1))
        XCTAssertEqual(xs.map(nearest), cases.map(\.1))   // the reference agrees with the table

        var rng = RNG(seed: 31)
        for cols in [1, 15, 16, 17, 33, 40] {
            let rows = 3, ld = cols + 5
            // Random magnitudes over many binades, and values exactly halfway between two bfloat16 values.
            let xs: [Float] = (0..<(rows * ld)).map { k in
                let bits = UInt32(truncatingIfNeeded: rng.next())
                if k % 4 == 0 { return Float(bitPattern: (bits & 0xFFFF_0000 & ~0x4000_0000) | 0x8000) }
                return Float(bitPattern: bits & ~0x4000_0000)   // exponent below 128: finite
            }
            let got = round(xs, rows: rows, cols: cols, ld: ld)
            for r in 0..<rows {
                for c in 0..<cols {
                    XCTAssertEqual(got[r * cols + c], nearest(xs[r * ld + c]), "row \(r) col \(c) of \(cols)")
                }
            }
        }
        // NaN stays NaN (quiet), whatever its payload, on the vector lanes and the tail.
        let nans = [Float](repeating: Float(bitPattern: 0x7F80_0001), count: 19)
        for h in round(nans, rows: 1, cols: 19, ld: 19) {
            XCTAssertTrue(Float(bitPattern: UInt32(h) << 16).isNaN)
        }
    }

    func testProductsUseRoundedOperandsWithFloatAccumulation() throws {
        try XCTSkipUnless(Kernels.bf16Supported, "no native bfloat16 products here (\(KernelInfo.effective))")
        var rng = RNG(seed: 32)
        for (m, n, k) in [(3, 5, 7), (25, 48, 12), (40, 33, 70), (17, 1, 9)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (0.5, 1)] {
                        check(m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta,
                              rng: &rng)
                    }
                }
            }
        }
    }

    func check(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, rng: inout RNG) {
        let aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n
        let lda = aCols + 2, ldb = bCols + 1, ldc = n + 3
        let a = (0..<(aRows * lda)).map { _ in 2 * rng.uniform() - 1 }
        let b = (0..<(bRows * ldb)).map { _ in 2 * rng.uniform() - 1 }
        let c0 = (0..<(m * ldc)).map { _ in 2 * rng.uniform() - 1 }
        let a16 = round(a, rows: aRows, cols: lda, ld: lda), b16 = round(b, rows: bRows, cols: ldb, ld: ldb)
        var converted = c0, given = c0
        Kernels.withPrecision(.bf16) {
            Kernels.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                         ldb: ldb, beta: beta, c: &converted, ldc: ldc)
            Kernels.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                         bHalf: b16, ldb: ldb, beta: beta, c: &given, ldc: ldc)
        }
        let label = "\(m) x \(n) x \(k) transA \(transA) transB \(transB) alpha \(alpha) beta \(beta)"
        XCTAssertEqual(converted.map(\.bitPattern), given.map(\.bitPattern), "pre-rounded B differs: " + label)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = value(transA ? a16[p * lda + i] : a16[i * lda + p])
                    let y = value(transB ? b16[j * ldb + p] : b16[p * ldb + j])
                    s += x * y
                }
                let want = Double(alpha) * s + Double(beta) * Double(c0[i * ldc + j])
                worst = max(worst, abs(Double(converted[i * ldc + j]) - want))
            }
            for j in n..<ldc { XCTAssertEqual(converted[i * ldc + j], c0[i * ldc + j], label) }
        }
        // Float32 accumulation of exact bfloat16 products: float32 rounding only, far below bfloat16's.
        XCTAssertLessThan(worst, 1e-5 * Double(k).squareRoot() + 1e-6, label)
    }

    func testModeIsPerThreadAndEndsWithTheBlock() throws {
        try XCTSkipUnless(Kernels.bf16Supported, "no native bfloat16 products here (\(KernelInfo.effective))")
        var rng = RNG(seed: 33)
        let m = 9, n = 11, k = 13
        let a = (0..<(m * k)).map { _ in 2 * rng.uniform() - 1 }, b = (0..<(k * n)).map { _ in 2 * rng.uniform() - 1 }
        func product() -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            Kernels.gemm(transA: false, transB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0,
                         c: &c, ldc: n)
            return c
        }
        let f32 = product()
        var inside: [Float] = []
        final class Box: @unchecked Sendable { var value: [Float] = [] }   // written before done.signal()
        let otherThread = Box()
        Kernels.withPrecision(.bf16) {
            inside = product()
            let done = DispatchSemaphore(value: 0)
            let work = product   // a let copy of the function for the other thread
            Thread { [work] in otherThread.value = work(); done.signal() }.start()
            done.wait()
            Kernels.withPrecision(.f32) { XCTAssertEqual(product(), f32) }   // nested: f32 again inside
            XCTAssertEqual(product(), inside)                                 // and back to bf16 after it
        }
        XCTAssertNotEqual(inside, f32)            // the rounding shows (random values are not bfloat16)
        XCTAssertEqual(otherThread.value, f32)    // another thread kept float32
        XCTAssertEqual(product(), f32)            // and so does this one after the block
        var maxDiff: Float = 0
        for i in 0..<(m * n) { maxDiff = max(maxDiff, abs(inside[i] - f32[i])) }
        XCTAssertLessThan(maxDiff, 0.05)          // bfloat16 operands: about 3 significant digits
    }
}
