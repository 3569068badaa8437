// gasa serve's HTTP side on Hummingbird 2: the page, the JSON API behind it and their limits.
//   GET  /                         the page (Page.swift)
//   GET  /api/models               the models' cards
//   GET  /api/models/{id}/loss.svg a model's loss curves
//   POST /api/generate             a generation, streamed as Server-Sent Events (Streaming.swift)
// Every error is a JSON object {"error": "..."} with a 4xx status; request bodies, lengths, primes,
// concurrent generations and their time are all bounded (ServeLimits).
import Common
import Foundation
import Hummingbird
import Logging
import Sampling

public struct ServeLimits: Sendable {
    public var maxBodyBytes = 64 << 10          // a request body
    public var maxLength = 2000                 // characters one generation may ask for
    public var maxPrimeCharacters = 4000
    public var maxRunning = max(1, ProcessInfo.processInfo.activeProcessorCount)   // generations sampling at once
    public var maxWaiting = 64                  // generations waiting for a turn; beyond: 429
    public var generationSeconds = 120.0        // a generation stops after this long
    public var idleSeconds: Int64 = 60          // a connection with nothing to do is closed
    public init() {}
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

/// Errors the router raises itself (no such route, a method it does not take) as JSON too.
struct JSONErrors<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request,
        Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError {
            throw APIError(e.status, e.body ?? (e.status == .notFound ? "no such page or API route: \(request.uri.path)"
                                                                      : e.status.reasonPhrase))
        }
    }
}

public final class GasaServer: Sendable {
    public let models: [ServedModel]
    public let limits: ServeLimits
    public let gate: GenerationGate
    private let active = ActiveCount()

    public init(models: [ServedModel], limits: ServeLimits = ServeLimits()) {
        self.models = models
        self.limits = limits
        gate = GenerationGate(maxRunning: limits.maxRunning, maxWaiting: limits.maxWaiting)
    }

    /// Generations whose sampling thread has not ended yet (for tests and shutdown).
    public var activeGenerations: Int { active.value }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: JSONErrors())
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: Page.html)))
        }
        router.get("/api/models") { [models] _, _ in
            try Self.json(models.map(\.card))
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
            try await generate(request)
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
                        onRunning("http://\(a?.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? host):\(a?.port ?? port)/")
                    },
                    logger: logger)
    }

    private func generate(_ request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: limits.maxBodyBytes) } catch {
            throw APIError(.contentTooLarge, "the request body is larger than \(limits.maxBodyBytes) bytes")
        }
        let r = try GenerateRequest.parse(Array(buffer: body), limits: limits, models: models.count)
        let served = models[r.model]
        let generator = try Generator(model: served.checkpoint.model, vocab: served.checkpoint.vocabulary)
        do { _ = try generator.primeIDs(r.prime, unknown: r.unknown) } catch let e as GenerationError {
            var error = APIError(.unprocessableContent, "\(e)")
            if case .unknownCharacters(let cs) = e {
                error = APIError(.unprocessableContent, "the prime has characters this model's vocabulary lacks: "
                                 + cs.map { "'\($0)'" }.joined(separator: " ")
                                 + "; send \"unknown\": \"skip\" to drop them or \"unk\" to feed <unk>")
                error.extra["unknown_characters"] = cs
            }
            throw error
        }
        guard await !gate.isFull else {
            throw APIError(.tooManyRequests,
                "\(limits.maxRunning + limits.maxWaiting) generations are running or waiting; try again shortly")
        }
        let job = PreparedGeneration(generator: generator, config: r.generation,
                                     seed: r.seed ?? UInt64.random(in: 1...999_999))
        let gate = self.gate, active = self.active, timeLimit = limits.generationSeconds
        return Response(status: .ok,
                        headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"],
                        body: .init { writer in
            let stop = StopFlag()
            func send(_ text: String) async {
                guard !stop.isSet else { return }
                do { try await writer.write(ByteBuffer(string: text)) } catch { stop.set() }   // the client went away
            }
            if await gate.running >= gate.maxRunning { await send(": waiting for a turn\n\n") }
            guard await gate.enter() else {
                await send(StreamEvent.failed("too many generations are waiting; try again shortly").sse)
                try await writer.finish(nil)
                return
            }
            active.add(1)
            for await event in job.start(stop: stop, timeLimit: timeLimit) { await send(event.sse) }
            active.add(-1)
            await gate.leave()
            if !stop.isSet { try await writer.finish(nil) }
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

final class ActiveCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add(_ d: Int) { lock.lock(); n += d; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
