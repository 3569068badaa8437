// A naive double-precision char-rnn (LSTM, GRU or RNN cells, PyTorch's equations) written straight
// from the equations, independent of the fused kernels: the yardstick for the forward pass and, through
// central differences, for the gradients.
import Foundation
@testable import Model

struct ReferenceModel {
    let config: ModelConfig
    let layout: [TensorView]

    init(_ config: ModelConfig) { self.config = config; layout = config.layout }

    func tensor(_ p: [Double], _ name: String) -> ArraySlice<Double> {
        let v = layout.first { $0.name == name }!
        return p[v.offset..<(v.offset + v.count)]
    }

    /// Mean cross-entropy over B*T targets; h0/c0 are [layer][b*H + j]. Returns loss and final states.
    func loss(_ p: [Double], inputs: [Int32], targets: [Int32], batch B: Int, steps T: Int,
              h0: [[Double]], c0: [[Double]]) -> (loss: Double, h: [[Double]], c: [[Double]]) {
        let H = config.hiddenSize, E = config.embeddingSize, V = config.vocabSize, L = config.layers
        let emb = Array(tensor(p, "embed.weight"))
        let hw = Array(tensor(p, "head.weight")), hb = Array(tensor(p, "head.bias"))
        var h = h0, c = c0
        var total = 0.0
        // outputs[t][b] of the current layer
        var seq: [[[Double]]] = (0..<T).map { t in (0..<B).map { b in
            let tok = Int(inputs[b * T + t]); return Array(emb[(tok * E)..<(tok * E + E)]) } }
        for l in 0..<L {
            let In = l == 0 ? E : H
            let m = config.cell.moduleName, R = config.gateRows
            let wih = Array(tensor(p, "\(m).weight_ih_l\(l)")), whh = Array(tensor(p, "\(m).weight_hh_l\(l)"))
            let bih = Array(tensor(p, "\(m).bias_ih_l\(l)")), bhh = Array(tensor(p, "\(m).bias_hh_l\(l)"))
            var out = seq
            for t in 0..<T {
                for b in 0..<B {
                    // The input and recurrent products with their biases, kept apart (the GRU needs both).
                    var gx = [Double](repeating: 0, count: R), gh = [Double](repeating: 0, count: R)
                    for k in 0..<R {
                        var sx = bih[k], sh = bhh[k]
                        for j in 0..<In { sx += wih[k * In + j] * seq[t][b][j] }
                        for j in 0..<H { sh += whh[k * H + j] * h[l][b * H + j] }
                        gx[k] = sx
                        gh[k] = sh
                    }
                    var hn = [Double](repeating: 0, count: H)
                    for j in 0..<H {
                        func sig(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
                        switch config.cell {
                        case .lstm:
                            let g = { (k: Int) in gx[k] + gh[k] }
                            let i = sig(g(j)), f = sig(g(H + j)), gg = tanh(g(2 * H + j)), o = sig(g(3 * H + j))
                            let cn = f * c[l][b * H + j] + i * gg
                            c[l][b * H + j] = cn
                            hn[j] = o * tanh(cn)
                        case .gru:
                            let r = sig(gx[j] + gh[j]), z = sig(gx[H + j] + gh[H + j])
                            let n = tanh(gx[2 * H + j] + r * gh[2 * H + j])
                            hn[j] = (1 - z) * n + z * h[l][b * H + j]
                        case .rnn:
                            hn[j] = tanh(gx[j] + gh[j])
                        case .rnnRelu:
                            hn[j] = max(0, gx[j] + gh[j])
                        }
                    }
                    for j in 0..<H { h[l][b * H + j] = hn[j] }
                    out[t][b] = hn
                }
            }
            seq = out
        }
        for t in 0..<T {
            for b in 0..<B {
                var logits = [Double](repeating: 0, count: V)
                for v in 0..<V {
                    var s = hb[v]
                    for j in 0..<H { s += hw[v * H + j] * seq[t][b][j] }
                    logits[v] = s
                }
                let m = logits.max()!
                let lse = log(logits.reduce(0) { $0 + exp($1 - m) }) + m
                total += lse - logits[Int(targets[b * T + t])]
            }
        }
        return (total / Double(B * T), h, c)
    }
}
