// gasa serve's HTTP side on Hummingbird 2: the page, the JSON API behind it and their limits.
//   GET  /                         the page (Page.swift)
//   GET  /api/models               the models' cards
//   GET  /api/models/{id}/loss.svg a model's loss curves
//   GET  /api/limits               the limits below, for the page's fields
//   POST /api/generate             a generation, streamed as Server-Sent Events (Streaming.swift)
// Every error is a JSON object {"error": "..."} with a 4xx status (500 for a fault of the server);
// request bodies, lengths, primes, concurrent generations and their time are all bounded (ServeLimits).
// Bound to loopback, it answers only requests addressed to loopback (no other site's page can drive it).
import Common
import Corpus
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Sampling

public struct ServeLimits: Sendable {
    public var maxBodyBytes = 64 << 10          // a request body
    public var maxLength = 2000                 // characters one generation may ask for
    public var maxPrimeCharacters = 4000
    public var maxRunning = max(1, ProcessInfo.processInfo.activeProcessorCount)   // generations sampling at once
    public var maxWaiting = 64                  // generations waiting for a turn; beyond: 429
    public var generationSeconds = 120.0        // a generation stops after this long
    public var responseSeconds = 150.0          // a response still not delivered then (a client that stopped
                                                // reading, or one waiting that long for a turn) is closed
    public var idleSeconds: Int64 = 60          // a connection with nothing to do is closed
    public var loopbackOnly = true              // answer only requests addressed to 127.0.0.1 / localhost / [::1]
    public init() {}
}

/// The request context of gasa serve: Hummingbird's, with the connection's channel (to notice a client
/// that goes away, and to close a response that is not being read).
public struct ServeContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// A failure a client caused: its status and a message saying what to change.
public struct APIError: HTTPResponseError {
    public let status: HTTPResponse.Status
    public let message: String
    public var extra: [String: [String]] = [:]

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [String: Any] = ["error": message]
        for (k, v) in extra { object[k] = v }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Every error as JSON: the router's own (no such route, a method it does not take) and, as a 500, any
/// fault that is not a client's.
struct JSONErrors<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request,
        Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            throw e
        } catch let e as HTTPError {
            throw APIError(e.status, e.body ?? (e.status == .notFound ? "no such page or API route: \(request.uri.path)"
                                                                      : e.status.reasonPhrase))
        } catch {
            throw APIError(.internalServerError, "the server failed: \(error)")
        }
    }
}

/// Requests addressed to another host (a page elsewhere resolving its own name to 127.0.0.1) or sent
/// from another site's page are refused when the server listens on loopback only.
struct LoopbackOnly<Context: RequestContext>: RouterMiddleware {
    static func isLoopback(_ hostPort: String) -> Bool {
        var host = hostPort
        if host.hasPrefix("[") { host = String(host.dropFirst().prefix { $0 != "]" }) }
        else if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        return ["127.0.0.1", "localhost", "::1"].contains(host.lowercased())
    }

    func handle(_ request: Request, context: Context, next: (Request,
        Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority ?? ""
        guard LoopbackOnly.isLoopback(host) else {
            throw APIError(.forbidden,
                           "this server answers only requests addressed to this machine (127.0.0.1 or localhost); "
                           + "start it with --host to serve others")
        }
        if let origin = request.headers[.origin], origin != "null" {
            let hostPart = origin.components(separatedBy: "://").last ?? origin
            guard LoopbackOnly.isLoopback(hostPart) else {
                throw APIError(.forbidden, "requests from other sites' pages (origin \(origin)) are refused")
            }
        }
        return try await next(request, context)
    }
}

public final class GasaServer: Sendable {
    public let models: [ServedModel]
    public let limits: ServeLimits
    public let gate: GenerationGate
    private let active = ActiveCount()
    private let stops = StopRegistry()

    public init(models: [ServedModel], limits: ServeLimits = ServeLimits()) {
        self.models = models
        self.limits = limits
        gate = GenerationGate(maxRunning: limits.maxRunning, maxWaiting: limits.maxWaiting)
    }

    /// Generations whose sampling thread has not ended yet.
    public var activeGenerations: Int { active.value }
    /// Generations started since the server began (a request that went away while it waited never starts).
    public var startedGenerations: Int { active.started }

