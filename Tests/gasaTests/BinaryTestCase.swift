// The one runner of the gasa binary for the tests that use it as a user would: each test gets a fresh
// folder to run in; `run`/`gasa` wait for the exit (with a watchdog: a hang is a defect too) and return
// the status, stdout and stderr; `launch` starts a process to signal or to cut off. The test target
// depends on the gasa executable so that building the tests builds the binary too.
import Foundation
import XCTest

class BinaryTestCase: XCTestCase {
    /// The gasa binary: $GASA_BINARY, else beside the test bundle (both are build products of the
    /// same configuration), else the package's debug build folder.
    static let binary: String? = {
        if let env = ProcessInfo.processInfo.environment["GASA_BINARY"] { return env }
        let bundle = Bundle(for: BinaryTestCase.self).bundleURL
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dirs = [bundle.pathExtension == "xctest" ? bundle.deletingLastPathComponent() : bundle,
                    Bundle.main.bundleURL, root.appendingPathComponent(".build/debug")]
        return dirs.map { $0.appendingPathComponent("gasa").path }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    struct MissingBinary: Error, CustomStringConvertible {
        var description: String { "gasa binary not found beside the test bundle; build it (swift build --build-tests) or set GASA_BINARY" }
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    var dir = ""

    override func setUpWithError() throws {
        guard Self.binary != nil else {
            throw MissingBinary()
        }
        dir = NSTemporaryDirectory() + "gasa-binary-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { [dir] in try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Runs gasa with `arguments` in the test's folder, feeding `stdin`; stdout or stderr go to the given
    /// paths instead of being captured when named (e.g. /dev/full).
    /// `stdinFrom` reads standard input from that path instead (e.g. /dev/zero). A run still going after
    /// `timeout` seconds is killed and fails the test (a hang is a defect too).
    func run(_ arguments: [String], stdin: [UInt8] = [], stdoutTo: String? = nil, stderrTo: String? = nil,
             environment: [String: String] = [:], stdinFrom: String? = nil, timeout: Double = 300) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try XCTUnwrap(Self.binary))
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        // Files rather than pipes: nothing can block on a full pipe buffer. Kept outside the test's
        // folder so that they never show up in listings of it.
        let scratch = NSTemporaryDirectory() + "gasa-cli-io-\(UUID().uuidString)"
        let names = ["stdin", "stdout", "stderr"].map { scratch + "." + $0 }
        _ = FileManager.default.createFile(atPath: names[0], contents: Data(stdin))
        _ = FileManager.default.createFile(atPath: names[1], contents: nil)
        _ = FileManager.default.createFile(atPath: names[2], contents: nil)
        defer { for n in names { try? FileManager.default.removeItem(atPath: n) } }
        p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdinFrom ?? names[0]))
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutTo ?? names[1]))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrTo ?? names[2]))
        try p.run()
        let watchdog = DispatchWorkItem { [p] in if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        p.waitUntilExit()
        watchdog.cancel()
        XCTAssertEqual(p.terminationReason, .exit, "gasa \(arguments) crashed or was still running after \(timeout) s")
        func text(_ path: String) throws -> String { String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self) }
        return Result(status: p.terminationStatus, stdout: try text(names[1]), stderr: try text(names[2]))
    }

    @discardableResult
    func gasa(_ arguments: String...,
              stdin: String = "") throws -> Result { try run(arguments, stdin: Array(stdin.utf8)) }

    /// Starts gasa with `arguments` in the test's folder and returns at once, for tests that signal it or
    /// close its output; stdin is empty, stderr goes to `stderr` (a path) or nowhere.
    func launch(_ arguments: [String], stdout: Any? = nil, stderr: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try XCTUnwrap(Self.binary))
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardInput = FileHandle.nullDevice
        if let stdout { p.standardOutput = stdout }
        if let stderr {
            _ = FileManager.default.createFile(atPath: stderr, contents: nil)
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        } else {
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        return p
    }

    func entries(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    /// Writes a small corpus to corpus.txt and returns its text.
    @discardableResult
    func writeCorpus(lines: Int = 300) throws -> String {
        let text = (0..<lines).map { "사랑은 늘 도망가 ㅠㅠ \($0) 👍🏽" }.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/corpus.txt"))
        return text
    }
}
