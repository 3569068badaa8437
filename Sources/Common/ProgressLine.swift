// Progress on stderr, in one place for every stage: a line redrawn in place when stderr is a terminal
// (at most five times a second), plain lines otherwise (every `every` iterations of a loop, or every few
// seconds), so that logs stay readable. `WorkProgress` is the common case of work of a known size (bytes
// read, units written): done/total, rate and ETA. Only text is built here; the numbers are the caller's.
#if canImport(Glibc)
import Glibc
#endif

public final class ProgressLine {
    public let quiet: Bool
    /// Iterations per plain line when stderr is not a terminal (0: a line every five seconds).
    public let every: Int
    private let tty = isatty(2) != 0
    private var lastDraw: Double
    private var open = false

    public init(every: Int = 0, quiet: Bool = false) {
        self.every = every
        self.quiet = quiet
        lastDraw = monotonicSeconds()
    }

    /// Whether a line is due now, at `iteration` of the caller's loop (cheap: call it every iteration).
    public func due(iteration: Int = 0, now: Double) -> Bool {
        if quiet { return false }
        if tty { return now - lastDraw >= 0.2 }
        if every > 0 { return iteration % every == 0 }
        return now - lastDraw >= 5
    }

    /// Shows `text` as the current state (in place on a terminal).
    public func draw(_ text: String, now: Double) {
        if quiet { return }
        lastDraw = now
        if tty {
            fputs("\r\u{1B}[K" + text, stderr)
            open = true
        } else {
            fputs(text + "\n", stderr)
        }
    }

    /// Prints a message on a line of its own (ending an in-place line first).
    public func message(_ text: String) {
        if quiet { return }
        endLine()
        fputs(text + "\n", stderr)
    }

    /// Ends an in-place line, so that what follows starts on a line of its own.
    public func endLine() {
        if open { fputs("\n", stderr); open = false }
    }
}

/// Work of a known size: "LABEL 42% 10.5/25 MB, 80.2 MB/s, ETA 2 s", and at the end the time taken.
public final class WorkProgress {
    let label: String
    let total: Int
    let unit: String
    private var done = 0
    private let start: Double
    private let line = ProgressLine()

    public init(label: String, total: Int, unit: String = "MB") {
        self.label = label
        self.total = total
        self.unit = unit
        start = monotonicSeconds()
    }

    public func advance(_ n: Int) {
        done += n
        let now = monotonicSeconds()
        if line.due(now: now) { line.draw(text(now, final: false), now: now) }
    }

    public func finish() {
        let now = monotonicSeconds()
        line.draw(text(now, final: true), now: now)
        line.endLine()
    }

    private func text(_ now: Double, final: Bool) -> String {
        let elapsed = max(now - start, 1e-9)
        let scale = unit == "MB" ? 1e6 : 1
        let rate = Double(done) / scale / elapsed
        let frac = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let eta = rate > 0 ? Double(total - done) / scale / rate : 0
        return "\(label) \(Int(frac * 100))% \(short(Double(done) / scale))/\(short(Double(total) / scale)) \(unit), "
            + "\(short(rate)) \(unit)/s" + (final ? ", \(short(elapsed)) s" : ", ETA \(short(eta)) s")
    }

    private func short(_ x: Double) -> String {
        let v = (x * 10).rounded() / 10
        return v == v.rounded() ? String(Int(v)) : String(v)
    }
}