    /// Ends every generation (between two tokens) and starts no more: the server is shutting down.
    public func stopAll() { stops.stopAll() }

    public func router() -> Router<ServeContext> {
        let router = Router(context: ServeContext.self)
        router.add(middleware: JSONErrors())
        if limits.loopbackOnly { router.add(middleware: LoopbackOnly()) }
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: Page.html)))
        }
        router.get("/api/models") { [models] _, _ in
            try Self.json(models.map(\.card))
        }
        router.get("/api/limits") { [limits] _, _ in
            try Self.json(["max_length": limits.maxLength, "max_prime_characters": limits.maxPrimeCharacters,
                           "max_running": limits.maxRunning, "max_waiting": limits.maxWaiting,
                           "max_body_bytes": limits.maxBodyBytes, "generation_seconds": Int(limits.generationSeconds)])
        }
        router.get("/api/models/:id/loss.svg") { [models] _, context in
            guard let id = context.parameters.get("id", as: Int.self), id >= 0, id < models.count else {
                throw APIError(.notFound, "no such model")
            }
            guard let svg = models[id].lossCurve else {
                throw APIError(.notFound, "\(models[id].name) has no metrics.jsonl to draw")
            }
            return Response(status: .ok, headers: [.contentType: "image/svg+xml"],
                            body: .init(byteBuffer: ByteBuffer(string: svg)))
        }
        router.post("/api/generate") { [self] request, context in
            try await generate(request, context: context)
        }
        return router
    }

    /// The application on `host`:`port`; `onRunning` hears the address it listens on.
    public func application(host: String, port: Int, onRunning: @escaping @Sendable (String) -> Void = { _ in })
        -> some ApplicationProtocol {
        var logger = Logger(label: "gasa-serve")
        logger.logLevel = .warning   // the address is said once, by the caller
        return Application(router: router(),
                           server: .http1(configuration: .init(idleTimeout: .seconds(limits.idleSeconds))),
                           configuration: .init(address: .hostname(host, port: port), serverName: "gasa"),
                           onServerRunning: { channel in
                               let a = channel.localAddress
                               let shown = a?.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? host
                               onRunning("http://\(shown):\(a?.port ?? port)/")
                           },
                           logger: logger)
    }

    /// Runs `app` until a SIGINT or SIGTERM (taken on Common's signal thread, not by a handler on a thread
    /// that may be generating) starts its graceful shutdown; a second one ends the process at once.
    public static func run(_ app: some ApplicationProtocol) async throws {
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [],
                                                      logger: app.logger))
        Signals.setAction { _ in Task { await group.triggerGracefulShutdown() } }   // once: a second ends it
        defer { Signals.setAction(nil) }
        try await group.run()
    }

    private func generate(_ request: Request, context: ServeContext) async throws -> Response {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") ?? false else {
            throw APIError(.unsupportedMediaType, "send the options as JSON with Content-Type: application/json")
        }
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: limits.maxBodyBytes) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the request body is larger than \(limits.maxBodyBytes) bytes")
        } catch {
            throw APIError(.badRequest,
                           "the request body could not be read (\(error)): shorter than its Content-Length?")
        }
        let r = try GenerateRequest.parse(Array(buffer: body), limits: limits, models: models.count)
        // A place in the gate before any further work: beyond the cap, a request costs nothing more.
        guard !stops.stopping, let ticket = await gate.admit() else {
            throw APIError(.tooManyRequests,
                           "\(limits.maxRunning + limits.maxWaiting) generations are running or waiting; "
                           + "try again shortly")
        }
        let served = models[r.model]
        let generator = try Generator(model: served.checkpoint.model, vocab: served.checkpoint.vocabulary)
        do { _ = try generator.primeIDs(r.prime, unknown: r.unknown) } catch let e as GenerationError {
            throw APIError.from(e)
        } catch let e as CorpusError {   // text the pipeline refuses (a NUL byte, say)
            throw APIError(.badRequest, "prime: \(e)")
        }
        let job = PreparedGeneration(generator: generator, config: r.generation,
                                     seed: r.seed ?? UInt64.random(in: 1...999_999))
        let active = self.active, stops = self.stops, gate = self.gate, timeLimit = limits.generationSeconds
        let channel = context.channel, deadline = limits.responseSeconds
        return Response(status: .ok,
                        headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache",
                                  .connection: "close"],
                        body: .init { writer in
            // The server shutting down (Ctrl-C, SIGTERM: ServiceLifecycle's graceful shutdown reaches this
            // task) stops every generation under way; it does not wait for them to finish.
            try await withGracefulShutdownHandler {
                // `stop` ends the generation (and is set on shutdown: the client is still told it stopped);
                // `gone` means nothing can be written any more: the client went away (while waiting, too), a
                // write failed, or the response was closed at its deadline.
                let stop = StopFlag(), gone = StopFlag()
                stops.add(stop) { gone.set(); channel.close(promise: nil) }
                defer { stops.remove(stop) }
                channel.closeFuture.whenComplete { _ in gone.set(); stop.set() }
                let overdue = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(deadline * 1000))) {
                    gone.set(); stop.set()
                    channel.close(promise: nil)
                }
                defer { overdue.cancel() }
                func send(_ text: String) async {
                    guard !gone.isSet else { return }
                    do { try await writer.write(ByteBuffer(string: text)) } catch { gone.set(); stop.set() }
                }
                if await gate.running >= gate.maxRunning { await send("event: waiting\ndata: {}\n\n") }
                await ticket.enter()
                if stop.isSet {   // gone, overdue or shutting down before its turn came: it never starts
                    await ticket.leave()
                    if !gone.isSet { try await writer.finish(nil) }
                    return
                }
                for await event in job.start(stop: stop, timeLimit: timeLimit, active: active) {
                    await send(event.sse)
                    if case .text = event { job.consumed() }
                }
                await job.finished()   // the turn is the thread's: given back once it has ended
                await ticket.leave()
                if !gone.isSet { try await writer.finish(nil) }
            } onGracefulShutdown: {
                stops.stopAll()
            }
        })
    }

    static func json(_ value: some Encodable) throws -> Response {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try e.encode(value))))
    }
}

