import XCTest
import Compute
@testable import Model

final class LanguageModelTests: XCTestCase {
    struct Case {
        let config: ModelConfig
        let batch: Int
        let steps: Int
    }

    func randomTokens(_ n: Int, _ v: Int, _ rng: inout RNG) -> [Int32] {
        (0..<n).map { _ in Int32(rng.next() % UInt64(v)) }
    }

    /// A model with non-trivial weights and a non-zero carried state, so every path matters.
    func setUp(_ cs: Case, seed: UInt64) -> (LanguageModel, RecurrentState, [Int32], [Int32]) {
        var rng = RNG(seed: seed)
        let model = LanguageModel(config: cs.config, rng: &rng)
        let p = model.parameters
        for k in 0..<p.count { p[k] *= 1.5 }          // larger weights: saturating gates get exercised too
        let state = model.makeState(batch: cs.batch)
        for k in 0..<state.values.count { state.values[k] = 0.8 * (2 * rng.uniform() - 1) }
        let n = cs.batch * cs.steps
        return (model, state, randomTokens(n, cs.config.vocabSize, &rng), randomTokens(n, cs.config.vocabSize, &rng))
    }

    func split(_ state: RecurrentState) -> ([[Double]], [[Double]]) {
        let L = state.layers, n = state.batch * state.hiddenSize
        let v = state.values.map(Double.init)
        return ((0..<L).map { Array(v[($0 * n)..<($0 * n + n)]) },
                (0..<L).map { Array(v[((L + $0) * n)..<((L + $0) * n + n)]) })
    }

    let cases = [
        Case(config: ModelConfig(vocabSize: 7, embeddingSize: 5, hiddenSize: 6, layers: 2, dropout: 0), batch: 3,
             steps: 4),
        Case(config: ModelConfig(vocabSize: 19, embeddingSize: 16, hiddenSize: 16, layers: 1, dropout: 0), batch: 2,
             steps: 5),
        Case(config: ModelConfig(vocabSize: 11, embeddingSize: 9, hiddenSize: 10, layers: 3, dropout: 0), batch: 2,
             steps: 3),
        // The other cells; H 17 runs one vector of sixteen lanes and a scalar tail in the cell kernels.
        Case(config: ModelConfig(vocabSize: 7, embeddingSize: 5, hiddenSize: 6, layers: 2, dropout: 0, cell: .gru),
             batch: 3, steps: 4),
        Case(config: ModelConfig(vocabSize: 9, embeddingSize: 8, hiddenSize: 17, layers: 1, dropout: 0, cell: .gru),
             batch: 2, steps: 3),
        Case(config: ModelConfig(vocabSize: 7, embeddingSize: 5, hiddenSize: 6, layers: 2, dropout: 0, cell: .rnn),
             batch: 3, steps: 4),
        Case(config: ModelConfig(vocabSize: 9, embeddingSize: 8, hiddenSize: 17, layers: 2, dropout: 0,
                                 cell: .rnnRelu), batch: 2, steps: 3),
    ]

    // Wider than the 32 x 32 tiles that W_hh^T is copied in, with partial tiles in both directions.
    let wide = Case(config: ModelConfig(vocabSize: 13, embeddingSize: 9, hiddenSize: 37, layers: 2, dropout: 0),
                    batch: 2, steps: 3)

    func testForwardMatchesNaiveReferenceIncludingCarriedState() {
        for cs in cases + [wide] {
            let (model, state, x, y) = setUp(cs, seed: 1)
            let ref = ReferenceModel(cs.config)
            let (h0, c0) = split(state)
            let p = model.parameters.map(Double.init)
            let expected = ref.loss(p, inputs: x, targets: y, batch: cs.batch, steps: cs.steps, h0: h0, c0: c0)
            let ws = model.makeWorkspace(batch: cs.batch, steps: cs.steps, training: false)
            let got = model.evaluate(inputs: x, targets: y, steps: cs.steps, state: state,
                                     workspace: ws) / Double(cs.batch * cs.steps)
            XCTAssertEqual(got, expected.loss, accuracy: 2e-5 * max(1, expected.loss), "\(cs.config)")
            let (h1, c1) = split(state)
            for l in 0..<cs.config.layers {
                for k in 0..<h1[l].count {
                    XCTAssertEqual(h1[l][k], expected.h[l][k], accuracy: 1e-5)
                    XCTAssertEqual(c1[l][k], expected.c[l][k], accuracy: 1e-5)
                }
            }
        }
    }

