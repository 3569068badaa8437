// `gasa sample`: generate text from a checkpoint, streamed to stdout as it is produced.
import ArgumentParser
import Corpus
import Foundation
import Model
import Compute
import Sampling
import Storage
import Training

extension UnknownPolicy: ExpressibleByArgument {}

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a trained model (a run folder or a checkpoint folder).",
        discussion: """
        The prime text goes through the same normalisation and segmentation as the training corpus and \
        warms the model up; without one, generation starts after a newline. Output is streamed whole \
        characters at a time (a jamo model's syllables appear once complete). --length counts characters \
        (grapheme clusters), so char and jamo models give the same amount of text.

        Examples:
          gasa sample run --prime "사랑은 " --length 200 --temperature 0.9
          gasa sample run/best --prime-file verse.txt --top-p 0.9 --seed 7 --num-samples 3
          gasa sample run --temperature 0 --length 100            (argmax: always the same text)
          gasa sample run --stop-at '\\n\\n' --stats                (one verse; speed and novelty on stderr)
        """)

    @Argument(help: "A run folder written by 'gasa train' (its best checkpoint, else latest) or a checkpoint folder.")
    var checkpoint: String

    @Option(help: "Text to continue.") var prime: String?
    @Option(help: "Read the prime text from this UTF-8 file.") var primeFile: String?
    @Option(parsing: .unconditional, help: "Characters (grapheme clusters) to generate per sample.") var length = 200
    @Option(parsing: .unconditional,
            help: "Sampling temperature: 0 = always the most likely token; below 1 safer, above 1 wilder.")
    var temperature: Float = 1.0
    @Option(parsing: .unconditional, help: "Sample only among the k most likely tokens (0 = all).") var topK = 0
    @Option(parsing: .unconditional,
            help: "Sample only among the most likely tokens whose probabilities add up to p (1 = all).")
    var topP: Float = 1.0
    @Option(parsing: .unconditional,
            help: "Random seed (default: a fresh one, printed with --stats). The same seed and checkpoint give the same text.")
    var seed: UInt64?
    @Option(parsing: .unconditional, help: "How many samples (seeds seed, seed+1, ...), separated by a blank line.")
    var numSamples = 1
    @Option(help: "Stop a sample once it ends with this text; \\n and \\t are understood (e.g. '\\n\\n' = one verse).")
    var stopAt: String?
    @Option(help: "Prime characters missing from the vocabulary: error, skip (drop them) or unk (feed <unk>).")
    var unknown: UnknownPolicy = .error
    @Flag(help: "Print speed, the share of well-formed syllables and novelty against the training text to stderr.")
    var stats = false
    @Option(help: "Training text for --stats novelty (default: the train split of the prepared folder the model was trained on).")
    var corpus: String?
    @Option(help: "Invalid UTF-8 in --prime-file or --corpus: 'error' (stop, naming file, line and byte offset) or 'replace' (U+FFFD).")
    var invalid: InvalidPolicy = .error

    func validate() throws {
        guard length >= 1 else { throw ValidationError("--length must be at least 1") }
        if let p = SamplerConfig(temperature: temperature, topK: topK, topP: topP).problem { throw ValidationError(p) }
        guard numSamples >= 1 else { throw ValidationError("--num-samples must be at least 1") }
        guard prime == nil || primeFile == nil else { throw ValidationError("give --prime or --prime-file, not both") }
    }

    func run() throws {
        do { try generate() } catch let e as ValidationError { throw e } catch {
            throw CLIError("\(error)")
        }
    }

    private func generate() throws {
        Kernels.setThreads(1)   // batch-1 matrix-vector work: one core is fastest
        let loaded = try Checkpoint.load(path: checkpoint)
        let generator = try Generator(model: loaded.model, vocab: loaded.vocabulary)
        // Files are read with the model's normalisation and --invalid; both are read before any output.
        let reader = try TextPipeline(granularity: loaded.vocabulary.granularity,
                                      text: TextOptions(normalization: loaded.vocabulary.normalization,
                                                        invalid: invalid))
        var primeText = prime ?? ""
        if let primeFile {
            let bytes = try readFileBytes(primeFile)
            primeText = String(decoding: try reader.normalize(bytes: bytes, name: primeFile), as: UTF16.self)
        }
        let corpusText = try corpus.flatMap { path -> [UInt32]? in
            guard stats else { return nil }
            return scalars(of: String(decoding: try reader.normalize(bytes: readFileBytes(path), name: path),
                                      as: UTF16.self))
        }
        var config = GenerationConfig()
        config.prime = primeText
        config.length = length
        config.unknown = unknown
        config.stopAt = stopAt.map(unescape)
        config.sampler = SamplerConfig(temperature: temperature, topK: topK, topP: topP)
        _ = try generator.primeIDs(primeText, unknown: unknown)   // refuse a bad prime before printing anything
        let echo = try generator.primeText(primeText, unknown: unknown)
        let firstSeed = seed ?? UInt64.random(in: 1...999_999)
        var all: [GenerationStats] = []
        for k in 0..<numSamples {
            if k > 0 { Output.stdout("\n\n") }
            var rng = RNG(seed: firstSeed &+ UInt64(k))
            Output.stdout(echo)
            let s = try generator.generate(config, rng: &rng) { piece in Output.stdout(piece) }
            all.append(s)
        }
        Output.stdout("\n")
        if stats { try printStats(all, seed: firstSeed, loaded: loaded, corpusText: corpusText) }
    }

    private func printStats(_ all: [GenerationStats], seed: UInt64, loaded: LoadedCheckpoint,
                            corpusText: [UInt32]?) throws {
        let tokens = all.reduce(0) { $0 + $1.tokens }, chars = all.reduce(0) { $0 + $1.characters }
        let seconds = all.reduce(0) { $0 + $1.seconds }
        let syllables = all.reduce(0) { $0 + $1.syllables }, ill = all.reduce(0) { $0 + $1.illFormed }
        var lines = [
            "checkpoint: \(loaded.directory) (iteration \(loaded.meta.iteration), \(loaded.meta.granularity.rawValue))",
            "seed: \(seed)" + (numSamples > 1 ? " ... \(seed &+ UInt64(numSamples - 1))" : ""),
            String(format: "generated: %d tokens, %d characters in %.2f s: %.0f tokens/s, %.0f characters/s",
                   tokens, chars, seconds, Double(tokens) / max(seconds, 1e-9), Double(chars) / max(seconds, 1e-9)),
        ]
        if loaded.vocabulary.granularity == .jamo || loaded.vocabulary.granularity == .coda {
            let share = syllables + ill > 0 ? Double(syllables) / Double(syllables + ill) : 1
            lines.append(String(format: "well-formed syllables: %.2f%% (%d built from jamo, %d ill-formed jamo shown "
                                + "as letters)", 100 * share, syllables, ill))
        }
        let training: TrainingText.Outcome = try corpusText.map { .text($0) } ?? TrainingText.load(for: loaded)
        switch training {
        case .text(let text):
            let index = NoveltyIndex(corpus: text, window: 20)
            var novel = 0, total = 0
            for s in all {
                let r = index.novel(scalars(of: s.text))
                novel += r.novel
                total += r.total
            }
            lines.append(total > 0
                ? String(format: "novelty: %.1f%% of %d generated 20-character windows do not occur in the training "
                         + "text", 100 * Double(novel) / Double(total), total)
                : "novelty: the samples are shorter than 20 characters")
        case .unavailable(let why):
            lines.append("novelty: skipped (\(why))")
        }
        printError(lines.joined(separator: "\n"))
    }
}

/// "\n" and "\t" typed on a command line become the characters.
func unescape(_ s: String) -> String {
    s.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
}
