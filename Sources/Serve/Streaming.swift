// One generation for the web: `gasa sample`'s generator run on a thread of its own (sampling is CPU
// work that must not hold up the server's event loops), its pieces handed to the HTTP response as
// Server-Sent Events as they come. The client going away, the server shutting down or the time limit
// stops it between two tokens; the model's weights are shared, everything else is the generation's own.
import Common
import Compute
import Dispatch
import Foundation
import Sampling

/// What a generation streams, in order: the prime as the model read it, pieces of text, then done (or
/// an error).
enum StreamEvent: Sendable {
    case prime(String)
    case text(String)
    case done(Done)
    case failed(String)

    struct Done: Encodable, Sendable {
        var seed: UInt64
        var tokens: Int, characters: Int
        var seconds: Double, wellFormedShare: Double
        var stopped: Bool                 // ended early: its client went away, its time ran out, the server stopped
    }

    /// The event as text/event-stream lines (the data is JSON, so that line ends inside text stay data).
    var sse: String {
        func line(_ name: String, _ json: String) -> String { "event: \(name)\ndata: \(json)\n\n" }
        switch self {
        case .prime(let t): return line("prime", StreamEvent.json(["text": t]))
        case .text(let t): return line("text", StreamEvent.json(["text": t]))
        case .failed(let m): return line("error", StreamEvent.json(["error": m]))
        case .done(let d):
            let e = JSONEncoder()
            e.keyEncodingStrategy = .convertToSnakeCase
            return line("done", String(decoding: (try? e.encode(d)) ?? Data("{}".utf8), as: UTF8.self))
        }
    }

    static func json(_ object: [String: String]) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys,
            .withoutEscapingSlashes])) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// A flag set when a generation must end: its client has gone, the response missed its deadline, or
/// the server is shutting down. The generation reads it before every token.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    func set() { lock.lock(); stopped = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
}

/// A generator checked against its request (the prime's characters), ready to run once.
final class PreparedGeneration: @unchecked Sendable {
    let generator: Generator
    let config: GenerationConfig
    let seed: UInt64
    private let lock = NSLock()
    private var ended = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// Pieces handed over but not yet sent: the generation waits when this many are queued, so a client
    /// that reads slowly holds back the sampling instead of growing a queue without bound.
    static let inFlight = 256
    private let credit = DispatchSemaphore(value: PreparedGeneration.inFlight)

    init(generator: Generator, config: GenerationConfig, seed: UInt64) {
        self.generator = generator
        self.config = config
        self.seed = seed
    }

    /// Starts the generation on a thread of its own; the stream ends after .done or .failed, and a
    /// consumer that stops listening stops the generation. `active` counts it while its thread runs.
    func start(stop: StopFlag, timeLimit: Double, active: ActiveCount) -> AsyncStream<StreamEvent> {
        let (stream, out) = AsyncStream.makeStream(of: StreamEvent.self)
        out.onTermination = { reason in if case .cancelled = reason { stop.set() } }   // the listener went away
        active.add(1)
        DispatchQueue.global().async { [self] in
            Kernels.setThreads(1)   // batch-1 matrix-vector work: one core per generation
            do {
                out.yield(.prime(try generator.primeText(config.prime, unknown: config.unknown)))
                var rng = RNG(seed: seed)
                let t0 = monotonicSeconds()
                var stopped = false
                let s = try generator.generate(config, rng: &rng, shouldStop: {
                    if stop.isSet || monotonicSeconds() - t0 > timeLimit { stopped = true }
                    return stopped
                }) { piece in
                    while credit.wait(timeout: .now() + .milliseconds(50)) == .timedOut { if stop.isSet { return } }
                    out.yield(.text(piece))
                }
                out.yield(.done(.init(seed: seed, tokens: s.tokens, characters: s.characters, seconds: s.seconds,
                                      wellFormedShare: s.wellFormedShare, stopped: stopped)))
            } catch {
                out.yield(.failed("\(error)"))
            }
            out.finish()
            active.add(-1)
            lock.lock(); ended = true; let w = waiting; waiting = []; lock.unlock()
            for c in w { c.resume() }
        }
        return stream
    }

    /// The consumer has sent one text piece: the generation may hand over another.
    func consumed() { credit.signal() }

    /// Returns once the generation's thread has ended (at once if it has).
    func finished() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if ended { lock.unlock(); c.resume(); return }
            waiting.append(c)
            lock.unlock()
        }
    }
}
