// How many generations run at once (each takes a core while it samples): at most `maxRunning`, in
// order of arrival; up to `maxWaiting` more wait for a turn. A request is admitted (or refused with 429)
// when it arrives, before any of its work, so a burst beyond the cap is refused rather than queued
// without bound. An admission is a Ticket: entered when its response starts streaming, left when its
// generation's thread has ended; one that is dropped without entering gives its place back.
import Foundation

public actor GenerationGate {
    public let maxRunning: Int
    public let maxWaiting: Int
    public private(set) var running = 0
    private var admitted = 0                 // running + waiting + admitted but not yet entered
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(maxRunning: Int, maxWaiting: Int) {
        self.maxRunning = max(1, maxRunning)
        self.maxWaiting = max(0, maxWaiting)
    }

    public var waiting: Int { waiters.count }

    /// Whether a new request would be refused now.
    public var isFull: Bool { admitted >= maxRunning + maxWaiting }

    /// A place for a request, or nil when every place is taken.
    public func admit() -> Ticket? {
        guard admitted < maxRunning + maxWaiting else { return nil }
        admitted += 1
        return Ticket(gate: self)
    }

    /// Waits for a turn (the ticket's holder calls it once).
    fileprivate func enter() async {
        if running < maxRunning { running += 1; return }
        await withCheckedContinuation { waiters.append($0) }   // the leaver hands its turn over
    }

    fileprivate func leave() {
        admitted -= 1
        if waiters.isEmpty { running -= 1 } else { waiters.removeFirst().resume() }
    }

    fileprivate func withdraw() { admitted -= 1 }

    /// One admitted request's place in the gate.
    public final class Ticket: @unchecked Sendable {
        private let gate: GenerationGate
        private let lock = NSLock()
        private var state = 0                // 0 admitted, 1 entered, 2 done

        fileprivate init(gate: GenerationGate) { self.gate = gate }

        /// Waits for this request's turn.
        public func enter() async {
            lock.withLock { state = 1 }
            await gate.enter()
        }

        /// Gives the turn (or the place in the queue) back.
        public func leave() async {
            let was = lock.withLock { () -> Int in defer { state = 2 }; return state }
            if was == 1 { await gate.leave() } else if was == 0 { await gate.withdraw() }
        }

        deinit {
            lock.lock(); let was = state; lock.unlock()
            let gate = self.gate
            if was == 0 { Task { await gate.withdraw() } }    // admitted, then dropped (an error, a closed connection)
            if was == 1 { Task { await gate.leave() } }
        }
    }
}
