// Turns generated tokens into text as they come, never showing half a syllable: with jamo and coda
// models a syllable is released once the next token shows it is complete (a new leading consonant, a
// token that is not a jamo, or the end). Jamo that cannot form a syllable where they stand (a lone
// vowel or final, a leading consonant with no vowel) are shown as compatibility jamo (ㄱ, ㅏ) so the
// output stays readable, and counted. It does not sample or count characters.
import Corpus

public struct StreamingDecoder {
    public let granularity: Granularity
    /// Syllables built from jamo (jamo/coda) and ill-formed jamo shown as compatibility letters.
    public private(set) var syllables = 0
    public private(set) var illFormed = 0
    private var lead: UInt32 = 0       // pending modern L (jamo)
    private var vowel: UInt32 = 0      // pending modern V after `lead` (jamo)
    private var open: UInt32 = 0       // pending open syllable (coda), or LV built from jamo

    public init(granularity: Granularity) { self.granularity = granularity }

    /// Feeds one token (its scalars); returns the text that is now final.
    public mutating func push(_ token: [UInt32]) -> String {
        var out = String.UnicodeScalarView()
        switch granularity {
        case .jamo: pushJamo(token, &out)
        case .coda: pushCoda(token, &out)
        default: append(token, &out)
        }
        return String(out)
    }

    /// Releases whatever is pending (end of generation).
    public mutating func finish() -> String {
        var out = String.UnicodeScalarView()
        flush(&out)
        return String(out)
    }

    private mutating func pushJamo(_ token: [UInt32], _ out: inout String.UnicodeScalarView) {
        guard token.count == 1 else { flush(&out); append(token, &out); return }
        let c = token[0]
        if Hangul.isModernL(c) {
            flush(&out)
            lead = c
        } else if Hangul.isModernV(c) {
            if lead != 0 && vowel == 0 {
                vowel = c
            } else {
                flush(&out)
                illFormedJamo(c, &out)
            }
        } else if Hangul.isModernT(c) {
            if lead != 0 && vowel != 0 {
                syllables += 1
                append([Hangul.compose(l: lead, v: vowel, t: c)], &out)
                lead = 0
                vowel = 0
            } else {
                flush(&out)
                illFormedJamo(c, &out)
            }
        } else {
            flush(&out)
            append(token, &out)
        }
    }

    private mutating func pushCoda(_ token: [UInt32], _ out: inout String.UnicodeScalarView) {
        guard token.count == 1 else { flush(&out); append(token, &out); return }
        let c = token[0]
        if Hangul.isModernT(c) {
            if open != 0 {
                syllables += 1
                append([open + (c - Hangul.tBase)], &out)
                open = 0
            } else {
                illFormedJamo(c, &out)
            }
            return
        }
        flush(&out)
        if Hangul.isSyllable(c) && (c - Hangul.sBase) % Hangul.tCount == 0 {
            open = c
        } else {
            if Hangul.isSyllable(c) { syllables += 1 }
            append(token, &out)
        }
    }

    private mutating func flush(_ out: inout String.UnicodeScalarView) {
        if lead != 0 {
            if vowel != 0 {
                syllables += 1
                append([Hangul.compose(l: lead, v: vowel)], &out)
            } else {
                illFormedJamo(lead, &out)
            }
            lead = 0
            vowel = 0
        }
        if open != 0 {
            syllables += 1
            append([open], &out)
            open = 0
        }
    }

    private mutating func illFormedJamo(_ c: UInt32, _ out: inout String.UnicodeScalarView) {
        illFormed += 1
        append([Hangul.compatibility(c) ?? c], &out)
    }

    private func append(_ scalars: [UInt32], _ out: inout String.UnicodeScalarView) {
        for c in scalars { if let u = Unicode.Scalar(c) { out.append(u) } }
    }

    /// Share of built syllables among syllables and ill-formed jamo (1 when there were none).
    public var wellFormedShare: Double {
        syllables + illFormed == 0 ? 1 : Double(syllables) / Double(syllables + illFormed)
    }
}

/// Counts user-perceived characters (extended grapheme clusters) of text that arrives in pieces.
public struct CharacterCounter {
    private var settled = 0
    private var tail = ""
    public init() {}

    public mutating func add(_ s: String) {
        tail += s
        // Everything before the last character can no longer change its clustering.
        if tail.unicodeScalars.count > 64 {
            let last = tail.index(before: tail.endIndex)
            settled += tail[..<last].count
            tail = String(tail[last...])
        }
    }

    public var count: Int { settled + tail.count }
}
