// The loss of a model over a whole split, in the two units gasa reports: nats per token (what the model
// optimises) and bits per original character (comparable across granularities: the summed nats divided
// by the characters the served targets begin, as counted by prepare, and by ln 2).
import Corpus
import Foundation

public struct EvalResult: Codable, Sendable, Equatable {
    public var split: SplitName
    public var nats: Double              // summed over every served target
    public var targets: Int              // tokens scored (the split's servedTargets)
    public var characters: Int           // the split's targetCharacters

    public init(split: SplitName, nats: Double, targets: Int, characters: Int) {
        self.split = split
        self.nats = nats
        self.targets = targets
        self.characters = characters
    }

    public var natsPerToken: Double { nats / Double(max(1, targets)) }
    /// NaN when the targets begin no character (a tiny jamo split of one syllable's later jamo): undefined,
    /// written as null in metrics.jsonl, never a made-up number.
    public var bitsPerCharacter: Double { characters > 0 ? nats / Double(characters) / log(2.0) : .nan }
}
