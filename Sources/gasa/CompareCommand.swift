// `gasa compare`: the evidence for choosing a granularity. For runs trained on the same corpus at
// different granularities (e.g. after `gasa prepare --granularity char,jamo` and training each for the
// same minutes) it prints one table and draws their validation curves against minutes in one SVG.
import ArgumentParser
import Common
import Corpus
import Foundation
import Compute
import Sampling
import Storage
import Training

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare trained runs side by side: vocabulary, tokens per character, unseen share, best validation "
            + "bits per character, speed and a sample.",
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

    func run() throws {
        if fileExists(svg) && !force {
            throw CLIError("\(svg) exists; pass --force to overwrite it or --svg to choose another file")
        }
        Kernels.setThreads(1)
        // Everything is read and sampled before anything is printed: an error leaves no half table.
        var runs: [RunSummary] = []
        var samples: [String] = []
        for run in self.runs {
            do {
                let r = try RunSummary(run: run)
                runs.append(r)
                if length > 0 { samples.append(try sample(r)) }
            } catch let e as TrainingError { throw CLIError("\(e)") } catch {
                throw CLIError("\(run): \(error)")
            }
        }
        emit(table(runs))
        for (r, text) in zip(runs, samples) {
            emit("\n[\(r.name), \(r.granularity.rawValue)]")
            emit(text)
        }
        try AtomicFile.write(Array(plot(runs).utf8), to: svg)
        printError("wrote \(svg)")
    }

    /// The run's sample after the prime; a run that cannot sample (no newline to start from) says why
    /// instead, and does not cost the others their samples.
    private func sample(_ r: RunSummary) throws -> String {
        let checkpoint = try Checkpoint.load(path: r.directory)   // one model in memory at a time
        let g = try Generator(model: checkpoint.model, vocab: checkpoint.vocabulary)
        var config = GenerationConfig()
        config.prime = prime
        config.length = length
        config.unknown = .skip
        config.sampler = SamplerConfig(temperature: temperature)
        var rng = RNG(seed: seed)
        do {
            return try g.primeText(prime, unknown: .skip) + (try g.generate(config, rng: &rng) { _ in }).text
        } catch let e as GenerationError {
            return "(no sample: \(e))"
        }
    }

    private func table(_ runs: [RunSummary]) -> String {
        func f(_ x: Double?, _ fmt: String) -> String { x.map { String(format: fmt, $0) } ?? "-" }
        var lines: [[String]] = [["run", "granularity", "model", "vocab", "tokens/char", "val unseen",
                                  "best val bits/char", "at iter", "tokens/s", "chars/s", "minutes"]]
        for r in runs {
            let m = r.meta.model
            lines.append([r.name, r.granularity.rawValue, "\(m.cell.rawValue) \(m.layers)x\(m.hiddenSize)",
                          "\(r.vocabSize)", f(r.tokensPerCharacter, "%.3f"),
                          f(r.valUnseenShare.map { 100 * $0 }, "%.2f%%"), f(r.bestValBitsPerChar, "%.4f"),
                          r.bestIteration.map(String.init) ?? "-", f(r.tokensPerSecond, "%.0f"),
                          f(r.charactersPerSecond, "%.0f"), String(format: "%.1f", r.minutes)])
        }
        return TextTable.render(lines)
    }

    /// Validation bits per character against minutes, one line per run.
    private func plot(_ runs: [RunSummary]) -> String {
        let chart = LineChart(xLabel: "minutes of training", series: runs.enumerated().map { i, r in
            LineChart.Series(label: "\(r.name) (\(r.granularity.rawValue))",
                             color: LineChart.palette[i % LineChart.palette.count],
                             points: r.valCurve.map { ($0.minutes, $0.bitsPerChar) }, dots: true)
        })
        return LineChart.document(width: 720, height: 420, title: "validation bits per character (lower is better)",
                                  body: chart.panel(x0: 70, y0: 40, width: 630, height: 320))
    }
}
