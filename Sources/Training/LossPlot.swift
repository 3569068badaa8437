// RUN/loss.svg from RUN/metrics.jsonl: two panels, loss against iterations and against minutes, with
// the training loss as a line and the validation loss as a line with dots. Plain hand-written SVG (no
// dependencies), readable in any browser.
import Foundation
import Storage

public enum LossPlot {
    public static let fileName = "loss.svg"

    /// Reads RUN/metrics.jsonl and writes RUN/loss.svg; returns the path written.
    @discardableResult
    public static func write(runDirectory: String) throws -> String {
        let log = runDirectory + "/" + MetricsLog.fileName
        guard fileExists(log) else {
            throw TrainingError.badRun("\(runDirectory) has no \(MetricsLog.fileName); is it a folder written by gasa train?")
        }
        let records = try MetricsLog.read(path: log)
        let out = runDirectory + "/" + fileName
        try AtomicFile.write(Array(svg(records, title: (runDirectory as NSString).lastPathComponent).utf8), to: out)
        return out
    }

    /// The SVG text for a list of records.
    public static func svg(_ records: [MetricsRecord], title: String) -> String {
        let train = records.filter { $0.type == "train" && ($0.trainLoss?.isFinite ?? false) }
        let val = records.filter { $0.type == "eval" && $0.split == "val" && ($0.natsPerToken?.isFinite ?? false) }
        let panelW = 460.0, panelH = 300.0, margin = (l: 62.0, r: 16.0, t: 40.0, b: 46.0)
        let width = 2 * (panelW + margin.l + margin.r), height = panelH + margin.t + margin.b + 30
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="18" text-anchor="middle" font-size="14">\(escape(title)): loss in nats per token (train: line, val: dots)</text>

        """
        let allY = train.compactMap(\.trainLoss) + val.compactMap(\.natsPerToken)
        var yLo = allY.min() ?? 0, yHi = allY.max() ?? 1
        if yHi - yLo < 1e-9 { yLo -= 0.5; yHi += 0.5 }
        let pad = (yHi - yLo) * 0.05
        yLo = max(0, yLo - pad); yHi += pad
        for (i, axis) in ["iteration", "minutes"].enumerated() {
            let x0 = Double(i) * (panelW + margin.l + margin.r) + margin.l, y0 = margin.t
            func xv(_ r: MetricsRecord) -> Double { axis == "iteration" ? Double(r.iter) : r.minutes }
            let xs = (train + val).map(xv)
            let xLo = 0.0
            var xHi = xs.max() ?? 1
            if xHi <= xLo { xHi = xLo + 1 }
            func px(_ x: Double) -> Double { x0 + (x - xLo) / (xHi - xLo) * panelW }
            func py(_ y: Double) -> Double { y0 + (1 - (y - yLo) / (yHi - yLo)) * panelH }
            s += "<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(panelW))\" height=\"\(f(panelH))\" fill=\"none\" stroke=\"#888\"/>\n"
            for t in ticks(xLo, xHi) {
                s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(y0))\" x2=\"\(f(px(t)))\" y2=\"\(f(y0 + panelH))\" stroke=\"#eee\"/>\n"
                s += "<text x=\"\(f(px(t)))\" y=\"\(f(y0 + panelH + 16))\" text-anchor=\"middle\">\(label(t))</text>\n"
            }
            for t in ticks(yLo, yHi) {
                s += "<line x1=\"\(f(x0))\" y1=\"\(f(py(t)))\" x2=\"\(f(x0 + panelW))\" y2=\"\(f(py(t)))\" stroke=\"#eee\"/>\n"
                s += "<text x=\"\(f(x0 - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(label(t))</text>\n"
            }
            s += "<text x=\"\(f(x0 + panelW / 2))\" y=\"\(f(y0 + panelH + 36))\" text-anchor=\"middle\">\(axis)</text>\n"
            if !train.isEmpty {
                let pts = train.map { "\(f(px(xv($0)))),\(f(py($0.trainLoss!)))" }.joined(separator: " ")
                s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"\(pts)\"/>\n"
            }
            if !val.isEmpty {
                let pts = val.map { "\(f(px(xv($0)))),\(f(py($0.natsPerToken!)))" }.joined(separator: " ")
                s += "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\" points=\"\(pts)\"/>\n"
                for r in val {
                    s += "<circle cx=\"\(f(px(xv(r))))\" cy=\"\(f(py(r.natsPerToken!)))\" r=\"3\" fill=\"#d62728\"/>\n"
                }
            }
            let lx = x0 + panelW - 150, ly = y0 + 14
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly - 4))\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
            s += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly))\">train</text>\n"
            s += "<line x1=\"\(f(lx + 70))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 94))\" y2=\"\(f(ly - 4))\" stroke=\"#d62728\" stroke-width=\"2\"/>"
            s += "<text x=\"\(f(lx + 100))\" y=\"\(f(ly))\">val</text>\n"
        }
        if let last = val.last, let b = last.bitsPerChar {
            s += "<text x=\"\(Int(margin.l))\" y=\"\(Int(height - 8))\">last val: \(String(format: "%.4f", last.natsPerToken!)) nats/token, "
                + "\(String(format: "%.4f", b)) bits/char at iteration \(last.iter)</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    /// About five round tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let span = hi - lo
        guard span > 0, span.isFinite else { return [lo] }
        let raw = span / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        // Ticks by index, not by adding step to a running value: when the span is below the values'
        // resolution (1e17 and its next double), t + step == t and such a loop never ends.
        let first = (lo / step).rounded(.up), last = ((hi + step * 1e-9) / step).rounded(.down)
        guard first.isFinite, last.isFinite, last >= first else { return [lo] }
        var out: [Double] = []
        var i = 0.0
        while first + i <= last && out.count < 12 { out.append((first + i) * step); i += 1 }
        return out.isEmpty ? [lo] : out
    }

    private static func label(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e9 { return String(Int(x)) }
        return String(format: "%g", (x * 1000).rounded() / 1000)
    }

    private static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
