// char-rnn's learning-rate schedule: the rate is multiplied by `decay` at the end of every epoch whose
// number (1, 2, ...) is at least `decayAfter`. It is a pure function of the completed epochs, so a
// resumed run computes exactly the rate the uninterrupted one had.
import Foundation

public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public var base: Double            // the rate of the first epoch
    public var decay: Double = 1       // factor per epoch once decaying (1: constant rate)
    public var decayAfter: Double = 10 // first epoch whose end applies the factor

    public init(base: Double, decay: Double = 1, decayAfter: Double = 10) {
        self.base = base
        self.decay = decay
        self.decayAfter = decayAfter
    }

    /// Number of decays applied once `completedEpochs` epochs are done.
    public func decays(completedEpochs: Int) -> Int {
        guard decay != 1, completedEpochs > 0 else { return 0 }
        // In Double: a decayAfter beyond any run (up to TrainConfig's bound, or an infinity) never decays.
        let first = max(1, decayAfter.rounded(.up))
        guard Double(completedEpochs) >= first else { return 0 }
        return completedEpochs - Int(first) + 1
    }

    /// The rate during the epoch after `completedEpochs` finished ones.
    public func rate(completedEpochs: Int) -> Double {
        base * pow(decay, Double(decays(completedEpochs: completedEpochs)))
    }
}
