import XCTest
import Dispatch
import KernelShim
import Compute

/// The kernel layer: oneDNN's products against a plain triple loop in Double for every shape and
/// operand layout gasa uses (and the one-row path, and many shapes at once from several threads), and
/// the fused LSTM cell against the same equations written with FastMath, bit for bit, on whichever
/// instruction-set path this machine (or ONEDNN_MAX_CPU_ISA) selects.
final class KernelTests: XCTestCase {
    func values(_ n: Int, _ rng: inout RNG,
                scale: Float = 1) -> [Float] { (0..<n).map { _ in scale * (2 * rng.uniform() - 1) } }

    /// C = alpha op(A) op(B) + beta C with leading dimensions wider than the rows.
    func checkGemm(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float, pad: Int,
                   rng: inout RNG, file: StaticString = #filePath, line: UInt = #line) {
        let aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n
        let lda = aCols + pad, ldb = bCols + pad, ldc = n + pad
        let a = values(aRows * lda, &rng), b = values(bRows * ldb, &rng)
        var c = values(m * ldc, &rng)
        let c0 = c
        Kernels.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                     beta: beta, c: &c, ldc: ldc)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(x) * Double(y)
                }
                let want = Double(alpha) * s + Double(beta) * Double(c0[i * ldc + j])
                worst = max(worst, abs(Double(c[i * ldc + j]) - want))
            }
            // Padding past n is never written.
            for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j], file: file, line: line) }
        }
        XCTAssertLessThan(worst, 1e-5 * Double(k).squareRoot() + 1e-6,
                          "\(m) x \(n) x \(k) transA \(transA) transB \(transB) alpha \(alpha) beta \(beta)",
                              file: file, line: line)
    }

    func testProductsMatchATripleLoopForEveryLayout() {
        var rng = RNG(seed: 11)
        Kernels.setThreads(1)
        for (m, n, k) in [(1, 37, 23), (3, 5, 7), (25, 48, 12), (40, 33, 70), (1, 130, 1), (17, 1, 9)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (0.5, 1), (1, 0.25)] {
                        checkGemm(m: m, n: n, k: k, transA: transA, transB: transB, alpha: alpha, beta: beta,
                                  pad: (m + n) % 3, rng: &rng)
                    }
                }
            }
        }
    }

    func testMatrixVectorProductAndColumnSums() {
        var rng = RNG(seed: 12)
        let m = 29, n = 41, lda = 45
        let a = values(m * lda, &rng), x = values(n, &rng)
        var y = values(m, &rng)
        let y0 = y
        Kernels.gemv(m: m, n: n, a: a, lda: lda, x: x, beta: 1, y: &y)
        for i in 0..<m {
            let want = (0..<n).reduce(Double(y0[i])) { $0 + Double(a[i * lda + $1]) * Double(x[$1]) }
            XCTAssertEqual(Double(y[i]), want, accuracy: 1e-5)
        }
        // Column sums, each column added in row order (the same bits on every instruction-set path),
        // overwriting (beta 0) and accumulating (beta 1); columns past `cols` are not written.
        for cols in [n, 37, 16, 5] {
            var s = values(n, &rng)
            let s0 = s
            Kernels.columnSums(rows: m, cols: cols, a: a, lda: lda, beta: 0, y: &s)
            for j in 0..<cols {
                var want: Float = 0
                for i in 0..<m { want += a[i * lda + j] }
                XCTAssertEqual(s[j].bitPattern, want.bitPattern, "column \(j) of \(cols)")
            }
            for j in cols..<n { XCTAssertEqual(s[j], s0[j]) }
            let once = s
            Kernels.columnSums(rows: m, cols: cols, a: a, lda: lda, beta: 1, y: &s)
            for j in 0..<cols {
                var want = once[j]
                for i in 0..<m { want += a[i * lda + j] }
                XCTAssertEqual(s[j].bitPattern, want.bitPattern)
            }
        }
    }

    /// More shapes than a thread's primitive cache holds, from several threads at once, each product
    /// checked: eviction and per-thread state must not mix anything up.
    func testManyShapesOnSeveralThreads() {
        Kernels.setThreads(1)
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        failures.initialize(repeating: 0, count: 4)
        defer { failures.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            var rng = RNG(seed: UInt64(100 + t))
            for s in 0..<80 {
                let m = 2 + (s * 7 + t) % 13, n = 1 + (s * 5) % 11, k = 1 + (s * 3 + t) % 17
                let a = values(m * k, &rng), b = values(k * n, &rng)
                var c = [Float](repeating: 0, count: m * n)
                Kernels.gemm(transA: false, transB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0,
                             c: &c, ldc: n)
                for i in 0..<m {
                    for j in 0..<n {
                        let want = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * n + j]) }
                        if abs(Double(c[i * n + j]) - want) > 1e-5 { failures[t] += 1 }
                    }
                }
            }
        }
        XCTAssertEqual((0..<4).map { failures[$0] }, [0, 0, 0, 0])
    }

    /// The fused cell (C, on this machine's widest vectors) against the equations in Swift with FastMath's
    /// scalar functions: the same bits, for hidden sizes with and without a tail, in place or not.
    func testLSTMCellMatchesItsEquationsBitForBit() {
        var rng = RNG(seed: 13)
        for (B, H) in [(1, 16), (3, 17), (2, 37), (4, 48), (1, 5)] {
            let G = 4 * H
            let pre = values(B * G, &rng, scale: 6), bias = values(G, &rng), cPrev = values(B * H, &rng, scale: 2)
            var gates = pre, c = [Float](repeating: 0, count: B * H), h = c
            gasa_lstm_cell_forward(Int64(B), Int64(H), &gates, bias, cPrev, &c, &h)
            var wantGates = pre, wantC = c, wantH = h
            for b in 0..<B {
                for j in 0..<H {
                    let r = b * G
                    let i = fastSigmoid(pre[r + j] + bias[j]), f = fastSigmoid(pre[r + H + j] + bias[H + j])
                    let g = fastTanh(pre[r + 2 * H + j] + bias[2 * H + j]),
                        o = fastSigmoid(pre[r + 3 * H + j] + bias[3 * H + j])
                    let cn = f * cPrev[b * H + j] + i * g
                    wantGates[r + j] = i; wantGates[r + H + j] = f; wantGates[r + 2 * H + j] = g; wantGates[r

                        + 3 * H + j] = o
                    wantC[b * H + j] = cn
                    wantH[b * H + j] = o * fastTanh(cn)
                }
            }
            XCTAssertEqual(gates.map(\.bitPattern), wantGates.map(\.bitPattern), "forward gates B \(B) H \(H)")
            XCTAssertEqual(c.map(\.bitPattern), wantC.map(\.bitPattern), "forward c B \(B) H \(H)")
            XCTAssertEqual(h.map(\.bitPattern), wantH.map(\.bitPattern), "forward h B \(B) H \(H)")

            // In place, as batch-1 sampling calls it: c_out is c_prev.
            var gates2 = pre, c2 = cPrev, h2 = [Float](repeating: 0, count: B * H)
            c2.withUnsafeMutableBufferPointer { cp in
                gasa_lstm_cell_forward(Int64(B), Int64(H), &gates2, bias, cp.baseAddress!, cp.baseAddress!, &h2)
            }
            XCTAssertEqual(c2.map(\.bitPattern), wantC.map(\.bitPattern), "in-place c B \(B) H \(H)")
            XCTAssertEqual(h2.map(\.bitPattern), wantH.map(\.bitPattern), "in-place h B \(B) H \(H)")

            let dh = values(B * H, &rng), dcIn = values(B * H, &rng)
            var back = wantGates, dc = dcIn
            gasa_lstm_cell_backward(Int64(B), Int64(H), &back, wantC, cPrev, dh, &dc)
            var wantBack = wantGates, wantDc = dcIn
            for b in 0..<B {
                for j in 0..<H {
                    let r = b * G
                    let i = wantGates[r + j], f = wantGates[r + H + j], g = wantGates[r + 2 * H + j],
                        o = wantGates[r + 3 * H + j]
                    let tc = fastTanh(wantC[b * H + j]), d = dh[b * H + j]
                    let dct = d * o * (1 - tc * tc) + dcIn[b * H + j]
                    wantBack[r + j] = dct * g * i * (1 - i)
                    wantBack[r + H + j] = dct * cPrev[b * H + j] * f * (1 - f)
                    wantBack[r + 2 * H + j] = dct * i * (1 - g * g)
                    wantBack[r + 3 * H + j] = d * tc * o * (1 - o)
                    wantDc[b * H + j] = dct * f
                }
            }
            XCTAssertEqual(back.map(\.bitPattern), wantBack.map(\.bitPattern), "backward gates B \(B) H \(H)")
            XCTAssertEqual(dc.map(\.bitPattern), wantDc.map(\.bitPattern), "backward dc B \(B) H \(H)")
        }
    }

    func testKernelReportNamesWhatRuns() {
        XCTAssertTrue(KernelInfo.summary.hasPrefix("kernels: oneDNN \(KernelInfo.version), "))
        XCTAssertTrue([128, 256, 512].contains(KernelInfo.elementwiseBits))
        // Neither path is wider than what the CPU reports.
        XCTAssertLessThanOrEqual(KernelInfo.elementwiseBits, max(128, KernelInfo.cpu.vectorBits))
        XCTAssertLessThanOrEqual(KernelInfo.effective.vectorBits, max(128, KernelInfo.cpu.vectorBits))
        // The warning appears exactly when something runs narrower than the CPU allows.
        let narrower = min(KernelInfo.effective.vectorBits, KernelInfo.elementwiseBits) < KernelInfo.cpu.vectorBits
        XCTAssertEqual(KernelInfo.shortfall != nil, narrower)
    }
}
