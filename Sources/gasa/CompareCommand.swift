// `gasa compare`: the evidence for choosing a granularity. For runs trained on the same corpus at
// different granularities (e.g. after `gasa prepare --granularity char,jamo` and training each for the
// same minutes) it prints one table and draws their validation curves against minutes in one SVG.
import ArgumentParser
import Corpus
import Foundation
import Numerics
import Sampling
import Storage
import Training

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare trained runs side by side: vocabulary, tokens per character, unseen share, best validation bits per character, speed and a sample.",
        discussion: """
        Bits per character are measured on the original characters, so runs at different granularities \
        compare fairly; lower is better. The SVG shows validation bits per character against training minutes.

        Examples:
          gasa prepare lyrics.txt --out prep --granularity char,jamo
          gasa train prep/char --out run-char --max-minutes 30
          gasa train prep/jamo --out run-jamo --max-minutes 30
          gasa compare run-char run-jamo --svg compare.svg
        """)

    @Argument(help: "Run folders written by 'gasa train'.") var runs: [String]
    @Option(help: "Where to write the SVG of validation bits per character against minutes.") var svg = "compare.svg"
    @Flag(help: "Overwrite the SVG if it exists.") var force = false
    @Option(help: "Prime text for each run's sample (characters a vocabulary lacks are skipped).") var prime = ""
    @Option(help: "Characters per sample (0 = no samples).") var length = 100
    @Option(help: "Sampling temperature for the samples.") var temperature: Float = 0.8
    @Option(help: "Seed for the samples.") var seed: UInt64 = 1

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("name at least one run folder") }
        guard length >= 0 else { throw ValidationError("--length must be 0 or more") }
        if let p = SamplerConfig(temperature: temperature).problem { throw ValidationError(p) }
    }

    struct Row {
        var name = "", granularity = "", vocab = 0
        var tokensPerChar: Double?
        var unseen: Double?
        var bestBits: Double?
        var bestIter: Int?
        var tokensPerSecond: Double?
        var minutes: Double = 0
        var curve: [(Double, Double)] = []
        var sample = ""
    }

    func run() throws {
        if fileExists(svg) && !force { throw CLIError("\(svg) exists; pass --force to overwrite it or --svg to choose another file") }
        Kernels.setThreads(1)
        var rows: [Row] = []
        for run in runs {
            do { rows.append(try row(run)) } catch let e as TrainingError { throw CLIError("\(e)") } catch { throw CLIError("\(run): \(error)") }
        }
        emit(table(rows))
        if length > 0 {
            for r in rows {
                emit("\n[\(r.name), \(r.granularity)]")
                emit(r.sample)
            }
        }
        try AtomicFile.write(Array(plot(rows).utf8), to: svg)
        printError("wrote \(svg)")
    }

    private func row(_ run: String) throws -> Row {
        var r = Row()
        r.name = (run as NSString).standardizingPath.split(separator: "/").last.map(String.init) ?? run
        let loaded = try Checkpoint.load(path: run)
        r.granularity = loaded.meta.granularity
        r.vocab = loaded.meta.vocabSize
        if let manifest = try? Manifest.load(directory: loaded.meta.preparedDirectory), let t = manifest.split("train"), t.characters > 0 {
            r.tokensPerChar = Double(t.tokens) / Double(t.characters)
        }
        let reportPath = loaded.meta.preparedDirectory + "/report.json"
        if let bytes = try? readFileBytes(reportPath), let rep = try? gasaJSONDecoder().decode(PrepareReport.self, from: Data(bytes)) {
            r.unseen = rep.splits.first { $0.name == "val" }?.unseenInTrainShare
        }
        let metricsPath = run + "/metrics.jsonl"
        if let bytes = try? readFileBytes(metricsPath) {
            let dec = JSONDecoder()
            dec.keyDecodingStrategy = .convertFromSnakeCase
            var speeds: [Double] = []
            for line in bytes.split(separator: 0x0A) {
                guard let m = try? dec.decode(MetricsRecord.self, from: Data(line)) else { continue }
                r.minutes = max(r.minutes, m.minutes)
                if m.type == "train", let s = m.tokensPerS { speeds.append(s) }
                if m.type == "eval", m.split == "val", let b = m.bitsPerChar {
                    r.curve.append((m.minutes, b))
                    if r.bestBits == nil || b < r.bestBits! { r.bestBits = b; r.bestIter = m.iter }
                }
            }
            if !speeds.isEmpty { r.tokensPerSecond = speeds.reduce(0, +) / Double(speeds.count) }
        }
        if length > 0 {
            let g = try Generator(model: loaded.model, vocab: loaded.vocabulary)
            var config = GenerationConfig()
            config.prime = prime
            config.length = length
            config.unknown = .skip
            config.sampler = SamplerConfig(temperature: temperature)
            var rng = RNG(seed: seed)
            // One run that cannot sample (no newline to start from) does not cost the others their samples.
            do {
                r.sample = try g.primeText(prime, unknown: .skip) + (try g.generate(config, rng: &rng) { _ in }).text
            } catch let e as GenerationError {
                r.sample = "(no sample: \(e))"
            }
        }
        return r
    }

    private func table(_ rows: [Row]) -> String {
        func f(_ x: Double?, _ fmt: String) -> String { x.map { String(format: fmt, $0) } ?? "-" }
        var lines: [[String]] = [["run", "granularity", "vocab", "tokens/char", "val unseen", "best val bits/char", "at iter",
                                  "tokens/s", "chars/s", "minutes"]]
        for r in rows {
            let charsPerS = r.tokensPerSecond.flatMap { s in r.tokensPerChar.map { s / $0 } }
            lines.append([r.name, r.granularity, "\(r.vocab)", f(r.tokensPerChar, "%.3f"), f(r.unseen.map { 100 * $0 }, "%.2f%%"),
                          f(r.bestBits, "%.4f"), r.bestIter.map(String.init) ?? "-", f(r.tokensPerSecond, "%.0f"),
                          f(charsPerS, "%.0f"), String(format: "%.1f", r.minutes)])
        }
        let widths = (0..<lines[0].count).map { c in lines.map { $0[c].count }.max()! }
        return lines.map { l in l.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
            .joined(separator: "\n")
    }

    /// Validation bits per character against minutes, one line per run.
    private func plot(_ rows: [Row]) -> String {
        let w = 720.0, h = 420.0, left = 70.0, right = 20.0, top = 30.0, bottom = 50.0
        let points = rows.flatMap(\.curve)
        let maxX = max(points.map(\.0).max() ?? 1, 1e-3)
        var lo = points.map(\.1).min() ?? 0, hi = points.map(\.1).max() ?? 1
        if hi - lo < 1e-6 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        func x(_ v: Double) -> Double { left + (w - left - right) * v / maxX }
        func y(_ v: Double) -> Double { top + (h - top - bottom) * (hi - v) / (hi - lo) }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(w / 2)\" y=\"18\" text-anchor=\"middle\">validation bits per character (lower is better)</text>\n"
        s += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        for k in 0...4 {
            let vx = maxX * Double(k) / 4, vy = lo + (hi - lo) * Double(k) / 4
            s += "<text x=\"\(x(vx))\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">\(String(format: "%.1f", vx))</text>\n"
            s += "<text x=\"\(left - 6)\" y=\"\(y(vy) + 4)\" text-anchor=\"end\">\(String(format: "%.2f", vy))</text>\n"
            s += "<line x1=\"\(left)\" y1=\"\(y(vy))\" x2=\"\(w - right)\" y2=\"\(y(vy))\" stroke=\"#eee\"/>\n"
        }
        s += "<text x=\"\(w / 2)\" y=\"\(h - 12)\" text-anchor=\"middle\">minutes of training</text>\n"
        for (i, r) in rows.enumerated() {
            let c = colors[i % colors.count]
            let pts = r.curve.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            if !pts.isEmpty { s += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"\(pts)\"/>\n" }
            let ly = top + 16 * Double(i) + 10
            s += "<line x1=\"\(w - 200)\" y1=\"\(ly)\" x2=\"\(w - 180)\" y2=\"\(ly)\" stroke=\"\(c)\" stroke-width=\"2\"/>\n"
            s += "<text x=\"\(w - 175)\" y=\"\(ly + 4)\">\(xmlEscape(r.name)) (\(r.granularity))</text>\n"
        }
        return s + "</svg>\n"
    }
}

func xmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
