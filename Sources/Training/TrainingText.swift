// The text a checkpoint was trained on, as normalised scalars, rebuilt from the train split's shards
// of the prepared folder its meta.json names (for `sample --stats` novelty): every served row in stream
// order, detokenised. It is not there when the folder is gone or was prepared again since.
import Corpus

public enum TrainingText {
    public enum Outcome {
        case text([UInt32])
        case unavailable(String)   // why, with what to do
    }

    public static func load(for checkpoint: LoadedCheckpoint) throws -> Outcome {
        let dir = checkpoint.meta.preparedDirectory
        guard let manifest = try? Manifest.load(directory: dir) else {
            return .unavailable("the prepared folder \(dir) is gone; pass --corpus FILE")
        }
        // The shards' ids index the folder's vocabulary: a folder prepared again since (another corpus,
        // a larger vocabulary) is not the model's training text.
        guard manifest.vocabChecksum == checkpoint.meta.vocabChecksum,
            manifest.vocabSize == checkpoint.vocabulary.count else {
            return .unavailable("\(dir) was prepared again: its vocabulary, checksum \(manifest.vocabChecksum), is "
                                + "not the model's, \(checkpoint.meta.vocabChecksum); pass --corpus FILE")
        }
        let stream = try SplitStream(directory: dir, manifest: manifest, split: .train)
        let B = stream.batchSize, T = manifest.seqLength
        var rows = [[Int32]](repeating: [], count: B)
        var inputs = [Int32](repeating: 0, count: B * T), targets = inputs
        for k in 0..<stream.count {
            let steps = try stream.load(k, inputs: &inputs, targets: &targets)
            for b in 0..<B { rows[b] += inputs[(b * steps)..<(b * steps + steps)] }
        }
        let vocab = checkpoint.vocabulary
        let pipeline = try TextPipeline(granularity: vocab.granularity,
                                        text: TextOptions(normalization: vocab.normalization))
        return .text(scalars(of: try pipeline.detokenize(rows.joined().map { vocab.tokens[Int($0)] })))
    }
}