    func testTrainingForwardOfAWideModelMatchesTheReference() {
        // trainStep (one thread, and rows split over two parts) sees the same recurrent weights as the reference.
        for parts in [1, 2] {
            let (model, state, x, y) = setUp(wide, seed: 4)
            let (h0, c0) = split(state)
            let expected = ReferenceModel(wide.config).loss(model.parameters.map(Double.init), inputs: x, targets: y,
                                                            batch: wide.batch, steps: wide.steps, h0: h0, c0: c0)
            let ws = model.makeWorkspace(batch: wide.batch, steps: wide.steps, rowParts: parts)
            var rng = RNG(seed: 3)
            let got = model.trainStep(inputs: x, targets: y, steps: wide.steps, state: state, workspace: ws, rng: &rng)
            XCTAssertEqual(got / Double(wide.batch * wide.steps), expected.loss, accuracy: 2e-5 * max(1, expected.loss),
                           "parts \(parts)")
            let (h1, _) = split(state)
            for l in 0..<wide.config.layers {
                for k in 0..<h1[l].count { XCTAssertEqual(h1[l][k], expected.h[l][k], accuracy: 1e-5) }
            }
        }
    }

    func testGradientsMatchCentralDifferencesOfTheReference() {
        for cs in cases {
            let (model, state, x, y) = setUp(cs, seed: 2)
            let ref = ReferenceModel(cs.config)
            let (h0, c0) = split(state)
            let ws = model.makeWorkspace(batch: cs.batch, steps: cs.steps)
            var rng = RNG(seed: 9)
            let lossSum = model.trainStep(inputs: x, targets: y, steps: cs.steps, state: state, workspace: ws,
                                          rng: &rng)
            let grads = Array(model.gradients)
            var p = model.parameters.map(Double.init)
            let base = ref.loss(p, inputs: x, targets: y, batch: cs.batch, steps: cs.steps, h0: h0, c0: c0).loss
            XCTAssertEqual(lossSum / Double(cs.batch * cs.steps), base, accuracy: 2e-5)
            let eps = 1e-5
            var worst = 0.0
            for v in model.layout {
                for k in v.offset..<(v.offset + v.count) {
                    let keep = p[k]
                    p[k] = keep + eps
                    let up = ref.loss(p, inputs: x, targets: y, batch: cs.batch, steps: cs.steps, h0: h0, c0: c0).loss
                    p[k] = keep - eps
                    let down = ref.loss(p, inputs: x, targets: y, batch: cs.batch, steps: cs.steps, h0: h0, c0: c0).loss
                    p[k] = keep
                    let numeric = (up - down) / (2 * eps)
                    let err = abs(Double(grads[k]) - numeric) / max(1e-3, abs(numeric))
                    worst = max(worst, err)
                    XCTAssertLessThan(err, 2e-3, "\(v.name)[\(k - v.offset)] analytic \(grads[k]) numeric \(numeric)")
                }
            }
            XCTAssertLessThan(worst, 2e-3)
        }
    }

    func testDropoutGradientsMatchFiniteDifferencesWithTheSameMasks() {
        let cfg = ModelConfig(vocabSize: 9, embeddingSize: 8, hiddenSize: 12, layers: 2, dropout: 0.3)
        let cs = Case(config: cfg, batch: 3, steps: 4)
        let (model, state0, x, y) = setUp(cs, seed: 3)
        let saved = Array(state0.values)
        let ws = model.makeWorkspace(batch: 3, steps: 4)
        let rng0 = RNG(seed: 77)
        func loss() -> Double {
            let st = model.makeState(batch: 3)
            for k in 0..<saved.count { st.values[k] = saved[k] }
            var r = rng0
            return model.trainStep(inputs: x, targets: y, steps: 4, state: st, workspace: ws, rng: &r) / 12
        }
        _ = loss()
        let grads = Array(model.gradients)
        // Dropout must actually drop: a different mask stream changes the loss.
        var other = RNG(seed: 78)
        let st = model.makeState(batch: 3)
        for k in 0..<saved.count { st.values[k] = saved[k] }
        let lossOther = model.trainStep(inputs: x, targets: y, steps: 4, state: st, workspace: ws, rng: &other) / 12
        XCTAssertNotEqual(lossOther, loss())
        var pick = RNG(seed: 5)
        let p = model.parameters
        let eps: Float = 2e-3
        for v in model.layout {
            for _ in 0..<8 {
                let k = v.offset + Int(pick.next() % UInt64(v.count))
                let keep = p[k]
                p[k] = keep + eps
                let up = loss()
                p[k] = keep - eps
                let down = loss()
                p[k] = keep
                let numeric = (up - down) / Double(2 * eps)
                XCTAssertEqual(Double(grads[k]), numeric, accuracy: 3e-3 + 2e-2 * abs(numeric), "\(v.name)")
            }
        }
    }

