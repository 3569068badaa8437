// gasa serve through HTTP (Hummingbird's test client; a live server where a real socket matters):
// every route and every error, streaming equal to `gasa sample`'s generator for a seed, concurrent
// generations sharing one model, the queue and its 429, the time limit, and a client that goes away.
import Compute
import Corpus
import Foundation
import Hummingbird
import HummingbirdTesting
import Sampling
@testable import Serve
import Training
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ServeTests: XCTestCase {
    /// Two runs trained once for the whole class: a char model (`rc`) and a jamo model (`rj`).
    static let runs: [String] = {
        let dir = NSTemporaryDirectory() + "gasa-serve-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = (0..<200).map { "사랑은 늘 도망가 \($0 % 7) 바람이 분다\n" }.joined()
        try! Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/corpus.txt"))
        return [("rc", Granularity.char), ("rj", .jamo)].map { name, g in
            var o = PrepareOptions()
            o.granularity = g
            o.batchSize = 4
            o.seqLength = 16
            let p = try! Preparer(options: o, inputs: [dir + "/corpus.txt"])
            p.showProgress = false
            _ = try! p.run(output: dir + "/p-" + name, force: false)
            var t = Trainer.Options(prepared: dir + "/p-" + name, run: dir + "/" + name)
            t.settings.set(\.hiddenSize, 16)
            t.settings.set(\.layers, 1)
            t.limits.set(\.maxIters, 12)
            t.limits.set(\.evalEvery, 6)
            t.limits.set(\.threads, 1)
            t.quiet = true
            t.plot = false
            _ = try! Trainer(options: t).run()
            return dir + "/" + name
        }
    }()

    static let models = try! ServedModel.load(runs: runs)

    func server(_ configure: (inout ServeLimits) -> Void = { _ in }) -> GasaServer {
        var limits = ServeLimits()
        limits.maxRunning = 2
        configure(&limits)
        return GasaServer(models: Self.models, limits: limits)
    }

    func json(_ body: ByteBuffer) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any])
    }

    func post(_ client: some TestClientProtocol, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: "/api/generate", method: .post, headers: [.contentType: "application/json"],
                                 body: ByteBuffer(string: body))
    }

    /// The events of a text/event-stream body, in order.
    func events(_ body: ByteBuffer) throws -> [(name: String, data: [String: Any])] {
        try String(buffer: body).components(separatedBy: "\n\n").filter { $0.contains("data: ") }.map { block in
            var name = "message", data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data += line.dropFirst(6) }
            }
            return (name, try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any]))
        }
    }

    /// What `gasa sample` prints for these options (its echo of the prime, then the generated text).
    func sampled(model: Int, prime: String, length: Int, seed: UInt64, temperature: Float = 1) throws -> String {
        let m = Self.models[model].checkpoint
        let g = try Generator(model: m.model, vocab: m.vocabulary)
        var c = GenerationConfig()
        c.prime = prime
        c.length = length
        c.sampler = SamplerConfig(temperature: temperature)
        var rng = RNG(seed: seed)
        var out = try g.primeText(prime, unknown: .error)
        _ = try g.generate(c, rng: &rng) { out += $0 }
        return out
    }

    func streamedText(_ events: [(name: String, data: [String: Any])]) -> String {
        events.filter { $0.name == "prime" || $0.name == "text" }.map { $0.data["text"] as! String }.joined()
    }

    // MARK: Routes

    func testThePageIsSelfContainedKoreanHTML() async throws {
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            let r = try await client.execute(uri: "/", method: .get)
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(r.headers[.contentType], "text/html; charset=utf-8")
            let page = String(buffer: r.body)
            XCTAssertTrue(page.contains("쓰기") && page.contains("compositionend") && page.contains("/api/generate"))
            XCTAssertFalse(page.contains("src=\"http") || page.contains("href=\"http") || page.contains("@import"),
                           "the page fetches nothing from elsewhere")
        }
    }

    func testModelsAreListedWithTheirCards() async throws {
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            let r = try await client.execute(uri: "/api/models", method: .get)
            XCTAssertEqual(r.status, .ok)
            let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [[String: Any]])
            XCTAssertEqual(list.map { $0["name"] as? String }, ["rc", "rj"])
            XCTAssertEqual(list.map { $0["granularity"] as? String }, ["char", "jamo"])
            XCTAssertEqual(list[0]["layers"] as? Int, 1)
            XCTAssertEqual(list[0]["hidden_size"] as? Int, 16)
            XCTAssertEqual(list[0]["cell"] as? String, "lstm")
            XCTAssertEqual(list[0]["vocab_size"] as? Int, Self.models[0].checkpoint.vocabulary.count)
            XCTAssertNotNil(list[0]["best_val_bits_per_char"] as? Double)
            XCTAssertEqual(list[1]["loss_curve"] as? String, "/api/models/1/loss.svg")
        }
    }

    func testLossCurvesAreServedAndUnknownModelsAre404() async throws {
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            let r = try await client.execute(uri: "/api/models/1/loss.svg", method: .get)
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(r.headers[.contentType], "image/svg+xml")
            XCTAssertTrue(String(buffer: r.body).hasPrefix("<svg"))
            for uri in ["/api/models/2/loss.svg", "/api/models/-1/loss.svg", "/api/models/x/loss.svg", "/api/nothing",
                        "/etc/passwd", "/../../etc/passwd"] {
                let e = try await client.execute(uri: uri, method: .get)
                XCTAssertEqual(e.status, .notFound, uri)
                XCTAssertNotNil(try self.json(e.body)["error"] as? String, uri)
            }
        }
    }

    // MARK: Generation

    func testAGenerationStreamsWhatSampleWritesForTheSameSeed() async throws {
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            for (model, prime) in [(0, "사랑은 "), (1, "바람이 ")] {
                let r = try await self.post(client,
                    #"{"model": \#(model), "prime": "\#(prime)", "length": 60, "seed": 7, "temperature": 0.8}"#)
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "text/event-stream; charset=utf-8")
                let ev = try self.events(r.body)
                XCTAssertEqual(ev.first?.name, "prime")
                XCTAssertEqual(ev.last?.name, "done")
                XCTAssertEqual(ev.last?.data["seed"] as? Int, 7)
                XCTAssertEqual(ev.last?.data["characters"] as? Int, 60)
                XCTAssertEqual(self.streamedText(ev), try self.sampled(model: model, prime: prime, length: 60, seed: 7,
                                                                       temperature: 0.8))
                // Every piece is whole characters: jamo arrive as finished syllables, never half a syllable
                // (no conjoining jamo in any piece, and no piece that composes with the one before it).
                let pieces = ev.filter { $0.name == "text" }.map { $0.data["text"] as! String }
                for (i, t) in pieces.enumerated() {
                    XCTAssertFalse(t.unicodeScalars.contains { (0x1100...0x11FF).contains($0.value) },
                                   "an unfinished syllable was sent: \(t.debugDescription)")
                    if i > 0 {
                        XCTAssertEqual((pieces[i - 1] + t).precomposedStringWithCanonicalMapping,
                                       pieces[i - 1].precomposedStringWithCanonicalMapping
                                           + t.precomposedStringWithCanonicalMapping)
                    }
                }
            }
        }
    }

    func testConcurrentGenerationsShareOneModelAndStayDeterministic() async throws {
        try await server { $0.maxRunning = 3 }.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let texts = try await withThrowingTaskGroup(of: (UInt64, String).self) { group in
                for seed in UInt64(1)...8 {
                    group.addTask {
                        let r = try await self.post(client,
                                                    #"{"model": 0, "prime": "사랑", "length": 80, "seed": \#(seed)}"#)
                        return (seed, self.streamedText(try self.events(r.body)))
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for seed in UInt64(1)...8 {
                XCTAssertEqual(texts[seed], try self.sampled(model: 0, prime: "사랑", length: 80, seed: seed))
            }
        }
    }

    func testEveryBadRequestIsA4xxWithAJSONMessage() async throws {
        let cases: [(String, HTTPResponse.Status, String)] = [
            ("nope", .badRequest, "JSON object"),
            ("[1, 2]", .badRequest, "JSON object"),
            (#"{"prime": "사랑"}"#, .badRequest, "missing field \"model\""),
            (#"{"model": "0"}"#, .badRequest, "\"model\" has the wrong type"),
            (#"{"model": 0, "temprature": 1}"#, .badRequest, "unknown field \"temprature\""),
            (#"{"model": 9}"#, .notFound, "no model 9"),
            (#"{"model": 0, "length": 0}"#, .badRequest, "length must be within 1...2000"),
            (#"{"model": 0, "length": 2001}"#, .badRequest, "length must be within 1...2000"),
            (#"{"model": 0, "temperature": -1}"#, .badRequest, "temperature must be"),
            (#"{"model": 0, "top_k": -2}"#, .badRequest, "top_k must be"),
            (#"{"model": 0, "top_p": 1.5}"#, .badRequest, "top_p must be within"),
            (#"{"model": 0, "unknown": "maybe"}"#, .badRequest, "(error, skip or unk)"),
            (#"{"model": 0, "seed": -3}"#, .badRequest, "\"seed\""),
            (#"{"model": 0, "prime": "a\u0000b"}"#, .badRequest, "prime: "),
            (#"{"model": 0, "prime": "\#(String(repeating: "가", count: 4001))"}"#, .badRequest,
             "prime is longer than 4000"),
        ]
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            for (body, status, says) in cases {
                let r = try await self.post(client, body)
                XCTAssertEqual(r.status, status, body)
                let message = try self.json(r.body)["error"] as? String ?? ""
                XCTAssertTrue(message.contains(says), "\(body): \(message)")
            }
            let prime = String(repeating: "a", count: 70_000)
            let big = try await self.post(client, #"{"model": 0, "prime": "\#(prime)"}"#)
            XCTAssertEqual(big.status, .contentTooLarge)
            XCTAssertTrue((try self.json(big.body)["error"] as? String ?? "").contains("larger than 65536 bytes"))
            let wrongMethod = try await client.execute(uri: "/api/generate", method: .get)
            XCTAssertEqual(wrongMethod.status, .notFound)
            XCTAssertNotNil(try self.json(wrongMethod.body)["error"])
        }
    }

    func testUnknownPrimeCharactersAreListedAndSkipOrUnkGoesOn() async throws {
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            let r = try await self.post(client, #"{"model": 0, "prime": "사랑 😀 Q"}"#)
            XCTAssertEqual(r.status, .unprocessableContent)
            let body = try self.json(r.body)
            XCTAssertEqual(body["unknown_characters"] as? [String], ["😀", "Q"])
            XCTAssertTrue((body["error"] as? String ?? "").contains("\"unknown\": \"skip\""))
            let skipped = try await self.post(client,
                #"{"model": 0, "prime": "사랑 😀 Q", "unknown": "skip", "length": 5, "seed": 1}"#)
            XCTAssertEqual(skipped.status, .ok)
            XCTAssertEqual(try self.events(skipped.body).first?.data["text"] as? String, "사랑  ")
        }
    }

    // MARK: Limits

    func testTheQueueWaitsForATurnAndRefusesBeyondIt() async throws {
        let s = server { $0.maxRunning = 1; $0.maxWaiting = 1 }
        try await s.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let turnAdmitted = await s.gate.admit()
            let turn = try XCTUnwrap(turnAdmitted)
            await turn.enter()   // the one turn, taken
            let waiting = Task { try await self.post(client, #"{"model": 0, "length": 10, "seed": 3}"#) }
            for _ in 0..<200 where await s.gate.waiting == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            let waitingCount = await s.gate.waiting
            XCTAssertEqual(waitingCount, 1, "the request waits for a turn")
            let refused = try await self.post(client, #"{"model": 0, "length": 10}"#)
            XCTAssertEqual(refused.status, .tooManyRequests)
            XCTAssertTrue((try self.json(refused.body)["error"] as? String ?? "").contains("try again"))
            await turn.leave()   // the waiting request gets the turn and completes
            let done = try await waiting.value
            XCTAssertEqual(done.status, .ok)
            let ev = try self.events(done.body)
            XCTAssertEqual(ev.first?.name, "waiting")
            XCTAssertEqual(ev.last?.name, "done")
        }
        let running = await s.gate.running
        XCTAssertEqual(running, 0)
    }

    func testAGenerationStopsAtTheTimeLimit() async throws {
        let s = server { $0.maxLength = 10_000_000; $0.generationSeconds = 0.3 }
        try await s.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let t0 = Date()
            let r = try await self.post(client, #"{"model": 0, "length": 10000000, "seed": 2}"#)
            XCTAssertLessThan(Date().timeIntervalSince(t0), 10)
            let done = try XCTUnwrap(try self.events(r.body).last)
            XCTAssertEqual(done.name, "done")
            XCTAssertEqual(done.data["stopped"] as? Bool, true)
        }
    }

    func testAClientThatGoesAwayStopsItsGeneration() async throws {
        let s = server { $0.maxLength = 10_000_000; $0.generationSeconds = 60 }
        try await s.application(host: "127.0.0.1", port: 0).test(.live) { client in
            let fd = self.openGeneration(port: try XCTUnwrap(client.port), body: #"{"model": 0, "length": 10000000, "seed": 5}"#)
            var buffer = [UInt8](repeating: 0, count: 4096)
            var got = ""
            while !got.contains("event: text") {   // the generation is under way
                let n = recv(fd, &buffer, buffer.count, 0)
                XCTAssertGreaterThan(n, 0)
                if n <= 0 { break }
                got += String(decoding: buffer[0..<n], as: UTF8.self)
            }
            XCTAssertEqual(s.activeGenerations, 1)
            close(fd)
            for _ in 0..<500 where s.activeGenerations > 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            XCTAssertEqual(s.activeGenerations, 0, "the generation went on after its client had gone")
        }
    }

    func testABurstBeyondTheCapIsRefusedWith429BeforeAnyWork() async throws {
        let s = server { $0.maxRunning = 1; $0.maxWaiting = 1 }
        try await s.application(host: "127.0.0.1", port: 0).test(.router) { client in
            var held: [GenerationGate.Ticket?] = []
            held.append(await s.gate.admit())   // every place taken
            held.append(await s.gate.admit())
            XCTAssertTrue(held.allSatisfy { $0 != nil })
            let refused = try await self.post(client, #"{"model": 0, "length": 10}"#)
            XCTAssertEqual(refused.status, .tooManyRequests)
            XCTAssertEqual(s.startedGenerations, 0)
            held.removeLast()   // a place given back (an admitted request that went away)
            for _ in 0..<100 where await s.gate.isFull { try await Task.sleep(nanoseconds: 10_000_000) }
            let ok = try await self.post(client, #"{"model": 0, "length": 10, "seed": 1}"#)
            XCTAssertEqual(ok.status, .ok)
            XCTAssertEqual(try self.events(ok.body).last?.name, "done")
            XCTAssertEqual(held.count, 1)
        }
    }

    func testShutdownStopsTheGenerationsUnderWayAndStartsNoMore() async throws {
        let s = server { $0.maxLength = 10_000_000 }
        try await s.application(host: "127.0.0.1", port: 0).test(.router) { client in
            let long = Task { try await self.post(client, #"{"model": 0, "length": 10000000, "seed": 4}"#) }
            for _ in 0..<500 where s.activeGenerations == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            XCTAssertEqual(s.activeGenerations, 1)
            s.stopAll()
            let r = try await long.value
            XCTAssertEqual(try self.events(r.body).last?.data["stopped"] as? Bool, true)
            XCTAssertEqual(s.activeGenerations, 0)
            let after = try await self.post(client, #"{"model": 0, "length": 10}"#)
            XCTAssertEqual(after.status, .tooManyRequests)
        }
    }

    func testRequestsFromOtherSitesOrWithoutJSONAreRefused() async throws {
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            let cross = try await client.execute(uri: "/api/generate", method: .post,
                                                 headers: [.contentType: "application/json",
                                                           .origin: "http://evil.example"],
                                                 body: ByteBuffer(string: #"{"model": 0}"#))
            XCTAssertEqual(cross.status, .forbidden)
            let local = try await client.execute(uri: "/api/models", method: .get,
                                                 headers: [.origin: "http://localhost:8080"])
            XCTAssertEqual(local.status, .ok)
            let plain = try await client.execute(uri: "/api/generate", method: .post,
                                                 headers: [.contentType: "text/plain"],
                                                 body: ByteBuffer(string: #"{"model": 0}"#))
            XCTAssertEqual(plain.status, .unsupportedMediaType)
            XCTAssertNotNil(try self.json(plain.body)["error"] as? String)
            let limits = try await client.execute(uri: "/api/limits", method: .get)
            XCTAssertEqual(try self.json(limits.body)["max_length"] as? Int, 2000)
        }
        XCTAssertTrue(LoopbackOnly<ServeContext>.isLoopback("localhost:8080"))
        XCTAssertTrue(LoopbackOnly<ServeContext>.isLoopback("[::1]:8080"))
        XCTAssertTrue(LoopbackOnly<ServeContext>.isLoopback("127.0.0.1"))
        XCTAssertFalse(LoopbackOnly<ServeContext>.isLoopback("evil.example:8080"))
        XCTAssertFalse(LoopbackOnly<ServeContext>.isLoopback("127.0.0.1.evil.example"))
    }

    func testTheLargestSeedIsAccepted() async throws {
        try await server().application(host: "127.0.0.1", port: 0).test(.router) { client in
            let r = try await self.post(client, #"{"model": 0, "length": 5, "seed": 18446744073709551615}"#)
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(try self.events(r.body).last?.data["seed"] as? UInt64, UInt64.max)
        }
    }

    /// A live connection to `port` that has sent a generation request; its descriptor.
    func openGeneration(port: Int, body: String, receiveBuffer: Int32? = nil) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self,
                                 capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let request = "POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        return fd
    }

    func testAClientThatStopsReadingLosesItsTurnAtTheDeadline() async throws {
        let s = server { $0.maxLength = 10_000_000; $0.generationSeconds = 60; $0.responseSeconds = 1 }
        try await s.application(host: "127.0.0.1", port: 0).test(.live) { client in
            let fd = self.openGeneration(port: try XCTUnwrap(client.port),
                                         body: #"{"model": 0, "length": 10000000, "seed": 6}"#, receiveBuffer: 4096)
            defer { close(fd) }
            for _ in 0..<300 where s.activeGenerations == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            XCTAssertEqual(s.activeGenerations, 1)
            // Never read: the response stalls once the buffers are full, and is closed at its deadline.
            for _ in 0..<800 where s.activeGenerations > 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            XCTAssertEqual(s.activeGenerations, 0, "a client that stopped reading kept its generation")
            for _ in 0..<300 where await s.gate.running > 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            let running = await s.gate.running
            XCTAssertEqual(running, 0, "... and its turn")
        }
    }

    func testAQueuedClientThatGoesAwayNeverStarts() async throws {
        let s = server { $0.maxRunning = 1; $0.maxWaiting = 4 }
        try await s.application(host: "127.0.0.1", port: 0).test(.live) { client in
            let turnAdmitted = await s.gate.admit()
            let turn = try XCTUnwrap(turnAdmitted)
            await turn.enter()   // the one turn, taken
            let fd = self.openGeneration(port: try XCTUnwrap(client.port),
                                         body: #"{"model": 0, "length": 50, "seed": 2}"#)
            for _ in 0..<300 where await s.gate.waiting == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            let waiting = await s.gate.waiting
            XCTAssertEqual(waiting, 1)
            close(fd)   // gone while waiting
            try await Task.sleep(nanoseconds: 200_000_000)
            await turn.leave()
            for _ in 0..<300 where await s.gate.running > 0 { try await Task.sleep(nanoseconds: 10_000_000) }
            XCTAssertEqual(s.startedGenerations, 0, "the generation of a client that had gone was started")
        }
    }

    func testTheGateHandsTurnsOverInOrder() async throws {
        let gate = GenerationGate(maxRunning: 1, maxWaiting: 2)
        let firstAdmitted = await gate.admit()
        let first = try XCTUnwrap(firstAdmitted)
        await first.enter()
        let order = ActiveOrder()
        let aAdmitted = await gate.admit(), bAdmitted = await gate.admit()
        let a = try XCTUnwrap(aAdmitted), b = try XCTUnwrap(bAdmitted)
        let refused = await gate.admit()
        XCTAssertNil(refused, "every place is taken")
        let ta = Task { await a.enter(); await order.append("a") }
        while await gate.waiting < 1 { await Task.yield() }
        let tb = Task { await b.enter(); await order.append("b") }
        while await gate.waiting < 2 { await Task.yield() }
        await first.leave()
        await ta.value
        await a.leave()
        await tb.value
        await b.leave()
        let seen = await order.items, running = await gate.running, full = await gate.isFull
        XCTAssertEqual(seen, ["a", "b"])
        XCTAssertEqual(running, 0)
        XCTAssertFalse(full)
    }
}

actor ActiveOrder {
    var items: [String] = []
    func append(_ s: String) { items.append(s) }
}
