// A checkpoint read back for use: the model with its weights, its metadata and its vocabulary.
import Corpus
import Model

public struct LoadedCheckpoint {
    public let directory: String         // the checkpoint folder actually read (RUN/best, RUN/latest, ...)
    public let meta: CheckpointMeta
    public let model: LanguageModel
    public let vocabulary: Vocabulary
    public let vocabularyPath: String
}
