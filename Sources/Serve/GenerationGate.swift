// How many generations run at once (each takes a core while it samples): at most `running`, in order
// of arrival; up to `waiting` more wait for a turn; beyond that a request is refused (429) rather than
// queued without bound.
public actor GenerationGate {
    public let maxRunning: Int
    public let maxWaiting: Int
    public private(set) var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(maxRunning: Int, maxWaiting: Int) {
        self.maxRunning = max(1, maxRunning)
        self.maxWaiting = max(0, maxWaiting)
    }

    public var waiting: Int { waiters.count }

    /// Whether a new request would be refused now.
    public var isFull: Bool { running >= maxRunning && waiters.count >= maxWaiting }

    /// Waits for a turn; false (at once) when the queue is full.
    public func enter() async -> Bool {
        if running < maxRunning { running += 1; return true }
        guard waiters.count < maxWaiting else { return false }
        await withCheckedContinuation { waiters.append($0) }   // the leaver hands its turn over
        return true
    }

    public func leave() {
        if waiters.isEmpty { running -= 1 } else { waiters.removeFirst().resume() }
    }
}
