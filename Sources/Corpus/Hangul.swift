// Hangul syllable arithmetic (The Unicode Standard, chapter 3.12 "Conjoining Jamo Behavior") and the
// mapping from conjoining jamo to compatibility jamo used to print ill-formed jamo readably.
// Modern syllables only: archaic jamo have no precomposed syllables and pass through untouched.

public enum Hangul {
    public static let sBase: UInt32 = 0xAC00, lBase: UInt32 = 0x1100, vBase: UInt32 = 0x1161, tBase: UInt32 = 0x11A7
    public static let lCount: UInt32 = 19, vCount: UInt32 = 21, tCount: UInt32 = 28
    public static let nCount = vCount * tCount          // 588
    public static let sCount = lCount * nCount          // 11,172

    @inline(__always) public static func isSyllable(_ c: UInt32) -> Bool { c &- sBase < sCount }
    /// Modern leading consonant U+1100...U+1112 (the ones that compose).
    @inline(__always) public static func isModernL(_ c: UInt32) -> Bool { c &- lBase < lCount }
    @inline(__always) public static func isModernV(_ c: UInt32) -> Bool { c &- vBase < vCount }
    /// Modern trailing consonant U+11A8...U+11C2.
    @inline(__always) public static func isModernT(_ c: UInt32) -> Bool { c &- (tBase + 1) < tCount - 1 }
    /// Any conjoining jamo, modern or archaic: U+1100...U+11FF, U+A960...U+A97F, U+D7B0...U+D7FF.
    @inline(__always) public static func isConjoiningJamo(_ c: UInt32) -> Bool {
        (c >= 0x1100 && c <= 0x11FF) || (c >= 0xA960 && c <= 0xA97F) || (c >= 0xD7B0 && c <= 0xD7FF)
    }
    /// Leading consonants (choseong), modern and archaic, including the filler U+115F.
    @inline(__always) public static func isLeading(_ c: UInt32) -> Bool {
        (c >= 0x1100 && c <= 0x115F) || (c >= 0xA960 && c <= 0xA97F)
    }
    /// Vowels (jungseong), including the filler U+1160.
    @inline(__always) public static func isVowel(_ c: UInt32) -> Bool {
        (c >= 0x1160 && c <= 0x11A7) || (c >= 0xD7B0 && c <= 0xD7C6)
    }
    /// Trailing consonants (jongseong).
    @inline(__always) public static func isTrailing(_ c: UInt32) -> Bool {
        (c >= 0x11A8 && c <= 0x11FF) || (c >= 0xD7CB && c <= 0xD7FB)
    }

    /// L, V and T (0 when the syllable has no final) of a precomposed syllable.
    @inline(__always) public static func decompose(_ s: UInt32) -> (l: UInt32, v: UInt32, t: UInt32) {
        let i = s - sBase
        let t = i % tCount
        return (lBase + i / nCount, vBase + (i % nCount) / tCount, t == 0 ? 0 : tBase + t)
    }

    /// The syllable for modern L, V and optional modern T (0 for none).
    @inline(__always) public static func compose(l: UInt32, v: UInt32, t: UInt32 = 0) -> UInt32 {
        sBase + ((l - lBase) * vCount + (v - vBase)) * tCount + (t == 0 ? 0 : t - tBase)
    }

    /// Compatibility jamo (U+3131...U+318E) that looks like a modern conjoining jamo, for readable output of
    /// a jamo that cannot form a syllable where it stands (a lone vowel, a final with no syllable).
    public static func compatibility(_ c: UInt32) -> UInt32? {
        if isModernL(c) { return leadToCompat[Int(c - lBase)] }
        if isModernV(c) { return 0x314F + (c - vBase) }
        if isModernT(c) { return trailToCompat[Int(c - tBase - 1)] }
        return nil
    }

    /// The modern conjoining jamo a compatibility jamo stands for, the inverse of `compatibility`: a
    /// consonant's leading form first (then its final form, where it has both), a vowel's medial form.
    public static func conjoining(fromCompatibility c: UInt32) -> [UInt32] {
        var out: [UInt32] = []
        if let i = leadToCompat.firstIndex(of: c) { out.append(lBase + UInt32(i)) }
        if let i = trailToCompat.firstIndex(of: c) { out.append(tBase + 1 + UInt32(i)) }
        if c >= 0x314F && c <= 0x314F + vCount - 1 { out.append(vBase + (c - 0x314F)) }
        return out
    }

    // ㄱ ㄲ ㄴ ㄷ ㄸ ㄹ ㅁ ㅂ ㅃ ㅅ ㅆ ㅇ ㅈ ㅉ ㅊ ㅋ ㅌ ㅍ ㅎ
    private static let leadToCompat: [UInt32] = [
        0x3131, 0x3132, 0x3134, 0x3137, 0x3138, 0x3139, 0x3141, 0x3142, 0x3143, 0x3145,
        0x3146, 0x3147, 0x3148, 0x3149, 0x314A, 0x314B, 0x314C, 0x314D, 0x314E,
    ]
    // ㄱ ㄲ ㄳ ㄴ ㄵ ㄶ ㄷ ㄹ ㄺ ㄻ ㄼ ㄽ ㄾ ㄿ ㅀ ㅁ ㅂ ㅄ ㅅ ㅆ ㅇ ㅈ ㅊ ㅋ ㅌ ㅍ ㅎ
    private static let trailToCompat: [UInt32] = [
        0x3131, 0x3132, 0x3133, 0x3134, 0x3135, 0x3136, 0x3137, 0x3139, 0x313A, 0x313B,
        0x313C, 0x313D, 0x313E, 0x313F, 0x3140, 0x3141, 0x3142, 0x3144, 0x3145, 0x3146,
        0x3147, 0x3148, 0x314A, 0x314B, 0x314C, 0x314D, 0x314E,
    ]

    /// Compatibility or half-width Hangul letters, which NFKC rewrites into conjoining jamo or syllables.
    @inline(__always) public static func isCompatibilityLetter(_ c: UInt32) -> Bool {
        (c >= 0x3131 && c <= 0x318E) || (c >= 0xFFA0 && c <= 0xFFDC)
    }
}
