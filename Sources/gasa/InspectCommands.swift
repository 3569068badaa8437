// gasa normalize | tokenize | detokenize | inspect: each stage of prepare by hand, stdin to stdout.
import ArgumentParser
import Common
import Corpus
import Foundation

struct NormalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "normalize",
        abstract: "Decode and normalise standard input as prepare would, to standard output.",
        discussion: """
        Examples:
          printf 'ㄱㅏ ㅋㅋ\\n' | gasa normalize --normalization nfkc      # 가 ᄏᄏ
          gasa normalize < lyrics.txt > lyrics.nfc.txt
        """)

    @OptionGroup var textOptions: TextOptionGroup

    func run() throws {
        let p = try TextPipeline(granularity: .char, text: textOptions.text)
        let out = try p.normalize(bytes: readStandardInput(), name: "<stdin>")
        Output.stdout(String(decoding: out, as: UTF16.self))
    }
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Show how standard input is segmented into tokens (or their ids).",
        discussion: """
        Tokens are printed separated by spaces, with ␣ for a space and \\n for a line end; each input line gives one output line. With --ids and --vocab, ids are printed instead, using the vocabulary's granularity and normalisation.

        Examples:
          echo "사랑은 ㅠㅠ" | gasa tokenize --granularity jamo
          echo "사랑은" | gasa tokenize --ids --vocab prep/vocab.json
        """)

    @Option(help: "char, grapheme, jamo, coda or word (ignored with --vocab, which names its own).")
    var granularity: Granularity = .char

    @OptionGroup var textOptions: TextOptionGroup

    @Flag(help: "Print token ids (needs --vocab).")
    var ids = false

    @Option(help: "A vocab.json written by gasa prepare.")
    var vocab: String?

    func validate() throws {
        if ids && vocab == nil { throw ValidationError("--ids needs --vocab PATH/vocab.json") }
    }

    func run() throws {
        var v: Vocabulary? = nil
        var text = textOptions.text
        var g = granularity
        if let path = vocab {
            let voc = try Vocabulary.load(path: path)
            text.normalization = voc.normalization
            g = voc.granularity
            v = voc
        }
        let p = try TextPipeline(granularity: g, text: text)
        let pieces = try p.segment(normalized: try p.normalize(bytes: readStandardInput(), name: "<stdin>"))
        var out = ""
        var line: [String] = []
        var missing = Set<String>()
        for piece in pieces {
            if ids, let voc = v {
                if let id = voc.id(piece) {
                    line.append(String(id))
                } else if let unk = voc.unkID {
                    line.append(String(unk))
                } else {
                    missing.insert(string(of: piece))
                }
            } else {
                line.append(visible(string(of: piece)))
            }
            if piece == [0x0A] {
                out += line.joined(separator: " ") + "\n"
                line = []
            }
        }
        if !line.isEmpty { out += line.joined(separator: " ") + "\n" }
        if !missing.isEmpty {
            throw CLIError("the vocabulary has no id for: "
                           + missing.sorted().map { "'" + visible($0) + "'" }.joined(separator: " ")
                                  + " (and no <unk>; prepare with --min-count or --max-vocab to get one)")
        }
        Output.stdout(out)
    }
}

struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Turn token ids on standard input back into text.",
        discussion: """
        Example:
          gasa tokenize --ids --vocab prep/vocab.json < a.txt | gasa detokenize --vocab prep/vocab.json
        """)

    @Option(help: "The vocab.json the ids come from.")
    var vocab: String

    func run() throws {
        let v = try Vocabulary.load(path: vocab)
        let p = try TextPipeline(granularity: v.granularity, text: TextOptions(normalization: v.normalization))
        let words = String(decoding: try readStandardInput(),
                           as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        var pieces: [[UInt32]] = []
        for (i, w) in words.enumerated() {
            guard let id = Int(w), id >= 0, id < v.count else {
                throw CLIError("word \(i + 1) ('\(w)') is not an id of this vocabulary (0..<\(v.count))")
            }
            pieces.append(v.tokens[id].isEmpty ? Array("\u{FFFD}".unicodeScalars.map(\.value)) : v.tokens[id])
        }
        Output.stdout(try p.detokenize(pieces))
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise a prepared folder and verify every shard's checksum.",
        discussion: """
        Example:
          gasa inspect prep
        """)

    @Argument(help: "A folder written by gasa prepare.")
    var directory: String

    @Option(help: "How many of the most frequent tokens to list.")
    var top = 20

    func validate() throws {
        guard top >= 0 else { throw ValidationError("--top must be 0 or more") }
    }

    func run() throws {
        let m = try Manifest.load(directory: directory)
        let v = try Vocabulary.load(path: directory + "/" + m.vocabFile)
        emit("\(directory): \(m.granularity.rawValue), \(m.normalization.rawValue); vocabulary \(m.vocabSize) "
             + "(uint\(m.tokenBytes * 8) ids), "
              + "B \(m.batchSize), T \(m.seqLength)")
        emit("  corpus: \(m.inputs.joined(separator: ", ")) (\(m.corpusBytes) bytes, crc32 \(m.corpusCrc32)); "
              + "ICU \(m.icuVersion), Unicode \(m.unicodeVersion); split by \(m.splitBy.rawValue), dedup "
              + "\(m.dedup.rawValue)")
        var rows = [["split", "tokens", "characters", "B", "L", "minibatches", "targets", "target chars", "dropped",
                     "shards"]]
        for s in m.splits {
            rows.append([s.name.rawValue, "\(s.tokens)", "\(s.characters)", "\(s.batchSize)", "\(s.streamLength)",
                         "\(s.minibatches)", "\(s.servedTargets)", "\(s.targetCharacters)", "\(s.droppedTokens)",
                         "\(s.shards.count)"])
        }
        emit(TextTable.render(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        let shown = (0..<min(top, v.count)).map { "\($0):'\(visible(v.text($0)))'×\(v.counts[$0])" }
        emit("  top tokens: " + shown.joined(separator: " "))
        let total = m.splits.reduce(0) { $0 + $1.shards.count }
        try m.verifyShards(directory: directory)
        // Checksums cannot tell a shard written with ids beyond the vocabulary: every id is checked too.
        var ids = 0
        for s in m.splits where s.minibatches > 0 {
            let stream = try SplitStream(directory: directory, manifest: m, split: s.name)
            var inputs = [Int32](repeating: 0, count: s.batchSize * m.seqLength), targets = inputs
            for k in 0..<stream.count {
                ids += s.batchSize * (try stream.load(k, inputs: &inputs, targets: &targets) + 1)
            }
        }
        emit("  verified \(total) shard(s): headers match the manifest, checksums match, all \(ids) ids within the "
             + "vocabulary")
    }
}
