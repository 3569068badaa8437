// SIGINT and SIGTERM for the whole process: blocked in every thread and taken by one thread of their
// own (sigwait), which runs what the command asked for (stop a training between steps, remove a
// half-written folder, shut a server down) or, when nothing is asked, ends the process by the signal
// as if gasa had no handler at all.
//
// Why not a plain handler: a handler runs on whichever thread the signal interrupts, on that thread's
// stack. oneDNN 2.x's JIT f32 GEMM kernels (AVX2 and AVX-512) point the stack register into a heap
// buffer while they run, so a handler landing in one pushes its frame onto the heap and corrupts it
// (oneDNN issue 4845, fixed in 3.11.2; Debian bookworm ships 2.6.3). A Ctrl-C during a data-parallel
// training step did exactly that, about one time in five. Dispatch's signal sources install a handler
// too (it re-raises on Dispatch's own thread), so gasa uses none of them.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

public enum Signals {
    /// What a SIGINT or SIGTERM does; it runs on the signal thread and receives the signal's number.
    public typealias Action = @Sendable (Int32) -> Void

    private struct State: ~Copyable {
        var started = false
        var action: Action?
        var running = false   // an action is under way on the signal thread
    }
    private static let state = Mutex(State())

    /// The signals taken here.
    private static let handled: [Int32] = [SIGINT, SIGTERM]

    private static func handledSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        return set
    }

    /// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it creates afterwards, and
    /// starts the thread that receives them. Called first thing in main, before any other thread exists;
    /// later calls do nothing.
    public static func start() {
        let first = state.withLock { s -> Bool in
            if s.started { return false }
            s.started = true
            return true
        }
        guard first else { return }
        var set = handledSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        var thread = pthread_t()
        if pthread_create(&thread, nil, { _ in Signals.receive() }, nil) == 0 {
            pthread_detach(thread)
        } else {   // no thread: the signals act as they would without gasa
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
    }

    /// Sets what the next SIGINT or SIGTERM does (nil: end the process by the signal). An action runs
    /// once: the signal after it ends the process unless a new action is set. Waits for an action under
    /// way to finish first (prepare's never does: it ends the process). Starts the signal thread if main
    /// has not (a library caller); only threads created after that have the signals blocked then.
    public static func setAction(_ action: Action?) {
        start()
        while !state.withLock({ s -> Bool in
            if s.running { return false }
            s.action = action
            return true
        }) { usleep(1000) }
    }

    /// Waits while an action is under way, so that an error it caused on another thread (a folder it
    /// removed) is not reported in place of the exit the action makes.
    public static func waitForAction() {
        while state.withLock({ $0.running }) { usleep(1000) }
    }

    private static func receive() -> Never {
        var set = handledSet()
        while true {
            var signal: Int32 = 0
            guard sigwait(&set, &signal) == 0 else { continue }
            let action = state.withLock { s -> Action? in
                let a = s.action
                s.action = nil
                s.running = a != nil
                return a
            }
            guard let action else { endBy(signal) }
            action(signal)
            state.withLock { $0.running = false }
        }
    }

    /// Ends the process by `signal` with its default action (so a shell sees 128 + signal, as without a
    /// handler). Only from the signal thread, or a thread that has not blocked the signal.
    public static func endBy(_ signal: Int32) -> Never {
        Glibc.signal(signal, SIG_DFL)
        var one = sigset_t()
        sigemptyset(&one)
        sigaddset(&one, signal)
        pthread_sigmask(SIG_UNBLOCK, &one, nil)
        pthread_kill(pthread_self(), signal)
        _exit(128 + signal)
    }
}