    func testStateCarriesAcrossCallsAndEvaluationChunksAgree() {
        let cfg = ModelConfig(vocabSize: 13, embeddingSize: 8, hiddenSize: 9, layers: 2, dropout: 0)
        var rng = RNG(seed: 4)
        let model = LanguageModel(config: cfg, rng: &rng)
        let B = 2, T = 6
        let x = randomTokens(B * T, 13, &rng), y = randomTokens(B * T, 13, &rng)
        // Whole sequence at once.
        let sAll = model.makeState(batch: B)
        let whole = model.evaluate(inputs: x, targets: y, steps: T, state: sAll,
                                   workspace: model.makeWorkspace(batch: B, steps: T, training: false))
        // Workspace of 4 steps: evaluate runs chunks 4 + 2 internally.
        let sChunk = model.makeState(batch: B)
        var rows = [Float](repeating: 0, count: B * T)
        let chunked = model.evaluate(inputs: x, targets: y, steps: T, state: sChunk,
            workspace: model.makeWorkspace(batch: B, steps: 4, training: false), rowLoss: &rows)
        // Products over different row counts may round differently in the last bit; nothing more.
        XCTAssertEqual(whole, chunked, accuracy: 1e-6 * whole)
        XCTAssertEqual(Double(rows.reduce(0, +)), whole, accuracy: 1e-4)
        for k in 0..<sAll.values.count { XCTAssertEqual(sAll.values[k], sChunk.values[k], accuracy: 1e-6) }
        // Two training calls of 3 steps carry the state exactly as one call of 6 steps.
        func half(_ a: [Int32], _ part: Int) -> [Int32] {
            var out: [Int32] = []
            for b in 0..<B {
                let start: Int = b * T + part * 3
                out += a[start..<(start + 3)]
            }
            return out
        }
        let s2 = model.makeState(batch: B)
        let ws3 = model.makeWorkspace(batch: B, steps: 3)
        var r = RNG(seed: 1)
        let l1 = model.trainStep(inputs: half(x, 0), targets: half(y, 0), steps: 3, state: s2, workspace: ws3, rng: &r)
        let l2 = model.trainStep(inputs: half(x, 1), targets: half(y, 1), steps: 3, state: s2, workspace: ws3, rng: &r)
        XCTAssertEqual(l1 + l2, whole, accuracy: 1e-4)
        for k in 0..<s2.values.count { XCTAssertEqual(s2.values[k], sAll.values[k], accuracy: 1e-6) }
    }

    func testSingleStepInferenceMatchesBatchEvaluation() {
        for cell in Cell.allCases { singleStepMatchesBatchEvaluation(cell) }
    }

    func singleStepMatchesBatchEvaluation(_ cell: Cell) {
        var cfg = ModelConfig(vocabSize: 21, embeddingSize: 10, hiddenSize: 17, layers: 3, dropout: 0.5, cell: cell)
        cfg.regularization.weightDrop = 0.4   // training only: evaluation and sampling read the whole W_hh
        var rng = RNG(seed: 6)
        let model = LanguageModel(config: cfg, rng: &rng)
        let T = 9
        let x = randomTokens(T, 21, &rng), y = randomTokens(T, 21, &rng)
        var rows = [Float](repeating: 0, count: T)
        _ = model.evaluate(inputs: x, targets: y, steps: T, state: model.makeState(batch: 1),
                           workspace: model.makeWorkspace(batch: 1, steps: T, training: false), rowLoss: &rows)
        let state = model.makeState(batch: 1)
        let ws = model.makeWorkspace(batch: 1, steps: 1, training: false)
        var logits = [Float](repeating: 0, count: 21)
        for t in 0..<T {
            model.step(token: x[t], state: state, workspace: ws, logits: &logits)
            let m = logits.max()!
            let lse = log(logits.reduce(0.0) { $0 + exp(Double($1 - m)) }) + Double(m)
            XCTAssertEqual(lse - Double(logits[Int(y[t])]), Double(rows[t]), accuracy: 1e-4, "\(cell)")
        }
    }

