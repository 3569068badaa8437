// The errors of the training stage. Each says what went wrong and what to do about it in one line.

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// Options that cannot work together, or do not fit the data or the run being resumed.
    case badOptions(String)
    /// The loss or the gradient norm stopped being a finite number.
    case diverged(iteration: Int, what: String, hint: String)
    /// A checkpoint file is missing, corrupt or does not fit the rest.
    case badCheckpoint(path: String, problem: String)
    /// The run folder is in a state that does not allow the request.
    case badRun(String)

    public var description: String {
        switch self {
        case let .badOptions(m): return m
        case let .diverged(iteration, what,
                           hint): return "training diverged at iteration \(iteration): \(what). \(hint)"
        case let .badCheckpoint(path, problem): return "\(path): \(problem)"
        case let .badRun(m): return m
        }
    }
}
