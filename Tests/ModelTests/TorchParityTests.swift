// Golden values computed by PyTorch (tools/make_fixtures.py): a torch.nn model's own state_dict, saved
// as safetensors, loads into gasa unchanged, and gasa's loss, gradients and final state match torch's.
import XCTest
import Foundation
import Compute
@testable import Model

final class TorchParityTests: XCTestCase {
    struct Golden: Decodable {
        let vocab_size, embedding_size, hidden_size, layers, batch, steps: Int
        let inputs, targets: [Int32]
        let h0, c0, final_h, final_c: [Float]
        let loss: Double
        let grads: [String: [Float]]
    }

    func testLossGradientsAndStateMatchPyTorch() throws {
        let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        let g = try JSONDecoder().decode(Golden.self,
                                         from: Data(contentsOf: dir.appendingPathComponent("torch_tiny.json")))
        let config = ModelConfig(vocabSize: g.vocab_size, embeddingSize: g.embedding_size, hiddenSize: g.hidden_size,
                                 layers: g.layers, dropout: 0)
        let model = LanguageModel(config: config)
        try model.loadWeights(path: dir.appendingPathComponent("torch_tiny.safetensors").path)
        let state = model.makeState(batch: g.batch)
        for k in 0..<g.h0.count { state.values[k] = g.h0[k]; state.values[g.h0.count + k] = g.c0[k] }
        var rng = RNG(seed: 1)
        let loss = model.trainStep(inputs: g.inputs, targets: g.targets, steps: g.steps, state: state,
                                   workspace: model.makeWorkspace(batch: g.batch, steps: g.steps), rng: &rng)
        XCTAssertEqual(loss / Double(g.batch * g.steps), g.loss, accuracy: 1e-5)
        for v in model.layout {
            let expected = try XCTUnwrap(g.grads[v.name], v.name)
            XCTAssertEqual(expected.count, v.count)
            for k in 0..<v.count {
                XCTAssertEqual(model.gradients[v.offset + k], expected[k], accuracy: 1e-5 + 1e-4 * abs(expected[k]),
                               "\(v.name)[\(k)]")
            }
        }
        for k in 0..<g.final_h.count {
            XCTAssertEqual(state.values[k], g.final_h[k], accuracy: 1e-5)
            XCTAssertEqual(state.values[g.final_h.count + k], g.final_c[k], accuracy: 1e-5)
        }
    }

    struct CellGolden: Decodable {
        let cell: String
        let vocab_size, embedding_size, hidden_size, layers, batch, steps: Int
        let inputs, targets: [Int32]
        let h0, final_h: [Float]
        let loss: Double
        let greedy: [Int32]
        let grads: [String: [Float]]
    }

    /// nn.GRU and nn.RNN (tanh, relu) state_dicts load unchanged; loss, every gradient, the final state and a
    /// greedy continuation (batch-1 steps) match torch's.
    func testGRUAndRNNMatchPyTorch() throws {
        let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        for name in ["gru", "rnn", "rnn-relu"] {
            let g = try JSONDecoder().decode(CellGolden.self, from: Data(contentsOf:
                dir.appendingPathComponent("torch_tiny_\(name).json")))
            let cell = try XCTUnwrap(Cell(rawValue: g.cell))
            let config = ModelConfig(vocabSize: g.vocab_size, embeddingSize: g.embedding_size,
                                     hiddenSize: g.hidden_size, layers: g.layers, dropout: 0, cell: cell)
            let model = LanguageModel(config: config)
            try model.loadWeights(path: dir.appendingPathComponent("torch_tiny_\(name).safetensors").path)
            let state = model.makeState(batch: g.batch)
            for k in 0..<g.h0.count { state.values[k] = g.h0[k] }
            var rng = RNG(seed: 1)
            let loss = model.trainStep(inputs: g.inputs, targets: g.targets, steps: g.steps, state: state,
                                       workspace: model.makeWorkspace(batch: g.batch, steps: g.steps), rng: &rng)
            XCTAssertEqual(loss / Double(g.batch * g.steps), g.loss, accuracy: 1e-5, name)
            for v in model.layout {
                let expected = try XCTUnwrap(g.grads[v.name], "\(name): \(v.name)")
                XCTAssertEqual(expected.count, v.count)
                for k in 0..<v.count {
                    XCTAssertEqual(model.gradients[v.offset + k], expected[k],
                                   accuracy: 1e-5 + 1e-4 * abs(expected[k]), "\(name): \(v.name)[\(k)]")
                }
            }
            for k in 0..<g.final_h.count { XCTAssertEqual(state.values[k], g.final_h[k], accuracy: 1e-5, name) }
            // Greedy generation after the first row, from a zero state.
            let one = model.makeState(batch: 1), ws = model.makeWorkspace(batch: 1, steps: 1, training: false)
            var logits = [Float](repeating: 0, count: g.vocab_size)
            for t in 0..<g.steps { model.step(token: g.inputs[t], state: one, workspace: ws, logits: &logits) }
            var greedy: [Int32] = []
            for _ in 0..<g.greedy.count {
                let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                greedy.append(next)
                model.step(token: next, state: one, workspace: ws, logits: &logits)
            }
            XCTAssertEqual(greedy, g.greedy, name)
        }
    }
}