    func testDataParallelStepMatchesTheSingleThreadedOne() {
        var awd = ModelConfig(vocabSize: 23, embeddingSize: 20, hiddenSize: 20, layers: 2, dropout: 0)
        awd.regularization.weightDrop = 0.3       // masks drawn once per minibatch, shared by the parts
        awd.regularization.embeddingDropout = 0.2
        awd.regularization.tieWeights = true
        for cfg in [ModelConfig(vocabSize: 23, embeddingSize: 12, hiddenSize: 20, layers: 2, dropout: 0),
                    ModelConfig(vocabSize: 23, embeddingSize: 12, hiddenSize: 20, layers: 2, dropout: 0, cell: .gru),
                    ModelConfig(vocabSize: 23, embeddingSize: 12, hiddenSize: 20, layers: 2, dropout: 0, cell: .rnn),
                    awd] {
            dataParallelMatchesSingleThreaded(cfg)
        }
    }

    func dataParallelMatchesSingleThreaded(_ cfg: ModelConfig) {
        for (batch, parts) in [(6, 2), (5, 3)] {
            var rng = RNG(seed: 12)
            let model = LanguageModel(config: cfg, rng: &rng)
            let T = 7
            let x = randomTokens(batch * T, 23, &rng), y = randomTokens(batch * T, 23, &rng)
            let s1 = model.makeState(batch: batch)
            for k in 0..<s1.values.count { s1.values[k] = 0.5 * (2 * rng.uniform() - 1) }
            let s2 = model.makeState(batch: batch)
            s2.copy(from: s1)
            var r1 = RNG(seed: 1), r2 = RNG(seed: 1)
            let l1 = model.trainStep(inputs: x, targets: y, steps: T, state: s1,
                                     workspace: model.makeWorkspace(batch: batch, steps: T), rng: &r1)
            let g1 = Array(model.gradients)
            let l2 = model.trainStep(inputs: x, targets: y, steps: T, state: s2,
                                     workspace: model.makeWorkspace(batch: batch, steps: T, rowParts: parts),
                                         rng: &r2)
            XCTAssertEqual(l1, l2, accuracy: 1e-5 * l1)
            for k in 0..<g1.count { XCTAssertEqual(g1[k], model.gradients[k], accuracy: 1e-6 + 1e-4 * abs(g1[k])) }
            for k in 0..<s1.values.count { XCTAssertEqual(s1.values[k], s2.values[k], accuracy: 1e-6) }
        }
    }

