// report.json of a prepared folder, and what `gasa prepare` prints from it: the counts of the text,
// the tokens and the vocabulary, each split's size and its share of tokens unseen in train, the speed,
// and notes on anything a user should know (NFKC rewrites, replaced bytes, empty or too small splits).
import Foundation

public struct SplitReport: Codable, Sendable {
    public var name: SplitName
    public var tokens: Int
    public var characters: Int
    public var minibatches: Int
    public var batchSize: Int
    public var unseenInTrainShare: Double?            // share of tokens whose id never occurs in train
    public var shards: Int
}

public struct PrepareReport: Codable, Sendable {
    public static let fileName = "report.json"

    public var granularity: Granularity
    public var normalization: Normalization
    public var output: String
    public var inputBytes: Int
    public var text: TextStats
    public var tokens: Int
    public var characters: Int
    public var tokensPerCharacter: Double
    public var vocabSize: Int
    public var distinctTokens: Int
    public var unkTokens: Int
    public var unkRate: Double
    public var topTokens: [String]
    public var splits: [SplitReport]
    public var seconds: Double
    public var megabytesPerSecond: Double
    public var notes: [String]

    public func split(_ name: SplitName) -> SplitReport? { splits.first { $0.name == name } }

    /// The report of a prepare that is done but for committing its folder.
    init(options: PrepareOptions, output: String, scan: ScanResult, vocab: Vocabulary, ids: IdPassResult,
         splits infos: [SplitInfo], leftoverNotes: [String], seconds: Double) {
        let stats = scan.stats, s = ids.splits
        splits = zip(infos, s).enumerated().map { i, pair in
            let (info, tokens) = pair
            var unseen: Double? = nil
            if i > 0 && tokens.tokens > 0 {
                var n = 0
                for id in 0..<vocab.count where s[0].idCounts[id] == 0 { n += tokens.idCounts[id] }
                unseen = Double(n) / Double(tokens.tokens)
            }
            return SplitReport(name: info.name, tokens: tokens.tokens, characters: tokens.characters,
                               minibatches: info.minibatches, batchSize: info.batchSize, unseenInTrainShare: unseen,
                               shards: info.shards.count)
        }
        let unk = vocab.unkID.map { id in s.reduce(0) { $0 + $1.idCounts[id] } } ?? 0
        var notes = leftoverNotes
        if options.text.normalization == .nfkc && stats.hangulCompatibilityLettersRewritten > 0 {
            notes.append("NFKC rewrote \(stats.hangulCompatibilityLettersRewritten) Hangul compatibility/half-width "
                         + "letters (e.g. ㅋㅋ becomes leading conjoining jamo, ㄱㅏ becomes 가); use --normalization nfc "
                         + "to keep them")
        }
        if stats.replacements > 0 {
            notes.append("\(stats.replacements) invalid UTF-8 sequences were replaced by U+FFFD")
        }
        for r in splits where r.name != .train && r.tokens > 0 && r.minibatches == 0 {
            notes.append("the \(r.name.rawValue) split is too small to form a minibatch")
        }
        for (i, r) in splits.enumerated() where r.name != .train && r.tokens == 0 && options.splitFractions[i] > 0 {
            notes.append("the \(r.name.rawValue) split is empty"
                         + (options.splitBy == .document ? " (too few documents)" : ""))
        }
        granularity = options.granularity
        normalization = options.text.normalization
        self.output = output
        inputBytes = stats.bytes
        text = stats
        tokens = scan.tokens
        characters = stats.keptCharacters
        tokensPerCharacter = Double(scan.tokens) / Double(stats.keptCharacters)
        vocabSize = vocab.count
        distinctTokens = scan.counts.count
        unkTokens = unk
        unkRate = scan.tokens > 0 ? Double(unk) / Double(scan.tokens) : 0
        topTokens = (0..<min(12, vocab.count)).filter { $0 != vocab.unkID }.map { vocab.text($0) }
        self.seconds = seconds
        megabytesPerSecond = Double(stats.bytes) / 1e6 / seconds
        self.notes = notes
    }
}