extension APIError {
    /// A prime the model cannot read, said in the API's words.
    static func from(_ e: GenerationError) -> APIError {
        switch e {
        case .unknownCharacters(let cs):
            var error = APIError(.unprocessableContent, "the prime has characters this model's vocabulary lacks: "
                                 + cs.map { "'\($0)'" }.joined(separator: " ")
                                 + "; send \"unknown\": \"skip\" to drop them or \"unk\" to feed <unk>")
            error.extra["unknown_characters"] = cs
            return error
        case .noStart:
            return APIError(.unprocessableContent,
                            "the vocabulary has no newline to start from; give a prime with characters it knows")
        case .noUnk:
            return APIError(.unprocessableContent,
                            "\"unknown\": \"unk\": this vocabulary has no <unk> entry; send \"skip\"")
        }
    }
}

/// Generations under way (their sampling threads) and all started so far.
final class ActiveCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0, total = 0
    func add(_ d: Int) { lock.lock(); n += d; if d > 0 { total += d }; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    var started: Int { lock.lock(); defer { lock.unlock() }; return total }
}

/// The responses in progress, so that a shutdown can end them all: their generations stop at once, and a
/// response still not delivered two seconds later (its client is not reading) is closed.
final class StopRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [ObjectIdentifier: (stop: StopFlag, close: @Sendable () -> Void)] = [:]
    private var shuttingDown = false
    func add(_ f: StopFlag, close: @escaping @Sendable () -> Void) {
        lock.lock(); entries[ObjectIdentifier(f)] = (f, close); let s = shuttingDown; lock.unlock()
        if s { f.set() }
    }
    func remove(_ f: StopFlag) { lock.lock(); entries[ObjectIdentifier(f)] = nil; lock.unlock() }
    func stopAll() {
        lock.lock(); shuttingDown = true; let all = Array(entries.values); lock.unlock()
        for e in all { e.stop.set() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) { [self] in
            lock.lock(); let left = Array(entries.values); lock.unlock()
            for e in left { e.close() }
        }
    }
    var stopping: Bool { lock.lock(); defer { lock.unlock() }; return shuttingDown }
}