    /// bf16 training products: every cell's loss and gradients stay close to float32's (bfloat16
    /// operands keep about 3 significant digits, accumulation stays float32), the data-parallel step
    /// agrees with the single-threaded one up to the order of sums, evaluation is float32 whatever the
    /// training precision, and the step leaves the thread's products in float32.
    func testBF16TrainingStepsStayCloseToFloat32() throws {
        try XCTSkipUnless(Kernels.bf16Supported, "no native bfloat16 products here (\(KernelInfo.effective))")
        var awd = ModelConfig(vocabSize: 23, embeddingSize: 20, hiddenSize: 20, layers: 2, dropout: 0.2)
        awd.regularization.weightDrop = 0.3
        awd.regularization.tieWeights = true
        for cfg in [ModelConfig(vocabSize: 23, embeddingSize: 12, hiddenSize: 20, layers: 2, dropout: 0.2),
                    ModelConfig(vocabSize: 23, embeddingSize: 12, hiddenSize: 20, layers: 2, dropout: 0, cell: .gru),
                    ModelConfig(vocabSize: 23, embeddingSize: 12, hiddenSize: 20, layers: 2, dropout: 0, cell: .rnn),
                    awd] {
            var rng = RNG(seed: 41)
            let model = LanguageModel(config: cfg, rng: &rng)
            let B = 6, T = 7
            let x = randomTokens(B * T, 23, &rng), y = randomTokens(B * T, 23, &rng)
            let start = model.makeState(batch: B)
            for k in 0..<start.values.count { start.values[k] = 0.5 * (2 * rng.uniform() - 1) }
            func step(_ precision: Precision, parts: Int) -> (Double, [Float], [Float]) {
                model.trainingPrecision = precision
                let s = model.makeState(batch: B)
                s.copy(from: start)
                var r = RNG(seed: 3)
                let loss = model.trainStep(inputs: x, targets: y, steps: T, state: s,
                                           workspace: model.makeWorkspace(batch: B, steps: T, rowParts: parts),
                                           rng: &r)
                return (loss, Array(model.gradients), Array(s.values))
            }
            let f32 = step(.f32, parts: 1), bf16 = step(.bf16, parts: 1), bf16Parts = step(.bf16, parts: 2)
            let name = cfg.cell.displayName
            XCTAssertNotEqual(f32.1, bf16.1, name)   // the products did change
            XCTAssertEqual(bf16.0, f32.0, accuracy: 1e-2 * f32.0, name)
            func relativeError(_ a: [Float], _ b: [Float]) -> Double {
                var diff = 0.0, norm = 0.0
                for k in 0..<a.count {
                    diff += Double(a[k] - b[k]) * Double(a[k] - b[k])
                    norm += Double(b[k]) * Double(b[k])
                }
                return (diff / norm).squareRoot()
            }
            XCTAssertLessThan(relativeError(bf16.1, f32.1), 0.03, "\(name): gradients, bf16 against f32")
            for k in 0..<f32.2.count { XCTAssertEqual(bf16.2[k], f32.2[k], accuracy: 0.02, name) }
            // The parts' sums run in another order; a float32 difference that moves an operand across a
            // bfloat16 rounding boundary moves that one value by 2^-8, so compare as a whole.
            XCTAssertEqual(bf16Parts.0, bf16.0, accuracy: 1e-4 * bf16.0, name)
            XCTAssertLessThan(relativeError(bf16Parts.1, bf16.1), 1e-3, "\(name): gradients, 2 parts against 1")

            // Evaluation is float32 whatever the training precision, and the threads are back in float32.
            func evaluate() -> Double {
                let s = model.makeState(batch: B)
                s.copy(from: start)
                return model.evaluate(inputs: x, targets: y, steps: T, state: s,
                                      workspace: model.makeWorkspace(batch: B, steps: T, training: false))
            }
            model.trainingPrecision = .bf16
            let during = evaluate()
            model.trainingPrecision = .f32
            XCTAssertEqual(during.bitPattern, evaluate().bitPattern, name)
            XCTAssertEqual(step(.f32, parts: 1).1.map(\.bitPattern), f32.1.map(\.bitPattern), name)
        }
    }

