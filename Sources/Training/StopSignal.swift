// SIGINT and SIGTERM as a request to stop: the handler only sets a flag (the one thing that is safe in a
// signal handler) and restores the default action, so a second Ctrl-C ends the process at once. The
// trainer polls the flag between steps, saves the latest checkpoint and returns.
#if canImport(Glibc)
import Glibc
#endif

private let stopFlag: UnsafeMutablePointer<sig_atomic_t> = {
    let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
    p.initialize(to: 0)
    return p
}()

public enum StopSignal {
    /// Installs the handlers for SIGINT and SIGTERM.
    public static func install() {
        _ = stopFlag
        for s in [SIGINT, SIGTERM] {
            signal(s) { sig in
                stopFlag.pointee = 1
                signal(sig, SIG_DFL)
            }
        }
    }

    /// Whether a stop was requested (by a signal or by `request()`).
    public static var requested: Bool { stopFlag.pointee != 0 }

    /// Asks the trainer to stop as if a signal had arrived.
    public static func request() { stopFlag.pointee = 1 }

    /// Clears the request (before a new run in the same process).
    public static func clear() { stopFlag.pointee = 0 }
}
