// The readers of gasa's own formats and of its input text, each as a fuzz target: bytes in, the reader
// run over them, every error accepted. A crash, a trap, a hang or a sanitizer report is the finding.
// Readers that take a path get the bytes in a scratch file (in /dev/shm where there is one).
import Corpus
import Foundation
import Model
import Sampling
import Storage
import Training

enum FuzzTarget: String, CaseIterable {
    case safetensors, shard, manifest, vocabulary, state, meta, metrics, utf8, jamo

    /// What the target feeds its bytes to.
    var reader: String {
        switch self {
        case .safetensors: return "SafeTensors.read (model, optimizer and recurrent files)"
        case .shard: return "ShardReader and every token it serves"
        case .manifest: return "Manifest.load beside a fixed valid vocabulary"
        case .vocabulary: return "Vocabulary.decode"
        case .state: return "TrainingState.load (state.json)"
        case .meta: return "CheckpointMeta.load (meta.json)"
        case .metrics: return "MetricsLog.read (metrics.jsonl)"
        case .utf8: return "TextPipeline.normalize: strict UTF-8 decoding, CR handling, NFC"
        case .jamo: return "StreamingDecoder (jamo and coda), tokens of one to three scalars"
        }
    }
}

/// A scratch folder of this process for the path-taking readers.
let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = base + "/gasa-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

private func put(_ bytes: [UInt8], _ name: String) -> String {
    let path = scratch + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// A small valid vocabulary for the manifest target (the manifest must name one that exists).
private let fixedVocabulary: [UInt8] = {
    let v = Vocabulary(granularity: .char, normalization: .nfc, tokens: [[0x3C, 0x75, 0x6E, 0x6B, 0x3E], [0xAC00],
                                                                         [0x41]],
                       counts: [0, 5, 3], unkID: 0)
    return (try? v.jsonBytes()) ?? []
}()

func fuzz(_ target: FuzzTarget, _ bytes: [UInt8]) {
    switch target {
    case .safetensors:
        _ = try? SafeTensors.read(path: put(bytes, "t.safetensors"))
    case .shard:
        guard let r = try? ShardReader(path: put(bytes, "train-00000.bin"), verify: false) else { return }
        let h = r.header
        var sum: UInt32 = 0
        for i in 0..<min(h.count, 4) {
            for b in 0..<min(h.batch, 64) { for t in 0...min(h.steps, 64) { sum &+= r.token(i, b, t) } }
        }
        _ = sum
    case .manifest:
        _ = put(fixedVocabulary, "vocab.json")
        _ = put(bytes, Manifest.fileName)
        _ = try? Manifest.load(directory: scratch)
    case .vocabulary:
        _ = try? Vocabulary.decode(bytes, path: "<fuzz>")
    case .state:
        try? FileManager.default.removeItem(atPath: scratch + "/" + CheckpointMeta.fileName)
        _ = put(bytes, TrainingState.fileName)
        _ = try? TrainingState.load(directory: scratch)
    case .meta:
        _ = put(bytes, CheckpointMeta.fileName)
        _ = try? CheckpointMeta.load(directory: scratch)
    case .metrics:
        _ = try? MetricsLog.read(path: put(bytes, MetricsLog.fileName))
    case .utf8:
        for keepCR in [false, true] {
            var text = TextOptions()
            text.keepCR = keepCR
            _ = try? TextPipeline(granularity: .char, text: text).normalize(bytes: bytes, name: "<fuzz>")
        }
    case .jamo:
        // Each pair of bytes picks a scalar near the Hangul blocks or from ASCII; a third byte's low bits
        // say where a token ends.
        var tokens: [[UInt32]] = [], token: [UInt32] = []
        var i = 0
        while i + 2 < bytes.count {
            let v = UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            let scalar: UInt32 = [0x1100 + v % 0x100, 0xAC00 + v % 11172, 0x3131 + v % 94,
                                  0x20 + v % 95][Int(bytes[i + 2] >> 6)]
            token.append(scalar)
            if bytes[i + 2] & 3 != 0 || token.count == 3 { tokens.append(token); token = [] }
            i += 3
        }
        for g in [Granularity.jamo, .coda] {
            var d = StreamingDecoder(granularity: g)
            for t in tokens { _ = d.push(t) }
            _ = d.finish()
        }
    }
}