    /// Evaluation in scratch lent by a training workspace scores exactly as in memory of its own, and the
    /// training step after it computes exactly what it computes without that evaluation in between.
    func testEvaluationInBorrowedScratchChangesNeitherItsLossNorTraining() {
        let cfg = ModelConfig(vocabSize: 29, embeddingSize: 10, hiddenSize: 18, layers: 2, dropout: 0.3)
        for parts in [1, 2] {
            var rng = RNG(seed: 21)
            let model = LanguageModel(config: cfg, rng: &rng)
            let B = 6, T = 9
            let x = randomTokens(B * T, 29, &rng), y = randomTokens(B * T, 29, &rng)
            let ws = model.makeWorkspace(batch: B, steps: T, rowParts: parts)
            XCTAssertEqual(ws.evaluationScratch.count, parts)
            func step(_ state: RecurrentState) -> (Double, [Float]) {
                var r = RNG(seed: 5)
                let loss = model.trainStep(inputs: x, targets: y, steps: T, state: state, workspace: ws, rng: &r)
                return (loss, Array(model.gradients))
            }
            let plain = step(model.makeState(batch: B))
            let own = BlockEvaluator(model: model, batch: B, rowParts: parts, chunkSteps: 4)
            let lent = BlockEvaluator(model: model, batch: B, rowParts: parts, chunkSteps: 4,
                                      borrowing: ws.evaluationScratch)
            model.prepareForEvaluation()
            let a = own.evaluate(model, inputs: x, targets: y, steps: T)
            let b = lent.evaluate(model, inputs: x, targets: y, steps: T)
            XCTAssertEqual(a.bitPattern, b.bitPattern, "parts \(parts)")
            let after = step(model.makeState(batch: B))
            XCTAssertEqual(plain.0.bitPattern, after.0.bitPattern)
            XCTAssertEqual(plain.1.map(\.bitPattern), after.1.map(\.bitPattern))
            // And evaluating again after that step still agrees (the step overwrote the lent scratch).
            model.prepareForEvaluation()
            own.reset(); lent.reset()
            XCTAssertEqual(own.evaluate(model, inputs: x, targets: y, steps: T).bitPattern,
                           lent.evaluate(model, inputs: x, targets: y, steps: T).bitPattern)
        }
    }

    func testABatchTrainedInBlocksIsTheSumOfItsBlocks() {
        // Each row's dropout masks come from its own stream (the step's seed, the layer and the row's index
        // in the whole batch), so a batch trained whole (on `threads` data-parallel parts) and the same
        // batch trained as separate blocks of rows, each told its BatchSlice, as processes under mpirun
        // train it, compute the same: the blocks' gradients add up to the whole's, their losses too, each
        // block carries its rows' state as the whole does, and every block leaves the generator where the
        // whole does. This covers the recurrent weight gradients, which the data-parallel step computes
        // afterwards from every part's rebuilt layer inputs, with per-step and locked dropout masks.
        for locked in [false, true] {
            var cfg = ModelConfig(vocabSize: 19, embeddingSize: 10, hiddenSize: 14, layers: 3, dropout: 0.3)
            cfg.regularization.lockedDropout = locked
            cfg.regularization.weightDrop = 0.2   // one mask per minibatch, from the generator: the same in every block
            for (batch, blocks, threads) in [(6, 2, 1), (7, 3, 2), (5, 5, 3)] {
                var rng = RNG(seed: 21)
                let model = LanguageModel(config: cfg, rng: &rng)
                let T = 6, H = cfg.hiddenSize
                let x = randomTokens(batch * T, 19, &rng), y = randomTokens(batch * T, 19, &rng)
                let s0 = model.makeState(batch: batch)
                for k in 0..<s0.values.count { s0.values[k] = 0.5 * (2 * rng.uniform() - 1) }
                var stepRNG = RNG(seed: 5)
                let whole = model.makeState(batch: batch)
                whole.copy(from: s0)
                let loss = model.trainStep(inputs: x, targets: y, steps: T, state: whole,
                                           workspace: model.makeWorkspace(batch: batch, steps: T, rowParts: threads),
                                           rng: &stepRNG)
                let g = Array(model.gradients)

                var expected = [Float](repeating: 0, count: g.count)
                var expectedLoss = 0.0
                for i in 0..<blocks {
                    let slice = BatchSlice(block: i, of: blocks, totalRows: batch)
                    let b0 = slice.firstRow, nb = slice.rows
                    let state = model.makeState(batch: nb)
                    for l in 0..<cfg.layers {
                        state.h(l).update(from: s0.h(l) + b0 * H, count: nb * H)
                        state.c(l).update(from: s0.c(l) + b0 * H, count: nb * H)
                    }
                    var r = RNG(seed: 5)
                    let xs = Array(x[(b0 * T)..<((b0 + nb) * T)]), ys = Array(y[(b0 * T)..<((b0 + nb) * T)])
                    expectedLoss += model.trainStep(inputs: xs, targets: ys, steps: T, state: state,
                                                    workspace: model.makeWorkspace(batch: nb, steps: T), rng: &r,
                                                    slice: slice)
                    XCTAssertEqual(r, stepRNG)
                    for k in 0..<g.count { expected[k] += model.gradients[k] }
                    for l in 0..<cfg.layers {
                        for k in 0..<(nb * H) {
                            XCTAssertEqual(whole.h(l)[b0 * H + k], state.h(l)[k], accuracy: 1e-6)
                            XCTAssertEqual(whole.c(l)[b0 * H + k], state.c(l)[k], accuracy: 1e-6)
                        }
                    }
                }
                XCTAssertEqual(loss, expectedLoss, accuracy: 1e-5 * loss)
                var worst: Float = 0
                for k in 0..<g.count { worst = max(worst, abs(g[k] - expected[k]) / (1e-6 + 1e-4 * abs(expected[k]))) }
                XCTAssertLessThanOrEqual(worst, 1, "batch \(batch), \(blocks) blocks, \(threads) threads, locked \(locked)")
            }
        }
    }

