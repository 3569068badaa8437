// gasa serve: a local web page that writes lyrics live from the runs named on the command line.
import ArgumentParser
import Foundation
import Hummingbird
import Serve

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a local web page that writes text live from trained models.",
        discussion: """
        Open the address it prints in a browser: type a first line, press 쓰기 and the text streams in \
        syllable by syllable; pick a second model to compare two side by side (char against jamo, say). \
        The same seed gives the same text as 'gasa sample'. The JSON API behind the page (GET /api/models, \
        POST /api/generate streaming Server-Sent Events) is described in the README. It listens on loopback \
        only unless --host says otherwise; Ctrl-C stops it.

        Examples:
          gasa serve run-char
          gasa serve run-char run-jamo --port 8081
          gasa serve run --host 0.0.0.0 --max-running 4      (reachable from other machines)
        """)

    @Argument(help: "Run folders (their best checkpoint, else latest) or checkpoint folders.")
    var runs: [String]

    @Option(help: "Address to listen on (127.0.0.1: this machine only).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8080

    @Option(help: "Most characters one generation may ask for.")
    var maxLength = 2000

    @Option(help: "Generations sampling at once (default: one per core); more wait for a turn.")
    var maxRunning: Int?

    @Option(help: "Generations that may wait for a turn; beyond this a request gets 429.")
    var maxWaiting = 64

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("name at least one run folder") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be within 0...65535") }
        guard maxLength >= 1 && maxLength <= 1_000_000 else {
            throw ValidationError("--max-length must be within 1...1000000")
        }
        guard (maxRunning ?? 1) >= 1, maxWaiting >= 0 else {
            throw ValidationError("--max-running must be at least 1 and --max-waiting at least 0")
        }
    }

    func run() async throws {
        let models: [ServedModel]
        do { models = try ServedModel.load(runs: runs) } catch { throw CLIError("\(error)") }
        var limits = ServeLimits()
        limits.maxLength = maxLength
        if let m = maxRunning { limits.maxRunning = m }
        limits.maxWaiting = maxWaiting
        let names = models.map { "\($0.name) (\($0.card.granularity.rawValue))" }.joined(separator: ", ")
        limits.loopbackOnly = ["127.0.0.1", "localhost", "::1"].contains(host)
        let server = GasaServer(models: models, limits: limits)
        let app = server.application(host: host, port: port) { address in
            printError("gasa serve: \(address) — \(names); Ctrl-C stops it")
        }
        // Ctrl-C or SIGTERM: a graceful shutdown; the server stops taking connections and each response
        // under way stops its generation at once (Server.swift), so nothing is awaited long.
        do { try await GasaServer.run(app) } catch { throw CLIError("cannot serve on \(host):\(port): \(error)") }
        printError("gasa serve: stopped")
    }
}
