// gasa prepare: corpus -> vocabulary + train/val/test shards + manifest, with a report.
import ArgumentParser
import Common
import Corpus
import Foundation

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Turn UTF-8 text into a vocabulary and minibatch shards for training.",
        discussion: """
        INPUT is a file, a directory (walked recursively, in path order, hidden files skipped) or - for standard input. The folder --out receives vocab.json, manifest.json, report.json and the shards (<split>-NNNNN.bin: a 64-byte header, then count x B x (T+1) little-endian token ids).

        Examples:
          gasa prepare data/constitution_ko/constitution_ko.txt --out prep
          gasa prepare lyrics.txt --out prep --granularity char,jamo,coda   # a subfolder each, one table
          gasa prepare songs/ --out prep --split-by document --dedup documents
        """)

    @Argument(help: "Input files or directories, or - for standard input.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Output folder (refused if it exists, unless --force).")
    var out: String

    @Option(help: "Token unit: char, grapheme, jamo, coda or word; a comma-separated list prepares each into its own subfolder.")
    var granularity = "char"

    @OptionGroup var textOptions: TextOptionGroup

    @Option(help: "Tokens seen fewer times than this become <unk>.")
    var minCount = 1

    @Option(help: "Largest vocabulary, <unk> included (0: no limit). jamo and coda always keep the whole modern Hangul alphabet.")
    var maxVocab = 0

    @Option(help: "Shares of train,val,test (of the characters).")
    var split = "0.90,0.05,0.05"

    @Option(help: "Where splits may cut: offset (a character offset, moved to the next line end), document, or stream (char-rnn's split: the end of each of the B rows is val; leaky on repetitive text, for comparing with char-rnn).")
    var splitBy: SplitBy = .offset

    @Option(help: "A line with exactly this text ends a document (default: an empty line).")
    var documentSeparator = ""

    @Option(help: "Remove exact repeats before splitting: none, lines or documents.")
    var dedup: Dedup = .none

    @Option(help: "B: parallel streams per minibatch.")
    var batchSize = 50

    @Option(help: "T: time steps per minibatch.")
    var seqLength = 50

    @Option(help: "Target size of one shard file in MiB.")
    var shardMib = 64

    @Option(help: "Threads for writing ids and shards (0: one per core). The output is the same for any number.")
    var threads = 0

    @Flag(help: "Replace an existing output folder: a prepared folder, a folder of them or an empty one (never one holding other files, an input or the working directory).")
    var force = false

    @Flag(name: .shortAndLong, help: "Print only errors.")
    var quiet = false

    func validate() throws {
        if let p = MinibatchLimits.problem(batchSize: batchSize, seqLength: seqLength) {
            throw ValidationError("--batch-size/--seq-length: " + p)
        }
        guard shardMib > 0 else { throw ValidationError("--shard-mib must be positive") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (one per core) or more") }
        guard minCount >= 1 else { throw ValidationError("--min-count must be at least 1") }
        guard maxVocab == 0 || maxVocab >= 2 else {
            throw ValidationError("--max-vocab must be 0 (no limit) or at least 2: <unk> and one token")
        }
        _ = try granularities()
        _ = try fractions()
    }

    func granularities() throws -> [Granularity] {
        let parts = granularity.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let gs = try parts.map { p -> Granularity in
            guard let g = Granularity(rawValue: p) else {
                throw ValidationError("unknown granularity '\(p)'; choose from "
                                      + "\(Granularity.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return g
        }
        guard !gs.isEmpty, Set(gs).count == gs.count else {
            throw ValidationError("--granularity needs distinct values")
        }
        return gs
    }

    func fractions() throws -> [Double] {
        let f = split.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard f.count == 3, f.allSatisfy({ $0 >= 0 }), abs(f.reduce(0, +) - 1) < 1e-6, f[0] > 0 else {
            throw ValidationError("--split needs three shares for train,val,test, none negative, adding up to 1, "
                                  + "with a train share above 0; e.g. 0.9,0.05,0.05")
        }
        return f
    }

    func run() throws {
        let gs = try granularities()
        // Refused combinations are refused before anything is written, not after the first subfolder.
        for g in gs { try checkLossless(granularity: g, normalization: textOptions.normalization) }
        let (paths, names) = try expandInputs(inputs)
        let spooled = Array(names.keys)   // standard input copied to a file
        defer { for p in spooled { try? FileManager.default.removeItem(atPath: p) } }
        // With several granularities, a failure removes the folder this run created, so that an error
        // leaves nothing behind (and a second try needs no --force).
        var created: String? = nil
        var finished = false
        defer { if !finished, let c = created { try? FileManager.default.removeItem(atPath: c) } }
        if gs.count > 1 {
            if FileManager.default.fileExists(atPath: out) && !force {
                throw CLIError("\(out) already exists; choose another --out or add --force to replace it")
            }
            if !FileManager.default.fileExists(atPath: out) { created = out }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        }
        var reports: [PrepareReport] = []
        for g in gs {
            var o = PrepareOptions()
            o.text = textOptions.text
            o.granularity = g
            o.minCount = minCount
            o.maxVocab = maxVocab
            o.splitFractions = try fractions()
            o.splitBy = splitBy
            o.documentSeparator = documentSeparator
            o.dedup = dedup
            o.batchSize = batchSize
            o.seqLength = seqLength
            o.shardBytes = shardMib << 20
            o.threads = threads
            let p = try Preparer(options: o, inputs: paths)
            p.displayNames = names
            p.showProgress = !quiet
            // Ctrl-C removes what this command made: spooled standard input, a folder it created for
            // several granularities (with the subfolders finished so far).
            p.removeOnInterrupt = spooled + (created.map { [$0] } ?? [])
            let dir = gs.count > 1 ? out + "/" + g.rawValue : out
            reports.append(try p.run(output: dir, force: force))
        }
        finished = true
        // The spooled input goes before the report is printed: a failed write to stdout ends the process.
        for p in spooled { try? FileManager.default.removeItem(atPath: p) }
        if !quiet { emit(gs.count > 1 ? compareTable(reports) : describe(reports[0])) }
    }
}

/// The report of one prepared folder, for people.
func describe(_ r: PrepareReport) -> String {
    var s = "Prepared \(r.output) (\(r.granularity.rawValue), \(r.normalization.rawValue)) in \(fmt(r.seconds)) s, "
        + "\(fmt(r.megabytesPerSecond, 1)) MB/s\n"
    let t = r.text
    s += "  input: \(t.files) file(s), \(t.bytes) bytes, \(t.lines) lines, \(t.decodedCharacters) characters\n"
    if r.normalization != .none {
        s += "  normalisation: \(t.linesChangedByNormalization) lines changed, \(t.decodedCharacters) -> "
            + "\(t.normalizedCharacters) characters\n"
    }
    if t.dedupUnits > 0 {
        s += "  dedup: removed \(t.dedupRemovedUnits) of \(t.dedupUnits) units (\(t.dedupRemovedCharacters) "
            + "characters, \(pct(Double(t.dedupRemovedCharacters) / Double(max(1, t.normalizedCharacters)))) of the "
            + "text)\n"
    }
    s += "  tokens: \(r.tokens) for \(r.characters) characters (\(fmt(r.tokensPerCharacter, 3)) per character)\n"
    s += "  vocabulary: \(r.vocabSize) (\(r.distinctTokens) distinct tokens), <unk> rate \(pct(r.unkRate))\n"
    s += "  top tokens: " + r.topTokens.map { "'" + visible($0) + "'" }.joined(separator: " ") + "\n"
    var rows = [["split", "tokens", "characters", "B", "minibatches", "shards", "unseen in train"]]
    for sp in r.splits {
        rows.append([sp.name.rawValue, "\(sp.tokens)", "\(sp.characters)", "\(sp.batchSize)", "\(sp.minibatches)",
                     "\(sp.shards)", sp.unseenInTrainShare.map(pct) ?? "-"])
    }
    s += TextTable.render(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
    for n in r.notes { s += "\n  note: " + n }
    return s
}

/// One table, granularities side by side: how a user chooses between them.
func compareTable(_ rs: [PrepareReport]) -> String {
    var rows = [["granularity", "vocab", "seen", "tokens", "tokens/char", "unk rate", "val unseen", "test unseen",
                 "MB/s", "folder"]]
    for r in rs {
        let v = r.split(.val)?.unseenInTrainShare, t = r.split(.test)?.unseenInTrainShare
        rows.append([r.granularity.rawValue, "\(r.vocabSize)", "\(r.distinctTokens)", "\(r.tokens)",
                     fmt(r.tokensPerCharacter, 3), pct(r.unkRate), v.map(pct) ?? "-", t.map(pct) ?? "-",
                     fmt(r.megabytesPerSecond, 1), r.output])
    }
    return TextTable.render(rows)
}

/// Makes whitespace and control characters visible in token listings.
func visible(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        switch u.value {
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x20: out += "␣"
        case 0..<0x20, 0x7F: out += String(format: "\\x%02X", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}
