// SIGINT and SIGTERM as a request to stop: the first sets a flag that the trainer polls between steps
// (it then saves the latest checkpoint and returns); an action runs once, so a second Ctrl-C ends
// the process at once. The signals arrive on Common's signal thread, never on a computing one.
import Common
import Synchronization

private let stopFlag = Atomic<Bool>(false)

public enum StopSignal {
    /// Makes SIGINT and SIGTERM requests to stop.
    public static func install() {
        Signals.setAction { _ in stopFlag.store(true, ordering: .releasing) }   // once: a second signal ends it
    }

    /// Whether a stop was requested (by a signal or by `request()`).
    public static var requested: Bool { stopFlag.load(ordering: .acquiring) }

    /// Asks the trainer to stop as if a signal had arrived.
    public static func request() { stopFlag.store(true, ordering: .releasing) }

    /// Clears the request (before a new run in the same process).
    public static func clear() { stopFlag.store(false, ordering: .releasing) }
}
