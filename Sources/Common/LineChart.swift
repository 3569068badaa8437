// Line charts as plain SVG text (no dependencies, readable in any browser), in one place for the loss
// curves of a run (`gasa plot`, loss.svg) and the validation curves of several runs (`gasa compare`):
// a framed panel with round ticks, grid lines, one polyline per series (with dots where asked) and a
// legend in its top right corner.
import Foundation

public struct LineChart {
    public struct Series {
        public var label: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var dots: Bool
        public init(label: String, color: String, points: [(x: Double, y: Double)], dots: Bool = false) {
            self.label = label
            self.color = color
            self.points = points
            self.dots = dots
        }
    }

    /// Colours for series in turn.
    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    public var xLabel: String
    public var series: [Series]

    public init(xLabel: String, series: [Series]) {
        self.xLabel = xLabel
        self.series = series
    }

    /// The panel with its top left corner at (x0, y0): x from 0 to the largest x, y over `yRange`
    /// (default: the points' range with a margin).
    public func panel(x0: Double, y0: Double, width: Double, height: Double, yRange: (Double,
                                                                                      Double)? = nil) -> String {
        let points = series.flatMap(\.points)
        let (yLo, yHi) = yRange ?? LineChart.range(points.map(\.y))
        var xHi = points.map(\.x).max() ?? 1
        if !(xHi > 0) { xHi = 1 }
        func px(_ x: Double) -> Double { x0 + x / xHi * width }
        func py(_ y: Double) -> Double { y0 + (1 - (y - yLo) / (yHi - yLo)) * height }
        let f = LineChart.number
        var s = "<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"none\" "
            + "stroke=\"#888\"/>\n"
        for t in LineChart.ticks(0, xHi) {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(y0))\" x2=\"\(f(px(t)))\" y2=\"\(f(y0 + height))\" "
                + "stroke=\"#eee\"/>\n"
            s += "<text x=\"\(f(px(t)))\" y=\"\(f(y0 + height + 16))\" "
                + "text-anchor=\"middle\">\(LineChart.label(t))</text>\n"
        }
        for t in LineChart.ticks(yLo, yHi) {
            s += "<line x1=\"\(f(x0))\" y1=\"\(f(py(t)))\" x2=\"\(f(x0 + width))\" y2=\"\(f(py(t)))\" "
                + "stroke=\"#eee\"/>\n"
            s += "<text x=\"\(f(x0 - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(LineChart.label(t))</text>\n"
        }
        s += "<text x=\"\(f(x0 + width / 2))\" y=\"\(f(y0 + height + 36))\" "
            + "text-anchor=\"middle\">\(LineChart.escape(xLabel))</text>\n"
        for (i, line) in series.enumerated() {
            if !line.points.isEmpty {
                let pts = line.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                s += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.5\" points=\"\(pts)\"/>\n"
                if line.dots {
                    for p in line.points {
                        s += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(line.color)\"/>\n"
                    }
                }
            }
            let lx = x0 + width - 190, ly = y0 + 16 + 16 * Double(i)
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly - 4))\" "
                + "stroke=\"\(line.color)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(f(lx + 30))\" y=\"\(f(ly))\">\(LineChart.escape(line.label))</text>\n"
        }
        return s
    }

    /// A whole SVG document of the given size around `body`, with a title on top.
    public static func document(width: Double, height: Double, title: String, body: String) -> String {
        let w = Int(width), h = Int(height)
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" "
            + "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + "<text x=\"\(w / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">\(escape(title))</text>\n"
            + body + "</svg>\n"
    }

    /// The range of `values` with 5% of margin on each side (never below 0 with `floorAtZero`).
    public static func range(_ values: [Double], floorAtZero: Bool = false) -> (Double, Double) {
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        return (floorAtZero ? max(0, lo - pad) : lo - pad, hi + pad)
    }

    /// About five round tick values covering [lo, hi].
    public static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
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

    /// Text safe inside an SVG element or attribute.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func label(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e9 { return String(Int(x)) }
        return String(format: "%g", (x * 1000).rounded() / 1000)
    }

    public static func number(_ x: Double) -> String { String(format: "%.1f", x) }
}
