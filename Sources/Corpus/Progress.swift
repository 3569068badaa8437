// A progress line on stderr for long work: done/total, rate and ETA. Redrawn in place on a terminal,
// printed every few seconds otherwise; silent for small inputs.
#if canImport(Glibc)
import Glibc
#endif

public final class Progress {
    let label: String
    let total: Int
    let unit: String
    private var done = 0
    private let start: Double
    private var lastPrint: Double
    private let tty = isatty(2) != 0

    public init(label: String, total: Int, unit: String = "MB") {
        self.label = label
        self.total = total
        self.unit = unit
        start = monotonicSeconds()
        lastPrint = start
    }

    public func advance(_ n: Int) {
        done += n
        let now = monotonicSeconds()
        if now - lastPrint >= (tty ? 0.2 : 5) { lastPrint = now; draw(now, final: false) }
    }

    public func finish() { draw(monotonicSeconds(), final: true) }

    private func draw(_ now: Double, final: Bool) {
        let elapsed = max(now - start, 1e-9)
        let scale = unit == "MB" ? 1e6 : 1
        let rate = Double(done) / scale / elapsed
        let frac = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let eta = rate > 0 ? Double(total - done) / scale / rate : 0
        var line = "\(label) \(Int(frac * 100))% \(fmt(Double(done) / scale))/\(fmt(Double(total) / scale)) \(unit), "
            + "\(fmt(rate)) \(unit)/s"
        line += final ? ", \(fmt(elapsed)) s" : ", ETA \(fmt(eta)) s"
        let text = tty ? "\r\u{1B}[K" + line + (final ? "\n" : "") : line + "\n"
        fputs(text, stderr)
    }

    private func fmt(_ x: Double) -> String {
        let v = (x * 10).rounded() / 10
        return v == v.rounded() ? String(Int(v)) : String(v)
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