    func testUntrainedLossIsNearLogV() {
        for v in [50, 300] {
            let cfg = ModelConfig(vocabSize: v, embeddingSize: 32, hiddenSize: 32, layers: 2, dropout: 0)
            var rng = RNG(seed: 8)
            let model = LanguageModel(config: cfg, rng: &rng)
            let B = 4, T = 20
            let x = randomTokens(B * T, v, &rng), y = randomTokens(B * T, v, &rng)
            let loss = model.evaluate(inputs: x, targets: y, steps: T, state: model.makeState(batch: B),
                                      workspace: model.makeWorkspace(batch: B, steps: T,
                                                                     training: false)) / Double(B * T)
            XCTAssertEqual(loss, log(Double(v)), accuracy: 0.05 * log(Double(v)))
        }
    }

    func testTinyModelOverfitsOneBatch() {
        let cfg = ModelConfig(vocabSize: 12, embeddingSize: 16, hiddenSize: 24, layers: 2, dropout: 0)
        var rng = RNG(seed: 10)
        let model = LanguageModel(config: cfg, rng: &rng)
        let B = 2, T = 16
        let x = randomTokens(B * T, 12, &rng), y = randomTokens(B * T, 12, &rng)
        let ws = model.makeWorkspace(batch: B, steps: T)
        var m = [Float](repeating: 0, count: cfg.parameterCount), s = m
        var last = 0.0
        for it in 1...300 {
            let state = model.makeState(batch: B)
            last = model.trainStep(inputs: x, targets: y, steps: T, state: state, workspace: ws,
                                   rng: &rng) / Double(B * T)
            // Adam, lr 1e-2.
            let g = model.gradients, p = model.parameters
            let c1 = 1 - pow(0.9, Float(it)), c2 = 1 - pow(0.999, Float(it))
            for k in 0..<p.count {
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                s[k] = 0.999 * s[k] + 0.001 * g[k] * g[k]
                p[k] -= 1e-2 * (m[k] / c1) / ((s[k] / c2).squareRoot() + 1e-8)
            }
        }
        XCTAssertLessThan(last, 0.05, "a 2-layer LSTM should memorise 32 random targets")
    }

    func testConfigValidationAndLayout() throws {
        XCTAssertThrowsError(try ModelConfig(vocabSize: 1, embeddingSize: 4, hiddenSize: 4, layers: 1,
                                             dropout: 0).validate())
        XCTAssertThrowsError(try ModelConfig(vocabSize: 10, embeddingSize: 4, hiddenSize: 4, layers: 0,
                                             dropout: 0).validate())
        XCTAssertThrowsError(try ModelConfig(vocabSize: 10, embeddingSize: 4, hiddenSize: 4, layers: 1,
                                             dropout: 1).validate())
        let cfg = ModelConfig(vocabSize: 10, embeddingSize: 4, hiddenSize: 6, layers: 2, dropout: 0)
        try cfg.validate()
        let names = cfg.layout.map(\.name)
        XCTAssertEqual(names, ["embed.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                               "lstm.bias_hh_l0", "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1",
                               "lstm.bias_hh_l1", "head.weight", "head.bias"])
        XCTAssertEqual(cfg.layout.first { $0.name == "lstm.weight_ih_l0" }!.shape, [24, 4])
        XCTAssertEqual(cfg.layout.first { $0.name == "lstm.weight_ih_l1" }!.shape, [24, 6])
        XCTAssertEqual(cfg.layout.last!.offset + cfg.layout.last!.count, cfg.parameterCount)
    }
}
