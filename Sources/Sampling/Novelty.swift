// Novelty of generated text: the share of its n-character windows (20 by default, as torch-rnn's
// novel_substrings measured) that never occur in the training corpus. Windows are hashed (64 bits), so
// memory is 8 bytes per corpus window. Characters are Unicode scalars of NFC text (a syllable each).

public struct NoveltyIndex {
    public let window: Int
    private var seen = Set<UInt64>()

    /// `corpus`: scalars of the NFC training text.
    public init(corpus: [UInt32], window: Int = 20) {
        self.window = window
        if corpus.count < window { return }
        seen.reserveCapacity(corpus.count)
        for i in 0...(corpus.count - window) { seen.insert(Self.hash(corpus[i..<(i + window)])) }
    }

    /// (windows of `text` not in the corpus, windows of `text`).
    public func novel(_ text: [UInt32]) -> (novel: Int, total: Int) {
        if text.count < window { return (0, 0) }
        var novel = 0
        for i in 0...(text.count - window) where !seen.contains(Self.hash(text[i..<(i + window)])) { novel += 1 }
        return (novel, text.count - window + 1)
    }

    private static func hash(_ s: ArraySlice<UInt32>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for c in s {
            h = (h ^ UInt64(c)) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }
        return h
    }
}
