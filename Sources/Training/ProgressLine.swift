// The live progress display on stderr: one line redrawn in place (at most five times a second) when
// stderr is a terminal, otherwise a plain line every `every` iterations so that logs stay readable.
// Only the text is built here; the numbers come from the trainer.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class ProgressLine {
    let tty = isatty(2) != 0
    let every: Int
    let quiet: Bool
    private var lastDraw = 0.0
    private var open = false

    init(every: Int, quiet: Bool) {
        self.every = every
        self.quiet = quiet
    }

    /// Whether a line for `iteration` is due (cheap; called every iteration).
    func due(iteration: Int, now: Double) -> Bool {
        if quiet { return false }
        if tty { return now - lastDraw >= 0.2 }
        return iteration % every == 0
    }

    func draw(_ text: String, now: Double) {
        lastDraw = now
        if tty {
            fputs("\r\u{1B}[K" + text, stderr)
            open = true
        } else {
            fputs(text + "\n", stderr)
        }
    }

    /// Prints a message on a line of its own (ending an in-place line first).
    func message(_ text: String) {
        if quiet { return }
        endLine()
        fputs(text + "\n", stderr)
    }

    func endLine() {
        if open { fputs("\n", stderr); open = false }
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0, seconds < 1e15 else { return "?" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
}
